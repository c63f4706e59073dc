//! The small trait a CRDT backend implements (DESIGN §2): a flat map of entries with typed
//! fields, text fields with UTF-16 splices, one commit per transaction, patches, cursors and
//! snapshots, and which entries a remote patch touched.
//!
//! All tree rules live in [`crate::Store`]; a backend only stores and reads fields in its
//! document layout (SPEC §9).

use crate::error::Result;
use crate::value::{ValueKind, ValueRef};
use serde_json::Value as JsonValue;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// The kind of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// An item: may contain entries and carry a value.
    Item,
    /// A link to an item.
    Link,
}

impl EntryKind {
    /// `item` or `link`, as stored in `Kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Item => "item",
            EntryKind::Link => "link",
        }
    }
}

/// The observable state of one live entry, read tolerantly from the document (SPEC §9.5).
///
/// Backends return it from [`Backend::read_entry`]; the store keeps exactly this state in its
/// model, so a backend's reading and the store's bookkeeping can be compared field by field.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryData {
    /// Item or link.
    pub kind: EntryKind,
    /// Container id (`""` only for Root).
    pub outer_item_id: Arc<str>,
    /// Ordering key (`""` only for Root; malformed keys are kept verbatim).
    pub order_key: Arc<str>,
    /// Label text (`""` when missing or not a text).
    pub label: String,
    /// Info map, keys in sorted order, values normalised by [`crate::normalize_json`].
    pub info: BTreeMap<String, JsonValue>,
    /// Stored MIME type (`""` means text/plain). Links: `""`.
    pub mime_type: String,
    /// Stored value kind. Links: `none`.
    pub value_kind: ValueKind,
    /// `literalValue` text, if the field exists as a text.
    pub literal_value: Option<String>,
    /// `binaryValue` bytes, if present (an unexpected type reads as empty bytes).
    pub binary_value: Option<Vec<u8>>,
    /// `ValueRef`, if present and well-formed.
    pub value_ref: Option<ValueRef>,
    /// Link target (`""` for items).
    pub target_id: Arc<str>,
}

impl EntryData {
    /// A new empty item at a placement.
    pub fn new_item(outer_item_id: Arc<str>, order_key: Arc<str>, mime_type: String) -> Self {
        EntryData {
            kind: EntryKind::Item,
            outer_item_id,
            order_key,
            label: String::new(),
            info: BTreeMap::new(),
            mime_type,
            value_kind: ValueKind::None,
            literal_value: None,
            binary_value: None,
            value_ref: None,
            target_id: Arc::from(""),
        }
    }

    /// A new link at a placement.
    pub fn new_link(outer_item_id: Arc<str>, order_key: Arc<str>, target_id: Arc<str>) -> Self {
        EntryData {
            kind: EntryKind::Link,
            target_id,
            ..EntryData::new_item(outer_item_id, order_key, String::new())
        }
    }
}

/// A text field of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextField {
    /// `Label`.
    Label,
    /// `literalValue`.
    LiteralValue,
}

impl TextField {
    /// The document key.
    pub fn key(self) -> &'static str {
        match self {
            TextField::Label => "Label",
            TextField::LiteralValue => "literalValue",
        }
    }
}

/// One write to the document. The store collects the writes of a transaction and hands them to
/// [`Backend::commit`] at the end of the outermost transaction, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Create (or overwrite) the entry map under `id` with every key of SPEC §9.1 for its kind,
    /// plus `literalValue`, `binaryValue` and `ValueRef` when `data` holds them.
    /// On loro this also overwrites a tombstone.
    Create {
        /// Entry id.
        id: Arc<str>,
        /// Initial state.
        data: Box<EntryData>,
    },
    /// Write `outerItemId` and `OrderKey` (two last-writer-wins keys).
    SetPlacement {
        /// Entry id.
        id: Arc<str>,
        /// New container id.
        outer_item_id: Arc<str>,
        /// New ordering key.
        order_key: Arc<str>,
    },
    /// Splice a text field; the backend creates the text (empty) first if the field does not
    /// hold a text container.
    SpliceText {
        /// Entry id.
        id: Arc<str>,
        /// Which text.
        field: TextField,
        /// Position in UTF-16 units.
        index: usize,
        /// UTF-16 units to delete.
        delete: usize,
        /// Text to insert.
        insert: String,
    },
    /// Write `MIMEType` (stored form).
    SetMimeType {
        /// Entry id.
        id: Arc<str>,
        /// Stored MIME type (`""` for text/plain).
        mime_type: String,
    },
    /// Write `ValueKind`.
    SetValueKind {
        /// Entry id.
        id: Arc<str>,
        /// The new kind.
        kind: ValueKind,
    },
    /// Write `binaryValue`.
    SetBinary {
        /// Entry id.
        id: Arc<str>,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Write `ValueRef`.
    SetValueRef {
        /// Entry id.
        id: Arc<str>,
        /// The reference.
        value_ref: ValueRef,
    },
    /// Set one Info key (the value is already normalised).
    SetInfo {
        /// Entry id.
        id: Arc<str>,
        /// Info key.
        key: String,
        /// JSON value.
        value: JsonValue,
    },
    /// Delete one Info key.
    DeleteInfo {
        /// Entry id.
        id: Arc<str>,
        /// Info key.
        key: String,
    },
    /// Remove the entry (purge): yrs deletes the key, loro writes a tombstone (SPEC §5.5).
    Remove {
        /// Entry id.
        id: Arc<str>,
    },
}

/// Which entries a remote patch touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touched {
    /// These entry ids (keys of `Entries`) may have changed.
    Ids(HashSet<String>),
    /// Every entry may have changed: the backend cannot tell, or it judged that reading every
    /// entry costs no more than attributing the changes (e.g. for a patch as large as the
    /// document).
    All,
}

