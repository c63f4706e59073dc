//! [`LoroBackend`]: the [`sds_core::Backend`] over a loro document.

use crate::layout::{self, ENTRIES};
use crate::pending::PendingRanges;
use crate::touched::{Collected, TouchedCollector};
use loro::{ExportMode, ImportStatus, LoroDoc, LoroMap, PeerID, VersionVector};
use sds_core::{
    Backend, EntryData, Error, ErrorCode, NewBackend, Op, RemoteApply, Result, Touched,
};
use std::any::Any as PanicPayload;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Blobs other than updates (snapshots received as patches) may pile up in the backup to this
/// many bytes, or twice the size of its base if that is more, before [`Backup`] replaces them
/// by a fresh snapshot. A sync engine rebases the backup for free at every checkpoint (every
/// 512 KiB of patches), so the limit matters only to stores used without one.
const BACKUP_OTHERS_LIMIT: usize = 4 << 20;

/// A document whose backup holds at least this many bytes is freed on a helper thread when
/// the backend is dropped (see the `Drop` implementation).
const BACKGROUND_DROP_BYTES: usize = 1 << 20;

/// A remote patch of at least this many bytes, and at least as large as the document, makes
/// the store read every entry instead of the entries loro's events name (see
/// [`LoroBackend::is_large`]).
const LARGE_PATCH_BYTES: usize = 64 << 10;

/// What the document can be rebuilt from if loro panics half-way through an import.
///
/// loro guards its state with `std::sync::Mutex`es and refuses to use a poisoned one, so a
/// panic while it holds a lock (observed on malformed input whose checksum is correct: a
/// failed assertion in its change-block decoder) leaves the document unusable, and possibly
/// half-changed. The backend then rebuilds it from the last snapshot it exported or loaded
/// plus every update accepted since, which is exactly the state before the bad patch.
///
/// Local commits and remote updates are appended to one update blob: the body of a loro update
/// blob is a sequence of length-prefixed change blocks, so bodies concatenate, and keeping
/// them costs a copy of their bytes, nothing more. (The backup used to fold its log into a
/// snapshot export every few MiB; at 100 000 single-item commits those exports took more time
/// than the commits.) A snapshot holds the whole history as well, so exporting one would not
/// make the backup smaller either.
#[derive(Default)]
struct Backup {
    /// A snapshot, or nothing for a document that started empty.
    base: Vec<u8>,
    /// The document version `base` was exported at, when it is a snapshot this backend
    /// exported itself; with nothing logged since it is then the current full state as long
    /// as the document stays at that version (see [`Backup::snapshot_at`]).
    base_version: Option<VersionVector>,
    /// Every update blob accepted since `base` (local commits and remote patches), as one
    /// update blob whose checksum is written when it is used ([`Backup::updates_blob`]).
    updates: Vec<u8>,
    /// Accepted remote patches since `base` that are not update blobs (snapshots), in order.
    others: Vec<Vec<u8>>,
    others_bytes: usize,
}

impl Backup {
    fn from_snapshot(base: Vec<u8>) -> Self {
        Backup {
            base,
            ..Backup::default()
        }
    }

    /// A backup whose base is a snapshot the backend exported at `version`.
    fn from_export(snapshot: Vec<u8>, version: VersionVector) -> Self {
        Backup {
            base_version: Some(version),
            ..Backup::from_snapshot(snapshot)
        }
    }

    /// Bytes held.
    fn len(&self) -> usize {
        self.base.len() + self.updates.len() + self.others_bytes
    }

    /// The base, if it is a snapshot of the document at `version` with nothing logged since.
    fn snapshot_at(&self, version: &VersionVector) -> Option<Vec<u8>> {
        (self.updates.is_empty()
            && self.others.is_empty()
            && self.base_version.as_ref() == Some(version))
        .then(|| self.base.clone())
    }

