//! Durable replicas of persistent mode (SPEC §14.7).
//!
//! Each store served in persistent mode has a passive [`Engine`] over a SQLite file, running on
//! its own thread. It is loaded when the first client of the store connects and checkpointed
//! and unloaded a while after the last one left. The logic is written once, generic over the
//! backend; the backend is chosen once, when a replica is opened.

use crate::config::BackendKind;
use bytes::Bytes;
use sds_core::{ErrorCode, NewBackend, Persistence as _};
use sds_loro::LoroBackend;
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_sync::{DriverEvent, Engine, EngineEvent, EngineHandle, EngineOptions, SyncError};
use sds_yrs::YrsBackend;
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a replica operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplicaError {
    /// The patch does not decode for the replica's backend (`invalid-data`): close 1007.
    #[error("the patch cannot be applied: {0}")]
    InvalidPatch(#[source] SyncError),
    /// The store file belongs to another backend.
    #[error(transparent)]
    BackendMismatch(SyncError),
    /// Anything else (persistence failure, stopped engine).
    #[error(transparent)]
    Failed(SyncError),
}

impl From<SyncError> for ReplicaError {
    fn from(error: SyncError) -> Self {
        match error {
            SyncError::BackendMismatch { .. } => ReplicaError::BackendMismatch(error),
            error => ReplicaError::Failed(error),
        }
    }
}

/// The operations the server needs from a replica, independent of the backend.
pub(crate) trait Replica: Send + Sync {
    /// Applies a received patch; `Ok(true)` when it advanced the replica, in which case it is
    /// durable (appended and committed) when this returns.
    fn apply_patch(&self, patch: Bytes) -> BoxFuture<'_, Result<bool, ReplicaError>>;
    /// The answer to `SYNC_REQ(cursor)`: the delta since `cursor`, or the full state when the
    /// cursor is empty or does not decode.
    fn sync_answer(&self, cursor: Bytes) -> BoxFuture<'_, Result<Vec<u8>, ReplicaError>>;
    /// The replica's cursor.
    fn cursor(&self) -> BoxFuture<'_, Result<Vec<u8>, ReplicaError>>;
    /// Stores a verified blob.
    fn store_blob(&self, hash: String, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), ReplicaError>>;
    /// A stored blob.
    fn blob(&self, hash: String) -> BoxFuture<'_, Option<Arc<[u8]>>>;
    /// Checkpoints and closes the replica.
    fn stop(&self) -> BoxFuture<'_, Result<(), ReplicaError>>;
}

struct EngineReplica<B: NewBackend> {
    handle: EngineHandle<B>,
}

impl<B> Replica for EngineReplica<B>
where
    B: NewBackend + Send + 'static,
{
    fn apply_patch(&self, patch: Bytes) -> BoxFuture<'_, Result<bool, ReplicaError>> {
        Box::pin(async move {
            match self
                .handle
                .run(move |engine| engine.apply_remote_patch(&patch))
                .await?
            {
                Ok(outcome) => Ok(outcome.advanced),
                Err(SyncError::Store(e)) if e.code() == ErrorCode::InvalidData => {
                    Err(ReplicaError::InvalidPatch(SyncError::Store(e)))
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn sync_answer(&self, cursor: Bytes) -> BoxFuture<'_, Result<Vec<u8>, ReplicaError>> {
        Box::pin(async move {
            let answer = self
                .handle
                .run(move |engine| {
                    let store = engine.store();
                    store
                        .export_patch(Some(&cursor))
                        .or_else(|_| store.export_patch(None))
                })
                .await?;
            answer.map_err(|e| ReplicaError::Failed(e.into()))
        })
    }

    fn cursor(&self) -> BoxFuture<'_, Result<Vec<u8>, ReplicaError>> {
        Box::pin(async move {
            Ok(self
                .handle
                .run(|engine| engine.store().current_cursor())
                .await?)
        })
    }

    fn store_blob(&self, hash: String, bytes: Vec<u8>) -> BoxFuture<'_, Result<(), ReplicaError>> {
        Box::pin(async move {
            Ok(self
                .handle
                .run(move |engine| engine.store_received_blob(&hash, &bytes))
                .await??)
        })
    }

    fn blob(&self, hash: String) -> BoxFuture<'_, Option<Arc<[u8]>>> {
        Box::pin(async move {
            self.handle
                .run(move |engine| engine.blob(&hash))
                .await
                .ok()
                .flatten()
        })
    }

    fn stop(&self) -> BoxFuture<'_, Result<(), ReplicaError>> {
        Box::pin(async move { Ok(self.handle.run(|engine| engine.stop()).await??) })
    }
}

