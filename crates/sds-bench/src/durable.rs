//! Workloads of the durable replica: the sync engine's local pipeline over sds-sqlite.

use crate::{Extra, time};
use sds_core::{NewBackend, ROOT_ID};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_sync::{Engine, EngineOptions};
use std::path::{Path, PathBuf};

/// A fresh directory for one measurement, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("sds-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Scratch(dir))
    }

    fn db(&self) -> PathBuf {
        self.0.join("bench.db")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start<B: NewBackend>(path: &Path, checkpoint_threshold: usize) -> Result<Engine<B>, String> {
    let persistence = SqlitePersistence::open(path, "bench", SqliteOptions::default())
        .map_err(|e| e.to_string())?;
    let options = EngineOptions {
        checkpoint_threshold,
        ..EngineOptions::default()
    };
    Engine::<B>::start(Some(Box::new(persistence)), options, 0).map_err(|e| e.to_string())
}

/// A durable store with `n` items under Root (created in one transaction).
fn build<B: NewBackend>(
    path: &Path,
    n: usize,
    checkpoint_threshold: usize,
) -> Result<(Engine<B>, Vec<String>), String> {
    let mut engine = start::<B>(path, checkpoint_threshold)?;
    let ids = engine
        .transact(|s| {
            (0..n)
                .map(|i| {
                    let id = s.new_item_at(None, ROOT_ID, None)?;
                    s.set_label(&id, &format!("entry {i}"))?;
                    Ok(id)
                })
                .collect::<sds_core::Result<Vec<_>>>()
        })
        .map_err(|e| e.to_string())?;
    Ok((engine, ids))
}

fn file_size(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).ok())
        .map(|m| m.len())
        .sum()
}

/// Runs one durable workload; returns milliseconds of the measured section.
pub fn run<B: NewBackend>(workload: &str, n: usize) -> Result<(f64, Extra), String> {
    let scratch = Scratch::new()?;
    let path = scratch.db();
    let mut extra = Extra::default();
    let ms = match workload {
        "durable_tx_single" => {
            const CHANGES: usize = 2_000;
            let (mut engine, ids) = build::<B>(&path, n, sds_core::CHECKPOINT_THRESHOLD_BYTES)?;
            let (ms, r) = time(|| {
                ids.iter()
                    .cycle()
                    .take(CHANGES)
                    .enumerate()
                    .try_for_each(|(i, id)| {
                        engine.transact(|s| s.set_label(id, &format!("changed {i}")))
                    })
            });
            r.map_err(|e| e.to_string())?;
            ms / CHANGES as f64
        }
        "durable_tx_batched" => {
            const CHANGES: usize = 2_000;
            const BATCH: usize = 100;
            let (mut engine, ids) = build::<B>(&path, n, sds_core::CHECKPOINT_THRESHOLD_BYTES)?;
            let (ms, r) = time(|| {
                ids.chunks(BATCH)
                    .cycle()
                    .take(CHANGES / BATCH)
                    .enumerate()
                    .try_for_each(|(i, batch)| {
                        engine.transact(|s| {
                            batch
                                .iter()
                                .try_for_each(|id| s.set_label(id, &format!("batch {i}")))
                        })
                    })
            });
            r.map_err(|e| e.to_string())?;
            ms / CHANGES as f64
        }
        "restore_10k_label_patches" | "restore_10k_creation_patches" => {
            {
                let (mut engine, ids) = build::<B>(&path, n, usize::MAX)?;
                engine.checkpoint().map_err(|e| e.to_string())?;
                for (i, id) in ids.iter().cycle().take(crate::RESTORE_PATCHES).enumerate() {
                    engine
                        .transact(|s| {
                            if workload == "restore_10k_label_patches" {
                                s.set_label(id, &format!("pending {i}"))
                            } else {
                                s.new_item_at(None, ROOT_ID, None).map(drop)
                            }
                        })
                        .map_err(|e| e.to_string())?;
                }
                // Dropped without stopping, like a crash: the patches stay in the log.
            }
            let (ms, engine) = time(|| start::<B>(&path, usize::MAX));
            let engine = engine?;
            if engine.store().entry_count() < n + 3 {
                return Err("the restored store lacks entries".into());
            }
            ms
        }
        "db_bytes_per_entry" => {
            let (ms, built) = time(|| build::<B>(&path, n, sds_core::CHECKPOINT_THRESHOLD_BYTES));
            let (mut engine, _) = built?;
            engine.stop().map_err(|e| e.to_string())?;
            drop(engine);
            extra.bytes = Some(file_size(&path) as usize / n.max(1));
            ms
        }
        other => return Err(format!("unknown durable workload '{other}'")),
    };
    Ok((ms, extra))
}
