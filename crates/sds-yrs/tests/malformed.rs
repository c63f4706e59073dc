//! Malformed input that is particular to yrs: inputs that once crashed or broke the backend
//! (`tests/fixtures/regressions/`), and updates whose origins contradict each other.
//!
//! The seeded mutation fuzzing of snapshots, patches and cursors runs for every backend in
//! `sds_testkit::backend_suite::malformed` (see `tests/conformance.rs`; `SDS_FUZZ_SEED`,
//! `SDS_FUZZ_CASES` and `SDS_FUZZ_TRACE` as before).

use sds_core::{Backend, ErrorCode, NewBackend};
use sds_testkit::backend_suite::malformed::check_store;
use sds_yrs::{YrsBackend, YrsStore};
use std::path::Path;

mod common;

fn base_store() -> YrsStore {
    common::yjs_fixtures().load_snapshot()
}

/// Inputs that once crashed or broke the backend (see `tests/fixtures/regressions/README.md`).
#[test]
fn regressions_stay_fixed() {
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/regressions");
    let mut dirs: Vec<_> = std::fs::read_dir(&regressions)
        .expect("regressions")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty());
    for dir in dirs {
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        let mut store = base_store();
        for file in files {
            let patch = std::fs::read(&file).expect("patch");
            check_store(&mut store, &patch);
            let _ = YrsBackend::from_snapshot(&store.backend().snapshot()).expect("restores");
        }
    }
}

/// Patches whose origins contradict each other: rejected when the left and the right origin
/// are the same item, otherwise applied without harm.
#[test]
fn contradicting_origins_are_rejected_or_harmless() {
    // Patch 0001 of the fixtures with its origins bent: (1,56)/(1,56) and (1,55)/(1,50).
    let same = [
        1, 1, 2, 0, 196, 1, 56, 1, 56, 7, 114, 101, 110, 97, 109, 101, 100, 1, 1, 1, 51, 5,
    ];
    let crossed = [
        1, 1, 2, 0, 196, 1, 55, 1, 50, 7, 114, 101, 110, 97, 109, 101, 100, 1, 1, 1, 51, 5,
    ];
    let mut store = base_store();
    let err = store.apply_remote_patch(&same).expect_err("same origins");
    assert_eq!(err.code(), ErrorCode::InvalidData);
    check_store(&mut store, &crossed);
    assert!(YrsBackend::from_snapshot(&store.backend().snapshot()).is_ok());
}

/// A patch with a block that the document has in part, under another parent than the known
/// part's: the rest of the block continues the known part's parent. (yrs alone records the
/// rest under the parent the block names while linking it among the known part's siblings;
/// deleting one parent then frees an item the other still points to, a use after free found
/// by fuzzing: `tests/fixtures/regressions/cut-block-parent-crash`.)
#[test]
fn the_rest_of_a_block_known_in_part_stays_with_the_known_part() {
    use yrs::{Array as _, Doc, Options, ReadTxn as _, StateVector, Transact as _};
    let update = |name: &str, values: &[i64]| {
        let doc = Doc::with_options(Options::with_client_id(yrs::ClientID::new(7)));
        let array = doc.get_or_insert_array(name);
        array.insert_range(&mut doc.transact_mut(), 0, values.iter().copied());
        doc.transact()
            .encode_state_as_update_v1(&StateVector::default())
    };
    // Client 7 wrote [1] into "a", or so says the first patch; the second says it wrote
    // [1, 2] into "b" with the same ids.
    let mut backend = YrsBackend::new_empty();
    backend.apply_remote_patch(&update("a", &[1])).unwrap();
    backend.apply_remote_patch(&update("b", &[1, 2])).unwrap();
    let txn = backend.doc().transact();
    let a = txn.get_array("a").expect("a");
    assert_eq!(a.len(&txn), 2);
    let values: Vec<String> = a.iter(&txn).map(|v| v.to_string(&txn)).collect();
    assert_eq!(values, ["1", "2"]);
    assert!(txn.get_array("b").is_none_or(|b| b.len(&txn) == 0));
    drop(txn);
    let restored = YrsBackend::from_snapshot(&backend.snapshot()).expect("restores");
    assert_eq!(
        restored
            .doc()
            .transact()
            .get_array("a")
            .unwrap()
            .len(&restored.doc().transact()),
        2
    );
}
