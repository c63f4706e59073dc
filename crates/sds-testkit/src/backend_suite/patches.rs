//! Patches: one per transaction and small, idempotent, pending until their dependencies
//! arrive, exported from cursors, and converging in any order of delivery.

use super::{dependent_patches, thousand_entry_store};
use crate::helpers::*;
use crate::property::SeededRng;
use sds_core::{ErrorCode, NewBackend, Op, ROOT_ID, TRASH_ID};
use serde_json::json;

/// A one-label change in a store of a thousand entries commits one small patch.
pub fn a_one_label_commit_is_small_in_a_store_of_a_thousand_entries<B: NewBackend>() {
    let (mut a, items) = thousand_entry_store::<B>();
    a.store
        .set_label(&items[500], "the one change")
        .expect("relabel");
    let patches = a.take_patches();
    assert_eq!(patches.len(), 1, "one commit, one patch");
    assert!(
        patches[0].len() < 200,
        "local patch is {} bytes",
        patches[0].len()
    );
}

/// Committing no ops, or ops that name missing entries, writes nothing.
pub fn commit_without_ops_or_changes_returns_an_empty_patch<B: NewBackend>() {
    let mut backend = B::new_empty();
    let cursor = backend.current_cursor();
    assert_eq!(
        backend.commit(Vec::new()).expect("commit"),
        Vec::<u8>::new()
    );
    // Ops naming a missing entry are skipped: nothing changes.
    let patch = backend
        .commit(vec![
            Op::SetInfo {
                id: "missing".into(),
                key: "k".into(),
                value: json!(1),
            },
            Op::Remove {
                id: "missing".into(),
            },
        ])
        .expect("commit");
    assert!(patch.is_empty());
    assert_eq!(backend.current_cursor(), cursor, "the version did not move");
    assert!(backend.entry_ids().is_empty());
}

/// A patch applied again is no progress and changes nothing.
pub fn applying_the_same_patch_twice_advances_only_once<B: NewBackend>() {
    let mut a = Replica::<B>::from_scratch();
    let mut b = Replica::<B>::from_binary(&a.store.as_binary());
    let item = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    let create = a.last_patch();
    a.store
        .set_info(&item, "colour", json!("blue"))
        .expect("info");
    let info = a.last_patch();
    a.store.delete_info(&item, "colour").expect("delete info");
    let delete_only = a.last_patch();

    for patch in [&create, &info, &delete_only] {
        let first = b.store.apply_remote_patch(patch).expect("applies");
        assert!(first.advanced && first.changed);
        let second = b.store.apply_remote_patch(patch).expect("applies again");
        assert!(!second.advanced && !second.changed);
    }
    assert_eq!(b.store.as_json(), a.store.as_json());
    b.store.check_consistency().expect("consistent");
}

/// Patches whose dependencies are missing are kept pending (new pending data counts as
/// progress), survive a snapshot, and are integrated once the dependencies arrive.
pub fn out_of_order_patches_are_pending_until_their_dependencies_arrive<B: NewBackend>() {
    let (a, start, [p1, p2, p3]) = dependent_patches::<B>();

    let mut b = Replica::<B>::from_binary(&start);
    let pending = b.store.apply_remote_patch(&p3).expect("pending");
    assert!(pending.advanced, "new pending data counts as progress");
    assert!(!pending.changed);
    assert!(b.store.backend().has_pending());
    let pending_again = b.store.apply_remote_patch(&p3).expect("pending again");
    assert!(
        !pending_again.advanced,
        "the same pending data again is no progress"
    );
    let pending = b.store.apply_remote_patch(&p2).expect("pending");
    assert!(pending.advanced && !pending.changed);
    assert!(b.store.backend().has_pending());

    // Pending data survives a snapshot (SPEC §11.3: a checkpoint must not lose it).
    let mut c = Replica::<B>::from_binary(&b.store.as_binary());
    assert!(c.store.backend().has_pending());
    assert_eq!(c.store.as_json(), b.store.as_json());
    let done = c.store.apply_remote_patch(&p1).expect("integrates");
    assert!(done.advanced && done.changed);
    assert!(!c.store.backend().has_pending());
    assert_eq!(c.store.as_json(), a.store.as_json());
    c.store.check_consistency().expect("consistent");

    let done = b.store.apply_remote_patch(&p1).expect("integrates");
    assert!(done.advanced && done.changed);
    assert!(!b.store.backend().has_pending());
    assert_eq!(b.store.as_json(), a.store.as_json());
    assert_eq!(b.store.current_cursor(), a.store.current_cursor());
    b.store.check_consistency().expect("consistent");
    // Everything is integrated now: repeating any patch is no progress.
    for patch in [&p1, &p2, &p3] {
        assert!(!b.store.apply_remote_patch(patch).expect("again").advanced);
    }
}

