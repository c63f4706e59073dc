//! The document layout of SPEC §9 (loro column): reading entries tolerantly and applying the
//! store's writes.

use crate::values::{info_value_to_json, json_to_loro, read_value_ref, value_ref_to_string};
use loro::{Container, LoroMap, LoroText, LoroValue, ValueOrContainer};
use sds_core::{EntryData, EntryKind, Op, ROOT_ID, TextField, ValueKind};
use std::collections::BTreeMap;
use std::sync::Arc;

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
// Reading (SPEC §9.4, §9.5)
// ---------------------------------------------------------------------------------------------

/// The entry map under `id`, if the value there is a map container. Tombstones included.
pub(crate) fn entry_map(entries: &LoroMap, id: &str) -> Option<LoroMap> {
    match entries.get(id)? {
        ValueOrContainer::Container(Container::Map(map)) => Some(map),
        _ => None,
    }
}

/// The live entry under `id`: `None` when the value is missing or not a map, when `Kind` is
/// missing or unknown, or when the entry is a tombstone.
pub(crate) fn read_entry(entries: &LoroMap, id: &str) -> Option<EntryData> {
    read_entry_value(id, entries.get(id)?)
}

/// Reads one value of `Entries` as an entry.
pub(crate) fn read_entry_value(id: &str, value: ValueOrContainer) -> Option<EntryData> {
    match value {
        ValueOrContainer::Container(Container::Map(map)) => read_entry_map(id, &map),
        _ => None,
    }
}

/// Whether an entry map is a tombstone: any entry but Root whose `outerItemId` is the empty
/// string (SPEC §9.4). A missing `outerItemId` is not a tombstone, exactly as JS SDS reads it;
/// such an entry is an orphan that the repair pass rescues.
fn is_tombstone(id: &str, outer_item_id: Option<&str>) -> bool {
    id != ROOT_ID && outer_item_id == Some("")
}

/// Reads one entry map.
pub(crate) fn read_entry_map(id: &str, entry: &LoroMap) -> Option<EntryData> {
    let kind = match get_string(entry, KIND)?.as_str() {
        "item" => EntryKind::Item,
        "link" => EntryKind::Link,
        _ => return None,
    };
    let outer_item_id = get_string(entry, OUTER_ITEM_ID);
    if is_tombstone(id, outer_item_id.as_deref()) {
        return None;
    }
    let outer_item_id: Arc<str> = Arc::from(outer_item_id.unwrap_or_default());
    let order_key: Arc<str> = Arc::from(get_string(entry, ORDER_KEY).unwrap_or_default());
    let mut data = match kind {
        EntryKind::Link => {
            let target = get_string(entry, TARGET_ID).unwrap_or_default();
            EntryData::new_link(outer_item_id, order_key, Arc::from(target))
        }
        EntryKind::Item => {
            let mut data = EntryData::new_item(
                outer_item_id,
                order_key,
                get_string(entry, MIME_TYPE).unwrap_or_default(),
            );
            data.value_kind =
                get_string(entry, VALUE_KIND).map_or(ValueKind::None, |s| ValueKind::parse(&s));
            data.literal_value = get_text(entry, LITERAL_VALUE);
            data.binary_value = entry.get(BINARY_VALUE).map(|value| match value {
                ValueOrContainer::Value(LoroValue::Binary(bytes)) => bytes.to_vec(),
                _ => Vec::new(),
            });
            data.value_ref = entry.get(VALUE_REF).and_then(|v| read_value_ref(&v));
            data
        }
    };
    data.label = get_text(entry, LABEL).unwrap_or_default();
    data.info = read_info(entry);
    Some(data)
}

/// A string field; `None` when missing or not a string.
fn get_string(map: &LoroMap, key: &str) -> Option<String> {
    match map.get(key)? {
        ValueOrContainer::Value(LoroValue::String(s)) => Some(s.to_string()),
        _ => None,
    }
}

/// A text field; `None` when missing or not a text container.
fn get_text(map: &LoroMap, key: &str) -> Option<String> {
    match map.get(key)? {
        ValueOrContainer::Container(Container::Text(text)) => Some(text.to_string()),
        _ => None,
    }
}

