//! [`SqlitePersistence`]: the persistence provider of SPEC §11 over one SQLite file.

use crate::error::{failed, sqlite_failed};
use crate::options::SqliteOptions;
use crate::schema::{self, Layout};
use rusqlite::{
    Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior, params,
};
use sds_core::StoredState;
use sds_core::{
    BLOB_GRACE_PERIOD, CheckpointInput, CheckpointOutcome, CheckpointOutput, Clock, Error,
    Persistence, Result,
};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The next clock is computed by the INSERT itself, inside the write transaction, from the
/// rows as they are now — not from a counter in this process — so two processes appending
/// to one store never collide and pruning never causes a clock to be reused (SPEC §11.2).
const APPEND_PATCH: &str = "
INSERT INTO patches (store_id, clock, data)
VALUES (
  ?1,
  MAX(
    COALESCE((SELECT MAX(clock) FROM patches WHERE store_id = ?1), 0),
    COALESCE((SELECT clock FROM snapshots INDEXED BY sds_snapshots_clock WHERE store_id = ?1), 0)
  ) + 1,
  ?2
)
RETURNING clock";

/// Blobs waiting for upload are `sds_meta` rows `upload:<64 hex digits>:<store id>`, read in
/// the order they were written (rowid).
const LOAD_PENDING_UPLOADS: &str = "
SELECT substr(key, 8, 64) FROM sds_meta
WHERE key GLOB 'upload:*' AND substr(key, 72) = ':' || ?1
ORDER BY rowid";

const SAVE_SNAPSHOT: &str = "
INSERT INTO snapshots (store_id, data, clock) VALUES (?1, ?2, ?3)
ON CONFLICT (store_id) DO UPDATE SET data = excluded.data, clock = excluded.clock";

const LOAD_PATCHES_SINCE: &str =
    "SELECT clock, data FROM patches WHERE store_id = ?1 AND clock > ?2 ORDER BY clock";

/// The persistence provider of SPEC §11 for one store id in one SQLite file.
///
/// One file may hold several stores (every row is keyed by store id), and several providers —
/// in this process or others, for the same store id or different ones — may use it at once:
/// every write is a `BEGIN IMMEDIATE` transaction, so writers queue (up to the busy timeout)
/// instead of overwriting each other, and readers see committed states only (WAL mode).
///
/// The provider owns one connection. It is `Send` but not `Sync`: a program with several
/// threads gives each its own provider (or wraps one in a mutex).
pub struct SqlitePersistence {
    context: Context,
    connection: Option<Connection>,
    read_only: bool,
    clock: Clock,
}

/// What error messages name: the store and the file.
struct Context {
    store_id: String,
    path: PathBuf,
}

impl Context {
    /// Wraps a SQLite error raised while doing `what` for this store.
    fn error<'a>(&'a self, what: &'a str) -> impl FnOnce(rusqlite::Error) -> Error + 'a {
        move |error| {
            sqlite_failed(
                format!(
                    "could not {what} of store '{}' in '{}'",
                    self.store_id,
                    self.path.display()
                ),
                error,
            )
        }
    }

    /// An error for a row that holds what sds never writes.
    fn corrupt(&self, detail: impl fmt::Display) -> Error {
        failed(format!(
            "corrupt row in '{}' for store '{}': {detail}",
            self.path.display(),
            self.store_id
        ))
    }

    /// A clock read from the file, which must be a non-negative integer.
    fn clock(&self, table: &str, value: i64) -> Result<u64> {
        u64::try_from(value).map_err(|_| self.corrupt(format!("negative clock {value} in {table}")))
    }
}

impl fmt::Debug for SqlitePersistence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlitePersistence")
            .field("store_id", &self.context.store_id)
            .field("path", &self.context.path)
            .field("read_only", &self.read_only)
            .field("closed", &self.connection.is_none())
            .finish()
    }
}

