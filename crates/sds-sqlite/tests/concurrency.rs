//! Several connections, threads and processes on one file (SPEC §11.2, §11.3, §18.13): no
//! patch is lost, no clock is assigned twice, and the file stays sound after heavy use.

mod common;

use common::{TestDir, open};
use rusqlite::Connection;
use sds_core::{CheckpointInput, CheckpointOutput, Persistence};
use sds_sqlite::SqlitePersistence;
use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// A document as in the persistence suite: a set of payloads; its snapshot is the sorted
/// payloads joined by newlines (payloads here never contain one).
fn encode(document: &BTreeSet<String>) -> Vec<u8> {
    document
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

fn decode(bytes: &[u8]) -> BTreeSet<String> {
    let text = std::str::from_utf8(bytes).expect("utf-8 snapshot");
    text.split('\n')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A minimal engine: restores, appends its own changes, and checkpoints by merging.
struct Engine {
    provider: SqlitePersistence,
    document: BTreeSet<String>,
    known: Option<u64>,
}

impl Engine {
    fn start(path: &Path, store_id: &str) -> Self {
        let mut provider = open(path, store_id);
        let state = provider.load_snapshot_and_patches().expect("restore");
        let known = state.snapshot.as_ref().map(|(_, clock)| *clock);
        let mut document = state
            .snapshot
            .map(|(bytes, _)| decode(&bytes))
            .unwrap_or_default();
        for (_, patch) in state.patches {
            document.insert(String::from_utf8(patch).expect("utf-8 patch"));
        }
        Engine {
            provider,
            document,
            known,
        }
    }

    fn change(&mut self, payload: String) -> u64 {
        let clock = self
            .provider
            .append_patch(payload.as_bytes())
            .expect("append");
        self.document.insert(payload);
        clock
    }

    fn checkpoint(&mut self) {
        let document = &mut self.document;
        let outcome = self
            .provider
            .checkpoint(self.known, &mut |input: CheckpointInput| {
                if let Some(snapshot) = &input.foreign_snapshot {
                    document.extend(decode(snapshot));
                }
                for (_, patch) in input.patches {
                    document.insert(String::from_utf8(patch).expect("utf-8 patch"));
                }
                Ok(CheckpointOutput {
                    snapshot: encode(document),
                    referenced_hashes: HashSet::new(),
                })
            })
            .expect("checkpoint");
        self.known = Some(outcome.snapshot_clock);
    }
}

fn restored(path: &Path, store_id: &str) -> BTreeSet<String> {
    Engine::start(path, store_id).document
}

fn payloads(name: &str, count: usize) -> impl Iterator<Item = String> + '_ {
    (0..count).map(move |i| format!("{name} {i}"))
}

#[test]
fn threads_appending_and_checkpointing_concurrently_lose_nothing() {
    const PER_THREAD: usize = 400;
    let dir = TestDir::new();
    let path = dir.file("shared.db");
    drop(open(&path, "shared"));
    let workers: Vec<_> = ["a", "b", "c", "d", "other-store"]
        .into_iter()
        .enumerate()
        .map(|(index, name)| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store_id = if name == "other-store" {
                    name
                } else {
                    "shared"
                };
                let mut engine = Engine::start(&path, store_id);
                let mut clocks = Vec::new();
                for (i, payload) in payloads(name, PER_THREAD).enumerate() {
                    clocks.push(engine.change(payload));
                    // Two of the writers also checkpoint, at different rhythms.
                    if (index == 1 && i % 37 == 0) || (index == 3 && i % 50 == 25) {
                        engine.checkpoint();
                    }
                }
                (name, clocks)
            })
        })
        .collect();
    let mut all_clocks = BTreeSet::new();
    for worker in workers {
        let (name, clocks) = worker.join().expect("worker thread");
        assert!(
            clocks.windows(2).all(|w| w[0] < w[1]),
            "{name}'s clocks increase"
        );
        if name != "other-store" {
            for clock in clocks {
                assert!(all_clocks.insert(clock), "clock {clock} assigned twice");
            }
        } else {
            let expected: Vec<u64> = (1..=PER_THREAD as u64).collect();
            assert_eq!(clocks, expected, "another store's clocks are its own");
        }
    }
    let expected: BTreeSet<String> = ["a", "b", "c", "d"]
        .into_iter()
        .flat_map(|name| payloads(name, PER_THREAD))
        .collect();
    assert_eq!(restored(&path, "shared"), expected);
    assert_eq!(
        restored(&path, "other-store"),
        payloads("other-store", PER_THREAD).collect()
    );
    open(&path, "shared").integrity_check().expect("integrity");
}

const CHILD_PATH: &str = "SDS_SQLITE_TEST_CHILD_PATH";
const CHILD_NAME: &str = "SDS_SQLITE_TEST_CHILD_NAME";
const PER_PROCESS: usize = 1500;
const READY: &str = "sds-sqlite-child-ready";

