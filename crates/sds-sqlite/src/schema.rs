//! Recognising, creating and migrating the file layout (SPEC §11.4, §11.5).
//!
//! Every function that decides what a file is only reads; the ones that write run inside a
//! `BEGIN IMMEDIATE` transaction that the caller owns, so a failure leaves the file as it was.

use crate::error::{failed, sqlite_failed};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};
use sds_core::{Error, Result};
use std::collections::BTreeSet;
use std::path::Path;

/// The schema version this crate writes and reads (`sds_meta.schema_version`).
pub const SCHEMA_VERSION: i64 = 1;

/// The tables of schema version 1, exactly as SPEC §11.4 gives them.
const CREATE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS snapshots (
  store_id  TEXT    PRIMARY KEY,
  data      BLOB    NOT NULL,
  clock     INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS patches (
  store_id  TEXT    NOT NULL,
  clock     INTEGER NOT NULL,
  data      BLOB    NOT NULL,
  PRIMARY KEY (store_id, clock)
);
CREATE TABLE IF NOT EXISTS blobs (
  store_id  TEXT    NOT NULL,
  hash      TEXT    NOT NULL,
  data      BLOB    NOT NULL,
  ref_count INTEGER NOT NULL DEFAULT 0,
  saved_at  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (store_id, hash)
);
CREATE TABLE IF NOT EXISTS sds_meta (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
";

/// A covering index for the snapshot clock. SPEC §11.4 fixes the column order of `snapshots`
/// with `data` before `clock`, so reading the clock from the table walks the whole chain of
/// overflow pages of a multi-megabyte snapshot; every `append_patch` needs that clock. The
/// index answers from its own small rows. It is additive: JS SDS reads the tables only.
pub(crate) const CREATE_INDEXES: &str =
    "CREATE INDEX IF NOT EXISTS sds_snapshots_clock ON snapshots (store_id, clock);";

/// The name the JS blob table gets while its rows are copied. It is dropped in the same
/// transaction, so it is never seen outside a migration.
const JS_BLOBS_BACKUP: &str = "sds_js_blobs_v0";

/// What an inspected file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// No schema objects at all: a new or empty file, which sds may initialise.
    Empty,
    /// An sds database of [`SCHEMA_VERSION`].
    Current,
    /// A file written by JS SDS (schema version 0), to be migrated (SPEC §11.5).
    JsVersion0,
}

/// Reads the schema of the open database and decides what it is. Only reads.
///
/// A file that is not SQLite, is damaged, holds unrelated tables, or was written by a newer
/// sds is an error naming `path`.
pub(crate) fn inspect(conn: &Connection, path: &Path) -> Result<Layout> {
    let not_sds = |reason: String| {
        failed(format!(
            "'{}' is not an sds database: {reason}",
            path.display()
        ))
    };
    let objects = list_objects(conn).map_err(|e| read_error(path, e))?;
    if objects.is_empty() {
        return Ok(Layout::Empty);
    }
    let tables: BTreeSet<&str> = objects
        .iter()
        .filter(|(kind, _)| kind == "table")
        .map(|(_, name)| name.as_str())
        .collect();
    if tables.contains("sds_meta") {
        let version = schema_version(conn, path)?;
        if version > SCHEMA_VERSION {
            return Err(failed(format!(
                "'{}' has schema version {version}, written by a newer sds; this version reads \
                 schema version {SCHEMA_VERSION} and leaves the file unchanged",
                path.display()
            )));
        }
        if version < SCHEMA_VERSION {
            return Err(not_sds(format!("unknown schema version {version}")));
        }
        for (table, columns) in [
            ("snapshots", &["store_id", "data", "clock"][..]),
            ("patches", &["store_id", "clock", "data"][..]),
            ("blobs", &["store_id", "hash", "data", "saved_at"][..]),
            ("sds_meta", &["key", "value"][..]),
        ] {
            check_columns(conn, path, table, columns, &[])?;
        }
        return Ok(Layout::Current);
    }
    let js_tables = ["snapshots", "patches", "blobs"];
    if js_tables.iter().any(|t| tables.contains(t)) {
        // JS SDS files: the three tables of §11.4 with a blob table keyed by hash alone.
        if tables.contains("snapshots") {
            check_columns(conn, path, "snapshots", &["store_id", "data", "clock"], &[])?;
        }
        if tables.contains("patches") {
            check_columns(conn, path, "patches", &["store_id", "clock", "data"], &[])?;
        }
        if tables.contains("blobs") {
            check_columns(conn, path, "blobs", &["hash", "data"], &["store_id"])?;
        }
        return Ok(Layout::JsVersion0);
    }
    let names: Vec<&str> = objects.iter().map(|(_, name)| name.as_str()).collect();
    Err(not_sds(format!(
        "it holds other tables ({}) and none of sds",
        names.join(", ")
    )))
}

/// Creates the tables of schema version 1 in an empty file. Runs inside the caller's write
/// transaction.
pub(crate) fn create(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(CREATE_TABLES)?;
    conn.execute_batch(CREATE_INDEXES)?;
    set_schema_version(conn)
}

/// Migrates a JS SDS file (schema version 0) to version 1 (SPEC §11.5): the blob table gains
/// `store_id` and `saved_at`; every old blob is copied once for each store id found in
/// `snapshots` or `patches`, or for `opening_store_id` when there is none. Runs inside the
/// caller's write transaction, so a failure leaves the JS file as it was.
pub(crate) fn migrate_js_version_0(
    conn: &Connection,
    opening_store_id: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    let had_blobs = table_exists(conn, "blobs")?;
    if had_blobs {
        conn.execute_batch(&format!("ALTER TABLE blobs RENAME TO {JS_BLOBS_BACKUP}"))?;
    }
    conn.execute_batch(CREATE_TABLES)?;
    if had_blobs {
        let mut store_ids: Vec<String> = conn
            .prepare("SELECT store_id FROM snapshots UNION SELECT store_id FROM patches")?
            .query_map([], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if store_ids.is_empty() {
            store_ids.push(opening_store_id.to_owned());
        }
        // Migrated blobs get "now" as their save time, so reachability at the next checkpoint
        // of each store removes the copies it does not use only after the grace period. A
        // plain INSERT: a JS row that breaks a constraint (a NULL blob) fails the migration
        // and leaves the file as it was, rather than being dropped silently.
        let mut copy = conn.prepare(&format!(
            "INSERT INTO blobs (store_id, hash, data, ref_count, saved_at)
             SELECT ?1, hash, data, 0, ?2 FROM {JS_BLOBS_BACKUP}"
        ))?;
        for store_id in &store_ids {
            copy.execute(params![store_id, now_ms])?;
        }
        drop(copy);
        conn.execute_batch(&format!("DROP TABLE {JS_BLOBS_BACKUP}"))?;
    }
    set_schema_version(conn)
}

fn set_schema_version(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO sds_meta (key, value) VALUES ('schema_version', ?1)",
        [SCHEMA_VERSION.to_string()],
    )?;
    Ok(())
}

/// Schema objects that are not SQLite's own (`sqlite_sequence`, automatic indices).
fn list_objects(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    conn.prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect()
}

pub(crate) fn table_exists(conn: &Connection, table: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [table],
        |row| row.get(0),
    )
}

