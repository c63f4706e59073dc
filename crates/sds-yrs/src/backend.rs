//! [`YrsBackend`]: the [`sds_core::Backend`] over a yrs document.

use crate::held::{Clocks, Held};
use crate::layout::{self, ENTRIES};
use crate::touched::{Collected, TouchedCollector};
use crate::wire::{self, DeleteSet, ParsedUpdate};
use sds_core::{Backend, EntryData, Error, NewBackend, Op, RemoteApply, Result, Touched};
use std::any::Any as PanicPayload;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use yrs::updates::decoder::Decode;
use yrs::updates::encoder::Encode;
use yrs::{
    ClientID, Doc, IdSet, Map, MapRef, OffsetKind, Options, ReadTxn, StateVector, Transact, Update,
    WriteTxn,
};

/// A CRDT backend over [yrs](https://docs.rs/yrs), the Rust port of Y.js, storing entries in
/// the JS SDS `core-yjs` layout (SPEC §9.1–§9.3) so that Y.js peers read and write the same
/// documents.
///
/// Patches, cursors and snapshots are lib0 v1 updates and state vectors. Every byte string
/// from outside passes a structural check before yrs decodes it, so malformed input is an
/// `invalid-data` error and never reaches the document. Blocks whose dependencies are missing
/// are held by the backend (like yjs' pending structs) and handed to yrs once they can be
/// integrated in order; snapshots and exported patches include them.
pub struct YrsBackend {
    doc: Doc,
    entries: MapRef,
    touched: TouchedCollector,
    held: Held,
}

impl fmt::Debug for YrsBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YrsBackend")
            .field("client_id", &self.doc.client_id())
            .field("held_runs", &self.held.runs().len())
            .finish_non_exhaustive()
    }
}

impl Default for YrsBackend {
    fn default() -> Self {
        YrsBackend::new()
    }
}

/// What handing blocks to yrs did.
struct Integration {
    /// Some round deleted something.
    deleted: bool,
    /// yrs accepted every round without an error or a panic.
    clean: bool,
}

impl YrsBackend {
    /// A new, empty document with a fresh random client id.
    pub fn new() -> Self {
        YrsBackend::with_client_id(random_client_id())
    }

    /// A new, empty document with the given client id (below 2^53; yjs uses 32-bit ids).
    ///
    /// Two live replicas must never share a client id; use this only where determinism is
    /// worth that care, e.g. to produce reproducible fixtures.
    ///
    /// # Panics
    ///
    /// If `client_id` is 2^53 or larger.
    pub fn with_client_id(client_id: u64) -> Self {
        assert!(client_id < 1 << 53, "yrs client ids must be below 2^53");
        let doc = Doc::with_options(Options {
            offset_kind: OffsetKind::Utf16,
            ..Options::with_client_id(ClientID::new(client_id))
        });
        let entries = doc.get_or_insert_map(ENTRIES);
        let touched = TouchedCollector::install(&entries);
        YrsBackend {
            doc,
            entries,
            touched,
            held: Held::default(),
        }
    }

    /// The document's client id.
    pub fn client_id(&self) -> u64 {
        self.doc.client_id().get()
    }

    /// The underlying yrs document, for inspection. Writing to it directly bypasses the store:
    /// its model would no longer match the document.
    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    /// Whether some received blocks wait for blocks they depend on.
    pub fn has_pending(&self) -> bool {
        !self.held.is_empty()
            || self
                .doc
                .transact()
                .store()
                .pending_ds()
                .is_some_and(|ds| !ds.is_empty())
    }

    fn clocks(&self) -> Clocks {
        clocks_of(&self.doc.transact().state_vector())
    }