fn read_info(entry: &LoroMap) -> BTreeMap<String, serde_json::Value> {
    let mut info = BTreeMap::new();
    if let Some(ValueOrContainer::Container(Container::Map(map))) = entry.get(INFO) {
        map.for_each(|key, value| {
            info.insert(key.to_owned(), info_value_to_json(&value));
        });
    }
    info
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// The entry map under `id` if it is live enough to be written: present, a map, and not a
/// tombstone. Root is never a tombstone.
fn writable_entry(entries: &LoroMap, id: &str) -> Option<LoroMap> {
    let entry = entry_map(entries, id)?;
    let outer = get_string(&entry, OUTER_ITEM_ID);
    (!is_tombstone(id, outer.as_deref())).then_some(entry)
}

/// Applies one write. Writes to an entry whose map is missing or a tombstone are skipped: the
/// store never issues them, and after concurrent remote changes skipping is the only safe
/// choice (writing into a tombstone would not bring it back, only confuse later readers).
///
/// loro refuses a write only for reasons the store rules out (a text position beyond the end
/// or inside a surrogate pair, which the clamping below and the store's UTF-16 arithmetic
/// prevent); such a refused write is skipped as well.
pub(crate) fn apply_op(entries: &LoroMap, op: Op) {
    match op {
        Op::Create { id, data } => create_entry(entries, &id, &data),
        Op::Remove { id } => {
            if let Some(entry) = writable_entry(entries, &id) {
                // A tombstone, as JS SDS writes it (SPEC §9.4): the map and its other keys
                // stay, readers treat the entry as absent, and a concurrent placement written
                // to the same map brings it back on every replica alike.
                let _ = entry.insert(OUTER_ITEM_ID, "");
                let _ = entry.insert(ORDER_KEY, "");
            }
        }
        Op::SetPlacement {
            id,
            outer_item_id,
            order_key,
        } => {
            if let Some(entry) = writable_entry(entries, &id) {
                let _ = entry.insert(OUTER_ITEM_ID, &*outer_item_id);
                let _ = entry.insert(ORDER_KEY, &*order_key);
            }
        }
        Op::SpliceText {
            id,
            field,
            index,
            delete,
            insert,
        } => {
            if let Some(entry) = writable_entry(entries, &id) {
                splice_text(&entry, field, index, delete, &insert);
            }
        }
        Op::SetMimeType { id, mime_type } => {
            if let Some(entry) = writable_entry(entries, &id) {
                let _ = entry.insert(MIME_TYPE, mime_type);
            }
        }
        Op::SetValueKind { id, kind } => {
            if let Some(entry) = writable_entry(entries, &id) {
                let _ = entry.insert(VALUE_KIND, kind.as_str());
            }
        }
        Op::SetBinary { id, bytes } => {
            if let Some(entry) = writable_entry(entries, &id) {
                let _ = entry.insert(BINARY_VALUE, bytes);
            }
        }
        Op::SetValueRef { id, value_ref } => {
            if let Some(entry) = writable_entry(entries, &id) {
                let _ = entry.insert(VALUE_REF, value_ref_to_string(&value_ref));
            }
        }
        Op::SetInfo { id, key, value } => {
            if let Some(entry) = writable_entry(entries, &id) {
                let info = match entry.get(INFO) {
                    Some(ValueOrContainer::Container(Container::Map(info))) => Some(info),
                    _ => entry.insert_container(INFO, LoroMap::new()).ok(),
                };
                if let Some(info) = info {
                    let _ = info.insert(&key, json_to_loro(&value));
                }
            }
        }
        Op::DeleteInfo { id, key } => {
            if let Some(entry) = writable_entry(entries, &id)
                && let Some(ValueOrContainer::Container(Container::Map(info))) = entry.get(INFO)
            {
                let _ = info.delete(&key);
            }
        }
    }
}

/// Writes a complete, fresh entry map under `id`, replacing whatever the key held, including a
/// tombstone (placeholder creation, SPEC §5.7 step 4).
///
/// The new map is a new container: fields of the replaced map (stale values, a tombstone's
/// Info) cannot leak into the new entry, and writes that a concurrent peer still makes to the
/// replaced container land in a map that is no longer reachable from `Entries`, so they never
/// show. Keys are written one by one in a fixed order so that the same data always produces
/// the same operations.
fn create_entry(entries: &LoroMap, id: &str, data: &EntryData) {
    let Ok(entry) = entries.insert_container(id, LoroMap::new()) else {
        return;
    };
    let _ = entry.insert(KIND, data.kind.as_str());
    let _ = entry.insert(OUTER_ITEM_ID, &*data.outer_item_id);
    let _ = entry.insert(ORDER_KEY, &*data.order_key);
    if let Ok(label) = entry.insert_container(LABEL, LoroText::new())
        && !data.label.is_empty()
    {
        let _ = label.insert_utf16(0, &data.label);
    }
    if let Ok(info) = entry.insert_container(INFO, LoroMap::new()) {
        for (key, value) in &data.info {
            let _ = info.insert(key, json_to_loro(value));
        }
    }
    match data.kind {
        EntryKind::Item => {
            let _ = entry.insert(MIME_TYPE, data.mime_type.as_str());
            let _ = entry.insert(VALUE_KIND, data.value_kind.as_str());
        }
        EntryKind::Link => {
            let _ = entry.insert(TARGET_ID, &*data.target_id);
        }
    }
    if let Some(literal) = &data.literal_value
        && let Ok(text) = entry.insert_container(LITERAL_VALUE, LoroText::new())
        && !literal.is_empty()
    {
        let _ = text.insert_utf16(0, literal);
    }
    if let Some(bytes) = &data.binary_value {
        let _ = entry.insert(BINARY_VALUE, bytes.as_slice());
    }
    if let Some(value_ref) = &data.value_ref {
        let _ = entry.insert(VALUE_REF, value_ref_to_string(value_ref));
    }
}

/// Deletes and inserts at a UTF-16 position, creating an empty text first when the field does
/// not hold one. Positions beyond the end are clamped (the store never sends them).
fn splice_text(entry: &LoroMap, field: TextField, index: usize, delete: usize, insert: &str) {
    let text = match entry.get(field.key()) {
        Some(ValueOrContainer::Container(Container::Text(text))) => text,
        _ => match entry.insert_container(field.key(), LoroText::new()) {
            Ok(text) => text,
            Err(_) => return,
        },
    };
    let len = text.len_utf16();
    let index = index.min(len);
    let delete = delete.min(len - index);
    if delete > 0 {
        let _ = text.delete_utf16(index, delete);
    }
    if !insert.is_empty() {
        let _ = text.insert_utf16(index, insert);
    }
}
