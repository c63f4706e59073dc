//! `sds-durability-worker write <db> <store-id> <backend> <first> <count|forever> <checkpoint-bytes>`
//!
//! Runs workload transactions `first, first+1, …` on a durable store and prints
//! `ok <n> <id>` (flushed) after each transaction returned, `stopped` after a clean stop. The
//! durability scenarios SIGKILL it at arbitrary moments and check that every reported
//! transaction survived.

use sds_core::NewBackend;
use sds_scenarios::{start, workload_step};
use std::io::Write;
use std::path::Path;

fn run<B: NewBackend>(
    path: &Path,
    store_id: &str,
    first: u64,
    count: Option<u64>,
    threshold: usize,
) -> Result<(), String> {
    let mut engine = start::<B>(path, store_id, threshold).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let mut previous: Option<String> = None;
    let mut n = first;
    while count.is_none_or(|c| n < first + c) {
        let id = workload_step(&mut engine, n, previous.as_deref())
            .map_err(|e| format!("transaction {n}: {e}"))?;
        writeln!(out, "ok {n} {id}")
            .and_then(|()| out.flush())
            .map_err(|e| e.to_string())?;
        previous = Some(id);
        n += 1;
    }
    engine.stop().map_err(|e| e.to_string())?;
    writeln!(out, "stopped")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["write", path, store, backend, first, count, threshold] => {
            let parsed = (first.parse::<u64>(), threshold.parse::<usize>());
            let count = if *count == "forever" { Ok(None) } else { count.parse::<u64>().map(Some) };
            match (parsed, count) {
                ((Ok(first), Ok(threshold)), Ok(count)) => match *backend {
                    "yrs" => run::<sds_yrs::YrsBackend>(Path::new(path), store, first, count, threshold),
                    "loro" => run::<sds_loro::LoroBackend>(Path::new(path), store, first, count, threshold),
                    other => Err(format!("unknown backend '{other}'")),
                },
                _ => Err("first, count and checkpoint-bytes must be numbers".into()),
            }
        }
        _ => Err("usage: sds-durability-worker write <db> <store-id> <backend> <first> <count|forever> <checkpoint-bytes>".into()),
    };
    if let Err(message) = result {
        eprintln!("sds-durability-worker: {message}");
        std::process::exit(1);
    }
}
