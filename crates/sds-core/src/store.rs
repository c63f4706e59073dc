//! The store: construction, transactions, change delivery, lookup and entry properties.
//!
//! Tree operations live in `tree.rs`, the repair pass in `repair.rs`, remote patches in
//! `remote.rs` and serialisation in `json.rs`; all of them are `impl` blocks of [`Store`].

use crate::backend::{Backend, EntryData, EntryKind, NewBackend, Op, TextField};
use crate::blobs::{BlobCache, BlobLoader};
use crate::changes::{ChangeOrigin, ChangeSet, LocalCommit, Property};
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{IdGenerator, LOST_AND_FOUND_ID, ROOT_ID, TRASH_ID};
use crate::json_value::{normalize_json, validate_info_key, validate_info_value};
use crate::limits::{BINARY_SIZE_LIMIT, DEFAULT_MIME_TYPE, MAX_LABEL_LENGTH, MAX_MIME_TYPE_LENGTH};
use crate::model::Model;
use crate::options::StoreOptions;
use crate::utf16::{apply_splice, byte_offset, minimal_splice, utf16_len};
use crate::value::{InlineValue, Value, ValueInput, ValueKind, ValueRef, blob_hash};
use serde_json::Value as JsonValue;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::{Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, Mutex, PoisonError, Weak};

type ChangeHandler<B> = Box<dyn FnMut(&Store<B>, ChangeOrigin, &ChangeSet) + Send>;
type CommitHook<B> = Box<dyn FnMut(&Store<B>, &LocalCommit<'_>) -> Result<()> + Send>;

enum Handler<B: Backend> {
    Change(ChangeHandler<B>),
    Commit(CommitHook<B>),
}

/// Handle returned by [`Store::on_change_invoke`] and [`Store::on_local_commit`].
///
/// Dropping it keeps the handler registered; call [`Subscription::unsubscribe`] to remove it.
#[derive(Debug)]
pub struct Subscription {
    id: u64,
    removals: Weak<Mutex<HashSet<u64>>>,
}

impl Subscription {
    /// Stops delivery to the handler. Takes effect before the next delivery.
    pub fn unsubscribe(self) {
        if let Some(removals) = self.removals.upgrade() {
            removals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(self.id);
        }
    }
}

#[derive(Default)]
struct TxState {
    depth: u32,
    ops: Vec<Op>,
    changes: ChangeSet,
    written_blobs: Vec<String>,
}

/// A Shareable Data Store: a tree of items and links kept in a CRDT document.
///
/// Reads come from an in-memory model with secondary indices; writes update the model at once
/// and reach the backend as one CRDT transaction when the outermost [`Store::transact`] ends.
pub struct Store<B: Backend> {
    pub(crate) backend: B,
    pub(crate) model: Model,
    pub(crate) options: StoreOptions,
    pub(crate) blobs: BlobCache,
    tx: TxState,
    handlers: Vec<(u64, Handler<B>)>,
    removals: Arc<Mutex<HashSet<u64>>>,
    next_handler_id: u64,
    ids: IdGenerator,
}

impl<B: Backend> fmt::Debug for Store<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend.name())
            .field("entries", &self.model.len())
            .finish_non_exhaustive()
    }
}

/// What [`Store::apply_remote_patch`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemotePatchOutcome {
    /// Whether the CRDT state advanced (visible change or new pending data); decides whether
    /// the patch must be persisted (SPEC §10.3, §13.4).
    pub advanced: bool,
    /// Whether the visible tree changed (an external change set was delivered).
    pub changed: bool,
}

// ---------------------------------------------------------------------------------------------
// Construction
// ---------------------------------------------------------------------------------------------

impl<B: NewBackend> Store<B> {
    /// A new store containing exactly Root, Trash and LostAndFound (SPEC §4.1, §9.6).
    pub fn from_scratch(options: StoreOptions) -> Result<Self> {
        let backend = match options.replica_seed {
            Some(seed) => B::new_seeded(seed),
            None => B::new_empty(),
        };
        Store::with_new_backend(backend, options)
    }

    /// Restores a store from [`Store::as_binary`] output (SPEC §8.5).
    pub fn from_binary(bytes: &[u8], options: StoreOptions) -> Result<Self> {
        options.validate()?;
        let payload = gunzip(bytes)?;
        let backend = match options.replica_seed {
            Some(seed) => B::from_snapshot_seeded(&payload, seed)?,
            None => B::from_snapshot(&payload)?,
        };
        Store::with_restored_backend(backend, options)
    }
}

impl<B: Backend> Store<B> {
    /// A new store over a fresh, empty backend: writes the three well-known items.
    pub fn with_new_backend(backend: B, options: StoreOptions) -> Result<Self> {
        options.validate()?;
        let mut store = Store::wrap(backend, Model::default(), options);
        store.transact(|s| {
            s.create_well_known(ROOT_ID, "", "", "");
            s.create_well_known(TRASH_ID, ROOT_ID, "a0", "trash");
            s.create_well_known(LOST_AND_FOUND_ID, ROOT_ID, "a1", "lost-and-found");
            Ok(())
        })?;
        Ok(store)
    }

