//! The MCP surface: initialisation, `tools/list`, result shapes, startup flags and the
//! configuration precedence (SPEC §16.1–§16.4).

mod common;

use common::{Mcp, command, temp};
use serde_json::{Value as JsonValue, json};
use std::process::Stdio;

/// The tools of SPEC §16.4 and their required parameters.
const TOOLS: [(&str, &[&str]); 20] = [
    ("sds_store_info", &["StoreId"]),
    ("sds_store_ping", &["StoreId", "ServerURL", "Token"]),
    ("sds_store_sync", &["StoreId", "ServerURL", "Token"]),
    ("sds_store_destroy", &["StoreId"]),
    ("sds_store_export", &["StoreId"]),
    ("sds_store_import", &["StoreId"]),
    ("sds_entry_create", &["StoreId"]),
    ("sds_entry_get", &["StoreId", "Id"]),
    ("sds_entry_list", &["StoreId", "Id"]),
    ("sds_entry_update", &["StoreId", "Id"]),
    ("sds_entry_move", &["StoreId", "Id", "to"]),
    ("sds_entry_delete", &["StoreId", "Id"]),
    ("sds_entry_restore", &["StoreId", "Id"]),
    ("sds_entry_purge", &["StoreId", "Id"]),
    ("sds_trash_list", &["StoreId"]),
    ("sds_trash_purge_all", &["StoreId"]),
    ("sds_trash_purge_expired", &["StoreId"]),
    ("sds_tree_show", &["StoreId"]),
    (
        "sds_token_issue",
        &["ServerURL", "AdminToken", "Sub", "Scope"],
    ),
    ("sds_batch", &["StoreId", "Commands"]),
];

