//! `llm-do mcp serve`: the project's workers, fns and `[stabilize]` names as tools of an MCP
//! server on stdio, for agents (Claude Code, Codex, Cursor, ...) to call.
//!
//! The names offered come from the one enumeration of `llm-do list` ([`super::list::entries`]),
//! narrowed by `[serve] expose`. Each tool call is one run, exactly as `llm-do run NAME`: a
//! runtime loaded for it, the call through the seam (validation, budgets, traces, the switch),
//! the run log recording the client's name and the tool; the client's cancellation (or its
//! going away) cancels the call tree. Errors come back as tool errors
//! (`isError`) with the text the CLI prints. Approvals are never asked on a terminal: a worker's
//! tool call needing one is asked of the client through MCP elicitation when it offers it, and
//! otherwise denied with a message saying how to allow it.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::Value;

use crate::approval::{PromptAnswer, Prompter, Request};
use crate::call::{CallCtx, Input};
use crate::project::Callee;
use crate::report::Error;
use crate::runtime::Runtime;
use crate::settings::Settings;
use crate::trace::{Fanout, Observer};

use super::list::{Entry, EntryKind, entries};
use super::setup;

/// One tool offered to clients: the MCP definition and where its name comes from.
#[derive(Debug, Clone)]
pub struct Offered {
    /// `worker`, `fn` or `switch`.
    pub kind: EntryKind,
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

/// Serve the project of `settings` on stdio until the client closes it; `list`: print what a
/// client would see instead (`--json`: the `tools/list` definitions).
pub async fn run(settings: Settings, list: bool) -> Result<(), Error> {
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
    let quiet = Fanout::of(Vec::new());
    let rt = setup::runtime(&setup::unlogged(&settings), None, false, Some(quiet))?;
    let tools = offered(&rt)?;
    drop(rt);
    if list {
        return print(&tools, settings.json);
    }
    let observer = setup::observer(settings.verbosity, settings.trace.as_deref())?;
    let running = Arc::new(Running::default());
    let server = Server {
        settings: Arc::new(settings),
        tools: Arc::new(tools),
        observer,
        running: running.clone(),
    };
    let service = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| Error::failed(format!("MCP client handshake failed: {e}")))?;
    let stopped = service.waiting().await;
    // The client is gone: calls still running are cancelled, and each run ends in the log.
    running.stop().await;
    stopped.map_err(|e| Error::failed(format!("MCP server stopped: {e}")))?;
    Ok(())
}

/// The calls running now: cancelled together when the client goes away, then waited for, so
/// that every run ends (in the run log too) before the process does.
#[derive(Default)]
struct Running {
    calls: std::sync::Mutex<Vec<(u64, Arc<crate::cancel::Cancel>)>>,
    next: std::sync::atomic::AtomicU64,
    idle: tokio::sync::Notify,
}

impl Running {
    /// Count a call whose run is cancelled through `cancel`, until the guard drops.
    fn enter(self: &Arc<Self>, cancel: Arc<crate::cancel::Cancel>) -> RunningGuard {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::sync::lock(&self.calls).push((id, cancel));
        RunningGuard {
            running: self.clone(),
            id,
        }
    }

    /// Cancel every running call and wait until all have ended.
    async fn stop(&self) {
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            {
                let calls = crate::sync::lock(&self.calls);
                if calls.is_empty() {
                    return;
                }
                for (_, cancel) in calls.iter() {
                    cancel.cancel();
                }
            }
            idle.await;
        }
    }
}