    /// Whether the snapshots received since the base have outgrown it, so that the backup
    /// should be replaced by a new snapshot.
    fn wants_compaction(&self) -> bool {
        self.others_bytes > (2 * self.base.len()).max(BACKUP_OTHERS_LIMIT)
    }

    fn push(&mut self, blob: &[u8]) {
        if !is_update_blob(blob) {
            self.others_bytes += blob.len();
            self.others.push(blob.to_vec());
        } else if self.updates.is_empty() {
            self.updates.extend_from_slice(blob);
        } else {
            self.updates.extend_from_slice(&blob[BLOB_HEADER..]);
        }
    }

    /// The accepted updates as one importable blob.
    fn updates_blob(&self) -> Option<Vec<u8>> {
        (!self.updates.is_empty()).then(|| {
            let mut blob = self.updates.clone();
            seal_blob(&mut blob);
            blob
        })
    }

    fn rebase(&mut self, snapshot: Vec<u8>) {
        *self = Backup::from_snapshot(snapshot);
    }
}

/// A CRDT backend over [loro](https://docs.rs/loro), storing entries in the JS SDS
/// `core-loro` layout (SPEC §9.1, §9.2, §9.4) so that loro-crdt peers read and write the same
/// documents.
///
/// Cursors are encoded version vectors, a full patch and a snapshot are loro snapshots, and a
/// delta patch is loro's update export since the cursor (SPEC §10.1). Purged entries stay in
/// the document as tombstones and read as absent. Updates whose dependencies are missing are
/// held by loro as pending and integrated when the dependencies arrive; loro leaves them out
/// of snapshots and exports.
///
/// A document whose backup holds more than 1 MiB is freed on a short-lived helper thread when
/// the backend is dropped.
pub struct LoroBackend {
    doc: LoroDoc,
    /// The peer id, kept here because a poisoned document cannot be asked for it.
    peer: PeerID,
    entries: LoroMap,
    touched: TouchedCollector,
    pending: PendingRanges,
    /// Set while the document state is still the lazily loaded form of an imported snapshot
    /// (see [`LoroBackend::ensure_decoded`]).
    lazy: AtomicBool,
    backup: Mutex<Backup>,
}

impl fmt::Debug for LoroBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoroBackend")
            .field("peer_id", &self.peer)
            .field("has_pending", &!self.pending.is_empty())
            .finish_non_exhaustive()
    }
}

impl Default for LoroBackend {
    fn default() -> Self {
        LoroBackend::new()
    }
}

impl LoroBackend {
    /// A new, empty document with a fresh random peer id.
    pub fn new() -> Self {
        LoroBackend::wrap(LoroDoc::new(), Backup::default(), false)
    }

    /// A new, empty document with the given peer id (any value but `u64::MAX`, which loro
    /// reserves).
    ///
    /// Two live replicas must never share a peer id; use this only where determinism is worth
    /// that care, e.g. to produce reproducible fixtures.
    ///
    /// # Panics
    ///
    /// If `peer_id` is `u64::MAX`.
    pub fn with_peer_id(peer_id: u64) -> Self {
        let doc = LoroDoc::new();
        doc.set_peer_id(peer_id)
            .expect("loro peer ids must not be u64::MAX");
        LoroBackend::wrap(doc, Backup::default(), false)
    }

    /// The document's peer id.
    pub fn peer_id(&self) -> u64 {
        self.peer
    }

    /// The underlying loro document, for inspection. Writing to it directly bypasses the
    /// store: its model would no longer match the document.
    pub fn doc(&self) -> &LoroDoc {
        &self.doc
    }

