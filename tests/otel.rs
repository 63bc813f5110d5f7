//! OpenTelemetry export (docs/observability.md): the real binary sends its spans to a mock OTLP
//! collector (wiremock), whose requests are decoded as the OTLP protobuf they are.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::util::{Run, Test};

/// One received span, its ids in hex and its attributes as JSON.
#[derive(Debug)]
struct Span {
    name: String,
    trace: String,
    id: String,
    parent: String,
    attrs: BTreeMap<String, Value>,
    events: Vec<(String, BTreeMap<String, Value>)>,
    /// 0 unset, 1 ok, 2 error.
    status: i32,
    status_message: String,
    service: Value,
}

fn value(v: &Option<AnyValue>) -> Value {
    match v.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => json!(s),
        Some(any_value::Value::IntValue(i)) => json!(i),
        Some(any_value::Value::DoubleValue(d)) => json!(d),
        Some(any_value::Value::BoolValue(b)) => json!(b),
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.iter().map(|v| value(&Some(v.clone()))).collect())
        }
        other => panic!("unexpected attribute value {other:?}"),
    }
}

fn attributes(kvs: &[KeyValue]) -> BTreeMap<String, Value> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), value(&kv.value)))
        .collect()
}

/// Every span of every OTLP request `server` received, in the order they arrived.
async fn spans(server: &MockServer) -> Vec<Span> {
    let mut out = Vec::new();
    for request in server.received_requests().await.unwrap_or_default() {
        let decoded = ExportTraceServiceRequest::decode(request.body.as_slice())
            .expect("an OTLP protobuf body");
        for rs in decoded.resource_spans {
            let resource = rs
                .resource
                .map(|r| attributes(&r.attributes))
                .unwrap_or_default();
            let service = resource.get("service.name").cloned().unwrap_or(Value::Null);
            for ss in rs.scope_spans {
                for s in ss.spans {
                    out.push(Span {
                        name: s.name,
                        trace: hex(&s.trace_id),
                        id: hex(&s.span_id),
                        parent: hex(&s.parent_span_id),
                        attrs: attributes(&s.attributes),
                        events: s
                            .events
                            .iter()
                            .map(|e| (e.name.clone(), attributes(&e.attributes)))
                            .collect(),
                        status: s.status.as_ref().map_or(0, |st| st.code),
                        status_message: s.status.map(|st| st.message).unwrap_or_default(),
                        service: service.clone(),
                    });
                }
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A collector accepting OTLP/HTTP protobuf on `/v1/traces`.
async fn collector() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .and(header("content-type", "application/x-protobuf"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

/// A worker on the `test` model with one fn tool: the model calls `shout`, then answers with
/// its result.
fn shouter() -> Test {
    Test::new()
        // $1 a token in, $2 out: every cost is a whole number of dollars.
        .config("[prices.test]\ninput = 1000000.0\noutput = 2000000.0\n")
        .worker(
            "shouter",
            "---\nmodel: test\ntoolsets: [shout]\n---\nShout it.\n",
        )
        .script(
            "lib",
            "/// text: string\nfn shout(text) { text.to_upper() }\n",
        )
}

/// Run `t` with `args` off the async runtime (the binary is a blocking child process).
async fn run(t: Test, args: &'static [&'static str]) -> (Test, Run) {
    tokio::task::spawn_blocking(move || {
        let run = t.run_with(args);
        (t, run)
    })
    .await
    .unwrap()
}

fn by_name<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

/// A worker run calling a fn tool: one trace, the run's root span over the worker's span,
/// under which are its two model exchanges and the tool call, each with the GenAI attributes
/// and the token counts the run log has for the same run; the approval of the tool call is an
/// event of the worker's span.
#[tokio::test(flavor = "multi_thread")]
async fn every_call_is_a_span_in_one_tree_per_run() {
    let server = collector().await;
    let t = shouter().env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.uri());
    let (t, out) = run(t, &["run", "shouter", "hello"]).await;
    out.status(0);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("HELLO\n", ""));
    let spans = spans(&server).await;
    let names: Vec<&str> = {
        let mut n: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
        n.sort_unstable();
        n
    };
    assert_eq!(
        names,
        [
            "chat test",
            "chat test",
            "execute_tool shout",
            "invoke_agent shouter",
            "llm-do run"
        ]
    );
    let trace = &spans[0].trace;
    assert!(spans.iter().all(|s| &s.trace == trace), "{spans:#?}");
    assert!(spans.iter().all(|s| s.service == json!("llm-do")));

    let root = by_name(&spans, "llm-do run")[0];
    assert_eq!(root.parent, "");
    assert_eq!(
        root.attrs,
        BTreeMap::from([("openinference.span.kind".into(), json!("CHAIN"))])
    );
    let agent = by_name(&spans, "invoke_agent shouter")[0];
    assert_eq!(agent.parent, root.id);
    let tool = by_name(&spans, "execute_tool shout")[0];
    let chats = by_name(&spans, "chat test");
    for child in [tool, chats[0], chats[1]] {
        assert_eq!(child.parent, agent.id, "{child:#?}");
    }
    assert!(spans.iter().all(|s| s.status == 0), "{spans:#?}");

    // The run log's record of the worker's call: the same tokens as its span.
    let logged = t.run_with(&["logs", "--json", "-n", "5"]).status(0).json();
    let row = logged
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "shouter")
        .unwrap_or_else(|| panic!("no shouter row in {logged:#}"));
    let (tin, tout) = (
        row["tokens_in"].as_i64().unwrap(),
        row["tokens_out"].as_i64().unwrap(),
    );
    assert!(tin > 0 && tout > 0, "{row:#}");
    let tokens = |s: &Span, key: &str| s.attrs[key].as_i64().unwrap();
    assert_eq!(
        tokens(chats[0], "gen_ai.usage.input_tokens")
            + tokens(chats[1], "gen_ai.usage.input_tokens"),
        tin
    );
    assert_eq!(
        tokens(chats[0], "gen_ai.usage.output_tokens")
            + tokens(chats[1], "gen_ai.usage.output_tokens"),
        tout
    );
    let mut expected_agent = BTreeMap::from([
        ("gen_ai.operation.name".to_string(), json!("invoke_agent")),
        ("gen_ai.agent.name".into(), json!("shouter")),
        ("llm_do.name".into(), json!("shouter")),
        ("llm_do.kind".into(), json!("worker")),
        ("llm_do.depth".into(), json!(0)),
        ("openinference.span.kind".into(), json!("AGENT")),
        ("gen_ai.usage.input_tokens".into(), json!(tin)),
        ("gen_ai.usage.output_tokens".into(), json!(tout)),
        ("llm.token_count.prompt".into(), json!(tin)),
        ("llm.token_count.completion".into(), json!(tout)),
        ("llm.token_count.total".into(), json!(tin + tout)),
    ]);
    // Priced by `[prices.test]`.
    expected_agent.insert("llm_do.cost_usd".into(), json!((tin + 2 * tout) as f64));
    assert_eq!(agent.attrs, expected_agent);
    assert_eq!(
        agent.events,
        [(
            "llm_do.approval".to_string(),
            BTreeMap::from([
                ("llm_do.tool".to_string(), json!("shout")),
                ("llm_do.decision".into(), json!("approved")),
                ("llm_do.decided_by".into(), json!("default")),
            ])
        )]
    );
    assert_eq!(
        tool.attrs,
        BTreeMap::from([
            ("gen_ai.operation.name".to_string(), json!("execute_tool")),
            ("gen_ai.tool.name".into(), json!("shout")),
            ("llm_do.name".into(), json!("shout")),
            ("llm_do.kind".into(), json!("fn")),
            ("llm_do.depth".into(), json!(1)),
            ("openinference.span.kind".into(), json!("TOOL")),
        ])
    );
    // The first exchange asks for the tool, the second answers.
    let mut chats = chats;
    chats.sort_by_key(|s| s.attrs["llm_do.turn"].as_i64());
    for (chat, (turn, finish)) in chats.iter().zip([(0, "tool_calls"), (1, "stop")]) {
        let tin = tokens(chat, "gen_ai.usage.input_tokens");
        let tout = tokens(chat, "gen_ai.usage.output_tokens");
        assert_eq!(
            chat.attrs,
            BTreeMap::from([
                ("gen_ai.operation.name".to_string(), json!("chat")),
                ("gen_ai.provider.name".into(), json!("test")),
                ("gen_ai.request.model".into(), json!("test")),
                ("gen_ai.response.model".into(), json!("test")),
                ("gen_ai.response.finish_reasons".into(), json!([finish])),
                ("gen_ai.usage.input_tokens".into(), json!(tin)),
                ("gen_ai.usage.output_tokens".into(), json!(tout)),
                ("llm.token_count.prompt".into(), json!(tin)),
                ("llm.token_count.completion".into(), json!(tout)),
                ("llm.token_count.total".into(), json!(tin + tout)),
                ("llm.model_name".into(), json!("test")),
                ("llm.provider".into(), json!("test")),
                ("llm_do.name".into(), json!("shouter")),
                ("llm_do.turn".into(), json!(turn)),
                ("openinference.span.kind".into(), json!("LLM")),
            ]),
            "turn {turn}"
        );
    }
}

/// An incoming `TRACEPARENT` makes the run part of the surrounding trace: every span has its
/// trace id and the run's root span is a child of its span.
#[tokio::test(flavor = "multi_thread")]
async fn traceparent_links_the_run_into_the_surrounding_trace() {
    let server = collector().await;
    let t = shouter()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.uri())
        .env(
            "TRACEPARENT",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        );
    let (_t, out) = run(t, &["run", "shouter", "hi"]).await;
    out.status(0);
    let spans = spans(&server).await;
    assert_eq!(spans.len(), 5, "{spans:#?}");
    assert!(
        spans
            .iter()
            .all(|s| s.trace == "0af7651916cd43dd8448eb211c80319c"),
        "{spans:#?}"
    );
    let root = by_name(&spans, "llm-do run")[0];
    assert_eq!(root.parent, "b7ad6b7169203331");
}

/// `[otel] endpoint` and `service_name` in llm-do.toml turn export on without the
/// environment; a failing call's span has an error status. A script's root span is named
/// after it.
#[tokio::test(flavor = "multi_thread")]
async fn the_project_config_turns_export_on() {
    let server = collector().await;
    let t = Test::new()
        .config(&format!(
            "[otel]\nendpoint = \"{}/\"\nservice_name = \"triage-svc\"\n",
            server.uri()
        ))
        .script("lib", "fn boom() { throw \"boom\"; }\n")
        .file("main.rhai", "call(\"boom\", #{})");
    let (_t, out) = run(t, &["main.rhai"]).await;
    out.status(1);
    let spans = spans(&server).await;
    let names: Vec<(&str, i32, &Value)> = spans
        .iter()
        .map(|s| (s.name.as_str(), s.status, &s.service))
        .collect();
    assert_eq!(
        names,
        [
            ("execute_tool boom", 2, &json!("triage-svc")),
            ("llm-do main.rhai", 0, &json!("triage-svc"))
        ]
    );
}

/// Without an endpoint (or with `OTEL_SDK_DISABLED=true`) nothing is exported, and the run's
/// output is exactly the same.
#[tokio::test(flavor = "multi_thread")]
async fn without_an_endpoint_nothing_is_exported() {
    let server = collector().await;
    let off = shouter();
    let (_t, plain) = run(off, &["run", "shouter", "hello"]).await;
    let disabled = shouter()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.uri())
        .env("OTEL_SDK_DISABLED", "true");
    let (_t, disabled) = run(disabled, &["run", "shouter", "hello"]).await;
    for out in [&plain, &disabled] {
        out.status(0);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("HELLO\n", ""));
    }
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        0
    );
}

