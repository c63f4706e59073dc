//! The backend-independent conformance suite of `sds-testkit`, run over `LoroBackend`.

sds_testkit::conformance_suite!(sds_loro::LoroBackend);
