//! The persistence conformance suite (SPEC §11.1–§11.3, §18.13), written once over a
//! [`ProviderFactory`] and run unchanged by every provider.
//!
//! A provider crate runs it with one line in an integration test:
//!
//! ```text
//! sds_testkit::persistence_suite!(MyFactory::new());
//! ```
//!
//! The expression is evaluated once per test, so each test gets a fresh database. Two
//! [`ProviderFactory::open`] calls with the same store id must behave like two processes that
//! open one file: they share every row, and neither caches what the other may change.
//!
//! The checks work on opaque bytes: a "document" here is a set of patch payloads, and a
//! snapshot is that set serialised. This is enough to prove what the provider owes the sync
//! engine — no patch is ever lost, renumbered or handed over out of order — without a CRDT.

use sds_core::{
    BLOB_GRACE_PERIOD, CheckpointInput, CheckpointOutcome, CheckpointOutput, Clock, Error,
    ErrorCode, MemoryDatabase, MemoryPersistence, Persistence, Result, StoredState,
};
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Opens providers on one database (one file, for SQLite).
pub trait ProviderFactory {
    /// A provider for `store_id` that stamps blobs with `clock`. Every call opens a new,
    /// independent handle on the same database, like another process would.
    fn open_with_clock(&self, store_id: &str, clock: Clock) -> Box<dyn Persistence>;

    /// A provider for `store_id` with the system clock.
    fn open(&self, store_id: &str) -> Box<dyn Persistence> {
        self.open_with_clock(store_id, Clock::system())
    }
}

/// The factory of [`MemoryPersistence`] providers sharing one [`MemoryDatabase`].
#[derive(Debug, Default, Clone)]
pub struct MemoryFactory {
    database: Arc<Mutex<MemoryDatabase>>,
}

impl MemoryFactory {
    /// A factory over a fresh, empty database.
    pub fn new() -> Self {
        MemoryFactory::default()
    }
}

impl ProviderFactory for MemoryFactory {
    fn open_with_clock(&self, store_id: &str, clock: Clock) -> Box<dyn Persistence> {
        Box::new(MemoryPersistence::shared(store_id, self.database.clone()).with_clock(clock))
    }
}

/// Expands the persistence suite for a factory expression (evaluated afresh in every test).
#[doc(hidden)]
#[macro_export]
macro_rules! __persistence_tests {
    ($factory:expr; $known:tt; $( $test:ident ),* $(,)?) => {
        mod persistence_suite {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $test() {
                    let factory = $factory;
                    $crate::persistence::run_case(
                        stringify!($test),
                        &$known,
                        || $crate::persistence::$test(&factory),
                    );
                }
            )*
        }
    };
}

/// Runs one test of the suite. A test listed in `known_failures` (a documented disagreement
/// of a provider with SPEC) must still fail; once it passes, this fails and asks for the
/// entry to be removed, so the list cannot go stale.
#[doc(hidden)]
pub fn run_case(name: &str, known_failures: &[&str], test: impl FnOnce()) {
    if !known_failures.contains(&name) {
        test();
        return;
    }
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(test));
    assert!(
        outcome.is_err(),
        "'{name}' is listed as a known failure of this provider but passes now: remove it \
         from the list"
    );
}

// ---------------------------------------------------------------------------------------------
// Helpers

const GRACE_MS: u64 = BLOB_GRACE_PERIOD.as_millis() as u64;

fn ok<T>(result: Result<T>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => panic!("{what} failed: {error} ({})", error.code()),
    }
}

fn patch(clock: u64, bytes: &[u8]) -> (u64, Vec<u8>) {
    (clock, bytes.to_vec())
}

/// A snapshot in this suite: a set of payloads, length-prefixed.
fn encode(document: &BTreeSet<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    for item in document {
        out.extend_from_slice(&(item.len() as u32).to_le_bytes());
        out.extend_from_slice(item);
    }
    out
}

fn decode(mut bytes: &[u8]) -> BTreeSet<Vec<u8>> {
    let mut document = BTreeSet::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_at(4);
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (item, rest) = rest.split_at(len);
        document.insert(item.to_vec());
        bytes = rest;
    }
    document
}

/// A stand-in for a sync engine: a document (set of payloads) kept in memory, persisted
/// through its provider the way SPEC §13 does it.
struct ModelEngine {
    provider: Box<dyn Persistence>,
    document: BTreeSet<Vec<u8>>,
    known_snapshot_clock: Option<u64>,
}

impl ModelEngine {
    /// Restores like SPEC §13.2: the snapshot, then every later patch.
    fn start(mut provider: Box<dyn Persistence>) -> Self {
        let document = restore(provider.as_mut());
        let known_snapshot_clock = ok(provider.load_snapshot(), "load_snapshot").map(|(_, c)| c);
        ModelEngine {
            provider,
            document,
            known_snapshot_clock,
        }
    }

    /// A local change: applied in memory, then appended.
    fn change(&mut self, payload: Vec<u8>) -> u64 {
        let clock = ok(self.provider.append_patch(&payload), "append_patch");
        self.document.insert(payload);
        clock
    }

