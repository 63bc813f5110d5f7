//! `llm-do mcp serve`: the project's workers, fns and `[stabilize]` names as tools of an MCP
//! server on stdio, for agents (Claude Code, Codex, Cursor, ...) to call.
//!
//! The names offered come from the one enumeration of `llm-do list` ([`crate::project::listing::rows`]),
//! narrowed by `[serve] expose`. Each tool call is one run, exactly as `llm-do run NAME`: a
//! runtime loaded for it, the call through the seam (validation, budgets, traces, the switch),
//! the run log recording the client's name and the tool; the client's cancellation (or its
//! going away) cancels the call tree. Errors come back as tool errors (`isError`) with the text
//! the CLI prints. Approvals are never asked on a terminal: a worker's tool call needing one is
//! asked of the client through MCP elicitation when it offers it, and otherwise denied with a
//! message saying how to allow it. This file is what is offered; [`server`] answers calls.

mod http;
mod server;
mod stdio;

use std::net::SocketAddr;

use std::sync::Arc;

use rmcp::ServiceExt;
use rmcp::model::{JsonObject, Tool};
use serde_json::Value;
use tokio_util::task::AbortOnDropHandle;

use crate::report::Error;
use crate::runtime::Runtime;
use crate::runtime::callee::Callee;
use crate::session::Session;
use crate::settings::Settings;
use crate::trace::Fanout;

use crate::project::listing::{self, Kind, Row};
use server::{Running, Server};

/// One tool offered to clients: the MCP definition and where its name comes from.
#[derive(Debug, Clone)]
pub struct Offered {
    /// `worker`, `fn` or `switch`.
    pub kind: Kind,
    /// Where the name is defined, as `llm-do list` shows it.
    pub source: String,
    /// The definition clients see in `tools/list`.
    pub tool: Tool,
}

impl Offered {
    /// The tool's name (the project name it calls).
    pub fn name(&self) -> &str {
        &self.tool.name
    }
}

/// How `llm-do mcp serve` is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Standard input and output, one client (the form agents' config files launch).
    Stdio,
    /// Streamable HTTP on this address, any number of clients.
    Http(SocketAddr),
}

impl Transport {
    /// `--http ADDR` (with `--http-allow-remote`), or stdio.
    ///
    /// # Errors
    ///
    /// `ADDR` is not a loopback address and `allow_remote` is not set: anyone who can reach
    /// it could run the project's workers and fns (and spend its model keys), with no login.
    pub fn of(http: Option<SocketAddr>, allow_remote: bool) -> Result<Self, Error> {
        match http {
            None => Ok(Self::Stdio),
            Some(addr) if addr.ip().is_loopback() || allow_remote => Ok(Self::Http(addr)),
            Some(addr) => Err(Error::usage(format!(
                "`--http {addr}` would let anyone who can reach that address call the project's workers and fns, without a login"
            ))
            .with_help(format!(
                "serve on loopback (`--http 127.0.0.1:{}`), or add `--http-allow-remote` behind a proxy that authenticates",
                addr.port()
            ))),
        }
    }
}

/// Serve the project of `settings` over `transport` until the client closes stdio (or, over
/// HTTP, until Ctrl-C / SIGTERM); `list`: print what a client would see instead (`--json`:
/// the `tools/list` definitions).
pub async fn run(settings: Settings, list: bool, transport: Transport) -> Result<(), Error> {
    if let Some(path) = &settings.record {
        return Err(Error::usage(format!(
            "`--record {}` does not apply to `llm-do mcp serve`: each call is a run of its own",
            path.display()
        ))
        .with_help("record a cassette with `llm-do run NAME --record FILE`"));
    }
    let settings = Settings {
        serving: true,
        ..settings
    };
    let tools = load(&settings)?;
    if list {
        return crate::report::show(&ToolList(tools), settings.json);
    }
    let observer = crate::session::observer(settings.verbosity, settings.trace.as_deref())?;
    // Watching starts before any client connects, so no edit made once one has is missed.
    let changes = crate::watch::Changes::new(&settings.root, None);
    let running = Arc::new(Running::default());
    let server = Server {
        settings: Arc::new(settings),
        tools: Arc::new(Tools::new(tools)),
        observer,
        running: running.clone(),
        peers: Arc::default(),
    };
    let _reload = match changes {
        Ok(changes) => Some(AbortOnDropHandle::new(tokio::spawn(hot_reload(
            server.clone(),
            changes,
        )))),
        Err(e) => {
            crate::report::note(&format!(
                "warning: the tool list will not follow edits: {}",
                crate::report::text(e).trim_end()
            ));
            None
        }
    };
    let served = match transport {
        Transport::Stdio => stdio(server).await,
        Transport::Http(addr) => http::serve(server, addr).await,
    };
    // The clients are gone: calls still running are cancelled, and each run ends in the log.
    running.stop().await;
    served
}

