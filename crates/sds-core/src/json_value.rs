//! Normalisation and validation of Info values (SPEC §1.5).
//!
//! Backends store numbers differently (yrs: every number as f64; loro: safe integers as I64,
//! others as Double) and may return nested objects in any key order. Every Info value the store
//! holds is therefore normalised the same way, so that a value reads back exactly as written on
//! every backend and replicas produce identical JSON.

use crate::error::{Error, Result};
use crate::limits::{MAX_INFO_KEY_LENGTH, MAX_INFO_VALUE_DEPTH, MAX_INFO_VALUE_SIZE};
use crate::utf16::utf16_len;
use serde_json::{Map, Number, Value as JsonValue};
use std::io::Write;

/// The largest integer that JS numbers (f64) represent exactly: 2^53.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Normalises a JSON value: every number becomes the f64 a JS peer would store, written as an
/// integer when it is integral (and below 2^63, so JSON text matches JS: `9007199254740994`, not
/// `9007199254740994.0`); object keys are put in sorted order, recursively.
pub fn normalize_json(value: &JsonValue) -> JsonValue {
    match value {
        JsonValue::Number(n) => normalize_number(n),
        JsonValue::Array(items) => JsonValue::Array(items.iter().map(normalize_json).collect()),
        JsonValue::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::with_capacity(map.len());
            for key in keys {
                out.insert(key.clone(), normalize_json(&map[key]));
            }
            JsonValue::Object(out)
        }
        other => other.clone(),
    }
}

/// Normalises one number as described in [`normalize_json`].
pub fn normalize_number(n: &Number) -> JsonValue {
    const SAFE: u64 = 1 << 53;
    if let Some(i) = n.as_i64() {
        if i.unsigned_abs() <= SAFE {
            return JsonValue::Number(i.into());
        }
    } else if let Some(u) = n.as_u64()
        && u <= SAFE
    {
        return JsonValue::Number(u.into());
    }
    json_number_from_f64(n.as_f64().unwrap_or(0.0))
}

/// The normalised JSON number for an f64 (`null` for NaN and infinities, which never reach
/// storage because validation rejects them first).
pub fn json_number_from_f64(x: f64) -> JsonValue {
    // Integral doubles below 2^63 are exactly representable as i64.
    const I64_LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if x.is_finite() && x.fract() == 0.0 && x.abs() < I64_LIMIT {
        JsonValue::Number((x as i64).into())
    } else {
        Number::from_f64(x).map_or(JsonValue::Null, JsonValue::Number)
    }
}

/// Checks an Info key: non-empty and at most 1024 UTF-16 units.
pub fn validate_info_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid_argument("Info keys must not be empty"));
    }
    if utf16_len(key) > MAX_INFO_KEY_LENGTH {
        return Err(Error::invalid_argument(format!(
            "Info key is longer than {MAX_INFO_KEY_LENGTH} UTF-16 units"
        )));
    }
    Ok(())
}

/// Checks an Info value: its compact UTF-8 JSON is at most 262 144 bytes and arrays and objects
/// nest at most [`MAX_INFO_VALUE_DEPTH`] levels.
pub fn validate_info_value(value: &JsonValue) -> Result<()> {
    if nesting_depth(value) > MAX_INFO_VALUE_DEPTH {
        return Err(Error::invalid_argument(format!(
            "Info values may nest arrays and objects at most {MAX_INFO_VALUE_DEPTH} levels deep"
        )));
    }
    let size = compact_json_size(value);
    if size > MAX_INFO_VALUE_SIZE {
        return Err(Error::invalid_argument(format!(
            "Info value is {size} bytes as JSON; the limit is {MAX_INFO_VALUE_SIZE}"
        )));
    }
    Ok(())
}

/// Nesting depth of arrays and objects (a scalar is 0), computed without recursion.
fn nesting_depth(value: &JsonValue) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        deepest = deepest.max(depth);
        match v {
            JsonValue::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            JsonValue::Object(map) => stack.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    deepest
}

/// Size of the compact JSON serialisation of `value`, without building the string.
pub fn compact_json_size(value: &JsonValue) -> usize {
    struct Counter(usize);
    impl Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a `Value` into an infallible writer cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integral_numbers_become_integers_within_the_safe_range() {
        assert_eq!(normalize_json(&json!(1.0)), json!(1));
        assert_eq!(normalize_json(&json!(3.5)), json!(3.5));
        assert_eq!(normalize_json(&json!(-7)), json!(-7));
        assert_eq!(
            normalize_json(&json!(1_700_000_000_000u64)),
            json!(1_700_000_000_000u64)
        );
        // Beyond 2^53 a number is the nearest double, still written as an integer like JS does.
        assert_eq!(
            normalize_json(&json!(9_007_199_254_740_993u64)),
            json!(9_007_199_254_740_992u64)
        );
        assert_eq!(
            normalize_json(&json!(2f64.powi(60))).to_string(),
            "1152921504606846976"
        );
        let big = normalize_json(&json!(u64::MAX));
        assert!(big.as_f64().is_some() && big.as_u64().is_none());
        assert_eq!(
            normalize_json(&json!([1.0, {"b": 2.0, "a": 1}])),
            json!([1, {"a": 1, "b": 2}])
        );
    }

    #[test]
    fn object_keys_come_out_sorted() {
        let v = normalize_json(&json!({"z": 1, "a": {"y": 1, "b": 2}}));
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(text, r#"{"a":{"b":2,"y":1},"z":1}"#);
    }

    #[test]
    fn value_size_limit_is_inclusive() {
        // A JSON string of n characters takes n + 2 bytes.
        let ok = JsonValue::String("x".repeat(MAX_INFO_VALUE_SIZE - 2));
        let too_big = JsonValue::String("x".repeat(MAX_INFO_VALUE_SIZE - 1));
        assert!(validate_info_value(&ok).is_ok());
        assert!(validate_info_value(&too_big).is_err());
    }

    #[test]
    fn nesting_is_limited() {
        let mut ok = json!(1);
        for _ in 0..MAX_INFO_VALUE_DEPTH {
            ok = json!([ok]);
        }
        assert!(validate_info_value(&ok).is_ok());
        assert!(validate_info_value(&json!({ "deeper": ok })).is_err());
    }

    #[test]
    fn keys_are_limited_in_utf16_units() {
        assert!(validate_info_key("").is_err());
        assert!(validate_info_key(&"k".repeat(1024)).is_ok());
        assert!(validate_info_key(&"k".repeat(1025)).is_err());
        assert!(validate_info_key(&"😀".repeat(513)).is_err());
    }
}
