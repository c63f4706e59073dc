//! The tools that work on the local store only. Each call is checked completely by
//! [`LocalCall::prepare`] (parameters, files, input data) before the store is opened, and then
//! [`LocalCall::run`] performs it on an open [`Session`], checking what depends on the store
//! before its one transaction.

use crate::params::{Params, ToolError, ToolResult, type_name};
use crate::session::{Access, Session};
use base64::Engine as _;
use sds_core::limits::{
    DEFAULT_MIME_TYPE, DEFAULT_TRASH_TTL, MAX_LABEL_LENGTH, MAX_MIME_TYPE_LENGTH,
};
use sds_core::utf16::utf16_len;
use sds_core::{
    Backend, EntryKind, EntryRef, ErrorCode, InlineValue, LOST_AND_FOUND_ID, NewBackend, ROOT_ID,
    Store, StoreOptions, TRASH_ID, ValueInput, is_well_known,
};
use serde_json::{Map, Value as JsonValue, json};
use std::sync::Arc;
use std::time::Duration;

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A checked call of a local tool.
#[derive(Debug)]
pub enum LocalCall {
    /// `sds_store_info` (inside a batch or on an existing store).
    StoreInfo,
    /// `sds_store_export`.
    StoreExport {
        binary: bool,
        output: Option<String>,
    },
    /// `sds_store_import`: the top-level entries to import and how to name the source.
    StoreImport {
        entries: Vec<JsonValue>,
        file: Option<String>,
    },
    /// `sds_entry_create`.
    EntryCreate(Box<Changes>),
    /// `sds_entry_get`.
    EntryGet { id: String, fields: Fields },
    /// `sds_entry_list`.
    EntryList {
        id: String,
        max_level: usize,
        only: Option<EntryKind>,
        fields: Fields,
    },
    /// `sds_entry_update`.
    EntryUpdate(Box<Changes>),
    /// `sds_entry_move` (`restore` = false) and `sds_entry_restore`.
    EntryMove {
        id: String,
        to: String,
        at: Option<usize>,
        restore: bool,
    },
    /// `sds_entry_delete`.
    EntryDelete { id: String },
    /// `sds_entry_purge`.
    EntryPurge { id: String },
    /// `sds_trash_list`.
    TrashList { only: Option<EntryKind> },
    /// `sds_trash_purge_all`.
    TrashPurgeAll,
    /// `sds_trash_purge_expired`.
    TrashPurgeExpired { ttl_ms: u64 },
    /// `sds_tree_show`.
    TreeShow { depth: usize },
}

/// Which fields `sds_entry_get` / `sds_entry_list` report.
#[derive(Debug, Default)]
pub struct Fields {
    kind: bool,
    label: bool,
    mime: bool,
    value: bool,
    info: bool,
    target: bool,
    info_keys: Option<Vec<String>>,
}

impl Fields {
    fn parse(params: &Params<'_>, allowed: &[&str], all_by_default: bool) -> ToolResult<Fields> {
        let names = params.strings("Fields")?;
        let info_keys = params.strings("InfoKeys")?;
        let mut fields = Fields::default();
        match &names {
            None if all_by_default && info_keys.is_none() => {
                fields = Fields {
                    kind: true,
                    label: true,
                    mime: true,
                    value: true,
                    info: true,
                    target: true,
                    info_keys: None,
                };
            }
            None => {}
            Some(names) => {
                for name in names {
                    let Some(known) = allowed.iter().find(|a| a.eq_ignore_ascii_case(name)) else {
                        return Err(ToolError::new(format!(
                            "invalid field '{name}' in 'Fields' — use {}",
                            allowed.join(", ")
                        )));
                    };
                    match *known {
                        "Kind" => fields.kind = true,
                        "Label" => fields.label = true,
                        "MIMEType" => fields.mime = true,
                        "Value" => fields.value = true,
                        "Info" => fields.info = true,
                        _ => fields.target = true,
                    }
                }
            }
        }
        if info_keys.is_some() {
            fields.info = true;
        }
        fields.info_keys = info_keys;
        Ok(fields)
    }

