//! JSON and binary serialisation of the store and of subtrees, and every import (SPEC §8).

use crate::backend::{Backend, EntryData, EntryKind, NewBackend};
use crate::changes::Property;
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{LOST_AND_FOUND_ID, ROOT_ID, TRASH_ID, is_well_known};
use crate::json_value::{normalize_json, validate_info_key, validate_info_value};
use crate::limits::{BINARY_SIZE_LIMIT, DEFAULT_MIME_TYPE, MAX_LABEL_LENGTH};
use crate::model::Model;
use crate::options::StoreOptions;
use crate::order_key::n_keys_between;
use crate::store::{EntryRef, Store, gunzip, gzip, stored_mime_type};
use crate::utf16::utf16_len;
use crate::value::{Value, ValueInput, ValueKind, ValueRef, blob_hash};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use serde_json::Value as JsonValue;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// The JSON form of an entry (SPEC §8.1); serialises with the members in the order JS SDS
/// writes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "Kind")]
pub enum EntryJson {
    /// An item and its subtree.
    #[serde(rename = "item")]
    Item(ItemJson),
    /// A link.
    #[serde(rename = "link")]
    Link(LinkJson),
}

/// The JSON form of an item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ItemJson {
    /// Entry id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Label text.
    #[serde(rename = "Label")]
    pub label: String,
    /// Full MIME type (`text/plain`, never `""`).
    #[serde(rename = "Type")]
    pub mime_type: String,
    /// Value kind.
    #[serde(rename = "ValueKind")]
    pub value_kind: String,
    /// Info map.
    #[serde(rename = "Info")]
    pub info: BTreeMap<String, JsonValue>,
    /// Children in order.
    #[serde(rename = "innerEntries")]
    pub inner_entries: Vec<EntryJson>,
    /// The value: text, or base64 for bytes; absent for `none` and unavailable blobs.
    #[serde(rename = "Value", skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The blob reference of reference kinds.
    #[serde(rename = "ValueRef", skip_serializing_if = "Option::is_none")]
    pub value_ref: Option<ValueRefJson>,
}

/// The JSON form of a `ValueRef`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueRefJson {
    /// Blob hash.
    #[serde(rename = "Hash")]
    pub hash: String,
    /// Blob size in bytes.
    #[serde(rename = "Size")]
    pub size: u64,
}

/// The JSON form of a link.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkJson {
    /// Entry id.
    #[serde(rename = "Id")]
    pub id: String,
    /// Label text.
    #[serde(rename = "Label")]
    pub label: String,
    /// Target id.
    #[serde(rename = "TargetId")]
    pub target_id: String,
    /// Info map.
    #[serde(rename = "Info")]
    pub info: BTreeMap<String, JsonValue>,
}

impl EntryJson {
    /// Compact JSON text.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// JSON text with two-space indentation.
    pub fn to_json_string_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// As a `serde_json::Value` (member order then depends on serde_json's map type).
    pub fn to_value(&self) -> JsonValue {
        serde_json::to_value(self).unwrap_or(JsonValue::Null)
    }
}

// ---------------------------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------------------------

impl<B: Backend> Store<B> {
    /// The whole tree from Root (SPEC §8.2).
    pub fn as_json(&self) -> EntryJson {
        self.entry_json(ROOT_ID).unwrap_or_else(|| {
            EntryJson::Item(ItemJson {
                id: ROOT_ID.to_owned(),
                label: String::new(),
                mime_type: DEFAULT_MIME_TYPE.to_owned(),
                value_kind: "none".to_owned(),
                info: BTreeMap::new(),
                inner_entries: Vec::new(),
                value: None,
                value_ref: None,
            })
        })
    }

    /// The JSON of one entry and its subtree, or `None` if it does not exist.
    pub fn entry_json(&self, id: &str) -> Option<EntryJson> {
        self.entry(id).map(|e| e.as_json())
    }

