//! The file layout (SPEC §11.4), the JS SDS migration (§11.5), options, read-only access,
//! store listing and the file naming helpers (§11.6).

mod common;

use common::{TestDir, bytes_of, open};
use rusqlite::Connection;
use sds_core::{Clock, ErrorCode, Persistence};
use sds_sqlite::{
    SCHEMA_VERSION, SqliteOptions, SqlitePersistence, Synchronous, destroy_store_files,
    safe_store_file_name, store_file_path,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// (name, declared type, not null, default, primary key position) of every column.
type Columns = Vec<(String, String, bool, Option<String>, i64)>;

fn columns(conn: &Connection, table: &str) -> Columns {
    conn.prepare("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)")
        .unwrap()
        .query_map([table], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn column(
    name: &str,
    ty: &str,
    not_null: bool,
    default: Option<&str>,
    pk: i64,
) -> (String, String, bool, Option<String>, i64) {
    (
        name.into(),
        ty.into(),
        not_null,
        default.map(Into::into),
        pk,
    )
}

fn tables(conn: &Connection) -> BTreeSet<String> {
    conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn meta(conn: &Connection, key: &str) -> Option<String> {
    conn.query_row("SELECT value FROM sds_meta WHERE key = ?1", [key], |row| {
        row.get(0)
    })
    .ok()
}

#[test]
fn opening_creates_the_four_tables_schema_version_1_and_wal_mode() {
    let dir = TestDir::new();
    let path = dir.file("new.db");
    let mut p = open(&path, "s");
    assert!(path.exists());
    let conn = Connection::open(&path).unwrap();
    let expected: BTreeSet<String> = ["blobs", "patches", "sds_meta", "snapshots"]
        .map(String::from)
        .into();
    assert_eq!(tables(&conn), expected);
    assert_eq!(meta(&conn, "schema_version"), Some("1".to_owned()));
    assert_eq!(SCHEMA_VERSION, 1);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    assert_eq!(
        columns(&conn, "snapshots"),
        vec![
            column("store_id", "TEXT", false, None, 1),
            column("data", "BLOB", true, None, 0),
            column("clock", "INTEGER", true, None, 0),
        ]
    );
    assert_eq!(
        columns(&conn, "patches"),
        vec![
            column("store_id", "TEXT", true, None, 1),
            column("clock", "INTEGER", true, None, 2),
            column("data", "BLOB", true, None, 0),
        ]
    );
    assert_eq!(
        columns(&conn, "blobs"),
        vec![
            column("store_id", "TEXT", true, None, 1),
            column("hash", "TEXT", true, None, 2),
            column("data", "BLOB", true, None, 0),
            column("ref_count", "INTEGER", true, Some("0"), 0),
            column("saved_at", "INTEGER", true, Some("0"), 0),
        ]
    );
    assert_eq!(
        columns(&conn, "sds_meta"),
        vec![
            column("key", "TEXT", false, None, 1),
            column("value", "TEXT", true, None, 0),
        ]
    );

    // The rows are where SPEC §11.4 says, keyed by store id.
    let (clock, now) = Clock::manual(1_234);
    let mut p2 = SqlitePersistence::open(
        &path,
        "s",
        SqliteOptions {
            clock,
            ..SqliteOptions::default()
        },
    )
    .unwrap();
    p.append_patch(b"patch").unwrap();
    p.save_snapshot(b"snap", 0).unwrap();
    p2.save_value("h", b"blob").unwrap();
    now.store(99, std::sync::atomic::Ordering::SeqCst);
    p.set_backend("yrs").unwrap();
    let patch: (String, i64, Vec<u8>) = conn
        .query_row("SELECT store_id, clock, data FROM patches", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(patch, ("s".to_owned(), 1, b"patch".to_vec()));
    let blob: (String, String, Vec<u8>, i64, i64) = conn
        .query_row(
            "SELECT store_id, hash, data, ref_count, saved_at FROM blobs",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        blob,
        ("s".to_owned(), "h".to_owned(), b"blob".to_vec(), 0, 1_234)
    );
    assert_eq!(meta(&conn, "backend:s"), Some("yrs".to_owned()));
}

#[test]
fn an_empty_file_is_initialised() {
    let dir = TestDir::new();
    let path = dir.file("empty.db");
    std::fs::write(&path, b"").unwrap();
    let mut p = open(&path, "s");
    assert_eq!(p.append_patch(b"x").unwrap(), 1);
    let conn = Connection::open(&path).unwrap();
    assert_eq!(tables(&conn).len(), 4);
}

#[test]
fn opening_an_existing_database_writes_nothing() {
    let dir = TestDir::new();
    let path = dir.file("store.db");
    let mut p = open(&path, "s");
    p.append_patch(b"x").unwrap();
    p.save_value("h", b"v").unwrap();
    p.close().unwrap();
    let before = bytes_of(&path).unwrap();
    let mut again = open(&path, "s");
    assert!(again.store_exists().unwrap());
    again.close().unwrap();
    let mut other = open(&path, "other-store");
    assert!(!other.store_exists().unwrap());
    drop(other);
    assert_eq!(bytes_of(&path).unwrap(), before);
}

#[test]
fn options_are_validated_and_both_synchronous_levels_work() {
    let dir = TestDir::new();
    let path = dir.file("store.db");
    let error = SqlitePersistence::open(
        &path,
        "s",
        SqliteOptions {
            busy_timeout: Duration::from_secs(4),
            ..SqliteOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidArgument);
    assert!(!path.exists(), "a refused option creates no file");

    assert_eq!(SqliteOptions::default().synchronous, Synchronous::Normal);
    for synchronous in [Synchronous::Normal, Synchronous::Full] {
        let mut p = SqlitePersistence::open(
            &path,
            "s",
            SqliteOptions {
                synchronous,
                busy_timeout: Duration::from_secs(30),
                ..SqliteOptions::default()
            },
        )
        .unwrap();
        p.append_patch(b"x").unwrap();
    }
    assert_eq!(open(&path, "s").load_patches_since(0).unwrap().len(), 2);
}

#[test]
fn read_only_providers_read_and_never_write() {
    let dir = TestDir::new();
    let path = dir.file("store.db");
    let read_only = SqliteOptions {
        read_only: true,
        ..SqliteOptions::default()
    };
    let missing = SqlitePersistence::open(&path, "s", read_only.clone()).unwrap_err();
    assert_eq!(missing.code(), ErrorCode::PersistenceFailed);
    assert!(!path.exists());
    std::fs::write(&path, b"").unwrap();
    let empty = SqlitePersistence::open(&path, "s", read_only.clone()).unwrap_err();
    assert!(empty.message().contains("empty"), "{}", empty.message());
    std::fs::remove_file(&path).unwrap();

    let mut writer = open(&path, "s");
    writer.append_patch(b"p1").unwrap();
    writer.save_snapshot(b"snap", 0).unwrap();
    writer.save_value("h", b"v").unwrap();
    writer.set_backend("loro").unwrap();
    writer.close().unwrap();
    let before = bytes_of(&path).unwrap();

    let mut reader = SqlitePersistence::open(&path, "s", read_only).unwrap();
    assert!(reader.is_read_only());
    assert_eq!(reader.load_snapshot().unwrap(), Some((b"snap".to_vec(), 0)));
    assert_eq!(
        reader.load_patches_since(0).unwrap(),
        vec![(1, b"p1".to_vec())]
    );
    assert_eq!(reader.load_value("h").unwrap(), Some(b"v".to_vec()));
    assert_eq!(reader.backend().unwrap(), Some("loro".to_owned()));
    assert!(reader.store_exists().unwrap());
    let state = reader.load_snapshot_and_patches().unwrap();
    assert_eq!(state.patches.len(), 1);
    let writes = [
        reader.append_patch(b"x").err(),
        reader.save_snapshot(b"x", 1).err(),
        reader.prune_patches(5).err(),
        reader.save_value("h2", b"x").err(),
        reader
            .delete_unreferenced_values(&Default::default(), Duration::ZERO)
            .err(),
        reader
            .checkpoint(None, &mut |_| {
                unreachable!("no merge in a read-only provider")
            })
            .err(),
        reader.set_backend("yrs").err(),
    ];
    for (i, error) in writes.into_iter().enumerate() {
        let error = error.unwrap_or_else(|| panic!("write {i} succeeded read-only"));
        assert_eq!(error.code(), ErrorCode::PersistenceFailed);
        assert!(error.message().contains("read-only"), "{}", error.message());
    }
    reader.close().unwrap();
    assert_eq!(bytes_of(&path).unwrap(), before);
}

#[test]
fn store_existence_and_listing_never_create_anything() {
    let dir = TestDir::new();
    let path = dir.file("store.db");
    assert_eq!(
        SqlitePersistence::list_store_ids(&path).unwrap(),
        Vec::<String>::new()
    );
    assert!(!path.exists());

    let mut a = open(&path, "a");
    let mut b = open(&path, "b");
    let mut c = open(&path, "c");
    assert!(!a.store_exists().unwrap());
    a.append_patch(b"x").unwrap();
    b.save_snapshot(b"snap", 0).unwrap();
    // Blobs and a backend marker alone do not make a store.
    c.save_value("h", b"v").unwrap();
    c.set_backend("yrs").unwrap();
    assert!(a.store_exists().unwrap());
    assert!(b.store_exists().unwrap());
    assert!(!c.store_exists().unwrap());
    assert_eq!(
        SqlitePersistence::list_store_ids(&path).unwrap(),
        vec!["a", "b"]
    );

    let text = dir.file("notes.txt");
    std::fs::write(&text, b"not a database").unwrap();
    let error = SqlitePersistence::list_store_ids(&text).unwrap_err();
    assert_eq!(error.code(), ErrorCode::PersistenceFailed);
}

#[test]
fn snapshot_and_patches_are_read_together() {
    let dir = TestDir::new();
    let path = dir.file("store.db");
    let mut p = open(&path, "s");
    assert_eq!(p.load_snapshot_and_patches().unwrap(), Default::default());
    p.append_patch(b"p1").unwrap();
    p.append_patch(b"p2").unwrap();
    p.save_snapshot(b"snap", 1).unwrap();
    let state = p.load_snapshot_and_patches().unwrap();
    assert_eq!(state.snapshot, Some((b"snap".to_vec(), 1)));
    assert_eq!(state.patches, vec![(2, b"p2".to_vec())]);
}

#[test]
fn batched_appends_take_consecutive_clocks() {
    let dir = TestDir::new();
    let path = dir.file("store.db");
    let mut p = open(&path, "s");
    assert_eq!(
        p.append_patches(Vec::<Vec<u8>>::new()).unwrap(),
        Vec::<u64>::new()
    );
    assert_eq!(p.append_patch(b"single").unwrap(), 1);
    assert_eq!(p.append_patches([b"a", b"b", b"c"]).unwrap(), vec![2, 3, 4]);
    assert_eq!(p.load_patches_since(1).unwrap().len(), 3);
}

#[test]
fn file_names_and_destruction_follow_the_tools_convention() {
    assert_eq!(safe_store_file_name("plain-id_42"), "plain-id_42.db");
    assert_eq!(safe_store_file_name("a.b/c d"), "a_b_c_d.db");
    assert_eq!(
        safe_store_file_name("ünï"),
        "_n_.db",
        "one _ per character, not per byte"
    );
    assert_eq!(safe_store_file_name(""), ".db");

    let dir = TestDir::new();
    assert!(!destroy_store_files(dir.path(), "a.b").unwrap());
    let path = store_file_path(dir.path(), "a.b");
    assert_eq!(path, dir.file("a_b.db"));
    // Two ids with the same safe name share the file but not data.
    let mut first = open(&path, "a.b");
    let mut second = open(&path, "a_b");
    first.append_patch(b"first").unwrap();
    assert_eq!(second.load_patches_since(0).unwrap(), vec![]);
    assert!(
        companion(&path, "-wal").exists(),
        "WAL mode keeps a log beside the file"
    );
    drop(first);
    drop(second);
    std::fs::write(companion(&path, "-wal"), b"").unwrap();
    std::fs::write(companion(&path, "-shm"), b"").unwrap();
    assert!(destroy_store_files(dir.path(), "a.b").unwrap());
    for suffix in ["", "-wal", "-shm"] {
        assert!(!companion(&path, suffix).exists(), "{suffix}");
    }
}

fn companion(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

// ---------------------------------------------------------------------------------------------
// JS SDS files (schema version 0)

/// A file as JS SDS writes it: the three tables, blobs keyed by hash alone, no `sds_meta`.
fn write_js_file(path: &Path, with_rows: bool) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE snapshots (store_id TEXT PRIMARY KEY, data BLOB NOT NULL, clock INTEGER NOT NULL);
         CREATE TABLE patches (store_id TEXT NOT NULL, clock INTEGER NOT NULL, data BLOB NOT NULL,
                               PRIMARY KEY (store_id, clock));
         CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BLOB NOT NULL, ref_count INTEGER NOT NULL DEFAULT 0);
         INSERT INTO blobs VALUES ('h1', x'0102', 2), ('h2', x'0304', 1);",
    )
    .unwrap();
    if with_rows {
        conn.execute_batch(
            "INSERT INTO snapshots VALUES ('alpha', x'1f8b00', 3);
             INSERT INTO patches VALUES ('alpha', 4, x'04'), ('alpha', 5, x'05'), ('beta', 1, x'b1');",
        )
        .unwrap();
    }
}

#[test]
fn a_js_file_is_migrated_with_blobs_copied_per_store() {
    let dir = TestDir::new();
    let path = dir.file("js.db");
    write_js_file(&path, true);
    let (clock, _) = Clock::manual(5_000);
    let mut gamma = SqlitePersistence::open(
        &path,
        "gamma",
        SqliteOptions {
            clock,
            ..SqliteOptions::default()
        },
    )
    .unwrap();

    let conn = Connection::open(&path).unwrap();
    let expected: BTreeSet<String> = ["blobs", "patches", "sds_meta", "snapshots"]
        .map(String::from)
        .into();
    assert_eq!(tables(&conn), expected, "the renamed JS table is gone");
    assert_eq!(meta(&conn, "schema_version"), Some("1".to_owned()));
    let blobs: Vec<(String, String, Vec<u8>, i64)> = conn
        .prepare("SELECT store_id, hash, data, saved_at FROM blobs ORDER BY store_id, hash")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        blobs,
        vec![
            ("alpha".into(), "h1".into(), vec![1, 2], 5_000),
            ("alpha".into(), "h2".into(), vec![3, 4], 5_000),
            ("beta".into(), "h1".into(), vec![1, 2], 5_000),
            ("beta".into(), "h2".into(), vec![3, 4], 5_000),
        ]
    );

    // The store being opened was in neither table, so it gets no copy.
    assert_eq!(gamma.load_value("h1").unwrap(), None);
    assert!(!gamma.store_exists().unwrap());
    let mut alpha = open(&path, "alpha");
    assert_eq!(
        alpha.load_snapshot().unwrap(),
        Some((vec![0x1f, 0x8b, 0], 3))
    );
    assert_eq!(
        alpha.load_patches_since(3).unwrap(),
        vec![(4, vec![4]), (5, vec![5])]
    );
    assert_eq!(alpha.load_value("h2").unwrap(), Some(vec![3, 4]));
    assert_eq!(alpha.append_patch(b"new").unwrap(), 6);
    let mut beta = open(&path, "beta");
    assert_eq!(
        beta.load_patches_since(0).unwrap(),
        vec![(1, b"\xb1".to_vec())]
    );
    assert_eq!(
        SqlitePersistence::list_store_ids(&path).unwrap(),
        vec!["alpha", "beta"]
    );
    // A migrated file opens as a current one from now on.
    drop((alpha, beta, gamma));
    let before = bytes_of(&path).unwrap();
    drop(open(&path, "alpha"));
    assert_eq!(bytes_of(&path).unwrap(), before);
}

#[test]
fn a_js_file_without_stores_copies_blobs_for_the_opening_store() {
    let dir = TestDir::new();
    let path = dir.file("js.db");
    write_js_file(&path, false);
    let mut p = open(&path, "opening");
    assert_eq!(p.load_value("h1").unwrap(), Some(vec![1, 2]));
    assert_eq!(p.load_value("h2").unwrap(), Some(vec![3, 4]));
    assert_eq!(open(&path, "other").load_value("h1").unwrap(), None);
}

#[test]
fn a_js_file_is_listed_and_refused_read_only_without_being_migrated() {
    let dir = TestDir::new();
    let path = dir.file("js.db");
    write_js_file(&path, true);
    let before = bytes_of(&path).unwrap();
    assert_eq!(
        SqlitePersistence::list_store_ids(&path).unwrap(),
        vec!["alpha", "beta"]
    );
    let error = SqlitePersistence::open(
        &path,
        "alpha",
        SqliteOptions {
            read_only: true,
            ..SqliteOptions::default()
        },
    )
    .unwrap_err();
    assert_eq!(error.code(), ErrorCode::PersistenceFailed);
    assert!(error.message().contains("JS SDS"), "{}", error.message());
    assert_eq!(bytes_of(&path).unwrap(), before);
}

#[test]
fn a_failing_migration_leaves_the_js_file_unchanged() {
    let dir = TestDir::new();
    let path = dir.file("js.db");
    {
        // A JS blob table that allowed a NULL blob: the copy into the NOT NULL column fails.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE snapshots (store_id TEXT PRIMARY KEY, data BLOB NOT NULL, clock INTEGER NOT NULL);
             CREATE TABLE patches (store_id TEXT NOT NULL, clock INTEGER NOT NULL, data BLOB NOT NULL,
                                   PRIMARY KEY (store_id, clock));
             CREATE TABLE blobs (hash TEXT PRIMARY KEY, data BLOB, ref_count INTEGER NOT NULL DEFAULT 0);
             INSERT INTO blobs VALUES ('h1', NULL, 0);
             INSERT INTO patches VALUES ('s', 1, x'01');",
        )
        .unwrap();
    }
    let before = bytes_of(&path).unwrap();
    let error = SqlitePersistence::open(&path, "s", SqliteOptions::default()).unwrap_err();
    assert_eq!(error.code(), ErrorCode::PersistenceFailed);
    assert!(error.message().contains("migrate"), "{}", error.message());
    assert!(
        std::error::Error::source(&error).is_some(),
        "the SQLite error is the source"
    );
    assert_eq!(bytes_of(&path).unwrap(), before);
}