#[test]
fn initialize_announces_sds_mcp_with_the_tools_capability_only() {
    let (_home, dir) = temp();
    let mcp = Mcp::in_dir(&dir);
    assert_eq!(mcp.info["serverInfo"]["name"], "sds-mcp");
    assert_eq!(mcp.info["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
    let capabilities = mcp.info["capabilities"].as_object().unwrap();
    assert_eq!(capabilities.keys().collect::<Vec<_>>(), ["tools"]);
}

#[test]
fn tools_list_has_the_twenty_tools_with_their_required_parameters() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    let response = mcp.request("tools/list", json!({}));
    let tools = response["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, TOOLS.map(|(name, _)| name));
    for (tool, (name, required)) in tools.iter().zip(TOOLS) {
        let schema = &tool["inputSchema"];
        assert_eq!(schema["type"], "object", "{name}");
        assert_eq!(schema["required"], json!(required), "{name}");
        let properties = schema["properties"].as_object().unwrap();
        for param in required {
            assert!(properties.contains_key(*param), "{name}: {param}");
        }
        for (param, spec) in properties {
            let kind = spec["type"].as_str().unwrap();
            assert!(
                ["string", "integer", "boolean", "array", "object"].contains(&kind),
                "{name}.{param}: {kind}"
            );
        }
    }
    let by_name = |name: &str| tools.iter().find(|t| t["name"] == name).unwrap();
    let props = |name: &str| by_name(name)["inputSchema"]["properties"].clone();
    assert_eq!(props("sds_entry_create")["at"]["type"], "integer");
    assert_eq!(props("sds_entry_create")["Info"]["type"], "object");
    assert_eq!(
        props("sds_entry_create")["InfoDelete"]["items"]["type"],
        "string"
    );
    assert_eq!(props("sds_entry_list")["recursive"]["type"], "boolean");
    assert_eq!(
        props("sds_entry_list")["only"]["enum"],
        json!(["items", "links"])
    );
    assert_eq!(
        props("sds_store_export")["Encoding"]["enum"],
        json!(["json", "binary"])
    );
    assert_eq!(
        props("sds_token_issue")["Scope"]["enum"],
        json!(["read", "write", "admin"])
    );
    assert_eq!(
        props("sds_batch")["onError"]["enum"],
        json!(["stop", "continue"])
    );
    assert_eq!(props("sds_batch")["Commands"]["type"], "array");
}

#[test]
fn results_are_compact_json_text_and_errors_set_is_error() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    let raw = mcp.call_raw("sds_store_info", json!({"StoreId": "s"}));
    assert_eq!(
        raw,
        json!({"content": [{"type": "text", "text": r#"{"StoreId":"s","exists":false}"#}]})
    );
    let raw = mcp.call_raw("sds_entry_get", json!({"StoreId": "s", "Id": "root"}));
    assert_eq!(
        raw,
        json!({
            "content": [{"type": "text", "text": format!("store 's' not found in '{}'", dir.display())}],
            "isError": true,
        })
    );
}

#[test]
fn unknown_tools_fail_with_is_error() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    assert_eq!(mcp.err("sds_nope", json!({})), "unknown tool: 'sds_nope'");
    assert_eq!(mcp.err("", json!({"StoreId": "s"})), "unknown tool: ''");
}

#[test]
fn unknown_flags_warn_on_stderr_and_are_ignored() {
    let (home, dir) = temp();
    let output = command(
        home.path(),
        &["--verbose", "--persistence-dir", dir.to_str().unwrap()],
        &[],
    )
    .stdin(Stdio::null())
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(
            "sds-mcp: unknown argument '--verbose' — known flags: --store, --persistence-dir, \
             --server, --token, --admin-token, --backend"
        ),
        "{stderr}"
    );
    assert!(output.stdout.is_empty(), "stdout carries MCP only");
}

#[test]
fn an_invalid_server_or_backend_exits_with_2() {
    let (home, _dir) = temp();
    let output = command(home.path(), &["--server", "http://x"], &[])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(output.stderr).unwrap().trim_end(),
        "sds-mcp: invalid '--server' URL 'http://x' — must start with 'ws://' or 'wss://'"
    );
    for (args, env) in [
        (&["--backend", "automerge"][..], &[][..]),
        (&[][..], &[("SDS_BACKEND", "nope")][..]),
    ] {
        let output = command(home.path(), args, env)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}");
    }
    // Valid values start normally (and end with the input).
    let output = command(home.path(), &["--server=wss://x", "--backend", "LORO"], &[])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
}

fn label_in(mcp: &mut Mcp, args: JsonValue) -> JsonValue {
    let created = mcp.ok("sds_entry_create", args.clone());
    let mut get = args;
    get["Id"] = created["Id"].clone();
    mcp.ok("sds_entry_get", get)["Label"].clone()
}

#[test]
fn parameters_beat_flags_beat_environment_beat_defaults() {
    let (home, _) = temp();
    let root = home.path();
    let [param_dir, flag_dir, env_dir] = ["p", "f", "e"].map(|d| root.join(d));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_owned();

    // Flags and environment both given: the flag wins, a parameter beats both.
    let mut mcp = Mcp::start(
        root,
        &["--store", "flag-store", "--persistence-dir", &s(&flag_dir)],
        &[
            ("SDS_STORE_ID", "env-store"),
            ("SDS_PERSISTENCE_DIR", &s(&env_dir)),
        ],
    );
    mcp.ok("sds_entry_create", json!({"Label": "a"}));
    assert!(flag_dir.join("flag-store.db").exists());
    assert!(!env_dir.exists());
    mcp.ok(
        "sds_entry_create",
        json!({"StoreId": "param-store", "PersistenceDir": s(&param_dir), "Label": "b"}),
    );
    assert!(param_dir.join("param-store.db").exists());
    drop(mcp);

    // Environment only.
    let mut mcp = Mcp::start(
        root,
        &[],
        &[
            ("SDS_STORE_ID", "env-store"),
            ("SDS_PERSISTENCE_DIR", &s(&env_dir)),
        ],
    );
    mcp.ok("sds_entry_create", json!({"Label": "c"}));
    assert!(env_dir.join("env-store.db").exists());
    drop(mcp);

    // Nothing: StoreId is required, the directory is ~/.sds.
    let mut mcp = Mcp::start(root, &[], &[]);
    assert_eq!(
        mcp.err("sds_entry_create", json!({})),
        "StoreId is required"
    );
    assert_eq!(
        mcp.err("sds_store_info", json!({"StoreId": ""})),
        "StoreId is required"
    );
    mcp.ok("sds_entry_create", json!({"StoreId": "home-store"}));
    assert!(root.join(".sds").join("home-store.db").exists());
}

#[test]
fn the_backend_follows_the_same_precedence() {
    let (home, dir) = temp();
    let d = dir.to_str().unwrap();
    // SDS_BACKEND=loro, no flag: a loro store.
    let mut mcp = Mcp::start(
        home.path(),
        &["--persistence-dir", d],
        &[("SDS_BACKEND", "loro")],
    );
    mcp.ok("sds_entry_create", json!({"StoreId": "l"}));
    assert_eq!(
        mcp.err("sds_tree_show", json!({"StoreId": "l", "Backend": "yrs"})),
        "store 'l' uses the loro backend — use --backend loro"
    );
    drop(mcp);
    // The flag beats the environment; the parameter beats the flag.
    let mut mcp = Mcp::start(
        home.path(),
        &["--persistence-dir", d, "--backend", "yrs"],
        &[("SDS_BACKEND", "loro")],
    );
    assert_eq!(
        mcp.err("sds_tree_show", json!({"StoreId": "l"})),
        "store 'l' uses the loro backend — use --backend loro"
    );
    assert!(
        mcp.call("sds_tree_show", json!({"StoreId": "l", "Backend": "loro"}))
            .is_ok()
    );
    assert_eq!(
        mcp.err("sds_tree_show", json!({"StoreId": "l", "Backend": "x"})),
        "'Backend' must be 'yrs' or 'loro' — got 'x'"
    );
    let _ = label_in(&mut mcp, json!({"StoreId": "y", "Label": "yrs store"}));
    assert_eq!(
        mcp.err("sds_tree_show", json!({"StoreId": "y", "Backend": "loro"})),
        "store 'y' uses the yrs backend — use --backend yrs"
    );
}

#[test]
fn parameters_of_the_wrong_type_are_refused() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    assert_eq!(
        mcp.err("sds_store_info", json!({"StoreId": 5})),
        "'StoreId' must be a string — got number"
    );
    assert_eq!(
        mcp.err("sds_entry_create", json!({"StoreId": "s", "Label": true})),
        "'Label' must be a string — got boolean"
    );
    let expected: JsonValue = json!(false);
    assert_eq!(
        mcp.ok("sds_store_info", json!({"StoreId": "s"}))["exists"],
        expected,
        "nothing was created by the refused calls"
    );
}