    /// gzip of the compact JSON of one entry and its subtree (SPEC §8.6).
    pub fn entry_binary(&self, id: &str) -> Option<Vec<u8>> {
        self.entry(id).map(|e| e.as_binary())
    }
}

impl<B: Backend> EntryRef<'_, B> {
    /// The JSON of this entry and its subtree (SPEC §8.1).
    pub fn as_json(&self) -> EntryJson {
        self.json_with(&mut HashSet::new())
    }

    /// `visited` guards against documents that a foreign writer left with a cycle through
    /// Root (before the repair pass ran): an entry is never written twice.
    fn json_with(&self, visited: &mut HashSet<String>) -> EntryJson {
        visited.insert(self.id().to_owned());
        let data = self.data();
        if data.kind == EntryKind::Link {
            return EntryJson::Link(LinkJson {
                id: self.id().to_owned(),
                label: data.label.clone(),
                target_id: data.target_id.to_string(),
                info: data.info.clone(),
            });
        }
        let kind = self.value_kind().clone();
        let value = match self.read_value() {
            Value::Text(text) => Some(text),
            Value::Bytes(bytes) => Some(BASE64.encode(bytes)),
            Value::None | Value::Pending { .. } => None,
        };
        let value_ref = self.value_ref().map(|r| ValueRefJson {
            hash: r.hash.clone(),
            size: r.size,
        });
        EntryJson::Item(ItemJson {
            id: self.id().to_owned(),
            label: data.label.clone(),
            mime_type: self.mime_type().unwrap_or(DEFAULT_MIME_TYPE).to_owned(),
            value_kind: kind.as_str().to_owned(),
            info: data.info.clone(),
            inner_entries: self
                .inner_entry_list()
                .iter()
                .fold(Vec::new(), |mut out, c| {
                    if !visited.contains(c.id()) {
                        out.push(c.json_with(visited));
                    }
                    out
                }),
            value,
            value_ref,
        })
    }

    /// gzip of the compact UTF-8 JSON of [`EntryRef::as_json`] (SPEC §8.6).
    pub fn as_binary(&self) -> Vec<u8> {
        gzip(self.as_json().to_json_string().as_bytes())
    }
}

// ---------------------------------------------------------------------------------------------
// Parsing and validation of imported JSON
// ---------------------------------------------------------------------------------------------

/// How an imported value is written.
#[derive(Debug, Clone)]
enum ImportValue {
    None,
    /// `Value` present: written with `write_value` semantics.
    Write(ValueInput),
    /// No `Value`: kind (and `ValueRef`, if given) stored as they are.
    Reference(ValueKind, Option<ValueRef>),
}

#[derive(Debug, Clone)]
struct ImportEntry {
    id: Option<String>,
    kind: EntryKind,
    label: String,
    mime_type: String,
    info: BTreeMap<String, JsonValue>,
    value: ImportValue,
    target_id: String,
    children: Vec<ImportEntry>,
}

