//! The store's in-memory model: every live entry as the backend reads it, plus the secondary
//! indices that keep tree operations independent of the store and container size.
//!
//! The model is a pure function of the document: after any sequence of local transactions and
//! remote patches it equals what reading every entry from the backend gives
//! ([`Model::from_entries`]); [`Model::check_against`] verifies exactly that in tests.

use crate::backend::{EntryData, EntryKind};
use crate::ids::cmp_utf16;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// A child's position in its container: ordered by (OrderKey, Id), both as UTF-16 sequences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChildKey {
    pub(crate) order_key: Arc<str>,
    pub(crate) id: Arc<str>,
}

impl Ord for ChildKey {
    fn cmp(&self, other: &Self) -> Ordering {
        cmp_utf16(&self.order_key, &other.order_key).then_with(|| cmp_utf16(&self.id, &other.id))
    }
}

impl PartialOrd for ChildKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Entries that no writer of sds or JS SDS produces and that cannot take part in the tree are
/// treated as absent, like the unreadable shapes of SPEC §9.5: an empty id (ids are non-empty,
/// SPEC §1.3; an entry under `""` would claim Root as its child) and a link without a target.
pub(crate) fn is_usable(id: &str, data: &EntryData) -> bool {
    let link_without_target = data.kind == EntryKind::Link && data.target_id.is_empty();
    !id.is_empty() && !link_without_target
}

/// A new state for one entry, for [`Model::apply`].
pub(crate) struct ModelUpdate {
    pub(crate) id: Arc<str>,
    /// Whether the model holds the entry now (when not, nothing needs removing first).
    pub(crate) existed: bool,
    /// The new state; `None` when the entry is gone.
    pub(crate) new: Option<EntryData>,
}

#[derive(Debug, Default)]
pub(crate) struct Model {
    entries: HashMap<Arc<str>, EntryData>,
    /// Children by container id, for every `outerItemId` in use, also for containers that are
    /// not live (orphans), so that repairs find them.
    children: HashMap<Arc<str>, BTreeSet<ChildKey>>,
    /// Live links by target id.
    links_to: HashMap<Arc<str>, HashSet<Arc<str>>>,
}

