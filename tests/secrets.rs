//! Secrets: an API key never reaches stdout, stderr (errors, `-v` trees, `-vvv` bodies), trace
//! files or cassettes, even when the server echoes the whole request, auth header included,
//! back in its error.

use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::util::{Run, Test};

const KEY: &str = "sk-test-SECRET-123";

/// Answers every request with `status` and a body quoting the request's headers and body,
/// as a JSON error (`json`) or as plain text.
struct Echo {
    status: u16,
    json: bool,
}

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("?")))
            .collect();
        let echo = format!(
            "Incorrect API key provided: {KEY}. You sent {} with {}",
            headers.join(", "),
            String::from_utf8_lossy(&request.body)
        );
        let template = ResponseTemplate::new(self.status);
        if self.json {
            template.set_body_json(
                serde_json::json!({"error": {"message": echo, "type": "invalid_request_error"}}),
            )
        } else {
            template.set_body_string(echo)
        }
    }
}

/// How the key reaches the provider in one case.
#[derive(Clone, Copy, Debug)]
enum Setup {
    /// `openai:` with `OPENAI_API_KEY` and `OPENAI_BASE_URL`.
    OpenAiEnv,
    /// `[providers.local]` with `api_key_env` on the OpenAI wire.
    NamedOpenAi,
    /// `[providers.claude]` with `api_key_env` on the Anthropic wire.
    NamedAnthropic,
}

fn project(setup: Setup, base: &str) -> (Test, &'static str) {
    let t = Test::new()
        .env("LLM_DO_RETRY_BASE_MS", "1")
        .worker("w", "---\n---\nSay hi.\n")
        .file("main.rhai", "call(\"w\", \"hello\")\n");
    match setup {
        Setup::OpenAiEnv => (
            t.env("OPENAI_API_KEY", KEY)
                .env("OPENAI_BASE_URL", &format!("{base}/v1")),
            "openai:gpt-test",
        ),
        Setup::NamedOpenAi => (
            t.env("LOCAL_KEY", KEY).config(&format!(
                "[providers.local]\nbase_url = \"{base}/v1\"\napi_key_env = \"LOCAL_KEY\"\nwire = \"openai\"\n"
            )),
            "local:m",
        ),
        Setup::NamedAnthropic => (
            t.env("CLAUDE_KEY", KEY).config(&format!(
                "[providers.claude]\nbase_url = \"{base}\"\napi_key_env = \"CLAUDE_KEY\"\nwire = \"anthropic\"\n"
            )),
            "claude:c",
        ),
    }
}

