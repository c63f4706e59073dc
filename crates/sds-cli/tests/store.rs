//! `store info | destroy | export | import`, store access rules, corrupted files and backend
//! mismatches (SPEC §15.3, §15.5), on both backends.

mod common;

use common::*;
use serde_json::{Value, json};

fn not_found(s: &Sds) -> String {
    format!("store 'test' not found in '{}'", s.dir().display())
}

fn store_info(backend: &'static str) {
    let s = Sds::new(backend);
    assert_eq!(
        s.run(&["store", "info"]).ok(),
        format!("store 'test': not found in '{}'\n", s.dir().display())
    );
    assert_eq!(
        s.run(&["--format", "json", "store", "info"]).ok(),
        "{\n  \"storeId\": \"test\",\n  \"exists\": false\n}\n"
    );
    assert!(!s.dir().exists(), "store info must not create anything");
    let a = s.item(&["--label", "a"]);
    s.item(&["--container", &a]);
    let l = s.link(&a, &[]);
    // Trash and LostAndFound contents do not count.
    let gone = s.item(&[]);
    s.run(&["entry", "delete", &gone]).line();
    s.run(&["entry", "delete", &l]).line();
    let db = s.db().display().to_string();
    assert_eq!(
        s.run(&["store", "info"]).ok(),
        format!("store:       test\nentries:     2\ndb path:     {db}\n")
    );
    assert_eq!(
        s.run(&["--format", "json", "store", "info"]).ok(),
        format!(
            "{{\n  \"storeId\": \"test\",\n  \"exists\": true,\n  \"entryCount\": 2,\n  \"dbPath\": \"{db}\"\n}}\n"
        )
    );
}

fn missing_stores_are_created_only_by_item_creation_and_import(backend: &'static str) {
    let s = Sds::new(backend);
    let message = not_found(&s);
    for args in [
        &["entry", "list", "root"][..],
        &["entry", "get", "root"],
        &["entry", "update", "root", "--label", "x"],
        &["entry", "move", "a", "--to", "root"],
        &["entry", "delete", "a"],
        &["entry", "restore", "a"],
        &["entry", "purge", "a"],
        &["entry", "create", "--target", "root"],
        &["trash", "list"],
        &["trash", "purge-all"],
        &["trash", "purge-expired"],
        &["tree", "show"],
        &["store", "export"],
        &["store", "destroy"],
    ] {
        s.run(args).fails(3, &message);
    }
    assert!(!s.db().exists());
    // Another store sharing the directory does not make this one exist.
    run(
        s.bare()
            .args(["--persistence-dir", s.dir().to_str().unwrap()])
            .args(["--backend", backend, "--store", "other", "entry", "create"]),
        None,
    )
    .line();
    s.run(&["tree", "show"]).fails(3, &message);
    // An item creation creates the store.
    s.item(&["--label", "new"]);
    assert!(s.db().exists());
    let out = s.run(&["entry", "list", "root", "--label"]);
    assert!(out.ok().ends_with("  new\n"));
}

fn stores_sharing_a_file_keep_their_data_apart(backend: &'static str) {
    let s = Sds::new(backend);
    s.item(&["--label", "mine"]);
    let dir = s.dir();
    let dir = dir.to_str().unwrap();
    // `test!` maps to the same file name as `test_`, but is another store.
    let other = |args: &[&str]| {
        run(
            s.bare()
                .args([
                    "--persistence-dir",
                    dir,
                    "--backend",
                    backend,
                    "--store",
                    "test!",
                ])
                .args(args),
            None,
        )
    };
    other(&["entry", "create", "--label", "theirs"]).line();
    assert!(s.dir().join("test_.db").exists());
    let out = other(&["entry", "list", "root", "--label"]);
    assert!(out.ok().ends_with("  theirs\n"), "{}", out.stdout);
    let out = s.run(&["entry", "list", "root", "--label"]);
    assert!(out.ok().ends_with("  mine\n"));
}

fn store_destroy(backend: &'static str) {
    let s = Sds::new(backend);
    s.run(&["store", "destroy"]).fails(3, &not_found(&s));
    s.init();
    // Leave -wal and -shm companions behind, as a crashed process would.
    let wal = s.dir().join("test.db-wal");
    let shm = s.dir().join("test.db-shm");
    std::fs::write(&wal, b"").unwrap();
    std::fs::write(&shm, b"").unwrap();
    assert_eq!(s.run(&["store", "destroy"]).line(), "store 'test': deleted");
    assert!(!s.db().exists() && !wal.exists() && !shm.exists());
    s.run(&["store", "destroy"]).fails(3, &not_found(&s));
    s.init();
    assert_eq!(
        s.run(&["--format", "json", "store", "destroy"]).ok(),
        "{\n  \"storeId\": \"test\",\n  \"destroyed\": true\n}\n"
    );
    assert!(!s.db().exists());
}

