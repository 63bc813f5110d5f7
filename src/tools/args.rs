//! Typed access to a tool call's JSON arguments. Models make mistakes here (a missing field, a
//! number sent as `20000.0`, an invented argument), so every refusal names the argument and
//! what was expected.

use serde_json::{Map, Value};

use super::error::ToolError;

/// The arguments object of one call to `tool`, checked against the names it accepts.
#[derive(Debug)]
pub struct Args<'a> {
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Args<'a> {
    /// Check that `value` is an object (or `null`, meaning no arguments) whose keys are all in
    /// `accepted`.
    pub fn parse(
        tool: &'static str,
        value: &'a Value,
        accepted: &[&str],
    ) -> Result<Self, ToolError> {
        let map = match value {
            Value::Null => None,
            Value::Object(map) => Some(map),
            other => {
                return Err(ToolError::NotAnObject {
                    got: type_name(other),
                });
            }
        };
        if let Some(unknown) = map
            .into_iter()
            .flat_map(Map::keys)
            .find(|k| !accepted.contains(&k.as_str()))
        {
            return Err(ToolError::UnknownArgument {
                name: unknown.clone(),
                tool,
                expected: crate::suggest::quoted(accepted),
            });
        }
        Ok(Self { map })
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.and_then(|m| m.get(name)).filter(|v| !v.is_null())
    }

    /// A string argument that must be present.
    pub fn required_str(&self, name: &'static str) -> Result<&'a str, ToolError> {
        self.optional_str(name)?
            .ok_or(ToolError::MissingArgument { name })
    }

    /// A string argument that may be absent (or `null`).
    pub fn optional_str(&self, name: &'static str) -> Result<Option<&'a str>, ToolError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(invalid(name, "a string", other)),
        }
    }

    /// A non-negative integer argument; integral floats such as `20000.0` are accepted.
    pub fn optional_uint(&self, name: &'static str) -> Result<Option<u64>, ToolError> {
        let Some(value) = self.get(name) else {
            return Ok(None);
        };
        let number = value.as_u64().or_else(|| {
            value
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        });
        number
            .map(Some)
            .ok_or_else(|| invalid(name, "a non-negative integer", value))
    }
}

fn invalid(name: &'static str, expected: &'static str, got: &Value) -> ToolError {
    let shown = match got {
        Value::String(s) => format!("string {}", Value::String(s.clone())),
        Value::Number(n) => format!("number {n}"),
        other => type_name(other).to_owned(),
    };
    ToolError::InvalidArgument {
        name,
        expected,
        got: shown,
    }
}

/// The JSON type of `value`, with an article, for messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_typed_arguments() {
        let value = json!({"path": "a.txt", "max_chars": 10.0, "offset": null});
        let args = Args::parse("read_file", &value, &["path", "max_chars", "offset"]).unwrap();
        assert_eq!(args.required_str("path").unwrap(), "a.txt");
        assert_eq!(args.optional_uint("max_chars").unwrap(), Some(10));
        assert_eq!(args.optional_uint("offset").unwrap(), None);
    }

    #[test]
    fn null_means_no_arguments() {
        let args = Args::parse("list_files", &Value::Null, &["path"]).unwrap();
        assert_eq!(args.optional_str("path").unwrap(), None);
    }

    #[test]
    fn errors_name_the_argument() {
        let value = json!({"path": 3, "max_chars": "many", "offset": -1});
        let args = Args::parse("read_file", &value, &["path", "max_chars", "offset"]).unwrap();
        assert_eq!(
            args.required_str("path").unwrap_err().to_string(),
            "argument `path` must be a string, got number 3"
        );
        assert_eq!(
            args.optional_uint("max_chars").unwrap_err().to_string(),
            "argument `max_chars` must be a non-negative integer, got string \"many\""
        );
        assert!(args.optional_uint("offset").is_err());
        assert_eq!(
            args.required_str("content").unwrap_err().to_string(),
            "missing required argument `content`"
        );
    }

    #[test]
    fn unknown_and_non_object_arguments_are_refused() {
        let value = json!({"pth": "x"});
        let err = Args::parse("read_file", &value, &["path"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown argument `pth`; `read_file` takes `path`"
        );
        let err = Args::parse("read_file", &json!([1]), &["path"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "arguments must be a JSON object, got an array"
        );
    }
}
