//! JSON Schema for worker inputs and outputs: expansion of the frontmatter shorthand
//! ([`expand`]), validation with readable messages ([`Validator`]), and deterministic
//! schema-valid sample values for the offline `test` model ([`example_for`]).
//!
//! # Shorthand
//!
//! A map whose values are type names expands to an object schema:
//!
//! ```yaml
//! company: string            # required string
//! notes: string?             # `?`: optional property
//! tags: string[]             # array of strings (also `[string]`)
//! deck: {type: string, description: path to the PDF}   # a property schema
//! address: {street: string, city: string}               # a nested shorthand object
//! ```
//!
//! Type names are `string`, `integer`, `number`, `boolean`, `array`, `object` and `null`.
//! Every object produced from shorthand has `additionalProperties: false`. A bare type name
//! (`output: string`) is a schema of that type. A map is taken as a JSON Schema (and kept as it
//! is) when it has `$schema`, `$ref`, `anyOf`, `oneOf` or `allOf`, when it is
//! `{type: object, properties: ...}`, or when all its keys are JSON Schema keywords and one of
//! them is `type`, `enum` or `const`. Inside a property schema `type` may use the `?` and `[]`
//! suffixes. A shorthand object therefore cannot have a single field named `type`; write the
//! full schema for that.

mod example;

use serde_json::{Map, Value, json};

pub use example::example_for;

/// The type names shorthand understands.
pub const TYPE_NAMES: [&str; 7] = [
    "string", "integer", "number", "boolean", "array", "object", "null",
];

/// Keys that mark a map as a full JSON Schema on their own.
const SCHEMA_MARKERS: [&str; 5] = ["$schema", "$ref", "anyOf", "oneOf", "allOf"];

/// JSON Schema keywords: a map made only of these (plus `type`/`enum`/`const`) is a schema.
#[rustfmt::skip]
const KEYWORDS: [&str; 33] = [
    "type", "enum", "const", "description", "title", "default", "examples", "format",
    "minLength", "maxLength", "pattern", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "multipleOf", "items", "prefixItems", "minItems", "maxItems",
    "uniqueItems", "contains", "properties", "required", "additionalProperties",
    "patternProperties", "minProperties", "maxProperties", "not", "$defs", "definitions", "$id",
    "$comment",
];

/// A shorthand expansion error: the property path where it happened and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", path_prefix(.path))]
pub struct ExpandError {
    /// Property names from the root to the offending field (empty for the root).
    pub path: Vec<String>,
    /// What is wrong, lowercase, without the path.
    pub message: String,
    /// A "did you mean" or other hint.
    pub help: Option<String>,
}

fn path_prefix(path: &[String]) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("`{}`: ", path.join("."))
    }
}

/// Expand shorthand (see the module docs) into JSON Schema; full schemas are kept as they are.
///
/// # Errors
///
/// An [`ExpandError`] (its path, and a "did you mean" where one fits) for unknown type names
/// and values that are neither a type name, a list of one type, nor a map.
pub fn expand(v: &Value) -> Result<Value, ExpandError> {
    match property(v, &mut Vec::new())? {
        // A bare type name is no property, so it cannot be optional.
        (_, true) if v.is_string() => Err(err(&[], "`?` only marks optional properties", None)),
        (schema, _) => Ok(schema),
    }
}

fn err(path: &[String], message: impl Into<String>, help: Option<String>) -> ExpandError {
    ExpandError {
        path: path.to_vec(),
        message: message.into(),
        help,
    }
}

/// Expand one property's value; returns the schema and whether the property is optional.
fn property(v: &Value, path: &mut Vec<String>) -> Result<(Value, bool), ExpandError> {
    match v {
        Value::String(s) => type_spec(s, path),
        Value::Array(items) => match items.as_slice() {
            [one] => {
                let (item, _) = property(one, path)?;
                Ok((json!({"type": "array", "items": item}), false))
            }
            _ => Err(err(
                path,
                "a list in a schema shorthand must hold exactly one item type",
                Some("write `[string]` or `string[]`".to_owned()),
            )),
        },
        Value::Object(map) if is_full_schema(map) => property_schema(map, path),
        Value::Object(map) => object(map, path).map(|schema| (schema, false)),
        other => Err(err(
            path,
            format!("expected a type name or a map, found `{other}`"),
            Some(format!(
                "type names are {}",
                crate::suggest::quoted(TYPE_NAMES)
            )),
        )),
    }
}