/// Stops a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One running call, counted in [`Running`] while alive.
struct RunningGuard {
    running: Arc<Running>,
    id: u64,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        crate::sync::lock(&self.running.calls).retain(|(id, _)| *id != self.id);
        self.running.idle.notify_waiters();
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
    let servable: Vec<Entry> = entries(&project)
        .into_iter()
        .filter(|e| {
            matches!(
                e.kind,
                EntryKind::Worker | EntryKind::Fn | EntryKind::Switch
            )
        })
        .collect();
    let chosen: Vec<&Entry> = match &project.config.serve.expose {
        Some(names) => names
            .iter()
            .map(|name| find(&servable, name))
            .collect::<Result<_, _>>()?,
        None => {
            let switch = |name: &str| {
                servable
                    .iter()
                    .any(|e| e.kind == EntryKind::Switch && e.name == name)
            };
            let models = script_models(&project);
            servable
                .iter()
                .filter(|e| !e.untrusted && e.name != crate::runtime::POLICY_FN)
                .filter(|e| e.kind != EntryKind::Fn || !models.contains(e.name.as_str()))
                .filter(|e| e.kind == EntryKind::Switch || !switch(&e.name))
                .collect()
        }
    };
    let mut out = Vec::new();
    for e in chosen {
        let callee = rt.resolve(&e.name).map_err(Error::of_named_call)?;
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
fn find<'a>(servable: &'a [Entry], name: &str) -> Result<&'a Entry, Error> {
    servable
        .iter()
        .filter(|e| e.name == name)
        .max_by_key(|e| e.kind == EntryKind::Switch)
        .ok_or_else(|| {
            let names = servable.iter().map(|e| e.name.as_str());
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
    let (description, input, output) = match callee {
        Callee::Worker(w) => (worker_description(w), w.input.clone(), w.output.clone()),
        Callee::Switch(s) => (
            match (&s.worker.description, s.code.description.trim()) {
                (None, doc) if !doc.is_empty() => doc.to_string(),
                _ => worker_description(&s.worker),
            },
            s.worker.input.clone(),
            s.worker.output.clone(),
        ),
        Callee::Fn(f) => {
            let description = if f.description.trim().is_empty() {
                format!("Call the fn `{}`.", f.name)
            } else {
                f.description.trim().to_string()
            };
            (description, f.parameters_schema(), None)
        }
        _ => return None,
    };
    let Value::Object(input) = input else {
        return None;
    };
    let tool = Tool::new(callee.name().to_string(), description, Arc::new(input));
    Some(match output.and_then(object_schema) {
        Some(schema) => tool.with_raw_output_schema(Arc::new(schema)),
        None => tool,
    })
}

fn worker_description(w: &crate::worker::WorkerSpec) -> String {
    w.description
        .clone()
        .unwrap_or_else(|| format!("Run the `{}` worker.", w.name))
}

/// `schema` when it describes an object (MCP output schemas must).
fn object_schema(schema: Value) -> Option<JsonObject> {
    match schema {
        Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("object") => Some(m),
        _ => None,
    }
}

/// `--list`: one row per tool (kind, name, description, source), or the definitions as JSON.
fn print(tools: &[Offered], json: bool) -> Result<(), Error> {
    if json {
        let all: Vec<&Tool> = tools.iter().map(|t| &t.tool).collect();
        let text = serde_json::to_string_pretty(&all).unwrap_or_default();
        return crate::report::out_line(&text);
    }
    let rows: Vec<[String; 4]> = tools
        .iter()
        .map(|t| {
            [
                t.kind.as_str().into(),
                t.name().into(),
                t.tool
                    .description
                    .as_deref()
                    .and_then(|d| d.lines().next())
                    .unwrap_or_default()
                    .into(),
                t.source.clone(),
            ]
        })
        .collect();
    super::list::print_table(&rows)
}

/// The MCP server: what it offers and how each call's run is set up.
#[derive(Clone)]
struct Server {
    settings: Arc<Settings>,
    tools: Arc<Vec<Offered>>,
    /// `-v` and `--trace FILE`, shared by every call's run.
    observer: Arc<dyn Observer>,
    /// The calls running now.
    running: Arc<Running>,
}

impl Server {
    /// Call `tool` with `args` for `client` (asked about approvals through `ask`, when it can
    /// be), as one run.
    async fn call(
        &self,
        tool: &Offered,
        args: JsonObject,
        client: &str,
        ask: Option<Peer<RoleServer>>,
        cancelled: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> CallToolResult {
        let command = format!("llm-do mcp serve: {client} called {}", tool.name());
        let rt = match setup::runtime_logged_as(
            &self.settings,
            None,
            true,
            Some(self.observer.clone()),
            None,
            &command,
        ) {
            Ok(rt) => rt,
            Err(e) => return failure(e),
        };
        let _running = self.running.enter(rt.cancel.clone());
        // The client's `notifications/cancelled` cancels the call tree, like Ctrl-C a run.
        let cancel = rt.cancel.clone();
        let watcher = tokio::spawn(async move {
            cancelled.await;
            cancel.cancel();
        });
        let _watching = AbortOnDrop(watcher);
        if let Some(peer) = ask {
            let prompter = Arc::new(Elicit {
                peer,
                handle: rt.handle.clone(),
            });
            if let Err(e) = rt.set_prompter(prompter) {
                return failure(e.into());
            }
        }
        let out = match rt.resolve(tool.name()) {
            Ok(callee) => {
                let top = CallCtx::default();
                rt.invoke(&top, &callee, Input::Json(Value::Object(args)))
                    .await
                    .map(|v| crate::script::value::to_json(&v))
            }
            Err(e) => Err(e),
        };
        let finished = setup::finish_run(&rt, self.settings.trace.as_deref(), out.is_ok()).await;
        match (out, finished) {
            (Err(e), _) => failure(Error::of_named_call(e)),
            (Ok(_), Err(e)) => failure(e),
            (Ok(v), Ok(())) => success(v, tool.tool.output_schema.is_some()),
        }
    }
}

/// A result: strings as text, the rest as JSON text, and as `structuredContent` when the tool
/// declares an output schema.
fn success(v: Value, structured: bool) -> CallToolResult {
    let text = crate::script::value::render(&v, false).unwrap_or_default();
    let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
    if structured && v.is_object() {
        result.structured_content = Some(v);
    }
    result
}

/// A tool error with the text the CLI prints for `e`.
fn failure(e: Error) -> CallToolResult {
    let text = crate::report::text(e);
    CallToolResult::error(vec![ContentBlock::text(text.trim_end().to_string())])
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("llm-do", env!("CARGO_PKG_VERSION")))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.tools.iter().map(|t| t.tool.clone()).collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(tool) = self.tools.iter().find(|t| t.name() == request.name) else {
            let names = self.tools.iter().map(Offered::name);
            let mut message = format!("unknown tool `{}`", request.name);
            if let Some(hint) = crate::suggest::did_you_mean(&request.name, names) {
                message.push_str(&format!(" ({hint})"));
            }
            return Err(ErrorData::invalid_params(message, None));
        };
        let info = context.peer.peer_info();
        let client = info.as_ref().map_or_else(
            || "an MCP client".to_string(),
            |i| i.client_info.name.clone(),
        );
        let elicits = info.is_some_and(|i| i.capabilities.elicitation.is_some());
        let ask = elicits.then(|| context.peer.clone());
        let args = request.arguments.unwrap_or_default();
        // The run goes on in its own task when the request is dropped (the client went away),
        // so it still ends in the run log once cancelled.
        let (server, tool, ct) = (self.clone(), tool.clone(), context.ct.clone());
        let cancelled = async move { ct.cancelled().await };
        let run =
            tokio::spawn(async move { server.call(&tool, args, &client, ask, cancelled).await });
        let result = run.await.unwrap_or_else(|e| {
            failure(Error::failed(format!(
                "internal: the call ended abnormally: {e}"
            )))
        });
        Ok(result.into())
    }
}

/// Asks the connected client about an approval with an MCP elicitation (a form with no
/// fields): accept approves this call, decline denies it, cancel aborts the run.
struct Elicit {
    peer: Peer<RoleServer>,
    /// The async runtime the request is sent on (the gate asks from a blocking thread).
    handle: tokio::runtime::Handle,
}

impl Prompter for Elicit {
    fn ask(&self, req: &Request) -> PromptAnswer {
        let params = ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: question(req),
            requested_schema: ElicitationSchema::new(std::collections::BTreeMap::new()),
        };
        match self.handle.block_on(self.peer.create_elicitation(params)) {
            Ok(r) => match r.action {
                ElicitationAction::Accept => PromptAnswer::Once,
                ElicitationAction::Decline => {
                    PromptAnswer::Deny(Some("declined by the MCP client's user".into()))
                }
                ElicitationAction::Cancel => PromptAnswer::Quit,
                other => PromptAnswer::Deny(Some(format!(
                    "the MCP client answered `{other:?}`, which llm-do does not know"
                ))),
            },
            Err(e) => PromptAnswer::Deny(Some(format!("the MCP client could not be asked: {e}"))),
        }
    }
}

/// The approval question: what the terminal prompt shows, without its leading blank line.
fn question(req: &Request) -> String {
    let text = crate::approval::render_request(req);
    format!(
        "{}\nAccept to approve this call; decline to deny it.",
        text.trim()
    )
}