    fn checkpoint(&mut self) -> CheckpointOutcome {
        let document = &mut self.document;
        let outcome = ok(
            self.provider
                .checkpoint(self.known_snapshot_clock, &mut |input: CheckpointInput| {
                    if let Some(snapshot) = &input.foreign_snapshot {
                        document.extend(decode(snapshot));
                    }
                    assert!(
                        input.patches.windows(2).all(|w| w[0].0 < w[1].0),
                        "checkpoint patches must be strictly ascending"
                    );
                    document.extend(input.patches.into_iter().map(|(_, p)| p));
                    Ok(CheckpointOutput {
                        snapshot: encode(document),
                        referenced_hashes: HashSet::new(),
                    })
                }),
            "checkpoint",
        );
        self.known_snapshot_clock = Some(outcome.snapshot_clock);
        outcome
    }
}

/// What a freshly started engine would hold: the snapshot plus every later patch.
fn restore(provider: &mut dyn Persistence) -> BTreeSet<Vec<u8>> {
    let snapshot = ok(provider.load_snapshot(), "load_snapshot");
    let since = snapshot.as_ref().map_or(0, |(_, c)| *c);
    let mut document = snapshot
        .map(|(bytes, _)| decode(&bytes))
        .unwrap_or_default();
    let patches = ok(provider.load_patches_since(since), "load_patches_since");
    document.extend(patches.into_iter().map(|(_, p)| p));
    document
}

/// A small deterministic generator (xorshift64*), so failing schedules can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn keep_everything(input: CheckpointInput) -> Result<CheckpointOutput> {
    let mut document = input
        .foreign_snapshot
        .as_deref()
        .map(decode)
        .unwrap_or_default();
    document.extend(input.patches.into_iter().map(|(_, p)| p));
    Ok(CheckpointOutput {
        snapshot: encode(&document),
        referenced_hashes: HashSet::new(),
    })
}

// ---------------------------------------------------------------------------------------------
// Snapshot

/// The provider reports the store id it was opened for.
pub fn store_id_is_reported(factory: &dyn ProviderFactory) {
    assert_eq!(factory.open("store-a").store_id(), "store-a");
    assert_eq!(factory.open("ünïcode / id").store_id(), "ünïcode / id");
}

/// Snapshot: absent, present, overwritten, kept across reopen with its clock, per store.
pub fn snapshot_absent_present_overwritten_and_reopened(factory: &dyn ProviderFactory) {
    let mut p = factory.open("s");
    assert_eq!(ok(p.load_snapshot(), "load"), None);
    ok(p.save_snapshot(b"one", 3), "save");
    assert_eq!(ok(p.load_snapshot(), "load"), Some((b"one".to_vec(), 3)));
    ok(p.save_snapshot(b"two", 5), "save");
    assert_eq!(ok(p.load_snapshot(), "load"), Some((b"two".to_vec(), 5)));
    // A lower clock is stored as given: the caller owns the snapshot's clock.
    ok(p.save_snapshot(b"three", 4), "save");
    assert_eq!(ok(p.load_snapshot(), "load"), Some((b"three".to_vec(), 4)));
    ok(p.close(), "close");
    drop(p);

    let mut reopened = factory.open("s");
    assert_eq!(
        ok(reopened.load_snapshot(), "load"),
        Some((b"three".to_vec(), 4))
    );
    let mut other_store = factory.open("t");
    assert_eq!(ok(other_store.load_snapshot(), "load"), None);
}

// ---------------------------------------------------------------------------------------------
// Patches and clocks

/// Patches: empty, single, ascending, filtered by clock, pruned up to a clock.
pub fn patches_empty_single_ascending_filtered_pruned(factory: &dyn ProviderFactory) {
    let mut p = factory.open("s");
    assert_eq!(ok(p.load_patches_since(0), "load"), vec![]);
    assert_eq!(ok(p.append_patch(b"p1"), "append"), 1);
    assert_eq!(ok(p.load_patches_since(0), "load"), vec![patch(1, b"p1")]);
    assert_eq!(ok(p.append_patch(b"p2"), "append"), 2);
    assert_eq!(ok(p.append_patch(b"p3"), "append"), 3);
    assert_eq!(
        ok(p.load_patches_since(0), "load"),
        vec![patch(1, b"p1"), patch(2, b"p2"), patch(3, b"p3")]
    );
    assert_eq!(
        ok(p.load_patches_since(1), "load"),
        vec![patch(2, b"p2"), patch(3, b"p3")]
    );
    assert_eq!(ok(p.load_patches_since(3), "load"), vec![]);

    assert_eq!(ok(p.prune_patches(0), "prune"), 0);
    assert_eq!(ok(p.prune_patches(2), "prune"), 2);
    assert_eq!(ok(p.load_patches_since(0), "load"), vec![patch(3, b"p3")]);
    assert_eq!(ok(p.prune_patches(2), "prune"), 0);
    assert_eq!(ok(p.prune_patches(u64::MAX), "prune"), 1);
    assert_eq!(ok(p.load_patches_since(0), "load"), vec![]);
}

