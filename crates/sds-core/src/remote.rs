//! Applying remote patches: precise external change sets (SPEC §3.4, F16) and the repair pass
//! that follows (SPEC §5.8).

use crate::backend::{Backend, EntryData, EntryKind, Touched};
use crate::changes::{ChangeOrigin, ChangeSet, Property};
use crate::error::{Error, Result};
use crate::model::ModelUpdate;
use crate::store::{RemotePatchOutcome, Store, value_identity};
use std::collections::HashSet;
use std::sync::Arc;

/// Containers whose child lists may differ after a patch.
#[derive(Default)]
struct ContainerChanges {
    /// Containers that gained or lost children.
    membership: Vec<Arc<str>>,
    /// Containers in which children only changed their keys.
    rekeyed: Vec<Arc<str>>,
}

impl<B: Backend> Store<B> {
    /// Applies a remote patch (SPEC §10.3): an empty patch is a no-op, undecodable bytes are
    /// `invalid-data` with the document unchanged, and a patch that changed the tree delivers
    /// its precise change set with origin `external` and is followed by the repair pass (a
    /// local transaction).
    pub fn apply_remote_patch(&mut self, patch: &[u8]) -> Result<RemotePatchOutcome> {
        self.apply_remote_patch_with(patch, true)
    }

    /// Like [`Store::apply_remote_patch`] but without the repair pass, for replaying a patch
    /// log: SPEC §13.2 applies every stored patch and then repairs once
    /// ([`Store::recover_orphans`]), so that a state in the middle of the log never causes
    /// permanent repair writes.
    pub fn apply_remote_patch_without_repair(
        &mut self,
        patch: &[u8],
    ) -> Result<RemotePatchOutcome> {
        self.apply_remote_patch_with(patch, false)
    }

    fn apply_remote_patch_with(
        &mut self,
        patch: &[u8],
        repair: bool,
    ) -> Result<RemotePatchOutcome> {
        if self.in_transaction() {
            return Err(Error::invalid_argument(
                "apply_remote_patch cannot run inside a transaction",
            ));
        }
        if patch.is_empty() {
            return Ok(RemotePatchOutcome {
                advanced: false,
                changed: false,
            });
        }
        let applied = self.backend.apply_remote_patch(patch)?;
        let read = match applied.touched {
            Touched::Ids(ids) => self.read_touched(ids),
            Touched::All => self.read_everything(),
        };
        let (changes, changed) = self.integrate_remote_state(read);
        let any_change = !changes.is_empty();
        if any_change {
            self.deliver(ChangeOrigin::External, &changes);
            if repair {
                self.repair_after_remote(changed.ids, &changed.vanished)?;
            }
        }
        Ok(RemotePatchOutcome {
            advanced: applied.advanced,
            changed: any_change,
        })
    }

    /// Re-reads the touched entries and compares them with the model.
    fn read_touched(&self, touched: HashSet<String>) -> RemoteRead {
        let mut read = RemoteRead::default();
        for id in touched {
            let new = self
                .backend
                .read_entry(&id)
                .filter(|data| crate::model::is_usable(&id, data));
            match self.model.iter_entry(&id) {
                Some((id, old)) => read.compare(id, Some(old), new),
                None => {
                    if new.is_some() {
                        read.compare(&Arc::from(id), None, new);
                    }
                }
            }
        }
        read
    }

    /// Reads every entry of the document in one pass (cheaper than one look-up per id when
    /// the patch may have touched most of it) and compares them with the model; entries of the
    /// model that the document no longer holds count as removed.
    fn read_everything(&self) -> RemoteRead {
        let mut read = RemoteRead::default();
        // The model entries the document still holds; every other one was removed.
        let mut kept: Vec<Arc<str>> = Vec::new();
        self.backend.for_each_entry(&mut |id, data| {
            let new = Some(data).filter(|data| crate::model::is_usable(id, data));
            match self.model.iter_entry(id) {
                Some((id, old)) => {
                    kept.push(id.clone());
                    read.compare(id, Some(old), new);
                }
                None => {
                    if new.is_some() {
                        read.compare(&Arc::from(id), None, new);
                    }
                }
            }
        });
        if kept.len() < self.model.len() {
            let kept: HashSet<&str> = kept.iter().map(|id| &**id).collect();
            for (id, old) in self.model.iter() {
                if !kept.contains(&**id) {
                    read.compare(id, Some(old), None);
                }
            }
        }
        read
    }

