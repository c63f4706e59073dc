//! Store access (SPEC §15.3): one file per store in the persistence directory, opened through
//! a sync engine with SQLite persistence only, and stopped (checkpoint) after the command.

use crate::output::CliError;
use crate::settings::Settings;
use sds_core::{NewBackend, Persistence};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_sync::{Engine, EngineOptions, SyncError};
use std::error::Error as _;
use std::path::{Path, PathBuf};

/// Whether a command may create a missing store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The store must exist (exit 3 otherwise).
    Existing,
    /// A missing store is created (`entry create` for items, `store import`, `store sync`).
    CreateIfMissing,
}

/// An open store: the engine and what messages name.
pub struct Session<B: NewBackend> {
    /// The engine that owns the store.
    pub engine: Engine<B>,
    /// The store id.
    pub store_id: String,
    /// The store's file.
    pub path: PathBuf,
}

/// The `store '<id>' not found in '<dir>'` error.
pub fn store_not_found(store_id: &str, dir: &Path) -> CliError {
    CliError::not_found(format!(
        "store '{store_id}' not found in '{}'",
        dir.display()
    ))
}

/// A store error with its cause, for messages that wrap it.
pub fn describe(error: &sds_core::Error) -> String {
    match error.source() {
        Some(source) => format!("{}: {source}", error.message()),
        None => error.message().to_owned(),
    }
}

fn open_failed(store_id: &str, message: impl std::fmt::Display) -> CliError {
    CliError::general(format!("failed to open store '{store_id}': {message}"))
}

/// Opens the store's file without starting an engine and tells whether the store exists.
/// A missing file is not created: the answer is `None`.
pub fn probe(settings: &Settings) -> Result<Option<(SqlitePersistence, bool)>, CliError> {
    let store_id = settings.store_id()?;
    let path = sds_sqlite::store_file_path(&settings.persistence_dir, store_id);
    if !path.exists() {
        return Ok(None);
    }
    let mut persistence = SqlitePersistence::open(&path, store_id, SqliteOptions::default())
        .map_err(|e| open_failed(store_id, describe(&e)))?;
    let exists = persistence
        .store_exists()
        .map_err(|e| open_failed(store_id, describe(&e)))?;
    Ok(Some((persistence, exists)))
}

impl<B: NewBackend> Session<B> {
    /// Opens the store for a command (SPEC §15.3).
    pub fn open(settings: &Settings, access: Access) -> Result<Session<B>, CliError> {
        let store_id = settings.store_id()?.to_owned();
        let dir = &settings.persistence_dir;
        let path = sds_sqlite::store_file_path(dir, &store_id);
        let persistence = match probe(settings)? {
            Some((persistence, true)) => persistence,
            Some((mut persistence, false)) => {
                if access == Access::Existing {
                    let _ = persistence.close();
                    return Err(store_not_found(&store_id, dir));
                }
                persistence
            }
            None => {
                if access == Access::Existing {
                    return Err(store_not_found(&store_id, dir));
                }
                std::fs::create_dir_all(dir).map_err(|e| {
                    open_failed(
                        &store_id,
                        format!("cannot create the directory '{}': {e}", dir.display()),
                    )
                })?;
                SqlitePersistence::open(&path, &store_id, SqliteOptions::default())
                    .map_err(|e| open_failed(&store_id, describe(&e)))?
            }
        };
        let engine = Engine::<B>::start(
            Some(Box::new(persistence)),
            EngineOptions::default(),
            sds_sync::driver::now_ms(),
        )
        .map_err(|error| match error {
            SyncError::BackendMismatch { stored, .. } => CliError::usage(format!(
                "store '{store_id}' uses the {stored} backend — use --backend {stored}"
            )),
            SyncError::Store(e) => open_failed(&store_id, describe(&e)),
            other => open_failed(&store_id, other),
        })?;
        Ok(Session {
            engine,
            store_id,
            path,
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
    ) -> Result<T, CliError> {
        self.engine.transact(f).map_err(CliError::from)
    }

    /// Stops the engine: checkpoint and close (SPEC §15.3).
    pub fn close(mut self) -> Result<(), CliError> {
        self.engine
            .stop()
            .map_err(|error| stop_failed(&self.store_id, error))
    }
}

/// The error of an engine that failed to stop (its checkpoint).
pub fn stop_failed(store_id: &str, error: SyncError) -> CliError {
    match error {
        SyncError::Store(e) => CliError::general(format!(
            "failed to write a checkpoint of store '{store_id}': {}",
            describe(&e)
        )),
        other => CliError::general(other.to_string()),
    }
}

/// Opens the store, runs `op`, and stops the engine whether `op` succeeded or not. The first
/// error wins.
pub fn with_session<B: NewBackend, T>(
    settings: &Settings,
    access: Access,
    op: impl FnOnce(&mut Session<B>) -> Result<T, CliError>,
) -> Result<T, CliError> {
    let mut session = Session::<B>::open(settings, access)?;
    let result = op(&mut session);
    let closed = session.close();
    let value = result?;
    closed?;
    Ok(value)
}
