//! SPEC §18.11 Sync and convergence.

use crate::helpers::*;
use sds_core::{
    ErrorCode, LOST_AND_FOUND_ID, NewBackend, Op, Property, ROOT_ID, Store, TRASH_ID, cmp_utf16,
};
use serde_json::json;

/// Stores loaded from the same snapshot are identical.
pub fn replicas_from_one_snapshot_are_identical<B: NewBackend>() {
    let mut a = new_store::<B>();
    let x = item(&mut a, ROOT_ID, "x");
    item(&mut a, &x, "y");
    let b = replica_of(&a);
    let c = replica_of(&a);
    assert_eq!(json_of(&b), json_of(&a));
    assert_eq!(json_of(&c), json_of(&a));
}

/// One-way and two-way exchanges propagate every change.
pub fn patch_exchange_propagates_changes<B: NewBackend>() {
    let mut a = new_store::<B>();
    let mut b = replica_of(&a);
    let x = item(&mut a, ROOT_ID, "from a");
    assert!(send(&a, &mut b));
    assert_eq!(b.entry(&x).unwrap().label(), "from a");
    let y = item(&mut b, &x, "from b");
    a.set_info(&x, "k", json!("v")).unwrap();
    sync_pair(&mut a, &mut b);
    assert_eq!(json_of(&a), json_of(&b));
    assert_eq!(a.entry(&y).unwrap().outer_item_id(), Some(x.as_str()));
    // A fresh replica catches up from the full state.
    let mut c = new_store::<B>();
    c.apply_remote_patch(&a.export_patch(None).unwrap())
        .unwrap();
    assert_eq!(json_of(&c), json_of(&a));
}

/// Empty patches are no-ops; garbage is `invalid-data` and changes nothing; repeats are
/// harmless; garbage cursors are refused.
pub fn bad_patches_and_cursors<B: NewBackend>() {
    let mut a = new_store::<B>();
    item(&mut a, ROOT_ID, "x");
    let mut b = replica_of(&a);
    let before = json_of(&b);
    let outcome = b.apply_remote_patch(&[]).unwrap();
    assert!(!outcome.advanced && !outcome.changed);
    for garbage in [&b"garbage"[..], &[0xff; 40][..], &[0, 0, 0, 1, 2, 3][..]] {
        match b.apply_remote_patch(garbage) {
            Err(e) => assert_eq!(e.code(), ErrorCode::InvalidData),
            Ok(o) => assert!(!o.changed, "garbage changed the store"),
        }
        assert_eq!(json_of(&b), before);
        assert!(check_invariants(&b, true).is_ok());
    }
    let cursor = b.current_cursor();
    item(&mut a, ROOT_ID, "y");
    let patch = a.export_patch(Some(&cursor)).unwrap();
    assert!(b.apply_remote_patch(&patch).unwrap().advanced);
    let again = b.apply_remote_patch(&patch).unwrap();
    assert!(!again.advanced && !again.changed);
    assert_eq!(json_of(&a), json_of(&b));
    assert_eq!(
        a.export_patch(Some(b"\xff\xff\xff")).unwrap_err().code(),
        ErrorCode::InvalidData
    );
}

/// Remote change sets report exactly what changed.
pub fn remote_change_sets_are_precise<B: NewBackend>() {
    let mut a = new_store::<B>();
    let p = item(&mut a, ROOT_ID, "p");
    let q = item(&mut a, ROOT_ID, "q");
    let x = item(&mut a, &p, "x");
    let y = item(&mut a, &p, "y");
    let mut b = replica_of(&a);
    let log = EventLog::attach(&mut b);

    a.move_entry_to(&x, &q, None).unwrap();
    send(&a, &mut b);
    let (_, changes) = log.single();
    assert_eq!(
        changes.get(&x).unwrap().iter().cloned().collect::<Vec<_>>(),
        vec![Property::OuterItem]
    );
    assert!(changes.contains(&p, &Property::InnerEntryList));
    assert!(changes.contains(&q, &Property::InnerEntryList));
    assert_eq!(changes.len(), 3);

    a.set_label(&y, "renamed").unwrap();
    send(&a, &mut b);
    let (_, changes) = log.single();
    assert_eq!(changes.len(), 1);
    assert_eq!(
        changes.get(&y).unwrap().iter().cloned().collect::<Vec<_>>(),
        vec![Property::Label]
    );

    a.write_value(&y, "value").unwrap();
    a.set_mime_type(&y, "text/markdown").unwrap();
    a.set_info(&y, "k", json!(1)).unwrap();
    send(&a, &mut b);
    let (_, changes) = log.single();
    let props: Vec<_> = changes.get(&y).unwrap().iter().cloned().collect();
    assert_eq!(
        props,
        vec![Property::Type, Property::Value, Property::Info("k".into())]
    );
    assert_eq!(changes.len(), 1);

    a.delete_entry(&y).unwrap();
    a.purge_entry(&y).unwrap();
    send(&a, &mut b);
    let events = log.take();
    let mut all = sds_core::ChangeSet::new();
    for (_, c) in &events {
        all.merge(c);
    }
    assert!(all.contains(&y, &Property::Existence));
    // The receiver never saw y in the Trash: for it, y vanished from p.
    assert!(all.contains(&p, &Property::InnerEntryList));
    assert!(!all.contains(TRASH_ID, &Property::InnerEntryList));
    assert_eq!(json_of(&a), json_of(&b));
    // A re-key within one container that keeps the order reports no list change.
    let z = item(&mut a, &q, "z");
    send(&a, &mut b);
    log.take();
    let patch = foreign_patch(
        &a,
        vec![Op::SetPlacement {
            id: arc(&z),
            outer_item_id: arc(&q),
            order_key: arc("a1V"),
        }],
    );
    b.apply_remote_patch(&patch).unwrap();
    let (_, changes) = log.single();
    assert!(changes.contains(&z, &Property::OuterItem));
    assert!(!changes.contains(&q, &Property::InnerEntryList));
}

