//! Behaviour of `LoroBackend` at the trait level and through a store: patch sizes,
//! idempotence, pending (out-of-order) updates, cursors, snapshots, error codes, touched ids,
//! tombstones and tolerant reading of shapes sds never writes.

use loro::{Container, EncodedBlobMode, LoroDoc, LoroMap, LoroText, LoroValue, ValueOrContainer};
use sds_core::gzip::compress;
use sds_core::{
    Backend, EntryData, EntryKind, ErrorCode, LOST_AND_FOUND_ID, NewBackend, Op, ROOT_ID,
    StoreOptions, TRASH_ID, TextField, Touched, ValueKind, ValueRef,
};
use sds_loro::{LoroBackend, LoroStore};
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

/// A store whose local patches are collected.
struct Replica {
    store: LoroStore,
    patches: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Replica {
    fn new() -> Self {
        Replica::wrap(LoroStore::from_scratch(StoreOptions::default()).expect("store"))
    }

    fn from_binary(bytes: &[u8]) -> Self {
        Replica::wrap(LoroStore::from_binary(bytes, StoreOptions::default()).expect("store"))
    }

    fn wrap(mut store: LoroStore) -> Self {
        let patches = Arc::new(Mutex::new(Vec::new()));
        let sink = patches.clone();
        store.on_local_commit(move |_, commit| {
            sink.lock().unwrap().push(commit.patch.to_vec());
            Ok(())
        });
        Replica { store, patches }
    }

    /// The patches of the local transactions since the last call.
    fn take_patches(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.patches.lock().unwrap())
    }

    /// The one patch of the last local transaction.
    fn last_patch(&self) -> Vec<u8> {
        let mut patches = self.take_patches();
        assert_eq!(patches.len(), 1, "exactly one local transaction");
        patches.pop().unwrap()
    }
}

fn ids(list: &[&str]) -> Touched {
    Touched::Ids(list.iter().map(|s| s.to_string()).collect())
}

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
// Patches
// ---------------------------------------------------------------------------------------------

#[test]
fn a_one_label_commit_is_small_in_a_store_of_a_thousand_entries() {
    let a = Replica::new();
    let mut store = a.store;
    let items: Vec<String> = store
        .transact(|s| {
            (0..1000)
                .map(|i| {
                    let id = s.new_item_at(None, ROOT_ID, None)?;
                    s.set_label(&id, &format!("item number {i}"))?;
                    Ok(id)
                })
                .collect()
        })
        .expect("items");
    for id in items.iter().step_by(2) {
        store.set_label(id, "renamed").expect("relabel");
    }
    a.patches.lock().unwrap().clear();

    store
        .set_label(&items[500], "the one change")
        .expect("relabel");
    let patch = std::mem::take(&mut *a.patches.lock().unwrap());
    assert_eq!(patch.len(), 1, "one commit, one patch");
    assert!(
        patch[0].len() < 300,
        "local patch is {} bytes",
        patch[0].len()
    );
    assert!(patch[0].starts_with(b"loro"));
}

#[test]
fn commit_without_ops_or_changes_returns_an_empty_patch() {
    let mut backend = LoroBackend::new();
    assert_eq!(
        backend.commit(Vec::new()).expect("commit"),
        Vec::<u8>::new()
    );
    // Ops naming a missing entry are skipped: nothing changes.
    let patch = backend
        .commit(vec![
            Op::SetInfo {
                id: "missing".into(),
                key: "k".into(),
                value: json!(1),
            },
            Op::Remove {
                id: "missing".into(),
            },
        ])
        .expect("commit");
    assert!(patch.is_empty());
    assert!(backend.doc().oplog_vv().is_empty());
}

#[test]
fn applying_the_same_patch_twice_advances_only_once() {
    let mut a = Replica::new();
    let mut b = Replica::from_binary(&a.store.as_binary());
    let item = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    let create = a.last_patch();
    a.store
        .set_info(&item, "colour", json!("blue"))
        .expect("info");
    let info = a.last_patch();
    a.store.delete_info(&item, "colour").expect("delete info");
    let delete = a.last_patch();

    for patch in [&create, &info, &delete] {
        let first = b.store.apply_remote_patch(patch).expect("applies");
        assert!(first.advanced && first.changed);
        let second = b.store.apply_remote_patch(patch).expect("applies again");
        assert!(!second.advanced && !second.changed);
    }
    assert_eq!(b.store.as_json(), a.store.as_json());
    b.store.check_consistency().expect("consistent");
}

