//! Errors of the server.

use std::path::PathBuf;

/// An error that stops the server, or prevents it from starting.
///
/// The binary maps [`ServerError::Config`] to exit code 2 and everything else to exit code 1
/// (SPEC §14.8).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration is unusable (missing or short secret, invalid option value).
    #[error("{0}")]
    Config(String),
    /// The data directory cannot be created, read or written.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// Another I/O failure (for example, the listener failed).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A token could not be signed.
    #[error("signing a token failed: {0}")]
    Token(#[from] jsonwebtoken::errors::Error),
}

impl ServerError {
    /// Whether this is a configuration error (exit code 2) rather than a runtime failure
    /// (exit code 1).
    pub fn is_config(&self) -> bool {
        matches!(self, ServerError::Config(_))
    }
}

/// Result alias of `sds-server`.
pub type Result<T, E = ServerError> = std::result::Result<T, E>;
