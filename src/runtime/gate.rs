//! The approval gate of a runtime (DESIGN §6): built from the project's `[approvals]` rules,
//! the mode in force, the project's policy fn (`fn approve(request)`) and who approvals are
//! asked of (a face's prompter, the terminal, or nobody when serving MCP clients). The runtime
//! builds one with every reload and mode change.

use std::io::IsTerminal;
use std::sync::{Arc, Weak};

use serde::Deserialize;

use crate::approval::{Gate, Mode, Prompter, Request, TerminalPrompter};
use crate::config::Decision;
use crate::project::{Project, ProjectError};
use crate::script::caller::Caller;

/// The approval gate for `project` under `mode` (the session's, else the command line's):
/// its rules and policy fn (called through `caller`), asking `prompter` when a face gave one,
/// else the terminal, never when `serving` MCP clients.
pub(super) fn build(
    project: &Project,
    mode: Mode,
    prompter: Option<&Arc<dyn Prompter>>,
    serving: bool,
    caller: Weak<dyn Caller>,
) -> Result<Gate, ProjectError> {
    let mut gate = Gate::new(mode, &project.config.approvals)
        .map_err(|e| ProjectError::invalid(crate::project::CONFIG_FILE, e))?;
    if project.fns.contains_key(POLICY_FN) {
        gate = gate.with_policy(Box::new(move |req| policy(&caller, req)));
    }
    if let Some(prompter) = prompter {
        gate = gate.with_prompter(Box::new(prompter.clone()));
    } else if serving {
        gate = gate.with_headless(crate::approval::Headless::McpClient);
    } else if std::io::stderr().is_terminal()
        && let Some(prompter) = TerminalPrompter::detect()
    {
        gate = gate.with_prompter(Box::new(prompter));
    }
    Ok(gate)
}

/// The Rhai fn that decides approvals when defined (DESIGN §6).
pub use crate::script::untrusted::POLICY_FN;

/// Ask the project's `fn approve(request)` about a tool call.
fn policy(caller: &Weak<dyn Caller>, req: &Request) -> Result<Option<Decision>, String> {
    let caller = caller.upgrade().ok_or("runtime is gone")?;
    let request = serde_json::json!({"tool": req.tool, "args": req.args, "chain": req.chain});
    let answer = caller
        .run_fn(POLICY_FN, vec![request])
        .map_err(|e| e.to_string())?;
    if answer.is_null() {
        return Ok(None);
    }
    Decision::deserialize(&answer).map(Some).map_err(|_| {
        format!("`{POLICY_FN}` must return \"approve\", \"reject\" or \"prompt\", not {answer}")
    })
}