    /// Applies what [`Store::read_touched`] or [`Store::read_everything`] found to the model
    /// and returns the change set and the entries that changed.
    fn integrate_remote_state(&mut self, read: RemoteRead) -> (ChangeSet, Changed) {
        let RemoteRead {
            updates,
            changed,
            mut changes,
            containers,
            ..
        } = read;
        if updates.is_empty() {
            return (changes, changed);
        }
        let membership: HashSet<Arc<str>> = containers.membership.iter().cloned().collect();
        let rekeyed: Vec<(Arc<str>, Vec<Arc<str>>)> = dedup(containers.rekeyed)
            .into_iter()
            .filter(|c| !membership.contains(c))
            .map(|c| {
                let before = self.model.child_ids(&c);
                (c, before)
            })
            .collect();
        self.model.apply(updates);
        let mut list_changed = dedup(containers.membership);
        for (container, before) in rekeyed {
            if self.model.child_ids(&container) != before {
                list_changed.push(container);
            }
        }
        for container in list_changed {
            // A container that disappeared reports only its own Existence and outerItem.
            if self.model.contains(&container) {
                changes.record(&container, Property::InnerEntryList);
            }
        }
        (changes, changed)
    }
}

/// The entries a remote patch changed.
#[derive(Default)]
struct Changed {
    /// Every entry whose state changed.
    ids: Vec<Arc<str>>,
    /// Those of them that are no longer live items (removed, or now links).
    vanished: Vec<Arc<str>>,
}

/// The entries a remote patch changed, with their new state, what changed about them, and
/// the containers whose child lists may differ.
#[derive(Default)]
struct RemoteRead {
    updates: Vec<ModelUpdate>,
    changed: Changed,
    changes: ChangeSet,
    containers: ContainerChanges,
    /// Scratch list of one entry's changed properties.
    properties: Vec<Property>,
    /// The state an absent entry counts as (SPEC §3.4), made once.
    default: Option<EntryData>,
}

impl RemoteRead {
    /// Records the entry `id` when its state changed from `old` to `new`.
    fn compare(&mut self, id: &Arc<str>, old: Option<&EntryData>, new: Option<EntryData>) {
        if old == new.as_ref() {
            return;
        }
        let default = self.default.get_or_insert_with(|| {
            EntryData::new_item(Arc::from(""), Arc::from(""), String::new())
        });
        diff_entry(
            old,
            new.as_ref(),
            default,
            &mut self.properties,
            &mut self.containers,
        );
        self.changes.record_all(id, self.properties.drain(..));
        self.changed.ids.push(id.clone());
        if new.as_ref().is_none_or(|data| data.kind != EntryKind::Item) {
            self.changed.vanished.push(id.clone());
        }
        self.updates.push(ModelUpdate {
            id: id.clone(),
            existed: old.is_some(),
            new,
        });
    }
}

impl ContainerChanges {
    /// Notes a container that gained or lost children (consecutive repeats once).
    fn membership(&mut self, container: &Arc<str>) {
        if self.membership.last() != Some(container) {
            self.membership.push(container.clone());
        }
    }
}

fn dedup(mut ids: Vec<Arc<str>>) -> Vec<Arc<str>> {
    let mut seen = HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    ids
}

/// Collects in `changes` what differs between the old and new state of one entry; an absent
/// entry counts as the default state (SPEC §3.4).
fn diff_entry(
    old: Option<&EntryData>,
    new: Option<&EntryData>,
    default: &EntryData,
    changes: &mut Vec<Property>,
    containers: &mut ContainerChanges,
) {
    match (old, new) {
        (None, None) => {}
        (Some(old), None) => {
            changes.push(Property::Existence);
            changes.push(Property::OuterItem);
            containers.membership(&old.outer_item_id);
        }
        (None, Some(new)) => {
            changes.push(Property::Existence);
            changes.push(Property::OuterItem);
            containers.membership(&new.outer_item_id);
            diff_properties(default, new, changes);
        }
        (Some(old), Some(new)) => {
            if old.kind != new.kind {
                changes.push(Property::Existence);
            }
            if old.outer_item_id != new.outer_item_id {
                changes.push(Property::OuterItem);
                containers.membership(&old.outer_item_id);
                containers.membership(&new.outer_item_id);
            } else if old.order_key != new.order_key {
                changes.push(Property::OuterItem);
                containers.rekeyed.push(new.outer_item_id.clone());
            }
            diff_properties(old, new, changes);
        }
    }
}

fn diff_properties(old: &EntryData, new: &EntryData, changes: &mut Vec<Property>) {
    if old.label != new.label {
        changes.push(Property::Label);
    }
    if old.mime_type != new.mime_type {
        changes.push(Property::Type);
    }
    if value_identity(old) != value_identity(new) {
        changes.push(Property::Value);
    }
    for (key, value) in &new.info {
        if old.info.get(key) != Some(value) {
            changes.push(Property::Info(key.clone()));
        }
    }
    for key in old.info.keys() {
        if !new.info.contains_key(key) {
            changes.push(Property::Info(key.clone()));
        }
    }
}
