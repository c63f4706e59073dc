//! The persistence provider contract (SPEC §11.1–§11.3) and an in-memory provider for tests.
//!
//! Providers are synchronous: SQLite and the CRDT libraries are blocking and fast, and a sync
//! engine calls them from inside a store's commit hook so that a change is durable once its
//! transaction returns. Every provider stores the data of exactly one store id.

use crate::error::{Error, ErrorCode, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The snapshot and the patches after it, read from one consistent state of the storage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredState {
    /// The snapshot bytes and their clock, if the store has a snapshot.
    pub snapshot: Option<(Vec<u8>, u64)>,
    /// Every patch with a clock greater than the snapshot's, ascending.
    pub patches: Vec<(u64, Vec<u8>)>,
}

/// What a checkpoint finds in storage, handed to the merge step (SPEC §11.3 steps 1–2).
#[derive(Debug, Clone, Default)]
pub struct CheckpointInput {
    /// The stored snapshot, when its clock differs from the one the caller last loaded or
    /// wrote (another process wrote it): the caller merges it first.
    pub foreign_snapshot: Option<Vec<u8>>,
    /// Every patch with a clock greater than the stored snapshot's clock, ascending.
    pub patches: Vec<(u64, Vec<u8>)>,
}

/// What the merge step of a checkpoint returns (SPEC §11.3 steps 3 and 5).
#[derive(Debug, Clone)]
pub struct CheckpointOutput {
    /// The new snapshot (`as_binary()` of the merged store).
    pub snapshot: Vec<u8>,
    /// Hashes of all blobs that live entries reference; every other blob older than the
    /// grace period is deleted.
    pub referenced_hashes: HashSet<String>,
}

/// What a checkpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointOutcome {
    /// The clock of the snapshot now stored.
    pub snapshot_clock: u64,
    /// Patches deleted from the log.
    pub pruned_patches: usize,
    /// Blobs deleted by reachability.
    pub deleted_blobs: usize,
}

/// Blobs younger than this are kept even when unreferenced: a blob may arrive before the
/// patch that references it (SPEC §7.8).
pub const BLOB_GRACE_PERIOD: Duration = Duration::from_secs(600);

/// Bytes of appended patches after which a checkpoint runs (SPEC §11.3).
pub const CHECKPOINT_THRESHOLD_BYTES: usize = 524_288;

/// Storage for one store: a snapshot, a patch log with provider-assigned clocks, blobs, and a
/// backend marker (SPEC §11.1).
pub trait Persistence: Send {
    /// The store id this provider serves.
    fn store_id(&self) -> &str;

    /// The snapshot bytes and their clock, or `None`.
    fn load_snapshot(&mut self) -> Result<Option<(Vec<u8>, u64)>>;

    /// Replaces the store's single snapshot row.
    fn save_snapshot(&mut self, bytes: &[u8], clock: u64) -> Result<()>;

    /// Every patch with a clock greater than `clock`, ascending, with its clock.
    fn load_patches_since(&mut self, clock: u64) -> Result<Vec<(u64, Vec<u8>)>>;

    /// The snapshot and every later patch, read from one consistent state: another process
    /// that checkpoints between two separate reads could otherwise prune patches the first
    /// read's snapshot does not contain. The default reads twice; providers shared between
    /// processes override it.
    fn load_state(&mut self) -> Result<StoredState> {
        let snapshot = self.load_snapshot()?;
        let since = snapshot.as_ref().map_or(0, |(_, clock)| *clock);
        let patches = self.load_patches_since(since)?;
        Ok(StoredState { snapshot, patches })
    }

    /// What storage holds beyond what a reader has seen, read from one consistent state: the
    /// snapshot only when its clock is no longer `known_snapshot_clock` (another process
    /// checkpointed; then with every patch after it), otherwise no snapshot and every patch
    /// with a clock greater than `since`. This is how a long-lived engine catches up with
    /// other processes sharing the storage without reading the snapshot each time. The
    /// default reads the snapshot; providers shared between processes override it.
    fn load_changes_since(
        &mut self,
        known_snapshot_clock: Option<u64>,
        since: u64,
    ) -> Result<StoredState> {
        let state = self.load_state()?;
        if state.snapshot.as_ref().map(|(_, clock)| *clock) != known_snapshot_clock {
            return Ok(state);
        }
        let patches = state
            .patches
            .into_iter()
            .filter(|(clock, _)| *clock > since)
            .collect();
        Ok(StoredState {
            snapshot: None,
            patches,
        })
    }

    /// Stores a patch under the next clock — max(highest patch clock, snapshot clock, 0) + 1,
    /// computed inside the write transaction (SPEC §11.2) — and returns that clock.
    fn append_patch(&mut self, bytes: &[u8]) -> Result<u64>;

