//! `entry create | get | list | update | move | delete | restore | purge`.

use super::{
    Only, compact, inline_json, inline_text, kind_name, live_entry, parse_depth, parse_index,
    require_item,
};
use crate::args::{CreateArgs, GetArgs, ListArgs, MoveArgs, RestoreArgs, UpdateArgs};
use crate::info_args::{InfoArgs, parse_info_object};
use crate::output::{CliError, Json, Output};
use crate::session::{Access, with_session};
use crate::settings::Settings;
use base64::Engine as _;
use sds_core::limits::{DEFAULT_MIME_TYPE, MAX_LABEL_LENGTH, MAX_MIME_TYPE_LENGTH};
use sds_core::utf16::utf16_len;
use sds_core::{
    Backend, EntryKind, ErrorCode, LOST_AND_FOUND_ID, NewBackend, Store, TRASH_ID, ValueInput,
    is_well_known, resolve_alias, validate_info_value,
};
use serde_json::{Map, Value as JsonValue};
use std::sync::Arc;

/// The Info changes of one command, checked: `--info` object, `--info.<key>`,
/// `--info-delete.<key>`, applied in that order (SPEC §15.5).
struct InfoChanges {
    object: Map<String, JsonValue>,
    args: InfoArgs,
}

impl InfoChanges {
    fn parse(info: Option<&str>, args: InfoArgs) -> Result<InfoChanges, CliError> {
        args.validate()?;
        let object = info.map(parse_info_object).transpose()?.unwrap_or_default();
        for value in object
            .values()
            .chain(args.set.iter().map(|(_, value)| value))
        {
            validate_info_value(value).map_err(|e| CliError::usage(e.message()))?;
        }
        Ok(InfoChanges { object, args })
    }

    fn apply<B: Backend>(&self, store: &mut Store<B>, id: &str) -> sds_core::Result<()> {
        for (key, value) in &self.object {
            store.set_info(id, key, value.clone())?;
        }
        for (key, value) in &self.args.set {
            store.set_info(id, key, value.clone())?;
        }
        for key in &self.args.delete {
            store.delete_info(id, key)?;
        }
        Ok(())
    }
}

fn check_label(label: Option<&str>) -> Result<(), CliError> {
    match label {
        Some(label) if utf16_len(label) > MAX_LABEL_LENGTH => Err(CliError::usage(format!(
            "labels are limited to {MAX_LABEL_LENGTH} UTF-16 units"
        ))),
        _ => Ok(()),
    }
}

fn check_mime(mime: Option<&str>) -> Result<(), CliError> {
    match mime.map(utf16_len) {
        Some(len) if len == 0 || len > MAX_MIME_TYPE_LENGTH => Err(CliError::usage(format!(
            "MIME types must have 1 to {MAX_MIME_TYPE_LENGTH} UTF-16 units"
        ))),
        _ => Ok(()),
    }
}

fn check_value_sources(
    value: Option<&str>,
    file: Option<&str>,
    base64: bool,
) -> Result<(), CliError> {
    if value.is_some() && file.is_some() {
        return Err(CliError::usage(
            "'--value' and '--file' are mutually exclusive — specify at most one",
        ));
    }
    if base64 && value.is_none() {
        return Err(CliError::usage("'--base64' needs '--value'"));
    }
    Ok(())
}

/// Where a new value comes from, before the MIME type that decides text or bytes is known.
enum ValueSource {
    Text(String),
    Bytes(Vec<u8>),
}

