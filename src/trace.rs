//! Events out of the runtime: every worker run, fn or builtin tool call, approval decision and
//! model exchange is reported to an [`Observer`]. The `-v` call tree on stderr is one observer
//! ([`Tree`]); JSONL traces are another ([`JsonlObserver`]); [`Fanout`] feeds several.
//!
//! Ids: [`Observer::call_start`] returns the id of the call, which the runtime threads through
//! [`crate::call::CallCtx::parent`] so nested events name their parent call.

mod fanout;
pub mod http_log;
mod jsonl;
pub mod otel;
pub mod read;

pub use fanout::Fanout;
pub use jsonl::{FORMAT_VERSION, JsonlObserver, decision};

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::approval::Verdict;
use crate::model::{FinishReason, ModelRequest, ModelResponse, Usage};
use crate::sync::lock;

/// Neural (a model runs), symbolic (a Rhai fn) or builtin (Rust-native).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Neural,
    Symbolic,
    Builtin,
}

impl Kind {
    /// Lowercase name, as in traces.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Neural => "neural",
            Kind::Symbolic => "symbolic",
            Kind::Builtin => "builtin",
        }
    }

    /// The name the run log gives the kind (`worker`, `fn`, `builtin`).
    pub fn log_name(self) -> &'static str {
        match self {
            Kind::Neural => "worker",
            Kind::Symbolic => "fn",
            Kind::Builtin => "builtin",
        }
    }
}

/// A call begins.
#[derive(Debug, Clone, Copy)]
pub struct CallStart<'a> {
    /// Worker runs enclosing the call (0 at the top of a script).
    pub depth: u32,
    /// Id of the enclosing call (a worker run, or a fn called as a tool), if any.
    pub parent: Option<u64>,
    pub kind: Kind,
    pub name: &'a str,
    pub input: &'a Value,
}

/// A call ends.
#[derive(Debug)]
pub struct CallEnd<'a> {
    pub depth: u32,
    pub name: &'a str,
    pub elapsed: Duration,
    pub usage: Usage,
    /// US dollars of the model use inside the call, when every model used has a price.
    pub cost: Option<f64>,
    pub result: Result<&'a Value, String>,
}

/// A model asked for a tool call (before the approval gate).
#[derive(Debug, Clone, Copy)]
pub struct ToolCallEvent<'a> {
    pub depth: u32,
    /// The worker run whose model asked.
    pub parent: Option<u64>,
    /// The provider's id of the tool call.
    pub call_id: &'a str,
    pub name: &'a str,
    pub input: &'a Value,
}

/// The approval gate decided about a tool call.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalEvent<'a> {
    pub depth: u32,
    /// The worker run whose model asked.
    pub parent: Option<u64>,
    pub tool: &'a str,
    pub input: &'a Value,
    pub verdict: &'a Verdict,
}

/// A request is about to be sent to a model.
#[derive(Debug, Clone, Copy)]
pub struct ModelRequestEvent<'a> {
    pub depth: u32,
    /// The worker run that sends it.
    pub parent: Option<u64>,
    pub worker: &'a str,
    /// Full model id, e.g. `anthropic:claude-haiku-4-5`.
    pub model: &'a str,
    /// Round trip number within the run, from 0.
    pub turn: u32,
    pub request: &'a ModelRequest,
}

/// A model replied (or failed).
#[derive(Debug, Clone)]
pub struct ModelResponseEvent<'a> {
    pub depth: u32,
    pub parent: Option<u64>,
    pub worker: &'a str,
    pub model: &'a str,
    pub elapsed: Duration,
    pub result: Result<&'a ModelResponse, String>,
}

/// A `[stabilize]` switch served a call (DESIGN §14): which side, in which mode.
#[derive(Debug, Clone, Copy)]
pub struct SwitchServed<'a> {
    /// The call enclosing the switch's call (the sides are calls of their own beside it).
    pub parent: Option<u64>,
    pub name: &'a str,
    /// The `[stabilize]` mode, e.g. `code` or `canary:20`.
    pub mode: &'a str,
    /// `worker` or `code`.
    pub served: &'a str,
    /// The fn returned `defer()` and the worker answered.
    pub deferred: bool,
    /// Shadow modes: whether both sides agreed.
    pub agreed: Option<bool>,
}