    /// A document restored from a snapshot payload with the given peer id.
    fn restore(payload: &[u8], peer: Option<PeerID>) -> Result<Self> {
        let doc = LoroDoc::new();
        if let Some(peer) = peer {
            // The only refused value is u64::MAX, which `seeded_peer_id` never returns.
            let _ = doc.set_peer_id(peer);
        }
        let status = match guarded(|| doc.import(payload)) {
            Ok(Ok(status)) => status,
            Ok(Err(err)) => return Err(invalid("snapshot is not a loro document", err)),
            Err(err) => {
                abandon(doc);
                return Err(err);
            }
        };
        // A snapshot may carry pending updates (see `full_state`), but not only those.
        if status.pending.is_some() && doc.oplog_vv().is_empty() {
            return Err(Error::invalid_data(
                "snapshot is a loro update that depends on history it does not contain",
            ));
        }
        // A snapshot with a corrupt state section imports lazily without complaint and fails
        // only when decoded; decoding here turns that into `invalid-data`.
        if let Err(err) = guarded(|| decode_all(&doc)) {
            abandon(doc);
            return Err(err);
        }
        // Subscribing only now keeps the import free of events.
        let mut backend = LoroBackend::wrap(doc, Backup::from_snapshot(payload.to_vec()), false);
        if let Some(pending) = &status.pending {
            backend.pending.add(pending);
        }
        Ok(backend)
    }

    fn wrap(doc: LoroDoc, backup: Backup, lazy: bool) -> Self {
        let entries = doc.get_map(ENTRIES);
        let touched = TouchedCollector::install(&doc);
        LoroBackend {
            peer: doc.peer_id(),
            doc,
            entries,
            touched,
            pending: PendingRanges::default(),
            lazy: AtomicBool::new(lazy),
            backup: Mutex::new(backup),
        }
    }

    fn backup(&self) -> MutexGuard<'_, Backup> {
        self.backup.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a blob the document accepted (a local commit or a remote patch). When the
    /// snapshots received as patches have grown large, the backup becomes one fresh snapshot
    /// (the cost of that export is spread over at least as many received bytes). The snapshot
    /// remembers the version it was exported at: when the next checkpoint comes before any
    /// other change (a large import is followed by one at once), it is the checkpoint's
    /// snapshot too ([`LoroBackend::full_state`]) instead of a second export.
    fn log_update(&self, update: &[u8]) {
        let mut backup = self.backup();
        backup.push(update);
        if backup.wants_compaction()
            && let Ok(snapshot) = self.export(ExportMode::Snapshot)
        {
            *backup = Backup::from_export(snapshot, self.doc.oplog_vv());
        }
    }

    /// Replaces a document that loro panicked in by one rebuilt from the backup. Returns
    /// whether that worked; if not, the damaged document stays (there is nothing better).
    fn rebuild(&mut self) -> bool {
        let backup = std::mem::take(&mut *self.backup());
        let doc = LoroDoc::new();
        let _ = doc.set_peer_id(self.peer);
        let replayed = guarded(|| {
            let mut ok = backup.base.is_empty() || doc.import(&backup.base).is_ok();
            if let Some(updates) = backup.updates_blob() {
                ok &= doc.import(&updates).is_ok();
            }
            for blob in &backup.others {
                ok &= doc.import(blob).is_ok();
            }
            ok
        });
        if !matches!(replayed, Ok(true)) {
            *self.backup() = backup;
            return false;
        }
        let lazy = !backup.base.is_empty();
        let pending = std::mem::take(&mut self.pending);
        let damaged = std::mem::replace(self, LoroBackend::wrap(doc, backup, lazy));
        self.pending = pending;
        abandon(damaged);
        true
    }

    /// Decodes the whole document state once after a snapshot was imported into an empty
    /// document without being decoded right away (a rebuild, or a snapshot patch applied to an
    /// empty backend).
    ///
    /// loro imports a snapshot lazily: container states stay encoded and every read decodes the
    /// container it needs again, keeping only a small cache of decoded values. Reading every
    /// entry that way costs several times what decoding all states at once does (measured at
    /// 100 000 entries: about 3.8 s against 1.0 s to decode plus 0.4 s to read), and single
    /// lookups in the large `Entries` map stay slow (tens of milliseconds) until it is decoded.
    /// The store reads every entry right after loading, so the lazy form is of no use to it.
    fn ensure_decoded(&self) {
        if self.lazy.swap(false, Ordering::Relaxed) {
            decode_all(&self.doc);
        }
    }