    /// Adds a patch to what is held, then hands yrs everything that has become integrable, in
    /// rounds of at most one run per client, until nothing more is ready. Deletions go with
    /// the first round, except those that wait for held blocks (see the `held` module).
    ///
    /// `decoded` is the same patch as yrs decoded it: when the whole patch is ready at once
    /// (the usual case), it is applied as it is instead of being encoded and decoded again.
    fn integrate(&mut self, parsed: ParsedUpdate, mut decoded: Option<Update>) -> Integration {
        if !self.held.is_empty() || !parsed.simple {
            decoded = None;
        }
        if self.held.add_runs(parsed.runs, &self.clocks()) {
            // A block was cut: yrs must get the cut form, not its own decoding.
            decoded = None;
        }
        let mut incoming = Some(parsed.delete_set);
        let mut result = Integration {
            deleted: false,
            clean: true,
        };
        loop {
            let ready = self.held.take_ready(&self.clocks());
            let deletions = self
                .held
                .deletions_to_apply(&incoming.take().unwrap_or_default());
            if ready.is_empty() && deletions.is_empty() {
                break;
            }
            let sections: Vec<(u64, u64, usize, &[u8])> = ready
                .iter()
                .map(|r| {
                    (
                        r.run.client,
                        r.run.start(),
                        r.count,
                        r.run.prefix_bytes(r.count),
                    )
                })
                .collect();
            let update = match decoded.take() {
                // Nothing was held before and nothing is held now: all of the patch is ready.
                Some(update) if self.held.is_empty() => update,
                _ => {
                    let bytes = wire::encode_update_v1(&sections, &deletions);
                    // The blocks are pieces of input that yrs decoded already; this cannot fail.
                    let Ok(Ok(update)) = catch_unwind(|| Update::decode_v1(&bytes)) else {
                        result.clean = false;
                        break;
                    };
                    update
                }
            };
            match self.apply_to_doc(update) {
                Ok(deleted) => result.deleted |= deleted,
                Err(Failure { deleted, panicked }) => {
                    result.deleted |= deleted;
                    result.clean = false;
                    if panicked {
                        self.rebuild();
                    }
                    break;
                }
            }
            self.held.prune(&self.clocks());
            if ready.is_empty() {
                // Only deletions were applied; nothing new can have become ready.
                break;
            }
        }
        self.held.prune(&self.clocks());
        result
    }

    /// Applies one update in one transaction; returns whether it deleted something. Blocks
    /// that yrs could not integrate after all (it should not happen: only ready blocks come
    /// here) are taken out of yrs' pending store and held, so yrs never integrates out of order.
    fn apply_to_doc(&mut self, update: Update) -> std::result::Result<bool, Failure> {
        let mut txn = self.doc.transact_mut();
        let applied = catch_unwind(AssertUnwindSafe(|| txn.apply_update(update)));
        let deleted = !txn.delete_set().is_empty();
        let leftover = txn.store_mut().pending_update_mut().map(|pending| {
            pending.missing = StateVector::default();
            std::mem::take(&mut pending.update)
        });
        // Committing runs the observers that record the touched entries.
        let committed = catch_unwind(AssertUnwindSafe(move || drop(txn)));
        if let Some(leftover) = leftover.filter(|u| !u.is_empty())
            && let Ok(parsed) = wire::parse_update_v1(&leftover.encode_v1())
        {
            self.held.add_runs(parsed.runs, &self.clocks());
        }
        match (applied, committed) {
            (Ok(Ok(())), Ok(())) => Ok(deleted),
            (Ok(_), Ok(())) => Err(Failure {
                deleted,
                panicked: false,
            }),
            _ => Err(Failure {
                deleted,
                panicked: true,
            }),
        }
    }

    /// Replaces the document by a fresh one built from its own encoding (with the held data).
    /// A panic inside yrs may leave its block store inconsistent; continuing to use it could
    /// crash later.
    fn rebuild(&mut self) {
        let state = catch_unwind(AssertUnwindSafe(|| {
            self.encode_state(&StateVector::default())
        }));
        // A document that cannot even be encoded is kept: there is nothing better.
        if let Ok(state) = state
            && let Ok(parsed) = wire::parse_update_v1(&state)
        {
            let mut fresh = YrsBackend::with_client_id(self.client_id());
            fresh.integrate(parsed, None);
            *self = fresh;
        }
    }