/// Parses and validates an entry JSON; shape and limit violations get `code`, invalid base64
/// is always `invalid-data` (SPEC §8.3).
fn parse_entry(value: &JsonValue, code: ErrorCode, path: &str) -> Result<ImportEntry> {
    let fail = |msg: String| Error::new(code, format!("{path}: {msg}"));
    let obj = value
        .as_object()
        .ok_or_else(|| fail("an entry must be a JSON object".into()))?;
    let string = |name: &str| -> Result<Option<&str>> {
        match obj.get(name) {
            None => Ok(None),
            Some(JsonValue::String(s)) => Ok(Some(s)),
            Some(_) => Err(fail(format!("'{name}' must be a string"))),
        }
    };
    let kind = match string("Kind")? {
        Some("item") => EntryKind::Item,
        Some("link") => EntryKind::Link,
        Some(other) => return Err(fail(format!("unknown Kind '{other}'"))),
        None => return Err(fail("'Kind' is missing".into())),
    };
    let id = string("Id")?.map(str::to_owned);
    if id.as_deref() == Some("") {
        return Err(fail("'Id' must not be empty".into()));
    }
    let label = string("Label")?.unwrap_or_default().to_owned();
    if utf16_len(&label) > MAX_LABEL_LENGTH {
        return Err(fail(format!(
            "'Label' is longer than {MAX_LABEL_LENGTH} UTF-16 units"
        )));
    }
    let info = match obj.get("Info") {
        None | Some(JsonValue::Null) => BTreeMap::new(),
        Some(JsonValue::Object(map)) => {
            let mut info = BTreeMap::new();
            for (key, value) in map {
                validate_info_key(key).map_err(|e| fail(e.message().to_owned()))?;
                validate_info_value(value).map_err(|e| fail(e.message().to_owned()))?;
                info.insert(key.clone(), normalize_json(value));
            }
            info
        }
        Some(_) => return Err(fail("'Info' must be an object".into())),
    };
    if kind == EntryKind::Link {
        let target_id = string("TargetId")?
            .filter(|t| !t.is_empty())
            .ok_or_else(|| fail("a link needs a non-empty 'TargetId'".into()))?
            .to_owned();
        return Ok(ImportEntry {
            id,
            kind,
            label,
            mime_type: String::new(),
            info,
            value: ImportValue::None,
            target_id,
            children: Vec::new(),
        });
    }
    let mime_type = match string("Type")? {
        None | Some("") => String::new(),
        Some(t) => stored_mime_type(t).map_err(|e| fail(e.message().to_owned()))?,
    };
    let value_kind = match string("ValueKind")? {
        None => ValueKind::None,
        Some(k) => match ValueKind::parse(k) {
            ValueKind::Unknown(other) => return Err(fail(format!("unknown ValueKind '{other}'"))),
            known => known,
        },
    };
    let value_ref = match obj.get("ValueRef") {
        None | Some(JsonValue::Null) => None,
        Some(v) => Some(parse_value_ref(v).ok_or_else(|| {
            fail("'ValueRef' must be an object {Hash: string, Size: non-negative integer}".into())
        })?),
    };
    let text = string("Value")?;
    let value = match (&value_kind, text) {
        (ValueKind::None | ValueKind::Unknown(_), _) => ImportValue::None,
        (ValueKind::Literal | ValueKind::LiteralReference, Some(text)) => {
            ImportValue::Write(ValueInput::Text(text.to_owned()))
        }
        (ValueKind::Binary | ValueKind::BinaryReference, Some(text)) => {
            let bytes = BASE64.decode(text).map_err(|e| {
                Error::with_source(
                    ErrorCode::InvalidData,
                    format!("{path}: 'Value' is not valid base64"),
                    e,
                )
            })?;
            ImportValue::Write(ValueInput::Bytes(bytes))
        }
        (ValueKind::Literal, None) if value_ref.is_none() => {
            ImportValue::Write(ValueInput::Text(String::new()))
        }
        (ValueKind::Binary, None) if value_ref.is_none() => {
            ImportValue::Write(ValueInput::Bytes(Vec::new()))
        }
        (kind, None) => ImportValue::Reference(kind.clone(), value_ref),
    };
    let children = match obj.get("innerEntries") {
        None | Some(JsonValue::Null) => Vec::new(),
        Some(JsonValue::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, child)| parse_entry(child, code, &format!("{path}.innerEntries[{i}]")))
            .collect::<Result<_>>()?,
        Some(_) => return Err(fail("'innerEntries' must be an array".into())),
    };
    Ok(ImportEntry {
        id,
        kind,
        label,
        mime_type,
        info,
        value,
        target_id: String::new(),
        children,
    })
}

