//! The engine: restore, the durable local pipeline, remote patches, checkpoints and the
//! Trash TTL timer. It reads no clock and starts no task: time comes in through
//! [`Engine::handle_timeout`], and the next deadline is reported by [`Engine::poll_timeout`].

use crate::error::{Result, SyncError};
use crate::network::{Network, NetworkOptions, PresenceOrigin};
use crate::pipeline::{Mode, PendingCommit, Pipeline, SharedPersistence, lock, persistence_error};
use sds_core::{
    Backend, CHECKPOINT_THRESHOLD_BYTES, CheckpointInput, CheckpointOutcome, CheckpointOutput,
    NewBackend, Persistence, RemotePatchOutcome, Store, StoreOptions,
};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

/// Options of an engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Options of the store the engine builds.
    pub store: StoreOptions,
    /// Bytes of appended patches after which a checkpoint runs (SPEC §11.3: 512 KiB).
    pub checkpoint_threshold: usize,
    /// A passive replica never authors changes (SPEC §14.7, the relay server's replicas): a
    /// new store starts as an empty document (no well-known items), remote patches are not
    /// followed by the repair pass, and there is no Trash timer.
    pub passive: bool,
    /// Options of the network part (presence timeout, value size limit, delay seed).
    pub network: NetworkOptions,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            store: StoreOptions::default(),
            checkpoint_threshold: CHECKPOINT_THRESHOLD_BYTES,
            passive: false,
            network: NetworkOptions::default(),
        }
    }
}

/// Something the engine reports to its owner (SPEC §13.9: pipeline failures are reported, they
/// do not stop the engine).
#[derive(Debug)]
pub enum EngineEvent {
    /// A stored patch could not be decoded during restore and was skipped.
    PatchSkipped {
        /// The patch clock.
        clock: u64,
        /// Why it was skipped.
        error: sds_core::Error,
    },
    /// Persisting a repair or a received patch failed; the change exists in memory only.
    PersistenceFailed(sds_core::Error),
    /// A checkpoint ran.
    Checkpointed(CheckpointOutcome),
    /// The Trash TTL timer purged this many expired entries.
    TrashPurged(usize),
    /// A wanted blob arrived and was verified; `read_value` now returns it (SPEC §13.6).
    ValueAvailable(String),
    /// A peer's presence appeared, changed or went away (`state` is `None`), SPEC §13.7.
    PresenceChanged {
        /// The peer.
        peer_id: String,
        /// Its new state, or `None` when it left or was evicted.
        state: Option<serde_json::Map<String, serde_json::Value>>,
        /// Local (`set_presence_to`) or remote.
        origin: PresenceOrigin,
    },
}

/// A sync engine over a store and an optional persistence provider.
///
/// Local transactions go through the store's commit hook: the patch (and the blobs the
/// transaction wrote) is appended durably before the transaction returns. Received patches are
/// appended on receipt when they advanced the document. A checkpoint (snapshot + prune) runs
/// when 512 KiB of patches accumulated and when the engine stops.
pub struct Engine<B: Backend> {
    pub(crate) store: Store<B>,
    pub(crate) pipeline: Arc<Mutex<Pipeline>>,
    pub(crate) net: Network,
    /// Ids whose change set reported `Value` or `Existence`, for the wanted-blob set.
    pub(crate) value_changes: Arc<Mutex<Vec<String>>>,
    persistence: Option<SharedPersistence>,
    snapshot_clock: Option<u64>,
    /// The highest clock read from storage (snapshot or patch), for [`Engine::refresh`].
    refreshed_up_to: u64,
    checkpoint_threshold: usize,
    passive: bool,
    pub(crate) events: VecDeque<EngineEvent>,
    next_trash_check: Option<u64>,
    pub(crate) peer_id: String,
    closed: bool,
}

impl<B: Backend> fmt::Debug for Engine<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("peer_id", &self.peer_id)
            .field("store", &self.store)
            .field("snapshot_clock", &self.snapshot_clock)
            .finish_non_exhaustive()
    }
}

