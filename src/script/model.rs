//! `script:NAME` models (DESIGN §7): a project Rhai fn `fn NAME(request)` answers instead of a
//! provider, so users can test orchestration deterministically without a network.
//!
//! The request is a map `#{model, system, turn, messages, tools, output_schema}`; each message
//! is `#{role, text, tool_calls: [#{id, name, args}], tool_results: [#{id, name, content,
//! is_error}]}`. The fn returns a string (the text answer), `#{tool_calls: [#{name, args}]}`,
//! `#{text: ...}`, `#{output: ...}` (structured answer), or any other map/array (structured).

use std::sync::Weak;

use futures_util::future::BoxFuture;
use serde_json::{Value, json};

use crate::model::{
    FinishReason, Model, ModelError, ModelRequest, ModelResponse, Part, Role, StreamSink, ToolCall,
};
use crate::output::plain_text;
use crate::script::caller::Caller;

/// A model backed by a Rhai fn of the project.
pub struct ScriptModel {
    rt: Weak<dyn Caller>,
    func: String,
    id: String,
}

impl ScriptModel {
    pub fn new(rt: Weak<dyn Caller>, func: &str, id: &str) -> Self {
        Self {
            rt,
            func: func.to_string(),
            id: id.to_string(),
        }
    }
}

impl Model for ScriptModel {
    fn id(&self) -> &str {
        &self.id
    }

    fn complete<'a>(
        &'a self,
        request: &'a ModelRequest,
        _sink: Option<StreamSink<'a>>,
    ) -> BoxFuture<'a, Result<ModelResponse, ModelError>> {
        Box::pin(async move {
            let rt = self
                .rt
                .upgrade()
                .ok_or_else(|| ModelError::Other("runtime is gone".into()))?;
            let names = rt.fn_names();
            if !names.contains(&self.func) {
                let hint =
                    crate::suggest::did_you_mean(&self.func, names.iter().map(String::as_str))
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default();
                return Err(ModelError::Other(format!(
                    "model `{}` needs a Rhai fn `{}(request)` in scripts/{hint}",
                    self.id, self.func
                )));
            }
            let arg = request_value(request);
            let func = self.func.clone();
            let reply = tokio::task::spawn_blocking(move || rt.run_fn(&func, vec![arg]))
                .await
                .map_err(|e| ModelError::Other(e.to_string()))?
                .map_err(|e| {
                    ModelError::Other(format!("script model `{}` failed: {e}", self.func))
                })?;
            response_from(reply, request.messages.len())
        })
    }
}

/// The request as the map the Rhai fn receives.
pub fn request_value(req: &ModelRequest) -> Value {
    // The turn: how many times the model has asked for tools so far.
    let mut turn = 0;
    let mut messages = Vec::with_capacity(req.messages.len());
    for m in req.messages.iter() {
        let mut calls = Vec::new();
        let mut results = Vec::new();
        for p in &m.parts {
            match p {
                Part::ToolCall(c) => calls.push(json!({"id": c.id, "name": c.name, "args": c.arguments})),
                Part::ToolResult(r) => results.push(json!({"id": r.call_id, "name": r.name, "content": r.content, "is_error": r.is_error})),
                _ => {}
            }
        }
        turn += usize::from(m.role == Role::Assistant && !calls.is_empty());
        messages.push(
            json!({"role": m.role, "text": m.text(), "tool_calls": calls, "tool_results": results}),
        );
    }
    json!({
        "model": req.model,
        "system": req.system,
        "turn": turn,
        "messages": messages,
        "tools": req.tools,
        "output_schema": req.output_schema,
    })
}

/// Interpret the fn's return value as a model reply.
pub fn response_from(reply: Value, n: usize) -> Result<ModelResponse, ModelError> {
    let mut response = ModelResponse::default();
    let text = match reply {
        Value::Null => {
            return Err(ModelError::Other(
                "the script model returned nothing".into(),
            ));
        }
        Value::Object(map) if map.contains_key("tool_calls") => {
            response.tool_calls = tool_calls(&map["tool_calls"], n)?;
            response.finish = FinishReason::ToolCalls;
            map.get("text").map(plain_text).unwrap_or_default()
        }
        Value::Object(map) if map.contains_key("text") => plain_text(&map["text"]),
        Value::Object(map) if map.contains_key("output") => map["output"].to_string(),
        other => plain_text(&other),
    };
    Ok(ModelResponse { text, ..response })
}

/// `tool_calls: [#{name, args, id?}]`; a call without an id is `call_N_I` (after `n` messages).
fn tool_calls(calls: &Value, n: usize) -> Result<Vec<ToolCall>, ModelError> {
    let calls = calls
        .as_array()
        .ok_or_else(|| ModelError::Other("`tool_calls` must be an array".into()))?;
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| ModelError::Other("each tool call needs a `name`".into()))?;
            let id = c
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("call_{n}_{i}"), str::to_string);
            Ok(ToolCall {
                id,
                name: name.to_string(),
                arguments: c.get("args").cloned().unwrap_or(json!({})),
            })
        })
        .collect()
}
