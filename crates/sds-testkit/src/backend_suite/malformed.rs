//! Bad input at the backend level never panics, hangs or corrupts: random bytes and
//! truncated, bit-flipped, spliced and stretched versions of valid snapshots, patches and
//! cursors, with huge length prefixes, must each be rejected with `invalid-data` (document
//! unchanged) or be applied harmlessly (store still consistent).
//!
//! Seeded: `SDS_FUZZ_SEED` replays a run, `SDS_FUZZ_CASES` sets the number of cases and
//! `SDS_FUZZ_TRACE` prints every input before it is tried (a crash inside a CRDT library's
//! unsafe code cannot be caught; the trace shows the input that caused it). The seed is
//! printed, and a failure names the case and the command that replays it.
//!
//! A format may protect its blobs with a checksum (loro does); random corruption then never
//! gets past it. The backend crate passes a [`Seal`] that recomputes the checksum of every
//! mutated blob, so that the mutations reach the decoder behind it, as part of its
//! [`Fuzzing`] (with the default seed and number of cases of the run).

use crate::every_field::{LITERAL_SIZE_LIMIT, NOW_MS, build_every_field_store_with};
use crate::helpers::*;
use crate::property::SeededRng;
use sds_core::gzip::{compress, decompress};
use sds_core::{Backend, Clock, ErrorCode, NewBackend, ROOT_ID, Store, StoreOptions};
use serde_json::json;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Makes a mutated blob pass its format's integrity check (a checksum), so that the mutation
/// reaches the decoder. Formats without one use [`unsealed`].
pub type Seal = fn(&mut [u8]);

/// The [`Seal`] of a format without an integrity check: leaves the blob as it is.
pub fn unsealed(_blob: &mut [u8]) {}

/// How [`malformed_input_is_rejected_or_harmless`] fuzzes a backend's formats: the seal, and
/// the seed and number of cases when `SDS_FUZZ_SEED` and `SDS_FUZZ_CASES` are not set.
///
/// A CRDT library may fail on inputs that no backend can screen out (loro 1.17 aborts the
/// process on some checksum-valid blobs); such a backend names a default seed whose cases it
/// survives, and other seeds are a tool to find the library's bugs.
#[derive(Debug, Clone, Copy)]
pub struct Fuzzing {
    /// Recomputes a mutated blob's checksum, if the format has one.
    pub seal: Seal,
    /// The seed without `SDS_FUZZ_SEED`.
    pub seed: u64,
    /// The number of cases without `SDS_FUZZ_CASES`.
    pub cases: usize,
    /// How many inputs in a thousand must at least restore as snapshots, so that the run
    /// exercises that path too. A strict, checksummed snapshot format (loro's) restores few
    /// mutated snapshots.
    pub snapshots_per_mille: usize,
}

impl Fuzzing {
    /// For formats without an integrity check: 4000 cases of seed `0x5d5_7a11`, one in fifty
    /// of which must restore as a snapshot.
    pub const DEFAULT: Fuzzing = Fuzzing {
        seal: unsealed,
        seed: 0x5d5_7a11,
        cases: 4000,
        snapshots_per_mille: 20,
    };
}

/// Mutations keep the first bytes of a blob half of the time, so that a format's header
/// (magic number, checksum, encoding mode: 22 bytes on loro) survives and the body is what
/// changes.
const HEADER: usize = 22;

/// Valid snapshot payloads, patches and cursors to mutate, all of one document's history.
pub struct Corpus {
    /// The document the patches and cursors refer to (a snapshot payload).
    pub base_snapshot: Vec<u8>,
    /// Snapshots and patches.
    pub blobs: Vec<Vec<u8>>,
    /// Cursors.
    pub cursors: Vec<Vec<u8>>,
}

fn seeded_options(seed: u64) -> StoreOptions {
    StoreOptions {
        literal_size_limit: LITERAL_SIZE_LIMIT,
        clock: Clock::from_fn(|| NOW_MS),
        replica_seed: Some(seed),
        ..StoreOptions::default()
    }
}

