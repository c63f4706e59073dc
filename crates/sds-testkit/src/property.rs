//! The seeded multi-replica property test (SPEC §18.11, issue: "3–5 replicas apply random
//! operation sequences and exchange patches in random order with duplicates; afterwards all
//! replicas have identical JSON, every entry is reachable from Root, nothing panics").
//!
//! Environment: `SDS_TEST_SEED` fixes the base seed (default: from the clock, printed),
//! `SDS_PROPTEST_CASES` the number of cases (default 1000). A failing case prints the command
//! that reruns exactly that case; every such seed goes into [`REGRESSION_SEEDS`].

use crate::helpers::*;
use sds_core::{
    Backend, Clock, LOST_AND_FOUND_ID, NewBackend, ROOT_ID, Store, StoreOptions, TRASH_ID,
    ValueInput,
};
use serde_json::json;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Seeds of cases that once failed; they run first on every backend.
pub const REGRESSION_SEEDS: &[u64] = &[];

/// A small, fast, reproducible generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// A random element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        (!items.is_empty()).then(|| &items[self.below(items.len())])
    }
}

/// The base seed: `SDS_TEST_SEED` or one from the clock. Printed so a failure can be rerun.
pub fn seed_from_env() -> u64 {
    seed_from_env_var("SDS_TEST_SEED")
}

/// A seed from the environment variable `name`, or one from the clock. Printed so a failure
/// can be rerun.
pub fn seed_from_env_var(name: &str) -> u64 {
    let seed = crate::helpers::env_number(name).unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    eprintln!("seed = {seed} (rerun with {name}={seed})");
    seed
}

/// Runs the regression seeds and then `SDS_PROPTEST_CASES` (default 1000) random cases.
pub fn run_property_test<B: NewBackend>() {
    let cases: u64 = std::env::var("SDS_PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let base = seed_from_env();
    let seeds = REGRESSION_SEEDS
        .iter()
        .copied()
        .chain((0..cases).map(|i| base.wrapping_add(i)));
    for seed in seeds {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run_case::<B>(seed))) {
            eprintln!(
                "property test failed for case seed {seed}: rerun with \
                 SDS_TEST_SEED={seed} SDS_PROPTEST_CASES=1"
            );
            resume_unwind(panic);
        }
    }
}

/// Patches a replica committed locally, each with the blobs its transaction wrote.
type Outbox = Arc<Mutex<Vec<(Vec<u8>, Vec<(String, Vec<u8>)>)>>>;

/// One replica of the simulation with its outgoing patches and written blobs.
struct Replica<B: Backend> {
    store: Store<B>,
    outbox: Outbox,
    now: Arc<AtomicU64>,
}

struct Message {
    to: usize,
    patch: Arc<Vec<u8>>,
}

fn make_replica<B: Backend + 'static>(mut store: Store<B>, now: Arc<AtomicU64>) -> Replica<B> {
    let outbox: Outbox = Arc::default();
    let sink = outbox.clone();
    store.on_local_commit(move |s, commit| {
        let blobs = commit
            .written_blobs
            .iter()
            .filter_map(|h| s.value_blob_by_hash(h).map(|b| (h.clone(), b.to_vec())))
            .collect();
        sink.lock().unwrap().push((commit.patch.to_vec(), blobs));
        Ok(())
    });
    Replica { store, outbox, now }
}

fn options(seed: u64, now: &Arc<AtomicU64>) -> StoreOptions {
    let reader = now.clone();
    StoreOptions {
        literal_size_limit: 24,
        clock: Clock::from_fn(move || reader.load(Ordering::SeqCst)),
        trash_ttl: Some(Duration::from_millis(5_000)),
        replica_seed: Some(seed),
        ..StoreOptions::default()
    }
}

