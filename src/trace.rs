//! Events out of the runtime: every worker run, fn or builtin tool call and approval decision
//! is reported to an [`Observer`]. The `-v` call tree on stderr is one observer; JSONL traces
//! are another.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::approval::{Outcome, Verdict};
use crate::model::Usage;

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
}

/// A call begins.
#[derive(Debug)]
pub struct CallStart<'a> {
    pub depth: u32,
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
    pub result: Result<&'a Value, String>,
}

/// Receives runtime events. Implementations must be cheap when they do nothing.
pub trait Observer: Send + Sync {
    /// A call started; returns an id passed back to [`Observer::call_end`].
    fn call_start(&self, start: &CallStart) -> u64;
    fn call_end(&self, id: u64, end: &CallEnd);
    fn approval(&self, depth: u32, tool: &str, verdict: &Verdict);
}

/// Ignores everything.
#[derive(Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn call_start(&self, _: &CallStart) -> u64 {
        0
    }
    fn call_end(&self, _: u64, _: &CallEnd) {}
    fn approval(&self, _: u32, _: &str, _: &Verdict) {}
}

/// The `-v` call tree: one line per call start and end, indented by depth.
pub struct Tree<W: Write + Send> {
    out: Mutex<W>,
    next: AtomicU64,
    /// 2 and more also prints inputs and outputs.
    verbosity: u8,
}

impl<W: Write + Send> Tree<W> {
    pub fn new(out: W, verbosity: u8) -> Self {
        Self {
            out: Mutex::new(out),
            next: AtomicU64::new(1),
            verbosity,
        }
    }

    fn line(&self, depth: u32, text: &str) {
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{}{text}", "  ".repeat(depth as usize));
        }
    }
}

fn excerpt(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let one_line = s.replace('\n', "⏎");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
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
            format!(
                ", {} in / {} out tokens",
                e.usage.input_tokens, e.usage.output_tokens
            )
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

    fn approval(&self, depth: u32, tool: &str, v: &Verdict) {
        let what = match &v.outcome {
            Outcome::Approved => "approved".to_string(),
            Outcome::Denied(r) => format!("denied: {r}"),
            Outcome::Abort => "aborted".to_string(),
        };
        self.line(depth, &format!("? {tool} {what} (by {:?})", v.decided_by));
    }
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
    fn approval(&self, depth: u32, tool: &str, verdict: &Verdict) {
        if self.is_on() {
            self.inner.approval(depth, tool, verdict);
        }
    }
}