/// A collector that cannot be reached costs one warning on stderr, never the run.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_collector_warns_once_and_the_run_succeeds() {
    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let t = shouter().env(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        &format!("http://127.0.0.1:{port}"),
    );
    let (_t, out) = run(t, &["run", "shouter", "hello"]).await;
    out.status(0);
    assert_eq!(out.stdout, "HELLO\n");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0]
            .starts_with("llm-do: warning: cannot send traces to the OpenTelemetry collector (")
            && lines[0].ends_with("); the run goes on without them"),
        "{}",
        out.stderr
    );
}

/// Ctrl-C in the middle of a run: the spans of what ran, the interrupted call's (an error)
/// and the run's root still reach the collector before the process exits 130.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_run_still_exports_its_spans() {
    let server = collector().await;
    let t = shouter()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.uri())
        .file(
            "main.rhai",
            "call(\"shouter\", \"hi\");\nwrite_text(\"out/ready.txt\", \"1\");\ncall(\"sleep\", #{ms: 600000});\n",
        );
    let status = tokio::task::spawn_blocking(move || {
        let mut child = t
            .command(&["main.rhai"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn llm-do");
        let ready = t.path().join("out/ready.txt");
        // Polls for progress; gives up only after a very long time (never a timed assertion).
        for _ in 0..12_000 {
            if ready.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(ready.exists(), "the script never got to its sleep");
        // Give the write time to return and the sleep to start (as tests/interrupts.rs does).
        std::thread::sleep(std::time::Duration::from_millis(50));
        let kill = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(kill.success());
        child.wait().unwrap().code()
    })
    .await
    .unwrap();
    assert_eq!(status, Some(130));
    let spans = spans(&server).await;
    let mut names: Vec<(&str, i32)> = spans.iter().map(|s| (s.name.as_str(), s.status)).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            ("chat test", 0),
            ("chat test", 0),
            ("execute_tool shout", 0),
            ("execute_tool sleep", 2),
            ("invoke_agent shouter", 0),
            ("llm-do main.rhai", 0),
        ]
    );
    let root = by_name(&spans, "llm-do main.rhai")[0];
    assert_eq!(by_name(&spans, "execute_tool sleep")[0].parent, root.id);
}