    /// The full state as one v1 update, including held blocks and deletions (yjs
    /// `encodeStateAsUpdate` includes its pending data the same way).
    fn encode_state(&self, since: &StateVector) -> Vec<u8> {
        let txn = self.doc.transact();
        let state = txn.encode_state_as_update_v1(since);
        let pending_ds = txn
            .store()
            .pending_ds()
            .filter(|ds| !ds.is_empty())
            .cloned();
        drop(txn);
        if self.held.is_empty() && pending_ds.is_none() {
            return state;
        }
        let merged = catch_unwind(AssertUnwindSafe(|| {
            let mut parts = vec![Update::decode_v1(&state).ok()?];
            for run in self.held.runs() {
                let section = (
                    run.client,
                    run.start(),
                    run.blocks.len(),
                    run.bytes.as_slice(),
                );
                let bytes = wire::encode_update_v1(&[section], &DeleteSet::default());
                parts.push(Update::decode_v1(&bytes).ok()?);
            }
            let deferred = wire::encode_update_v1(&[], self.held.deferred());
            parts.push(Update::decode_v1(&deferred).ok()?);
            if let Some(ds) = &pending_ds {
                parts.push(delete_only(ds)?);
            }
            Some(Update::merge_updates(parts).encode_v1())
        }));
        // Merging only fails on held data that contradicts itself; the integrated state alone
        // is still a correct answer.
        merged.ok().flatten().unwrap_or(state)
    }
}

/// Why a round failed.
struct Failure {
    deleted: bool,
    panicked: bool,
}

fn clocks_of(sv: &StateVector) -> Clocks {
    sv.iter()
        .map(|(client, &clock)| (client.get(), u64::from(clock)))
        .collect()
}

/// An update that only deletes.
fn delete_only(ds: &IdSet) -> Option<Update> {
    // An update without blocks: a zero client count, then the delete set.
    let mut bytes = vec![0];
    bytes.extend(ds.encode_v1());
    Update::decode_v1(&bytes).ok()
}

/// Whether `update` brings at least as many new clock ticks (blocks, characters) as a
/// document at `known` holds.
fn is_large(update: &ParsedUpdate, known: &StateVector) -> bool {
    let held: u64 = known.iter().map(|(_, &clock)| u64::from(clock)).sum();
    let mut new: u64 = 0;
    for run in &update.runs {
        let clock = u64::from(known.get(&ClientID::new(run.client)));
        for block in &run.blocks {
            new += block.end().saturating_sub(block.clock.max(clock));
        }
        if new >= held {
            return true;
        }
    }
    new >= held
}

/// A random client id below 2^32, as yjs makes them.
fn random_client_id() -> u64 {
    let id = ClientID::random().get() & 0xFFFF_FFFF;
    if id == 0 { 1 } else { id }
}

fn invalid(what: &str, err: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::with_source(
        sds_core::ErrorCode::InvalidData,
        format!("{what}: {err}"),
        err,
    )
}