/// Opens the durable replica of `store_id` (blocking: SQLite and the CRDT restore).
fn open_replica<B>(path: PathBuf, store_id: &str) -> Result<Arc<dyn Replica>, ReplicaError>
where
    B: NewBackend + Send + 'static,
{
    let persistence = SqlitePersistence::open(&path, store_id, SqliteOptions::default())
        .map_err(|e| ReplicaError::Failed(e.into()))?;
    let options = EngineOptions {
        passive: true,
        ..EngineOptions::default()
    };
    let engine = Engine::<B>::start(
        Some(Box::new(persistence)),
        options,
        sds_sync::driver::now_ms(),
    )?;
    let (handle, mut events) = EngineHandle::spawn(engine).map_err(|e| {
        ReplicaError::Failed(SyncError::Store(sds_core::Error::new(
            ErrorCode::PersistenceFailed,
            e.to_string(),
        )))
    })?;
    let store = store_id.to_owned();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                DriverEvent::Engine(EngineEvent::Checkpointed(outcome)) => {
                    tracing::debug!(store = %store, ?outcome, "replica checkpointed");
                }
                DriverEvent::Engine(EngineEvent::PatchSkipped { clock, error }) => {
                    tracing::warn!(store = %store, clock, %error, "skipped an undecodable stored patch");
                }
                DriverEvent::Engine(EngineEvent::PersistenceFailed(error)) => {
                    tracing::error!(store = %store, %error, "replica persistence failed");
                }
                other => tracing::debug!(store = %store, event = ?other, "replica event"),
            }
        }
    });
    Ok(Arc::new(EngineReplica { handle }))
}

/// At most this many patches (the snapshot's payload and the log after it) answer a
/// `SYNC_REQ` from a store's file.
const MAX_PARTS_FROM_FILE: usize = 256;