/// The corpus: a document with every field of the layout, written by one replica, and the
/// local patches of two replicas that started from it, so that mutated versions of them
/// reference content the base document really has. Seeded replicas make the corpus, and so
/// every run, the same each time.
pub fn corpus<B: NewBackend>() -> Corpus {
    let built = build_every_field_store_with::<B>(seeded_options(1));
    let base = built.store;
    let base_binary = base.as_binary();
    let base_snapshot = decompress(&base_binary).expect("gunzip");
    let base_cursor = base.current_cursor();
    let mut blobs = vec![
        base_snapshot.clone(),
        base.export_patch(None).expect("full"),
    ];

    let restored = Store::<B>::from_binary(&base_binary, seeded_options(2)).expect("base");
    let mut a = Replica::wrap(restored);
    let item = a
        .store
        .new_item_at(Some("text/markdown"), ROOT_ID, Some(1))
        .expect("item");
    a.store
        .set_label(&item, "a label with ünïcödé 😀")
        .expect("label");
    a.store
        .set_info(
            &item,
            "nested",
            json!({"a": [1, 2.5, null, "x"], "b": true}),
        )
        .expect("info");
    a.store.write_value(&item, "literal text").expect("value");
    a.store.change_value(&item, 2, 6, "LIT").expect("change");
    a.store.write_value(&item, vec![7u8; 40]).expect("bytes");
    a.store
        .set_label(&built.folder, "relabelled")
        .expect("label");
    a.store
        .move_entry_to(&built.literal_item, &built.folder, Some(0))
        .expect("move");
    a.store.delete_entry(&item).expect("delete");
    a.store.purge_entry(&item).expect("purge");
    blobs.extend(a.take_patches());

    // A concurrent writer: its patches interleave with the first one's.
    let restored = Store::<B>::from_binary(&base_binary, seeded_options(3)).expect("base");
    let mut b = Replica::wrap(restored);
    b.store
        .set_label(&built.folder, "concurrently relabelled")
        .expect("label");
    b.store.delete_entry(&built.json_item).expect("delete");
    b.store
        .change_value(&built.literal_item, 0, 5, "Bye")
        .expect("change");
    blobs.extend(b.take_patches());

    blobs.push(a.store.export_patch(None).expect("full"));
    blobs.push(a.store.export_patch(Some(&base_cursor)).expect("delta"));
    blobs.push(b.store.export_patch(Some(&base_cursor)).expect("delta"));
    let cursors = vec![
        a.store.current_cursor(),
        b.store.current_cursor(),
        base_cursor,
    ];
    Corpus {
        base_snapshot,
        blobs,
        cursors,
    }
}

/// A varint far too large for any length or count.
fn huge_varint(rng: &mut SeededRng) -> Vec<u8> {
    match rng.below(3) {
        0 => vec![0xff, 0xff, 0xff, 0xff, 0x0f],
        1 => vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        _ => vec![0x80 | (rng.next_u64() as u8), 0xff, 0xff, 0x7f],
    }
}

