//! The document layout of SPEC §9 (yrs column): reading entries tolerantly and applying the
//! store's writes.

use crate::any_json::{json_to_any, out_to_json};
use sds_core::{EntryData, EntryKind, Op, TextField, ValueKind, ValueRef};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use yrs::{
    Any, GetString, Map, MapPrelim, MapRef, Number, Out, ReadTxn, Text, TextPrelim, TextRef,
    TransactionMut,
};

/// Name of the root map.
pub(crate) const ENTRIES: &str = "Entries";

pub(crate) const KIND: &str = "Kind";
pub(crate) const OUTER_ITEM_ID: &str = "outerItemId";
pub(crate) const ORDER_KEY: &str = "OrderKey";
pub(crate) const LABEL: &str = "Label";
pub(crate) const INFO: &str = "Info";
pub(crate) const MIME_TYPE: &str = "MIMEType";
pub(crate) const VALUE_KIND: &str = "ValueKind";
pub(crate) const LITERAL_VALUE: &str = "literalValue";
pub(crate) const BINARY_VALUE: &str = "binaryValue";
pub(crate) const VALUE_REF: &str = "ValueRef";
pub(crate) const TARGET_ID: &str = "TargetId";

// ---------------------------------------------------------------------------------------------
// Reading (SPEC §9.5)
// ---------------------------------------------------------------------------------------------

/// The live entry under `id`, or `None` when the value is missing, not a map, or has a missing
/// or unknown `Kind`.
pub(crate) fn read_entry<T: ReadTxn>(txn: &T, entries: &MapRef, id: &str) -> Option<EntryData> {
    match entries.get(txn, id)? {
        Out::YMap(entry) => read_entry_map(txn, &entry),
        _ => None,
    }
}

/// The fields of one entry map that reading looks at, gathered in one pass over the map.
#[derive(Default)]
struct Fields {
    kind: Option<Out>,
    outer_item_id: Option<Out>,
    order_key: Option<Out>,
    label: Option<Out>,
    info: Option<Out>,
    mime_type: Option<Out>,
    value_kind: Option<Out>,
    literal_value: Option<Out>,
    binary_value: Option<Out>,
    value_ref: Option<Out>,
    target_id: Option<Out>,
}

impl Fields {
    /// One pass over the map instead of one look-up per field; a map iterates exactly the
    /// values that `get` returns.
    fn gather<T: ReadTxn>(txn: &T, entry: &MapRef) -> Fields {
        let mut fields = Fields::default();
        for (key, value) in entry.iter(txn) {
            let slot = match key {
                KIND => &mut fields.kind,
                OUTER_ITEM_ID => &mut fields.outer_item_id,
                ORDER_KEY => &mut fields.order_key,
                LABEL => &mut fields.label,
                INFO => &mut fields.info,
                MIME_TYPE => &mut fields.mime_type,
                VALUE_KIND => &mut fields.value_kind,
                LITERAL_VALUE => &mut fields.literal_value,
                BINARY_VALUE => &mut fields.binary_value,
                VALUE_REF => &mut fields.value_ref,
                TARGET_ID => &mut fields.target_id,
                _ => continue,
            };
            *slot = Some(value);
        }
        fields
    }
}

/// Reads one entry map.
pub(crate) fn read_entry_map<T: ReadTxn>(txn: &T, entry: &MapRef) -> Option<EntryData> {
    let fields = Fields::gather(txn, entry);
    let kind = match as_string(fields.kind.as_ref())?.as_ref() {
        "item" => EntryKind::Item,
        "link" => EntryKind::Link,
        _ => return None,
    };
    let outer_item_id = as_string(fields.outer_item_id.as_ref()).unwrap_or_else(empty);
    let order_key = as_string(fields.order_key.as_ref()).unwrap_or_else(empty);
    let label = match &fields.label {
        Some(Out::YText(text)) => text.get_string(txn),
        _ => String::new(),
    };
    let info = read_info(txn, fields.info.as_ref());
    let mut data = match kind {
        EntryKind::Link => {
            let target = as_string(fields.target_id.as_ref()).unwrap_or_else(empty);
            EntryData::new_link(outer_item_id, order_key, target)
        }
        EntryKind::Item => {
            let mime_type =
                as_string(fields.mime_type.as_ref()).map_or_else(String::new, |s| s.to_string());
            let mut data = EntryData::new_item(outer_item_id, order_key, mime_type);
            data.value_kind = as_string(fields.value_kind.as_ref())
                .map_or(ValueKind::None, |s| ValueKind::parse(&s));
            data.literal_value = match &fields.literal_value {
                Some(Out::YText(text)) => Some(text.get_string(txn)),
                _ => None,
            };
            data.binary_value = match &fields.binary_value {
                None | Some(Out::Any(Any::Undefined)) => None,
                // yjs `ContentBinary` and yrs `Any::Buffer` both read as a buffer.
                Some(Out::Any(Any::Buffer(bytes))) => Some(bytes.to_vec()),
                Some(_) => Some(Vec::new()),
            };
            data.value_ref = fields
                .value_ref
                .as_ref()
                .and_then(|v| read_value_ref(txn, v));
            data
        }
    };
    data.label = label;
    data.info = info;
    Some(data)
}

