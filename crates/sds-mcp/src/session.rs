//! Store access with the rules of SPEC §15.3: one SQLite file per store, restored through a
//! sync engine with persistence only. The last store used stays open between calls
//! ([`OpenStores`]).

use crate::config::BackendKind;
use crate::params::{ToolError, ToolResult, describe};
use sds_core::{NewBackend, Persistence};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_sync::{Engine, EngineOptions, KeptEngines, StopFailure, SyncError};
use std::path::{Path, PathBuf};

/// Which store a call works on.
#[derive(Debug, Clone)]
pub struct Target {
    /// The store id.
    pub store_id: String,
    /// The persistence directory.
    pub dir: PathBuf,
    /// The backend.
    pub backend: BackendKind,
}

impl Target {
    /// Whether both name the same store of the same backend.
    fn same_as(&self, other: &Target) -> bool {
        self.store_id == other.store_id && self.backend == other.backend && self.dir == other.dir
    }

    /// The store's file.
    pub fn path(&self) -> PathBuf {
        sds_sqlite::store_file_path(&self.dir, &self.store_id)
    }

    /// `store '<id>' not found in '<dir>'`.
    pub fn not_found(&self) -> ToolError {
        ToolError::new(format!(
            "store '{}' not found in '{}'",
            self.store_id,
            self.dir.display()
        ))
    }

    fn open_failed(&self, message: impl std::fmt::Display) -> ToolError {
        ToolError::new(format!(
            "failed to open store '{}': {message}",
            self.store_id
        ))
    }

    /// Opens the file (if there is one) without an engine and tells whether the store exists.
    pub fn probe(&self) -> ToolResult<Option<(SqlitePersistence, bool)>> {
        let path = self.path();
        if !path.exists() {
            return Ok(None);
        }
        let mut persistence =
            SqlitePersistence::open(&path, self.store_id.as_str(), SqliteOptions::default())
                .map_err(|e| self.open_failed(describe(&e)))?;
        let exists = persistence
            .store_exists()
            .map_err(|e| self.open_failed(describe(&e)))?;
        Ok(Some((persistence, exists)))
    }

    /// Whether the store exists (the file is closed again).
    pub fn exists(&self) -> ToolResult<bool> {
        Ok(match self.probe()? {
            None => false,
            Some((mut persistence, exists)) => {
                let _ = persistence.close();
                exists
            }
        })
    }
}

/// Whether a call may create a missing store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The store must exist.
    Existing,
    /// A missing store is created.
    CreateIfMissing,
}

/// An open store.
pub struct Session<B: NewBackend> {
    /// The engine that owns the store.
    pub engine: Engine<B>,
    /// What was opened.
    pub target: Target,
}

impl<B: NewBackend> Session<B> {
    /// Opens the store of `target`.
    pub fn open(target: &Target, access: Access) -> ToolResult<Session<B>> {
        let persistence = match target.probe()? {
            Some((persistence, true)) => persistence,
            Some((mut persistence, false)) if access == Access::Existing => {
                let _ = persistence.close();
                return Err(target.not_found());
            }
            Some((persistence, false)) => persistence,
            None if access == Access::Existing => return Err(target.not_found()),
            None => {
                create_dir(&target.dir).map_err(|e| target.open_failed(e))?;
                SqlitePersistence::open(
                    target.path(),
                    target.store_id.as_str(),
                    SqliteOptions::default(),
                )
                .map_err(|e| target.open_failed(describe(&e)))?
            }
        };
        let engine = Engine::<B>::start(
            Some(Box::new(persistence)),
            EngineOptions::default(),
            sds_sync::driver::now_ms(),
        )
        .map_err(|error| match error {
            SyncError::BackendMismatch { stored, .. } => ToolError::new(format!(
                "store '{}' uses the {stored} backend — use --backend {stored}",
                target.store_id
            )),
            SyncError::Store(e) => target.open_failed(describe(&e)),
            other => target.open_failed(other),
        })?;
        Ok(Session {
            engine,
            target: target.clone(),
        })
    }

    /// The store.
    pub fn store(&self) -> &sds_core::Store<B> {
        self.engine.store()
    }

    /// Runs one durable transaction.
    pub fn transact<T>(
        &mut self,
        f: impl FnOnce(&mut sds_core::Store<B>) -> sds_core::Result<T>,
    ) -> ToolResult<T> {
        self.engine.transact(f).map_err(sync_error)
    }

