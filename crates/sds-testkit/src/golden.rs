//! The golden fixtures that a JavaScript implementation wrote for a backend crate (DESIGN §6),
//! in the backend crate's `tests/fixtures/<library>/`: `snapshot.bin` and the patches listed
//! in `patches.json`, the trees sds must read from them (`expected-snapshot.json`,
//! `expected-after-patches.json`), and `sds-written.bin` with the JavaScript library's view of
//! it (`report-sds-written.json`, written by the fixture's `verify.mjs`).
//!
//! The tests themselves check a backend's own layout and stay in its crate; these are the
//! helpers they share, and the SPEC §9.1 layout in a library's type names ([`LayoutTypes`]).

use sds_core::gzip::{self, compress};
use sds_core::{Backend, NewBackend, RemotePatchOutcome, Store, StoreOptions};
use serde_json::Value as JsonValue;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A directory of golden fixtures.
#[derive(Debug, Clone)]
pub struct JsFixtures {
    dir: PathBuf,
}

impl JsFixtures {
    /// The fixtures in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JsFixtures { dir: dir.into() }
    }

    /// The bytes of the file `name`.
    pub fn read(&self, name: &str) -> Vec<u8> {
        let path = self.dir.join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
    }

    /// The file `name` as JSON.
    pub fn read_json(&self, name: &str) -> JsonValue {
        serde_json::from_slice(&self.read(name))
            .unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
    }

    /// The patch files of `patches.json`, in the order they were written (eight of them).
    pub fn patch_files(&self) -> Vec<String> {
        let patches = self.read_json("patches.json");
        let files: Vec<String> = patches
            .as_array()
            .expect("patches.json is a list")
            .iter()
            .map(|p| p["file"].as_str().expect("file name").to_owned())
            .collect();
        assert_eq!(files.len(), 8);
        files
    }

    /// A store loaded from `snapshot.bin` (a bare snapshot payload).
    pub fn load_snapshot<B: NewBackend>(&self) -> Store<B> {
        Store::from_binary(
            &compress(&self.read("snapshot.bin")),
            StoreOptions::default(),
        )
        .expect("the JavaScript snapshot loads")
    }

    /// Applies the patch files in the order they were written, each one advancing the
    /// document, changing the tree and leaving the store consistent; compares the tree with
    /// `expected-after-patches.json`; and applies them again: none of them is progress or a
    /// change any more.
    pub fn apply_patches_as_expected<B: Backend>(&self, store: &mut Store<B>) {
        let files = self.patch_files();
        for file in &files {
            self.apply(store, file, |outcome, _| {
                assert!(outcome.advanced, "{file} advanced the document");
                assert!(outcome.changed, "{file} changed the tree");
            });
        }
        self.assert_expected_after_patches(store);
        for file in &files {
            self.apply(store, file, |outcome, _| {
                assert!(
                    !outcome.advanced && !outcome.changed,
                    "{file} applied twice"
                );
            });
        }
    }

    /// Applies the patch files last to first, calling `check` with each one's position in the
    /// original order, name and outcome; the store stays consistent and ends with the tree of
    /// `expected-after-patches.json`.
    pub fn apply_patches_in_reverse<B: Backend>(
        &self,
        store: &mut Store<B>,
        mut check: impl FnMut(usize, &str, &RemotePatchOutcome, &Store<B>),
    ) {
        for (n, file) in self.patch_files().iter().enumerate().rev() {
            self.apply(store, file, |outcome, store| check(n, file, outcome, store));
        }
        self.assert_expected_after_patches(store);
    }

    /// Applies the patch file `file`, lets `check` look at the outcome, and checks that the
    /// store is still consistent.
    fn apply<B: Backend>(
        &self,
        store: &mut Store<B>,
        file: &str,
        check: impl FnOnce(&RemotePatchOutcome, &Store<B>),
    ) {
        let outcome = store
            .apply_remote_patch(&self.read(file))
            .unwrap_or_else(|e| panic!("{file} does not apply: {e}"));
        check(&outcome, store);
        store
            .check_consistency()
            .unwrap_or_else(|e| panic!("inconsistent after {file}: {e}"));
    }

    fn assert_expected_after_patches<B: Backend>(&self, store: &Store<B>) {
        assert_eq!(
            store_json(store),
            self.read_json("expected-after-patches.json")
        );
    }

    /// The store in `sds-written.bin` (an `as_binary()` file of backend `B`), consistent.
    pub fn load_sds_written<B: NewBackend>(&self) -> Store<B> {
        let bytes = self.read("sds-written.bin");
        let payload = gzip::decompress(&bytes).expect("sds-written.bin is an as_binary() file");
        assert_eq!(gzip::detect_backend(&payload), B::NAME);
        let store = Store::from_binary(&bytes, StoreOptions::default()).expect("loads");
        store.check_consistency().expect("consistent");
        store
    }

    /// `report-sds-written.json`, after checking that `library` integrated everything (its
    /// only notes say that the file was gunzipped).
    pub fn sds_written_report(&self, library: &str) -> JsonValue {
        let report = self.read_json("report-sds-written.json");
        assert!(
            report
                .get("notes")
                .and_then(|n| n.as_array())
                .is_none_or(|notes| {
                    notes
                        .iter()
                        .all(|n| n.as_str().is_some_and(|s| s.ends_with("gunzipped")))
                }),
            "{library} integrated everything: {:?}",
            report.get("notes")
        );
        report
    }
}

