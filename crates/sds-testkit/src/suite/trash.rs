//! SPEC §18.8 Delete, purge and Trash TTL.

use crate::helpers::*;
use sds_core::{
    ErrorCode, LOST_AND_FOUND_ID, NewBackend, Property, ROOT_ID, Store, StoreOptions, TRASH_ID,
};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Delete moves the subtree to the end of the Trash, stamps it and reports the change set.
pub fn delete_moves_to_trash_and_stamps<B: NewBackend>() {
    let (mut store, now) = store_with_clock::<B>(10_000);
    let a = item(&mut store, ROOT_ID, "a");
    let child = item(&mut store, &a, "child");
    let other = item(&mut store, ROOT_ID, "other");
    store.delete_entry(&other).unwrap();
    let log = EventLog::attach(&mut store);
    store.delete_entry(&a).unwrap();
    let (_, changes) = log.single();
    assert!(changes.contains(&a, &Property::OuterItem));
    assert!(changes.contains(&a, &Property::Info("_trashedAt".into())));
    assert!(changes.contains(ROOT_ID, &Property::InnerEntryList));
    assert!(changes.contains(TRASH_ID, &Property::InnerEntryList));
    assert_eq!(changes.len(), 3);
    assert_eq!(children(&store, TRASH_ID), vec![other.clone(), a.clone()]);
    assert_eq!(children(&store, &a), vec![child.clone()]);
    assert_eq!(
        store.entry(&a).unwrap().info_value("_trashedAt"),
        Some(&json!(10_000))
    );
    assert!(
        store
            .entry(&child)
            .unwrap()
            .info_value("_trashedAt")
            .is_none()
    );
    now.store(20_000, Ordering::SeqCst);
    store.delete_entry(&other).unwrap();
    assert_eq!(children(&store, TRASH_ID), vec![a.clone(), other.clone()]);
    assert_eq!(
        store.entry(&other).unwrap().info_value("_trashedAt"),
        Some(&json!(20_000))
    );
}

/// Purge is only for direct Trash children.
pub fn purge_requires_direct_trash_child<B: NewBackend>() {
    let mut store = new_store::<B>();
    let a = item(&mut store, ROOT_ID, "a");
    let child = item(&mut store, &a, "child");
    assert_eq!(
        store.purge_entry(&a).unwrap_err().code(),
        ErrorCode::PurgeNotInTrash
    );
    store.delete_entry(&a).unwrap();
    assert_eq!(
        store.purge_entry(&child).unwrap_err().code(),
        ErrorCode::PurgeNotInTrash
    );
    assert_eq!(
        store.purge_entry("missing").unwrap_err().code(),
        ErrorCode::NotFound
    );
    assert_eq!(store.entry_count(), 5);
}

/// Purge removes the whole subtree and reports each removed entry.
pub fn purge_removes_the_subtree<B: NewBackend>() {
    let mut store = new_store::<B>();
    let a = item(&mut store, ROOT_ID, "a");
    let b = item(&mut store, &a, "b");
    let c = item(&mut store, &b, "c");
    let l = store.new_link_at(&c, &a, None).unwrap();
    store.delete_entry(&a).unwrap();
    let log = EventLog::attach(&mut store);
    store.purge_entry(&a).unwrap();
    let (_, changes) = log.single();
    for id in [&a, &b, &c, &l] {
        assert!(store.entry(id).is_none());
        assert!(changes.contains(id, &Property::Existence));
        assert!(changes.contains(id, &Property::OuterItem));
    }
    assert!(changes.contains(TRASH_ID, &Property::InnerEntryList));
    assert_eq!(store.entry_count(), 3);
    let copy = replica_of(&store);
    assert_eq!(copy.entry_count(), 3);
    assert_invariants(&store);
}

/// Links from the live tree, LostAndFound or protected Trash branches protect; links inside
/// the same unprotected branch do not.
pub fn link_protection<B: NewBackend>() {
    let mut store = new_store::<B>();
    // A live link protects.
    let t1 = item(&mut store, ROOT_ID, "t1");
    let deep = item(&mut store, &t1, "deep");
    store.new_link_at(&deep, ROOT_ID, None).unwrap();
    store.delete_entry(&t1).unwrap();
    assert_eq!(
        store.purge_entry(&t1).unwrap_err().code(),
        ErrorCode::PurgeProtected
    );
    // A link in LostAndFound protects.
    let t2 = item(&mut store, ROOT_ID, "t2");
    store.new_link_at(&t2, LOST_AND_FOUND_ID, None).unwrap();
    store.delete_entry(&t2).unwrap();
    assert_eq!(
        store.purge_entry(&t2).unwrap_err().code(),
        ErrorCode::PurgeProtected
    );
    // A link inside the same branch does not protect.
    let t3 = item(&mut store, ROOT_ID, "t3");
    let inner = item(&mut store, &t3, "inner");
    store.new_link_at(&inner, &t3, None).unwrap();
    store.delete_entry(&t3).unwrap();
    store.purge_entry(&t3).unwrap();
    // Chains: live link -> branch P; link inside P -> branch Q. Q is protected through P.
    let p = item(&mut store, ROOT_ID, "p");
    let q = item(&mut store, ROOT_ID, "q");
    store.new_link_at(&q, &p, None).unwrap();
    store.new_link_at(&p, ROOT_ID, None).unwrap();
    store.delete_entry(&p).unwrap();
    store.delete_entry(&q).unwrap();
    assert_eq!(
        store.purge_entry(&q).unwrap_err().code(),
        ErrorCode::PurgeProtected
    );
    assert_eq!(
        store.purge_entry(&p).unwrap_err().code(),
        ErrorCode::PurgeProtected
    );
    // Without the live link, a link inside an unprotected branch protects nothing.
    let r = item(&mut store, ROOT_ID, "r");
    let s = item(&mut store, ROOT_ID, "s");
    store.new_link_at(&s, &r, None).unwrap();
    store.delete_entry(&r).unwrap();
    store.delete_entry(&s).unwrap();
    store.purge_entry(&s).unwrap();
    assert!(store.entry(&s).is_none());
    store.purge_entry(&r).unwrap();
    assert_invariants(&store);
}

