//! `cargo xtask bench`: builds `sds-bench` in release mode, runs every workload for every
//! implementation in its own process (median of several runs), and writes
//! `target/bench/results.json` and `docs/BENCHMARKS.md`. `--cli` runs only the CLI section
//! (whole `sds` processes on a 100,000-entry store) and prints its table.
//! `--sidecar` runs only the sidecar section (webhook latency and throughput).
//! `--server` runs only the server section (`sds-server` under load: idle connections, fan-out,
//! latency, catch-up) and prints its table. `--only <workload>[,<workload>…]` measures those
//! workloads again; it and `--cli` merge their figures into the last full run's stored results
//! and rewrite docs/BENCHMARKS.md, naming what was re-measured at which commit. `--report`
//! rewrites docs/BENCHMARKS.md from the stored results without measuring anything.

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

#[derive(Debug, Clone, Default, PartialEq)]
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

/// Measures one workload of `sds-bench` for every implementation pair and size.
fn measure_workload(
    binary: &str,
    workload: &str,
    sizes: &[usize],
    repeats: usize,
    results: &mut BTreeMap<(String, usize, String), Measurement>,
) -> Result<(), String> {
    let ns: Vec<usize> = if FIXED_SIZE.contains(&workload) {
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
                let m = measure(binary, workload, implementation, n, repeats)?;
                results.insert((workload.to_owned(), n, (*implementation).to_owned()), m);
            }
        }
    }
    Ok(())
}

/// Builds `sds-bench` in release mode and returns the path of its binary.
fn build_bench_binary() -> Result<String, String> {
    run(
        "build sds-bench",
        "cargo",
        &["build", "--release", "-p", "sds-bench"],
        &[],
    )?;
    let binary = workspace_root().join("target/release/sds-bench");
    Ok(binary.to_string_lossy().into_owned())
}

/// The value after `flag` (`--only a,b`) or of `flag=value`.
fn option_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let prefix = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, arg)| {
        if arg == flag {
            args.get(i + 1).map(String::as_str)
        } else {
            arg.strip_prefix(&prefix)
        }
    })
}

/// Merges re-measured `results` into those of the last full run (`target/bench/results.json`)
/// and writes docs/BENCHMARKS.md again: the workload and CLI tables from the merged results,
/// the server section from `target/bench/server.json`, the sidecar section as it stands. The
/// header keeps the full run's commit and names what was measured again, and at which commit.
/// `what` names the re-measured part for the header; `None` only rewrites the report.
fn merge_into_report(
    results: BTreeMap<(String, usize, String), Measurement>,
    what: Option<&str>,
) -> Result<(), String> {
    let out_dir = workspace_root().join("target/bench");
    let stored = |name: &str| {
        std::fs::read_to_string(out_dir.join(name)).map_err(|e| {
            format!("cannot read target/bench/{name} ({e}): run the full `cargo xtask bench` first")
        })
    };
    let mut merged = from_json(&stored("results.json")?)?;
    merged.extend(results);
    let server_results = server::from_json(&stored("server.json")?)?;
    let report_path = workspace_root().join("docs/BENCHMARKS.md");
    let report = std::fs::read_to_string(&report_path).map_err(|e| e.to_string())?;
    let sidecar = report
        .find("## sds-sidecar")
        .map(|at| report[at..].to_owned())
        .ok_or("docs/BENCHMARKS.md has no sidecar section")?;
    let header = report
        .lines()
        .find(|line| line.starts_with("Generated by"))
        .ok_or("docs/BENCHMARKS.md has no header")?;
    let mut markdown = to_markdown(&merged, &[10_000, 100_000], false);
    let fresh_header = markdown
        .lines()
        .find(|line| line.starts_with("Generated by"))
        .map(str::to_owned)
        .unwrap_or_default();
    let header = match what {
        Some(what) => format!(
            "{header} Re-measured with `cargo xtask bench` at commit `{}`: {what}.",
            commit()
        ),
        None => header.to_owned(),
    };
    markdown = markdown.replacen(&fresh_header, &header, 1);
    markdown.push_str(&server::markdown(&server_results));
    markdown.push_str(&sidecar);
    std::fs::write(out_dir.join("results.json"), to_json(&merged)).map_err(|e| e.to_string())?;
    std::fs::write(&report_path, markdown).map_err(|e| e.to_string())?;
    eprintln!("==> merged into docs/BENCHMARKS.md and target/bench/results.json");
    Ok(())
}