    /// Adds the selected fields of `entry` to `out`.
    fn add<B: Backend>(&self, entry: &EntryRef<'_, B>, out: &mut Map<String, JsonValue>) {
        if self.kind {
            out.insert("Kind".into(), kind_name(entry.kind()).into());
        }
        if self.label {
            out.insert("Label".into(), entry.label().into());
        }
        if self.mime && entry.is_item() {
            let mime = entry.mime_type().unwrap_or(DEFAULT_MIME_TYPE);
            out.insert("MIMEType".into(), mime.into());
        }
        if self.value && entry.is_item() {
            let value = entry.current_inline_value();
            out.insert("Value".into(), inline_json(value.as_ref()));
        }
        if self.target
            && let Some(target) = entry.target_id()
        {
            out.insert("Target".into(), target.into());
        }
        if self.info {
            let info: Map<String, JsonValue> = match &self.info_keys {
                Some(keys) => keys
                    .iter()
                    .map(|k| (k.clone(), entry.info_value(k).cloned().unwrap_or_default()))
                    .collect(),
                None => entry
                    .info()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            };
            out.insert("Info".into(), JsonValue::Object(info));
        }
    }
}

/// The changes of `sds_entry_create` or `sds_entry_update`, checked.
#[derive(Debug, Default)]
pub struct Changes {
    /// The entry (update) or the link target (create); aliases resolved.
    id: Option<String>,
    container: String,
    at: Option<usize>,
    label: Option<String>,
    mime: Option<String>,
    value: Option<ValueSource>,
    /// The parameter the value came from (`Value`, `ValueBase64` or `File`).
    value_param: &'static str,
    info: Map<String, JsonValue>,
    info_delete: Vec<String>,
}

/// Where a new value comes from, before the MIME type decides between text and bytes.
#[derive(Debug)]
enum ValueSource {
    Text(String),
    Bytes(Vec<u8>),
}

impl ValueSource {
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

fn read_file(path: &str) -> ToolResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ToolError::new(format!("file '{path}' not found")),
        _ => ToolError::new(format!("cannot read '{path}': {e}")),
    })
}

impl Changes {
    /// Checks the parameters of create (`create`) or update. What depends on the store (the
    /// entry's kind, containers and targets) is checked by [`create`] and [`update`].
    fn parse(params: &Params<'_>, create: bool) -> ToolResult<Changes> {
        let value = params.string("Value")?;
        let value_base64 = params.string("ValueBase64")?;
        let file = params.string("File")?;
        let sources = [value.is_some(), value_base64.is_some(), file.is_some()];
        if sources.iter().filter(|given| **given).count() > 1 {
            return Err(ToolError::new(
                "Value, ValueBase64, and File are mutually exclusive",
            ));
        }
        let mut changes = Changes {
            label: params.string("Label")?,
            mime: params.string("MIMEType")?,
            ..Changes::default()
        };
        if create {
            changes.id = params
                .string("Target")?
                .map(|t| sds_core::resolve_alias(&t).to_owned());
            if changes.id.is_some() {
                for (given, name) in [
                    (changes.mime.is_some(), "MIMEType"),
                    (value.is_some(), "Value"),
                    (value_base64.is_some(), "ValueBase64"),
                    (file.is_some(), "File"),
                ] {
                    if given {
                        return Err(ToolError::new(if name == "MIMEType" {
                            "MIMEType cannot be combined with Target — only items have a MIME type"
                                .to_owned()
                        } else {
                            format!("{name} cannot be combined with Target")
                        }));
                    }
                }
            }
            changes.container = params.id_or("Container", "root")?;
            changes.at = params.index("at")?;
        } else {
            changes.id = Some(params.id("Id")?);
        }
        if let Some(label) = &changes.label
            && utf16_len(label) > MAX_LABEL_LENGTH
        {
            return Err(ToolError::new(format!(
                "labels are limited to {MAX_LABEL_LENGTH} UTF-16 units"
            )));
        }
        if let Some(mime) = &changes.mime
            && !(1..=MAX_MIME_TYPE_LENGTH).contains(&utf16_len(mime))
        {
            return Err(ToolError::new(format!(
                "MIME types must have 1 to {MAX_MIME_TYPE_LENGTH} UTF-16 units"
            )));
        }
        match params.get("Info") {
            None => {}
            Some(JsonValue::Object(info)) => changes.info = info.clone(),
            Some(other) => {
                return Err(ToolError::new(format!(
                    "'Info' must be a plain object — got {}",
                    type_name(other)
                )));
            }
        }
        changes.info_delete = params.strings("InfoDelete")?.unwrap_or_default();
        for key in changes.info.keys().chain(&changes.info_delete) {
            if !is_identifier(key) {
                return Err(ToolError::new(format!(
                    "invalid info key \"{key}\" — keys must be valid JavaScript identifiers"
                )));
            }
        }
        for value in changes.info.values() {
            sds_core::validate_info_value(value).map_err(|e| ToolError::new(e.message()))?;
        }
        changes.value_param = match (&value, &value_base64) {
            (Some(_), _) => "Value",
            (_, Some(_)) => "ValueBase64",
            _ => "File",
        };
        changes.value = match (value, value_base64, file) {
            (Some(text), _, _) => Some(ValueSource::Text(text)),
            (_, Some(encoded), _) => {
                Some(ValueSource::Bytes(BASE64.decode(encoded.trim()).map_err(
                    |_| ToolError::new("'ValueBase64' is not valid base64"),
                )?))
            }
            (_, _, Some(path)) => Some(ValueSource::Bytes(read_file(&path)?)),
            _ => None,
        };
        Ok(changes)
    }

