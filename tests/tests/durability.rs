//! Durability of the local replica (issue 4, SPEC §18.13), on both backends, with real
//! processes and a real SQLite file:
//!
//! * a worker is SIGKILLed after an arbitrary number of acknowledged transactions, many times
//!   in a row; after each kill every acknowledged transaction is present, the store is
//!   consistent and the database passes `PRAGMA integrity_check`;
//! * two workers write the same store in one file at the same time; afterwards a third opener
//!   sees every change of both.

use sds_core::NewBackend;
use sds_scenarios::{BACKENDS, label_of, start};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_testkit::property::{SeededRng, seed_from_env};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const STORE: &str = "durable";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sds-durability-{name}-{}-{}",
        std::process::id(),
        std::thread::current()
            .name()
            .unwrap_or("t")
            .replace("::", "-")
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spawn_worker(
    path: &Path,
    backend: &str,
    first: u64,
    count: &str,
    checkpoint_bytes: usize,
) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sds-durability-worker"))
        .args([
            "write",
            path.to_str().unwrap(),
            STORE,
            backend,
            &first.to_string(),
            count,
        ])
        .arg(checkpoint_bytes.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the durability worker")
}

fn parse_ok(line: &str) -> Option<(u64, String)> {
    let mut parts = line.split_whitespace();
    (parts.next()? == "ok").then_some(())?;
    Some((parts.next()?.parse().ok()?, parts.next()?.to_owned()))
}

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut text);
    }
    text
}

/// Opens the store like a restarted process would and checks every acknowledged transaction.
fn verify<B: NewBackend>(path: &Path, acknowledged: &[(u64, String)]) -> Result<(), String> {
    let mut raw = SqlitePersistence::open(path, STORE, SqliteOptions::default())
        .map_err(|e| e.to_string())?;
    raw.integrity_check()
        .map_err(|e| format!("integrity check: {e}"))?;
    sds_core::Persistence::close(&mut raw).map_err(|e| e.to_string())?;
    let mut engine = start::<B>(path, STORE, 1 << 20).map_err(|e| format!("restart: {e}"))?;
    for (n, id) in acknowledged {
        let entry = engine
            .store()
            .entry(id)
            .ok_or_else(|| format!("acknowledged transaction {n} ({id}) was lost"))?;
        if entry.label() != label_of(*n) {
            return Err(format!("transaction {n}: label {:?}", entry.label()));
        }
    }
    sds_testkit::check_invariants(engine.store(), true)?;
    engine.stop().map_err(|e| format!("stop: {e}"))
}

fn verify_on(backend: &str, path: &Path, acknowledged: &[(u64, String)]) -> Result<(), String> {
    match backend {
        "yrs" => verify::<sds_yrs::YrsBackend>(path, acknowledged),
        "loro" => verify::<sds_loro::LoroBackend>(path, acknowledged),
        other => Err(format!("unknown backend {other}")),
    }
}

fn kill_rounds(backend: &str, rounds: u64) {
    let seed = seed_from_env();
    let mut rng = SeededRng::new(seed);
    let dir = temp_dir(&format!("kill-{backend}"));
    let path = dir.join("store.db");
    let mut acknowledged: Vec<(u64, String)> = Vec::new();
    for round in 0..rounds {
        // A small checkpoint threshold makes kills land inside checkpoints too.
        let mut child = spawn_worker(&path, backend, round * 10_000, "forever", 4_000);
        let wanted = 1 + rng.below(25);
        let stdout = child.stdout.take().unwrap();
        let mut seen = 0;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(ack) = parse_ok(&line) {
                acknowledged.push(ack);
                seen += 1;
                if seen == wanted {
                    break;
                }
            }
        }
        if seen < wanted {
            let status = child.wait().unwrap();
            panic!(
                "seed {seed}, round {round}: the worker ended early ({status}): {}",
                stderr_of(&mut child)
            );
        }
        // SIGKILL while the worker is in the middle of its next transactions.
        child.kill().unwrap();
        child.wait().unwrap();
        if let Err(e) = verify_on(backend, &path, &acknowledged) {
            panic!("seed {seed}, {backend}, after kill {round}: {e}");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn acknowledged_transactions_survive_sigkill_on_every_backend() {
    for backend in BACKENDS {
        kill_rounds(backend, 60);
    }
}

#[test]
fn two_processes_writing_one_file_lose_nothing() {
    for backend in BACKENDS {
        let dir = temp_dir(&format!("two-{backend}"));
        let path = dir.join("store.db");
        // Tiny checkpoint thresholds: both processes checkpoint many times, in both orders.
        let mut workers = [
            spawn_worker(&path, backend, 0, "300", 2_000),
            spawn_worker(&path, backend, 100_000, "300", 3_000),
        ];
        let mut acknowledged = Vec::new();
        for worker in &mut workers {
            let stdout = worker.stdout.take().unwrap();
            let lines: Vec<String> = BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .collect();
            let status = worker.wait().unwrap();
            assert!(
                status.success(),
                "{backend}: a worker failed: {}",
                stderr_of(worker)
            );
            assert_eq!(lines.last().map(String::as_str), Some("stopped"));
            acknowledged.extend(lines.iter().filter_map(|l| parse_ok(l)));
        }
        assert_eq!(acknowledged.len(), 600);
        if let Err(e) = verify_on(backend, &path, &acknowledged) {
            panic!("{backend}: {e}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
