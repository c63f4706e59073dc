//! The repair pass of SPEC §5.7: well-known items, orphans, cycles and dangling links.
//!
//! After a remote patch only the entries the patch changed (plus the children of containers
//! that disappeared and the links to targets that disappeared) are examined, so a repair costs
//! time proportional to the patch, not to the store. `recover_orphans` examines everything.

use crate::backend::{Backend, EntryData, EntryKind};
use crate::changes::Property;
use crate::error::Result;
use crate::ids::{LOST_AND_FOUND_ID, ROOT_ID, TRASH_ID, cmp_utf16};
use crate::store::Store;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

impl<B: Backend> Store<B> {
    /// Runs the full repair pass (SPEC §5.7) over the whole store as one local transaction.
    pub fn recover_orphans(&mut self) -> Result<()> {
        let all: Vec<Arc<str>> = self.model.ids().cloned().collect();
        self.transact(|s| s.repair(all))
    }

    /// Repairs after a remote patch that changed the entries `changed`, of which `vanished`
    /// are no longer live items.
    pub(crate) fn repair_after_remote(
        &mut self,
        mut candidates: Vec<Arc<str>>,
        vanished: &[Arc<str>],
    ) -> Result<()> {
        for id in vanished {
            // Children of a container that vanished or is a link are now orphans, and links
            // to a vanished target dangle.
            candidates.extend(self.model.children(id).map(|c| c.id.clone()));
            candidates.extend(self.model.links_to(id).cloned());
        }
        self.transact(|s| s.repair(candidates))
    }

    /// The candidates are surveyed once (after step 1, which may create entries); every step
    /// sorts what it acts on, so the order of `candidates` and repeats in it do not matter.
    fn repair(&mut self, candidates: Vec<Arc<str>>) -> Result<()> {
        self.repair_well_known()?;
        let survey = self.survey(&candidates);
        self.repair_orphans(survey.orphans)?;
        self.repair_cycles(&survey.nested)?;
        self.repair_dangling_links(survey.missing_targets)
    }

    /// Looks at every live candidate once.
    fn survey(&self, candidates: &[Arc<str>]) -> Survey {
        let mut survey = Survey::default();
        // Most candidates share a few containers: remember the last answer.
        let mut last: Option<(&Arc<str>, bool)> = None;
        for id in candidates {
            let Some(data) = self.model.get(id) else {
                continue;
            };
            let outer = &data.outer_item_id;
            if &**id != ROOT_ID {
                let live = match last {
                    Some((known, live)) if known == outer => live,
                    _ => {
                        let live = self.is_live_item(outer);
                        last = Some((outer, live));
                        live
                    }
                };
                if !live {
                    survey.orphans.push(id.clone());
                }
            }
            // An entry directly in Root is on no cycle; the others are walked in step 3.
            if &**outer != ROOT_ID {
                survey.nested.push(id.clone());
            }
            if data.kind == EntryKind::Link && !self.model.contains(&data.target_id) {
                survey.missing_targets.push(data.target_id.clone());
            }
        }
        survey
    }

