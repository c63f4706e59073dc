//! The same workloads with raw yrs map operations in the JS SDS layout: the floor that sds-yrs
//! is compared with.

use crate::{APPEND_MEASURED, APPEND_WARMUP, Extra, time};
use yrs::updates::decoder::Decode;
use yrs::{
    Any, Doc, In, Map, MapPrelim, MapRef, OffsetKind, Options, ReadTxn, StateVector, Text,
    TextPrelim, TextRef, Transact, Update,
};

const ROOT: &str = "00000000-0000-4000-8000-000000000000";

fn new_doc() -> Doc {
    Doc::with_options(Options {
        offset_kind: OffsetKind::Utf16,
        ..Options::default()
    })
}

fn entry(container: &str, key: &str) -> MapPrelim {
    MapPrelim::from([
        ("Kind", In::Any(Any::from("item"))),
        ("outerItemId", In::Any(Any::from(container))),
        ("OrderKey", In::Any(Any::from(key))),
        ("Label", In::from(TextPrelim::new(""))),
        ("Info", In::Map(MapPrelim::default())),
        ("MIMEType", In::Any(Any::from(""))),
        ("ValueKind", In::Any(Any::from("none"))),
    ])
}

/// Ends a transaction the way sds does: producing its update (the patch a sync engine sends).
fn finish(txn: yrs::TransactionMut<'_>) {
    std::hint::black_box(txn.encode_update_v1());
}

fn fresh_ids(n: usize) -> Vec<String> {
    ids(n)
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|_| uuid::Uuid::new_v4().to_string()).collect()
}

/// A document with `n` entries under Root, created in one transaction.
fn build(n: usize) -> (Doc, MapRef, Vec<String>) {
    let doc = new_doc();
    let entries = doc.get_or_insert_map("Entries");
    let ids = ids(n);
    let mut txn = doc.transact_mut();
    for (i, id) in ids.iter().enumerate() {
        entries.insert(&mut txn, id.as_str(), entry(ROOT, &format!("a{i}")));
    }
    finish(txn);
    (doc, entries, ids)
}

fn field<T: TryFrom<yrs::Out, Error = yrs::Out>>(
    txn: &impl ReadTxn,
    entries: &MapRef,
    id: &str,
    key: &str,
) -> Option<T> {
    let map: MapRef = entries.get(txn, id)?.cast().ok()?;
    map.get(txn, key)?.cast().ok()
}

fn encode_full(doc: &Doc) -> Vec<u8> {
    doc.transact()
        .encode_state_as_update_v1(&StateVector::default())
}

fn apply(doc: &Doc, update: &[u8]) -> Result<(), String> {
    let update = Update::decode_v1(update).map_err(|e| e.to_string())?;
    doc.transact_mut()
        .apply_update(update)
        .map_err(|e| e.to_string())
}

