//! Conversions between Info values (JSON) and loro values (SPEC §9.2, §9.4), and the
//! `ValueRef` encoding of the loro layout.

use loro::{LoroValue, ValueOrContainer};
use sds_core::{MAX_SAFE_INTEGER, ValueRef};
use serde_json::{Map as JsonMap, Number, Value as JsonValue};
use std::collections::HashMap;

/// The loro value stored for a JSON value, as loro-crdt stores a JS value: integers with
/// |n| ≤ 2^53 become `I64`, every other number a `Double`, arrays and objects become list and
/// map *values* (never containers).
pub(crate) fn json_to_loro(value: &JsonValue) -> LoroValue {
    match value {
        JsonValue::Null => LoroValue::Null,
        JsonValue::Bool(b) => LoroValue::Bool(*b),
        JsonValue::Number(n) => number_to_loro(n),
        JsonValue::String(s) => LoroValue::from(s.as_str()),
        JsonValue::Array(items) => {
            LoroValue::from(items.iter().map(json_to_loro).collect::<Vec<LoroValue>>())
        }
        JsonValue::Object(map) => LoroValue::from(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_loro(v)))
                .collect::<HashMap<String, LoroValue>>(),
        ),
    }
}

fn number_to_loro(n: &Number) -> LoroValue {
    const SAFE: u64 = 1 << 53;
    if let Some(i) = n.as_i64()
        && i.unsigned_abs() <= SAFE
    {
        return LoroValue::I64(i);
    }
    let x = n.as_f64().unwrap_or(0.0);
    // A JS number that happens to be integral (`3.0`) is the same number as `3`; loro-crdt
    // stores it as I64, and so does sds. This also turns `-0` into `0`, as loro-crdt does.
    if x.is_finite() && x.fract() == 0.0 && x.abs() <= MAX_SAFE_INTEGER {
        LoroValue::I64(x as i64)
    } else {
        LoroValue::Double(x)
    }
}

/// The JSON value of a stored loro value, before normalisation.
///
/// Both number representations become JSON numbers; binary data, which sds never writes into
/// Info, reads as an array of its byte values; a container reference (which cannot occur in a
/// resolved value) reads as `null`.
pub(crate) fn loro_to_json(value: &LoroValue) -> JsonValue {
    match value {
        LoroValue::Null | LoroValue::Container(_) => JsonValue::Null,
        LoroValue::Bool(b) => JsonValue::Bool(*b),
        LoroValue::Double(x) => sds_core::json_number_from_f64(*x),
        LoroValue::I64(i) => JsonValue::Number((*i).into()),
        LoroValue::String(s) => JsonValue::String(s.to_string()),
        LoroValue::Binary(bytes) => {
            JsonValue::Array(bytes.iter().map(|&b| JsonValue::from(b)).collect())
        }
        LoroValue::List(items) => JsonValue::Array(items.iter().map(loro_to_json).collect()),
        LoroValue::Map(map) => {
            let mut out = JsonMap::new();
            for (key, value) in map.iter() {
                out.insert(key.clone(), loro_to_json(value));
            }
            JsonValue::Object(out)
        }
    }
}

/// The JSON value of one Info map value: a plain value, or a container some other writer put
/// there (JS loro peers turn strings that look like container ids into references), read
/// through its deep value as loro-crdt's `toJSON()` would.
pub(crate) fn info_value_to_json(value: &ValueOrContainer) -> JsonValue {
    sds_core::normalize_json(&loro_to_json(&value.get_deep_value()))
}

