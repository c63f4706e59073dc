//! Small helpers shared by the suites, the property test and backend-specific tests.

use sds_core::{
    Backend, ChangeOrigin, ChangeSet, Clock, EntryData, EntryKind, LOST_AND_FOUND_ID, NewBackend,
    ROOT_ID, Store, StoreOptions, TRASH_ID, Touched,
};
use serde_json::Value as JsonValue;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

/// A fresh store with default options.
pub fn new_store<B: NewBackend>() -> Store<B> {
    Store::from_scratch(StoreOptions::default()).expect("from_scratch")
}

/// A fresh store with a manual clock; returns the cell holding "now" in milliseconds.
pub fn store_with_clock<B: NewBackend>(start_ms: u64) -> (Store<B>, Arc<AtomicU64>) {
    let (clock, now) = Clock::manual(start_ms);
    let store = Store::from_scratch(StoreOptions {
        clock,
        ..StoreOptions::default()
    })
    .expect("from_scratch");
    (store, now)
}

/// A replica of `store` restored from its binary snapshot.
pub fn replica_of<B: NewBackend>(store: &Store<B>) -> Store<B> {
    Store::from_binary(&store.as_binary(), store.options().clone()).expect("from_binary")
}

/// The store's JSON as a `serde_json::Value`.
pub fn json_of<B: Backend>(store: &Store<B>) -> JsonValue {
    store.as_json().to_value()
}

/// Sends `from`'s changes that `to` lacks (one delta patch). Returns whether `to` changed.
pub fn send<B: Backend>(from: &Store<B>, to: &mut Store<B>) -> bool {
    let patch = from
        .export_patch(Some(&to.current_cursor()))
        .expect("export_patch");
    to.apply_remote_patch(&patch)
        .expect("apply_remote_patch")
        .changed
}

/// Exchanges deltas both ways until neither replica changes (repairs may write new changes).
pub fn sync_pair<B: Backend>(a: &mut Store<B>, b: &mut Store<B>) {
    for _ in 0..10 {
        let b_changed = send(a, b);
        let a_changed = send(b, a);
        if !a_changed && !b_changed {
            return;
        }
    }
    panic!("replicas kept changing after 10 exchanges");
}

/// Exchanges deltas among all replicas until none changes.
pub fn sync_all<B: Backend>(stores: &mut [Store<B>]) {
    for _ in 0..10 {
        let mut changed = false;
        for i in 0..stores.len() {
            for j in 0..stores.len() {
                if i != j {
                    let (from, to) = pair_mut(stores, i, j);
                    changed |= send(from, to);
                }
            }
        }
        if !changed {
            return;
        }
    }
    panic!("replicas kept changing after 10 rounds");
}

/// Two distinct elements of a slice, the first shared and the second mutable.
pub fn pair_mut<T>(items: &mut [T], i: usize, j: usize) -> (&T, &mut T) {
    assert_ne!(i, j);
    if i < j {
        let (left, right) = items.split_at_mut(j);
        (&left[i], &mut right[0])
    } else {
        let (left, right) = items.split_at_mut(i);
        (&right[0], &mut left[j])
    }
}

/// Every change event a store delivers, with its origin.
#[derive(Clone, Default)]
pub struct EventLog(Arc<Mutex<Vec<(ChangeOrigin, ChangeSet)>>>);

impl EventLog {
    /// Starts recording the change events of `store`.
    pub fn attach<B: Backend>(store: &mut Store<B>) -> EventLog {
        let log = EventLog::default();
        let sink = log.0.clone();
        store.on_change_invoke(move |_, origin, changes| {
            sink.lock().unwrap().push((origin, changes.clone()));
        });
        log
    }

    /// Takes the recorded events.
    pub fn take(&self) -> Vec<(ChangeOrigin, ChangeSet)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Takes the recorded events and expects exactly one; returns it.
    pub fn single(&self) -> (ChangeOrigin, ChangeSet) {
        let mut events = self.take();
        assert_eq!(
            events.len(),
            1,
            "expected exactly one change event: {events:?}"
        );
        events.remove(0)
    }
}

/// Ids of the direct children of `container`.
pub fn children<B: Backend>(store: &Store<B>, container: &str) -> Vec<String> {
    store
        .inner_entry_ids(container)
        .iter()
        .map(|id| id.to_string())
        .collect()
}

/// Creates an item with a label in `container` (appended).
pub fn item<B: Backend>(store: &mut Store<B>, container: &str, label: &str) -> String {
    let id = store
        .new_item_at(None, container, None)
        .expect("new_item_at");
    store.set_label(&id, label).expect("set_label");
    id
}