/// The patch exported for a replica's cursor brings exactly that replica up to date; an
/// empty cursor means "everything".
pub fn export_patch_from_a_cursor_brings_that_replica_up_to_date<B: NewBackend>() {
    let mut a = Replica::<B>::from_scratch();
    let mut b = Replica::<B>::from_binary(&a.store.as_binary());
    let folder = a.store.new_item_at(None, ROOT_ID, None).expect("folder");
    b.store
        .apply_remote_patch(&a.store.export_patch(None).expect("full"))
        .expect("applies");
    let cursor = b.store.current_cursor();

    a.store.set_label(&folder, "folder").expect("label");
    let child = a
        .store
        .new_item_at(Some("text/markdown"), &folder, None)
        .expect("child");
    a.store.write_value(&child, "# title").expect("value");
    a.store.delete_entry(&child).expect("delete");
    a.store.purge_entry(&child).expect("purge");
    let other = a.store.new_item_at(None, &folder, None).expect("other");
    a.store.write_value(&other, vec![1u8, 2, 3]).expect("bytes");

    let patch = a.store.export_patch(Some(&cursor)).expect("diff");
    let outcome = b.store.apply_remote_patch(&patch).expect("applies");
    assert!(outcome.advanced && outcome.changed);
    assert_eq!(b.store.as_json(), a.store.as_json());
    assert_eq!(b.store.current_cursor(), a.store.current_cursor());

    // An empty cursor means "everything".
    let full = a.store.export_patch(Some(&[])).expect("full");
    assert_eq!(full, a.store.export_patch(None).expect("full"));
    let mut fresh = B::new_empty();
    assert!(fresh.apply_remote_patch(&full).expect("applies").advanced);
    let mut expected = a.store.backend().read_all();
    let mut read = fresh.read_all();
    expected.sort_by(|x, y| x.0.cmp(&y.0));
    read.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(read, expected);
}

/// Stores created from scratch on their own exchange full states and converge.
pub fn two_stores_created_independently_converge<B: NewBackend>() {
    let mut a = Replica::<B>::from_scratch();
    let mut b = Replica::<B>::from_scratch();
    let x = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    a.store.set_label(&x, "from a").expect("label");
    let y = b.store.new_item_at(None, ROOT_ID, None).expect("item");
    b.store.set_label(&y, "from b").expect("label");
    let from_a = a.store.export_patch(None).expect("a");
    let from_b = b.store.export_patch(None).expect("b");
    a.store.apply_remote_patch(&from_b).expect("b into a");
    b.store.apply_remote_patch(&from_a).expect("a into b");
    assert_eq!(a.store.as_json(), b.store.as_json());
    assert_eq!(a.store.entry_count(), 5);
}

/// The full state applied to an empty backend yields every entry of the store.
pub fn a_full_patch_into_an_empty_backend_reads_everything<B: NewBackend>() {
    let a = Replica::<B>::from_scratch();
    let mut empty = B::new_empty();
    let applied = empty
        .apply_remote_patch(&a.store.export_patch(None).expect("full"))
        .expect("applies");
    assert!(applied.advanced);
    assert_eq!(empty.read_all().len(), 3);
    assert!(empty.read_entry(TRASH_ID).is_some());
}

/// Info values nested as deep as the limit allows travel to other replicas; deeper ones are
/// refused locally.
pub fn the_deepest_allowed_info_value_travels<B: NewBackend>() {
    let mut a = Replica::<B>::from_scratch();
    let mut b = Replica::<B>::from_binary(&a.store.as_binary());
    let x = a.store.new_item_at(None, ROOT_ID, None).expect("item");
    let mut value = json!("leaf");
    for _ in 0..sds_core::limits::MAX_INFO_VALUE_DEPTH {
        value = json!([value]);
    }
    assert_eq!(
        a.store
            .set_info(&x, "deeper", json!([value.clone()]))
            .unwrap_err()
            .code(),
        ErrorCode::InvalidArgument
    );
    a.store.set_info(&x, "deep", value.clone()).expect("info");
    b.store
        .apply_remote_patch(&a.store.export_patch(None).expect("full"))
        .expect("the deepest local value travels");
    assert_eq!(
        b.store
            .entry(&x)
            .and_then(|e| e.info_value("deep").cloned()),
        Some(value)
    );
}

