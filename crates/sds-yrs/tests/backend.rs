//! What is particular to `YrsBackend`: the local patch is the transaction's own update, the
//! raw yrs document counts UTF-16 units, purges delete keys, tolerant reading of shapes sds
//! never writes, client ids, and updates from yjs peers that yrs must not integrate.
//!
//! Everything that holds for any backend is in `sds_testkit::backend_suite`, run by
//! `tests/conformance.rs`.

use sds_core::{Backend, EntryData, ErrorCode, NewBackend, Op, ROOT_ID};
use sds_testkit::Replica;
use sds_testkit::backend_suite::fields::check_shapes_sds_never_writes;
use sds_testkit::backend_suite::thousand_entry_store;
use sds_yrs::YrsBackend;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use yrs::{Any, Map, MapPrelim, Number, Text, TextPrelim, Transact};

fn item(outer: &str, key: &str) -> EntryData {
    EntryData::new_item(outer.into(), key.into(), String::new())
}

/// A local patch is the transaction's own update, never a diff against the previous state
/// vector: that diff carries the document's whole delete set.
#[test]
fn a_local_patch_is_the_update_of_its_transaction_not_a_state_vector_diff() {
    let (mut a, items) = thousand_entry_store::<YrsBackend>();
    let cursor = a.store.current_cursor();
    a.store
        .set_label(&items[500], "the one change")
        .expect("relabel");
    let patch = a.last_patch();
    let diff = a.store.export_patch(Some(&cursor)).expect("diff");
    assert!(
        diff.len() > 10 * patch.len(),
        "diff {} vs patch {}",
        diff.len(),
        patch.len()
    );
}

/// yrs counts text in UTF-16 units (the offset kind of the document), as Y.js does.
#[test]
fn the_document_counts_text_in_utf16_units() {
    let doc = YrsBackend::new();
    let text = doc.doc().get_or_insert_text("probe");
    let mut txn = doc.doc().transact_mut();
    text.push(&mut txn, "😀");
    assert_eq!(text.len(&txn), 2);
}

/// A purge deletes the entry's key from `Entries` (loro keeps a tombstone instead).
#[test]
fn remove_deletes_the_key() {
    let mut backend = YrsBackend::new();
    backend
        .commit(vec![Op::Create {
            id: "x".into(),
            data: Box::new(item(ROOT_ID, "a0")),
        }])
        .expect("create");
    assert_eq!(backend.entry_ids(), ["x"]);
    backend
        .commit(vec![Op::Remove { id: "x".into() }])
        .expect("remove");
    assert!(backend.entry_ids().is_empty());
}

/// The shapes of `check_shapes_sds_never_writes`, written with raw yrs, plus Info values of
/// every `Any` and shared type.
#[test]
fn shapes_sds_never_writes_are_read_tolerantly() {
    let mut backend = YrsBackend::new();
    {
        let doc = backend.doc().clone();
        let entries = doc.get_or_insert_map("Entries");
        let mut txn = doc.transact_mut();
        entries.insert(&mut txn, "not-a-map", "just a string");
        let no_kind = entries.insert(&mut txn, "no-kind", MapPrelim::default());
        no_kind.insert(&mut txn, "Label", TextPrelim::new("x"));
        let odd_kind = entries.insert(&mut txn, "odd-kind", MapPrelim::default());
        odd_kind.insert(&mut txn, "Kind", "folder");
        let bare = entries.insert(&mut txn, "bare", MapPrelim::default());
        bare.insert(&mut txn, "Kind", "item");
        let odd = entries.insert(&mut txn, "odd", MapPrelim::default());
        odd.insert(&mut txn, "Kind", "item");
        odd.insert(&mut txn, "Label", "a plain string");
        odd.insert(&mut txn, "outerItemId", 7.0);
        odd.insert(&mut txn, "ValueKind", "pending");
        odd.insert(&mut txn, "literalValue", "not a text");
        odd.insert(&mut txn, "binaryValue", "not bytes");
        odd.insert(
            &mut txn,
            "ValueRef",
            Any::from(HashMap::from([("Hash".to_owned(), Any::from("h"))])),
        );
        let info = odd.insert(&mut txn, "Info", MapPrelim::default());
        info.insert(&mut txn, "undefined", Any::Undefined);
        info.insert(&mut txn, "bigint", Any::Number(Number::Int(1 << 40)));
        info.insert(&mut txn, "buffer", Any::Buffer(Arc::from(&[1u8, 2][..])));
        info.insert(
            &mut txn,
            "object",
            Any::from(HashMap::from([
                ("z".to_owned(), Any::Number(Number::Float(1.0))),
                ("a".to_owned(), Any::Undefined),
            ])),
        );
        let nested = info.insert(&mut txn, "text", TextPrelim::new("shared text"));
        nested.push(&mut txn, "!");
    }
    let odd = check_shapes_sds_never_writes(&mut backend, &[], &["bare", "odd"]);
    assert_eq!(
        odd.info,
        BTreeMap::from([
            ("bigint".to_owned(), json!(1u64 << 40)),
            ("buffer".to_owned(), json!([1, 2])),
            ("object".to_owned(), json!({"z": 1})),
            ("text".to_owned(), json!("shared text!")),
        ])
    );
    assert_eq!(backend.entry_ids().len(), 5);
}