/// The work of one child process: wait for the parent's "go", then append and checkpoint.
fn child(path: &Path, name: &str) {
    let mut engine = Engine::start(path, "shared");
    // libtest may have printed "test <name> ... " without a newline: the marker ends a line.
    println!("{READY}");
    std::io::stdout().flush().expect("flush");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).expect("go");
    for (i, payload) in payloads(name, PER_PROCESS).enumerate() {
        engine.change(payload);
        if i % 100 == 99 {
            engine.checkpoint();
        }
    }
    engine.checkpoint();
}

#[test]
fn two_processes_appending_and_checkpointing_lose_nothing() {
    if let (Ok(path), Ok(name)) = (std::env::var(CHILD_PATH), std::env::var(CHILD_NAME)) {
        child(Path::new(&path), &name);
        return;
    }
    let dir = TestDir::new();
    let path = dir.file("shared.db");
    let exe = std::env::current_exe().expect("test binary");
    let mut children: Vec<_> = ["first", "second"]
        .into_iter()
        .map(|name| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "two_processes_appending_and_checkpointing_lose_nothing",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_PATH, &path)
                .env(CHILD_NAME, name)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("spawn a child process")
        })
        .collect();
    // Start both only when both have opened the file, so their writes overlap.
    for child in &mut children {
        let stdout = child.stdout.as_mut().expect("stdout");
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        while !line.trim_end().ends_with(READY) {
            line.clear();
            assert!(
                reader.read_line(&mut line).expect("read") > 0,
                "child ended early"
            );
        }
    }
    for child in &mut children {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"go\n")
            .expect("go");
    }
    for child in children {
        let output = child.wait_with_output().expect("child");
        assert!(output.status.success(), "a child failed: {output:?}");
    }
    let expected: BTreeSet<String> = ["first", "second"]
        .into_iter()
        .flat_map(|name| payloads(name, PER_PROCESS))
        .collect();
    assert_eq!(restored(&path, "shared"), expected);
    open(&path, "shared").integrity_check().expect("integrity");
}

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let len = self.below(max) as usize;
        (0..len).map(|_| self.below(256) as u8).collect()
    }
}

#[test]
fn the_file_passes_the_integrity_check_after_heavy_use() {
    let dir = TestDir::new();
    let path = dir.file("heavy.db");
    let mut rng = Rng(0x5D5_5EED);
    let mut providers: Vec<SqlitePersistence> = ["a", "b", "a", "b"]
        .into_iter()
        .map(|id| open(&path, id))
        .collect();
    let mut known: Vec<Option<u64>> = vec![None; providers.len()];
    let mut hashes: Vec<String> = Vec::new();
    for step in 0..2500 {
        let who = rng.below(providers.len() as u64) as usize;
        let p = &mut providers[who];
        match rng.below(20) {
            0..=11 => {
                p.append_patch(&rng.bytes(2000)).expect("append");
            }
            12 => {
                let batch: Vec<Vec<u8>> = (0..rng.below(20)).map(|_| rng.bytes(300)).collect();
                p.append_patches(&batch).expect("append batch");
            }
            13..=15 => {
                let hash = format!("blob-{step}");
                p.save_value(&hash, &rng.bytes(60_000)).expect("save_value");
                hashes.push(hash);
            }
            16 | 17 => {
                let snapshot = rng.bytes(250_000);
                let referenced: HashSet<String> = hashes
                    .iter()
                    .filter(|_| rng.below(2) == 0)
                    .cloned()
                    .collect();
                let outcome = p
                    .checkpoint(known[who], &mut |_| {
                        Ok(CheckpointOutput {
                            snapshot: snapshot.clone(),
                            referenced_hashes: referenced.clone(),
                        })
                    })
                    .expect("checkpoint");
                known[who] = Some(outcome.snapshot_clock);
            }
            18 => {
                let referenced: HashSet<String> = hashes.iter().take(5).cloned().collect();
                p.delete_unreferenced_values(&referenced, std::time::Duration::ZERO)
                    .expect("delete");
            }
            _ => {
                let clock = p.load_snapshot().expect("load").map_or(0, |(_, c)| c);
                let patches = p.load_patches_since(clock).expect("load patches");
                assert!(patches.windows(2).all(|w| w[0].0 < w[1].0));
            }
        }
    }
    for p in &mut providers {
        p.integrity_check().expect("integrity check");
    }
    drop(providers);
    let conn = Connection::open(&path).unwrap();
    let result: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(result, "ok");
}

#[test]
fn connections_opening_a_new_file_at_once_initialise_it_once() {
    let dir = TestDir::new();
    let path = dir.file("fresh.db");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let openers: Vec<_> = (0..4)
        .map(|i| {
            let path = path.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut p = open(&path, if i % 2 == 0 { "even" } else { "odd" });
                p.append_patch(format!("opener {i}").as_bytes())
                    .expect("append")
            })
        })
        .collect();
    let mut clocks: Vec<u64> = openers
        .into_iter()
        .map(|t| t.join().expect("opener"))
        .collect();
    clocks.sort_unstable();
    assert_eq!(clocks, vec![1, 1, 2, 2], "two stores, two patches each");
    let conn = Connection::open(&path).unwrap();
    let versions: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sds_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(versions, 1);
    assert_eq!(
        SqlitePersistence::list_store_ids(&path).unwrap(),
        vec!["even", "odd"]
    );
}
