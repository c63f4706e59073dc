//! `entry create | get | list | update | move | delete | restore | purge` with their text and
//! JSON output and every documented error (SPEC §15.5, §15.11), on both backends.

mod common;

use common::*;
use serde_json::json;

fn create_items_and_links(backend: &'static str) {
    let s = Sds::new(backend);
    let out = s.run(&["--format", "json", "entry", "create", "--label", "A"]);
    let json = out.json();
    let a = json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        out.stdout,
        format!("{{\n  \"id\": \"{a}\",\n  \"created\": true,\n  \"kind\": \"item\"\n}}\n")
    );
    let out = s.run(&["--format", "json", "entry", "create", "--target", &a]);
    let l = out.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        out.stdout,
        format!(
            "{{\n  \"id\": \"{l}\",\n  \"created\": true,\n  \"kind\": \"link\",\n  \"target\": \"{a}\"\n}}\n"
        )
    );
    // Text output is the id; --container and --at place the entry.
    let b = s.item(&["--container", &a, "--label", "B"]);
    let c = s.item(&["--container", &a, "--at", "0", "--label", "C"]);
    let d = s.item(&["--container", &a, "--at", "99", "--label", "D"]);
    let l2 = s.link(&b, &["--container", &a, "--at", "1", "--label", "to B"]);
    assert_eq!(
        s.run(&["entry", "list", &a]).ok(),
        format!("{c}\n{l2}\n{b}\n{d}\n")
    );
    assert_eq!(
        s.run(&["entry", "get", &l2]).ok(),
        format!("id:    {l2}\nkind:  link\nlabel: to B\ntarget: {b}\ninfo:  {{}}\n")
    );
    // Aliases name the well-known items; an empty label is a label.
    let t = s.item(&["--container", "ROOT", "--label", ""]);
    assert_eq!(
        s.run(&["entry", "get", &t, "--label"]).ok(),
        format!("id:    {t}\nlabel: \n")
    );
    let lf = s.item(&["--container", "LostAndFound"]);
    assert_eq!(
        s.run(&["entry", "list", "lost-and-found"]).ok(),
        format!("{lf}\n")
    );
    let lf2 = s.item(&["--container", "lostandfound"]);
    assert_eq!(
        s.run(&["entry", "list", "lost-and-found"]).ok(),
        format!("{lf}\n{lf2}\n")
    );
    // Links to the well-known items through aliases.
    let to_trash = s.link("trash", &[]);
    assert_eq!(
        s.run(&["entry", "get", &to_trash, "--target"]).ok(),
        format!("id:    {to_trash}\ntarget: {TRASH}\n")
    );
}