fn panic_message(payload: &(dyn PanicPayload + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Checks a v1 update structurally, makes sure yrs decodes it, and takes it apart. Nothing
/// here touches a document.
fn parse_update(bytes: &[u8], what: &str) -> Result<(ParsedUpdate, Update)> {
    let parsed = wire::parse_update_v1(bytes).map_err(|err| invalid(what, err))?;
    match catch_unwind(|| Update::decode_v1(bytes)) {
        Ok(Ok(update)) => Ok((parsed, update)),
        Ok(Err(err)) => Err(invalid(what, err)),
        Err(panic) => Err(Error::invalid_data(format!(
            "{what}: the decoder failed ({})",
            panic_message(&*panic)
        ))),
    }
}

/// Checks and decodes a v1 state vector.
fn decode_state_vector(bytes: &[u8]) -> Result<StateVector> {
    const WHAT: &str = "cursor is not a yrs state vector";
    wire::check_state_vector_v1(bytes).map_err(|err| invalid(WHAT, err))?;
    match catch_unwind(|| StateVector::decode_v1(bytes)) {
        Ok(Ok(sv)) => Ok(sv),
        Ok(Err(err)) => Err(invalid(WHAT, err)),
        Err(panic) => Err(Error::invalid_data(format!(
            "{WHAT}: the decoder failed ({})",
            panic_message(&*panic)
        ))),
    }
}

impl Backend for YrsBackend {
    fn name(&self) -> &'static str {
        "yrs"
    }

    fn snapshot(&self) -> Vec<u8> {
        self.encode_state(&StateVector::default())
    }

    fn has_pending(&self) -> bool {
        YrsBackend::has_pending(self)
    }

    fn entry_ids(&self) -> Vec<String> {
        let txn = self.doc.transact();
        self.entries.keys(&txn).map(str::to_owned).collect()
    }

    fn read_entry(&self, id: &str) -> Option<EntryData> {
        let txn = self.doc.transact();
        layout::read_entry(&txn, &self.entries, id)
    }

    fn read_all(&self) -> Vec<(String, EntryData)> {
        let txn = self.doc.transact();
        self.entries
            .iter(&txn)
            .filter_map(|(id, value)| match value {
                yrs::Out::YMap(entry) => {
                    layout::read_entry_map(&txn, &entry).map(|data| (id.to_owned(), data))
                }
                _ => None,
            })
            .collect()
    }

    fn for_each_entry(&self, f: &mut dyn FnMut(&str, EntryData)) {
        let txn = self.doc.transact();
        for (id, value) in self.entries.iter(&txn) {
            if let yrs::Out::YMap(entry) = value
                && let Some(data) = layout::read_entry_map(&txn, &entry)
            {
                f(id, data);
            }
        }
    }

    fn commit(&mut self, ops: Vec<Op>) -> Result<Vec<u8>> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let mut txn = self.doc.transact_mut();
        for op in ops {
            layout::apply_op(&mut txn, &self.entries, op);
        }
        // The transaction's own update: only what it wrote (DESIGN §9), not a diff that would
        // carry the whole delete set.
        let patch = if txn.has_changes() {
            txn.encode_update_v1()
        } else {
            Vec::new()
        };
        drop(txn);
        Ok(patch)
    }

    fn current_cursor(&self) -> Vec<u8> {
        self.doc.transact().state_vector().encode_v1()
    }

    fn export_patch(&self, cursor: Option<&[u8]>) -> Result<Vec<u8>> {
        let since = match cursor {
            None | Some([]) => StateVector::default(),
            Some(bytes) => decode_state_vector(bytes)?,
        };
        Ok(self.encode_state(&since))
    }

    fn apply_remote_patch(&mut self, patch: &[u8]) -> Result<RemoteApply> {
        if patch.is_empty() {
            return Ok(RemoteApply {
                advanced: false,
                touched: Touched::Ids(Default::default()),
            });
        }
        let (parsed, decoded) = parse_update(patch, "patch is not a yrs update")?;
        let (sv_before, ds_before) = {
            let txn = self.doc.transact();
            (txn.state_vector(), txn.store().pending_ds().cloned())
        };
        let held_before = self.held.signature();

        // Attributing every change to its entry costs time per change; when the patch brings
        // at least as much as the document already holds, reading every entry afterwards costs
        // no more, so the store is told to do that instead.
        let read_everything = is_large(&parsed, &sv_before);
        if !read_everything {
            self.touched.start();
        }
        let integration = self.integrate(parsed, Some(decoded));
        let touched = if read_everything {
            Collected::All
        } else {
            self.touched.finish()
        };

        let advanced = integration.deleted || self.held.signature() != held_before || {
            let txn = self.doc.transact();
            txn.state_vector() != sv_before || txn.store().pending_ds().cloned() != ds_before
        };
        if !integration.clean && !advanced {
            return Err(Error::invalid_data("patch does not apply to this document"));
        }
        let touched = match touched {
            // yrs stopped half-way through a decodable but inconsistent update: report that
            // anything may have changed, so the store re-reads everything.
            _ if !integration.clean => Touched::All,
            Collected::All => Touched::All,
            Collected::Ids(ids) => Touched::Ids(ids),
        };
        Ok(RemoteApply { advanced, touched })
    }
}

