//! What the gate and its prompters share: the [`Request`] under decision and a human's
//! [`PromptAnswer`] to it, asked through a [`Prompter`]. A leaf of `approval` (it imports
//! nothing from its parent), so the gate, its rules and the terminal prompter form no circle.

use serde_json::Value;

/// One LLM-initiated tool call awaiting a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Tool name as the model called it.
    pub tool: String,
    /// The call's arguments.
    pub args: Value,
    /// Worker call chain, outermost first.
    pub chain: Vec<String>,
}

/// The user's answer to a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptAnswer {
    /// Approve this call.
    Once,
    /// Approve this tool with these arguments for the rest of the session.
    Session,
    /// Deny, with an optional reason passed to the model.
    Deny(Option<String>),
    /// Abort the run.
    Quit,
}

/// Asks a human about a request. Implementations must be callable from any thread; the gate
/// calls one at a time.
pub trait Prompter: Send + Sync {
    /// Show `req` and return the answer.
    fn ask(&self, req: &Request) -> PromptAnswer;
}

/// A prompter shared with whoever set it up (`llm-do mcp serve` keeps the client's).
impl<P: Prompter + ?Sized> Prompter for std::sync::Arc<P> {
    fn ask(&self, req: &Request) -> PromptAnswer {
        (**self).ask(req)
    }
}
