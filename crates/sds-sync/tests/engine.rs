//! The local pipeline of the sync engine over the in-memory provider (SPEC §13.2–§13.4,
//! §13.8, §11.3, §18.15).

use sds_core::{
    Clock, ErrorCode, LOST_AND_FOUND_ID, MemoryDatabase, MemoryPersistence, Persistence, ROOT_ID,
    Store, StoreOptions, TRASH_ID, Value, blob_hash,
};
use sds_sync::{Engine, EngineEvent, EngineOptions, SyncError};
use sds_yrs::YrsBackend;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Db = Arc<Mutex<MemoryDatabase>>;

fn provider(db: &Db) -> Box<dyn Persistence> {
    Box::new(MemoryPersistence::shared("store", db.clone()))
}

fn start(db: &Db) -> Engine<YrsBackend> {
    Engine::start(Some(provider(db)), EngineOptions::default(), 0).expect("start")
}

fn patches(db: &Db) -> Vec<(u64, Vec<u8>)> {
    MemoryPersistence::shared("store", db.clone())
        .load_patches_since(0)
        .unwrap()
}

fn snapshot_clock(db: &Db) -> Option<u64> {
    MemoryPersistence::shared("store", db.clone())
        .load_snapshot()
        .unwrap()
        .map(|(_, c)| c)
}

#[test]
fn a_fresh_store_persists_its_initial_document_and_restores_by_itself() {
    let db = Db::default();
    let mut engine = start(&db);
    assert_eq!(patches(&db).len(), 1, "the initial document is persisted");
    let id = engine
        .transact(|s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "kept")?;
            Ok(id)
        })
        .unwrap();
    assert_eq!(patches(&db).len(), 2, "one transaction, one appended patch");
    // Without stopping (a crash): the next engine replays snapshot-less patches.
    drop(engine);
    let engine = start(&db);
    assert_eq!(engine.store().entry(&id).unwrap().label(), "kept");
    assert_eq!(engine.store().entry_count(), 4);
    engine.store().check_consistency().unwrap();
}

#[test]
fn renamed_well_known_items_survive_a_restart_without_snapshot() {
    let db = Db::default();
    let mut engine = start(&db);
    engine.transact(|s| s.set_label(TRASH_ID, "Bin")).unwrap();
    drop(engine);
    for _ in 0..3 {
        let engine = start(&db);
        assert_eq!(engine.store().entry(TRASH_ID).unwrap().label(), "Bin");
    }
}

#[test]
fn stop_checkpoints_and_prunes() {
    let db = Db::default();
    let mut engine = start(&db);
    for i in 0..5 {
        engine
            .transact(|s| s.new_item_at(None, ROOT_ID, None).map(drop))
            .unwrap_or_else(|e| panic!("transaction {i}: {e}"));
    }
    assert_eq!(patches(&db).len(), 6);
    engine.stop().unwrap();
    assert!(patches(&db).is_empty());
    assert_eq!(snapshot_clock(&db), Some(6));
    assert!(matches!(
        engine.transact(|_| Ok(())),
        Err(SyncError::Stopped)
    ));
    let again = start(&db);
    assert_eq!(again.store().entry_count(), 8);
}

#[test]
fn checkpoints_run_at_the_threshold() {
    let db = Db::default();
    let options = EngineOptions {
        checkpoint_threshold: 4096,
        ..EngineOptions::default()
    };
    let mut engine = Engine::<YrsBackend>::start(Some(provider(&db)), options, 0).unwrap();
    let id = engine
        .transact(|s| s.new_item_at(None, ROOT_ID, None))
        .unwrap();
    let mut checkpoints = 0;
    for i in 0..200 {
        engine
            .transact(|s| {
                // Completely different texts, so that every patch carries about 60 characters
                // (a minimal splice of similar labels would be a few bytes).
                let fill = if i % 2 == 0 { 'x' } else { 'y' };
                s.set_label(&id, &fill.to_string().repeat(60))
            })
            .unwrap();
        while let Some(event) = engine.poll_event() {
            if matches!(event, EngineEvent::Checkpointed(_)) {
                checkpoints += 1;
            }
        }
    }
    assert!(checkpoints >= 2, "only {checkpoints} checkpoints");
    assert!(engine.bytes_since_checkpoint() < 4096);
    assert!(patches(&db).len() < 100);
}

