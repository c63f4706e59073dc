//! SPEC §18.10 Events.

use crate::helpers::*;
use sds_core::{ChangeOrigin, Error, NewBackend, Property, ROOT_ID};
use std::sync::{Arc, Mutex};

/// Creation reports `Existence` and `outerItem` for the entry and `innerEntryList` for the
/// container.
pub fn creation_reports_existence_outer_item_and_list<B: NewBackend>() {
    let mut store = new_store::<B>();
    let log = EventLog::attach(&mut store);
    let x = store.new_item_at(None, ROOT_ID, None).unwrap();
    let (origin, changes) = log.single();
    assert_eq!(origin, ChangeOrigin::Internal);
    let props: Vec<_> = changes.get(&x).unwrap().iter().cloned().collect();
    assert_eq!(props, vec![Property::Existence, Property::OuterItem]);
    assert_eq!(
        changes
            .get(ROOT_ID)
            .unwrap()
            .iter()
            .cloned()
            .collect::<Vec<_>>(),
        vec![Property::InnerEntryList]
    );
    assert_eq!(changes.len(), 2);
    assert_eq!(changes.ids().next(), Some(x.as_str()));
}

/// Unsubscribing stops delivery; all handlers get every event; nested transactions emit once.
pub fn unsubscribe_and_multiple_handlers_and_nesting<B: NewBackend>() {
    let mut store = new_store::<B>();
    let calls = Arc::new(Mutex::new(Vec::<&'static str>::new()));
    let (c1, c2) = (calls.clone(), calls.clone());
    let first = store.on_change_invoke(move |_, _, _| c1.lock().unwrap().push("first"));
    store.on_change_invoke(move |_, _, _| c2.lock().unwrap().push("second"));
    item(&mut store, ROOT_ID, "x");
    // Creating and labelling are two transactions.
    assert_eq!(
        *calls.lock().unwrap(),
        vec!["first", "second", "first", "second"]
    );
    calls.lock().unwrap().clear();
    store
        .transact(|s| {
            let a = s.new_item_at(None, ROOT_ID, None)?;
            s.transact(|s| s.set_label(&a, "nested"))?;
            s.set_label(&a, "outer")
        })
        .unwrap();
    assert_eq!(*calls.lock().unwrap(), vec!["first", "second"]);
    calls.lock().unwrap().clear();
    first.unsubscribe();
    item(&mut store, ROOT_ID, "y");
    assert_eq!(*calls.lock().unwrap(), vec!["second", "second"]);
    store.dispose();
    item(&mut store, ROOT_ID, "z");
    assert_eq!(calls.lock().unwrap().len(), 2);
}

/// Operations that change nothing emit nothing.
pub fn no_event_without_change<B: NewBackend>() {
    let mut store = new_store::<B>();
    let x = item(&mut store, ROOT_ID, "x");
    store.write_value(&x, "v").unwrap();
    store.set_info(&x, "k", serde_json::json!(1)).unwrap();
    let log = EventLog::attach(&mut store);
    store.set_label(&x, "x").unwrap();
    store.write_value(&x, "v").unwrap();
    store.set_info(&x, "k", serde_json::json!(1)).unwrap();
    store.delete_info(&x, "nothing").unwrap();
    store.set_mime_type(&x, "text/plain").unwrap();
    store.transact(|_| Ok(())).unwrap();
    let patch = store.export_patch(None).unwrap();
    store.apply_remote_patch(&patch).unwrap();
    store.apply_remote_patch(&[]).unwrap();
    assert!(log.take().is_empty());
}

/// Local changes are `internal`, remote patches `external`, the repair after them `internal`.
pub fn origins_of_local_remote_and_repair_changes<B: NewBackend>() {
    let mut a = new_store::<B>();
    let parent = item(&mut a, ROOT_ID, "parent");
    let mut b = replica_of(&a);
    let child = item(&mut b, &parent, "child");
    a.delete_entry(&parent).unwrap();
    a.purge_entry(&parent).unwrap();
    let log = EventLog::attach(&mut a);
    send(&b, &mut a);
    let events = log.take();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, ChangeOrigin::External);
    assert!(events[0].1.contains(&child, &Property::Existence));
    assert_eq!(events[1].0, ChangeOrigin::Internal);
    assert!(events[1].1.contains(&child, &Property::OuterItem));
    assert_eq!(
        a.entry(&child).unwrap().outer_item_id(),
        Some(sds_core::LOST_AND_FOUND_ID)
    );
}

/// A failure inside `transact` keeps and delivers earlier mutations; a panicking handler
/// leaves the store usable.
pub fn failures_inside_transactions_keep_earlier_mutations<B: NewBackend>() {
    let mut store = new_store::<B>();
    let log = EventLog::attach(&mut store);
    let result: sds_core::Result<()> = store.transact(|s| {
        let x = s.new_item_at(None, ROOT_ID, None)?;
        s.set_label(&x, "kept")?;
        s.move_entry_to(&x, "missing", None)?;
        Ok(())
    });
    assert!(result.is_err());
    let (_, changes) = log.single();
    assert_eq!(changes.len(), 2);
    assert_eq!(store.entry_count(), 4);
    store.on_change_invoke(|_, _, _| panic!("handler failure"));
    let after = log.clone();
    let y = item(&mut store, ROOT_ID, "after panic");
    assert_eq!(after.take().len(), 2);
    assert_eq!(store.entry(&y).unwrap().label(), "after panic");
    assert_invariants(&store);
    let _: Error = store.set_label("missing", "x").unwrap_err();
}

/// Every local transaction hands its patch to the commit hooks.
pub fn local_commits_carry_patches<B: NewBackend>() {
    let mut a = new_store::<B>();
    let mut b = replica_of(&a);
    let patches = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let sink = patches.clone();
    a.on_local_commit(move |_, commit| {
        sink.lock().unwrap().push(commit.patch.to_vec());
        Ok(())
    });
    let x = item(&mut a, ROOT_ID, "x");
    a.write_value(&x, "value").unwrap();
    let patches = std::mem::take(&mut *patches.lock().unwrap());
    assert_eq!(patches.len(), 3);
    for p in &patches {
        b.apply_remote_patch(p).unwrap();
    }
    assert_eq!(json_of(&a), json_of(&b));
}