/// The stored form of a `ValueRef`: compact JSON with `Hash` first, as JS SDS writes it.
pub(crate) fn value_ref_to_string(value_ref: &ValueRef) -> String {
    let hash = JsonValue::String(value_ref.hash.clone());
    format!(r#"{{"Hash":{hash},"Size":{}}}"#, value_ref.size)
}

/// Reads a `ValueRef` from its stored form: a JSON string (the JS SDS loro layout) or,
/// tolerantly, a map value or map container. Anything malformed reads as missing.
pub(crate) fn read_value_ref(value: &ValueOrContainer) -> Option<ValueRef> {
    let json = match value {
        ValueOrContainer::Value(LoroValue::String(s)) => serde_json::from_str(s).ok()?,
        ValueOrContainer::Value(map @ LoroValue::Map(_)) => loro_to_json(map),
        ValueOrContainer::Container(loro::Container::Map(map)) => {
            loro_to_json(&map.get_deep_value())
        }
        _ => return None,
    };
    let JsonValue::Object(fields) = json else {
        return None;
    };
    let hash = fields.get("Hash")?.as_str()?.to_owned();
    let size = match fields.get("Size")? {
        JsonValue::Number(n) => {
            if let Some(u) = n.as_u64() {
                u
            } else {
                let x = n.as_f64()?;
                if x.is_finite() && x >= 0.0 && x.fract() == 0.0 && x <= MAX_SAFE_INTEGER {
                    x as u64
                } else {
                    return None;
                }
            }
        }
        _ => return None,
    };
    Some(ValueRef { hash, size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn safe_integers_are_i64_and_other_numbers_double() {
        assert_eq!(json_to_loro(&json!(42)), LoroValue::I64(42));
        assert_eq!(json_to_loro(&json!(-7)), LoroValue::I64(-7));
        assert_eq!(
            json_to_loro(&json!(1_700_000_000_000u64)),
            LoroValue::I64(1_700_000_000_000)
        );
        assert_eq!(json_to_loro(&json!(3.0)), LoroValue::I64(3));
        assert_eq!(json_to_loro(&json!(-0.0)), LoroValue::I64(0));
        assert_eq!(
            json_to_loro(&json!(9_007_199_254_740_992u64)),
            LoroValue::I64(1 << 53)
        );
        assert_eq!(json_to_loro(&json!(3.5)), LoroValue::Double(3.5));
        assert_eq!(
            json_to_loro(&json!(9_007_199_254_740_994u64)),
            LoroValue::Double(9_007_199_254_740_994.0)
        );
        assert_eq!(
            json_to_loro(&json!(u64::MAX)),
            LoroValue::Double(u64::MAX as f64)
        );
        assert_eq!(json_to_loro(&json!(1e300)), LoroValue::Double(1e300));
    }

    #[test]
    fn nested_values_are_plain_lists_and_maps() {
        let value = json!({"a": [1, "two", [3.5, null]], "b": {"c": true}});
        let loro = json_to_loro(&value);
        let LoroValue::Map(map) = &loro else {
            panic!("not a map value: {loro:?}")
        };
        let LoroValue::List(list) = &map["a"] else {
            panic!("not a list value")
        };
        assert_eq!(list[0], LoroValue::I64(1));
        assert_eq!(loro_to_json(&loro), value);
    }

    #[test]
    fn binary_reads_as_bytes_and_non_finite_doubles_as_null() {
        assert_eq!(
            loro_to_json(&LoroValue::from(vec![1u8, 2, 255])),
            json!([1, 2, 255])
        );
        assert_eq!(loro_to_json(&LoroValue::Double(f64::NAN)), json!(null));
        assert_eq!(loro_to_json(&LoroValue::Double(2.0)), json!(2));
    }

    #[test]
    fn value_refs_are_compact_json_strings() {
        let value_ref = ValueRef {
            hash: "ab".repeat(32),
            size: 60,
        };
        let stored = value_ref_to_string(&value_ref);
        assert_eq!(
            stored,
            format!(r#"{{"Hash":"{}","Size":60}}"#, "ab".repeat(32))
        );
        let read = read_value_ref(&ValueOrContainer::Value(LoroValue::from(stored)));
        assert_eq!(read, Some(value_ref.clone()));
        // A map value is accepted as well.
        let map = json_to_loro(&json!({"Hash": value_ref.hash, "Size": 60}));
        assert_eq!(
            read_value_ref(&ValueOrContainer::Value(map)),
            Some(value_ref)
        );
    }

    #[test]
    fn malformed_value_refs_read_as_missing() {
        for bad in [
            r#"{"Hash":"h"}"#,
            r#"{"Size":3}"#,
            r#"{"Hash":1,"Size":3}"#,
            r#"{"Hash":"h","Size":-1}"#,
            r#"{"Hash":"h","Size":1.5}"#,
            r#"["h",3]"#,
            "not json",
        ] {
            let value = ValueOrContainer::Value(LoroValue::from(bad));
            assert_eq!(read_value_ref(&value), None, "{bad}");
        }
        assert_eq!(
            read_value_ref(&ValueOrContainer::Value(LoroValue::I64(3))),
            None
        );
    }
}
