//! Helpers shared by the integration tests: private temporary directories and the provider
//! factory of the persistence suite.

#![allow(dead_code)]

use sds_core::{Clock, Persistence};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_testkit::persistence::ProviderFactory;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under Cargo's per-target temporary directory, removed on drop.
pub struct TestDir(PathBuf);

impl TestDir {
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "sds-sqlite-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        // A directory left by an earlier run with the same process id is stale.
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test directory");
        TestDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens `SqlitePersistence` providers on one file; every call is a new connection, which
/// SQLite treats like another process.
pub struct SqliteFactory {
    dir: TestDir,
    path: PathBuf,
}

impl SqliteFactory {
    pub fn new() -> Self {
        let dir = TestDir::new();
        let path = dir.file("store.db");
        SqliteFactory { dir, path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl ProviderFactory for SqliteFactory {
    fn open_with_clock(&self, store_id: &str, clock: Clock) -> Box<dyn Persistence> {
        let options = SqliteOptions {
            clock,
            ..SqliteOptions::default()
        };
        Box::new(SqlitePersistence::open(&self.path, store_id, options).expect("open"))
    }
}

/// Opens `path` for `store_id` with default options.
pub fn open(path: &Path, store_id: &str) -> SqlitePersistence {
    SqlitePersistence::open(path, store_id, SqliteOptions::default()).expect("open")
}

/// The file's bytes, or `None` when it does not exist.
pub fn bytes_of(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}
