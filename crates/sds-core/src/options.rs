//! Store options (SPEC §1.7) and the injectable clock used for Trash stamps and TTLs (F12).

use crate::error::{Error, Result};
use crate::limits::{DEFAULT_LITERAL_SIZE_LIMIT, DEFAULT_TRASH_TTL};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of "now" in milliseconds since the Unix epoch.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> u64 + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock(Arc::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64)
        }))
    }

    /// A clock reading any function, e.g. a test's simulated time.
    pub fn from_fn(f: impl Fn() -> u64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(f))
    }

    /// A clock that tests set by hand: returns the clock and the cell that holds "now".
    pub fn manual(start_ms: u64) -> (Clock, Arc<AtomicU64>) {
        let cell = Arc::new(AtomicU64::new(start_ms));
        let reader = cell.clone();
        (Clock(Arc::new(move || reader.load(Ordering::SeqCst))), cell)
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> u64 {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Options of a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Strings longer than this many UTF-16 units are stored as `literal-reference`.
    pub literal_size_limit: usize,
    /// How long deleted entries stay in the Trash before automatic purging; `None` disables
    /// automatic purging. A zero duration is invalid.
    pub trash_ttl: Option<Duration>,
    /// How often a long-running owner should call `purge_expired_trash_entries`; `None` means
    /// the default `min(trash_ttl / 4, 1 h)`. Ignored without a TTL.
    pub trash_check_interval: Option<Duration>,
    /// The clock for `_trashedAt` stamps and TTL checks.
    pub clock: Clock,
    /// Makes a replica reproducible, for tests and simulations only: new entry ids come from
    /// a generator seeded with this value (still lowercase version-4 UUIDs in form) and
    /// backends derive their client/peer id from it. Never set it in production — two
    /// replicas with the same seed would write under one CRDT identity.
    pub replica_seed: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            literal_size_limit: DEFAULT_LITERAL_SIZE_LIMIT,
            trash_ttl: Some(DEFAULT_TRASH_TTL),
            trash_check_interval: None,
            clock: Clock::system(),
            replica_seed: None,
        }
    }
}

impl StoreOptions {
    /// Checks the option rules of SPEC §1.7 (`invalid-argument` on violation).
    pub fn validate(&self) -> Result<()> {
        if self.trash_ttl == Some(Duration::ZERO) {
            return Err(Error::invalid_argument(
                "trash_ttl must be a positive duration or none",
            ));
        }
        if self.trash_check_interval == Some(Duration::ZERO) {
            return Err(Error::invalid_argument(
                "trash_check_interval must be a positive duration",
            ));
        }
        Ok(())
    }

    /// The effective check interval: the configured one, else `min(trash_ttl / 4, 1 h)`;
    /// `None` when there is no TTL.
    pub fn effective_trash_check_interval(&self) -> Option<Duration> {
        let ttl = self.trash_ttl?;
        Some(
            self.trash_check_interval
                .unwrap_or_else(|| (ttl / 4).min(Duration::from_secs(3600))),
        )
    }
}