/// One simulated case: random local operations, random delivery with duplicates, then
/// quiescence and the checks.
pub fn run_case<B: NewBackend + 'static>(seed: u64) {
    let mut rng = SeededRng::new(seed);
    let count = 3 + rng.below(3);
    let now = Arc::new(AtomicU64::new(1_000_000));
    let origin = Store::<B>::from_scratch(options(seed.wrapping_mul(31), &now)).unwrap();
    let independent = rng.chance(20);
    let mut replicas: Vec<Replica<B>> = (0..count)
        .map(|i| {
            let opts = options(seed.wrapping_mul(31).wrapping_add(i as u64 + 1), &now);
            let store = if independent && i > 0 {
                Store::<B>::from_scratch(opts).unwrap()
            } else {
                Store::<B>::from_binary(&origin.as_binary(), opts).unwrap()
            };
            make_replica(store, now.clone())
        })
        .collect();
    let mut network: Vec<Message> = Vec::new();
    if independent {
        // Independently created replicas announce their initial documents (their well-known
        // items were written before the commit hooks existed), as a sync engine does with its
        // full state on the first connection.
        for (from, replica) in replicas.iter().enumerate() {
            let full = Arc::new(replica.store.export_patch(None).unwrap());
            for to in (0..count).filter(|&to| to != from) {
                network.push(Message {
                    to,
                    patch: full.clone(),
                });
            }
        }
    }
    let steps = 20 + rng.below(60);
    for step in 0..steps {
        let roll = rng.below(100);
        if roll < 55 || network.is_empty() {
            let r = rng.below(count);
            random_local_operation(&mut rng, &mut replicas[r], seed, step);
        } else if roll < 62 {
            cross_moves(&mut rng, &mut replicas);
        } else {
            deliver_one(&mut rng, &mut replicas, &mut network, seed, step);
        }
        broadcast(&mut replicas, &mut network);
    }
    let mut deliveries = 0;
    while !network.is_empty() {
        deliver_one(&mut rng, &mut replicas, &mut network, seed, steps);
        broadcast(&mut replicas, &mut network);
        deliveries += 1;
        assert!(
            deliveries < 100_000,
            "seed {seed}: the replicas never quiesced"
        );
    }
    let reference = json_of(&replicas[0].store);
    for (i, r) in replicas.iter().enumerate() {
        if let Err(e) = check_invariants(&r.store, true) {
            panic!("seed {seed}: replica {i} breaks an invariant: {e}");
        }
        let json = json_of(&r.store);
        assert!(
            json == reference,
            "seed {seed}: replica {i} differs from replica 0:\n{}\nvs\n{}",
            serde_json::to_string_pretty(&json).unwrap(),
            serde_json::to_string_pretty(&reference).unwrap()
        );
    }
}

/// Moves every queued local patch onto the network, addressed to every other replica, and
/// hands written blobs to every replica (the blob transfer itself is the sync engine's job).
fn broadcast<B: Backend>(replicas: &mut [Replica<B>], network: &mut Vec<Message>) {
    for from in 0..replicas.len() {
        let queued = std::mem::take(&mut *replicas[from].outbox.lock().unwrap());
        for (patch, blobs) in queued {
            let patch = Arc::new(patch);
            for (to, replica) in replicas.iter().enumerate() {
                for (hash, bytes) in &blobs {
                    replica.store.store_value_blob(hash, bytes).unwrap();
                }
                if to != from {
                    network.push(Message {
                        to,
                        patch: patch.clone(),
                    });
                }
            }
        }
    }
}

fn deliver_one<B: Backend>(
    rng: &mut SeededRng,
    replicas: &mut [Replica<B>],
    network: &mut Vec<Message>,
    seed: u64,
    step: usize,
) {
    if network.is_empty() {
        return;
    }
    let index = rng.below(network.len());
    let message = if rng.chance(10) {
        // Deliver a duplicate now and keep the original for later.
        Message {
            to: network[index].to,
            patch: network[index].patch.clone(),
        }
    } else {
        network.swap_remove(index)
    };
    let replica = &mut replicas[message.to];
    if let Err(e) = replica.store.apply_remote_patch(&message.patch) {
        panic!("seed {seed}, step {step}: a valid patch was refused: {e}");
    }
    if let Err(e) = check_invariants(&replica.store, false) {
        panic!("seed {seed}, step {step}: after a remote patch: {e}");
    }
}

