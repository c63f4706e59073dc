//! Triggers (SPEC §17.4), scope (§17.5) and their evaluation on a precise change set.

use sds_core::{Backend, ChangeSet, Property, Store, TRASH_ID};
use serde_json::Value as JsonValue;
use std::fmt;

/// One `--on` trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// `change`: every id in the change set.
    Change,
    /// `create`: entries placed into a container other than Trash.
    Create,
    /// `delete`: entries that disappeared or now sit directly in Trash.
    Delete,
    /// `value`: entries whose value changed.
    Value,
    /// `value:<glob>`: value changes of items whose MIME type matches the glob.
    ValueMatching(String),
    /// `info:<key>=<value>`: Info changes whose current value converts to `<value>`.
    Info {
        /// The Info key (trimmed, non-empty).
        key: String,
        /// The expected string form of the value.
        value: String,
    },
}

impl Trigger {
    /// Parses the text of one trigger; the error is the SPEC §17.2 message.
    ///
    /// ```
    /// use sds_sidecar::Trigger;
    ///
    /// assert_eq!(Trigger::parse("value:image/*").unwrap().to_string(), "value:image/*");
    /// assert_eq!(
    ///     Trigger::parse("info:status=done").unwrap(),
    ///     Trigger::Info { key: "status".into(), value: "done".into() }
    /// );
    /// assert!(Trigger::parse("info:status").is_err());
    /// ```
    pub fn parse(raw: &str) -> Result<Trigger, String> {
        let text = raw.trim();
        match text {
            "change" => return Ok(Trigger::Change),
            "create" => return Ok(Trigger::Create),
            "delete" => return Ok(Trigger::Delete),
            "value" => return Ok(Trigger::Value),
            _ => {}
        }
        if let Some(glob) = text.strip_prefix("value:") {
            if glob.is_empty() {
                return Err(format!(
                    "invalid --on value '{raw}' — expected 'value:<mime-glob>'"
                ));
            }
            return Ok(Trigger::ValueMatching(glob.to_owned()));
        }
        if let Some(rest) = text.strip_prefix("info:") {
            let Some(split) = rest.find('=').filter(|&at| at > 0) else {
                return Err(format!(
                    "invalid --on value '{raw}' — expected 'info:<key>=<value>'"
                ));
            };
            let key = rest[..split].trim();
            if key.is_empty() {
                return Err(format!(
                    "invalid --on value '{raw}' — info key must not be empty"
                ));
            }
            return Ok(Trigger::Info {
                key: key.to_owned(),
                value: rest[split + 1..].to_owned(),
            });
        }
        Err(format!(
            "unknown trigger '{raw}' — valid values: change, create, delete, value, \
             value:<mime-glob>, info:<key>=<value>"
        ))
    }

    /// Whether the entry `id`, recorded with `properties`, matches this trigger.
    fn matches<B: Backend>(
        &self,
        store: &Store<B>,
        id: &str,
        properties: &std::collections::BTreeSet<Property>,
    ) -> bool {
        let entry = store.entry(id);
        match self {
            Trigger::Change => true,
            Trigger::Create => {
                properties.contains(&Property::OuterItem)
                    && entry.is_some_and(|e| e.outer_item_id() != Some(TRASH_ID))
            }
            Trigger::Delete => {
                properties.contains(&Property::OuterItem)
                    && entry.is_none_or(|e| e.outer_item_id() == Some(TRASH_ID))
            }
            Trigger::Value => properties.contains(&Property::Value),
            Trigger::ValueMatching(glob) => {
                properties.contains(&Property::Value)
                    && entry
                        .and_then(|e| e.mime_type())
                        .is_some_and(|mime| glob_matches(glob, mime))
            }
            Trigger::Info { key, value } => {
                properties.contains(&Property::Info(key.clone()))
                    && js_string(entry.and_then(|e| e.info_value(key))) == *value
            }
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Change => f.write_str("change"),
            Trigger::Create => f.write_str("create"),
            Trigger::Delete => f.write_str("delete"),
            Trigger::Value => f.write_str("value"),
            Trigger::ValueMatching(glob) => write!(f, "value:{glob}"),
            Trigger::Info { key, value } => write!(f, "info:{key}={value}"),
        }
    }
}

/// Whether `text` matches the MIME glob `pattern` (SPEC §17.4): `*` any run of characters,
/// `?` one character, everything else literal, case-insensitive, whole string.
///
/// ```
/// use sds_sidecar::glob_matches;
///
/// assert!(glob_matches("image/*", "IMAGE/png"));
/// assert!(glob_matches("text/?arkdown", "text/markdown"));
/// assert!(!glob_matches("image/*", "text/image/png"));
/// ```
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().flat_map(char::to_lowercase).collect();
    let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
    // Iterative matching with backtracking to the last `*`: linear in practice, never
    // exponential.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// JavaScript's `String(v)` of an Info value (SPEC §17.4); `None` (a missing key) is
