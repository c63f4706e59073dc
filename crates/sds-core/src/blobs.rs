//! The per-store blob cache with an optional loader (SPEC §7.7).

use crate::error::{Error, Result};
use crate::value::{blob_hash, is_sha256_hex};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// Looks up a blob by hash on a cache miss (normally backed by persistence).
pub type BlobLoader = Box<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

#[derive(Default)]
pub(crate) struct BlobCache {
    blobs: Mutex<HashMap<String, Arc<[u8]>>>,
    loader: Option<BlobLoader>,
}

impl fmt::Debug for BlobCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobCache")
            .field("cached", &self.lock().len())
            .field("loader", &self.loader.is_some())
            .finish()
    }
}

impl BlobCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<[u8]>>> {
        // A panic while holding this lock cannot leave the map half-updated (every critical
        // section is a single map operation), so a poisoned lock is safe to use.
        self.blobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_loader(&mut self, loader: Option<BlobLoader>) {
        self.loader = loader;
    }

    /// Stores a blob after checking that SHA-256-shaped hashes match the bytes. Foreign hash
    /// shapes cannot be verified and are kept as given (local use only, SPEC §7.6).
    pub(crate) fn store(&self, hash: &str, bytes: &[u8]) -> Result<()> {
        if is_sha256_hex(hash) && blob_hash(bytes) != hash {
            return Err(Error::invalid_data(format!(
                "blob content does not match its hash {hash}"
            )));
        }
        self.lock()
            .entry(hash.to_owned())
            .or_insert_with(|| Arc::from(bytes));
        Ok(())
    }

    /// Inserts a blob whose hash was just computed from its bytes.
    pub(crate) fn insert_verified(&self, hash: String, bytes: Arc<[u8]>) {
        self.lock().entry(hash).or_insert(bytes);
    }

    pub(crate) fn get(&self, hash: &str) -> Option<Arc<[u8]>> {
        if let Some(b) = self.lock().get(hash) {
            return Some(b.clone());
        }
        let loaded: Arc<[u8]> = Arc::from(self.loader.as_ref()?(hash)?);
        // Loaded blobs are verified like received ones: persistence may be corrupted.
        if is_sha256_hex(hash) && blob_hash(&loaded) != hash {
            return None;
        }
        self.insert_verified(hash.to_owned(), loaded.clone());
        Some(loaded)
    }

    pub(crate) fn has(&self, hash: &str) -> bool {
        self.lock().contains_key(hash) || self.get(hash).is_some()
    }

    /// Drops cached blobs whose hash is not in `keep` (the loader can still provide them).
    pub(crate) fn retain(&self, keep: &std::collections::HashSet<String>) {
        self.lock().retain(|hash, _| keep.contains(hash));
    }
}