impl ValueSource {
    fn read(
        value: Option<String>,
        file: Option<&str>,
        base64: bool,
    ) -> Result<Option<ValueSource>, CliError> {
        if let Some(file) = file {
            return match std::fs::read(file) {
                Ok(bytes) => Ok(Some(ValueSource::Bytes(bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(CliError::not_found(format!("file not found: '{file}'")))
                }
                Err(e) => Err(CliError::general(format!("cannot read '{file}': {e}"))),
            };
        }
        match value {
            None => Ok(None),
            Some(value) if base64 => base64::engine::general_purpose::STANDARD
                .decode(value.trim())
                .map(|bytes| Some(ValueSource::Bytes(bytes)))
                .map_err(|_| CliError::usage("'--value' is not valid base64")),
            Some(value) => Ok(Some(ValueSource::Text(value))),
        }
    }

    /// Bytes become text (invalid UTF-8 replaced by U+FFFD) when the MIME type is textual.
    fn into_input(self, mime_type: &str) -> ValueInput {
        match self {
            ValueSource::Text(text) => ValueInput::Text(text),
            ValueSource::Bytes(bytes) if mime_type.starts_with("text/") => {
                ValueInput::Text(String::from_utf8_lossy(&bytes).into_owned())
            }
            ValueSource::Bytes(bytes) => ValueInput::Bytes(bytes),
        }
    }
}

/// `entry create`.
pub fn create<B: NewBackend + 'static>(
    settings: &Settings,
    args: CreateArgs,
    info: InfoArgs,
) -> Result<Output, CliError> {
    check_value_sources(args.value.as_deref(), args.file.as_deref(), args.base64)?;
    let target = args.target.as_deref().map(resolve_alias).map(str::to_owned);
    if target.is_some() {
        for (given, flag, what) in [
            (args.mime.is_some(), "--mime", "only items have a MIME type"),
            (args.value.is_some(), "--value", "only items have a value"),
            (args.file.is_some(), "--file", "only items have a value"),
        ] {
            if given {
                return Err(CliError::usage(format!(
                    "'{flag}' is not supported when creating a link — {what}"
                )));
            }
        }
    }
    let index = parse_index("--at", args.at.as_deref())?;
    let changes = InfoChanges::parse(args.info.as_deref(), info)?;
    check_label(args.label.as_deref())?;
    check_mime(args.mime.as_deref())?;
    settings.store_id()?;
    let mime = args.mime.as_deref().unwrap_or(DEFAULT_MIME_TYPE).to_owned();
    let value = ValueSource::read(args.value, args.file.as_deref(), args.base64)?
        .map(|source| source.into_input(&mime));
    let container = resolve_alias(args.container.as_deref().unwrap_or("root")).to_owned();
    let access = if target.is_some() {
        Access::Existing
    } else {
        Access::CreateIfMissing
    };
    let label = args.label;
    let id = with_session::<B, _>(settings, access, |session| {
        if let Some(target) = &target {
            require_item(session.store(), target, "target")?;
        }
        require_item(session.store(), &container, "container")?;
        session.transact(|store| {
            let id = match &target {
                Some(target) => store.new_link_at(target, &container, index)?,
                None => store.new_item_at(Some(&mime), &container, index)?,
            };
            if let Some(label) = &label {
                store.set_label(&id, label)?;
            }
            if let Some(value) = value {
                store.write_value(&id, value)?;
            }
            changes.apply(store, &id)?;
            Ok(id)
        })
    })?;
    let json = Json::object().with("id", id.as_str()).with("created", true);
    let json = match &target {
        Some(target) => json.with("kind", "link").with("target", target.as_str()),
        None => json.with("kind", "item"),
    };
    Ok(Output::line(id, json))
}

/// `entry get`.
pub fn get<B: NewBackend + 'static>(
    settings: &Settings,
    args: GetArgs,
    info: InfoArgs,
) -> Result<Output, CliError> {
    info.validate()?;
    let id = resolve_alias(&args.id).to_owned();
    let info_key = info.selected_key().map(str::to_owned);
    let any = args.kind
        || args.label
        || args.mime
        || args.value
        || args.info
        || args.target
        || info_key.is_some();
    let show = |flag: bool| !any || flag;
    with_session::<B, _>(settings, Access::Existing, |session| {
        let entry = live_entry(session.store(), &id)?;
        let mut lines = vec![format!("id:    {id}")];
        let mut json = Json::object().with("id", id.as_str());
        if show(args.kind) {
            let kind = kind_name(entry.kind());
            lines.push(format!("kind:  {kind}"));
            json = json.with("kind", kind);
        }
        if show(args.label) {
            lines.push(format!("label: {}", entry.label()));
            json = json.with("label", entry.label());
        }
        if entry.is_item() && show(args.mime) {
            let mime = entry.mime_type().unwrap_or(DEFAULT_MIME_TYPE);
            lines.push(format!("mime:  {mime}"));
            json = json.with("mime", mime);
        }
        if entry.is_item() && show(args.value) {
            let value = entry.current_inline_value();
            lines.push(format!(
                "value: {}",
                value
                    .as_ref()
                    .map_or_else(|| "(none)".to_owned(), inline_text)
            ));
            json = json.with("value", inline_json(value.as_ref()));
        }
        if let Some(target) = entry.target_id()
            && show(args.target)
        {
            lines.push(format!("target: {target}"));
            json = json.with("target", target);
        }
        if let Some(key) = &info_key {
            let value = entry.info_value(key).cloned().unwrap_or(JsonValue::Null);
            lines.push(format!("info.{key}: {}", compact(&value)));
            json = json.with(format!("info.{key}"), value);
        } else if show(args.info) {
            let map = info_map(entry.info());
            lines.push(format!("info:  {}", compact(&map)));
            json = json.with("info", map);
        }
        Ok(Output::Result { lines, json })
    })
}

