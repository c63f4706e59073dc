//! Golden fixtures: documents written by the real loro-crdt (`tests/fixtures/loro/`, see its
//! README) read by sds-loro, and documents written by sds-loro checked against the SPEC §9
//! layout with raw loro and against the loro-crdt view recorded in `report-sds-written.json`.

use loro::{Container, LoroDoc, LoroMap, LoroValue, ValueOrContainer};
use sds_core::{Backend, LOST_AND_FOUND_ID};
use sds_loro::{LoroBackend, LoroStore};
use sds_testkit::golden::{LayoutCheck, LayoutTypes, report_entries, store_json};
use serde_json::Value as JsonValue;
use std::collections::BTreeMap;

mod common;

use common::loro_fixtures;

/// The purged (tombstoned) item of the fixture and the purged link to it.
const PURGED_ITEM: &str = "10000000-0000-4000-8000-00000000000b";
const PURGED_LINK: &str = "10000000-0000-4000-8000-00000000000c";
/// Purged by patch 0007.
const PURGED_BY_PATCH: &str = "10000000-0000-4000-8000-00000000000a";

fn load_snapshot() -> LoroStore {
    let fixtures = loro_fixtures();
    assert!(fixtures.read("snapshot.bin").starts_with(b"loro"));
    fixtures.load_snapshot()
}

/// The types of the SPEC §9.1 layout as raw loro shows them (see [`shape`]).
const LORO_TYPES: LayoutTypes = LayoutTypes {
    string: "String",
    text: "LoroText",
    map: "LoroMap",
    binary: "Binary",
    value_ref: "String",
};

/// The same types as loro-crdt reports them (`verify.mjs`).
const LORO_CRDT_REPORT_TYPES: LayoutTypes = LayoutTypes {
    string: "string",
    text: "container Text",
    map: "container Map",
    binary: "Uint8Array",
    value_ref: "string",
};

#[test]
fn loro_snapshot_and_patches_read_as_expected() {
    let fixtures = loro_fixtures();
    let mut store = load_snapshot();
    store.check_consistency().expect("consistent after loading");
    assert_eq!(
        store_json(&store),
        fixtures.read_json("expected-snapshot.json")
    );

    // The tombstones are absent, and the purged link is not live, so the repair pass that
    // follows a restore creates no placeholder for its purged target.
    for id in [PURGED_ITEM, PURGED_LINK] {
        assert!(store.entry(id).is_none(), "{id} is a tombstone");
        assert!(
            store.backend().entry_ids().iter().any(|k| k == id),
            "{id} is still a key of Entries"
        );
    }
    store.recover_orphans().expect("repair");
    assert!(store.entry(PURGED_ITEM).is_none(), "no placeholder");
    assert_eq!(store.inner_entry_ids(LOST_AND_FOUND_ID).len(), 0);
    assert_eq!(
        store_json(&store),
        fixtures.read_json("expected-snapshot.json")
    );

    fixtures.apply_patches_as_expected(&mut store);
    assert!(store.entry(PURGED_BY_PATCH).is_none());
    assert!(!store.backend().has_pending());
}

#[test]
fn loro_patches_in_reverse_order_are_held_and_converge() {
    let fixtures = loro_fixtures();
    let mut store = load_snapshot();
    fixtures.apply_patches_in_reverse(&mut store, |n, file, outcome, store| {
        // Every patch but the first depends on the one before it: loro holds it as pending.
        assert!(outcome.advanced, "{file}: new pending data is progress");
        assert_eq!(outcome.changed, n == 0, "{file}");
        assert_eq!(store.backend().has_pending(), n > 0, "{file}");
    });
}

// ---------------------------------------------------------------------------------------------
// A document written by sds-loro, read with raw loro
// ---------------------------------------------------------------------------------------------

/// What one field of an entry map holds, as raw loro shows it.
fn shape(value: &ValueOrContainer) -> &'static str {
    match value {
        ValueOrContainer::Container(Container::Text(_)) => "LoroText",
        ValueOrContainer::Container(Container::Map(_)) => "LoroMap",
        ValueOrContainer::Container(_) => "other container",
        ValueOrContainer::Value(LoroValue::String(_)) => "String",
        ValueOrContainer::Value(LoroValue::I64(_)) => "I64",
        ValueOrContainer::Value(LoroValue::Double(_)) => "Double",
        ValueOrContainer::Value(LoroValue::Binary(_)) => "Binary",
        ValueOrContainer::Value(LoroValue::Map(_)) => "Map value",
        ValueOrContainer::Value(LoroValue::List(_)) => "List value",
        ValueOrContainer::Value(LoroValue::Bool(_)) => "Bool",
        ValueOrContainer::Value(LoroValue::Null) => "Null",
        ValueOrContainer::Value(LoroValue::Container(_)) => "container reference",
    }
}

