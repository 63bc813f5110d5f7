//! MCP servers as toolsets (`[mcp.NAME]` in `llm-do.toml`): the `McpClients` registry held by
//! the runtime. A server starts on first use (a stdio child process or a streamable HTTP
//! endpoint), its tool list is read once, and the connection is reused for the run. A server
//! that stops (crash, closed pipe) is dropped from the registry, so the next use restarts it.
//! Names: `mcp.NAME` (every tool), `mcp.NAME.tool` (one tool); the model sees `NAME_tool`.
//!
//! A stdio server runs in a process group of its own, killed whole when its connection goes
//! (exit, a call's timeout, a crash, Ctrl-C), so nothing it started outlives llm-do. Its
//! stderr is read as it comes and only its last [`STDERR_TAIL`] bytes kept (shown when it fails
//! to start or stops), so a server flooding stderr neither blocks nor fills memory. A message
//! from it over [`MAX_MESSAGE_BYTES`] ends the call at once with [`McpError::TooLarge`] and
//! stops the server, instead of being dropped while the call waits for its timeout.
//!
//! The values of a server's `headers_env` variables are secrets: when a server echoes them in
//! an error (a failed start, a protocol error, a result marked as an error), they are replaced
//! by `<redacted>` before llm-do keeps the text ([`secrets`]).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceError, ServiceExt};
use serde_json::Value;

use crate::config::McpServer;
use crate::model::http::redact_all;
use crate::tools::group::{ProcessGroup, put_in_own_group};

/// Prefix of every MCP name in toolsets, `call()` and approval rules.
pub const PREFIX: &str = "mcp.";

/// How long a server gets to exit after its connection is closed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a server gets to start and list its tools.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest message (one JSON-RPC line) llm-do reads from a stdio server: one byte under the
/// 16 MiB at which `rmcp` would drop the line silently.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024 - 1;

/// Bytes of a stdio server's stderr kept (its last ones) for error messages.
pub const STDERR_TAIL: usize = 2048;

/// Why an MCP server or one of its tools could not be used.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The name is not defined in `llm-do.toml`.
    #[error("unknown mcp server `{name}` (define it as `[mcp.{name}]` in `llm-do.toml`)")]
    UnknownServer { name: String },
    /// The process or endpoint could not be started or initialized.
    #[error("mcp server `{name}` failed to start: {message}")]
    Start { name: String, message: String },
    /// Listing its tools failed.
    #[error("mcp server `{name}` could not list its tools: {message}")]
    List { name: String, message: String },
    /// The server has no tool of that name.
    #[error("mcp server `{name}` has no tool `{tool}`; its tools are: {}", .available.join(", "))]
    UnknownTool {
        name: String,
        tool: String,
        available: Vec<String>,
    },
    /// The connection broke during a call (the server crashed or exited).
    #[error("mcp server `{name}` stopped while running `{tool}`: {message}")]
    Stopped {
        name: String,
        tool: String,
        message: String,
    },
    /// The server answered the call with a protocol error.
    #[error("mcp server `{name}` rejected the call of `{tool}`: {message}")]
    Rejected {
        name: String,
        tool: String,
        message: String,
    },
    /// The server sent a message over [`MAX_MESSAGE_BYTES`]: the call failed and the server
    /// was stopped (it restarts on its next use).
    #[error(
        "mcp server `{name}` answered `{tool}` with a message over {} MiB; the server was stopped",
        MAX_MESSAGE_BYTES.div_ceil(1024 * 1024)
    )]
    TooLarge { name: String, tool: String },
    /// `mcp.NAME.tool` expected.
    #[error("invalid mcp name `{0}`; use `mcp.SERVER.TOOL`")]
    BadName(String),
}

/// The secrets of a server that it could echo back: the value of each `headers_env` variable
/// as `env` reads it, and, for a value like `Bearer TOKEN`, the token alone too.
#[must_use]
pub fn secrets(config: &McpServer, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let mut out = Vec::new();
    for var in config.headers_env.values() {
        let Some(value) = env(var).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        if let Some((_, token)) = value.trim().rsplit_once(char::is_whitespace)
            && token.len() >= MIN_TOKEN_CHARS
        {
            out.push(token.to_owned());
        }
        out.push(value);
    }
    out
}

