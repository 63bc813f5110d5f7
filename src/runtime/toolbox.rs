//! The tools one worker's model may call, built from its `toolsets`, and running one tool call:
//! the approval gate first, then the one seam ([`Runtime::invoke`]) as for a script's `call()`.
//! Tool failures and denials go back to the model as tool results; only aborts, interrupts and
//! runaway depth end the run.
//!
//! The tool calls a model asked for in one turn ([`Toolbox::run_turn`]): calls that may run
//! concurrently ([`Callee::runs_concurrently`]: workers, read-only tools, Rhai fns without
//! `@approval`) run together, bounded by `limits.max_parallel`; any other call (a write, a
//! shell command, an approval-gated fn) is a barrier: everything before it finishes first, it
//! runs alone, and what follows starts after it. Results keep the model's order. A run-ending
//! error (abort at a prompt, interrupt, runaway depth) from any call cancels the rest of its
//! group and ends the turn.

use std::sync::Arc;

use serde_json::Value;

use crate::approval::{Outcome, Request};
use crate::call::{CallCtx, CallError, Input};
use crate::fanout::{OnError, run_ordered};
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

    /// Run the tool calls of one model turn in `ctx` (the calling worker's context); results
    /// in the model's order.
    pub async fn run_turn(
        &self,
        rt: &Arc<Runtime>,
        ctx: &CallCtx,
        calls: &[ToolCall],
    ) -> Result<Vec<ToolResult>, CallError> {
        let mut results = Vec::with_capacity(calls.len());
        for group in groups(calls, |c| self.runs_concurrently(&c.name)) {
            if let [call] = group {
                results.push(self.run(rt, ctx, call).await?);
                continue;
            }
            let inner = ctx.within(ctx.cancel.child());
            let jobs: Vec<_> = group.iter().map(|c| self.run(rt, &inner, c)).collect();
            let limit = rt.settings.max_parallel;
            let on_error = OnError::CancelSiblings;
            let done = run_ordered(jobs, limit, on_error, &inner.cancel, &rt.cancel).await;
            results.extend(
                done.map_err(|s| s.error)?
                    .into_iter()
                    .filter_map(Result::ok),
            );
        }
        Ok(results)
    }

    /// Whether a call of `name` may run concurrently with its neighbours in one model turn
    /// (as its callee's `runs_concurrently` says). Unknown tools are answered at once with an
    /// error, so they never need ordering.
    fn runs_concurrently(&self, name: &str) -> bool {
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
        let env = rt.tool_env();
        let needs = tool.callee.needs_approval(&env, &args);
        // MCP tools are gated under their full name, so rules can match `mcp.NAME.*`.
        let approved = env.canonical_args(&call.name, &args);
        let request = Request {
            tool: tool.callee.name().to_string(),
            args: approved.clone(),
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
        // What was approved is the real path at the time of asking. A folder on the way swapped
        // for a symlink while a prompt or the policy fn was deciding would take the call
        // somewhere else (into `scripts/`, say): refuse instead. (The sandbox's no-follow walk
        // covers the time after the tool's own check.)
        if env.canonical_args(&call.name, &args) != approved {
            return Ok(result(moved_after_approval(&approved), true));
        }
        match Box::pin(rt.invoke(ctx, &tool.callee, Input::Json(args))).await {
            Ok(v) => Ok(result(truncate(as_text(&value::to_json(&v))), false)),
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

/// What the model sees when the path it was approved for leads elsewhere by the time it runs.
fn moved_after_approval(approved: &Value) -> String {
    let path = approved
        .get("path")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!(
        "denied: `{path}` was approved, but the path no longer leads there (a folder on the way \
         changed while the approval was decided); nothing was done"
    )
}

/// A tool's return value as the text the model sees: strings raw, the rest as JSON.
fn as_text(v: &Value) -> String {
    match v {
        Value::Null => String::from("(no result)"),
        other => crate::output::plain_text(other),
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

/// Split `items` into maximal runs of concurrent items, with every other item alone.
fn groups<T>(items: &[T], concurrent: impl Fn(&T) -> bool) -> Vec<&[T]> {
    items
        .chunk_by(|a, b| concurrent(a) && concurrent(b))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_split_the_batch_and_keep_their_place() {
        let calls = ["r1", "r2", "w", "r3", "w", "w", "r4"];
        let got: Vec<Vec<&str>> = groups(&calls, |c| c.starts_with('r'))
            .into_iter()
            .map(<[&str]>::to_vec)
            .collect();
        assert_eq!(
            got,
            vec![
                vec!["r1", "r2"],
                vec!["w"],
                vec!["r3"],
                vec!["w"],
                vec!["w"],
                vec!["r4"]
            ]
        );
    }

    #[test]
    fn all_concurrent_or_none_is_one_group_or_singletons() {
        assert_eq!(groups(&[1, 2, 3], |_| true).len(), 1);
        assert_eq!(groups(&[1, 2, 3], |_| false).len(), 3);
        assert!(groups::<i32>(&[], |_| true).is_empty());
    }
}