#[test]
fn received_patches_are_persisted_on_receipt_and_no_ops_are_not() {
    let db = Db::default();
    let mut engine = start(&db);
    let mut peer =
        Store::<YrsBackend>::from_binary(&engine.store().as_binary(), StoreOptions::default())
            .unwrap();
    let cursor = peer.current_cursor();
    let x = peer.new_item_at(None, ROOT_ID, None).unwrap();
    let patch = peer.export_patch(Some(&cursor)).unwrap();
    let before = patches(&db).len();
    assert!(engine.apply_remote_patch(&patch).unwrap().advanced);
    assert_eq!(patches(&db).len(), before + 1);
    assert_eq!(patches(&db).last().unwrap().1, patch);
    assert!(!engine.apply_remote_patch(&patch).unwrap().advanced);
    assert_eq!(
        patches(&db).len(),
        before + 1,
        "a patch that changes nothing is not stored"
    );
    let err = engine.apply_remote_patch(b"garbage").unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidData);
    assert_eq!(patches(&db).len(), before + 1);
    drop(engine);
    assert!(start(&db).store().entry(&x).is_some());
}

#[test]
fn the_repair_of_a_remote_patch_is_appended_after_it() {
    let db = Db::default();
    let mut engine = start(&db);
    let parent = engine
        .transact(|s| s.new_item_at(None, ROOT_ID, None))
        .unwrap();
    let mut peer =
        Store::<YrsBackend>::from_binary(&engine.store().as_binary(), StoreOptions::default())
            .unwrap();
    let cursor = peer.current_cursor();
    engine
        .transact(|s| {
            s.delete_entry(&parent)?;
            s.purge_entry(&parent)
        })
        .unwrap();
    let child = peer.new_item_at(None, &parent, None).unwrap();
    let before = patches(&db).len();
    engine
        .apply_remote_patch(&peer.export_patch(Some(&cursor)).unwrap())
        .unwrap();
    assert_eq!(patches(&db).len(), before + 2, "the patch, then its repair");
    assert_eq!(
        engine.store().entry(&child).unwrap().outer_item_id(),
        Some(LOST_AND_FOUND_ID)
    );
    drop(engine);
    let again = start(&db);
    assert_eq!(
        again.store().entry(&child).unwrap().outer_item_id(),
        Some(LOST_AND_FOUND_ID)
    );
}

#[test]
fn two_engines_on_one_database_lose_nothing_whatever_the_checkpoint_order() {
    for first_stops_first in [true, false] {
        let db = Db::default();
        let mut a = start(&db);
        let mut b = start(&db);
        let mut ids = Vec::new();
        for i in 0..10 {
            let engine = if i % 2 == 0 { &mut a } else { &mut b };
            ids.push(
                engine
                    .transact(move |s| {
                        let id = s.new_item_at(None, ROOT_ID, None)?;
                        s.set_label(&id, &format!("from {i}"))?;
                        Ok(id)
                    })
                    .unwrap(),
            );
            if i == 5 {
                a.checkpoint().unwrap();
            }
        }
        let (mut first, mut second) = if first_stops_first { (a, b) } else { (b, a) };
        first.stop().unwrap();
        second.stop().unwrap();
        let third = start(&db);
        for (i, id) in ids.iter().enumerate() {
            let entry = third
                .store()
                .entry(id)
                .unwrap_or_else(|| panic!("entry {i} lost"));
            assert_eq!(entry.label(), format!("from {i}"));
        }
        third.store().check_consistency().unwrap();
    }
}

