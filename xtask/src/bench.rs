//! `cargo xtask bench`: builds `sds-bench` in release mode, runs every workload for every
//! implementation in its own process (median of several runs), and writes
//! `target/bench/results.json` and `docs/BENCHMARKS.md`.

use crate::{run, workspace_root};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

/// Implementation pairs: each sds backend next to the raw library it wraps.
const PAIRS: &[(&str, &str, &str)] = &[
    ("sds-yrs", "raw-yrs", "yrs"),
    ("sds-loro", "raw-loro", "loro"),
];

/// Workloads that measure a fixed-size scenario and run once, not per N.
const FIXED_SIZE: &[&str] = &["append_child_1k", "append_child_100k"];

#[derive(Debug, Clone, Default)]
struct Measurement {
    ms: f64,
    rss_kb: u64,
    bytes: Option<u64>,
}

fn parse(line: &str) -> Option<Measurement> {
    let mut m = Measurement::default();
    for pair in line.split_whitespace() {
        let (key, value) = pair.split_once('=')?;
        match key {
            "ms" => m.ms = value.parse().ok()?,
            "rss_kb" => m.rss_kb = value.parse().ok()?,
            "bytes" => m.bytes = value.parse().ok(),
            _ => {}
        }
    }
    Some(m)
}

fn measure(
    binary: &str,
    workload: &str,
    implementation: &str,
    n: usize,
    repeats: usize,
) -> Result<Measurement, String> {
    let mut runs = Vec::new();
    for _ in 0..repeats {
        let output = Command::new(binary)
            .args(["run", workload, implementation, &n.to_string()])
            .output()
            .map_err(|e| format!("cannot run {binary}: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "{workload} {implementation} {n}: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        runs.push(parse(stdout.trim()).ok_or_else(|| format!("unreadable output: {stdout}"))?);
    }
    runs.sort_by(|a, b| a.ms.total_cmp(&b.ms));
    Ok(runs[runs.len() / 2].clone())
}

pub(crate) fn run_benchmarks(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: &[usize] = if quick {
        &[1_000, 10_000]
    } else {
        &[10_000, 100_000]
    };
    let repeats = if quick { 1 } else { 3 };
    run(
        "build sds-bench",
        "cargo",
        &["build", "--release", "-p", "sds-bench"],
        &[],
    )?;
    let binary = workspace_root().join("target/release/sds-bench");
    let binary = binary.to_string_lossy().into_owned();
    let list = Command::new(&binary)
        .arg("list")
        .output()
        .map_err(|e| format!("cannot run sds-bench: {e}"))?;
    let workloads: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_owned)
        .collect();

    // (workload, n, implementation) -> measurement
    let mut results: BTreeMap<(String, usize, String), Measurement> = BTreeMap::new();
    for workload in &workloads {
        let ns: Vec<usize> = if FIXED_SIZE.contains(&workload.as_str()) {
            vec![0]
        } else if workload.starts_with("restore_") {
            // The restore target is stated for the largest store only.
            sizes.last().copied().into_iter().collect()
        } else {
            sizes.to_vec()
        };
        for &n in &ns {
            for (sds, raw, _) in PAIRS {
                for implementation in [sds, raw] {
                    eprintln!("--> {workload} {implementation} n={n}");
                    let m = measure(&binary, workload, implementation, n, repeats)?;
                    results.insert((workload.clone(), n, (*implementation).to_owned()), m);
                }
            }
        }
    }
    // The durable replica (sds-sync over sds-sqlite) has no raw counterpart.
    let durable = Command::new(&binary)
        .arg("list-durable")
        .output()
        .map_err(|e| format!("cannot run sds-bench: {e}"))?;
    for workload in String::from_utf8_lossy(&durable.stdout).lines() {
        for (sds, _, _) in PAIRS {
            for &n in sizes {
                eprintln!("--> {workload} {sds} n={n}");
                let m = measure(&binary, workload, sds, n, repeats)?;
                results.insert((workload.to_owned(), n, (*sds).to_owned()), m);
            }
        }
    }
    let out_dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    std::fs::write(out_dir.join("results.json"), to_json(&results)).map_err(|e| e.to_string())?;
    let markdown = to_markdown(&results, sizes, quick);
    if quick {
        println!("{markdown}");
    } else {
        std::fs::write(workspace_root().join("docs/BENCHMARKS.md"), markdown)
            .map_err(|e| e.to_string())?;
        eprintln!("==> wrote docs/BENCHMARKS.md and target/bench/results.json");
    }
    Ok(())
}

fn to_json(results: &BTreeMap<(String, usize, String), Measurement>) -> String {
    let rows: Vec<String> = results
        .iter()
        .map(|((w, n, i), m)| {
            format!(
                "  {{\"workload\": \"{w}\", \"n\": {n}, \"impl\": \"{i}\", \"ms\": {:.3}, \"rss_kb\": {}, \"bytes\": {}}}",
                m.ms,
                m.rss_kb,
                m.bytes.map_or("null".to_owned(), |b| b.to_string())
            )
        })
        .collect();
    format!("[\n{}\n]\n", rows.join(",\n"))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

fn commit() -> String {
    Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn to_markdown(
    results: &BTreeMap<(String, usize, String), Measurement>,
    sizes: &[usize],
    quick: bool,
) -> String {
    let get = |w: &str, n: usize, i: &str| results.get(&(w.to_owned(), n, i.to_owned()));
    let mut md = String::new();
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(
        md,
        "Generated by `cargo xtask bench`{} on {} (commit `{}`). Each figure is the median of {} \
         runs, each run in its own process. Times are of the measured section only; the ratio \
         compares sds with the raw CRDT library doing the equivalent map operations in the same \
         run, which is what the targets refer to (the machine is shared and noisy, so absolute \
         times vary).\n",
        if quick { " --quick" } else { "" },
        machine(),
        commit(),
        if quick { 1 } else { 3 }
    );
    for (sds, raw, lib) in PAIRS {
        let _ = writeln!(md, "## {sds} vs raw {lib}\n");
        let _ = writeln!(md, "| workload | N | {sds} | raw {lib} | ratio | notes |");
        let _ = writeln!(md, "|---|---:|---:|---:|---:|---|");
        for (workload, note) in [
            (
                "create_one_tx",
                "create N items under Root in one transaction",
            ),
            (
                "create_tx_per_item",
                "create N items, one transaction (and patch) each",
            ),
            ("set_labels", "set N labels in one transaction"),
            ("move_tenth", "move N/10 items into another item"),
            ("delete_purge_tenth", "delete N/10 items, then purge them"),
            (
                "snapshot_encode",
                "`as_binary` (gzip included) vs raw full-state encode; bytes = snapshot size",
            ),
            (
                "snapshot_decode",
                "`from_binary` incl. reading every entry vs raw decode + apply",
            ),
            (
                "full_patch_export_apply",
                "full-state patch into a fresh replica",
            ),
            (
                "delta_100",
                "100 label changes as one delta patch, export + apply",
            ),
            (
                "single_change_export",
                "per change: one label edit committed and its patch produced (ms); bytes = patch size",
            ),
            (
                "peak_rss_build",
                "build N items with labels; compare the RSS table below",
            ),
        ] {
            for &n in sizes {
                let (Some(a), Some(b)) = (get(workload, n, sds), get(workload, n, raw)) else {
                    continue;
                };
                let bytes = match (a.bytes, b.bytes) {
                    (Some(x), Some(y)) => format!(" ({x} B vs {y} B)"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    md,
                    "| {workload} | {n} | {:.2} ms | {:.2} ms | {:.2}× | {note}{bytes} |",
                    a.ms,
                    b.ms,
                    a.ms / b.ms.max(1e-9)
                );
            }
        }
        for (workload, note) in [
            (
                "restore_10k_label_patches",
                "open a durable store (snapshot of N items) + 10,000 pending label-edit patches; raw = decode + apply the same updates",
            ),
            (
                "restore_10k_creation_patches",
                "the same with 10,000 pending patches that each create an entry",
            ),
        ] {
            if let Some(&n) = sizes.last()
                && let (Some(a), Some(b)) = (get(workload, n, sds), get(workload, n, raw))
            {
                let _ = writeln!(
                    md,
                    "| {workload} | {n} | {:.2} ms | {:.2} ms | {:.2}× | {note} |",
                    a.ms,
                    b.ms,
                    a.ms / b.ms.max(1e-9)
                );
            }
        }
        let _ = writeln!(md, "\n### Appending to a large flat container ({sds})\n");
        let _ = writeln!(
            md,
            "| children before | ms per appended child (own transaction) | raw {lib} |"
        );
        let _ = writeln!(md, "|---:|---:|---:|");
        for (workload, label) in [
            ("append_child_1k", "1,000"),
            ("append_child_100k", "100,000"),
        ] {
            if let (Some(a), Some(b)) = (get(workload, 0, sds), get(workload, 0, raw)) {
                let _ = writeln!(md, "| {label} | {:.4} | {:.4} |", a.ms, b.ms);
            }
        }
        if let (Some(small), Some(large)) = (
            get("append_child_1k", 0, sds),
            get("append_child_100k", 0, sds),
        ) {
            let _ = writeln!(
                md,
                "\nThe 100,000th child costs {:.2}× the 1,000th (target: at most 2×).",
                large.ms / small.ms.max(1e-9)
            );
        }
        let _ = writeln!(
            md,
            "\n### Durable replica ({sds} over sds-sqlite, synchronous=NORMAL)\n"
        );
        let _ = writeln!(
            md,
            "| N | durable single-change transactions | batched (100 per transaction) | database bytes per entry |"
        );
        let _ = writeln!(md, "|---:|---:|---:|---:|");
        for &n in sizes {
            let single = get("durable_tx_single", n, sds);
            let batched = get("durable_tx_batched", n, sds);
            let size = get("db_bytes_per_entry", n, sds);
            if let (Some(single), Some(batched), Some(size)) = (single, batched, size) {
                let _ = writeln!(
                    md,
                    "| {n} | {:.0}/s ({:.3} ms each) | {:.0} changes/s | {} B |",
                    1000.0 / single.ms.max(1e-9),
                    single.ms,
                    1000.0 / batched.ms.max(1e-9),
                    size.bytes.unwrap_or(0)
                );
            }
        }
        let _ = writeln!(md, "\n### Peak RSS ({sds})\n");
        let _ = writeln!(md, "| N | {sds} | raw {lib} | ratio |");
        let _ = writeln!(md, "|---:|---:|---:|---:|");
        for &n in sizes {
            if let (Some(a), Some(b)) =
                (get("peak_rss_build", n, sds), get("peak_rss_build", n, raw))
            {
                let _ = writeln!(
                    md,
                    "| {n} | {:.1} MB | {:.1} MB | {:.2}× |",
                    a.rss_kb as f64 / 1024.0,
                    b.rss_kb as f64 / 1024.0,
                    a.rss_kb as f64 / (b.rss_kb as f64).max(1.0)
                );
            }
        }
        let _ = writeln!(md);
    }
    md
}