    /// A store over a backend that already holds a document (restored from a snapshot or
    /// built by applying patches): reads every entry into the model. No repair runs here; the
    /// sync engine runs [`Store::recover_orphans`] after a restore (SPEC §5.8).
    pub fn with_restored_backend(backend: B, options: StoreOptions) -> Result<Self> {
        options.validate()?;
        let model = Model::from_entries(backend.read_all());
        Ok(Store::wrap(backend, model, options))
    }

    fn wrap(backend: B, model: Model, options: StoreOptions) -> Self {
        Store {
            ids: IdGenerator::new(options.replica_seed),
            backend,
            model,
            options,
            blobs: BlobCache::default(),
            tx: TxState::default(),
            handlers: Vec::new(),
            removals: Arc::new(Mutex::new(HashSet::new())),
            next_handler_id: 0,
        }
    }

    pub(crate) fn create_well_known(&mut self, id: &str, outer: &str, key: &str, label: &str) {
        let mut data = EntryData::new_item(Arc::from(outer), Arc::from(key), String::new());
        data.label = label.to_owned();
        self.p_create(Arc::from(id), data);
    }

    /// The backend's name (`yrs`, `loro`).
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// The backend, for inspection.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// Whether the backend holds received data that waits for missing dependencies.
    pub fn has_pending_data(&self) -> bool {
        self.backend.has_pending()
    }

    /// The store's options.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Removes all handlers. The store owns no timers (the Trash TTL timer lives in the sync
    /// engine's driver), so nothing else needs stopping.
    pub fn dispose(&mut self) {
        self.handlers.clear();
    }

    /// Verifies that the model and its indices equal a fresh reading of the document; returns
    /// a description of the first difference. Meant for tests and diagnostics.
    pub fn check_consistency(&self) -> std::result::Result<(), String> {
        if self.tx.depth > 0 {
            return Err("a transaction is open".into());
        }
        self.model.check_against(self.backend.read_all())
    }
}

// ---------------------------------------------------------------------------------------------
// Transactions and change delivery
// ---------------------------------------------------------------------------------------------

impl<B: Backend> Store<B> {
    /// Runs `f` as one transaction (SPEC §3.1). Transactions nest; the outermost one commits
    /// once and then delivers the change set. There is no rollback: when `f` fails, the
    /// mutations it made stay applied and are delivered, and the error is returned.
    pub fn transact<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.tx.depth += 1;
        let result = catch_unwind(AssertUnwindSafe(|| f(self)));
        self.tx.depth -= 1;
        let committed = if self.tx.depth == 0 {
            self.finish_transaction()
        } else {
            Ok(())
        };
        match result {
            Err(panic) => resume_unwind(panic),
            Ok(value) => {
                committed?;
                value
            }
        }
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.tx.depth > 0
    }

    fn finish_transaction(&mut self) -> Result<()> {
        let ops = std::mem::take(&mut self.tx.ops);
        let changes = self.tx.changes.take();
        let written_blobs = std::mem::take(&mut self.tx.written_blobs);
        if ops.is_empty() {
            debug_assert!(
                changes.is_empty(),
                "changes recorded without document writes"
            );
            return Ok(());
        }
        let patch = self.backend.commit(ops)?;
        let mut hook_error = None;
        if !patch.is_empty() {
            let commit = LocalCommit {
                patch: &patch,
                written_blobs: &written_blobs,
                changes: &changes,
            };
            self.dispatch(|store, handler| {
                if let Handler::Commit(hook) = handler
                    && let Err(e) = hook(store, &commit)
                {
                    hook_error.get_or_insert(e);
                }
            });
        }
        self.deliver(ChangeOrigin::Internal, &changes);
        hook_error.map_or(Ok(()), Err)
    }

    pub(crate) fn deliver(&mut self, origin: ChangeOrigin, changes: &ChangeSet) {
        if changes.is_empty() {
            return;
        }
        self.dispatch(|store, handler| {
            if let Handler::Change(h) = handler {
                h(store, origin, changes);
            }
        });
    }

    fn dispatch(&mut self, mut call: impl FnMut(&Self, &mut Handler<B>)) {
        let mut handlers = std::mem::take(&mut self.handlers);
        for (id, handler) in handlers.iter_mut() {
            if self.is_removed(*id) {
                continue;
            }
            // A failing handler must not affect the store or the other handlers (SPEC §3.1).
            let _ = catch_unwind(AssertUnwindSafe(|| call(self, handler)));
        }
        let mut removals = self.removals.lock().unwrap_or_else(PoisonError::into_inner);
        handlers.retain(|(id, _)| !removals.contains(id));
        removals.clear();
        drop(removals);
        // Handlers registered while delivering were pushed onto `self.handlers`.
        handlers.append(&mut self.handlers);
        self.handlers = handlers;
    }

    fn is_removed(&self, id: u64) -> bool {
        self.removals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&id)
    }

    fn register(&mut self, handler: Handler<B>) -> Subscription {
        let id = self.next_handler_id;
        self.next_handler_id += 1;
        self.handlers.push((id, handler));
        Subscription {
            id,
            removals: Arc::downgrade(&self.removals),
        }
    }

    /// Registers a change handler (SPEC §3.5): called once per outermost transaction or
    /// applied remote patch with a non-empty change set, in registration order, with the store
    /// in its new state.
    pub fn on_change_invoke(
        &mut self,
        handler: impl FnMut(&Store<B>, ChangeOrigin, &ChangeSet) + Send + 'static,
    ) -> Subscription {
        self.register(Handler::Change(Box::new(handler)))
    }

    /// Registers a hook that receives the patch of every local transaction that wrote to the
    /// document, before the change handlers run. Sync engines use it to persist and send.
    ///
    /// A hook error (e.g. a failed durable append) becomes the error of the transaction, after
    /// the change was committed to the document and delivered: the change exists in memory but
    /// the caller learns that it was not made durable.
    pub fn on_local_commit(
        &mut self,
        hook: impl FnMut(&Store<B>, &LocalCommit<'_>) -> Result<()> + Send + 'static,
    ) -> Subscription {
        self.register(Handler::Commit(Box::new(hook)))
    }
}

