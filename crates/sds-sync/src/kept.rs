//! Engines a long-lived process keeps open between operations on file-backed stores.
//!
//! Restoring a store decodes its whole document: seconds for 100,000 entries. A process that
//! serves many short operations (an MCP server, a REPL, the CLI's background process) keeps
//! the engines it opened in a [`KeptEngines`] instead of stopping them after each operation.
//! Every change is durable when its transaction returns (the engine's commit hook), so keeping
//! an engine open loses nothing; what other processes wrote to the file meanwhile is read in
//! by [`Engine::refresh`] when the engine is taken out again, and a file that was deleted or
//! replaced since (another process destroyed or re-imported the store) is noticed by its
//! identity (device and inode) and its engine stopped, so the caller opens the store afresh.

use crate::{Engine, SyncError};
use sds_core::NewBackend;
use std::any::{Any, TypeId};
use std::path::{Path, PathBuf};

/// What identifies a file on disk across renames of others: device and inode. `None` where
/// that is not available (then nothing is kept open).
type FileIdentity = Option<(u64, u64)>;

#[cfg(unix)]
fn file_identity(path: &Path) -> FileIdentity {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn file_identity(_path: &Path) -> FileIdentity {
    None
}

/// An [`Engine`] of any backend.
trait AnyEngine: Send {
    fn stop(self: Box<Self>) -> Result<(), SyncError>;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<B: NewBackend + 'static> AnyEngine for Engine<B> {
    fn stop(mut self: Box<Self>) -> Result<(), SyncError> {
        Engine::stop(&mut self)
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

struct Kept {
    path: PathBuf,
    store_id: String,
    backend: TypeId,
    identity: FileIdentity,
    engine: Box<dyn AnyEngine>,
}

/// A store whose engine failed to stop (its checkpoint); its changes were durable already.
#[derive(Debug)]
pub struct StopFailure {
    /// The store id.
    pub store_id: String,
    /// The store's file.
    pub path: PathBuf,
    /// Why the engine did not stop cleanly.
    pub error: SyncError,
}

/// Up to `capacity` open engines of file-backed stores, the most recently used last.
///
/// [`KeptEngines::take`] hands out the engine of a store when it is still the store on disk,
/// brought up to date with the file; [`KeptEngines::keep`] puts it back after the operation
/// (stopping the least recently used engine beyond the capacity). Engines of different
/// backends are kept apart: taking a store with another backend than it was kept with stops
/// the kept engine, and the caller's fresh open reports the mismatch.
pub struct KeptEngines {
    capacity: usize,
    kept: Vec<Kept>,
}

impl KeptEngines {
    /// Keeps at most `capacity` engines open (at least one).
    pub fn new(capacity: usize) -> KeptEngines {
        KeptEngines {
            capacity: capacity.max(1),
            kept: Vec::new(),
        }
    }

    /// How many engines are open.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether no engine is open.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    /// The kept engine of the store in the file `path`, if it is still the file on disk and of
    /// backend `B`, after [`Engine::refresh`]. Otherwise the kept engine (if any) is stopped
    /// and the stop failure, if any, is returned for the caller to report; `Ok(None)` means
    /// there is nothing to take.
    pub fn take<B: NewBackend + 'static>(
        &mut self,
        path: &Path,
    ) -> Result<Option<Engine<B>>, StopFailure> {
        let Some(index) = self.kept.iter().position(|k| k.path == path) else {
            return Ok(None);
        };
        let kept = self.kept.remove(index);
        let current = kept.backend == TypeId::of::<Engine<B>>()
            && kept.identity.is_some()
            && file_identity(path) == kept.identity;
        if !current {
            stop(kept)?;
            return Ok(None);
        }
        let Kept {
            path,
            store_id,
            engine,
            ..
        } = kept;
        let Ok(engine) = engine.into_any().downcast::<Engine<B>>() else {
            return Ok(None);
        };
        let mut engine = *engine;
        match engine.refresh() {
            Ok(_) => Ok(Some(engine)),
            Err(error) => {
                // An engine that cannot catch up is stopped; the caller opens the store anew.
                let _ = engine.stop();
                Err(StopFailure {
                    store_id,
                    path,
                    error,
                })
            }
        }
    }

    /// Keeps `engine`, the engine of store `store_id` in the file `path`, open for the next
    /// operation. An engine whose file is gone is stopped instead, as is the least recently
    /// used one beyond the capacity; their stop failures are returned.
    pub fn keep<B: NewBackend + 'static>(
        &mut self,
        path: PathBuf,
        store_id: impl Into<String>,
        mut engine: Engine<B>,
    ) -> Vec<StopFailure> {
        let store_id = store_id.into();
        let mut failures = Vec::new();
        if let Some(index) = self.kept.iter().position(|k| k.path == path)
            && let Err(failure) = stop(self.kept.remove(index))
        {
            failures.push(failure);
        }
        let identity = file_identity(&path);
        if identity.is_none() {
            if let Err(error) = engine.stop() {
                failures.push(StopFailure {
                    store_id,
                    path,
                    error,
                });
            }
            return failures;
        }
        self.kept.push(Kept {
            path,
            store_id,
            backend: TypeId::of::<Engine<B>>(),
            identity,
            engine: Box::new(engine),
        });
        while self.kept.len() > self.capacity {
            if let Err(failure) = stop(self.kept.remove(0)) {
                failures.push(failure);
            }
        }
        failures
    }

    /// Stops the engine of the store in the file `path`, if one is kept (before the file is
    /// deleted or used by an engine of its own).
    pub fn release(&mut self, path: &Path) -> Result<(), StopFailure> {
        match self.kept.iter().position(|k| k.path == path) {
            Some(index) => stop(self.kept.remove(index)),
            None => Ok(()),
        }
    }

    /// Stops every kept engine (checkpoints) and returns the failures.
    pub fn release_all(&mut self) -> Vec<StopFailure> {
        self.kept
            .drain(..)
            .filter_map(|kept| stop(kept).err())
            .collect()
    }
}

impl Drop for KeptEngines {
    fn drop(&mut self) {
        // Failures cannot be reported from here; the changes were durable already.
        let _ = self.release_all();
    }
}

fn stop(kept: Kept) -> Result<(), StopFailure> {
    kept.engine.stop().map_err(|error| StopFailure {
        store_id: kept.store_id,
        path: kept.path,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineOptions;
    use sds_core::{MemoryPersistence, ROOT_ID};
    use sds_yrs::YrsBackend;

    fn engine(provider: &MemoryPersistence) -> Engine<YrsBackend> {
        Engine::start(
            Some(Box::new(MemoryPersistence::shared(
                "s",
                provider.database(),
            ))),
            EngineOptions::default(),
            0,
        )
        .unwrap()
    }

    fn temp_file(name: &str) -> (PathBuf, impl Drop) {
        struct Remove(PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        let path = std::env::temp_dir().join(format!(
            "sds-kept-{}-{name}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        ));
        std::fs::write(&path, b"x").unwrap();
        (path.clone(), Remove(path))
    }

    #[test]
    fn a_kept_engine_sees_what_another_engine_wrote() {
        let (path, _guard) = temp_file("refresh");
        let provider = MemoryPersistence::new("s");
        let mut kept = KeptEngines::new(2);
        assert!(kept.keep(path.clone(), "s", engine(&provider)).is_empty());
        assert_eq!(kept.len(), 1);

        let mut other = engine(&provider);
        let id = other
            .transact(|store| store.new_item_at(None, ROOT_ID, None))
            .unwrap();
        other.stop().unwrap();

        let taken = kept.take::<YrsBackend>(&path).unwrap().expect("kept");
        assert!(taken.store().entry(&id).is_some());
        assert!(kept.is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_is_not_taken() {
        let (path, _guard) = temp_file("replaced");
        let provider = MemoryPersistence::new("s");
        let mut kept = KeptEngines::new(2);
        kept.keep(path.clone(), "s", engine(&provider));
        // Replaced the way a new store file appears: a new inode renamed over the old name.
        let fresh = path.with_extension("new");
        std::fs::write(&fresh, b"y").unwrap();
        std::fs::rename(&fresh, &path).unwrap();
        assert!(kept.take::<YrsBackend>(&path).unwrap().is_none());
        assert!(kept.is_empty());
    }

    #[test]
    fn the_least_recently_used_engine_is_stopped_beyond_the_capacity() {
        let (a, _ga) = temp_file("a");
        let (b, _gb) = temp_file("b");
        let provider = MemoryPersistence::new("s");
        let mut kept = KeptEngines::new(1);
        kept.keep(a.clone(), "s", engine(&provider));
        kept.keep(b.clone(), "s", engine(&provider));
        assert_eq!(kept.len(), 1);
        assert!(kept.take::<YrsBackend>(&a).unwrap().is_none());
        assert!(kept.take::<YrsBackend>(&b).unwrap().is_some());
    }
}