/// The entries to import from the JSON of a whole store (a root item, as `store export`
/// writes it): the root's inner entries without the well-known items, each checked with
/// [`validate_entry_json`]. A value that is not a root item, or any invalid entry, is an
/// `InvalidArgument` error: a tool refuses the whole input before importing any part of it.
pub fn store_import_entries(root: JsonValue) -> Result<Vec<JsonValue>> {
    let invalid = || Error::new(ErrorCode::InvalidArgument, "not a store's JSON");
    let JsonValue::Object(mut root) = root else {
        return Err(invalid());
    };
    if root.get("Kind").and_then(JsonValue::as_str) != Some("item") {
        return Err(invalid());
    }
    let entries: Vec<JsonValue> = match root.remove("innerEntries") {
        None | Some(JsonValue::Null) => Vec::new(),
        Some(JsonValue::Array(entries)) => entries
            .into_iter()
            .filter(|e| {
                !e.get("Id")
                    .and_then(JsonValue::as_str)
                    .is_some_and(is_well_known)
            })
            .collect(),
        Some(_) => return Err(invalid()),
    };
    for entry in &entries {
        validate_entry_json(entry)?;
    }
    Ok(entries)
}

/// Checks an entry JSON (a value or a JSON string) the way [`Store::new_entry_from_json_at`]
/// does before it imports anything — shape, `Kind`, the limits of SPEC §1 and base64 values —
/// without importing it. Tools use it to refuse a whole input before importing any part of it.
pub fn validate_entry_json(json: &JsonValue) -> Result<()> {
    let json = json_input(json, ErrorCode::InvalidArgument)?;
    parse_entry(&json, ErrorCode::InvalidArgument, "entry").map(drop)
}

fn parse_value_ref(value: &JsonValue) -> Option<ValueRef> {
    let obj = value.as_object()?;
    let hash = obj.get("Hash")?.as_str()?.to_owned();
    let size = obj.get("Size")?;
    let size = size.as_u64().or_else(|| {
        size.as_f64()
            .filter(|f| *f >= 0.0 && f.fract() == 0.0)
            .map(|f| f as u64)
    })?;
    Some(ValueRef { hash, size })
}

/// Accepts a JSON value, or a JSON string holding the document.
fn json_input(json: &JsonValue, code: ErrorCode) -> Result<std::borrow::Cow<'_, JsonValue>> {
    match json {
        JsonValue::String(text) => serde_json::from_str(text)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| Error::with_source(code, "the input is not valid JSON", e)),
        other => Ok(std::borrow::Cow::Borrowed(other)),
    }
}

/// Parses JSON text (`invalid-data` on failure).
pub(crate) fn parse_json_text(text: &str) -> Result<JsonValue> {
    serde_json::from_str(text)
        .map_err(|e| Error::with_source(ErrorCode::InvalidData, "the input is not valid JSON", e))
}

// ---------------------------------------------------------------------------------------------
// Creating imported entries
// ---------------------------------------------------------------------------------------------

impl<B: Backend> Store<B> {
    /// Builds the initial state of an imported entry (blobs go into the cache).
    fn imported_data(&mut self, entry: &ImportEntry, outer: Arc<str>, key: Arc<str>) -> EntryData {
        let mut data = match entry.kind {
            EntryKind::Link => EntryData::new_link(outer, key, Arc::from(entry.target_id.as_str())),
            EntryKind::Item => EntryData::new_item(outer, key, entry.mime_type.clone()),
        };
        data.label.clone_from(&entry.label);
        data.info.clone_from(&entry.info);
        match &entry.value {
            ImportValue::None => {}
            ImportValue::Reference(kind, value_ref) => {
                data.value_kind = kind.clone();
                data.value_ref.clone_from(value_ref);
            }
            ImportValue::Write(ValueInput::None) => {}
            ImportValue::Write(ValueInput::Text(text)) => {
                if utf16_len(text) <= self.options.literal_size_limit {
                    data.value_kind = ValueKind::Literal;
                    data.literal_value = Some(text.clone());
                } else {
                    data.value_kind = ValueKind::LiteralReference;
                    data.value_ref = Some(self.cache_new_blob(text.as_bytes()));
                }
            }
            ImportValue::Write(ValueInput::Bytes(bytes)) => {
                if bytes.len() <= BINARY_SIZE_LIMIT {
                    data.value_kind = ValueKind::Binary;
                    data.binary_value = Some(bytes.clone());
                } else {
                    data.value_kind = ValueKind::BinaryReference;
                    data.value_ref = Some(self.cache_new_blob(bytes));
                }
            }
        }
        data
    }

