//! SPEC §18.3 Creation and lookup.

use crate::helpers::*;
use sds_core::{EntryKind, ErrorCode, NewBackend, Property, ROOT_ID, TRASH_ID};

/// Without a type an item is `text/plain`, stored as `""`; others round-trip verbatim.
pub fn default_and_custom_mime_types<B: NewBackend>() {
    let mut store = new_store::<B>();
    let log = EventLog::attach(&mut store);
    let plain = store.new_item_at(None, ROOT_ID, None).unwrap();
    let (_, changes) = log.single();
    assert!(!changes.contains(&plain, &Property::Type));
    let md = store
        .new_item_at(Some("text/markdown"), ROOT_ID, None)
        .unwrap();
    let (_, changes) = log.single();
    assert!(changes.contains(&md, &Property::Type));
    let explicit = store
        .new_item_at(Some("text/plain"), ROOT_ID, None)
        .unwrap();
    assert_eq!(store.entry(&plain).unwrap().mime_type(), Some("text/plain"));
    assert_eq!(store.entry(&plain).unwrap().data().mime_type, "");
    assert_eq!(store.entry(&explicit).unwrap().data().mime_type, "");
    assert_eq!(store.entry(&md).unwrap().mime_type(), Some("text/markdown"));
    let copy = replica_of(&store);
    assert_eq!(copy.entry(&md).unwrap().mime_type(), Some("text/markdown"));
    assert_eq!(copy.entry(&plain).unwrap().data().mime_type, "");
}

/// Entries land at the requested index; absent or too large appends.
pub fn insertion_indices<B: NewBackend>() {
    let mut store = new_store::<B>();
    let c = item(&mut store, ROOT_ID, "c");
    let a = store.new_item_at(None, &c, None).unwrap();
    let b = store.new_item_at(None, &c, None).unwrap();
    let first = store.new_item_at(None, &c, Some(0)).unwrap();
    let second = store.new_item_at(None, &c, Some(1)).unwrap();
    let last = store.new_item_at(None, &c, Some(99)).unwrap();
    let before_last = store.new_link_at(&a, &c, Some(4)).unwrap();
    assert_eq!(
        children(&store, &c),
        vec![first, second, a, b, before_last, last]
    );
    assert_invariants(&store);
}

/// `entry_with_id` finds live entries only.
pub fn entry_lookup<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = item(&mut store, ROOT_ID, "x");
    assert_eq!(store.entry_with_id(&x).unwrap().id(), x);
    assert!(store.entry_with_id("no-such-id").is_none());
    assert_eq!(
        store.is_item("no-such-id").unwrap_err().code(),
        ErrorCode::NotFound
    );
    store.delete_entry(&x).unwrap();
    store.purge_entry(&x).unwrap();
    assert!(store.entry_with_id(&x).is_none());
    assert_eq!(
        store.set_label(&x, "gone").unwrap_err().code(),
        ErrorCode::NotFound
    );
}

/// MIME types need 1–256 UTF-16 units, at creation and in the setter.
pub fn mime_type_limits<B: NewBackend>() {
    let mut store = new_store::<B>();
    let ok = "t".repeat(256);
    let too_long = "t".repeat(257);
    let id = store.new_item_at(Some(&ok), ROOT_ID, None).unwrap();
    assert_eq!(store.entry(&id).unwrap().mime_type(), Some(ok.as_str()));
    for bad in ["", too_long.as_str()] {
        assert_eq!(
            store
                .new_item_at(Some(bad), ROOT_ID, None)
                .unwrap_err()
                .code(),
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            store.set_mime_type(&id, bad).unwrap_err().code(),
            ErrorCode::InvalidArgument
        );
    }
    // 128 emoji are 256 UTF-16 units; one more character exceeds the limit.
    store.set_mime_type(&id, &"😀".repeat(128)).unwrap();
    assert!(
        store
            .set_mime_type(&id, &format!("{}x", "😀".repeat(128)))
            .is_err()
    );
    store.set_mime_type(&id, "image/png").unwrap();
    assert_eq!(store.entry(&id).unwrap().mime_type(), Some("image/png"));
    assert_eq!(store.entry_count(), 4);
}

/// Missing or link containers and targets are `invalid-argument`.
pub fn invalid_containers_and_targets<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = item(&mut store, ROOT_ID, "x");
    let link = store.new_link_at(&x, ROOT_ID, None).unwrap();
    let before = json_of(&store);
    let code = |r: sds_core::Result<String>| r.unwrap_err().code();
    assert_eq!(
        code(store.new_item_at(None, "missing", None)),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        code(store.new_item_at(None, &link, None)),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        code(store.new_link_at("missing", ROOT_ID, None)),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        code(store.new_link_at(&link, ROOT_ID, None)),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        code(store.new_link_at(&x, &link, None)),
        ErrorCode::InvalidArgument
    );
    assert_eq!(json_of(&store), before);
}

/// New ids are lowercase version-4 UUIDs.
pub fn new_ids_are_v4_uuids<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = item(&mut store, ROOT_ID, "x");
    let l = store.new_link_at(&x, TRASH_ID, None).unwrap();
    for id in [x, l] {
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            vec![8, 4, 4, 4, 12]
        );
        assert!(
            id.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
    }
}

/// The child list is an ordinary vector.
pub fn inner_entry_list_is_an_ordinary_list<B: NewBackend>() {
    let mut store = new_store::<B>();
    let c = item(&mut store, ROOT_ID, "c");
    let ids: Vec<String> = (0..5)
        .map(|i| item(&mut store, &c, &format!("n{i}")))
        .collect();
    store.new_link_at(&ids[0], &c, None).unwrap();
    let list = store.entry(&c).unwrap().inner_entry_list();
    assert_eq!(list.len(), 6);
    assert_eq!(list[2].id(), ids[2]);
    let items: Vec<_> = list
        .iter()
        .filter(|e| e.kind() == EntryKind::Item)
        .collect();
    assert_eq!(items.len(), 5);
    let labels: Vec<&str> = list.iter().map(|e| e.label()).collect();
    assert_eq!(labels, vec!["n0", "n1", "n2", "n3", "n4", ""]);
    assert_eq!(
        list.iter().fold(0, |n, _| n + 1),
        store.entry(&c).unwrap().inner_entry_count()
    );
}
