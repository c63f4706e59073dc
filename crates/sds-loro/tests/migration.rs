//! Backend migration (SPEC §8.7, F8): `as_json()` on one backend followed by `from_json()` on
//! the other keeps ids, tree, labels, Info and every value, in both directions, for a
//! hand-built store with every kind of content and for a few hundred generated ones; and
//! `entry.as_binary()` from one backend imports into the other.
//!
//! The generated stores are seeded: set `SDS_MIGRATION_SEED` to replay a run (the seed is
//! printed) and `SDS_MIGRATION_CASES` for more stores.

use sds_core::{Clock, LOST_AND_FOUND_ID, NewBackend, ROOT_ID, Store, StoreOptions, TRASH_ID};
use sds_loro::LoroBackend;
use sds_testkit::property::{SeededRng, seed_from_env_var};
use sds_yrs::YrsBackend;
use serde_json::{Value as JsonValue, json};

mod common;

/// The store's JSON as compact text: member order matters too.
fn text<B: NewBackend>(store: &Store<B>) -> String {
    store.as_json().to_json_string()
}

/// Moves `store` to the other backend through JSON and checks that nothing changed.
fn migrate<From: NewBackend, To: NewBackend>(
    store: &Store<From>,
    options: StoreOptions,
) -> Store<To> {
    let json: JsonValue = store.as_json().to_value();
    let migrated = Store::<To>::from_json(&json, options)
        .unwrap_or_else(|e| panic!("{} -> {}: from_json failed: {e}", From::NAME, To::NAME));
    migrated
        .check_consistency()
        .unwrap_or_else(|e| panic!("{} -> {}: inconsistent: {e}", From::NAME, To::NAME));
    assert_eq!(
        text(&migrated),
        text(store),
        "{} -> {}: the JSON differs",
        From::NAME,
        To::NAME
    );
    migrated
}

fn round_trip<A: NewBackend, B: NewBackend>() {
    let built = common::build_every_field_store::<A>();
    let there = migrate::<A, B>(&built.store, common::options());
    let back = migrate::<B, A>(&there, common::options());
    assert_eq!(text(&back), text(&built.store));

    // Spot checks on the migrated store: values, including the large ones, read back.
    for store_json in [text(&there), text(&back)] {
        assert!(store_json.contains("This text is longer than the literal size limit"));
        assert!(store_json.contains("_trashedAt"));
        assert!(store_json.contains("image/png"));
    }
    let reference = there.entry(&built.binary_reference_item).expect("entry");
    assert_eq!(
        reference.read_value().as_bytes().map(<[u8]>::len),
        Some(3000),
        "the large binary value survives"
    );
    assert_eq!(
        there
            .entry(&built.trashed_item)
            .expect("entry")
            .outer_item_id(),
        Some(TRASH_ID)
    );
    assert_eq!(
        there
            .entry(&built.lost_item)
            .expect("entry")
            .outer_item_id(),
        Some(LOST_AND_FOUND_ID)
    );
    assert!(there.entry(&built.purged_item).is_none());
    assert_eq!(
        there.entry(&built.emoji_item).expect("entry").info()["large"],
        json!(1_700_000_000_000u64)
    );
}

#[test]
fn every_kind_of_content_migrates_from_yrs_to_loro_and_back() {
    round_trip::<YrsBackend, LoroBackend>();
}

#[test]
fn every_kind_of_content_migrates_from_loro_to_yrs_and_back() {
    round_trip::<LoroBackend, YrsBackend>();
}

/// JSON without ids: what an imported copy (fresh ids) must equal.
fn without_ids(value: &JsonValue) -> JsonValue {
    match value {
        JsonValue::Object(map) => JsonValue::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "Id")
                .map(|(k, v)| (k.clone(), without_ids(v)))
                .collect(),
        ),
        JsonValue::Array(items) => JsonValue::Array(items.iter().map(without_ids).collect()),
        other => other.clone(),
    }
}

fn entry_binary_crosses<A: NewBackend, B: NewBackend>() {
    let built = common::build_every_field_store::<A>();
    let mut target = Store::<B>::from_scratch(common::options()).expect("store");
    for id in [
        &built.folder,
        &built.binary_reference_item,
        &built.reference_item,
        &built.binary_item,
        &built.link,
    ] {
        let bytes = built.store.entry_binary(id).expect("entry binary");
        let copy = target
            .new_entry_from_binary_at(&bytes, ROOT_ID, None)
            .unwrap_or_else(|e| panic!("{} -> {}: {id}: {e}", A::NAME, B::NAME));
        assert_ne!(&copy, id, "fresh ids");
        assert_eq!(
            without_ids(&target.entry_json(&copy).expect("copy").to_value()),
            without_ids(&built.store.entry_json(id).expect("original").to_value()),
            "{} -> {}: {id}",
            A::NAME,
            B::NAME
        );
    }
    target.check_consistency().expect("consistent");
}

#[test]
fn entry_binaries_import_across_backends() {
    entry_binary_crosses::<YrsBackend, LoroBackend>();
    entry_binary_crosses::<LoroBackend, YrsBackend>();
}

// ---------------------------------------------------------------------------------------------
// Generated stores
// ---------------------------------------------------------------------------------------------

fn random_text(rng: &mut SeededRng, max: usize) -> String {
    const PIECES: &[&str] = &["a", "b", " ", "é", "😀", "xyz", "\u{FF21}", "0", "\n", "\""];
    (0..rng.below(max + 1))
        .map(|_| *rng.pick(PIECES).unwrap())
        .collect()
}

