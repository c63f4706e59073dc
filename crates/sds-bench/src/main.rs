//! `sds-bench`: one benchmark measurement per process, so that peak RSS belongs to exactly one
//! workload. `cargo xtask bench` runs the matrix and writes `docs/BENCHMARKS.md`.
//!
//! ```text
//! sds-bench list                       # workload names, one per line
//! sds-bench run <workload> <impl> <n>  # impl: sds-yrs | raw-yrs | sds-loro | raw-loro
//! ```
//!
//! `run` prints one line of `key=value` pairs: `ms` (time of the measured section), `rss_kb`
//! (peak resident set of the process), and workload-specific extras such as `bytes`.

mod durable;
mod raw_loro;
mod raw_yrs;
mod sds;

use std::time::Instant;

/// The workloads. Each is implemented for every implementation.
pub const WORKLOADS: &[&str] = &[
    "create_one_tx",
    "create_tx_per_item",
    "set_labels",
    "move_tenth",
    "delete_purge_tenth",
    "snapshot_encode",
    "snapshot_decode",
    "full_patch_export_apply",
    "delta_100",
    "append_child_1k",
    "append_child_100k",
    "single_change_export",
    "peak_rss_build",
    "restore_10k_label_patches",
    "restore_10k_creation_patches",
];

/// Workloads of the durable replica (sds-sync over sds-sqlite); they have no raw counterpart.
pub const DURABLE_WORKLOADS: &[&str] = &[
    "durable_tx_single",
    "durable_tx_batched",
    "db_bytes_per_entry",
];

/// Pending patches in the restore workloads.
pub const RESTORE_PATCHES: usize = 10_000;

/// Workloads that the sds implementations run through the durable replica (SQLite and the
/// engine) while the raw libraries run them in memory.
pub fn runs_durably(workload: &str) -> bool {
    DURABLE_WORKLOADS.contains(&workload) || workload.starts_with("restore_")
}

/// Appends made before measuring the append workloads: the first operations after building a
/// large container pay one-time costs (the allocator consolidating the freed build
/// transaction), which is not the marginal cost of a child.
pub const APPEND_WARMUP: usize = 100;
/// Appends measured by the append workloads (each in its own transaction).
pub const APPEND_MEASURED: usize = 1_000;

/// What a workload reports besides its time.
#[derive(Default)]
pub struct Extra {
    /// Bytes of the patch or snapshot the workload produced, if any.
    pub bytes: Option<usize>,
}

/// Measures `f`, returning milliseconds.
pub fn time<T>(f: impl FnOnce() -> T) -> (f64, T) {
    let start = Instant::now();
    let out = f();
    (start.elapsed().as_secs_f64() * 1000.0, out)
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["list"] => {
            for w in WORKLOADS {
                println!("{w}");
            }
        }
        ["list-durable"] => {
            for w in DURABLE_WORKLOADS {
                println!("{w}");
            }
        }
        ["run", workload, implementation, n] => {
            let Ok(n) = n.parse::<usize>() else {
                eprintln!("sds-bench: n must be a number");
                std::process::exit(2);
            };
            let durable = runs_durably(workload);
            let result = match *implementation {
                "sds-yrs" if durable => durable::run::<sds_yrs::YrsBackend>(workload, n),
                "sds-loro" if durable => durable::run::<sds_loro::LoroBackend>(workload, n),
                "sds-yrs" => sds::run(workload, n),
                "raw-yrs" => raw_yrs::run(workload, n),
                "sds-loro" => sds::run_generic::<sds_loro::LoroBackend>(workload, n),
                "raw-loro" => raw_loro::run(workload, n),
                other => Err(format!("unknown implementation '{other}'")),
            };
            match result {
                Ok((ms, extra)) => {
                    let mut line = format!("ms={ms:.6} rss_kb={}", peak_rss_kb());
                    if let Some(bytes) = extra.bytes {
                        line.push_str(&format!(" bytes={bytes}"));
                    }
                    println!("{line}");
                }
                Err(e) => {
                    eprintln!("sds-bench: {e}");
                    std::process::exit(1);
                }
            }
        }
        _ => {
            eprintln!(
                "usage: sds-bench list | sds-bench run <workload> <sds-yrs|raw-yrs|sds-loro|raw-loro> <n>"
            );
            std::process::exit(2);
        }
    }
}
