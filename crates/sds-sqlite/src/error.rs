//! Construction of the `persistence-failed` errors this crate returns.

use sds_core::{Error, ErrorCode};

/// A `persistence-failed` error without a foreign cause (a refused file, a corrupt row).
pub(crate) fn failed(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::PersistenceFailed, message)
}

/// A `persistence-failed` error caused by SQLite, which stays reachable as the source.
pub(crate) fn sqlite_failed(message: impl Into<String>, source: rusqlite::Error) -> Error {
    Error::with_source(ErrorCode::PersistenceFailed, message, source)
}
