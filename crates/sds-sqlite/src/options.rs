//! Options of [`SqlitePersistence::open`](crate::SqlitePersistence::open).

use sds_core::{Clock, Error, Result};
use std::time::Duration;

/// The smallest busy timeout SPEC §11.4 allows. Writers of one file queue behind each other's
/// `BEGIN IMMEDIATE`; a checkpoint of a large store holds the lock while it serialises the
/// document, so a short timeout would turn ordinary contention into failed writes.
pub const MIN_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How hard SQLite works to make a committed write survive a failure (`PRAGMA synchronous`).
///
/// Both levels keep the database file consistent after any crash or power loss; they differ
/// only in whether the most recent commits can be lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// `PRAGMA synchronous = NORMAL` (the default). A write that returned survives a crash or
    /// kill of the process: it is in the write-ahead log, which the operating system keeps.
    /// After a power loss or an operating-system crash the last commits before the failure
    /// may be missing (never partially applied), because the log is synced to the disk only at
    /// checkpoints. Commits cost no `fsync`, so they are an order of magnitude faster.
    #[default]
    Normal,
    /// `PRAGMA synchronous = FULL`. Every commit syncs the write-ahead log to the disk before
    /// it returns, so a write that returned also survives a power loss. Each commit costs one
    /// `fsync`, which limits a single writer to what the disk can sync per second.
    Full,
}

impl Synchronous {
    pub(crate) fn pragma_value(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Options of a [`SqlitePersistence`](crate::SqlitePersistence).
///
/// ```
/// use sds_sqlite::{SqliteOptions, Synchronous};
///
/// let options = SqliteOptions {
///     synchronous: Synchronous::Full,
///     ..SqliteOptions::default()
/// };
/// assert_eq!(options.busy_timeout.as_secs(), 5);
/// ```
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Durability of a commit; see [`Synchronous`]. Default: [`Synchronous::Normal`].
    pub synchronous: Synchronous,
    /// How long a write waits for another connection's write transaction before it fails.
    /// Default and minimum: [`MIN_BUSY_TIMEOUT`] (5 s); shorter values are refused.
    pub busy_timeout: Duration,
    /// Opens the file without ever writing to it: the file must already be an sds database of
    /// the current schema version, and every write fails with `persistence-failed`.
    pub read_only: bool,
    /// Runs `PRAGMA quick_check` before the file is used, so that a damaged database is
    /// refused before anything is written to it. It reads the whole file once (about 5 ms
    /// for a 13 MB file on the development machine). Default: `true`.
    pub check_on_open: bool,
    /// The source of "now" for the `saved_at` stamp of blobs and the grace period of their
    /// deletion; tests inject a manual clock.
    pub clock: Clock,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            busy_timeout: MIN_BUSY_TIMEOUT,
            read_only: false,
            check_on_open: true,
            clock: Clock::system(),
        }
    }
}

impl SqliteOptions {
    /// Checks the option rules (`invalid-argument` on violation).
    pub fn validate(&self) -> Result<()> {
        if self.busy_timeout < MIN_BUSY_TIMEOUT {
            return Err(Error::invalid_argument(format!(
                "busy_timeout must be at least {} s, got {} ms",
                MIN_BUSY_TIMEOUT.as_secs(),
                self.busy_timeout.as_millis()
            )));
        }
        Ok(())
    }
}