#[track_caller]
fn assert_hidden(out: &Run, context: &str) {
    assert_ne!(out.status, 0, "{context}");
    assert!(
        !out.stderr.contains("panicked"),
        "{context}: {}",
        out.stderr
    );
    assert!(
        !out.stdout.contains(KEY),
        "{context}: key on stdout:\n{}",
        out.stdout
    );
    assert!(
        !out.stderr.contains(KEY),
        "{context}: key on stderr:\n{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_never_appear_in_output_whatever_the_server_echoes() {
    let setups = [Setup::OpenAiEnv, Setup::NamedOpenAi, Setup::NamedAnthropic];
    let responses = [
        (401, true),
        (400, true),
        (500, true),
        (400, false),
        (200, false),
        (200, true),
    ];
    for setup in setups {
        for (status, json) in responses {
            let server = MockServer::start().await;
            Mock::given(wiremock::matchers::any())
                .respond_with(Echo { status, json })
                .mount(&server)
                .await;
            let (t, model) = project(setup, &server.uri());
            for verbosity in ["-q", "-v", "-vvv"] {
                let args = [
                    "main.rhai",
                    "--model",
                    model,
                    verbosity,
                    "--trace",
                    "trace.jsonl",
                    "--record",
                    "cassette.json",
                ];
                let t = &t;
                let out = tokio::task::block_in_place(|| t.run_with(&args));
                let context = format!("{setup:?} {status} json={json} {verbosity}");
                assert_hidden(&out, &context);
                for file in [
                    "trace.jsonl",
                    "cassette.json",
                    ".llm-do/log.db",
                    ".llm-do/log.db-wal",
                ] {
                    let bytes = std::fs::read(t.path().join(file)).unwrap_or_default();
                    let text = String::from_utf8_lossy(&bytes);
                    assert!(!text.contains(KEY), "{context}: key in {file}:\n{text}");
                    if file == "trace.jsonl" {
                        assert!(!text.is_empty(), "{context}: no trace written");
                    }
                }
            }
            let sent = server.received_requests().await.unwrap();
            let auth: Vec<String> = sent[0]
                .headers
                .iter()
                .map(|(_, v)| v.to_str().unwrap_or_default().to_owned())
                .collect();
            assert!(
                auth.iter().any(|v| v.contains(KEY)),
                "the key was sent, so the test is not vacuous: {auth:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_failures_name_the_variable_to_fix() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Echo {
            status: 401,
            json: true,
        })
        .mount(&server)
        .await;
    let (t, model) = project(Setup::NamedOpenAi, &server.uri());
    let out = tokio::task::block_in_place(|| t.run_with(&["main.rhai", "--model", model]));
    out.status(1);
    assert!(
        out.stderr.contains("check the API key in `LOCAL_KEY`")
            && out.stderr.contains("<redacted>"),
        "{}",
        out.stderr
    );
}

/// An MCP server over streamable HTTP that refuses every request with a JSON-RPC error quoting
/// the `Authorization` header it received.
fn echoing_mcp_error(req: &Request) -> ResponseTemplate {
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
    let Some(id) = body.get("id").cloned() else {
        return ResponseTemplate::new(202);
    };
    let auth = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(none)")
        .to_owned();
    let message = format!(
        "invalid credentials `{auth}` (token {})",
        auth.trim_start_matches("Bearer ")
    );
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "jsonrpc": "2.0", "id": id, "error": {"code": -32001, "message": message}
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_header_secrets_echoed_in_errors_are_scrubbed() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(echoing_mcp_error)
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(405))
        .mount(&server)
        .await;
    let cfg = format!(
        "[mcp.remote]\nurl = \"{}/mcp\"\nheaders_env = {{ Authorization = \"REMOTE_AUTH\" }}\n",
        server.uri()
    );
    let t = Test::new()
        .config(&cfg)
        .env("REMOTE_AUTH", &format!("Bearer {KEY}"))
        .script("main", "print(call(\"mcp.remote.whoami\", #{}));\n");
    for verbosity in ["-q", "-vvv"] {
        let out = tokio::task::block_in_place(|| t.run_with(&["scripts/main.rhai", verbosity]));
        assert_hidden(&out, verbosity);
        assert!(
            unwrapped(&out.stderr).contains(&unwrapped(
                "invalid credentials `<redacted>` (token <redacted>)"
            )),
            "{}",
            out.stderr
        );
    }
    let sent = server.received_requests().await.unwrap();
    assert!(
        sent.iter().any(|r| r
            .headers
            .get("authorization")
            .is_some_and(|v| v.to_str().unwrap_or_default().contains(KEY))),
        "the secret was sent, so the test is not vacuous"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_do_not_follow_redirects_to_another_origin() {
    let other = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Echo {
            status: 200,
            json: false,
        })
        .mount(&other)
        .await;
    let first = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/v1/messages", other.uri()).as_str()),
        )
        .mount(&first)
        .await;
    for setup in [Setup::NamedAnthropic, Setup::NamedOpenAi, Setup::OpenAiEnv] {
        let (t, model) = project(setup, &first.uri());
        let out =
            tokio::task::block_in_place(|| t.run_with(&["main.rhai", "--model", model, "-vvv"]));
        assert_hidden(&out, &format!("{setup:?}"));
        assert!(
            unwrapped(&out.stderr).contains(&unwrapped(
                "llm-do does not follow redirects across origins"
            )),
            "{}",
            out.stderr
        );
    }
    let leaked = other.received_requests().await.unwrap();
    assert!(
        leaked.is_empty(),
        "a request reached the other origin: {leaked:?}"
    );
    assert_eq!(first.received_requests().await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn same_origin_redirects_are_followed() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::path("/old/chat/completions"))
        .respond_with(ResponseTemplate::new(308).insert_header("location", "/v1/chat/completions"))
        .mount(&server)
        .await;
    Mock::given(wiremock::matchers::path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "choices": [{"message": {"role": "assistant", "content": "hi there"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2}
        })))
        .mount(&server)
        .await;
    let t = Test::new()
        .worker("w", "---\n---\nSay hi.\n")
        .file("main.rhai", "call(\"w\", \"hello\")\n")
        .env("LOCAL_KEY", KEY)
        .config(&format!(
            "[providers.local]\nbase_url = \"{}/old\"\napi_key_env = \"LOCAL_KEY\"\nwire = \"openai\"\n",
            server.uri()
        ));
    let out = tokio::task::block_in_place(|| t.run_with(&["main.rhai", "--model", "local:m"]));
    out.status(0);
    assert_eq!(out.stdout, "hi there\n");
}

