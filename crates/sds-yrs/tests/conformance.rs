//! The backend-independent conformance suite of `sds-testkit`, run over `YrsBackend`.

sds_testkit::conformance_suite!(sds_yrs::YrsBackend);