/// No clock is greater than `u64::MAX`: asking for patches after it returns none (and
/// must not overflow into "all patches").
pub fn patches_since_the_largest_clock_are_none(factory: &dyn ProviderFactory) {
    let mut p = factory.open("s");
    ok(p.append_patch(b"p1"), "append");
    assert_eq!(ok(p.load_patches_since(u64::MAX - 1), "load"), vec![]);
    assert_eq!(ok(p.load_patches_since(u64::MAX), "load"), vec![]);
}

/// Patches survive a reopen, and another store in the same database has its own log.
pub fn patches_are_kept_across_reopen_and_per_store(factory: &dyn ProviderFactory) {
    let mut a = factory.open("a");
    ok(a.append_patch(b"a1"), "append");
    ok(a.append_patch(b"a2"), "append");
    drop(a);
    let mut b = factory.open("b");
    assert_eq!(
        ok(b.append_patch(b"b1"), "append"),
        1,
        "clocks are per store"
    );
    assert_eq!(ok(b.load_patches_since(0), "load"), vec![patch(1, b"b1")]);
    let mut a = factory.open("a");
    assert_eq!(
        ok(a.load_patches_since(0), "load"),
        vec![patch(1, b"a1"), patch(2, b"a2")]
    );
    assert_eq!(ok(b.prune_patches(10), "prune"), 1);
    assert_eq!(ok(a.load_patches_since(0), "load").len(), 2);
}

/// Empty and large payloads come back byte for byte.
pub fn empty_and_large_values_round_trip(factory: &dyn ProviderFactory) {
    let mut p = factory.open("s");
    let large: Vec<u8> = (0..(1u32 << 20)).map(|i| (i * 31 % 251) as u8).collect();
    assert_eq!(ok(p.append_patch(b""), "append"), 1);
    assert_eq!(ok(p.append_patch(&large), "append"), 2);
    assert_eq!(
        ok(p.load_patches_since(0), "load"),
        vec![(1, Vec::new()), (2, large.clone())]
    );
    ok(p.save_snapshot(&large, 2), "save");
    assert_eq!(ok(p.load_snapshot(), "load"), Some((large.clone(), 2)));
    ok(p.save_snapshot(b"", 2), "save");
    assert_eq!(ok(p.load_snapshot(), "load"), Some((Vec::new(), 2)));
    ok(p.save_value("empty", b""), "save_value");
    ok(p.save_value("large", &large), "save_value");
    assert_eq!(ok(p.load_value("empty"), "load_value"), Some(Vec::new()));
    assert_eq!(ok(p.load_value("large"), "load_value"), Some(large));
}

/// Clocks are max(highest patch, snapshot, 0) + 1, also after pruning (SPEC §11.2).
pub fn clocks_are_max_plus_one_also_after_pruning(factory: &dyn ProviderFactory) {
    let mut p = factory.open("s");
    for expected in 1..=3 {
        assert_eq!(ok(p.append_patch(b"x"), "append"), expected);
    }
    // What a checkpoint does: snapshot at the highest clock, then prune up to it. The log is
    // empty now; a per-process counter or MAX(patch clock) alone would restart at 1.
    ok(p.save_snapshot(b"snap", 3), "save");
    assert_eq!(ok(p.prune_patches(3), "prune"), 3);
    assert_eq!(ok(p.append_patch(b"y"), "append"), 4);
    ok(p.save_snapshot(b"snap", 10), "save");
    assert_eq!(
        ok(p.append_patch(b"z"), "append"),
        11,
        "the snapshot clock counts"
    );
    // A checkpoint's pruning (up to the snapshot clock) never lets a clock come back.
    ok(p.save_snapshot(b"snap", 11), "save");
    assert_eq!(ok(p.prune_patches(11), "prune"), 2, "patches 4 and 11");
    assert_eq!(ok(p.append_patch(b"w"), "append"), 12);
}

/// A snapshot written by another provider moves the clocks of this one.
pub fn clocks_follow_a_snapshot_written_elsewhere(factory: &dyn ProviderFactory) {
    let mut a = factory.open("s");
    let mut b = factory.open("s");
    assert_eq!(ok(a.append_patch(b"a"), "append"), 1);
    ok(b.save_snapshot(b"snap", 41), "save");
    assert_eq!(ok(a.append_patch(b"a"), "append"), 42);
}