impl Model {
    pub(crate) fn from_entries(entries: impl IntoIterator<Item = (String, EntryData)>) -> Model {
        let mut model = Model::default();
        for (id, data) in entries {
            if is_usable(&id, &data) {
                model.insert(Arc::from(id), data);
            }
        }
        model
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&EntryData> {
        self.entries.get(id)
    }

    pub(crate) fn iter_entry(&self, id: &str) -> Option<(&Arc<str>, &EntryData)> {
        self.entries.get_key_value(id)
    }

    /// The shared id string of a live entry.
    pub(crate) fn id_arc(&self, id: &str) -> Option<Arc<str>> {
        self.entries.get_key_value(id).map(|(k, _)| k.clone())
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.entries.contains_key(id)
    }

    pub(crate) fn is_item(&self, id: &str) -> bool {
        self.entries
            .get(id)
            .is_some_and(|e| e.kind == EntryKind::Item)
    }

    pub(crate) fn ids(&self) -> impl Iterator<Item = &Arc<str>> {
        self.entries.keys()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &EntryData)> {
        self.entries.iter()
    }

    /// Mutable access for fields that no index depends on (everything except kind, placement
    /// and target). Callers must not change those three through this reference.
    pub(crate) fn data_mut(&mut self, id: &str) -> Option<&mut EntryData> {
        self.entries.get_mut(id)
    }

    /// Inserts or replaces an entry, keeping the indices right.
    pub(crate) fn insert(&mut self, id: Arc<str>, data: EntryData) {
        self.remove(&id);
        self.children
            .entry(data.outer_item_id.clone())
            .or_default()
            .insert(ChildKey {
                order_key: data.order_key.clone(),
                id: id.clone(),
            });
        self.index_link(&id, &data);
        self.entries.insert(id, data);
    }

    /// Applies many new states at once (`None`: the entry is gone), as after a remote patch.
    /// Equivalent to inserting or removing one by one; children added in bulk to a container
    /// are sorted once and merged into its index instead of being inserted one at a time.
    pub(crate) fn apply(&mut self, updates: Vec<ModelUpdate>) {
        let added = updates
            .iter()
            .filter(|u| !u.existed && u.new.is_some())
            .count();
        self.entries.reserve(added);
        // New children per container, in the order their containers were first seen.
        let mut new_children: Vec<(Arc<str>, Vec<ChildKey>)> = Vec::new();
        let mut slot: HashMap<Arc<str>, usize> = HashMap::new();
        for ModelUpdate { id, existed, new } in updates {
            if existed {
                self.remove(&id);
            }
            let Some(data) = new else {
                continue;
            };
            let child = ChildKey {
                order_key: data.order_key.clone(),
                id: id.clone(),
            };
            // Consecutive entries usually share their container.
            let at = match new_children.last() {
                Some((outer, _)) if *outer == data.outer_item_id => new_children.len() - 1,
                _ => *slot.entry(data.outer_item_id.clone()).or_insert_with(|| {
                    new_children.push((data.outer_item_id.clone(), Vec::new()));
                    new_children.len() - 1
                }),
            };
            new_children[at].1.push(child);
            self.index_link(&id, &data);
            self.entries.insert(id, data);
        }
        for (outer, mut children) in new_children {
            let set = self.children.entry(outer).or_default();
            if children.len() > set.len() {
                // Bulk: one sort and a linear build beat many tree insertions.
                children.sort_unstable();
                let old = std::mem::take(set);
                *set = merge_sorted(old.into_iter(), children.into_iter()).collect();
            } else {
                set.extend(children);
            }
        }
    }

    /// Notes a link in the index of links per target.
    fn index_link(&mut self, id: &Arc<str>, data: &EntryData) {
        if data.kind == EntryKind::Link {
            self.links_to
                .entry(data.target_id.clone())
                .or_default()
                .insert(id.clone());
        }
    }

    pub(crate) fn remove(&mut self, id: &str) -> Option<EntryData> {
        let (id, data) = self.entries.remove_entry(id)?;
        self.unindex_child(&data.outer_item_id, &data.order_key, &id);
        if data.kind == EntryKind::Link
            && let Some(set) = self.links_to.get_mut(&*data.target_id)
        {
            set.remove(&*id);
            if set.is_empty() {
                self.links_to.remove(&*data.target_id);
            }
        }
        Some(data)
    }

    fn unindex_child(&mut self, outer: &Arc<str>, order_key: &Arc<str>, id: &Arc<str>) {
        if let Some(set) = self.children.get_mut(&**outer) {
            set.remove(&ChildKey {
                order_key: order_key.clone(),
                id: id.clone(),
            });
            if set.is_empty() {
                self.children.remove(&**outer);
            }
        }
    }

    /// Changes an entry's placement. Returns the old placement.
    pub(crate) fn set_placement(
        &mut self,
        id: &str,
        outer: Arc<str>,
        order_key: Arc<str>,
    ) -> Option<(Arc<str>, Arc<str>)> {
        let (id, data) = self.entries.get_key_value(id)?;
        let id = id.clone();
        let old = (data.outer_item_id.clone(), data.order_key.clone());
        self.unindex_child(&old.0, &old.1, &id);
        self.children
            .entry(outer.clone())
            .or_default()
            .insert(ChildKey {
                order_key: order_key.clone(),
                id: id.clone(),
            });
        let data = self.entries.get_mut(&id)?;
        data.outer_item_id = outer;
        data.order_key = order_key;
        Some(old)
    }

    /// Children of `container` in (OrderKey, Id) order.
    pub(crate) fn children(&self, container: &str) -> impl DoubleEndedIterator<Item = &ChildKey> {
        self.children.get(container).into_iter().flatten()
    }

    pub(crate) fn child_count(&self, container: &str) -> usize {
        self.children.get(container).map_or(0, BTreeSet::len)
    }

    pub(crate) fn last_child(&self, container: &str) -> Option<&ChildKey> {
        self.children.get(container).and_then(|s| s.last())
    }

    /// The children whose key is strictly greater than `key` (first one).
    pub(crate) fn first_child_with_key_above(
        &self,
        container: &str,
        key: &str,
    ) -> Option<&ChildKey> {
        let probe = ChildKey {
            order_key: Arc::from(key),
            id: Arc::from(""),
        };
        self.children
            .get(container)?
            .range(probe..)
            .find(|c| cmp_utf16(&c.order_key, key) == Ordering::Greater)
    }

    /// Ids of `container`'s children in order.
    pub(crate) fn child_ids(&self, container: &str) -> Vec<Arc<str>> {
        self.children(container).map(|c| c.id.clone()).collect()
    }

    /// Live links whose target is `target`.
    pub(crate) fn links_to(&self, target: &str) -> impl Iterator<Item = &Arc<str>> {
        self.links_to.get(target).into_iter().flatten()
    }

    /// Compares the model with a fresh reading of the document and its indices with ones
    /// rebuilt from scratch; returns a description of the first difference.
    pub(crate) fn check_against(&self, document: Vec<(String, EntryData)>) -> Result<(), String> {
        let fresh = Model::from_entries(document);
        if fresh.entries.len() != self.entries.len() {
            return Err(format!(
                "model holds {} entries, the document {}",
                self.entries.len(),
                fresh.entries.len()
            ));
        }
        for (id, data) in &fresh.entries {
            match self.entries.get(id) {
                None => return Err(format!("entry {id} is missing from the model")),
                Some(mine) if mine != data => {
                    return Err(format!(
                        "entry {id} differs: model {mine:?}, document {data:?}"
                    ));
                }
                Some(_) => {}
            }
        }
        if fresh.children != self.children {
            return Err("the children index differs from a rebuilt one".into());
        }
        if fresh.links_to != self.links_to {
            return Err("the links index differs from a rebuilt one".into());
        }
        Ok(())
    }
}

/// Merges two ascending sequences into one ascending sequence (`b` first on ties; the model
/// never holds the same child twice, so ties do not occur).
fn merge_sorted(
    a: impl Iterator<Item = ChildKey>,
    b: impl Iterator<Item = ChildKey>,
) -> impl Iterator<Item = ChildKey> {
    let mut a = a.peekable();
    let mut b = b.peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x < y => a.next(),
        (Some(_), None) => a.next(),
        _ => b.next(),
    })
}