/// A string field (shared with the document, not copied); `None` when missing, `undefined` or
/// not a string.
fn as_string(value: Option<&Out>) -> Option<Arc<str>> {
    match value {
        Some(Out::Any(Any::String(s))) => Some(s.clone()),
        _ => None,
    }
}

fn empty() -> Arc<str> {
    Arc::from("")
}

fn read_info<T: ReadTxn>(txn: &T, value: Option<&Out>) -> BTreeMap<String, serde_json::Value> {
    let mut info = BTreeMap::new();
    if let Some(Out::YMap(map)) = value {
        for (key, value) in map.iter(txn) {
            if let Some(json) = out_to_json(txn, &value) {
                info.insert(key.to_owned(), sds_core::normalize_json(&json));
            }
        }
    }
    info
}

/// `{Hash: string, Size: number}` as an `Any` map (or, tolerantly, a `Y.Map`); anything else,
/// including a size that is not a non-negative integer, is malformed and reads as missing.
fn read_value_ref<T: ReadTxn>(txn: &T, value: &Out) -> Option<ValueRef> {
    let fields: HashMap<String, Any> = match value {
        Out::Any(Any::Map(map)) => (**map).clone(),
        Out::YMap(map) => match yrs::types::ToJson::to_json(map, txn) {
            Any::Map(map) => (*map).clone(),
            _ => return None,
        },
        _ => return None,
    };
    let hash = match fields.get("Hash")? {
        Any::String(s) => s.to_string(),
        _ => return None,
    };
    let size = match fields.get("Size")? {
        Any::Number(Number::Int(i)) => u64::try_from(*i).ok()?,
        Any::Number(Number::Float(x))
            if x.is_finite()
                && *x >= 0.0
                && x.fract() == 0.0
                && *x <= sds_core::MAX_SAFE_INTEGER =>
        {
            *x as u64
        }
        _ => return None,
    };
    Some(ValueRef { hash, size })
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

fn string_any(s: &str) -> Any {
    Any::String(Arc::from(s))
}

fn value_ref_any(value_ref: &ValueRef) -> Any {
    Any::Map(Arc::new(HashMap::from([
        ("Hash".to_owned(), string_any(&value_ref.hash)),
        (
            "Size".to_owned(),
            Any::Number(Number::Float(value_ref.size as f64)),
        ),
    ])))
}

/// The entry map under `id`, if the value there is a map.
fn entry_map<T: ReadTxn>(txn: &T, entries: &MapRef, id: &str) -> Option<MapRef> {
    match entries.get(txn, id)? {
        Out::YMap(map) => Some(map),
        _ => None,
    }
}

/// Applies one write. Writes to an entry whose map is missing are skipped: the store never
/// issues them, and after concurrent remote changes skipping is the only safe choice.
pub(crate) fn apply_op(txn: &mut TransactionMut<'_>, entries: &MapRef, op: Op) {
    match op {
        Op::Create { id, data } => create_entry(txn, entries, &id, &data),
        Op::Remove { id } => {
            entries.remove(txn, &id);
        }
        Op::SetPlacement {
            id,
            outer_item_id,
            order_key,
        } => {
            if let Some(entry) = entry_map(txn, entries, &id) {
                entry.insert(txn, OUTER_ITEM_ID, string_any(&outer_item_id));
                entry.insert(txn, ORDER_KEY, string_any(&order_key));
            }
        }
        Op::SpliceText {
            id,
            field,
            index,
            delete,
            insert,
        } => {
            if let Some(entry) = entry_map(txn, entries, &id) {
                splice_text(txn, &entry, field, index, delete, &insert);
            }
        }
        Op::SetMimeType { id, mime_type } => {
            if let Some(entry) = entry_map(txn, entries, &id) {
                entry.insert(txn, MIME_TYPE, string_any(&mime_type));
            }
        }
        Op::SetValueKind { id, kind } => {
            if let Some(entry) = entry_map(txn, entries, &id) {
                entry.insert(txn, VALUE_KIND, string_any(kind.as_str()));
            }
        }
        Op::SetBinary { id, bytes } => {
            if let Some(entry) = entry_map(txn, entries, &id) {
                entry.insert(txn, BINARY_VALUE, Any::Buffer(Arc::from(bytes)));
            }
        }
        Op::SetValueRef { id, value_ref } => {
            if let Some(entry) = entry_map(txn, entries, &id) {
                entry.insert(txn, VALUE_REF, value_ref_any(&value_ref));
            }
        }
        Op::SetInfo { id, key, value } => {
            if let Some(entry) = entry_map(txn, entries, &id) {
                let info = match entry.get(txn, INFO) {
                    Some(Out::YMap(info)) => info,
                    _ => entry.insert(txn, INFO, MapPrelim::default()),
                };
                info.insert(txn, key, json_to_any(&value));
            }
        }
        Op::DeleteInfo { id, key } => {
            if let Some(entry) = entry_map(txn, entries, &id)
                && let Some(Out::YMap(info)) = entry.get(txn, INFO)
            {
                info.remove(txn, &key);
            }
        }
    }
}

/// Writes a complete entry map, replacing whatever `id` held. Keys are written one by one in
/// a fixed order so that the same data always produces the same update.
fn create_entry(txn: &mut TransactionMut<'_>, entries: &MapRef, id: &str, data: &EntryData) {
    let entry = entries.insert(txn, id, MapPrelim::default());
    entry.insert(txn, KIND, string_any(data.kind.as_str()));
    entry.insert(txn, OUTER_ITEM_ID, string_any(&data.outer_item_id));
    entry.insert(txn, ORDER_KEY, string_any(&data.order_key));
    entry.insert(txn, LABEL, TextPrelim::new(data.label.as_str()));
    let info = entry.insert(txn, INFO, MapPrelim::default());
    for (key, value) in &data.info {
        info.insert(txn, key.as_str(), json_to_any(value));
    }
    match data.kind {
        EntryKind::Item => {
            entry.insert(txn, MIME_TYPE, string_any(&data.mime_type));
            entry.insert(txn, VALUE_KIND, string_any(data.value_kind.as_str()));
        }
        EntryKind::Link => {
            entry.insert(txn, TARGET_ID, string_any(&data.target_id));
        }
    }
    if let Some(literal) = &data.literal_value {
        entry.insert(txn, LITERAL_VALUE, TextPrelim::new(literal.as_str()));
    }
    if let Some(bytes) = &data.binary_value {
        entry.insert(txn, BINARY_VALUE, Any::Buffer(Arc::from(bytes.as_slice())));
    }
    if let Some(value_ref) = &data.value_ref {
        entry.insert(txn, VALUE_REF, value_ref_any(value_ref));
    }
}

/// Deletes and inserts at a UTF-16 position, creating an empty text first when the field does
/// not hold one. Positions beyond the end are clamped (the store never sends them).
fn splice_text(
    txn: &mut TransactionMut<'_>,
    entry: &MapRef,
    field: TextField,
    index: usize,
    delete: usize,
    insert: &str,
) {
    let text: TextRef = match entry.get(txn, field.key()) {
        Some(Out::YText(text)) => text,
        _ => entry.insert(txn, field.key(), TextPrelim::new("")),
    };
    let len = text.len(txn);
    let index = u32::try_from(index).unwrap_or(u32::MAX).min(len);
    let delete = u32::try_from(delete).unwrap_or(u32::MAX).min(len - index);
    if delete > 0 {
        text.remove_range(txn, index, delete);
    }
    if !insert.is_empty() {
        text.insert(txn, index, insert);
    }
}