    /// Deletes the patches with clock ≤ `up_to`. Callers prune only up to the clock of a
    /// snapshot that contains those patches (as `checkpoint` does): pruning beyond it would let
    /// the clock formula hand out pruned clocks again.
    fn prune_patches(&mut self, up_to: u64) -> Result<usize>;

    /// A blob, or `None`.
    fn load_value(&mut self, hash: &str) -> Result<Option<Vec<u8>>>;

    /// Stores a blob if absent (the first data is kept) and remembers when.
    fn save_value(&mut self, hash: &str, bytes: &[u8]) -> Result<()>;

    /// Deletes blobs whose hash is not in `referenced` and that were saved longer than
    /// `grace` ago; returns how many.
    fn delete_unreferenced_values(
        &mut self,
        referenced: &HashSet<String>,
        grace: Duration,
    ) -> Result<usize>;

    /// Runs SPEC §11.3 in one exclusive write transaction: hands `merge` the foreign snapshot
    /// (if the stored clock differs from `known_snapshot_clock`) and every later patch, saves
    /// the snapshot it returns with clock = the highest patch clock seen (or the stored
    /// snapshot's clock), prunes the log up to that clock and deletes unreferenced blobs.
    fn checkpoint(
        &mut self,
        known_snapshot_clock: Option<u64>,
        merge: &mut dyn FnMut(CheckpointInput) -> Result<CheckpointOutput>,
    ) -> Result<CheckpointOutcome>;

    /// Hashes of blobs written locally that were not handed to the network yet, in the
    /// order they were marked (SPEC §13.6: a blob written offline is sent after the next
    /// connection — also when the process restarted in between). The default keeps none, so
    /// such uploads last only as long as the engine.
    fn pending_uploads(&mut self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Marks blobs as waiting for upload (`pending`) or as handed to the network.
    fn mark_uploads(&mut self, hashes: &[String], pending: bool) -> Result<()> {
        let _ = (hashes, pending);
        Ok(())
    }

    /// The backend recorded for the store (`yrs`, `loro`), if any.
    fn backend(&mut self) -> Result<Option<String>>;

    /// Records the backend of the store.
    fn set_backend(&mut self, name: &str) -> Result<()>;

    /// Releases the underlying resources. Further calls fail with `persistence-failed`.
    fn close(&mut self) -> Result<()>;
}

/// The shared state behind [`MemoryPersistence`]: what one SQLite file would hold for all
/// stores. Several providers (like several processes) may share it.
#[derive(Debug, Default)]
pub struct MemoryDatabase {
    stores: HashMap<String, MemoryStoreRows>,
}

#[derive(Debug, Default)]
struct MemoryStoreRows {
    snapshot: Option<(Vec<u8>, u64)>,
    patches: BTreeMap<u64, Vec<u8>>,
    /// hash -> (bytes, saved at in ms)
    blobs: HashMap<String, (Vec<u8>, u64)>,
    /// Blobs waiting for upload, in marking order.
    pending_uploads: Vec<String>,
    backend: Option<String>,
}

impl MemoryStoreRows {
    fn next_clock(&self) -> u64 {
        let highest_patch = self.patches.keys().next_back().copied().unwrap_or(0);
        let snapshot = self.snapshot.as_ref().map_or(0, |(_, c)| *c);
        highest_patch.max(snapshot) + 1
    }
}

/// An in-memory provider with the behaviour of the SQLite one, for tests. Providers created
/// from the same [`MemoryDatabase`] share data like processes sharing one file.
#[derive(Clone)]
pub struct MemoryPersistence {
    store_id: String,
    database: Arc<Mutex<MemoryDatabase>>,
    clock: crate::options::Clock,
    closed: bool,
}

impl fmt::Debug for MemoryPersistence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryPersistence")
            .field("store_id", &self.store_id)
            .field("closed", &self.closed)
            .finish()
    }
}

impl MemoryPersistence {
    /// A provider for `store_id` on a fresh, private database.
    pub fn new(store_id: impl Into<String>) -> Self {
        MemoryPersistence::shared(store_id, Arc::default())
    }

    /// A provider for `store_id` on a shared database.
    pub fn shared(store_id: impl Into<String>, database: Arc<Mutex<MemoryDatabase>>) -> Self {
        MemoryPersistence {
            store_id: store_id.into(),
            database,
            clock: crate::options::Clock::system(),
            closed: false,
        }
    }

    /// The database this provider works on (to open more providers on the same "file").
    pub fn database(&self) -> Arc<Mutex<MemoryDatabase>> {
        self.database.clone()
    }

    /// Uses `clock` for blob timestamps (tests of the grace period).
    pub fn with_clock(mut self, clock: crate::options::Clock) -> Self {
        self.clock = clock;
        self
    }

