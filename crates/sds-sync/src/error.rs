//! Errors of the sync engine.

use sds_core::ErrorCode;

/// An error of the sync engine. Every variant maps to a SPEC §2 code via [`SyncError::code`].
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// An error of the store, a backend or the persistence provider.
    #[error(transparent)]
    Store(#[from] sds_core::Error),
    /// The persisted store was written by another backend (SPEC §11.5); tools report this as a
    /// usage error.
    #[error("store '{store_id}' uses the {stored} backend, not {requested}")]
    BackendMismatch {
        /// Store id.
        store_id: String,
        /// The backend recorded in (or detected from) storage.
        stored: String,
        /// The backend the engine was started with.
        requested: String,
    },
    /// The engine was stopped.
    #[error("the sync engine is stopped")]
    Stopped,
}

impl SyncError {
    /// The SPEC §2 error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            SyncError::Store(e) => e.code(),
            SyncError::BackendMismatch { .. } => ErrorCode::PersistenceFailed,
            SyncError::Stopped => ErrorCode::PersistenceFailed,
        }
    }
}

/// Result alias of `sds-sync`.
pub type Result<T, E = SyncError> = std::result::Result<T, E>;
