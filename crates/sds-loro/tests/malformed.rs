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

use sds_core::{Backend, EntryData, ErrorCode, NewBackend, Op, ROOT_ID, StoreOptions};
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

/// The inputs in `tests/fixtures/regressions/<kind>` (file name, bytes), in file name order.
fn regressions(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/regressions")
        .join(kind);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("regressions")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no inputs in {}", dir.display());
    files
        .into_iter()
        .map(|file| {
            let name = file.display().to_string();
            (name, std::fs::read(&file).expect("input"))
        })
        .collect()
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
    for (name, input) in regressions("import-panics") {
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

/// Version, history, pending flag and live entries of a document.
type DocumentState = (loro::VersionVector, Vec<u8>, bool, Vec<(String, EntryData)>);

/// What a rejected patch must leave as it was: `sds_testkit::DocumentState`, except that the
/// version is compared decoded (the order of a loro version vector's encoding follows a hash
/// map, which a rebuilt document fills in another order when it has more than one peer).
fn document_state(backend: &LoroBackend) -> DocumentState {
    let empty = LoroBackend::new_empty().current_cursor();
    let mut entries = backend.read_all();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    (
        loro::VersionVector::decode(&backend.current_cursor()).expect("a version vector"),
        backend.export_patch(Some(&empty)).expect("history"),
        backend.has_pending(),
        entries,
    )
}

/// One transaction whose patch outgrows the backup's update log (4 MiB), so that the backup
/// is folded into a snapshot: the next snapshot is that export, and a rebuild after a loro
/// panic starts from it, also right after the transaction.
#[test]
fn a_compacted_backup_serves_the_snapshot_and_the_rebuild() {
    let fixtures = common::loro_fixtures();
    let base_snapshot = fixtures.read("snapshot.bin");
    let (_, input) = regressions("import-panics").swap_remove(0);
    let ops = || {
        (0..12_000_usize)
            .map(|i| {
                let mut data =
                    EntryData::new_item(ROOT_ID.into(), format!("a{i:06}").into(), String::new());
                data.label = (0..400)
                    .map(|k| char::from(b'a' + ((i * 31 + k * 7) % 26) as u8))
                    .collect();
                Op::Create {
                    id: format!("big-{i}").into(),
                    data: Box::new(data),
                }
            })
            .collect::<Vec<_>>()
    };

    let mut settled = LoroBackend::from_snapshot_seeded(&base_snapshot, 7).expect("base");
    let patch = settled.commit(ops()).expect("commit");
    assert!(patch.len() > 4 << 20, "{} bytes", patch.len());
    let snapshot = settled.snapshot();
    assert_eq!(settled.snapshot(), snapshot, "an unchanged document");
    let state = document_state(&settled);
    let restored = LoroBackend::from_snapshot(&snapshot).expect("restores");
    assert_eq!(restored.read_all().len(), settled.read_all().len());
    // The panicking input is rejected and the document rebuilt as it was.
    let rejects_and_rebuilds = |backend: &mut LoroBackend| {
        let err = backend.apply_remote_patch(&input).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidData);
        assert!(
            document_state(backend) == state,
            "the rebuilt document differs"
        );
    };
    rejects_and_rebuilds(&mut settled);

    // The same, with the patch arriving right after the transaction.
    let mut racing = LoroBackend::from_snapshot_seeded(&base_snapshot, 7).expect("base");
    assert_eq!(racing.commit(ops()).expect("commit"), patch);
    rejects_and_rebuilds(&mut racing);
    assert!(!racing.commit(ops()).expect("usable").is_empty());
}
