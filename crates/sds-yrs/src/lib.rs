//! # sds-yrs
//!
//! A [`sds_core::Backend`] over [yrs](https://docs.rs/yrs) (the Rust port of Y.js) that keeps
//! the store in the document layout of JS SDS's `core-yjs` backend (SPEC §9.1–§9.3): a root
//! map `Entries` with one nested `Y.Map` per entry, `Y.Text` labels and literal values, and
//! lib0 v1 updates and state vectors as patches and cursors (SPEC §10). Y.js peers read and
//! write the same documents.
//!
//! Applications use [`YrsStore`] (= `sds_core::Store<YrsBackend>`); all tree rules live in
//! `sds-core`.
//!
//! ## Layout details
//!
//! * The document uses UTF-16 offsets and a random 32-bit client id, as yjs does.
//! * Info numbers are always stored as f64 (`Any::Number(Number::Float)`), never as integers
//!   that yrs might encode as BigInt. Reading turns every number into the normalised JSON
//!   number of `sds_core::normalize_json`; `undefined` reads as absent; a byte buffer inside
//!   Info (sds never writes one) reads as an array of byte values.
//! * `binaryValue` is written as `Any::Buffer`, which Y.js reads as a `Uint8Array` just like the
//!   `ContentBinary` JS SDS writes; both read back as bytes here.
//! * A local transaction's patch is that transaction's own update (tens of bytes), never a
//!   diff against a state vector (which always carries the whole delete set).
//!
//! ## Untrusted input
//!
//! Patches, snapshots and cursors are checked structurally before yrs decodes them (bounded
//! lengths, no absurd allocations, no nesting deep enough to exhaust the stack, client ids
//! below 2^53, clocks below 2^31, no trailing bytes): anything else is `invalid-data` and leaves
//! the document unchanged. Decodable updates are then handed to yrs only as far as their blocks
//! continue each client's clock and their origins are present; the rest is held back, as yjs
//! holds pending structs, and travels along in snapshots and exported patches
//! ([`YrsBackend::has_pending`]). yrs' own out-of-order integration is never used: fuzzing
//! showed that inconsistent updates could make it panic and corrupt memory.
//!
//! ```
//! use sds_core::{ROOT_ID, StoreOptions};
//! use sds_yrs::YrsStore;
//!
//! # fn main() -> sds_core::Result<()> {
//! let mut alice = YrsStore::from_scratch(StoreOptions::default())?;
//! // A second replica starts from Alice's state.
//! let mut bob = YrsStore::from_binary(&alice.as_binary(), StoreOptions::default())?;
//!
//! // Every local transaction produces a small patch (the yrs update of that transaction).
//! let mut outbox = Vec::new();
//! let note = alice.transact(|s| {
//!     let note = s.new_item_at(None, ROOT_ID, None)?;
//!     s.set_label(&note, "Hello 👋")?;
//!     Ok(note)
//! })?;
//! outbox.push(alice.export_patch(Some(&bob.current_cursor()))?);
//!
//! for patch in &outbox {
//!     bob.apply_remote_patch(patch)?;
//! }
//! assert_eq!(bob.entry(&note).map(|e| e.label().to_owned()).as_deref(), Some("Hello 👋"));
//! assert_eq!(bob.as_json(), alice.as_json());
//! # Ok(())
//! # }
//! ```

mod any_json;
mod backend;
mod held;
mod layout;
mod touched;
mod wire;

pub use backend::YrsBackend;

/// A store kept in a yrs document.
pub type YrsStore = sds_core::Store<YrsBackend>;