// ---------------------------------------------------------------------------------------------
// Primitive mutators: each updates the model, queues the document write and records changes.
// ---------------------------------------------------------------------------------------------

impl<B: Backend> Store<B> {
    pub(crate) fn record(&mut self, id: &str, property: Property) {
        self.tx.changes.record(id, property);
    }

    /// Remembers a blob written by the current transaction (reported in [`LocalCommit`]).
    pub(crate) fn note_written_blob(&mut self, hash: &str) {
        if !self.tx.written_blobs.iter().any(|h| h == hash) {
            self.tx.written_blobs.push(hash.to_owned());
        }
    }

    pub(crate) fn p_create(&mut self, id: Arc<str>, data: EntryData) {
        self.record(&id, Property::Existence);
        self.record(&id, Property::OuterItem);
        if !data.outer_item_id.is_empty() {
            self.record(&data.outer_item_id.clone(), Property::InnerEntryList);
        }
        self.tx.ops.push(Op::Create {
            id: id.clone(),
            data: Box::new(data.clone()),
        });
        self.model.insert(id, data);
    }

    pub(crate) fn p_set_placement(&mut self, id: &Arc<str>, outer: Arc<str>, key: Arc<str>) {
        self.tx.ops.push(Op::SetPlacement {
            id: id.clone(),
            outer_item_id: outer.clone(),
            order_key: key.clone(),
        });
        self.model.set_placement(id, outer, key);
        self.record(id, Property::OuterItem);
    }

    pub(crate) fn p_remove(&mut self, id: &Arc<str>) {
        self.model.remove(id);
        self.tx.ops.push(Op::Remove { id: id.clone() });
        self.record(id, Property::Existence);
        self.record(id, Property::OuterItem);
    }

    /// Sets a text field by minimal splice; returns whether the text changed. A missing
    /// `literalValue` is created first (an empty splice creates it in the document).
    fn p_set_text(&mut self, id: &Arc<str>, field: TextField, new_text: &str) -> bool {
        let Some(data) = self.model.data_mut(id) else {
            return false;
        };
        let slot = match field {
            TextField::Label => &mut data.label,
            TextField::LiteralValue => {
                if data.literal_value.is_none() {
                    self.tx.ops.push(Op::SpliceText {
                        id: id.clone(),
                        field,
                        index: 0,
                        delete: 0,
                        insert: String::new(),
                    });
                }
                data.literal_value.get_or_insert_with(String::new)
            }
        };
        let Some(splice) = minimal_splice(slot, new_text) else {
            return false;
        };
        new_text.clone_into(slot);
        self.tx.ops.push(Op::SpliceText {
            id: id.clone(),
            field,
            index: splice.index,
            delete: splice.delete,
            insert: splice.insert,
        });
        true
    }

    pub(crate) fn p_set_info(&mut self, id: &Arc<str>, key: &str, value: JsonValue) {
        let Some(data) = self.model.data_mut(id) else {
            return;
        };
        if data.info.get(key) == Some(&value) {
            return;
        }
        data.info.insert(key.to_owned(), value.clone());
        self.tx.ops.push(Op::SetInfo {
            id: id.clone(),
            key: key.to_owned(),
            value,
        });
        self.record(id, Property::Info(key.to_owned()));
    }

    pub(crate) fn p_delete_info(&mut self, id: &Arc<str>, key: &str) {
        let Some(data) = self.model.data_mut(id) else {
            return;
        };
        if data.info.remove(key).is_none() {
            return;
        }
        self.tx.ops.push(Op::DeleteInfo {
            id: id.clone(),
            key: key.to_owned(),
        });
        self.record(id, Property::Info(key.to_owned()));
    }

    fn p_set_mime(&mut self, id: &Arc<str>, stored: String) -> bool {
        let Some(data) = self.model.data_mut(id) else {
            return false;
        };
        if data.mime_type == stored {
            return false;
        }
        data.mime_type.clone_from(&stored);
        self.tx.ops.push(Op::SetMimeType {
            id: id.clone(),
            mime_type: stored,
        });
        true
    }