fn create_refuses_bad_arguments_before_changing_anything(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.init();
    let l = s.link(&a, &[]);
    let file = s.file("v.txt", "x");
    let cases: &[(&[&str], i32, String)] = &[
        (
            &["--value", "x", "--file", &file],
            2,
            "'--value' and '--file' are mutually exclusive — specify at most one".into(),
        ),
        (
            &["--target", &a, "--mime", "text/html"],
            2,
            "'--mime' is not supported when creating a link — only items have a MIME type".into(),
        ),
        (
            &["--target", &a, "--value", "x"],
            2,
            "'--value' is not supported when creating a link — only items have a value".into(),
        ),
        (
            &["--target", &a, "--file", &file],
            2,
            "'--file' is not supported when creating a link — only items have a value".into(),
        ),
        (
            &["--target", "nope"],
            3,
            "target 'nope' not found or is not an item".into(),
        ),
        (
            &["--target", &l],
            3,
            format!("target '{l}' not found or is not an item"),
        ),
        (
            &["--container", "nope"],
            3,
            "container 'nope' not found or is not an item".into(),
        ),
        (
            &["--container", &l],
            3,
            format!("container '{l}' not found or is not an item"),
        ),
        (
            &["--target", &a, "--container", "nope"],
            3,
            "container 'nope' not found or is not an item".into(),
        ),
        (
            &["--at", "-1"],
            2,
            "'--at' must be a non-negative integer — got -1".into(),
        ),
        (
            &["--at", "3abc"],
            2,
            "invalid value for --at: '3abc' — expected an integer".into(),
        ),
        (
            &["--info.bad-key", "1"],
            2,
            "invalid info key \"bad-key\" — keys must be valid JavaScript identifiers".into(),
        ),
        (
            &["--info-delete.9lives"],
            2,
            "invalid info key \"9lives\" — keys must be valid JavaScript identifiers".into(),
        ),
        (
            &["--info", "{\"a b\": 1}"],
            2,
            "invalid info key \"a b\" — keys must be valid JavaScript identifiers".into(),
        ),
        (
            &["--info", "[1]"],
            2,
            "--info value must be a JSON object".into(),
        ),
        (
            &["--info", "{oops"],
            2,
            "--info value is not valid JSON: {oops".into(),
        ),
        (
            &["--file", "/nonexistent/sds/file"],
            3,
            "file not found: '/nonexistent/sds/file'".into(),
        ),
        (
            &["--value", "%%%", "--base64"],
            2,
            "'--value' is not valid base64".into(),
        ),
        (&["--base64"], 2, "'--base64' needs '--value'".into()),
        (
            &["--mime", ""],
            2,
            "MIME types must have 1 to 256 UTF-16 units".into(),
        ),
    ];
    let before = s.run(&["store", "export"]).ok().to_owned();
    for (args, code, message) in cases {
        let mut all = vec!["entry", "create", "--label", "never"];
        all.extend_from_slice(args);
        s.run(&all).fails(*code, message);
    }
    let label = "x".repeat(1025);
    s.run(&["entry", "create", "--label", &label])
        .fails(2, "labels are limited to 1024 UTF-16 units");
    assert_eq!(s.run(&["store", "export"]).ok(), before);
}

fn values_from_text_files_and_base64(backend: &'static str) {
    let s = Sds::new(backend);
    let text = s.item(&["--value", "plain text"]);
    let bytes_file = s.file("b.bin", [0u8, 1, 255, 7]);
    let bytes = s.item(&["--mime", "application/octet-stream", "--file", &bytes_file]);
    let lossy_file = s.file("l.txt", [b'o', b'k', 0xff]);
    let lossy = s.item(&["--file", &lossy_file]);
    let b64 = s.item(&["--mime", "image/png", "--value", "AAEC", "--base64"]);
    let b64_text = s.item(&["--mime", "text/markdown", "--value", "aGk=", "--base64"]);
    let none = s.item(&[]);
    let value = |id: &str| s.run(&["entry", "get", id, "--value"]).ok().to_owned();
    assert_eq!(value(&text), format!("id:    {text}\nvalue: plain text\n"));
    assert_eq!(value(&bytes), format!("id:    {bytes}\nvalue: 0,1,255,7\n"));
    assert_eq!(
        value(&lossy),
        format!("id:    {lossy}\nvalue: ok\u{fffd}\n")
    );
    assert_eq!(value(&b64), format!("id:    {b64}\nvalue: 0,1,2\n"));
    assert_eq!(value(&b64_text), format!("id:    {b64_text}\nvalue: hi\n"));
    assert_eq!(value(&none), format!("id:    {none}\nvalue: (none)\n"));
    let get_json = |id: &str| {
        s.run(&["--format", "json", "entry", "get", id, "--value"])
            .json()
    };
    assert_eq!(
        get_json(&bytes),
        json!({"id": bytes, "value": {"0": 0, "1": 1, "2": 255, "3": 7}})
    );
    assert_eq!(get_json(&none), json!({"id": none, "value": null}));
    // A large value is not inline: it shows as none.
    let big = s.file("big.txt", "y".repeat(200_000));
    let large = s.item(&["--file", &big]);
    assert_eq!(value(&large), format!("id:    {large}\nvalue: (none)\n"));
    assert_eq!(get_json(&large), json!({"id": large, "value": null}));
}