/// A JSON value of any type, nested a little.
fn random_json(rng: &mut SeededRng, depth: usize) -> JsonValue {
    match rng.below(if depth == 0 { 10 } else { 8 }) {
        0 => JsonValue::Null,
        1 => json!(rng.below(2) == 0),
        2 => json!(rng.below(1000) as i64 - 500),
        3 => json!((rng.next_u64() % (1 << 53)) as f64 + 0.25),
        4 => json!(rng.next_u64() >> rng.below(64)),
        5 => json!(-((rng.next_u64() >> 12) as i64)),
        6 => json!(random_text(rng, 12)),
        7 => json!(1e-7 * rng.below(100) as f64),
        8 => JsonValue::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => JsonValue::Object(
            (0..rng.below(4))
                .map(|i| {
                    (
                        format!("k{i}{}", random_text(rng, 3)),
                        random_json(rng, depth + 1),
                    )
                })
                .collect(),
        ),
    }
}

fn options(seed: u64) -> StoreOptions {
    StoreOptions {
        literal_size_limit: 16,
        clock: Clock::from_fn(|| 1_700_000_000_000),
        replica_seed: Some(seed),
        ..StoreOptions::default()
    }
}

/// A store built by random operations: nested items, links, Info of every JSON type, literal,
/// binary and reference values, MIME types, trashed, purged and lost-and-found entries.
fn generate<B: NewBackend>(rng: &mut SeededRng, seed: u64) -> Store<B> {
    let mut store = Store::<B>::from_scratch(options(seed)).expect("store");
    let mut items: Vec<String> = vec![ROOT_ID.to_owned(), LOST_AND_FOUND_ID.to_owned()];
    let mut entries: Vec<String> = Vec::new();
    let steps = 5 + rng.below(40);
    for _ in 0..steps {
        let container = rng.pick(&items).unwrap().clone();
        let some_entry = rng.pick(&entries).cloned();
        let outcome = match (rng.below(12), some_entry) {
            (0..=2, _) | (_, None) => {
                let mime = *rng
                    .pick(&[
                        None,
                        None,
                        Some("text/markdown"),
                        Some("application/x-custom+json"),
                    ])
                    .unwrap();
                store.new_item_at(mime, &container, None).map(|id| {
                    items.push(id.clone());
                    entries.push(id);
                })
            }
            (3, Some(_)) => {
                let target = rng.pick(&items[2..]).cloned();
                match target {
                    Some(target) => store
                        .new_link_at(&target, &container, None)
                        .map(|id| entries.push(id)),
                    None => Ok(()),
                }
            }
            (4, Some(e)) => store.set_label(&e, &random_text(rng, 20)),
            (5, Some(e)) => {
                let key = format!("key{}", rng.below(4));
                store.set_info(&e, &key, random_json(rng, 0))
            }
            (6, Some(e)) => store.write_value(&e, random_text(rng, 30)),
            (7, Some(e)) => {
                let len = *rng.pick(&[0usize, 3, 2048, 2049, 5000]).unwrap();
                store.write_value(
                    &e,
                    (0..len).map(|i| (i * 31 % 251) as u8).collect::<Vec<u8>>(),
                )
            }
            (8, Some(e)) => store.move_entry_to(&e, &container, Some(rng.below(3))),
            (9, Some(e)) => store.delete_entry(&e),
            (10, Some(e)) => store.purge_entry(&e),
            (_, Some(e)) => store.set_mime_type(&e, "image/svg+xml"),
        };
        // Refused operations (moves into descendants, values on links, purges outside Trash)
        // are part of the randomness.
        let _ = outcome;
    }
    store
        .check_consistency()
        .expect("generated store is consistent");
    store
}

#[test]
fn generated_stores_migrate_both_ways() {
    let base = seed_from_env_var("SDS_MIGRATION_SEED");
    let cases: u64 = std::env::var("SDS_MIGRATION_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    // How many stores had each kind of content: the generator must keep producing all of it.
    let features = [
        "\"Kind\":\"link\"",
        "\"ValueKind\":\"literal\"",
        "\"ValueKind\":\"binary\"",
        "literal-reference",
        "binary-reference",
        "_trashedAt",
        "application/x-custom+json",
    ];
    let mut seen = vec![0usize; features.len()];
    for case in 0..cases {
        let seed = base.wrapping_add(case);
        let mut rng = SeededRng::new(seed);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let json = if case % 2 == 0 {
                let store = generate::<YrsBackend>(&mut rng, seed);
                let loro = migrate::<YrsBackend, LoroBackend>(&store, options(seed + 1));
                migrate::<LoroBackend, YrsBackend>(&loro, options(seed + 2));
                text(&store)
            } else {
                let store = generate::<LoroBackend>(&mut rng, seed);
                let yrs = migrate::<LoroBackend, YrsBackend>(&store, options(seed + 1));
                migrate::<YrsBackend, LoroBackend>(&yrs, options(seed + 2));
                text(&store)
            };
            for (count, feature) in seen.iter_mut().zip(features) {
                *count += usize::from(json.contains(feature));
            }
        }));
        if outcome.is_err() {
            panic!(
                "generated store {case} failed: rerun with SDS_MIGRATION_SEED={seed} \
                 SDS_MIGRATION_CASES=1"
            );
        }
    }
    if cases >= 100 {
        for (count, feature) in seen.iter().zip(features) {
            assert!(*count > 0, "no generated store had {feature}");
        }
    }
}