fn random_bytes(rng: &mut SeededRng, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// A mutation of a random member of `pool`, sealed with `seal`.
pub fn mutate(rng: &mut SeededRng, pool: &[Vec<u8>], seal: Seal) -> Vec<u8> {
    let original = &pool[rng.below(pool.len())];
    let mut bytes = original.clone();
    let body_start = if rng.below(2) == 0 {
        0
    } else {
        HEADER.min(bytes.len())
    };
    // A position in the body (`len` when the body is empty).
    let body = |rng: &mut SeededRng, len: usize| {
        let start = body_start.min(len);
        start + rng.below(len - start)
    };
    match rng.below(9) {
        0 => {
            let len = match rng.below(3) {
                0 => rng.below(16),
                1 => rng.below(32),
                _ => rng.below(600),
            };
            bytes = random_bytes(rng, len);
            if rng.below(2) == 0 && bytes.len() >= HEADER && original.len() >= HEADER {
                // Random bytes behind a valid header.
                bytes[..HEADER].copy_from_slice(&original[..HEADER]);
            }
        }
        1 => {
            let at = body(rng, bytes.len());
            bytes.truncate(at);
        }
        2 => {
            for _ in 0..=rng.below(8) {
                let i = body(rng, bytes.len());
                if let Some(b) = bytes.get_mut(i) {
                    *b ^= 1 << rng.below(8);
                }
            }
        }
        3 => {
            let i = body(rng, bytes.len());
            let value = rng.next_u64() as u8;
            if let Some(b) = bytes.get_mut(i) {
                *b = value;
            }
        }
        4 => {
            let i = body(rng, bytes.len() + 1).min(bytes.len());
            let varint = huge_varint(rng);
            bytes.splice(i..i, varint);
        }
        5 => {
            // Overwrite a stretch with a huge varint (keeps most of the structure around it).
            let varint = huge_varint(rng);
            let i = body(rng, bytes.len());
            let end = (i + varint.len()).min(bytes.len());
            bytes.splice(i..end, varint);
        }
        6 => {
            let other = &pool[rng.below(pool.len())];
            let cut = body(rng, bytes.len());
            let from = rng.below(other.len());
            bytes.truncate(cut);
            bytes.extend_from_slice(&other[from..]);
        }
        7 => {
            // Duplicate a stretch of the body.
            let i = body(rng, bytes.len());
            let len = rng.below(16).min(bytes.len() - i);
            let stretch = bytes[i..i + len].to_vec();
            bytes.splice(i..i, stretch);
        }
        _ => {
            let i = body(rng, bytes.len());
            let len = rng.below(4).min(bytes.len() - i);
            bytes.drain(i..i + len);
        }
    }
    seal(&mut bytes);
    bytes
}

/// How the inputs of one run fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Inputs tried.
    pub cases: usize,
    /// Inputs that restored as a snapshot.
    pub snapshots: usize,
    /// Inputs that a backend holding the base document accepted as a patch.
    pub accepted: usize,
    /// Inputs that it rejected.
    pub rejected: usize,
}

/// One input through every entry point of a backend holding the base document. Returns
/// whether it restored as a snapshot and whether it applied as a patch. (Seeded client ids
/// keep every run of a seed the same.)
fn check_backend<B: NewBackend>(corpus: &Corpus, base: &B, input: &[u8]) -> (bool, bool) {
    // As a snapshot.
    let snapshot = match B::from_snapshot_seeded(input, 5) {
        Ok(_) => true,
        Err(err) => {
            assert_eq!(err.code(), ErrorCode::InvalidData, "as a snapshot");
            false
        }
    };
    // As a cursor.
    if let Err(err) = base.export_patch(Some(input)) {
        assert_eq!(err.code(), ErrorCode::InvalidData, "as a cursor");
    }
    // As a patch: rejected with the document unchanged, or applied.
    let mut backend = B::from_snapshot_seeded(&corpus.base_snapshot, 6).expect("base");
    let before = DocumentState::of(&backend);
    let applied = match backend.apply_remote_patch(input) {
        Err(err) => {
            assert_eq!(err.code(), ErrorCode::InvalidData, "as a patch");
            assert!(
                DocumentState::of(&backend) == before,
                "a rejected patch changed the document"
            );
            false
        }
        Ok(_) => {
            // Accepted: the document must still read, encode and restore. (It need not
            // restore to the same tree: inconsistent origins, such as a right origin left of
            // the left one, integrate differently depending on what is already there.)
            let entries = backend.read_all().len();
            let again = B::from_snapshot_seeded(&backend.snapshot(), 7).expect("own snapshot");
            assert_eq!(again.read_all().len(), entries, "entries after a restore");
            true
        }
    };
    (snapshot, applied)
}

/// One input as a patch to a store: rejected with `invalid-data` and the store unchanged, or
/// applied with the store's model still a faithful reading of the document.
pub fn check_store<B: Backend>(store: &mut Store<B>, input: &[u8]) {
    let before = store.as_json();
    match store.apply_remote_patch(input) {
        Err(err) => {
            assert_eq!(err.code(), ErrorCode::InvalidData);
            assert_eq!(
                store.as_json(),
                before,
                "a rejected patch changed the store"
            );
            store.check_consistency().expect("consistent");
        }
        Ok(_) => {
            if let Err(diff) = store.check_consistency() {
                panic!("store model differs from the document after an accepted patch: {diff}");
            }
        }
    }
}

