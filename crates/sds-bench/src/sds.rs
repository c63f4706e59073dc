//! The workloads through the sds store API, generic over the backend.

use crate::{Extra, time};
use sds_core::{NewBackend, ROOT_ID, Store, StoreOptions, TRASH_ID};
use std::sync::{Arc, Mutex};

fn fresh<B: NewBackend>() -> Result<Store<B>, String> {
    Store::from_scratch(StoreOptions::default()).map_err(|e| e.to_string())
}

/// A store with `n` items under Root, created in one transaction.
fn build<B: NewBackend>(n: usize) -> Result<(Store<B>, Vec<String>), String> {
    let mut store = fresh::<B>()?;
    let ids = store
        .transact(|s| {
            (0..n)
                .map(|_| s.new_item_at(None, ROOT_ID, None))
                .collect::<sds_core::Result<Vec<_>>>()
        })
        .map_err(|e| e.to_string())?;
    Ok((store, ids))
}

fn err(e: sds_core::Error) -> String {
    e.to_string()
}

/// Runs one workload on the backend `B`; returns milliseconds of the measured section.
pub fn run_generic<B: NewBackend>(workload: &str, n: usize) -> Result<(f64, Extra), String> {
    let mut extra = Extra::default();
    let ms = match workload {
        "create_one_tx" => {
            let mut store = fresh::<B>()?;
            let (ms, r) = time(|| {
                store.transact(|s| {
                    (0..n).try_for_each(|_| s.new_item_at(None, ROOT_ID, None).map(drop))
                })
            });
            r.map_err(err)?;
            ms
        }
        "create_tx_per_item" => {
            let mut store = fresh::<B>()?;
            let (ms, r) =
                time(|| (0..n).try_for_each(|_| store.new_item_at(None, ROOT_ID, None).map(drop)));
            r.map_err(err)?;
            ms
        }
        "set_labels" => {
            let (mut store, ids) = build::<B>(n)?;
            let (ms, r) = time(|| {
                store.transact(|s| {
                    ids.iter()
                        .enumerate()
                        .try_for_each(|(i, id)| s.set_label(id, &format!("label {i}")))
                })
            });
            r.map_err(err)?;
            ms
        }
        "move_tenth" => {
            let (mut store, ids) = build::<B>(n)?;
            let target = ids[n - 1].clone();
            let (ms, r) = time(|| {
                store.transact(|s| {
                    ids.iter()
                        .take(n / 10)
                        .try_for_each(|id| s.move_entry_to(id, &target, None))
                })
            });
            r.map_err(err)?;
            ms
        }
        "delete_purge_tenth" => {
            let (mut store, ids) = build::<B>(n)?;
            let (ms, r) = time(|| {
                store.transact(|s| {
                    ids.iter()
                        .take(n / 10)
                        .try_for_each(|id| s.delete_entry(id))
                })?;
                store.transact(|s| ids.iter().take(n / 10).try_for_each(|id| s.purge_entry(id)))
            });
            r.map_err(err)?;
            if !store.inner_entry_ids(TRASH_ID).is_empty() {
                return Err("purge left entries in the trash".into());
            }
            ms
        }
        "snapshot_encode" => {
            let (store, _) = build::<B>(n)?;
            let (ms, bytes) = time(|| store.as_binary());
            extra.bytes = Some(bytes.len());
            ms
        }
        "snapshot_decode" => {
            let (store, _) = build::<B>(n)?;
            let bytes = store.as_binary();
            drop(store);
            let (ms, restored) = time(|| Store::<B>::from_binary(&bytes, StoreOptions::default()));
            let restored = restored.map_err(err)?;
            if restored.entry_count() != n + 3 {
                return Err("restored store lacks entries".into());
            }
            ms
        }
        "full_patch_export_apply" => {
            let (store, _) = build::<B>(n)?;
            let mut replica = fresh::<B>()?;
            let (ms, r) = time(|| {
                let patch = store.export_patch(None)?;
                replica.apply_remote_patch(&patch).map(|_| patch.len())
            });
            extra.bytes = Some(r.map_err(err)?);
            if replica.entry_count() != n + 3 {
                return Err("replica lacks entries".into());
            }
            ms
        }
        "delta_100" => {
            let (mut store, ids) = build::<B>(n)?;
            let mut replica = Store::<B>::from_binary(&store.as_binary(), StoreOptions::default())
                .map_err(err)?;
            let cursor = replica.current_cursor();
            for (i, id) in ids.iter().take(100).enumerate() {
                store.set_label(id, &format!("c{i}")).map_err(err)?;
            }
            let (ms, r) = time(|| {
                let patch = store.export_patch(Some(&cursor))?;
                replica.apply_remote_patch(&patch).map(|_| patch.len())
            });
            extra.bytes = Some(r.map_err(err)?);
            ms
        }
        "append_child_1k" | "append_child_100k" => {
            let size = if workload == "append_child_1k" {
                1_000
            } else {
                100_000
            };
            let (mut store, _) = build::<B>(size)?;
            (0..crate::APPEND_WARMUP)
                .try_for_each(|_| store.new_item_at(None, ROOT_ID, None).map(drop))
                .map_err(err)?;
            let (ms, r) = time(|| {
                (0..crate::APPEND_MEASURED)
                    .try_for_each(|_| store.new_item_at(None, ROOT_ID, None).map(drop))
            });
            r.map_err(err)?;
            // Milliseconds per appended child, in steady state.
            ms / crate::APPEND_MEASURED as f64
        }
        "single_change_export" => {
            let (mut store, ids) = build::<B>(n)?;
            // Warm up on other entries first, as for the appends: the first operations after a
            // large build pay one-time costs that are not the cost of a change.
            ids.iter()
                .rev()
                .take(crate::APPEND_WARMUP)
                .try_for_each(|id| store.set_label(id, "warm-up"))
                .map_err(err)?;
            let sizes = Arc::new(Mutex::new(Vec::new()));
            let sink = sizes.clone();
            store.on_local_commit(move |_, commit| {
                sink.lock().unwrap().push(commit.patch.len());
                Ok(())
            });
            let (ms, r) = time(|| {
                ids.iter()
                    .cycle()
                    .take(1000)
                    .enumerate()
                    .try_for_each(|(i, id)| store.set_label(id, &i.to_string()))
            });
            r.map_err(err)?;
            let sizes = sizes.lock().unwrap();
            extra.bytes = Some(sizes.iter().sum::<usize>() / sizes.len().max(1));
            ms / 1000.0
        }
        "peak_rss_build" => {
            let (ms, r) = time(|| -> Result<Store<B>, String> {
                let (mut store, ids) = build::<B>(n)?;
                store
                    .transact(|s| {
                        ids.iter()
                            .enumerate()
                            .try_for_each(|(i, id)| s.set_label(id, &format!("label {i}")))
                    })
                    .map_err(err)?;
                Ok(store)
            });
            std::hint::black_box(r?);
            ms
        }
        other => return Err(format!("unknown workload '{other}'")),
    };
    Ok((ms, extra))
}

/// Runs one workload on sds-yrs.
pub fn run(workload: &str, n: usize) -> Result<(f64, Extra), String> {
    run_generic::<sds_yrs::YrsBackend>(workload, n)
}
