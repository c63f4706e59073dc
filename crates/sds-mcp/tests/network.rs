//! The network tools against a real relay server on 127.0.0.1: `sds_store_ping`,
//! `sds_store_sync` (also as a batch step) and `sds_token_issue`.

mod common;

use common::{Mcp, TestServer, claims, dead_url, temp, token};
use serde_json::json;

#[test]
fn ping_connects_and_authenticates_without_local_side_effects() {
    let server = TestServer::start();
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    let url = server.url.clone();
    assert_eq!(
        mcp.ok(
            "sds_store_ping",
            json!({"StoreId": "s", "ServerURL": url, "Token": token("s", "read")}),
        ),
        json!({"Server": url, "StoreId": "s", "reachable": true})
    );
    // A token for another store is refused by the server.
    let refused = mcp.ok(
        "sds_store_ping",
        json!({"StoreId": "s", "ServerURL": url, "Token": token("other", "write")}),
    );
    assert_eq!(refused["reachable"], false);
    assert_eq!(refused["Server"], json!(url));
    assert!(
        refused["Error"]
            .as_str()
            .unwrap()
            .starts_with("token rejected by server: 4003"),
        "{refused}"
    );
    let garbage = mcp.ok(
        "sds_store_ping",
        json!({"StoreId": "s", "ServerURL": url, "Token": "not-a-jwt"}),
    );
    assert!(
        garbage["Error"]
            .as_str()
            .unwrap()
            .starts_with("token rejected by server: 4001"),
        "{garbage}"
    );
    let dead = dead_url();
    let unreachable = mcp.ok(
        "sds_store_ping",
        json!({"StoreId": "s", "ServerURL": dead, "Token": "t"}),
    );
    assert_eq!(unreachable["reachable"], false);
    assert!(!unreachable["Error"].as_str().unwrap().is_empty());
    for (args, message) in [
        (
            json!({"ServerURL": url, "Token": "t"}),
            "StoreId is required",
        ),
        (
            json!({"StoreId": "s", "Token": "t"}),
            "ServerURL is required",
        ),
        (
            json!({"StoreId": "s", "ServerURL": url}),
            "Token is required",
        ),
        (
            json!({"StoreId": "s", "ServerURL": "http://h", "Token": "t"}),
            "invalid ServerURL 'http://h' — must start with 'ws://' or 'wss://'",
        ),
    ] {
        assert_eq!(mcp.err("sds_store_ping", args.clone()), message, "{args}");
    }
    assert!(!dir.exists(), "ping never touches the local database");
    drop(mcp);
    server.stop();
}

#[test]
fn ping_takes_server_and_token_from_flags_or_environment() {
    let server = TestServer::start();
    let (home, dir) = temp();
    let good = token("s", "write");
    let mut mcp = Mcp::start(
        home.path(),
        &[
            "--persistence-dir",
            dir.to_str().unwrap(),
            "--server",
            &server.url,
        ],
        &[("SDS_TOKEN", &good), ("SDS_STORE_ID", "s")],
    );
    assert_eq!(mcp.ok("sds_store_ping", json!({}))["reachable"], true);
    // The parameter beats the environment.
    let refused = mcp.ok("sds_store_ping", json!({"Token": "bad"}));
    assert_eq!(refused["reachable"], false);
    drop(mcp);
    server.stop();
}

fn labels(mcp: &mut Mcp, store: &str) -> Vec<String> {
    mcp.ok(
        "sds_entry_list",
        json!({"StoreId": store, "Id": "root", "Fields": ["Label"]}),
    )
    .as_array()
    .unwrap()
    .iter()
    .map(|e| e["Label"].as_str().unwrap().to_owned())
    .collect()
}