#[test]
fn refresh_brings_a_long_lived_engine_up_to_date_with_other_writers() {
    let db = Db::default();
    let mut long_lived = start(&db);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    long_lived
        .store_mut()
        .on_change_invoke(move |_, origin, changes| {
            let ids: Vec<String> = changes.iter().map(|(id, _)| id.to_owned()).collect();
            sink.lock().unwrap().push((origin, ids));
        });
    assert!(!long_lived.refresh().unwrap(), "nothing new at first");

    // Another process writes a patch: the refresh applies it as a remote change.
    let mut other = start(&db);
    let first = other
        .transact(|s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "first")?;
            Ok(id)
        })
        .unwrap();
    let stored = patches(&db).len();
    assert!(
        long_lived.refresh().unwrap(),
        "the other writer's patch advances it"
    );
    assert_eq!(long_lived.store().entry(&first).unwrap().label(), "first");
    assert!(
        seen.lock().unwrap().iter().any(|(origin, ids)| *origin
            == sds_core::ChangeOrigin::External
            && ids.contains(&first)),
        "change handlers see the refreshed entry as an external change"
    );
    assert_eq!(
        patches(&db).len(),
        stored,
        "refreshed patches are not appended again"
    );
    assert!(
        !long_lived.refresh().unwrap(),
        "a second refresh finds nothing new"
    );

    // The other process checkpoints (pruning what the long-lived engine has not read) and
    // writes again; the long-lived engine writes too.
    let second = other
        .transact(|s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "second")?;
            Ok(id)
        })
        .unwrap();
    other.checkpoint().unwrap();
    let third = other
        .transact(|s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "third")?;
            Ok(id)
        })
        .unwrap();
    let own = long_lived
        .transact(|s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "own")?;
            Ok(id)
        })
        .unwrap();
    assert!(
        long_lived.refresh().unwrap(),
        "the foreign snapshot and patch are merged"
    );
    for (id, label) in [
        (&first, "first"),
        (&second, "second"),
        (&third, "third"),
        (&own, "own"),
    ] {
        assert_eq!(long_lived.store().entry(id).unwrap().label(), label);
    }
    long_lived.store().check_consistency().unwrap();

    // Both stop (checkpoints merging each other); a fresh engine sees everything.
    long_lived.stop().unwrap();
    other.stop().unwrap();
    let fresh = start(&db);
    for (id, label) in [
        (&first, "first"),
        (&second, "second"),
        (&third, "third"),
        (&own, "own"),
    ] {
        assert_eq!(fresh.store().entry(id).unwrap().label(), label);
    }
}

#[test]
fn refresh_without_persistence_and_after_stop() {
    let mut memory_only =
        Engine::<YrsBackend>::start(None, EngineOptions::default(), 0).expect("start");
    assert!(!memory_only.refresh().unwrap(), "nothing to read");
    let db = Db::default();
    let mut engine = start(&db);
    engine.stop().unwrap();
    assert!(matches!(engine.refresh(), Err(SyncError::Stopped)));
}

#[test]
fn blobs_are_saved_with_their_patch_and_collected_by_reachability() {
    let db = Db::default();
    let (clock, now) = Clock::manual(1_000_000);
    let provider = MemoryPersistence::shared("store", db.clone()).with_clock(clock);
    let options = EngineOptions {
        store: StoreOptions {
            literal_size_limit: 8,
            ..StoreOptions::default()
        },
        ..EngineOptions::default()
    };
    let mut engine =
        Engine::<YrsBackend>::start(Some(Box::new(provider.clone())), options.clone(), 0).unwrap();
    let text = "a value long enough to become a blob";
    let hash = blob_hash(text.as_bytes());
    let (kept, dropped) = engine
        .transact(|s| {
            let kept = s.new_item_at(None, ROOT_ID, None)?;
            s.write_value(&kept, "another long value kept in the trash")?;
            let dropped = s.new_item_at(None, ROOT_ID, None)?;
            s.write_value(&dropped, text)?;
            Ok((kept, dropped))
        })
        .unwrap();
    let mut reader = MemoryPersistence::shared("store", db.clone());
    assert_eq!(reader.load_value(&hash).unwrap().unwrap(), text.as_bytes());
    engine
        .transact(|s| {
            s.delete_entry(&kept)?;
            s.write_value(&dropped, "short")
        })
        .unwrap();
    // Within the grace period nothing is deleted.
    engine.checkpoint().unwrap();
    assert!(reader.load_value(&hash).unwrap().is_some());
    now.fetch_add(11 * 60 * 1000, Ordering::SeqCst);
    engine.checkpoint().unwrap();
    assert!(
        reader.load_value(&hash).unwrap().is_none(),
        "unreferenced blob deleted"
    );
    let kept_hash = engine.store().value_ref_of(&kept).unwrap().unwrap().hash;
    assert!(
        reader.load_value(&kept_hash).unwrap().is_some(),
        "a blob referenced from the Trash stays"
    );
    // A restarted engine reads the blob through persistence (the loader).
    engine.stop().unwrap();
    let again = Engine::<YrsBackend>::start(
        Some(Box::new(MemoryPersistence::shared("store", db))),
        options,
        0,
    )
    .unwrap();
    assert_eq!(
        again.store().read_value(&kept).unwrap(),
        Value::Text("another long value kept in the trash".into())
    );
}