    /// Stops the engine: checkpoint and close.
    pub fn close(mut self) -> ToolResult<()> {
        self.engine
            .stop()
            .map_err(|error| checkpoint_failed(&self.target.store_id, error))
    }
}

/// The message of an engine error.
pub fn sync_error(error: SyncError) -> ToolError {
    match error {
        SyncError::Store(e) => e.into(),
        other => ToolError::new(other.to_string()),
    }
}

fn create_dir(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create the directory '{}': {e}", dir.display()))
}

/// Runs `op` on the store of `target`: on the session a previous call left open when there is
/// one, otherwise on a newly opened one, which stays open for the next call.
pub fn with_session<B: NewBackend + 'static, T>(
    stores: &mut OpenStores,
    target: &Target,
    access: Access,
    op: impl FnOnce(&mut Session<B>) -> ToolResult<T>,
) -> ToolResult<T> {
    let mut session = match stores.take::<B>(target) {
        Some(session) => session,
        None => Session::<B>::open(target, access)?,
    };
    let result = op(&mut session);
    stores.keep(session);
    result
}

/// The store the last call worked on, kept open between calls.
///
/// Restoring a store decodes its whole document (seconds for 100,000 entries), so an MCP
/// server that opened and stopped a store for every call, as SPEC §16.3 describes, would spend
/// nearly all its time restoring. Instead the engine of the last store stays open in a
/// [`KeptEngines`] of capacity one: every change a call makes is durable when the call returns
/// (the engine's commit hook), before each call the engine reads what other processes wrote to
/// the file since ([`sds_sync::Engine::refresh`]), checkpoints run at the usual threshold, and
/// the engine is stopped (checkpoint) when another store is used, before the store is synced
/// or destroyed, and when the server exits. A file that was deleted or replaced since is
/// noticed by its identity (device and inode) and opened afresh.
pub struct OpenStores {
    kept: KeptEngines,
    /// What the kept engine was opened for.
    target: Option<Target>,
}

impl Default for OpenStores {
    fn default() -> Self {
        OpenStores {
            kept: KeptEngines::new(1),
            target: None,
        }
    }
}

impl OpenStores {
    /// The open session of `target`, brought up to date with the file, if it is still the
    /// store on disk; any other open store is stopped.
    pub fn take<B: NewBackend + 'static>(&mut self, target: &Target) -> Option<Session<B>> {
        let open = self.target.take()?;
        if !open.same_as(target) {
            self.release_path(&open.path());
            return None;
        }
        match self.kept.take::<B>(&target.path()) {
            Ok(engine) => engine.map(|engine| Session {
                engine,
                target: target.clone(),
            }),
            Err(failure) => {
                log_failure(&failure);
                None
            }
        }
    }

    /// Keeps `session` open for the next call.
    pub fn keep<B: NewBackend + 'static>(&mut self, session: Session<B>) {
        if let Some(previous) = self.target.take() {
            self.release_path(&previous.path());
        }
        let Session { engine, target } = session;
        let failures = self
            .kept
            .keep(target.path(), target.store_id.clone(), engine);
        failures.iter().for_each(log_failure);
        if !self.kept.is_empty() {
            self.target = Some(target);
        }
    }

    /// Stops the open store's engine (checkpoint), if there is one; a failure is logged (the
    /// store's changes are durable already).
    pub fn release(&mut self) {
        if let Some(open) = self.target.take() {
            self.release_path(&open.path());
        }
    }

    /// Stops the open store's engine (checkpoint), if there is one.
    pub fn close(&mut self) -> ToolResult<()> {
        self.target = None;
        match self.kept.release_all().into_iter().next() {
            Some(failure) => Err(checkpoint_failed(&failure.store_id, failure.error)),
            None => Ok(()),
        }
    }

    fn release_path(&mut self, path: &Path) {
        if let Err(failure) = self.kept.release(path) {
            log_failure(&failure);
        }
    }
}

fn checkpoint_failed(store_id: &str, error: SyncError) -> ToolError {
    ToolError::new(format!(
        "failed to write a checkpoint of store '{store_id}': {}",
        sync_error(error).0
    ))
}

fn log_failure(failure: &StopFailure) {
    tracing::warn!(
        store = %failure.store_id,
        error = %failure.error,
        "stopping the open store failed"
    );
}
