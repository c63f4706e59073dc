//! The same workloads with raw loro operations in the JS SDS `core-loro` layout: the floor that
//! sds-loro is compared with. A transaction is a run of operations and one `commit()`, followed
//! by the export of its updates (the patch a sync engine sends).

use crate::{Extra, time};
use loro::{Container, ExportMode, LoroDoc, LoroMap, LoroText, ValueOrContainer, VersionVector};

const ROOT: &str = "00000000-0000-4000-8000-000000000000";
const TRASH: &str = "00000000-0000-4000-8000-000000000001";

/// Writes one item entry map under `id`, as sds-loro does.
fn insert_entry(entries: &LoroMap, id: &str, container: &str, key: &str) -> Result<(), String> {
    let e = |err: loro::LoroError| err.to_string();
    let entry = entries.insert_container(id, LoroMap::new()).map_err(e)?;
    entry.insert("Kind", "item").map_err(e)?;
    entry.insert("outerItemId", container).map_err(e)?;
    entry.insert("OrderKey", key).map_err(e)?;
    entry
        .insert_container("Label", LoroText::new())
        .map_err(e)?;
    entry.insert_container("Info", LoroMap::new()).map_err(e)?;
    entry.insert("MIMEType", "").map_err(e)?;
    entry.insert("ValueKind", "none").map_err(e)?;
    Ok(())
}

/// Ends a transaction the way sds does: one commit, then the updates since `before`.
fn finish(doc: &LoroDoc, before: &VersionVector) -> usize {
    doc.commit();
    let patch = doc.export(ExportMode::updates(before)).unwrap_or_default();
    std::hint::black_box(&patch);
    patch.len()
}

fn fresh_ids(n: usize) -> Vec<String> {
    ids(n)
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect()
}

/// A document with `n` entries under Root, created in one transaction.
fn build(n: usize) -> Result<(LoroDoc, LoroMap, Vec<String>), String> {
    let doc = LoroDoc::new();
    let entries = doc.get_map("Entries");
    let ids = ids(n);
    let before = doc.oplog_vv();
    for (i, id) in ids.iter().enumerate() {
        insert_entry(&entries, id, ROOT, &format!("a{i}"))?;
    }
    finish(&doc, &before);
    Ok((doc, entries, ids))
}

fn entry_map(entries: &LoroMap, id: &str) -> Option<LoroMap> {
    match entries.get(id)? {
        ValueOrContainer::Container(Container::Map(map)) => Some(map),
        _ => None,
    }
}

fn label(entries: &LoroMap, id: &str) -> Option<LoroText> {
    match entry_map(entries, id)?.get("Label")? {
        ValueOrContainer::Container(Container::Text(text)) => Some(text),
        _ => None,
    }
}

fn info(entries: &LoroMap, id: &str) -> Option<LoroMap> {
    match entry_map(entries, id)?.get("Info")? {
        ValueOrContainer::Container(Container::Map(map)) => Some(map),
        _ => None,
    }
}

fn snapshot(doc: &LoroDoc) -> Result<Vec<u8>, String> {
    doc.export(ExportMode::Snapshot).map_err(|e| e.to_string())
}

fn import(doc: &LoroDoc, bytes: &[u8]) -> Result<(), String> {
    doc.import(bytes).map(drop).map_err(|e| e.to_string())
}

