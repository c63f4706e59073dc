//! SPEC §18.5 Values.

use crate::helpers::*;
use sds_core::{
    ErrorCode, NewBackend, Property, ROOT_ID, Store, StoreOptions, Value, ValueInput, ValueKind,
    blob_hash,
};

fn small_literal_store<B: NewBackend>() -> Store<B> {
    Store::from_scratch(StoreOptions {
        literal_size_limit: 16,
        ..StoreOptions::default()
    })
    .unwrap()
}

/// Every kind transition including the 2048/2049-byte and literal-limit boundaries.
pub fn value_kind_transitions_and_boundaries<B: NewBackend>() {
    let mut store = small_literal_store::<B>();
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    let kind = |s: &Store<B>| s.entry(&x).unwrap().value_kind().clone();
    let cases: Vec<(ValueInput, ValueKind)> = vec![
        (ValueInput::Text("short".into()), ValueKind::Literal),
        (ValueInput::Bytes(vec![7; 2048]), ValueKind::Binary),
        (ValueInput::Bytes(vec![7; 2049]), ValueKind::BinaryReference),
        (ValueInput::Text("x".repeat(16)), ValueKind::Literal),
        (
            ValueInput::Text("x".repeat(17)),
            ValueKind::LiteralReference,
        ),
        (ValueInput::None, ValueKind::None),
        (ValueInput::Bytes(vec![]), ValueKind::Binary),
        (ValueInput::Text(String::new()), ValueKind::Literal),
        (ValueInput::Bytes(vec![1; 5000]), ValueKind::BinaryReference),
        (
            ValueInput::Text("back to literal".into()),
            ValueKind::Literal,
        ),
    ];
    for (input, expected) in cases {
        store.write_value(&x, input.clone()).unwrap();
        assert_eq!(kind(&store), expected, "after writing {input:?}");
        let e = store.entry(&x).unwrap();
        assert_eq!(e.is_literal(), expected.is_literal());
        assert_eq!(e.is_binary(), expected.is_binary());
        let read = store.read_value(&x).unwrap();
        let want = match input {
            ValueInput::None => Value::None,
            ValueInput::Text(t) => Value::Text(t),
            ValueInput::Bytes(b) => Value::Bytes(b),
        };
        assert_eq!(read, want);
        assert_eq!(
            replica_of(&store).entry(&x).unwrap().value_kind(),
            &expected
        );
    }
    let link = store.new_link_at(&x, ROOT_ID, None).unwrap();
    assert_eq!(
        store.write_value(&link, "no").unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
}

/// Values read back exactly; the same value again records no `Value`.
pub fn values_read_back_and_rewrites_record_nothing<B: NewBackend>() {
    let mut store = small_literal_store::<B>();
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    let log = EventLog::attach(&mut store);
    let long = "a long text beyond the limit 😀".to_owned();
    for value in [
        ValueInput::Text("inline ✓".into()),
        ValueInput::Text(long.clone()),
        ValueInput::Bytes((0..=255).collect()),
        ValueInput::Bytes(vec![9; 3000]),
    ] {
        store.write_value(&x, value.clone()).unwrap();
        let (_, changes) = log.single();
        assert!(changes.contains(&x, &Property::Value));
        store.write_value(&x, value).unwrap();
        assert!(
            log.take().is_empty(),
            "rewriting the same value recorded a change"
        );
    }
    store.write_value(&x, long.as_str()).unwrap();
    assert_eq!(store.read_value(&x).unwrap(), Value::Text(long));
}

/// `change_value` splices UTF-16 ranges.
pub fn change_value_replaces_utf16_ranges<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    store.write_value(&x, "Hello, World!").unwrap();
    let log = EventLog::attach(&mut store);
    store.change_value(&x, 7, 12, "SDS").unwrap();
    assert_eq!(
        store.read_value(&x).unwrap(),
        Value::Text("Hello, SDS!".into())
    );
    assert!(log.single().1.contains(&x, &Property::Value));
    store.change_value(&x, 0, 0, "😀 ").unwrap();
    assert_eq!(
        store.read_value(&x).unwrap(),
        Value::Text("😀 Hello, SDS!".into())
    );
    assert!(log.single().1.contains(&x, &Property::Value));
    store.change_value(&x, 0, 3, "").unwrap();
    assert!(log.single().1.contains(&x, &Property::Value));
    store.change_value(&x, 5, 5, "").unwrap();
    assert!(
        log.take().is_empty(),
        "an empty replacement of an empty range records nothing"
    );
    assert_eq!(
        store.read_value(&x).unwrap(),
        Value::Text("Hello, SDS!".into())
    );
    // The kind never changes, even beyond the literal limit.
    let mut small = small_literal_store::<B>();
    let y = small.new_item_at(None, ROOT_ID, None).unwrap();
    small.write_value(&y, "short").unwrap();
    small.change_value(&y, 5, 5, &"x".repeat(100)).unwrap();
    assert_eq!(small.entry(&y).unwrap().value_kind(), &ValueKind::Literal);
    assert_eq!(
        replica_of(&small).read_value(&y).unwrap(),
        Value::Text(format!("short{}", "x".repeat(100)))
    );
}