    fn rows<T>(&mut self, f: impl FnOnce(&mut MemoryStoreRows) -> T) -> Result<T> {
        if self.closed {
            return Err(Error::new(
                ErrorCode::PersistenceFailed,
                "the persistence provider is closed",
            ));
        }
        let mut db = self.database.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(f(db.stores.entry(self.store_id.clone()).or_default()))
    }
}

impl Persistence for MemoryPersistence {
    fn store_id(&self) -> &str {
        &self.store_id
    }

    fn load_snapshot(&mut self) -> Result<Option<(Vec<u8>, u64)>> {
        self.rows(|r| r.snapshot.clone())
    }

    fn save_snapshot(&mut self, bytes: &[u8], clock: u64) -> Result<()> {
        self.rows(|r| r.snapshot = Some((bytes.to_vec(), clock)))
    }

    fn load_patches_since(&mut self, clock: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        self.rows(|r| {
            r.patches
                .range((Bound::Excluded(clock), Bound::Unbounded))
                .map(|(c, p)| (*c, p.clone()))
                .collect()
        })
    }

    fn append_patch(&mut self, bytes: &[u8]) -> Result<u64> {
        self.rows(|r| {
            let clock = r.next_clock();
            r.patches.insert(clock, bytes.to_vec());
            clock
        })
    }

    fn prune_patches(&mut self, up_to: u64) -> Result<usize> {
        self.rows(|r| {
            let before = r.patches.len();
            r.patches.retain(|c, _| *c > up_to);
            before - r.patches.len()
        })
    }

    fn load_value(&mut self, hash: &str) -> Result<Option<Vec<u8>>> {
        self.rows(|r| r.blobs.get(hash).map(|(b, _)| b.clone()))
    }

    fn save_value(&mut self, hash: &str, bytes: &[u8]) -> Result<()> {
        let now = self.clock.now_ms();
        self.rows(|r| {
            r.blobs
                .entry(hash.to_owned())
                .or_insert_with(|| (bytes.to_vec(), now));
        })
    }

    fn delete_unreferenced_values(
        &mut self,
        referenced: &HashSet<String>,
        grace: Duration,
    ) -> Result<usize> {
        let cutoff = self.clock.now_ms().saturating_sub(grace.as_millis() as u64);
        self.rows(|r| {
            let before = r.blobs.len();
            r.blobs
                .retain(|hash, (_, saved)| referenced.contains(hash) || *saved > cutoff);
            before - r.blobs.len()
        })
    }

    fn checkpoint(
        &mut self,
        known_snapshot_clock: Option<u64>,
        merge: &mut dyn FnMut(CheckpointInput) -> Result<CheckpointOutput>,
    ) -> Result<CheckpointOutcome> {
        if self.closed {
            return Err(Error::new(
                ErrorCode::PersistenceFailed,
                "the persistence provider is closed",
            ));
        }
        let now = self.clock.now_ms();
        // Holding the lock for the whole checkpoint makes it exclusive, like BEGIN IMMEDIATE.
        let database = self.database.clone();
        let mut db = database.lock().unwrap_or_else(PoisonError::into_inner);
        let rows = db.stores.entry(self.store_id.clone()).or_default();
        let stored_clock = rows.snapshot.as_ref().map(|(_, c)| *c);
        let foreign_snapshot = match (&rows.snapshot, stored_clock == known_snapshot_clock) {
            (Some((bytes, _)), false) => Some(bytes.clone()),
            _ => None,
        };
        let base = stored_clock.unwrap_or(0);
        let patches: Vec<(u64, Vec<u8>)> = rows
            .patches
            .range((Bound::Excluded(base), Bound::Unbounded))
            .map(|(c, p)| (*c, p.clone()))
            .collect();
        let snapshot_clock = patches.last().map_or(base, |(c, _)| *c);
        let output = merge(CheckpointInput {
            foreign_snapshot,
            patches,
        })?;
        rows.snapshot = Some((output.snapshot, snapshot_clock));
        let before = rows.patches.len();
        rows.patches.retain(|c, _| *c > snapshot_clock);
        let pruned_patches = before - rows.patches.len();
        let cutoff = now.saturating_sub(BLOB_GRACE_PERIOD.as_millis() as u64);
        let blobs_before = rows.blobs.len();
        rows.blobs
            .retain(|hash, (_, saved)| output.referenced_hashes.contains(hash) || *saved > cutoff);
        Ok(CheckpointOutcome {
            snapshot_clock,
            pruned_patches,
            deleted_blobs: blobs_before - rows.blobs.len(),
        })
    }

    fn pending_uploads(&mut self) -> Result<Vec<String>> {
        self.rows(|r| r.pending_uploads.clone())
    }