/// Reads what [`to_json`] wrote.
fn from_json(text: &str) -> Result<BTreeMap<(String, usize, String), Measurement>, String> {
    let mut results = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| l.starts_with('{')) {
        let fields = json_fields(line);
        let field = |key: &str| {
            fields
                .get(key)
                .cloned()
                .ok_or_else(|| format!("results.json: no {key} in {line}"))
        };
        let number = |key: &str| -> Result<f64, String> {
            field(key)?
                .parse::<f64>()
                .map_err(|_| format!("results.json: {key} is not a number in {line}"))
        };
        results.insert(
            (field("workload")?, number("n")? as usize, field("impl")?),
            Measurement {
                ms: number("ms")?,
                rss_kb: number("rss_kb")? as u64,
                bytes: field("bytes")?.parse::<u64>().ok(),
            },
        );
    }
    Ok(results)
}

/// The members of a one-line JSON object of plain strings and numbers, as written by this
/// module (no nesting, no escapes), with the quotes of strings removed.
fn json_fields(line: &str) -> BTreeMap<String, String> {
    let inner = line
        .trim_end_matches(',')
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}');
    inner
        .split(", \"")
        .filter_map(|member| {
            let (key, value) = member.split_once("\": ")?;
            Some((
                key.trim_matches('"').to_owned(),
                value.trim().trim_matches('"').to_owned(),
            ))
        })
        .collect()
}

pub(crate) fn run_benchmarks(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    if args.iter().any(|a| a == "--server") {
        // Only the server section: printed, and kept in target/bench/server.{md,json}.
        let results = server::benchmarks(quick)?;
        let markdown = server::markdown(&results);
        let out_dir = workspace_root().join("target/bench");
        std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
        std::fs::write(out_dir.join("server.json"), server::to_json(&results))
            .map_err(|e| e.to_string())?;
        std::fs::write(out_dir.join("server.md"), &markdown).map_err(|e| e.to_string())?;
        println!("{markdown}");
        return Ok(());
    }
    if args.iter().any(|a| a == "--report") {
        // Rewrites docs/BENCHMARKS.md from the stored results, measuring nothing.
        return merge_into_report(BTreeMap::new(), None);
    }
    if args.iter().any(|a| a == "--sidecar") {
        println!("{}", sidecar_benchmarks(quick)?);
        return Ok(());
    }
    if args.iter().any(|a| a == "--cli") {
        // Only the CLI section: printed, kept in target/bench/cli.md, and merged into the
        // stored results and docs/BENCHMARKS.md when a full run stored them.
        let mut results = BTreeMap::new();
        cli_benchmarks(quick, &mut results)?;
        let mut markdown = String::new();
        cli_markdown(&mut markdown, &results);
        let out_dir = workspace_root().join("target/bench");
        std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
        std::fs::write(out_dir.join("cli.md"), &markdown).map_err(|e| e.to_string())?;
        println!("{markdown}");
        if !quick {
            merge_into_report(results, Some("the CLI and MCP section"))?;
        }
        return Ok(());
    }
    if let Some(only) = option_value(args, "--only") {
        // Re-measures the named workloads (every implementation and size of the full run)
        // and merges them into the stored results and docs/BENCHMARKS.md.
        let binary = build_bench_binary()?;
        let (sizes, repeats): (&[usize], usize) = if quick {
            (&[1_000, 10_000], 1)
        } else {
            (&[10_000, 100_000], 3)
        };
        let mut results = BTreeMap::new();
        for workload in only.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            measure_workload(&binary, workload, sizes, repeats, &mut results)?;
        }
        for ((workload, n, implementation), m) in &results {
            println!("{workload} n={n} {implementation}: {:.3} ms", m.ms);
        }
        if !quick {
            merge_into_report(results, Some(&format!("`{}`", only.replace(',', "`, `"))))?;
        }
        return Ok(());
    }
    let sizes: &[usize] = if quick {
        &[1_000, 10_000]
    } else {
        &[10_000, 100_000]
    };
    let repeats = if quick { 1 } else { 3 };
    let binary = build_bench_binary()?;
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
        measure_workload(&binary, workload, sizes, repeats, &mut results)?;
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
    cli_benchmarks(quick, &mut results)?;
    let server_results = server::benchmarks(quick)?;
    let sidecar = sidecar_benchmarks(quick)?;
    let out_dir = workspace_root().join("target/bench");
    std::fs::create_dir_all(&out_dir).map_err(|e| e.to_string())?;
    std::fs::write(out_dir.join("results.json"), to_json(&results)).map_err(|e| e.to_string())?;
    std::fs::write(
        out_dir.join("server.json"),
        server::to_json(&server_results),
    )
    .map_err(|e| e.to_string())?;
    let mut markdown = to_markdown(&results, sizes, quick);
    markdown.push_str(&server::markdown(&server_results));
    markdown.push_str(&sidecar);
    if quick {
        println!("{markdown}");
    } else {
        std::fs::write(workspace_root().join("docs/BENCHMARKS.md"), markdown)
            .map_err(|e| e.to_string())?;
        eprintln!("==> wrote docs/BENCHMARKS.md and target/bench/results.json");
    }
    Ok(())
}

