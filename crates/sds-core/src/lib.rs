//! # sds-core
//!
//! The backend-independent heart of the Shareable Data Store: a tree of items and links kept
//! in a CRDT document, with every tree rule written once — well-known items, ordering keys,
//! move and cycle checks, Trash and purge protection, orphan/cycle/dangling-link repair after
//! remote patches, precise change sets, validation, JSON import/export and the blob cache.
//!
//! A CRDT backend (such as `sds-yrs` or `sds-loro`) implements the small [`Backend`] trait;
//! applications use [`Store`], which is generic over the backend (or `Box<dyn Backend>` when
//! the backend is chosen at run time). No backend type appears in this crate's API.
//!
//! ```
//! use sds_core::{Backend, NewBackend, Store, StoreOptions, ROOT_ID};
//!
//! fn build<B: NewBackend>() -> sds_core::Result<Store<B>> {
//!     let mut store = Store::<B>::from_scratch(StoreOptions::default())?;
//!     let notes = store.new_item_at(None, ROOT_ID, None)?;
//!     store.set_label(&notes, "Notes")?;
//!     let first = store.new_item_at(Some("text/markdown"), &notes, None)?;
//!     store.write_value(&first, "# Hello")?;
//!     store.new_link_at(&first, ROOT_ID, Some(0))?;
//!     Ok(store)
//! }
//! ```
//!
//! Writes update the in-memory model immediately and reach the backend as one CRDT
//! transaction when the outermost [`Store::transact`] ends; the patch of that transaction is
//! handed to [`Store::on_local_commit`] hooks (how a sync engine persists and sends it) and the
//! change set to [`Store::on_change_invoke`] handlers.

mod backend;
mod backend_kind;
mod blobs;
mod changes;
mod error;
mod ids;
mod json;
mod json_value;
pub mod limits;
mod model;
mod options;
pub mod order_key;
mod persistence;
mod remote;
mod repair;
mod store;
mod tree;
pub mod utf16;
mod value;

pub use backend::{Backend, EntryData, EntryKind, NewBackend, Op, RemoteApply, TextField, Touched};
pub use backend_kind::BackendKind;
pub use blobs::BlobLoader;
pub use changes::{ChangeOrigin, ChangeSet, LocalCommit, Property};
pub use error::{Error, ErrorCode, Result};
pub use ids::{
    LOST_AND_FOUND_ID, ROOT_ID, TRASH_ID, cmp_utf16, is_well_known, new_entry_id, resolve_alias,
};
pub use json::{
    EntryJson, ItemJson, LinkJson, ValueRefJson, store_import_entries, validate_entry_json,
};
pub use json_value::{
    MAX_SAFE_INTEGER, compact_json_size, json_number_from_f64, normalize_json, normalize_number,
    validate_info_key, validate_info_value,
};
pub use options::{Clock, StoreOptions};
pub use persistence::{
    BLOB_GRACE_PERIOD, CHECKPOINT_THRESHOLD_BYTES, CheckpointInput, CheckpointOutcome,
    CheckpointOutput, MemoryDatabase, MemoryPersistence, Persistence, StoredState,
};
pub use store::{EntryMut, EntryRef, RemotePatchOutcome, Store, Subscription};
pub use value::{
    InlineValue, Value, ValueInput, ValueKind, ValueRef, blob_hash, hash_from_bytes, hash_to_bytes,
    is_sha256_hex,
};

/// Gzip helpers shared by the store and the tools (SPEC §8.5).
pub mod gzip {
    /// gzip (RFC 1952, one member) of `bytes`.
    pub fn compress(bytes: &[u8]) -> Vec<u8> {
        crate::store::gzip(bytes)
    }

    /// Inverse of [`compress`]; `invalid-data` for anything that is not a gzip stream.
    pub fn decompress(bytes: &[u8]) -> crate::Result<Vec<u8>> {
        crate::store::gunzip(bytes)
    }

    /// Which backend wrote a snapshot payload: `loro` payloads start with the bytes `loro`,
    /// everything else is taken for `yrs` (SPEC §8.5).
    pub fn detect_backend(payload: &[u8]) -> &'static str {
        if payload.starts_with(b"loro") {
            "loro"
        } else {
            "yrs"
        }
    }
}
