//! JSON Schema: shorthand expansion and validation. (Interim; replaced by the wfile branch.)
use serde_json::{Value, json};

pub struct Validator(jsonschema::Validator);
impl Validator {
    pub fn new(schema: &Value) -> Result<Self, String> {
        jsonschema::validator_for(schema).map(Self).map_err(|e| e.to_string())
    }
    pub fn validate(&self, v: &Value) -> Result<(), Vec<String>> {
        let errs: Vec<String> = self.0.iter_errors(v).map(|e| format!("`{}`: {}", e.instance_path(), e)).collect();
        if errs.is_empty() { Ok(()) } else { Err(errs) }
    }
}
pub fn example_for(schema: &Value, text: &str) -> Value {
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let mut m = serde_json::Map::new();
            if let Some(p) = schema.get("properties").and_then(Value::as_object) {
                for (k, s) in p { m.insert(k.clone(), example_for(s, text)); }
            }
            Value::Object(m)
        }
        Some("integer") => json!(1),
        Some("number") => json!(1.0),
        Some("boolean") => json!(true),
        Some("array") => json!([example_for(schema.get("items").unwrap_or(&Value::Null), text)]),
        _ => json!(text),
    }
}
