//! The one error type of `sds-core`, with the error codes of SPEC §2.

use std::fmt;

/// The documented error codes (SPEC §2). Every [`Error`] carries exactly one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A value, label, MIME type, Info key or value, index or range violates the limits, or a
    /// container or target is missing, not live or not an item.
    InvalidArgument,
    /// An operation names an entry id that does not exist (or is a tombstone).
    NotFound,
    /// The move would create a cycle, moves Root, or places Trash/LostAndFound outside Root.
    MoveWouldCycle,
    /// `delete_entry` on Root, Trash or LostAndFound.
    DeleteNotPermitted,
    /// `purge_entry` on an entry that is not a direct child of Trash.
    PurgeNotInTrash,
    /// `purge_entry` on an entry protected by incoming links.
    PurgeProtected,
    /// `change_value` on an item whose value kind is not `literal`.
    ChangeValueNotLiteral,
    /// A snapshot, patch, cursor, gzip stream, JSON document or binary entry cannot be decoded.
    InvalidData,
    /// A network control was used on an engine without a network provider.
    NoNetworkProvider,
    /// `reconnect` before any `connect_to`.
    NotYetConnected,
    /// The server refused the credentials (close code 4001 or 4003).
    AuthFailed,
    /// A connection attempt or send failed for another reason.
    NetworkFailed,
    /// The persistence provider reported an I/O or database error.
    PersistenceFailed,
}

impl ErrorCode {
    /// The exact code string of SPEC §2, e.g. `purge-protected`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid-argument",
            ErrorCode::NotFound => "not-found",
            ErrorCode::MoveWouldCycle => "move-would-cycle",
            ErrorCode::DeleteNotPermitted => "delete-not-permitted",
            ErrorCode::PurgeNotInTrash => "purge-not-in-trash",
            ErrorCode::PurgeProtected => "purge-protected",
            ErrorCode::ChangeValueNotLiteral => "change-value-not-literal",
            ErrorCode::InvalidData => "invalid-data",
            ErrorCode::NoNetworkProvider => "no-network-provider",
            ErrorCode::NotYetConnected => "not-yet-connected",
            ErrorCode::AuthFailed => "auth-failed",
            ErrorCode::NetworkFailed => "network-failed",
            ErrorCode::PersistenceFailed => "persistence-failed",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of the store, a backend or a provider: a code, a human-readable message and, where
/// a foreign library failed, its error as the source.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    code: ErrorCode,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            source: None,
        }
    }

    /// An error with a code, a message and the foreign error that caused it.
    pub fn with_source(
        code: ErrorCode,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error {
            code,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The error code (SPEC §2).
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message without the code.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Shorthand for an `invalid-argument` error.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidArgument, message)
    }

    /// Shorthand for an `invalid-data` error.
    pub fn invalid_data(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidData, message)
    }

    /// Shorthand for a `not-found` error naming an entry id.
    pub fn not_found(id: &str) -> Self {
        Error::new(ErrorCode::NotFound, format!("entry '{id}' not found"))
    }
}

/// Result alias of `sds-core`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