/// Receives runtime events. Implementations must be cheap when they do nothing.
///
/// Methods other than the first two have defaults, so an observer only implements what it
/// shows.
pub trait Observer: Send + Sync {
    /// A call started; returns an id passed back to [`Observer::call_end`].
    fn call_start(&self, start: &CallStart) -> u64;
    fn call_end(&self, id: u64, end: &CallEnd);
    /// Whether events are wanted at all; callers skip building costly event data when not.
    fn enabled(&self) -> bool {
        true
    }
    /// Whether a call of `kind` is wanted (defaults to [`Observer::enabled`]); the seam opens no
    /// span for calls nobody wants, keeping `call()` of a fn fast.
    fn wants(&self, _kind: Kind) -> bool {
        self.enabled()
    }
    /// An approval decision with its context.
    fn approval_event(&self, _event: &ApprovalEvent) {}
    /// A model asked for a tool call.
    fn tool_call(&self, _event: &ToolCallEvent) {}
    /// A model request is sent; returns an id passed back to [`Observer::model_response`].
    fn model_request(&self, _event: &ModelRequestEvent) -> u64 {
        0
    }
    /// The reply to the request `id`.
    fn model_response(&self, _id: u64, _event: &ModelResponseEvent) {}
    /// A stabilize switch served a call (the run log records these on its own).
    fn switch_served(&self, _event: &SwitchServed) {}
    /// Write out anything buffered (called once at exit).
    fn flush(&self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Ignores everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn call_start(&self, _: &CallStart) -> u64 {
        0
    }
    fn call_end(&self, _: u64, _: &CallEnd) {}
    fn enabled(&self) -> bool {
        false
    }
}

/// The `-v` call tree: one line per call start and end, indented by depth.
pub struct Tree<W: Write + Send> {
    out: Mutex<W>,
    next: AtomicU64,
    /// 2 and more also prints inputs and outputs.
    verbosity: u8,
    /// Model calls and tokens per worker, printed as a summary at exit.
    totals: Mutex<std::collections::BTreeMap<String, (u64, Usage)>>,
}

impl<W: Write + Send> Tree<W> {
    pub fn new(out: W, verbosity: u8) -> Self {
        Self {
            out: Mutex::new(out),
            next: AtomicU64::new(1),
            verbosity,
            totals: Mutex::new(std::collections::BTreeMap::new()),
        }
    }

    fn line(&self, depth: u32, text: &str) {
        // Names, inputs and outputs come from models and files: never raw controls.
        let text = crate::output::escape(text, crate::output::Escaped::Text);
        let _ = writeln!(lock(&self.out), "{}{text}", "  ".repeat(depth as usize));
    }

    /// The per-run token summary: one line in all, then one per worker.
    fn summary(&self) -> Vec<String> {
        let totals = lock(&self.totals);
        let line = |who: &str, n: u64, u: &Usage| {
            let calls = crate::output::count(n, "model call");
            format!(
                "{who}: {calls}, {} in / {} out tokens",
                u.input_tokens, u.output_tokens
            )
        };
        let mut all = (0, Usage::default());
        let mut lines: Vec<String> = totals
            .iter()
            .map(|(w, (n, u))| {
                all.0 += n;
                all.1 += *u;
                line(&format!("  {w}"), *n, u)
            })
            .collect();
        if !lines.is_empty() {
            lines.insert(0, line("total", all.0, &all.1));
        }
        lines
    }
}

fn excerpt(v: &Value) -> String {
    crate::output::clip(&crate::output::plain_text(v).replace('\n', "⏎"), 200)
}

impl<W: Write + Send> Observer for Tree<W> {
    fn call_start(&self, s: &CallStart) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let input = if self.verbosity >= 2 {
            format!(" ← {}", excerpt(s.input))
        } else {
            String::new()
        };
        self.line(s.depth, &format!("▶ {} {}{input}", s.kind.as_str(), s.name));
        id
    }

    fn call_end(&self, _: u64, e: &CallEnd) {
        let ms = e.elapsed.as_secs_f64() * 1000.0;
        let tokens = if e.usage == Usage::default() {
            String::new()
        } else {
            let cost = e.cost.map(crate::model::prices::dollars);
            let cost = cost.map(|c| format!(", {c}")).unwrap_or_default();
            format!(", {}{cost}", usage_text(&e.usage))
        };
        match &e.result {
            Ok(v) if self.verbosity >= 2 => self.line(
                e.depth,
                &format!("✓ {} {ms:.1} ms{tokens} → {}", e.name, excerpt(v)),
            ),
            Ok(_) => self.line(e.depth, &format!("✓ {} {ms:.1} ms{tokens}", e.name)),
            Err(msg) => self.line(e.depth, &format!("✗ {} {ms:.1} ms: {msg}", e.name)),
        }
    }