#[test]
fn out_of_order_patches_are_pending_until_their_dependencies_arrive() {
    let mut a = Replica::new();
    let start = a.store.as_binary();
    let item = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    let p1 = a.last_patch();
    a.store.set_label(&item, "label").expect("label");
    let p2 = a.last_patch();
    a.store.write_value(&item, "value").expect("value");
    let p3 = a.last_patch();

    let mut b = Replica::from_binary(&start);
    let held = b.store.apply_remote_patch(&p3).expect("pending");
    assert!(held.advanced, "new pending data counts as progress");
    assert!(!held.changed);
    assert!(b.store.backend().has_pending());
    let held_again = b.store.apply_remote_patch(&p3).expect("pending again");
    assert!(
        !held_again.advanced,
        "the same pending data again is no progress"
    );
    let held = b.store.apply_remote_patch(&p2).expect("pending");
    assert!(held.advanced && !held.changed);

    // Pending data survives a snapshot (loro leaves it out of its own snapshots; the backend
    // then writes history and pending updates as one update blob).
    let with_pending = b.store.as_binary();
    let mut c = Replica::from_binary(&with_pending);
    assert!(c.store.backend().has_pending());
    assert_eq!(c.store.as_json(), b.store.as_json());
    let done = c.store.apply_remote_patch(&p1).expect("integrates");
    assert!(done.advanced && done.changed);
    assert!(!c.store.backend().has_pending());
    assert_eq!(c.store.as_json(), a.store.as_json());
    c.store.check_consistency().expect("consistent");
    let mode = |payload: &[u8]| {
        LoroDoc::decode_import_blob_meta(payload, true)
            .expect("a loro blob")
            .mode
    };
    let payload = sds_core::gzip::decompress(&with_pending).expect("gunzip");
    assert_eq!(mode(&payload), EncodedBlobMode::Updates);
    // Without pending data the full state is a plain loro snapshot again.
    assert_eq!(
        mode(&c.store.export_patch(None).expect("full")),
        EncodedBlobMode::Snapshot
    );

    let done = b.store.apply_remote_patch(&p1).expect("integrates");
    assert!(done.advanced && done.changed);
    assert!(!b.store.backend().has_pending());
    assert_eq!(b.store.as_json(), a.store.as_json());
    assert_eq!(b.store.current_cursor(), a.store.current_cursor());
    b.store.check_consistency().expect("consistent");
    // Everything is integrated now: repeating any patch is no progress.
    for patch in [&p1, &p2, &p3] {
        assert!(!b.store.apply_remote_patch(patch).expect("again").advanced);
    }
}