/// Runs one workload with raw yrs; returns milliseconds of the measured section.
pub fn run(workload: &str, n: usize) -> Result<(f64, Extra), String> {
    let mut extra = Extra::default();
    let ms = match workload {
        "create_one_tx" => {
            let ids = ids(n);
            let doc = new_doc();
            let entries = doc.get_or_insert_map("Entries");
            time(|| {
                let mut txn = doc.transact_mut();
                for (i, id) in ids.iter().enumerate() {
                    entries.insert(&mut txn, id.as_str(), entry(ROOT, &format!("a{i}")));
                }
                finish(txn);
            })
            .0
        }
        "create_tx_per_item" => {
            let ids = ids(n);
            let doc = new_doc();
            let entries = doc.get_or_insert_map("Entries");
            time(|| {
                for (i, id) in ids.iter().enumerate() {
                    let mut txn = doc.transact_mut();
                    entries.insert(&mut txn, id.as_str(), entry(ROOT, &format!("a{i}")));
                    std::hint::black_box(txn.encode_update_v1());
                }
            })
            .0
        }
        "set_labels" => {
            let (doc, entries, ids) = build(n);
            time(|| {
                let mut txn = doc.transact_mut();
                for (i, id) in ids.iter().enumerate() {
                    if let Some(label) = field::<TextRef>(&txn, &entries, id, "Label") {
                        label.insert(&mut txn, 0, &format!("label {i}"));
                    }
                }
                finish(txn);
            })
            .0
        }
        "move_tenth" => {
            let (doc, entries, ids) = build(n);
            time(|| {
                let mut txn = doc.transact_mut();
                for (i, id) in ids.iter().take(n / 10).enumerate() {
                    if let Some(map) = entries.get(&txn, id).and_then(|o| o.cast::<MapRef>().ok()) {
                        map.insert(&mut txn, "outerItemId", ids[n - 1].as_str());
                        map.insert(&mut txn, "OrderKey", format!("a{i}"));
                    }
                }
                finish(txn);
            })
            .0
        }
        "delete_purge_tenth" => {
            let (doc, entries, ids) = build(n);
            time(|| {
                {
                    let mut txn = doc.transact_mut();
                    for (i, id) in ids.iter().take(n / 10).enumerate() {
                        let Some(map) = entries.get(&txn, id).and_then(|o| o.cast::<MapRef>().ok())
                        else {
                            continue;
                        };
                        map.insert(
                            &mut txn,
                            "outerItemId",
                            "00000000-0000-4000-8000-000000000001",
                        );
                        map.insert(&mut txn, "OrderKey", format!("a{i}"));
                        if let Some(info) = field::<MapRef>(&txn, &entries, id, "Info") {
                            info.insert(&mut txn, "_trashedAt", 1_700_000_000_000.0);
                        }
                    }
                    finish(txn);
                }
                let mut txn = doc.transact_mut();
                for id in ids.iter().take(n / 10) {
                    entries.remove(&mut txn, id);
                }
                finish(txn);
            })
            .0
        }
        "snapshot_encode" => {
            let (doc, _, _) = build(n);
            let (ms, bytes) = time(|| encode_full(&doc));
            extra.bytes = Some(bytes.len());
            ms
        }
        "snapshot_decode" => {
            let (doc, _, _) = build(n);
            let bytes = encode_full(&doc);
            drop(doc);
            let (ms, applied) = time(|| {
                let doc = new_doc();
                apply(&doc, &bytes).map(|()| doc)
            });
            std::hint::black_box(applied?);
            ms
        }
        "full_patch_export_apply" => {
            let (doc, _, _) = build(n);
            let (ms, applied) = time(|| {
                let bytes = encode_full(&doc);
                let replica = new_doc();
                apply(&replica, &bytes).map(|()| (replica, bytes.len()))
            });
            extra.bytes = Some(applied?.1);
            ms
        }
        "delta_100" => {
            let (doc, entries, ids) = build(n);
            let replica = new_doc();
            apply(&replica, &encode_full(&doc))?;
            let sv = replica.transact().state_vector();
            for (i, id) in ids.iter().take(100).enumerate() {
                let mut txn = doc.transact_mut();
                if let Some(label) = field::<TextRef>(&txn, &entries, id, "Label") {
                    label.insert(&mut txn, 0, &format!("c{i}"));
                }
            }
            let (ms, bytes) = time(|| {
                let patch = doc.transact().encode_state_as_update_v1(&sv);
                apply(&replica, &patch).map(|()| patch.len())
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
            let (doc, entries, _) = build(size);
            let more = ids(APPEND_WARMUP + APPEND_MEASURED);
            let append = |(i, id): (usize, &String)| {
                let mut txn = doc.transact_mut();
                entries.insert(&mut txn, id.as_str(), entry(ROOT, &format!("b{i}")));
                std::hint::black_box(txn.encode_update_v1());
            };
            more.iter().enumerate().take(APPEND_WARMUP).for_each(append);
            let ms = time(|| more.iter().enumerate().skip(APPEND_WARMUP).for_each(append)).0;
            // Milliseconds per appended child, in steady state.
            ms / APPEND_MEASURED as f64
        }
        "single_change_export" => {
            let (doc, entries, ids) = build(n);
            for id in ids.iter().rev().take(crate::APPEND_WARMUP) {
                let mut txn = doc.transact_mut();
                if let Some(label) = field::<TextRef>(&txn, &entries, id, "Label") {
                    label.insert(&mut txn, 0, "warm-up");
                }
                finish(txn);
            }
            let mut total = 0;
            let ms = time(|| {
                for (i, id) in ids.iter().cycle().take(1000).enumerate() {
                    let mut txn = doc.transact_mut();
                    // The same minimal splice from the old label that sds makes.
                    if let Some(label) = field::<TextRef>(&txn, &entries, id, "Label") {
                        let old = yrs::GetString::get_string(&label, &txn);
                        if let Some(s) = sds_core::utf16::minimal_splice(&old, &i.to_string()) {
                            label.remove_range(&mut txn, s.index as u32, s.delete as u32);
                            label.insert(&mut txn, s.index as u32, &s.insert);
                        }
                    }
                    total += txn.encode_update_v1().len();
                }
            })
            .0;
            extra.bytes = Some(total / 1000);
            ms / 1000.0
        }
        "peak_rss_build" => {
            let (ms, doc) = time(|| {
                let (doc, entries, ids) = build(n);
                let mut txn = doc.transact_mut();
                for (i, id) in ids.iter().enumerate() {
                    if let Some(label) = field::<TextRef>(&txn, &entries, id, "Label") {
                        label.insert(&mut txn, 0, &format!("label {i}"));
                    }
                }
                finish(txn);
                doc
            });
            std::hint::black_box(doc);
            ms
        }
        "restore_10k_label_patches" | "restore_10k_creation_patches" => {
            // Each entry with its label in one transaction, as sds builds the store: the
            // label blocks sit between the entries' blocks, which is what makes later splits
            // expensive in yrs (one block vector per client).
            let doc = new_doc();
            let entries = doc.get_or_insert_map("Entries");
            let ids = ids(n);
            {
                let mut txn = doc.transact_mut();
                for (i, id) in ids.iter().enumerate() {
                    entries.insert(&mut txn, id.as_str(), entry(ROOT, &format!("a{i}")));
                    if let Some(label) = field::<TextRef>(&txn, &entries, id, "Label") {
                        label.insert(&mut txn, 0, &format!("entry {i}"));
                    }
                }
                finish(txn);
            }
            let snapshot = encode_full(&doc);
            let more = fresh_ids(crate::RESTORE_PATCHES);
            let mut patches = Vec::with_capacity(crate::RESTORE_PATCHES);
            for (i, id) in ids.iter().cycle().take(crate::RESTORE_PATCHES).enumerate() {
                let mut txn = doc.transact_mut();
                if workload == "restore_10k_label_patches" {
                    // The same minimal splice sds makes (SPEC §7.5), so that both sides make
                    // the same edits.
                    if let Some(label) = field::<TextRef>(&txn, &entries, id, "Label") {
                        let old = yrs::GetString::get_string(&label, &txn);
                        if let Some(s) =
                            sds_core::utf16::minimal_splice(&old, &format!("pending {i}"))
                        {
                            label.remove_range(&mut txn, s.index as u32, s.delete as u32);
                            label.insert(&mut txn, s.index as u32, &s.insert);
                        }
                    }
                } else {
                    entries.insert(&mut txn, more[i].as_str(), entry(ROOT, &format!("b{i}")));
                }
                patches.push(txn.encode_update_v1());
            }
            drop(doc);
            let (ms, restored) = time(|| {
                let doc = new_doc();
                apply(&doc, &snapshot)?;
                patches.iter().try_for_each(|p| apply(&doc, p))?;
                Ok::<Doc, String>(doc)
            });
            std::hint::black_box(restored?);
            ms
        }
        other => return Err(format!("unknown workload '{other}'")),
    };
    Ok((ms, extra))
}