/// An entry whose container was purged remotely goes to LostAndFound.
pub fn orphans_of_remote_purges_are_rescued<B: NewBackend>() {
    let mut a = new_store::<B>();
    let parent = item(&mut a, ROOT_ID, "parent");
    let mut b = replica_of(&a);
    a.delete_entry(&parent).unwrap();
    a.purge_entry(&parent).unwrap();
    let child = item(&mut b, &parent, "child");
    sync_pair(&mut a, &mut b);
    for s in [&a, &b] {
        assert_eq!(
            s.entry(&child).unwrap().outer_item_id(),
            Some(LOST_AND_FOUND_ID)
        );
        assert_invariants(s);
    }
    assert_eq!(json_of(&a), json_of(&b));
}

/// A link whose target was purged remotely gets a placeholder under the target's id.
pub fn dangling_links_get_placeholders<B: NewBackend>() {
    let mut a = new_store::<B>();
    let target = item(&mut a, ROOT_ID, "target");
    a.delete_entry(&target).unwrap();
    let mut b = replica_of(&a);
    a.purge_entry(&target).unwrap();
    // b links to the trashed target concurrently.
    let link = b.new_link_at(&target, ROOT_ID, None).unwrap();
    sync_pair(&mut a, &mut b);
    for s in [&a, &b] {
        let placeholder = s.entry(&target).expect("placeholder exists");
        assert!(placeholder.is_item());
        assert_eq!(placeholder.outer_item_id(), Some(LOST_AND_FOUND_ID));
        assert_eq!(placeholder.label(), "");
        assert_eq!(s.entry(&link).unwrap().outer_item_id(), Some(ROOT_ID));
        assert_invariants(s);
    }
    assert_eq!(json_of(&a), json_of(&b));
}

fn min_id<'a>(ids: &[&'a String]) -> &'a String {
    ids.iter().copied().min_by(|a, b| cmp_utf16(a, b)).unwrap()
}

/// A into B on one replica and B into A on another: the smaller id goes to LostAndFound.
pub fn concurrent_cross_moves_converge<B: NewBackend>() {
    let mut r1 = new_store::<B>();
    let a = item(&mut r1, ROOT_ID, "A");
    let b_ = item(&mut r1, ROOT_ID, "B");
    let a_child = item(&mut r1, &a, "below A");
    let mut r2 = replica_of(&r1);
    r1.move_entry_to(&a, &b_, None).unwrap();
    r2.move_entry_to(&b_, &a, None).unwrap();
    sync_pair(&mut r1, &mut r2);
    let smaller = min_id(&[&a, &b_]);
    for s in [&r1, &r2] {
        assert_eq!(
            s.entry(smaller).unwrap().outer_item_id(),
            Some(LOST_AND_FOUND_ID)
        );
        assert_eq!(s.entry(&a_child).unwrap().outer_item_id(), Some(a.as_str()));
        assert_invariants(s);
    }
    assert_eq!(json_of(&r1), json_of(&r2));
}

/// A three-entry cycle made on three replicas converges the same way.
pub fn three_entry_cycle_converges<B: NewBackend>() {
    let mut r1 = new_store::<B>();
    let ids: Vec<String> = (0..3)
        .map(|i| item(&mut r1, ROOT_ID, &format!("n{i}")))
        .collect();
    let mut r2 = replica_of(&r1);
    let mut r3 = replica_of(&r1);
    r1.move_entry_to(&ids[0], &ids[1], None).unwrap();
    r2.move_entry_to(&ids[1], &ids[2], None).unwrap();
    r3.move_entry_to(&ids[2], &ids[0], None).unwrap();
    let mut stores = vec![r1, r2, r3];
    sync_all(&mut stores);
    let smallest = min_id(&[&ids[0], &ids[1], &ids[2]]);
    for s in &stores {
        assert_eq!(
            s.entry(smallest).unwrap().outer_item_id(),
            Some(LOST_AND_FOUND_ID)
        );
        assert_invariants(s);
        assert_eq!(json_of(s), json_of(&stores[0]));
    }
}

