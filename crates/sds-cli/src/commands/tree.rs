//! `tree show`: the whole tree from Root as text or JSON (SPEC §15.5).

use super::{kind_name, parse_depth};
use crate::output::{CliError, Format, Json, Output};
use crate::session::{Access, with_session};
use crate::settings::Settings;
use sds_core::{Backend, NewBackend, ROOT_ID, Store};
use std::sync::Arc;

/// `tree show`.
pub fn show<B: NewBackend + 'static>(
    settings: &Settings,
    depth: Option<&str>,
) -> Result<Output, CliError> {
    let depth = parse_depth(depth)?.unwrap_or(usize::MAX);
    with_session::<B, _>(settings, Access::Existing, |session| {
        let store = session.store();
        // Only the shape that is printed is built: a large tree costs time in both.
        Ok(match settings.format {
            Format::Text => Output::Result {
                lines: text_lines(store, depth),
                json: Json::Null,
            },
            Format::Json => Output::Result {
                lines: Vec::new(),
                json: Json::object().with("root", Json::Array(json_nodes(store, ROOT_ID, depth))),
            },
        })
    })
}

/// `root/`, then one line per entry with `├── `/`└── ` connectors and `│   `/four-space
/// prefixes; `  (empty)` when nothing is shown.
fn text_lines<B: Backend>(store: &Store<B>, depth: usize) -> Vec<String> {
    let mut lines = vec!["root/".to_owned()];
    // (entry, prefix of its line, whether it has a following sibling, its level)
    let mut stack: Vec<(Arc<str>, Arc<str>, bool, usize)> = Vec::new();
    let push_children = |stack: &mut Vec<_>, id: &str, prefix: Arc<str>, level: usize| {
        if level > depth {
            return;
        }
        let children = store.inner_entry_ids(id);
        let last = children.len().saturating_sub(1);
        for (i, child) in children.into_iter().enumerate().rev() {
            stack.push((child, prefix.clone(), i != last, level));
        }
    };
    push_children(&mut stack, ROOT_ID, Arc::from(""), 1);
    while let Some((id, prefix, has_next, level)) = stack.pop() {
        let Some(entry) = store.entry(&id) else {
            continue;
        };
        let mut line = format!("{prefix}{}{id}", if has_next { "├── " } else { "└── " });
        if !entry.label().is_empty() {
            line.push_str("  ");
            line.push_str(entry.label());
        }
        if let Some(target) = entry.target_id() {
            line.push_str(" → ");
            line.push_str(target);
        }
        lines.push(line);
        if entry.is_item() {
            let child_prefix: Arc<str> = Arc::from(format!(
                "{prefix}{}",
                if has_next { "│   " } else { "    " }
            ));
            push_children(&mut stack, &id, child_prefix, level + 1);
        }
    }
    if lines.len() == 1 {
        lines.push("  (empty)".to_owned());
    }
    lines
}

/// `{Id, Kind, Label, TargetId?, Children}` for every child of `id`, `depth` levels deep.
fn json_nodes<B: Backend>(store: &Store<B>, id: &str, depth: usize) -> Vec<Json> {
    if depth == 0 {
        return Vec::new();
    }
    store
        .inner_entry_ids(id)
        .iter()
        .filter_map(|child| store.entry(child))
        .map(|entry| {
            let mut node = Json::object()
                .with("Id", entry.id())
                .with("Kind", kind_name(entry.kind()))
                .with("Label", entry.label());
            if let Some(target) = entry.target_id() {
                node = node.with("TargetId", target);
            }
            let children = if entry.is_item() {
                json_nodes(store, entry.id(), depth - 1)
            } else {
                Vec::new()
            };
            node.with("Children", Json::Array(children))
        })
        .collect()
}
