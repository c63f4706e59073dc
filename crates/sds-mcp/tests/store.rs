//! The local store tools: info, destroy, export and import (SPEC §16.4, §16.5).

mod common;

use base64::Engine as _;
use common::{Mcp, temp};
use serde_json::{Value as JsonValue, json};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

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

/// A store `src` with two labelled items (one of them nested) on `backend`.
fn source(mcp: &mut Mcp, backend: &str) {
    let a = mcp.ok(
        "sds_entry_create",
        json!({"StoreId": "src", "Backend": backend, "Label": "a", "Value": "text a"}),
    )["Id"]
        .clone();
    mcp.ok(
        "sds_entry_create",
        json!({"StoreId": "src", "Backend": backend, "Container": a, "Label": "inner"}),
    );
    mcp.ok(
        "sds_entry_create",
        json!({"StoreId": "src", "Backend": backend, "Label": "b"}),
    );
}

#[test]
fn store_info_and_destroy() {
    let (home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    assert_eq!(
        mcp.ok("sds_store_info", json!({"StoreId": "x/y"})),
        json!({"StoreId": "x/y", "exists": false})
    );
    assert!(!dir.exists(), "info does not create the directory");
    source(&mut mcp, "yrs");
    let info = mcp.ok("sds_store_info", json!({"StoreId": "src"}));
    assert_eq!(
        info,
        json!({
            "StoreId": "src", "exists": true, "EntryCount": 3,
            "DBPath": dir.join("src.db").display().to_string(),
        })
    );
    assert_eq!(
        mcp.ok("sds_store_destroy", json!({"StoreId": "src"})),
        json!({"StoreId": "src", "destroyed": true})
    );
    assert!(!dir.join("src.db").exists());
    assert_eq!(
        mcp.err("sds_store_destroy", json!({"StoreId": "src"})),
        format!("store 'src' not found in '{}'", dir.display())
    );
    assert_eq!(
        mcp.err("sds_store_destroy", json!({})),
        "StoreId is required"
    );
    let other = home.path().join("other");
    assert_eq!(
        mcp.err(
            "sds_store_info",
            json!({"StoreId": "src", "PersistenceDir": 1})
        ),
        "'PersistenceDir' must be a string — got number"
    );
    assert_eq!(
        mcp.ok(
            "sds_store_info",
            json!({"StoreId": "src", "PersistenceDir": other})
        ),
        json!({"StoreId": "src", "exists": false})
    );
}

#[test]
fn export_inline_and_to_files_then_import_on_both_backends() {
    let (home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    for backend in ["yrs", "loro"] {
        source(&mut mcp, backend);
        let json_export = mcp.ok(
            "sds_store_export",
            json!({"StoreId": "src", "Backend": backend}),
        );
        assert_eq!(json_export["exported"], true);
        assert_eq!(json_export["Format"], "json");
        let text = json_export["Data"].as_str().unwrap();
        assert!(text.starts_with("{\n  \""), "pretty JSON");
        let root: JsonValue = serde_json::from_str(text).unwrap();
        assert_eq!(root["Kind"], "item");

        let binary = mcp.ok(
            "sds_store_export",
            json!({"StoreId": "src", "Backend": backend, "Encoding": "BINARY"}),
        );
        assert_eq!(binary["Format"], "binary");
        let bytes = B64.decode(binary["DataBase64"].as_str().unwrap()).unwrap();
        assert_eq!(&bytes[..2], [0x1f, 0x8b]);

        let file = home.path().join(format!("{backend}.bin"));
        assert_eq!(
            mcp.ok(
                "sds_store_export",
                json!({"StoreId": "src", "Backend": backend, "Encoding": "binary", "OutputFile": file}),
            ),
            json!({"exported": true, "Format": "binary", "File": file})
        );
        assert_eq!(std::fs::read(&file).unwrap(), bytes);

        // Imports into a yrs store: JSON from base64, binary of either backend from a file
        // and from base64, all without InputEncoding.
        let target = format!("copy-of-{backend}");
        assert_eq!(
            mcp.ok(
                "sds_store_import",
                json!({"StoreId": target, "InputBase64": B64.encode(text)}),
            ),
            json!({"imported": true, "Source": "base64"})
        );
        assert_eq!(
            mcp.ok(
                "sds_store_import",
                json!({"StoreId": target, "InputFile": file})
            ),
            json!({"imported": true, "File": file})
        );
        mcp.ok(
            "sds_store_import",
            json!({"StoreId": target, "InputBase64": binary["DataBase64"]}),
        );
        mcp.ok(
            "sds_store_import",
            json!({"StoreId": target, "InputBase64": binary["DataBase64"], "InputEncoding": "binary"}),
        );
        let json_file = home.path().join(format!("{backend}.json"));
        assert_eq!(
            mcp.ok(
                "sds_store_export",
                json!({"StoreId": "src", "Backend": backend, "OutputFile": json_file}),
            ),
            json!({"exported": true, "Format": "json", "File": json_file})
        );
        assert_eq!(std::fs::read_to_string(&json_file).unwrap(), text);
        mcp.ok(
            "sds_store_import",
            json!({"StoreId": target, "InputFile": json_file, "InputEncoding": "json"}),
        );
        assert_eq!(labels(&mut mcp, &target), ["a", "b"].repeat(5));
        let copied = mcp.ok("sds_tree_show", json!({"StoreId": target}));
        assert_eq!(copied["Root"][2]["innerEntries"][0]["Label"], "inner");
        assert_ne!(
            copied["Root"][2]["Id"], root["innerEntries"][2]["Id"],
            "fresh ids"
        );
        mcp.ok("sds_store_destroy", json!({"StoreId": "src"}));
    }
}

#[test]
fn export_and_import_errors() {
    let (home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    source(&mut mcp, "yrs");
    assert_eq!(
        mcp.err(
            "sds_store_export",
            json!({"StoreId": "src", "Encoding": "xml"})
        ),
        "'Encoding' must be 'json' or 'binary' — got 'xml'"
    );
    let unwritable = home.path().join("no-such-dir").join("out.json");
    let message = mcp.err(
        "sds_store_export",
        json!({"StoreId": "src", "OutputFile": unwritable}),
    );
    assert!(
        message.starts_with(&format!(
            "failed to write export to '{}': ",
            unwritable.display()
        )),
        "{message}"
    );

    let missing = home.path().join("missing.json");
    let garbage = home.path().join("garbage.bin");
    std::fs::write(&garbage, [0x1f, 0x8b, 1, 2, 3]).unwrap();
    let not_json = home.path().join("text.txt");
    std::fs::write(&not_json, "hello").unwrap();
    for (args, message) in [
        (
            json!({}),
            "either InputFile or InputBase64 is required".to_owned(),
        ),
        (
            json!({"InputFile": "a", "InputBase64": "e30="}),
            "InputFile and InputBase64 are mutually exclusive".to_owned(),
        ),
        (
            json!({"InputFile": missing}),
            format!("file '{}' not found", missing.display()),
        ),
        (
            json!({"InputFile": garbage}),
            format!(
                "'{}' does not contain valid binary SDS data",
                garbage.display()
            ),
        ),
        (
            json!({"InputFile": not_json}),
            format!("'{}' does not contain valid JSON", not_json.display()),
        ),
        (
            json!({"InputBase64": B64.encode("{nope")}),
            "InputBase64 does not contain valid JSON".to_owned(),
        ),
        (
            json!({"InputBase64": B64.encode("{}"), "InputEncoding": "binary"}),
            "InputBase64 does not contain valid binary SDS data".to_owned(),
        ),
        (
            json!({"InputBase64": B64.encode([0x1f, 0x8b, 0])}),
            "InputBase64 does not contain valid binary SDS data".to_owned(),
        ),
        (
            json!({"InputBase64": "e30=", "InputEncoding": "yaml"}),
            "'InputEncoding' must be 'json' or 'binary' — got 'yaml'".to_owned(),
        ),
    ] {
        let mut args = args;
        args["StoreId"] = json!("dst");
        assert_eq!(mcp.err("sds_store_import", args.clone()), message, "{args}");
    }
    // None of the failed imports created the store.
    assert_eq!(
        mcp.ok("sds_store_info", json!({"StoreId": "dst"}))["exists"],
        false
    );
}

#[test]
fn a_store_of_the_other_backend_is_refused() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    source(&mut mcp, "loro");
    for tool in [
        "sds_store_info",
        "sds_store_export",
        "sds_tree_show",
        "sds_trash_list",
    ] {
        assert_eq!(
            mcp.err(tool, json!({"StoreId": "src"})),
            "store 'src' uses the loro backend — use --backend loro",
            "{tool}"
        );
    }
    assert_eq!(
        mcp.err(
            "sds_batch",
            json!({"StoreId": "src", "Commands": [{"Tool": "sds_tree_show", "Params": {}}]}),
        ),
        "store 'src' uses the loro backend — use --backend loro"
    );
}