#[test]
fn client_ids_are_random_32_bit_values() {
    let ids: HashSet<u64> = (0..20).map(|_| YrsBackend::new().client_id()).collect();
    assert!(ids.len() > 15, "client ids repeat: {ids:?}");
    assert!(ids.iter().all(|&id| id > 0 && id < 1 << 32));
    let snapshot = YrsBackend::new().snapshot();
    let restored = YrsBackend::from_snapshot(&snapshot).expect("restores");
    let again = YrsBackend::from_snapshot(&snapshot).expect("restores");
    assert_ne!(restored.client_id(), again.client_id());
}

/// Info values nested deeper than sds allows (which yrs would decode by deep recursion,
/// overflowing small thread stacks) are refused as `invalid-data` when a yjs peer writes
/// them. (Values within the limit travel: `the_deepest_allowed_info_value_travels` of
/// `sds_testkit::backend_suite`.)
#[test]
fn info_values_nested_too_deep_by_a_yjs_peer_are_refused() {
    let mut b = Replica::<YrsBackend>::from_scratch();
    let doc = yrs::Doc::new();
    let entries = doc.get_or_insert_map("Entries");
    let mut any = Any::Null;
    for _ in 0..300 {
        any = Any::Array(Arc::from(vec![any]));
    }
    let patch = {
        let mut txn = doc.transact_mut();
        let entry = entries.insert(&mut txn, "deep", MapPrelim::default());
        entry.insert(&mut txn, "Kind", "item");
        let info = entry.insert(&mut txn, "Info", MapPrelim::default());
        info.insert(&mut txn, "deep", any);
        txn.encode_update_v1()
    };
    let before = b.store.backend().snapshot();
    let err = b.store.apply_remote_patch(&patch).expect_err("too deep");
    assert_eq!(err.code(), ErrorCode::InvalidData);
    assert_eq!(b.store.backend().snapshot(), before);
}

/// An item whose parent is not a shared type (here: a character of a label) makes yrs stop
/// with an error; the patch is refused and the document stays as it was.
#[test]
fn an_item_whose_parent_is_not_a_type_is_refused() {
    let mut backend = YrsBackend::with_client_id(1);
    let mut data = item(ROOT_ID, "a0");
    data.label = "abc".into();
    backend
        .commit(vec![Op::Create {
            id: "x".into(),
            data: Box::new(data),
        }])
        .expect("create");
    // Client 1 wrote: 0 entry map, 1 Kind, 2 outerItemId, 3 OrderKey, 4 Label, 5..8 "abc".
    let patch = [
        1, 1, 9, 0, // one section: one block of client 9 at clock 0
        0x28, 0, 1, 6, // Any content with a key; parent is the item (1, 6): the "b" of "abc"
        1, b'k', // key "k"
        1, 126, // one value: null
        0,   // no deletions
    ];
    let before = backend.snapshot();
    let err = backend.apply_remote_patch(&patch).expect_err("refused");
    assert_eq!(err.code(), ErrorCode::InvalidData);
    assert!(err.message().contains("does not apply"), "{err}");
    assert_eq!(backend.snapshot(), before);
    assert_eq!(backend.read_entry("x").expect("x").label, "abc");
}
