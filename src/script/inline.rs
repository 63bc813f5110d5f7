//! Inline workers (DESIGN §4): `worker(#{name, instructions, model?, ...})` registers a worker
//! for the session, with the same semantics as a `.worker` file. The map is rendered into
//! worker-file text and parsed by the one worker parser, so every frontmatter rule (unknown
//! keys with "did you mean", schema shorthand, ranges) applies unchanged.

use std::path::PathBuf;
use std::sync::Weak;

use rhai::{Dynamic, Engine, EvalAltResult, NativeCallContext};
use serde_json::Value;

use crate::script::call::runtime_error;
use crate::script::caller::Caller;
use crate::script::value;
use crate::worker::WorkerSpec;
use crate::worker::file::parse_worker;

/// The Rhai fn name.
pub const WORKER_FN: &str = "worker";

/// Register `worker(map)`; it returns the worker's name so `call(worker(#{...}), x)` works.
pub fn register(engine: &mut Engine, rt: Weak<dyn Caller>) {
    engine.register_fn(
        WORKER_FN,
        move |ctx: NativeCallContext, map: rhai::Map| -> Result<Dynamic, Box<EvalAltResult>> {
            let pos = ctx.call_position();
            let fields = map
                .iter()
                .map(|(key, v)| (key.to_string(), value::to_json(v)))
                .collect();
            let spec = spec_from(&fields).map_err(|m| runtime_error(m, pos))?;
            let name = spec.name.clone();
            crate::script::call::upgrade(&rt, pos)?
                .add_inline_worker(spec)
                .map_err(|e| runtime_error(e, pos))?;
            Ok(Dynamic::from(name))
        },
    );
}

/// Build a worker from the map given to `worker(...)`.
///
/// # Errors
///
/// A message when `name` or `instructions` is missing or not a string, or when the worker
/// file the map stands for is invalid (unknown key, bad schema, ...).
pub fn spec_from(fields: &serde_json::Map<String, Value>) -> Result<WorkerSpec, String> {
    let name = match fields.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        Some(_) => return Err("worker(#{...}): `name` must be a non-empty string".into()),
        None => return Err("worker(#{...}) needs a `name`".into()),
    };
    let instructions = match fields.get("instructions") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(format!(
                "worker `{name}`: `instructions` must be a string (the system prompt)"
            ));
        }
        None => {
            return Err(format!(
                "worker `{name}` needs `instructions` (the system prompt)"
            ));
        }
    };
    let text = render(fields, &instructions);
    let path = PathBuf::from(format!("<inline:{name}>"));
    let mut spec = parse_worker(&path, &text).map_err(|e| {
        let help = e
            .help
            .as_deref()
            .map(|h| format!(" ({h})"))
            .unwrap_or_default();
        format!("invalid worker `{name}`: {}{help}", e.message)
    })?;
    spec.path = None;
    Ok(spec)
}

/// Worker-file text for `fields`: every key but `instructions` as a frontmatter line whose
/// value is JSON (valid YAML), then the instructions as the body.
fn render(fields: &serde_json::Map<String, Value>, instructions: &str) -> String {
    let frontmatter: String = fields
        .iter()
        .filter(|(key, _)| *key != "instructions")
        .map(|(key, v)| format!("{key}: {v}\n"))
        .collect();
    format!("---\n{frontmatter}---\n{instructions}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(map: Value) -> Result<WorkerSpec, String> {
        spec_from(map.as_object().expect("a map"))
    }

    #[test]
    fn a_map_becomes_a_worker() {
        let spec = spec(json!({
            "name": "haiku",
            "instructions": "Write a haiku.\n---\nAbout: anything",
            "model": "openai:gpt-4.1-mini",
            "description": "Haiku: \"poems\"",
            "toolsets": ["fs_ro"],
            "output": {"text": "string"},
        }))
        .unwrap();
        assert_eq!(spec.name, "haiku");
        assert_eq!(spec.model.as_deref(), Some("openai:gpt-4.1-mini"));
        assert_eq!(spec.description.as_deref(), Some("Haiku: \"poems\""));
        assert_eq!(spec.toolsets[0].name, "fs_ro");
        assert!(spec.instructions.starts_with("Write a haiku.\n---\nAbout"));
        assert!(spec.output.is_some());
        assert_eq!(spec.path, None);
    }

    #[test]
    fn missing_fields_and_unknown_keys_are_errors() {
        assert!(
            spec(json!({"instructions": "x"}))
                .unwrap_err()
                .contains("`name`")
        );
        assert!(
            spec(json!({"name": "a"}))
                .unwrap_err()
                .contains("`instructions`")
        );
        let err = spec(json!({"name": "a", "instructions": "x", "modle": "x:y"})).unwrap_err();
        assert!(err.contains("modle"), "{err}");
    }
}