    fn cache_new_blob(&mut self, bytes: &[u8]) -> ValueRef {
        let hash = blob_hash(bytes);
        self.blobs.insert_verified(hash.clone(), Arc::from(bytes));
        self.note_written_blob(&hash);
        ValueRef {
            hash,
            size: bytes.len() as u64,
        }
    }

    /// Creates an imported entry and records every property that differs from the default.
    fn create_imported(&mut self, id: Arc<str>, data: EntryData) {
        let has_label = !data.label.is_empty();
        let has_type = !data.mime_type.is_empty();
        let has_value = data.value_kind.effective() != &ValueKind::None;
        let info_keys: Vec<String> = data.info.keys().cloned().collect();
        self.p_create(id.clone(), data);
        if has_label {
            self.record(&id, Property::Label);
        }
        if has_type {
            self.record(&id, Property::Type);
        }
        if has_value {
            self.record(&id, Property::Value);
        }
        for key in info_keys {
            self.record(&id, Property::Info(key));
        }
    }

    /// Creates `entry` and its subtree; `id_of` gives each entry's id (kept or fresh), and
    /// `retarget` maps link targets.
    fn create_imported_tree(
        &mut self,
        entry: &ImportEntry,
        id: Arc<str>,
        outer: Arc<str>,
        key: Arc<str>,
        id_of: &mut dyn FnMut(&ImportEntry) -> Arc<str>,
        retarget: &dyn Fn(&str) -> Option<Arc<str>>,
    ) -> Result<()> {
        let mut data = self.imported_data(entry, outer, key);
        if data.kind == EntryKind::Link
            && let Some(new_target) = retarget(&data.target_id)
        {
            data.target_id = new_target;
        }
        self.create_imported(id.clone(), data);
        let keys = n_keys_between(None, None, entry.children.len())
            .map_err(|e| Error::invalid_argument(e.to_string()))?;
        for (child, key) in entry.children.iter().zip(keys) {
            let child_id = id_of(child);
            self.create_imported_tree(
                child,
                child_id,
                id.clone(),
                Arc::from(key),
                id_of,
                retarget,
            )?;
        }
        Ok(())
    }

    /// Imports an item or link JSON (a value or a JSON string) with fresh ids into `container`
    /// at `index`, dispatching on `Kind` (SPEC §8.4). Returns the new top entry's id.
    pub fn new_entry_from_json_at(
        &mut self,
        json: &JsonValue,
        container: &str,
        index: Option<usize>,
    ) -> Result<String> {
        let json = json_input(json, ErrorCode::InvalidArgument)?;
        match json.get("Kind").and_then(JsonValue::as_str) {
            Some("item") => self.deserialize_item_into(&json, container, index),
            Some("link") => self.deserialize_link_into(&json, container, index),
            _ => Err(Error::invalid_argument(
                "an entry JSON needs 'Kind' \"item\" or \"link\"",
            )),
        }
    }

    /// Imports gzip(UTF-8 JSON) as produced by `entry.as_binary()` (SPEC §8.6).
    pub fn new_entry_from_binary_at(
        &mut self,
        bytes: &[u8],
        container: &str,
        index: Option<usize>,
    ) -> Result<String> {
        let text = String::from_utf8(gunzip(bytes)?)
            .map_err(|e| Error::with_source(ErrorCode::InvalidData, "the entry is not UTF-8", e))?;
        let json = parse_json_text(&text)?;
        self.new_entry_from_json_at(&json, container, index)
    }