    fn p_set_value_kind(&mut self, id: &Arc<str>, kind: ValueKind) {
        let Some(data) = self.model.data_mut(id) else {
            return;
        };
        if data.value_kind == kind {
            return;
        }
        data.value_kind = kind.clone();
        self.tx.ops.push(Op::SetValueKind {
            id: id.clone(),
            kind,
        });
    }

    fn p_set_binary(&mut self, id: &Arc<str>, bytes: Vec<u8>) {
        let Some(data) = self.model.data_mut(id) else {
            return;
        };
        if data.binary_value.as_ref() == Some(&bytes) {
            return;
        }
        data.binary_value = Some(bytes.clone());
        self.tx.ops.push(Op::SetBinary {
            id: id.clone(),
            bytes,
        });
    }

    fn p_set_value_ref(&mut self, id: &Arc<str>, value_ref: ValueRef) {
        let Some(data) = self.model.data_mut(id) else {
            return;
        };
        if data.value_ref.as_ref() == Some(&value_ref) {
            return;
        }
        data.value_ref = Some(value_ref.clone());
        self.tx.ops.push(Op::SetValueRef {
            id: id.clone(),
            value_ref,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Lookup helpers used by every operation
// ---------------------------------------------------------------------------------------------

impl<B: Backend> Store<B> {
    /// The shared id of a live entry, or `not-found`.
    pub(crate) fn live_id(&self, id: &str) -> Result<Arc<str>> {
        self.model.id_arc(id).ok_or_else(|| Error::not_found(id))
    }

    /// The shared id of a live item, or `invalid-argument` naming the role (container, target).
    pub(crate) fn live_item_id(&self, id: &str, role: &str) -> Result<Arc<str>> {
        match self.model.get(id) {
            None => Err(Error::invalid_argument(format!(
                "{role} '{id}' does not exist"
            ))),
            Some(d) if d.kind != EntryKind::Item => Err(Error::invalid_argument(format!(
                "{role} '{id}' is a link, not an item"
            ))),
            Some(_) => Ok(self.model.id_arc(id).unwrap_or_else(|| Arc::from(id))),
        }
    }

    fn live_item_for_value(&self, id: &str) -> Result<Arc<str>> {
        let arc = self.live_id(id)?;
        if !self.model.is_item(id) {
            return Err(Error::invalid_argument(format!(
                "entry '{id}' is a link; only items have a MIME type and a value"
            )));
        }
        Ok(arc)
    }

    pub(crate) fn data(&self, id: &str) -> Result<&EntryData> {
        self.model.get(id).ok_or_else(|| Error::not_found(id))
    }

    /// A new entry id (random, or from the seeded generator).
    pub(crate) fn next_entry_id(&mut self) -> Arc<str> {
        Arc::from(self.ids.next_id())
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.options.clock.now_ms()
    }
}

// ---------------------------------------------------------------------------------------------
// Entry views
// ---------------------------------------------------------------------------------------------

/// A read-only view of one live entry (SPEC §4.2, §4.4).
pub struct EntryRef<'s, B: Backend> {
    store: &'s Store<B>,
    id: &'s Arc<str>,
    data: &'s EntryData,
}

impl<B: Backend> Clone for EntryRef<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<B: Backend> Copy for EntryRef<'_, B> {}

impl<B: Backend> fmt::Debug for EntryRef<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntryRef")
            .field("id", &self.id)
            .field("kind", &self.data.kind)
            .finish()
    }
}

impl<'s, B: Backend> EntryRef<'s, B> {
    /// The entry id.
    pub fn id(&self) -> &'s str {
        self.id
    }

