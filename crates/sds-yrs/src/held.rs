//! Blocks held back until everything they depend on is in the document.
//!
//! yrs integrates an out-of-order block whose dependencies happen to be present by putting a
//! "skip" placeholder in front of it, and keeps blocks with missing dependencies in its own
//! pending update, which it later integrates the same way. Fuzzing showed that inconsistent
//! updates (bit-flipped or spliced ones whose ranges overlap these placeholders) make yrs panic
//! half-way and even leave dangling pointers that crash the process on a later update. yjs
//! never integrates out of order. So neither does this backend: it hands yrs only blocks that
//! continue a client's clock without a gap and whose origins and parents are already in the
//! document (or come earlier in the same hand-over), and holds everything else here, as yjs
//! keeps its pending structs, until the missing blocks arrive.
//!
//! Deletions are applied at once, as in yjs, with one exception: an item that a held block
//! names as its left origin is not deleted until that block is integrated. Replacing a map
//! value inserts the new value with the old one as its left origin and deletes the old one;
//! applying the deletion while the new value is held would show the key as missing in between
//! (an entry without `outerItemId` looks orphaned, and the store would "repair" it). Once the
//! new value is integrated, the old one is deleted anyway.

use crate::wire::{Block, DeleteSet, Id, Run};
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

/// Clock of every client in the document (`StateVector`, as plain numbers).
pub(crate) type Clocks = HashMap<u64, u64>;

/// The first `count` blocks of a held run, ready to be integrated.
pub(crate) struct ReadyPrefix {
    pub run: Run,
    pub count: usize,
}

/// Runs of blocks not yet integrated, and deletions deferred for them.
#[derive(Default)]
pub(crate) struct Held {
    runs: Vec<Run>,
    deferred: DeleteSet,
}

impl Held {
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty() && self.deferred.is_empty()
    }

    pub(crate) fn runs(&self) -> &[Run] {
        &self.runs
    }

    /// Deletions waiting for held blocks.
    pub(crate) fn deferred(&self) -> &DeleteSet {
        &self.deferred
    }

    /// A fingerprint of everything held, to tell whether an update added something.
    pub(crate) fn signature(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.runs.len().hash(&mut hasher);
        for run in &self.runs {
            run.client.hash(&mut hasher);
            run.start().hash(&mut hasher);
            run.bytes.hash(&mut hasher);
        }
        self.deferred.hash(&mut hasher);
        hasher.finish()
    }

    /// Adds runs, dropping what the document already has (cutting a block that it has in
    /// part) and runs already held. Returns whether a block was cut.
    pub(crate) fn add_runs(
        &mut self,
        runs: impl IntoIterator<Item = Run>,
        clocks: &Clocks,
    ) -> bool {
        let mut cut = false;
        for run in runs {
            let (run, was_cut) = without_known_prefix(run, clocks);
            cut |= was_cut;
            if !run.blocks.is_empty() && !self.runs.contains(&run) {
                self.runs.push(run);
            }
        }
        cut
    }

    /// Removes from the held runs the blocks the document now has.
    pub(crate) fn prune(&mut self, clocks: &Clocks) {
        let runs = std::mem::take(&mut self.runs);
        self.add_runs(runs, clocks);
    }

    /// Joins `incoming` with the deferred deletions and splits the result: what may be applied
    /// now is returned, what deletes a left origin of a held block stays deferred.
    pub(crate) fn deletions_to_apply(&mut self, incoming: &DeleteSet) -> DeleteSet {
        let mut all = std::mem::take(&mut self.deferred);
        all.merge(incoming);
        let origins: BTreeSet<Id> = self
            .runs
            .iter()
            .flat_map(|run| run.blocks.iter().filter_map(|b| b.deps[0]))
            .collect();
        self.deferred = all.split_off(&origins);
        all
    }

    /// Takes the blocks that a document at `clocks` can integrate now, at most one run (a
    /// prefix of it) per client; the rest stays held. Blocks are ready when they continue
    /// their client's clock without a gap and every id they depend on is in the document or
    /// among the blocks taken before them.
    pub(crate) fn take_ready(&mut self, clocks: &Clocks) -> Vec<ReadyPrefix> {
        let mut avail = clocks.clone();
        // client -> (index of the run, number of ready blocks)
        let mut chosen: HashMap<u64, (usize, usize)> = HashMap::new();
        loop {
            let mut progress = false;
            for (index, run) in self.runs.iter().enumerate() {
                let ready_before = match chosen.get(&run.client) {
                    Some(&(i, n)) if i == index => n,
                    Some(_) => continue,
                    None => 0,
                };
                let mut ready = ready_before;
                for block in &run.blocks[ready_before..] {
                    let clock = avail.get(&run.client).copied().unwrap_or(0);
                    if block.clock > clock {
                        break;
                    }
                    if block.end() > clock {
                        if !deps_available(block, &avail) {
                            break;
                        }
                        avail.insert(run.client, block.end());
                    }
                    ready += 1;
                }
                if ready > ready_before {
                    chosen.insert(run.client, (index, ready));
                    progress = true;
                }
            }
            if !progress {
                break;
            }
        }
        if chosen.is_empty() {
            return Vec::new();
        }
        let by_run: HashMap<usize, usize> = chosen.into_values().collect();
        let mut ready = Vec::new();
        let mut rest = Vec::new();
        for (index, run) in std::mem::take(&mut self.runs).into_iter().enumerate() {
            match by_run.get(&index) {
                Some(&count) => {
                    let remainder = run.without_prefix(count);
                    if !remainder.blocks.is_empty() {
                        rest.push(remainder);
                    }
                    ready.push(ReadyPrefix { run, count });
                }
                None => rest.push(run),
            }
        }
        self.runs = rest;
        ready
    }
}

