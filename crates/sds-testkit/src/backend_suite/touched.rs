//! Which entries a remote patch touched: exactly the ones it wrote (ARCHITECTURE "Remote
//! patches": the store re-reads only those).

use crate::helpers::*;
use sds_core::{EntryData, LOST_AND_FOUND_ID, NewBackend, Op, ROOT_ID, TextField, Touched};
use serde_json::json;
use std::sync::Arc;

/// Applies the last local patch of `a` to `b` and returns what the backend reports as touched.
fn touched_by<B: NewBackend>(a: &Replica<B>, b: &mut B) -> Touched {
    let applied = b.apply_remote_patch(&a.last_patch()).expect("applies");
    assert!(applied.advanced);
    applied.touched
}

/// Every kind of write touches exactly the entry it wrote; a patch that adds nothing touches
/// nothing.
pub fn touched_ids_are_precise<B: NewBackend>() {
    let mut a = Replica::<B>::from_scratch();
    let mut b = B::from_snapshot(&a.store.backend().snapshot()).expect("replica");

    let x = a.store.new_item_at(None, ROOT_ID, None).expect("x");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&x]), "creation");
    let y = a.store.new_item_at(None, ROOT_ID, None).expect("y");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&y]), "creation");

    a.store.set_label(&x, "label of x").expect("label");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&x]), "label");
    a.store.set_label(&x, "label of x, longer").expect("label");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&x]), "label splice");
    a.store
        .set_info(&y, "k", json!({"deep": [1, 2]}))
        .expect("info");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&y]), "info");
    // On yrs this patch is a delete set only.
    a.store.delete_info(&y, "k").expect("delete info");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&y]), "info deletion");
    a.store.write_value(&x, "literal").expect("value");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&x]), "literal");
    a.store.change_value(&x, 0, 3, "LIT").expect("change value");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&x]), "literal splice");
    a.store.write_value(&x, vec![1u8, 2]).expect("bytes");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&x]), "binary");
    a.store.move_entry_to(&y, &x, None).expect("move");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&y]), "move");
    a.store.delete_entry(&y).expect("delete");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&y]), "soft delete");
    // A purge deletes the key (yrs) or writes a tombstone (loro).
    a.store.purge_entry(&y).expect("purge");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&y]), "purge");
    assert!(b.read_entry(&y).is_none());

    // A patch that adds nothing touches nothing.
    let again = b
        .apply_remote_patch(&a.store.export_patch(None).expect("full"))
        .expect("again");
    assert!(!again.advanced);
    assert_eq!(again.touched, touched_ids(&[]));
    assert_eq!(b.read_all().len(), a.store.entry_count());
}

/// Peer a overwrites x with a fresh entry map (as placeholder creation does); peer b,
/// concurrently, still writes into the old map. After the exchange the old map is
/// unreachable: b's label edit is invisible everywhere and touches nothing.
pub fn writes_to_a_replaced_entry_map_touch_nothing_and_show_nothing<B: NewBackend>() {
    let mut base = B::new_empty();
    let x: Arc<str> = "x".into();
    let mut old = EntryData::new_item(ROOT_ID.into(), "a0".into(), String::new());
    old.label = "old".into();
    base.commit(vec![Op::Create {
        id: x.clone(),
        data: Box::new(old),
    }])
    .expect("create");
    let snapshot = base.snapshot();
    let mut a = B::from_snapshot(&snapshot).expect("a");
    let mut b = B::from_snapshot(&snapshot).expect("b");
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
    assert_eq!(at_a.touched, touched_ids(&[]), "the old map is unreachable");
    let at_b = b.apply_remote_patch(&from_a).expect("a into b");
    assert_eq!(at_b.touched, touched_ids(&["x"]));
    assert_eq!(a.read_entry("x"), Some(fresh.clone()));
    assert_eq!(b.read_entry("x"), Some(fresh));
}

/// A patch that brings more than the receiving document holds, and is large (2,000 labelled
/// items into a fresh replica, over 64 KiB): the backend need not attribute its changes to
/// entries one by one and reports `Touched::All`; a store then reads every entry in one pass
/// and ends up with exactly the sender's tree. A small patch afterwards is precise again.
pub fn a_patch_larger_than_the_document_is_read_in_full<B: NewBackend>() {
    let mut a = Replica::<B>::from_scratch();
    let ids = super::create_labelled_items(&mut a, 2_000);
    a.last_patch();
    let patch = a.store.export_patch(None).expect("full patch");
    assert!(patch.len() > 64 << 10, "{} bytes", patch.len());

    let mut b = B::new_empty();
    let applied = b.apply_remote_patch(&patch).expect("backend applies");
    assert!(applied.advanced);
    assert_eq!(applied.touched, Touched::All);
    let mut store = new_store::<B>();
    let outcome = store.apply_remote_patch(&patch).expect("store applies");
    assert!(outcome.changed);
    assert_eq!(store.as_json(), a.store.as_json());
    store.check_consistency().expect("consistent");

    a.store.set_label(&ids[7], "changed").expect("label");
    assert_eq!(touched_by(&a, &mut b), touched_ids(&[&ids[7]]));
}
