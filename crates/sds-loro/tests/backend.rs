//! What is particular to `LoroBackend`: loro blobs (snapshots, patches, update blobs that
//! carry pending data), documents of the other backend, tombstones and placeholders over
//! them, numbers stored as I64 or Double, tolerant reading of shapes sds never writes, and
//! peer ids.
//!
//! Everything that holds for any backend is in `sds_testkit::backend_suite`, run by
//! `tests/conformance.rs`.

use loro::{Container, EncodedBlobMode, LoroDoc, LoroMap, LoroText, LoroValue, ValueOrContainer};
use sds_core::gzip::compress;
use sds_core::{
    Backend, EntryData, ErrorCode, LOST_AND_FOUND_ID, NewBackend, Op, ROOT_ID, StoreOptions,
    TRASH_ID, ValueKind, ValueRef,
};
use sds_loro::{LoroBackend, LoroStore};
use sds_testkit::Replica;
use sds_testkit::backend_suite::dependent_patches;
use sds_testkit::backend_suite::fields::check_shapes_sds_never_writes;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// The raw entry map under `id`, tombstones included.
fn raw_entry(backend: &LoroBackend, id: &str) -> Option<LoroMap> {
    match backend.doc().get_map("Entries").get(id)? {
        ValueOrContainer::Container(Container::Map(map)) => Some(map),
        _ => None,
    }
}