/// Shortest token scrubbed on its own when a header value has a scheme word before it.
const MIN_TOKEN_CHARS: usize = 8;

/// One tool of a server, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct McpTool {
    /// The server's own name for it.
    pub name: String,
    pub description: String,
    /// JSON Schema of its arguments.
    pub input_schema: Value,
}

/// The result of one tool call.
#[derive(Debug, Clone, PartialEq)]
pub struct McpOutput {
    /// Text content joined by newlines (structured content when there is no text).
    pub text: String,
    /// The server marked the result as an error.
    pub is_error: bool,
}

struct Conn {
    service: RunningService<RoleClient, ()>,
    tools: Vec<McpTool>,
    /// The process of a stdio server (`None` for HTTP).
    process: Option<ServerProcess>,
}

impl Conn {
    /// Kill the server's whole process group now (nothing to do for an HTTP server).
    fn kill(&self) {
        if let Some(p) = &self.process {
            p.kill();
        }
    }
}

/// A stdio server's process: its group (killed whole when this drops), the child itself, the
/// tail of its stderr and whether it sent an oversized message.
struct ServerProcess {
    /// Declared before `child`: the group is signalled before the leader can be reaped, so its
    /// id cannot have been reused.
    group: Mutex<ProcessGroup>,
    child: tokio::process::Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    oversized: Arc<AtomicBool>,
}

impl ServerProcess {
    /// Kill the whole group now (SIGKILL).
    fn kill(&self) {
        crate::sync::lock(&self.group).finish();
    }

    /// The last lines the server wrote to stderr, escaped for a terminal; empty when none.
    fn stderr_tail(&self) -> String {
        let tail = crate::sync::lock(&self.stderr);
        let text = String::from_utf8_lossy(&tail);
        let text = text.trim();
        if text.is_empty() {
            return String::new();
        }
        let shown = crate::output::escape(text, crate::output::Escaped::Text);
        format!(" (its stderr ended with: {shown})")
    }
}

/// A stdio server's stdout, failing the read once one line passes [`MAX_MESSAGE_BYTES`]
/// (and saying so in `over`): the connection then closes and the pending call fails at once.
struct Bounded<R> {
    inner: R,
    line: usize,
    over: Arc<AtomicBool>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Bounded<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        for &b in &buf.filled()[before..] {
            if b == b'\n' {
                this.line = 0;
            } else {
                this.line += 1;
            }
            if this.line > MAX_MESSAGE_BYTES {
                this.over.store(true, Ordering::Relaxed);
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "message over the size limit",
                )));
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Read `stderr` to its end, keeping only its last [`STDERR_TAIL`] bytes in `tail`.
async fn drain_stderr(mut stderr: tokio::process::ChildStderr, tail: Arc<Mutex<Vec<u8>>>) {
    let mut buf = vec![0u8; 8192];
    while let Ok(n) = stderr.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let mut t = crate::sync::lock(&tail);
        t.extend_from_slice(&buf[..n]);
        let excess = t.len().saturating_sub(STDERR_TAIL);
        t.drain(..excess);
    }
}

/// Started servers of this process, by name.
#[derive(Default)]
pub struct McpClients {
    conns: tokio::sync::Mutex<HashMap<String, Arc<Conn>>>,
}

impl std::fmt::Debug for McpClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpClients").finish_non_exhaustive()
    }
}

/// `mcp.NAME` → (`NAME`, None); `mcp.NAME.tool` → (`NAME`, Some(`tool`)); else `None`.
#[must_use]
pub fn parse_ref(name: &str) -> Option<(&str, Option<&str>)> {
    let rest = name.strip_prefix(PREFIX)?;
    match rest.split_once('.') {
        Some((server, tool)) if !server.is_empty() && !tool.is_empty() => {
            Some((server, Some(tool)))
        }
        Some(_) => None,
        None if rest.is_empty() => None,
        None => Some((rest, None)),
    }
}