#[test]
fn export_patch_from_a_cursor_brings_that_replica_up_to_date() {
    let mut a = Replica::new();
    let mut b = Replica::from_binary(&a.store.as_binary());
    let folder = a.store.new_item_at(None, ROOT_ID, None).expect("folder");
    b.store
        .apply_remote_patch(&a.store.export_patch(None).expect("full"))
        .expect("applies");
    let cursor = b.store.current_cursor();

    a.store.set_label(&folder, "folder").expect("label");
    let child = a
        .store
        .new_item_at(Some("text/markdown"), &folder, None)
        .expect("child");
    a.store.write_value(&child, "# title").expect("value");
    a.store.delete_entry(&child).expect("delete");
    a.store.purge_entry(&child).expect("purge");
    let other = a.store.new_item_at(None, &folder, None).expect("other");
    a.store.write_value(&other, vec![1u8, 2, 3]).expect("bytes");

    let patch = a.store.export_patch(Some(&cursor)).expect("diff");
    let outcome = b.store.apply_remote_patch(&patch).expect("applies");
    assert!(outcome.advanced && outcome.changed);
    assert_eq!(b.store.as_json(), a.store.as_json());
    assert_eq!(b.store.current_cursor(), a.store.current_cursor());
    // A full patch is a snapshot; an empty cursor means "everything".
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

#[test]
fn two_stores_created_independently_converge() {
    let mut a = Replica::new();
    let mut b = Replica::new();
    let x = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    a.store.set_label(&x, "from a").expect("label");
    let y = b.store.new_item_at(None, ROOT_ID, None).expect("item");
    b.store.set_label(&y, "from b").expect("label");
    let from_a = a.store.export_patch(None).expect("a");
    let from_b = b.store.export_patch(None).expect("b");
    a.store.apply_remote_patch(&from_b).expect("b into a");
    b.store.apply_remote_patch(&from_a).expect("a into b");
    assert_eq!(a.store.as_json(), b.store.as_json());
    assert_eq!(a.store.entry_count(), 5);
}

#[test]
fn a_snapshot_patch_into_an_empty_backend_reads_everything() {
    let a = Replica::new();
    let mut empty = LoroBackend::new();
    let applied = empty
        .apply_remote_patch(&a.store.export_patch(None).expect("full"))
        .expect("applies");
    assert!(applied.advanced);
    assert_eq!(empty.read_all().len(), 3);
    assert!(empty.read_entry(TRASH_ID).is_some());
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn undecodable_cursors_are_invalid_data() {
    let store = LoroStore::from_scratch(StoreOptions::default()).expect("store");
    for cursor in [&b"garbage"[..], &[0xff; 12], &[1], &[0, 0, 0], b"loro"] {
        let err = store.export_patch(Some(cursor)).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidData, "{cursor:?}");
    }
    let good = store.current_cursor();
    assert!(store.export_patch(Some(&good)).is_ok());
}

#[test]
fn undecodable_snapshots_are_invalid_data() {
    let store = LoroStore::from_scratch(StoreOptions::default()).expect("store");
    let snapshot = store.backend().snapshot();
    assert!(snapshot.starts_with(b"loro"));
    let yrs_payload = sds_core::gzip::decompress(
        &sds_yrs::YrsStore::from_scratch(StoreOptions::default())
            .expect("yrs store")
            .as_binary(),
    )
    .expect("gunzip");
    // An update that depends on history it does not carry is no snapshot.
    let mut replica = Replica::from_binary(&store.as_binary());
    replica
        .store
        .new_item_at(None, ROOT_ID, None)
        .expect("item");
    let dependent_update = replica.last_patch();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", b"this is not a loro document".to_vec()),
        ("truncated", snapshot[..snapshot.len() / 2].to_vec()),
        ("one byte short", snapshot[..snapshot.len() - 1].to_vec()),
        ("trailing byte", [&snapshot[..], &[0]].concat()),
        ("yrs payload", yrs_payload),
        ("dependent update", dependent_update),
    ];
    for (name, payload) in cases {
        let err = LoroBackend::from_snapshot(&payload).expect_err(name);
        assert_eq!(err.code(), ErrorCode::InvalidData, "{name}");
        let err =
            LoroStore::from_binary(&compress(&payload), StoreOptions::default()).expect_err(name);
        assert_eq!(
            err.code(),
            ErrorCode::InvalidData,
            "{name} through the store"
        );
    }
    assert!(LoroBackend::from_snapshot(&snapshot).is_ok());
}

#[test]
fn undecodable_patches_are_invalid_data_and_change_nothing() {
    let mut a = Replica::new();
    let item = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    a.store.set_label(&item, "label").expect("label");
    let patch = a.store.export_patch(None).expect("full");
    let before = a.store.as_json();
    let cursor = a.store.current_cursor();
    let yrs_patch = sds_yrs::YrsStore::from_scratch(StoreOptions::default())
        .expect("yrs store")
        .export_patch(None)
        .expect("yrs patch");
    for bad in [
        &patch[..patch.len() - 1],
        &patch[1..],
        b"loro\0\0\0\0",
        &[0xff; 8],
        &yrs_patch,
    ] {
        let err = a.store.apply_remote_patch(bad).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidData);
    }
    assert_eq!(a.store.as_json(), before);
    assert_eq!(a.store.current_cursor(), cursor);
    a.store.check_consistency().expect("consistent");
    // An empty patch is a no-op.
    let outcome = a.store.apply_remote_patch(&[]).expect("no-op");
    assert!(!outcome.advanced && !outcome.changed);
    let raw = LoroBackend::new().apply_remote_patch(&[]).expect("no-op");
    assert!(!raw.advanced);
}

// ---------------------------------------------------------------------------------------------
// Touched ids
// ---------------------------------------------------------------------------------------------

/// Applies the last local patch of `a` to `b` and returns what the backend reports as touched.
fn touched_by(a: &Replica, b: &mut LoroBackend) -> Touched {
    let applied = b.apply_remote_patch(&a.last_patch()).expect("applies");
    assert!(applied.advanced);
    applied.touched
}