impl NewBackend for YrsBackend {
    const NAME: &'static str = "yrs";

    fn new_empty() -> Self {
        YrsBackend::new()
    }

    fn from_snapshot(payload: &[u8]) -> Result<Self> {
        YrsBackend::restore(payload, YrsBackend::new())
    }

    fn new_seeded(seed: u64) -> Self {
        YrsBackend::with_client_id(seeded_client_id(seed))
    }

    fn from_snapshot_seeded(payload: &[u8], seed: u64) -> Result<Self> {
        YrsBackend::restore(payload, YrsBackend::with_client_id(seeded_client_id(seed)))
    }

    fn cursor_lacks_all_of(cursor: &[u8], patch: &[u8]) -> Option<bool> {
        let known = if cursor.is_empty() {
            StateVector::default()
        } else {
            decode_state_vector(cursor).ok()?
        };
        // The structural walk only; no document is built.
        let parsed = wire::parse_update_v1(patch).ok()?;
        Some(parsed.runs.iter().all(|run| {
            run.blocks.is_empty() || u64::from(known.get(&ClientID::new(run.client))) <= run.start()
        }))
    }
}

impl YrsBackend {
    /// Applies a snapshot to `fresh`, an empty document.
    fn restore(payload: &[u8], mut fresh: YrsBackend) -> Result<Self> {
        let (parsed, decoded) = parse_update(payload, "snapshot is not a yrs update")?;
        if fresh.integrate(parsed, Some(decoded)).clean {
            Ok(fresh)
        } else {
            Err(Error::invalid_data(
                "snapshot does not apply to an empty document",
            ))
        }
    }
}

/// A client id below 2^32 (and not 0) derived from a test seed.
fn seeded_client_id(seed: u64) -> u64 {
    let mixed = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    if mixed == 0 { 1 } else { mixed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sds_core::TextField;

    fn create(id: &str, label: &str) -> Op {
        let mut data = EntryData::new_item("root".into(), "a0".into(), String::new());
        data.label = label.to_owned();
        Op::Create {
            id: id.into(),
            data: Box::new(data),
        }
    }

    #[test]
    fn rebuilding_keeps_the_state_and_the_held_data() {
        let mut writer = YrsBackend::new();
        writer.commit(vec![create("a", "first")]).unwrap();
        let mut reader = YrsBackend::from_snapshot(&writer.snapshot()).unwrap();
        writer.commit(vec![create("b", "second")]).unwrap();
        let held_patch = writer
            .commit(vec![Op::SpliceText {
                id: "a".into(),
                field: TextField::Label,
                index: 0,
                delete: 5,
                insert: "1st".into(),
            }])
            .unwrap();
        reader.apply_remote_patch(&held_patch).unwrap();
        assert!(reader.has_pending());
        let before = {
            let mut all = reader.read_all();
            all.sort_by(|x, y| x.0.cmp(&y.0));
            all
        };
        let client = reader.client_id();

        reader.rebuild();
        let mut after = reader.read_all();
        after.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(after, before);
        assert_eq!(reader.client_id(), client);
        assert!(reader.has_pending());

        // The held label edit still lands once the missing creation of "b" arrives.
        let full = writer.export_patch(None).unwrap();
        reader.apply_remote_patch(&full).unwrap();
        assert!(!reader.has_pending());
        assert_eq!(reader.read_entry("a").unwrap().label, "1st");
        assert_eq!(reader.read_entry("b").unwrap().label, "second");
    }
}