impl<B: NewBackend> Engine<B> {
    /// Starts an engine (SPEC §13.2): restores the store from the provider's snapshot and the
    /// later patches by itself (or creates it), checks the backend marker, runs the repair pass
    /// once (its change is persisted like any local change) and arms the Trash timer.
    /// `now_ms` is the current time, the only clock reading the engine gets at start.
    pub fn start(
        persistence: Option<Box<dyn Persistence>>,
        options: EngineOptions,
        now_ms: u64,
    ) -> Result<Self> {
        let shared: Option<SharedPersistence> = persistence.map(|p| Arc::new(Mutex::new(p)));
        let mut events = VecDeque::new();
        let restored = match &shared {
            None if options.passive => Restored::fresh(Store::with_restored_backend(
                empty_backend::<B>(&options.store),
                options.store.clone(),
            )?),
            None => Restored::fresh(Store::<B>::from_scratch(options.store.clone())?),
            Some(provider) => restore::<B>(&mut **lock(provider), &options, &mut events)?,
        };
        let Restored {
            mut store,
            snapshot_clock,
            refreshed_up_to,
            applied_clocks,
            marker_written,
            fresh,
        } = restored;

        let mut pipeline = Pipeline::new(shared.clone(), B::NAME);
        pipeline.applied_clocks = applied_clocks;
        pipeline.marker_written = marker_written;
        let pipeline = Arc::new(Mutex::new(pipeline));
        install_commit_hook(&mut store, pipeline.clone());
        if let Some(provider) = &shared {
            let provider = provider.clone();
            store.set_value_blob_loader(Some(Box::new(move |hash| {
                lock(&provider).load_value(hash).ok().flatten()
            })));
            if fresh && !options.passive {
                // A brand-new store: persist its initial document (the well-known items) so
                // that every later patch builds on the same items after a restart.
                let initial = store.export_patch(None)?;
                lock(&pipeline).persist_remote(&initial)?;
            }
        }
        if !options.passive {
            store.recover_orphans()?;
        }

        let next_trash_check = options
            .store
            .effective_trash_check_interval()
            .filter(|_| !options.passive)
            .map(|interval| now_ms.saturating_add(interval.as_millis() as u64));
        let value_changes: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = value_changes.clone();
        store.on_change_invoke(move |_, _, changes| {
            let mut sink = lock(&sink);
            for (id, properties) in changes.iter() {
                if properties.contains(&sds_core::Property::Value)
                    || properties.contains(&sds_core::Property::Existence)
                {
                    sink.push(id.to_owned());
                }
            }
        });
        let peer_id = sds_core::new_entry_id();
        let mut engine = Engine {
            net: Network::new(&options.network, &peer_id),
            value_changes,
            store,
            pipeline,
            persistence: shared,
            snapshot_clock,
            refreshed_up_to,
            checkpoint_threshold: options.checkpoint_threshold,
            passive: options.passive,
            events,
            next_trash_check,
            peer_id,
            closed: false,
        };
        if !options.passive {
            engine.compute_wanted(now_ms);
            // Uploads an earlier run did not hand to the network (SPEC §13.6).
            if let Some(provider) = &engine.persistence {
                let pending = lock(provider).pending_uploads()?;
                engine.net.pending_uploads = pending;
            }
        }
        Ok(engine)
    }
}

/// What restoring from a provider produced.
struct Restored<B: Backend> {
    store: Store<B>,
    snapshot_clock: Option<u64>,
    /// The highest clock read (snapshot or patch, applied or skipped).
    refreshed_up_to: u64,
    applied_clocks: std::collections::HashSet<u64>,
    marker_written: bool,
    /// Nothing was stored: the store was created from scratch.
    fresh: bool,
}

impl<B: Backend> Restored<B> {
    fn fresh(store: Store<B>) -> Self {
        Restored {
            store,
            snapshot_clock: None,
            refreshed_up_to: 0,
            applied_clocks: Default::default(),
            marker_written: false,
            fresh: true,
        }
    }
}