/// See [`Replicas::answer_from_file`]; blocking.
fn answer_from_file<B: NewBackend>(
    path: &std::path::Path,
    store_id: &str,
    cursor: &[u8],
) -> sds_core::Result<Option<Vec<Vec<u8>>>> {
    if !path.exists() {
        return Ok(None);
    }
    let options = SqliteOptions {
        read_only: true,
        ..SqliteOptions::default()
    };
    let mut persistence = SqlitePersistence::open(path, store_id, options)?;
    if persistence
        .backend()?
        .is_some_and(|stored| stored != B::NAME)
    {
        return Ok(None);
    }
    let state = persistence.load_state()?;
    if state.patches.len() >= MAX_PARTS_FROM_FILE {
        // A long log (a replica that was not checkpointed) is better merged by the replica
        // than sent as many small answers.
        return Ok(None);
    }
    let mut parts = Vec::with_capacity(state.patches.len() + 1);
    if let Some((snapshot, _)) = state.snapshot {
        let payload = sds_core::gzip::decompress(&snapshot)?;
        if sds_core::gzip::detect_backend(&payload) != B::NAME {
            return Ok(None);
        }
        parts.push(payload);
    }
    parts.extend(
        state
            .patches
            .into_iter()
            .map(|(_, patch)| patch)
            .filter(|patch| !patch.is_empty()),
    );
    let all_lacked = !parts.is_empty()
        && parts
            .iter()
            .all(|part| B::cursor_lacks_all_of(cursor, part) == Some(true));
    Ok(all_lacked.then_some(parts))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Entry {
    engine: tokio::sync::Mutex<Option<Arc<dyn Replica>>>,
}

struct Slot {
    entry: Arc<Entry>,
    /// The loaded replica, mirrored here so that [`Replicas::acquire_loaded`] never has to
    /// wait for the entry's lock: set when loading succeeded, cleared when unloading begins.
    ready: Option<Arc<dyn Replica>>,
    /// Connections holding a lease.
    users: usize,
    /// Changes whenever `users` changes, so that only the latest unload timer acts.
    generation: u64,
}

/// The loaded replicas, by store id.
pub(crate) struct Replicas {
    dir: PathBuf,
    backend: BackendKind,
    unload_after: Duration,
    slots: Mutex<HashMap<String, Slot>>,
    loaded: AtomicUsize,
    shutdown: watch::Receiver<bool>,
}

/// A connection's hold on a replica; dropping it may start the unload timer.
pub(crate) struct Lease {
    replicas: Arc<Replicas>,
    store_id: String,
    replica: Arc<dyn Replica>,
}

impl Lease {
    /// The replica.
    pub(crate) fn replica(&self) -> &dyn Replica {
        &*self.replica
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.replicas.release(&self.store_id);
    }
}

impl Replicas {
    pub(crate) fn new(
        dir: PathBuf,
        backend: BackendKind,
        unload_after: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Replicas {
            dir,
            backend,
            unload_after,
            slots: Mutex::new(HashMap::new()),
            loaded: AtomicUsize::new(0),
            shutdown,
        }
    }

    /// Number of loaded replicas.
    pub(crate) fn loaded(&self) -> usize {
        self.loaded.load(Ordering::Relaxed)
    }

    /// The replica of `store_id`, loading it if needed.
    pub(crate) async fn acquire(self: &Arc<Self>, store_id: &str) -> Result<Lease, ReplicaError> {
        let entry = {
            let mut slots = lock(&self.slots);
            let slot = slots.entry(store_id.to_owned()).or_insert_with(|| Slot {
                entry: Arc::new(Entry {
                    engine: tokio::sync::Mutex::new(None),
                }),
                ready: None,
                users: 0,
                generation: 0,
            });
            slot.users += 1;
            slot.generation += 1;
            slot.entry.clone()
        };
        let mut engine = entry.engine.lock().await;
        if engine.is_none() {
            let path = sds_sqlite::store_file_path(&self.dir, store_id);
            let id = store_id.to_owned();
            let backend = self.backend;
            let opened = tokio::task::spawn_blocking(move || match backend {
                BackendKind::Yrs => open_replica::<YrsBackend>(path, &id),
                BackendKind::Loro => open_replica::<LoroBackend>(path, &id),
            })
            .await
            .unwrap_or_else(|e| {
                Err(ReplicaError::Failed(SyncError::Store(
                    sds_core::Error::new(
                        ErrorCode::PersistenceFailed,
                        format!("opening the replica panicked: {e}"),
                    ),
                )))
            });
            match opened {
                Ok(replica) => {
                    tracing::info!(store = %store_id, backend = %self.backend, "replica loaded");
                    self.loaded.fetch_add(1, Ordering::Relaxed);
                    if let Some(slot) = lock(&self.slots).get_mut(store_id) {
                        slot.ready = Some(replica.clone());
                    }
                    *engine = Some(replica);
                }
                Err(error) => {
                    drop(engine);
                    self.release(store_id);
                    return Err(error);
                }
            }
        }
        let replica = engine.clone().expect("loaded above");
        Ok(Lease {
            replicas: self.clone(),
            store_id: store_id.to_owned(),
            replica,
        })
    }

    /// The replica of `store_id` when it is loaded already: a lease without waiting. `None`
    /// when it is not loaded, or while it is being loaded or unloaded.
    pub(crate) fn acquire_loaded(self: &Arc<Self>, store_id: &str) -> Option<Lease> {
        let mut slots = lock(&self.slots);
        let slot = slots.get_mut(store_id)?;
        let replica = slot.ready.clone()?;
        slot.users += 1;
        slot.generation += 1;
        Some(Lease {
            replicas: self.clone(),
            store_id: store_id.to_owned(),
            replica,
        })
    }

    /// The answer to `SYNC_REQ(cursor)` read from the store's file, without loading the
    /// replica: the stored snapshot's payload and every later patch, each sent as a patch of
    /// its own. Given only when the requester has seen none of them (a new peer), so that the
    /// answer is exactly its delta; `None` otherwise, or when the file does not exist, cannot
    /// be read or belongs to another backend. The file holds everything the server
    /// acknowledged, because patches are committed before they are relayed.
    pub(crate) async fn answer_from_file(
        &self,
        store_id: &str,
        cursor: Bytes,
    ) -> Option<Vec<Vec<u8>>> {
        let path = sds_sqlite::store_file_path(&self.dir, store_id);
        let id = store_id.to_owned();
        let backend = self.backend;
        let read = tokio::task::spawn_blocking(move || match backend {
            BackendKind::Yrs => answer_from_file::<YrsBackend>(&path, &id, &cursor),
            BackendKind::Loro => answer_from_file::<LoroBackend>(&path, &id, &cursor),
        });
        match read.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                tracing::warn!(store = %store_id, %error, "reading the stored state failed");
                None
            }
            Err(error) => {
                tracing::error!(store = %store_id, %error, "reading the stored state panicked");
                None
            }
        }
    }

    fn release(self: &Arc<Self>, store_id: &str) {
        let mut slots = lock(&self.slots);
        let Some(slot) = slots.get_mut(store_id) else {
            return;
        };
        slot.users -= 1;
        slot.generation += 1;
        if slot.users > 0 {
            return;
        }
        let generation = slot.generation;
        drop(slots);
        let replicas = self.clone();
        let store_id = store_id.to_owned();
        let mut shutdown = self.shutdown.clone();
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(replicas.unload_after) => {}
                // Shutdown stops every replica itself.
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            replicas.unload(&store_id, generation).await;
        });
    }

    fn is_unused(&self, store_id: &str, generation: Option<u64>, entry: &Arc<Entry>) -> bool {
        lock(&self.slots).get(store_id).is_some_and(|slot| {
            slot.users == 0
                && generation.is_none_or(|g| g == slot.generation)
                && Arc::ptr_eq(&slot.entry, entry)
        })
    }

    async fn unload(&self, store_id: &str, generation: u64) {
        let Some(entry) = lock(&self.slots)
            .get(store_id)
            .map(|slot| slot.entry.clone())
        else {
            return;
        };
        let mut engine = entry.engine.lock().await;
        // A connection that arrived meanwhile holds a lease or waits for this lock. Checked
        // and withdrawn from `acquire_loaded` under one lock, so no lease can follow.
        {
            let mut slots = lock(&self.slots);
            match slots.get_mut(store_id) {
                Some(slot)
                    if slot.users == 0
                        && slot.generation == generation
                        && Arc::ptr_eq(&slot.entry, &entry) =>
                {
                    slot.ready = None;
                }
                _ => return,
            }
        }
        if let Some(replica) = engine.take() {
            self.stop_replica(store_id, replica).await;
        }
        if self.is_unused(store_id, None, &entry) {
            lock(&self.slots).remove(store_id);
        }
    }

    async fn stop_replica(&self, store_id: &str, replica: Arc<dyn Replica>) {
        match replica.stop().await {
            Ok(()) => tracing::info!(store = %store_id, "replica checkpointed and unloaded"),
            Err(error) => tracing::error!(store = %store_id, %error, "stopping a replica failed"),
        }
        self.loaded.fetch_sub(1, Ordering::Relaxed);
    }

    /// Checkpoints and unloads every replica (shutdown).
    pub(crate) async fn stop_all(&self) {
        let entries: Vec<(String, Arc<Entry>)> = lock(&self.slots)
            .drain()
            .map(|(id, slot)| (id, slot.entry))
            .collect();
        for (store_id, entry) in entries {
            if let Some(replica) = entry.engine.lock().await.take() {
                self.stop_replica(&store_id, replica).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sds_core::{ROOT_ID, Store, StoreOptions};

    /// Writes a store file with a snapshot (three items) and one later patch (a fourth item);
    /// returns the labels and the writer's cursor.
    fn write_store<B: NewBackend + Send + 'static>(
        path: &std::path::Path,
    ) -> (Vec<String>, Vec<u8>) {
        let open = || {
            let persistence =
                SqlitePersistence::open(path, "s", SqliteOptions::default()).expect("open");
            Engine::<B>::start(Some(Box::new(persistence)), EngineOptions::default(), 0)
                .expect("start")
        };
        let add = |engine: &mut Engine<B>, label: &str| {
            let label = label.to_owned();
            engine
                .transact(move |s| {
                    let id = s.new_item_at(None, ROOT_ID, None)?;
                    s.set_label(&id, &label)
                })
                .expect("add");
        };
        let mut engine = open();
        for label in ["one", "two", "three"] {
            add(&mut engine, label);
        }
        engine.stop().expect("checkpoint");
        let mut engine = open();
        add(&mut engine, "four");
        let cursor = engine.store().current_cursor();
        drop(engine);
        (
            ["one", "two", "three", "four"].map(String::from).to_vec(),
            cursor,
        )
    }

    fn labels<B: NewBackend>(store: &Store<B>) -> Vec<String> {
        let mut labels: Vec<String> = store
            .inner_entry_ids(ROOT_ID)
            .iter()
            .filter_map(|id| store.entry(id))
            .filter(|e| !e.is_trash_item() && !e.is_lost_and_found_item())
            .map(|e| e.label().to_owned())
            .collect();
        labels.sort();
        labels
    }

    fn a_new_peer_is_answered_from_the_file_and_no_one_else<B: NewBackend + Send + 'static>(
        other: BackendKind,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let (mut expected, own_cursor) = write_store::<B>(&path);
        expected.sort();

        let mut newcomer = Store::<B>::from_scratch(StoreOptions::default()).unwrap();
        let parts = answer_from_file::<B>(&path, "s", &newcomer.current_cursor())
            .unwrap()
            .expect("a new peer has seen none of it");
        assert_eq!(parts.len(), 2, "the snapshot's payload and the later patch");
        for part in &parts {
            newcomer.apply_remote_patch(part).unwrap();
        }
        assert_eq!(labels(&newcomer), expected, "the answer is the whole state");
        assert!(answer_from_file::<B>(&path, "s", &[]).unwrap().is_some());

        assert_eq!(
            answer_from_file::<B>(&path, "s", &own_cursor).unwrap(),
            None,
            "a peer that has seen the state waits for the replica's delta"
        );
        assert_eq!(
            answer_from_file::<B>(&dir.path().join("missing.sqlite"), "s", &[]).unwrap(),
            None,
            "no file, no answer"
        );
        assert!(
            !dir.path().join("missing.sqlite").exists(),
            "and none created"
        );
        let mismatch = match other {
            BackendKind::Yrs => answer_from_file::<YrsBackend>(&path, "s", &[]),
            BackendKind::Loro => answer_from_file::<LoroBackend>(&path, "s", &[]),
        };
        assert_eq!(mismatch.unwrap(), None, "a file of another backend");
    }

    #[test]
    fn yrs_new_peers_are_answered_from_the_file() {
        a_new_peer_is_answered_from_the_file_and_no_one_else::<YrsBackend>(BackendKind::Loro);
    }

    #[test]
    fn loro_new_peers_are_answered_from_the_file() {
        a_new_peer_is_answered_from_the_file_and_no_one_else::<LoroBackend>(BackendKind::Yrs);
    }
}
