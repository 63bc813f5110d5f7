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
                for file in ["trace.jsonl", "cassette.json"] {
                    let text = std::fs::read_to_string(t.path().join(file)).unwrap_or_default();
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
