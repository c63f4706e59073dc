//! Bad input never panics, hangs or corrupts: random bytes, truncated, bit-flipped and
//! spliced valid updates and state vectors, and huge length prefixes must each be rejected
//! with `invalid-data` (document unchanged) or be applied harmlessly (store still consistent).
//!
//! Seeded: set `SDS_FUZZ_SEED` to replay a run and `SDS_FUZZ_CASES` for more cases; a failure
//! prints the seed and the case number.

use sds_core::gzip::compress;
use sds_core::{Backend, ErrorCode, NewBackend, ROOT_ID, StoreOptions};
use sds_yrs::{YrsBackend, YrsStore};
use serde_json::json;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// SplitMix64: small, fast and good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/yjs")
            .join(name),
    )
    .expect("fixture")
}

/// Valid updates and state vectors to mutate.
struct Corpus {
    base_snapshot: Vec<u8>,
    updates: Vec<Vec<u8>>,
    cursors: Vec<Vec<u8>>,
}

fn corpus() -> Corpus {
    let base_snapshot = fixture("snapshot.bin");
    let mut updates = vec![base_snapshot.clone()];
    updates.extend((1..=8).map(|n| fixture(&format!("patches/{n:04}.bin"))));

    // Local patches of a store that started from the same document, so mutated versions of
    // them reference blocks the base document really has.
    let mut store =
        YrsStore::from_binary(&compress(&base_snapshot), StoreOptions::default()).expect("base");
    let patches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = patches.clone();
    store.on_local_commit(move |_, c| {
        sink.lock().unwrap().push(c.patch.to_vec());
        Ok(())
    });
    let item = store
        .new_item_at(Some("text/markdown"), ROOT_ID, Some(1))
        .expect("item");
    store
        .set_label(&item, "a label with ünïcödé 😀")
        .expect("label");
    store
        .set_info(
            &item,
            "nested",
            json!({"a": [1, 2.5, null, "x"], "b": true}),
        )
        .expect("info");
    store.write_value(&item, "literal text").expect("value");
    store.change_value(&item, 2, 6, "LIT").expect("change");
    store.write_value(&item, vec![7u8; 40]).expect("bytes");
    store
        .set_label("10000000-0000-4000-8000-000000000001", "relabelled")
        .expect("label");
    store.delete_entry(&item).expect("delete");
    store.purge_entry(&item).expect("purge");
    updates.extend(patches.lock().unwrap().drain(..));
    updates.push(store.export_patch(None).expect("full"));

    let cursors = vec![
        store.current_cursor(),
        YrsBackend::from_snapshot(&base_snapshot)
            .expect("base")
            .current_cursor(),
    ];
    Corpus {
        base_snapshot,
        updates,
        cursors,
    }
}

