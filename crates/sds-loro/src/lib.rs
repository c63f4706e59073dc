//! # sds-loro
//!
//! A [`sds_core::Backend`] over [loro](https://docs.rs/loro) that keeps the store in the
//! document layout of JS SDS's `core-loro` backend (SPEC §9.1, §9.2, §9.4): a root map
//! `Entries` with one child `LoroMap` per entry, `LoroText` labels and literal values (UTF-16
//! positions), an `Info` map with integers as I64 and other numbers as Double, purged entries
//! kept as tombstones, and loro snapshots, updates and version vectors as patches and cursors
//! (SPEC §10). loro-crdt peers read and write the same documents.
//!
//! Applications use [`LoroStore`] (= `sds_core::Store<LoroBackend>`); all tree rules live in
//! `sds-core`, so code written against `Store<B>` runs unchanged on either backend, and a store
//! moves between backends through `as_json()` / `from_json()` (SPEC §8.7).
//!
//! ```
//! use sds_core::{ROOT_ID, StoreOptions};
//! use sds_loro::LoroStore;
//!
//! # fn main() -> sds_core::Result<()> {
//! let mut alice = LoroStore::from_scratch(StoreOptions::default())?;
//! // A second replica starts from Alice's state.
//! let mut bob = LoroStore::from_binary(&alice.as_binary(), StoreOptions::default())?;
//!
//! // Every local transaction is one loro commit and produces one small patch.
//! let note = alice.transact(|s| {
//!     let note = s.new_item_at(None, ROOT_ID, None)?;
//!     s.set_label(&note, "Hello 👋")?;
//!     s.write_value(&note, "from Alice")?;
//!     Ok(note)
//! })?;
//! let patch = alice.export_patch(Some(&bob.current_cursor()))?;
//!
//! let outcome = bob.apply_remote_patch(&patch)?;
//! assert!(outcome.advanced && outcome.changed);
//! assert_eq!(bob.entry(&note).map(|e| e.label().to_owned()).as_deref(), Some("Hello 👋"));
//! assert_eq!(bob.as_json(), alice.as_json());
//!
//! // Purging leaves a tombstone in the document that reads as absent everywhere.
//! bob.delete_entry(&note)?;
//! bob.purge_entry(&note)?;
//! alice.apply_remote_patch(&bob.export_patch(Some(&alice.current_cursor()))?)?;
//! assert!(alice.entry(&note).is_none());
//! # Ok(())
//! # }
//! ```
//!
//! Robustness: patches and snapshots are checked by loro (checksum, decoding); a panic inside
//! loro on malformed input is caught, and the document is rebuilt as it was before the patch.
//! Random corruption never gets past loro's checksum. Crafted input with a valid checksum can
//! still hurt loro 1.17 in ways no backend code can catch: some of it aborts the process (an
//! allocation of tens of GB from an unchecked count), some of it is accepted and leaves a
//! document that loro cannot export again.

mod backend;
mod layout;
mod pending;
mod touched;
mod values;

pub use backend::LoroBackend;

/// A store kept in a loro document.
pub type LoroStore = sds_core::Store<LoroBackend>;