    fn apply<B: Backend>(self, store: &mut Store<B>, id: &str, mime: &str) -> sds_core::Result<()> {
        if let Some(label) = &self.label {
            store.set_label(id, label)?;
        }
        if let Some(value) = self.value {
            store.write_value(id, value.into_input(mime))?;
        }
        for (key, value) in self.info {
            store.set_info(id, &key, value)?;
        }
        for key in &self.info_delete {
            store.delete_info(id, key)?;
        }
        Ok(())
    }
}

/// `^[a-zA-Z_$][a-zA-Z0-9_$]*$`.
fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// `item` or `link`.
pub fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Item => "item",
        EntryKind::Link => "link",
    }
}

/// The inline value as JSON: text, or bytes as an object from decimal index strings to byte
/// values (the JS shape); `null` when there is none.
fn inline_json(value: Option<&InlineValue>) -> JsonValue {
    match value {
        None => JsonValue::Null,
        Some(InlineValue::Text(text)) => text.as_str().into(),
        Some(InlineValue::Bytes(bytes)) => JsonValue::Object(
            bytes
                .iter()
                .enumerate()
                .map(|(i, b)| (i.to_string(), (*b).into()))
                .collect(),
        ),
    }
}

/// Reads an import source as JSON (SPEC §16.5): gzip input is a binary snapshot of either
/// backend; `name` is `'<file>'` or `InputBase64` in messages.
fn decode_input(bytes: &[u8], binary: Option<bool>, name: &str) -> ToolResult<JsonValue> {
    if binary.unwrap_or_else(|| bytes.starts_with(&[0x1f, 0x8b])) {
        let invalid = || ToolError::new(format!("{name} does not contain valid binary SDS data"));
        let payload = sds_core::gzip::decompress(bytes).map_err(|_| invalid())?;
        let json = match sds_core::gzip::detect_backend(&payload) {
            "loro" => Store::<sds_loro::LoroBackend>::from_binary(bytes, StoreOptions::default())
                .map(|s| s.as_json()),
            _ => Store::<sds_yrs::YrsBackend>::from_binary(bytes, StoreOptions::default())
                .map(|s| s.as_json()),
        }
        .map_err(|_| invalid())?;
        return Ok(json.to_value());
    }
    serde_json::from_slice(bytes)
        .map_err(|_| ToolError::new(format!("{name} does not contain valid JSON")))
}

fn depth(params: &Params<'_>) -> ToolResult<Option<usize>> {
    params.index("Depth")
}

