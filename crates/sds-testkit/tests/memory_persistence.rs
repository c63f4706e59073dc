//! The persistence conformance suite run for `sds_core::MemoryPersistence`, the in-memory
//! reference provider: it must behave exactly like the SQLite one.

use sds_testkit::persistence::MemoryFactory;

sds_testkit::persistence_suite!(MemoryFactory::new());
