//! OpenTelemetry export ([`OtelObserver`]): an observer of the seam's spans, like the run log,
//! that turns every call into an OTLP span, in one tree per run, sent over HTTP/protobuf by a
//! batch processor on a thread of its own.
//!
//! Built only when export is configured ([`crate::settings::OtelSettings`]): without it there
//! is no exporter, no thread and no observer. Spans carry the GenAI semantic conventions
//! (`gen_ai.*`), OpenInference's names for the same figures (what Arize Phoenix shows) and
//! llm-do's own (`llm_do.*`), each attribute tabled in docs/observability.md; they carry
//! names, models, token counts, cost, stop reasons and approval decisions, never inputs, outputs or tool arguments (those stay in the run log), so
//! no secret a call handles reaches a collector. Errors are messages the providers already
//! redact.
//!
//! An incoming W3C `TRACEPARENT` ([`parse_traceparent`]) makes the run's root span a child of
//! the surrounding trace. A collector that cannot be reached costs one warning and the lost
//! spans, never the run: the queue is bounded, an export is tried once with a short timeout,
//! and [`Observer::flush`] (called once at exit, Ctrl-C included) waits for the last batch.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::{
    SpanContext, SpanKind, Status, TraceContextExt, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
};

use super::{
    ApprovalEvent, CallEnd, CallStart, Kind, ModelRequestEvent, ModelResponseEvent, Observer,
    SwitchServed,
};
use crate::model::Usage;
use crate::settings::OtelSettings;

/// How long one export may take before it is given up (`OTEL_EXPORTER_OTLP_TIMEOUT` does not
/// apply: a slow collector must not hold a run's exit for the SDK's 10 s).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3);
/// Spans waiting for export; past this, new spans are dropped (never a growing queue).
const MAX_QUEUE: usize = 4096;
/// The most the exit waits for the last batch.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Export could not be set up (a malformed endpoint, a client that cannot be built).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up OpenTelemetry export: {0}")]
pub struct OtelError(String);

/// A W3C trace context (`TRACEPARENT`, with `TRACESTATE`) as the remote parent of a run, read
/// by the SDK's W3C propagator.
///
/// Returns `None` for a value that is not a valid `traceparent` (the run then starts a trace
/// of its own).
pub fn parse_traceparent(traceparent: &str, tracestate: Option<&str>) -> Option<SpanContext> {
    let mut headers = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    if let Some(state) = tracestate {
        headers.insert("tracestate".to_owned(), state.to_owned());
    }
    let cx = TraceContextPropagator::new().extract(&headers);
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// What calls the warning of a failed export (once per run).
pub type Warn = Arc<dyn Fn(&str) + Send + Sync>;

/// An exporter that reports its first failure through `warn` and stays quiet afterwards.
struct Warned {
    /// OTLP over HTTP with protobuf bodies.
    inner: opentelemetry_otlp::SpanExporter,
    warned: AtomicBool,
    warn: Warn,
}

impl std::fmt::Debug for Warned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warned")
            .field("inner", &self.inner)
            .finish()
    }
}