impl LocalCall {
    /// Checks the parameters of `tool`; `None` when `tool` is not a local tool.
    pub fn prepare(tool: &str, params: &Params<'_>) -> ToolResult<Option<LocalCall>> {
        Ok(Some(match tool {
            "sds_store_info" => LocalCall::StoreInfo,
            "sds_store_export" => LocalCall::StoreExport {
                binary: params.choice("Encoding", ["json", "binary"], Some("json"))?
                    == Some("binary"),
                output: params.string("OutputFile")?,
            },
            "sds_store_import" => {
                let file = params.string("InputFile")?;
                let encoded = params.string("InputBase64")?;
                let binary = params
                    .choice("InputEncoding", ["json", "binary"], None)?
                    .map(|e| e == "binary");
                let (bytes, name) = match (&file, encoded) {
                    (Some(_), Some(_)) => {
                        return Err(ToolError::new(
                            "InputFile and InputBase64 are mutually exclusive",
                        ));
                    }
                    (None, None) => {
                        return Err(ToolError::new(
                            "either InputFile or InputBase64 is required",
                        ));
                    }
                    (Some(path), None) => (read_file(path)?, format!("'{path}'")),
                    (None, Some(encoded)) => (
                        BASE64
                            .decode(encoded.trim())
                            .map_err(|_| ToolError::new("InputBase64 is not valid base64"))?,
                        "InputBase64".to_owned(),
                    ),
                };
                let root = decode_input(&bytes, binary, &name)?;
                LocalCall::StoreImport {
                    entries: sds_core::store_import_entries(root).map_err(|_| {
                        ToolError::new(format!("{name} does not contain valid SDS data"))
                    })?,
                    file,
                }
            }
            "sds_entry_create" => LocalCall::EntryCreate(Box::new(Changes::parse(params, true)?)),
            "sds_entry_update" => LocalCall::EntryUpdate(Box::new(Changes::parse(params, false)?)),
            "sds_entry_get" => LocalCall::EntryGet {
                id: params.id("Id")?,
                fields: Fields::parse(
                    params,
                    &["Kind", "Label", "MIMEType", "Value", "Info", "Target"],
                    true,
                )?,
            },
            "sds_entry_list" => {
                let id = params.id("Id")?;
                let recursive = params.flag("recursive")?;
                let depth = depth(params)?;
                let only = params.only()?;
                let max_level = match (recursive, depth) {
                    (true, depth) => depth.unwrap_or(usize::MAX),
                    (false, depth) => depth.unwrap_or(1).min(1),
                };
                let fields = Fields::parse(params, &["Label", "MIMEType", "Value", "Info"], false)?;
                LocalCall::EntryList {
                    id,
                    max_level,
                    only,
                    fields: Fields {
                        kind: true,
                        ..fields
                    },
                }
            }
            "sds_entry_move" | "sds_entry_restore" => {
                let id = params.id("Id")?;
                let restore = tool == "sds_entry_restore";
                let to = if restore {
                    params.id_or("to", "root")?
                } else {
                    params.id("to")?
                };
                LocalCall::EntryMove {
                    id,
                    to,
                    at: params.index("at")?,
                    restore,
                }
            }
            "sds_entry_delete" => LocalCall::EntryDelete {
                id: params.id("Id")?,
            },
            "sds_entry_purge" => LocalCall::EntryPurge {
                id: params.id("Id")?,
            },
            "sds_trash_list" => LocalCall::TrashList {
                only: params.only()?,
            },
            "sds_trash_purge_all" => LocalCall::TrashPurgeAll,
            "sds_trash_purge_expired" => LocalCall::TrashPurgeExpired {
                ttl_ms: params.positive("TTLms", DEFAULT_TRASH_TTL.as_millis() as u64)?,
            },
            "sds_tree_show" => LocalCall::TreeShow {
                depth: depth(params)?.unwrap_or(usize::MAX),
            },
            _ => return Ok(None),
        }))
    }

    /// Whether the call may create a missing store.
    pub fn access(&self) -> Access {
        match self {
            LocalCall::StoreImport { .. } => Access::CreateIfMissing,
            LocalCall::EntryCreate(changes) if changes.id.is_none() => Access::CreateIfMissing,
            _ => Access::Existing,
        }
    }