    /// The full model state of the entry.
    pub fn data(&self) -> &'s EntryData {
        self.data
    }

    /// Item or link.
    pub fn kind(&self) -> EntryKind {
        self.data.kind
    }

    /// Whether this is an item.
    pub fn is_item(&self) -> bool {
        self.data.kind == EntryKind::Item
    }

    /// Whether this is a link.
    pub fn is_link(&self) -> bool {
        self.data.kind == EntryKind::Link
    }

    /// Whether this is Root.
    pub fn is_root_item(&self) -> bool {
        &**self.id == ROOT_ID
    }

    /// Whether this is Trash.
    pub fn is_trash_item(&self) -> bool {
        &**self.id == TRASH_ID
    }

    /// Whether this is LostAndFound.
    pub fn is_lost_and_found_item(&self) -> bool {
        &**self.id == LOST_AND_FOUND_ID
    }

    /// The label text.
    pub fn label(&self) -> &'s str {
        &self.data.label
    }

    /// The whole Info map.
    pub fn info(&self) -> &'s BTreeMap<String, JsonValue> {
        &self.data.info
    }

    /// One Info value.
    pub fn info_value(&self, key: &str) -> Option<&'s JsonValue> {
        self.data.info.get(key)
    }

    /// The MIME type (`text/plain` when stored as `""`); links have none.
    pub fn mime_type(&self) -> Option<&'s str> {
        match self.data.kind {
            EntryKind::Link => None,
            EntryKind::Item if self.data.mime_type.is_empty() => Some(DEFAULT_MIME_TYPE),
            EntryKind::Item => Some(&self.data.mime_type),
        }
    }

    /// The stored value kind as readers see it (unknown kinds read as `none`).
    pub fn value_kind(&self) -> &'s ValueKind {
        self.data.value_kind.effective()
    }

    /// `literal` or `literal-reference`.
    pub fn is_literal(&self) -> bool {
        self.value_kind().is_literal()
    }

    /// `binary` or `binary-reference`.
    pub fn is_binary(&self) -> bool {
        self.value_kind().is_binary()
    }

    /// The value (SPEC §7.3); references without an available blob read as pending.
    pub fn read_value(&self) -> Value {
        self.store.read_value_of(self.data)
    }

    /// The container's id; `None` for Root.
    pub fn outer_item_id(&self) -> Option<&'s str> {
        (!self.is_root_item()).then_some(&*self.data.outer_item_id)
    }

    /// The container; `None` for Root (or a container that is not live).
    pub fn outer_item(&self) -> Option<EntryRef<'s, B>> {
        self.store.entry(self.outer_item_id()?)
    }

    /// Ancestors from the direct container up to and including Root.
    pub fn outer_item_chain(&self) -> Vec<EntryRef<'s, B>> {
        let mut chain = Vec::new();
        let mut current = *self;
        while let Some(outer) = current.outer_item() {
            // A cycle cannot exist after a completed transaction or repair, but a view must
            // never loop forever on a corrupted document either.
            if chain.len() > self.store.model.len() {
                break;
            }
            chain.push(outer);
            current = outer;
        }
        chain
    }

    /// Ids of the ancestors, from the direct container up to Root.
    pub fn outer_item_ids(&self) -> Vec<&'s str> {
        self.outer_item_chain().iter().map(EntryRef::id).collect()
    }

    /// Direct children in (OrderKey, Id) order, as an ordinary vector (SPEC §4.2, F9).
    pub fn inner_entry_list(&self) -> Vec<EntryRef<'s, B>> {
        if !self.is_item() {
            return Vec::new();
        }
        self.store
            .model
            .children(self.id)
            .filter_map(|c| self.store.entry(&c.id))
            .collect()
    }

    /// Number of direct children.
    pub fn inner_entry_count(&self) -> usize {
        if self.is_item() {
            self.store.model.child_count(self.id)
        } else {
            0
        }
    }

    /// The stored target id of a link (even if it dangles); `None` for items.
    pub fn target_id(&self) -> Option<&'s str> {
        self.is_link().then_some(&*self.data.target_id)
    }

    /// The target item of a link, if it exists.
    pub fn target(&self) -> Option<EntryRef<'s, B>> {
        self.store.entry(self.target_id()?)
    }

    /// Whether the entry may be moved into `container` (SPEC §5.2).
    pub fn may_be_moved_to(&self, container: &str) -> bool {
        self.store.entry_may_be_moved_to(self.id, container)
    }

    /// False for the three well-known items.
    pub fn may_be_deleted(&self) -> bool {
        !crate::ids::is_well_known(self.id)
    }

    /// The inline literal text or inline bytes, else `None` (used by listings).
    pub fn current_inline_value(&self) -> Option<InlineValue> {
        inline_value_of(self.data)
    }

    /// `{Hash, Size}` for reference kinds, else `None`.
    pub fn value_ref(&self) -> Option<&'s ValueRef> {
        if self.value_kind().is_reference() {
            self.data.value_ref.as_ref()
        } else {
            None
        }
    }
}

fn inline_value_of(data: &EntryData) -> Option<InlineValue> {
    match data.value_kind.effective() {
        ValueKind::Literal => Some(InlineValue::Text(
            data.literal_value.clone().unwrap_or_default(),
        )),
        ValueKind::Binary => Some(InlineValue::Bytes(
            data.binary_value.clone().unwrap_or_default(),
        )),
        _ => None,
    }
}

impl<B: Backend> Store<B> {
    /// The live entry with this id (SPEC §4.2 `entry_with_id`).
    pub fn entry(&self, id: &str) -> Option<EntryRef<'_, B>> {
        let (id, data) = self.model.iter_entry(id)?;
        Some(EntryRef {
            store: self,
            id,
            data,
        })
    }

    /// Same as [`Store::entry`], named as in SPEC §4.2.
    pub fn entry_with_id(&self, id: &str) -> Option<EntryRef<'_, B>> {
        self.entry(id)
    }

    /// Root.
    pub fn root_item(&self) -> Option<EntryRef<'_, B>> {
        self.entry(ROOT_ID)
    }

    /// Trash.
    pub fn trash_item(&self) -> Option<EntryRef<'_, B>> {
        self.entry(TRASH_ID)
    }

    /// LostAndFound.
    pub fn lost_and_found_item(&self) -> Option<EntryRef<'_, B>> {
        self.entry(LOST_AND_FOUND_ID)
    }

    /// Number of live entries, including the well-known items.
    pub fn entry_count(&self) -> usize {
        self.model.len()
    }

    /// Ids of all live entries (in no particular order).
    pub fn entry_ids(&self) -> impl Iterator<Item = &str> {
        self.model.ids().map(|id| &**id)
    }

    /// Ids of the direct children of `container` in order.
    pub fn inner_entry_ids(&self, container: &str) -> Vec<Arc<str>> {
        if self.model.is_item(container) {
            self.model.child_ids(container)
        } else {
            Vec::new()
        }
    }

    /// Whether `id` is an item; `not-found` when it does not exist.
    pub fn is_item(&self, id: &str) -> Result<bool> {
        Ok(self.data(id)?.kind == EntryKind::Item)
    }

    /// Whether `id` is a link; `not-found` when it does not exist.
    pub fn is_link(&self, id: &str) -> Result<bool> {
        Ok(self.data(id)?.kind == EntryKind::Link)
    }

    /// Mutable view of one entry (the method style of SPEC §4: `entry.move_to(…)`).
    pub fn entry_mut(&mut self, id: &str) -> Result<EntryMut<'_, B>> {
        let id = self.live_id(id)?;
        Ok(EntryMut { store: self, id })
    }
}

