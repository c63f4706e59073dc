//! File naming used by the tools (SPEC §11.6): one file per store in a persistence directory.

use sds_core::{Error, ErrorCode, Result};
use std::io;
use std::path::{Path, PathBuf};

/// The file name the tools use for a store: `<safeId>.db`, where `safeId` is the store id
/// with every character outside `[A-Za-z0-9_-]` replaced by `_` (SPEC §11.6).
///
/// Different ids can map to one name (`a.b` and `a_b`); they then share the file but not
/// data, because every row is keyed by the full store id.
///
/// ```
/// assert_eq!(sds_sqlite::safe_store_file_name("team/notes:2024"), "team_notes_2024.db");
/// ```
pub fn safe_store_file_name(store_id: &str) -> String {
    let safe: String = store_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.db")
}

/// The path of a store's file in the persistence directory `dir`.
pub fn store_file_path(dir: impl AsRef<Path>, store_id: &str) -> PathBuf {
    dir.as_ref().join(safe_store_file_name(store_id))
}

/// Deletes a store's file in `dir` and its `-wal` and `-shm` companions (SPEC §11.6).
/// Files that do not exist are not an error. Returns whether any file was deleted.
///
/// This deletes the whole file, so also every other store that shares it; close every
/// provider that uses it first.
pub fn destroy_store_files(dir: impl AsRef<Path>, store_id: &str) -> Result<bool> {
    let main = store_file_path(dir, store_id);
    let mut deleted = false;
    // Companions first: a `-wal` left behind next to a later database of the same name
    // would be replayed into it.
    for suffix in ["-wal", "-shm", ""] {
        let mut name = main.clone().into_os_string();
        name.push(suffix);
        let file = PathBuf::from(name);
        match std::fs::remove_file(&file) {
            Ok(()) => deleted = true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::with_source(
                    ErrorCode::PersistenceFailed,
                    format!("cannot delete '{}'", file.display()),
                    e,
                ));
            }
        }
    }
    Ok(deleted)
}