/// The entries of a report of `verify.mjs`, after checking that each is an entry map of type
/// `types.map` whose fields have their SPEC §9.1 types.
pub fn report_entries(
    report: &JsonValue,
    types: &LayoutTypes,
) -> serde_json::Map<String, JsonValue> {
    let entries = report["report"]["entries"]
        .as_object()
        .expect("entries")
        .clone();
    for (id, entry) in &entries {
        assert_eq!(entry["type"], types.map, "{id}");
        let fields = entry["value"].as_object().expect("fields");
        for (key, field) in fields {
            assert_eq!(field["type"], types.of(key), "{id}.{key}");
        }
    }
    entries
}

/// The store's JSON as the text sds writes, parsed (so numbers compare as they are printed).
pub fn store_json<B: Backend>(store: &Store<B>) -> JsonValue {
    serde_json::from_str(&store.as_json().to_json_string()).expect("store JSON parses")
}

/// How a CRDT library, or the report of a JavaScript one, names the types of the SPEC §9.1
/// layout.
#[derive(Debug, Clone, Copy)]
pub struct LayoutTypes {
    /// `Kind`, `outerItemId`, `OrderKey`, `MIMEType`, `ValueKind`, `TargetId`.
    pub string: &'static str,
    /// `Label`, `literalValue`.
    pub text: &'static str,
    /// `Info`, and the entry map itself.
    pub map: &'static str,
    /// `binaryValue`.
    pub binary: &'static str,
    /// `ValueRef`.
    pub value_ref: &'static str,
}

impl LayoutTypes {
    /// The type of the field `key`.
    pub fn of(&self, key: &str) -> &'static str {
        match key {
            "Label" | "literalValue" => self.text,
            "Info" => self.map,
            "binaryValue" => self.binary,
            "ValueRef" => self.value_ref,
            _ => self.string,
        }
    }

    /// The fields of an entry map (SPEC §9.1) of `kind` (`item` or `link`) and, for items,
    /// `value_kind`, each with its type, sorted: every entry has `Kind`, `outerItemId`,
    /// `OrderKey`, `Label` and `Info`; a link `TargetId`; an item `MIMEType`, `ValueKind` and
    /// the field that holds its kind of value.
    pub fn fields(&self, kind: &str, value_kind: &str) -> Vec<(&'static str, &'static str)> {
        let mut keys = vec!["Kind", "outerItemId", "OrderKey", "Label", "Info"];
        if kind == "link" {
            keys.push("TargetId");
        } else {
            assert_eq!(kind, "item", "Kind");
            keys.extend(["MIMEType", "ValueKind"]);
            match value_kind {
                "literal" => keys.push("literalValue"),
                "binary" => keys.push("binaryValue"),
                "literal-reference" | "binary-reference" => keys.push("ValueRef"),
                _ => {}
            }
        }
        let mut fields: Vec<_> = keys.into_iter().map(|key| (key, self.of(key))).collect();
        fields.sort();
        fields
    }
}

/// Checks the entry maps of a document written by sds against the SPEC §9.1 layout, one entry
/// at a time, and at the end that items of every value kind occurred.
#[derive(Debug)]
pub struct LayoutCheck {
    types: LayoutTypes,
    value_kinds: BTreeSet<String>,
}

impl LayoutCheck {
    /// A check in the type names `types`.
    pub fn new(types: LayoutTypes) -> Self {
        LayoutCheck {
            types,
            value_kinds: BTreeSet::new(),
        }
    }

    /// Checks the entry `id` of `kind` (`item` or `link`) with `value_kind` (items only):
    /// `fields` are its fields with their types as the library shows them.
    pub fn entry(&mut self, id: &str, kind: &str, value_kind: &str, mut fields: Vec<(&str, &str)>) {
        if kind == "item" {
            self.value_kinds.insert(value_kind.to_owned());
        }
        fields.sort();
        assert_eq!(
            fields,
            self.types.fields(kind, value_kind),
            "{id}: fields and their types"
        );
    }

    /// Checks that items of every value kind sds writes occurred.
    pub fn finish(self) {
        for kind in VALUE_KINDS {
            assert!(
                self.value_kinds.contains(kind),
                "the document has a {kind} item"
            );
        }
    }
}

/// Every value kind sds writes (the store of [`crate::every_field`] has them all).
pub const VALUE_KINDS: [&str; 5] = [
    "none",
    "literal",
    "binary",
    "literal-reference",
    "binary-reference",
];