/// A mutable handle on one entry; every method is the store operation of the same name.
pub struct EntryMut<'s, B: Backend> {
    store: &'s mut Store<B>,
    id: Arc<str>,
}

impl<B: Backend> EntryMut<'_, B> {
    /// The entry id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// [`Store::set_label`].
    pub fn set_label(&mut self, label: &str) -> Result<()> {
        self.store.set_label(&self.id, label)
    }

    /// [`Store::set_info`].
    pub fn set_info(&mut self, key: &str, value: JsonValue) -> Result<()> {
        self.store.set_info(&self.id, key, value)
    }

    /// [`Store::delete_info`].
    pub fn delete_info(&mut self, key: &str) -> Result<()> {
        self.store.delete_info(&self.id, key)
    }

    /// [`Store::set_mime_type`].
    pub fn set_mime_type(&mut self, mime_type: &str) -> Result<()> {
        self.store.set_mime_type(&self.id, mime_type)
    }

    /// [`Store::write_value`].
    pub fn write_value(&mut self, value: impl Into<ValueInput>) -> Result<()> {
        self.store.write_value(&self.id, value)
    }

    /// [`Store::change_value`].
    pub fn change_value(&mut self, from: usize, to: usize, replacement: &str) -> Result<()> {
        self.store.change_value(&self.id, from, to, replacement)
    }

    /// [`Store::move_entry_to`].
    pub fn move_to(&mut self, container: &str, index: Option<usize>) -> Result<()> {
        self.store.move_entry_to(&self.id, container, index)
    }

    /// [`Store::entry_may_be_moved_to`].
    pub fn may_be_moved_to(&self, container: &str) -> bool {
        self.store.entry_may_be_moved_to(&self.id, container)
    }

    /// [`Store::delete_entry`].
    pub fn delete(&mut self) -> Result<()> {
        self.store.delete_entry(&self.id)
    }

    /// [`Store::purge_entry`].
    pub fn purge(&mut self) -> Result<()> {
        self.store.purge_entry(&self.id)
    }
}

// ---------------------------------------------------------------------------------------------
// Entry properties (SPEC §4.4)
// ---------------------------------------------------------------------------------------------

impl<B: Backend> Store<B> {
    /// Sets the label by minimal splice (at most 1024 UTF-16 units). Records `Label` only when
    /// the text changes.
    pub fn set_label(&mut self, id: &str, label: &str) -> Result<()> {
        let id = self.live_id(id)?;
        if utf16_len(label) > MAX_LABEL_LENGTH {
            return Err(Error::invalid_argument(format!(
                "labels are limited to {MAX_LABEL_LENGTH} UTF-16 units"
            )));
        }
        self.transact(|s| {
            if s.p_set_text(&id, TextField::Label, label) {
                s.record(&id, Property::Label);
            }
            Ok(())
        })
    }

    /// Sets one Info key (SPEC §1.5); `null` is a value. Records `Info.<key>` when the value
    /// changes.
    pub fn set_info(&mut self, id: &str, key: &str, value: JsonValue) -> Result<()> {
        let id = self.live_id(id)?;
        validate_info_key(key)?;
        validate_info_value(&value)?;
        let value = normalize_json(&value);
        self.transact(|s| {
            s.p_set_info(&id, key, value);
            Ok(())
        })
    }

    /// Deletes one Info key; deleting an absent key changes and records nothing.
    pub fn delete_info(&mut self, id: &str, key: &str) -> Result<()> {
        let id = self.live_id(id)?;
        validate_info_key(key)?;
        self.transact(|s| {
            s.p_delete_info(&id, key);
            Ok(())
        })
    }

    /// Sets an item's MIME type (1–256 UTF-16 units; `text/plain` is stored as `""`).
    pub fn set_mime_type(&mut self, id: &str, mime_type: &str) -> Result<()> {
        let id = self.live_item_for_value(id)?;
        let stored = stored_mime_type(mime_type)?;
        self.transact(|s| {
            if s.p_set_mime(&id, stored) {
                s.record(&id, Property::Type);
            }
            Ok(())
        })
    }

    /// Writes a value, choosing the storage kind by size (SPEC §7.2). Records `Value` only
    /// when the readable value changes.
    pub fn write_value(&mut self, id: &str, value: impl Into<ValueInput>) -> Result<()> {
        let id = self.live_item_for_value(id)?;
        let value = value.into();
        self.transact(|s| {
            let before = value_identity(s.data(&id)?);
            s.p_write_value(&id, value);
            if value_identity(s.data(&id)?) != before {
                s.record(&id, Property::Value);
            }
            Ok(())
        })
    }

