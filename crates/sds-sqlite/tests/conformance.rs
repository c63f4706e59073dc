//! The persistence conformance suite (SPEC §18.13) run for `SqlitePersistence`.

mod common;

use common::SqliteFactory;

sds_testkit::persistence_suite!(SqliteFactory::new());