fn fields(entry: &LoroMap) -> BTreeMap<String, ValueOrContainer> {
    let mut fields = BTreeMap::new();
    entry.for_each(|key, value| {
        fields.insert(key.to_owned(), value);
    });
    fields
}

fn string_field(fields: &BTreeMap<String, ValueOrContainer>, key: &str) -> String {
    match fields.get(key) {
        Some(ValueOrContainer::Value(LoroValue::String(s))) => s.to_string(),
        other => panic!("{key} is {other:?}"),
    }
}

/// Every number inside a plain value is an I64 exactly when it is an integer with |n| ≤ 2^53.
fn assert_number_types(value: &LoroValue, at: &str) {
    match value {
        LoroValue::I64(i) => assert!(i.unsigned_abs() <= 1 << 53, "{at}: I64 {i} beyond 2^53"),
        LoroValue::Double(x) => assert!(
            !(x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0),
            "{at}: integral Double {x}"
        ),
        LoroValue::List(items) => items.iter().for_each(|i| assert_number_types(i, at)),
        LoroValue::Map(map) => map.values().for_each(|v| assert_number_types(v, at)),
        LoroValue::Container(_) => panic!("{at}: container reference inside a value"),
        _ => {}
    }
}

#[test]
fn sds_written_documents_have_the_spec_layout_in_raw_loro() {
    let built = common::build_every_field_store::<LoroBackend>();
    let snapshot = built.store.export_patch(None).expect("full state");
    assert!(snapshot.starts_with(b"loro"));

    let doc = LoroDoc::new();
    let status = doc.import(&snapshot).expect("imports");
    assert!(status.pending.is_none());
    let roots: Vec<String> = match doc.get_value() {
        LoroValue::Map(map) => map.keys().cloned().collect(),
        other => panic!("document value is {other:?}"),
    };
    assert_eq!(roots, ["Entries"]);

    let entries = doc.get_map("Entries");
    let ids: Vec<String> = entries.keys().map(|k| k.to_string()).collect();
    assert_eq!(
        ids.len(),
        built.store.entry_count() + 2,
        "every entry and the two tombstones"
    );
    let mut layout = LayoutCheck::new(LORO_TYPES);
    let mut tombstones = Vec::new();
    for id in &ids {
        let Some(ValueOrContainer::Container(Container::Map(entry))) = entries.get(id) else {
            panic!("{id}: entry is not a child LoroMap container");
        };
        let fields = fields(&entry);
        let kind = string_field(&fields, "Kind");
        if string_field(&fields, "outerItemId").is_empty() && id != sds_core::ROOT_ID {
            assert_eq!(string_field(&fields, "OrderKey"), "", "{id}: tombstone key");
            tombstones.push(id.clone());
        }
        let value_kind = match kind.as_str() {
            "link" => String::new(),
            _ => string_field(&fields, "ValueKind"),
        };
        let actual = fields.iter().map(|(k, v)| (k.as_str(), shape(v))).collect();
        layout.entry(id, &kind, &value_kind, actual);

        if let Some(ValueOrContainer::Container(Container::Map(info))) = fields.get("Info") {
            info.for_each(|key, value| {
                let ValueOrContainer::Value(value) = value else {
                    panic!("{id}: Info.{key} is a container");
                };
                assert_number_types(&value, &format!("{id}: Info.{key}"));
            });
        }
        if fields.contains_key("ValueRef") {
            let stored = string_field(&fields, "ValueRef");
            let parsed: JsonValue = serde_json::from_str(&stored).expect("ValueRef is JSON");
            let hash = parsed["Hash"].as_str().expect("Hash");
            assert_eq!(hash.len(), 64);
            let size = parsed["Size"].as_u64().expect("Size");
            assert_eq!(
                stored,
                format!(r#"{{"Hash":"{hash}","Size":{size}}}"#),
                "{id}: compact JSON, Hash first"
            );
        }
    }
    tombstones.sort();
    let mut purged = vec![built.purged_item.clone(), built.purged_link.clone()];
    purged.sort();
    assert_eq!(tombstones, purged, "purge writes tombstones");
    layout.finish();

    // Spot checks of values.
    let entry = |id: &str| match entries.get(id) {
        Some(ValueOrContainer::Container(Container::Map(m))) => fields(&m),
        _ => panic!("{id} missing"),
    };
    let emoji = entry(&built.emoji_item);
    match &emoji["Label"] {
        ValueOrContainer::Container(Container::Text(t)) => {
            assert_eq!(t.to_string(), common::EMOJI_LABEL);
            assert_eq!(t.len_utf16(), common::EMOJI_LABEL.encode_utf16().count());
        }
        other => panic!("label is {other:?}"),
    }
    let ValueOrContainer::Container(Container::Map(info)) = &emoji["Info"] else {
        panic!("no Info")
    };
    let info_value = |key: &str| match info.get(key) {
        Some(ValueOrContainer::Value(v)) => v,
        other => panic!("Info.{key} is {other:?}"),
    };
    assert_eq!(info_value("integer"), LoroValue::I64(42));
    assert_eq!(info_value("negative"), LoroValue::I64(-7));
    assert_eq!(info_value("large"), LoroValue::I64(1_700_000_000_000));
    assert_eq!(info_value("float"), LoroValue::Double(3.5));
    assert_eq!(info_value("tenth"), LoroValue::Double(0.1));
    assert_eq!(info_value("huge"), LoroValue::Double(1e300));
    assert_eq!(
        info_value("beyond-safe"),
        LoroValue::Double(9_007_199_254_740_994.0)
    );
    assert_eq!(
        info_value("cid-like"),
        LoroValue::from("cid:root-Entries:Map"),
        "container-id-like strings are written verbatim"
    );
    assert!(matches!(info_value("array"), LoroValue::List(_)));
    assert!(matches!(info_value("object"), LoroValue::Map(_)));
    let binary = entry(&built.binary_item);
    match &binary["binaryValue"] {
        ValueOrContainer::Value(LoroValue::Binary(bytes)) => {
            assert_eq!(bytes.to_vec(), (0u8..10).collect::<Vec<_>>())
        }
        other => panic!("binaryValue is {other:?}"),
    }
    let trashed = entry(&built.trashed_item);
    let ValueOrContainer::Container(Container::Map(info)) = &trashed["Info"] else {
        panic!("no Info")
    };
    assert_eq!(
        info.get("_trashedAt").map(|v| v.get_deep_value()),
        Some(LoroValue::I64(common::NOW_MS as i64))
    );
    let link = entry(&built.link);
    assert_eq!(string_field(&link, "TargetId"), built.literal_item);
    let json_item = entry(&built.json_item);
    assert_eq!(string_field(&json_item, "MIMEType"), "application/json");
    let root = entry(sds_core::ROOT_ID);
    assert_eq!(string_field(&root, "outerItemId"), "");
    assert_eq!(
        string_field(&root, "MIMEType"),
        "",
        "text/plain is stored as \"\""
    );
}

// ---------------------------------------------------------------------------------------------
// The same document as loro-crdt reads it (report written by hand with verify.mjs, see README)
// ---------------------------------------------------------------------------------------------

/// `value` with every number as an f64. sds prints an integral number beyond 2^53 as
/// `9007199254740994.0`, JavaScript as `9007199254740994`; both are the same f64.
fn numbers_as_f64(value: &JsonValue) -> JsonValue {
    match value {
        JsonValue::Number(n) => serde_json::Number::from_f64(n.as_f64().expect("finite"))
            .map_or(JsonValue::Null, JsonValue::Number),
        JsonValue::Array(items) => JsonValue::Array(items.iter().map(numbers_as_f64).collect()),
        JsonValue::Object(map) => JsonValue::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn sds_written_fixture_reads_the_same_in_sds_loro_and_loro_crdt() {
    let fixtures = loro_fixtures();
    let store = fixtures.load_sds_written::<LoroBackend>();
    let report = fixtures.sds_written_report("loro-crdt");
    assert_eq!(
        numbers_as_f64(&store_json(&store)),
        numbers_as_f64(&report["expected"]),
        "sds-loro and loro-crdt read the same tree"
    );

    // And loro-crdt saw the SPEC §9 runtime types, tombstones included.
    let entries = report_entries(&report, &LORO_CRDT_REPORT_TYPES);
    let tombstones = entries
        .iter()
        .filter(|(id, e)| *id != sds_core::ROOT_ID && e["value"]["outerItemId"]["value"] == "")
        .count();
    assert_eq!(tombstones, 2, "the purged item and link are tombstones");
    assert_eq!(entries.len(), store.entry_count() + tombstones);
    for (id, entry) in &entries {
        let fields = entry["value"].as_object().expect("fields");
        if let Some(info) = fields.get("Info") {
            for (key, value) in info["value"].as_object().expect("Info fields") {
                assert!(
                    !value["type"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("container"),
                    "{id}.Info.{key} is a plain value"
                );
            }
        }
    }
}