fn info_arguments_in_every_form(backend: &'static str) {
    let s = Sds::new(backend);
    let id = s.item(&[
        "--info",
        r#"{"fromObject": 1, "gone": true, "kept": "x"}"#,
        "--info.count",
        "5",
        "--info.name",
        "Ada",
        "--info.eq=a=b",
        "--info.flag",
        "--info.list",
        "[1, \"two\"]",
        "--info.neg",
        "-2.5",
        "--info.kept",
        "override",
        "--info-delete.gone",
        "--info.gone",
        "back",
    ]);
    let out = s.run(&["--format", "json", "entry", "get", &id, "--info"]);
    assert_eq!(
        out.json()["info"],
        json!({"fromObject": 1, "count": 5, "name": "Ada", "eq": "a=b", "flag": true,
               "list": [1, "two"], "neg": -2.5, "kept": "override"})
    );
    // Field selection: the first --info.<key> picks one field; its value is ignored.
    assert_eq!(
        s.run(&["entry", "get", &id, "--info.count"]).ok(),
        format!("id:    {id}\ninfo.count: 5\n")
    );
    assert_eq!(
        s.run(&["entry", "get", &id, "--info.missing=ignored", "--label"])
            .ok(),
        format!("id:    {id}\nlabel: \ninfo.missing: null\n")
    );
    assert_eq!(
        s.run(&[
            "--format",
            "json",
            "entry",
            "get",
            &id,
            "--info.list",
            "--kind"
        ])
        .ok(),
        format!(
            "{{\n  \"id\": \"{id}\",\n  \"kind\": \"item\",\n  \"info.list\": [\n    1,\n    \"two\"\n  ]\n}}\n"
        )
    );
    // The scan is positional: the id after --info.<key> is taken as its value.
    let out = s.run(&["entry", "get", "--info.count", &id]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .starts_with("sds: the following required arguments were not provided: <ID>")
    );
    s.run(&["entry", "get", &id, "--info.9x"]).fails(
        2,
        "invalid info key \"9x\" — keys must be valid JavaScript identifiers",
    );
}

fn get_shows_all_fields_or_the_selected_ones(backend: &'static str) {
    let s = Sds::new(backend);
    let id = s.item(&[
        "--label",
        "Notes",
        "--mime",
        "text/markdown",
        "--value",
        "# hi",
        "--info.n",
        "1",
    ]);
    assert_eq!(
        s.run(&["entry", "get", &id]).ok(),
        format!(
            "id:    {id}\nkind:  item\nlabel: Notes\nmime:  text/markdown\nvalue: # hi\ninfo:  {{\"n\":1}}\n"
        )
    );
    assert_eq!(
        s.run(&["--format", "json", "entry", "get", &id]).ok(),
        format!(
            "{{\n  \"id\": \"{id}\",\n  \"kind\": \"item\",\n  \"label\": \"Notes\",\n  \"mime\": \"text/markdown\",\n  \"value\": \"# hi\",\n  \"info\": {{\n    \"n\": 1\n  }}\n}}\n"
        )
    );
    assert_eq!(
        s.run(&["entry", "get", &id, "--mime", "--kind"]).ok(),
        format!("id:    {id}\nkind:  item\nmime:  text/markdown\n")
    );
    // --target does not apply to items.
    assert_eq!(
        s.run(&["entry", "get", &id, "--target"]).ok(),
        format!("id:    {id}\n")
    );
    let l = s.link(&id, &["--label", "ln"]);
    assert_eq!(
        s.run(&["--format", "json", "entry", "get", &l]).json(),
        json!({"id": l, "kind": "link", "label": "ln", "target": id, "info": {}})
    );
    // --mime and --value do not apply to links.
    assert_eq!(
        s.run(&["entry", "get", &l, "--mime", "--value"]).ok(),
        format!("id:    {l}\n")
    );
    assert_eq!(
        s.run(&["entry", "get", "root", "--label", "--kind"]).ok(),
        format!("id:    {ROOT}\nkind:  item\nlabel: \n")
    );
    assert_eq!(
        s.run(&["entry", "get", "Trash", "--label"]).ok(),
        format!("id:    {TRASH}\nlabel: trash\n")
    );
    s.run(&["entry", "get", "nope"])
        .fails(3, "entry 'nope' not found");
}