#[test]
fn sync_exchanges_state_through_the_server() {
    let server = TestServer::start();
    let (_home_a, dir_a) = temp();
    let (_home_b, dir_b) = temp();
    let mut a = Mcp::in_dir(&dir_a);
    let mut b = Mcp::in_dir(&dir_b);
    let url = server.url.clone();
    let write = token("shared", "write");
    a.ok(
        "sds_entry_create",
        json!({"StoreId": "shared", "Label": "from a"}),
    );
    let args = json!({"StoreId": "shared", "ServerURL": url, "Token": write, "TimeoutMs": 1500});
    assert_eq!(
        a.ok("sds_store_sync", args.clone()),
        json!({"StoreId": "shared", "Server": url, "synced": true})
    );
    // B has no store yet: sync creates it and brings A's entry.
    b.ok("sds_store_sync", args);
    assert_eq!(labels(&mut b, "shared"), ["from a"]);

    for (args, message) in [
        (
            json!({"StoreId": "shared", "ServerURL": url, "Token": write, "TimeoutMs": 0}),
            "'TimeoutMs' must be a positive integer — got 0".to_owned(),
        ),
        (
            json!({"StoreId": "shared", "ServerURL": url, "Token": write, "TimeoutMs": "5"}),
            "'TimeoutMs' must be a positive integer — got \"5\"".to_owned(),
        ),
        (
            json!({"StoreId": "shared", "Token": write}),
            "ServerURL is required".to_owned(),
        ),
        (
            json!({"StoreId": "shared", "ServerURL": url}),
            "Token is required".to_owned(),
        ),
    ] {
        assert_eq!(a.err("sds_store_sync", args.clone()), message, "{args}");
    }
    let dead = dead_url();
    let message = a.err(
        "sds_store_sync",
        json!({"StoreId": "shared", "ServerURL": dead, "Token": write, "TimeoutMs": 100}),
    );
    assert!(
        message.starts_with(&format!("could not connect to '{dead}': ")),
        "{message}"
    );
    let message = a.err(
        "sds_store_sync",
        json!({"StoreId": "shared", "ServerURL": url, "Token": token("x", "write"), "TimeoutMs": 100}),
    );
    assert!(
        message.starts_with(&format!("could not connect to '{url}': ")),
        "{message}"
    );
    // The failed attempts left the store as it was.
    assert_eq!(labels(&mut a, "shared"), ["from a"]);
    drop((a, b));
    server.stop();
}

#[test]
fn a_batch_sync_step_uses_the_startup_credentials_and_continues() {
    let server = TestServer::start();
    let (home, dir) = temp();
    let write = token("b", "write");
    let mut mcp = Mcp::start(
        home.path(),
        &[
            "--persistence-dir",
            dir.to_str().unwrap(),
            "--server",
            &server.url,
            "--token",
            &write,
        ],
        &[],
    );
    let dead = dead_url();
    let result = mcp.ok(
        "sds_batch",
        json!({"StoreId": "b", "onError": "continue", "Commands": [
            {"Tool": "sds_entry_create", "Params": {"Label": "before"}},
            {"Tool": "sds_store_sync", "Params": {"TimeoutMs": 300}},
            {"Tool": "sds_store_sync", "Params": {"ServerURL": dead, "TimeoutMs": 100}},
            {"Tool": "sds_entry_create", "Params": {"Label": "after"}},
            {"Tool": "sds_entry_list", "Params": {"Id": "root", "Fields": ["Label"]}},
        ]}),
    );
    let results = result["Results"].as_array().unwrap();
    assert_eq!(
        results[1],
        json!({"Tool": "sds_store_sync", "ok": true,
               "Result": {"StoreId": "b", "Server": server.url, "synced": true}})
    );
    assert_eq!(results[2]["ok"], false);
    assert!(
        results[2]["Error"]
            .as_str()
            .unwrap()
            .starts_with("could not connect to")
    );
    assert_eq!(results[3]["ok"], true, "the session stays usable");
    assert_eq!(
        results[4]["Result"],
        json!([{"Id": results[0]["Result"]["Id"], "Kind": "item", "Label": "before"},
               {"Id": results[3]["Result"]["Id"], "Kind": "item", "Label": "after"}])
    );

    // Another peer receives what the batch synced.
    let (_other_home, other_dir) = temp();
    let mut other = Mcp::in_dir(&other_dir);
    other.ok(
        "sds_store_sync",
        json!({"StoreId": "b", "ServerURL": server.url, "Token": write, "TimeoutMs": 1500}),
    );
    assert_eq!(labels(&mut other, "b"), ["before"]);
    drop((mcp, other));
    server.stop();
}