impl SqlitePersistence {
    /// Opens (creating it if needed) the sds database at `path` for `store_id`.
    ///
    /// The file is inspected before anything is written to it. A new or empty file is
    /// initialised with schema version 1; a file written by JS SDS is migrated in one
    /// transaction (SPEC §11.5). A file that is not SQLite, is damaged, holds unrelated
    /// tables, or has a newer schema version is refused with `persistence-failed` and left
    /// byte for byte as it was.
    ///
    /// Options that break their rules fail with `invalid-argument`.
    pub fn open(
        path: impl AsRef<Path>,
        store_id: impl Into<String>,
        options: SqliteOptions,
    ) -> Result<Self> {
        options.validate()?;
        let path = path.as_ref();
        let store_id = store_id.into();
        let connection = if options.read_only {
            open_read_only(path, &options)?
        } else {
            open_read_write(path, &store_id, &options)?
        };
        Ok(SqlitePersistence {
            context: Context {
                store_id,
                path: path.to_path_buf(),
            },
            connection: Some(connection),
            read_only: options.read_only,
            clock: options.clock,
        })
    }

    /// The ids of the stores that have a snapshot or patches in the file at `path`, sorted.
    /// Never creates or changes the file: a missing file holds no stores, and a file that
    /// is not an sds database is an error.
    pub fn list_store_ids(path: impl AsRef<Path>) -> Result<Vec<String>> {
        let path = path.as_ref();
        if !path.exists() {
            return Ok(Vec::new());
        }
        let conn = connect(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY,
            &SqliteOptions::default(),
        )?;
        let sources: &[&str] = match schema::inspect(&conn, path)? {
            Layout::Empty => return Ok(Vec::new()),
            Layout::Current => &["snapshots", "patches"],
            Layout::JsVersion0 => &[],
        };
        let mut tables: Vec<&str> = sources.to_vec();
        if tables.is_empty() {
            // A JS file may lack one of the two tables until it is migrated.
            for table in ["snapshots", "patches"] {
                let exists =
                    schema::table_exists(&conn, table).map_err(|e| schema::read_error(path, e))?;
                if exists {
                    tables.push(table);
                }
            }
        }
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let sql = tables
            .iter()
            .map(|t| format!("SELECT store_id FROM {t}"))
            .collect::<Vec<_>>()
            .join(" UNION ")
            + " ORDER BY 1";
        let result: rusqlite::Result<Vec<String>> = conn
            .prepare(&sql)
            .and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect());
        result.map_err(|e| {
            sqlite_failed(
                format!("could not list the stores in '{}'", path.display()),
                e,
            )
        })
    }

    /// The file this provider uses.
    pub fn path(&self) -> &Path {
        &self.context.path
    }

    /// Whether the provider was opened with [`SqliteOptions::read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the store exists, that is the file holds a snapshot or patches for its id
    /// (SPEC §15.3). Writes nothing.
    pub fn store_exists(&mut self) -> Result<bool> {
        let (conn, context) = self.parts()?;
        conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM snapshots WHERE store_id = ?1)
                 OR EXISTS (SELECT 1 FROM patches WHERE store_id = ?1)",
            [&context.store_id],
            |row| row.get(0),
        )
        .map_err(context.error("check the existence"))
    }

    /// The snapshot and every later patch, read in one read transaction.
    ///
    /// Calling [`load_snapshot`](Persistence::load_snapshot) and then
    /// [`load_patches_since`](Persistence::load_patches_since) can miss changes: another
    /// process may checkpoint in between, pruning patches that the snapshot read first does
    /// not contain. Reading both from one state of the file cannot.
    pub fn load_snapshot_and_patches(&mut self) -> Result<StoredState> {
        let (conn, context) = self.parts()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(context.error("start reading the state"))?;
        let snapshot = read_snapshot(&tx, context)?;
        let since = snapshot.as_ref().map_or(0, |(_, clock)| *clock);
        let patches = read_patches_since(&tx, context, since)?;
        tx.commit()
            .map_err(context.error("finish reading the state"))?;
        Ok(StoredState { snapshot, patches })
    }

    /// Appends several patches in one write transaction and returns their clocks, ascending.
    ///
    /// This is for callers that receive patches in bursts (a server relaying many clients, a
    /// bulk import): one commit costs far less than one per patch. Either every patch is
    /// stored or none is.
    pub fn append_patches<I>(&mut self, patches: I) -> Result<Vec<u64>>
    where
        I: IntoIterator,
        I::Item: AsRef<[u8]>,
    {
        let (conn, context) = self.writer()?;
        let tx = immediate(conn, context, "append patches")?;
        let mut clocks = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached(APPEND_PATCH)
                .map_err(context.error("append patches"))?;
            for patch in patches {
                let clock: i64 = stmt
                    .query_row(params![context.store_id, patch.as_ref()], |row| row.get(0))
                    .map_err(context.error("append patches"))?;
                clocks.push(context.clock("patches", clock)?);
            }
        }
        tx.commit().map_err(context.error("commit patches"))?;
        Ok(clocks)
    }

    /// Runs SQLite's full `PRAGMA integrity_check` and fails with `persistence-failed`,
    /// quoting SQLite's findings, when the file is damaged. It reads the whole file.
    pub fn integrity_check(&mut self) -> Result<()> {
        let (conn, context) = self.parts()?;
        let findings =
            run_check(conn, "integrity_check").map_err(context.error("check the integrity"))?;
        if findings == ["ok"] {
            Ok(())
        } else {
            Err(failed(format!(
                "'{}' failed the integrity check: {}",
                context.path.display(),
                findings.join("; ")
            )))
        }
    }

    /// The open connection and the error context, or `persistence-failed` once closed.
    fn parts(&mut self) -> Result<(&mut Connection, &Context)> {
        match self.connection.as_mut() {
            Some(conn) => Ok((conn, &self.context)),
            None => Err(failed(format!(
                "the persistence provider of store '{}' is closed",
                self.context.store_id
            ))),
        }
    }

    /// Like [`parts`](Self::parts), for operations that write.
    fn writer(&mut self) -> Result<(&mut Connection, &Context)> {
        if self.read_only {
            return Err(failed(format!(
                "'{}' was opened read-only; store '{}' cannot be changed",
                self.context.path.display(),
                self.context.store_id
            )));
        }
        self.parts()
    }
}