    pub(crate) fn p_write_value(&mut self, id: &Arc<str>, value: ValueInput) {
        match value {
            ValueInput::None => self.p_set_value_kind(id, ValueKind::None),
            ValueInput::Text(text) if utf16_len(&text) <= self.options.literal_size_limit => {
                self.p_set_text(id, TextField::LiteralValue, &text);
                self.p_set_value_kind(id, ValueKind::Literal);
            }
            ValueInput::Text(text) => {
                self.p_write_blob(id, text.into_bytes(), ValueKind::LiteralReference);
            }
            ValueInput::Bytes(bytes) if bytes.len() <= BINARY_SIZE_LIMIT => {
                self.p_set_binary(id, bytes);
                self.p_set_value_kind(id, ValueKind::Binary);
            }
            ValueInput::Bytes(bytes) => {
                self.p_write_blob(id, bytes, ValueKind::BinaryReference);
            }
        }
    }

    fn p_write_blob(&mut self, id: &Arc<str>, bytes: Vec<u8>, kind: ValueKind) {
        let hash = blob_hash(&bytes);
        let size = bytes.len() as u64;
        self.blobs.insert_verified(hash.clone(), Arc::from(bytes));
        self.note_written_blob(&hash);
        self.p_set_value_ref(id, ValueRef { hash, size });
        self.p_set_value_kind(id, kind);
    }

    /// Replaces the UTF-16 range `[from, to)` of a literal value (SPEC §7.4).
    pub fn change_value(
        &mut self,
        id: &str,
        from: usize,
        to: usize,
        replacement: &str,
    ) -> Result<()> {
        let id = self.live_item_for_value(id)?;
        if from > to {
            return Err(Error::invalid_argument(format!(
                "change_value range {from}..{to} is reversed"
            )));
        }
        let data = self.data(&id)?;
        if data.value_kind != ValueKind::Literal {
            return Err(Error::new(
                ErrorCode::ChangeValueNotLiteral,
                format!("entry '{id}' does not hold a literal value"),
            ));
        }
        let old = data.literal_value.clone().unwrap_or_default();
        let splice = crate::utf16::Splice {
            index: from,
            delete: to - from,
            insert: replacement.to_owned(),
        };
        if byte_offset(&old, from).is_none() || byte_offset(&old, to).is_none() {
            return Err(Error::invalid_argument(format!(
                "change_value range {from}..{to} is outside the text or splits a surrogate pair"
            )));
        }
        let new = apply_splice(&old, &splice)
            .ok_or_else(|| Error::invalid_argument("change_value range is outside the text"))?;
        self.transact(|s| {
            if s.p_set_text(&id, TextField::LiteralValue, &new) {
                s.record(&id, Property::Value);
            }
            Ok(())
        })
    }

    /// The value of an item (SPEC §7.3); `not-found` for unknown ids, `None` for links.
    pub fn read_value(&self, id: &str) -> Result<Value> {
        Ok(self.read_value_of(self.data(id)?))
    }

    pub(crate) fn read_value_of(&self, data: &EntryData) -> Value {
        match data.value_kind.effective() {
            ValueKind::None | ValueKind::Unknown(_) => Value::None,
            ValueKind::Literal => Value::Text(data.literal_value.clone().unwrap_or_default()),
            ValueKind::Binary => Value::Bytes(data.binary_value.clone().unwrap_or_default()),
            kind @ (ValueKind::LiteralReference | ValueKind::BinaryReference) => {
                let pending = || Value::Pending {
                    kind: kind.clone(),
                    hash: data.value_ref.as_ref().map(|r| r.hash.clone()),
                    size: data.value_ref.as_ref().map(|r| r.size),
                };
                let Some(value_ref) = &data.value_ref else {
                    return pending();
                };
                let Some(blob) = self.blobs.get(&value_ref.hash) else {
                    return pending();
                };
                if *kind == ValueKind::LiteralReference {
                    Value::Text(String::from_utf8_lossy(&blob).into_owned())
                } else {
                    Value::Bytes(blob.to_vec())
                }
            }
        }
    }

    /// `{Hash, Size}` of a reference value, else `None`.
    pub fn value_ref_of(&self, id: &str) -> Result<Option<ValueRef>> {
        let data = self.data(id)?;
        Ok(if data.value_kind.effective().is_reference() {
            data.value_ref.clone()
        } else {
            None
        })
    }

    /// The inline literal text or inline bytes, else `None`.
    pub fn current_inline_value(&self, id: &str) -> Result<Option<InlineValue>> {
        Ok(inline_value_of(self.data(id)?))
    }
}