    /// Imports an item subtree with fresh ids; links to entries inside the subtree are
    /// retargeted, others kept verbatim. Validates everything first and imports nothing on
    /// failure.
    pub fn deserialize_item_into(
        &mut self,
        json: &JsonValue,
        container: &str,
        index: Option<usize>,
    ) -> Result<String> {
        let json = json_input(json, ErrorCode::InvalidArgument)?;
        let entry = parse_entry(&json, ErrorCode::InvalidArgument, "entry")?;
        if entry.kind != EntryKind::Item {
            return Err(Error::invalid_argument("expected an item JSON"));
        }
        self.import_fresh(&entry, container, index)
    }

    /// Imports one link with a fresh id; `TargetId` is copied without an existence check.
    pub fn deserialize_link_into(
        &mut self,
        json: &JsonValue,
        container: &str,
        index: Option<usize>,
    ) -> Result<String> {
        let json = json_input(json, ErrorCode::InvalidArgument)?;
        let entry = parse_entry(&json, ErrorCode::InvalidArgument, "entry")?;
        if entry.kind != EntryKind::Link {
            return Err(Error::invalid_argument("expected a link JSON"));
        }
        self.import_fresh(&entry, container, index)
    }

    fn import_fresh(
        &mut self,
        entry: &ImportEntry,
        container: &str,
        index: Option<usize>,
    ) -> Result<String> {
        let container = self.live_item_id(container, "container")?;
        // Every entry gets a fresh id, in the pre-order in which they are created; old ids of
        // the subtree map to the new ones so that internal links can be retargeted.
        let mut fresh: Vec<Arc<str>> = Vec::new();
        let mut mapping: HashMap<String, Arc<str>> = HashMap::new();
        let mut stack = vec![entry];
        while let Some(e) = stack.pop() {
            let id = self.next_entry_id();
            if let Some(old) = &e.id {
                mapping.entry(old.clone()).or_insert_with(|| id.clone());
            }
            fresh.push(id);
            stack.extend(e.children.iter().rev());
        }
        let top_id = fresh[0].clone();
        let mut fresh = fresh.into_iter();
        let mut id_of = |_: &ImportEntry| fresh.next().unwrap_or_else(|| Arc::from(""));
        let _ = id_of(entry);
        let retarget = |target: &str| mapping.get(target).cloned();
        self.transact(|s| {
            let key = s.key_for_insertion(&container, index, None)?;
            s.create_imported_tree(
                entry,
                top_id.clone(),
                container.clone(),
                key,
                &mut id_of,
                &retarget,
            )?;
            Ok(top_id.to_string())
        })
    }
}

// ---------------------------------------------------------------------------------------------
// from_json
// ---------------------------------------------------------------------------------------------

impl<B: NewBackend> Store<B> {
    /// Rebuilds a store from [`Store::as_json`] output (a JSON value or a JSON string), keeping
    /// every id (SPEC §8.2). The result has a new document history.
    pub fn from_json(json: &JsonValue, options: StoreOptions) -> Result<Self> {
        let backend = match options.replica_seed {
            Some(seed) => B::new_seeded(seed),
            None => B::new_empty(),
        };
        Self::from_json_with_backend(backend, json, options)
    }

    /// [`Store::from_json`] from JSON text.
    pub fn from_json_str(text: &str, options: StoreOptions) -> Result<Self> {
        Self::from_json(&parse_json_text(text)?, options)
    }
}