impl Persistence for SqlitePersistence {
    fn store_id(&self) -> &str {
        &self.context.store_id
    }

    fn load_snapshot(&mut self) -> Result<Option<(Vec<u8>, u64)>> {
        let (conn, context) = self.parts()?;
        read_snapshot(conn, context)
    }

    fn save_snapshot(&mut self, bytes: &[u8], clock: u64) -> Result<()> {
        let (conn, context) = self.writer()?;
        let clock = clock_to_sql(clock)?;
        let tx = immediate(conn, context, "save the snapshot")?;
        tx.prepare_cached(SAVE_SNAPSHOT)
            .and_then(|mut stmt| stmt.execute(params![context.store_id, bytes, clock]))
            .map_err(context.error("save the snapshot"))?;
        tx.commit().map_err(context.error("save the snapshot"))
    }

    fn load_patches_since(&mut self, clock: u64) -> Result<Vec<(u64, Vec<u8>)>> {
        let (conn, context) = self.parts()?;
        read_patches_since(conn, context, clock)
    }

    fn load_state(&mut self) -> Result<StoredState> {
        self.load_snapshot_and_patches()
    }

    fn load_changes_since(
        &mut self,
        known_snapshot_clock: Option<u64>,
        since: u64,
    ) -> Result<StoredState> {
        let (conn, context) = self.parts()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(context.error("start reading the changes"))?;
        let state = if read_snapshot_clock(&tx, context)? == known_snapshot_clock {
            StoredState {
                snapshot: None,
                patches: read_patches_since(&tx, context, since)?,
            }
        } else {
            let snapshot = read_snapshot(&tx, context)?;
            let after = snapshot.as_ref().map_or(0, |(_, clock)| *clock);
            StoredState {
                snapshot,
                patches: read_patches_since(&tx, context, after)?,
            }
        };
        tx.commit()
            .map_err(context.error("finish reading the changes"))?;
        Ok(state)
    }