/// `load_changes_since` hands over only what is new: the patches after `since` while the
/// snapshot is the known one, and the snapshot with every patch after it once another
/// provider checkpointed.
pub fn changes_since_a_known_state_are_read_without_the_snapshot(factory: &dyn ProviderFactory) {
    let mut reader = factory.open("s");
    let mut writer = factory.open("s");
    let empty = ok(reader.load_changes_since(None, 0), "read the empty store");
    assert_eq!(
        empty,
        StoredState::default(),
        "an empty store has no changes"
    );
    assert_eq!(ok(writer.append_patch(b"p1"), "append"), 1);
    assert_eq!(ok(writer.append_patch(b"p2"), "append"), 2);
    let changes = ok(reader.load_changes_since(None, 1), "read");
    assert_eq!(changes.snapshot, None, "no snapshot, none known");
    assert_eq!(
        changes.patches,
        vec![patch(2, b"p2")],
        "only patches after `since`"
    );

    ok(writer.save_snapshot(b"snap", 2), "save");
    ok(writer.prune_patches(2), "prune");
    assert_eq!(ok(writer.append_patch(b"p3"), "append"), 3);
    let changes = ok(
        reader.load_changes_since(None, 2),
        "read after a checkpoint",
    );
    assert_eq!(
        changes.snapshot,
        Some((b"snap".to_vec(), 2)),
        "a snapshot written elsewhere is handed over"
    );
    assert_eq!(
        changes.patches,
        vec![patch(3, b"p3")],
        "with every patch after it"
    );

    assert_eq!(ok(writer.append_patch(b"p4"), "append"), 4);
    let changes = ok(
        reader.load_changes_since(Some(2), 3),
        "read with the known snapshot",
    );
    assert_eq!(
        changes.snapshot, None,
        "the known snapshot is not read again"
    );
    assert_eq!(changes.patches, vec![patch(4, b"p4")]);
    let changes = ok(
        reader.load_changes_since(Some(2), 4),
        "read when nothing is new",
    );
    assert_eq!(changes, StoredState::default(), "nothing new");
}

/// Pending uploads are kept per store, in marking order, across reopening, and unmarked.
pub fn pending_uploads_are_kept_per_store_until_unmarked(factory: &dyn ProviderFactory) {
    let hash = |n: u8| format!("{n:02x}").repeat(32);
    let mut a = factory.open("a");
    let mut b = factory.open("b");
    assert_eq!(ok(a.pending_uploads(), "read"), Vec::<String>::new());
    ok(a.mark_uploads(&[hash(2), hash(1)], true), "mark");
    ok(a.mark_uploads(&[hash(2)], true), "mark again");
    ok(b.mark_uploads(&[hash(3)], true), "mark in b");
    let mut reopened = factory.open("a");
    assert_eq!(
        ok(reopened.pending_uploads(), "read"),
        vec![hash(2), hash(1)],
        "kept across reopening, in marking order, once each"
    );
    ok(reopened.mark_uploads(&[hash(2), hash(9)], false), "unmark");
    assert_eq!(ok(a.pending_uploads(), "read"), vec![hash(1)]);
    assert_eq!(ok(b.pending_uploads(), "read"), vec![hash(3)], "per store");
}

/// Two providers of one store appending alternately (with pruning in between) never reuse
/// or skip a clock, and every patch is kept.
pub fn two_providers_appending_alternately_never_collide(factory: &dyn ProviderFactory) {
    let mut a = factory.open("s");
    let mut b = factory.open("s");
    let mut clocks = Vec::new();
    for round in 0..60u32 {
        clocks.push(ok(a.append_patch(format!("a{round}").as_bytes()), "append"));
        clocks.push(ok(b.append_patch(format!("b{round}").as_bytes()), "append"));
        if round == 30 {
            ok(a.save_snapshot(b"snap", 40), "save");
            ok(b.prune_patches(40), "prune");
        }
    }
    let expected: Vec<u64> = (1..=120).collect();
    assert_eq!(
        clocks, expected,
        "clocks strictly increase by one across providers"
    );
    let stored = ok(a.load_patches_since(40), "load");
    assert_eq!(stored.len(), 80);
    assert_eq!(stored[0], patch(41, b"a20"));
    assert_eq!(stored[79], patch(120, b"b59"));
}

// ---------------------------------------------------------------------------------------------
// Blobs

/// Blobs: absent, present, the first data is kept.
pub fn blobs_absent_present_first_data_kept(factory: &dyn ProviderFactory) {
    let mut p = factory.open("s");
    assert_eq!(ok(p.load_value("h1"), "load_value"), None);
    ok(p.save_value("h1", b"first"), "save_value");
    assert_eq!(
        ok(p.load_value("h1"), "load_value"),
        Some(b"first".to_vec())
    );
    ok(p.save_value("h1", b"second"), "save_value");
    assert_eq!(
        ok(p.load_value("h1"), "load_value"),
        Some(b"first".to_vec())
    );
    drop(p);
    let mut reopened = factory.open("s");
    assert_eq!(
        ok(reopened.load_value("h1"), "load_value"),
        Some(b"first".to_vec())
    );
}

/// Blobs are scoped per store (F20): same hash, separate rows; deletion touches one store.
pub fn blobs_are_scoped_per_store(factory: &dyn ProviderFactory) {
    let mut a = factory.open("a");
    let mut b = factory.open("b");
    ok(a.save_value("h", b"of a"), "save_value");
    assert_eq!(ok(b.load_value("h"), "load_value"), None);
    ok(b.save_value("h", b"of b"), "save_value");
    assert_eq!(ok(a.load_value("h"), "load_value"), Some(b"of a".to_vec()));
    assert_eq!(ok(b.load_value("h"), "load_value"), Some(b"of b".to_vec()));
    let deleted = ok(
        b.delete_unreferenced_values(&HashSet::new(), Duration::ZERO),
        "delete_unreferenced_values",
    );
    assert_eq!(deleted, 1);
    assert_eq!(ok(b.load_value("h"), "load_value"), None);
    assert_eq!(ok(a.load_value("h"), "load_value"), Some(b"of a".to_vec()));
}

