//! The tools one worker's model may call, built from its `toolsets`, and running one tool call:
//! the approval gate first, then the one seam ([`Runtime::invoke`]) as for a script's `call()`.
//! Tool failures and denials go back to the model as tool results; only aborts, interrupts and
//! runaway depth end the run.

use std::sync::Arc;

use serde_json::Value;

use crate::approval::{Outcome, Request};
use crate::call::{CallCtx, CallError, Input};
use crate::model::{ToolCall, ToolDef, ToolResult};
use crate::project::Toolset;
use crate::runtime::Runtime;
use crate::runtime::callee::Callee;
use crate::script::value;
use crate::trace::{ApprovalEvent, ToolCallEvent};
use crate::worker::WorkerSpec;

/// Tool results longer than this many characters are cut with a marker.
pub const MAX_RESULT_CHARS: usize = 100_000;

#[derive(Debug, Clone)]
struct Tool {
    def: ToolDef,
    callee: Callee,
}

/// The tools of one worker run.
#[derive(Debug, Clone, Default)]
pub struct Toolbox {
    tools: Vec<Tool>,
}

impl Toolbox {
    /// Resolve a worker's `toolsets` (checked at load time; unknown entries are skipped, MCP
    /// ones wait for [`Toolbox::with_mcp`]).
    pub fn for_worker(rt: &Runtime, spec: &WorkerSpec) -> Toolbox {
        let project = rt.project();
        let mut toolbox = Toolbox::default();
        for entry in &spec.toolsets {
            if let Some(Toolset::Tools(members)) = project.toolset(&entry.name) {
                for member in &members {
                    let callee: Callee = member.into();
                    if let Some(def) = callee.tool_def() {
                        toolbox.add(Tool { def, callee });
                    }
                }
            }
        }
        toolbox
    }

    /// Add `tool` unless one of that name is there already.
    fn add(&mut self, tool: Tool) {
        if !self.tools.iter().any(|t| t.def.name == tool.def.name) {
            self.tools.push(tool);
        }
    }

    /// Add the tools of the MCP servers named in `toolsets` (`mcp.NAME` or `mcp.NAME.tool`),
    /// starting each server on first use.
    ///
    /// # Errors
    ///
    /// A server that cannot start or list its tools, or a listed tool it does not have.
    pub async fn with_mcp(mut self, rt: &Runtime, spec: &WorkerSpec) -> Result<Self, CallError> {
        let project = rt.project();
        for entry in &spec.toolsets {
            let Some(Toolset::Mcp {
                server,
                only,
                config,
            }) = project.toolset(&entry.name)
            else {
                continue;
            };
            let tools = rt
                .run
                .mcp
                .tools(server, config)
                .await
                .map_err(|e| CallError::Tool(e.to_string()))?;
            if let Some(tool) = only
                && !tools.iter().any(|t| t.name == tool)
            {
                let e = crate::mcp::McpError::UnknownTool {
                    name: server.to_owned(),
                    tool: tool.to_owned(),
                    available: tools.iter().map(|t| t.name.clone()).collect(),
                };
                return Err(CallError::Tool(e.to_string()));
            }
            for t in tools.iter().filter(|t| only.is_none_or(|o| o == t.name)) {
                let (def, callee) = crate::runtime::callee::mcp_tool(server, t);
                self.add(Tool { def, callee });
            }
        }
        Ok(self)
    }

    /// Whether a call of `name` may run concurrently with its neighbours in one model turn
    /// (as its callee's `runs_concurrently` says). Unknown tools are answered at once with an
    /// error, so they never need ordering.
    pub fn runs_concurrently(&self, name: &str) -> bool {
        self.tools
            .iter()
            .find(|t| t.def.name == name)
            .is_none_or(|t| t.callee.runs_concurrently())
    }

    /// Definitions sent to the model.
    pub fn definitions(&self) -> Vec<ToolDef> {
        self.tools.iter().map(|t| t.def.clone()).collect()
    }

    /// Run one tool call in `ctx` (the calling worker's context).
    pub async fn run(
        &self,
        rt: &Arc<Runtime>,
        ctx: &CallCtx,
        call: &ToolCall,
    ) -> Result<ToolResult, CallError> {
        let result = |content: String, is_error: bool| ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            content,
            is_error,
        };
        let Some(tool) = self.tools.iter().find(|t| t.def.name == call.name) else {
            let names: Vec<&str> = self.tools.iter().map(|t| t.def.name.as_str()).collect();
            return Ok(result(
                format!(
                    "error: unknown tool `{}`; available tools: {}",
                    call.name,
                    names.join(", ")
                ),
                true,
            ));
        };
        let args = match &call.arguments {
            Value::Object(_) => Some(call.arguments.clone()),
            Value::Null => Some(Value::Object(serde_json::Map::new())),
            Value::String(s) => serde_json::from_str::<Value>(s)
                .ok()
                .filter(Value::is_object),
            _ => None,
        };
        let Some(args) = args else {
            let got = match &call.arguments {
                Value::String(s) => format!("{s:?}"),
                other => other.to_string(),
            };
            let message = format!(
                "error: arguments for `{}` must be a JSON object; got {got}",
                call.name
            );
            return Ok(result(message, true));
        };
        rt.observer.tool_call(&ToolCallEvent {
            depth: ctx.depth,
            parent: ctx.parent,
            call_id: &call.id,
            name: &call.name,
            input: &args,
        });
        let needs = tool.callee.needs_approval(&rt.tool_env(), &args);
        // MCP tools are gated under their full name, so rules can match `mcp.NAME.*`.
        let request = Request {
            tool: tool.callee.name().to_string(),
            args: rt.tool_env().canonical_args(&call.name, &args),
            chain: (*ctx.chain).clone(),
        };
        let gate = rt.gate();
        // A policy fn or a terminal prompt blocks: only then move the check off the runtime.
        let verdict = if gate.may_block(needs) {
            tokio::task::spawn_blocking(move || gate.check(&request, needs))
                .await
                .map_err(|e| CallError::Tool(e.to_string()))?
        } else {
            gate.check(&request, needs)
        };
        rt.observer.approval_event(&ApprovalEvent {
            depth: ctx.depth,
            parent: ctx.parent,
            tool: &call.name,
            input: &args,
            verdict: &verdict,
        });
        match verdict.outcome {
            Outcome::Approved => {}
            Outcome::Denied(reason) => return Ok(result(format!("denied: {reason}"), true)),
            Outcome::Abort => return Err(CallError::Aborted),
        }
        match Box::pin(rt.invoke(ctx, &tool.callee, Input::Json(args))).await {
            Ok(v) => Ok(result(truncate(as_text(value::to_json(&v))), false)),
            Err(
                e @ (CallError::Aborted
                | CallError::Cancelled
                | CallError::Depth { .. }
                | CallError::Budget { .. }
                | CallError::WorkerBudget { .. }),
            ) => Err(e),
            Err(e) => Ok(result(format!("error: {}", rt.error_text(&e)), true)),
        }
    }
}

/// A tool's return value as the text the model sees: strings raw, the rest as JSON.
fn as_text(v: Value) -> String {
    match v {
        Value::String(s) => s,
        Value::Null => String::from("(no result)"),
        other => other.to_string(),
    }
}

fn truncate(s: String) -> String {
    match s.char_indices().nth(MAX_RESULT_CHARS) {
        Some((cut, _)) => format!(
            "{}\n[... truncated: the result has {} characters]",
            &s[..cut],
            s.chars().count()
        ),
        None => s,
    }
}