fn export_json_and_binary(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A", "--value", "hello", "--info.n", "1"]);
    let l = s.link(&a, &["--label", "to A"]);
    let stdout = s.run(&["store", "export"]);
    let text = stdout.ok();
    assert!(text.ends_with("}\n") && text.starts_with("{\n  \"Kind\": \"item\",\n  \"Id\""));
    let json: Value = serde_json::from_str(text).unwrap();
    assert_eq!(json["Id"], ROOT);
    let inner = json["innerEntries"].as_array().unwrap();
    assert_eq!(inner.len(), 4);
    assert_eq!(
        inner[2],
        json!({"Kind": "item", "Id": a, "Label": "A", "Type": "text/plain",
               "ValueKind": "literal", "Info": {"n": 1}, "innerEntries": [], "Value": "hello"})
    );
    assert_eq!(
        inner[3],
        json!({"Kind": "link", "Id": l, "Label": "to A", "TargetId": a, "Info": {}})
    );
    // The same data into a file; text and JSON confirmations.
    let file = s.path("out.json").display().to_string();
    assert_eq!(
        s.run(&["store", "export", "--output", &file]).line(),
        format!("exported to '{file}'")
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let bin = s.path("out.bin").display().to_string();
    assert_eq!(
        s.run(&[
            "--format",
            "json",
            "store",
            "export",
            "--encoding",
            "BINARY",
            "--output",
            &bin
        ])
        .ok(),
        format!(
            "{{\n  \"exported\": true,\n  \"file\": \"{bin}\",\n  \"format\": \"binary\"\n}}\n"
        )
    );
    let bytes = std::fs::read(&bin).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    let raw = s.run(&["store", "export", "--encoding", "binary"]);
    assert_eq!(raw.code, 0);
    assert_eq!(&raw.raw_stdout[..2], &[0x1f, 0x8b]);
    s.run(&["store", "export", "--encoding", "yaml"])
        .fails(2, "'--encoding' accepts 'json' or 'binary' — got 'yaml'");
}

fn import_json(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.item(&["--label", "A", "--value", "v"]);
    let a1 = s.item(&["--container", &a, "--label", "A1"]);
    s.link(&a1, &["--container", &a, "--label", "inner"]);
    s.link(&a, &["--label", "L"]);
    let file = s.path("export.json").display().to_string();
    s.run(&["store", "export", "--output", &file]).line();
    // Into a new store: created on import, with fresh ids.
    let other = Sds::new(backend);
    assert_eq!(
        other.run(&["store", "import", "--input", &file]).line(),
        format!("imported '{file}'")
    );
    let tree = other.run(&["--format", "json", "tree", "show"]).json();
    let root = tree["root"].as_array().unwrap();
    assert_eq!(root.len(), 4);
    let new_a = &root[2];
    assert_eq!(new_a["Label"], "A");
    assert_ne!(new_a["Id"], a.as_str());
    assert_eq!(new_a["Children"][0]["Label"], "A1");
    assert_ne!(new_a["Children"][0]["Id"], a1.as_str());
    // A link inside an imported subtree follows its target to the new id ...
    assert_eq!(new_a["Children"][1]["TargetId"], new_a["Children"][0]["Id"]);
    // ... while a top-level entry is imported on its own: its link keeps the old id
    // (SPEC §8.4), which the repair pass gives a placeholder in LostAndFound.
    assert_eq!(root[3]["TargetId"], a.as_str());
    assert_eq!(root[1]["Children"][0]["Id"], a.as_str());
    // Importing again duplicates the entries.
    assert_eq!(
        other
            .run(&["--format", "json", "store", "import", "--input", &file])
            .ok(),
        format!("{{\n  \"imported\": true,\n  \"file\": \"{file}\"\n}}\n")
    );
    let tree = other.run(&["--format", "json", "tree", "show"]).json();
    assert_eq!(tree["root"].as_array().unwrap().len(), 6);
}

fn import_refuses_bad_input(backend: &'static str) {
    let s = Sds::new(backend);
    let missing = s.path("missing.json").display().to_string();
    s.run(&["store", "import", "--input", &missing])
        .fails(3, &format!("file not found: '{missing}'"));
    let cases: &[(&str, &[u8], &str)] = &[
        ("text.txt", b"hello", "does not contain valid SDS data"),
        ("empty.json", b"", "does not contain valid SDS data"),
        (
            "broken.json",
            b"{\"Kind\": \"item\",",
            "does not contain valid JSON",
        ),
        (
            "array.json",
            b"  [1, 2]\n",
            "does not contain valid SDS data",
        ),
        (
            "link.json",
            br#"{"Kind":"link","Id":"x","TargetId":"y"}"#,
            "does not contain valid SDS data",
        ),
        (
            "entries.json",
            br#"{"Kind":"item","innerEntries":{}}"#,
            "does not contain valid SDS data",
        ),
        (
            "garbage.bin",
            &[0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4],
            "does not contain valid binary SDS data",
        ),
    ];
    for (name, bytes, message) in cases {
        let file = s.file(name, bytes);
        s.run(&["store", "import", "--input", &file])
            .fails(2, &format!("'{file}' {message}"));
    }
    assert!(!s.db().exists(), "refused input must not create the store");
    // A malformed entry (invalid base64 in the last one) imports nothing at all.
    s.init();
    let before = s.run(&["store", "export"]).ok().to_owned();
    let bad = json!({"Kind": "item", "Id": ROOT, "innerEntries": [
        {"Kind": "item", "Label": "fine"},
        {"Kind": "item", "Label": "bad", "ValueKind": "binary", "Value": "not base64!"}
    ]});
    let file = s.file("bad.json", bad.to_string());
    s.run(&["store", "import", "--input", &file])
        .fails(2, &format!("'{file}' does not contain valid SDS data"));
    let bad_info = json!({"Kind": "item", "innerEntries": [{"Kind": "thing"}]});
    let file = s.file("bad2.json", bad_info.to_string());
    s.run(&["--format", "json", "store", "import", "--input", &file])
        .fails_json(2, &format!("'{file}' does not contain valid SDS data"));
    assert_eq!(s.run(&["store", "export"]).ok(), before);
}

fn export_import_keeps_large_values(backend: &'static str) {
    let s = Sds::new(backend);
    let long_text: String = "large text value — ".repeat(10_000);
    let text_file = s.file("long.txt", &long_text);
    let bytes: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let bin_file = s.file("long.bin", &bytes);
    s.item(&["--label", "text", "--file", &text_file]);
    s.item(&[
        "--label",
        "bytes",
        "--mime",
        "application/octet-stream",
        "--file",
        &bin_file,
    ]);
    let file = s.path("export.json").display().to_string();
    s.run(&["store", "export", "--output", &file]).line();
    let other = Sds::new(backend);
    other.run(&["store", "import", "--input", &file]).line();
    let json: Value = other.run(&["store", "export"]).json();
    let inner = json["innerEntries"].as_array().unwrap();
    assert_eq!(inner[2]["ValueKind"], "literal-reference");
    assert_eq!(inner[2]["Value"], long_text.as_str());
    assert_eq!(inner[3]["ValueKind"], "binary-reference");
    assert_eq!(inner[3]["Type"], "application/octet-stream");
    let original: Value = s.run(&["store", "export"]).json();
    assert_eq!(
        inner[3]["Value"], original["innerEntries"][3]["Value"],
        "binary value"
    );
    assert_eq!(
        inner[3]["ValueRef"],
        original["innerEntries"][3]["ValueRef"]
    );
}

fn binary_exports_of_either_backend_import(backend: &'static str) {
    for source_backend in [backend, other(backend)] {
        let source = Sds::new(source_backend);
        let a = source.item(&["--label", "from", "--value", source_backend]);
        source.link(&a, &[]);
        let file = source.path("snapshot.bin").display().to_string();
        source
            .run(&["store", "export", "--encoding", "binary", "--output", &file])
            .line();
        let target = Sds::new(backend);
        target.run(&["store", "import", "--input", &file]).line();
        let json: Value = target.run(&["store", "export"]).json();
        let inner = json["innerEntries"].as_array().unwrap();
        assert_eq!(inner.len(), 4, "from {source_backend}");
        assert_eq!(inner[2]["Label"], "from");
        assert_eq!(inner[2]["Value"], source_backend);
        // A top-level link keeps its target id (SPEC §8.4).
        assert_eq!(inner[3]["TargetId"], a.as_str());
    }
}

fn a_corrupted_database_is_refused_and_left_untouched(backend: &'static str) {
    let s = Sds::new(backend);
    std::fs::create_dir_all(s.dir()).unwrap();
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 31 % 256) as u8).collect();
    std::fs::write(s.db(), &garbage).unwrap();
    for args in [
        &["store", "info"][..],
        &["entry", "create", "--label", "x"],
        &["entry", "list", "root"],
        &["tree", "show"],
        &["store", "export"],
        &["store", "destroy"],
    ] {
        let out = s.run(args);
        assert_eq!(out.code, 1, "{args:?}");
        assert_eq!(out.stdout, "");
        assert!(
            out.stderr
                .starts_with("sds: error: failed to open store 'test': "),
            "{}",
            out.stderr
        );
        assert!(out.stderr.ends_with('\n') && out.stderr.lines().count() == 1);
        assert_eq!(
            std::fs::read(s.db()).unwrap(),
            garbage,
            "{args:?} changed the file"
        );
    }
    let out = s.run(&["--format", "json", "tree", "show"]);
    assert_eq!(out.code, 1);
    let error: Value = serde_json::from_str(&out.stderr).unwrap();
    assert_eq!(error["exitCode"], 1);
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .starts_with("failed to open store 'test': ")
    );
    assert!(!s.dir().join("test.db-wal").exists());
}

