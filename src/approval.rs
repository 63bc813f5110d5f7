//! Approvals (DESIGN §6): the gate between "the model asked for a tool call" and "the tool
//! runs".
//!
//! A [`Gate`] asks its decision sources in order and the first that answers wins: the
//! `--approve-all`/`--reject-all` mode, the project's Rhai policy `fn approve(request)`, the
//! `[[approvals]]` rules of `llm-do.toml`, and finally the tool's default. A "prompt" answer
//! goes to a [`Prompter`] (the terminal) one request at a time; without one it is a denial that
//! says how to approve headlessly. Every [`Verdict`] names its source so traces can record it.
//!
//! Before any source is asked, a write into the protected set (`llm-do.toml`, `scripts/`,
//! `workers/`, `.llm-do/`, `.git/`, see [`protected`]) is refused unless a rule names it. The
//! gate matches the arguments it is given: callers pass builtin file tools' paths in canonical
//! form ([`crate::tools::ToolEnv::canonical_args`]) so that no spelling of a path (absolute,
//! `..`, through a symlink) matches a rule the real target does not.

use std::collections::HashSet;
use std::sync::Mutex;

pub mod protected;
mod request;
mod rules;
mod terminal;

pub use request::{PromptAnswer, Prompter, Request};
use rules::CompiledRule;
pub use rules::{ApprovalRule, Decision, RuleError};

pub use terminal::{TerminalPrompter, render_request};

/// What happens to the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Run the tool.
    Approved,
    /// Do not run it; the model receives `denied: <reason>`.
    Denied(String),
    /// Abort the whole run (exit code 3).
    Abort,
}

/// Which source decided (recorded in traces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecidedBy {
    /// `--approve-all` or `--reject-all`.
    Flag,
    /// The Rhai policy `fn approve(request)`.
    Policy,
    /// The `[[approvals]]` rule at this index (0-based; shown 1-based, as in denials).
    Rule(usize),
    /// The tool's default approval, or the protected set.
    Default,
    /// The user at the prompt.
    User,
    /// An earlier "approve for this session" answer.
    Session,
}

impl DecidedBy {
    /// The source as traces and the run log record it: `flag`, `policy`, `rule`, `default`,
    /// `user` or `session`.
    pub fn as_str(self) -> &'static str {
        match self {
            DecidedBy::Flag => "flag",
            DecidedBy::Policy => "policy",
            DecidedBy::Rule(_) => "rule",
            DecidedBy::Default => "default",
            DecidedBy::User => "user",
            DecidedBy::Session => "session",
        }
    }

    /// The index of the rule that decided (0-based), when a rule did: what traces and the run
    /// log record beside `decided_by`.
    pub fn rule(&self) -> Option<usize> {
        match self {
            DecidedBy::Rule(i) => Some(*i),
            _ => None,
        }
    }
}

/// How the `-v` call tree names the source: `flag`, `policy`, `rule #2 in llm-do.toml`,
/// `default`, `user`, `session` (rules numbered from 1, as in denial messages).
impl std::fmt::Display for DecidedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecidedBy::Rule(i) => write!(f, "rule #{} in llm-do.toml", i + 1),
            other => f.write_str(other.as_str()),
        }
    }
}

/// An outcome and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub decided_by: DecidedBy,
}

/// Why a gate has no one to ask: what its denials of "prompt" answers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Headless {
    /// No terminal (a pipe, CI): rerun with `--approve-all` or add a rule.
    #[default]
    NoTerminal,
    /// `llm-do mcp serve`: the MCP client cannot be asked; start the server with
    /// `--approve-all` or add a rule.
    McpClient,
}

/// The global approval mode from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Consult policy, rules and defaults.
    #[default]
    Normal,
    /// `--approve-all`: approve every call.
    ApproveAll,
    /// `--reject-all`: deny every call.
    RejectAll,
}

/// The project's policy: `Ok(None)` when it has no opinion, `Err` when it failed (the call is
/// then denied: a broken policy must not let calls through).
pub type Policy = Box<dyn Fn(&Request) -> Result<Option<Decision>, String> + Send + Sync>;

/// The approval gate. `Send + Sync`: share it behind an `Arc` across worker threads.
pub struct Gate {
    mode: Mode,
    policy: Option<Policy>,
    rules: Vec<CompiledRule>,
    prompter: Option<Box<dyn Prompter>>,
    /// What a "prompt" answer without a prompter says.
    headless: Headless,
    /// Tool + canonical arguments approved with `a`.
    session: Mutex<HashSet<String>>,
    /// Serializes prompts: one question on the terminal at a time.
    prompting: Mutex<()>,
}

