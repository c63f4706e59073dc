//! Behaviour of `YrsBackend` at the trait level and through a store: patch sizes, idempotence,
//! pending (out-of-order) patches, cursors, snapshots, error codes, touched ids and tolerant
//! reading of shapes sds never writes.

use sds_core::gzip::compress;
use sds_core::{
    Backend, EntryData, EntryKind, ErrorCode, NewBackend, Op, ROOT_ID, StoreOptions, TRASH_ID,
    TextField, Touched, ValueKind, ValueRef,
};
use sds_yrs::{YrsBackend, YrsStore};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use yrs::{Any, Map, MapPrelim, Number, Text, TextPrelim, Transact};

/// A store whose local patches are collected.
struct Replica {
    store: YrsStore,
    patches: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Replica {
    fn new() -> Self {
        Replica::wrap(YrsStore::from_scratch(StoreOptions::default()).expect("store"))
    }

    fn from_binary(bytes: &[u8]) -> Self {
        Replica::wrap(YrsStore::from_binary(bytes, StoreOptions::default()).expect("store"))
    }

    fn wrap(mut store: YrsStore) -> Self {
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
    // Relabel half of them one by one, so the document has a large delete set.
    for id in items.iter().step_by(2) {
        store.set_label(id, "renamed").expect("relabel");
    }
    let cursor = store.current_cursor();
    a.patches.lock().unwrap().clear();

    store
        .set_label(&items[500], "the one change")
        .expect("relabel");
    let patch = std::mem::take(&mut *a.patches.lock().unwrap());
    assert_eq!(patch.len(), 1);
    assert!(
        patch[0].len() < 200,
        "local patch is {} bytes",
        patch[0].len()
    );
    // A diff against the previous state vector would carry the whole delete set.
    let diff = store.export_patch(Some(&cursor)).expect("diff");
    assert!(
        diff.len() > 10 * patch[0].len(),
        "diff {} vs patch {}",
        diff.len(),
        patch[0].len()
    );
}

#[test]
fn commit_without_ops_or_changes_returns_an_empty_patch() {
    let mut backend = YrsBackend::new();
    assert_eq!(
        backend.commit(Vec::new()).expect("commit"),
        Vec::<u8>::new()
    );
    // Ops naming a missing entry are skipped: nothing changes.
    let patch = backend
        .commit(vec![Op::SetInfo {
            id: "missing".into(),
            key: "k".into(),
            value: json!(1),
        }])
        .expect("commit");
    assert!(patch.is_empty());
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
    let delete_only = a.last_patch();

    for patch in [&create, &info, &delete_only] {
        let first = b.store.apply_remote_patch(patch).expect("applies");
        assert!(first.advanced && first.changed);
        let second = b.store.apply_remote_patch(patch).expect("applies again");
        assert!(!second.advanced && !second.changed);
    }
    assert_eq!(b.store.as_json(), a.store.as_json());
    b.store.check_consistency().expect("consistent");
}

#[test]
fn out_of_order_patches_are_held_and_integrated_when_their_dependencies_arrive() {
    let mut a = Replica::new();
    let start = a.store.as_binary();
    let item = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    let p1 = a.last_patch();
    a.store.set_label(&item, "label").expect("label");
    let p2 = a.last_patch();
    a.store.write_value(&item, "value").expect("value");
    let p3 = a.last_patch();

    let mut b = Replica::from_binary(&start);
    let held = b.store.apply_remote_patch(&p3).expect("held");
    assert!(held.advanced, "new pending data counts as progress");
    assert!(!held.changed);
    let held_again = b.store.apply_remote_patch(&p3).expect("held again");
    assert!(
        !held_again.advanced,
        "the same pending data again is no progress"
    );
    let held = b.store.apply_remote_patch(&p2).expect("held");
    assert!(held.advanced && !held.changed);

    // Pending data survives a snapshot (as in yjs' encodeStateAsUpdate).
    let mut c = Replica::from_binary(&b.store.as_binary());

    let done = b.store.apply_remote_patch(&p1).expect("integrates");
    assert!(done.advanced && done.changed);
    assert_eq!(b.store.as_json(), a.store.as_json());
    b.store.check_consistency().expect("consistent");

    c.store.apply_remote_patch(&p1).expect("integrates");
    assert_eq!(c.store.as_json(), a.store.as_json());
    c.store.check_consistency().expect("consistent");
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
    // An empty cursor means "everything".
    assert_eq!(
        a.store.export_patch(Some(&[])).expect("full"),
        a.store.export_patch(None).expect("full")
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

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

#[test]
fn undecodable_cursors_are_invalid_data() {
    let store = YrsStore::from_scratch(StoreOptions::default()).expect("store");
    for cursor in [&b"garbage"[..], &[0xff; 12], &[1], &[0, 0], b"loro"] {
        let err = store.export_patch(Some(cursor)).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidData, "{cursor:?}");
    }
    let good = store.current_cursor();
    assert!(store.export_patch(Some(&good)).is_ok());
}

#[test]
fn undecodable_snapshots_are_invalid_data() {
    let store = YrsStore::from_scratch(StoreOptions::default()).expect("store");
    let snapshot = store.backend().snapshot();
    let mut loro = b"loro".to_vec();
    loro.extend_from_slice(&[0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("garbage", b"this is not a yjs update".to_vec()),
        ("truncated", snapshot[..snapshot.len() / 2].to_vec()),
        ("one byte short", snapshot[..snapshot.len() - 1].to_vec()),
        ("trailing byte", [&snapshot[..], &[0]].concat()),
        ("loro payload", loro),
    ];
    for (name, payload) in cases {
        let err = YrsBackend::from_snapshot(&payload).expect_err(name);
        assert_eq!(err.code(), ErrorCode::InvalidData, "{name}");
        let err =
            YrsStore::from_binary(&compress(&payload), StoreOptions::default()).expect_err(name);
        assert_eq!(
            err.code(),
            ErrorCode::InvalidData,
            "{name} through the store"
        );
    }
    assert!(YrsBackend::from_snapshot(&snapshot).is_ok());
}

#[test]
fn undecodable_patches_are_invalid_data_and_change_nothing() {
    let mut a = Replica::new();
    let item = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    a.store.set_label(&item, "label").expect("label");
    let patch = a.store.export_patch(None).expect("full");
    let before = a.store.backend().snapshot();
    for bad in [
        &patch[..patch.len() - 1],
        &patch[1..],
        b"loro\0\0\0\0",
        &[0xff; 8],
    ] {
        let err = a.store.apply_remote_patch(bad).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidData);
    }
    assert_eq!(a.store.backend().snapshot(), before);
    a.store.check_consistency().expect("consistent");
    // An empty patch is a no-op.
    let outcome = a.store.apply_remote_patch(&[]).expect("no-op");
    assert!(!outcome.advanced && !outcome.changed);
    let raw = YrsBackend::new().apply_remote_patch(&[]).expect("no-op");
    assert!(!raw.advanced);
}

// ---------------------------------------------------------------------------------------------
// Touched ids
// ---------------------------------------------------------------------------------------------

/// Applies the last local patch of `a` to `b` and returns what the backend reports as touched.
fn touched_by(a: &Replica, b: &mut YrsBackend) -> Touched {
    let applied = b.apply_remote_patch(&a.last_patch()).expect("applies");
    assert!(applied.advanced);
    applied.touched
}

#[test]
fn touched_ids_are_precise() {
    let mut a = Replica::new();
    let mut b = YrsBackend::from_snapshot(&a.store.backend().snapshot()).expect("replica");

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
    assert_eq!(
        touched_by(&a, &mut b),
        ids(&[&y]),
        "info deletion (delete set only)"
    );
    a.store.write_value(&x, "literal").expect("value");
    assert_eq!(touched_by(&a, &mut b), ids(&[&x]), "literal");
    a.store.change_value(&x, 0, 3, "LIT").expect("change value");
    assert_eq!(touched_by(&a, &mut b), ids(&[&x]), "literal splice");
    a.store.move_entry_to(&y, &x, None).expect("move");
    assert_eq!(touched_by(&a, &mut b), ids(&[&y]), "move");
    a.store.delete_entry(&y).expect("delete");
    assert_eq!(touched_by(&a, &mut b), ids(&[&y]), "soft delete");
    a.store.purge_entry(&y).expect("purge");
    assert_eq!(touched_by(&a, &mut b), ids(&[&y]), "purge deletes the key");
    assert!(b.read_entry(&y).is_none());

    // A patch that adds nothing touches nothing.
    let again = b
        .apply_remote_patch(&a.store.export_patch(None).expect("full"))
        .expect("again");
    assert!(!again.advanced);
    assert_eq!(again.touched, ids(&[]));
    assert_eq!(b.read_all().len(), a.store.entry_count());
}

// ---------------------------------------------------------------------------------------------
// Backend-level writes and tolerant reading
// ---------------------------------------------------------------------------------------------

fn item(outer: &str, key: &str) -> EntryData {
    EntryData::new_item(outer.into(), key.into(), String::new())
}

#[test]
fn ops_write_what_read_entry_reads_back() {
    let mut backend = YrsBackend::new();
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
    assert!(backend.entry_ids().is_empty());
}

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
    for absent in ["not-a-map", "no-kind", "odd-kind", "nobody"] {
        assert_eq!(backend.read_entry(absent), None, "{absent}");
    }
    assert_eq!(backend.read_entry("bare"), Some(item("", "")));
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
            ("bigint".to_owned(), json!(1u64 << 40)),
            ("buffer".to_owned(), json!([1, 2])),
            ("object".to_owned(), json!({"z": 1})),
            ("text".to_owned(), json!("shared text!")),
        ])
    );
    let mut all: Vec<String> = backend.read_all().into_iter().map(|(id, _)| id).collect();
    all.sort();
    assert_eq!(all, ["bare", "odd"]);
    assert_eq!(backend.entry_ids().len(), 5);

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