/// Concurrent moves of one entry to different containers converge to one placement.
pub fn concurrent_moves_of_one_entry_converge<B: NewBackend>() {
    let mut r1 = new_store::<B>();
    let x = item(&mut r1, ROOT_ID, "x");
    let p = item(&mut r1, ROOT_ID, "p");
    let q = item(&mut r1, ROOT_ID, "q");
    let mut r2 = replica_of(&r1);
    r1.move_entry_to(&x, &p, None).unwrap();
    r2.move_entry_to(&x, &q, None).unwrap();
    sync_pair(&mut r1, &mut r2);
    assert_eq!(json_of(&r1), json_of(&r2));
    let outer = r1.entry(&x).unwrap().outer_item_id().unwrap().to_owned();
    assert!(outer == p || outer == q);
    assert_invariants(&r1);
}

/// Concurrent appends produce equal keys; inserting between them later works everywhere.
pub fn concurrent_appends_then_insert_between<B: NewBackend>() {
    let mut r1 = new_store::<B>();
    let c = item(&mut r1, ROOT_ID, "c");
    let mut r2 = replica_of(&r1);
    let x1 = item(&mut r1, &c, "x1");
    let x2 = item(&mut r2, &c, "x2");
    sync_pair(&mut r1, &mut r2);
    let key = |s: &Store<B>, id: &str| s.entry(id).unwrap().data().order_key.to_string();
    assert_eq!(key(&r1, &x1), key(&r1, &x2));
    let between = r1.new_item_at(None, &c, Some(1)).unwrap();
    let list = children(&r1, &c);
    assert_eq!(list[1], between);
    sync_pair(&mut r1, &mut r2);
    assert_eq!(children(&r2, &c), list);
    assert_eq!(json_of(&r1), json_of(&r2));
}

/// Two replicas repairing the same orphan converge to a single placement.
pub fn concurrent_orphan_repairs_converge<B: NewBackend>() {
    let mut origin = new_store::<B>();
    let parent = item(&mut origin, ROOT_ID, "parent");
    origin.delete_entry(&parent).unwrap();
    let mut r1 = replica_of(&origin);
    let mut r2 = replica_of(&origin);
    let child = item(&mut origin, &parent, "child");
    r1.purge_entry(&parent).unwrap();
    r2.purge_entry(&parent).unwrap();
    // Both receive the child and repair it independently before talking to each other.
    send(&origin, &mut r1);
    send(&origin, &mut r2);
    assert_eq!(
        r1.entry(&child).unwrap().outer_item_id(),
        Some(LOST_AND_FOUND_ID)
    );
    assert_eq!(
        r2.entry(&child).unwrap().outer_item_id(),
        Some(LOST_AND_FOUND_ID)
    );
    let mut stores = vec![origin, r1, r2];
    sync_all(&mut stores);
    for s in &stores {
        assert_eq!(
            s.entry(&child).unwrap().outer_item_id(),
            Some(LOST_AND_FOUND_ID)
        );
        assert_eq!(children(s, LOST_AND_FOUND_ID), vec![child.clone()]);
        assert_invariants(s);
        assert_eq!(json_of(s), json_of(&stores[0]));
    }
}

/// An entry a foreign writer placed inside a link is moved to LostAndFound.
pub fn entries_inside_links_are_rescued<B: NewBackend>() {
    let mut store = new_store::<B>();
    let target = item(&mut store, ROOT_ID, "target");
    let link = store.new_link_at(&target, ROOT_ID, None).unwrap();
    let x = item(&mut store, ROOT_ID, "x");
    let patch = foreign_patch(
        &store,
        vec![Op::SetPlacement {
            id: arc(&x),
            outer_item_id: arc(&link),
            order_key: arc("a0"),
        }],
    );
    let mut twin = replica_of(&store);
    store.apply_remote_patch(&patch).unwrap();
    assert_eq!(
        store.entry(&x).unwrap().outer_item_id(),
        Some(LOST_AND_FOUND_ID)
    );
    assert_invariants(&store);
    // The same holds for a foreign cycle and a foreign orphan.
    let y = item(&mut twin, ROOT_ID, "y");
    let z = item(&mut twin, &y, "z");
    let patch = foreign_patch(
        &twin,
        vec![
            Op::SetPlacement {
                id: arc(&y),
                outer_item_id: arc(&z),
                order_key: arc("a0"),
            },
            Op::SetPlacement {
                id: arc(&x),
                outer_item_id: arc("nowhere"),
                order_key: arc("a0"),
            },
        ],
    );
    twin.apply_remote_patch(&patch).unwrap();
    assert_invariants(&twin);
    assert_eq!(
        twin.entry(&x).unwrap().outer_item_id(),
        Some(LOST_AND_FOUND_ID)
    );
    let smaller = min_id(&[&y, &z]);
    assert_eq!(
        twin.entry(smaller).unwrap().outer_item_id(),
        Some(LOST_AND_FOUND_ID)
    );
    // A foreign writer that removed Trash gets it back at the end of Root.
    let patch = foreign_patch(&twin, vec![Op::Remove { id: arc(TRASH_ID) }]);
    twin.apply_remote_patch(&patch).unwrap();
    assert_eq!(twin.entry(TRASH_ID).unwrap().outer_item_id(), Some(ROOT_ID));
    assert_invariants(&twin);
}
