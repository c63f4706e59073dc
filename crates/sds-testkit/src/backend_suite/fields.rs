//! Field writes (`Op`s) and what `read_entry` reads back, with UTF-16 text positions; and the
//! tolerant reading of shapes sds never writes.

use sds_core::{
    Backend, EntryData, EntryKind, NewBackend, Op, ROOT_ID, TRASH_ID, TextField, ValueKind,
    ValueRef,
};
use serde_json::json;
use std::collections::BTreeMap;

fn item(outer: &str, key: &str) -> EntryData {
    EntryData::new_item(outer.into(), key.into(), String::new())
}

/// Every `Op` writes exactly what `read_entry` then reads; `Create` overwrites, `Remove`
/// makes the entry absent.
pub fn ops_write_what_read_entry_reads_back<B: NewBackend>() {
    let mut backend = B::new_empty();
    let mut data = item(ROOT_ID, "a0");
    data.label = "😀 label".into();
    data.info = BTreeMap::from([("n".to_owned(), json!(1)), ("f".to_owned(), json!(0.5))]);
    data.mime_type = "text/markdown".into();
    data.value_kind = ValueKind::Literal;
    data.literal_value = Some("hello".into());
    backend
        .commit(vec![Op::Create {
            id: "x".into(),
            data: Box::new(data.clone()),
        }])
        .expect("create");
    assert_eq!(backend.read_entry("x"), Some(data.clone()));

    backend
        .commit(vec![
            // Replace the emoji (2 UTF-16 units) with "A".
            Op::SpliceText {
                id: "x".into(),
                field: TextField::Label,
                index: 0,
                delete: 2,
                insert: "A".into(),
            },
            // Out-of-range positions are clamped.
            Op::SpliceText {
                id: "x".into(),
                field: TextField::LiteralValue,
                index: 99,
                delete: 9,
                insert: "!".into(),
            },
            Op::SetPlacement {
                id: "x".into(),
                outer_item_id: TRASH_ID.into(),
                order_key: "a5".into(),
            },
            Op::SetInfo {
                id: "x".into(),
                key: "_trashedAt".into(),
                value: json!(1_700_000_000_000u64),
            },
            Op::DeleteInfo {
                id: "x".into(),
                key: "n".into(),
            },
            Op::SetMimeType {
                id: "x".into(),
                mime_type: String::new(),
            },
            Op::SetValueKind {
                id: "x".into(),
                kind: ValueKind::BinaryReference,
            },
            Op::SetBinary {
                id: "x".into(),
                bytes: vec![9, 8],
            },
            Op::SetValueRef {
                id: "x".into(),
                value_ref: ValueRef {
                    hash: "ab".repeat(32),
                    size: 5,
                },
            },
        ])
        .expect("writes");
    let read = backend.read_entry("x").expect("entry");
    assert_eq!(read.label, "A label");
    assert_eq!(read.literal_value.as_deref(), Some("hello!"));
    assert_eq!(&*read.outer_item_id, TRASH_ID);
    assert_eq!(&*read.order_key, "a5");
    assert_eq!(
        read.info,
        BTreeMap::from([
            ("_trashedAt".to_owned(), json!(1_700_000_000_000u64)),
            ("f".to_owned(), json!(0.5)),
        ])
    );
    assert_eq!(read.mime_type, "");
    assert_eq!(read.value_kind, ValueKind::BinaryReference);
    assert_eq!(read.binary_value, Some(vec![9, 8]));
    assert_eq!(
        read.value_ref,
        Some(ValueRef {
            hash: "ab".repeat(32),
            size: 5
        })
    );

    // Create overwrites; links carry a target.
    let link = EntryData::new_link(ROOT_ID.into(), "a1".into(), "x".into());
    backend
        .commit(vec![Op::Create {
            id: "x".into(),
            data: Box::new(link.clone()),
        }])
        .expect("overwrite");
    assert_eq!(backend.read_entry("x"), Some(link));
    // Whether the key stays (as a tombstone) is the backend's layout; the entry is gone.
    backend
        .commit(vec![Op::Remove { id: "x".into() }])
        .expect("remove");
    assert_eq!(backend.read_entry("x"), None);
    assert!(backend.read_all().is_empty());
    assert!(backend.entry_ids().iter().all(|id| id == "x"));
}

