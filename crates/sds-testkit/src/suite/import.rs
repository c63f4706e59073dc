//! SPEC §18.12 Import.

use crate::helpers::*;
use sds_core::{ErrorCode, NewBackend, Property, ROOT_ID, Value};
use serde_json::json;

/// An item subtree is copied with fresh ids and everything else kept.
pub fn item_import_copies_with_fresh_ids<B: NewBackend>() {
    let mut store = new_store::<B>();
    let a = item(&mut store, ROOT_ID, "a");
    store.set_mime_type(&a, "text/markdown").unwrap();
    store.write_value(&a, "# A").unwrap();
    store.set_info(&a, "k", json!([1, 2])).unwrap();
    let b = item(&mut store, &a, "b");
    store.write_value(&b, vec![5u8, 6]).unwrap();
    let json = store.entry(&a).unwrap().as_json().to_value();
    let log = EventLog::attach(&mut store);
    let copy = store
        .deserialize_item_into(&json, ROOT_ID, Some(0))
        .unwrap();
    let (_, changes) = log.single();
    assert!(changes.contains(&copy, &Property::Existence));
    assert!(changes.contains(&copy, &Property::Label));
    assert!(changes.contains(&copy, &Property::Type));
    assert!(changes.contains(&copy, &Property::Value));
    assert!(changes.contains(&copy, &Property::Info("k".into())));
    assert!(changes.contains(ROOT_ID, &Property::InnerEntryList));
    assert_ne!(copy, a);
    assert_eq!(children(&store, ROOT_ID)[0], copy);
    let c = store.entry(&copy).unwrap();
    assert_eq!(c.label(), "a");
    assert_eq!(c.mime_type(), Some("text/markdown"));
    assert_eq!(c.read_value(), Value::Text("# A".into()));
    assert_eq!(c.info_value("k"), Some(&json!([1, 2])));
    let inner = c.inner_entry_list();
    assert_eq!(inner.len(), 1);
    assert_ne!(inner[0].id(), b);
    assert_eq!(inner[0].read_value(), Value::Bytes(vec![5, 6]));
    assert_invariants(&store);
}

/// Links into the imported subtree point to the new ids; others keep their target.
pub fn links_inside_imports_are_retargeted<B: NewBackend>() {
    let mut store = new_store::<B>();
    let outside = item(&mut store, ROOT_ID, "outside");
    let a = item(&mut store, ROOT_ID, "a");
    let inner = item(&mut store, &a, "inner");
    let to_inner = store.new_link_at(&inner, &a, None).unwrap();
    let to_outside = store.new_link_at(&outside, &a, None).unwrap();
    let json = store.entry(&a).unwrap().as_json().to_value();
    let copy = store.deserialize_item_into(&json, ROOT_ID, None).unwrap();
    let kids = store.entry(&copy).unwrap().inner_entry_list();
    let new_inner = kids[0].id();
    assert_ne!(new_inner, inner);
    assert_eq!(kids[1].target_id(), Some(new_inner));
    assert_ne!(kids[1].id(), to_inner);
    assert_eq!(kids[2].target_id(), Some(outside.as_str()));
    assert_ne!(kids[2].id(), to_outside);
}

/// Link import keeps `TargetId` verbatim; `new_entry_from_json_at` dispatches and accepts a
/// JSON string.
pub fn link_import_and_dispatch<B: NewBackend>() {
    let mut store = new_store::<B>();
    let link_json = json!({"Kind": "link", "Id": "old", "Label": "l", "TargetId": "not-existing", "Info": {"x": 1}});
    let l = store
        .deserialize_link_into(&link_json, ROOT_ID, None)
        .unwrap();
    let e = store.entry(&l).unwrap();
    assert_eq!(e.target_id(), Some("not-existing"));
    assert_eq!(e.label(), "l");
    assert_eq!(e.info_value("x"), Some(&json!(1)));
    assert_ne!(l, "old");
    let text = json!({"Kind": "item", "Label": "from text"}).to_string();
    let i = store
        .new_entry_from_json_at(&json!(text), ROOT_ID, None)
        .unwrap();
    assert_eq!(store.entry(&i).unwrap().label(), "from text");
    let l2 = store
        .new_entry_from_json_at(&link_json, ROOT_ID, None)
        .unwrap();
    assert!(store.entry(&l2).unwrap().is_link());
    // The next repair pass gives the dangling target a placeholder.
    store.recover_orphans().unwrap();
    assert!(store.entry("not-existing").is_some());
    assert_invariants(&store);
}

/// Invalid input fails with `invalid-argument` and imports nothing.
pub fn invalid_imports_change_nothing<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = item(&mut store, ROOT_ID, "x");
    let before = json_of(&store);
    let long_label = "l".repeat(1025);
    let cases = vec![
        json!({"Kind": "folder"}),
        json!({"Label": "no kind"}),
        json!({"Kind": "link", "Label": "no target"}),
        json!({"Kind": "item", "Label": long_label}),
        json!({"Kind": "item", "Info": {"": 1}}),
        json!({"Kind": "item", "Info": "not an object"}),
        json!({"Kind": "item", "innerEntries": [{"Kind": "item"}, {"Kind": "nope"}]}),
        json!({"Kind": "item", "ValueKind": "mystery"}),
        json!({"Kind": "item", "Type": "t".repeat(300)}),
        json!([1, 2, 3]),
        json!("{not json"),
    ];
    for case in cases {
        let err = store
            .new_entry_from_json_at(&case, ROOT_ID, None)
            .unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidArgument, "{case}");
    }
    assert_eq!(
        store
            .deserialize_link_into(&json!({"Kind": "item"}), ROOT_ID, None)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        store
            .deserialize_item_into(&json!({"Kind": "link", "TargetId": "t"}), ROOT_ID, None)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidArgument
    );
    let bad_base64 = json!({"Kind": "item", "ValueKind": "binary", "Value": "***"});
    assert_eq!(
        store
            .new_entry_from_json_at(&bad_base64, ROOT_ID, None)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidData
    );
    let ok = json!({"Kind": "item"});
    let link = store.new_link_at(&x, ROOT_ID, None).unwrap();
    let after_link = json_of(&store);
    assert_eq!(
        store
            .new_entry_from_json_at(&ok, &link, None)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(
        store
            .new_entry_from_json_at(&ok, "missing", None)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidArgument
    );
    assert_eq!(json_of(&store), after_link);
    assert_ne!(before, after_link);
}

/// `new_entry_from_binary_at(entry.as_binary())` round-trips; bad bytes are `invalid-data`.
pub fn entry_binary_import<B: NewBackend>() {
    let mut store = new_store::<B>();
    let a = item(&mut store, ROOT_ID, "a");
    store.write_value(&a, "v").unwrap();
    let bytes = store.entry(&a).unwrap().as_binary();
    let copy = store
        .new_entry_from_binary_at(&bytes, ROOT_ID, None)
        .unwrap();
    let strip = |id: &str| {
        let mut v = store.entry(id).unwrap().as_json().to_value();
        v.as_object_mut().unwrap().remove("Id");
        v
    };
    assert_eq!(strip(&copy), strip(&a));
    for bad in [
        &b"plain"[..],
        &sds_core::gzip::compress(b"{not json")[..],
        &sds_core::gzip::compress(&[0xff, 0xfe])[..],
    ] {
        assert_eq!(
            store
                .new_entry_from_binary_at(bad, ROOT_ID, None)
                .unwrap_err()
                .code(),
            ErrorCode::InvalidData
        );
    }
}