#[test]
fn text_offsets_are_utf16_units() {
    let doc = YrsBackend::new();
    let text = doc.doc().get_or_insert_text("probe");
    let mut txn = doc.doc().transact_mut();
    text.push(&mut txn, "😀");
    assert_eq!(text.len(&txn), 2);
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
/// (held until their dependencies arrive), and a third one through snapshots taken while
/// patches are still held. All end up with the same tree and the same document state.
#[test]
fn shuffled_and_duplicated_patches_converge() {
    for seed in 0..40u64 {
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
        let mut c_snapshot = start.clone();
        for (i, patch) in patches.iter().enumerate() {
            b.store
                .apply_remote_patch(patch)
                .unwrap_or_else(|e| panic!("seed {seed}: patch {i} refused: {e}"));
            b.store
                .check_consistency()
                .unwrap_or_else(|e| panic!("seed {seed}: after patch {i}: {e}"));
            if i == patches.len() / 2 {
                c_snapshot = b.store.as_binary();
            }
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

        // A replica restored from a snapshot taken half-way (with held patches) catches up.
        let mut c = Replica::from_binary(&c_snapshot);
        for patch in &patches[patches.len() / 2..] {
            c.store.apply_remote_patch(patch).expect("applies");
        }
        assert!(
            !c.store.backend().has_pending(),
            "seed {seed}: c integrated everything"
        );
        assert_eq!(
            c.store.as_json(),
            a.store.as_json(),
            "seed {seed}: via snapshot"
        );
        c.store.check_consistency().expect("consistent");
    }
}

/// Info values nested up to 256 levels travel; deeper ones (which yrs would decode by deep
/// recursion, overflowing small thread stacks) are refused as `invalid-data`.
#[test]
fn deeply_nested_info_values_are_bounded() {
    let mut a = Replica::new();
    let mut b = Replica::from_binary(&a.store.as_binary());
    let x = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    let mut value = json!("leaf");
    for _ in 0..sds_core::limits::MAX_INFO_VALUE_DEPTH {
        value = json!([value]);
    }
    assert_eq!(
        a.store
            .set_info(&x, "deeper", json!([value.clone()]))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidArgument
    );
    a.store.set_info(&x, "deep", value.clone()).expect("info");
    b.store
        .apply_remote_patch(&a.store.export_patch(None).expect("full"))
        .expect("the deepest local value travels");
    assert_eq!(
        b.store
            .entry(&x)
            .and_then(|e| e.info_value("deep").cloned()),
        Some(value)
    );

    // A yjs peer could write deeper values; they are refused.
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