/// `undefined`.
///
/// ```
/// use sds_sidecar::js_string;
/// use serde_json::json;
///
/// assert_eq!(js_string(Some(&json!(1.0))), "1");
/// assert_eq!(js_string(Some(&json!([1, "a", true]))), "1,a,true");
/// assert_eq!(js_string(Some(&json!({"a": 1}))), "[object Object]");
/// assert_eq!(js_string(None), "undefined");
/// ```
pub fn js_string(value: Option<&JsonValue>) -> String {
    match value {
        None => "undefined".to_owned(),
        Some(value) => js_string_of(value),
    }
}

fn js_string_of(value: &JsonValue) -> String {
    match value {
        JsonValue::Null => "null".to_owned(),
        JsonValue::Bool(b) => b.to_string(),
        JsonValue::String(s) => s.clone(),
        JsonValue::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                js_number(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        // Array.prototype.join writes null and undefined elements as empty strings.
        JsonValue::Array(items) => items
            .iter()
            .map(|item| match item {
                JsonValue::Null => String::new(),
                other => js_string_of(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        JsonValue::Object(_) => "[object Object]".to_owned(),
    }
}

/// `Number.prototype.toString()`: shortest round-trip digits, exponent form below 1e-6 and
/// from 1e21 on.
fn js_number(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let magnitude = x.abs();
    if (1e-6..1e21).contains(&magnitude) {
        // Rust's Display is the shortest round-trip form and prints integers without `.0`.
        return format!("{x}");
    }
    let exponent_form = format!("{x:e}");
    match exponent_form.split_once('e') {
        Some((mantissa, exponent)) if !exponent.starts_with('-') => {
            format!("{mantissa}e+{exponent}")
        }
        _ => exponent_form,
    }
}

/// The scope of a webhook (SPEC §17.5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The watched entry; `None`: every id is in scope.
    pub watch: Option<String>,
    /// The largest depth below the watched entry (direct child = 1); `None`: unlimited.
    pub max_depth: Option<u64>,
}

impl Scope {
    fn contains<B: Backend>(&self, store: &Store<B>, id: &str) -> bool {
        let Some(watch) = &self.watch else {
            return true;
        };
        let Some(entry) = store.entry(id) else {
            return false;
        };
        if id == watch {
            return true;
        }
        entry
            .outer_item_ids()
            .iter()
            .position(|ancestor| ancestor == watch)
            // The direct container is at index 0 and depth 1.
            .is_some_and(|index| self.max_depth.is_none_or(|max| (index as u64) < max))
    }
}

/// One configured webhook (SPEC §17.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The URL the events are POSTed to.
    pub url: String,
    /// The optional `Topic` of every body.
    pub topic: Option<String>,
    /// Watched entry and depth.
    pub scope: Scope,
    /// The triggers, at least one.
    pub triggers: Vec<Trigger>,
}

/// A match: one POST to send (SPEC §17.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// Index of the webhook in the configuration.
    pub webhook: usize,
    /// The trigger text.
    pub trigger: String,
    /// The matching ids in the order they were first recorded.
    pub entries: Vec<String>,
}

/// Evaluates every webhook's triggers on one change set: one [`Match`] per (webhook,
/// trigger) with at least one matching id in scope.
pub fn evaluate<B: Backend>(
    store: &Store<B>,
    changes: &ChangeSet,
    webhooks: &[Webhook],
) -> Vec<Match> {
    let mut matches = Vec::new();
    for (index, webhook) in webhooks.iter().enumerate() {
        if let Some(watch) = &webhook.scope.watch
            && store.entry(watch).is_none()
        {
            continue;
        }
        let in_scope: Vec<(&str, _)> = changes
            .iter()
            .filter(|(id, _)| webhook.scope.contains(store, id))
            .collect();
        for trigger in &webhook.triggers {
            let entries: Vec<String> = in_scope
                .iter()
                .filter(|(id, properties)| trigger.matches(store, id, properties))
                .map(|(id, _)| (*id).to_owned())
                .collect();
            if !entries.is_empty() {
                matches.push(Match {
                    webhook: index,
                    trigger: trigger.to_string(),
                    entries,
                });
            }
        }
    }
    matches
}

#[cfg(test)]
mod tests {
    use super::*;
    use sds_core::{ROOT_ID, StoreOptions};
    use sds_yrs::YrsBackend;
    use serde_json::json;
    use std::sync::{Arc, Mutex};

    /// (webhook index, trigger, entries) of one match.
    type Fired = (usize, String, Vec<String>);
    type Seen = Arc<Mutex<Vec<Fired>>>;

    /// A local store whose change sets are evaluated against `webhooks`; the matches are
    /// collected as (webhook index, trigger, entries).
    fn observed(webhooks: Vec<Webhook>) -> (Store<YrsBackend>, Seen) {
        let mut store = Store::<YrsBackend>::from_scratch(StoreOptions::default()).unwrap();
        let seen: Seen = Arc::default();
        let sink = seen.clone();
        store.on_change_invoke(move |store, _, changes| {
            for m in evaluate(store, changes, &webhooks) {
                sink.lock().unwrap().push((m.webhook, m.trigger, m.entries));
            }
        });
        (store, seen)
    }

    fn hook(triggers: &[&str], watch: Option<&str>, max_depth: Option<u64>) -> Webhook {
        Webhook {
            url: "http://x".into(),
            topic: None,
            scope: Scope {
                watch: watch.map(str::to_owned),
                max_depth,
            },
            triggers: triggers
                .iter()
                .map(|t| Trigger::parse(t).unwrap())
                .collect(),
        }
    }

    fn take(seen: &Mutex<Vec<Fired>>) -> Vec<Fired> {
        std::mem::take(&mut *seen.lock().unwrap())
    }

    #[test]
    fn create_delete_and_moves_follow_the_placement() {
        let (mut store, seen) = observed(vec![hook(&["create", "delete"], None, None)]);
        let a = store.new_item_at(None, ROOT_ID, None).unwrap();
        let b = store.new_item_at(None, ROOT_ID, None).unwrap();
        assert_eq!(
            take(&seen),
            [
                (0, "create".into(), vec![a.clone()]),
                (0, "create".into(), vec![b.clone()]),
            ]
        );
        // A move fires `create` for the moved entry only.
        store.move_entry_to(&b, &a, None).unwrap();
        assert_eq!(take(&seen), [(0, "create".into(), vec![b.clone()])]);
        // Deleting moves into Trash: `delete`; purging from Trash: `delete` again (gone).
        store.delete_entry(&a).unwrap();
        assert_eq!(take(&seen), [(0, "delete".into(), vec![a.clone()])]);
        store.purge_entry(&a).unwrap();
        let purged = take(&seen);
        assert_eq!(purged.len(), 1);
        assert_eq!(purged[0].1, "delete");
        assert!(purged[0].2.contains(&a) && purged[0].2.contains(&b));
    }

    #[test]
    fn scope_follows_watch_and_depth() {
        let mut store = Store::<YrsBackend>::from_scratch(StoreOptions::default()).unwrap();
        let top = store.new_item_at(None, ROOT_ID, None).unwrap();
        let child = store.new_item_at(None, &top, None).unwrap();
        let grandchild = store.new_item_at(None, &child, None).unwrap();
        let outside = store.new_item_at(None, ROOT_ID, None).unwrap();
        let hooks = vec![
            hook(&["change"], Some(&top), Some(0)),
            hook(&["change"], Some(&top), Some(1)),
            hook(&["change"], Some(&top), None),
            hook(
                &["change"],
                Some("00000000-0000-4000-8000-00000000beef"),
                None,
            ),
        ];
        let sink: Seen = Arc::default();
        let collected = sink.clone();
        store.on_change_invoke(move |store, _, changes| {
            for m in evaluate(store, changes, &hooks) {
                collected
                    .lock()
                    .unwrap()
                    .push((m.webhook, m.trigger, m.entries));
            }
        });
        store
            .transact(|s| {
                for id in [&top, &child, &grandchild, &outside] {
                    s.set_label(id, "renamed")?;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(
            take(&sink),
            [
                (0, "change".into(), vec![top.clone()]),
                (1, "change".into(), vec![top.clone(), child.clone()]),
                (
                    2,
                    "change".into(),
                    vec![top.clone(), child.clone(), grandchild.clone()]
                ),
            ]
        );
        // An entry deleted from the watched subtree sits in Trash now: out of scope; its old
        // container, whose child list changed, is in scope.
        store.delete_entry(&grandchild).unwrap();
        let after = take(&sink);
        assert!(
            after.iter().all(|(_, _, ids)| !ids.contains(&grandchild)),
            "{after:?}"
        );
        assert!(
            after.contains(&(2, "change".into(), vec![child.clone()])),
            "{after:?}"
        );
    }

    #[test]
    fn value_and_info_triggers_read_the_current_state() {
        let (mut store, seen) = observed(vec![hook(
            &[
                "value",
                "value:image/*",
                "info:size=2",
                "info:tags=a,b",
                "info:gone=undefined",
            ],
            None,
            None,
        )]);
        let text = store.new_item_at(None, ROOT_ID, None).unwrap();
        let image = store.new_item_at(Some("image/png"), ROOT_ID, None).unwrap();
        take(&seen);
        store.write_value(&text, "hello").unwrap();
        store.write_value(&image, vec![1u8, 2]).unwrap();
        assert_eq!(
            take(&seen),
            [
                (0, "value".into(), vec![text.clone()]),
                (0, "value".into(), vec![image.clone()]),
                (0, "value:image/*".into(), vec![image.clone()]),
            ]
        );
        store.set_info(&text, "size", json!(2.0)).unwrap();
        store.set_info(&text, "tags", json!(["a", "b"])).unwrap();
        store.set_info(&text, "gone", json!(1)).unwrap();
        store.delete_info(&text, "gone").unwrap();
        assert_eq!(
            take(&seen),
            [
                (0, "info:size=2".into(), vec![text.clone()]),
                (0, "info:tags=a,b".into(), vec![text.clone()]),
                (0, "info:gone=undefined".into(), vec![text.clone()]),
            ]
        );
    }

    #[test]
    fn every_trigger_form_parses_and_prints_back() {
        for text in [
            "change",
            "create",
            "delete",
            "value",
            "value:image/*",
            "info:status=done",
            "info:k=a=b",
            "info:k=",
        ] {
            assert_eq!(Trigger::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            Trigger::parse("info: k =v").unwrap(),
            Trigger::Info {
                key: "k".into(),
                value: "v".into()
            }
        );
    }

    #[test]
    fn trigger_errors_have_the_specified_messages() {
        assert_eq!(
            Trigger::parse("changed").unwrap_err(),
            "unknown trigger 'changed' — valid values: change, create, delete, value, \
             value:<mime-glob>, info:<key>=<value>"
        );
        assert_eq!(
            Trigger::parse("value:").unwrap_err(),
            "invalid --on value 'value:' — expected 'value:<mime-glob>'"
        );
        for raw in ["info:key", "info:=v", "info:"] {
            assert_eq!(
                Trigger::parse(raw).unwrap_err(),
                format!("invalid --on value '{raw}' — expected 'info:<key>=<value>'")
            );
        }
        assert_eq!(
            Trigger::parse("info:  =v").unwrap_err(),
            "invalid --on value 'info:  =v' — info key must not be empty"
        );
    }

    #[test]
    fn mime_globs_match_whole_strings_case_insensitively() {
        assert!(glob_matches("*", ""));
        assert!(glob_matches("*", "anything/at-all"));
        assert!(glob_matches("image/*", "image/png"));
        assert!(glob_matches("IMAGE/PNG", "image/png"));
        assert!(glob_matches("image/p?g", "image/png"));
        assert!(!glob_matches("image/p?g", "image/pg"));
        assert!(!glob_matches("image", "image/png"));
        assert!(!glob_matches("image/", "image/png"));
        assert!(glob_matches("*/*+json", "application/ld+json"));
        assert!(!glob_matches("*/*+json", "application/json"));
        assert!(glob_matches("a.b", "A.B"));
        assert!(!glob_matches("a.b", "axb"));
        assert!(glob_matches("*a*a*a*", "banana and a"));
    }

    #[test]
    fn info_values_convert_like_javascript_string() {
        assert_eq!(js_string(Some(&json!("x"))), "x");
        assert_eq!(js_string(Some(&json!(42))), "42");
        assert_eq!(js_string(Some(&json!(-7))), "-7");
        assert_eq!(js_string(Some(&json!(2.5))), "2.5");
        assert_eq!(js_string(Some(&json!(1e21))), "1e+21");
        assert_eq!(js_string(Some(&json!(1.5e-7))), "1.5e-7");
        assert_eq!(js_string(Some(&json!(0.1))), "0.1");
        assert_eq!(js_string(Some(&json!(true))), "true");
        assert_eq!(js_string(Some(&json!(null))), "null");
        assert_eq!(js_string(Some(&json!([1, [2, 3], null, "z"]))), "1,2,3,,z");
        assert_eq!(js_string(Some(&json!([{"a": 1}]))), "[object Object]");
        assert_eq!(js_string(Some(&json!({}))), "[object Object]");
        assert_eq!(js_string(None), "undefined");
    }
}
