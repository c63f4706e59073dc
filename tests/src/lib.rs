//! Shared pieces of the cross-crate scenarios: opening a durable store by backend name and
//! the workload the durability worker runs.

use sds_core::{Backend, NewBackend, ROOT_ID, StoreOptions};
use sds_sqlite::{SqliteOptions, SqlitePersistence};
use sds_sync::{Engine, EngineOptions, SyncError};
use std::path::Path;

/// The backends the scenarios run on.
pub const BACKENDS: &[&str] = &["yrs", "loro"];

/// Options of the durability workload: a small literal limit so that blobs occur, and a small
/// checkpoint threshold so that kills also land in checkpoints.
pub fn engine_options(checkpoint_threshold: usize) -> EngineOptions {
    EngineOptions {
        store: StoreOptions {
            literal_size_limit: 64,
            ..StoreOptions::default()
        },
        checkpoint_threshold,
        ..EngineOptions::default()
    }
}

/// Starts an engine on `path` / `store_id` with the given backend type.
pub fn start<B: NewBackend>(
    path: &Path,
    store_id: &str,
    checkpoint_threshold: usize,
) -> Result<Engine<B>, SyncError> {
    let persistence = SqlitePersistence::open(path, store_id, SqliteOptions::default())?;
    Engine::<B>::start(
        Some(Box::new(persistence)),
        engine_options(checkpoint_threshold),
        0,
    )
}

/// The label of workload transaction `n`.
pub fn label_of(n: u64) -> String {
    format!("t{n}")
}

/// Workload transaction `n`: an item labelled `t<n>`, and on some transactions a large value
/// (a blob), Info, or a move of the new item into the previous one. Returns the new item's id.
pub fn workload_step<B: Backend>(
    engine: &mut Engine<B>,
    n: u64,
    previous: Option<&str>,
) -> Result<String, SyncError> {
    let previous = previous.map(str::to_owned);
    engine.transact(move |s| {
        let id = s.new_item_at(None, ROOT_ID, None)?;
        s.set_label(&id, &label_of(n))?;
        if n.is_multiple_of(5) {
            s.write_value(&id, format!("blob {n} {}", "x".repeat(200)).as_str())?;
        }
        if n.is_multiple_of(7) {
            s.set_info(&id, "n", serde_json::json!(n))?;
        }
        if n.is_multiple_of(11)
            && let Some(previous) = previous
        {
            s.move_entry_to(&id, &previous, None)?;
        }
        Ok(id)
    })
}