/// The name a model sees for `tool` of `server`: `server_tool`, limited to the characters
/// and length every provider accepts.
#[must_use]
pub fn model_tool_name(server: &str, tool: &str) -> String {
    crate::model::wire::sanitized(&format!("{server}_{tool}"))
}

impl McpClients {
    /// The tools of server `name`, starting it when needed.
    ///
    /// # Errors
    ///
    /// [`McpError::Start`] or [`McpError::List`] naming the server.
    pub async fn tools(&self, name: &str, config: &McpServer) -> Result<Vec<McpTool>, McpError> {
        Ok(self.conn(name, config).await?.tools.clone())
    }

    /// Call `tool` of server `name` with JSON object `args`. Errors, and results the server
    /// marks as errors, are scrubbed of the server's secrets; a successful result is the
    /// server's answer as it is.
    ///
    /// # Errors
    ///
    /// A start failure, an unknown tool, a protocol error, or [`McpError::Stopped`] when the
    /// connection broke (the server is then restarted on its next use).
    pub async fn call(
        &self,
        name: &str,
        config: &McpServer,
        tool: &str,
        args: Value,
    ) -> Result<McpOutput, McpError> {
        let conn = self.conn(name, config).await?;
        if !conn.tools.iter().any(|t| t.name == tool) {
            return Err(McpError::UnknownTool {
                name: name.to_owned(),
                tool: tool.to_owned(),
                available: conn.tools.iter().map(|t| t.name.clone()).collect(),
            });
        }
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Value::Object(map) = args {
            params = params.with_arguments(map);
        }
        let secrets = secrets(config, &|var| std::env::var(var).ok());
        match conn.service.call_tool(params).await {
            Ok(result) => {
                let mut out = output(result);
                if out.is_error {
                    out.text = redact_all(&out.text, &secrets);
                }
                Ok(out)
            }
            Err(ServiceError::McpError(e)) => Err(McpError::Rejected {
                name: name.to_owned(),
                tool: tool.to_owned(),
                message: redact_all(&e.message, &secrets),
            }),
            Err(e) => {
                self.forget(name, &conn).await;
                conn.kill();
                let process = conn.process.as_ref();
                if process.is_some_and(|p| p.oversized.load(Ordering::Relaxed)) {
                    return Err(McpError::TooLarge {
                        name: name.to_owned(),
                        tool: tool.to_owned(),
                    });
                }
                let tail = process.map(ServerProcess::stderr_tail).unwrap_or_default();
                Err(McpError::Stopped {
                    name: name.to_owned(),
                    tool: tool.to_owned(),
                    message: redact_all(&format!("{e}{tail}"), &secrets),
                })
            }
        }
    }

    /// Close every started server, wait briefly for each to exit, then kill what is left of
    /// its process group (a server's own children included).
    pub async fn shutdown(&self) {
        let conns: Vec<Arc<Conn>> = self.conns.lock().await.drain().map(|(_, c)| c).collect();
        for conn in conns {
            match Arc::try_unwrap(conn) {
                Ok(mut conn) => {
                    let _ = conn.service.close_with_timeout(SHUTDOWN_TIMEOUT).await;
                    if let Some(p) = &mut conn.process {
                        let _ = tokio::time::timeout(SHUTDOWN_TIMEOUT, p.child.wait()).await;
                        p.kill();
                    }
                }
                // A call still holds it (it was cancelled): no waiting for it.
                Err(conn) => conn.kill(),
            }
        }
    }

    /// Stop server `name` now (a call to it timed out): its whole process group is killed and
    /// its next use starts it again.
    pub async fn stop(&self, name: &str) {
        if let Some(conn) = self.conns.lock().await.remove(name) {
            conn.kill();
        }
    }

    /// Whether any server was started (and not yet shut down).
    pub fn has_started(&self) -> bool {
        self.conns.try_lock().map_or(true, |c| !c.is_empty())
    }