impl<B: Backend> Store<B> {
    /// [`Store::from_json`] into a given empty backend (used where the backend is chosen at run
    /// time).
    pub fn from_json_with_backend(
        backend: B,
        json: &JsonValue,
        options: StoreOptions,
    ) -> Result<Self> {
        options.validate()?;
        let json = json_input(json, ErrorCode::InvalidData)?;
        let root = parse_entry(&json, ErrorCode::InvalidData, "root")?;
        if root.kind != EntryKind::Item || root.id.as_deref() != Some(ROOT_ID) {
            return Err(Error::invalid_data(format!(
                "the top level must be the Root item '{ROOT_ID}'"
            )));
        }
        check_ids_for_from_json(&root)?;
        let mut store = Store::with_restored_backend(backend, options)?;
        if store.model.len() != 0 {
            return Err(Error::invalid_argument("from_json needs an empty backend"));
        }
        store.model = Model::default();
        store.transact(|s| {
            let mut id_of = |e: &ImportEntry| Arc::from(e.id.clone().unwrap_or_default());
            let keep = |_: &str| None;
            s.create_imported_tree(
                &root,
                Arc::from(ROOT_ID),
                Arc::from(""),
                Arc::from(""),
                &mut id_of,
                &keep,
            )?;
            let root_id = s.live_id(ROOT_ID)?;
            for (id, label) in [(TRASH_ID, "trash"), (LOST_AND_FOUND_ID, "lost-and-found")] {
                if !s.model.contains(id) {
                    let key = s.key_for_insertion(&root_id, None, None)?;
                    s.create_well_known(id, ROOT_ID, &key, label);
                }
            }
            Ok(())
        })?;
        Ok(store)
    }
}

/// Every entry needs a unique id; Trash and LostAndFound may only sit directly in Root and
/// Root only at the top.
fn check_ids_for_from_json(root: &ImportEntry) -> Result<()> {
    let mut seen: HashSet<&str> = HashSet::from([ROOT_ID]);
    let mut stack: Vec<(&ImportEntry, usize)> = root.children.iter().map(|c| (c, 1)).collect();
    while let Some((entry, depth)) = stack.pop() {
        let id = entry
            .id
            .as_deref()
            .ok_or_else(|| Error::invalid_data("every entry of a store JSON needs an 'Id'"))?;
        if !seen.insert(id) {
            return Err(Error::invalid_data(format!("the id '{id}' appears twice")));
        }
        if is_well_known(id) && (id == ROOT_ID || depth != 1 || entry.kind != EntryKind::Item) {
            return Err(Error::invalid_data(format!(
                "the well-known item '{id}' may only appear as an item directly in Root"
            )));
        }
        stack.extend(entry.children.iter().map(|c| (c, depth + 1)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_store_import_takes_the_roots_entries_without_the_well_known_items() {
        let entry = json!({"Kind": "item", "Label": "x"});
        let root = json!({
            "Id": ROOT_ID,
            "Kind": "item",
            "innerEntries": [{"Id": TRASH_ID, "Kind": "item"}, entry.clone()],
        });
        assert_eq!(store_import_entries(root).unwrap(), vec![entry.clone()]);
        assert!(
            store_import_entries(json!({"Kind": "item"}))
                .unwrap()
                .is_empty()
        );
        for bad in [
            json!([entry.clone()]),
            json!({"Kind": "link", "innerEntries": []}),
            json!({"Kind": "item", "innerEntries": {}}),
            json!({"Kind": "item", "innerEntries": [{"Kind": "folder"}]}),
        ] {
            let error = store_import_entries(bad).unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidArgument);
        }
    }

    #[test]
    fn validate_entry_json_checks_without_importing() {
        let good = json!({
            "Kind": "item",
            "Label": "x",
            "innerEntries": [{"Kind": "link", "TargetId": "t"}]
        });
        assert!(validate_entry_json(&good).is_ok());
        assert!(validate_entry_json(&JsonValue::String(good.to_string())).is_ok());
        let code = |v: JsonValue| validate_entry_json(&v).unwrap_err().code();
        assert_eq!(code(json!({"Kind": "thing"})), ErrorCode::InvalidArgument);
        assert_eq!(code(json!([1])), ErrorCode::InvalidArgument);
        assert_eq!(
            code(json!({"Kind": "item", "ValueKind": "binary", "Value": "!!"})),
            ErrorCode::InvalidData
        );
        assert_eq!(
            code(json!({"Kind": "item", "Label": "x".repeat(MAX_LABEL_LENGTH + 1)})),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            code(json!({"Kind": "item", "innerEntries": [{"Kind": "link"}]})),
            ErrorCode::InvalidArgument
        );
    }
}