fn restore<B: NewBackend>(
    provider: &mut dyn Persistence,
    engine_options: &EngineOptions,
    events: &mut VecDeque<EngineEvent>,
) -> Result<Restored<B>> {
    let options = &engine_options.store;
    let marker = provider.backend()?;
    let sds_core::StoredState { snapshot, patches } = provider.load_state()?;
    let detected = snapshot.as_ref().and_then(|(bytes, _)| {
        sds_core::gzip::decompress(bytes)
            .ok()
            .map(|payload| sds_core::gzip::detect_backend(&payload).to_owned())
    });
    if let Some(stored) = marker.clone().or(detected)
        && stored != B::NAME
    {
        return Err(SyncError::BackendMismatch {
            store_id: provider.store_id().to_owned(),
            stored,
            requested: B::NAME.to_owned(),
        });
    }
    let snapshot_clock = snapshot.as_ref().map(|(_, clock)| *clock);
    let mut store = match &snapshot {
        Some((bytes, _)) => Store::<B>::from_binary(bytes, options.clone())?,
        None if patches.is_empty() && !engine_options.passive => {
            return Ok(Restored {
                marker_written: marker.is_some(),
                ..Restored::fresh(Store::<B>::from_scratch(options.clone())?)
            });
        }
        // Only patches: replay them onto an empty document. Creating the well-known items
        // here would write a second, concurrent version of them.
        None => Store::with_restored_backend(empty_backend::<B>(options), options.clone())?,
    };
    let mut applied_clocks = std::collections::HashSet::new();
    let refreshed_up_to = patches
        .iter()
        .map(|(clock, _)| *clock)
        .chain(snapshot_clock)
        .max()
        .unwrap_or(0);
    for (clock, patch) in patches {
        match store.apply_remote_patch_without_repair(&patch) {
            Ok(_) => {
                applied_clocks.insert(clock);
            }
            Err(error) => {
                tracing::warn!(clock, %error, "skipping an undecodable stored patch");
                events.push_back(EngineEvent::PatchSkipped { clock, error });
            }
        }
    }
    Ok(Restored {
        store,
        snapshot_clock,
        refreshed_up_to,
        applied_clocks,
        marker_written: marker.is_some(),
        fresh: false,
    })
}

fn empty_backend<B: NewBackend>(options: &StoreOptions) -> B {
    match options.replica_seed {
        Some(seed) => B::new_seeded(seed),
        None => B::new_empty(),
    }
}

fn install_commit_hook<B: Backend>(store: &mut Store<B>, pipeline: Arc<Mutex<Pipeline>>) {
    store.on_local_commit(move |store, commit| {
        // Blobs are read before the pipeline lock: a cache miss would call the loader, which
        // takes the persistence lock.
        let blobs = commit
            .written_blobs
            .iter()
            .filter_map(|hash| store.value_blob_by_hash(hash).map(|b| (hash.clone(), b)))
            .collect();
        lock(&pipeline).commit(PendingCommit {
            patch: commit.patch.to_vec(),
            blobs,
        })
    });
}

impl<B: Backend> Engine<B> {
    /// The store.
    pub fn store(&self) -> &Store<B> {
        &self.store
    }

    /// The store, for mutations. Local changes are persisted by the commit hook; maintenance
    /// (a due checkpoint) runs at the next engine call such as [`Engine::transact`].
    pub fn store_mut(&mut self) -> &mut Store<B> {
        &mut self.store
    }

    /// This engine's peer id (a random UUID v4).
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// Runs `f` as one store transaction; when it returns `Ok`, its change is durable (with
    /// the default SQLite settings: against a process crash). Then runs a due checkpoint.
    pub fn transact<T>(
        &mut self,
        f: impl FnOnce(&mut Store<B>) -> sds_core::Result<T>,
    ) -> Result<T> {
        self.ensure_open()?;
        let result = self.store.transact(f);
        self.maintain();
        Ok(result?)
    }