#[test]
fn token_issue_posts_to_the_server() {
    let server = TestServer::start();
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    let url = server.url.clone();
    let admin = token("s", "admin");
    let issued = mcp.ok(
        "sds_token_issue",
        json!({"ServerURL": url, "AdminToken": admin, "Sub": "ada", "Scope": "read", "Exp": "2h"}),
    );
    assert_eq!(issued["Sub"], "ada");
    assert_eq!(issued["Scope"], "read");
    assert_eq!(issued["Exp"], "2h");
    let issued_token = issued["Token"].as_str().unwrap();
    let claims = claims(issued_token);
    assert_eq!((claims.sub.as_str(), claims.aud.as_str()), ("ada", "s"));
    assert_eq!(
        mcp.ok(
            "sds_store_ping",
            json!({"StoreId": "s", "ServerURL": url, "Token": issued_token}),
        )["reachable"],
        true
    );
    let default_exp = mcp.ok(
        "sds_token_issue",
        json!({"ServerURL": format!("{url}/"), "AdminToken": admin, "Sub": "b", "Scope": "write"}),
    );
    assert_eq!(default_exp["Exp"], "24h");

    let http = format!("{}/api/token", url.replacen("ws://", "http://", 1));
    let dead = dead_url();
    for (args, message) in [
        (
            json!({"AdminToken": admin, "Sub": "a", "Scope": "read"}),
            "ServerURL is required".to_owned(),
        ),
        (
            json!({"ServerURL": url, "Sub": "a", "Scope": "read"}),
            "AdminToken is required".to_owned(),
        ),
        (
            json!({"ServerURL": url, "AdminToken": admin, "Scope": "read"}),
            "Sub is required".to_owned(),
        ),
        (
            json!({"ServerURL": url, "AdminToken": admin, "Sub": "a"}),
            "Scope is required".to_owned(),
        ),
        (
            json!({"ServerURL": "https://x", "AdminToken": admin, "Sub": "a", "Scope": "read"}),
            "invalid ServerURL 'https://x' — must start with 'ws://' or 'wss://'".to_owned(),
        ),
        (
            json!({"ServerURL": url, "AdminToken": admin, "Sub": "a", "Scope": "owner"}),
            "invalid Scope 'owner' — must be read, write, or admin".to_owned(),
        ),
        (
            json!({"ServerURL": url, "AdminToken": admin, "Sub": "a", "Scope": "read", "Exp": "5y"}),
            "invalid Exp '5y' — use a number followed by s, m, h, or d".to_owned(),
        ),
        (
            json!({"ServerURL": url, "AdminToken": "garbage", "Sub": "a", "Scope": "read"}),
            "authentication failed — token is missing or expired: invalid token".to_owned(),
        ),
        (
            json!({"ServerURL": url, "AdminToken": token("s", "write"), "Sub": "a", "Scope": "read"}),
            "admin scope required: admin scope required".to_owned(),
        ),
    ] {
        assert_eq!(mcp.err("sds_token_issue", args.clone()), message, "{args}");
    }
    let message = mcp.err(
        "sds_token_issue",
        json!({"ServerURL": dead, "AdminToken": admin, "Sub": "a", "Scope": "read"}),
    );
    let dead_http = format!("{}/api/token", dead.replacen("ws://", "http://", 1));
    assert!(
        message.starts_with(&format!("HTTP request to '{dead_http}' failed: ")),
        "{message}"
    );
    assert!(http.starts_with("http://127.0.0.1:"));
    drop(mcp);
    server.stop();
}

#[test]
fn token_issue_takes_the_admin_token_and_server_from_flags() {
    let server = TestServer::start();
    let (home, _dir) = temp();
    let admin = token("s", "admin");
    let mut mcp = Mcp::start(
        home.path(),
        &["--server", &server.url],
        &[("SDS_ADMIN_TOKEN", &admin)],
    );
    let issued = mcp.ok("sds_token_issue", json!({"Sub": "s1", "Scope": "admin"}));
    assert_eq!(claims(issued["Token"].as_str().unwrap()).aud, "s");
    drop(mcp);
    server.stop();
}
