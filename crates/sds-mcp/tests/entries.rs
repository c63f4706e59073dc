//! The entry, trash and tree tools (SPEC §16.4, §16.5): the core flow on both backends and
//! the error cases of every tool.

mod common;

use base64::Engine as _;
use common::{Mcp, temp};
use serde_json::{Value as JsonValue, json};

const ROOT: &str = "00000000-0000-4000-8000-000000000000";
const TRASH: &str = "00000000-0000-4000-8000-000000000001";
const LOST: &str = "00000000-0000-4000-8000-000000000002";

/// A server on `backend` with a store `s` in a temporary directory.
struct Fixture {
    mcp: Mcp,
    _home: tempfile::TempDir,
}

impl Fixture {
    fn new(backend: &str) -> Fixture {
        let (home, dir) = temp();
        let mcp = Mcp::start(
            home.path(),
            &[
                "--persistence-dir",
                dir.to_str().unwrap(),
                "--store",
                "s",
                "--backend",
                backend,
            ],
            &[],
        );
        Fixture { mcp, _home: home }
    }

    fn ok(&mut self, tool: &str, args: JsonValue) -> JsonValue {
        self.mcp.ok(tool, args)
    }

    fn err(&mut self, tool: &str, args: JsonValue) -> String {
        self.mcp.err(tool, args)
    }

    /// Creates an item and returns its id.
    fn item(&mut self, args: JsonValue) -> String {
        let created = self.ok("sds_entry_create", args);
        assert_eq!(created["Kind"], "item");
        assert_eq!(created["created"], true);
        created["Id"].as_str().unwrap().to_owned()
    }

