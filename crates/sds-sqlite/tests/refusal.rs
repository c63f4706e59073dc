//! Files that are not sds databases, damaged files and corrupt rows: each is an error, never a
//! panic, and a refused file keeps every byte (SPEC §11.5, §18.13; DESIGN §5).

mod common;

use common::{TestDir, bytes_of, open};
use rusqlite::Connection;
use sds_core::{CheckpointOutput, ErrorCode, Persistence};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use std::path::Path;

const PAGE: usize = 4096;

/// Opens `path` read-write and read-only; both must fail with `persistence-failed` and a
/// message containing `expected`, and leave the file's bytes as they were.
fn assert_refused_untouched(path: &Path, expected: &str) {
    let before = bytes_of(path);
    for read_only in [false, true] {
        let options = SqliteOptions {
            read_only,
            ..SqliteOptions::default()
        };
        let error = SqlitePersistence::open(path, "s", options)
            .map(|_| ())
            .expect_err("the file must be refused");
        assert_eq!(error.code(), ErrorCode::PersistenceFailed);
        assert!(
            error.message().contains(expected),
            "read_only {read_only}: message {:?} lacks {expected:?}",
            error.message()
        );
        assert_eq!(
            bytes_of(path),
            before,
            "read_only {read_only}: the file changed"
        );
    }
    // Listing does not check the whole file (it is meant to be cheap), so a damaged page it
    // does not read goes unnoticed; it must still never write.
    let _ = SqlitePersistence::list_store_ids(path);
    assert_eq!(bytes_of(path), before);
}

/// No `-wal`, `-shm` or `-journal` file was left beside `path`. (Reading a WAL-mode SQLite
/// file creates `-wal` and `-shm`, as every SQLite reader does; a file that is not SQLite, or
/// a rollback-journal database, gets none.)
fn assert_no_companions(path: &Path) {
    for suffix in ["-wal", "-shm", "-journal"] {
        assert!(
            !companion(path, suffix).exists(),
            "{suffix} beside {}",
            path.display()
        );
    }
}

fn companion(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Pseudo-random bytes (a fixed xorshift sequence).
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn files_that_are_not_sqlite_are_refused_untouched() {
    let dir = TestDir::new();
    let cases: [(&str, Vec<u8>); 4] = [
        ("random.db", garbage(3 * PAGE, 7)),
        (
            "text.db",
            b"hello, this is a text file\nwith two lines\n".to_vec(),
        ),
        ("short.db", b"SQLite".to_vec()),
        ("zeros.db", vec![0; 2 * PAGE]),
    ];
    for (name, content) in cases {
        let path = dir.file(name);
        std::fs::write(&path, &content).unwrap();
        let expected = format!("'{}' is not an sds database", path.display());
        assert_refused_untouched(&path, &expected);
        assert!(SqlitePersistence::list_store_ids(&path).is_err());
        assert_no_companions(&path);
    }
}

#[test]
fn a_path_that_cannot_be_a_database_is_an_error() {
    let dir = TestDir::new();
    let error = SqlitePersistence::open(dir.path(), "s", SqliteOptions::default()).unwrap_err();
    assert_eq!(error.code(), ErrorCode::PersistenceFailed);
    let missing_dir = dir.file("missing").join("store.db");
    let error = SqlitePersistence::open(&missing_dir, "s", SqliteOptions::default()).unwrap_err();
    assert_eq!(error.code(), ErrorCode::PersistenceFailed);
    assert!(
        error.message().contains("cannot open"),
        "{}",
        error.message()
    );
    let source = std::error::Error::source(&error).expect("a source");
    assert!(source.downcast_ref::<rusqlite::Error>().is_some());
}

#[test]
fn a_database_of_another_program_is_refused_untouched() {
    let dir = TestDir::new();
    let path = dir.file("other.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
             INSERT INTO users (name) VALUES ('ada'), ('grace');
             CREATE INDEX users_by_name ON users (name);",
        )
        .unwrap();
    }
    assert_refused_untouched(&path, "other tables (users, users_by_name)");
    assert!(SqlitePersistence::list_store_ids(&path).is_err());
    assert_no_companions(&path);
}

#[test]
fn unknown_layouts_are_refused_untouched() {
    let dir = TestDir::new();
    // A blob table keyed per store but no schema marker: neither JS SDS nor sds wrote it.
    let path = dir.file("no-meta.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE blobs (store_id TEXT, hash TEXT, data BLOB)")
        .unwrap();
    assert_refused_untouched(&path, "unexpected column(s) store_id");

    // A patches table with other columns.
    let path = dir.file("odd-patches.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE patches (id INTEGER PRIMARY KEY, body BLOB)")
        .unwrap();
    assert_refused_untouched(
        &path,
        "table 'patches' lacks column(s) store_id, clock, data",
    );

    // An sds file that lost a table.
    let path = dir.file("lost-table.db");
    drop(open(&path, "s"));
    Connection::open(&path)
        .unwrap()
        .execute_batch("DROP TABLE blobs")
        .unwrap();
    assert_refused_untouched(&path, "table 'blobs' is missing");

    // An unreadable schema version.
    let path = dir.file("bad-version.db");
    drop(open(&path, "s"));
    Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE sds_meta SET value = 'one' WHERE key = 'schema_version'")
        .unwrap();
    assert_refused_untouched(&path, "no readable schema_version");
}

#[test]
fn a_higher_schema_version_is_refused_untouched() {
    let dir = TestDir::new();
    let path = dir.file("future.db");
    let mut p = open(&path, "s");
    p.append_patch(b"written by this version").unwrap();
    p.close().unwrap();
    Connection::open(&path)
        .unwrap()
        .execute_batch("UPDATE sds_meta SET value = '2' WHERE key = 'schema_version'")
        .unwrap();
    assert_refused_untouched(&path, "schema version 2");
}

