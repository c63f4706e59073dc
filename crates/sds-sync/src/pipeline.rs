//! The local pipeline shared by the engine and the store's commit hook: it persists every
//! local patch (with the blobs its transaction wrote) before the transaction returns, and keeps
//! the bookkeeping a checkpoint needs.

use sds_core::{Error, ErrorCode, Persistence};
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The persistence provider, shared with the commit hook and the blob loader.
pub(crate) type SharedPersistence = Arc<Mutex<Box<dyn Persistence>>>;

pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent before it can panic (a provider call
    // either happened or not), so a poisoned lock is safe to use.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A local commit waiting to be persisted.
#[derive(Debug, Clone)]
pub(crate) struct PendingCommit {
    pub(crate) patch: Vec<u8>,
    pub(crate) blobs: Vec<(String, Arc<[u8]>)>,
}

/// Whether the commit hook persists at once or defers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Persist each local commit before its transaction returns.
    Persist,
    /// Queue local commits: while a remote patch is applied (its repair must be appended after
    /// the patch itself) and while a checkpoint merges (the new snapshot contains them).
    Defer,
}

pub(crate) struct Pipeline {
    pub(crate) persistence: Option<SharedPersistence>,
    pub(crate) mode: Mode,
    pub(crate) deferred: Vec<PendingCommit>,
    /// Clocks of patches this engine wrote or applied since its snapshot; a checkpoint need
    /// not merge them again.
    pub(crate) applied_clocks: HashSet<u64>,
    /// Bytes of patches appended since the last checkpoint (local and remote).
    pub(crate) bytes_since_checkpoint: usize,
    /// Local patches in commit order, for the network part of the engine.
    pub(crate) outgoing: VecDeque<Vec<u8>>,
    /// Hashes of blobs written locally, in order, for the network part of the engine.
    pub(crate) written_blobs: VecDeque<String>,
    /// Whether any patch was ever appended by this engine (the backend marker is written with
    /// the first one).
    pub(crate) marker_written: bool,
    pub(crate) backend_name: &'static str,
}

impl Pipeline {
    pub(crate) fn new(persistence: Option<SharedPersistence>, backend_name: &'static str) -> Self {
        Pipeline {
            persistence,
            mode: Mode::Persist,
            deferred: Vec::new(),
            applied_clocks: HashSet::new(),
            bytes_since_checkpoint: 0,
            outgoing: VecDeque::new(),
            written_blobs: VecDeque::new(),
            marker_written: false,
            backend_name,
        }
    }

    /// Takes a local commit: queued for the network, persisted now or deferred.
    pub(crate) fn commit(&mut self, commit: PendingCommit) -> sds_core::Result<()> {
        self.outgoing.push_back(commit.patch.clone());
        self.written_blobs
            .extend(commit.blobs.iter().map(|(hash, _)| hash.clone()));
        match self.mode {
            Mode::Defer => {
                self.deferred.push(commit);
                Ok(())
            }
            Mode::Persist => self.persist(&commit).map(drop),
        }
    }

    /// Saves the commit's blobs, then appends its patch; returns the patch clock.
    pub(crate) fn persist(&mut self, commit: &PendingCommit) -> sds_core::Result<Option<u64>> {
        let Some(persistence) = self.persistence.clone() else {
            return Ok(None);
        };
        let mut provider = lock(&persistence);
        // Marked before they are saved: a crash in between leaves a mark without a blob,
        // which the next upload attempt drops, never a blob that is not sent.
        let uploads: Vec<String> = commit
            .blobs
            .iter()
            .map(|(hash, _)| hash.clone())
            .filter(|hash| sds_core::is_sha256_hex(hash))
            .collect();
        provider.mark_uploads(&uploads, true)?;
        for (hash, bytes) in &commit.blobs {
            provider.save_value(hash, bytes)?;
        }
        let clock = self.append_locked(&mut **provider, &commit.patch)?;
        Ok(Some(clock))
    }

    /// Appends a received patch (durable on receipt, SPEC §13.4).
    pub(crate) fn persist_remote(&mut self, patch: &[u8]) -> sds_core::Result<Option<u64>> {
        let Some(persistence) = self.persistence.clone() else {
            return Ok(None);
        };
        let mut provider = lock(&persistence);
        self.append_locked(&mut **provider, patch).map(Some)
    }

    fn append_locked(
        &mut self,
        provider: &mut dyn Persistence,
        patch: &[u8],
    ) -> sds_core::Result<u64> {
        if !self.marker_written {
            // SPEC §11.4: the marker is written when sds first writes the store.
            provider.set_backend(self.backend_name)?;
            self.marker_written = true;
        }
        let clock = provider.append_patch(patch)?;
        self.applied_clocks.insert(clock);
        self.bytes_since_checkpoint += patch.len();
        Ok(clock)
    }

    /// Persists the deferred commits in order; returns the first failure.
    pub(crate) fn flush_deferred(&mut self) -> sds_core::Result<()> {
        let deferred = std::mem::take(&mut self.deferred);
        let mut first_error = None;
        for commit in &deferred {
            if let Err(e) = self.persist(commit) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// A `persistence-failed` error for a poisoned or missing provider state.
pub(crate) fn persistence_error(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::PersistenceFailed, message)
}
