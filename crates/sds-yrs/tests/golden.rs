//! Golden fixtures: documents written by the real Y.js (`tests/fixtures/yjs/`, see its README)
//! read by sds-yrs, and documents written by sds-yrs checked against the SPEC §9 layout with
//! raw yrs and against the Y.js view recorded in `report-sds-written.json`.

use sds_testkit::golden::{LayoutCheck, LayoutTypes, report_entries, store_json};
use sds_yrs::{YrsBackend, YrsStore};
use yrs::updates::decoder::Decode;
use yrs::{Any, Doc, GetString, Map, Number, Out, ReadTxn, Transact, Update};

mod common;

use common::yjs_fixtures;

/// The Y.js types of the SPEC §9.1 layout, as raw yrs shows them (see [`shape`]).
const YRS_TYPES: LayoutTypes = LayoutTypes {
    string: "string",
    text: "Y.Text",
    map: "Y.Map",
    binary: "buffer",
    value_ref: "any-map",
};

/// The same types as Y.js reports them (`verify.mjs`).
const YJS_REPORT_TYPES: LayoutTypes = LayoutTypes {
    string: "string",
    text: "Y.Text",
    map: "Y.Map",
    binary: "Uint8Array",
    value_ref: "object",
};

#[test]
fn yjs_snapshot_and_patches_read_as_expected() {
    let fixtures = yjs_fixtures();
    let mut store: YrsStore = fixtures.load_snapshot();
    store.check_consistency().expect("consistent after loading");
    assert_eq!(
        store_json(&store),
        fixtures.read_json("expected-snapshot.json")
    );
    fixtures.apply_patches_as_expected(&mut store);
}

#[test]
fn yjs_patches_in_reverse_order_converge_to_the_same_tree() {
    let fixtures = yjs_fixtures();
    let mut store: YrsStore = fixtures.load_snapshot();
    fixtures.apply_patches_in_reverse(&mut store, |_, _, _, _| {});
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
    let mut layout = LayoutCheck::new(YRS_TYPES);
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
        let value_kind = match fields.get("ValueKind") {
            Some(Out::Any(Any::String(vk))) => vk.to_string(),
            None if kind == "link" => String::new(),
            other => panic!("{id}: ValueKind is {other:?}"),
        };
        let actual = fields.iter().map(|(k, v)| (k.as_str(), shape(v))).collect();
        layout.entry(id, &kind, &value_kind, actual);

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
    layout.finish();

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
    let fixtures = yjs_fixtures();
    let store = fixtures.load_sds_written::<YrsBackend>();
    let report = fixtures.sds_written_report("Y.js");
    assert_eq!(
        store_json(&store),
        report["expected"],
        "sds-yrs and Y.js read the same tree"
    );

    // And Y.js saw the SPEC §9 runtime types.
    let entries = report_entries(&report, &YJS_REPORT_TYPES);
    assert_eq!(entries.len(), store.entry_count());
    for (id, entry) in &entries {
        let fields = entry["value"].as_object().expect("fields");
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