/// The sidecar section (issue 7): `crates/sds-sidecar/examples/latency.rs` (release) runs a
/// server, a peer, the sidecar and a webhook receiver in one process on 127.0.0.1 and prints
/// its `paced:` and `burst:` lines, which become the table.
fn sidecar_benchmarks(quick: bool) -> Result<String, String> {
    run(
        "build the sidecar latency benchmark",
        "cargo",
        &[
            "build",
            "--release",
            "-p",
            "sds-sidecar",
            "--example",
            "latency",
        ],
        &[],
    )?;
    let binary = workspace_root().join("target/release/examples/latency");
    let (paced, burst) = if quick {
        ("200", "400")
    } else {
        ("1000", "2000")
    };
    let mut md = String::from(
        "## sds-sidecar

A peer changes a store through `sds-server`; the sidecar (its own \
         replica, SQLite outbox) POSTs a `create` webhook per change to a receiver. Latency \
         is from the start of the peer's transaction to the arrival of the POST, at 100 \
         changes/s; throughput is a burst of changes made as fast as the peer can, until the \
         last POST arrived. Server, peer, sidecar and receiver share this machine's two \
         cores in one process (release build).\n\n\
         | backend | paced (target: p95 < 2 s at 100 changes/s) | burst |\n|---|---|---|\n",
    );
    for backend in ["yrs", "loro"] {
        eprintln!("--> sidecar {backend}");
        let output = Command::new(&binary)
            .args([paced, burst, backend])
            .output()
            .map_err(|e| format!("cannot run the sidecar benchmark: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            return Err(format!(
                "sidecar benchmark ({backend}): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let line = |prefix: &str| {
            stdout
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix(prefix))
                .map(|l| l.trim().to_owned())
                .ok_or_else(|| format!("sidecar benchmark ({backend}): no '{prefix}' line"))
        };
        let _ = writeln!(
            md,
            "| sds-{backend} | {} | {} |",
            line("paced:")?,
            line("burst:")?
        );
    }
    md.push('\n');
    Ok(md)
}