fn info_map(info: &std::collections::BTreeMap<String, JsonValue>) -> JsonValue {
    JsonValue::Object(info.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// `entry list`.
pub fn list<B: NewBackend + 'static>(
    settings: &Settings,
    args: ListArgs,
    info: InfoArgs,
) -> Result<Output, CliError> {
    let only = Only::parse(args.only.as_deref())?;
    let depth = parse_depth(args.depth.as_deref())?;
    info.validate()?;
    let info_key = info.selected_key().map(str::to_owned);
    let container = resolve_alias(&args.id).to_owned();
    let max_level = if args.recursive {
        depth.unwrap_or(usize::MAX)
    } else {
        1
    };
    with_session::<B, _>(settings, Access::Existing, |session| {
        let store = session.store();
        require_item(store, &container, "container")?;
        let mut lines = Vec::new();
        let mut items = Vec::new();
        // Depth-first pre-order with an explicit stack (deep trees must not overflow).
        let mut stack: Vec<(Arc<str>, usize)> = Vec::new();
        let push_children = |stack: &mut Vec<(Arc<str>, usize)>, id: &str, level: usize| {
            if level <= max_level {
                stack.extend(
                    store
                        .inner_entry_ids(id)
                        .into_iter()
                        .rev()
                        .map(|child| (child, level)),
                );
            }
        };
        push_children(&mut stack, &container, 1);
        while let Some((id, level)) = stack.pop() {
            if &*id == TRASH_ID || &*id == LOST_AND_FOUND_ID {
                continue;
            }
            let Some(entry) = store.entry(&id) else {
                continue;
            };
            if only.keeps(entry.kind()) {
                let value = entry.current_inline_value();
                let mut parts = vec![id.to_string()];
                let mut json = Json::object()
                    .with("id", &*id)
                    .with("kind", kind_name(entry.kind()));
                if args.label {
                    let label = entry.label();
                    parts.push(if label.is_empty() {
                        "(no label)".to_owned()
                    } else {
                        label.to_owned()
                    });
                    json = json.with("label", label);
                }
                if args.mime {
                    parts.push(entry.mime_type().unwrap_or_default().to_owned());
                    if let Some(mime) = entry.mime_type() {
                        json = json.with("mime", mime);
                    }
                }
                if args.value {
                    parts.push(
                        value
                            .as_ref()
                            .map_or_else(|| "(no value)".to_owned(), inline_text),
                    );
                    if entry.is_item() {
                        json = json.with("value", inline_json(value.as_ref()));
                    }
                }
                if let Some(key) = &info_key {
                    let value = entry.info_value(key).cloned().unwrap_or(JsonValue::Null);
                    parts.push(compact(&value));
                    json = json.with(format!("info.{key}"), value);
                } else if args.info {
                    let map = info_map(entry.info());
                    parts.push(compact(&map));
                    json = json.with("info", map);
                }
                lines.push(parts.join("  "));
                items.push(json);
            }
            if entry.kind() == EntryKind::Item && level < max_level {
                push_children(&mut stack, &id, level + 1);
            }
        }
        Ok(Output::Result {
            lines,
            json: Json::Array(items),
        })
    })
}

/// `entry update`.
pub fn update<B: NewBackend + 'static>(
    settings: &Settings,
    args: UpdateArgs,
    info: InfoArgs,
) -> Result<Output, CliError> {
    check_value_sources(args.value.as_deref(), args.file.as_deref(), args.base64)?;
    let changes = InfoChanges::parse(args.info.as_deref(), info)?;
    check_label(args.label.as_deref())?;
    check_mime(args.mime.as_deref())?;
    let id = resolve_alias(&args.id).to_owned();
    with_session::<B, _>(settings, Access::Existing, |session| {
        let entry = live_entry(session.store(), &id)?;
        if entry.is_link() {
            for (given, flag, what) in [
                (args.mime.is_some(), "--mime", "only items have a MIME type"),
                (args.value.is_some(), "--value", "only items have a value"),
                (args.file.is_some(), "--file", "only items have a value"),
            ] {
                if given {
                    return Err(CliError::usage(format!(
                        "'{flag}' is not supported for links — {what}"
                    )));
                }
            }
        }
        let mime = args
            .mime
            .clone()
            .or_else(|| entry.mime_type().map(str::to_owned))
            .unwrap_or_else(|| DEFAULT_MIME_TYPE.to_owned());
        let value = ValueSource::read(args.value.clone(), args.file.as_deref(), args.base64)?
            .map(|source| source.into_input(&mime));
        session.transact(|store| {
            if let Some(label) = &args.label {
                store.set_label(&id, label)?;
            }
            if let Some(mime) = &args.mime {
                store.set_mime_type(&id, mime)?;
            }
            if let Some(value) = value {
                store.write_value(&id, value)?;
            }
            changes.apply(store, &id)
        })
    })?;
    Ok(Output::line(
        format!("updated '{id}'"),
        Json::object().with("id", id.as_str()).with("updated", true),
    ))
}