fn schema_version(conn: &Connection, path: &Path) -> Result<i64> {
    let value: Option<Value> = conn
        .query_row(
            "SELECT value FROM sds_meta WHERE key = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(|e| read_error(path, e))?;
    let parsed = match &value {
        Some(Value::Integer(v)) => Some(*v),
        Some(Value::Text(text)) => text.trim().parse().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        failed(format!(
            "'{}' is not an sds database: sds_meta holds no readable schema_version",
            path.display()
        ))
    })
}

/// Checks that `table` has every column of `required` and none of `forbidden`.
fn check_columns(
    conn: &Connection,
    path: &Path,
    table: &str,
    required: &[&str],
    forbidden: &[&str],
) -> Result<()> {
    let columns: BTreeSet<String> = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .and_then(|mut stmt| {
            stmt.query_map([table], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<_>>()
        })
        .map_err(|e| read_error(path, e))?;
    if columns.is_empty() {
        return Err(failed(format!(
            "'{}' is not an sds database: table '{table}' is missing",
            path.display()
        )));
    }
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !columns.contains(*c))
        .collect();
    let unexpected: Vec<&str> = forbidden
        .iter()
        .copied()
        .filter(|c| columns.contains(*c))
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        let mut reasons = Vec::new();
        if !missing.is_empty() {
            reasons.push(format!("lacks column(s) {}", missing.join(", ")));
        }
        if !unexpected.is_empty() {
            reasons.push(format!(
                "has unexpected column(s) {}",
                unexpected.join(", ")
            ));
        }
        return Err(failed(format!(
            "'{}' is not an sds database: table '{table}' {}",
            path.display(),
            reasons.join(" and ")
        )));
    }
    Ok(())
}

/// Turns an error met while reading a file's schema into a message that says what the file is.
pub(crate) fn read_error(path: &Path, error: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode as Code;
    let message = match error.sqlite_error_code() {
        Some(Code::NotADatabase) => format!(
            "'{}' is not an sds database: the file is not a SQLite database",
            path.display()
        ),
        Some(Code::DatabaseCorrupt) => format!(
            "'{}' is not an sds database: the SQLite file is corrupted",
            path.display()
        ),
        _ => format!("cannot read '{}'", path.display()),
    };
    sqlite_failed(message, error)
}
