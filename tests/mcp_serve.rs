//! `llm-do mcp serve` end to end: rmcp's client drives the real binary over the child's
//! stdio (listing tools, calling a fn, a worker with the test model, errors as tool errors,
//! approvals asked through elicitation, or denied for want of someone to ask), `--list` prints what a client sees, and
//! llm-do's own MCP client calls another project through it.

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ElicitRequestParams,
    ElicitResult, ElicitationAction, Implementation,
};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::util::{Test, tree};

const SUMMARISE: &str = "---\ndescription: Summarise a text.\ninput:\n  text: string\noutput:\n  summary: string\n---\nSummarise {{ text }}.\n";

const MATH: &str = "/// Double a number.\n/// n: integer - the number to double\nfn double(n) { n * 2 }\n\n/// The approval policy: never offered as a tool.\nfn approve(request) { () }\n";

/// A project with a worker (test model, structured output) and a fn.
fn project() -> Test {
    Test::new()
        .config("[defaults]\nmodel = \"test\"\n")
        .worker("summarise", SUMMARISE)
        .script("math", MATH)
}

/// `llm-do mcp serve` of `t` (with `extra` flags), connected as the client `test-agent`.
async fn connect(t: &Test, extra: &[&str]) -> RunningService<RoleClient, ClientConfig> {
    let mut args = vec!["mcp", "serve"];
    args.extend_from_slice(extra);
    let mut cmd = tokio::process::Command::from(t.command(&args));
    cmd.stderr(std::process::Stdio::null());
    let transport = rmcp::transport::TokioChildProcess::new(cmd).expect("spawn llm-do mcp serve");
    let client = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("test-agent", "1.0"),
    );
    client.serve(transport).await.expect("MCP handshake")
}

async fn call(
    client: &RunningService<RoleClient, ClientConfig>,
    name: &str,
    args: Value,
) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    client
        .call_tool(CallToolRequestParams::new(name.to_string()).with_arguments(args))
        .await
        .expect("tools/call")
}