fn sorted_ids<B: Backend>(store: &Store<B>, filter: impl Fn(&str) -> bool) -> Vec<String> {
    let mut ids: Vec<String> = store
        .entry_ids()
        .filter(|id| filter(id))
        .map(str::to_owned)
        .collect();
    ids.sort();
    ids
}

fn items<B: Backend>(store: &Store<B>) -> Vec<String> {
    sorted_ids(store, |id| store.entry(id).is_some_and(|e| e.is_item()))
}

fn movable<B: Backend>(store: &Store<B>) -> Vec<String> {
    sorted_ids(store, |id| id != ROOT_ID)
}

fn random_index(rng: &mut SeededRng) -> Option<usize> {
    if rng.chance(50) {
        None
    } else {
        Some(rng.below(6))
    }
}

fn random_text(rng: &mut SeededRng, max: usize) -> String {
    const PIECES: &[&str] = &["a", "b", "c", " ", "é", "😀", "xyz", "\u{FF21}", "0"];
    (0..rng.below(max + 1))
        .map(|_| *rng.pick(PIECES).unwrap())
        .collect()
}

/// Applies one random operation; failures (refused moves and the like) must leave the store
/// unchanged.
fn random_local_operation<B: Backend>(
    rng: &mut SeededRng,
    replica: &mut Replica<B>,
    seed: u64,
    step: usize,
) {
    let before = json_of(&replica.store);
    let kind = rng.below(16);
    let outcome = one_operation(rng, replica, kind);
    if outcome.is_err() && kind != 11 {
        assert_eq!(
            json_of(&replica.store),
            before,
            "seed {seed}, step {step}: failed operation {kind} changed the store ({outcome:?})"
        );
    }
    if let Err(e) = check_invariants(&replica.store, false) {
        panic!("seed {seed}, step {step}: after local operation {kind}: {e}");
    }
}

