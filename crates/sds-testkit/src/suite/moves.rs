//! SPEC §18.7 Move.

use crate::helpers::*;
use sds_core::{ErrorCode, NewBackend, Property, ROOT_ID, TRASH_ID};
use serde_json::json;

/// A move updates placement and both child lists and reports them.
pub fn move_updates_placement_and_records_lists<B: NewBackend>() {
    let mut store = new_store::<B>();
    let a = item(&mut store, ROOT_ID, "a");
    let b = item(&mut store, ROOT_ID, "b");
    let x = item(&mut store, &a, "x");
    let log = EventLog::attach(&mut store);
    store.move_entry_to(&x, &b, None).unwrap();
    let (_, changes) = log.single();
    assert!(changes.contains(&x, &Property::OuterItem));
    assert!(changes.contains(&a, &Property::InnerEntryList));
    assert!(changes.contains(&b, &Property::InnerEntryList));
    assert_eq!(changes.len(), 3);
    assert_eq!(children(&store, &a), Vec::<String>::new());
    assert_eq!(children(&store, &b), vec![x.clone()]);
    assert_eq!(store.entry(&x).unwrap().outer_item_id(), Some(b.as_str()));
    assert_eq!(
        store.entry(&x).unwrap().outer_item_ids(),
        vec![b.as_str(), ROOT_ID]
    );
}

/// Moving into itself or a descendant is refused and the pre-check agrees.
pub fn moves_into_descendants_are_refused<B: NewBackend>() {
    let mut store = new_store::<B>();
    let a = item(&mut store, ROOT_ID, "a");
    let b = item(&mut store, &a, "b");
    let c = item(&mut store, &b, "c");
    let before = json_of(&store);
    for target in [&a, &b, &c] {
        assert!(!store.entry_may_be_moved_to(&a, target));
        assert_eq!(
            store.move_entry_to(&a, target, None).unwrap_err().code(),
            ErrorCode::MoveWouldCycle
        );
    }
    assert!(store.entry_may_be_moved_to(&c, &a));
    assert_eq!(
        store.move_entry_to("missing", &a, None).unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        store.move_entry_to(&c, "missing", None).unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(json_of(&store), before);
}

/// Moving into a link is `invalid-argument` (F15).
pub fn moves_into_links_are_refused<B: NewBackend>() {
    let mut store = new_store::<B>();
    let a = item(&mut store, ROOT_ID, "a");
    let x = item(&mut store, ROOT_ID, "x");
    let link = store.new_link_at(&a, ROOT_ID, None).unwrap();
    assert!(!store.entry_may_be_moved_to(&x, &link));
    assert_eq!(
        store.move_entry_to(&x, &link, None).unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(store.entry(&x).unwrap().outer_item_id(), Some(ROOT_ID));
}

/// Leaving the Trash removes `_trashedAt`; moving inside the Trash keeps it.
pub fn leaving_trash_removes_the_stamp<B: NewBackend>() {
    let (mut store, _now) = store_with_clock::<B>(1_000);
    let x = item(&mut store, ROOT_ID, "x");
    let y = item(&mut store, ROOT_ID, "y");
    store.delete_entry(&x).unwrap();
    store.delete_entry(&y).unwrap();
    store.move_entry_to(&y, TRASH_ID, Some(0)).unwrap();
    assert_eq!(children(&store, TRASH_ID), vec![y.clone(), x.clone()]);
    assert_eq!(
        store.entry(&y).unwrap().info_value("_trashedAt"),
        Some(&json!(1000))
    );
    let log = EventLog::attach(&mut store);
    store.move_entry_to(&x, ROOT_ID, None).unwrap();
    let (_, changes) = log.single();
    assert!(changes.contains(&x, &Property::Info("_trashedAt".into())));
    assert!(store.entry(&x).unwrap().info_value("_trashedAt").is_none());
    // Moving an entry inside a trashed subtree out of it is a plain move.
    let z = item(&mut store, &y, "z");
    store.set_info(&z, "_trashedAt", json!(5)).unwrap();
    store.move_entry_to(&z, ROOT_ID, None).unwrap();
    assert_eq!(
        store.entry(&z).unwrap().info_value("_trashedAt"),
        Some(&json!(5))
    );
}

/// `entry_mut(..).move_to` equals `move_entry_to`; index 0 inserts at the front.
pub fn method_style_equals_store_style<B: NewBackend>() {
    let mut store = new_store::<B>();
    let c = item(&mut store, ROOT_ID, "c");
    let a = item(&mut store, &c, "a");
    let b = item(&mut store, ROOT_ID, "b");
    store.entry_mut(&b).unwrap().move_to(&c, Some(0)).unwrap();
    assert_eq!(children(&store, &c), vec![b.clone(), a.clone()]);
    assert!(store.entry_mut(&a).unwrap().may_be_moved_to(ROOT_ID));
    let mut twin = new_store::<B>();
    let json = store.entry(&c).unwrap().as_json().to_value();
    let c2 = twin.new_entry_from_json_at(&json, ROOT_ID, None).unwrap();
    let kids = children(&twin, &c2);
    twin.move_entry_to(&kids[1], &c2, Some(0)).unwrap();
    assert_eq!(children(&twin, &c2), vec![kids[1].clone(), kids[0].clone()]);
}
