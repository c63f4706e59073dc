//! SPEC §18.1 Construction.

use crate::helpers::*;
use sds_core::{
    ErrorCode, LOST_AND_FOUND_ID, NewBackend, ROOT_ID, Store, StoreOptions, TRASH_ID, Value,
    ValueKind,
};
use serde_json::json;
use std::time::Duration;

/// `from_scratch` holds exactly Root, Trash and LostAndFound with their fixed fields.
pub fn from_scratch_has_exactly_the_well_known_items<B: NewBackend>() {
    let store = new_store::<B>();
    assert_eq!(store.entry_count(), 3);
    for (id, outer, key, label) in [
        (ROOT_ID, None, "", ""),
        (TRASH_ID, Some(ROOT_ID), "a0", "trash"),
        (LOST_AND_FOUND_ID, Some(ROOT_ID), "a1", "lost-and-found"),
    ] {
        let e = store.entry(id).expect("well-known item exists");
        assert!(e.is_item());
        assert_eq!(e.outer_item_id(), outer);
        assert_eq!(&*e.data().order_key, key);
        assert_eq!(e.label(), label);
        assert!(e.info().is_empty());
        assert_eq!(e.value_kind(), &ValueKind::None);
        assert_eq!(e.mime_type(), Some("text/plain"));
        assert_eq!(e.data().mime_type, "");
    }
    assert_eq!(children(&store, ROOT_ID), vec![TRASH_ID, LOST_AND_FOUND_ID]);
    assert_invariants(&store);
}

/// `as_binary` is gzip and restores ids, tree, labels, values and Info.
pub fn binary_snapshot_round_trips<B: NewBackend>() {
    let mut store = new_store::<B>();
    let a = item(&mut store, ROOT_ID, "A 😀");
    let b = item(&mut store, &a, "B");
    store.write_value(&b, "text value").unwrap();
    store.set_info(&a, "n", json!(42)).unwrap();
    let bin = store
        .new_item_at(Some("application/octet-stream"), ROOT_ID, None)
        .unwrap();
    store.write_value(&bin, vec![1u8, 2, 3]).unwrap();
    store.new_link_at(&b, &a, Some(0)).unwrap();
    let bytes = store.as_binary();
    assert!(bytes.len() > 2);
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    let copy = Store::<B>::from_binary(&bytes, StoreOptions::default()).unwrap();
    assert_eq!(json_of(&copy), json_of(&store));
    assert_eq!(copy.read_value(&bin).unwrap(), Value::Bytes(vec![1, 2, 3]));
    assert_invariants(&copy);
}

/// `from_json(as_json())` keeps ids; missing Trash and LostAndFound are created.
pub fn json_round_trip_keeps_ids_and_creates_missing_well_known_items<B: NewBackend>() {
    let mut store = new_store::<B>();
    let a = item(&mut store, ROOT_ID, "A");
    item(&mut store, &a, "child");
    store.delete_entry(&a).unwrap();
    item(&mut store, ROOT_ID, "B");
    let json = json_of(&store);
    let copy = Store::<B>::from_json(&json, StoreOptions::default()).unwrap();
    assert_eq!(json_of(&copy), json);
    assert_invariants(&copy);
    // Also from a JSON string.
    let text = store.as_json().to_json_string();
    let copy = Store::<B>::from_json(&json!(text), StoreOptions::default()).unwrap();
    assert_eq!(json_of(&copy), json);

    let minimal = json!({"Kind": "item", "Id": ROOT_ID, "Label": "", "Type": "text/plain",
    "ValueKind": "none", "Info": {}, "innerEntries": [
        {"Kind": "item", "Id": "x-1", "Label": "only", "Type": "text/plain", "ValueKind": "none", "Info": {}, "innerEntries": []}
    ]});
    let copy = Store::<B>::from_json(&minimal, StoreOptions::default()).unwrap();
    assert_eq!(
        children(&copy, ROOT_ID),
        vec!["x-1", TRASH_ID, LOST_AND_FOUND_ID]
    );
    assert_eq!(copy.entry(TRASH_ID).unwrap().label(), "trash");
    assert_invariants(&copy);

    let wrong_top = json!({"Kind": "item", "Id": "not-root", "innerEntries": []});
    let err = Store::<B>::from_json(&wrong_top, StoreOptions::default()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidData);
}