#[test]
fn undecodable_stored_patches_are_skipped_and_reported() {
    let db = Db::default();
    let mut engine = start(&db);
    let id = engine
        .transact(|s| s.new_item_at(None, ROOT_ID, None))
        .unwrap();
    drop(engine);
    MemoryPersistence::shared("store", db.clone())
        .append_patch(b"not a patch")
        .unwrap();
    let mut engine = start(&db);
    assert!(engine.store().entry(&id).is_some());
    let skipped: Vec<u64> = std::iter::from_fn(|| engine.poll_event())
        .filter_map(|e| match e {
            EngineEvent::PatchSkipped { clock, error } => {
                assert_eq!(error.code(), ErrorCode::InvalidData);
                Some(clock)
            }
            _ => None,
        })
        .collect();
    assert_eq!(skipped, vec![3]);
}

#[test]
fn a_store_of_another_backend_is_refused() {
    let db = Db::default();
    let mut p = MemoryPersistence::shared("store", db.clone());
    p.set_backend("loro").unwrap();
    p.append_patch(b"whatever").unwrap();
    let err =
        Engine::<YrsBackend>::start(Some(provider(&db)), EngineOptions::default(), 0).unwrap_err();
    assert!(
        matches!(err, SyncError::BackendMismatch { ref stored, .. } if stored == "loro"),
        "{err}"
    );
}

#[test]
fn the_backend_marker_is_written_with_the_first_patch() {
    let db = Db::default();
    let _engine = start(&db);
    assert_eq!(
        MemoryPersistence::shared("store", db)
            .backend()
            .unwrap()
            .as_deref(),
        Some("yrs")
    );
}

#[test]
fn the_trash_timer_purges_expired_entries() {
    let db = Db::default();
    let (clock, now) = Clock::manual(0);
    let options = EngineOptions {
        store: StoreOptions {
            trash_ttl: Some(Duration::from_secs(60)),
            clock,
            ..StoreOptions::default()
        },
        ..EngineOptions::default()
    };
    let mut engine = Engine::<YrsBackend>::start(Some(provider(&db)), options, 0).unwrap();
    assert_eq!(engine.poll_timeout(), Some(15_000), "min(ttl/4, 1 h)");
    let id = engine
        .transact(|s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.delete_entry(&id)?;
            Ok(id)
        })
        .unwrap();
    now.store(30_000, Ordering::SeqCst);
    engine.handle_timeout(30_000);
    assert!(engine.store().entry(&id).is_some(), "not yet expired");
    assert_eq!(engine.poll_timeout(), Some(45_000));
    now.store(61_000, Ordering::SeqCst);
    engine.handle_timeout(61_000);
    assert!(engine.store().entry(&id).is_none());
    assert!(
        std::iter::from_fn(|| engine.poll_event())
            .any(|e| matches!(e, EngineEvent::TrashPurged(1)))
    );
    drop(engine);
    assert!(
        start(&db).store().entry(&id).is_none(),
        "the purge was persisted"
    );
}

#[test]
fn engines_without_persistence_work_in_memory() {
    let mut engine = Engine::<YrsBackend>::start(None, EngineOptions::default(), 0).unwrap();
    let id = engine
        .transact(|s| s.new_item_at(None, ROOT_ID, None))
        .unwrap();
    // Before the first connection nothing queues up: the connection uploads the full state.
    engine.on_connected(0);
    let frames: Vec<_> = std::iter::from_fn(|| engine.poll_transmit(0)).collect();
    assert!(matches!(
        frames.as_slice(),
        [
            sds_sync::protocol::Frame::Patch(_),
            sds_sync::protocol::Frame::SyncRequest(_)
        ]
    ));
    assert!(engine.checkpoint().unwrap().is_none());
    let store = engine.into_store().unwrap();
    assert!(store.entry(&id).is_some());
}

#[tokio::test]
async fn the_driver_runs_the_engine_on_its_own_thread() {
    let db = Db::default();
    let engine = start(&db);
    let (handle, mut events) = sds_sync::EngineHandle::spawn(engine).unwrap();
    let id = handle
        .transact(|s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, "via the driver")?;
            Ok(id)
        })
        .await
        .unwrap();
    let label = handle
        .run({
            let id = id.clone();
            move |e| e.store().entry(&id).map(|x| x.label().to_owned())
        })
        .await
        .unwrap();
    assert_eq!(label.as_deref(), Some("via the driver"));
    handle.stop().await.unwrap();
    assert!(matches!(
        events.recv().await,
        Some(sds_sync::DriverEvent::Engine(EngineEvent::Checkpointed(_)))
    ));
    assert!(start(&db).store().entry(&id).is_some());
}

