//! MCP servers as toolsets (`[mcp.NAME]` in `llm-do.toml`): the `McpClients` registry held by
//! the runtime. A server starts on first use (a stdio child process or a streamable HTTP
//! endpoint), its tool list is read once, and the connection is reused for the run. A server
//! that stops (crash, closed pipe) is dropped from the registry, so the next use restarts it.
//! Names: `mcp.NAME` (every tool), `mcp.NAME.tool` (one tool); the model sees `NAME_tool`.
//!
//! The values of a server's `headers_env` variables are secrets: when a server echoes them in
//! an error (a failed start, a protocol error, a result marked as an error), they are replaced
//! by `<redacted>` before llm-do keeps the text ([`secrets`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceError, ServiceExt};
use serde_json::Value;

use crate::config::McpServer;
use crate::model::http::redact_all;

/// Prefix of every MCP name in toolsets, `call()` and approval rules.
pub const PREFIX: &str = "mcp.";

/// How long a server gets to exit after its connection is closed.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a server gets to start and list its tools.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest tool name providers accept.
const MAX_TOOL_NAME: usize = 64;

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
    /// `mcp.NAME.tool` expected.
    #[error("invalid mcp name `{0}`; use `mcp.SERVER.TOOL`")]
    BadName(String),
}

impl McpError {
    /// The error with each of `secrets` in its messages replaced by `<redacted>`.
    #[must_use]
    pub fn scrubbed(mut self, secrets: &[String]) -> Self {
        if let McpError::Start { message, .. }
        | McpError::List { message, .. }
        | McpError::Stopped { message, .. }
        | McpError::Rejected { message, .. } = &mut self
        {
            *message = redact_all(message, secrets);
        }
        self
    }
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
    format!("{server}_{tool}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_TOOL_NAME)
        .collect()
}

impl McpClients {
    /// The tools of server `name`, starting it when needed.
    ///
    /// # Errors
    ///
    /// [`McpError::Start`] or [`McpError::List`] naming the server.
    pub async fn tools(&self, name: &str, config: &McpServer) -> Result<Vec<McpTool>, McpError> {
        match self.conn(name, config).await {
            Ok(conn) => Ok(conn.tools.clone()),
            Err(e) => Err(e.scrubbed(&secrets(config, &|var| std::env::var(var).ok()))),
        }
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
        let secrets = secrets(config, &|var| std::env::var(var).ok());
        match self.call_raw(name, config, tool, args).await {
            Ok(out) if out.is_error => Ok(McpOutput {
                text: redact_all(&out.text, &secrets),
                is_error: true,
            }),
            Ok(out) => Ok(out),
            Err(e) => Err(e.scrubbed(&secrets)),
        }
    }

    async fn call_raw(
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
        match conn.service.call_tool(params).await {
            Ok(result) => Ok(output(result)),
            Err(ServiceError::McpError(e)) => Err(McpError::Rejected {
                name: name.to_owned(),
                tool: tool.to_owned(),
                message: e.message.to_string(),
            }),
            Err(e) => {
                self.forget(name, &conn).await;
                Err(McpError::Stopped {
                    name: name.to_owned(),
                    tool: tool.to_owned(),
                    message: e.to_string(),
                })
            }
        }
    }

    /// Close every started server and wait briefly for each to exit.
    pub async fn shutdown(&self) {
        let conns: Vec<Arc<Conn>> = self.conns.lock().await.drain().map(|(_, c)| c).collect();
        for conn in conns {
            if let Ok(mut conn) = Arc::try_unwrap(conn) {
                let _ = conn.service.close_with_timeout(SHUTDOWN_TIMEOUT).await;
            }
        }
    }

    /// Whether any server was started (and not yet shut down).
    pub fn has_started(&self) -> bool {
        self.conns.try_lock().map_or(true, |c| !c.is_empty())
    }

    /// Drop every connection without waiting (each closes in the background).
    pub fn drop_all(&self) {
        if let Ok(mut conns) = self.conns.try_lock() {
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
                message: format!(
                    "no answer within {} seconds; is `{}` an MCP server?",
                    START_TIMEOUT.as_secs(),
                    config
                        .command
                        .as_deref()
                        .or(config.url.as_deref())
                        .unwrap_or("it")
                ),
            })??;
        let conn = Arc::new(conn);
        conns.insert(name.to_owned(), conn.clone());
        Ok(conn)
    }
}

async fn start(name: &str, config: &McpServer) -> Result<Conn, McpError> {
    let fail = |message: String| McpError::Start {
        name: name.to_owned(),
        message,
    };
    let service = match (&config.command, &config.url) {
        (Some(command), _) => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(&config.args).envs(&config.env);
            let transport = rmcp::transport::TokioChildProcess::new(cmd)
                .map_err(|e| fail(format!("cannot run `{command}`: {e}")))?;
            ().serve(transport).await.map_err(|e| fail(e.to_string()))?
        }
        (None, Some(url)) => {
            let config = http_config(url, config, &|var| std::env::var(var).ok()).map_err(fail)?;
            let transport = rmcp::transport::StreamableHttpClientTransport::from_config(config);
            ().serve(transport).await.map_err(|e| fail(e.to_string()))?
        }
        (None, None) => return Err(fail("it has neither `command` nor `url`".to_owned())),
    };
    let mut tools: Vec<McpTool> = service
        .list_all_tools()
        .await
        .map_err(|e| McpError::List {
            name: name.to_owned(),
            message: e.to_string(),
        })?
        .into_iter()
        .map(|t| McpTool {
            name: t.name.to_string(),
            description: t.description.map(|d| d.to_string()).unwrap_or_default(),
            input_schema: Value::Object((*t.input_schema).clone()),
        })
        .collect();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Conn { service, tools })
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
        assert_eq!(model_tool_name("s", &"x".repeat(100)).len(), MAX_TOOL_NAME);
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
        let e = McpError::Rejected {
            name: "gh".into(),
            tool: "t".into(),
            message: "bad token ghp-SECRET-1234 (header was `Bearer ghp-SECRET-1234`)".into(),
        };
        assert_eq!(
            e.scrubbed(&secrets).to_string(),
            "mcp server `gh` rejected the call of `t`: bad token <redacted> (header was `<redacted>`)"
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