fn list_children_subtrees_and_fields(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A", "--value", "va", "--info.k", "1"]);
    let a1 = s.item(&["--container", &a, "--label", "A1"]);
    let a11 = s.item(&["--container", &a1, "--mime", "text/html"]);
    let l = s.link(&a1, &["--container", &a]);
    let b = s.item(&["--label", "B"]);
    let trashed = s.item(&["--container", &a]);
    s.run(&["entry", "delete", &trashed]).line();
    // Direct children only; Trash and LostAndFound are never listed.
    assert_eq!(
        s.run(&["entry", "list", "root"]).ok(),
        format!("{a}\n{b}\n")
    );
    assert_eq!(
        s.run(&["entry", "list", "root", "--recursive"]).ok(),
        format!("{a}\n{a1}\n{a11}\n{l}\n{b}\n")
    );
    for (depth, expected) in [
        ("0", String::new()),
        ("1", format!("{a}\n{b}\n")),
        ("2", format!("{a}\n{a1}\n{l}\n{b}\n")),
        ("3", format!("{a}\n{a1}\n{a11}\n{l}\n{b}\n")),
    ] {
        assert_eq!(
            s.run(&["entry", "list", "root", "--recursive", "--depth", depth])
                .ok(),
            expected,
            "depth {depth}"
        );
    }
    // --only filters the output, not the descent.
    assert_eq!(
        s.run(&["entry", "list", "root", "--recursive", "--only", "links"])
            .ok(),
        format!("{l}\n")
    );
    assert_eq!(
        s.run(&["entry", "list", &a, "--recursive", "--only", "item"])
            .ok(),
        format!("{a1}\n{a11}\n")
    );
    // Fields: label or (no label), MIME type (empty for links), value or (no value), Info.
    assert_eq!(
        s.run(&[
            "entry",
            "list",
            &a,
            "--recursive",
            "--label",
            "--mime",
            "--value",
            "--info"
        ])
        .ok(),
        format!(
            "{a1}  A1  text/plain  (no value)  {{}}\n{a11}  (no label)  text/html  (no value)  {{}}\n{l}  (no label)    (no value)  {{}}\n"
        )
    );
    assert_eq!(
        s.run(&["entry", "list", "root", "--value", "--info.k", "--info"])
            .ok(),
        format!("{a}  va  1\n{b}  (no value)  null\n")
    );
    assert_eq!(
        s.run(&[
            "--format", "json", "entry", "list", &a, "--label", "--mime", "--value", "--info"
        ])
        .json(),
        json!([
            {"id": a1, "kind": "item", "label": "A1", "mime": "text/plain", "value": null, "info": {}},
            {"id": l, "kind": "link", "label": "", "info": {}}
        ])
    );
    assert_eq!(
        s.run(&["--format", "json", "entry", "list", "root", "--info.k"])
            .ok(),
        format!(
            "[\n  {{\n    \"id\": \"{a}\",\n    \"kind\": \"item\",\n    \"info.k\": 1\n  }},\n  {{\n    \"id\": \"{b}\",\n    \"kind\": \"item\",\n    \"info.k\": null\n  }}\n]\n"
        )
    );
    assert_eq!(
        s.run(&["--format", "json", "entry", "list", &a11]).ok(),
        "[]\n"
    );
    // The Trash can be listed explicitly.
    assert_eq!(
        s.run(&["entry", "list", "trash"]).ok(),
        format!("{trashed}\n")
    );
    // Errors.
    s.run(&["entry", "list", "root", "--only", "both"])
        .fails(2, "'--only' accepts 'items' or 'links' — got 'both'");
    s.run(&["entry", "list", "root", "--recursive", "--depth", "-1"])
        .fails(2, "'--depth' must be a non-negative integer — got -1");
    s.run(&["entry", "list", "nope"])
        .fails(3, "container 'nope' not found or is not an item");
    s.run(&["entry", "list", &l])
        .fails(3, &format!("container '{l}' not found or is not an item"));
}

