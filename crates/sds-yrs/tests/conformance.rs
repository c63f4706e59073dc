//! The backend-independent suites of `sds-testkit` (the conformance suite and the
//! backend-level suite), run over `YrsBackend`.

sds_testkit::conformance_suite!(sds_yrs::YrsBackend);
sds_testkit::backend_suite!(sds_yrs::YrsBackend);