/// A string of exactly the literal limit is `literal`; one unit more is a reference.
pub fn literal_size_limit_boundary<B: NewBackend>() {
    let mut store = Store::<B>::from_scratch(StoreOptions {
        literal_size_limit: 10,
        ..StoreOptions::default()
    })
    .unwrap();
    let id = store.new_item_at(None, ROOT_ID, None).unwrap();
    store.write_value(&id, "0123456789").unwrap();
    assert_eq!(store.entry(&id).unwrap().value_kind(), &ValueKind::Literal);
    store.write_value(&id, "0123456789A").unwrap();
    assert_eq!(
        store.entry(&id).unwrap().value_kind(),
        &ValueKind::LiteralReference
    );
    // UTF-16 units: nine ASCII characters plus one emoji are 11 units.
    store.write_value(&id, "012345678😀").unwrap();
    assert_eq!(
        store.entry(&id).unwrap().value_kind(),
        &ValueKind::LiteralReference
    );
    store.write_value(&id, "01234567😀").unwrap();
    assert_eq!(store.entry(&id).unwrap().value_kind(), &ValueKind::Literal);
}

/// A zero TTL or check interval is `invalid-argument`. (A negative literal limit cannot be
/// expressed: the option is a `usize`.)
pub fn invalid_options_are_rejected<B: NewBackend>() {
    for options in [
        StoreOptions {
            trash_ttl: Some(Duration::ZERO),
            ..StoreOptions::default()
        },
        StoreOptions {
            trash_check_interval: Some(Duration::ZERO),
            ..StoreOptions::default()
        },
    ] {
        let err = Store::<B>::from_scratch(options).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument);
    }
    let ok = StoreOptions {
        trash_ttl: None,
        ..StoreOptions::default()
    };
    assert!(Store::<B>::from_scratch(ok).is_ok());
}

/// Two stores created independently converge to one Root, Trash and LostAndFound.
pub fn independent_stores_converge<B: NewBackend>() {
    let mut a = new_store::<B>();
    let mut b = new_store::<B>();
    let xa = item(&mut a, ROOT_ID, "from a");
    let xb = item(&mut b, ROOT_ID, "from b");
    a.set_label(TRASH_ID, "A's trash").unwrap();
    sync_pair(&mut a, &mut b);
    assert_eq!(json_of(&a), json_of(&b));
    for s in [&a, &b] {
        assert_invariants(s);
        assert!(s.entry(&xa).is_some() && s.entry(&xb).is_some());
        assert_eq!(s.entry_count(), 5);
    }
}

/// Garbage, truncated gzip and foreign payloads are `invalid-data`, never a panic.
pub fn from_binary_rejects_garbage<B: NewBackend>() {
    let store = new_store::<B>();
    let good = store.as_binary();
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![],
        b"garbage".to_vec(),
        vec![0x1f, 0x8b],
        good[..good.len() / 2].to_vec(),
        sds_core::gzip::compress(b"not a crdt document at all"),
        sds_core::gzip::compress(b"loro\x00\x01\x02 pretend loro payload"),
        sds_core::gzip::compress(&[0xff; 64]),
    ];
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    inputs.push(flipped);
    for input in inputs {
        match Store::<B>::from_binary(&input, StoreOptions::default()) {
            Err(e) => assert_eq!(e.code(), ErrorCode::InvalidData, "{input:?}"),
            Ok(s) => panic!(
                "garbage accepted as a store with {} entries",
                s.entry_count()
            ),
        }
    }
}
