//! Conversions between Info values (JSON) and yrs `Any` values (SPEC §9.2, §9.3).

use serde_json::{Map as JsonMap, Value as JsonValue};
use std::collections::HashMap;
use std::sync::Arc;
use yrs::types::ToJson;
use yrs::{Any, Number, Out, ReadTxn};

/// The `Any` stored for a JSON value. Every number becomes an f64 (`Number::Float`), as in JS:
/// yrs would encode a large `Number::Int` as a BigInt, which JS SDS cannot read as a number.
pub(crate) fn json_to_any(value: &JsonValue) -> Any {
    match value {
        JsonValue::Null => Any::Null,
        JsonValue::Bool(b) => Any::Bool(*b),
        JsonValue::Number(n) => Any::Number(Number::Float(n.as_f64().unwrap_or(0.0))),
        JsonValue::String(s) => Any::String(Arc::from(s.as_str())),
        JsonValue::Array(items) => Any::Array(items.iter().map(json_to_any).collect()),
        JsonValue::Object(map) => Any::Map(Arc::new(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_any(v)))
                .collect::<HashMap<String, Any>>(),
        )),
    }
}

/// The JSON value of a stored `Any`, before normalisation; `None` for `Any::Undefined`
/// (absent, SPEC §9.3).
///
/// Numbers of either representation become JSON numbers (a BigInt-encoded integer reads as
/// the nearest f64, as JS `Number(bigint)` would); a binary buffer, which sds never writes into
/// Info, reads as an array of its byte values. `undefined` inside an array reads as `null` and
/// inside a map as a missing key, as `JSON.stringify` does.
pub(crate) fn any_to_json(any: &Any) -> Option<JsonValue> {
    Some(match any {
        Any::Undefined => return None,
        Any::Null => JsonValue::Null,
        Any::Bool(b) => JsonValue::Bool(*b),
        Any::Number(Number::Float(x)) => sds_core::json_number_from_f64(*x),
        Any::Number(Number::Int(i)) => sds_core::json_number_from_f64(*i as f64),
        Any::String(s) => JsonValue::String(s.to_string()),
        Any::Buffer(bytes) => JsonValue::Array(bytes.iter().map(|&b| JsonValue::from(b)).collect()),
        Any::Array(items) => JsonValue::Array(
            items
                .iter()
                .map(|item| any_to_json(item).unwrap_or(JsonValue::Null))
                .collect(),
        ),
        Any::Map(map) => {
            let mut out = JsonMap::new();
            for (key, value) in map.iter() {
                if let Some(value) = any_to_json(value) {
                    out.insert(key.clone(), value);
                }
            }
            JsonValue::Object(out)
        }
    })
}

/// The JSON value of one Info map value: a plain `Any`, or a shared type that some other
/// writer put there, read through its JSON form as JS `toJSON()` would (texts and XML types as
/// strings, arrays and maps as JSON). Subdocuments and unknown types read as absent.
pub(crate) fn out_to_json<T: ReadTxn>(txn: &T, out: &Out) -> Option<JsonValue> {
    match out {
        Out::Any(any) => any_to_json(any),
        Out::YDoc(_) | Out::UndefinedRef(_) => None,
        _ => any_to_json(&out.to_json(txn)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_are_stored_as_floats_and_read_back_as_json_numbers() {
        assert_eq!(json_to_any(&json!(42)), Any::Number(Number::Float(42.0)));
        assert!(matches!(
            json_to_any(&json!(1_700_000_000_000u64)),
            Any::Number(Number::Float(_))
        ));
        assert_eq!(any_to_json(&Any::Number(Number::Int(42))), Some(json!(42)));
        assert_eq!(
            any_to_json(&Any::Number(Number::Float(3.5))),
            Some(json!(3.5))
        );
        assert_eq!(
            any_to_json(&Any::Number(Number::Float(1_700_000_000_000.0))),
            Some(json!(1_700_000_000_000u64))
        );
    }

    #[test]
    fn undefined_is_absent_and_buffers_read_as_byte_arrays() {
        assert_eq!(any_to_json(&Any::Undefined), None);
        let arr = Any::Array(Arc::from(vec![Any::Undefined, Any::Bool(true)]));
        assert_eq!(any_to_json(&arr), Some(json!([null, true])));
        let map = Any::Map(Arc::new(HashMap::from([
            ("gone".to_owned(), Any::Undefined),
            ("kept".to_owned(), Any::Null),
        ])));
        assert_eq!(any_to_json(&map), Some(json!({"kept": null})));
        let buf = Any::Buffer(Arc::from(&[1u8, 2, 255][..]));
        assert_eq!(any_to_json(&buf), Some(json!([1, 2, 255])));
    }

    #[test]
    fn nested_values_round_trip() {
        let value = json!({"a": [1, "two", [3.5, null]], "b": {"c": true}});
        assert_eq!(any_to_json(&json_to_any(&value)), Some(value));
    }
}