fn one_operation<B: Backend>(
    rng: &mut SeededRng,
    replica: &mut Replica<B>,
    kind: usize,
) -> sds_core::Result<()> {
    let store = &mut replica.store;
    let all_items = items(store);
    let entries = movable(store);
    let trash_children = children(store, TRASH_ID);
    let container = rng
        .pick(&all_items)
        .cloned()
        .unwrap_or_else(|| ROOT_ID.to_owned());
    match kind {
        0 | 1 => {
            let mime = if rng.chance(20) {
                Some("text/markdown")
            } else {
                None
            };
            store
                .new_item_at(mime, &container, random_index(rng))
                .map(drop)
        }
        2 => {
            let target = rng.pick(&all_items).cloned().unwrap_or_default();
            store
                .new_link_at(&target, &container, random_index(rng))
                .map(drop)
        }
        3 | 4 => {
            let Some(entry) = rng.pick(&entries).cloned() else {
                return Ok(());
            };
            store.move_entry_to(&entry, &container, random_index(rng))
        }
        5 => {
            let Some(entry) = rng.pick(&entries).cloned() else {
                return Ok(());
            };
            store.delete_entry(&entry)
        }
        6 => {
            let Some(entry) = rng.pick(&trash_children).cloned() else {
                return Ok(());
            };
            let to = if rng.chance(50) {
                ROOT_ID.to_owned()
            } else {
                container
            };
            store.move_entry_to(&entry, &to, random_index(rng))
        }
        7 => {
            let Some(entry) = rng.pick(&trash_children).cloned() else {
                return Ok(());
            };
            store.purge_entry(&entry)
        }
        8 => {
            let Some(entry) = rng.pick(&entries).cloned() else {
                return Ok(());
            };
            let old = store
                .entry(&entry)
                .map(|e| e.label().to_owned())
                .unwrap_or_default();
            let new = if rng.chance(50) {
                let cut: String = old
                    .chars()
                    .take(rng.below(old.chars().count() + 1))
                    .collect();
                format!("{cut}{}", random_text(rng, 3))
            } else {
                random_text(rng, 8)
            };
            store.set_label(&entry, &new)
        }
        9 => {
            let value = match rng.below(5) {
                0 => ValueInput::None,
                1 => ValueInput::Text(random_text(rng, 10)),
                2 => ValueInput::Text(format!("long {}", "t".repeat(30 + rng.below(20)))),
                3 => ValueInput::Bytes((0..rng.below(8)).map(|i| i as u8).collect()),
                _ => ValueInput::Bytes(vec![rng.below(256) as u8; 2049 + rng.below(10)]),
            };
            store.write_value(&container, value)
        }
        10 => {
            let literal = store
                .entry(&container)
                .and_then(|e| e.current_inline_value());
            match literal {
                Some(sds_core::InlineValue::Text(text)) => {
                    let len = text.encode_utf16().count();
                    let from = rng.below(len + 1);
                    let to = from + rng.below(len - from + 1);
                    store.change_value(&container, from, to, &random_text(rng, 3))
                }
                _ => Ok(()),
            }
        }
        11 => store.transact(|s| {
            let a = s.new_item_at(None, &container, None)?;
            s.set_label(&a, "in transaction")?;
            let b = s.new_item_at(None, &a, Some(0))?;
            s.set_info(&b, "n", json!(1))?;
            s.move_entry_to(&b, &container, Some(0))?;
            Ok(())
        }),
        12 => {
            let Some(entry) = rng.pick(&entries).cloned() else {
                return Ok(());
            };
            let key = ["k", "color", "n", "_trashedAt"][rng.below(4)];
            if rng.chance(30) {
                store.delete_info(&entry, key)
            } else {
                let value = match rng.below(5) {
                    0 => json!(rng.below(100)),
                    1 => json!(rng.below(100) as f64 / 8.0),
                    2 => json!(random_text(rng, 4)),
                    3 => json!({"b": [1, null, true], "a": "x"}),
                    _ => json!(null),
                };
                store.set_info(&entry, key, value)
            }
        }
        13 => {
            let mime = ["text/plain", "text/markdown", "application/json"][rng.below(3)];
            store.set_mime_type(&container, mime)
        }
        14 => {
            if rng.chance(50) {
                store.rebalance_inner_entries_of(&container)
            } else {
                replica.now.fetch_add(3_000, Ordering::SeqCst);
                store.purge_expired_trash_entries(None).map(drop)
            }
        }
        _ => {
            let Some(source) = rng.pick(&entries).cloned() else {
                return Ok(());
            };
            if source == TRASH_ID || source == LOST_AND_FOUND_ID {
                return Ok(());
            }
            let json = store
                .entry(&source)
                .map(|e| e.as_json().to_value())
                .unwrap_or_default();
            store
                .new_entry_from_json_at(&json, &container, random_index(rng))
                .map(drop)
        }
    }
}

/// The classic conflict: on two replicas, A into B and B into A (or a longer ring on more).
fn cross_moves<B: Backend>(rng: &mut SeededRng, replicas: &mut [Replica<B>]) {
    let first = rng.below(replicas.len());
    let second = (first + 1 + rng.below(replicas.len() - 1)) % replicas.len();
    let candidates: Vec<String> = items(&replicas[first].store)
        .into_iter()
        .filter(|id| !sds_core::is_well_known(id) && replicas[second].store.entry(id).is_some())
        .collect();
    if candidates.len() < 2 {
        return;
    }
    let a = rng.pick(&candidates).cloned().unwrap();
    let b = rng.pick(&candidates).cloned().unwrap();
    if a == b {
        return;
    }
    let _ = replicas[first].store.move_entry_to(&a, &b, None);
    let _ = replicas[second].store.move_entry_to(&b, &a, None);
}
