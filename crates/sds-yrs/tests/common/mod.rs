//! Shared by the integration tests and the `write_yjs_fixture` example: the store of
//! `sds_testkit::every_field`, which uses every field of the SPEC §9 layout, on yrs.

#![allow(dead_code, unused_imports)] // Each test binary uses a different part of this module.

pub use sds_testkit::every_field::{
    EMOJI_LABEL, EveryFieldStore, LITERAL_SIZE_LIMIT, NOW_MS, options,
};
use sds_yrs::YrsBackend;

/// The yrs fixtures written by the real Y.js (see `tests/fixtures/yjs/README.md`).
pub fn yjs_fixtures() -> sds_testkit::golden::JsFixtures {
    sds_testkit::golden::JsFixtures::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/yjs"),
    )
}

/// Builds the store with every field (labels with emoji, Info of every JSON type, every kind
/// of value, a link, trashed, lost and purged entries) on yrs.
pub fn build_every_field_store() -> EveryFieldStore<YrsBackend> {
    sds_testkit::every_field::build_every_field_store()
}
