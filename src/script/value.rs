//! Conversion between Rhai values and JSON (the interchange with workers and models), and
//! how a script's result is printed.

use rhai::Dynamic;
use serde_json::Value;

/// A Rhai value as JSON. Values with no JSON form (fn pointers, timestamps) become strings.
pub fn to_json(v: &Dynamic) -> Value {
    rhai::serde::from_dynamic::<Value>(v).unwrap_or_else(|_| Value::String(v.to_string()))
}

/// A JSON value as a Rhai value (objects become maps, arrays arrays, numbers ints or floats).
pub fn to_dynamic(v: &Value) -> Dynamic {
    // Cannot fail: every JSON value has a Rhai form (an integer past `INT` becomes a float).
    rhai::serde::to_dynamic(v).unwrap_or(Dynamic::UNIT)
}

/// How a result is printed: strings raw, unit as nothing, everything else as pretty JSON.
/// With `json`, strings are JSON too.
pub fn render(v: &Value, json: bool) -> Option<String> {
    match v {
        Value::Null if !json => None,
        Value::String(s) if !json => Some(s.clone()),
        other => Some(serde_json::to_string_pretty(other).unwrap_or_else(|_| other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips_json() {
        let v = json!({"a": 1, "b": [true, 2.5, "x"], "c": {"d": null}});
        assert_eq!(to_json(&to_dynamic(&v)), v);
    }

    #[test]
    fn renders_strings_raw_and_maps_as_json() {
        assert_eq!(render(&json!("hi"), false).as_deref(), Some("hi"));
        assert_eq!(render(&json!("hi"), true).as_deref(), Some("\"hi\""));
        assert_eq!(render(&Value::Null, false), None);
        assert_eq!(render(&json!([1]), false).as_deref(), Some("[\n  1\n]"));
    }
}
