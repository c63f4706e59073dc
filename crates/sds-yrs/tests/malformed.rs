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
