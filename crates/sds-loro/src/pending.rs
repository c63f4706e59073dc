//! Which operations loro holds as pending (received, but waiting for missing dependencies).
//!
//! loro reports the pending operations of each import (`ImportStatus::pending`) but does not
//! say whether it held them already. A patch that only repeats pending data must not count as
//! progress (SPEC §10.3: it decides whether the patch is persisted), so the backend remembers
//! the ranges it has seen pending and forgets them once they are integrated.

use loro::{PeerID, VersionRange, VersionVector};
use std::collections::HashMap;

/// Counter ranges `[start, end)` per peer, sorted and disjoint.
#[derive(Debug, Default, Clone)]
pub(crate) struct PendingRanges {
    ranges: HashMap<PeerID, Vec<(i32, i32)>>,
}

impl PendingRanges {
    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Adds the pending ranges of one import; returns whether any of it was new.
    pub(crate) fn add(&mut self, pending: &VersionRange) -> bool {
        let mut new = false;
        for (&peer, &(start, end)) in pending.iter() {
            if start >= end {
                continue;
            }
            let ranges = self.ranges.entry(peer).or_default();
            if !ranges.iter().any(|&(s, e)| s <= start && end <= e) {
                new = true;
                ranges.push((start, end));
                merge(ranges);
            }
        }
        new
    }

    /// Forgets what the document has integrated (everything below its version vector).
    pub(crate) fn prune(&mut self, integrated: &VersionVector) {
        self.ranges.retain(|peer, ranges| {
            let done = integrated.get(peer).copied().unwrap_or(0);
            ranges.retain_mut(|(start, end)| {
                *start = (*start).max(done);
                start < end
            });
            !ranges.is_empty()
        });
    }
}

/// Sorts and merges overlapping or adjacent ranges.
fn merge(ranges: &mut Vec<(i32, i32)>) {
    ranges.sort_unstable();
    let mut merged: Vec<(i32, i32)> = Vec::with_capacity(ranges.len());
    for &(start, end) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    *ranges = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(peer: PeerID, start: i32, end: i32) -> VersionRange {
        let mut r = VersionRange::new();
        r.insert(peer, start, end);
        r
    }

    #[test]
    fn repeated_ranges_are_not_new_and_integrated_ones_are_forgotten() {
        let mut pending = PendingRanges::default();
        assert!(pending.add(&range(1, 10, 12)));
        assert!(!pending.add(&range(1, 10, 12)));
        assert!(!pending.add(&range(1, 11, 12)));
        assert!(pending.add(&range(1, 12, 14)));
        assert!(!pending.add(&range(1, 10, 14)), "adjacent ranges merge");
        assert!(pending.add(&range(2, 0, 1)));
        let mut vv = VersionVector::new();
        vv.insert(1, 14);
        pending.prune(&vv);
        assert!(
            pending.add(&range(1, 10, 14)),
            "integrated ranges are forgotten"
        );
        vv.insert(1, 20);
        vv.insert(2, 1);
        pending.prune(&vv);
        assert!(pending.is_empty());
    }
}
