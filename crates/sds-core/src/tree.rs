//! Tree operations: ordering keys for insertions, move, delete, purge with link protection,
//! Trash TTL and rebalancing (SPEC §5, §6.4–§6.6).

use crate::backend::{Backend, EntryKind};
use crate::changes::Property;
use crate::error::{Error, ErrorCode, Result};
use crate::ids::{LOST_AND_FOUND_ID, ROOT_ID, TRASH_ID, is_well_known};
use crate::limits::{MAX_ORDER_KEY_LENGTH, TRASHED_AT_KEY};
use crate::model::ChildKey;
use crate::order_key::{key_between, n_keys_between};
use crate::store::Store;
use serde_json::Value as JsonValue;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Where a link sits relative to the Trash (SPEC §5.5).
#[derive(Debug, PartialEq, Eq)]
enum LinkPlace {
    /// Reachable from Root without passing through the Trash.
    RootReachable,
    /// Inside the subtree of this direct Trash child.
    TrashBranch(Arc<str>),
    /// Not reachable from Root at all (only possible in a document awaiting repair).
    Unreachable,
}

impl<B: Backend> Store<B> {
    /// The ordering key for inserting into `container` at `index` (SPEC §6.4), rebalancing
    /// the container first when a neighbour key is malformed or the new key would be too long.
    /// In the equal-key case (SPEC §6.5) the members of the run after the insertion point are
    /// re-keyed here. `moving` is the entry being moved, if any.
    pub(crate) fn key_for_insertion(
        &mut self,
        container: &Arc<str>,
        index: Option<usize>,
        moving: Option<&Arc<str>>,
    ) -> Result<Arc<str>> {
        if let Some(key) = self.try_key_for_insertion(container, index, moving) {
            return Ok(key);
        }
        self.rebalance_children(container);
        self.try_key_for_insertion(container, index, moving)
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "no ordering key could be generated in container '{container}'"
                ))
            })
    }

    /// One attempt of [`Store::key_for_insertion`]; `None` means "rebalance and retry".
    fn try_key_for_insertion(
        &mut self,
        container: &Arc<str>,
        index: Option<usize>,
        moving: Option<&Arc<str>>,
    ) -> Option<Arc<str>> {
        let count = self.model.child_count(container);
        let index = index.filter(|&i| i < count);
        let Some(index) = index else {
            let last = self
                .model
                .last_child(container)
                .map(|c| c.order_key.clone());
            return acceptable(key_between(last.as_deref(), None).ok()?);
        };
        let (lower, upper) = {
            let mut it = self.model.children(container).skip(index.saturating_sub(1));
            if index == 0 {
                (None, it.next().cloned())
            } else {
                (it.next().cloned(), it.next().cloned())
            }
        };
        let upper = upper?;
        if let Some(lower) = &lower
            && lower.order_key == upper.order_key
        {
            return self.key_between_equal_keys(container, index, &upper.order_key, moving);
        }
        acceptable(
            key_between(
                lower.as_ref().map(|l| &*l.order_key),
                Some(&upper.order_key),
            )
            .ok()?,
        )
    }

    /// SPEC §6.5: the run of children sharing key `shared` is split at `index`; the inserted
    /// entry gets the first of |R|+1 new keys and the run members from `index` on the rest.
    fn key_between_equal_keys(
        &mut self,
        container: &Arc<str>,
        index: usize,
        shared: &Arc<str>,
        moving: Option<&Arc<str>>,
    ) -> Option<Arc<str>> {
        let rest: Vec<Arc<str>> = self
            .model
            .children(container)
            .skip(index)
            .take_while(|c| c.order_key == *shared)
            .filter(|c| Some(&c.id) != moving)
            .map(|c| c.id.clone())
            .collect();
        let next = self
            .model
            .first_child_with_key_above(container, shared)
            .map(|c| c.order_key.clone());
        let keys = n_keys_between(Some(shared), next.as_deref(), rest.len() + 1).ok()?;
        if keys.iter().any(|k| k.len() > MAX_ORDER_KEY_LENGTH) {
            return None;
        }
        for (id, key) in rest.iter().zip(&keys[1..]) {
            self.p_set_placement(id, container.clone(), Arc::from(key.as_str()));
        }
        Some(Arc::from(keys[0].as_str()))
    }

    /// Gives the children of `container` the keys `a0, a1, …` in their current order.
    pub(crate) fn rebalance_children(&mut self, container: &Arc<str>) {
        let children: Vec<ChildKey> = self.model.children(container).cloned().collect();
        let Ok(keys) = n_keys_between(None, None, children.len()) else {
            return;
        };
        for (child, key) in children.iter().zip(keys) {
            if *child.order_key != *key {
                self.p_set_placement(&child.id, container.clone(), Arc::from(key));
            }
        }
    }

    /// Gives the item's children the keys `a0, a1, …` in their current order (SPEC §6.6),
    /// recording `outerItem` for every re-keyed child.
    pub fn rebalance_inner_entries_of(&mut self, item: &str) -> Result<()> {
        let item = self.live_id(item)?;
        if !self.model.is_item(&item) {
            return Err(Error::invalid_argument(format!(
                "'{item}' is a link; links have no inner entries"
            )));
        }
        self.transact(|s| {
            s.rebalance_children(&item);
            Ok(())
        })
    }

    /// Checks step 2 of SPEC §5.2 for moving `entry` into `container` (both live).
    fn check_move_cycle(&self, entry: &str, container: &str) -> Result<()> {
        let refuse = |why: &str| {
            Err(Error::new(
                ErrorCode::MoveWouldCycle,
                format!("cannot move '{entry}' into '{container}': {why}"),
            ))
        };
        if entry == ROOT_ID {
            return refuse("Root cannot be moved");
        }
        if (entry == TRASH_ID || entry == LOST_AND_FOUND_ID) && container != ROOT_ID {
            return refuse("Trash and LostAndFound may only be placed directly in Root");
        }
        let mut current = container;
        for _ in 0..=self.model.len() {
            if current == entry {
                return refuse("the container is the entry itself or one of its descendants");
            }
            match self.model.get(current) {
                Some(data) if !data.outer_item_id.is_empty() => current = &data.outer_item_id,
                _ => break,
            }
        }
        Ok(())
    }

    /// Whether `entry` may be moved into `container` (SPEC §5.2); the index plays no role.
    pub fn entry_may_be_moved_to(&self, entry: &str, container: &str) -> bool {
        self.model.contains(entry)
            && self.model.is_item(container)
            && self.check_move_cycle(entry, container).is_ok()
    }

    /// Moves an entry into `container` at `index` (SPEC §5.2). Leaving the Trash removes
    /// `_trashedAt` (restore, SPEC §5.4).
    pub fn move_entry_to(
        &mut self,
        entry: &str,
        container: &str,
        index: Option<usize>,
    ) -> Result<()> {
        let entry = self.live_id(entry)?;
        let container = self.live_item_id(container, "container")?;
        self.check_move_cycle(&entry, &container)?;
        self.transact(|s| {
            let old_outer = s.data(&entry)?.outer_item_id.clone();
            let key = s.key_for_insertion(&container, index, Some(&entry))?;
            s.p_set_placement(&entry, container.clone(), key);
            s.record(&old_outer, Property::InnerEntryList);
            s.record(&container, Property::InnerEntryList);
            if &*old_outer == TRASH_ID && &*container != TRASH_ID {
                s.p_delete_info(&entry, TRASHED_AT_KEY);
            }
            Ok(())
        })
    }

    /// Whether the entry may be deleted: false for the three well-known items.
    pub fn entry_may_be_deleted(&self, entry: &str) -> bool {
        self.model.contains(entry) && !is_well_known(entry)
    }

    /// Soft-deletes an entry: moves it (with its subtree) to the end of the Trash and stamps
    /// `Info._trashedAt` with the current time (SPEC §5.3).
    pub fn delete_entry(&mut self, entry: &str) -> Result<()> {
        let entry = self.live_id(entry)?;
        if is_well_known(&entry) {
            return Err(Error::new(
                ErrorCode::DeleteNotPermitted,
                format!("entry '{entry}' cannot be deleted (system entry)"),
            ));
        }
        let trash = self.live_item_id(TRASH_ID, "trash")?;
        let now = self.now_ms();
        self.transact(|s| {
            let old_outer = s.data(&entry)?.outer_item_id.clone();
            let key = s.key_for_insertion(&trash, None, Some(&entry))?;
            s.p_set_placement(&entry, trash.clone(), key);
            s.p_set_info(&entry, TRASHED_AT_KEY, JsonValue::from(now));
            // A renewed stamp within the same millisecond still counts as a re-stamp.
            s.record(&entry, Property::Info(TRASHED_AT_KEY.to_owned()));
            s.record(&old_outer, Property::InnerEntryList);
            s.record(&trash, Property::InnerEntryList);
            Ok(())
        })
    }

    /// Permanently removes a direct child of the Trash with its subtree (SPEC §5.5).
    pub fn purge_entry(&mut self, entry: &str) -> Result<()> {
        let entry = self.live_id(entry)?;
        if &*self.data(&entry)?.outer_item_id != TRASH_ID || is_well_known(&entry) {
            return Err(Error::new(
                ErrorCode::PurgeNotInTrash,
                format!("entry '{entry}' is not a direct child of the trash"),
            ));
        }
        if self.is_purge_protected(&entry) {
            return Err(Error::new(
                ErrorCode::PurgeProtected,
                format!("entry '{entry}' is still the target of links and cannot be purged"),
            ));
        }
        let trash = self.live_item_id(TRASH_ID, "trash")?;
        self.transact(|s| {
            s.remove_subtree_with_rescue(&entry, &trash)?;
            s.record(&trash, Property::InnerEntryList);
            Ok(())
        })
    }

    /// Step 3 of SPEC §5.5, depth first and without recursion: children whose subtree is the
    /// target of a Root-reachable link are moved to the end of the Trash, everything else is
    /// removed.
    fn remove_subtree_with_rescue(&mut self, top: &Arc<str>, trash: &Arc<str>) -> Result<()> {
        // (entry, children already handled)
        let mut stack: Vec<(Arc<str>, bool)> = vec![(top.clone(), false)];
        while let Some((id, expanded)) = stack.pop() {
            if expanded {
                self.p_remove(&id);
                continue;
            }
            stack.push((id.clone(), true));
            for child in self.model.child_ids(&id).into_iter().rev() {
                if self.subtree_targeted_from_root(&child) {
                    let key = self.key_for_insertion(trash, None, Some(&child))?;
                    self.p_set_placement(&child, trash.clone(), key);
                    self.record(trash, Property::InnerEntryList);
                } else {
                    stack.push((child, false));
                }
            }
        }
        Ok(())
    }

    /// All entries of the subtree below and including `top`.
    pub(crate) fn subtree_ids(&self, top: &Arc<str>) -> Vec<Arc<str>> {
        let mut out = vec![top.clone()];
        let mut next = 0;
        while next < out.len() {
            let id = out[next].clone();
            out.extend(self.model.children(&id).map(|c| c.id.clone()));
            next += 1;
        }
        out
    }

    fn link_place(&self, link: &str) -> LinkPlace {
        let mut current = link;
        for _ in 0..=self.model.len() {
            let Some(data) = self.model.get(current) else {
                return LinkPlace::Unreachable;
            };
            if current == ROOT_ID {
                return LinkPlace::RootReachable;
            }
            if &*data.outer_item_id == TRASH_ID {
                return LinkPlace::TrashBranch(
                    self.model
                        .id_arc(current)
                        .unwrap_or_else(|| Arc::from(current)),
                );
            }
            current = &data.outer_item_id;
        }
        LinkPlace::Unreachable
    }

    fn subtree_targeted_from_root(&self, top: &Arc<str>) -> bool {
        self.subtree_ids(top).iter().any(|e| {
            self.model
                .links_to(e)
                .any(|l| self.link_place(l) == LinkPlace::RootReachable)
        })
    }

    /// Step 2 of SPEC §5.5 as a backward search: `top` is protected when a chain of links
    /// leads into its subtree from the Root-reachable tree, possibly through other Trash
    /// branches that are protected themselves.
    pub(crate) fn is_purge_protected(&self, top: &Arc<str>) -> bool {
        let mut visited: HashSet<Arc<str>> = HashSet::from([top.clone()]);
        let mut queue = vec![top.clone()];
        while let Some(branch) = queue.pop() {
            for entry in self.subtree_ids(&branch) {
                for link in self.model.links_to(&entry) {
                    match self.link_place(link) {
                        LinkPlace::RootReachable => return true,
                        LinkPlace::TrashBranch(other) => {
                            if visited.insert(other.clone()) {
                                queue.push(other);
                            }
                        }
                        LinkPlace::Unreachable => {}
                    }
                }
            }
        }
        false
    }

    /// Purges every direct Trash child whose `_trashedAt` stamp is at least `ttl` old
    /// (default: the store's TTL; none purges nothing); failures such as protection are
    /// skipped. Returns the number of purged entries (SPEC §5.6).
    pub fn purge_expired_trash_entries(&mut self, ttl: Option<Duration>) -> Result<usize> {
        let ttl = match ttl.or(self.options.trash_ttl) {
            Some(ttl) if ttl.is_zero() => {
                return Err(Error::invalid_argument(
                    "the TTL must be a positive duration",
                ));
            }
            Some(ttl) => ttl.as_millis() as f64,
            None => return Ok(0),
        };
        let now = self.now_ms() as f64;
        let expired: Vec<Arc<str>> = self
            .model
            .children(TRASH_ID)
            .filter(|c| {
                self.model
                    .get(&c.id)
                    .and_then(|d| d.info.get(TRASHED_AT_KEY))
                    .and_then(JsonValue::as_f64)
                    .is_some_and(|stamp| now - stamp >= ttl)
            })
            .map(|c| c.id.clone())
            .collect();
        self.transact(|s| {
            Ok(expired
                .iter()
                .filter(|id| s.purge_entry(id).is_ok())
                .count())
        })
    }

    /// Whether `id` is a live item (used by repairs and imports).
    pub(crate) fn is_live_item(&self, id: &str) -> bool {
        self.model
            .get(id)
            .is_some_and(|d| d.kind == EntryKind::Item)
    }
}

fn acceptable(key: String) -> Option<Arc<str>> {
    (key.len() <= MAX_ORDER_KEY_LENGTH).then(|| Arc::from(key))
}