/// Unreferenced blobs go once the grace period has passed since they were first saved;
/// referenced ones stay.
pub fn unreferenced_blobs_are_deleted_after_the_grace_period(factory: &dyn ProviderFactory) {
    let start = 1_700_000_000_000;
    let (clock, now) = Clock::manual(start);
    let mut p = factory.open_with_clock("s", clock);
    ok(p.save_value("kept", b"k"), "save_value");
    ok(p.save_value("dropped", b"d"), "save_value");
    now.store(start + 5 * 60_000, Ordering::SeqCst);
    // Saving again must not restart the grace period: the first save is what counts.
    ok(p.save_value("dropped", b"d"), "save_value");
    ok(p.save_value("young", b"y"), "save_value");
    let referenced: HashSet<String> = ["kept".to_owned()].into();

    now.store(start + GRACE_MS - 1, Ordering::SeqCst);
    assert_eq!(
        ok(
            p.delete_unreferenced_values(&referenced, BLOB_GRACE_PERIOD),
            "delete"
        ),
        0,
        "one millisecond before the grace period ends"
    );
    now.store(start + GRACE_MS, Ordering::SeqCst);
    assert_eq!(
        ok(
            p.delete_unreferenced_values(&referenced, BLOB_GRACE_PERIOD),
            "delete"
        ),
        1
    );
    assert_eq!(ok(p.load_value("dropped"), "load_value"), None);
    assert_eq!(ok(p.load_value("kept"), "load_value"), Some(b"k".to_vec()));
    assert_eq!(ok(p.load_value("young"), "load_value"), Some(b"y".to_vec()));

    now.store(start + 5 * 60_000 + GRACE_MS, Ordering::SeqCst);
    assert_eq!(
        ok(
            p.delete_unreferenced_values(&referenced, BLOB_GRACE_PERIOD),
            "delete"
        ),
        1
    );
    assert_eq!(ok(p.load_value("young"), "load_value"), None);
    assert_eq!(ok(p.load_value("kept"), "load_value"), Some(b"k".to_vec()));
}

/// A checkpoint deletes the store's unreferenced blobs older than the grace period and keeps
/// referenced ones (SPEC §7.8, §11.3 step 5), and only in its own store.
pub fn checkpoint_deletes_unreferenced_blobs_after_the_grace_period(factory: &dyn ProviderFactory) {
    let start = 1_700_000_000_000;
    let (clock, now) = Clock::manual(start);
    let mut p = factory.open_with_clock("s", clock.clone());
    let mut other = factory.open_with_clock("other", clock);
    ok(p.save_value("live", b"l"), "save_value");
    ok(p.save_value("in-trash", b"t"), "save_value");
    ok(p.save_value("garbage", b"g"), "save_value");
    ok(other.save_value("garbage", b"other"), "save_value");
    let referenced: HashSet<String> = ["live".to_owned(), "in-trash".to_owned()].into();
    let mut merge = |_: CheckpointInput| {
        Ok(CheckpointOutput {
            snapshot: b"snap".to_vec(),
            referenced_hashes: referenced.clone(),
        })
    };

    now.store(start + 60_000, Ordering::SeqCst);
    let outcome = ok(p.checkpoint(None, &mut merge), "checkpoint");
    assert_eq!(outcome.deleted_blobs, 0, "within the grace period");
    assert_eq!(
        ok(p.load_value("garbage"), "load_value"),
        Some(b"g".to_vec())
    );

    now.store(start + GRACE_MS + 1, Ordering::SeqCst);
    let outcome = ok(p.checkpoint(Some(0), &mut merge), "checkpoint");
    assert_eq!(outcome.deleted_blobs, 1);
    assert_eq!(ok(p.load_value("garbage"), "load_value"), None);
    assert_eq!(ok(p.load_value("live"), "load_value"), Some(b"l".to_vec()));
    assert_eq!(
        ok(p.load_value("in-trash"), "load_value"),
        Some(b"t".to_vec())
    );
    assert_eq!(
        ok(other.load_value("garbage"), "load_value"),
        Some(b"other".to_vec()),
        "another store's blob with the same hash is untouched"
    );
}

// ---------------------------------------------------------------------------------------------
// Checkpoint

/// A checkpoint of an empty store stores the snapshot at clock 0; clocks continue at 1.
pub fn checkpoint_of_an_empty_store(factory: &dyn ProviderFactory) {
    let mut p = factory.open("s");
    let mut calls = 0;
    let outcome = ok(
        p.checkpoint(None, &mut |input| {
            calls += 1;
            assert!(input.foreign_snapshot.is_none());
            assert!(input.patches.is_empty());
            keep_everything(input)
        }),
        "checkpoint",
    );
    assert_eq!(calls, 1);
    assert_eq!(
        outcome,
        CheckpointOutcome {
            snapshot_clock: 0,
            pruned_patches: 0,
            deleted_blobs: 0
        }
    );
    assert_eq!(ok(p.load_snapshot(), "load"), Some((Vec::new(), 0)));
    assert_eq!(ok(p.append_patch(b"x"), "append"), 1);
}