    /// Drop every connection without waiting, killing each server's process group.
    pub fn drop_all(&self) {
        if let Ok(mut conns) = self.conns.try_lock() {
            conns.values().for_each(|conn| conn.kill());
            conns.clear();
        }
    }

    async fn forget(&self, name: &str, conn: &Arc<Conn>) {
        let mut conns = self.conns.lock().await;
        if conns.get(name).is_some_and(|c| Arc::ptr_eq(c, conn)) {
            conns.remove(name);
        }
    }

    async fn conn(&self, name: &str, config: &McpServer) -> Result<Arc<Conn>, McpError> {
        let mut conns = self.conns.lock().await;
        if let Some(c) = conns.get(name) {
            return Ok(c.clone());
        }
        let conn = tokio::time::timeout(START_TIMEOUT, start(name, config))
            .await
            .map_err(|_| McpError::Start {
                name: name.to_owned(),
                message: redact_all(
                    &format!(
                        "no answer within {} seconds; is `{}` an MCP server?",
                        START_TIMEOUT.as_secs(),
                        config
                            .command
                            .as_deref()
                            .or(config.url.as_deref())
                            .unwrap_or("it")
                    ),
                    &secrets(config, &|var| std::env::var(var).ok()),
                ),
            })??;
        let conn = Arc::new(conn);
        conns.insert(name.to_owned(), conn.clone());
        Ok(conn)
    }
}

/// Start server `name` and list its tools. What it says when that fails is scrubbed of its
/// secrets.
async fn start(name: &str, config: &McpServer) -> Result<Conn, McpError> {
    let secrets = secrets(config, &|var| std::env::var(var).ok());
    let fail = |message: String| McpError::Start {
        name: name.to_owned(),
        message: redact_all(&message, &secrets),
    };
    let (service, process) = match (&config.command, &config.url) {
        (Some(command), _) => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(&config.args)
                .envs(&config.env)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .kill_on_drop(true);
            put_in_own_group(&mut cmd);
            let mut child = cmd
                .spawn()
                .map_err(|e| fail(format!("cannot run `{command}`: {e}")))?;
            let (Some(stdin), Some(stdout), Some(stderr)) =
                (child.stdin.take(), child.stdout.take(), child.stderr.take())
            else {
                return Err(fail(format!("cannot talk to `{command}`")));
            };
            let process = ServerProcess {
                group: Mutex::new(ProcessGroup::of(&child)),
                child,
                stderr: Arc::default(),
                oversized: Arc::default(),
            };
            tokio::spawn(drain_stderr(stderr, process.stderr.clone()));
            let stdout = Bounded {
                inner: stdout,
                line: 0,
                over: process.oversized.clone(),
            };
            match ().serve((stdout, stdin)).await {
                Ok(service) => (service, Some(process)),
                Err(e) => {
                    process.kill();
                    return Err(fail(format!("{e}{}", process.stderr_tail())));
                }
            }
        }
        (None, Some(url)) => {
            let config = http_config(url, config, &|var| std::env::var(var).ok()).map_err(fail)?;
            let transport = rmcp::transport::StreamableHttpClientTransport::from_config(config);
            let service = ().serve(transport).await.map_err(|e| fail(e.to_string()))?;
            (service, None)
        }
        (None, None) => return Err(fail("it has neither `command` nor `url`".to_owned())),
    };
    let mut tools: Vec<McpTool> = service
        .list_all_tools()
        .await
        .map_err(|e| McpError::List {
            name: name.to_owned(),
            message: redact_all(&e.to_string(), &secrets),
        })?
        .into_iter()
        .map(|t| McpTool {
            name: t.name.to_string(),
            description: t.description.map(|d| d.to_string()).unwrap_or_default(),
            input_schema: Value::Object((*t.input_schema).clone()),
        })
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Conn {
        service,
        tools,
        process,
    })
}