fn update_changes_what_is_given(backend: &'static str) {
    let s = Sds::new(backend);
    let id = s.item(&[
        "--label", "old", "--value", "v1", "--info.a", "1", "--info.b", "2",
    ]);
    assert_eq!(
        s.run(&[
            "entry",
            "update",
            &id,
            "--label",
            "new",
            "--mime",
            "text/csv",
            "--value",
            "v2",
            "--info",
            r#"{"c": 3}"#,
            "--info.a",
            "10",
            "--info-delete.b"
        ])
        .line(),
        format!("updated '{id}'")
    );
    assert_eq!(
        s.run(&["entry", "get", &id]).ok(),
        format!(
            "id:    {id}\nkind:  item\nlabel: new\nmime:  text/csv\nvalue: v2\ninfo:  {{\"a\":10,\"c\":3}}\n"
        )
    );
    // A file becomes bytes unless the resulting MIME type is textual.
    let file = s.file("f.bin", [104u8, 105]);
    s.run(&["entry", "update", &id, "--file", &file]).line();
    assert_eq!(
        s.run(&["entry", "get", &id, "--value"]).ok(),
        format!("id:    {id}\nvalue: hi\n")
    );
    s.run(&[
        "entry",
        "update",
        &id,
        "--file",
        &file,
        "--mime",
        "application/x-bin",
    ])
    .line();
    assert_eq!(
        s.run(&["entry", "get", &id, "--value"]).ok(),
        format!("id:    {id}\nvalue: 104,105\n")
    );
    // Without options nothing changes.
    let before = s.run(&["store", "export"]).ok().to_owned();
    assert_eq!(
        s.run(&["--format", "json", "entry", "update", &id]).ok(),
        format!("{{\n  \"id\": \"{id}\",\n  \"updated\": true\n}}\n")
    );
    assert_eq!(s.run(&["store", "export"]).ok(), before);
    // Failed checks change nothing, not even the label given with them.
    let l = s.link(&id, &["--label", "link"]);
    let cases: &[(&[&str], i32, String)] = &[
        (
            &[&id, "--value", "x", "--file", &file],
            2,
            "'--value' and '--file' are mutually exclusive — specify at most one".into(),
        ),
        (
            &[&l, "--mime", "text/html"],
            2,
            "'--mime' is not supported for links — only items have a MIME type".into(),
        ),
        (
            &[&l, "--value", "x"],
            2,
            "'--value' is not supported for links — only items have a value".into(),
        ),
        (
            &[&l, "--file", &file],
            2,
            "'--file' is not supported for links — only items have a value".into(),
        ),
        (
            &[&id, "--info.a-b", "1"],
            2,
            "invalid info key \"a-b\" — keys must be valid JavaScript identifiers".into(),
        ),
        (
            &[&id, "--info", "7"],
            2,
            "--info value must be a JSON object".into(),
        ),
        (&["nope"], 3, "entry 'nope' not found".into()),
        (
            &[&id, "--file", "/nonexistent/sds"],
            3,
            "file not found: '/nonexistent/sds'".into(),
        ),
    ];
    let before = s.run(&["store", "export"]).ok().to_owned();
    for (args, code, message) in cases {
        let mut all = vec!["entry", "update"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--label", "changed"]);
        s.run(&all).fails(*code, message);
    }
    assert_eq!(s.run(&["store", "export"]).ok(), before);
    // Links take labels and Info.
    s.run(&[
        "entry", "update", &l, "--label", "renamed", "--info.x", "true",
    ])
    .line();
    assert_eq!(
        s.run(&["entry", "get", &l, "--label", "--info"]).ok(),
        format!("id:    {l}\nlabel: renamed\ninfo:  {{\"x\":true}}\n")
    );
}

fn move_entries(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A"]);
    let b = s.item(&["--label", "B"]);
    let c = s.item(&["--container", &a, "--label", "C"]);
    let l = s.link(&b, &[]);
    assert_eq!(
        s.run(&["entry", "move", &b, "--to", &a]).line(),
        format!("moved '{b}' into '{a}'")
    );
    assert_eq!(
        s.run(&[
            "--format", "json", "entry", "move", &l, "--to", &a, "--at", "0"
        ])
        .ok(),
        format!("{{\n  \"id\": \"{l}\",\n  \"movedTo\": \"{a}\",\n  \"at\": 0\n}}\n")
    );
    assert_eq!(
        s.run(&["entry", "list", &a]).ok(),
        format!("{l}\n{c}\n{b}\n")
    );
    assert_eq!(
        s.run(&["--format", "json", "entry", "move", &c, "--to", "root"])
            .json(),
        json!({"id": c, "movedTo": ROOT, "at": "end"})
    );
    let refused =
        |id: &str, to: &str| format!("cannot move '{id}' into '{to}' — cycle or invalid target");
    s.run(&["entry", "move", &a, "--to", &b])
        .fails(6, &refused(&a, &b));
    s.run(&["entry", "move", &a, "--to", &a])
        .fails(6, &refused(&a, &a));
    s.run(&["entry", "move", "root", "--to", &a])
        .fails(6, &refused(ROOT, &a));
    s.run(&["entry", "move", "trash", "--to", &a])
        .fails(6, &refused(TRASH, &a));
    s.run(&["entry", "move", "nope", "--to", &a])
        .fails(3, "entry 'nope' not found");
    s.run(&["entry", "move", &a, "--to", "nope"])
        .fails(3, "target 'nope' not found or is not an item");
    s.run(&["entry", "move", &a, "--to", &l])
        .fails(3, &format!("target '{l}' not found or is not an item"));
    s.run(&["entry", "move", &a, "--to", "root", "--at", "-2"])
        .fails(2, "'--at' must be a non-negative integer — got -2");
    assert_eq!(
        s.run(&["entry", "list", "root"]).ok(),
        format!("{a}\n{c}\n")
    );
}

fn delete_restore_and_purge(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A"]);
    let b = s.item(&["--label", "B"]);
    let inner = s.item(&["--container", &a]);
    assert_eq!(
        s.run(&["entry", "delete", &a]).line(),
        format!("deleted '{a}' (moved to trash)")
    );
    assert_eq!(
        s.run(&["--format", "json", "entry", "delete", &b]).json(),
        json!({"id": b, "deleted": true})
    );
    let stamped = s
        .run(&["--format", "json", "entry", "get", &a, "--info"])
        .json();
    assert!(stamped["info"]["_trashedAt"].as_u64().unwrap() > 1_600_000_000_000);
    for (alias, id) in [
        ("root", ROOT),
        ("TRASH", TRASH),
        ("lost-and-found", LOST_AND_FOUND),
    ] {
        s.run(&["entry", "delete", alias])
            .fails(6, &format!("entry '{id}' cannot be deleted (system entry)"));
    }
    s.run(&["entry", "delete", "nope"])
        .fails(3, "entry 'nope' not found");
    // Restore: only direct children of the Trash; target and index.
    s.run(&["entry", "restore", &inner]).fails(
        6,
        &format!("entry '{inner}' is not in the trash — use 'entry move' to relocate live entries"),
    );
    s.run(&["entry", "restore", "nope"])
        .fails(3, "entry 'nope' not found");
    s.run(&["entry", "restore", &a, "--to", "nope"])
        .fails(3, "target 'nope' not found or is not an item");
    s.run(&["entry", "restore", &a, "--to", &inner]).fails(
        6,
        &format!("cannot move '{a}' into '{inner}' — cycle or invalid target"),
    );
    assert_eq!(
        s.run(&["entry", "restore", &a]).line(),
        format!("restored '{a}' into '{ROOT}'")
    );
    let info = s
        .run(&["--format", "json", "entry", "get", &a, "--info"])
        .json();
    assert_eq!(info["info"], json!({}), "_trashedAt is removed on restore");
    assert_eq!(
        s.run(&[
            "--format", "json", "entry", "restore", &b, "--to", &a, "--at", "0"
        ])
        .json(),
        json!({"id": b, "restoredTo": a, "at": 0})
    );
    assert_eq!(
        s.run(&["entry", "list", &a]).ok(),
        format!("{b}\n{inner}\n")
    );
    // Purge: only direct children of the Trash, and not while links protect them.
    s.run(&["entry", "purge", &b]).fails(
        6,
        &format!("entry '{b}' is not in the trash — delete it first"),
    );
    s.run(&["entry", "purge", "trash"]).fails(
        6,
        &format!("entry '{TRASH}' is not in the trash — delete it first"),
    );
    s.run(&["entry", "purge", "nope"])
        .fails(3, "entry 'nope' not found");
    s.link(&b, &[]);
    s.run(&["entry", "delete", &a]).line();
    let out = s.run(&["entry", "purge", &a]);
    assert_eq!(out.code, 1);
    assert_eq!(
        out.stderr,
        format!("sds: error: entry '{a}' is still the target of links and cannot be purged\n")
    );
    let c = s.item(&[]);
    s.run(&["entry", "delete", &c]).line();
    assert_eq!(
        s.run(&["entry", "purge", &c]).line(),
        format!("purged '{c}'")
    );
    s.run(&["entry", "get", &c])
        .fails(3, &format!("entry '{c}' not found"));
    let d = s.item(&[]);
    s.run(&["entry", "delete", &d]).line();
    assert_eq!(
        s.run(&["--format", "json", "entry", "purge", &d]).json(),
        json!({"id": d, "purged": true})
    );
}

fn info_values_over_the_limit_are_refused(backend: &'static str) {
    let s = Sds::new(backend);
    let id = s.init();
    // Values this large exceed the limit of one command-line argument; a script line has none.
    let script = s.file(
        "big.sds",
        format!(
            "entry update {id} --info.big '\"{}\"'\nentry update {id} --info.fits '\"{}\"'\n",
            "x".repeat(262_150),
            "x".repeat(262_142)
        ),
    );
    let out = s.run(&["--on-error", "continue", "--script", &script]);
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "sds: error: Info value is 262152 bytes as JSON; the limit is 262144\n"
    );
    assert_eq!(out.stdout, format!("updated '{id}'\n"));
    let out = s
        .run(&["--format", "json", "entry", "get", &id, "--info.fits"])
        .json();
    assert_eq!(out["info.fits"].as_str().map(str::len), Some(262_142));
    let out = s
        .run(&["--format", "json", "entry", "get", &id, "--info"])
        .json();
    assert_eq!(out["info"].as_object().map(|m| m.len()), Some(1));
}