/// A checkpoint hands over every patch after the stored snapshot, stores the snapshot at the
/// highest of their clocks and prunes them.
pub fn checkpoint_hands_over_later_patches_and_prunes(factory: &dyn ProviderFactory) {
    let mut p = factory.open("s");
    for payload in [b"p1", b"p2", b"p3"] {
        ok(p.append_patch(payload), "append");
    }
    let mut seen = Vec::new();
    let outcome = ok(
        p.checkpoint(None, &mut |input| {
            seen = input.patches.clone();
            Ok(CheckpointOutput {
                snapshot: b"S3".to_vec(),
                referenced_hashes: HashSet::new(),
            })
        }),
        "checkpoint",
    );
    assert_eq!(
        seen,
        vec![patch(1, b"p1"), patch(2, b"p2"), patch(3, b"p3")]
    );
    assert_eq!(outcome.snapshot_clock, 3);
    assert_eq!(outcome.pruned_patches, 3);
    assert_eq!(ok(p.load_snapshot(), "load"), Some((b"S3".to_vec(), 3)));
    assert_eq!(ok(p.load_patches_since(0), "load"), vec![]);

    assert_eq!(ok(p.append_patch(b"p4"), "append"), 4);
    assert_eq!(ok(p.append_patch(b"p5"), "append"), 5);
    let outcome = ok(
        p.checkpoint(Some(3), &mut |input| {
            assert!(
                input.foreign_snapshot.is_none(),
                "we wrote the stored snapshot"
            );
            assert_eq!(input.patches, vec![patch(4, b"p4"), patch(5, b"p5")]);
            Ok(CheckpointOutput {
                snapshot: b"S5".to_vec(),
                referenced_hashes: HashSet::new(),
            })
        }),
        "checkpoint",
    );
    assert_eq!(outcome.snapshot_clock, 5);
    assert_eq!(outcome.pruned_patches, 2);
    assert_eq!(ok(p.load_snapshot(), "load"), Some((b"S5".to_vec(), 5)));
}

/// Patches at or below the stored snapshot clock are not handed over but are pruned; with an
/// empty log the snapshot keeps the stored clock.
pub fn checkpoint_keeps_the_stored_clock_when_no_later_patch_exists(factory: &dyn ProviderFactory) {
    let mut p = factory.open("s");
    ok(p.append_patch(b"p1"), "append");
    ok(p.append_patch(b"p2"), "append");
    ok(p.save_snapshot(b"S7", 7), "save");
    let outcome = ok(
        p.checkpoint(Some(7), &mut |input| {
            assert!(input.foreign_snapshot.is_none());
            assert!(
                input.patches.is_empty(),
                "patches 1 and 2 are in the snapshot"
            );
            Ok(CheckpointOutput {
                snapshot: b"S7'".to_vec(),
                referenced_hashes: HashSet::new(),
            })
        }),
        "checkpoint",
    );
    assert_eq!(outcome.snapshot_clock, 7);
    assert_eq!(outcome.pruned_patches, 2);
    assert_eq!(ok(p.load_snapshot(), "load"), Some((b"S7'".to_vec(), 7)));
    assert_eq!(ok(p.append_patch(b"p8"), "append"), 8);
}

/// The stored snapshot is handed over exactly when its clock differs from the caller's.
pub fn checkpoint_hands_over_a_foreign_snapshot_only_when_its_clock_differs(
    factory: &dyn ProviderFactory,
) {
    let mut a = factory.open("s");
    let mut b = factory.open("s");
    ok(a.append_patch(b"a1"), "append");
    ok(a.append_patch(b"a2"), "append");
    let outcome = ok(a.checkpoint(None, &mut keep_everything), "checkpoint");
    assert_eq!(outcome.snapshot_clock, 2);

    // b never loaded that snapshot.
    let mut foreign = None;
    let outcome = ok(
        b.checkpoint(None, &mut |input| {
            foreign = input.foreign_snapshot.clone();
            assert!(input.patches.is_empty());
            keep_everything(input)
        }),
        "checkpoint",
    );
    assert_eq!(
        foreign.as_deref().map(decode),
        Some([b"a1".to_vec(), b"a2".to_vec()].into())
    );
    assert_eq!(outcome.snapshot_clock, 2);

    // b wrote the stored snapshot last, at the clock it knows.
    ok(
        b.checkpoint(Some(2), &mut |input| {
            assert!(input.foreign_snapshot.is_none());
            keep_everything(input)
        }),
        "checkpoint",
    );

    // a checkpoints again after a change: the stored clock (2) is the one a knows.
    assert_eq!(ok(a.append_patch(b"a3"), "append"), 3);
    ok(
        a.checkpoint(Some(2), &mut |input| {
            assert!(input.foreign_snapshot.is_none());
            assert_eq!(input.patches, vec![patch(3, b"a3")]);
            // a's document already holds a1 and a2 from its first checkpoint.
            Ok(CheckpointOutput {
                snapshot: encode(&[b"a1".to_vec(), b"a2".to_vec(), b"a3".to_vec()].into()),
                referenced_hashes: HashSet::new(),
            })
        }),
        "checkpoint",
    );

    // b still knows clock 2; the stored snapshot is now a's at clock 3.
    let outcome = ok(
        b.checkpoint(Some(2), &mut |input| {
            let snapshot = input.foreign_snapshot.as_deref().map(decode);
            assert_eq!(
                snapshot,
                Some([b"a1".to_vec(), b"a2".to_vec(), b"a3".to_vec()].into())
            );
            assert!(input.patches.is_empty());
            keep_everything(input)
        }),
        "checkpoint",
    );
    assert_eq!(outcome.snapshot_clock, 3);

    // A caller that believes in a snapshot when there is none gets nothing foreign.
    let mut c = factory.open("fresh");
    ok(
        c.checkpoint(Some(9), &mut |input| {
            assert!(input.foreign_snapshot.is_none());
            keep_everything(input)
        }),
        "checkpoint",
    );
}

