//! The conformance tests, one module per part of SPEC §18. Every function is generic over the
//! backend and is expanded into a `#[test]` by [`crate::conformance_suite!`].

pub mod construction;
pub mod creation;
pub mod events;
pub mod import;
pub mod label_info;
pub mod malformed;
pub mod moves;
pub mod ordering;
pub mod serialisation;
pub mod sync;
pub mod trash;
pub mod values;
pub mod well_known;