/// Reversed and out-of-range offsets, split surrogates and non-literal kinds are refused.
pub fn change_value_rejects_bad_ranges<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    store.write_value(&x, "a😀b").unwrap();
    for (from, to) in [(2, 1), (0, 5), (2, 2), (0, 2), (4, 9)] {
        assert_eq!(
            store.change_value(&x, from, to, "z").unwrap_err().code(),
            ErrorCode::InvalidArgument,
            "{from}..{to}"
        );
    }
    assert_eq!(store.read_value(&x).unwrap(), Value::Text("a😀b".into()));
    store.write_value(&x, vec![1u8]).unwrap();
    assert_eq!(
        store.change_value(&x, 0, 0, "z").unwrap_err().code(),
        ErrorCode::ChangeValueNotLiteral
    );
    store.write_value(&x, ValueInput::None).unwrap();
    assert_eq!(
        store.change_value(&x, 0, 0, "z").unwrap_err().code(),
        ErrorCode::ChangeValueNotLiteral
    );
    assert_eq!(
        store.change_value("missing", 0, 0, "z").unwrap_err().code(),
        ErrorCode::NotFound
    );
}

/// `ValueRef.Hash` is the lowercase hex SHA-256; `Size` the byte length.
pub fn blob_hash_and_size<B: NewBackend>() {
    assert_eq!(
        blob_hash(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let mut store = small_literal_store::<B>();
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    let text = "ü".repeat(20);
    store.write_value(&x, text.as_str()).unwrap();
    let r = store.value_ref_of(&x).unwrap().unwrap();
    assert_eq!(r.hash, blob_hash(text.as_bytes()));
    assert_eq!(r.size, 40);
    store.write_value(&x, "tiny").unwrap();
    assert_eq!(store.value_ref_of(&x).unwrap(), None);
}

/// A missing blob reads as pending, and as the value once stored.
pub fn missing_blobs_read_as_pending<B: NewBackend>() {
    let mut a = small_literal_store::<B>();
    let x = a.new_item_at(None, ROOT_ID, None).unwrap();
    let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    a.write_value(&x, bytes.clone()).unwrap();
    let mut b = small_literal_store::<B>();
    sync_pair(&mut a, &mut b);
    let hash = blob_hash(&bytes);
    match b.read_value(&x).unwrap() {
        Value::Pending {
            kind,
            hash: h,
            size,
        } => {
            assert_eq!(kind, ValueKind::BinaryReference);
            assert_eq!(h.as_deref(), Some(hash.as_str()));
            assert_eq!(size, Some(5000));
        }
        other => panic!("expected pending, got {other:?}"),
    }
    assert!(!b.has_value_blob(&hash));
    b.store_value_blob(&hash, &bytes).unwrap();
    assert_eq!(b.read_value(&x).unwrap(), Value::Bytes(bytes));
    assert!(b.referenced_value_hashes().contains(&hash));
}

/// Foreign hash shapes are kept verbatim and read as pending until present locally.
pub fn foreign_hashes_are_kept_and_pending<B: NewBackend>() {
    let mut store = new_store::<B>();
    let json = serde_json::json!({"Kind": "item", "Label": "js", "Type": "text/plain",
        "ValueKind": "literal-reference", "Info": {}, "innerEntries": [],
        "ValueRef": {"Hash": "fnv1a-0011aabb-3", "Size": 3}});
    let x = store.new_entry_from_json_at(&json, ROOT_ID, None).unwrap();
    assert_eq!(
        store.value_ref_of(&x).unwrap().unwrap().hash,
        "fnv1a-0011aabb-3"
    );
    assert!(store.read_value(&x).unwrap().is_pending());
    assert!(sds_core::hash_to_bytes("fnv1a-0011aabb-3").is_none());
    // Foreign shapes cannot be verified, so they are cached as given.
    store.store_value_blob("fnv1a-0011aabb-3", b"abc").unwrap();
    assert_eq!(store.read_value(&x).unwrap(), Value::Text("abc".into()));
}

/// A stored unknown kind reads as none and is not rewritten.
pub fn unknown_value_kinds_read_as_none<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    store.write_value(&x, "text").unwrap();
    let patch = foreign_patch(
        &store,
        vec![sds_core::Op::SetValueKind {
            id: arc(&x),
            kind: ValueKind::parse("pending"),
        }],
    );
    store.apply_remote_patch(&patch).unwrap();
    let e = store.entry(&x).unwrap();
    assert_eq!(e.value_kind(), &ValueKind::None);
    assert_eq!(store.read_value(&x).unwrap(), Value::None);
    assert_eq!(e.data().value_kind, ValueKind::Unknown("pending".into()));
    // Other operations leave the stored string alone.
    store.set_label(&x, "relabelled").unwrap();
    let copy = replica_of(&store);
    assert_eq!(
        copy.entry(&x).unwrap().data().value_kind.as_str(),
        "pending"
    );
    assert_eq!(copy.read_value(&x).unwrap(), Value::None);
}

/// Concurrent value writes converge.
pub fn concurrent_value_writes_converge<B: NewBackend>() {
    let mut a = small_literal_store::<B>();
    let x = a.new_item_at(None, ROOT_ID, None).unwrap();
    a.write_value(&x, "start").unwrap();
    let mut b = replica_of(&a);
    a.write_value(&x, "from a").unwrap();
    b.write_value(&x, vec![1u8, 2, 3]).unwrap();
    sync_pair(&mut a, &mut b);
    assert_eq!(a.read_value(&x).unwrap(), b.read_value(&x).unwrap());
    assert_eq!(json_of(&a), json_of(&b));
    a.change_value(&x, 0, 0, ">").ok();
    b.write_value(&x, "x".repeat(40).as_str()).unwrap();
    sync_pair(&mut a, &mut b);
    assert_eq!(a.entry(&x).unwrap().data(), b.entry(&x).unwrap().data());
}

/// Blobs whose bytes do not match their SHA-256 hash are refused.
pub fn blob_cache_verifies_hashes<B: NewBackend>() {
    let store = new_store::<B>();
    let hash = blob_hash(b"right");
    assert_eq!(
        store.store_value_blob(&hash, b"wrong").unwrap_err().code(),
        ErrorCode::InvalidData
    );
    assert!(!store.has_value_blob(&hash));
    store.store_value_blob(&hash, b"right").unwrap();
    assert_eq!(&*store.value_blob_by_hash(&hash).unwrap(), b"right");
}
