//! `sds_batch` (SPEC §16.6): up-front validation, allowed tools, `stop` and `continue`, one
//! open store for all steps.

mod common;

use common::{Mcp, temp};
use serde_json::json;

#[test]
fn batch_is_validated_before_anything_runs() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    let create = json!({"Tool": "sds_entry_create", "Params": {}});
    for (args, message) in [
        (json!({"Commands": []}), "StoreId is required".to_owned()),
        (
            json!({"StoreId": "s"}),
            "Commands must be an array".to_owned(),
        ),
        (
            json!({"StoreId": "s", "Commands": {}}),
            "Commands must be an array".to_owned(),
        ),
        (
            json!({"StoreId": "s", "Commands": [], "onError": "ask"}),
            "'onError' must be 'stop' or 'continue' — got 'ask'".to_owned(),
        ),
        (
            json!({"StoreId": "s", "Commands": [create, {"Tool": 1, "Params": {}}]}),
            "each Command must have a string Tool field".to_owned(),
        ),
        (
            json!({"StoreId": "s", "Commands": [create, {"Params": {}}]}),
            "each Command must have a string Tool field".to_owned(),
        ),
        (
            json!({"StoreId": "s", "Commands": [create, {"Tool": "sds_entry_get", "Params": []}]}),
            "Command for 'sds_entry_get' must have a Params object".to_owned(),
        ),
        (
            json!({"StoreId": "s", "Commands": [create, {"Tool": "sds_entry_get"}]}),
            "Command for 'sds_entry_get' must have a Params object".to_owned(),
        ),
    ] {
        assert_eq!(mcp.err("sds_batch", args.clone()), message, "{args}");
    }
    for tool in [
        "sds_store_ping",
        "sds_store_destroy",
        "sds_token_issue",
        "sds_batch",
        "sds_nope",
    ] {
        assert_eq!(
            mcp.err(
                "sds_batch",
                json!({"StoreId": "s", "Commands": [create, {"Tool": tool, "Params": {}}]}),
            ),
            format!("tool '{tool}' is not allowed inside sds_batch")
        );
    }
    assert_eq!(
        mcp.ok("sds_store_info", json!({"StoreId": "s"}))["exists"],
        false,
        "no rejected batch created the store"
    );
}

#[test]
fn batch_runs_steps_in_order_on_one_store() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    let result = mcp.ok(
        "sds_batch",
        json!({"StoreId": "s", "Commands": [
            {"Tool": "sds_store_info", "Params": {"StoreId": "ignored", "PersistenceDir": "/nonexistent"}},
            {"Tool": "sds_entry_create", "Params": {"Label": "one"}},
            {"Tool": "sds_entry_create", "Params": {"Label": "two", "at": 0}},
            {"Tool": "sds_entry_list", "Params": {"Id": "root", "Fields": ["Label"]}},
            {"Tool": "sds_trash_purge_all", "Params": {}},
        ]}),
    );
    let results = result["Results"].as_array().unwrap();
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|r| r["ok"] == true), "{result}");
    assert_eq!(results[0]["Tool"], "sds_store_info");
    assert_eq!(results[0]["Result"]["exists"], true);
    assert_eq!(results[0]["Result"]["StoreId"], "s");
    assert_eq!(results[0]["Result"]["EntryCount"], 0);
    let listed: Vec<_> = results[3]["Result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Label"].clone())
        .collect();
    assert_eq!(listed, [json!("two"), json!("one")]);
    assert!(!std::path::Path::new("/nonexistent").exists());
    // The steps were durable: a later call sees them.
    assert_eq!(
        mcp.ok("sds_store_info", json!({"StoreId": "s"}))["EntryCount"],
        2
    );
}

#[test]
fn the_first_failure_stops_the_batch_unless_on_error_is_continue() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    let commands = json!([
        {"Tool": "sds_entry_create", "Params": {"Label": "before"}},
        {"Tool": "sds_entry_get", "Params": {"Id": "missing"}},
        {"Tool": "sds_entry_create", "Params": {"Label": "after", "at": -1}},
        {"Tool": "sds_entry_create", "Params": {"Label": "last"}},
    ]);
    let stopped = mcp.ok("sds_batch", json!({"StoreId": "s", "Commands": commands}));
    let results = stopped["Results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["ok"], true);
    assert_eq!(
        results[1],
        json!({"Tool": "sds_entry_get", "ok": false, "Error": "entry 'missing' not found"})
    );
    assert_eq!(
        mcp.ok("sds_store_info", json!({"StoreId": "s"}))["EntryCount"],
        1
    );

    let continued = mcp.ok(
        "sds_batch",
        json!({"StoreId": "s", "Commands": commands, "onError": "continue"}),
    );
    let results = continued["Results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(
        results.iter().map(|r| r["ok"].clone()).collect::<Vec<_>>(),
        [json!(true), json!(false), json!(false), json!(true)]
    );
    assert_eq!(
        results[2]["Error"],
        "'at' must be a non-negative integer — got -1"
    );
    assert_eq!(
        mcp.ok("sds_store_info", json!({"StoreId": "s"}))["EntryCount"],
        3
    );
}

#[test]
fn a_batch_creates_a_missing_store_on_the_chosen_backend() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    let result = mcp.ok(
        "sds_batch",
        json!({"StoreId": "l", "Backend": "loro", "Commands": [
            {"Tool": "sds_tree_show", "Params": {"Depth": 1}},
        ]}),
    );
    assert_eq!(
        result["Results"][0]["Result"]["Root"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        mcp.err("sds_tree_show", json!({"StoreId": "l"})),
        "store 'l' uses the loro backend — use --backend loro"
    );
    // An empty batch still opens (and creates) the store.
    assert_eq!(
        mcp.ok("sds_batch", json!({"StoreId": "e", "Commands": []})),
        json!({"Results": []})
    );
    assert_eq!(
        mcp.ok("sds_store_info", json!({"StoreId": "e"}))["exists"],
        true
    );
}