    fn append_patch(&mut self, bytes: &[u8]) -> Result<u64> {
        let mut clocks = self.append_patches([bytes])?;
        clocks
            .pop()
            .ok_or_else(|| failed("appending a patch assigned no clock"))
    }

    fn prune_patches(&mut self, up_to: u64) -> Result<usize> {
        let (conn, context) = self.writer()?;
        let up_to = i64::try_from(up_to).unwrap_or(i64::MAX);
        let tx = immediate(conn, context, "prune patches")?;
        let pruned = tx
            .prepare_cached("DELETE FROM patches WHERE store_id = ?1 AND clock <= ?2")
            .and_then(|mut stmt| stmt.execute(params![context.store_id, up_to]))
            .map_err(context.error("prune patches"))?;
        tx.commit().map_err(context.error("prune patches"))?;
        Ok(pruned)
    }

    fn load_value(&mut self, hash: &str) -> Result<Option<Vec<u8>>> {
        let (conn, context) = self.parts()?;
        conn.prepare_cached("SELECT data FROM blobs WHERE store_id = ?1 AND hash = ?2")
            .and_then(|mut stmt| {
                stmt.query_row(params![context.store_id, hash], |row| row.get(0))
                    .optional()
            })
            .map_err(context.error(&format!("load blob {hash}")))
    }