/// What [`Backend::apply_remote_patch`] reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteApply {
    /// Whether the CRDT state advanced (a visible change or new pending data), SPEC §10.3.
    pub advanced: bool,
    /// Entries the patch may have changed.
    pub touched: Touched,
}

/// A CRDT backend: stores entries in the document layout of SPEC §9.
///
/// Implementations must never panic on bad input: every decoding failure is an `invalid-data`
/// error and leaves the document unchanged.
pub trait Backend: Send + 'static {
    /// `yrs` or `loro` (the name recorded by persistence, SPEC §11.5).
    fn name(&self) -> &'static str;

    /// The snapshot payload (SPEC §8.5), not yet gzipped. It MUST include data the backend
    /// holds as pending (received, waiting for missing dependencies), so that a checkpoint
    /// that prunes the patch log never loses it (SPEC §11.3).
    fn snapshot(&self) -> Vec<u8>;

    /// Whether received data waits for missing dependencies (a sync engine may ask peers for
    /// what is missing).
    fn has_pending(&self) -> bool {
        false
    }

    /// Every key of `Entries`, including entries that will read as absent.
    fn entry_ids(&self) -> Vec<String>;

    /// The live entry under `id`, read tolerantly; `None` when absent, not a map, of unknown
    /// kind, or a tombstone.
    fn read_entry(&self, id: &str) -> Option<EntryData>;

    /// Every live entry. The default reads [`Backend::entry_ids`] one by one.
    fn read_all(&self) -> Vec<(String, EntryData)> {
        self.entry_ids()
            .into_iter()
            .filter_map(|id| self.read_entry(&id).map(|data| (id, data)))
            .collect()
    }

    /// Calls `f` with every live entry, like [`Backend::read_all`] but without collecting them
    /// first (the store compares each entry with its model while the entry is fresh in
    /// memory). The default walks the result of [`Backend::read_all`].
    fn for_each_entry(&self, f: &mut dyn FnMut(&str, EntryData)) {
        for (id, data) in self.read_all() {
            f(&id, data);
        }
    }

    /// Applies the writes of one outermost transaction as one CRDT transaction / commit and
    /// returns the patch it produced (empty when nothing was written).
    fn commit(&mut self, ops: Vec<Op>) -> Result<Vec<u8>>;

    /// The current cursor (SPEC §10.1).
    fn current_cursor(&self) -> Vec<u8>;

    /// The full state (`None` or an empty cursor) or the changes a replica at `cursor` lacks.
    fn export_patch(&self, cursor: Option<&[u8]>) -> Result<Vec<u8>>;

    /// Applies a remote patch; `invalid-data` (document unchanged) when it does not decode.
    fn apply_remote_patch(&mut self, patch: &[u8]) -> Result<RemoteApply>;
}

/// A backend type that can be constructed by the store itself (every concrete backend;
/// `Box<dyn Backend>` is built from a concrete one instead).
pub trait NewBackend: Backend + Sized {
    /// The backend's name, as [`Backend::name`] returns it (`yrs`, `loro`).
    const NAME: &'static str;

    /// A new empty document.
    fn new_empty() -> Self;

    /// A document restored from a snapshot payload (the gunzipped content of `as_binary`);
    /// `invalid-data` when it does not decode.
    fn from_snapshot(payload: &[u8]) -> Result<Self>;

    /// Like [`NewBackend::new_empty`], with a CRDT client/peer id derived from `seed`, for
    /// reproducible tests (`StoreOptions::replica_seed`). The default ignores the seed.
    fn new_seeded(seed: u64) -> Self {
        let _ = seed;
        Self::new_empty()
    }

    /// Like [`NewBackend::from_snapshot`], with a client/peer id derived from `seed`.
    fn from_snapshot_seeded(payload: &[u8], seed: u64) -> Result<Self> {
        let _ = seed;
        Self::from_snapshot(payload)
    }

    /// Whether a peer at `cursor` has none of the changes in `patch` (a patch or a snapshot
    /// payload), so that all of `patch` belongs to what it lacks: sending it wastes nothing.
    /// `None` when the backend cannot tell without loading a document, or when either does
    /// not decode. A relay uses this to answer a new peer from stored patches while it is
    /// still loading the document. The default cannot tell.
    fn cursor_lacks_all_of(cursor: &[u8], patch: &[u8]) -> Option<bool> {
        let _ = (cursor, patch);
        None
    }
}

impl Backend for Box<dyn Backend> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn snapshot(&self) -> Vec<u8> {
        (**self).snapshot()
    }

    fn has_pending(&self) -> bool {
        (**self).has_pending()
    }

    fn entry_ids(&self) -> Vec<String> {
        (**self).entry_ids()
    }

    fn read_entry(&self, id: &str) -> Option<EntryData> {
        (**self).read_entry(id)
    }

    fn read_all(&self) -> Vec<(String, EntryData)> {
        (**self).read_all()
    }

    fn for_each_entry(&self, f: &mut dyn FnMut(&str, EntryData)) {
        (**self).for_each_entry(f);
    }

    fn commit(&mut self, ops: Vec<Op>) -> Result<Vec<u8>> {
        (**self).commit(ops)
    }

    fn current_cursor(&self) -> Vec<u8> {
        (**self).current_cursor()
    }

    fn export_patch(&self, cursor: Option<&[u8]>) -> Result<Vec<u8>> {
        (**self).export_patch(cursor)
    }

    fn apply_remote_patch(&mut self, patch: &[u8]) -> Result<RemoteApply> {
        (**self).apply_remote_patch(patch)
    }
}