    /// Whether `patch` is at least as large as the document's encoded form (its backup), and
    /// large in itself ([`LARGE_PATCH_BYTES`]). Bytes stand in for operations: counting the
    /// operations of an update blob means decoding it.
    fn is_large(&self, patch: &[u8]) -> bool {
        let held = self.backup().len();
        patch.len() >= held.max(LARGE_PATCH_BYTES)
    }

    fn export(&self, mode: ExportMode<'_>) -> Result<Vec<u8>> {
        guarded(|| self.doc.export(mode))?.map_err(|err| invalid("loro export failed", err))
    }

    /// The full state: a loro snapshot, or, while loro holds pending updates (which it leaves
    /// out of every export), one update blob with the whole history and the pending updates,
    /// so that a checkpoint that prunes the patch log loses nothing (SPEC §11.3). Either
    /// imports into an empty loro document.
    ///
    /// The result also becomes the base of the backup: the export is paid for already, and the
    /// sync engine takes one at every checkpoint. Conversely, a snapshot the backup holds of
    /// the current version is returned without exporting again.
    fn full_state(&self) -> Result<Vec<u8>> {
        let pending = if self.pending.is_empty() {
            None
        } else {
            guarded(|| self.doc.export_pending_updates())?
                .map_err(|err| invalid("loro export failed", err))?
        };
        let Some(pending) = pending else {
            let version = self.doc.oplog_vv();
            if let Some(snapshot) = self.backup().snapshot_at(&version) {
                return Ok(snapshot);
            }
            let snapshot = self.export(ExportMode::Snapshot)?;
            *self.backup() = Backup::from_export(snapshot.clone(), version);
            return Ok(snapshot);
        };
        let history = self.export(ExportMode::all_updates())?;
        let state = concat_update_blobs(&history, &pending)
            .ok_or_else(|| Error::invalid_data("loro exported an unexpected blob"))?;
        self.backup().rebase(state.clone());
        Ok(state)
    }
}

impl Drop for LoroBackend {
    /// Frees a large document on a helper thread: its hundreds of thousands of allocations
    /// take a while to free (about 0.7 s at 100 000 entries), and the owner need not wait for
    /// that, least of all a process that is about to exit.
    fn drop(&mut self) {
        let size = self.backup().len();
        if size < BACKGROUND_DROP_BYTES {
            return;
        }
        let doc = std::mem::replace(&mut self.doc, LoroDoc::new());
        let entries = std::mem::replace(&mut self.entries, LoroMap::new());
        // If no thread can be started, the closure and the document are dropped right here.
        let _ = std::thread::Builder::new()
            .name("sds-loro-drop".to_owned())
            .spawn(move || drop((entries, doc)));
    }
}

/// Leaks something that holds a document loro panicked in. Its locks may be poisoned, and
/// loro's destructors take them again and panic; the memory of a document that met malformed
/// input is a small price for not crashing.
fn abandon<T>(damaged: T) {
    std::mem::forget(damaged);
}

/// Decodes every container state of a lazily loaded document.
///
/// `iter_and_decode_all` is reached through `with_state`, which loro documents as unstable
/// API; a loro upgrade that removes it is a compile error here, not a silent slowdown.
fn decode_all(doc: &LoroDoc) {
    doc.with_state(|state| state.iter_and_decode_all().count());
}

/// A peer id derived from a seed (SplitMix64), never the reserved `u64::MAX`.
fn seeded_peer_id(seed: u64) -> PeerID {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    let id = z ^ (z >> 31);
    if id == PeerID::MAX { 0 } else { id }
}