fn well_known_items_can_be_renamed_and_used_as_containers(backend: &'static str) {
    let s = Sds::new(backend);
    s.init();
    assert_eq!(
        s.run(&["entry", "update", "root", "--label", "Top"]).line(),
        format!("updated '{ROOT}'")
    );
    s.run(&["entry", "update", "trash", "--label", "Bin"])
        .line();
    assert_eq!(
        s.run(&["entry", "get", "ROOT", "--label"]).ok(),
        format!("id:    {ROOT}\nlabel: Top\n")
    );
    let out = s.run(&["tree", "show", "--depth", "1"]);
    assert!(out.ok().starts_with(&format!("root/\n├── {TRASH}  Bin\n")));
    s.run(&["entry", "move", "lost-and-found", "--to", "trash"])
        .fails(
            6,
            &format!("cannot move '{LOST_AND_FOUND}' into '{TRASH}' — cycle or invalid target"),
        );
}

fn list_depth_applies_only_with_recursive(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.init();
    let a1 = s.item(&["--container", &a]);
    s.item(&["--container", &a1]);
    assert_eq!(
        s.run(&["entry", "list", "root", "--depth", "5"]).ok(),
        format!("{a}\n")
    );
    assert_eq!(
        s.run(&[
            "entry",
            "list",
            "root",
            "--recursive",
            "--depth",
            "2",
            "--only",
            "links"
        ])
        .ok(),
        ""
    );
    assert_eq!(
        s.run(&[
            "--format",
            "json",
            "entry",
            "list",
            "root",
            "--recursive",
            "--depth",
            "0"
        ])
        .ok(),
        "[]\n"
    );
}