/// The seed (`SDS_FUZZ_SEED` or `default_seed`) and the number of cases (`SDS_FUZZ_CASES` or
/// `default_cases`) of a run; the seed is printed.
pub fn seed_and_cases(default_seed: u64, default_cases: usize) -> (u64, usize) {
    let seed = env_number("SDS_FUZZ_SEED").unwrap_or(default_seed);
    let cases = env_number("SDS_FUZZ_CASES").map_or(default_cases, |n| n as usize);
    eprintln!("fuzz seed = {seed} (rerun with SDS_FUZZ_SEED={seed})");
    (seed, cases)
}

/// Runs `cases` mutated inputs (sealed with `seal`) through every entry point of backend `B`
/// and through a store. `observe` sees every input first (a backend crate may probe its CRDT
/// library with it). Panics, naming the case and the seed, at the first violation.
pub fn fuzz<B: NewBackend>(
    seed: u64,
    cases: usize,
    seal: Seal,
    mut observe: impl FnMut(&[u8]),
) -> Outcome {
    let trace = std::env::var_os("SDS_FUZZ_TRACE").is_some();
    let corpus = corpus::<B>();
    let base = B::from_snapshot_seeded(&corpus.base_snapshot, 8).expect("base");
    let mut store = Store::<B>::from_binary(&compress(&corpus.base_snapshot), seeded_options(4))
        .expect("store");
    let mut rng = SeededRng::new(seed);
    let mut outcome = Outcome {
        cases,
        snapshots: 0,
        accepted: 0,
        rejected: 0,
    };
    for case in 0..cases {
        let pool = if rng.below(5) == 0 {
            &corpus.cursors
        } else {
            &corpus.blobs
        };
        let input = mutate(&mut rng, pool, seal);
        if trace {
            eprintln!("case {case}: {input:?}");
        }
        observe(&input);
        let checked = catch_unwind(AssertUnwindSafe(|| {
            let result = check_backend(&corpus, &base, &input);
            check_store(&mut store, &input);
            result
        }));
        match checked {
            Ok((snapshot, applied)) => {
                outcome.snapshots += usize::from(snapshot);
                if applied {
                    outcome.accepted += 1;
                } else {
                    outcome.rejected += 1;
                }
            }
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                panic!(
                    "{}: case {case} failed (replay with SDS_FUZZ_SEED={seed}): {message}\n\
                     input: {input:?}",
                    B::NAME
                );
            }
        }
    }
    println!(
        "{}: seed {seed}: {cases} cases, {} restored as snapshots, {} accepted as patches, \
         {} rejected",
        B::NAME,
        outcome.snapshots,
        outcome.accepted,
        outcome.rejected
    );
    outcome
}

/// Mutated snapshots, patches and cursors are rejected with `invalid-data` and change
/// nothing, or are applied harmlessly; and the mutations exercise both paths.
pub fn malformed_input_is_rejected_or_harmless<B: NewBackend>(fuzzing: Fuzzing) {
    let (seed, cases) = seed_and_cases(fuzzing.seed, fuzzing.cases);
    let outcome = fuzz::<B>(seed, cases, fuzzing.seal, |_| {});
    // The mutations must exercise every path, or the test proves little.
    let not_snapshots = cases - outcome.snapshots;
    assert!(
        outcome.rejected > cases / 4
            && outcome.accepted > cases / 50
            && not_snapshots > cases / 4
            && outcome.snapshots * 1000 > cases * fuzzing.snapshots_per_mille,
        "seed {seed}: {outcome:?}"
    );
}

/// Whole-document garbage through the store: never a panic, always `invalid-data` or a
/// consistent store. Half of the inputs are sealed.
pub fn garbage_snapshots_through_the_store_are_invalid_data<B: NewBackend>(fuzzing: Fuzzing) {
    let seed = 7;
    let mut rng = SeededRng::new(seed);
    let corpus = corpus::<B>();
    for case in 0..300 {
        let seal = if case % 2 == 0 {
            fuzzing.seal
        } else {
            unsealed
        };
        let input = mutate(&mut rng, &corpus.blobs, seal);
        match Store::<B>::from_binary(&compress(&input), StoreOptions::default()) {
            Ok(store) => store
                .check_consistency()
                .unwrap_or_else(|e| panic!("seed {seed}, case {case}: {e}")),
            Err(err) => assert_eq!(err.code(), ErrorCode::InvalidData, "case {case}"),
        }
    }
}