/// A valid database of several pages, closed (so everything is in the main file).
fn write_database_of_many_pages(path: &Path) {
    let mut p = open(path, "s");
    let patches: Vec<Vec<u8>> = (0..200).map(|i| garbage(1500, i)).collect();
    p.append_patches(&patches).unwrap();
    p.save_snapshot(&garbage(5 * PAGE, 99), 200).unwrap();
    p.close().unwrap();
    assert!(bytes_of(path).unwrap().len() > 40 * PAGE);
}

#[test]
fn a_database_with_garbage_pages_is_refused_untouched() {
    let dir = TestDir::new();
    for (name, first_page, pages) in [("middle.db", 6, 3), ("late.db", 30, 2), ("header.db", 0, 1)]
    {
        let path = dir.file(name);
        write_database_of_many_pages(&path);
        let mut bytes = bytes_of(&path).unwrap();
        let range = first_page * PAGE..(first_page + pages) * PAGE;
        bytes[range.clone()].copy_from_slice(&garbage(range.len(), first_page as u64));
        std::fs::write(&path, &bytes).unwrap();
        assert_refused_untouched(&path, "is not an sds database");
    }
}

#[test]
fn a_truncated_database_is_refused_untouched() {
    let dir = TestDir::new();
    let path = dir.file("truncated.db");
    write_database_of_many_pages(&path);
    let bytes = bytes_of(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_refused_untouched(&path, "corrupted");
}

#[test]
fn without_the_open_check_damage_still_gives_errors_not_panics() {
    let dir = TestDir::new();
    let path = dir.file("damaged.db");
    write_database_of_many_pages(&path);
    let mut bytes = bytes_of(&path).unwrap();
    for page in [3, 10, 20, 35] {
        let range = page * PAGE..(page + 1) * PAGE;
        bytes[range.clone()].copy_from_slice(&garbage(PAGE, page as u64));
    }
    std::fs::write(&path, &bytes).unwrap();
    let options = SqliteOptions {
        check_on_open: false,
        ..SqliteOptions::default()
    };
    // Opening may succeed (the schema page is intact); what matters is that every operation
    // returns (an error or a value) instead of panicking, and that the damage is reported.
    let Ok(mut p) = SqlitePersistence::open(&path, "s", options) else {
        return;
    };
    let _ = p.load_snapshot();
    let _ = p.load_patches_since(0);
    let _ = p.append_patch(b"x");
    let _ = p.checkpoint(Some(200), &mut |_| {
        Ok(CheckpointOutput {
            snapshot: Vec::new(),
            referenced_hashes: Default::default(),
        })
    });
    let error = p.integrity_check().expect_err("the damage is found");
    assert_eq!(error.code(), ErrorCode::PersistenceFailed);
}

// ---------------------------------------------------------------------------------------------
// Corrupt rows in a valid file

fn with_raw(path: &Path, sql: &str) {
    Connection::open(path).unwrap().execute_batch(sql).unwrap();
}

fn assert_failed<T: std::fmt::Debug>(result: sds_core::Result<T>, what: &str) {
    let error = result.expect_err(what);
    assert_eq!(
        error.code(),
        ErrorCode::PersistenceFailed,
        "{what}: {error}"
    );
}

#[test]
fn corrupt_rows_are_errors() {
    let dir = TestDir::new();
    let path = dir.file("rows.db");
    let mut p = open(&path, "s");
    p.append_patch(b"good").unwrap();

    with_raw(
        &path,
        "INSERT INTO patches VALUES ('s', 2, 'text instead of bytes')",
    );
    assert_failed(p.load_patches_since(0), "a TEXT patch");
    assert_failed(p.load_snapshot_and_patches(), "a TEXT patch in the state");
    assert_failed(
        p.checkpoint(None, &mut |_| unreachable!("merge after a corrupt row")),
        "checkpoint over a TEXT patch",
    );
    with_raw(&path, "DELETE FROM patches WHERE clock = 2");
    assert_eq!(p.load_patches_since(0).unwrap().len(), 1);

    with_raw(&path, "INSERT INTO patches VALUES ('s', 'two', x'00')");
    assert_failed(p.load_patches_since(0), "a TEXT clock");
    with_raw(&path, "DELETE FROM patches WHERE clock = 'two'");

    with_raw(&path, "INSERT INTO snapshots VALUES ('s', x'00', -5)");
    assert_failed(p.load_snapshot(), "a negative snapshot clock");
    assert_failed(
        p.checkpoint(None, &mut |_| unreachable!("merge after a corrupt row")),
        "checkpoint over a negative clock",
    );
    with_raw(&path, "UPDATE snapshots SET clock = 1, data = 42");
    assert_failed(p.load_snapshot(), "an INTEGER snapshot");

    with_raw(
        &path,
        "INSERT INTO blobs (store_id, hash, data) VALUES ('s', 'h', 'text')",
    );
    assert_failed(p.load_value("h"), "a TEXT blob");
    with_raw(&path, "INSERT INTO sds_meta VALUES ('backend:s', x'00')");
    assert_failed(p.backend(), "a BLOB backend marker");

    // The rows of other stores are not this provider's concern.
    with_raw(
        &path,
        "DELETE FROM snapshots; DELETE FROM blobs; DELETE FROM sds_meta WHERE key = 'backend:s'",
    );
    with_raw(&path, "INSERT INTO patches VALUES ('other', 1, 'text')");
    assert_eq!(
        p.load_patches_since(0).unwrap(),
        vec![(1, b"good".to_vec())]
    );
}
