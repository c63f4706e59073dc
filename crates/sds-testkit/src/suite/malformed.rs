//! Malformed patches, snapshots and JSON: errors with codes, never a panic, the store
//! unchanged (DESIGN §5, SPEC §2). Random bytes and mutations of valid inputs, seeded.

use crate::every_field::NOW_MS;
use crate::helpers::*;
use crate::property::{SeededRng, seed_from_env};
use sds_core::{Clock, ErrorCode, NewBackend, ROOT_ID, Store, StoreOptions};

fn mutate(rng: &mut SeededRng, valid: &[u8]) -> Vec<u8> {
    let mut out = valid.to_vec();
    match rng.below(5) {
        0 => out.truncate(rng.below(out.len().max(1))),
        1 => {
            for _ in 0..=rng.below(4) {
                if !out.is_empty() {
                    let i = rng.below(out.len());
                    out[i] ^= 1 << rng.below(8);
                }
            }
        }
        2 => {
            let i = rng.below(out.len() + 1);
            let junk: Vec<u8> = (0..rng.below(16)).map(|_| rng.below(256) as u8).collect();
            out.splice(i..i, junk);
        }
        3 => {
            if !out.is_empty() {
                let i = rng.below(out.len());
                out[i] = [0x00, 0x7f, 0x80, 0xff][rng.below(4)];
            }
        }
        _ => out = (0..rng.below(64)).map(|_| rng.below(256) as u8).collect(),
    }
    out
}

/// An empty store whose ids, replica id and clock follow from `seed`, so that a seed replays
/// a run exactly (the inputs are mutations of what these stores write).
fn seeded_store<B: NewBackend>(seed: u64) -> Store<B> {
    Store::from_scratch(StoreOptions {
        clock: Clock::from_fn(|| NOW_MS),
        replica_seed: Some(seed),
        ..StoreOptions::default()
    })
    .expect("from_scratch")
}

fn sample_store<B: NewBackend>(seed: u64) -> Store<B> {
    let mut store = seeded_store::<B>(seed);
    let a = item(&mut store, ROOT_ID, "a 😀");
    let b = item(&mut store, &a, "b");
    store.write_value(&b, "value").unwrap();
    store
        .set_info(&a, "k", serde_json::json!({"x": [1, 2.5]}))
        .unwrap();
    store.new_link_at(&b, ROOT_ID, None).unwrap();
    store.delete_entry(&b).unwrap();
    store
}

/// Random and mutated patches return errors or apply harmlessly and never panic.
pub fn random_patches_never_panic_or_change_the_store<B: NewBackend>() {
    let seed = seed_from_env();
    let mut rng = SeededRng::new(seed);
    let source = sample_store::<B>(seed);
    let valid = source.export_patch(None).unwrap();
    let mut store = seeded_store::<B>(seed.wrapping_add(1));
    item(&mut store, ROOT_ID, "mine");
    for case in 0..400 {
        let input = mutate(&mut rng, &valid);
        let before = json_of(&store);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.apply_remote_patch(&input)
        }));
        match result {
            Err(_) => {
                panic!("seed {seed}, case {case}: apply_remote_patch panicked on {input:02x?}")
            }
            Ok(Err(e)) => {
                assert_eq!(e.code(), ErrorCode::InvalidData, "seed {seed}, case {case}");
                assert_eq!(
                    json_of(&store),
                    before,
                    "seed {seed}, case {case}: a rejected patch changed the store"
                );
            }
            Ok(Ok(_)) => {}
        }
        if let Err(e) = check_invariants(&store, true) {
            panic!("seed {seed}, case {case}: {e}");
        }
        // Keep the store small so every case starts from a similar state.
        if store.entry_count() > 20 {
            store = seeded_store::<B>(seed.wrapping_add(2 + case));
        }
    }
}

/// Random and mutated snapshots give `invalid-data` or a valid store.
pub fn random_snapshots_never_panic<B: NewBackend>() {
    let seed = seed_from_env();
    let mut rng = SeededRng::new(seed);
    let valid = sample_store::<B>(seed).as_binary();
    let payload = sds_core::gzip::decompress(&valid).unwrap();
    for case in 0..300 {
        let input = if rng.below(2) == 0 {
            mutate(&mut rng, &valid)
        } else {
            sds_core::gzip::compress(&mutate(&mut rng, &payload))
        };
        let result =
            std::panic::catch_unwind(|| Store::<B>::from_binary(&input, StoreOptions::default()));
        match result {
            Err(_) => panic!("seed {seed}, case {case}: from_binary panicked"),
            Ok(Err(e)) => assert_eq!(e.code(), ErrorCode::InvalidData, "seed {seed}, case {case}"),
            Ok(Ok(store)) => {
                // A surviving document may violate the invariants; the repair makes it whole.
                let mut store = store;
                if let Err(e) = store.recover_orphans() {
                    panic!("seed {seed}, case {case}: the repair pass failed: {e}");
                }
                if let Err(e) = check_invariants(&store, true) {
                    panic!("seed {seed}, case {case}: repaired document still broken: {e}");
                }
            }
        }
    }
}

/// Random and mutated JSON text gives `invalid-data` or a valid store, never a panic.
pub fn random_json_never_panics<B: NewBackend>() {
    let seed = seed_from_env();
    let mut rng = SeededRng::new(seed);
    let valid = sample_store::<B>(seed).as_json().to_json_string();
    for case in 0..300 {
        let bytes = mutate(&mut rng, valid.as_bytes());
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let result =
            std::panic::catch_unwind(|| Store::<B>::from_json_str(&text, StoreOptions::default()));
        match result {
            Err(_) => panic!("seed {seed}, case {case}: from_json panicked on {text}"),
            Ok(Err(e)) => assert!(
                matches!(
                    e.code(),
                    ErrorCode::InvalidData | ErrorCode::InvalidArgument
                ),
                "seed {seed}, case {case}: {e}"
            ),
            Ok(Ok(store)) => {
                if let Err(e) = check_invariants(&store, false) {
                    panic!("seed {seed}, case {case}: {e}");
                }
            }
        }
        let mut target = seeded_store::<B>(seed.wrapping_add(1 + case));
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let before = json_of(&target);
        if let Err(e) = target.new_entry_from_json_at(&value, ROOT_ID, None) {
            assert!(matches!(
                e.code(),
                ErrorCode::InvalidData | ErrorCode::InvalidArgument
            ));
            assert_eq!(json_of(&target), before);
        }
    }
}
