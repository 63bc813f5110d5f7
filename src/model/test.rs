//! The built-in offline `test` model (DESIGN §7): deterministic, no network. On each turn it
//! calls the next tool it has not called yet (or the tool a forced `tool_choice` names) with
//! schema-valid arguments (strings filled with the worker's input), then answers: schema-valid output when an output schema is set, else
//! the last tool result, else an echo of the input.

use futures_util::future::BoxFuture;

use crate::model::{
    FinishReason, Model, ModelError, ModelRequest, ModelResponse, Part, Role, StreamSink, ToolCall,
    ToolChoice, Usage,
};
use crate::schema;

/// The id of the built-in offline model (it has no provider prefix).
pub const TEST_MODEL_ID: &str = "test";

/// Text that starts a re-ask message (the run loop's structured-output retry).
pub const REASK_PREFIX: &str = "Your answer did not match";

/// The offline test model.
#[derive(Debug, Default, Clone, Copy)]
pub struct TestModel;

impl Model for TestModel {
    fn id(&self) -> &'static str {
        TEST_MODEL_ID
    }

    fn complete<'a>(
        &'a self,
        request: &'a ModelRequest,
        _sink: Option<StreamSink<'a>>,
    ) -> BoxFuture<'a, Result<ModelResponse, ModelError>> {
        Box::pin(async move { Ok(reply(request)) })
    }
}

/// The test model's reply to `req` (pure).
pub fn reply(req: &ModelRequest) -> ModelResponse {
    let input = input_text(req);
    let called: Vec<&str> = req
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            Part::ToolCall(c) => Some(c.name.as_str()),
            _ => None,
        })
        .collect();
    let usage_in = req.system.len() + req.messages.iter().map(|m| m.text().len()).sum::<usize>();
    // A forced choice is honoured (a named tool, or some tool even when all were called in
    // earlier turns of a conversation); otherwise the next tool not called yet.
    let next = match &req.tool_choice {
        ToolChoice::None => None,
        ToolChoice::Tool(name) => req.tools.iter().find(|t| &t.name == name),
        choice => (req
            .tools
            .iter()
            .find(|t| !called.contains(&t.name.as_str())))
        .or_else(|| {
            req.tools
                .first()
                .filter(|_| *choice == ToolChoice::Required)
        }),
    };
    if let Some(tool) = next {
        let call = ToolCall {
            id: format!("call_{}", called.len() + 1),
            name: tool.name.clone(),
            arguments: schema::example_for(&tool.parameters, &input),
        };
        return ModelResponse {
            text: String::new(),
            tool_calls: vec![call],
            usage: usage(usage_in, 10),
            finish: FinishReason::ToolCalls,
            ..ModelResponse::default()
        };
    }
    let text = match &req.output_schema {
        Some(s) => schema::example_for(s, &input).to_string(),
        None => last_tool_result(req).unwrap_or_else(|| format!("test reply: {input}")),
    };
    ModelResponse {
        usage: usage(usage_in, text.len()),
        text,
        tool_calls: vec![],
        finish: FinishReason::Stop,
        ..ModelResponse::default()
    }
}

fn usage(input_chars: usize, output_chars: usize) -> Usage {
    Usage {
        input_tokens: (input_chars / 4 + 1) as u64,
        output_tokens: (output_chars / 4 + 1) as u64,
        ..Usage::default()
    }
}

/// The worker's input: the last user text that is not a structured-output re-ask.
fn input_text(req: &ModelRequest) -> String {
    req.messages
        .iter()
        .rev()
        .filter(|m| m.role == Role::User)
        .map(crate::model::Message::text)
        .find(|t| !t.is_empty() && !t.starts_with(REASK_PREFIX))
        .unwrap_or_default()
        .into_owned()
}

fn last_tool_result(req: &ModelRequest) -> Option<String> {
    let last = req.messages.last()?;
    last.parts.iter().rev().find_map(|p| match p {
        Part::ToolResult(r) => Some(r.content.clone()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Message, ToolDef, ToolResult};
    use serde_json::json;

    fn tool(name: &str) -> ToolDef {
        ToolDef {
            name: name.into(),
            description: String::new(),
            parameters: json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
        }
    }

    #[test]
    fn calls_each_tool_once_then_answers_with_the_last_result() {
        let mut req = ModelRequest {
            messages: vec![Message::user("Hi There")].into(),
            tools: vec![tool("a"), tool("b")],
            ..Default::default()
        };
        // Answer the model's call `call` with `content`, as the run loop does.
        let answer = |req: &mut ModelRequest, call: &ToolCall, content: &str| {
            req.messages.push(Message {
                role: Role::Assistant,
                parts: vec![Part::ToolCall(call.clone())],
            });
            let result = ToolResult {
                call_id: call.id.clone(),
                name: call.name.clone(),
                content: content.into(),
                is_error: false,
            };
            req.messages.push(Message {
                role: Role::User,
                parts: vec![Part::ToolResult(result)],
            });
        };
        let r = reply(&req);
        assert_eq!(r.tool_calls[0].name, "a");
        assert_eq!(r.tool_calls[0].arguments, json!({"name": "Hi There"}));
        answer(&mut req, &r.tool_calls[0], "A!");
        let r = reply(&req);
        assert_eq!(r.tool_calls[0].name, "b");
        answer(&mut req, &r.tool_calls[0], "B!");
        let r = reply(&req);
        assert!(r.tool_calls.is_empty());
        assert_eq!(r.text, "B!");
    }

    #[test]
    fn a_forced_tool_choice_is_honoured() {
        let mut req = ModelRequest {
            tools: vec![tool("a"), tool("b")],
            messages: vec![Message::user("x")].into(),
            tool_choice: ToolChoice::Tool("b".into()),
            ..ModelRequest::default()
        };
        assert_eq!(reply(&req).tool_calls[0].name, "b");
        // `required` after every tool was called (an earlier turn of a chat): still a call.
        req.messages.push(Message {
            role: Role::Assistant,
            parts: ["a", "b"]
                .map(|n| {
                    Part::ToolCall(ToolCall {
                        id: n.into(),
                        name: n.into(),
                        arguments: json!({}),
                    })
                })
                .to_vec(),
        });
        req.tool_choice = ToolChoice::Required;
        assert_eq!(reply(&req).tool_calls[0].name, "a");
        req.tool_choice = ToolChoice::Auto;
        assert!(reply(&req).tool_calls.is_empty());
    }

    #[test]
    fn answers_schema_valid_output() {
        let schema = json!({"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]});
        let req = ModelRequest {
            messages: vec![Message::user("x")].into(),
            output_schema: Some(schema),
            ..Default::default()
        };
        let v: serde_json::Value = serde_json::from_str(&reply(&req).text).unwrap();
        assert!(v["score"].is_i64());
    }
}
