//! The backend-independent suites of `sds-testkit` (the conformance suite and the
//! backend-level suite), run over `LoroBackend`. loro checksums its blobs: the malformed-input
//! tests recompute the checksum of every mutated blob (`common::FUZZING`).

mod common;

sds_testkit::conformance_suite!(sds_loro::LoroBackend);
sds_testkit::backend_suite!(sds_loro::LoroBackend, fuzzing = common::FUZZING);
