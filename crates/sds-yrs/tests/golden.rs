//! Golden fixtures: documents written by the real Y.js (`tests/fixtures/yjs/`, see its README)
//! read by sds-yrs, and documents written by sds-yrs checked against the SPEC §9 layout with
//! raw yrs and against the Y.js view recorded in `report-sds-written.json`.

use sds_core::gzip::compress;
use sds_core::{StoreOptions, gzip};
use sds_yrs::YrsStore;
use serde_json::Value as JsonValue;
use std::path::{Path, PathBuf};
use yrs::updates::decoder::Decode;
use yrs::{Any, Doc, GetString, Map, Number, Out, ReadTxn, Transact, Update};

mod common;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yjs")
}

fn read(name: &str) -> Vec<u8> {
    let path = fixtures().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn read_json(name: &str) -> JsonValue {
    serde_json::from_slice(&read(name)).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn store_json(store: &YrsStore) -> JsonValue {
    serde_json::from_str(&store.as_json().to_json_string()).expect("store JSON parses")
}

#[test]
fn yjs_snapshot_and_patches_read_as_expected() {
    let snapshot = read("snapshot.bin");
    let mut store = YrsStore::from_binary(&compress(&snapshot), StoreOptions::default())
        .expect("the Y.js snapshot loads");
    store.check_consistency().expect("consistent after loading");
    assert_eq!(store_json(&store), read_json("expected-snapshot.json"));

    let patches = read_json("patches.json");
    let patches = patches.as_array().expect("patches.json is a list");
    assert_eq!(patches.len(), 8);
    for patch in patches {
        let file = patch["file"].as_str().expect("file name");
        let outcome = store
            .apply_remote_patch(&read(file))
            .unwrap_or_else(|e| panic!("{file} does not apply: {e}"));
        assert!(outcome.advanced, "{file} advanced the document");
        assert!(outcome.changed, "{file} changed the tree");
        store
            .check_consistency()
            .unwrap_or_else(|e| panic!("inconsistent after {file}: {e}"));
    }
    assert_eq!(store_json(&store), read_json("expected-after-patches.json"));

    // Re-applying every patch changes nothing.
    for patch in patches {
        let file = patch["file"].as_str().expect("file name");
        let outcome = store.apply_remote_patch(&read(file)).expect("re-applies");
        assert!(
            !outcome.advanced && !outcome.changed,
            "{file} applied twice"
        );
    }
}

#[test]
fn yjs_patches_in_reverse_order_converge_to_the_same_tree() {
    let mut store =
        YrsStore::from_binary(&compress(&read("snapshot.bin")), StoreOptions::default())
            .expect("the Y.js snapshot loads");
    for n in (1..=8).rev() {
        store
            .apply_remote_patch(&read(&format!("patches/{n:04}.bin")))
            .expect("applies");
        store.check_consistency().expect("consistent");
    }
    assert_eq!(store_json(&store), read_json("expected-after-patches.json"));
}

// ---------------------------------------------------------------------------------------------
// A document written by sds-yrs, read with raw yrs
// ---------------------------------------------------------------------------------------------

/// What one field of an entry map holds, as raw yrs shows it.
fn shape(value: &Out) -> &'static str {
    match value {
        Out::YText(_) => "Y.Text",
        Out::YMap(_) => "Y.Map",
        Out::Any(Any::String(_)) => "string",
        Out::Any(Any::Number(Number::Float(_))) => "float",
        Out::Any(Any::Number(Number::Int(_))) => "int",
        Out::Any(Any::Buffer(_)) => "buffer",
        Out::Any(Any::Map(_)) => "any-map",
        Out::Any(Any::Array(_)) => "any-array",
        Out::Any(Any::Bool(_)) => "bool",
        Out::Any(Any::Null) => "null",
        _ => "other",
    }
}

/// Every number inside an `Any` is a float (never an Int that could become a BigInt).
fn assert_floats_only(any: &Any, at: &str) {
    match any {
        Any::Number(Number::Int(_)) => panic!("{at}: integer Any (would encode as BigInt)"),
        Any::Array(items) => items.iter().for_each(|i| assert_floats_only(i, at)),
        Any::Map(map) => map.values().for_each(|v| assert_floats_only(v, at)),
        _ => {}
    }
}

#[test]
fn sds_written_documents_have_the_spec_layout_in_raw_yrs() {
    let built = common::build_every_field_store();
    let patch = built.store.export_patch(None).expect("full state");

    let doc = Doc::new();
    let entries = doc.get_or_insert_map("Entries");
    doc.transact_mut()
        .apply_update(Update::decode_v1(&patch).expect("decodes"))
        .expect("applies");
    let txn = doc.transact();
    assert!(txn.store().pending_update().is_none());
    let roots: Vec<String> = txn.root_refs().map(|(name, _)| name.to_owned()).collect();
    assert_eq!(roots, ["Entries"]);

    let ids: Vec<String> = entries.keys(&txn).map(str::to_owned).collect();
    assert_eq!(ids.len(), built.store.entry_count(), "every entry, no more");
    let mut seen_kinds = std::collections::BTreeSet::new();
    for id in &ids {
        let Some(Out::YMap(entry)) = entries.get(&txn, id) else {
            panic!("{id}: entry is not a Y.Map");
        };
        let fields: std::collections::BTreeMap<String, Out> =
            entry.iter(&txn).map(|(k, v)| (k.to_owned(), v)).collect();
        let kind = match fields.get("Kind") {
            Some(Out::Any(Any::String(s))) => s.to_string(),
            other => panic!("{id}: Kind is {other:?}"),
        };
        let mut expected: Vec<(&str, &str)> = vec![
            ("Kind", "string"),
            ("outerItemId", "string"),
            ("OrderKey", "string"),
            ("Label", "Y.Text"),
            ("Info", "Y.Map"),
        ];
        if kind == "link" {
            expected.push(("TargetId", "string"));
        } else {
            assert_eq!(kind, "item", "{id}");
            expected.push(("MIMEType", "string"));
            expected.push(("ValueKind", "string"));
            match fields.get("ValueKind") {
                Some(Out::Any(Any::String(vk))) => {
                    seen_kinds.insert(vk.to_string());
                    match vk.as_ref() {
                        "literal" => expected.push(("literalValue", "Y.Text")),
                        "binary" => expected.push(("binaryValue", "buffer")),
                        "literal-reference" | "binary-reference" => {
                            expected.push(("ValueRef", "any-map"))
                        }
                        _ => {}
                    }
                }
                other => panic!("{id}: ValueKind is {other:?}"),
            }
        }
        let mut actual: Vec<(&str, &str)> =
            fields.iter().map(|(k, v)| (k.as_str(), shape(v))).collect();
        actual.sort();
        expected.sort();
        assert_eq!(actual, expected, "{id}: fields and their types");

        if let Some(Out::YMap(info)) = fields.get("Info") {
            for (key, value) in info.iter(&txn) {
                let Out::Any(any) = &value else {
                    panic!("{id}: Info.{key} is a shared type");
                };
                assert_floats_only(any, &format!("{id}: Info.{key}"));
            }
        }
        if let Some(Out::Any(Any::Map(value_ref))) = fields.get("ValueRef") {
            assert!(matches!(value_ref.get("Hash"), Some(Any::String(h)) if h.len() == 64));
            assert!(matches!(
                value_ref.get("Size"),
                Some(Any::Number(Number::Float(_)))
            ));
            assert_eq!(
                value_ref.len(),
                2,
                "{id}: ValueRef has exactly Hash and Size"
            );
        }
    }
    for kind in ["none", "literal", "binary", "literal-reference"] {
        assert!(seen_kinds.contains(kind), "the document has a {kind} item");
    }

    // Spot checks of values.
    let entry = |id: &str| match entries.get(&txn, id) {
        Some(Out::YMap(m)) => m,
        _ => panic!("{id} missing"),
    };
    let emoji = entry(&built.emoji_item);
    match emoji.get(&txn, "Label") {
        Some(Out::YText(t)) => assert_eq!(t.get_string(&txn), common::EMOJI_LABEL),
        other => panic!("label is {other:?}"),
    }
    let Some(Out::YMap(info)) = emoji.get(&txn, "Info") else {
        panic!("no Info")
    };
    assert_eq!(
        info.get(&txn, "integer"),
        Some(Out::Any(Any::Number(Number::Float(42.0))))
    );
    assert_eq!(
        info.get(&txn, "float"),
        Some(Out::Any(Any::Number(Number::Float(3.5))))
    );
    let binary = entry(&built.binary_item);
    assert_eq!(
        binary.get(&txn, "binaryValue"),
        Some(Out::Any(Any::Buffer((0u8..10).collect::<Vec<_>>().into())))
    );
    let trashed = entry(&built.trashed_item);
    let Some(Out::YMap(info)) = trashed.get(&txn, "Info") else {
        panic!("no Info")
    };
    assert!(matches!(
        info.get(&txn, "_trashedAt"),
        Some(Out::Any(Any::Number(Number::Float(t)))) if t == common::NOW_MS as f64
    ));
    let link = entry(&built.link);
    assert_eq!(
        link.get(&txn, "TargetId"),
        Some(Out::Any(Any::String(built.literal_item.as_str().into())))
    );
    let json_item = entry(&built.json_item);
    assert_eq!(
        json_item.get(&txn, "MIMEType"),
        Some(Out::Any(Any::String("application/json".into())))
    );
}

// ---------------------------------------------------------------------------------------------
// The same document as Y.js reads it (report written by hand with verify.mjs, see README)
// ---------------------------------------------------------------------------------------------

#[test]
fn sds_written_fixture_reads_the_same_in_sds_yrs_and_yjs() {
    let bytes = read("sds-written.bin");
    let payload = gzip::decompress(&bytes).expect("sds-written.bin is an as_binary() file");
    assert_eq!(gzip::detect_backend(&payload), "yrs");
    let store = YrsStore::from_binary(&bytes, StoreOptions::default()).expect("loads");
    store.check_consistency().expect("consistent");

    let report = read_json("report-sds-written.json");
    assert!(
        report
            .get("notes")
            .and_then(|n| n.as_array())
            .is_none_or(|notes| {
                notes
                    .iter()
                    .all(|n| n.as_str().is_some_and(|s| s.ends_with("gunzipped")))
            }),
        "Y.js integrated everything: {:?}",
        report.get("notes")
    );
    assert_eq!(
        store_json(&store),
        report["expected"],
        "sds-yrs and Y.js read the same tree"
    );

    // And Y.js saw the SPEC §9 runtime types.
    let entries = report["report"]["entries"].as_object().expect("entries");
    assert_eq!(entries.len(), store.entry_count());
    for (id, entry) in entries {
        assert_eq!(entry["type"], "Y.Map", "{id}");
        let fields = entry["value"].as_object().expect("fields");
        for (key, field) in fields {
            let expected = match key.as_str() {
                "Label" | "literalValue" => "Y.Text",
                "Info" => "Y.Map",
                "binaryValue" => "Uint8Array",
                "ValueRef" => "object",
                _ => "string",
            };
            assert_eq!(field["type"], expected, "{id}.{key}");
        }
        if let Some(info) = fields.get("Info") {
            for (key, value) in info["value"].as_object().expect("Info fields") {
                assert_ne!(value["type"], "bigint", "{id}.Info.{key}");
            }
        }
        if let Some(value_ref) = fields.get("ValueRef") {
            assert!(value_ref["value"]["Hash"].is_string());
            assert!(value_ref["value"]["Size"].is_number());
        }
    }
}