fn text(result: &CallToolResult) -> String {
    let v = serde_json::to_value(result).unwrap();
    v["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_list_offers_workers_and_fns_with_their_schemas() {
    let t = project();
    let client = connect(&t, &[]).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let listed = serde_json::to_value(&tools).unwrap();
    assert_eq!(
        listed,
        json!([
            {
                "name": "summarise",
                "description": "Summarise a text.",
                "inputSchema": {
                    "type": "object",
                    "properties": {"text": {"type": "string"}},
                    "required": ["text"],
                    "additionalProperties": false
                },
                "outputSchema": {
                    "type": "object",
                    "properties": {"summary": {"type": "string"}},
                    "required": ["summary"],
                    "additionalProperties": false
                }
            },
            {
                "name": "double",
                "description": "Double a number.",
                "inputSchema": {
                    "type": "object",
                    "properties": {"n": {"type": "integer", "description": "the number to double"}},
                    "required": ["n"],
                    "additionalProperties": false
                }
            }
        ])
    );
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fn_call_returns_its_result_and_the_run_log_names_the_client() {
    let t = project();
    let client = connect(&t, &[]).await;
    let result = call(&client, "double", json!({"n": 21})).await;
    assert_eq!(result.is_error, Some(false));
    assert_eq!(text(&result), "42");
    assert_eq!(result.structured_content, None);
    client.cancel().await.unwrap();
    let runs = t.run_with(&["logs", "--runs"]);
    runs.status(0);
    let line = runs.stdout.trim_end();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert_eq!(line.split_whitespace().nth(2), Some("ok"), "{line}");
    assert!(
        line.ends_with("  llm-do mcp serve: test-agent called double"),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_with_output_gives_structured_content() {
    let t = project();
    let client = connect(&t, &[]).await;
    let result = call(&client, "summarise", json!({"text": "hello"})).await;
    assert_eq!(result.is_error, Some(false));
    assert_eq!(result.structured_content, Some(json!({"summary": "hello"})));
    assert_eq!(text(&result), "{\n  \"summary\": \"hello\"\n}");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_call_is_a_tool_error_with_the_cli_text() {
    let t = project();
    let cli = t.run_with(&["run", "double", "--input-json", r#"{"n": "x"}"#]);
    cli.status(1);
    let client = connect(&t, &[]).await;
    let result = call(&client, "double", json!({"n": "x"})).await;
    assert_eq!(result.is_error, Some(true));
    assert_eq!(
        text(&result),
        "error: bad arguments for `double`: argument `n` must be an integer, not a string (\"x\")\n  hint: `double` takes (`n`)"
    );
    assert_eq!(format!("{}\n", text(&result)), cli.stderr);
    // An unknown tool is a protocol error naming the nearest tool.
    let unknown = client
        .call_tool(CallToolRequestParams::new("doubel"))
        .await
        .unwrap_err();
    assert!(
        unknown
            .to_string()
            .contains("unknown tool `doubel` (did you mean `double`?)"),
        "{unknown}"
    );
    client.cancel().await.unwrap();
}

/// A message over the 16 MiB limit is answered under its id (rmcp's transport dropped it, and
/// the call waited forever), nothing of it runs, and the next call is served as usual.
#[tokio::test]
async fn an_oversized_message_is_refused_and_the_next_call_served() {
    let t = project();
    let client = connect(&t, &[]).await;
    let huge = "7".repeat(17 * 1024 * 1024);
    let request = client.call_tool(
        CallToolRequestParams::new("double")
            .with_arguments(json!({"n": huge}).as_object().unwrap().clone()),
    );
    let refused = tokio::time::timeout(std::time::Duration::from_secs(120), request)
        .await
        .expect("an answer to the oversized message")
        .unwrap_err()
        .to_string();
    let size = refused
        .split("message too large: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .unwrap_or_default()
        .to_string();
    assert!(
        size.parse::<usize>().unwrap() > 17 * 1024 * 1024,
        "{refused}"
    );
    assert_eq!(
        refused.split("message too large: ").nth(1).unwrap(),
        format!(
            "{size} bytes, over the limit of 16777216 bytes (16 MiB) on one message; nothing of it \
             was read. Pass large inputs as files in the project instead"
        ),
        "{refused}"
    );
    let result = call(&client, "double", json!({"n": 21})).await;
    assert_eq!(text(&result), "42");
    client.cancel().await.unwrap();
}

/// A scripted model that writes a file, then reports what the tool answered.
const WRITER_MODEL: &str = r#"
fn writer_model(request) {
    if request.turn == 0 {
        return #{tool_calls: [#{name: "write_file", args: #{path: "out.txt", content: "x"}}]};
    }
    `write result: ${request.messages[-1].tool_results[0].content}`
}
"#;

/// A project offering one worker that writes `out.txt` (which needs approval).
fn writer_project() -> Test {
    Test::new()
        .config("[serve]\nexpose = [\"writer\"]\n")
        .script("model", WRITER_MODEL)
        .worker(
            "writer",
            "---\nmodel: script:writer_model\ntoolsets: [fs]\n---\nWrite out.txt.\n",
        )
}

#[tokio::test(flavor = "multi_thread")]
async fn without_elicitation_an_approval_is_denied_with_how_to_allow_it() {
    let t = writer_project();
    let before = tree(t.path());
    let client = connect(&t, &["--no-log"]).await;
    let result = call(&client, "writer", json!({"input": "go"})).await;
    assert_eq!(result.is_error, Some(false));
    assert_eq!(
        text(&result),
        "write result: denied: `write_file` requires approval and `llm-do mcp serve` cannot ask the MCP client; start the server with `llm-do mcp serve --approve-all` or add an `[[approvals]]` rule in `llm-do.toml`, e.g. `tool = \"write_file\"` with `decision = \"approve\"`"
    );
    client.cancel().await.unwrap();
    assert_eq!(tree(t.path()), before);
    // `--approve-all` on the server lets it through.
    let client = connect(&t, &["--no-log", "--approve-all"]).await;
    let result = call(&client, "writer", json!({"input": "go"})).await;
    assert!(
        text(&result).starts_with("write result: wrote"),
        "{}",
        text(&result)
    );
    client.cancel().await.unwrap();
    assert_eq!(
        std::fs::read_to_string(t.path().join("out.txt")).unwrap(),
        "x"
    );
}

/// A client that answers every elicitation with `action` and keeps the questions.
#[derive(Clone)]
struct Answering {
    action: ElicitationAction,
    asked: Arc<Mutex<Vec<String>>>,
}

impl rmcp::ClientHandler for Answering {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_elicitation().build(),
            Implementation::new("asking-agent", "1.0"),
        )
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<ElicitResult, rmcp::ErrorData> {
        if let ElicitRequestParams::FormElicitationParams { message, .. } = request {
            self.asked.lock().unwrap().push(message);
        }
        Ok(ElicitResult::new(self.action.clone()))
    }
}

/// The approval question of the writer worker's `write_file` call.
const QUESTION: &str = "approval needed: `write_file`\n  called by: writer\n  arguments:\n    {\n      \"content\": \"x\",\n      \"path\": \"out.txt\"\n    }\nAccept to approve this call; decline to deny it.";

#[tokio::test(flavor = "multi_thread")]
async fn approvals_are_asked_of_a_client_that_elicits() {
    let t = writer_project();
    for (action, answer) in [
        (
            ElicitationAction::Decline,
            "write result: denied: declined by the MCP client's user",
        ),
        (
            ElicitationAction::Accept,
            "write result: wrote 1 bytes to `out.txt`",
        ),
    ] {
        let client = Answering {
            action,
            asked: Arc::default(),
        };
        let mut cmd = tokio::process::Command::from(t.command(&["mcp", "serve", "--no-log"]));
        cmd.stderr(std::process::Stdio::null());
        let transport = rmcp::transport::TokioChildProcess::new(cmd).unwrap();
        let running = client
            .clone()
            .serve(transport)
            .await
            .expect("MCP handshake");
        let Value::Object(args) = json!({"input": "go"}) else {
            unreachable!()
        };
        let result = running
            .call_tool(CallToolRequestParams::new("writer").with_arguments(args))
            .await
            .unwrap();
        assert_eq!(text(&result), answer);
        assert_eq!(*client.asked.lock().unwrap(), [QUESTION]);
        running.cancel().await.unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(t.path().join("out.txt")).unwrap(),
        "x"
    );
}

#[test]
fn list_prints_what_a_client_sees() {
    let t = project();
    let out = t.run_with(&["mcp", "serve", "--list"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "worker  summarise  Summarise a text.  workers/summarise.worker\n\
         fn      double     Double a number.   scripts/math.rhai:3\n"
    );
    assert_eq!(out.stderr, "");
    let json = t.run_with(&["mcp", "serve", "--list", "--json"]).json();
    let names: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["summarise", "double"]);
    assert_eq!(json[0]["outputSchema"]["required"], json!(["summary"]));
    let text = std::fs::read_to_string(crate::util::repo().join("docs/cli.schema.json")).unwrap();
    let mut schema: Value = serde_json::from_str(&text).unwrap();
    schema["$ref"] = json!("#/$defs/mcp_serve_list");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn expose_picks_the_names_and_a_stabilized_name_is_one_tool() {
    let t = project()
        .worker("double", "---\ninput:\n  n: integer\n---\nDouble {{ n }}.\n")
        .config("[defaults]\nmodel = \"test\"\n\n[stabilize]\ndouble = \"code\"\n\n[serve]\nexpose = [\"double\"]\n");
    let out = t.run_with(&["mcp", "serve", "--list"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "switch  double  Double a number.  llm-do.toml [stabilize]\n"
    );
    let bad = project().config("[serve]\nexpose = [\"sumarise\"]\n");
    let out = bad.run_with(&["mcp", "serve", "--list"]);
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: `[serve] expose` in llm-do.toml names `sumarise`, which is no worker, fn or `[stabilize]` name of the project\n  hint: did you mean `summarise`?\n"
    );
}

#[test]
fn llm_do_calls_another_project_through_its_server() {
    let served = project();
    let config = format!(
        "[mcp.other]\ncommand = {:?}\nargs = [\"mcp\", \"serve\", \"--no-log\", \"--project\", {:?}]\n",
        env!("CARGO_BIN_EXE_llm-do"),
        served.path().display().to_string()
    );
    let t = Test::new().config(&config);
    let out = t.run_with(&["run", "mcp.other.double", "--input-json", r#"{"n": 21}"#]);
    out.status(0);
    assert_eq!(out.stdout, "42\n");
}

#[test]
fn script_model_fns_are_not_offered_by_default() {
    let t = writer_project().config("");
    let out = t.run_with(&["mcp", "serve", "--list"]);
    out.status(0);
    assert_eq!(
        out.stdout,
        "worker  writer  Run the `writer` worker.  workers/writer.worker\n"
    );
}

/// Wait until `done` holds, checking every 20 ms; a safety net gives up after a minute.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `llm-do mcp serve` of `t` on stdio, after a raw client named `raw` has shaken hands and
/// sent `call`: the server and its stdin.
fn raw_client_calling(t: &Test, call: &str) -> (std::process::Child, std::process::ChildStdin) {
    use std::io::Write;
    let mut child = t
        .command(&["mcp", "serve"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for line in [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        call,
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    (child, stdin)
}

#[test]
fn a_clients_cancellation_cancels_the_call() {
    use std::io::Write;
    let t = Test::new().script(
        "wait",
        "/// Mark the start, then wait a minute.\nfn wait() { write_text(\"started\", \"1\"); sleep(60000); \"done\" }\n",
    );
    let (mut child, mut stdin) = raw_client_calling(
        &t,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"wait","arguments":{}}}"#,
    );
    wait_until("the call to start", || t.path().join("started").exists());
    let cancel = r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2}}"#;
    writeln!(stdin, "{cancel}").unwrap();
    // With the server still connected, the run ends, cancelled: interrupted, not `ok` a minute
    // on.
    let mut line = String::new();
    wait_until("the run to end", || {
        let runs = t.run_with(&["logs", "--runs"]);
        line = runs.stdout.trim_end().to_string();
        !line.is_empty() && line.split_whitespace().nth(2) != Some("unfinished")
    });
    assert_eq!(
        line.split_whitespace().nth(2),
        Some("interrupted"),
        "{line}"
    );
    assert!(
        line.ends_with("llm-do mcp serve: raw called wait"),
        "{line}"
    );
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// A client that keeps the progress notifications and counts `tools/list_changed`.
#[derive(Clone, Default)]
struct Watching {
    progress: Arc<Mutex<Vec<(f64, String)>>>,
    list_changed: Arc<Mutex<u32>>,
}

impl rmcp::ClientHandler for Watching {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("watching-agent", "1.0"),
        )
    }

    async fn on_progress(
        &self,
        params: rmcp::model::ProgressNotificationParam,
        _context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        let message = params.message.unwrap_or_default();
        self.progress
            .lock()
            .unwrap()
            .push((params.progress, message));
    }

    async fn on_tool_list_changed(&self, _context: rmcp::service::NotificationContext<RoleClient>) {
        *self.list_changed.lock().unwrap() += 1;
    }
}

async fn connect_watching(
    t: &Test,
    extra: &[&str],
) -> (Watching, RunningService<RoleClient, Watching>) {
    let mut args = vec!["mcp", "serve", "--no-log"];
    args.extend_from_slice(extra);
    let mut cmd = tokio::process::Command::from(t.command(&args));
    cmd.stderr(std::process::Stdio::null());
    let transport = rmcp::transport::TokioChildProcess::new(cmd).unwrap();
    let client = Watching::default();
    let running = client
        .clone()
        .serve(transport)
        .await
        .expect("MCP handshake");
    (client, running)
}

/// Wait (without blocking the async runtime) until `done` holds; gives up after a minute.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Edit `summarise`'s description to "Summarise a text briefly." and wait until `client` has
/// been told the tool list changed (its first `tools/list_changed`).
async fn brief_summarise(t: &Test, client: &Watching, what: &str) {
    std::fs::write(
        t.path().join("workers/summarise.worker"),
        SUMMARISE.replace("Summarise a text.", "Summarise a text briefly."),
    )
    .unwrap();
    wait_for(what, || *client.list_changed.lock().unwrap() == 1).await;
}

async fn names_and_descriptions(
    client: &RunningService<RoleClient, Watching>,
) -> Vec<(String, String)> {
    let tools = client.list_all_tools().await.expect("tools/list");
    tools
        .iter()
        .map(|t| {
            (
                t.name.to_string(),
                t.description.as_deref().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_project_changes_the_tool_list_and_tells_the_client() {
    let t = project();
    let (client, running) = connect_watching(&t, &[]).await;
    assert_eq!(
        names_and_descriptions(&running).await,
        [
            ("summarise".to_string(), "Summarise a text.".to_string()),
            ("double".to_string(), "Double a number.".to_string()),
        ]
    );
    // An edited worker description.
    brief_summarise(&t, &client, "tools/list_changed").await;
    assert_eq!(
        names_and_descriptions(&running).await,
        [
            (
                "summarise".to_string(),
                "Summarise a text briefly.".to_string()
            ),
            ("double".to_string(), "Double a number.".to_string()),
        ]
    );
    // A new fn in a new script is offered and callable.
    std::fs::write(
        t.path().join("scripts/more.rhai"),
        "/// Add one.\nfn inc(n) { n + 1 }\n",
    )
    .unwrap();
    wait_for("a second tools/list_changed", || {
        *client.list_changed.lock().unwrap() == 2
    })
    .await;
    let names: Vec<String> = names_and_descriptions(&running)
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["summarise", "double", "inc"]);
    let Value::Object(args) = json!({"n": 1}) else {
        unreachable!()
    };
    let result = running
        .call_tool(CallToolRequestParams::new("inc").with_arguments(args))
        .await
        .unwrap();
    assert_eq!(text(&result), "2");
    // An editor's broken intermediate save, then the fixed file exposing one name: the list
    // narrows to it.
    std::fs::write(t.path().join("llm-do.toml"), "[defaults\n").unwrap();
    std::fs::write(
        t.path().join("llm-do.toml"),
        "[defaults]\nmodel = \"test\"\n\n[serve]\nexpose = [\"inc\"]\n",
    )
    .unwrap();
    wait_for("a third tools/list_changed", || {
        *client.list_changed.lock().unwrap() == 3
    })
    .await;
    assert_eq!(
        names_and_descriptions(&running).await,
        [("inc".to_string(), "Add one.".to_string())]
    );
    running.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_with_a_progress_token_reports_each_finished_step() {
    let t = writer_project();
    let (client, running) = connect_watching(&t, &["--approve-all"]).await;
    // rmcp's client sends a `progressToken` with every request.
    let Value::Object(args) = json!({"input": "go"}) else {
        unreachable!()
    };
    let params = CallToolRequestParams::new("writer").with_arguments(args);
    let result = running.call_tool(params).await.unwrap();
    assert_eq!(text(&result), "write result: wrote 1 bytes to `out.txt`");
    let expected = [
        (
            1.0,
            "`writer` got an answer from `script:writer_model`".to_string(),
        ),
        (2.0, "`write_file` finished".to_string()),
        (
            3.0,
            "`writer` got an answer from `script:writer_model`".to_string(),
        ),
    ];
    wait_for("the progress notifications", || {
        client.progress.lock().unwrap().len() >= expected.len()
    })
    .await;
    // The server numbers the steps in the order they finish; rmcp's client may hand the
    // notifications to its handler in another order, so they are compared by number.
    let mut got = client.progress.lock().unwrap().clone();
    got.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(got, expected);
    running.cancel().await.unwrap();
}

/// `llm-do mcp serve --http 127.0.0.1:0` of `t`, and the URL it says it listens on.
fn serve_http(t: &Test) -> (std::process::Child, String) {
    serve_http_with(t, &["--no-log"])
}

/// [`serve_http`] with `extra` flags.
fn serve_http_with(t: &Test, extra: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut args = vec!["mcp", "serve", "--http", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let mut child = t
        .command(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("llm-do mcp serve: listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_string();
    (child, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn over_http_tools_are_listed_called_and_reloaded() {
    let t = project();
    let (mut child, url) = serve_http(&t);
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );
    let client = Watching::default();
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.as_str());
    let running = client
        .clone()
        .serve(transport)
        .await
        .expect("MCP handshake over HTTP");
    assert_eq!(
        names_and_descriptions(&running).await,
        [
            ("summarise".to_string(), "Summarise a text.".to_string()),
            ("double".to_string(), "Double a number.".to_string()),
        ]
    );
    let Value::Object(args) = json!({"n": 21}) else {
        unreachable!()
    };
    let result = running
        .call_tool(CallToolRequestParams::new("double").with_arguments(args))
        .await
        .unwrap();
    assert_eq!(text(&result), "42");
    let Value::Object(args) = json!({"text": "hello"}) else {
        unreachable!()
    };
    let result = running
        .call_tool(CallToolRequestParams::new("summarise").with_arguments(args))
        .await
        .unwrap();
    assert!(result.structured_content.is_some(), "{result:?}");
    brief_summarise(&t, &client, "tools/list_changed over HTTP").await;
    assert_eq!(
        names_and_descriptions(&running).await[0],
        (
            "summarise".to_string(),
            "Summarise a text briefly.".to_string()
        )
    );
    running.cancel().await.unwrap();
    // SIGTERM stops the server cleanly.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn http_on_a_non_loopback_address_is_refused_without_the_flag() {
    let t = project();
    let out = t.run_with(&["mcp", "serve", "--http", "0.0.0.0:8765"]);
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: `--http 0.0.0.0:8765` would let anyone who can reach that address call the project's workers and fns, without a login\n  hint: serve on loopback (`--http 127.0.0.1:8765`), or add `--http-allow-remote` behind a proxy that authenticates\n"
    );
}

#[test]
fn llm_do_calls_another_project_served_over_http() {
    let served = project();
    let (mut child, url) = serve_http(&served);
    let t = Test::new().config(&format!("[mcp.other]\nurl = {url:?}\n"));
    let out = t.run_with(&["run", "mcp.other.double", "--input-json", r#"{"n": 21}"#]);
    child.kill().unwrap();
    child.wait().unwrap();
    out.status(0);
    assert_eq!(out.stdout, "42\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_project_that_stops_loading_keeps_the_last_good_tool_list() {
    use tokio::io::AsyncBufReadExt;
    let t = project();
    let mut cmd = tokio::process::Command::from(t.command(&["mcp", "serve", "--no-log"]));
    cmd.stderr(std::process::Stdio::piped());
    let (transport, stderr) = rmcp::transport::TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = Watching::default();
    let running = client
        .clone()
        .serve(transport)
        .await
        .expect("MCP handshake");
    std::fs::write(t.path().join("llm-do.toml"), "[defaults\n").unwrap();
    let mut lines = tokio::io::BufReader::new(stderr.unwrap()).lines();
    let mut said = Vec::new();
    while said.len() < 2 {
        said.push(lines.next_line().await.unwrap().expect("a line on stderr"));
    }
    assert_eq!(
        said[0],
        "the project no longer loads after editing llm-do.toml; the tool list stays as it was:"
    );
    assert_eq!(said[1], "  x invalid TOML: unclosed table, expected `]`");
    let names: Vec<String> = names_and_descriptions(&running)
        .await
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(names, ["summarise", "double"]);
    assert_eq!(*client.list_changed.lock().unwrap(), 0);
    running.cancel().await.unwrap();
}

/// Over HTTP, a client that closes its connection in the middle of a call, without sending
/// `notifications/cancelled`, cancels the call: its run ends interrupted at once, not when
/// the call would have finished a minute later.
#[tokio::test(flavor = "multi_thread")]
async fn over_http_a_client_that_goes_away_cancels_its_call() {
    let t = Test::new().script(
        "wait",
        "/// Mark the start, then wait a minute.\nfn wait() { write_text(\"started\", \"1\"); sleep(60000); \"done\" }\n",
    );
    let (mut child, url) = serve_http_with(&t, &[]);
    let client = RawHttp::new(&url);
    let session = client.initialize().await;
    let initialized = client
        .post(
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            Some(&session),
        )
        .await;
    assert_eq!(initialized.status(), 202);
    let call = client
        .post(
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"wait","arguments":{}}}"#,
            Some(&session),
        )
        .await;
    let started = t.path().join("started");
    wait_for("the call to start", || started.exists()).await;
    // The client goes away: its response (and with it the connection) is dropped.
    drop(call);
    drop(client);
    let mut line = String::new();
    wait_for("the run to end", || {
        let runs = t.run_with(&["logs", "--runs"]);
        line = runs.stdout.trim_end().to_string();
        !line.is_empty() && line.split_whitespace().nth(2) != Some("unfinished")
    })
    .await;
    assert_eq!(
        line.split_whitespace().nth(2),
        Some("interrupted"),
        "{line}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The pids of processes whose command line is `argv`.
fn processes(argv: &[&str]) -> Vec<u32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            (std::fs::read(e.path().join("cmdline")).ok()? == want).then_some(pid)
        })
        .collect()
}

/// A stdio client that goes away in the middle of a call (its end of stdin closes) leaves no
/// process behind: the server cancels the call, its shell child is stopped, and it exits.
#[test]
fn a_stdio_client_that_goes_away_leaves_no_process_behind() {
    // A sleep no other test runs, so that its processes are this test's.
    let sleep = ["sleep", "4171"];
    let t = Test::new()
        .config("[shell]\nallow = [{ prefix = \"sleep 4171\", approval = false }]\n")
        .worker(
            "sleeper",
            "---\nmodel: script:sleeper_model\ntoolsets: [shell]\n---\nSleep.\n",
        )
        .script(
            "model",
            "fn sleeper_model(request) {\n    if request.turn == 0 {\n        return #{tool_calls: [#{name: \"shell\", args: #{command: \"sleep 4171\", timeout: 300}}]};\n    }\n    \"slept\"\n}\n",
        );
    let (mut child, stdin) = raw_client_calling(
        &t,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleeper","arguments":{"input":"go"}}}"#,
    );
    wait_until("the shell child to start", || !processes(&sleep).is_empty());
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    wait_until("the shell child to stop", || processes(&sleep).is_empty());
    let runs = t.run_with(&["logs", "--runs"]);
    assert_eq!(
        runs.stdout.split_whitespace().nth(2),
        Some("interrupted"),
        "{}",
        runs.stdout
    );
}

/// Over HTTP, a client ending its session with `DELETE` gets `204 No Content` (what the MCP
/// SDKs take as success; rmcp's own 202 made the Python SDK log a failed termination), and the
/// session is gone.
#[tokio::test(flavor = "multi_thread")]
async fn over_http_ending_a_session_answers_204_and_ends_it() {
    let t = project();
    let (mut child, url) = serve_http(&t);
    let client = RawHttp::new(&url);
    let session = client.initialize().await;
    let ended = client
        .http
        .delete(&url)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 204);
    let after = client
        .post(
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            Some(&session),
        )
        .await;
    assert_eq!(after.status(), 404);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A client of `mcp serve --http` speaking raw JSON-RPC over HTTP, for what an SDK client
/// does not do (going away mid-call, ending its session).
struct RawHttp {
    http: reqwest::Client,
    url: String,
}

impl RawHttp {
    fn new(url: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.to_string(),
        }
    }

    /// POST `body`, in `session` when given.
    async fn post(&self, body: &str, session: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body.to_string());
        if let Some(session) = session {
            req = req.header("mcp-session-id", session);
        }
        req.send().await.unwrap()
    }

    /// Shake hands as the client `raw`; the session id.
    async fn initialize(&self) -> String {
        let init = self
            .post(
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
                None,
            )
            .await;
        let session = init.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_string();
        init.text().await.unwrap();
        session
    }
}