/// A varint far too large for any length or count.
fn huge_varint(rng: &mut Rng) -> Vec<u8> {
    match rng.below(3) {
        0 => vec![0xff, 0xff, 0xff, 0xff, 0x0f],
        1 => vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        _ => vec![0x80 | (rng.next() as u8), 0xff, 0xff, 0x7f],
    }
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>]) -> Vec<u8> {
    let original = &corpus[rng.below(corpus.len())];
    let mut bytes = original.clone();
    match rng.below(8) {
        0 => {
            let len = if rng.below(2) == 0 {
                rng.below(16)
            } else {
                rng.below(600)
            };
            bytes = rng.bytes(len);
        }
        1 => bytes.truncate(rng.below(bytes.len())),
        2 => {
            for _ in 0..=rng.below(8) {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
        }
        3 => {
            let i = rng.below(bytes.len());
            bytes[i] = rng.next() as u8;
        }
        4 => {
            let i = rng.below(bytes.len() + 1);
            let varint = huge_varint(rng);
            bytes.splice(i..i, varint);
        }
        5 => {
            // Overwrite a stretch with a huge varint (keeps most of the structure around it).
            let varint = huge_varint(rng);
            let i = rng.below(bytes.len());
            let end = (i + varint.len()).min(bytes.len());
            bytes.splice(i..end, varint);
        }
        6 => {
            let other = &corpus[rng.below(corpus.len())];
            let cut = rng.below(bytes.len());
            let from = rng.below(other.len());
            bytes.truncate(cut);
            bytes.extend_from_slice(&other[from..]);
        }
        _ => {
            let i = rng.below(bytes.len());
            let len = rng.below(4).min(bytes.len() - i);
            bytes.drain(i..i + len);
        }
    }
    bytes
}

fn check_case(corpus: &Corpus, base: &YrsBackend, input: &[u8]) {
    // As a snapshot.
    if let Err(err) = YrsBackend::from_snapshot(input) {
        assert_eq!(err.code(), ErrorCode::InvalidData);
    }
    // As a cursor.
    if let Err(err) = base.export_patch(Some(input)) {
        assert_eq!(err.code(), ErrorCode::InvalidData);
    }
    // As a patch to the backend: rejected with the document unchanged, or applied.
    let mut backend = YrsBackend::from_snapshot(&corpus.base_snapshot).expect("base");
    let before = backend.snapshot();
    match backend.apply_remote_patch(input) {
        Err(err) => {
            assert_eq!(err.code(), ErrorCode::InvalidData);
            assert_eq!(
                backend.snapshot(),
                before,
                "rejected patch changed the document"
            );
        }
        Ok(_) => {
            // Accepted: the document must still read, encode and restore. (It need not restore
            // to the same tree: inconsistent origins, such as a right origin left of the left
            // one, integrate differently depending on what is already there, in yjs as well.)
            let _ = backend.read_all();
            let again = YrsBackend::from_snapshot(&backend.snapshot()).expect("own snapshot");
            let _ = again.read_all();
        }
    }
}

fn check_store_case(store: &mut YrsStore, input: &[u8]) {
    match store.apply_remote_patch(input) {
        Err(err) => assert_eq!(err.code(), ErrorCode::InvalidData),
        Ok(_) => {
            if let Err(diff) = store.check_consistency() {
                panic!("store model differs from the document after an accepted patch: {diff}");
            }
        }
    }
}

#[test]
fn malformed_input_is_rejected_or_harmless() {
    let seed: u64 = std::env::var("SDS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5d5_7a11);
    let cases: usize = std::env::var("SDS_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    // A crash inside yrs' unsafe code cannot be caught; tracing shows the input that caused it.
    let trace = std::env::var_os("SDS_FUZZ_TRACE").is_some();
    let corpus = corpus();
    let base = YrsBackend::from_snapshot(&corpus.base_snapshot).expect("base");
    let mut rng = Rng(seed);
    let mut store =
        YrsStore::from_binary(&compress(&corpus.base_snapshot), StoreOptions::default())
            .expect("store");
    let mut accepted = 0usize;
    let mut rejected = 0usize;
    for case in 0..cases {
        let pool = if rng.below(5) == 0 {
            &corpus.cursors
        } else {
            &corpus.updates
        };
        let input = mutate(&mut rng, pool);
        if trace {
            eprintln!("case {case}: {input:?}");
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            check_case(&corpus, &base, &input);
            check_store_case(&mut store, &input);
        }));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!(
                "case {case} failed (replay with SDS_FUZZ_SEED={seed}): {message}\ninput: {input:?}"
            );
        }
        match YrsBackend::from_snapshot(&input) {
            Ok(_) => accepted += 1,
            Err(_) => rejected += 1,
        }
    }
    println!("seed {seed}: {cases} cases, {accepted} decodable, {rejected} rejected");
    // The mutations must exercise both paths, or the test proves little.
    assert!(
        rejected > cases / 4 && accepted > cases / 50,
        "{accepted} accepted, {rejected} rejected"
    );
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
        let mut store =
            YrsStore::from_binary(&compress(&fixture("snapshot.bin")), StoreOptions::default())
                .expect("store");
        for file in files {
            let patch = std::fs::read(&file).expect("patch");
            check_store_case(&mut store, &patch);
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
    let mut store =
        YrsStore::from_binary(&compress(&fixture("snapshot.bin")), StoreOptions::default())
            .expect("store");
    let err = store.apply_remote_patch(&same).expect_err("same origins");
    assert_eq!(err.code(), ErrorCode::InvalidData);
    check_store_case(&mut store, &crossed);
    assert!(YrsBackend::from_snapshot(&store.backend().snapshot()).is_ok());
}
