//! SPEC §18.6 Ordering.

use crate::helpers::*;
use sds_core::order_key::{key_between, validate_order_key};
use sds_core::{NewBackend, Op, Property, ROOT_ID, Store};

fn keys<B: sds_core::Backend>(store: &Store<B>, container: &str) -> Vec<String> {
    store
        .entry(container)
        .unwrap()
        .inner_entry_list()
        .iter()
        .map(|e| e.data().order_key.to_string())
        .collect()
}

/// Children without index appear in creation order with the rocicorp keys.
pub fn appends_keep_creation_order<B: NewBackend>() {
    let mut store = new_store::<B>();
    let c = item(&mut store, ROOT_ID, "c");
    let ids: Vec<String> = (0..70)
        .map(|i| item(&mut store, &c, &i.to_string()))
        .collect();
    assert_eq!(children(&store, &c), ids);
    let k = keys(&store, &c);
    assert_eq!(&k[..3], &["a0", "a1", "a2"]);
    assert_eq!(k[10], "aA");
    assert_eq!(k[62], "b00");
    // Index 0 prepends before a0.
    let front = store.new_item_at(None, &c, Some(0)).unwrap();
    assert_eq!(children(&store, &c)[0], front);
    assert_eq!(keys(&store, &c)[0], "Zz");
}

/// Equal keys sort by id.
pub fn equal_keys_sort_by_id<B: NewBackend>() {
    let mut store = new_store::<B>();
    let c = item(&mut store, ROOT_ID, "c");
    let x = item(&mut store, &c, "x");
    let y = item(&mut store, &c, "y");
    let patch = foreign_patch(
        &store,
        vec![
            Op::SetPlacement {
                id: arc(&x),
                outer_item_id: arc(&c),
                order_key: arc("a5"),
            },
            Op::SetPlacement {
                id: arc(&y),
                outer_item_id: arc(&c),
                order_key: arc("a5"),
            },
        ],
    );
    store.apply_remote_patch(&patch).unwrap();
    let mut expected = vec![x, y];
    expected.sort();
    assert_eq!(children(&store, &c), expected);
}

/// Inserting again and again at one spot grows keys; past 200 characters the container is
/// rebalanced and the order kept.
pub fn long_keys_trigger_rebalance<B: NewBackend>() {
    let mut store = new_store::<B>();
    let c = item(&mut store, ROOT_ID, "c");
    let first = store.new_item_at(None, &c, None).unwrap();
    let last = store.new_item_at(None, &c, None).unwrap();
    let mut inserted = Vec::new();
    let log = EventLog::attach(&mut store);
    let mut rebalanced = false;
    for _ in 0..1500 {
        // Always insert right after `first`, so the new key squeezes between `first` and the
        // previous insertion.
        inserted.push(store.new_item_at(None, &c, Some(1)).unwrap());
        let (_, changes) = log.single();
        if changes.contains(&last, &Property::OuterItem) {
            rebalanced = true;
        }
        let k = keys(&store, &c);
        assert!(k.iter().all(|k| k.len() <= 200));
    }
    assert!(rebalanced, "no rebalance happened within 1500 insertions");
    let mut expected = vec![first];
    expected.extend(inserted.into_iter().rev());
    expected.push(last);
    assert_eq!(children(&store, &c), expected);
    assert_invariants(&store);
}

/// `rebalance_inner_entries_of` yields `a0, a1, …` and records `outerItem`.
pub fn rebalance_gives_fresh_keys_and_records_outer_item<B: NewBackend>() {
    let mut store = new_store::<B>();
    let c = item(&mut store, ROOT_ID, "c");
    let a = item(&mut store, &c, "a");
    let b = store.new_item_at(None, &c, Some(0)).unwrap();
    let d = store.new_item_at(None, &c, Some(1)).unwrap();
    assert_eq!(keys(&store, &c), vec!["Zz", "ZzV", "a0"]);
    let log = EventLog::attach(&mut store);
    store.rebalance_inner_entries_of(&c).unwrap();
    assert_eq!(keys(&store, &c), vec!["a0", "a1", "a2"]);
    assert_eq!(children(&store, &c), vec![b.clone(), d.clone(), a.clone()]);
    let (_, changes) = log.single();
    for id in [&b, &d, &a] {
        assert!(changes.contains(id, &Property::OuterItem));
    }
    assert_eq!(keys(&replica_of(&store), &c), vec!["a0", "a1", "a2"]);
}

