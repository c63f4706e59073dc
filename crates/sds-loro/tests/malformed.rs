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

/// Version, whole document value, pending flag and live entries of a document.
type DocumentState = (
    loro::VersionVector,
    loro::LoroValue,
    bool,
    Vec<(String, EntryData)>,
);

/// What a rejected patch must leave as it was: `sds_testkit::DocumentState`, except that the
/// version is compared decoded (the order of a loro version vector's encoding follows a hash
/// map, which a rebuilt document fills in another order when it has more than one peer), and
/// the history by what it holds: the same version (so the same operations) and the same
/// document value, tombstones included. (Its bytes may differ: local commits in quick
/// succession share one loro change, and a rebuilt document holds them as the separate changes
/// they were exported as.)
fn document_state(backend: &LoroBackend) -> DocumentState {
    let mut entries = backend.read_all();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    (
        loro::VersionVector::decode(&backend.current_cursor()).expect("a version vector"),
        backend.doc().get_deep_value(),
        backend.has_pending(),
        entries,
    )
}

/// The backup a rebuild after a loro panic starts from, in each of its forms: the updates of
/// many local commits and remote patches (kept as one update blob), a snapshot received as a
/// patch that outgrew the limit (4 MiB; replaced by an exported snapshot, which the next
/// snapshot reuses) and the snapshot of a checkpoint. Each time the panicking input is
/// rejected, the document is rebuilt exactly as it was, and it stays usable.
#[test]
fn the_backup_rebuilds_the_document_in_each_of_its_forms() {
    let fixtures = common::loro_fixtures();
    let base_snapshot = fixtures.read("snapshot.bin");
    let (_, input) = regressions("import-panics").swap_remove(0);
    let create = |prefix: &str, count: usize, label_len: usize| {
        (0..count)
            .map(|i| {
                let mut data =
                    EntryData::new_item(ROOT_ID.into(), format!("a{i:06}").into(), String::new());
                data.label = (0..label_len)
                    .map(|k| char::from(b'a' + ((i * 31 + k * 7) % 26) as u8))
                    .collect();
                Op::Create {
                    id: format!("{prefix}-{i}").into(),
                    data: Box::new(data),
                }
            })
            .collect::<Vec<_>>()
    };
    let rejects_and_rebuilds = |backend: &mut LoroBackend| {
        let state = document_state(backend);
        let err = backend.apply_remote_patch(&input).expect_err("rejected");
        assert_eq!(err.code(), ErrorCode::InvalidData);
        assert!(
            document_state(backend) == state,
            "the rebuilt document differs"
        );
        assert!(
            !backend
                .commit(create("after", 1, 3))
                .expect("usable")
                .is_empty()
        );
    };

    // Many small commits and remote updates, in between and after a checkpoint.
    let mut other = LoroBackend::from_snapshot_seeded(&base_snapshot, 9).expect("other");
    let mut backend = LoroBackend::from_snapshot_seeded(&base_snapshot, 7).expect("base");
    for round in 0..2 {
        for op in create(&format!("small-{round}"), 1_000, 5) {
            backend.commit(vec![op]).expect("commit");
        }
        let remote = other
            .commit(create(&format!("remote-{round}"), 10, 5))
            .expect("remote");
        backend.apply_remote_patch(&remote).expect("remote update");
        rejects_and_rebuilds(&mut backend);
        if round == 0 {
            let _checkpoint = backend.snapshot();
        }
    }
    // The entries of the base, the 2,020 created and the one written after each rebuild.
    let base_entries = LoroBackend::from_snapshot(&base_snapshot)
        .expect("base")
        .read_all();
    assert_eq!(backend.read_all().len(), base_entries.len() + 2 * 1_010 + 1);

    // A large snapshot received as a patch.
    other
        .commit(create("big", 20_000, 600))
        .expect("big commit");
    let full = other.export_patch(None).expect("full state");
    assert!(full.len() > 4 << 20, "{} bytes", full.len());
    backend.apply_remote_patch(&full).expect("snapshot patch");
    let snapshot = backend.snapshot();
    assert_eq!(backend.snapshot(), snapshot, "an unchanged document");
    let restored = LoroBackend::from_snapshot(&snapshot).expect("restores");
    assert_eq!(restored.read_all().len(), backend.read_all().len());
    rejects_and_rebuilds(&mut backend);
}