    /// Performs the call on an open store.
    pub fn run<B: NewBackend>(self, session: &mut Session<B>) -> ToolResult<JsonValue> {
        match self {
            LocalCall::StoreInfo => Ok(json!({
                "StoreId": session.target.store_id,
                "exists": true,
                "EntryCount": entry_count(session.store()),
                "DBPath": session.target.path().display().to_string(),
            })),
            LocalCall::StoreExport { binary, output } => {
                let bytes = if binary {
                    session.store().as_binary()
                } else {
                    let mut text = session.store().as_json().to_json_string_pretty();
                    text.push('\n');
                    text.into_bytes()
                };
                let format = if binary { "binary" } else { "json" };
                match output {
                    Some(file) => {
                        std::fs::write(&file, &bytes).map_err(|e| {
                            ToolError::new(format!("failed to write export to '{file}': {e}"))
                        })?;
                        Ok(json!({"exported": true, "Format": format, "File": file}))
                    }
                    None if binary => Ok(
                        json!({"exported": true, "Format": format, "DataBase64": BASE64.encode(&bytes)}),
                    ),
                    None => Ok(json!({
                        "exported": true,
                        "Format": format,
                        "Data": String::from_utf8_lossy(&bytes),
                    })),
                }
            }
            LocalCall::StoreImport { entries, file } => {
                session.transact(|store| {
                    for entry in &entries {
                        store.new_entry_from_json_at(entry, ROOT_ID, None)?;
                    }
                    Ok(())
                })?;
                Ok(match file {
                    Some(file) => json!({"imported": true, "File": file}),
                    None => json!({"imported": true, "Source": "base64"}),
                })
            }
            LocalCall::EntryCreate(changes) => create(session, *changes),
            LocalCall::EntryUpdate(changes) => update(session, *changes),
            LocalCall::EntryGet { id, fields } => {
                let entry = live_entry(session.store(), &id)?;
                let mut out = Map::new();
                out.insert("Id".into(), id.as_str().into());
                fields.add(&entry, &mut out);
                Ok(JsonValue::Object(out))
            }
            LocalCall::EntryList {
                id,
                max_level,
                only,
                fields,
            } => list(session.store(), &id, max_level, only, &fields),
            LocalCall::EntryMove {
                id,
                to,
                at,
                restore,
            } => {
                live_entry(session.store(), &id)?;
                if restore && !in_trash(session.store(), &id) {
                    return Err(ToolError::new(format!("entry '{id}' is not in the trash")));
                }
                require_item(session.store(), &to, "target")?;
                let refused =
                    || ToolError::new(format!("cannot move '{id}' into its own descendant"));
                if !session.store().entry_may_be_moved_to(&id, &to) {
                    return Err(refused());
                }
                session
                    .engine
                    .transact(|store| store.move_entry_to(&id, &to, at))
                    .map_err(|error| match error.code() {
                        ErrorCode::MoveWouldCycle | ErrorCode::InvalidArgument => refused(),
                        _ => crate::session::sync_error(error),
                    })?;
                let at = at.unwrap_or_else(|| {
                    let siblings = session.store().inner_entry_ids(&to);
                    siblings.iter().position(|s| **s == *id).unwrap_or_default()
                });
                let to_key = if restore { "restoredTo" } else { "movedTo" };
                Ok(json!({"Id": id, to_key: to, "at": at}))
            }
            LocalCall::EntryDelete { id } => {
                live_entry(session.store(), &id)?;
                if is_well_known(&id) {
                    return Err(ToolError::new(format!("entry '{id}' cannot be deleted")));
                }
                session.transact(|store| store.delete_entry(&id))?;
                Ok(json!({"Id": id, "deleted": true}))
            }
            LocalCall::EntryPurge { id } => {
                live_entry(session.store(), &id)?;
                if !in_trash(session.store(), &id) {
                    return Err(ToolError::new(format!(
                        "entry '{id}' is not in the trash — delete it first"
                    )));
                }
                session.transact(|store| store.purge_entry(&id))?;
                Ok(json!({"Id": id, "purged": true}))
            }
            LocalCall::TrashList { only } => {
                let store = session.store();
                let entries: Vec<JsonValue> = store
                    .inner_entry_ids(TRASH_ID)
                    .iter()
                    .filter_map(|id| store.entry(id))
                    .filter(|e| only.is_none_or(|kind| kind == e.kind()))
                    .map(|e| json!({"Id": e.id(), "Kind": kind_name(e.kind()), "Label": e.label()}))
                    .collect();
                Ok(JsonValue::Array(entries))
            }
            LocalCall::TrashPurgeAll => {
                let purged = session.transact(|store| {
                    let children = store.inner_entry_ids(TRASH_ID);
                    Ok(children
                        .iter()
                        .filter(|id| store.purge_entry(id).is_ok())
                        .count())
                })?;
                Ok(json!({ "purged": purged }))
            }
            LocalCall::TrashPurgeExpired { ttl_ms } => {
                let purged = session.transact(|store| {
                    store.purge_expired_trash_entries(Some(Duration::from_millis(ttl_ms)))
                })?;
                Ok(json!({"purged": purged, "TTLms": ttl_ms}))
            }
            LocalCall::TreeShow { depth } => {
                Ok(json!({ "Root": tree_nodes(session.store(), ROOT_ID, depth) }))
            }
        }
    }
}

fn create<B: NewBackend>(session: &mut Session<B>, changes: Changes) -> ToolResult<JsonValue> {
    let target = changes.id.clone();
    if let Some(target) = &target {
        require_item(session.store(), target, "target")?;
    }
    require_item(session.store(), &changes.container, "container")?;
    let mime = changes
        .mime
        .clone()
        .unwrap_or_else(|| DEFAULT_MIME_TYPE.to_owned());
    let id = session.transact(|store| {
        let id = match &target {
            Some(target) => store.new_link_at(target, &changes.container, changes.at)?,
            None => store.new_item_at(Some(&mime), &changes.container, changes.at)?,
        };
        changes.apply(store, &id, &mime)?;
        Ok(id)
    })?;
    Ok(match target {
        Some(target) => json!({"Id": id, "created": true, "Kind": "link", "Target": target}),
        None => json!({"Id": id, "created": true, "Kind": "item"}),
    })
}