fn deps_available(block: &Block, avail: &Clocks) -> bool {
    block
        .deps
        .iter()
        .flatten()
        .all(|&(client, clock)| clock < avail.get(&client).copied().unwrap_or(0))
}

/// The run without what a document at `clocks` has: leading blocks that end at or before the
/// client's clock are dropped, and a block that starts before it and ends after it is cut at
/// it, so that yrs never integrates the rest of a block under a parent other than its known
/// part's (see [`crate::wire::block_remainder`]). Also returns whether a block was cut.
fn without_known_prefix(run: Run, clocks: &Clocks) -> (Run, bool) {
    let clock = clocks.get(&run.client).copied().unwrap_or(0);
    let known = run.blocks.iter().take_while(|b| b.end() <= clock).count();
    let run = if known == 0 {
        run
    } else {
        run.without_prefix(known)
    };
    match run.blocks.first() {
        Some(first) if first.clock < clock => match run.cut_at(clock) {
            Ok(rest) => (rest, true),
            // Blocks that passed the wire check can always be cut; one that cannot is dropped
            // with the rest of its run rather than handed to yrs.
            Err(_) => (Run::empty(run.client), true),
        },
        _ => (run, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (clock, len, deps) of one test block.
    type TestBlock = (u64, u64, [Option<Id>; 3]);

    fn run(client: u64, blocks: &[TestBlock]) -> Run {
        let mut bytes = Vec::new();
        let blocks = blocks
            .iter()
            .map(|&(clock, len, deps)| {
                let start = bytes.len();
                bytes.push(clock as u8);
                Block {
                    clock,
                    len,
                    bytes: start..bytes.len(),
                    deps,
                }
            })
            .collect();
        Run {
            client,
            bytes,
            blocks,
        }
    }

    #[test]
    fn gaps_and_missing_dependencies_hold_blocks_back() {
        let mut held = Held::default();
        let clocks = Clocks::from([(1, 5)]);
        // Client 1 continues at 5; its second block depends on client 2, which is missing.
        held.add_runs(
            [run(
                1,
                &[(5, 2, [None; 3]), (7, 1, [Some((2, 0)), None, None])],
            )],
            &clocks,
        );
        // Client 3 starts at 4 although the document has nothing of it.
        held.add_runs([run(3, &[(4, 1, [None; 3])])], &clocks);
        let ready = held.take_ready(&clocks);
        assert_eq!(ready.len(), 1);
        assert_eq!((ready[0].run.client, ready[0].count), (1, 1));
        assert_eq!(held.runs().len(), 2);
    }

    #[test]
    fn dependencies_within_one_hand_over_are_resolved_in_order() {
        let mut held = Held::default();
        let clocks = Clocks::new();
        held.add_runs(
            [
                run(1, &[(0, 1, [None; 3]), (1, 1, [Some((2, 0)), None, None])]),
                run(2, &[(0, 1, [Some((1, 0)), None, None])]),
            ],
            &clocks,
        );
        let ready = held.take_ready(&clocks);
        let mut counts: Vec<(u64, usize)> = ready.iter().map(|r| (r.run.client, r.count)).collect();
        counts.sort();
        assert_eq!(counts, [(1, 2), (2, 1)]);
        assert!(held.is_empty());
    }

    #[test]
    fn self_references_never_become_ready() {
        let mut held = Held::default();
        let clocks = Clocks::new();
        held.add_runs([run(1, &[(0, 1, [Some((1, 0)), None, None])])], &clocks);
        assert!(held.take_ready(&clocks).is_empty());
        assert!(!held.is_empty());
    }

    #[test]
    fn known_blocks_are_dropped_and_duplicates_held_once() {
        let mut held = Held::default();
        let clocks = Clocks::from([(1, 3)]);
        let r = run(1, &[(0, 3, [None; 3]), (3, 1, [Some((9, 9)), None, None])]);
        held.add_runs([r.clone(), r], &clocks);
        assert_eq!(held.runs().len(), 1);
        assert_eq!(held.runs()[0].start(), 3);
        held.prune(&Clocks::from([(1, 4)]));
        assert!(held.is_empty());
    }

    #[test]
    fn deleting_the_left_origin_of_a_held_block_waits_for_it() {
        let mut held = Held::default();
        let clocks = Clocks::from([(1, 10)]);
        // A new map value (client 2, held: client 2's clock 0..4 is missing) replacing (1, 7).
        held.add_runs([run(2, &[(4, 1, [Some((1, 7)), None, None])])], &clocks);
        let mut incoming = DeleteSet::default();
        incoming.insert(1, 5, 9);
        let now = held.deletions_to_apply(&incoming);
        assert_eq!(now.0[&1], [(5, 7), (8, 9)]);
        assert_eq!(held.deferred().0[&1], [(7, 8)]);
        // Once the block is integrated, the deletion goes through.
        held.prune(&Clocks::from([(1, 10), (2, 5)]));
        let now = held.deletions_to_apply(&DeleteSet::default());
        assert_eq!(now.0[&1], [(7, 8)]);
        assert!(held.is_empty());
    }
}
