//! Applying remote patches: precise external change sets (SPEC §3.4, F16) and the repair pass
//! that follows (SPEC §5.8).

use crate::backend::{Backend, EntryData, Touched};
use crate::changes::{ChangeOrigin, ChangeSet, Property};
use crate::error::{Error, Result};
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
        let touched: Vec<String> = match applied.touched {
            Touched::Ids(ids) => ids.into_iter().collect(),
            Touched::All => {
                let mut all: HashSet<String> = self.backend.entry_ids().into_iter().collect();
                all.extend(self.model.ids().map(|id| id.to_string()));
                all.into_iter().collect()
            }
        };
        let (changes, changed_ids) = self.integrate_remote_state(touched);
        let changed = !changes.is_empty();
        if changed {
            self.deliver(ChangeOrigin::External, &changes);
            if repair {
                self.repair_after_remote(changed_ids)?;
            }
        }
        Ok(RemotePatchOutcome {
            advanced: applied.advanced,
            changed,
        })
    }

    /// Re-reads the touched entries, updates the model and returns the change set and the
    /// ids of the entries that changed.
    fn integrate_remote_state(&mut self, touched: Vec<String>) -> (ChangeSet, Vec<Arc<str>>) {
        let mut updates: Vec<(Arc<str>, Option<EntryData>)> = Vec::new();
        for id in touched {
            let new = self
                .backend
                .read_entry(&id)
                .filter(|data| crate::model::is_usable(&id, data));
            if self.model.get(&id) != new.as_ref() {
                let id = self.model.id_arc(&id).unwrap_or_else(|| Arc::from(id));
                updates.push((id, new));
            }
        }
        let mut changes = ChangeSet::new();
        if updates.is_empty() {
            return (changes, Vec::new());
        }
        let mut containers = ContainerChanges::default();
        for (id, new) in &updates {
            diff_entry(
                id,
                self.model.get(id),
                new.as_ref(),
                &mut changes,
                &mut containers,
            );
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
        let changed_ids: Vec<Arc<str>> = updates.iter().map(|(id, _)| id.clone()).collect();
        for (id, new) in updates {
            match new {
                Some(data) => self.model.insert(id, data),
                None => {
                    self.model.remove(&id);
                }
            }
        }
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
        (changes, changed_ids)
    }
}

fn dedup(mut ids: Vec<Arc<str>>) -> Vec<Arc<str>> {
    let mut seen = HashSet::new();
    ids.retain(|id| seen.insert(id.clone()));
    ids
}

/// Records what differs between the old and new state of one entry; an absent entry counts
/// as the default state (SPEC §3.4).
fn diff_entry(
    id: &str,
    old: Option<&EntryData>,
    new: Option<&EntryData>,
    changes: &mut ChangeSet,
    containers: &mut ContainerChanges,
) {
    match (old, new) {
        (None, None) => {}
        (Some(old), None) => {
            changes.record(id, Property::Existence);
            changes.record(id, Property::OuterItem);
            containers.membership.push(old.outer_item_id.clone());
        }
        (None, Some(new)) => {
            changes.record(id, Property::Existence);
            changes.record(id, Property::OuterItem);
            containers.membership.push(new.outer_item_id.clone());
            let default = EntryData::new_item(Arc::from(""), Arc::from(""), String::new());
            diff_properties(id, &default, new, changes);
        }
        (Some(old), Some(new)) => {
            if old.kind != new.kind {
                changes.record(id, Property::Existence);
            }
            if old.outer_item_id != new.outer_item_id {
                changes.record(id, Property::OuterItem);
                containers.membership.push(old.outer_item_id.clone());
                containers.membership.push(new.outer_item_id.clone());
            } else if old.order_key != new.order_key {
                changes.record(id, Property::OuterItem);
                containers.rekeyed.push(new.outer_item_id.clone());
            }
            diff_properties(id, old, new, changes);
        }
    }
}

fn diff_properties(id: &str, old: &EntryData, new: &EntryData, changes: &mut ChangeSet) {
    if old.label != new.label {
        changes.record(id, Property::Label);
    }
    if old.mime_type != new.mime_type {
        changes.record(id, Property::Type);
    }
    if value_identity(old) != value_identity(new) {
        changes.record(id, Property::Value);
    }
    for (key, value) in &new.info {
        if old.info.get(key) != Some(value) {
            changes.record(id, Property::Info(key.clone()));
        }
    }
    for key in old.info.keys() {
        if !new.info.contains_key(key) {
            changes.record(id, Property::Info(key.clone()));
        }
    }
}
