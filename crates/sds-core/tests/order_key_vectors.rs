//! Conformance test: every case of the `fractional-indexing` vectors (SPEC §6.7) must be reproduced
//! exactly by `sds_core::order_key`.

use sds_core::order_key::{key_between, n_keys_between};
use serde_json::Value;

/// How many mismatches the failure message lists; the rest are only counted.
const REPORTED_MISMATCHES: usize = 10;

fn load_vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fractional-indexing-vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

/// Reads an optional key bound, where JSON `null` stands for an open end.
fn bound<'a>(case: &'a Value, field: &str) -> Option<&'a str> {
    match &case[field] {
        Value::Null => None,
        Value::String(key) => Some(key),
        other => panic!("field {field} of {case} is not a string or null: {other}"),
    }
}

fn cases<'a>(vectors: &'a Value, section: &str) -> &'a [Value] {
    vectors[section]
        .as_array()
        .unwrap_or_else(|| panic!("the vectors have no array {section:?}"))
}

#[test]
fn order_keys_match_the_reference_vectors() {
    let vectors = load_vectors();
    let single = cases(&vectors, "single");
    let nkeys = cases(&vectors, "nkeys");
    assert!(
        !single.is_empty() && !nkeys.is_empty(),
        "the vectors are empty"
    );

    let mut mismatches = Vec::new();
    for case in single {
        let (a, b) = (bound(case, "a"), bound(case, "b"));
        let expected = case["k"].as_str().expect("k is a string");
        let actual = key_between(a, b);
        if actual.as_deref() != Ok(expected) {
            mismatches.push(format!(
                "key_between({a:?}, {b:?}): expected {expected:?}, got {actual:?}"
            ));
        }
    }
    for case in nkeys {
        let (a, b) = (bound(case, "a"), bound(case, "b"));
        let n = case["n"].as_u64().expect("n is a non-negative integer");
        let n = usize::try_from(n).expect("n fits in usize");
        let expected: Vec<&str> = case["keys"]
            .as_array()
            .expect("keys is an array")
            .iter()
            .map(|k| k.as_str().expect("each key is a string"))
            .collect();
        let actual = n_keys_between(a, b, n);
        let matches = actual
            .as_ref()
            .is_ok_and(|keys| keys.iter().map(String::as_str).eq(expected.iter().copied()));
        if !matches {
            mismatches.push(format!(
                "n_keys_between({a:?}, {b:?}, {n}): expected {expected:?}, got {actual:?}"
            ));
        }
    }

    let total = single.len() + nkeys.len();
    assert!(
        mismatches.is_empty(),
        "{} of {total} vectors mismatch; the first ones:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(REPORTED_MISMATCHES)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