    fn save_value(&mut self, hash: &str, bytes: &[u8]) -> Result<()> {
        let now = time_to_sql(self.clock.now_ms());
        let (conn, context) = self.writer()?;
        let tx = immediate(conn, context, "save a blob")?;
        // The first data is kept: a hash names one content, so a second write of the same
        // hash carries nothing new, and keeping the first save time keeps the grace period
        // honest.
        tx.prepare_cached(
            "INSERT OR IGNORE INTO blobs (store_id, hash, data, saved_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .and_then(|mut stmt| stmt.execute(params![context.store_id, hash, bytes, now]))
        .map_err(context.error(&format!("save blob {hash}")))?;
        tx.commit()
            .map_err(context.error(&format!("save blob {hash}")))
    }

    fn delete_unreferenced_values(
        &mut self,
        referenced: &HashSet<String>,
        grace: Duration,
    ) -> Result<usize> {
        let cutoff = cutoff_ms(self.clock.now_ms(), grace);
        let (conn, context) = self.writer()?;
        let tx = immediate(conn, context, "delete unreferenced blobs")?;
        let deleted = delete_unreferenced(&tx, context, referenced, cutoff)?;
        tx.commit()
            .map_err(context.error("delete unreferenced blobs"))?;
        Ok(deleted)
    }

    fn checkpoint(
        &mut self,
        known_snapshot_clock: Option<u64>,
        merge: &mut dyn FnMut(CheckpointInput) -> Result<CheckpointOutput>,
    ) -> Result<CheckpointOutcome> {
        let cutoff = cutoff_ms(self.clock.now_ms(), BLOB_GRACE_PERIOD);
        let (conn, context) = self.writer()?;
        // One exclusive write transaction from the first read to the last write: no other
        // process can append between reading the log and pruning it, so nothing pruned was
        // left unmerged. Dropping `tx` on any early return rolls everything back.
        let tx = immediate(conn, context, "checkpoint")?;
        let stored_clock = read_snapshot_clock(&tx, context)?;
        // The snapshot bytes are read only when the caller has not got them already; they
        // are the largest value in the file.
        let foreign_snapshot = match stored_clock {
            Some(clock) if Some(clock) != known_snapshot_clock => {
                read_snapshot(&tx, context)?.map(|(bytes, _)| bytes)
            }
            _ => None,
        };
        let base = stored_clock.unwrap_or(0);
        let patches = read_patches_since(&tx, context, base)?;
        let snapshot_clock = patches.last().map_or(base, |(clock, _)| *clock);
        let output = merge(CheckpointInput {
            foreign_snapshot,
            patches,
        })?;
        let sql_clock = clock_to_sql(snapshot_clock)?;
        tx.prepare_cached(SAVE_SNAPSHOT)
            .and_then(|mut stmt| {
                stmt.execute(params![context.store_id, output.snapshot, sql_clock])
            })
            .map_err(context.error("save the checkpoint snapshot"))?;
        let pruned_patches = tx
            .prepare_cached("DELETE FROM patches WHERE store_id = ?1 AND clock <= ?2")
            .and_then(|mut stmt| stmt.execute(params![context.store_id, sql_clock]))
            .map_err(context.error("prune patches at checkpoint"))?;
        let deleted_blobs = delete_unreferenced(&tx, context, &output.referenced_hashes, cutoff)?;
        tx.commit()
            .map_err(context.error("commit the checkpoint"))?;
        Ok(CheckpointOutcome {
            snapshot_clock,
            pruned_patches,
            deleted_blobs,
        })
    }

    fn backend(&mut self) -> Result<Option<String>> {
        let (conn, context) = self.parts()?;
        conn.prepare_cached("SELECT value FROM sds_meta WHERE key = 'backend:' || ?1")
            .and_then(|mut stmt| {
                stmt.query_row([&context.store_id], |row| row.get(0))
                    .optional()
            })
            .map_err(context.error("read the backend marker"))
    }

    fn pending_uploads(&mut self) -> Result<Vec<String>> {
        let (conn, context) = self.parts()?;
        conn.prepare_cached(LOAD_PENDING_UPLOADS)
            .and_then(|mut stmt| {
                stmt.query_map([&context.store_id], |row| row.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()
            })
            .map_err(context.error("read the pending uploads"))
    }

    fn mark_uploads(&mut self, hashes: &[String], pending: bool) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        let (conn, context) = self.writer()?;
        let tx = immediate(conn, context, "mark pending uploads")?;
        {
            let sql = if pending {
                "INSERT OR IGNORE INTO sds_meta (key, value) VALUES ('upload:' || ?1 || ':' || ?2, '')"
            } else {
                "DELETE FROM sds_meta WHERE key = 'upload:' || ?1 || ':' || ?2"
            };
            let mut stmt = tx
                .prepare_cached(sql)
                .map_err(context.error("mark pending uploads"))?;
            for hash in hashes.iter().filter(|h| sds_core::is_sha256_hex(h)) {
                stmt.execute(params![hash, context.store_id])
                    .map_err(context.error("mark pending uploads"))?;
            }
        }
        tx.commit().map_err(context.error("mark pending uploads"))
    }

    fn set_backend(&mut self, name: &str) -> Result<()> {
        let (conn, context) = self.writer()?;
        let tx = immediate(conn, context, "record the backend")?;
        tx.prepare_cached(
            "INSERT INTO sds_meta (key, value) VALUES ('backend:' || ?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .and_then(|mut stmt| stmt.execute(params![context.store_id, name]))
        .map_err(context.error("record the backend"))?;
        tx.commit().map_err(context.error("record the backend"))
    }

    fn close(&mut self) -> Result<()> {
        match self.connection.take() {
            // Closing twice is harmless: the handle is already released.
            None => Ok(()),
            Some(conn) => conn
                .close()
                .map_err(|(_, error)| self.context.error("close the database")(error)),
        }
    }
}

/// Opens a connection with the busy timeout set, mapping failures to `persistence-failed`.
fn connect(path: &Path, flags: OpenFlags, options: &SqliteOptions) -> Result<Connection> {
    // URI names are not interpreted: a path is a path, whatever characters it holds.
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| sqlite_failed(format!("cannot open '{}'", path.display()), e))?;
    conn.busy_timeout(options.busy_timeout)
        .map_err(|e| sqlite_failed(format!("cannot configure '{}'", path.display()), e))?;
    Ok(conn)
}

fn open_read_only(path: &Path, options: &SqliteOptions) -> Result<Connection> {
    if !path.exists() {
        return Err(failed(format!(
            "cannot open '{}' read-only: the file does not exist",
            path.display()
        )));
    }
    let conn = connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY, options)?;
    match schema::inspect(&conn, path)? {
        Layout::Current => {}
        Layout::Empty => {
            return Err(failed(format!(
                "'{}' is not an sds database: it is empty",
                path.display()
            )));
        }
        Layout::JsVersion0 => {
            return Err(failed(format!(
                "'{}' was written by JS SDS and must be migrated first: open it once without \
                 read_only",
                path.display()
            )));
        }
    }
    if options.check_on_open {
        quick_check(&conn, path)?;
    }
    Ok(conn)
}