    /// Applies a received patch (SPEC §13.4): the store applies it and repairs; if the patch
    /// advanced the document it is appended to the log before this returns, followed by the
    /// repair's patch. Undecodable patches are `invalid-data` and change nothing.
    pub fn apply_remote_patch(&mut self, patch: &[u8]) -> Result<RemotePatchOutcome> {
        self.ensure_open()?;
        lock(&self.pipeline).mode = Mode::Defer;
        let outcome = if self.passive {
            self.store.apply_remote_patch_without_repair(patch)
        } else {
            self.store.apply_remote_patch(patch)
        };
        let mut pipeline = lock(&self.pipeline);
        pipeline.mode = Mode::Persist;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                // A failing repair may still have committed; persist what was committed.
                if let Err(persist) = pipeline.flush_deferred() {
                    self.events
                        .push_back(EngineEvent::PersistenceFailed(persist));
                }
                drop(pipeline);
                return Err(e.into());
            }
        };
        if outcome.advanced {
            pipeline.persist_remote(patch)?;
        }
        if let Err(e) = pipeline.flush_deferred() {
            tracing::error!(error = %e, "persisting the repair of a remote patch failed");
            self.events.push_back(EngineEvent::PersistenceFailed(e));
        }
        drop(pipeline);
        self.maintain();
        Ok(outcome)
    }

    /// Catches up with what other processes sharing the persistence wrote since this engine
    /// restored the store or last refreshed: their patches are applied like received ones
    /// (change handlers see them, the repair pass runs unless the engine is passive), and a
    /// snapshot another process checkpointed is merged. Patches are not appended again: they
    /// are in the log already. Returns whether the document advanced.
    ///
    /// This is what lets a long-lived process (an MCP server, a REPL) keep one engine open
    /// instead of restoring the store for every operation, and still see every change a
    /// short-lived one (a CLI command) made. Without persistence this does nothing.
    pub fn refresh(&mut self) -> Result<bool> {
        self.ensure_open()?;
        let Some(persistence) = self.persistence.clone() else {
            return Ok(false);
        };
        let state =
            lock(&persistence).load_changes_since(self.snapshot_clock, self.refreshed_up_to)?;
        let mut merged = Vec::new();
        let mut advanced = false;
        if let Some((bytes, clock)) = &state.snapshot {
            // The snapshot another process wrote: its payload is a full-state patch. The
            // patches it replaced are gone from the log; clocks at or below it say nothing
            // any more.
            match sds_core::gzip::decompress(bytes).and_then(|payload| {
                let outcome = self.apply_stored(&payload)?;
                Ok((payload, outcome))
            }) {
                Ok((payload, outcome)) if outcome.advanced => {
                    advanced = true;
                    merged.push(payload);
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the stored snapshot could not be merged");
                    self.events.push_back(EngineEvent::PersistenceFailed(error));
                }
            }
            self.snapshot_clock = Some(*clock);
            self.refreshed_up_to = self.refreshed_up_to.max(*clock);
            lock(&self.pipeline).applied_clocks.retain(|c| c > clock);
        }
        for (clock, patch) in state.patches {
            self.refreshed_up_to = self.refreshed_up_to.max(clock);
            if lock(&self.pipeline).applied_clocks.contains(&clock) {
                continue;
            }
            match self.apply_stored(&patch) {
                Ok(outcome) => {
                    lock(&self.pipeline).applied_clocks.insert(clock);
                    if outcome.advanced {
                        advanced = true;
                        merged.push(patch);
                    }
                }
                Err(error) => {
                    tracing::warn!(clock, %error, "skipping an undecodable stored patch");
                    self.events
                        .push_back(EngineEvent::PatchSkipped { clock, error });
                }
            }
        }
        self.forward_merged(merged);
        self.maintain();
        Ok(advanced)
    }

    /// Applies a patch read from storage: with the repair pass (whose change the commit hook
    /// persists), unless the engine is passive.
    fn apply_stored(&mut self, patch: &[u8]) -> sds_core::Result<RemotePatchOutcome> {
        if self.passive {
            self.store.apply_remote_patch_without_repair(patch)
        } else {
            self.store.apply_remote_patch(patch)
        }
    }

    /// Runs a checkpoint now when one is due (SPEC §11.3 threshold).
    pub fn maintain(&mut self) {
        let due = lock(&self.pipeline).bytes_since_checkpoint >= self.checkpoint_threshold;
        if due
            && !self.closed
            && let Err(e) = self.checkpoint()
        {
            tracing::error!(error = %e, "checkpoint failed");
            self.events
                .push_back(EngineEvent::PersistenceFailed(match e {
                    SyncError::Store(e) => e,
                    other => persistence_error(other.to_string()),
                }));
        }
    }

    /// Writes a snapshot and prunes the log (SPEC §11.3), merging first whatever other
    /// processes sharing the file wrote. Without persistence this does nothing.
    pub fn checkpoint(&mut self) -> Result<Option<CheckpointOutcome>> {
        self.ensure_open()?;
        let Some(persistence) = self.persistence.clone() else {
            return Ok(None);
        };
        if let Some(outcome) = self.unchanged_checkpoint(&persistence)? {
            self.events.push_back(EngineEvent::Checkpointed(outcome));
            return Ok(Some(outcome));
        }
        lock(&self.pipeline).mode = Mode::Defer;
        let applied = lock(&self.pipeline).applied_clocks.clone();
        let store = &mut self.store;
        let events = &mut self.events;
        let passive = self.passive;
        let mut merged: Vec<Vec<u8>> = Vec::new();
        let result =
            lock(&persistence).checkpoint(self.snapshot_clock, &mut |input: CheckpointInput| {
                // Changes written by other processes are merged like remote patches and also
                // forwarded to the network afterwards: they may come from an offline process.
                let mut merge_one = |bytes: &[u8]| -> sds_core::Result<()> {
                    if store.apply_remote_patch_without_repair(bytes)?.advanced {
                        merged.push(bytes.to_vec());
                    }
                    Ok(())
                };
                if let Some(foreign) = input.foreign_snapshot {
                    // The snapshot another process wrote: its payload is a full-state patch.
                    if let Err(error) =
                        sds_core::gzip::decompress(&foreign).and_then(|payload| merge_one(&payload))
                    {
                        tracing::warn!(%error, "the stored snapshot could not be merged");
                        events.push_back(EngineEvent::PersistenceFailed(error));
                    }
                }
                for (clock, patch) in input.patches.iter().filter(|(c, _)| !applied.contains(c)) {
                    if let Err(error) = merge_one(patch) {
                        tracing::warn!(clock, %error, "skipping an undecodable stored patch");
                        events.push_back(EngineEvent::PatchSkipped {
                            clock: *clock,
                            error,
                        });
                    }
                }
                // Foreign changes may violate the invariants; the repair is part of the
                // snapshot (a passive replica never authors changes: peers repair).
                if !passive {
                    store.recover_orphans()?;
                }
                Ok(CheckpointOutput {
                    snapshot: store.as_binary(),
                    referenced_hashes: store.referenced_value_hashes(),
                })
            });
        let mut pipeline = lock(&self.pipeline);
        pipeline.mode = Mode::Persist;
        match result {
            Ok(outcome) => {
                // Commits made while merging are in the new snapshot already.
                pipeline.deferred.clear();
                pipeline.applied_clocks.clear();
                pipeline.bytes_since_checkpoint = 0;
                pipeline.marker_written = true;
                drop(pipeline);
                self.snapshot_clock = Some(outcome.snapshot_clock);
                self.refreshed_up_to = self.refreshed_up_to.max(outcome.snapshot_clock);
                self.forward_merged(merged);
                self.store.trim_blob_cache();
                self.events.push_back(EngineEvent::Checkpointed(outcome));
                Ok(Some(outcome))
            }
            Err(e) => {
                // The checkpoint was rolled back: commits made while merging must reach the log.
                if let Err(persist) = pipeline.flush_deferred() {
                    self.events
                        .push_back(EngineEvent::PersistenceFailed(persist));
                }
                Err(e.into())
            }
        }
    }

    /// A checkpoint with nothing to merge and nothing to write: the stored snapshot is the
    /// one this engine restored or wrote last, this engine appended and applied no patch since,
    /// and the log holds none after it. Steps 1–4 of SPEC §11.3 would then only encode the
    /// same document again (seconds for a large store, on every short-lived process such as a
    /// CLI command); only the blob collection (step 5) is left to do. Returns `None` when a
    /// full checkpoint is needed. A patch another process appends after this check stays in
    /// the log for the next checkpoint, so skipping loses nothing.
    fn unchanged_checkpoint(
        &mut self,
        persistence: &SharedPersistence,
    ) -> Result<Option<CheckpointOutcome>> {
        let Some(clock) = self.snapshot_clock else {
            return Ok(None);
        };
        {
            let pipeline = lock(&self.pipeline);
            if pipeline.bytes_since_checkpoint != 0
                || !pipeline.applied_clocks.is_empty()
                || !pipeline.deferred.is_empty()
            {
                return Ok(None);
            }
        }
        let mut provider = lock(persistence);
        if !provider.load_patches_since(clock)?.is_empty()
            || provider.load_snapshot()?.map(|(_, stored)| stored) != Some(clock)
        {
            return Ok(None);
        }
        let deleted_blobs = provider.delete_unreferenced_values(
            &self.store.referenced_value_hashes(),
            sds_core::BLOB_GRACE_PERIOD,
        )?;
        Ok(Some(CheckpointOutcome {
            snapshot_clock: clock,
            pruned_patches: 0,
            deleted_blobs,
        }))
    }

    /// Marks blobs as waiting for upload or as handed to the network; a failure is reported
    /// as an event (the worst outcome is a blob sent twice or, after a restart, not again).
    pub(crate) fn mark_uploads(&mut self, hashes: &[String], pending: bool) {
        if let Some(provider) = &self.persistence
            && let Err(error) = lock(provider).mark_uploads(hashes, pending)
        {
            tracing::warn!(%error, "recording pending uploads failed");
            self.events.push_back(EngineEvent::PersistenceFailed(error));
        }
    }

    /// Sends patches merged from storage to the network (or keeps them for the next
    /// connection).
    fn forward_merged(&mut self, merged: Vec<Vec<u8>>) {
        if self.passive {
            return;
        }
        let mut pipeline = lock(&self.pipeline);
        pipeline.outgoing.extend(merged);
    }

    /// Stores a received, verified blob in the cache and, with persistence, durably
    /// (SPEC §13.6, §14.7). Hashes that do not match the bytes are refused (`invalid-data`).
    pub fn store_received_blob(&mut self, hash: &str, bytes: &[u8]) -> Result<()> {
        self.store.store_value_blob(hash, bytes)?;
        if let Some(persistence) = &self.persistence {
            lock(persistence).save_value(hash, bytes)?;
        }
        Ok(())
    }

    /// A blob from the cache or persistence.
    pub fn blob(&self, hash: &str) -> Option<Arc<[u8]>> {
        self.store.value_blob_by_hash(hash)
    }

    /// The next time (ms since the epoch) at which [`Engine::handle_timeout`] has work.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.closed {
            return None;
        }
        [self.next_trash_check, self.network_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs the timers due at `now_ms`: the Trash TTL purge (SPEC §1.7, §5.6) and the
    /// network timers (delayed answers, blob re-requests, presence heartbeat and eviction).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.closed {
            return;
        }
        self.network_timeout(now_ms);
        if let Some(due) = self.next_trash_check
            && now_ms >= due
        {
            match self.store.purge_expired_trash_entries(None) {
                Ok(0) => {}
                Ok(purged) => self.events.push_back(EngineEvent::TrashPurged(purged)),
                Err(e) => self.events.push_back(EngineEvent::PersistenceFailed(e)),
            }
            self.next_trash_check = self
                .store
                .options()
                .effective_trash_check_interval()
                .map(|interval| now_ms.saturating_add(interval.as_millis() as u64));
            self.maintain();
        }
    }

    /// The next event for the owner, if any.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    /// Bytes of patches appended since the last checkpoint.
    pub fn bytes_since_checkpoint(&self) -> usize {
        lock(&self.pipeline).bytes_since_checkpoint
    }

    /// Stops the engine (SPEC §13.8): with persistence it always checkpoints and closes the
    /// provider. The store stays readable.
    pub fn stop(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        // PRESENCE_LEAVE goes out with the last frames the driver sends (SPEC §13.7).
        self.leave();
        let result = self.checkpoint();
        self.closed = true;
        self.next_trash_check = None;
        if let Some(persistence) = &self.persistence {
            lock(persistence).close()?;
        }
        result.map(drop)
    }

    /// Stops the engine and returns the store.
    pub fn into_store(mut self) -> Result<Store<B>> {
        self.stop()?;
        Ok(self.store)
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed {
            Err(SyncError::Stopped)
        } else {
            Ok(())
        }
    }
}