/// Expired stamps are purged; fresh, unstamped and protected entries stay.
pub fn ttl_purges_expired_entries<B: NewBackend>() {
    let (mut store, now) = store_with_clock::<B>(0);
    let old = item(&mut store, ROOT_ID, "old");
    let protected = item(&mut store, ROOT_ID, "protected");
    store.new_link_at(&protected, ROOT_ID, None).unwrap();
    store.delete_entry(&old).unwrap();
    store.delete_entry(&protected).unwrap();
    now.store(1_000, Ordering::SeqCst);
    let fresh = item(&mut store, ROOT_ID, "fresh");
    store.delete_entry(&fresh).unwrap();
    let unstamped = item(&mut store, ROOT_ID, "unstamped");
    store.move_entry_to(&unstamped, TRASH_ID, None).unwrap();
    now.store(1_500, Ordering::SeqCst);
    assert_eq!(
        store
            .purge_expired_trash_entries(Some(Duration::from_millis(1_000)))
            .unwrap(),
        1
    );
    assert!(store.entry(&old).is_none());
    for id in [&protected, &fresh, &unstamped] {
        assert!(store.entry(id).is_some());
    }
    assert_eq!(
        store
            .purge_expired_trash_entries(Some(Duration::ZERO))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidArgument
    );
    // With the default TTL of 30 days nothing is old enough yet.
    assert_eq!(store.purge_expired_trash_entries(None).unwrap(), 0);
    now.store(1_000 + 2_592_000_000, Ordering::SeqCst);
    assert_eq!(store.purge_expired_trash_entries(None).unwrap(), 1);
    assert!(store.entry(&fresh).is_none());
}

/// A store without TTL purges nothing automatically; the default interval is min(ttl/4, 1 h).
pub fn ttl_none_and_check_interval<B: NewBackend>() {
    let (clock, now) = sds_core::Clock::manual(0);
    let mut store = Store::<B>::from_scratch(StoreOptions {
        trash_ttl: None,
        clock,
        ..StoreOptions::default()
    })
    .unwrap();
    let x = item(&mut store, ROOT_ID, "x");
    store.delete_entry(&x).unwrap();
    now.store(u64::MAX / 2, Ordering::SeqCst);
    assert_eq!(store.purge_expired_trash_entries(None).unwrap(), 0);
    assert!(store.options().effective_trash_check_interval().is_none());
    assert_eq!(
        store
            .purge_expired_trash_entries(Some(Duration::from_millis(1)))
            .unwrap(),
        1
    );
    let default = StoreOptions::default();
    assert_eq!(
        default.effective_trash_check_interval(),
        Some(Duration::from_secs(3600))
    );
    let short = StoreOptions {
        trash_ttl: Some(Duration::from_secs(60)),
        ..StoreOptions::default()
    };
    assert_eq!(
        short.effective_trash_check_interval(),
        Some(Duration::from_secs(15))
    );
}

/// After purging a link together with its target, later patches never bring the target back
/// (F14).
pub fn purged_links_never_resurrect_targets<B: NewBackend>() {
    let mut a = new_store::<B>();
    let folder = item(&mut a, ROOT_ID, "folder");
    let target = item(&mut a, &folder, "target");
    a.new_link_at(&target, &folder, None).unwrap();
    let mut b = replica_of(&a);
    a.delete_entry(&folder).unwrap();
    a.purge_entry(&folder).unwrap();
    sync_pair(&mut a, &mut b);
    // Unrelated later edits on both sides.
    item(&mut b, ROOT_ID, "later b");
    a.set_label(TRASH_ID, "bin").unwrap();
    sync_pair(&mut a, &mut b);
    for s in [&a, &b] {
        assert!(s.entry(&target).is_none());
        assert!(s.entry(&folder).is_none());
        assert_eq!(children(s, LOST_AND_FOUND_ID), Vec::<String>::new());
        assert_invariants(s);
    }
    assert_eq!(json_of(&a), json_of(&b));
}
