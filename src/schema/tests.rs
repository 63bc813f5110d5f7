use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// [`super::expand`] with its error as one line: the message, then `; ` and the hint.
fn expand(v: &Value) -> Result<Value, String> {
    super::expand(v).map_err(|e| match &e.help {
        Some(help) => format!("{e}; {help}"),
        None => e.to_string(),
    })
}

#[test]
fn expands_flat_shorthand() {
    let got = expand(&json!({"company": "string", "score": "integer?", "tags": "string[]"}));
    assert_eq!(
        got.unwrap(),
        json!({
            "type": "object",
            "properties": {
                "company": {"type": "string"},
                "score": {"type": "integer"},
                "tags": {"type": "array", "items": {"type": "string"}},
            },
            "required": ["company", "tags"],
            "additionalProperties": false,
        })
    );
}

#[test]
fn expands_property_schemas_and_nested_objects() {
    let got = expand(&json!({
        "deck": {"type": "string", "description": "path to the PDF"},
        "notes": {"type": "string?", "description": "free text"},
        "address": {"city": "string"},
        "scores": ["number"],
    }))
    .unwrap();
    assert_eq!(
        got["properties"]["deck"],
        json!({"type": "string", "description": "path to the PDF"})
    );
    assert_eq!(
        got["properties"]["notes"],
        json!({"type": "string", "description": "free text"})
    );
    assert_eq!(got["properties"]["address"]["required"], json!(["city"]));
    assert_eq!(
        got["properties"]["scores"]["items"],
        json!({"type": "number"})
    );
    assert_eq!(got["required"], json!(["deck", "address", "scores"]));
}

#[test]
fn array_suffix_in_property_schema_keeps_description_on_the_array() {
    let got = expand(&json!({"tags": {"type": "string[]", "description": "d"}})).unwrap();
    assert_eq!(
        got["properties"]["tags"],
        json!({"type": "array", "items": {"type": "string"}, "description": "d"})
    );
}

#[test]
fn keeps_full_schemas() {
    for schema in [
        json!({"type": "object", "properties": {"a": {"type": "string"}}}),
        json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "string"}),
        json!({"anyOf": [{"type": "string"}, {"type": "null"}]}),
        json!({"type": "string", "enum": ["a", "b"]}),
    ] {
        assert_eq!(expand(&schema).unwrap(), schema);
    }
}

#[test]
fn bare_type_name_is_a_schema_of_that_type() {
    assert_eq!(expand(&json!("string")).unwrap(), json!({"type": "string"}));
    assert_eq!(
        expand(&json!("integer[]")).unwrap(),
        json!({"type": "array", "items": {"type": "integer"}})
    );
}

#[test]
fn unknown_type_suggests_a_name() {
    let err = expand(&json!({"deck": "strng"})).unwrap_err();
    assert_eq!(err, "`deck`: unknown type `strng`; did you mean `string`?");
    let err = super::expand(&json!({"a": {"b": "intger"}})).unwrap_err();
    assert_eq!(err.path, ["a", "b"]);
    assert_eq!(err.message, "unknown type `intger`");
    let err = expand(&json!({"a": "zzz"})).unwrap_err();
    assert!(err.contains("type names are `string`"), "{err}");
}

#[test]
fn rejects_non_shorthand_values() {
    assert_eq!(
        expand(&json!({"a": 3})).unwrap_err(),
        "`a`: expected a type name or a map, found `3`; type names are `string`, `integer`, \
         `number`, `boolean`, `array`, `object`, `null`"
    );
    assert!(
        expand(&json!({"a": ["string", "integer"]}))
            .unwrap_err()
            .contains("exactly one")
    );
    assert_eq!(
        expand(&json!("string?")).unwrap_err(),
        "`?` only marks optional properties"
    );
}

#[test]
fn validator_reports_pointers() {
    let schema = expand(&json!({"score": "integer", "summary": "string"})).unwrap();
    let v = Validator::new(&schema).unwrap();
    assert!(v.validate(&json!({"score": 3, "summary": "ok"})).is_ok());
    let errors = v
        .validate(&json!({"score": "high", "summary": "ok"}))
        .unwrap_err();
    assert_eq!(errors, ["`/score`: \"high\" is not of type \"integer\""]);
    let errors = v.validate(&json!({"score": 1})).unwrap_err();
    assert_eq!(errors, ["`/`: \"summary\" is a required property"]);
}

#[test]
fn validator_rejects_invalid_schema() {
    let err = Validator::new(&json!({"type": "strin"})).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid JSON Schema: "),
        "{err}"
    );
}

#[test]
fn examples_honour_common_keywords() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 5, "maxLength": 6},
            "mood": {"enum": ["happy", "sad"]},
            "when": {"type": "string", "format": "date"},
            "count": {"type": "integer", "minimum": 3},
            "ratio": {"type": "number", "maximum": 0.5},
            "flag": {"type": "boolean"},
            "list": {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": true},
            "either": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "fixed": {"const": 42},
            "maybe": {"type": ["null", "string"]},
        },
    });
    let got = example_for(&schema, "hi");
    assert_eq!(
        got,
        json!({
            "name": "hixxx", "mood": "happy", "when": "1970-01-01", "count": 3, "ratio": 0.5,
            "flag": true, "list": ["hi", "hi1"], "either": 1, "fixed": 42, "maybe": "hi",
        })
    );
    assert!(Validator::new(&schema).unwrap().validate(&got).is_ok());
}

#[test]
fn example_merges_all_of() {
    let schema = json!({"allOf": [
        {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
        {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
    ]});
    let got = example_for(&schema, "t");
    assert_eq!(got, json!({"a": 1, "b": true}));
    assert!(Validator::new(&schema).unwrap().validate(&got).is_ok());
}

fn type_name() -> impl Strategy<Value = String> {
    let base = prop::sample::select(TYPE_NAMES.to_vec());
    (base, any::<bool>(), any::<bool>()).prop_map(|(t, array, optional)| {
        format!(
            "{t}{}{}",
            if array { "[]" } else { "" },
            if optional { "?" } else { "" }
        )
    })
}

fn shorthand() -> impl Strategy<Value = Value> {
    let leaf = type_name().prop_map(Value::String);
    let field = leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", inner.clone(), 1..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            inner.clone().prop_map(|v| Value::Array(vec![v])),
            (type_name(), "[a-z ]{0,10}").prop_map(|(t, d)| json!({"type": t, "description": d})),
        ]
    });
    prop::collection::btree_map("[a-z_][a-z0-9_]{0,6}", field, 1..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()))
}

proptest! {
    #[test]
    fn examples_of_expanded_shorthand_validate(short in shorthand(), text in ".{0,8}") {
        let schema = expand(&short).unwrap();
        let validator = Validator::new(&schema).unwrap();
        let example = example_for(&schema, &text);
        prop_assert!(validator.validate(&example).is_ok(), "{schema} {example}");
    }
}

#[test]
fn validator_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Validator>();
}