/// The streamable HTTP settings of a server: its URL and headers read through `env`.
fn http_config(
    url: &str,
    config: &McpServer,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig, String> {
    use reqwest::header::{HeaderName, HeaderValue};
    let mut headers = HashMap::new();
    for (header, var) in &config.headers_env {
        let value = env(var).ok_or_else(|| {
            format!("environment variable `{var}` (for header `{header}`) is not set")
        })?;
        let header_name = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| format!("invalid header name `{header}`"))?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("the value of `{var}` is not a valid header value"))?;
        headers.insert(header_name, value);
    }
    Ok(
        rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
            url.to_owned(),
        )
        .custom_headers(headers),
    )
}

/// A call result as text: text blocks joined, other blocks as JSON, structured content when
/// nothing else was returned.
fn output(result: CallToolResult) -> McpOutput {
    let parts: Vec<String> = result
        .content
        .iter()
        .map(|block| match block {
            ContentBlock::Text(t) => t.text.clone(),
            other => serde_json::to_string(other).unwrap_or_default(),
        })
        .collect();
    let text = if parts.is_empty() {
        result
            .structured_content
            .map(|v| v.to_string())
            .unwrap_or_default()
    } else {
        parts.join("\n")
    };
    McpOutput {
        text,
        is_error: result.is_error.unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_refs() {
        assert_eq!(parse_ref("mcp.echo"), Some(("echo", None)));
        assert_eq!(parse_ref("mcp.echo.say"), Some(("echo", Some("say"))));
        assert_eq!(parse_ref("mcp.echo.a.b"), Some(("echo", Some("a.b"))));
        assert_eq!(parse_ref("mcp."), None);
        assert_eq!(parse_ref("mcp..x"), None);
        assert_eq!(parse_ref("mcp.echo."), None);
        assert_eq!(parse_ref("echo"), None);
    }

    #[test]
    fn model_names_are_provider_safe() {
        assert_eq!(model_tool_name("gh", "list-issues"), "gh_list-issues");
        assert_eq!(model_tool_name("fs", "read.file/x"), "fs_read_file_x");
        assert_eq!(model_tool_name("s", &"x".repeat(100)).len(), 64);
    }

    #[test]
    fn http_headers_come_from_the_environment() {
        let server = McpServer {
            url: Some("http://localhost:1/mcp".into()),
            headers_env: [("Authorization".to_owned(), "TOKEN".to_owned())].into(),
            ..McpServer::default()
        };
        let env = |var: &str| (var == "TOKEN").then(|| "Bearer x".to_owned());
        let c = http_config("http://localhost:1/mcp", &server, &env).unwrap();
        assert_eq!(&*c.uri, "http://localhost:1/mcp");
        let e = http_config("http://localhost:1/mcp", &server, &|_| None).unwrap_err();
        assert_eq!(
            e,
            "environment variable `TOKEN` (for header `Authorization`) is not set"
        );
    }

    #[test]
    fn errors_are_scrubbed_of_header_secrets() {
        let server = McpServer {
            url: Some("http://localhost:1/mcp".into()),
            headers_env: [
                ("Authorization".to_owned(), "TOKEN".to_owned()),
                ("X-Short".to_owned(), "SHORT".to_owned()),
            ]
            .into(),
            ..McpServer::default()
        };
        let env = |var: &str| match var {
            "TOKEN" => Some("Bearer ghp-SECRET-1234".to_owned()),
            "SHORT" => Some("abc".to_owned()),
            _ => None,
        };
        let secrets = secrets(&server, &env);
        assert_eq!(
            secrets,
            ["ghp-SECRET-1234", "Bearer ghp-SECRET-1234", "abc"]
        );
        let message = "bad token ghp-SECRET-1234 (header was `Bearer ghp-SECRET-1234`)";
        assert_eq!(
            redact_all(message, &secrets),
            "bad token <redacted> (header was `<redacted>`)"
        );
    }

    #[test]
    fn output_joins_text_and_keeps_error_flag() {
        let r = CallToolResult::error(vec![ContentBlock::text("a"), ContentBlock::text("b")]);
        assert_eq!(
            output(r),
            McpOutput {
                text: "a\nb".into(),
                is_error: true
            }
        );
    }
}