/// Runs one workload with raw loro; returns milliseconds of the measured section.
pub fn run(workload: &str, n: usize) -> Result<(f64, Extra), String> {
    let mut extra = Extra::default();
    let ms = match workload {
        "create_one_tx" => {
            let ids = ids(n);
            let doc = LoroDoc::new();
            let entries = doc.get_map("Entries");
            let (ms, r) = time(|| {
                let before = doc.oplog_vv();
                for (i, id) in ids.iter().enumerate() {
                    insert_entry(&entries, id, ROOT, &format!("a{i}"))?;
                }
                finish(&doc, &before);
                Ok::<(), String>(())
            });
            r?;
            ms
        }
        "create_tx_per_item" => {
            let ids = ids(n);
            let doc = LoroDoc::new();
            let entries = doc.get_map("Entries");
            let (ms, r) = time(|| {
                for (i, id) in ids.iter().enumerate() {
                    let before = doc.oplog_vv();
                    insert_entry(&entries, id, ROOT, &format!("a{i}"))?;
                    finish(&doc, &before);
                }
                Ok::<(), String>(())
            });
            r?;
            ms
        }
        "set_labels" => {
            let (doc, entries, ids) = build(n)?;
            time(|| {
                let before = doc.oplog_vv();
                for (i, id) in ids.iter().enumerate() {
                    if let Some(text) = label(&entries, id) {
                        let _ = text.insert_utf16(0, &format!("label {i}"));
                    }
                }
                finish(&doc, &before);
            })
            .0
        }
        "move_tenth" => {
            let (doc, entries, ids) = build(n)?;
            time(|| {
                let before = doc.oplog_vv();
                for (i, id) in ids.iter().take(n / 10).enumerate() {
                    if let Some(map) = entry_map(&entries, id) {
                        let _ = map.insert("outerItemId", ids[n - 1].as_str());
                        let _ = map.insert("OrderKey", format!("a{i}"));
                    }
                }
                finish(&doc, &before);
            })
            .0
        }
        "delete_purge_tenth" => {
            let (doc, entries, ids) = build(n)?;
            time(|| {
                let before = doc.oplog_vv();
                for (i, id) in ids.iter().take(n / 10).enumerate() {
                    let Some(map) = entry_map(&entries, id) else {
                        continue;
                    };
                    let _ = map.insert("outerItemId", TRASH);
                    let _ = map.insert("OrderKey", format!("a{i}"));
                    if let Some(info) = info(&entries, id) {
                        let _ = info.insert("_trashedAt", 1_700_000_000_000i64);
                    }
                }
                finish(&doc, &before);
                // Purge on loro is a tombstone (SPEC §9.4).
                let before = doc.oplog_vv();
                for id in ids.iter().take(n / 10) {
                    if let Some(map) = entry_map(&entries, id) {
                        let _ = map.insert("outerItemId", "");
                        let _ = map.insert("OrderKey", "");
                    }
                }
                finish(&doc, &before);
            })
            .0
        }
        "snapshot_encode" => {
            let (doc, _, _) = build(n)?;
            let (ms, bytes) = time(|| snapshot(&doc));
            extra.bytes = Some(bytes?.len());
            ms
        }
        "snapshot_decode" => {
            let (doc, _, _) = build(n)?;
            let bytes = snapshot(&doc)?;
            drop(doc);
            // loro imports a snapshot lazily and decodes container states when they are read;
            // reading every entry once (as `from_binary` does) is part of the floor.
            let (ms, restored) = time(|| {
                let doc = LoroDoc::new();
                import(&doc, &bytes)?;
                std::hint::black_box(doc.get_map("Entries").get_deep_value());
                Ok::<LoroDoc, String>(doc)
            });
            std::hint::black_box(restored?);
            ms
        }
        "full_patch_export_apply" => {
            let (doc, _, _) = build(n)?;
            // The replica holds its own three well-known entries, as a new sds replica does, so
            // loro merges the snapshot's history instead of adopting its state wholesale.
            let replica = LoroDoc::new();
            let before = replica.oplog_vv();
            for (i, id) in [ROOT, TRASH, "00000000-0000-4000-8000-000000000002"]
                .into_iter()
                .enumerate()
            {
                insert_entry(&replica.get_map("Entries"), id, ROOT, &format!("a{i}"))?;
            }
            finish(&replica, &before);
            let (ms, applied) = time(|| {
                let bytes = snapshot(&doc)?;
                import(&replica, &bytes).map(|()| bytes.len())
            });
            extra.bytes = Some(applied?);
            ms
        }
        "delta_100" => {
            let (doc, entries, ids) = build(n)?;
            let replica = LoroDoc::new();
            import(&replica, &snapshot(&doc)?)?;
            let cursor = replica.oplog_vv();
            for (i, id) in ids.iter().take(100).enumerate() {
                let before = doc.oplog_vv();
                if let Some(text) = label(&entries, id) {
                    let _ = text.insert_utf16(0, &format!("c{i}"));
                }
                finish(&doc, &before);
            }
            let (ms, bytes) = time(|| {
                let patch = doc
                    .export(ExportMode::updates(&cursor))
                    .map_err(|e| e.to_string())?;
                import(&replica, &patch).map(|()| patch.len())
            });
            extra.bytes = Some(bytes?);
            ms
        }
        "append_child_1k" | "append_child_100k" => {
            let size = if workload == "append_child_1k" {
                1_000
            } else {
                100_000
            };
            let (doc, entries, _) = build(size)?;
            let more = ids(crate::APPEND_WARMUP + crate::APPEND_MEASURED);
            let append = |(i, id): (usize, &String)| -> Result<(), String> {
                let before = doc.oplog_vv();
                insert_entry(&entries, id, ROOT, &format!("b{i}"))?;
                finish(&doc, &before);
                Ok(())
            };
            more.iter()
                .enumerate()
                .take(crate::APPEND_WARMUP)
                .try_for_each(append)?;
            let (ms, r) = time(|| {
                more.iter()
                    .enumerate()
                    .skip(crate::APPEND_WARMUP)
                    .try_for_each(append)
            });
            r?;
            // Milliseconds per appended child, in steady state.
            ms / crate::APPEND_MEASURED as f64
        }
        "single_change_export" => {
            let (doc, entries, ids) = build(n)?;
            for id in ids.iter().rev().take(crate::APPEND_WARMUP) {
                let before = doc.oplog_vv();
                if let Some(text) = label(&entries, id) {
                    let _ = text.insert_utf16(0, "warm-up");
                }
                finish(&doc, &before);
            }
            let mut total = 0;
            let ms = time(|| {
                for (i, id) in ids.iter().cycle().take(1000).enumerate() {
                    let before = doc.oplog_vv();
                    // The same minimal splice from the old label that sds makes.
                    if let Some(text) = label(&entries, id) {
                        let old = text.to_string();
                        if let Some(s) = sds_core::utf16::minimal_splice(&old, &i.to_string()) {
                            let _ = text.delete_utf16(s.index, s.delete);
                            let _ = text.insert_utf16(s.index, &s.insert);
                        }
                    }
                    total += finish(&doc, &before);
                }
            })
            .0;
            extra.bytes = Some(total / 1000);
            ms / 1000.0
        }
        "peak_rss_build" => {
            let (ms, doc) = time(|| -> Result<LoroDoc, String> {
                let (doc, entries, ids) = build(n)?;
                let before = doc.oplog_vv();
                for (i, id) in ids.iter().enumerate() {
                    if let Some(text) = label(&entries, id) {
                        let _ = text.insert_utf16(0, &format!("label {i}"));
                    }
                }
                finish(&doc, &before);
                Ok(doc)
            });
            std::hint::black_box(doc?);
            ms
        }
        "restore_10k_label_patches" | "restore_10k_creation_patches" => {
            // Each entry with its label in one transaction, as sds builds the store.
            let doc = LoroDoc::new();
            let entries = doc.get_map("Entries");
            let ids = ids(n);
            let before = doc.oplog_vv();
            for (i, id) in ids.iter().enumerate() {
                insert_entry(&entries, id, ROOT, &format!("a{i}"))?;
                if let Some(text) = label(&entries, id) {
                    let _ = text.insert_utf16(0, &format!("entry {i}"));
                }
            }
            finish(&doc, &before);
            let base = snapshot(&doc)?;
            let more = fresh_ids(crate::RESTORE_PATCHES);
            let mut patches = Vec::with_capacity(crate::RESTORE_PATCHES);
            for (i, id) in ids.iter().cycle().take(crate::RESTORE_PATCHES).enumerate() {
                let before = doc.oplog_vv();
                if workload == "restore_10k_label_patches" {
                    // The same minimal splice sds makes (SPEC §7.5).
                    if let Some(text) = label(&entries, id) {
                        let old = text.to_string();
                        if let Some(s) =
                            sds_core::utf16::minimal_splice(&old, &format!("pending {i}"))
                        {
                            let _ = text.delete_utf16(s.index, s.delete);
                            let _ = text.insert_utf16(s.index, &s.insert);
                        }
                    }
                } else {
                    insert_entry(&entries, &more[i], ROOT, &format!("b{i}"))?;
                }
                doc.commit();
                patches.push(
                    doc.export(ExportMode::updates(&before))
                        .map_err(|e| e.to_string())?,
                );
            }
            drop(doc);
            let (ms, restored) = time(|| {
                let doc = LoroDoc::new();
                import(&doc, &base)?;
                patches.iter().try_for_each(|p| import(&doc, p))?;
                // Read everything once, as a restore that builds a model does.
                std::hint::black_box(doc.get_deep_value());
                Ok::<LoroDoc, String>(doc)
            });
            std::hint::black_box(restored?);
            ms
        }
        other => return Err(format!("unknown workload '{other}'")),
    };
    Ok((ms, extra))
}