impl SpanExporter for Warned {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let out = self.inner.export(batch).await;
        if let Err(e) = &out
            && !self.warned.swap(true, Ordering::Relaxed)
        {
            let shown = crate::model::http::shown_url(&e.to_string());
            (self.warn)(&format!(
                "llm-do: warning: cannot send traces to the OpenTelemetry collector ({shown}); \
                 the run goes on without them"
            ));
        }
        out
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The OTLP exporter of one run: every call and model exchange as a span under the run's root.
pub struct OtelObserver {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    /// The run's root span; taken (and ended) by [`Observer::flush`].
    root: Mutex<Option<Context>>,
    /// The parent of top-level calls: the root span.
    root_cx: Context,
    next: AtomicU64,
    /// Open spans of calls and model exchanges, by the id handed out for them.
    open: Mutex<HashMap<u64, Context>>,
}

impl OtelObserver {
    /// Start exporting to what `settings` names, with a root span `llm-do LABEL` under
    /// `remote` (a parsed `TRACEPARENT`) when given. Starts the batch processor's thread.
    ///
    /// # Errors
    ///
    /// The exporter cannot be built (e.g. a malformed endpoint).
    pub fn start(
        settings: &OtelSettings,
        label: &str,
        remote: Option<SpanContext>,
        warn: Warn,
    ) -> Result<Self, OtelError> {
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(settings.endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .with_retry_policy(opentelemetry_otlp::RetryPolicy::disabled());
        if settings.endpoint.starts_with("http://") {
            builder = builder.with_http_client(plain_http_client()?);
        }
        // The message names the endpoint: credentials in it are not shown.
        let exporter = builder
            .build()
            .map_err(|e| OtelError(crate::model::http::shown_url(&e.to_string())))?;
        let exporter = Warned {
            inner: exporter,
            warned: AtomicBool::new(false),
            warn,
        };
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(MAX_QUEUE)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let mut resource = Resource::builder();
        if let Some(name) = &settings.service_name {
            resource = resource.with_service_name(name.clone());
        }
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource.build())
            .build();
        let tracer = provider.tracer("llm-do");
        let parent = match remote {
            Some(sc) => Context::new().with_remote_span_context(sc),
            None => Context::new(),
        };
        let root = tracer
            .span_builder(format!("llm-do {label}"))
            .with_kind(SpanKind::Internal)
            .with_attributes([KeyValue::new("openinference.span.kind", "CHAIN")])
            .start_with_context(&tracer, &parent);
        let root_cx = parent.with_span(root);
        Ok(Self {
            provider,
            tracer,
            root: Mutex::new(Some(root_cx.clone())),
            root_cx,
            next: AtomicU64::new(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The context of open span `parent`, else the run's root.
    fn parent_cx(&self, parent: Option<u64>) -> Context {
        parent
            .and_then(|p| crate::sync::lock(&self.open).get(&p).cloned())
            .unwrap_or_else(|| self.root_cx.clone())
    }

    /// Open a span `name` under `parent` with `attributes`; returns its id.
    fn open(&self, name: String, parent: Option<u64>, attributes: Vec<KeyValue>) -> u64 {
        let parent = self.parent_cx(parent);
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Internal)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        crate::sync::lock(&self.open).insert(id, parent.with_span(span));
        id
    }

    fn take(&self, id: u64) -> Option<Context> {
        crate::sync::lock(&self.open).remove(&id)
    }
}

/// A client for a plain `http://` collector (Phoenix, Jaeger or an OpenTelemetry Collector on
/// the machine): without TLS roots, whose loading costs more than the rest of export in a
/// short run. Built on a thread of its own, as a blocking client must be outside an async
/// runtime.
fn plain_http_client() -> Result<reqwest::blocking::Client, OtelError> {
    std::thread::spawn(|| {
        reqwest::blocking::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .tls_certs_only([])
            .build()
    })
    .join()
    .map_err(|_| OtelError("the thread building the HTTP client failed".into()))?
    .map_err(|e| OtelError(e.to_string()))
}

/// Token counts as GenAI and OpenInference attributes (cache counts only when there are any).
fn usage_attributes(u: &Usage) -> Vec<KeyValue> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut attrs = vec![
        KeyValue::new("gen_ai.usage.input_tokens", n(u.input_tokens)),
        KeyValue::new("gen_ai.usage.output_tokens", n(u.output_tokens)),
        KeyValue::new("llm.token_count.prompt", n(u.input_tokens)),
        KeyValue::new("llm.token_count.completion", n(u.output_tokens)),
        KeyValue::new(
            "llm.token_count.total",
            n(u.input_tokens.saturating_add(u.output_tokens)),
        ),
    ];
    let cache = [
        ("gen_ai.usage.cache_read.input_tokens", u.cache_read_tokens),
        (
            "gen_ai.usage.cache_creation.input_tokens",
            u.cache_write_tokens,
        ),
    ];
    let cache = cache.into_iter().filter(|&(_, count)| count > 0);
    attrs.extend(cache.map(|(key, count)| KeyValue::new(key, n(count))));
    attrs
}

/// `provider` and `model` of a model id `provider:model` (`test` has no provider prefix).
fn split_model(id: &str) -> (&str, &str) {
    id.split_once(':').unwrap_or((id, id))
}

impl Observer for OtelObserver {
    /// A call's span, named and tagged as the GenAI and OpenInference conventions want.
    fn call_start(&self, s: &CallStart) -> u64 {
        let (operation, name_key, oi_kind) = match s.kind {
            Kind::Neural => ("invoke_agent", "gen_ai.agent.name", "AGENT"),
            Kind::Symbolic | Kind::Builtin => ("execute_tool", "gen_ai.tool.name", "TOOL"),
        };
        let attrs = vec![
            KeyValue::new("llm_do.name", s.name.to_owned()),
            KeyValue::new("llm_do.kind", s.kind.log_name()),
            KeyValue::new("llm_do.depth", i64::from(s.depth)),
            KeyValue::new("gen_ai.operation.name", operation),
            KeyValue::new(name_key, s.name.to_owned()),
            KeyValue::new("openinference.span.kind", oi_kind),
        ];
        self.open(format!("{operation} {}", s.name), s.parent, attrs)
    }

    fn call_end(&self, id: u64, e: &CallEnd) {
        let Some(cx) = self.take(id) else { return };
        let span = cx.span();
        if e.usage != Usage::default() {
            span.set_attributes(usage_attributes(&e.usage));
        }
        if let Some(cost) = e.cost {
            span.set_attribute(KeyValue::new("llm_do.cost_usd", cost));
        }
        if let Err(msg) = &e.result {
            span.set_status(Status::error(msg.clone()));
        }
        span.end();
    }

    fn approval_event(&self, e: &ApprovalEvent) {
        let (decision, reason) = super::decision(e.verdict);
        let mut attrs = vec![
            KeyValue::new("llm_do.tool", e.tool.to_owned()),
            KeyValue::new("llm_do.decision", decision),
            KeyValue::new("llm_do.decided_by", e.verdict.decided_by.as_str()),
        ];
        if let Some(reason) = reason {
            attrs.push(KeyValue::new("llm_do.reason", reason.to_owned()));
        }
        self.parent_cx(e.parent)
            .span()
            .add_event("llm_do.approval", attrs);
    }

    fn model_request(&self, e: &ModelRequestEvent) -> u64 {
        let (provider, model) = split_model(e.model);
        let attrs = vec![
            KeyValue::new("gen_ai.operation.name", "chat"),
            KeyValue::new("gen_ai.provider.name", provider.to_owned()),
            KeyValue::new("gen_ai.request.model", model.to_owned()),
            KeyValue::new("llm_do.name", e.worker.to_owned()),
            KeyValue::new("llm_do.turn", i64::from(e.turn)),
            KeyValue::new("openinference.span.kind", "LLM"),
            KeyValue::new("llm.provider", provider.to_owned()),
        ];
        self.open(format!("chat {model}"), e.parent, attrs)
    }

    fn model_response(&self, id: u64, e: &ModelResponseEvent) {
        let Some(cx) = self.take(id) else { return };
        let span = cx.span();
        let (_, model) = split_model(e.model);
        span.set_attribute(KeyValue::new("gen_ai.response.model", model.to_owned()));
        span.set_attribute(KeyValue::new("llm.model_name", model.to_owned()));
        match &e.result {
            Ok(r) => {
                span.set_attributes(usage_attributes(&r.usage));
                let reasons = vec![opentelemetry::StringValue::from(
                    r.finish.as_str().to_owned(),
                )];
                span.set_attribute(KeyValue::new(
                    "gen_ai.response.finish_reasons",
                    Value::Array(reasons.into()),
                ));
            }
            Err(msg) => span.set_status(Status::error(msg.clone())),
        }
        span.end();
    }

    fn switch_served(&self, e: &SwitchServed) {
        let mut attrs = vec![
            KeyValue::new("llm_do.name", e.name.to_owned()),
            KeyValue::new("llm_do.stabilize.mode", e.mode.to_owned()),
            KeyValue::new("llm_do.stabilize.served", e.served.to_owned()),
            KeyValue::new("llm_do.stabilize.deferred", e.deferred),
        ];
        if let Some(agreed) = e.agreed {
            attrs.push(KeyValue::new("llm_do.stabilize.agreed", agreed));
        }
        self.parent_cx(e.parent)
            .span()
            .add_event("llm_do.stabilize", attrs);
    }

    /// End what is still open (an interrupted run's calls), then the root, and wait (bounded)
    /// for the last batch to be sent.
    fn flush(&self) -> std::io::Result<()> {
        let Some(root) = crate::sync::lock(&self.root).take() else {
            return Ok(());
        };
        let open: Vec<Context> = crate::sync::lock(&self.open)
            .drain()
            .map(|(_, c)| c)
            .collect();
        for cx in open {
            cx.span().set_status(Status::error("the run ended first"));
            cx.span().end();
        }
        root.span().end();
        // A failed export was warned about already; it does not fail the run.
        let _ = self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT);
        Ok(())
    }
}

/// A run that ends without [`Observer::flush`] (a path that skips the exit work) still ends
/// its root and sends what it has; after a flush this does nothing.
impl Drop for OtelObserver {
    fn drop(&mut self) {
        let _ = Observer::flush(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanId, TraceId};

    #[test]
    fn traceparent_is_parsed_strictly() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let sc = parse_traceparent(tp, Some("vendor=x")).unwrap();
        assert_eq!(
            sc.trace_id(),
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap()
        );
        assert_eq!(sc.span_id(), SpanId::from_hex("00f067aa0ba902b7").unwrap());
        assert!(sc.is_sampled() && sc.is_remote());
        assert_eq!(sc.trace_state().get("vendor"), Some("x"));
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert!(parse_traceparent(bad, None).is_none(), "{bad}");
        }
        // A later version may carry more fields.
        assert!(
            parse_traceparent(
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x",
                None
            )
            .is_some_and(|sc| !sc.is_sampled())
        );
    }

