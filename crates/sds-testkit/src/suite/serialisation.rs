//! SPEC §18.9 Serialisation.

use crate::helpers::*;
use sds_core::{NewBackend, ROOT_ID, Store, StoreOptions, Value, blob_hash};
use serde_json::json;

fn small<B: NewBackend>() -> Store<B> {
    Store::from_scratch(StoreOptions {
        literal_size_limit: 8,
        ..StoreOptions::default()
    })
    .unwrap()
}

/// Member names and order of items and links; `Type` is never `""`; padded base64.
pub fn json_shape_and_member_order<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = item(&mut store, ROOT_ID, "x");
    store.write_value(&x, vec![1u8, 2, 3, 4]).unwrap();
    store.set_info(&x, "k", json!(1)).unwrap();
    let l = store.new_link_at(&x, ROOT_ID, None).unwrap();
    let text = store.entry(&x).unwrap().as_json().to_json_string();
    assert_eq!(
        text,
        format!(
            r#"{{"Kind":"item","Id":"{x}","Label":"x","Type":"text/plain","ValueKind":"binary","Info":{{"k":1}},"innerEntries":[],"Value":"AQIDBA=="}}"#
        )
    );
    let text = store.entry(&l).unwrap().as_json().to_json_string();
    assert_eq!(
        text,
        format!(r#"{{"Kind":"link","Id":"{l}","Label":"","TargetId":"{x}","Info":{{}}}}"#)
    );
    let root = store.as_json().to_json_string();
    assert!(root.starts_with(&format!(r#"{{"Kind":"item","Id":"{ROOT_ID}","Label":"","Type":"text/plain","ValueKind":"none","Info":{{}},"innerEntries":[{{"Kind":"item","Id":"00000000-0000-4000-8000-000000000001","Label":"trash""#)));
    assert!(!root.contains(r#""Type":"""#));
    let pretty = store.as_json().to_json_string_pretty();
    assert!(pretty.contains("\n  \"Id\""));
}

/// Binary and JSON round trips keep everything.
pub fn binary_and_json_round_trips<B: NewBackend>() {
    let mut store = small::<B>();
    let a = item(&mut store, ROOT_ID, "a 😀");
    let b = item(&mut store, &a, "b");
    store.write_value(&a, "lit").unwrap();
    store.write_value(&b, vec![0u8, 255]).unwrap();
    store.new_link_at(&a, &b, None).unwrap();
    store
        .set_info(&b, "o", json!({"z": [1, 2.5], "a": null}))
        .unwrap();
    let json = json_of(&store);
    let from_binary = Store::<B>::from_binary(&store.as_binary(), StoreOptions::default()).unwrap();
    assert_eq!(json_of(&from_binary), json);
    let from_json = Store::<B>::from_json(&json, StoreOptions::default()).unwrap();
    assert_eq!(json_of(&from_json), json);
}

/// Large literal and binary values survive JSON export and import (F8).
pub fn large_values_survive_json<B: NewBackend>() {
    let mut store = small::<B>();
    let t = item(&mut store, ROOT_ID, "text");
    let bin = item(&mut store, ROOT_ID, "bin");
    let long = "long text value".repeat(10);
    let bytes: Vec<u8> = (0..4000u32).map(|i| (i * 7 % 256) as u8).collect();
    store.write_value(&t, long.as_str()).unwrap();
    store.write_value(&bin, bytes.clone()).unwrap();
    let json = json_of(&store);
    assert_eq!(json["innerEntries"][2]["Value"], json!(long));
    assert_eq!(
        json["innerEntries"][2]["ValueRef"]["Size"],
        json!(long.len())
    );
    let copy = Store::<B>::from_json(&json, store.options().clone()).unwrap();
    assert_eq!(copy.read_value(&t).unwrap(), Value::Text(long.clone()));
    assert_eq!(copy.read_value(&bin).unwrap(), Value::Bytes(bytes));
    assert_eq!(json_of(&copy), json);
    // With the default limit the long text is stored inline again: the kind is chosen anew.
    let inline = Store::<B>::from_json(&json, StoreOptions::default()).unwrap();
    assert_eq!(inline.read_value(&t).unwrap(), Value::Text(long));
    assert_eq!(
        inline.entry(&t).unwrap().value_kind(),
        &sds_core::ValueKind::Literal
    );
}

/// A reference whose blob is missing exports only `ValueRef` and imports as pending.
pub fn unavailable_blobs_export_value_ref_only<B: NewBackend>() {
    let mut a = small::<B>();
    let x = item(&mut a, ROOT_ID, "x");
    a.write_value(&x, "this is far too long").unwrap();
    let mut b = small::<B>();
    sync_pair(&mut a, &mut b);
    let exported = b.entry(&x).unwrap().as_json().to_value();
    assert!(exported.get("Value").is_none());
    assert_eq!(
        exported["ValueRef"]["Hash"],
        json!(blob_hash(b"this is far too long"))
    );
    let mut c = small::<B>();
    let y = c.new_entry_from_json_at(&exported, ROOT_ID, None).unwrap();
    assert!(c.read_value(&y).unwrap().is_pending());
    assert_eq!(c.value_ref_of(&y).unwrap(), b.value_ref_of(&x).unwrap());
}

/// JSON written by JS SDS (references without `ValueRef` or `Value`) imports as pending.
pub fn js_json_without_value_ref_imports_as_pending<B: NewBackend>() {
    let js = json!({"Kind": "item", "Id": ROOT_ID, "Label": "", "Type": "text/plain", "ValueKind": "none",
    "Info": {}, "innerEntries": [
        {"Kind": "item", "Id": "big-1", "Label": "big", "Type": "text/plain", "ValueKind": "literal-reference", "Info": {}, "innerEntries": []},
        {"Kind": "item", "Id": "bin-1", "Label": "bin", "Type": "image/png", "ValueKind": "binary-reference", "Info": {}, "innerEntries": []}
    ]});
    let store = Store::<B>::from_json(&js, StoreOptions::default()).unwrap();
    for id in ["big-1", "bin-1"] {
        assert!(store.read_value(id).unwrap().is_pending());
        assert_eq!(store.value_ref_of(id).unwrap(), None);
    }
    assert_invariants(&store);
}

/// `entry.as_binary()` is gzip of the JSON and imports again.
pub fn entry_binary_round_trips<B: NewBackend>() {
    let mut store = new_store::<B>();
    let a = item(&mut store, ROOT_ID, "a");
    item(&mut store, &a, "b");
    let bytes = store.entry(&a).unwrap().as_binary();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    let text = String::from_utf8(sds_core::gzip::decompress(&bytes).unwrap()).unwrap();
    assert_eq!(text, store.entry(&a).unwrap().as_json().to_json_string());
    let copy = store
        .new_entry_from_binary_at(&bytes, ROOT_ID, None)
        .unwrap();
    assert_ne!(copy, a);
    assert_eq!(store.entry(&copy).unwrap().label(), "a");
    assert_eq!(
        store.entry(&copy).unwrap().inner_entry_list()[0].label(),
        "b"
    );
}