/// Serve one client on stdio until it closes.
async fn stdio(server: Server) -> Result<(), Error> {
    let service = server
        .serve(stdio::Lines::new(tokio::io::stdin(), tokio::io::stdout()))
        .await
        .map_err(|e| Error::failed(format!("MCP client handshake failed: {e}")))?;
    service
        .waiting()
        .await
        .map_err(|e| Error::failed(format!("MCP server stopped: {e}")))?;
    Ok(())
}

/// The tools offered for the project of `settings` as it is on disk now.
fn load(settings: &Settings) -> Result<Vec<Offered>, Error> {
    let quiet = Fanout::of(Vec::new());
    let session = Session::of(settings).unlogged().observer(quiet).open()?;
    offered(session.runtime())
}

/// Hot reload: after each settled burst of edits to the project's files, the tool list is
/// read again; when it differs from what clients were offered, it replaces it and the client
/// is sent `notifications/tools/list_changed`. A project that no longer loads keeps the last
/// good list (the error goes to stderr), as the REPL does.
async fn hot_reload(server: Server, mut changes: crate::watch::Changes) {
    while let Some(changed) = changes.next().await {
        let tools = match load(&server.settings) {
            Ok(tools) => tools,
            Err(e) => {
                let files: Vec<String> = changed
                    .iter()
                    .map(|p| {
                        crate::project::relative(&server.settings.root, p)
                            .display()
                            .to_string()
                    })
                    .collect();
                crate::report::note(&format!(
                    "the project no longer loads after editing {}; the tool list stays as it was:",
                    files.join(", ")
                ));
                crate::report::render(e);
                continue;
            }
        };
        if server.tools.replace(tools) {
            server.peers.tool_list_changed().await;
        }
    }
}

/// The tools offered now: replaced as a whole by hot reload, read as a whole by each request.
pub(crate) struct Tools(std::sync::RwLock<Arc<Vec<Offered>>>);

impl Tools {
    fn new(tools: Vec<Offered>) -> Self {
        Self(std::sync::RwLock::new(Arc::new(tools)))
    }

    /// The list as it is now.
    pub(crate) fn now(&self) -> Arc<Vec<Offered>> {
        crate::sync::read(&self.0).clone()
    }

    /// Offer `tools` from now on; `true` when clients see a different list than before.
    fn replace(&self, tools: Vec<Offered>) -> bool {
        let mut now = crate::sync::write(&self.0);
        let same = now
            .iter()
            .map(|o| &o.tool)
            .eq(tools.iter().map(|o| &o.tool));
        *now = Arc::new(tools);
        !same
    }
}

/// The tools offered for the project loaded in `rt`: `[serve] expose` when set, else every
/// worker, trusted fn and switch name but the approval policy fn and `script:` model fns.
///
/// # Errors
///
/// `expose` names something that is no worker, fn or `[stabilize]` name.
pub fn offered(rt: &Runtime) -> Result<Vec<Offered>, Error> {
    let project = rt.project();
    let servable: Vec<Row> = listing::rows(&project, Vec::new())
        .into_iter()
        .filter(|e| matches!(e.kind, Kind::Worker | Kind::Fn | Kind::Switch))
        .collect();
    let chosen: Vec<&Row> = match &project.config.serve.expose {
        Some(names) => names
            .iter()
            .map(|name| find(&servable, name))
            .collect::<Result<_, _>>()?,
        None => {
            let switch = |name: &str| {
                servable
                    .iter()
                    .any(|e| e.kind == Kind::Switch && e.call_name == name)
            };
            let models = script_models(&project);
            servable
                .iter()
                .filter(|e| !e.untrusted && e.call_name != crate::runtime::POLICY_FN)
                .filter(|e| e.kind != Kind::Fn || !models.contains(e.call_name.as_str()))
                .filter(|e| e.kind == Kind::Switch || !switch(&e.call_name))
                .collect()
        }
    };
    let mut out = Vec::new();
    for e in chosen {
        let callee = rt.resolve(&e.call_name).map_err(Error::of_named_call)?;
        if let Some(tool) = tool_for(&callee) {
            out.push(Offered {
                kind: e.kind,
                source: e.source.clone(),
                tool,
            });
        }
    }
    Ok(out)
}