    fn mark_uploads(&mut self, hashes: &[String], pending: bool) -> Result<()> {
        self.rows(|r| {
            for hash in hashes {
                let marked = r.pending_uploads.contains(hash);
                if pending && !marked {
                    r.pending_uploads.push(hash.clone());
                } else if !pending && marked {
                    r.pending_uploads.retain(|h| h != hash);
                }
            }
        })
    }

    fn backend(&mut self) -> Result<Option<String>> {
        self.rows(|r| r.backend.clone())
    }

    fn set_backend(&mut self, name: &str) -> Result<()> {
        self.rows(|r| r.backend = Some(name.to_owned()))
    }

    fn close(&mut self) -> Result<()> {
        self.closed = true;
        Ok(())
    }
}

impl<P: Persistence + ?Sized> Persistence for Box<P> {
    fn store_id(&self) -> &str {
        (**self).store_id()
    }
    fn load_snapshot(&mut self) -> Result<Option<(Vec<u8>, u64)>> {
        (**self).load_snapshot()
    }
    fn save_snapshot(&mut self, bytes: &[u8], clock: u64) -> Result<()> {
        (**self).save_snapshot(bytes, clock)
    }
    fn load_patches_since(&mut self, clock: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        (**self).load_patches_since(clock)
    }
    fn load_state(&mut self) -> Result<StoredState> {
        (**self).load_state()
    }
    fn load_changes_since(
        &mut self,
        known_snapshot_clock: Option<u64>,
        since: u64,
    ) -> Result<StoredState> {
        (**self).load_changes_since(known_snapshot_clock, since)
    }
    fn append_patch(&mut self, bytes: &[u8]) -> Result<u64> {
        (**self).append_patch(bytes)
    }
    fn prune_patches(&mut self, up_to: u64) -> Result<usize> {
        (**self).prune_patches(up_to)
    }
    fn load_value(&mut self, hash: &str) -> Result<Option<Vec<u8>>> {
        (**self).load_value(hash)
    }
    fn save_value(&mut self, hash: &str, bytes: &[u8]) -> Result<()> {
        (**self).save_value(hash, bytes)
    }
    fn delete_unreferenced_values(
        &mut self,
        referenced: &HashSet<String>,
        grace: Duration,
    ) -> Result<usize> {
        (**self).delete_unreferenced_values(referenced, grace)
    }
    fn checkpoint(
        &mut self,
        known_snapshot_clock: Option<u64>,
        merge: &mut dyn FnMut(CheckpointInput) -> Result<CheckpointOutput>,
    ) -> Result<CheckpointOutcome> {
        (**self).checkpoint(known_snapshot_clock, merge)
    }
    fn pending_uploads(&mut self) -> Result<Vec<String>> {
        (**self).pending_uploads()
    }
    fn mark_uploads(&mut self, hashes: &[String], pending: bool) -> Result<()> {
        (**self).mark_uploads(hashes, pending)
    }
    fn backend(&mut self) -> Result<Option<String>> {
        (**self).backend()
    }
    fn set_backend(&mut self, name: &str) -> Result<()> {
        (**self).set_backend(name)
    }
    fn close(&mut self) -> Result<()> {
        (**self).close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_are_max_plus_one_also_after_pruning_and_across_providers() {
        let db: Arc<Mutex<MemoryDatabase>> = Arc::default();
        let mut a = MemoryPersistence::shared("s", db.clone());
        let mut b = MemoryPersistence::shared("s", db);
        assert_eq!(a.append_patch(b"1").unwrap(), 1);
        assert_eq!(b.append_patch(b"2").unwrap(), 2);
        assert_eq!(a.append_patch(b"3").unwrap(), 3);
        a.save_snapshot(b"snap", 3).unwrap();
        assert_eq!(a.prune_patches(3).unwrap(), 3);
        assert_eq!(b.append_patch(b"4").unwrap(), 4);
        assert_eq!(a.load_patches_since(0).unwrap(), vec![(4, b"4".to_vec())]);
    }

    #[test]
    fn blobs_keep_their_first_data_and_are_scoped_per_store() {
        let db: Arc<Mutex<MemoryDatabase>> = Arc::default();
        let mut a = MemoryPersistence::shared("a", db.clone());
        let mut b = MemoryPersistence::shared("b", db);
        a.save_value("h", b"first").unwrap();
        a.save_value("h", b"second").unwrap();
        assert_eq!(a.load_value("h").unwrap().unwrap(), b"first");
        assert_eq!(b.load_value("h").unwrap(), None);
    }

    #[test]
    fn closed_providers_fail_with_persistence_failed() {
        let mut p = MemoryPersistence::new("s");
        p.close().unwrap();
        assert_eq!(
            p.append_patch(b"x").unwrap_err().code(),
            ErrorCode::PersistenceFailed
        );
    }
}