    #[test]
    fn cache_tokens_are_attributes_only_when_there_are_some() {
        let keys = |u: &Usage| -> Vec<(String, i64)> {
            usage_attributes(u)
                .into_iter()
                .map(|kv| match kv.value {
                    Value::I64(n) => (kv.key.to_string(), n),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let plain = Usage {
            input_tokens: 10,
            output_tokens: 3,
            ..Usage::default()
        };
        let cached = Usage {
            cache_read_tokens: 7,
            cache_write_tokens: 2,
            ..plain
        };
        let base = vec![
            ("gen_ai.usage.input_tokens".to_string(), 10),
            ("gen_ai.usage.output_tokens".into(), 3),
            ("llm.token_count.prompt".into(), 10),
            ("llm.token_count.completion".into(), 3),
            ("llm.token_count.total".into(), 13),
        ];
        assert_eq!(keys(&plain), base);
        let mut with_cache = base;
        with_cache.push(("gen_ai.usage.cache_read.input_tokens".into(), 7));
        with_cache.push(("gen_ai.usage.cache_creation.input_tokens".into(), 2));
        assert_eq!(keys(&cached), with_cache);
    }

    #[test]
    fn model_ids_split_into_provider_and_model() {
        assert_eq!(
            split_model("anthropic:claude-haiku-4-5"),
            ("anthropic", "claude-haiku-4-5")
        );
        assert_eq!(split_model("test"), ("test", "test"));
    }
}