/// When the merge step fails, the checkpoint returns its error and changes nothing.
pub fn failed_merge_changes_nothing(factory: &dyn ProviderFactory) {
    let start = 1_700_000_000_000;
    let (clock, now) = Clock::manual(start);
    let mut p = factory.open_with_clock("s", clock);
    ok(p.save_snapshot(b"S0", 0), "save");
    ok(p.append_patch(b"p1"), "append");
    ok(p.append_patch(b"p2"), "append");
    ok(p.save_value("old", b"o"), "save_value");
    now.store(start + 2 * GRACE_MS, Ordering::SeqCst);
    let error = p
        .checkpoint(Some(0), &mut |_| Err(Error::invalid_data("cannot merge")))
        .expect_err("the merge error is returned");
    assert_eq!(error.code(), ErrorCode::InvalidData);
    assert_eq!(error.message(), "cannot merge");
    assert_eq!(ok(p.load_snapshot(), "load"), Some((b"S0".to_vec(), 0)));
    assert_eq!(ok(p.load_patches_since(0), "load").len(), 2);
    assert_eq!(ok(p.load_value("old"), "load_value"), Some(b"o".to_vec()));
    // The provider is still usable, and the write lock was released.
    let mut other = factory.open("s");
    assert_eq!(ok(other.append_patch(b"p3"), "append"), 3);
    ok(p.checkpoint(Some(0), &mut keep_everything), "checkpoint");
}

/// Two engines on one store, checkpointing in both orders between each other's appends:
/// after any schedule, a restore holds every change of both (SPEC §18.13, "two processes").
pub fn checkpoints_interleaved_with_another_providers_appends_lose_nothing(
    factory: &dyn ProviderFactory,
) {
    for seed in [1u64, 7, 42, 1234, 99_991] {
        let store_id = format!("s{seed}");
        let mut engines = [
            ModelEngine::start(factory.open(&store_id)),
            ModelEngine::start(factory.open(&store_id)),
        ];
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut written = BTreeSet::new();
        let mut clocks = BTreeSet::new();
        for step in 0..300 {
            let who = rng.below(2) as usize;
            match rng.below(10) {
                0 | 1 => {
                    engines[who].checkpoint();
                }
                2 => {
                    // A restart: the engine forgets everything and restores from storage.
                    let provider = factory.open(&store_id);
                    engines[who] = ModelEngine::start(provider);
                }
                _ => {
                    let payload = format!("seed {seed} engine {who} step {step}").into_bytes();
                    let clock = engines[who].change(payload.clone());
                    assert!(
                        clocks.insert(clock),
                        "clock {clock} assigned twice (seed {seed})"
                    );
                    written.insert(payload);
                }
            }
        }
        for engine in &mut engines {
            engine.checkpoint();
            assert_eq!(
                engine.document, written,
                "an engine lost a change (seed {seed})"
            );
        }
        let restored = restore(factory.open(&store_id).as_mut());
        assert_eq!(
            restored, written,
            "the stored state lost a change (seed {seed})"
        );
    }
}

/// A checkpoint is exclusive: another provider's append that starts while the merge step
/// runs completes only after the checkpoint has committed, takes a clock above the new
/// snapshot's, and is kept.
pub fn checkpoint_excludes_appends_while_merging(factory: &dyn ProviderFactory) {
    let mut checkpointer = factory.open("s");
    let mut appender = factory.open("s");
    ok(checkpointer.append_patch(b"before"), "append");
    let (merging_tx, merging_rx) = std::sync::mpsc::channel::<()>();
    let (appended_tx, appended_rx) = std::sync::mpsc::channel::<u64>();
    let thread = std::thread::spawn(move || {
        merging_rx.recv().expect("the merge step starts");
        let clock = ok(appender.append_patch(b"during"), "append during the merge");
        appended_tx.send(clock).expect("report the clock");
    });
    let outcome = ok(
        checkpointer.checkpoint(None, &mut |input| {
            merging_tx.send(()).expect("start the appender");
            // The append must not finish while this transaction is open. Waiting a little
            // gives a provider without exclusion every chance to let it through.
            let early = appended_rx.recv_timeout(Duration::from_millis(150));
            assert!(
                early.is_err(),
                "an append completed while a checkpoint held its transaction"
            );
            keep_everything(input)
        }),
        "checkpoint",
    );
    thread.join().expect("appender thread");
    let clock = appended_rx
        .recv()
        .expect("the append finished after the checkpoint");
    assert_eq!(outcome.snapshot_clock, 1);
    assert_eq!(clock, 2);
    let restored = restore(factory.open("s").as_mut());
    assert_eq!(restored, [b"before".to_vec(), b"during".to_vec()].into());
}