/// The results as JSON; times keep their full precision (several workloads take microseconds,
/// and the report is written again from these figures by `--only`, `--cli` and `--report`).
fn to_json(results: &BTreeMap<(String, usize, String), Measurement>) -> String {
    let rows: Vec<String> = results
        .iter()
        .map(|((w, n, i), m)| {
            format!(
                "  {{\"workload\": \"{w}\", \"n\": {n}, \"impl\": \"{i}\", \"ms\": {}, \"rss_kb\": {}, \"bytes\": {}}}",
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

/// Milliseconds for the table: microseconds below one millisecond, so that small figures keep
/// their precision.
fn duration(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.1} µs", ms * 1000.0)
    } else {
        format!("{ms:.2} ms")
    }
}

/// The workloads compared with the raw libraries, with what they measure. The restore
/// workloads run at the largest size only.
const COMPARED: &[(&str, &str)] = &[
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
        "per change: one label edit committed and its patch produced; bytes = patch size",
    ),
    (
        "peak_rss_build",
        "build N items with labels; compare the RSS tables below",
    ),
    (
        "restore_10k_label_patches",
        "open a durable store (snapshot of N items) + 10,000 pending label-edit patches; raw = decode + apply the same updates",
    ),
    (
        "restore_10k_creation_patches",
        "the same with 10,000 pending patches that each create an entry",
    ),
];

/// The table of every compared workload on both backends, each next to its raw library.
fn comparison_table(
    md: &mut String,
    results: &BTreeMap<(String, usize, String), Measurement>,
    sizes: &[usize],
) {
    let get = |w: &str, n: usize, i: &str| results.get(&(w.to_owned(), n, i.to_owned()));
    let _ = writeln!(md, "## Both backends, each next to its raw CRDT library\n");
    let mut header = String::from("| workload | N |");
    let mut rule = String::from("|---|---:|");
    for (sds, _, lib) in PAIRS {
        let _ = write!(header, " {sds} | raw {lib} | ratio |");
        rule.push_str("---:|---:|---:|");
    }
    let _ = writeln!(md, "{header} notes |\n{rule}---|");
    for (workload, note) in COMPARED {
        let sizes = if workload.starts_with("restore_") {
            &sizes[sizes.len().saturating_sub(1)..]
        } else {
            sizes
        };
        for &n in sizes {
            let mut row = format!("| {workload} | {n} |");
            let mut bytes = Vec::new();
            let mut any = false;
            for (sds, raw, lib) in PAIRS {
                match (get(workload, n, sds), get(workload, n, raw)) {
                    (Some(a), Some(b)) => {
                        any = true;
                        let _ = write!(
                            row,
                            " {} | {} | {:.2}× |",
                            duration(a.ms),
                            duration(b.ms),
                            a.ms / b.ms.max(1e-9)
                        );
                        if let (Some(x), Some(y)) = (a.bytes, b.bytes) {
                            bytes.push(format!("{lib}: {x} B vs {y} B"));
                        }
                    }
                    _ => row.push_str(" — | — | — |"),
                }
            }
            if !any {
                continue;
            }
            let bytes = if bytes.is_empty() {
                String::new()
            } else {
                format!(" ({})", bytes.join("; "))
            };
            let _ = writeln!(md, "{row} {note}{bytes} |");
        }
    }
    let _ = writeln!(md);
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
    comparison_table(&mut md, results, sizes);
    for (sds, raw, lib) in PAIRS {
        let _ = writeln!(md, "## {sds}");
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
    cli_markdown(&mut md, results);
    md
}

// ---------------------------------------------------------------------------------------------
// CLI (issue 5): wall time of whole `sds` processes on a store of 100,000 entries.
// ---------------------------------------------------------------------------------------------

/// Entries of the CLI benchmark store: 1,000 folders with 99 items each.
const CLI_FOLDERS: usize = 1_000;
const CLI_ITEMS_PER_FOLDER: usize = 99;
const CLI_ENTRIES: usize = CLI_FOLDERS * (CLI_ITEMS_PER_FOLDER + 1);

/// CLI workloads: (workload, what is measured, target in ms).
const CLI_WORKLOADS: &[(&str, &str, f64)] = &[
    (
        "cli_import",
        "`sds store import` of a 100,000-entry JSON file into a new store",
        5_000.0,
    ),
    (
        "cli_entry_create",
        "`sds entry create --label x` on the 100,000-entry store, the store kept open by the background process",
        300.0,
    ),
    (
        "cli_tree_show",
        "`sds tree show` of the 100,000-entry store (output to /dev/null), the store kept open by the background process",
        300.0,
    ),
    (
        "cli_entry_create_in_process",
        "the same with `SDS_DAEMON=off`: the process restores the store, creates the entry and writes a checkpoint (what the first command of a session costs)",
        f64::INFINITY,
    ),
    (
        "cli_tree_show_in_process",
        "the same with `SDS_DAEMON=off`: restore and print",
        f64::INFINITY,
    ),
    (
        "mcp_entry_get_first",
        "`sds-mcp`: the first call, `sds_entry_list` of Root (opens the 100,000-entry store), request to response",
        f64::INFINITY,
    ),
    (
        "mcp_entry_get",
        "`sds-mcp`: a later `sds_entry_get` call on the open store (median of 50), request to response",
        50.0,
    ),
];

/// Calls of `sds_entry_get` after the first one in the MCP measurement.
const MCP_CALLS: usize = 50;

/// A store JSON (SPEC §8.2) with [`CLI_ENTRIES`] entries below Root, written without a JSON
/// library (xtask has no dependencies).
fn write_cli_json(path: &std::path::Path) -> Result<(), String> {
    let mut json = String::with_capacity(CLI_ENTRIES * 200);
    json.push_str(
        "{\"Kind\":\"item\",\"Id\":\"00000000-0000-4000-8000-000000000000\",\"Label\":\"\",\
         \"Type\":\"text/plain\",\"ValueKind\":\"none\",\"Info\":{},\"innerEntries\":[",
    );
    for folder in 0..CLI_FOLDERS {
        if folder > 0 {
            json.push(',');
        }
        let _ = write!(
            json,
            "{{\"Kind\":\"item\",\"Id\":\"f{folder}\",\"Label\":\"folder {folder}\",\
             \"Type\":\"text/plain\",\"ValueKind\":\"none\",\"Info\":{{\"n\":{folder}}},\
             \"innerEntries\":["
        );
        for item in 0..CLI_ITEMS_PER_FOLDER {
            if item > 0 {
                json.push(',');
            }
            let _ = write!(
                json,
                "{{\"Kind\":\"item\",\"Id\":\"f{folder}i{item}\",\"Label\":\"item {folder}.{item}\",\
                 \"Type\":\"text/plain\",\"ValueKind\":\"literal\",\"Info\":{{}},\
                 \"innerEntries\":[],\"Value\":\"value {folder}.{item}\"}}"
            );
        }
        json.push_str("]}");
    }
    json.push_str("]}\n");
    std::fs::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs `sds` once and returns its wall time in ms (process start to exit).
/// Runs one `sds` command with `SDS_DAEMON=<daemon>` and returns its wall time.
fn time_sds(
    binary: &str,
    dir: &std::path::Path,
    backend: &str,
    daemon: &str,
    args: &[&str],
) -> Result<f64, String> {
    let start = std::time::Instant::now();
    let output = Command::new(binary)
        .env("SDS_DAEMON", daemon)
        .arg("--persistence-dir")
        .arg(dir)
        .args(["--backend", backend, "--store", "bench"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run {binary}: {e}"))?;
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    if !output.status.success() {
        return Err(format!(
            "sds {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(ms)
}

fn median(mut runs: Vec<f64>) -> Measurement {
    runs.sort_by(f64::total_cmp);
    Measurement {
        ms: runs[runs.len() / 2],
        ..Measurement::default()
    }
}

/// Builds `sds` in release mode, writes the 100,000-entry JSON file and measures the CLI
/// workloads on both backends (median of several runs each).
fn cli_benchmarks(
    quick: bool,
    results: &mut BTreeMap<(String, usize, String), Measurement>,
) -> Result<(), String> {
    let (import_runs, command_runs) = if quick { (1, 1) } else { (3, 5) };
    run(
        "build sds and sds-mcp",
        "cargo",
        &["build", "--release", "-p", "sds-cli", "-p", "sds-mcp"],
        &[],
    )?;
    let binary = workspace_root().join("target/release/sds");
    let binary = binary.to_string_lossy().into_owned();
    let mcp = workspace_root().join("target/release/sds-mcp");
    let work = workspace_root().join("target/bench/cli");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let input = work.join("entries-100k.json");
    write_cli_json(&input)?;
    let input = input.to_string_lossy().into_owned();
    for (sds, _, backend) in PAIRS {
        let mut imports = Vec::new();
        let mut store_dir = work.clone();
        for attempt in 0..import_runs {
            store_dir = work.join(format!("{backend}-{attempt}"));
            eprintln!("--> cli_import {sds} run {}", attempt + 1);
            imports.push(time_sds(
                &binary,
                &store_dir,
                backend,
                "off",
                &["store", "import", "--input", &input],
            )?);
        }
        results.insert(
            ("cli_import".to_owned(), CLI_ENTRIES, (*sds).to_owned()),
            median(imports),
        );
        // In-process first, then through the background process, which the first of those
        // commands starts (`on`) and the last is asked to stop.
        for (daemon, suffix) in [("off", "_in_process"), ("on", "")] {
            for (workload, args) in [
                ("cli_entry_create", &["entry", "create", "--label", "x"][..]),
                ("cli_tree_show", &["tree", "show"]),
            ] {
                let workload = format!("{workload}{suffix}");
                if daemon == "on" {
                    // Not measured: starts the background process, which restores the store.
                    time_sds(&binary, &store_dir, backend, daemon, &["store", "info"])?;
                }
                let mut runs = Vec::new();
                for attempt in 0..command_runs {
                    eprintln!("--> {workload} {sds} run {}", attempt + 1);
                    runs.push(time_sds(&binary, &store_dir, backend, daemon, args)?);
                }
                results.insert((workload, CLI_ENTRIES, (*sds).to_owned()), median(runs));
            }
        }
        stop_background_process(&store_dir)?;
        eprintln!("--> mcp_entry_get {sds}");
        let calls = if quick { 10 } else { MCP_CALLS };
        let (first, later) = mcp_entry_get(&mcp, &store_dir, backend, calls)?;
        for (workload, ms) in [("mcp_entry_get_first", first), ("mcp_entry_get", later)] {
            results.insert(
                (workload.to_owned(), CLI_ENTRIES, (*sds).to_owned()),
                median(vec![ms]),
            );
        }
    }
    Ok(())
}

/// Asks the `sds` background process of `dir` to stop and waits until its engines are
/// stopped (checkpoints written).
fn stop_background_process(dir: &std::path::Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::io::{Read as _, Write as _};
        let socket = dir.join(".sds-daemon.sock");
        let mut stream = std::os::unix::net::UnixStream::connect(&socket)
            .map_err(|e| format!("no background process at {}: {e}", socket.display()))?;
        let mut answer = Vec::new();
        stream
            .write_all(b"{\"stop\":true}\n")
            .and_then(|()| stream.read_to_end(&mut answer))
            .map_err(|e| format!("cannot stop the background process: {e}"))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Round trips of `sds_entry_get` through one `sds-mcp` process (JSON-RPC lines over stdio)
/// on the CLI benchmark's store: the first call, which opens the store, and the median of
/// `calls` later ones, each for another entry.
fn mcp_entry_get(
    binary: &std::path::Path,
    dir: &std::path::Path,
    backend: &str,
    calls: usize,
) -> Result<(f64, f64), String> {
    use std::io::{BufRead as _, BufReader, Write as _};
    let mut child = Command::new(binary)
        .arg("--persistence-dir")
        .arg(dir)
        .args(["--store", "bench", "--backend", backend])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let mut input = child.stdin.take().ok_or("sds-mcp has no stdin")?;
    let mut output = BufReader::new(child.stdout.take().ok_or("sds-mcp has no stdout")?);
    let mut request = |id: usize, method: &str, params: &str| -> Result<(f64, String), String> {
        let start = std::time::Instant::now();
        writeln!(
            input,
            r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#
        )
        .and_then(|()| input.flush())
        .map_err(|e| format!("sds-mcp: cannot write: {e}"))?;
        let (tail, end) = (format!(r#""id":{id},"#), format!(r#""id":{id}}}"#));
        loop {
            let mut line = String::new();
            if output
                .read_line(&mut line)
                .map_err(|e| format!("sds-mcp: cannot read: {e}"))?
                == 0
            {
                return Err(format!("sds-mcp exited before answering {method}"));
            }
            if line.contains(&tail) || line.contains(&end) {
                if line.contains(r#""isError":true"#) || line.contains(r#""error":"#) {
                    return Err(format!("sds-mcp: {method} failed: {}", line.trim()));
                }
                return Ok((start.elapsed().as_secs_f64() * 1000.0, line));
            }
        }
    };
    request(
        0,
        "initialize",
        r#"{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"xtask","version":"0"}}"#,
    )?;
    // The import gave the entries new ids: the first call lists Root's children (and opens
    // the store), the later ones get those entries one by one.
    let (first, listing) = request(
        1,
        "tools/call",
        r#"{"name":"sds_entry_list","arguments":{"StoreId":"bench","Id":"root","Fields":["Label"]}}"#,
    )?;
    // The result is JSON inside a JSON string: its quotes arrive escaped.
    let ids: Vec<&str> = listing
        .split(r#"\"Id\":\""#)
        .skip(1)
        .filter_map(|rest| rest.split(r#"\""#).next())
        .take(calls)
        .collect();
    if ids.len() < calls {
        return Err(format!("sds-mcp: Root lists {} entries", ids.len()));
    }
    let mut times = Vec::with_capacity(calls);
    for (call, id) in ids.iter().enumerate() {
        times.push(
            request(
                call + 2,
                "tools/call",
                &format!(
                    r#"{{"name":"sds_entry_get","arguments":{{"StoreId":"bench","Id":"{id}"}}}}"#
                ),
            )?
            .0,
        );
    }
    drop(input);
    let _ = child.wait();
    Ok((first, median(times).ms))
}

/// The "CLI" table of docs/BENCHMARKS.md.
fn cli_markdown(md: &mut String, results: &BTreeMap<(String, usize, String), Measurement>) {
    let get = |w: &str, i: &str| results.get(&(w.to_owned(), CLI_ENTRIES, i.to_owned()));
    let _ = writeln!(md, "## CLI and MCP\n");
    let _ = writeln!(
        md,
        "Wall time of one `sds` process from start to exit (release build, median of several \
         runs), on a store of {CLI_ENTRIES} entries ({CLI_FOLDERS} folders of \
         {CLI_ITEMS_PER_FOLDER} items) created by the import. A process that restores the \
         store itself (`_in_process` rows, and the first command on a store) decodes the whole \
         document — in the CRDT library alone about 45 % of its time for yrs — and stops the \
         engine when it is done (a command that changed the store writes a checkpoint). That \
         restore is why `sds` keeps large stores open in a background process per persistence \
         directory, started after a restore of 200 ms or more: the later commands send their \
         arguments over a Unix socket and print its answer (the `cli_entry_create` and \
         `cli_tree_show` rows). `sds-mcp` is one long-lived process that keeps its store \
         open the same way, so only its first call pays for the restore.\n"
    );
    let _ = writeln!(md, "| command | sds-yrs | sds-loro | target | notes |");
    let _ = writeln!(md, "|---|---:|---:|---:|---|");
    for (workload, note, target) in CLI_WORKLOADS {
        let (Some(yrs), Some(loro)) = (get(workload, "sds-yrs"), get(workload, "sds-loro")) else {
            continue;
        };
        let verdict = |m: &Measurement| if m.ms <= *target { "" } else { " ✗" };
        let target = if target.is_finite() {
            format!("< {target:.0} ms")
        } else {
            "—".to_owned()
        };
        let _ = writeln!(
            md,
            "| {workload} | {:.1} ms{} | {:.1} ms{} | {target} | {note} |",
            yrs.ms,
            verdict(yrs),
            loro.ms,
            verdict(loro),
        );
    }
    let _ = writeln!(md);
}

/// The server section (issue 6): a release `sds-server` and its load generator
/// (`crates/sds-server/examples/load.rs`) in separate processes on 127.0.0.1. Each scenario
/// starts its own server and prints one line of `key=value` results.
mod server {
    use crate::{run, workspace_root};
    use std::collections::BTreeMap;
    use std::fmt::Write as _;
    use std::process::Command;

    /// One scenario's results, by key.
    pub(super) type Results = Vec<BTreeMap<String, String>>;

    pub(super) fn benchmarks(quick: bool) -> Result<Results, String> {
        run(
            "build sds-server and its load generator",
            "cargo",
            &[
                "build",
                "--release",
                "-p",
                "sds-server",
                "--bin",
                "sds-server",
                "--example",
                "load",
            ],
            &[],
        )?;
        let root = workspace_root();
        let server = root.join("target/release/sds-server");
        let load = root.join("target/release/examples/load");
        let (connections, seconds, entries) = if quick {
            ("2000", "3", "10000")
        } else {
            ("10000", "10", "100000")
        };
        let scenarios: Vec<Vec<&str>> = vec![
            vec!["idle", "--connections", connections],
            vec!["fanout", "--room-size", "10"],
            vec!["fanout", "--room-size", "1000"],
            vec![
                "latency",
                "--clients",
                "100",
                "--rate",
                "1000",
                "--seconds",
                seconds,
            ],
            vec![
                "latency",
                "--clients",
                "100",
                "--rate",
                "1000",
                "--seconds",
                seconds,
                "--relay",
            ],
            vec!["catchup", "--entries", entries],
        ];
        let mut results = Vec::new();
        for scenario in scenarios {
            eprintln!("--> server {}", scenario.join(" "));
            let output = Command::new(&load)
                .arg("--server")
                .arg(&server)
                .args(&scenario)
                .output()
                .map_err(|e| format!("cannot run the load generator: {e}"))?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                return Err(format!(
                    "server {}: {}",
                    scenario.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            let line = stdout.lines().last().unwrap_or_default();
            eprintln!("    {line}");
            results.push(
                line.split_whitespace()
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            );
        }
        Ok(results)
    }

    /// Reads what [`to_json`] wrote.
    pub(super) fn from_json(text: &str) -> Result<Results, String> {
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with('{'))
            .map(super::json_fields)
            .collect())
    }

    pub(super) fn to_json(results: &Results) -> String {
        let rows: Vec<String> = results
            .iter()
            .map(|result| {
                let fields: Vec<String> = result
                    .iter()
                    .map(|(k, v)| match v.parse::<f64>() {
                        Ok(_) => format!("\"{k}\": {v}"),
                        Err(_) => format!("\"{k}\": \"{v}\""),
                    })
                    .collect();
                format!("  {{{}}}", fields.join(", "))
            })
            .collect();
        format!("[\n{}\n]\n", rows.join(",\n"))
    }

    fn number(value: &str) -> f64 {
        value.parse().unwrap_or(0.0)
    }

    /// `1234567` as `1,234,567`.
    fn grouped(value: f64) -> String {
        let digits = format!("{:.0}", value);
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    }

    pub(super) fn markdown(results: &Results) -> String {
        let find = |scenario: &str, key: &str, value: &str| {
            results.iter().find(|r| {
                r.get("scenario").map(String::as_str) == Some(scenario)
                    && r.get(key).map(String::as_str) == Some(value)
            })
        };
        let get =
            |r: &BTreeMap<String, String>, key: &str| r.get(key).map(|v| number(v)).unwrap_or(0.0);
        let mut md = String::new();
        let _ = writeln!(md, "## sds-server under load\n");
        let _ = writeln!(
            md,
            "`sds-server` (release) and the load generator `crates/sds-server/examples/load.rs` run \
             as two processes on this machine and share its cores; clients connect over \
             127.0.0.1. Each scenario starts a fresh server. Targets from issue 6.\n"
        );
        let _ = writeln!(md, "| measurement | result | target |");
        let _ = writeln!(md, "|---|---|---|");
        if let Some(r) = results
            .iter()
            .find(|r| r.get("scenario").map(String::as_str) == Some("idle"))
        {
            let _ = writeln!(
                md,
                "| idle WebSocket connections held (pure relay, rooms of 100) | {} connections: \
                 server RSS {:.1} MB ({:.1} MB before), {:.1} KB per connection | 10,000 under 300 MB |",
                grouped(get(r, "connections")),
                get(r, "rss_after_kb") / 1024.0,
                get(r, "rss_before_kb") / 1024.0,
                get(r, "bytes_per_connection") / 1024.0
            );
        }
        for (size, target) in [("10", "—"), ("1000", "≥ 200,000 deliveries/s")] {
            if let Some(r) = find("fanout", "room_size", size) {
                let _ = writeln!(
                    md,
                    "| fan-out in a room of {} (pure relay; {} senders × {} frames of {} B) | {} \
                     deliveries/s ({} deliveries in {:.0} ms) | {target} |",
                    grouped(get(r, "room_size")),
                    get(r, "senders"),
                    grouped(get(r, "frames")),
                    get(r, "frame_size"),
                    grouped(get(r, "deliveries_per_s")),
                    grouped(get(r, "deliveries")),
                    get(r, "ms")
                );
            }
        }
        for (mode, label, target) in [
            ("durable", "durable mode (yrs replica)", "p99 < 50 ms"),
            ("relay", "pure relay, for comparison", "—"),
        ] {
            if let Some(r) = find("latency", "mode", mode) {
                let _ = writeln!(
                    md,
                    "| send → receipt latency, {label}: {} real patches/s from {} writers into a \
                     {}-client room | p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms ({} receipts) | {target} |",
                    grouped(get(r, "rate")),
                    get(r, "writers"),
                    get(r, "clients"),
                    get(r, "p50_ms"),
                    get(r, "p99_ms"),
                    get(r, "max_ms"),
                    grouped(get(r, "samples"))
                );
            }
        }
        if let Some(r) = results
            .iter()
            .find(|r| r.get("scenario").map(String::as_str) == Some("catchup"))
        {
            let _ = writeln!(
                md,
                "| catch-up of a new peer joining a durable {}-entry store ({}; full state {:.1} MB) \
                 | replica loaded: state received in {:.0} ms, applied by the peer after {:.0} ms; \
                 replica cold (loaded by this join): {:.0} ms / {:.0} ms | < 2 s |",
                grouped(get(r, "entries")),
                r.get("backend").map_or("", String::as_str),
                get(r, "state_bytes") / 1_048_576.0,
                get(r, "warm_received_ms"),
                get(r, "warm_total_ms"),
                get(r, "cold_received_ms"),
                get(r, "cold_total_ms")
            );
        }
        let _ = writeln!(md);
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_results_read_back_as_written() {
        let mut results = BTreeMap::new();
        results.insert(
            ("create_one_tx".to_owned(), 10_000, "sds-yrs".to_owned()),
            Measurement {
                ms: 12.5,
                rss_kb: 4096,
                bytes: None,
            },
        );
        results.insert(
            ("snapshot_encode".to_owned(), 100_000, "raw-loro".to_owned()),
            Measurement {
                ms: 0.125,
                rss_kb: 1,
                bytes: Some(19_289_480),
            },
        );
        assert_eq!(from_json(&to_json(&results)).unwrap(), results);

        let server = vec![BTreeMap::from([
            ("scenario".to_owned(), "idle".to_owned()),
            ("connections".to_owned(), "10000".to_owned()),
            ("p99_ms".to_owned(), "12.22".to_owned()),
        ])];
        assert_eq!(
            server::from_json(&server::to_json(&server)).unwrap(),
            server
        );
    }
}
