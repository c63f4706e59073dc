//! SPEC §18.4 Label and Info.

use crate::helpers::*;
use sds_core::{ErrorCode, NewBackend, Property, ROOT_ID};
use serde_json::{Value as JsonValue, json};

/// Labels start empty; set/get; `Label` recorded only on change.
pub fn label_set_get_and_change_records<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    assert_eq!(store.entry(&x).unwrap().label(), "");
    let log = EventLog::attach(&mut store);
    store.set_label(&x, "hello").unwrap();
    let (_, changes) = log.single();
    assert_eq!(
        changes.get(&x).unwrap().iter().collect::<Vec<_>>(),
        vec![&Property::Label]
    );
    assert_eq!(changes.len(), 1);
    store.set_label(&x, "hello").unwrap();
    assert!(log.take().is_empty());
    store.set_label(&x, "").unwrap();
    assert_eq!(store.entry(&x).unwrap().label(), "");
    assert_eq!(replica_of(&store).entry(&x).unwrap().label(), "");
}

/// 1024 units are accepted, 1025 rejected; emoji count two.
pub fn label_length_limit_counts_utf16_units<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    store.set_label(&x, &"a".repeat(1024)).unwrap();
    assert_eq!(
        store.set_label(&x, &"a".repeat(1025)).unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    store.set_label(&x, &"😀".repeat(512)).unwrap();
    assert_eq!(
        store
            .set_label(&x, &format!("{}a", "😀".repeat(512)))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(store.entry(&x).unwrap().label(), "😀".repeat(512));
}

/// A minimal splice keeps a concurrent insertion into the unchanged part.
pub fn label_minimal_splice_keeps_concurrent_insertions<B: NewBackend>() {
    let mut a = new_store::<B>();
    let x = item(&mut a, ROOT_ID, "Hello World");
    let mut b = replica_of(&a);
    a.set_label(&x, "Hello World!").unwrap();
    b.set_label(&x, "Hello, World").unwrap();
    sync_pair(&mut a, &mut b);
    assert_eq!(a.entry(&x).unwrap().label(), "Hello, World!");
    assert_eq!(b.entry(&x).unwrap().label(), "Hello, World!");
}

/// Concurrent edits converge to one text containing both.
pub fn concurrent_label_edits_converge<B: NewBackend>() {
    let mut a = new_store::<B>();
    let x = item(&mut a, ROOT_ID, "base");
    let mut b = replica_of(&a);
    a.set_label(&x, "first").unwrap();
    b.set_label(&x, "second").unwrap();
    sync_pair(&mut a, &mut b);
    let la = a.entry(&x).unwrap().label().to_owned();
    assert_eq!(la, b.entry(&x).unwrap().label());
    // Both replacements survive, character by character.
    for c in ["f", "i", "r", "c", "o", "n", "d"] {
        assert!(la.contains(c), "{la:?} lacks {c}");
    }
}

/// Set, overwrite, delete and delete-of-last-key report `Info.<key>`; `null` is a value.
pub fn info_set_overwrite_delete<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    let log = EventLog::attach(&mut store);
    let info_key = |k: &str| Property::Info(k.to_owned());
    store.set_info(&x, "a", json!(1)).unwrap();
    assert!(log.single().1.contains(&x, &info_key("a")));
    store.set_info(&x, "a", json!("two")).unwrap();
    assert!(log.single().1.contains(&x, &info_key("a")));
    store.set_info(&x, "n", JsonValue::Null).unwrap();
    assert!(log.single().1.contains(&x, &info_key("n")));
    assert_eq!(
        store.entry(&x).unwrap().info_value("n"),
        Some(&JsonValue::Null)
    );
    store.delete_info(&x, "a").unwrap();
    assert!(log.single().1.contains(&x, &info_key("a")));
    store.delete_info(&x, "absent").unwrap();
    assert!(log.take().is_empty());
    store.delete_info(&x, "n").unwrap();
    assert!(log.single().1.contains(&x, &info_key("n")));
    assert!(store.entry(&x).unwrap().info().is_empty());
    let value = json!({"s": "x", "b": true, "f": 3.5, "i": -7, "arr": [1, "two", [3]], "o": {"a": 1, "b": {"c": null}}});
    store.set_info(&x, "all", value.clone()).unwrap();
    assert_eq!(store.entry(&x).unwrap().info_value("all"), Some(&value));
    assert_eq!(
        replica_of(&store).entry(&x).unwrap().info_value("all"),
        Some(&value)
    );
    assert_invariants(&store);
}

/// Size and key limits; nothing is written on violation.
pub fn info_limits<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    // A JSON string of n characters is n + 2 bytes.
    store
        .set_info(&x, "max", json!("x".repeat(262_142)))
        .unwrap();
    let err = store
        .set_info(&x, "over", json!("x".repeat(262_143)))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument);
    assert!(store.entry(&x).unwrap().info_value("over").is_none());
    assert_eq!(
        store.set_info(&x, "", json!(1)).unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        store
            .set_info(&x, &"k".repeat(1025), json!(1))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidArgument
    );
    store.set_info(&x, &"k".repeat(1024), json!(1)).unwrap();
    // NaN and infinities cannot be expressed as serde_json values at all.
    assert!(serde_json::Number::from_f64(f64::NAN).is_none());
    assert!(serde_json::Number::from_f64(f64::INFINITY).is_none());
    assert_eq!(store.entry(&x).unwrap().info().len(), 2);
}

/// `_trashedAt` and other integral numbers read back as integers, also on replicas.
pub fn trashed_at_reads_back_as_integer<B: NewBackend>() {
    let (mut store, _now) = store_with_clock::<B>(1_700_000_000_123);
    let x = item(&mut store, ROOT_ID, "x");
    store.set_info(&x, "whole", json!(5.0)).unwrap();
    store
        .set_info(&x, "big", json!(9_007_199_254_740_993u64))
        .unwrap();
    store.delete_entry(&x).unwrap();
    for s in [&store, &replica_of(&store)] {
        let e = s.entry(&x).unwrap();
        assert_eq!(
            e.info_value("_trashedAt"),
            Some(&json!(1_700_000_000_123u64))
        );
        assert!(e.info_value("_trashedAt").unwrap().is_u64());
        assert_eq!(e.info_value("whole"), Some(&json!(5)));
        // Beyond 2^53 a number is a double, as in JS.
        assert_eq!(
            e.info_value("big").unwrap().as_f64(),
            Some(9_007_199_254_740_992.0)
        );
    }
}