/// Two threads on one store — one appending, one appending and checkpointing — lose nothing,
/// and every clock is unique.
pub fn concurrent_appends_and_checkpoints_from_two_threads_lose_nothing(
    factory: &dyn ProviderFactory,
) {
    const PER_THREAD: usize = 150;
    let appender = factory.open("s");
    let checkpointer = factory.open("s");
    let run = |mut engine: ModelEngine, name: &'static str, checkpoint_every: usize| {
        std::thread::spawn(move || {
            let mut clocks = Vec::new();
            for i in 0..PER_THREAD {
                clocks.push(engine.change(format!("{name} {i}").into_bytes()));
                if checkpoint_every > 0 && i % checkpoint_every == 0 {
                    engine.checkpoint();
                }
            }
            engine.checkpoint();
            (clocks, engine.document)
        })
    };
    let a = run(ModelEngine::start(appender), "a", 0);
    let b = run(ModelEngine::start(checkpointer), "b", 10);
    let (clocks_a, _) = a.join().expect("thread a");
    let (clocks_b, _) = b.join().expect("thread b");

    assert!(
        clocks_a.windows(2).all(|w| w[0] < w[1]),
        "a's clocks increase"
    );
    assert!(
        clocks_b.windows(2).all(|w| w[0] < w[1]),
        "b's clocks increase"
    );
    let all: BTreeSet<u64> = clocks_a.iter().chain(&clocks_b).copied().collect();
    assert_eq!(all.len(), 2 * PER_THREAD, "no clock assigned twice");

    let expected: BTreeSet<Vec<u8>> = ["a", "b"]
        .iter()
        .flat_map(|name| (0..PER_THREAD).map(move |i| format!("{name} {i}").into_bytes()))
        .collect();
    let restored = restore(factory.open("s").as_mut());
    assert_eq!(restored.len(), expected.len());
    assert_eq!(restored, expected);
}

// ---------------------------------------------------------------------------------------------
// Backend marker and close

/// The backend marker: absent, recorded, overwritten, per store, kept across reopen.
pub fn backend_marker_is_recorded_per_store(factory: &dyn ProviderFactory) {
    let mut a = factory.open("a");
    assert_eq!(ok(a.backend(), "backend"), None);
    ok(a.set_backend("yrs"), "set_backend");
    assert_eq!(ok(a.backend(), "backend"), Some("yrs".to_owned()));
    let mut b = factory.open("b");
    assert_eq!(ok(b.backend(), "backend"), None);
    ok(b.set_backend("loro"), "set_backend");
    drop(a);
    let mut a = factory.open("a");
    assert_eq!(ok(a.backend(), "backend"), Some("yrs".to_owned()));
    ok(a.set_backend("loro"), "set_backend");
    assert_eq!(ok(a.backend(), "backend"), Some("loro".to_owned()));
}

/// After `close` every operation fails with `persistence-failed`; the data stays for others.
pub fn closed_provider_fails_and_data_survives(factory: &dyn ProviderFactory) {
    let mut p = factory.open("s");
    ok(p.append_patch(b"p1"), "append");
    ok(p.save_value("h", b"v"), "save_value");
    ok(p.close(), "close");
    assert_eq!(p.store_id(), "s");
    let failures = [
        p.load_snapshot().err(),
        p.save_snapshot(b"x", 1).err(),
        p.load_patches_since(0).err(),
        p.append_patch(b"x").err(),
        p.prune_patches(1).err(),
        p.load_value("h").err(),
        p.save_value("h2", b"x").err(),
        p.delete_unreferenced_values(&HashSet::new(), Duration::ZERO)
            .err(),
        p.checkpoint(None, &mut keep_everything).err(),
        p.backend().err(),
        p.set_backend("yrs").err(),
    ];
    for (i, failure) in failures.into_iter().enumerate() {
        let error = failure.unwrap_or_else(|| panic!("operation {i} succeeded after close"));
        assert_eq!(error.code(), ErrorCode::PersistenceFailed, "operation {i}");
    }
    // Closing twice is harmless.
    ok(p.close(), "second close");
    let mut reopened = factory.open("s");
    assert_eq!(
        ok(reopened.load_patches_since(0), "load"),
        vec![patch(1, b"p1")]
    );
    assert_eq!(
        ok(reopened.load_value("h"), "load_value"),
        Some(b"v".to_vec())
    );
}