#[test]
fn touched_ids_are_precise() {
    let mut a = Replica::new();
    let mut b = LoroBackend::from_snapshot(&a.store.backend().snapshot()).expect("replica");

    let x = a.store.new_item_at(None, ROOT_ID, None).expect("x");
    assert_eq!(touched_by(&a, &mut b), ids(&[&x]), "creation");
    let y = a.store.new_item_at(None, ROOT_ID, None).expect("y");
    assert_eq!(touched_by(&a, &mut b), ids(&[&y]), "creation");

    a.store.set_label(&x, "label of x").expect("label");
    assert_eq!(touched_by(&a, &mut b), ids(&[&x]), "label");
    a.store.set_label(&x, "label of x, longer").expect("label");
    assert_eq!(touched_by(&a, &mut b), ids(&[&x]), "label splice");
    a.store
        .set_info(&y, "k", json!({"deep": [1, 2]}))
        .expect("info");
    assert_eq!(touched_by(&a, &mut b), ids(&[&y]), "info");
    a.store.delete_info(&y, "k").expect("delete info");
    assert_eq!(touched_by(&a, &mut b), ids(&[&y]), "info deletion");
    a.store.write_value(&x, "literal").expect("value");
    assert_eq!(touched_by(&a, &mut b), ids(&[&x]), "literal");
    a.store.change_value(&x, 0, 3, "LIT").expect("change value");
    assert_eq!(touched_by(&a, &mut b), ids(&[&x]), "literal splice");
    a.store.write_value(&x, vec![1u8, 2]).expect("bytes");
    assert_eq!(touched_by(&a, &mut b), ids(&[&x]), "binary");
    a.store.move_entry_to(&y, &x, None).expect("move");
    assert_eq!(touched_by(&a, &mut b), ids(&[&y]), "move");
    a.store.delete_entry(&y).expect("delete");
    assert_eq!(touched_by(&a, &mut b), ids(&[&y]), "soft delete");
    a.store.purge_entry(&y).expect("purge");
    assert_eq!(
        touched_by(&a, &mut b),
        ids(&[&y]),
        "purge writes a tombstone"
    );
    assert!(b.read_entry(&y).is_none());

    // A patch that adds nothing touches nothing.
    let again = b
        .apply_remote_patch(&a.store.export_patch(None).expect("full"))
        .expect("again");
    assert!(!again.advanced);
    assert_eq!(again.touched, ids(&[]));
    assert_eq!(b.read_all().len(), a.store.entry_count());
}

