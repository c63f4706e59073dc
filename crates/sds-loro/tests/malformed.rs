//! Malformed input that is particular to loro. loro protects its blobs with an xxHash32
//! checksum: random corruption is rejected before anything is decoded, which the first tests
//! check. The seeded mutation fuzzing of `sds_testkit::backend_suite::malformed` (run by
//! `tests/conformance.rs`) recomputes the checksum of every mutated blob instead, so that the
//! mutations reach loro's decoders and its integration of the decoded changes.
//!
//! There loro 1.17 panics on some inputs; the backend catches the panic and rebuilds the
//! document (`tests/fixtures/regressions/`, replayed below). On others it aborts the process
//! (allocation of tens of GB from an unchecked count) or accepts an update it cannot export
//! again; the backend cannot prevent those without a decoder of its own, so other seeds
//! (`SDS_FUZZ_SEED`) are a tool to find loro bugs, not a promise that sds survives them.
//!
//! Seeded: set `SDS_FUZZ_SEED` to replay a run and `SDS_FUZZ_CASES` for more cases; a failure
//! prints the seed and the case number.

use sds_core::{Backend, ErrorCode, NewBackend, ROOT_ID, StoreOptions};
use sds_loro::{LoroBackend, LoroStore};
use sds_testkit::backend_suite::malformed::{check_store, fuzz, seed_and_cases, unsealed};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

mod common;

use common::fix_checksum;

#[test]
fn checksum_fix_up_matches_what_loro_writes() {
    let store = LoroStore::from_scratch(StoreOptions::default()).expect("store");
    let snapshot = store.export_patch(None).expect("snapshot");
    let mut rewritten = snapshot.clone();
    rewritten[16..20].fill(0);
    fix_checksum(&mut rewritten);
    assert_eq!(rewritten, snapshot);
}

/// Whether raw loro panics when `input` is imported into the document `base_snapshot`.
fn loro_panics_on(base_snapshot: &[u8], input: &[u8]) -> bool {
    let doc = loro::LoroDoc::new();
    doc.import(base_snapshot).expect("base");
    let panicked = catch_unwind(AssertUnwindSafe(|| doc.import(input))).is_err();
    if panicked {
        // Its locks are poisoned and its destructor would panic again.
        std::mem::forget(doc);
    }
    panicked
}

/// Mutated blobs whose checksum was left as it is: loro rejects nearly all of them before
/// decoding anything (raw loro never panics), and sds changes nothing.
#[test]
fn corrupted_blobs_fail_the_checksum_and_change_nothing() {
    let (seed, cases) = seed_and_cases(0x1070_5eed, 2000);
    let base_snapshot =
        sds_testkit::backend_suite::malformed::corpus::<LoroBackend>().base_snapshot;
    let mut panics = 0;
    let outcome = fuzz::<LoroBackend>(seed, cases, unsealed, |input| {
        panics += usize::from(loro_panics_on(&base_snapshot, input));
    });
    assert_eq!(panics, 0, "loro checks the checksum before decoding");
    assert!(
        outcome.rejected > cases * 9 / 10,
        "seed {seed}: {outcome:?}"
    );
}

/// Inputs that once made loro panic inside an import (see
/// `tests/fixtures/regressions/README.md`): the backend turns the panic into `invalid-data`,
/// rebuilds the document as it was, and stays usable.
#[test]
fn inputs_loro_panics_on_are_rejected_and_the_document_rebuilt() {
    let fixtures = common::loro_fixtures();
    let base_snapshot = fixtures.read("snapshot.bin");
    let regressions =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/regressions/import-panics");
    let mut files: Vec<_> = std::fs::read_dir(&regressions)
        .expect("regressions")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for file in files {
        let input = std::fs::read(&file).expect("input");
        let name = file.display();
        // Once loro stops panicking on an input, it no longer tests the recovery.
        assert!(
            loro_panics_on(&base_snapshot, &input),
            "{name}: raw loro no longer panics"
        );

        let mut backend = LoroBackend::from_snapshot(&base_snapshot).expect("base");
        let before = sds_testkit::DocumentState::of(&backend);
        let err = backend.apply_remote_patch(&input).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidData, "{name}");
        assert!(
            sds_testkit::DocumentState::of(&backend) == before,
            "{name}: the rebuilt document differs"
        );
        let patch = backend
            .commit(vec![sds_core::Op::SetInfo {
                id: ROOT_ID.into(),
                key: "k".into(),
                value: serde_json::json!(1),
            }])
            .expect("usable after the rebuild");
        assert!(!patch.is_empty());
        let again = LoroBackend::from_snapshot(&backend.snapshot()).expect("restores");
        assert_eq!(again.read_entry(ROOT_ID), backend.read_entry(ROOT_ID));

        let mut store: LoroStore = fixtures.load_snapshot();
        check_store(&mut store, &input);
        store.new_item_at(None, ROOT_ID, None).expect("usable");
        assert!(
            LoroStore::from_binary(&store.as_binary(), StoreOptions::default()).is_ok(),
            "{name}: restores"
        );
    }
}