/// What decides whether the readable value changed: the effective kind and the field it
/// selects.
pub(crate) fn value_identity(
    data: &EntryData,
) -> (ValueKind, Option<String>, Option<Vec<u8>>, Option<ValueRef>) {
    let kind = data.value_kind.effective().clone();
    match kind {
        ValueKind::Literal => (
            kind,
            Some(data.literal_value.clone().unwrap_or_default()),
            None,
            None,
        ),
        ValueKind::Binary => (
            kind,
            None,
            Some(data.binary_value.clone().unwrap_or_default()),
            None,
        ),
        ValueKind::LiteralReference | ValueKind::BinaryReference => {
            (kind, None, None, data.value_ref.clone())
        }
        _ => (ValueKind::None, None, None, None),
    }
}

/// Validates a MIME type argument and returns its stored form.
pub(crate) fn stored_mime_type(mime_type: &str) -> Result<String> {
    let len = utf16_len(mime_type);
    if len == 0 || len > MAX_MIME_TYPE_LENGTH {
        return Err(Error::invalid_argument(format!(
            "MIME types must have 1 to {MAX_MIME_TYPE_LENGTH} UTF-16 units"
        )));
    }
    Ok(if mime_type == DEFAULT_MIME_TYPE {
        String::new()
    } else {
        mime_type.to_owned()
    })
}

// ---------------------------------------------------------------------------------------------
// Creation (SPEC §4.3)
// ---------------------------------------------------------------------------------------------

impl<B: Backend> Store<B> {
    /// Creates an empty item in `container` at `index` (absent or past the end appends).
    pub fn new_item_at(
        &mut self,
        mime_type: Option<&str>,
        container: &str,
        index: Option<usize>,
    ) -> Result<String> {
        let stored = stored_mime_type(mime_type.unwrap_or(DEFAULT_MIME_TYPE))?;
        let container = self.live_item_id(container, "container")?;
        self.transact(|s| {
            let id = s.next_entry_id();
            let key = s.key_for_insertion(&container, index, None)?;
            let has_type = !stored.is_empty();
            s.p_create(id.clone(), EntryData::new_item(container, key, stored));
            if has_type {
                s.record(&id, Property::Type);
            }
            Ok(id.to_string())
        })
    }

    /// Creates a link to `target` in `container` at `index`.
    pub fn new_link_at(
        &mut self,
        target: &str,
        container: &str,
        index: Option<usize>,
    ) -> Result<String> {
        let target = self.live_item_id(target, "target")?;
        let container = self.live_item_id(container, "container")?;
        self.transact(|s| {
            let id = s.next_entry_id();
            let key = s.key_for_insertion(&container, index, None)?;
            s.p_create(id.clone(), EntryData::new_link(container, key, target));
            Ok(id.to_string())
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Sync primitives, binary snapshot and blobs (SPEC §4.6)
// ---------------------------------------------------------------------------------------------

impl<B: Backend> Store<B> {
    /// The backend cursor of the committed state (SPEC §10).
    pub fn current_cursor(&self) -> Vec<u8> {
        self.backend.current_cursor()
    }

    /// The full state, or what a replica at `cursor` lacks (SPEC §10.2).
    pub fn export_patch(&self, cursor: Option<&[u8]>) -> Result<Vec<u8>> {
        self.backend.export_patch(cursor.filter(|c| !c.is_empty()))
    }

    /// gzip of the backend snapshot (SPEC §8.5).
    pub fn as_binary(&self) -> Vec<u8> {
        gzip(&self.backend.snapshot())
    }

    /// Puts a blob into the cache. SHA-256-shaped hashes are verified; a mismatch is
    /// `invalid-data` and nothing is stored.
    pub fn store_value_blob(&self, hash: &str, bytes: &[u8]) -> Result<()> {
        self.blobs.store(hash, bytes)
    }

    /// A blob from the cache or the loader.
    pub fn value_blob_by_hash(&self, hash: &str) -> Option<Arc<[u8]>> {
        self.blobs.get(hash)
    }

    /// Whether a blob is available from the cache or the loader.
    pub fn has_value_blob(&self, hash: &str) -> bool {
        self.blobs.has(hash)
    }

    /// Installs (or removes) the lookup used on a cache miss.
    pub fn set_value_blob_loader(&mut self, loader: Option<BlobLoader>) {
        self.blobs.set_loader(loader);
    }

    /// The `ValueRef.Hash` of every live item with a reference kind (SPEC §7.8).
    pub fn referenced_value_hashes(&self) -> HashSet<String> {
        self.model
            .iter()
            .filter(|(_, d)| d.value_kind.effective().is_reference())
            .filter_map(|(_, d)| d.value_ref.as_ref().map(|r| r.hash.clone()))
            .collect()
    }

    /// Drops cached blobs that no live entry references (the loader can still provide them).
    pub fn trim_blob_cache(&self) {
        self.blobs.retain(&self.referenced_value_hashes());
    }
}

/// gzip (one member) of `bytes`.
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 2 + 64),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(bytes);
    encoder.finish().unwrap_or_default()
}

/// Inverse of [`gzip`]; `invalid-data` for anything that is not a complete gzip stream.
pub(crate) fn gunzip(bytes: &[u8]) -> Result<Vec<u8>> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Err(Error::invalid_data(
            "not a gzip stream (missing 1f 8b header)",
        ));
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| Error::with_source(ErrorCode::InvalidData, "cannot gunzip the input", e))?;
    Ok(out)
}