fn invalid(what: &str, err: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::with_source(ErrorCode::InvalidData, format!("{what}: {err}"), err)
}

fn panic_message(payload: &(dyn PanicPayload + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Runs loro code that decodes outside input; a panic becomes `invalid-data`.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|panic| {
        Error::invalid_data(format!(
            "loro failed on the input ({})",
            panic_message(&*panic)
        ))
    })
}

/// Where a loro blob's body starts: the magic bytes `loro`, 16 checksum bytes (the last four
/// hold the xxHash32 of everything after them, seeded with `LORO`) and two bytes of mode.
const BLOB_HEADER: usize = 22;

/// Whether `blob` is a loro update blob (mode 4, "fast updates"), as opposed to a snapshot.
fn is_update_blob(blob: &[u8]) -> bool {
    blob.len() >= BLOB_HEADER && blob.starts_with(b"loro") && blob[20..22] == [0, 4]
}

/// Writes the checksum of a blob whose body was put together from other blobs' bodies.
fn seal_blob(blob: &mut [u8]) {
    let checksum = xxhash_rust::xxh32::xxh32(&blob[20..], u32::from_le_bytes(*b"LORO"));
    blob[16..20].copy_from_slice(&checksum.to_le_bytes());
}

/// One update blob with the changes of two: the body of an update blob is a sequence of
/// length-prefixed change blocks, so the bodies concatenate. `None` unless both are update
/// blobs.
fn concat_update_blobs(first: &[u8], second: &[u8]) -> Option<Vec<u8>> {
    if !is_update_blob(first) || !is_update_blob(second) {
        return None;
    }
    let mut merged = Vec::with_capacity(first.len() + second.len() - BLOB_HEADER);
    merged.extend_from_slice(first);
    merged.extend_from_slice(&second[BLOB_HEADER..]);
    seal_blob(&mut merged);
    Some(merged)
}

/// Decodes a cursor.
fn decode_cursor(bytes: &[u8]) -> Result<VersionVector> {
    const WHAT: &str = "cursor is not a loro version vector";
    let vv = guarded(|| VersionVector::decode(bytes))?.map_err(|err| invalid(WHAT, err))?;
    // loro's decoder ignores trailing bytes; a cursor is exactly one encoded version vector.
    // (The encoding's entry order follows a hash map, so only its length can be compared.)
    if vv.encode().len() != bytes.len() {
        return Err(Error::invalid_data(format!("{WHAT}: trailing bytes")));
    }
    Ok(vv)
}

impl Backend for LoroBackend {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn snapshot(&self) -> Vec<u8> {
        // The full update log is an equally complete, loro-readable payload if the snapshot
        // export fails. Both fail only for a document loro cannot encode any more, which loro
        // 1.17 lets some crafted, checksum-valid updates cause (see the crate documentation);
        // `Backend::snapshot` has no way to report that, so it panics with a clear message.
        self.full_state()
            .or_else(|_| self.export(ExportMode::all_updates()))
            .expect("loro exports its own document")
    }

    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    fn entry_ids(&self) -> Vec<String> {
        self.entries.keys().map(|key| key.to_string()).collect()
    }

    fn read_entry(&self, id: &str) -> Option<EntryData> {
        self.ensure_decoded();
        layout::read_entry(&self.entries, id)
    }

    fn read_all(&self) -> Vec<(String, EntryData)> {
        let mut all = Vec::with_capacity(self.entries.len());
        self.for_each_entry(&mut |id, data| all.push((id.to_owned(), data)));
        all
    }

    fn for_each_entry(&self, f: &mut dyn FnMut(&str, EntryData)) {
        self.ensure_decoded();
        self.entries.for_each(|id, value| {
            if let Some(data) = layout::read_entry_value(id, value) {
                f(id, data);
            }
        });
    }