/// A `[stabilize]` switch's calls are events of the span enclosing them (here the run's
/// root), saying which side served; the side that ran is a span of its own.
#[tokio::test(flavor = "multi_thread")]
async fn a_stabilize_switch_says_which_side_served() {
    let server = collector().await;
    let t = Test::new()
        .config("[stabilize]\ntriage = \"code\"\n")
        .fake_triage_worker()
        .script(
            "triage",
            "/// message: string\nfn triage(message) { if message == \"???\" { return defer(); } #{category: \"bug\"} }\n",
        )
        .file(
            "main.rhai",
            "[call(\"triage\", #{message: \"it crashes\"}).category, call(\"triage\", #{message: \"???\"}).category]",
        )
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.uri());
    let (_t, out) = run(t, &["main.rhai", "--json"]).await;
    out.status(0);
    assert_eq!(out.json(), json!(["bug", "bug"]));
    let spans = spans(&server).await;
    let root = by_name(&spans, "llm-do main.rhai")[0];
    let event = |served: &str, deferred: bool| {
        (
            "llm_do.stabilize".to_string(),
            BTreeMap::from([
                ("llm_do.name".to_string(), json!("triage")),
                ("llm_do.stabilize.mode".into(), json!("code")),
                ("llm_do.stabilize.served".into(), json!(served)),
                ("llm_do.stabilize.deferred".into(), json!(deferred)),
            ]),
        )
    };
    assert_eq!(root.events, [event("code", false), event("worker", true)]);
    // Both fn calls ran, and the worker answered the deferred one.
    let mut names: Vec<&str> = spans
        .iter()
        .filter(|s| s.parent == root.id)
        .map(|s| s.name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "execute_tool triage",
            "execute_tool triage",
            "invoke_agent triage"
        ]
    );
}