fn open_read_write(path: &Path, store_id: &str, options: &SqliteOptions) -> Result<Connection> {
    if path.exists() {
        // Decide what the file is through a connection that cannot write: even SQLite's own
        // housekeeping (a WAL checkpoint when the last connection closes) never touches a
        // file that is refused.
        let inspector = connect(path, OpenFlags::SQLITE_OPEN_READ_ONLY, options)?;
        schema::inspect(&inspector, path)?;
        if options.check_on_open {
            quick_check(&inspector, path)?;
        }
    }
    let mut conn = connect(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
        options,
    )?;
    conn.pragma_update(None, "synchronous", options.synchronous.pragma_value())
        .map_err(|e| sqlite_failed(format!("cannot configure '{}'", path.display()), e))?;
    if schema::inspect(&conn, path)? != Layout::Current {
        // Another process may be initialising or migrating the same file right now: decide
        // again under the write lock, so exactly one of them does it. This runs before the
        // switch to WAL, so a migration that fails leaves a JS file exactly as it was.
        let setup_failed = |e| sqlite_failed(format!("cannot initialise '{}'", path.display()), e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(setup_failed)?;
        match schema::inspect(&tx, path)? {
            Layout::Current => {}
            Layout::Empty => schema::create(&tx).map_err(setup_failed)?,
            Layout::JsVersion0 => {
                let now = time_to_sql(options.clock.now_ms());
                schema::migrate_js_version_0(&tx, store_id, now).map_err(|e| {
                    sqlite_failed(
                        format!("cannot migrate the JS SDS file '{}'", path.display()),
                        e,
                    )
                })?;
            }
        }
        tx.commit().map_err(setup_failed)?;
    }
    switch_to_wal(&conn, path, options.busy_timeout)?;
    // Files created by an sds build without the index (or migrated ones) get it now; when it
    // exists this statement writes nothing.
    conn.execute_batch(schema::CREATE_INDEXES)
        .map_err(|e| sqlite_failed(format!("cannot index '{}'", path.display()), e))?;
    Ok(conn)
}

/// Puts the file in WAL mode. WAL lets readers work while one writer commits, and makes a
/// commit one append to the log instead of a journal round trip. The mode is stored in the
/// file, so this writes only the first time.
///
/// Leaving rollback mode needs an exclusive lock, and SQLite answers "busy" at once, without
/// its busy handler, when another connection is taking a lock at the same moment (it would
/// otherwise risk a deadlock). Connections opening a new file together meet exactly that, so
/// the switch is retried here, with growing pauses, until the busy timeout is spent.
fn switch_to_wal(conn: &Connection, path: &Path, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let attempt: rusqlite::Result<String> =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0));
        match attempt {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                return Err(failed(format!(
                    "cannot switch '{}' to WAL mode (SQLite kept journal mode '{mode}')",
                    path.display()
                )));
            }
            Err(error) if is_busy(&error) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(error) => {
                return Err(sqlite_failed(
                    format!("cannot switch '{}' to WAL mode", path.display()),
                    error,
                ));
            }
        }
    }
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    let findings = run_check(conn, "quick_check").map_err(|e| schema::read_error(path, e))?;
    if findings == ["ok"] {
        return Ok(());
    }
    let shown: Vec<&str> = findings.iter().take(3).map(String::as_str).collect();
    Err(failed(format!(
        "'{}' is not an sds database: the SQLite file is corrupted ({})",
        path.display(),
        shown.join("; ")
    )))
}

fn run_check(conn: &Connection, pragma: &str) -> rusqlite::Result<Vec<String>> {
    conn.prepare(&format!("PRAGMA {pragma}"))?
        .query_map([], |row| row.get(0))?
        .collect()
}