fn raw_string(map: &LoroMap, key: &str) -> Option<String> {
    match map.get(key)? {
        ValueOrContainer::Value(LoroValue::String(s)) => Some(s.to_string()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Blobs
// ---------------------------------------------------------------------------------------------

/// Local patches, snapshots and the full state are loro blobs; the full state is a snapshot.
#[test]
fn patches_snapshots_and_full_states_are_loro_blobs() {
    let mut a = Replica::<LoroBackend>::from_scratch();
    let item = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    a.take_patches();
    a.store.set_label(&item, "label").expect("label");
    assert!(a.last_patch().starts_with(b"loro"));
    assert!(a.store.backend().snapshot().starts_with(b"loro"));
    let full = a.store.export_patch(Some(&[])).expect("full");
    assert!(full.starts_with(b"loro"));
    assert_eq!(
        LoroBackend::from_snapshot(&full)
            .expect("a snapshot")
            .read_all()
            .len(),
        a.store.backend().read_all().len()
    );
}

/// loro leaves pending updates out of its own snapshots; with pending data the backend writes
/// history and pending updates as one update blob, without it a plain loro snapshot.
#[test]
fn snapshots_with_pending_data_are_update_blobs() {
    let (_, start, [p1, p2, p3]) = dependent_patches::<LoroBackend>();
    let mut b = Replica::<LoroBackend>::from_binary(&start);
    b.store.apply_remote_patch(&p3).expect("pending");
    b.store.apply_remote_patch(&p2).expect("pending");
    let mode = |payload: &[u8]| {
        LoroDoc::decode_import_blob_meta(payload, true)
            .expect("a loro blob")
            .mode
    };
    let with_pending = sds_core::gzip::decompress(&b.store.as_binary()).expect("gunzip");
    assert_eq!(mode(&with_pending), EncodedBlobMode::Updates);
    b.store.apply_remote_patch(&p1).expect("integrates");
    assert!(!b.store.backend().has_pending());
    assert_eq!(
        mode(&b.store.export_patch(None).expect("full")),
        EncodedBlobMode::Snapshot
    );
}

/// An update that depends on history it does not carry is no snapshot (a loro snapshot is
/// self-contained; yrs', an update, may carry pending data).
#[test]
fn a_dependent_update_is_no_snapshot() {
    let (_, _, [_, dependent_update, _]) = dependent_patches::<LoroBackend>();
    let err = LoroBackend::from_snapshot(&dependent_update).expect_err("dependent update");
    assert_eq!(err.code(), ErrorCode::InvalidData);
    let err = LoroStore::from_binary(&compress(&dependent_update), StoreOptions::default())
        .expect_err("dependent update through the store");
    assert_eq!(err.code(), ErrorCode::InvalidData);
}

/// A yrs document or patch is `invalid-data` to the loro backend and changes nothing.
#[test]
fn yrs_documents_and_patches_are_invalid_data() {
    let yrs_store = sds_yrs::YrsStore::from_scratch(StoreOptions::default()).expect("yrs store");
    let yrs_payload = sds_core::gzip::decompress(&yrs_store.as_binary()).expect("gunzip");
    let err = LoroBackend::from_snapshot(&yrs_payload).expect_err("yrs payload");
    assert_eq!(err.code(), ErrorCode::InvalidData);
    let err = LoroStore::from_binary(&yrs_store.as_binary(), StoreOptions::default())
        .expect_err("yrs payload through the store");
    assert_eq!(err.code(), ErrorCode::InvalidData);

    let mut a = Replica::<LoroBackend>::from_scratch();
    a.store.new_item_at(None, ROOT_ID, None).expect("item");
    let before = a.store.as_json();
    let cursor = a.store.current_cursor();
    let yrs_patch = yrs_store.export_patch(None).expect("yrs patch");
    let err = a
        .store
        .apply_remote_patch(&yrs_patch)
        .expect_err("rejected");
    assert_eq!(err.code(), ErrorCode::InvalidData);
    assert_eq!(a.store.as_json(), before);
    assert_eq!(a.store.current_cursor(), cursor);
}

// ---------------------------------------------------------------------------------------------
// Tombstones
// ---------------------------------------------------------------------------------------------

#[test]
fn purge_writes_a_tombstone_that_reads_as_absent() {
    let mut store = LoroStore::from_scratch(StoreOptions::default()).expect("store");
    let item = store.new_item_at(None, ROOT_ID, None).expect("item");
    store.set_label(&item, "doomed").expect("label");
    store.set_info(&item, "k", json!(1)).expect("info");
    store.delete_entry(&item).expect("delete");
    store.purge_entry(&item).expect("purge");
    assert!(store.entry(&item).is_none());

    let backend = store.backend();
    assert!(backend.read_entry(&item).is_none());
    assert!(backend.read_all().iter().all(|(id, _)| id != &item));
    assert!(backend.entry_ids().contains(&item), "the key stays");
    let raw = raw_entry(backend, &item).expect("the entry map stays");
    assert_eq!(raw_string(&raw, "outerItemId").as_deref(), Some(""));
    assert_eq!(raw_string(&raw, "OrderKey").as_deref(), Some(""));
    assert_eq!(raw_string(&raw, "Kind").as_deref(), Some("item"));
    match raw.get("Label") {
        Some(ValueOrContainer::Container(Container::Text(t))) => {
            assert_eq!(t.to_string(), "doomed", "other keys are left alone")
        }
        other => panic!("Label is {other:?}"),
    }
    // Writes to a tombstone are skipped.
    let mut raw_backend = LoroBackend::from_snapshot(&store.backend().snapshot()).expect("replica");
    let patch = raw_backend
        .commit(vec![Op::SetPlacement {
            id: item.as_str().into(),
            outer_item_id: ROOT_ID.into(),
            order_key: "a5".into(),
        }])
        .expect("commit");
    assert!(patch.is_empty());
    assert!(raw_backend.read_entry(&item).is_none());
    // Root is never a tombstone, although its outerItemId is "".
    assert!(backend.read_entry(ROOT_ID).is_some());
}

#[test]
fn a_placeholder_overwrites_a_tombstone_with_a_fresh_map() {
    let mut backend = LoroBackend::new();
    let id: Arc<str> = "target".into();
    let mut data = EntryData::new_item(ROOT_ID.into(), "a0".into(), "text/markdown".into());
    data.label = "old label".into();
    data.info = BTreeMap::from([("_trashedAt".to_owned(), json!(5))]);
    data.value_kind = ValueKind::Literal;
    data.literal_value = Some("old text".into());
    backend
        .commit(vec![Op::Create {
            id: id.clone(),
            data: Box::new(data),
        }])
        .expect("create");
    backend
        .commit(vec![Op::Remove { id: id.clone() }])
        .expect("tombstone");
    assert!(backend.read_entry(&id).is_none());
    assert_eq!(backend.entry_ids(), [&*id], "a tombstone keeps its key");

    let placeholder = EntryData::new_item(LOST_AND_FOUND_ID.into(), "a0".into(), String::new());
    backend
        .commit(vec![Op::Create {
            id: id.clone(),
            data: Box::new(placeholder.clone()),
        }])
        .expect("placeholder");
    assert_eq!(
        backend.read_entry(&id),
        Some(placeholder),
        "exactly the new fields"
    );
    let raw = raw_entry(&backend, &id).expect("map");
    let mut keys: Vec<String> = raw.keys().map(|k| k.to_string()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "Info",
            "Kind",
            "Label",
            "MIMEType",
            "OrderKey",
            "ValueKind",
            "outerItemId"
        ],
        "no stale literalValue"
    );
}

/// F14: purging a link together with its target never brings the target back, whatever the
/// replicas do afterwards.
#[test]
fn purged_links_with_their_targets_stay_purged_under_later_remote_patches() {
    let mut a = Replica::<LoroBackend>::from_scratch();
    let folder = a.store.new_item_at(None, ROOT_ID, None).expect("folder");
    let target = a.store.new_item_at(None, &folder, None).expect("target");
    let link = a
        .store
        .new_link_at(&target, &folder, None)
        .expect("link in the same folder");
    let outside_link_target = a.store.new_item_at(None, ROOT_ID, None).expect("other");
    let mut b = Replica::<LoroBackend>::from_binary(&a.store.as_binary());
    a.take_patches();

    a.store.delete_entry(&folder).expect("delete");
    a.store.purge_entry(&folder).expect("purge");
    for patch in a.take_patches() {
        b.store.apply_remote_patch(&patch).expect("applies");
    }
    for replica in [&a, &b] {
        let backend = replica.store.backend();
        for id in [&folder, &target, &link] {
            assert!(replica.store.entry(id).is_none(), "{id} is gone");
            let raw = raw_entry(backend, id).expect("tombstone");
            assert_eq!(raw_string(&raw, "outerItemId").as_deref(), Some(""));
        }
    }

    // Later, unrelated edits on both sides, exchanged in every direction and repeated.
    b.store.set_label(TRASH_ID, "bin").expect("label");
    b.store
        .new_link_at(&outside_link_target, ROOT_ID, None)
        .expect("link");
    a.store
        .set_label(&outside_link_target, "still here")
        .expect("label");
    let from_a = a.take_patches();
    let from_b = b.take_patches();
    for _ in 0..2 {
        for patch in &from_b {
            a.store.apply_remote_patch(patch).expect("b into a");
        }
        for patch in &from_a {
            b.store.apply_remote_patch(patch).expect("a into b");
        }
    }
    let full_a = a.store.export_patch(None).expect("full");
    b.store.apply_remote_patch(&full_a).expect("full state");
    for replica in [&a, &b] {
        assert!(replica.store.entry(&target).is_none(), "no placeholder");
        assert!(
            replica.store.inner_entry_ids(LOST_AND_FOUND_ID).is_empty(),
            "nothing rescued"
        );
        replica.store.check_consistency().expect("consistent");
    }
    assert!(a.take_patches().is_empty(), "no repair ran on a");
    assert_eq!(a.store.as_json(), b.store.as_json());
}

// ---------------------------------------------------------------------------------------------
// Values and tolerant reading
// ---------------------------------------------------------------------------------------------

#[test]
fn info_numbers_are_stored_as_i64_or_double() {
    let mut store = LoroStore::from_scratch(StoreOptions::default()).expect("store");
    let item = store.new_item_at(None, ROOT_ID, None).expect("item");
    let values = [
        ("int", json!(42), LoroValue::I64(42)),
        ("negative", json!(-7), LoroValue::I64(-7)),
        (
            "max-safe",
            json!(9_007_199_254_740_992u64),
            LoroValue::I64(1 << 53),
        ),
        (
            "min-safe",
            json!(-9_007_199_254_740_992i64),
            LoroValue::I64(-(1 << 53)),
        ),
        (
            "beyond",
            json!(9_007_199_254_740_994u64),
            LoroValue::Double(9_007_199_254_740_994.0),
        ),
        ("half", json!(0.5), LoroValue::Double(0.5)),
        ("integral-float", json!(3.0), LoroValue::I64(3)),
    ];
    for (key, value, _) in &values {
        store.set_info(&item, key, value.clone()).expect("info");
    }
    store.delete_entry(&item).expect("trash");
    let raw = raw_entry(store.backend(), &item).expect("entry");
    let Some(ValueOrContainer::Container(Container::Map(info))) = raw.get("Info") else {
        panic!("Info is not a map container")
    };
    for (key, _, stored) in &values {
        assert_eq!(
            info.get(key).map(|v| v.get_deep_value()),
            Some(stored.clone()),
            "{key}"
        );
    }
    assert!(matches!(
        info.get("_trashedAt").map(|v| v.get_deep_value()),
        Some(LoroValue::I64(_))
    ));
    // And they read back as the store normalised them.
    let restored =
        LoroStore::from_binary(&store.as_binary(), StoreOptions::default()).expect("restored");
    assert_eq!(restored.as_json(), store.as_json());
    assert_eq!(
        restored.entry(&item).expect("entry").info()["max-safe"],
        json!(9_007_199_254_740_992u64)
    );
}

/// The shapes of `check_shapes_sds_never_writes`, written with raw loro, plus a tombstone of
/// a link, a `ValueRef` written as a map, and Info values loro has but JSON has not.
#[test]
fn shapes_sds_never_writes_are_read_tolerantly() {
    let backend = LoroBackend::new();
    {
        let doc: &LoroDoc = backend.doc();
        let entries = doc.get_map("Entries");
        entries.insert("not-a-map", "just a string").unwrap();
        let no_kind = entries.insert_container("no-kind", LoroMap::new()).unwrap();
        no_kind
            .insert_container("Label", LoroText::new())
            .unwrap()
            .insert(0, "x")
            .unwrap();
        let odd_kind = entries
            .insert_container("odd-kind", LoroMap::new())
            .unwrap();
        odd_kind.insert("Kind", "folder").unwrap();
        let bare = entries.insert_container("bare", LoroMap::new()).unwrap();
        bare.insert("Kind", "item").unwrap();
        let tombstone = entries
            .insert_container("tombstone", LoroMap::new())
            .unwrap();
        tombstone.insert("Kind", "link").unwrap();
        tombstone.insert("outerItemId", "").unwrap();
        let odd = entries.insert_container("odd", LoroMap::new()).unwrap();
        odd.insert("Kind", "item").unwrap();
        odd.insert("Label", "a plain string").unwrap();
        odd.insert("outerItemId", 7).unwrap();
        odd.insert("ValueKind", "pending").unwrap();
        odd.insert("literalValue", "not a text").unwrap();
        odd.insert("binaryValue", "not bytes").unwrap();
        odd.insert("ValueRef", r#"{"Hash":"h"}"#).unwrap();
        let info = odd.insert_container("Info", LoroMap::new()).unwrap();
        info.insert("big", i64::MAX).unwrap();
        info.insert("bytes", vec![1u8, 2]).unwrap();
        info.insert("nan", f64::NAN).unwrap();
        let nested = info.insert_container("text", LoroText::new()).unwrap();
        nested.insert(0, "shared text").unwrap();
        let map_ref = entries.insert_container("map-ref", LoroMap::new()).unwrap();
        map_ref.insert("Kind", "item").unwrap();
        map_ref.insert("outerItemId", ROOT_ID).unwrap();
        map_ref.insert("ValueKind", "literal-reference").unwrap();
        let value_ref = map_ref
            .insert_container("ValueRef", LoroMap::new())
            .unwrap();
        value_ref.insert("Hash", "cd".repeat(32)).unwrap();
        value_ref.insert("Size", 12.0).unwrap();
        doc.commit();
    }
    let mut backend = backend;
    let odd =
        check_shapes_sds_never_writes(&mut backend, &["tombstone"], &["bare", "map-ref", "odd"]);
    assert_eq!(
        odd.info,
        BTreeMap::from([
            ("big".to_owned(), json!(i64::MAX as f64)),
            ("bytes".to_owned(), json!([1, 2])),
            ("nan".to_owned(), json!(null)),
            ("text".to_owned(), json!("shared text")),
        ])
    );
    assert_eq!(
        backend.read_entry("map-ref").expect("entry").value_ref,
        Some(ValueRef {
            hash: "cd".repeat(32),
            size: 12
        })
    );
    assert_eq!(backend.entry_ids().len(), 7);
}

#[test]
fn peer_ids_are_random_or_derived_from_the_seed() {
    let ids: HashSet<u64> = (0..20).map(|_| LoroBackend::new().peer_id()).collect();
    assert!(ids.len() > 15, "peer ids repeat: {ids:?}");
    assert_eq!(
        LoroBackend::new_seeded(7).peer_id(),
        LoroBackend::new_seeded(7).peer_id()
    );
    assert_ne!(
        LoroBackend::new_seeded(7).peer_id(),
        LoroBackend::new_seeded(8).peer_id()
    );
    let snapshot = LoroBackend::new_seeded(7).snapshot();
    let restored = LoroBackend::from_snapshot_seeded(&snapshot, 9).expect("restores");
    assert_eq!(restored.peer_id(), LoroBackend::new_seeded(9).peer_id());
    let a = LoroBackend::from_snapshot(&snapshot).expect("restores");
    let b = LoroBackend::from_snapshot(&snapshot).expect("restores");
    assert_ne!(a.peer_id(), b.peer_id());
}