/// Text positions count UTF-16 units: an emoji is two of them.
pub fn text_offsets_are_utf16_units<B: NewBackend>() {
    let mut backend = B::new_empty();
    let mut data = item(ROOT_ID, "a0");
    data.label = "😀".into();
    backend
        .commit(vec![Op::Create {
            id: "x".into(),
            data: Box::new(data),
        }])
        .expect("create");
    backend
        .commit(vec![Op::SpliceText {
            id: "x".into(),
            field: TextField::Label,
            index: 2,
            delete: 0,
            insert: "!".into(),
        }])
        .expect("splice after the emoji");
    assert_eq!(backend.read_entry("x").expect("x").label, "😀!");
    backend
        .commit(vec![Op::SpliceText {
            id: "x".into(),
            field: TextField::Label,
            index: 0,
            delete: 2,
            insert: "🎉🎉".into(),
        }])
        .expect("replace the emoji");
    assert_eq!(backend.read_entry("x").expect("x").label, "🎉🎉!");
}

/// Checks what a backend reads from shapes that sds never writes but other writers may (SPEC
/// §9.5), after a test of the backend's own layout has written them into its raw document:
///
/// - `not-a-map` (a plain value), `no-kind` (a map without `Kind`) and `odd-kind` (`Kind`
///   `folder`), and any ids in `absent`, read as absent;
/// - `bare` (a map with only `Kind` `item`) reads as an item with every field empty (a missing
///   `outerItemId` makes an orphan);
/// - `odd` (`Kind` `item`; `Label` and `literalValue` plain strings, not texts; `outerItemId`
///   a number; `ValueKind` `pending`; `binaryValue` a string; `ValueRef` without a `Size`)
///   reads with those fields at their defaults, `pending` as an unknown value kind;
/// - `read_all` yields exactly the ids `live`;
/// - splicing into `odd`'s `Label`, which is not a text, replaces it with a text.
///
/// Returns `odd` as read before the splice, for the checks of its Info.
pub fn check_shapes_sds_never_writes<B: Backend>(
    backend: &mut B,
    absent: &[&str],
    live: &[&str],
) -> EntryData {
    for id in ["not-a-map", "no-kind", "odd-kind", "nobody"]
        .iter()
        .chain(absent)
    {
        assert_eq!(backend.read_entry(id), None, "{id}");
    }
    assert_eq!(
        backend.read_entry("bare"),
        Some(item("", "")),
        "a missing outerItemId is an orphan, not a tombstone"
    );
    let odd = backend.read_entry("odd").expect("odd");
    assert_eq!(odd.kind, EntryKind::Item);
    assert_eq!(odd.label, "");
    assert_eq!(&*odd.outer_item_id, "");
    assert_eq!(odd.value_kind, ValueKind::Unknown("pending".into()));
    assert_eq!(odd.literal_value, None);
    assert_eq!(odd.binary_value, Some(Vec::new()));
    assert_eq!(odd.value_ref, None);
    let mut all: Vec<String> = backend.read_all().into_iter().map(|(id, _)| id).collect();
    all.sort();
    assert_eq!(all, live);

    // Splicing into a Label that is not a text replaces it with a text.
    backend
        .commit(vec![Op::SpliceText {
            id: "odd".into(),
            field: TextField::Label,
            index: 0,
            delete: 0,
            insert: "now a text".into(),
        }])
        .expect("splice");
    assert_eq!(backend.read_entry("odd").expect("odd").label, "now a text");
    odd
}