#[test]
fn passive_replicas_never_author_changes() {
    let db = Db::default();
    let passive = || EngineOptions {
        passive: true,
        ..EngineOptions::default()
    };
    let mut replica = Engine::<YrsBackend>::start(Some(provider(&db)), passive(), 0).unwrap();
    assert_eq!(
        replica.store().entry_count(),
        0,
        "no well-known items of its own"
    );
    assert!(patches(&db).is_empty());
    assert!(replica.poll_timeout().is_none(), "no Trash timer");

    // A peer's document arrives, then an orphan that an active replica would repair.
    let mut peer = Store::<YrsBackend>::from_scratch(StoreOptions::default()).unwrap();
    let parent = peer.new_item_at(None, ROOT_ID, None).unwrap();
    replica
        .apply_remote_patch(&peer.export_patch(None).unwrap())
        .unwrap();
    let cursor = peer.current_cursor();
    let mut other =
        Store::<YrsBackend>::from_binary(&peer.as_binary(), StoreOptions::default()).unwrap();
    peer.delete_entry(&parent).unwrap();
    peer.purge_entry(&parent).unwrap();
    let child = other.new_item_at(None, &parent, None).unwrap();
    replica
        .apply_remote_patch(&peer.export_patch(Some(&cursor)).unwrap())
        .unwrap();
    let before = patches(&db).len();
    replica
        .apply_remote_patch(&other.export_patch(Some(&cursor)).unwrap())
        .unwrap();
    assert_eq!(
        patches(&db).len(),
        before + 1,
        "the patch only, no repair patch"
    );
    assert_eq!(
        replica.store().entry(&child).unwrap().outer_item_id(),
        Some(parent.as_str()),
        "left for the peers to repair"
    );
    let hash = blob_hash(b"blob");
    replica.store_received_blob(&hash, b"blob").unwrap();
    assert_eq!(
        replica
            .store_received_blob(&blob_hash(b"x"), b"y")
            .unwrap_err()
            .code(),
        ErrorCode::InvalidData
    );
    replica.stop().unwrap();
    let again = Engine::<YrsBackend>::start(Some(provider(&db)), passive(), 0).unwrap();
    assert_eq!(again.store().entry_count(), 4);
    assert_eq!(&*again.blob(&hash).unwrap(), b"blob");
}

#[test]
fn a_checkpoint_without_changes_keeps_the_stored_snapshot() {
    let db = Db::default();
    let mut engine = start(&db);
    let id = engine
        .transact(|store| store.new_item_at(None, ROOT_ID, None))
        .unwrap();
    engine.stop().unwrap();
    let clock = snapshot_clock(&db).unwrap();

    // A restart that changes nothing: the stop must not rewrite the snapshot. To see whether
    // it does, the stored bytes are replaced by another valid snapshot under the same clock.
    let mut engine = start(&db);
    let marker = Store::<YrsBackend>::from_scratch(StoreOptions::default())
        .unwrap()
        .as_binary();
    MemoryPersistence::shared("store", db.clone())
        .save_snapshot(&marker, clock)
        .unwrap();
    engine.stop().unwrap();
    let stored = MemoryPersistence::shared("store", db.clone())
        .load_snapshot()
        .unwrap();
    assert_eq!(stored, Some((marker, clock)));

    // A change, or a patch appended by another process, makes the stop write a snapshot.
    let mut provider = MemoryPersistence::shared("store", db.clone());
    provider
        .save_snapshot(&stored_bytes_of(&id), clock)
        .unwrap();
    let mut engine = start(&db);
    let mut other = start(&db);
    other
        .transact(|store| store.set_label(&id, "from another process"))
        .unwrap();
    drop(other);
    engine.stop().unwrap();
    assert!(snapshot_clock(&db).unwrap() > clock);
    assert!(patches(&db).is_empty());
    let again = start(&db);
    assert_eq!(
        again.store().entry(&id).unwrap().label(),
        "from another process"
    );
}

/// A snapshot holding one item with this id (the store of the test above, rebuilt).
fn stored_bytes_of(id: &str) -> Vec<u8> {
    let json = serde_json::json!({"Kind": "item", "Id": ROOT_ID, "innerEntries": [
        {"Kind": "item", "Id": id}
    ]});
    Store::<YrsBackend>::from_json(&json, StoreOptions::default())
        .unwrap()
        .as_binary()
}