fn at_json(index: Option<usize>) -> Json {
    index.map_or_else(|| Json::from("end"), Json::from)
}

fn cannot_move(id: &str, target: &str) -> CliError {
    CliError::forbidden(format!(
        "cannot move '{id}' into '{target}' — cycle or invalid target"
    ))
}

/// Moves `id` into `target` after the common checks of `entry move` and `entry restore`.
fn checked_move<B: NewBackend + 'static>(
    session: &mut crate::session::Session<B>,
    id: &str,
    target: &str,
    index: Option<usize>,
) -> Result<(), CliError> {
    require_item(session.store(), target, "target")?;
    if !session.store().entry_may_be_moved_to(id, target) {
        return Err(cannot_move(id, target));
    }
    session
        .engine
        .transact(|store| store.move_entry_to(id, target, index))
        .map_err(|error| match error.code() {
            ErrorCode::MoveWouldCycle | ErrorCode::InvalidArgument => cannot_move(id, target),
            _ => error.into(),
        })
}

/// `entry move`.
pub fn move_entry<B: NewBackend + 'static>(
    settings: &Settings,
    args: MoveArgs,
) -> Result<Output, CliError> {
    let index = parse_index("--at", args.at.as_deref())?;
    let id = resolve_alias(&args.id).to_owned();
    let target = resolve_alias(&args.to).to_owned();
    with_session::<B, _>(settings, Access::Existing, |session| {
        live_entry(session.store(), &id)?;
        checked_move(session, &id, &target, index)
    })?;
    Ok(Output::line(
        format!("moved '{id}' into '{target}'"),
        Json::object()
            .with("id", id.as_str())
            .with("movedTo", target.as_str())
            .with("at", at_json(index)),
    ))
}

/// `entry delete`.
pub fn delete<B: NewBackend + 'static>(settings: &Settings, id: &str) -> Result<Output, CliError> {
    let id = resolve_alias(id).to_owned();
    with_session::<B, _>(settings, Access::Existing, |session| {
        live_entry(session.store(), &id)?;
        if is_well_known(&id) {
            return Err(CliError::forbidden(format!(
                "entry '{id}' cannot be deleted (system entry)"
            )));
        }
        session.transact(|store| store.delete_entry(&id))
    })?;
    Ok(Output::line(
        format!("deleted '{id}' (moved to trash)"),
        Json::object().with("id", id.as_str()).with("deleted", true),
    ))
}

fn in_trash<B: Backend>(store: &Store<B>, id: &str) -> bool {
    !is_well_known(id) && store.entry(id).and_then(|e| e.outer_item_id()) == Some(TRASH_ID)
}

/// `entry restore`.
pub fn restore<B: NewBackend + 'static>(
    settings: &Settings,
    args: RestoreArgs,
) -> Result<Output, CliError> {
    let index = parse_index("--at", args.at.as_deref())?;
    let id = resolve_alias(&args.id).to_owned();
    let target = resolve_alias(args.to.as_deref().unwrap_or("root")).to_owned();
    with_session::<B, _>(settings, Access::Existing, |session| {
        live_entry(session.store(), &id)?;
        if !in_trash(session.store(), &id) {
            return Err(CliError::forbidden(format!(
                "entry '{id}' is not in the trash — use 'entry move' to relocate live entries"
            )));
        }
        checked_move(session, &id, &target, index)
    })?;
    Ok(Output::line(
        format!("restored '{id}' into '{target}'"),
        Json::object()
            .with("id", id.as_str())
            .with("restoredTo", target.as_str())
            .with("at", at_json(index)),
    ))
}

/// `entry purge`.
pub fn purge<B: NewBackend + 'static>(settings: &Settings, id: &str) -> Result<Output, CliError> {
    let id = resolve_alias(id).to_owned();
    with_session::<B, _>(settings, Access::Existing, |session| {
        live_entry(session.store(), &id)?;
        if !in_trash(session.store(), &id) {
            return Err(CliError::forbidden(format!(
                "entry '{id}' is not in the trash — delete it first"
            )));
        }
        session.transact(|store| store.purge_entry(&id))
    })?;
    Ok(Output::line(
        format!("purged '{id}'"),
        Json::object().with("id", id.as_str()).with("purged", true),
    ))
}