fn update<B: NewBackend>(session: &mut Session<B>, changes: Changes) -> ToolResult<JsonValue> {
    let id = changes.id.clone().unwrap_or_default();
    let entry = live_entry(session.store(), &id)?;
    if entry.is_link() {
        for (given, name) in [
            (changes.mime.is_some(), "MIMEType"),
            (changes.value.is_some(), changes.value_param),
        ] {
            if given {
                return Err(ToolError::new(format!("{name} is not supported for links")));
            }
        }
    }
    let mime = changes
        .mime
        .clone()
        .or_else(|| entry.mime_type().map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_MIME_TYPE.to_owned());
    session.transact(|store| {
        if let Some(mime) = &changes.mime {
            store.set_mime_type(&id, mime)?;
        }
        changes.apply(store, &id, &mime)
    })?;
    Ok(json!({"Id": id, "updated": true}))
}

fn list<B: Backend>(
    store: &Store<B>,
    container: &str,
    max_level: usize,
    only: Option<EntryKind>,
    fields: &Fields,
) -> ToolResult<JsonValue> {
    require_item(store, container, "container")?;
    let mut out = Vec::new();
    // Depth-first pre-order with an explicit stack, so that deep trees cannot overflow.
    let mut stack: Vec<(Arc<str>, usize)> = Vec::new();
    let push_children = |stack: &mut Vec<(Arc<str>, usize)>, id: &str, level: usize| {
        if level <= max_level {
            stack.extend(
                store
                    .inner_entry_ids(id)
                    .into_iter()
                    .rev()
                    .map(|c| (c, level)),
            );
        }
    };
    push_children(&mut stack, container, 1);
    while let Some((id, level)) = stack.pop() {
        if &*id == TRASH_ID || &*id == LOST_AND_FOUND_ID {
            continue;
        }
        let Some(entry) = store.entry(&id) else {
            continue;
        };
        if only.is_none_or(|kind| kind == entry.kind()) {
            let mut json = Map::new();
            json.insert("Id".into(), (*id).into());
            fields.add(&entry, &mut json);
            out.push(JsonValue::Object(json));
        }
        if entry.is_item() && level < max_level {
            push_children(&mut stack, &id, level + 1);
        }
    }
    Ok(JsonValue::Array(out))
}

fn tree_nodes<B: Backend>(store: &Store<B>, id: &str, depth: usize) -> Vec<JsonValue> {
    if depth == 0 {
        return Vec::new();
    }
    store
        .inner_entry_ids(id)
        .iter()
        .filter_map(|child| store.entry(child))
        .map(|entry| match entry.target_id() {
            Some(target) => json!({
                "Id": entry.id(), "Kind": "link", "Label": entry.label(), "TargetId": target,
            }),
            None => json!({
                "Id": entry.id(),
                "Kind": "item",
                "Label": entry.label(),
                "innerEntries": tree_nodes(store, entry.id(), depth - 1),
            }),
        })
        .collect()
}

/// Entries below Root, without Trash, LostAndFound and their subtrees.
fn entry_count<B: Backend>(store: &Store<B>) -> usize {
    let mut count = 0;
    let mut stack = vec![Arc::<str>::from(ROOT_ID)];
    while let Some(id) = stack.pop() {
        for child in store.inner_entry_ids(&id) {
            if &*child != TRASH_ID && &*child != LOST_AND_FOUND_ID {
                count += 1;
                stack.push(child);
            }
        }
    }
    count
}

fn live_entry<'s, B: Backend>(store: &'s Store<B>, id: &str) -> ToolResult<EntryRef<'s, B>> {
    store
        .entry(id)
        .ok_or_else(|| ToolError::new(format!("entry '{id}' not found")))
}

fn require_item<B: Backend>(store: &Store<B>, id: &str, role: &str) -> ToolResult<()> {
    match store.entry(id) {
        Some(entry) if entry.is_item() => Ok(()),
        _ => Err(ToolError::new(format!(
            "{role} '{id}' not found or is not an item"
        ))),
    }
}

fn in_trash<B: Backend>(store: &Store<B>, id: &str) -> bool {
    !is_well_known(id) && store.entry(id).and_then(|e| e.outer_item_id()) == Some(TRASH_ID)
}
