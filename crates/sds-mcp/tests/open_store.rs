//! The store the last call used stays open between calls: other writers of the file are seen
//! by the next call, a deleted or replaced file is opened afresh, and the engine is stopped
//! (checkpoint) when the session ends.

mod common;

use common::{Mcp, temp};
use sds_core::{NewBackend, Persistence as _, ROOT_ID};
use sds_loro::LoroBackend;
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_sync::{Engine, EngineOptions};
use sds_yrs::YrsBackend;
use serde_json::json;
use std::path::Path;

/// Another process's engine on the store file (as `sds` would open it).
fn other_writer<B: NewBackend>(dir: &Path) -> Engine<B> {
    let persistence = SqlitePersistence::open(
        sds_sqlite::store_file_path(dir, "s"),
        "s",
        SqliteOptions::default(),
    )
    .unwrap();
    Engine::start(Some(Box::new(persistence)), EngineOptions::default(), 0).unwrap()
}

fn add<B: NewBackend>(engine: &mut Engine<B>, label: &str) -> String {
    let label = label.to_owned();
    engine
        .transact(move |s| {
            let id = s.new_item_at(None, ROOT_ID, None)?;
            s.set_label(&id, &label)?;
            Ok(id)
        })
        .unwrap()
}

fn label(mcp: &mut Mcp, backend: &str, id: &str) -> String {
    mcp.ok(
        "sds_entry_get",
        json!({"StoreId": "s", "Backend": backend, "Id": id, "Fields": ["Label"]}),
    )["Label"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn other_writers_are_seen_by_the_next_call<B: NewBackend>() {
    let backend = B::NAME;
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    let first = mcp.ok(
        "sds_entry_create",
        json!({"StoreId": "s", "Backend": backend, "Label": "from mcp"}),
    )["Id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another process appends a patch while the store is open in sds-mcp.
    let mut other = other_writer::<B>(&dir);
    assert_eq!(
        other.store().entry(&first).unwrap().label(),
        "from mcp",
        "sds-mcp's change is durable when its call returns"
    );
    let second = add(&mut other, "from another process");
    assert_eq!(label(&mut mcp, backend, &second), "from another process");

    // It checkpoints (pruning the log sds-mcp has read) and writes again.
    other.checkpoint().unwrap();
    let third = add(&mut other, "after a checkpoint");
    drop(other);
    assert_eq!(label(&mut mcp, backend, &third), "after a checkpoint");
    mcp.ok(
        "sds_entry_update",
        json!({"StoreId": "s", "Backend": backend, "Id": second, "Label": "renamed by mcp"}),
    );

    // The end of the session stops the engine: a checkpoint holds everything.
    assert!(mcp.finish().success());
    let mut file = SqlitePersistence::open(
        sds_sqlite::store_file_path(&dir, "s"),
        "s",
        SqliteOptions::default(),
    )
    .unwrap();
    assert!(
        file.load_snapshot().unwrap().is_some(),
        "checkpointed at exit"
    );
    assert!(
        file.load_patches_since(0).unwrap().is_empty(),
        "nothing left in the log"
    );
    drop(file);
    let reopened = other_writer::<B>(&dir);
    for (id, expected) in [
        (&first, "from mcp"),
        (&second, "renamed by mcp"),
        (&third, "after a checkpoint"),
    ] {
        assert_eq!(reopened.store().entry(id).unwrap().label(), expected);
    }
}

#[test]
fn yrs_other_writers_are_seen_by_the_next_call() {
    other_writers_are_seen_by_the_next_call::<YrsBackend>();
}

#[test]
fn loro_other_writers_are_seen_by_the_next_call() {
    other_writers_are_seen_by_the_next_call::<LoroBackend>();
}

#[test]
fn a_store_deleted_or_replaced_behind_its_back_is_opened_afresh() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    mcp.ok("sds_entry_create", json!({"StoreId": "s", "Label": "old"}));
    sds_sqlite::destroy_store_files(&dir, "s").unwrap();
    assert_eq!(
        mcp.ok("sds_store_info", json!({"StoreId": "s"})),
        json!({"StoreId": "s", "exists": false}),
        "a deleted store is gone for sds-mcp too"
    );
    assert_eq!(
        mcp.err("sds_entry_list", json!({"StoreId": "s", "Id": "root"})),
        format!("store 's' not found in '{}'", dir.display())
    );

    // Replaced by a new store written elsewhere.
    let mut other = other_writer::<YrsBackend>(&dir);
    let fresh = add(&mut other, "new");
    drop(other);
    let listed = mcp.ok(
        "sds_entry_list",
        json!({"StoreId": "s", "Id": "root", "Fields": ["Label"]}),
    );
    assert_eq!(
        listed,
        json!([{"Id": fresh, "Kind": "item", "Label": "new"}])
    );
}

#[test]
fn switching_stores_and_destroying_the_open_one() {
    let (_home, dir) = temp();
    let mut mcp = Mcp::in_dir(&dir);
    for store in ["a", "b", "a"] {
        mcp.ok(
            "sds_entry_create",
            json!({"StoreId": store, "Label": store}),
        );
    }
    for (store, count) in [("a", 2), ("b", 1)] {
        assert_eq!(
            mcp.ok("sds_store_info", json!({"StoreId": store}))["EntryCount"],
            json!(count)
        );
    }
    // `b` is open now; destroying it leaves nothing behind.
    mcp.ok("sds_store_destroy", json!({"StoreId": "b"}));
    assert!(!sds_sqlite::store_file_path(&dir, "b").exists());
    assert_eq!(
        mcp.ok("sds_store_info", json!({"StoreId": "b"})),
        json!({"StoreId": "b", "exists": false})
    );
    assert!(mcp.finish().success());
}