#[test]
fn writes_to_a_replaced_entry_map_touch_nothing_and_show_nothing() {
    // Peer a overwrites x with a fresh map (as placeholder creation does); peer b,
    // concurrently, still writes into the old map. After the exchange the old map is
    // unreachable: b's label edit is invisible everywhere and touches nothing.
    let mut base = LoroBackend::new();
    let x: Arc<str> = "x".into();
    let mut old = EntryData::new_item(ROOT_ID.into(), "a0".into(), String::new());
    old.label = "old".into();
    base.commit(vec![Op::Create {
        id: x.clone(),
        data: Box::new(old),
    }])
    .expect("create");
    let snapshot = base.snapshot();
    let mut a = LoroBackend::from_snapshot(&snapshot).expect("a");
    let mut b = LoroBackend::from_snapshot(&snapshot).expect("b");
    let fresh = EntryData::new_item(LOST_AND_FOUND_ID.into(), "a0".into(), String::new());
    let from_a = a
        .commit(vec![Op::Create {
            id: x.clone(),
            data: Box::new(fresh.clone()),
        }])
        .expect("overwrite");
    let from_b = b
        .commit(vec![Op::SpliceText {
            id: x.clone(),
            field: TextField::Label,
            index: 3,
            delete: 0,
            insert: " label".into(),
        }])
        .expect("edit old map");
    let at_a = a.apply_remote_patch(&from_b).expect("b into a");
    assert!(at_a.advanced);
    assert_eq!(at_a.touched, ids(&[]), "the old map is unreachable");
    let at_b = b.apply_remote_patch(&from_a).expect("a into b");
    assert_eq!(at_b.touched, ids(&["x"]));
    assert_eq!(a.read_entry("x"), Some(fresh.clone()));
    assert_eq!(b.read_entry("x"), Some(fresh));
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
    let mut a = Replica::new();
    let folder = a.store.new_item_at(None, ROOT_ID, None).expect("folder");
    let target = a.store.new_item_at(None, &folder, None).expect("target");
    let link = a
        .store
        .new_link_at(&target, &folder, None)
        .expect("link in the same folder");
    let outside_link_target = a.store.new_item_at(None, ROOT_ID, None).expect("other");
    let mut b = Replica::from_binary(&a.store.as_binary());
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
// Backend-level writes and tolerant reading
// ---------------------------------------------------------------------------------------------

fn item(outer: &str, key: &str) -> EntryData {
    EntryData::new_item(outer.into(), key.into(), String::new())
}

#[test]
fn ops_write_what_read_entry_reads_back() {
    let mut backend = LoroBackend::new();
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
    backend
        .commit(vec![Op::Remove { id: "x".into() }])
        .expect("remove");
    assert_eq!(backend.read_entry("x"), None);
    assert_eq!(backend.entry_ids(), ["x"], "a tombstone keeps its key");
}

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
    for absent in ["not-a-map", "no-kind", "odd-kind", "tombstone", "nobody"] {
        assert_eq!(backend.read_entry(absent), None, "{absent}");
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
    let mut all: Vec<String> = backend.read_all().into_iter().map(|(id, _)| id).collect();
    all.sort();
    assert_eq!(all, ["bare", "map-ref", "odd"]);
    assert_eq!(backend.entry_ids().len(), 7);

    // Splicing into a Label that is not a text replaces it with a text.
    let mut backend = backend;
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

#[test]
fn text_offsets_are_utf16_units() {
    let mut backend = LoroBackend::new();
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
}

// ---------------------------------------------------------------------------------------------
// Valid patches in any order
// ---------------------------------------------------------------------------------------------

/// SplitMix64, to shuffle deliveries reproducibly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random edits on one replica; its patches reach another replica shuffled and duplicated
/// (pending until their dependencies arrive). Both end up with the same tree and version.
#[test]
fn shuffled_and_duplicated_patches_converge() {
    for seed in 0..30u64 {
        let mut rng = Rng(seed);
        let mut a = Replica::new();
        let start = a.store.as_binary();
        let mut ids: Vec<String> = Vec::new();
        for step in 0..30 {
            let container = if ids.is_empty() || rng.below(3) == 0 {
                ROOT_ID.to_owned()
            } else {
                ids[rng.below(ids.len())].clone()
            };
            let target = if ids.is_empty() {
                None
            } else {
                Some(ids[rng.below(ids.len())].clone())
            };
            let result = match (rng.below(7), target) {
                (0 | 1, _) | (_, None) => a
                    .store
                    .new_item_at(None, &container, None)
                    .map(|id| ids.push(id)),
                (2, Some(t)) => a.store.set_label(&t, &format!("label {step} 😀")),
                (3, Some(t)) => a.store.set_info(&t, "k", json!({"step": step})),
                (4, Some(t)) => a.store.write_value(&t, format!("value {step}")),
                (5, Some(t)) => a.store.move_entry_to(&t, &container, Some(0)),
                (_, Some(t)) => a.store.delete_entry(&t),
            };
            // Refused moves (into a descendant) and the like are fine.
            let _ = result;
        }
        let mut patches = a.take_patches();
        let count = patches.len();
        for _ in 0..count / 3 {
            let dup = patches[rng.below(count)].clone();
            patches.push(dup);
        }
        for i in (1..patches.len()).rev() {
            patches.swap(i, rng.below(i + 1));
        }

        let mut b = Replica::from_binary(&start);
        for (i, patch) in patches.iter().enumerate() {
            b.store
                .apply_remote_patch(patch)
                .unwrap_or_else(|e| panic!("seed {seed}: patch {i} refused: {e}"));
            b.store
                .check_consistency()
                .unwrap_or_else(|e| panic!("seed {seed}: after patch {i}: {e}"));
        }
        assert!(
            !b.store.backend().has_pending(),
            "seed {seed}: everything integrated"
        );
        assert_eq!(b.store.as_json(), a.store.as_json(), "seed {seed}");
        assert_eq!(
            b.store.current_cursor(),
            a.store.current_cursor(),
            "seed {seed}"
        );
    }
}