/// Checks the invariants of SPEC §5.1 and the model's consistency with the document. With
/// `links` false, dangling link targets are tolerated (a local purge may leave them for the
/// next repair).
pub fn check_invariants<B: Backend>(store: &Store<B>, links: bool) -> Result<(), String> {
    store.check_consistency()?;
    let root = store.root_item().ok_or("Root is missing")?;
    if !root.is_item() || root.outer_item_id().is_some() || !root.data().order_key.is_empty() {
        return Err("Root is misplaced".into());
    }
    for id in [TRASH_ID, LOST_AND_FOUND_ID] {
        let e = store.entry(id).ok_or(format!("{id} is missing"))?;
        if !e.is_item() || e.outer_item_id() != Some(ROOT_ID) {
            return Err(format!("{id} is not an item directly in Root"));
        }
    }
    let count = store.entry_count();
    for id in store.entry_ids() {
        let e = store.entry(id).unwrap();
        if e.is_root_item() {
            continue;
        }
        let outer = e
            .outer_item()
            .ok_or(format!("{id} has no live container"))?;
        if !outer.is_item() {
            return Err(format!("{id} sits in a link"));
        }
        let chain = e.outer_item_chain();
        if chain.len() > count || chain.last().map(|r| r.id()) != Some(ROOT_ID) {
            return Err(format!("{id} does not reach Root"));
        }
        if links && e.kind() == EntryKind::Link && e.target().is_none() {
            return Err(format!("link {id} dangles"));
        }
    }
    Ok(())
}

/// Panics with the message of [`check_invariants`].
pub fn assert_invariants<B: Backend>(store: &Store<B>) {
    if let Err(e) = check_invariants(store, true) {
        panic!("invariant violated: {e}");
    }
}

/// The patch a foreign writer would send: a second backend instance, started from `store`'s
/// snapshot, commits raw document writes (which may break the tree invariants, as writers of
/// other implementations can).
pub fn foreign_patch<B: NewBackend>(store: &Store<B>, ops: Vec<sds_core::Op>) -> Vec<u8> {
    let payload = sds_core::gzip::decompress(&store.as_binary()).expect("gunzip snapshot");
    let mut backend = B::from_snapshot(&payload).expect("from_snapshot");
    backend.commit(ops).expect("commit")
}

/// Shorthand for an `Arc<str>` id.
pub fn arc(id: &str) -> Arc<str> {
    Arc::from(id)
}

/// A store whose local patches are recorded, one per outermost transaction, as a peer would
/// receive them.
pub struct Replica<B: Backend> {
    /// The store.
    pub store: Store<B>,
    patches: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl<B: NewBackend> Replica<B> {
    /// A fresh store with default options.
    pub fn from_scratch() -> Self {
        Replica::wrap(new_store())
    }

    /// A store restored from `as_binary()` output, with default options.
    pub fn from_binary(bytes: &[u8]) -> Self {
        Replica::wrap(Store::from_binary(bytes, StoreOptions::default()).expect("from_binary"))
    }
}

impl<B: Backend> Replica<B> {
    /// Starts recording the local patches of `store`.
    pub fn wrap(mut store: Store<B>) -> Self {
        let patches = Arc::new(Mutex::new(Vec::new()));
        let sink = patches.clone();
        store.on_local_commit(move |_, commit| {
            sink.lock().unwrap().push(commit.patch.to_vec());
            Ok(())
        });
        Replica { store, patches }
    }

    /// The patches of the local transactions since the last call.
    pub fn take_patches(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.patches.lock().unwrap())
    }

    /// The one patch of the last local transaction (there must be exactly one since the last
    /// call).
    pub fn last_patch(&self) -> Vec<u8> {
        let mut patches = self.take_patches();
        assert_eq!(patches.len(), 1, "exactly one local transaction");
        patches.pop().unwrap()
    }
}

/// `Touched::Ids` of exactly these ids.
pub fn touched_ids(ids: &[&str]) -> Touched {
    Touched::Ids(ids.iter().map(|id| id.to_string()).collect())
}

/// Everything a rejected patch must leave as it was, read through the `Backend` trait: the
/// cursor, the whole history (the patch a replica with an empty document needs), whether
/// data is pending, and every live entry.
///
/// Snapshot bytes are no measure on every backend: loro encodes the same document
/// differently once it has decoded its lazily loaded state.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentState {
    cursor: Vec<u8>,
    history: Vec<u8>,
    pending: bool,
    entries: Vec<(String, EntryData)>,
}

impl DocumentState {
    /// Reads the state of `backend`.
    pub fn of<B: NewBackend>(backend: &B) -> Self {
        let empty = B::new_empty().current_cursor();
        let mut entries = backend.read_all();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        DocumentState {
            cursor: backend.current_cursor(),
            history: backend
                .export_patch(Some(&empty))
                .expect("a backend exports its own history"),
            pending: backend.has_pending(),
            entries,
        }
    }
}

/// A whole number from the environment variable `name`, if it is set and parses.
pub fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}
