//! The backend-level suite: what every [`sds_core::Backend`] must do at the trait level and
//! through a store over it — patch sizes, idempotence, patches pending until their
//! dependencies arrive, cursors, snapshots, error codes, touched ids, field writes and
//! tolerant reads, shuffled deliveries and malformed input. Every function is generic over the
//! backend and is expanded into a `#[test]` by [`crate::backend_suite!`].
//!
//! A backend crate keeps only the tests of its own document layout (raw document shapes,
//! client ids, encodings); everything here holds for any backend.

pub mod errors;
pub mod fields;
pub mod malformed;
pub mod patches;
pub mod touched;

use crate::helpers::Replica;
use sds_core::{NewBackend, ROOT_ID};

/// Creates `count` labelled items under Root in one transaction and returns their ids.
pub fn create_labelled_items<B: NewBackend>(replica: &mut Replica<B>, count: usize) -> Vec<String> {
    replica
        .store
        .transact(|s| {
            (0..count)
                .map(|i| {
                    let id = s.new_item_at(None, ROOT_ID, None)?;
                    s.set_label(&id, &format!("item number {i}"))?;
                    Ok(id)
                })
                .collect()
        })
        .expect("items")
}

/// A store of a thousand labelled items, half of them relabelled one by one (so a CRDT that
/// keeps a delete set has a large one), with the items' ids. No patch is left recorded.
pub fn thousand_entry_store<B: NewBackend>() -> (Replica<B>, Vec<String>) {
    let mut replica = Replica::<B>::from_scratch();
    let items = create_labelled_items(&mut replica, 1000);
    for id in items.iter().step_by(2) {
        replica.store.set_label(id, "renamed").expect("relabel");
    }
    replica.take_patches();
    (replica, items)
}

/// Three local patches that depend on each other — create an item, label it, give it a
/// value — with the snapshot taken before the first: `(replica, start, [p1, p2, p3])`.
pub fn dependent_patches<B: NewBackend>() -> (Replica<B>, Vec<u8>, [Vec<u8>; 3]) {
    let mut a = Replica::<B>::from_scratch();
    let start = a.store.as_binary();
    let item = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    let p1 = a.last_patch();
    a.store.set_label(&item, "label").expect("label");
    let p2 = a.last_patch();
    a.store.write_value(&item, "value").expect("value");
    let p3 = a.last_patch();
    (a, start, [p1, p2, p3])
}