/// No secret reaches a collector: a provider error that echoes the API key is exported
/// redacted (as every error message is), and a call's input is not exported at all.
#[tokio::test(flavor = "multi_thread")]
async fn spans_carry_neither_keys_nor_inputs() {
    let key = "sk-otel-secret-7f3a9";
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error": {"message": format!("Incorrect API key provided: {key}")}
        })))
        .mount(&provider)
        .await;
    let server = collector().await;
    let t = Test::new()
        .config(&format!(
            "[providers.local]\nbase_url = \"{}/v1\"\napi_key_env = \"LOCAL_KEY\"\nwire = \"openai\"\n",
            provider.uri()
        ))
        .worker("w", "---\nmodel: local:m\n---\nSay hello.\n")
        .env("LOCAL_KEY", key)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &server.uri());
    let (_t, out) = run(t, &["run", "w", "my password is hunter2"]).await;
    out.status(1);
    let bodies: Vec<Vec<u8>> = server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert!(!bodies.is_empty());
    for body in &bodies {
        let text = String::from_utf8_lossy(body);
        assert!(!text.contains(key), "the key was exported: {text}");
        assert!(!text.contains("hunter2"), "the input was exported: {text}");
    }
    let spans = spans(&server).await;
    let chat = by_name(&spans, "chat m")[0];
    assert_eq!(chat.status, 2, "{chat:#?}");
    // The provider's message is there, with the key redacted.
    assert!(
        chat.status_message
            .contains("Incorrect API key provided: <redacted>"),
        "{chat:#?}"
    );
    assert_eq!(by_name(&spans, "invoke_agent w")[0].status, 2);
}

/// A malformed endpoint is a mistake in the setup, said before anything runs (exit 2), not a
/// collector that is down.
#[test]
fn a_malformed_endpoint_is_a_usage_error() {
    let out = shouter()
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318")
        .run_with(&["run", "shouter", "hello"]);
    out.status(2);
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        (
            "",
            "error: cannot set up OpenTelemetry export: invalid exporter configuration: endpoint: invalid endpoint 'localhost:4318/v1/traces': invalid format\n  hint: check OTEL_EXPORTER_OTLP_ENDPOINT or `[otel] endpoint` in llm-do.toml (docs/observability.md)\n"
        )
    );
}
