//! `--trace FILE`: one JSON object per line per event (format in `docs/traces.md`, schema in
//! `docs/trace.schema.json`). Lines go through a buffer to a file created at start; each event
//! is one complete line, and the buffer is flushed at exit ([`Observer::flush`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use super::{
    ApprovalEvent, CallEnd, CallStart, Kind, ModelRequestEvent, ModelResponseEvent, Observer,
    ToolCallEvent,
};
use crate::approval::{Outcome, Verdict};
use crate::model::Usage;
use crate::sync::lock;

/// Version of the trace format, written as `v` in every event. Bumped only on incompatible
/// changes; new optional fields do not bump it.
pub const FORMAT_VERSION: u64 = 1;

/// Writes events as JSON lines.
pub struct JsonlObserver {
    out: Mutex<Box<dyn Write + Send>>,
    next: AtomicU64,
    /// What `call_end` needs from the matching `call_start`: its parent and kind.
    open: Mutex<HashMap<u64, (Option<u64>, Kind)>>,
    /// The first write error, reported by [`Observer::flush`].
    failed: Mutex<Option<std::io::Error>>,
}

impl JsonlObserver {
    /// Create (or truncate) `path` and write events to it.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        Ok(Self::new(BufWriter::new(File::create(path)?)))
    }

    /// Write events to `out` (buffer it yourself when it is unbuffered).
    pub fn new(out: impl Write + Send + 'static) -> Self {
        Self {
            out: Mutex::new(Box::new(out)),
            next: AtomicU64::new(1),
            open: Mutex::new(HashMap::new()),
            failed: Mutex::new(None),
        }
    }

    fn id(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Write `event` (its [`head`]) with the fields of `body` (an object) after it.
    fn emit(&self, mut event: Value, body: Value) {
        if let (Some(event), Value::Object(fields)) = (event.as_object_mut(), body) {
            event.extend(fields);
        }
        let mut line = event.to_string();
        line.push('\n');
        if let Err(e) = lock(&self.out).write_all(line.as_bytes()) {
            lock(&self.failed).get_or_insert(e);
        }
    }
}

/// The fields every event starts with.
fn head(event: &str, id: u64, parent: Option<u64>, depth: u32) -> Value {
    json!({"v": FORMAT_VERSION, "event": event, "id": id, "parent": parent, "depth": depth})
}

fn ms(d: Duration) -> Value {
    // Three decimals: microsecond resolution without float noise in the file.
    json!((d.as_secs_f64() * 1_000_000.0).round() / 1000.0)
}

fn tokens(u: Usage) -> Value {
    let mut t = json!({"in": u.input_tokens, "out": u.output_tokens});
    if u.cache_read_tokens > 0 {
        t["cache_read"] = json!(u.cache_read_tokens);
    }
    if u.cache_write_tokens > 0 {
        t["cache_write"] = json!(u.cache_write_tokens);
    }
    t
}

/// `v` as JSON; `null` should it fail to serialize (a trace never stops a run).
fn lossy(v: impl serde::Serialize) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// How a verdict is recorded: `approved`, `denied` (with its reason) or `aborted`.
pub fn decision(v: &Verdict) -> (&'static str, Option<&str>) {
    match &v.outcome {
        Outcome::Approved => ("approved", None),
        Outcome::Denied(reason) => ("denied", Some(reason.as_str())),
        Outcome::Abort => ("aborted", None),
    }
}

impl Observer for JsonlObserver {
    fn call_start(&self, s: &CallStart) -> u64 {
        let id = self.id();
        lock(&self.open).insert(id, (s.parent, s.kind));
        let event = head("call_start", id, s.parent, s.depth);
        self.emit(
            event,
            json!({"kind": s.kind.as_str(), "name": s.name, "input": s.input}),
        );
        id
    }

    fn call_end(&self, id: u64, e: &CallEnd) {
        let open = lock(&self.open).remove(&id);
        let mut event = head("call_end", id, open.and_then(|(parent, _)| parent), e.depth);
        if let Some((_, kind)) = open {
            event["kind"] = json!(kind.as_str());
        }
        let mut body = match &e.result {
            Ok(v) => json!({"name": e.name, "output": v}),
            Err(msg) => json!({"name": e.name, "error": msg}),
        };
        body["ms"] = ms(e.elapsed);
        body["tokens"] = tokens(e.usage);
        if let Some(cost) = e.cost {
            body["cost_usd"] = json!(cost);
        }
        self.emit(event, body);
    }