/// The fns the project uses as `script:NAME` models (by workers or `[defaults] model`): they
/// answer model requests, not callers, so they are not offered by default.
fn script_models(project: &crate::project::Project) -> std::collections::BTreeSet<&str> {
    let workers = project
        .workers
        .values()
        .flat_map(|w| w.models.iter().map(|m| m.name.as_str()));
    workers
        .chain(project.config.defaults.model.as_deref())
        .filter_map(|m| m.strip_prefix("script:"))
        .collect()
}

/// The servable entry called `name` (a switch before the worker and fn sharing its name).
fn find<'a>(servable: &'a [Row], name: &str) -> Result<&'a Row, Error> {
    servable
        .iter()
        .filter(|e| e.call_name == name)
        .max_by_key(|e| e.kind == Kind::Switch)
        .ok_or_else(|| {
            let names = servable.iter().map(|e| e.call_name.as_str());
            let hint = crate::suggest::did_you_mean(name, names);
            Error::usage(format!(
                "`[serve] expose` in llm-do.toml names `{name}`, which is no worker, fn or `[stabilize]` name of the project"
            ))
            .with_help(hint.unwrap_or_else(|| "`llm-do list` shows the project's names".into()))
        })
}

/// The MCP definition of a worker, fn or switch: description, input schema, and the output
/// schema of a worker whose `output:` is an object.
pub fn tool_for(callee: &Callee) -> Option<Tool> {
    let crate::runtime::callee::Served {
        description,
        input,
        output,
    } = callee.served()?;
    let Value::Object(input) = input else {
        return None;
    };
    let tool = Tool::new(callee.name().to_string(), description, Arc::new(input));
    Some(match output.and_then(object_schema) {
        Some(schema) => tool.with_raw_output_schema(Arc::new(schema)),
        None => tool,
    })
}

/// `schema` when it describes an object (MCP output schemas must).
fn object_schema(schema: Value) -> Option<JsonObject> {
    match schema {
        Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("object") => Some(m),
        _ => None,
    }
}

/// `--list`: one row per tool (kind, name, description, source) as text, the definitions
/// clients see as JSON.
struct ToolList(Vec<Offered>);

impl serde::Serialize for ToolList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|t| &t.tool))
    }
}

impl crate::output::Show for ToolList {
    fn text(&self) -> String {
        let row = |t: &Offered| {
            let description = t.tool.description.as_deref().and_then(|d| d.lines().next());
            Row::new(
                t.kind,
                t.name().into(),
                description.unwrap_or_default().into(),
                t.source.clone(),
            )
        };
        listing::Listing(self.0.iter().map(row).collect()).text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(kind: Kind, name: &str) -> Row {
        Row::new(kind, name.into(), String::new(), String::new())
    }

    #[test]
    fn a_switch_is_found_before_its_worker_and_fn() {
        let all = [
            entry(Kind::Worker, "triage"),
            entry(Kind::Fn, "triage"),
            entry(Kind::Switch, "triage"),
            entry(Kind::Fn, "double"),
        ];
        assert_eq!(find(&all, "triage").unwrap().kind, Kind::Switch);
        assert_eq!(find(&all, "double").unwrap().kind, Kind::Fn);
    }

    #[test]
    fn an_unknown_name_suggests_the_nearest() {
        let all = [entry(Kind::Worker, "summarise")];
        let e = find(&all, "sumarise").unwrap_err();
        assert_eq!(
            crate::report::text(e),
            "error: `[serve] expose` in llm-do.toml names `sumarise`, which is no worker, fn or `[stabilize]` name of the project\n  hint: did you mean `summarise`?\n"
        );
    }

    #[test]
    fn only_object_schemas_are_output_schemas() {
        let object = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(
            object_schema(object.clone()).map(Value::Object),
            Some(object)
        );
        assert_eq!(object_schema(json!({"type": "string"})), None);
        assert_eq!(object_schema(json!(true)), None);
    }
}
