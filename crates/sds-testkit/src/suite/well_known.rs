//! SPEC §18.2 Well-known items.

use crate::helpers::*;
use sds_core::{ErrorCode, LOST_AND_FOUND_ID, NewBackend, ROOT_ID, TRASH_ID};

/// Identity predicates are true only for the matching item.
pub fn identity_predicates<B: NewBackend>() {
    let mut store = new_store::<B>();
    let other = item(&mut store, ROOT_ID, "x");
    let root = store.root_item().unwrap();
    let trash = store.trash_item().unwrap();
    let lf = store.lost_and_found_item().unwrap();
    let x = store.entry(&other).unwrap();
    assert!(root.is_root_item() && !root.is_trash_item() && !root.is_lost_and_found_item());
    assert!(trash.is_trash_item() && !trash.is_root_item() && !trash.is_lost_and_found_item());
    assert!(lf.is_lost_and_found_item() && !lf.is_root_item() && !lf.is_trash_item());
    assert!(!x.is_root_item() && !x.is_trash_item() && !x.is_lost_and_found_item());
    assert!(root.outer_item().is_none());
    assert_eq!(trash.outer_item().unwrap().id(), ROOT_ID);
    assert_eq!(lf.outer_item().unwrap().id(), ROOT_ID);
    assert_eq!(x.outer_item_ids(), vec![ROOT_ID]);
}

/// None of the three can be deleted or purged.
pub fn well_known_items_cannot_be_deleted_or_purged<B: NewBackend>() {
    let mut store = new_store::<B>();
    for id in [ROOT_ID, TRASH_ID, LOST_AND_FOUND_ID] {
        assert!(!store.entry_may_be_deleted(id));
        assert!(!store.entry(id).unwrap().may_be_deleted());
        assert_eq!(
            store.delete_entry(id).unwrap_err().code(),
            ErrorCode::DeleteNotPermitted
        );
        assert_eq!(
            store.purge_entry(id).unwrap_err().code(),
            ErrorCode::PurgeNotInTrash
        );
    }
    assert_eq!(store.entry_count(), 3);
}

/// Default labels; Trash can be relabelled; Root lists both.
pub fn default_labels_and_relabelling<B: NewBackend>() {
    let mut store = new_store::<B>();
    assert_eq!(store.trash_item().unwrap().label(), "trash");
    assert_eq!(
        store.lost_and_found_item().unwrap().label(),
        "lost-and-found"
    );
    store.set_label(TRASH_ID, "Papierkorb").unwrap();
    assert_eq!(store.trash_item().unwrap().label(), "Papierkorb");
    let listed: Vec<&str> = store
        .root_item()
        .unwrap()
        .inner_entry_list()
        .iter()
        .map(|e| e.id())
        .collect();
    assert_eq!(listed, vec![TRASH_ID, LOST_AND_FOUND_ID]);
}

/// Root never moves; Trash and LostAndFound only directly into Root.
pub fn root_cannot_move_and_system_items_stay_in_root<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = item(&mut store, ROOT_ID, "x");
    assert_eq!(
        store.move_entry_to(ROOT_ID, &x, None).unwrap_err().code(),
        ErrorCode::MoveWouldCycle
    );
    assert_eq!(
        store
            .move_entry_to(ROOT_ID, ROOT_ID, None)
            .unwrap_err()
            .code(),
        ErrorCode::MoveWouldCycle
    );
    for id in [TRASH_ID, LOST_AND_FOUND_ID] {
        assert!(!store.entry_may_be_moved_to(id, &x));
        assert_eq!(
            store.move_entry_to(id, &x, None).unwrap_err().code(),
            ErrorCode::MoveWouldCycle
        );
        assert!(store.entry_may_be_moved_to(id, ROOT_ID));
    }
    // Reordering within Root is allowed.
    store
        .move_entry_to(LOST_AND_FOUND_ID, ROOT_ID, Some(0))
        .unwrap();
    assert_eq!(children(&store, ROOT_ID)[0], LOST_AND_FOUND_ID);
    assert_invariants(&store);
}
