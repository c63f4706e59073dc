//! The `--info.<key>` and `--info-delete.<key>` arguments (SPEC §15.11), which clap cannot
//! express: they are taken out of the argument list before it is parsed.

use crate::output::CliError;
use serde_json::Value as JsonValue;

/// The Info arguments found in one argument list, in the order given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InfoArgs {
    /// `--info.<key> <value>`, `--info.<key>=<value>` and `--info.<key>` (value `true`).
    pub set: Vec<(String, JsonValue)>,
    /// `--info-delete.<key>`.
    pub delete: Vec<String>,
}

impl InfoArgs {
    /// The key of the first `--info.<key>`: the one Info field `entry get` and `entry list`
    /// display.
    pub fn selected_key(&self) -> Option<&str> {
        self.set.first().map(|(key, _)| key.as_str())
    }

    /// Checks every key against the identifier rule (only for commands that use Info).
    pub fn validate(&self) -> Result<(), CliError> {
        for key in self
            .set
            .iter()
            .map(|(key, _)| key)
            .chain(self.delete.iter())
        {
            check_key(key)?;
        }
        Ok(())
    }
}

/// Removes the Info arguments from `args` and returns them with the remaining arguments.
pub fn extract(args: Vec<String>) -> (Vec<String>, InfoArgs) {
    let mut rest = Vec::with_capacity(args.len());
    let mut info = InfoArgs::default();
    let mut iter = args.into_iter().peekable();
    while let Some(arg) = iter.next() {
        if let Some(key) = arg.strip_prefix("--info-delete.") {
            info.delete.push(key.to_owned());
        } else if let Some(spec) = arg.strip_prefix("--info.") {
            if let Some((key, value)) = spec.split_once('=') {
                info.set.push((key.to_owned(), parse_value(value)));
            } else {
                let value = match iter.peek() {
                    Some(next) if !next.starts_with("--") => {
                        let next = iter.next().unwrap_or_default();
                        parse_value(&next)
                    }
                    _ => JsonValue::Bool(true),
                };
                info.set.push((spec.to_owned(), value));
            }
        } else {
            rest.push(arg);
        }
    }
    (rest, info)
}

/// A value is JSON when it parses as JSON, else the text itself.
fn parse_value(raw: &str) -> JsonValue {
    serde_json::from_str(raw).unwrap_or_else(|_| JsonValue::String(raw.to_owned()))
}

/// Keys the CLI writes must be JavaScript identifiers: `^[a-zA-Z_$][a-zA-Z0-9_$]*$`.
pub fn check_key(key: &str) -> Result<(), CliError> {
    let mut chars = key.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if valid {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "invalid info key \"{key}\" — keys must be valid JavaScript identifiers"
        )))
    }
}

/// Parses the `--info <json>` option: a JSON object whose keys follow the identifier rule.
pub fn parse_info_object(raw: &str) -> Result<serde_json::Map<String, JsonValue>, CliError> {
    let value: JsonValue = serde_json::from_str(raw)
        .map_err(|_| CliError::usage(format!("--info value is not valid JSON: {raw}")))?;
    let JsonValue::Object(map) = value else {
        return Err(CliError::usage("--info value must be a JSON object"));
    };
    for key in map.keys() {
        check_key(key)?;
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn every_form_is_recognised() {
        let (rest, info) = extract(strings(&[
            "entry",
            "update",
            "x",
            "--info.count",
            "5",
            "--info.name=Ada=Lovelace",
            "--info.flag",
            "--label",
            "L",
            "--info.list",
            "[1,2]",
            "--info-delete.old",
            "--info.neg",
            "-3",
            "--info.last",
        ]));
        assert_eq!(rest, strings(&["entry", "update", "x", "--label", "L"]));
        assert_eq!(
            info.set,
            vec![
                ("count".to_owned(), json!(5)),
                ("name".to_owned(), json!("Ada=Lovelace")),
                ("flag".to_owned(), json!(true)),
                ("list".to_owned(), json!([1, 2])),
                ("neg".to_owned(), json!(-3)),
                ("last".to_owned(), json!(true)),
            ]
        );
        assert_eq!(info.delete, vec!["old".to_owned()]);
        assert_eq!(info.selected_key(), Some("count"));
    }

    #[test]
    fn the_scan_is_positional() {
        let (rest, info) = extract(strings(&["entry", "get", "--info.author", "some-id"]));
        assert_eq!(rest, strings(&["entry", "get"]));
        assert_eq!(info.set, vec![("author".to_owned(), json!("some-id"))]);
    }

    #[test]
    fn keys_must_be_identifiers() {
        for good in ["a", "_x", "$y", "camelCase9", "A_$1"] {
            assert!(check_key(good).is_ok(), "{good}");
        }
        for bad in ["", "1a", "a-b", "a.b", "ä", "a b"] {
            let error = check_key(bad).unwrap_err();
            assert_eq!(error.code, 2);
            assert_eq!(
                error.message,
                format!("invalid info key \"{bad}\" — keys must be valid JavaScript identifiers")
            );
        }
    }

    #[test]
    fn info_objects_are_checked() {
        assert_eq!(parse_info_object(r#"{"a":1}"#).unwrap()["a"], json!(1));
        assert_eq!(
            parse_info_object("[1]").unwrap_err().message,
            "--info value must be a JSON object"
        );
        assert_eq!(
            parse_info_object("{nope").unwrap_err().message,
            "--info value is not valid JSON: {nope"
        );
        assert_eq!(
            parse_info_object(r#"{"a-b":1}"#).unwrap_err().message,
            "invalid info key \"a-b\" — keys must be valid JavaScript identifiers"
        );
    }
}
