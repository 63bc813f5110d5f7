//! Deterministic sample values for a JSON Schema: what the offline `test` model sends as tool
//! arguments and answers as structured output.

use serde_json::{Map, Value, json};

/// How deep sample generation follows nested schemas before giving up with `null`
/// (guards against recursive `$ref`-free but self-similar schemas).
const MAX_DEPTH: usize = 32;

/// A deterministic value valid for `schema` in the common cases: strings are `text` (or the
/// first `enum` value, or a sample of the `format`, padded/truncated to `minLength`/`maxLength`),
/// integers and numbers are the minimum (or 1), booleans `true`, arrays hold `minItems` (at
/// least one) items, objects hold every property, `anyOf`/`oneOf` take the first branch,
/// `allOf` merges its branches and `const` is the constant. `pattern` and `$ref` are not
/// followed.
#[must_use]
pub fn example_for(schema: &Value, text: &str) -> Value {
    sample(schema, text, 0)
}

fn sample(schema: &Value, text: &str, depth: usize) -> Value {
    let Value::Object(map) = schema else {
        // `true` and `{}` accept anything.
        return Value::String(text.to_owned());
    };
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(c) = map.get("const") {
        return c.clone();
    }
    let first = |key: &str| {
        map.get(key)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
    };
    if let Some(first) = first("enum") {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = first(key) {
            return sample(first, text, depth + 1);
        }
    }
    if let Some(branches) = map.get("allOf").and_then(Value::as_array) {
        return sample(&merge_all(map, branches), text, depth + 1);
    }
    match type_of(map) {
        "null" => Value::Null,
        "boolean" => Value::Bool(true),
        "integer" => integer(least(map, true)),
        "number" => json!(least(map, false)),
        "array" => array(map, text, depth),
        "object" => object(map, text, depth),
        _ => string(map, text),
    }
}

/// The schema's type: the first non-null one of a type list, else inferred from keywords.
fn type_of(map: &Map<String, Value>) -> &str {
    match map.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or_else(|| types.first().and_then(Value::as_str))
            .unwrap_or("string"),
        _ if map.contains_key("properties") => "object",
        _ if map.contains_key("items") || map.contains_key("prefixItems") => "array",
        _ => "string",
    }
}

/// `allOf`: the schema without `allOf`, with every branch's keywords merged in (properties
/// and `required` are unioned).
fn merge_all(base: &Map<String, Value>, branches: &[Value]) -> Value {
    let mut merged = base.clone();
    merged.remove("allOf");
    for branch in branches.iter().filter_map(Value::as_object) {
        for (key, value) in branch {
            match (merged.get_mut(key), value) {
                (Some(Value::Object(into)), Value::Object(from)) if key == "properties" => {
                    into.extend(from.clone());
                }
                (Some(Value::Array(into)), Value::Array(from)) if key == "required" => {
                    into.extend(from.iter().cloned());
                }
                _ => {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
    }
    Value::Object(merged)
}

fn string(map: &Map<String, Value>, text: &str) -> Value {
    let base = map
        .get("format")
        .and_then(Value::as_str)
        .and_then(format_sample)
        .unwrap_or(text);
    let min = bound(map, "minLength").unwrap_or(0);
    let max = bound(map, "maxLength").unwrap_or(usize::MAX);
    let mut s: String = base.chars().take(max).collect();
    let count = s.chars().count();
    if count < min {
        s.extend(std::iter::repeat_n('x', min - count));
    }
    Value::String(s)
}

fn format_sample(format: &str) -> Option<&'static str> {
    Some(match format {
        "date-time" => "1970-01-01T00:00:00Z",
        "date" => "1970-01-01",
        "time" => "00:00:00Z",
        "email" | "idn-email" => "user@example.com",
        "uri" | "url" | "iri" => "https://example.com/",
        "uri-reference" | "iri-reference" => "/",
        "uuid" => "00000000-0000-0000-0000-000000000000",
        "ipv4" => "127.0.0.1",
        "ipv6" => "::1",
        "hostname" | "idn-hostname" => "example.com",
        "duration" => "P1D",
        _ => return None,
    })
}

fn bound(map: &Map<String, Value>, key: &str) -> Option<usize> {
    map.get(key)
        .and_then(Value::as_u64)
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
}

/// The least value the schema's bounds allow (`minimum`, `exclusiveMinimum`; an integer
/// schema's bounds rounded inwards), else 1 kept under the upper bound.
fn least(map: &Map<String, Value>, integer: bool) -> f64 {
    let get = |key: &str| map.get(key).and_then(Value::as_f64);
    let up = |x: f64| if integer { x.ceil() } else { x };
    let down = |x: f64| if integer { x.floor() } else { x };
    let lower = get("minimum")
        .map(up)
        .or_else(|| get("exclusiveMinimum").map(|m| down(m) + 1.0));
    let upper = get("maximum")
        .map(down)
        .or_else(|| get("exclusiveMaximum").map(|m| up(m) - 1.0));
    match (lower, upper) {
        (Some(lo), _) => lo,
        (None, Some(hi)) => hi.min(1.0),
        (None, None) => 1.0,
    }
}

fn integer(value: f64) -> Value {
    #[allow(clippy::cast_possible_truncation)] // clamped to the i64 range first
    let n = value.clamp(i64::MIN as f64, i64::MAX as f64) as i64;
    json!(n)
}

fn array(map: &Map<String, Value>, text: &str, depth: usize) -> Value {
    let mut items: Vec<Value> = map
        .get("prefixItems")
        .and_then(Value::as_array)
        .map(|prefix| prefix.iter().map(|s| sample(s, text, depth + 1)).collect())
        .unwrap_or_default();
    let max = bound(map, "maxItems").unwrap_or(usize::MAX);
    let want = bound(map, "minItems").unwrap_or(1).max(1).min(max);
    let item_schema = map.get("items").cloned().unwrap_or(Value::Bool(true));
    let unique = map.get("uniqueItems").and_then(Value::as_bool) == Some(true);
    while items.len() < want {
        let n = items.len();
        let mut item = sample(&item_schema, text, depth + 1);
        // Keep `uniqueItems` arrays unique when the items are strings.
        if unique && n > 0 {
            if let Value::String(s) = &mut item {
                s.push_str(&n.to_string());
            }
        }
        items.push(item);
    }
    items.truncate(max);
    Value::Array(items)
}

fn object(map: &Map<String, Value>, text: &str, depth: usize) -> Value {
    let mut out = Map::new();
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        for (name, schema) in properties {
            out.insert(name.clone(), sample(schema, text, depth + 1));
        }
    }
    let required = map.get("required").and_then(Value::as_array);
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        if !out.contains_key(name) {
            out.insert(name.to_owned(), Value::String(text.to_owned()));
        }
    }
    Value::Object(out)
}