    fn commit(&mut self, ops: Vec<Op>) -> Result<Vec<u8>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        self.ensure_decoded();
        let before = self.doc.oplog_vv();
        for op in ops {
            layout::apply_op(&self.entries, op);
        }
        self.doc.commit();
        if self.doc.oplog_vv() == before {
            return Ok(Vec::new());
        }
        // The commit's own operations: everything since the version before it.
        let patch = self.export(ExportMode::updates(&before))?;
        self.log_update(&patch);
        Ok(patch)
    }

    fn current_cursor(&self) -> Vec<u8> {
        self.doc.oplog_vv().encode()
    }

    fn export_patch(&self, cursor: Option<&[u8]>) -> Result<Vec<u8>> {
        match cursor {
            None | Some([]) => self.full_state(),
            Some(bytes) => {
                let since = decode_cursor(bytes)?;
                self.export(ExportMode::updates(&since))
            }
        }
    }

    fn apply_remote_patch(&mut self, patch: &[u8]) -> Result<RemoteApply> {
        if patch.is_empty() {
            return Ok(RemoteApply {
                advanced: false,
                touched: Touched::Ids(Default::default()),
            });
        }
        self.ensure_decoded();
        let before = self.doc.oplog_vv();
        let was_empty = before.is_empty();
        // Attributing every change to its entry costs time per change (loro records a diff
        // for each); when the patch is at least as large as the document, reading every entry
        // afterwards costs no more, so the store is told to do that instead.
        let read_everything = self.is_large(patch);
        if !read_everything {
            self.touched.start(&self.doc);
        }
        let imported = guarded(|| self.doc.import(patch));
        let touched = if read_everything {
            Collected::All
        } else {
            self.touched.finish(&self.doc)
        };
        let status: ImportStatus = match imported {
            Ok(Ok(status)) => status,
            // loro rolls a failed import back completely.
            Ok(Err(err)) => return Err(invalid("patch is not a loro update", err)),
            Err(err) => {
                self.rebuild();
                return Err(err);
            }
        };
        let after = self.doc.oplog_vv();
        let new_pending = status
            .pending
            .as_ref()
            .is_some_and(|pending| self.pending.add(pending));
        self.pending.prune(&after);
        let advanced = after != before || new_pending;
        if advanced {
            self.log_update(patch);
        }
        // A snapshot imported into an empty document stays lazily loaded.
        self.lazy.store(was_empty, Ordering::Relaxed);
        let touched = match touched {
            // Nothing new (a patch only repeats what the document holds): nothing to re-read.
            _ if !advanced => Touched::Ids(Default::default()),
            Collected::Ids(ids) => Touched::Ids(ids),
            Collected::All => Touched::All,
        };
        Ok(RemoteApply { advanced, touched })
    }
}

impl NewBackend for LoroBackend {
    const NAME: &'static str = "loro";

    fn new_empty() -> Self {
        LoroBackend::new()
    }

    fn from_snapshot(payload: &[u8]) -> Result<Self> {
        LoroBackend::restore(payload, None)
    }

    fn new_seeded(seed: u64) -> Self {
        LoroBackend::with_peer_id(seeded_peer_id(seed))
    }

    fn from_snapshot_seeded(payload: &[u8], seed: u64) -> Result<Self> {
        LoroBackend::restore(payload, Some(seeded_peer_id(seed)))
    }

    fn cursor_lacks_all_of(cursor: &[u8], patch: &[u8]) -> Option<bool> {
        let known = if cursor.is_empty() {
            VersionVector::new()
        } else {
            decode_cursor(cursor).ok()?
        };
        // Reads the blob's change metadata only; no document state is built.
        let meta = guarded(|| LoroDoc::decode_import_blob_meta(patch, true))
            .ok()?
            .ok()?;
        Some(meta.partial_end_vv.iter().all(|(peer, end)| {
            let start = meta.partial_start_vv.get(peer).copied().unwrap_or(0);
            *end <= start || known.get(peer).copied().unwrap_or(0) <= start
        }))
    }
}