/// Starts a `BEGIN IMMEDIATE` transaction: it takes the write lock before reading anything,
/// so the reads it makes cannot be invalidated by another writer (SPEC §11.4).
fn immediate<'c>(
    conn: &'c mut Connection,
    context: &Context,
    what: &str,
) -> Result<Transaction<'c>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(context.error(what))
}

fn read_snapshot_clock(conn: &Connection, context: &Context) -> Result<Option<u64>> {
    let clock: Option<i64> = conn
        // The covering index avoids reading the snapshot's overflow pages (see
        // `schema::CREATE_INDEXES`); writable connections always have it.
        .prepare_cached(
            "SELECT clock FROM snapshots INDEXED BY sds_snapshots_clock WHERE store_id = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([&context.store_id], |row| row.get(0))
                .optional()
        })
        .map_err(context.error("read the snapshot clock"))?;
    clock.map(|c| context.clock("snapshots", c)).transpose()
}

fn read_snapshot(conn: &Connection, context: &Context) -> Result<Option<(Vec<u8>, u64)>> {
    let row: Option<(Vec<u8>, i64)> = conn
        .prepare_cached("SELECT data, clock FROM snapshots WHERE store_id = ?1")
        .and_then(|mut stmt| {
            stmt.query_row([&context.store_id], |row| Ok((row.get(0)?, row.get(1)?)))
                .optional()
        })
        .map_err(context.error("load the snapshot"))?;
    row.map(|(bytes, clock)| Ok((bytes, context.clock("snapshots", clock)?)))
        .transpose()
}

fn read_patches_since(
    conn: &Connection,
    context: &Context,
    clock: u64,
) -> Result<Vec<(u64, Vec<u8>)>> {
    // No stored clock exceeds i64::MAX, so a larger bound selects nothing.
    let since = i64::try_from(clock).unwrap_or(i64::MAX);
    let rows: Vec<(i64, Vec<u8>)> = conn
        .prepare_cached(LOAD_PATCHES_SINCE)
        .and_then(|mut stmt| {
            stmt.query_map(params![context.store_id, since], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect()
        })
        .map_err(context.error("load patches"))?;
    rows.into_iter()
        .map(|(clock, bytes)| Ok((context.clock("patches", clock)?, bytes)))
        .collect()
}

/// Deletes this store's blobs saved at or before `cutoff` (ms) whose hash is not referenced.
fn delete_unreferenced(
    tx: &Transaction<'_>,
    context: &Context,
    referenced: &HashSet<String>,
    cutoff: i64,
) -> Result<usize> {
    let candidates: Vec<String> = tx
        .prepare_cached("SELECT hash FROM blobs WHERE store_id = ?1 AND saved_at <= ?2")
        .and_then(|mut stmt| {
            stmt.query_map(params![context.store_id, cutoff], |row| row.get(0))?
                .collect()
        })
        .map_err(context.error("list blobs"))?;
    let mut delete = tx
        .prepare_cached("DELETE FROM blobs WHERE store_id = ?1 AND hash = ?2")
        .map_err(context.error("delete blobs"))?;
    let mut deleted = 0;
    for hash in candidates.iter().filter(|h| !referenced.contains(*h)) {
        deleted += delete
            .execute(params![context.store_id, hash])
            .map_err(context.error("delete blobs"))?;
    }
    Ok(deleted)
}

fn clock_to_sql(clock: u64) -> Result<i64> {
    i64::try_from(clock).map_err(|_| {
        Error::invalid_argument(format!(
            "clock {clock} is too large to store (maximum {})",
            i64::MAX
        ))
    })
}

fn time_to_sql(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The newest `saved_at` that is old enough to delete: a blob saved exactly `grace` ago is
/// past its grace period (SPEC §7.8 keeps blobs saved *less than* 10 minutes earlier).
fn cutoff_ms(now_ms: u64, grace: Duration) -> i64 {
    let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
    time_to_sql(now_ms.saturating_sub(grace_ms))
}