    fn approval_event(&self, e: &ApprovalEvent) {
        let (what, reason) = decision(e.verdict);
        let mut body = json!({"name": e.tool, "input": e.input, "decision": what});
        if let Some(r) = reason {
            body["reason"] = json!(r);
        }
        body["decided_by"] = json!(e.verdict.decided_by.as_str());
        if let Some(i) = e.verdict.decided_by.rule() {
            body["rule"] = json!(i);
        }
        self.emit(head("approval", self.id(), e.parent, e.depth), body);
    }

    fn tool_call(&self, e: &ToolCallEvent) {
        let body = json!({"name": e.name, "call_id": e.call_id, "input": e.input});
        self.emit(head("tool_call", self.id(), e.parent, e.depth), body);
    }

    fn model_request(&self, e: &ModelRequestEvent) -> u64 {
        let id = self.id();
        let request = lossy(e.request);
        let body = json!({"name": e.worker, "model": e.model, "turn": e.turn, "request": request});
        self.emit(head("model_request", id, e.parent, e.depth), body);
        id
    }

    fn model_response(&self, id: u64, e: &ModelResponseEvent) {
        let mut body = json!({"name": e.worker, "model": e.model});
        match &e.result {
            Ok(r) => {
                body["output"] = lossy(r);
                body["tokens"] = tokens(r.usage);
                body["stop"] = json!(r.finish.as_str());
                if !r.fallbacks.is_empty() {
                    body["fallback"] = lossy(&r.fallbacks);
                }
            }
            Err(msg) => body["error"] = json!(msg),
        }
        body["ms"] = ms(e.elapsed);
        self.emit(head("model_response", id, e.parent, e.depth), body);
    }

    fn flush(&self) -> std::io::Result<()> {
        if let Some(e) = lock(&self.failed).take() {
            return Err(e);
        }
        lock(&self.out).flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::DecidedBy;
    use std::sync::Arc;

    /// A shared buffer to read back what was written.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(buf: &Buf) -> Vec<Value> {
        String::from_utf8(buf.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn call_end_repeats_kind_and_parent_of_its_start() {
        let buf = Buf::default();
        let obs = JsonlObserver::new(buf.clone());
        let input = json!({"name": "Ada"});
        let outer = obs.call_start(&CallStart {
            depth: 0,
            parent: None,
            kind: Kind::Neural,
            name: "greeter",
            input: &input,
        });
        let inner = obs.call_start(&CallStart {
            depth: 1,
            parent: Some(outer),
            kind: Kind::Symbolic,
            name: "add",
            input: &input,
        });
        let out = json!(3);
        obs.call_end(
            inner,
            &CallEnd {
                depth: 1,
                name: "add",
                elapsed: Duration::from_micros(1500),
                usage: Usage::default(),
                cost: None,
                result: Ok(&out),
            },
        );
        obs.flush().unwrap();
        let ev = lines(&buf);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[2]["event"], "call_end");
        assert_eq!(ev[2]["parent"], json!(outer));
        assert_eq!(ev[2]["kind"], "symbolic");
        assert_eq!(ev[2]["ms"], json!(1.5));
        assert_eq!(ev[2]["output"], json!(3));
        assert!(ev.iter().all(|e| e["v"] == json!(FORMAT_VERSION)));
    }

    #[test]
    fn approvals_name_their_source() {
        let buf = Buf::default();
        let obs = JsonlObserver::new(buf.clone());
        let v = Verdict {
            outcome: Outcome::Denied("no".into()),
            decided_by: DecidedBy::Rule(2),
        };
        obs.approval_event(&ApprovalEvent {
            depth: 1,
            parent: Some(7),
            tool: "write_file",
            input: &json!({"path": "x"}),
            verdict: &v,
        });
        let ev = &lines(&buf)[0];
        assert_eq!(ev["decision"], "denied");
        assert_eq!(ev["reason"], "no");
        assert_eq!(ev["decided_by"], "rule");
        assert_eq!(ev["rule"], 2);
        assert_eq!(ev["parent"], 7);
    }
}