fn the_wrong_backend_exits_2(backend: &'static str) {
    let s = Sds::new(backend);
    s.init();
    let wrong = other(backend);
    let message = format!("store 'test' uses the {backend} backend — use --backend {backend}");
    let export = s.path("export.json").display().to_string();
    s.run(&["store", "export", "--output", &export]).line();
    for args in [
        &["tree", "show"][..],
        &["entry", "create"],
        &["store", "info"],
        &["store", "import", "--input", &export],
    ] {
        s.run(&[&["--backend", wrong][..], args].concat())
            .fails(2, &message);
    }
    // Nothing was written: the right backend still sees one entry.
    let out = s.run(&["entry", "list", "root"]);
    assert_eq!(out.ok().lines().count(), 1);
}

fn export_of_a_new_store_is_exact(backend: &'static str) {
    let s = Sds::new(backend);
    let a = s.init();
    s.run(&["entry", "delete", &a]).line();
    s.run(&["entry", "purge", &a]).line();
    assert_eq!(
        s.run(&["store", "export"]).ok(),
        format!(
            "{{\n  \"Kind\": \"item\",\n  \"Id\": \"{ROOT}\",\n  \"Label\": \"\",\n  \"Type\": \"text/plain\",\n  \"ValueKind\": \"none\",\n  \"Info\": {{}},\n  \"innerEntries\": [\n    {{\n      \"Kind\": \"item\",\n      \"Id\": \"{TRASH}\",\n      \"Label\": \"trash\",\n      \"Type\": \"text/plain\",\n      \"ValueKind\": \"none\",\n      \"Info\": {{}},\n      \"innerEntries\": []\n    }},\n    {{\n      \"Kind\": \"item\",\n      \"Id\": \"{LOST_AND_FOUND}\",\n      \"Label\": \"lost-and-found\",\n      \"Type\": \"text/plain\",\n      \"ValueKind\": \"none\",\n      \"Info\": {{}},\n      \"innerEntries\": []\n    }}\n  ]\n}}\n"
        )
    );
    // Importing it adds nothing (the well-known items are skipped) but creates the store.
    let file = s.path("empty.json").display().to_string();
    s.run(&["store", "export", "--output", &file]).line();
    let other = Sds::new(backend);
    other.run(&["store", "import", "--input", &file]).line();
    assert_eq!(other.run(&["entry", "list", "root"]).ok(), "");
    assert_eq!(
        other.run(&["store", "info"]).ok().lines().nth(1),
        Some("entries:     0")
    );
}

fn export_to_an_unwritable_file_fails(backend: &'static str) {
    let s = Sds::new(backend);
    s.init();
    let target = s.path("no/such/dir/out.json").display().to_string();
    let out = s.run(&["store", "export", "--output", &target]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .starts_with(&format!("sds: error: cannot write '{target}': ")),
        "{}",
        out.stderr
    );
}

backend_tests!(
    store_info,
    missing_stores_are_created_only_by_item_creation_and_import,
    stores_sharing_a_file_keep_their_data_apart,
    store_destroy,
    export_json_and_binary,
    import_json,
    import_refuses_bad_input,
    export_import_keeps_large_values,
    binary_exports_of_either_backend_import,
    a_corrupted_database_is_refused_and_left_untouched,
    the_wrong_backend_exits_2,
    export_of_a_new_store_is_exact,
    export_to_an_unwritable_file_fails,
);