/// A shorthand object: every entry is a property.
fn object(map: &Map<String, Value>, path: &mut Vec<String>) -> Result<Value, ExpandError> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, value) in map {
        path.push(name.clone());
        let (schema, optional) = property(value, path)?;
        path.pop();
        if !optional {
            required.push(Value::String(name.clone()));
        }
        properties.insert(name.clone(), schema);
    }
    Ok(json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    }))
}

/// A full property schema, whose `type` may still use the `?` and `[]` suffixes.
fn property_schema(
    map: &Map<String, Value>,
    path: &[String],
) -> Result<(Value, bool), ExpandError> {
    let ty = match map.get("type").and_then(Value::as_str) {
        Some(ty) if !TYPE_NAMES.contains(&ty) => ty,
        _ => return Ok((Value::Object(map.clone()), false)),
    };
    // The shorthand's schema (always a map), with the map's other keywords over it.
    let (expanded, optional) = type_spec(ty, path)?;
    let mut merged = expanded.as_object().cloned().unwrap_or_default();
    merged.extend(
        map.iter()
            .filter(|(k, _)| *k != "type")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    Ok((Value::Object(merged), optional))
}

/// Parse a type name with its optional `[]` and `?` suffixes.
fn type_spec(spec: &str, path: &[String]) -> Result<(Value, bool), ExpandError> {
    let spec = spec.trim();
    let (spec, optional) = match spec.strip_suffix('?') {
        Some(rest) => (rest.trim_end(), true),
        None => (spec, false),
    };
    if let Some(item) = spec.strip_suffix("[]") {
        let (items, _) = type_spec(item, path)?;
        return Ok((json!({"type": "array", "items": items}), optional));
    }
    if TYPE_NAMES.contains(&spec) {
        return Ok((json!({"type": spec}), optional));
    }
    let help = crate::suggest::did_you_mean(spec, TYPE_NAMES).or_else(|| {
        Some(format!(
            "type names are {}",
            crate::suggest::quoted(TYPE_NAMES)
        ))
    });
    Err(err(path, format!("unknown type `{spec}`"), help))
}

/// Whether a map is a JSON Schema rather than a shorthand object (see the module docs).
fn is_full_schema(map: &Map<String, Value>) -> bool {
    if SCHEMA_MARKERS.iter().any(|k| map.contains_key(*k)) {
        return true;
    }
    if map.get("type").and_then(Value::as_str) == Some("object") && map.contains_key("properties") {
        return true;
    }
    let has_anchor = ["type", "enum", "const"]
        .iter()
        .any(|k| map.contains_key(*k));
    let type_ok = map
        .get("type")
        .is_none_or(|t| t.is_string() || t.is_array());
    let enum_ok = map.get("enum").is_none_or(Value::is_array);
    has_anchor && type_ok && enum_ok && map.keys().all(|k| KEYWORDS.contains(&k.as_str()))
}

/// Why a schema could not be compiled.
#[derive(Debug, thiserror::Error)]
#[error("invalid JSON Schema: {0}")]
pub struct SchemaError(String);

/// A JSON Schema compiled once, validating many values.
#[derive(Debug)]
pub struct Validator {
    inner: jsonschema::Validator,
}

impl Validator {
    /// Compile `schema`.
    ///
    /// # Errors
    ///
    /// When `schema` is not a valid JSON Schema (or references something unreachable).
    pub fn new(schema: &Value) -> Result<Self, SchemaError> {
        jsonschema::validator_for(schema)
            .map(|inner| Self { inner })
            .map_err(|e| SchemaError(located_message(e.instance_path().as_str(), &e.to_string())))
    }

    /// Check `v`; on failure, one readable message per problem, each starting with the
    /// JSON pointer of the offending value, e.g. ``"`/score`: \"high\" is not of type \"integer\""``.
    ///
    /// # Errors
    ///
    /// The messages, in the validator's order.
    pub fn validate(&self, v: &Value) -> Result<(), Vec<String>> {
        let errors: Vec<String> = self
            .inner
            .iter_errors(v)
            .map(|e| located_message(e.instance_path().as_str(), &e.to_string()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

fn located_message(pointer: &str, message: &str) -> String {
    let pointer = if pointer.is_empty() { "/" } else { pointer };
    format!("`{pointer}`: {message}")
}

#[cfg(test)]
mod tests;