    fn ids(&mut self, tool: &str, args: JsonValue) -> Vec<String> {
        self.ok(tool, args)
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Id"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn core_flow(backend: &str) {
    let mut f = Fixture::new(backend);
    let notes = f.item(json!({"Label": "Notes", "Info": {"tag": "n", "n": 1}}));
    let first = f.item(json!({
        "Container": notes, "Label": "first", "MIMEType": "text/markdown", "Value": "# Hi",
    }));
    let second = f.item(json!({"Container": notes, "at": 0, "Label": "second"}));
    let link = f.ok(
        "sds_entry_create",
        json!({"Target": first, "Container": "ROOT", "Label": "to first"}),
    );
    assert_eq!(link["Kind"], "link");
    assert_eq!(link["Target"], json!(first));
    let link = link["Id"].as_str().unwrap().to_owned();

    // get: every applicable field by default.
    assert_eq!(
        f.ok("sds_entry_get", json!({"Id": first})),
        json!({
            "Id": first, "Kind": "item", "Label": "first", "MIMEType": "text/markdown",
            "Value": "# Hi", "Info": {},
        })
    );
    assert_eq!(
        f.ok("sds_entry_get", json!({"Id": link})),
        json!({"Id": link, "Kind": "link", "Label": "to first", "Target": first, "Info": {}})
    );
    assert_eq!(
        f.ok(
            "sds_entry_get",
            json!({"Id": "root", "Fields": ["label", "KIND"]})
        ),
        json!({"Id": ROOT, "Kind": "item", "Label": ""})
    );
    assert_eq!(
        f.ok(
            "sds_entry_get",
            json!({"Id": notes, "InfoKeys": ["tag", "missing"]})
        ),
        json!({"Id": notes, "Info": {"tag": "n", "missing": null}})
    );

    // list: direct children in order, then recursive.
    assert_eq!(
        f.ids("sds_entry_list", json!({"Id": notes})),
        [second.as_str(), first.as_str()]
    );
    assert_eq!(
        f.ids("sds_entry_list", json!({"Id": "root", "recursive": true})),
        [
            notes.as_str(),
            second.as_str(),
            first.as_str(),
            link.as_str()
        ]
    );

    // update, move, delete, restore, purge.
    assert_eq!(
        f.ok(
            "sds_entry_update",
            json!({"Id": first, "Label": "1st", "Value": "changed", "Info": {"a": [1]}}),
        ),
        json!({"Id": first, "updated": true})
    );
    assert_eq!(
        f.ok(
            "sds_entry_get",
            json!({"Id": first, "Fields": ["Label", "Value", "Info"]})
        ),
        json!({"Id": first, "Label": "1st", "Value": "changed", "Info": {"a": [1]}})
    );
    assert_eq!(
        f.ok("sds_entry_move", json!({"Id": first, "to": "root"})),
        json!({"Id": first, "movedTo": ROOT, "at": 4})
    );
    assert_eq!(
        f.ok("sds_entry_move", json!({"Id": first, "to": notes, "at": 0})),
        json!({"Id": first, "movedTo": notes, "at": 0})
    );
    assert_eq!(
        f.ok("sds_entry_delete", json!({"Id": second})),
        json!({"Id": second, "deleted": true})
    );
    assert_eq!(
        f.ok("sds_trash_list", json!({})),
        json!([{"Id": second, "Kind": "item", "Label": "second"}])
    );
    assert_eq!(
        f.ok("sds_entry_restore", json!({"Id": second})),
        json!({"Id": second, "restoredTo": ROOT, "at": 4})
    );
    f.ok("sds_entry_delete", json!({"Id": second}));
    assert_eq!(
        f.ok("sds_entry_purge", json!({"Id": second})),
        json!({"Id": second, "purged": true})
    );
    assert_eq!(f.ok("sds_trash_list", json!({})), json!([]));
    assert_eq!(
        f.err("sds_entry_get", json!({"Id": second})),
        format!("entry '{second}' not found")
    );

    // tree: nested items, links with TargetId, Trash and LostAndFound included.
    assert_eq!(
        f.ok("sds_tree_show", json!({})),
        json!({"Root": [
            {"Id": TRASH, "Kind": "item", "Label": "trash", "innerEntries": []},
            {"Id": LOST, "Kind": "item", "Label": "lost-and-found", "innerEntries": []},
            {"Id": notes, "Kind": "item", "Label": "Notes", "innerEntries": [
                {"Id": first, "Kind": "item", "Label": "1st", "innerEntries": []},
            ]},
            {"Id": link, "Kind": "link", "Label": "to first", "TargetId": first},
        ]})
    );
    let info = f.ok("sds_store_info", json!({}));
    assert_eq!(info["exists"], true);
    assert_eq!(info["EntryCount"], 3);
    assert!(info["DBPath"].as_str().unwrap().ends_with("s.db"));
}

#[test]
fn core_flow_on_yrs() {
    core_flow("yrs");
}

#[test]
fn core_flow_on_loro() {
    core_flow("loro");
}

#[test]
fn entry_create_checks_everything_before_it_creates() {
    let mut f = Fixture::new("yrs");
    let home = f._home.path().to_owned();
    // Failed checks create neither the store nor an entry.
    for (args, message) in [
        (
            json!({"Value": "a", "File": "f"}),
            "Value, ValueBase64, and File are mutually exclusive",
        ),
        (
            json!({"Value": "a", "ValueBase64": "AA=="}),
            "Value, ValueBase64, and File are mutually exclusive",
        ),
        (
            json!({"Target": "root", "MIMEType": "text/x"}),
            "MIMEType cannot be combined with Target — only items have a MIME type",
        ),
        (
            json!({"Target": "root", "Value": "v"}),
            "Value cannot be combined with Target",
        ),
        (
            json!({"Target": "root", "ValueBase64": "AA=="}),
            "ValueBase64 cannot be combined with Target",
        ),
        (
            json!({"Target": "root", "File": "x"}),
            "File cannot be combined with Target",
        ),
        (
            json!({"at": -1}),
            "'at' must be a non-negative integer — got -1",
        ),
        (
            json!({"at": 1.5}),
            "'at' must be a non-negative integer — got 1.5",
        ),
        (
            json!({"at": "2"}),
            "'at' must be a non-negative integer — got \"2\"",
        ),
        (
            json!({"Info": {"bad-key": 1}}),
            "invalid info key \"bad-key\" — keys must be valid JavaScript identifiers",
        ),
        (
            json!({"InfoDelete": ["1x"]}),
            "invalid info key \"1x\" — keys must be valid JavaScript identifiers",
        ),
        (
            json!({"Info": [1]}),
            "'Info' must be a plain object — got array",
        ),
        (
            json!({"Info": "x"}),
            "'Info' must be a plain object — got string",
        ),
        (
            json!({"InfoDelete": "x"}),
            "'InfoDelete' must be an array of strings",
        ),
        (
            json!({"InfoDelete": [1]}),
            "'InfoDelete' must be an array of strings",
        ),
    ] {
        assert_eq!(f.err("sds_entry_create", args.clone()), message, "{args}");
    }
    let missing = home.join("missing.txt");
    assert_eq!(
        f.err("sds_entry_create", json!({"File": missing})),
        format!("file '{}' not found", missing.display())
    );
    assert_eq!(f.ok("sds_store_info", json!({}))["exists"], false);

    // A link does not create a missing store; an item does.
    let dir = home.join("data");
    assert_eq!(
        f.err("sds_entry_create", json!({"Target": "root"})),
        format!("store 's' not found in '{}'", dir.display())
    );
    let item = f.item(json!({}));
    assert_eq!(
        f.err("sds_entry_create", json!({"Container": "nope"})),
        "container 'nope' not found or is not an item"
    );
    assert_eq!(
        f.err("sds_entry_create", json!({"Target": "nope"})),
        "target 'nope' not found or is not an item"
    );
    let link = f.ok("sds_entry_create", json!({"Target": item}))["Id"].clone();
    assert_eq!(
        f.err("sds_entry_create", json!({"Target": link})),
        format!(
            "target '{}' not found or is not an item",
            link.as_str().unwrap()
        )
    );
    assert_eq!(
        f.err("sds_entry_create", json!({"Container": link})),
        format!(
            "container '{}' not found or is not an item",
            link.as_str().unwrap()
        )
    );
    // Only Root, Trash/LostAndFound and the two entries exist.
    assert_eq!(f.ok("sds_store_info", json!({}))["EntryCount"], 2);
}

#[test]
fn values_come_from_text_base64_or_files() {
    let mut f = Fixture::new("loro");
    let home = f._home.path().to_owned();
    let bytes_b64 = base64::engine::general_purpose::STANDARD.encode([0u8, 1, 255]);
    let binary = f.item(json!({"MIMEType": "application/octet-stream", "ValueBase64": bytes_b64}));
    assert_eq!(
        f.ok("sds_entry_get", json!({"Id": binary, "Fields": ["value"]})),
        json!({"Id": binary, "Value": {"0": 0, "1": 1, "2": 255}})
    );
    // text/ MIME types decode base64 and file contents as UTF-8 text.
    let text =
        f.item(json!({"ValueBase64": base64::engine::general_purpose::STANDARD.encode("héllo")}));
    assert_eq!(f.ok("sds_entry_get", json!({"Id": text}))["Value"], "héllo");
    let file = home.join("value.txt");
    std::fs::write(&file, "from a file").unwrap();
    let from_file = f.item(json!({"File": file, "Info": {"k": "v"}, "InfoDelete": ["k"]}));
    let got = f.ok("sds_entry_get", json!({"Id": from_file}));
    assert_eq!(got["Value"], "from a file");
    assert_eq!(got["MIMEType"], "text/plain");
    assert_eq!(
        got["Info"],
        json!({}),
        "Info is merged first, then InfoDelete applies"
    );
    assert_eq!(
        f.ok("sds_entry_get", json!({"Id": "trash"}))["Value"],
        JsonValue::Null
    );
    assert_eq!(
        f.err("sds_entry_create", json!({"ValueBase64": "%%%"})),
        "'ValueBase64' is not valid base64"
    );
}

#[test]
fn entry_get_errors() {
    let mut f = Fixture::new("yrs");
    f.item(json!({}));
    assert_eq!(f.err("sds_entry_get", json!({})), "Id is required");
    assert_eq!(
        f.err("sds_entry_get", json!({"Id": "nope"})),
        "entry 'nope' not found"
    );
    assert_eq!(
        f.err("sds_entry_get", json!({"Id": "root", "Fields": ["Colour"]})),
        "invalid field 'Colour' in 'Fields' — use Kind, Label, MIMEType, Value, Info, Target"
    );
    assert_eq!(
        f.err("sds_entry_get", json!({"Id": "root", "InfoKeys": "a"})),
        "'InfoKeys' must be an array of strings"
    );
    assert_eq!(
        f.ok(
            "sds_entry_get",
            json!({"Id": "LostAndFound", "Fields": ["Target", "MIMEType"]})
        ),
        json!({"Id": LOST, "MIMEType": "text/plain"})
    );
}

#[test]
fn entry_list_counts_depth_levels_like_the_cli() {
    let mut f = Fixture::new("yrs");
    let a = f.item(json!({"Label": "a"}));
    let b = f.item(json!({"Container": a, "Label": "b", "Value": "vb"}));
    let c = f.item(json!({"Container": b, "Label": "c"}));
    let l = f.ok(
        "sds_entry_create",
        json!({"Target": c, "Container": a, "Label": "l"}),
    )["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let list = |f: &mut Fixture, extra: JsonValue| {
        let mut args = json!({"Id": "root"});
        args.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        f.ids("sds_entry_list", args)
    };
    assert_eq!(list(&mut f, json!({})), [a.as_str()]);
    assert_eq!(
        list(&mut f, json!({"recursive": true})),
        [a.as_str(), b.as_str(), c.as_str(), l.as_str()]
    );
    assert_eq!(
        list(&mut f, json!({"recursive": true, "Depth": 0})),
        Vec::<String>::new()
    );
    assert_eq!(list(&mut f, json!({"Depth": 0})), Vec::<String>::new());
    assert_eq!(
        list(&mut f, json!({"recursive": true, "Depth": 1})),
        [a.as_str()]
    );
    assert_eq!(
        list(&mut f, json!({"recursive": true, "Depth": 2})),
        [a.as_str(), b.as_str(), l.as_str()]
    );
    assert_eq!(
        list(&mut f, json!({"recursive": true, "only": "links"})),
        [l.as_str()]
    );
    assert_eq!(
        list(&mut f, json!({"recursive": true, "only": "items"})),
        [a.as_str(), b.as_str(), c.as_str()]
    );
    // Trash is skipped wherever it appears.
    f.ok("sds_entry_delete", json!({"Id": c}));
    assert_eq!(
        list(&mut f, json!({"recursive": true})),
        [a.as_str(), b.as_str(), l.as_str()]
    );
    assert_eq!(
        f.ids("sds_entry_list", json!({"Id": "trash"})),
        [c.as_str()]
    );

    assert_eq!(
        f.ok(
            "sds_entry_list",
            json!({"Id": a, "Fields": ["label", "MIMEType", "Value"]})
        ),
        json!([
            {"Id": b, "Kind": "item", "Label": "b", "MIMEType": "text/plain", "Value": "vb"},
            {"Id": l, "Kind": "link", "Label": "l"},
        ])
    );
    assert_eq!(
        f.ok(
            "sds_entry_list",
            json!({"Id": a, "InfoKeys": ["x"], "only": "links"})
        ),
        json!([{"Id": l, "Kind": "link", "Info": {"x": null}}])
    );
    for (args, message) in [
        (json!({}), "Id is required".to_owned()),
        (
            json!({"Id": "nope"}),
            "container 'nope' not found or is not an item".to_owned(),
        ),
        (
            json!({"Id": l}),
            format!("container '{l}' not found or is not an item"),
        ),
        (
            json!({"Id": "root", "Depth": -1}),
            "'Depth' must be a non-negative integer — got -1".to_owned(),
        ),
        (
            json!({"Id": "root", "only": "both"}),
            "'only' must be 'items' or 'links' — got 'both'".to_owned(),
        ),
        (
            json!({"Id": "root", "recursive": "yes"}),
            "'recursive' must be a boolean — got \"yes\"".to_owned(),
        ),
        (
            json!({"Id": "root", "Fields": ["Target"]}),
            "invalid field 'Target' in 'Fields' — use Label, MIMEType, Value, Info".to_owned(),
        ),
    ] {
        assert_eq!(f.err("sds_entry_list", args.clone()), message, "{args}");
    }
}

#[test]
fn entry_update_rules() {
    let mut f = Fixture::new("yrs");
    let item = f.item(json!({"Info": {"keep": 1, "drop": 2}}));
    let link = f.ok("sds_entry_create", json!({"Target": item}))["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (args, message) in [
        (
            json!({"Id": link, "MIMEType": "text/x"}),
            "MIMEType is not supported for links",
        ),
        (
            json!({"Id": link, "Value": "v"}),
            "Value is not supported for links",
        ),
        (
            json!({"Id": link, "ValueBase64": "AA=="}),
            "ValueBase64 is not supported for links",
        ),
        (
            json!({"Id": link, "File": "Cargo.toml"}),
            "File is not supported for links",
        ),
        (
            json!({"Id": item, "Value": "a", "File": "b"}),
            "Value, ValueBase64, and File are mutually exclusive",
        ),
        (
            json!({"Id": "nope", "Label": "x"}),
            "entry 'nope' not found",
        ),
        (json!({"Label": "x"}), "Id is required"),
        (
            json!({"Id": item, "Label": "x", "Info": {"a b": 1}}),
            "invalid info key \"a b\" — keys must be valid JavaScript identifiers",
        ),
    ] {
        assert_eq!(f.err("sds_entry_update", args.clone()), message, "{args}");
    }
    // Nothing changed above.
    assert_eq!(f.ok("sds_entry_get", json!({"Id": item}))["Label"], "");
    f.ok(
        "sds_entry_update",
        json!({"Id": link, "Label": "l", "Info": {"x": true}}),
    );
    f.ok(
        "sds_entry_update",
        json!({"Id": item, "MIMEType": "application/octet-stream", "ValueBase64": "AQI=",
               "Info": {"new": "n"}, "InfoDelete": ["drop"]}),
    );
    assert_eq!(
        f.ok(
            "sds_entry_get",
            json!({"Id": item, "Fields": ["MIMEType", "Value", "Info"]})
        ),
        json!({"Id": item, "MIMEType": "application/octet-stream",
               "Value": {"0": 1, "1": 2}, "Info": {"keep": 1, "new": "n"}})
    );
    assert_eq!(
        f.ok(
            "sds_entry_get",
            json!({"Id": link, "Fields": ["Label", "Info"]})
        ),
        json!({"Id": link, "Label": "l", "Info": {"x": true}})
    );
    // No changes: still a success.
    assert_eq!(
        f.ok("sds_entry_update", json!({"Id": item})),
        json!({"Id": item, "updated": true})
    );
}

#[test]
fn move_delete_restore_and_purge_errors() {
    let mut f = Fixture::new("yrs");
    let a = f.item(json!({}));
    let b = f.item(json!({"Container": a}));
    let link = f.ok("sds_entry_create", json!({"Target": a}))["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (args, message) in [
        (json!({"Id": a}), "to is required".to_owned()),
        (json!({"to": "root"}), "Id is required".to_owned()),
        (
            json!({"Id": "nope", "to": "root"}),
            "entry 'nope' not found".to_owned(),
        ),
        (
            json!({"Id": a, "to": "nope"}),
            "target 'nope' not found or is not an item".to_owned(),
        ),
        (
            json!({"Id": a, "to": link}),
            format!("target '{link}' not found or is not an item"),
        ),
        (
            json!({"Id": a, "to": b}),
            format!("cannot move '{a}' into its own descendant"),
        ),
        (
            json!({"Id": a, "to": a}),
            format!("cannot move '{a}' into its own descendant"),
        ),
        (
            json!({"Id": "root", "to": a}),
            format!("cannot move '{ROOT}' into its own descendant"),
        ),
        (
            json!({"Id": "trash", "to": a}),
            format!("cannot move '{TRASH}' into its own descendant"),
        ),
        (
            json!({"Id": b, "to": "root", "at": -2}),
            "'at' must be a non-negative integer — got -2".to_owned(),
        ),
    ] {
        assert_eq!(f.err("sds_entry_move", args.clone()), message, "{args}");
    }
    for id in ["root", "trash", "lost-and-found", "LostAndFound"] {
        let resolved = match id {
            "root" => ROOT,
            "trash" => TRASH,
            _ => LOST,
        };
        assert_eq!(
            f.err("sds_entry_delete", json!({"Id": id})),
            format!("entry '{resolved}' cannot be deleted")
        );
    }
    assert_eq!(
        f.err("sds_entry_delete", json!({"Id": "x"})),
        "entry 'x' not found"
    );
    assert_eq!(f.err("sds_entry_delete", json!({})), "Id is required");
    assert_eq!(
        f.err("sds_entry_restore", json!({"Id": b})),
        format!("entry '{b}' is not in the trash")
    );
    assert_eq!(
        f.err("sds_entry_purge", json!({"Id": b})),
        format!("entry '{b}' is not in the trash — delete it first")
    );
    assert_eq!(
        f.err("sds_entry_purge", json!({"Id": "x"})),
        "entry 'x' not found"
    );
    assert_eq!(
        f.err("sds_entry_restore", json!({"Id": "x"})),
        "entry 'x' not found"
    );
    f.ok("sds_entry_delete", json!({"Id": a}));
    assert_eq!(
        f.err("sds_entry_restore", json!({"Id": a, "to": "nope"})),
        "target 'nope' not found or is not an item"
    );
    // The link protects its target from purging: the store's message is reported.
    let protected = f.err("sds_entry_purge", json!({"Id": a}));
    assert!(!protected.is_empty());
    assert_eq!(
        f.ok("sds_trash_list", json!({"only": "items"}))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        f.ok(
            "sds_entry_restore",
            json!({"Id": a, "to": "lostandfound", "at": 0})
        ),
        json!({"Id": a, "restoredTo": LOST, "at": 0})
    );
}

#[test]
fn trash_tools() {
    let mut f = Fixture::new("loro");
    let a = f.item(json!({"Label": "a"}));
    let b = f.item(json!({"Label": "b"}));
    let link = f.ok("sds_entry_create", json!({"Target": "root", "Label": "l"}))["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [a.as_str(), b.as_str(), link.as_str()] {
        f.ok("sds_entry_delete", json!({"Id": id}));
    }
    assert_eq!(
        f.ok("sds_trash_list", json!({"only": "links"})),
        json!([{"Id": link, "Kind": "link", "Label": "l"}])
    );
    assert_eq!(
        f.err("sds_trash_list", json!({"only": "all"})),
        "'only' must be 'items' or 'links' — got 'all'"
    );
    for (ttl, shown) in [(json!(0), "0"), (json!(-5), "-5"), (json!("1"), "\"1\"")] {
        assert_eq!(
            f.err("sds_trash_purge_expired", json!({"TTLms": ttl})),
            format!("'TTLms' must be a positive integer — got {shown}")
        );
    }
    assert_eq!(
        f.ok("sds_trash_purge_expired", json!({})),
        json!({"purged": 0, "TTLms": 2_592_000_000u64})
    );
    assert_eq!(f.ok("sds_trash_purge_all", json!({})), json!({"purged": 3}));
    assert_eq!(f.ok("sds_trash_list", json!({})), json!([]));
    assert_eq!(f.ok("sds_trash_purge_all", json!({})), json!({"purged": 0}));
}

#[test]
fn tree_show_depth() {
    let mut f = Fixture::new("yrs");
    let a = f.item(json!({"Label": "a"}));
    let b = f.item(json!({"Container": a, "Label": "b"}));
    assert_eq!(
        f.ok("sds_tree_show", json!({"Depth": 0})),
        json!({"Root": []})
    );
    assert_eq!(
        f.ok("sds_tree_show", json!({"Depth": 1}))["Root"][2],
        json!({"Id": a, "Kind": "item", "Label": "a", "innerEntries": []})
    );
    assert_eq!(
        f.ok("sds_tree_show", json!({"Depth": 2}))["Root"][2]["innerEntries"][0]["Id"],
        json!(b)
    );
    assert_eq!(
        f.err("sds_tree_show", json!({"Depth": -1})),
        "'Depth' must be a non-negative integer — got -1"
    );
}

#[test]
fn tools_on_a_missing_store_report_it() {
    let mut f = Fixture::new("yrs");
    let dir = f._home.path().join("data");
    let not_found = format!("store 's' not found in '{}'", dir.display());
    for (tool, args) in [
        ("sds_entry_get", json!({"Id": "root"})),
        ("sds_entry_list", json!({"Id": "root"})),
        ("sds_entry_update", json!({"Id": "root"})),
        ("sds_entry_move", json!({"Id": "trash", "to": "root"})),
        ("sds_entry_delete", json!({"Id": "x"})),
        ("sds_entry_restore", json!({"Id": "x"})),
        ("sds_entry_purge", json!({"Id": "x"})),
        ("sds_trash_list", json!({})),
        ("sds_trash_purge_all", json!({})),
        ("sds_trash_purge_expired", json!({})),
        ("sds_tree_show", json!({})),
        ("sds_store_export", json!({})),
        ("sds_store_destroy", json!({})),
    ] {
        assert_eq!(f.err(tool, args), not_found, "{tool}");
    }
    assert!(!dir.join("s.db").exists(), "no tool created the store");
}