fn restore_and_move_refuse_links_as_targets(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.init();
    let l = s.link(&a, &[]);
    let b = s.item(&[]);
    s.run(&["entry", "delete", &b]).line();
    s.run(&["entry", "restore", &b, "--to", &l])
        .fails(3, &format!("target '{l}' not found or is not an item"));
    s.run(&["entry", "restore", &b, "--at", "x"])
        .fails(2, "invalid value for --at: 'x' — expected an integer");
    // A link can be deleted, listed in the Trash and restored like an item.
    s.run(&["entry", "delete", &l]).line();
    assert_eq!(
        s.run(&["entry", "restore", &l, "--to", &a]).line(),
        format!("restored '{l}' into '{a}'")
    );
    assert_eq!(s.run(&["entry", "list", &a]).ok(), format!("{l}\n"));
}

fn purge_errors_in_json(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.init();
    s.link(&a, &[]);
    s.run(&["entry", "delete", &a]).line();
    s.run(&["--format", "json", "entry", "purge", &a])
        .fails_json(
            1,
            &format!("entry '{a}' is still the target of links and cannot be purged"),
        );
    s.run(&["--format", "json", "entry", "purge", "root"])
        .fails_json(
            6,
            &format!("entry '{ROOT}' is not in the trash — delete it first"),
        );
    s.run(&["--format", "json", "entry", "restore", "nope"])
        .fails_json(3, "entry 'nope' not found");
}