/// Random edits on one replica; its patches reach another replica shuffled and duplicated
/// (pending until their dependencies arrive), and a third one through a snapshot taken while
/// patches are still pending. All end up with the same tree and the same version.
pub fn shuffled_and_duplicated_patches_converge<B: NewBackend>() {
    for seed in 0..40u64 {
        let mut rng = SeededRng::new(seed);
        let mut a = Replica::<B>::from_scratch();
        let start = a.store.as_binary();
        let mut ids: Vec<String> = Vec::new();
        for step in 0..30 {
            let container = if ids.is_empty() || rng.below(3) == 0 {
                ROOT_ID.to_owned()
            } else {
                ids[rng.below(ids.len())].clone()
            };
            let target = rng.pick(&ids).cloned();
            let result = match (rng.below(7), target) {
                (0 | 1, _) | (_, None) => a
                    .store
                    .new_item_at(None, &container, None)
                    .map(|id| ids.push(id)),
                (2, Some(t)) => a.store.set_label(&t, &format!("label {step} 😀")),
                (3, Some(t)) => a.store.set_info(&t, "k", json!({"step": step})),
                (4, Some(t)) => a.store.write_value(&t, format!("value {step}")),
                (5, Some(t)) => a.store.move_entry_to(&t, &container, Some(0)),
                (_, Some(t)) => a.store.delete_entry(&t),
            };
            // Refused moves (into a descendant) and the like are fine.
            let _ = result;
        }
        let mut patches = a.take_patches();
        let count = patches.len();
        for _ in 0..count / 3 {
            let dup = patches[rng.below(count)].clone();
            patches.push(dup);
        }
        for i in (1..patches.len()).rev() {
            patches.swap(i, rng.below(i + 1));
        }

        let mut b = Replica::<B>::from_binary(&start);
        let mut c_snapshot = start.clone();
        for (i, patch) in patches.iter().enumerate() {
            b.store
                .apply_remote_patch(patch)
                .unwrap_or_else(|e| panic!("seed {seed}: patch {i} refused: {e}"));
            b.store
                .check_consistency()
                .unwrap_or_else(|e| panic!("seed {seed}: after patch {i}: {e}"));
            if i == patches.len() / 2 {
                c_snapshot = b.store.as_binary();
            }
        }
        assert!(
            !b.store.backend().has_pending(),
            "seed {seed}: everything integrated"
        );
        assert_eq!(b.store.as_json(), a.store.as_json(), "seed {seed}");
        assert_eq!(
            b.store.current_cursor(),
            a.store.current_cursor(),
            "seed {seed}"
        );

        // A replica restored from a snapshot taken half-way (with pending patches) catches up.
        let mut c = Replica::<B>::from_binary(&c_snapshot);
        for patch in &patches[patches.len() / 2..] {
            c.store.apply_remote_patch(patch).expect("applies");
        }
        assert!(
            !c.store.backend().has_pending(),
            "seed {seed}: c integrated everything"
        );
        assert_eq!(
            c.store.as_json(),
            a.store.as_json(),
            "seed {seed}: via snapshot"
        );
        c.store.check_consistency().expect("consistent");
    }
}

/// `cursor_lacks_all_of` tells a peer that has seen nothing of a snapshot or patch from one
/// that has seen some of it, and never claims more than it knows.
pub fn a_cursor_lacking_all_of_a_patch_is_recognised<B: NewBackend>() {
    let mut a = Replica::<B>::from_scratch();
    let folder = a.store.new_item_at(None, ROOT_ID, None).expect("folder");
    a.store.set_label(&folder, "folder").expect("label");
    let snapshot = a.store.backend().snapshot();
    let full = a.store.export_patch(None).expect("full");
    let newcomer = Replica::<B>::from_scratch();
    let fresh = newcomer.store.current_cursor();
    let verdict = B::cursor_lacks_all_of(&fresh, &snapshot);
    if verdict.is_none() {
        // The backend cannot tell cheaply; that is allowed, and then it must say so for
        // every input.
        assert_eq!(B::cursor_lacks_all_of(&[], &full), None);
        return;
    }
    assert_eq!(
        verdict,
        Some(true),
        "a new store has seen nothing of another one"
    );
    assert_eq!(
        B::cursor_lacks_all_of(&[], &snapshot),
        Some(true),
        "empty cursor"
    );
    assert_eq!(
        B::cursor_lacks_all_of(&fresh, &full),
        Some(true),
        "full patch"
    );
    let own = a.store.current_cursor();
    assert_eq!(
        B::cursor_lacks_all_of(&own, &snapshot),
        Some(false),
        "a store has seen its own snapshot"
    );

    // A delta after a cursor is lacked by that cursor, not by a later one.
    let before = a.store.current_cursor();
    a.store.set_label(&folder, "renamed").expect("label");
    let delta = a.store.export_patch(Some(&before)).expect("delta");
    assert_eq!(B::cursor_lacks_all_of(&before, &delta), Some(true));
    assert_eq!(
        B::cursor_lacks_all_of(&a.store.current_cursor(), &delta),
        Some(false)
    );
    // A peer that received the first snapshot has seen some of the full state.
    let mut b = Replica::<B>::from_scratch();
    b.store.apply_remote_patch(&snapshot).expect("applies");
    let full = a.store.export_patch(None).expect("full");
    assert_eq!(
        B::cursor_lacks_all_of(&b.store.current_cursor(), &full),
        Some(false)
    );

    // Undecodable input: no verdict.
    assert_eq!(
        B::cursor_lacks_all_of(&[0xff; 7], &full),
        None,
        "bad cursor"
    );
    assert_eq!(
        B::cursor_lacks_all_of(&fresh, b"not a patch"),
        None,
        "bad patch"
    );
}