    /// Step 1: Root at ("", ""), Trash and LostAndFound present and directly in Root.
    fn repair_well_known(&mut self) -> Result<()> {
        match self.model.get(ROOT_ID) {
            None => self.create_well_known(ROOT_ID, "", "", ""),
            Some(root) if !root.outer_item_id.is_empty() || !root.order_key.is_empty() => {
                let root_id = self.live_id(ROOT_ID)?;
                let old = root.outer_item_id.clone();
                self.p_set_placement(&root_id, Arc::from(""), Arc::from(""));
                self.record(&old, Property::InnerEntryList);
            }
            Some(_) => {}
        }
        let root = self.live_id(ROOT_ID)?;
        for (id, label) in [(TRASH_ID, "trash"), (LOST_AND_FOUND_ID, "lost-and-found")] {
            match self.model.get(id) {
                None => {
                    let key = self.key_for_insertion(&root, None, None)?;
                    let mut data = EntryData::new_item(root.clone(), key, String::new());
                    data.label = label.to_owned();
                    self.p_create(Arc::from(id), data);
                }
                Some(data) if data.outer_item_id != root => {
                    let old = data.outer_item_id.clone();
                    let id = self.live_id(id)?;
                    self.move_to_end_of(&id, &root)?;
                    if self.is_live_item(&old) {
                        self.record(&old, Property::InnerEntryList);
                    }
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    fn move_to_end_of(&mut self, id: &Arc<str>, container: &Arc<str>) -> Result<()> {
        let key = self.key_for_insertion(container, None, Some(id))?;
        self.p_set_placement(id, container.clone(), key);
        self.record(container, Property::InnerEntryList);
        Ok(())
    }

    /// Step 2: live entries whose container is missing or a link go to LostAndFound.
    fn repair_orphans(&mut self, mut orphans: Vec<Arc<str>>) -> Result<()> {
        orphans.sort_by(|a, b| cmp_utf16(a, b));
        orphans.dedup();
        let lost_and_found = self.live_id(LOST_AND_FOUND_ID)?;
        for orphan in orphans {
            self.move_to_end_of(&orphan, &lost_and_found)?;
        }
        Ok(())
    }

    /// Step 3: in every cycle of containers, the entry with the smallest id goes to
    /// LostAndFound. Each entry has one container, so every cycle is a simple loop and moving
    /// one member breaks it.
    fn repair_cycles(&mut self, candidates: &[Arc<str>]) -> Result<()> {
        let mut reaches_root: HashSet<Arc<str>> = HashSet::new();
        let mut reaches_cycle: HashSet<Arc<str>> = HashSet::new();
        let mut cycles: Vec<Vec<Arc<str>>> = Vec::new();
        for start in candidates {
            let mut path: Vec<Arc<str>> = Vec::new();
            let mut position: HashMap<Arc<str>, usize> = HashMap::new();
            let mut current = start.clone();
            loop {
                if &*current == ROOT_ID || reaches_root.contains(&current) {
                    reaches_root.extend(path);
                    break;
                }
                if reaches_cycle.contains(&current) {
                    reaches_cycle.extend(path);
                    break;
                }
                if let Some(&at) = position.get(&current) {
                    cycles.push(path[at..].to_vec());
                    reaches_cycle.extend(path);
                    break;
                }
                let Some(outer) = self.model.get(&current).map(|d| d.outer_item_id.clone()) else {
                    // Not live: the orphan step already placed everything below it.
                    reaches_root.extend(path);
                    break;
                };
                position.insert(current.clone(), path.len());
                path.push(current);
                current = outer;
            }
        }
        let mut breakers: Vec<Arc<str>> = cycles
            .iter()
            .filter_map(|cycle| cycle.iter().min_by(|a, b| cmp_utf16(a, b)).cloned())
            .collect();
        breakers.sort_by(|a, b| cmp_utf16(a, b));
        let lost_and_found = self.live_id(LOST_AND_FOUND_ID)?;
        for entry in breakers {
            let old = self.data(&entry)?.outer_item_id.clone();
            self.move_to_end_of(&entry, &lost_and_found)?;
            self.record(&old, Property::InnerEntryList);
        }
        Ok(())
    }

    /// Step 4: a placeholder item under the id of every missing link target.
    fn repair_dangling_links(&mut self, mut missing: Vec<Arc<str>>) -> Result<()> {
        missing.sort_by(|a, b| cmp_utf16(a, b));
        missing.dedup();
        let lost_and_found = self.live_id(LOST_AND_FOUND_ID)?;
        for target in missing {
            if target.is_empty() {
                continue;
            }
            let key = self.key_for_insertion(&lost_and_found, None, None)?;
            self.p_create(
                target,
                EntryData::new_item(lost_and_found.clone(), key, String::new()),
            );
        }
        Ok(())
    }
}

/// What step 1 leaves for the other steps to look at.
#[derive(Default)]
struct Survey {
    /// Live entries whose container is not a live item.
    orphans: Vec<Arc<str>>,
    /// Live entries not directly in Root, which might be on a cycle.
    nested: Vec<Arc<str>>,
    /// Targets of live links that do not exist.
    missing_targets: Vec<Arc<str>>,
}
