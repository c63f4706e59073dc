//! Measures the costs the sync engine pays for persistence: durable single-patch appends per
//! second at both synchronous levels, batched appends, restore reads, the open-time check and
//! the database size per entry. Prints a table; it asserts nothing (timings belong in
//! benchmarks, not tests).
//!
//! ```text
//! cargo run --release -p sds-sqlite --example append_bench [-- <directory>]
//! ```
//!
//! The directory (default: the system temporary directory) should be on the disk whose
//! `fsync` cost you want to measure; a tmpfs makes `Synchronous::Full` look free.

use sds_core::{CheckpointOutput, Persistence};
use sds_sqlite::{SqliteOptions, SqlitePersistence, Synchronous, destroy_store_files};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The size of a typical single-change yrs patch (DESIGN §9: ~57 bytes).
const PATCH_BYTES: usize = 60;

fn main() -> sds_core::Result<()> {
    let base = std::env::args()
        .nth(1)
        .map_or_else(std::env::temp_dir, PathBuf::from)
        .join(format!("sds-sqlite-bench-{}", std::process::id()));
    std::fs::create_dir_all(&base).expect("create the bench directory");
    println!("directory: {}", base.display());
    println!("| workload | figure |");
    println!("|---|---|");

    for (label, synchronous, budget) in [
        ("NORMAL", Synchronous::Normal, Duration::from_secs(3)),
        ("FULL", Synchronous::Full, Duration::from_secs(3)),
    ] {
        let (count, elapsed, bytes) = single_appends(&base, synchronous, budget)?;
        println!(
            "| single-patch appends, synchronous {label} | {:.0}/s ({count} in {:.2} s, {:.1} µs each) |",
            count as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e6 / count as f64,
        );
        println!(
            "| database size per patch, synchronous {label} | {:.1} bytes ({PATCH_BYTES}-byte patches, {count} rows) |",
            bytes as f64 / count as f64
        );
    }

    for synchronous in [Synchronous::Normal, Synchronous::Full] {
        let (count, elapsed) = batched_appends(&base, synchronous, 100, 200)?;
        println!(
            "| batched appends (100 per transaction), synchronous {synchronous:?} | {:.0} patches/s |",
            count as f64 / elapsed.as_secs_f64()
        );
    }

    restore_and_open(&base)?;
    std::fs::remove_dir_all(&base).ok();
    Ok(())
}

fn patch(i: usize) -> Vec<u8> {
    let mut bytes = format!("patch {i:>12} ").into_bytes();
    bytes.resize(PATCH_BYTES, b'.');
    bytes
}

fn options(synchronous: Synchronous) -> SqliteOptions {
    SqliteOptions {
        synchronous,
        ..SqliteOptions::default()
    }
}

/// Appends one patch per transaction until `budget` is spent; returns the count, the time and
/// the size of the database once its log is folded in.
fn single_appends(
    dir: &Path,
    synchronous: Synchronous,
    budget: Duration,
) -> sds_core::Result<(usize, Duration, u64)> {
    let id = format!("single-{synchronous:?}");
    let path = dir.join(format!("{id}.db"));
    let mut p = SqlitePersistence::open(&path, id.as_str(), options(synchronous))?;
    let start = Instant::now();
    let mut count = 0;
    while start.elapsed() < budget {
        for _ in 0..100 {
            p.append_patch(&patch(count))?;
            count += 1;
        }
    }
    let elapsed = start.elapsed();
    p.close()?;
    // Closing the last connection folds the write-ahead log into the file.
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    destroy_store_files(dir, &id)?;
    Ok((count, elapsed, size))
}

fn batched_appends(
    dir: &Path,
    synchronous: Synchronous,
    batch: usize,
    batches: usize,
) -> sds_core::Result<(usize, Duration)> {
    let id = format!("batched-{synchronous:?}");
    let path = dir.join(format!("{id}.db"));
    let mut p = SqlitePersistence::open(&path, id.as_str(), options(synchronous))?;
    let start = Instant::now();
    for b in 0..batches {
        let patches: Vec<Vec<u8>> = (0..batch).map(|i| patch(b * batch + i)).collect();
        p.append_patches(&patches)?;
    }
    let elapsed = start.elapsed();
    p.close()?;
    destroy_store_files(dir, &id)?;
    Ok((batch * batches, elapsed))
}

/// A store shaped like the restore target of issue 4: a large snapshot plus 10,000 pending
/// patches. Measures open (with and without the integrity check) and the restore read.
fn restore_and_open(dir: &Path) -> sds_core::Result<()> {
    let id = "restore";
    let path = dir.join("restore.db");
    let snapshot: Vec<u8> = (0..12_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    {
        let mut p = SqlitePersistence::open(&path, id, SqliteOptions::default())?;
        p.append_patch(b"first")?;
        p.checkpoint(None, &mut |_| {
            Ok(CheckpointOutput {
                snapshot: snapshot.clone(),
                referenced_hashes: Default::default(),
            })
        })?;
        let patches: Vec<Vec<u8>> = (0..10_000).map(patch).collect();
        p.append_patches(&patches)?;
        p.close()?;
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    for check_on_open in [true, false] {
        let start = Instant::now();
        let mut p = SqlitePersistence::open(
            &path,
            id,
            SqliteOptions {
                check_on_open,
                ..SqliteOptions::default()
            },
        )?;
        let opened = start.elapsed();
        let state = p.load_snapshot_and_patches()?;
        let restored = start.elapsed();
        assert_eq!(state.patches.len(), 10_000);
        println!(
            "| open ({:.1} MB file, check_on_open {check_on_open}) + read 12 MB snapshot and 10,000 patches | open {:.1} ms, total {:.1} ms |",
            size as f64 / 1e6,
            opened.as_secs_f64() * 1e3,
            restored.as_secs_f64() * 1e3,
        );
        p.close()?;
    }
    let start = Instant::now();
    let mut p = SqlitePersistence::open(&path, id, SqliteOptions::default())?;
    let outcome = p.checkpoint(Some(1), &mut |input| {
        Ok(CheckpointOutput {
            snapshot: snapshot
                .iter()
                .copied()
                .chain(input.patches.into_iter().flat_map(|(_, p)| p))
                .collect(),
            referenced_hashes: Default::default(),
        })
    })?;
    println!(
        "| checkpoint: hand over 10,000 patches, store a 12.6 MB snapshot, prune | {:.1} ms ({} pruned) |",
        start.elapsed().as_secs_f64() * 1e3,
        outcome.pruned_patches
    );
    p.close()?;
    destroy_store_files(dir, id)?;
    Ok(())
}
