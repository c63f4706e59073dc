//! Store access (SPEC §15.3): one file per store in the persistence directory, opened through
//! a sync engine with SQLite persistence only, and stopped (checkpoint) after the command —
//! unless the process keeps stores open between commands ([`keep_stores_open`]: the REPL,
//! scripts and the background process of [`crate::daemon`]).

use crate::output::CliError;
use crate::settings::Settings;
use sds_core::{NewBackend, Persistence};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_sync::{Engine, EngineOptions, KeptEngines, SyncError};
use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

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

impl<B: NewBackend + 'static> Session<B> {
    /// The store for a command (SPEC §15.3): the engine kept open by an earlier command of
    /// this process (see [`keep_stores_open`]), brought up to date with the file, or the store
    /// restored from its file.
    pub fn open(settings: &Settings, access: Access) -> Result<Session<B>, CliError> {
        if let Some(session) = take_kept(settings)? {
            return Ok(session);
        }
        let started = Instant::now();
        let session = Session::open_file(settings, access)?;
        if started.elapsed() >= SLOW_RESTORE {
            *lock(&SLOW_STORE) = Some(session.store_id.clone());
        }
        Ok(session)
    }

    fn open_file(settings: &Settings, access: Access) -> Result<Session<B>, CliError> {
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

    /// Ends the command's use of the store: the engine is kept open for the next command when
    /// this process keeps stores open, and stopped (checkpoint and close, SPEC §15.3)
    /// otherwise.
    pub fn close(mut self) -> Result<(), CliError> {
        let mut kept = lock(&KEPT);
        match kept.as_mut() {
            Some(kept) => {
                let failures = kept.keep(self.path, self.store_id, self.engine);
                match failures.into_iter().next() {
                    Some(failure) => Err(stop_failed(&failure.store_id, failure.error)),
                    None => Ok(()),
                }
            }
            None => self
                .engine
                .stop()
                .map_err(|error| stop_failed(&self.store_id, error)),
        }
    }
}

/// A restore at least this long makes the store worth keeping open in a background process
/// (see [`crate::daemon`]).
const SLOW_RESTORE: Duration = Duration::from_millis(200);

/// The engines this process keeps open between commands, when it does (a REPL, a script, the
/// background process); `None` in a one-shot process.
static KEPT: Mutex<Option<KeptEngines>> = Mutex::new(None);

/// The store of this process whose restore took at least [`SLOW_RESTORE`].
static SLOW_STORE: Mutex<Option<String>> = Mutex::new(None);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// From now on, the engines of up to `capacity` stores stay open between the commands of this
/// process: every change is durable when its command returns, and before each command the
/// engine reads what other processes wrote to the file since ([`sds_sync::Engine::refresh`]).
/// [`release_all`] stops them.
pub fn keep_stores_open(capacity: usize) {
    let mut kept = lock(&KEPT);
    if kept.is_none() {
        *kept = Some(KeptEngines::new(capacity));
    }
}

/// Stops the kept engine of the store `settings` names, if there is one (before the store is
/// destroyed or synced by an engine of its own).
pub fn release(settings: &Settings) -> Result<(), CliError> {
    let store_id = settings.store_id()?;
    let path = sds_sqlite::store_file_path(&settings.persistence_dir, store_id);
    match lock(&KEPT).as_mut().map(|kept| kept.release(&path)) {
        Some(Err(failure)) => Err(stop_failed(&failure.store_id, failure.error)),
        _ => Ok(()),
    }
}

/// Stops every kept engine (checkpoints); the first failure is returned.
pub fn release_all() -> Result<(), CliError> {
    let failures = lock(&KEPT)
        .as_mut()
        .map(KeptEngines::release_all)
        .unwrap_or_default();
    match failures.into_iter().next() {
        Some(failure) => Err(stop_failed(&failure.store_id, failure.error)),
        None => Ok(()),
    }
}

/// The id of a store this process restored slowly enough to keep open in the background.
pub fn slow_store() -> Option<String> {
    lock(&SLOW_STORE).take()
}

fn take_kept<B: NewBackend + 'static>(settings: &Settings) -> Result<Option<Session<B>>, CliError> {
    let store_id = settings.store_id()?;
    let path = sds_sqlite::store_file_path(&settings.persistence_dir, store_id);
    let mut kept = lock(&KEPT);
    let Some(kept) = kept.as_mut() else {
        return Ok(None);
    };
    // An engine that could not catch up with the file was stopped: the store is opened anew.
    let engine = kept.take::<B>(&path).ok().flatten();
    Ok(engine.map(|engine| Session {
        engine,
        store_id: store_id.to_owned(),
        path,
    }))
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

/// Opens the store, runs `op`, and closes the session ([`Session::close`]) whether `op`
/// succeeded or not. The first error wins.
pub fn with_session<B: NewBackend + 'static, T>(
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