    fn approval_event(&self, e: &ApprovalEvent) {
        let what = match decision(e.verdict) {
            (what, Some(reason)) => format!("{what}: {reason}"),
            (what, None) => what.to_string(),
        };
        let by = e.verdict.decided_by;
        self.line(e.depth, &format!("? {} {what} (by {by})", e.tool));
    }

    fn model_request(&self, e: &ModelRequestEvent) -> u64 {
        if self.verbosity >= 2 {
            let last = e.request.messages.last().map(message_text);
            let text = excerpt(&Value::String(last.unwrap_or_default()));
            // Numbered from 0, as `turn` in `--trace` files (docs/traces.md), so a line here
            // and an event there name the same turn.
            self.line(e.depth, &format!("→ {} turn {}: {text}", e.model, e.turn));
        }
        0
    }

    fn flush(&self) -> std::io::Result<()> {
        for line in self.summary() {
            self.line(0, &line);
        }
        Ok(())
    }

    fn model_response(&self, _: u64, e: &ModelResponseEvent) {
        if let Ok(r) = &e.result {
            let mut totals = lock(&self.totals);
            let entry = totals.entry(e.worker.to_string()).or_default();
            entry.0 += 1;
            entry.1 += r.usage;
            drop(totals);
            for f in &r.fallbacks {
                self.line(
                    e.depth,
                    &format!("↪ fallback {} → {}: {}", f.from, f.to, f.reason),
                );
            }
            if self.verbosity < 2 && r.finish == FinishReason::Length {
                self.line(
                    e.depth,
                    &format!(
                        "← {}: stop reason `length` (cut off at max_tokens)",
                        e.model
                    ),
                );
            }
        }
        if self.verbosity < 2 {
            return;
        }
        let text = match &e.result {
            Ok(r) => {
                let text = Some(r.text.clone()).filter(|t| !t.is_empty());
                let calls = r
                    .tool_calls
                    .iter()
                    .map(|c| format!("{}({})", c.name, c.arguments));
                let parts: Vec<String> = text.into_iter().chain(calls).collect();
                format!(
                    "{} [stop: {}]",
                    excerpt(&Value::String(parts.join(" "))),
                    r.finish.as_str()
                )
            }
            Err(msg) => format!("failed: {msg}"),
        };
        // The model that answered: with a fallback chain, not always the one asked.
        self.line(e.depth, &format!("← {}: {text}", e.model));
    }
}

/// Tokens as the `-v` tree and the end-of-run line show them.
pub fn usage_text(u: &Usage) -> String {
    let cache = if u.cache_read_tokens + u.cache_write_tokens > 0 {
        format!(
            " ({} cache read, {} cache write)",
            u.cache_read_tokens, u.cache_write_tokens
        )
    } else {
        String::new()
    };
    format!(
        "{} in / {} out tokens{cache}",
        u.input_tokens, u.output_tokens
    )
}

/// The readable text of one message: text, tool calls, tool results and attachment paths.
fn message_text(m: &crate::model::Message) -> String {
    use crate::model::Part;
    m.parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => t.clone(),
            Part::ToolCall(c) => format!("{}({})", c.name, c.arguments),
            Part::ToolResult(r) => format!("{} = {}", r.name, r.content),
            Part::Attachment(a) => format!("[attachment {}]", a.path),
            Part::Thinking(_) => "[thinking]".to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An observer that can be switched on and off while the process runs (the REPL's
/// `:trace on|off`): events reach `inner` only while on.
pub struct Toggle {
    on: std::sync::atomic::AtomicBool,
    inner: std::sync::Arc<dyn Observer>,
}

impl Toggle {
    /// Wrap `inner`, initially on or off.
    pub fn new(inner: std::sync::Arc<dyn Observer>, on: bool) -> Self {
        Self {
            on: std::sync::atomic::AtomicBool::new(on),
            inner,
        }
    }
    /// Switch events on or off.
    pub fn set(&self, on: bool) {
        self.on.store(on, Ordering::Relaxed);
    }
    /// Whether events are passed on.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
}

impl Observer for Toggle {
    fn call_start(&self, start: &CallStart) -> u64 {
        if self.is_on() {
            self.inner.call_start(start)
        } else {
            0
        }
    }
    fn call_end(&self, id: u64, end: &CallEnd) {
        if self.is_on() {
            self.inner.call_end(id, end);
        }
    }
    fn approval_event(&self, event: &ApprovalEvent) {
        if self.is_on() {
            self.inner.approval_event(event);
        }
    }
}