#[test]
fn a_key_in_the_base_url_never_shows_and_the_url_shows_once() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // nothing listens there now: a connection error
    let t = Test::new()
        .env("LLM_DO_RETRY_ATTEMPTS", "1")
        .worker("w", "---\n---\nSay hi.\n")
        .file("main.rhai", "call(\"w\", \"hello\")\n")
        .config(&format!(
            "[providers.local]\nbase_url = \"http://user:{KEY}@127.0.0.1:{port}/v1\"\nwire = \"openai\"\n"
        ));
    for verbosity in ["-q", "-vvv"] {
        let out = t.run_with(&["main.rhai", "--model", "local:m", verbosity]);
        assert_hidden(&out, verbosity);
        let shown = format!("http://<redacted>@127.0.0.1:{port}/v1/chat/completions");
        let stderr = unwrapped(&out.stderr);
        assert!(stderr.contains(&unwrapped(&shown)), "{}", out.stderr);
        if verbosity == "-q" {
            assert_eq!(stderr.matches("127.0.0.1").count(), 1, "{}", out.stderr);
        }
    }
}

/// `text` without whitespace and miette's `|` gutters, so a message wrapped across lines of a
/// diagnostic can be searched for.
fn unwrapped(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect()
}

/// Issue 29: a cloned project's `[shell] env` cannot hand a key to a model's `printenv`,
/// whichever way the key is declared: a `*_API_KEY` variable, a provider of the project, or a
/// provider of the user's own config (the project cannot see that file, but it could guess the
/// variable's name). Each is refused when the project loads, pointing at the entry.
#[test]
fn shell_env_never_passes_a_key_from_any_source() {
    let model = "fn hostile(request) {\n  if request.turn == 0 { return #{tool_calls: [#{name: \"shell\", args: #{command: \"printenv VAR\"}}]}; }\n  request.messages[-1].tool_results[0].content\n}\n";
    let provider = |var: &str| {
        format!(
            "[providers.corp]\nbase_url = \"http://127.0.0.1:9/v1\"\nwire = \"openai\"\napi_key_env = \"{var}\"\n"
        )
    };
    let cases = [
        ("OPENAI_API_KEY", "", "", "a provider key"),
        (
            "CORP_TOKEN",
            &*provider("CORP_TOKEN"),
            "",
            "the API key of provider `corp`",
        ),
        (
            "CORP_TOKEN",
            "",
            &*provider("CORP_TOKEN"),
            "the API key of provider `corp`",
        ),
    ];
    for (var, project_extra, user_config, why) in cases {
        let t = Test::new()
            .worker("h", "---\nmodel: script:hostile\ntoolsets: [shell]\n---\nGo.\n")
            .script("model", &model.replace("VAR", var))
            .config(&format!(
                "[shell]\nallow = [{{ prefix = \"printenv\", approval = false }}]\nenv = [\"{var}\"]\n{project_extra}"
            ))
            .file("home/config.toml", user_config)
            .env(var, KEY);
        let config = t.path().join("home/config.toml");
        let t = t.env("LLM_DO_CONFIG", config.to_str().unwrap());
        let out = t.run_with(&["run", "h", "go"]);
        assert_eq!(out.stdout, "", "{var}: {why}");
        assert!(!out.stderr.contains(KEY), "{}", out.stderr);
        out.status(2);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(
            lines[..2],
            [
                &*format!("  x `[shell] env` must not pass `{var}` to commands: it is {why}"),
                "   ,-[llm-do.toml:3:8]"
            ],
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains("help: shell commands run with arguments a model chose; keep secrets"),
            "{}",
            out.stderr
        );
    }
}