impl Gate {
    /// A gate with `mode` and the `[[approvals]]` `rules`, no policy and no prompter.
    pub fn new(mode: Mode, rules: &[ApprovalRule]) -> Result<Self, RuleError> {
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| CompiledRule::new(i + 1, r))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            mode,
            policy: None,
            rules,
            prompter: None,
            headless: Headless::default(),
            session: Mutex::new(HashSet::new()),
            prompting: Mutex::new(()),
        })
    }

    /// Consult `policy` after the mode and before the rules.
    #[must_use]
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Ask `prompter` when a source says "prompt" (leave unset when there is no terminal).
    #[must_use]
    pub fn with_prompter(mut self, prompter: Box<dyn Prompter>) -> Self {
        self.prompter = Some(prompter);
        self
    }

    /// Say `why` when a "prompt" answer finds no prompter.
    #[must_use]
    pub fn with_headless(mut self, why: Headless) -> Self {
        self.headless = why;
        self
    }

    /// Decide `req`. `needs_approval` is the tool's default (DESIGN §5), used when no flag,
    /// policy or rule answers.
    pub fn check(&self, req: &Request, needs_approval: bool) -> Verdict {
        match self.decide(req, needs_approval) {
            (Some(outcome), source) => verdict(outcome, source),
            (None, source) => self.prompt(req, source),
        }
    }

    /// Whether [`Gate::check`] may block: it runs a Rhai policy fn, or it may prompt on the
    /// terminal. When it cannot, callers on an async runtime may call `check` in place instead
    /// of moving it to a blocking thread.
    pub fn may_block(&self, needs_approval: bool) -> bool {
        let may_prompt =
            needs_approval || self.rules.iter().any(|r| r.decision == Decision::Prompt);
        self.mode == Mode::Normal
            && (self.policy.is_some() || (self.prompter.is_some() && may_prompt))
    }

    /// The first source that answers, and which one it was; no outcome when it says "prompt".
    fn decide(&self, req: &Request, needs_approval: bool) -> (Option<Outcome>, DecidedBy) {
        if let Some(reason) = self.protected_denial(req) {
            return (Some(Outcome::Denied(reason)), DecidedBy::Default);
        }
        match self.mode {
            Mode::ApproveAll => return (Some(Outcome::Approved), DecidedBy::Flag),
            Mode::RejectAll => {
                let reason = String::from("rejected by `--reject-all`");
                return (Some(Outcome::Denied(reason)), DecidedBy::Flag);
            }
            Mode::Normal => {}
        }
        if let Some(policy) = &self.policy {
            let reject = || String::from("rejected by the approval policy `fn approve`");
            match policy(req) {
                Ok(Some(decision)) => return (decided(decision, reject), DecidedBy::Policy),
                Ok(None) => {}
                // Fail closed: a broken policy must not let calls through.
                Err(e) => {
                    let reason = format!("the approval policy `fn approve` failed: {e}");
                    return (Some(Outcome::Denied(reason)), DecidedBy::Policy);
                }
            }
        }
        if let Some(i) = self.rules.iter().position(|r| r.matches(req)) {
            let rule = &self.rules[i];
            let reject = || format!("rejected by {}", rule.describe);
            return (decided(rule.decision, reject), DecidedBy::Rule(i));
        }
        let default = (!needs_approval).then_some(Outcome::Approved);
        (default, DecidedBy::Default)
    }

    /// The denial of a write into the protected set, unless a rule naming the protected entry
    /// matches the call without rejecting it (then the usual order decides).
    fn protected_denial(&self, req: &Request) -> Option<String> {
        let (path, entry) = protected::protected_target(req)?;
        let named = self.rules.iter().any(|rule| {
            rule.decision != Decision::Reject && rule.names(entry) && rule.matches(req)
        });
        (!named).then(|| protected::denial(&req.tool, path, entry))
    }

    fn prompt(&self, req: &Request, source: DecidedBy) -> Verdict {
        let key = session_key(req);
        if self.remembered(&key) {
            return verdict(Outcome::Approved, DecidedBy::Session);
        }
        let Some(prompter) = &self.prompter else {
            return verdict(
                Outcome::Denied(headless_denial(&req.tool, self.headless)),
                source,
            );
        };
        let _turn = crate::sync::lock(&self.prompting);
        // Another thread may have been answered `a` for the same call while we waited.
        if self.remembered(&key) {
            return verdict(Outcome::Approved, DecidedBy::Session);
        }
        let outcome = match prompter.ask(req) {
            PromptAnswer::Once => Outcome::Approved,
            PromptAnswer::Session => {
                crate::sync::lock(&self.session).insert(key);
                Outcome::Approved
            }
            PromptAnswer::Deny(reason) => {
                Outcome::Denied(reason.unwrap_or_else(|| String::from("denied by the user")))
            }
            PromptAnswer::Quit => Outcome::Abort,
        };
        verdict(outcome, DecidedBy::User)
    }

    fn remembered(&self, key: &str) -> bool {
        crate::sync::lock(&self.session).contains(key)
    }
}

/// What a source's `decision` comes to, with the denial `reason` when it rejects; none when
/// it says "prompt".
fn decided(decision: Decision, reason: impl FnOnce() -> String) -> Option<Outcome> {
    match decision {
        Decision::Approve => Some(Outcome::Approved),
        Decision::Reject => Some(Outcome::Denied(reason())),
        Decision::Prompt => None,
    }
}

fn verdict(outcome: Outcome, decided_by: DecidedBy) -> Verdict {
    Verdict {
        outcome,
        decided_by,
    }
}

fn headless_denial(tool: &str, why: Headless) -> String {
    let (lacking, flag) = match why {
        Headless::NoTerminal => ("there is no terminal to ask", "rerun with `--approve-all`"),
        Headless::McpClient => (
            "`llm-do mcp serve` cannot ask the MCP client",
            "start the server with `llm-do mcp serve --approve-all`",
        ),
    };
    format!(
        "`{tool}` requires approval and {lacking}; {flag} or add an `[[approvals]]` rule in `llm-do.toml`, e.g. `tool = \"{tool}\"` with `decision = \"approve\"`"
    )
}

/// Tool name plus the arguments as JSON with sorted keys: equal calls give equal keys
/// whatever order the model wrote the arguments in.
fn session_key(req: &Request) -> String {
    let mut args = req.args.clone();
    args.sort_all_objects();
    format!("{}\u{0}{args}", req.tool)
}

#[cfg(test)]
mod tests;