fn values_may_start_with_a_dash(backend: &'static str) {
    let s = Sds::new(backend);
    let id = s.item(&["--label", "-dash", "--value", "--not-an-option"]);
    assert_eq!(
        s.run(&["entry", "get", &id, "--label", "--value"]).ok(),
        format!("id:    {id}\nlabel: -dash\nvalue: --not-an-option\n")
    );
    s.run(&["entry", "update", &id, "--label", "-x"]).line();
    assert_eq!(
        s.run(&["entry", "get", &id, "--label"]).ok(),
        format!("id:    {id}\nlabel: -x\n")
    );
}

fn changing_the_mime_type_keeps_the_value(backend: &'static str) {
    let s = Sds::new(backend);
    let id = s.item(&["--value", "body"]);
    s.run(&["entry", "update", &id, "--mime", "text/x-note"])
        .line();
    assert_eq!(
        s.run(&["--format", "json", "entry", "get", &id, "--mime", "--value"])
            .json(),
        json!({"id": id, "mime": "text/x-note", "value": "body"})
    );
    s.run(&["entry", "update", &id, "--mime", ""])
        .fails(2, "MIME types must have 1 to 256 UTF-16 units");
}

fn nested_info_values_print_as_compact_json(backend: &'static str) {
    let s = Sds::new(backend);
    let id = s.item(&[
        "--info.meta",
        r#"{"b": [1, {"c": null}], "a": "x y"}"#,
        "--info.s",
        "\"5\"",
    ]);
    assert_eq!(
        s.run(&["entry", "get", &id, "--info"]).ok(),
        format!(
            "id:    {id}\ninfo:  {{\"meta\":{{\"a\":\"x y\",\"b\":[1,{{\"c\":null}}]}},\"s\":\"5\"}}\n"
        )
    );
    assert_eq!(
        s.run(&["entry", "list", "root", "--info.meta"]).ok(),
        format!("{id}  {{\"a\":\"x y\",\"b\":[1,{{\"c\":null}}]}}\n")
    );
}

fn entries_created_in_the_trash_are_trash_entries(backend: &'static str) {
    let s = Sds::new(backend);
    s.init();
    let t = s.item(&["--container", "trash", "--label", "born in the trash"]);
    assert_eq!(
        s.run(&["trash", "list"]).ok(),
        format!("{t}  item  born in the trash\n")
    );
    assert_eq!(
        s.run(&["entry", "purge", &t]).line(),
        format!("purged '{t}'")
    );
}

backend_tests!(
    create_items_and_links,
    create_refuses_bad_arguments_before_changing_anything,
    values_from_text_files_and_base64,
    info_arguments_in_every_form,
    get_shows_all_fields_or_the_selected_ones,
    list_children_subtrees_and_fields,
    update_changes_what_is_given,
    move_entries,
    delete_restore_and_purge,
    info_values_over_the_limit_are_refused,
    well_known_items_can_be_renamed_and_used_as_containers,
    list_depth_applies_only_with_recursive,
    restore_and_move_refuse_links_as_targets,
    purge_errors_in_json,
    values_may_start_with_a_dash,
    changing_the_mime_type_keeps_the_value,
    nested_info_values_print_as_compact_json,
    entries_created_in_the_trash_are_trash_entries,
);