/// A malformed neighbour key triggers a rebalance instead of a failure.
pub fn malformed_neighbour_keys_trigger_rebalance<B: NewBackend>() {
    let mut store = new_store::<B>();
    let c = item(&mut store, ROOT_ID, "c");
    let x = item(&mut store, &c, "x");
    let y = item(&mut store, &c, "y");
    let patch = foreign_patch(
        &store,
        vec![Op::SetPlacement {
            id: arc(&y),
            outer_item_id: arc(&c),
            order_key: arc("not a key!"),
        }],
    );
    store.apply_remote_patch(&patch).unwrap();
    assert_eq!(children(&store, &c), vec![x.clone(), y.clone()]);
    let z = store.new_item_at(None, &c, None).unwrap();
    assert_eq!(children(&store, &c), vec![x.clone(), y.clone(), z.clone()]);
    let w = store.new_item_at(None, &c, Some(1)).unwrap();
    assert_eq!(children(&store, &c), vec![x, w, y, z]);
    assert!(
        keys(&store, &c)
            .iter()
            .all(|k| validate_order_key(k).is_ok())
    );
}

/// Within the same container the index means "before the child now at that position".
pub fn move_within_container_inserts_before_index<B: NewBackend>() {
    let mut store = new_store::<B>();
    let c = item(&mut store, ROOT_ID, "c");
    let ids: Vec<String> = (0..4)
        .map(|i| item(&mut store, &c, &i.to_string()))
        .collect();
    store.move_entry_to(&ids[0], &c, Some(3)).unwrap();
    assert_eq!(
        children(&store, &c),
        vec![
            ids[1].clone(),
            ids[2].clone(),
            ids[0].clone(),
            ids[3].clone()
        ]
    );
    store.move_entry_to(&ids[3], &c, Some(0)).unwrap();
    assert_eq!(
        children(&store, &c),
        vec![
            ids[3].clone(),
            ids[1].clone(),
            ids[2].clone(),
            ids[0].clone()
        ]
    );
    store.move_entry_to(&ids[1], &c, None).unwrap();
    assert_eq!(
        children(&store, &c),
        vec![
            ids[3].clone(),
            ids[2].clone(),
            ids[0].clone(),
            ids[1].clone()
        ]
    );
}

/// Inserting between two equal keys succeeds, lands between them and is deterministic.
pub fn insertion_between_equal_keys<B: NewBackend>() {
    let mut store = new_store::<B>();
    let c = item(&mut store, ROOT_ID, "c");
    let ids: Vec<String> = (0..4)
        .map(|i| item(&mut store, &c, &i.to_string()))
        .collect();
    let mover = item(&mut store, ROOT_ID, "mover");
    // Three children share key a5, the fourth comes after.
    let patch = foreign_patch(
        &store,
        (0..3)
            .map(|i| Op::SetPlacement {
                id: arc(&ids[i]),
                outer_item_id: arc(&c),
                order_key: arc("a5"),
            })
            .chain([Op::SetPlacement {
                id: arc(&ids[3]),
                outer_item_id: arc(&c),
                order_key: arc("a6"),
            }])
            .collect(),
    );
    store.apply_remote_patch(&patch).unwrap();
    let before = children(&store, &c);
    let mut twin = replica_of(&store);
    store.move_entry_to(&mover, &c, Some(1)).unwrap();
    twin.move_entry_to(&mover, &c, Some(1)).unwrap();
    let after = children(&store, &c);
    assert_eq!(
        after,
        vec![
            before[0].clone(),
            mover.clone(),
            before[1].clone(),
            before[2].clone(),
            before[3].clone()
        ]
    );
    assert_eq!(keys(&store, &c), keys(&twin, &c));
    let k = keys(&store, &c);
    assert!(k.windows(2).all(|w| w[0] <= w[1]));
    // A fresh item between the remaining equal keys works too.
    let fresh = store.new_item_at(None, &c, Some(3)).unwrap();
    assert_eq!(children(&store, &c)[3], fresh);
    assert_eq!(key_between(Some("a5"), Some("a6")).unwrap(), "a5V");
    assert_invariants(&store);
}

/// A flat container of thousands of children works, with short keys in creation order.
pub fn flat_container_appends_stay_cheap<B: NewBackend>() {
    let mut store = new_store::<B>();
    let ids = store
        .transact(|s| {
            (0..5000)
                .map(|_| s.new_item_at(None, ROOT_ID, None))
                .collect::<sds_core::Result<Vec<_>>>()
        })
        .unwrap();
    let listed = children(&store, ROOT_ID);
    assert_eq!(&listed[2..], &ids[..]);
    assert!(keys(&store, ROOT_ID).iter().all(|k| k.len() <= 4));
    assert_invariants(&store);
}
