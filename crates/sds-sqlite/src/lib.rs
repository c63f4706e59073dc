//! # sds-sqlite
//!
//! The SQLite persistence provider of sds (SPEC §11): [`SqlitePersistence`] implements
//! [`sds_core::Persistence`] for one store id in one SQLite file, with bundled SQLite, so no
//! system library is needed.
//!
//! * **Layout.** Schema version 1 of SPEC §11.4: tables `snapshots`, `patches`, `blobs`
//!   (scoped per store) and `sds_meta`. Files written by JS SDS are migrated on open (§11.5).
//! * **Safety of foreign files.** A file that is not SQLite, is damaged, holds unrelated
//!   tables, or has a newer schema version is refused with `persistence-failed` before
//!   anything is written to it.
//! * **Concurrency.** WAL mode; every write is a `BEGIN IMMEDIATE` transaction; patch clocks
//!   are computed by the inserting statement from the stored rows, so several providers —
//!   threads or processes, one store or many — can share a file without losing or renumbering
//!   patches, and a checkpoint never prunes a patch it did not merge.
//! * **Durability.** Configurable with [`Synchronous`]: by default a write that returned
//!   survives a crash of the process; [`Synchronous::Full`] also survives a power loss.
//!
//! ```
//! use sds_core::{CheckpointOutput, Persistence};
//! use sds_sqlite::{SqliteOptions, SqlitePersistence};
//!
//! # fn main() -> sds_core::Result<()> {
//! let dir = std::env::temp_dir().join(format!("sds-sqlite-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join(sds_sqlite::safe_store_file_name("notes"));
//!
//! let mut persistence = SqlitePersistence::open(&path, "notes", SqliteOptions::default())?;
//! assert_eq!(persistence.append_patch(b"first change")?, 1);
//! assert_eq!(persistence.append_patch(b"second change")?, 2);
//!
//! // A checkpoint hands every patch after the stored snapshot to the caller, stores the
//! // snapshot it returns and prunes the merged patches, all in one transaction.
//! let outcome = persistence.checkpoint(None, &mut |input| {
//!     assert_eq!(input.patches.len(), 2);
//!     Ok(CheckpointOutput {
//!         snapshot: b"merged document".to_vec(),
//!         referenced_hashes: Default::default(),
//!     })
//! })?;
//! assert_eq!(outcome.snapshot_clock, 2);
//! assert_eq!(persistence.load_patches_since(0)?, vec![]);
//! persistence.close()?;
//!
//! // Another provider (another process, say) sees the snapshot and continues the clocks.
//! let mut other = SqlitePersistence::open(&path, "notes", SqliteOptions::default())?;
//! assert_eq!(other.load_snapshot()?, Some((b"merged document".to_vec(), 2)));
//! assert_eq!(other.append_patch(b"third change")?, 3);
//! other.close()?;
//! sds_sqlite::destroy_store_files(&dir, "notes")?;
//! # std::fs::remove_dir(&dir).ok();
//! # Ok(())
//! # }
//! ```

mod error;
mod files;
mod options;
mod provider;
mod schema;

pub use files::{destroy_store_files, safe_store_file_name, store_file_path};
pub use options::{MIN_BUSY_TIMEOUT, SqliteOptions, Synchronous};
pub use provider::SqlitePersistence;
pub use schema::SCHEMA_VERSION;
pub use sds_core::StoredState;
