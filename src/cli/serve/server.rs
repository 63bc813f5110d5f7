//! The MCP server of `llm-do mcp serve`: each tool call as one run, the calls running now
//! (cancelled when the client cancels or goes away), and approvals asked by elicitation.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ElicitRequestParams,
    ElicitationAction, ElicitationSchema, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ProgressToken, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::{Peer, RequestContext};
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::approval::{PromptAnswer, Prompter, Request};
use crate::report::Error;
use crate::session::Session;
use crate::settings::Settings;
use crate::trace::{CallEnd, CallStart, ModelResponseEvent, Observer};

use tokio_util::sync::CancellationToken;
use tokio_util::task::{AbortOnDropHandle, TaskTracker};

use super::{Offered, Tools};

/// The MCP server: what it offers and how each call's run is set up.
#[derive(Clone)]
pub(super) struct Server {
    pub(super) settings: Arc<Settings>,
    pub(super) tools: Arc<Tools>,
    /// `-v` and `--trace FILE`, shared by every call's run.
    pub(super) observer: Arc<dyn Observer>,
    /// The calls running now.
    pub(super) running: Arc<Running>,
    /// The clients connected now.
    pub(super) peers: Arc<Peers>,
}

impl Server {
    /// Call `tool` with `args` for the client of `request` (asked about approvals by
    /// elicitation when it offers it, sent progress when it asked for it), as one run.
    async fn call(
        &self,
        tool: &Offered,
        args: JsonObject,
        request: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let info = request.peer.peer_info();
        let client = info
            .as_ref()
            .map_or("an MCP client", |i| i.client_info.name.as_str());
        let command = format!("llm-do mcp serve: {client} called {}", tool.name());
        let (observer, reporting) = match request.meta.get_progress_token() {
            Some(token) => {
                let (progress, task) = Progress::start(token, request.peer.clone());
                let both = crate::trace::Fanout::of(vec![self.observer.clone(), progress.clone()]);
                (both, Some((progress, task)))
            }
            None => (self.observer.clone(), None),
        };
        let elicits = info.is_some_and(|i| i.capabilities.elicitation.is_some());
        let prompter = elicits.then(|| {
            Arc::new(Elicit {
                peer: request.peer.clone(),
                handle: tokio::runtime::Handle::current(),
            }) as Arc<dyn crate::approval::Prompter>
        });
        let opened = Session::of(&self.settings)
            .observer(observer)
            .live(None)
            .logged_as(command)
            .open_with(|runtime| runtime.prompter(prompter));
        let session = match opened {
            Ok(session) => session,
            Err(e) => return failure(e),
        };
        let cancel = session.runtime().cancel.clone();
        let (cancelled, stopping) = (request.ct.clone(), self.running.stopping.clone());
        // The client's `notifications/cancelled` cancels the call tree, like Ctrl-C a run; so
        // does the server stopping.
        let _watching = AbortOnDropHandle::new(tokio::spawn(async move {
            tokio::select! {
                () = cancelled.cancelled() => {}
                () = stopping.cancelled() => {}
            }
            cancel.cancel();
        }));
        let scope = crate::cancel::CancelScope::default();
        let out = session.call(tool.name(), Value::Object(args), scope).await;
        let finished = session.close(out.is_ok()).await;
        // Every progress notification goes out before the result.
        if let Some((progress, task)) = reporting {
            progress.close();
            let _ = task.await;
        }
        match (out, finished) {
            (Err(e), _) => failure(e),
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
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("llm-do", env!("CARGO_PKG_VERSION")))
    }

    async fn on_initialized(&self, context: rmcp::service::NotificationContext<RoleServer>) {
        self.peers.add(context.peer);
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = self.tools.now().iter().map(|t| t.tool.clone()).collect();
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tools = self.tools.now();
        let Some(tool) = tools.iter().find(|t| t.name() == request.name) else {
            let names = tools.iter().map(Offered::name);
            let mut message = format!("unknown tool `{}`", request.name);
            if let Some(hint) = crate::suggest::did_you_mean(&request.name, names) {
                message.push_str(&format!(" ({hint})"));
            }
            return Err(ErrorData::invalid_params(message, None));
        };
        let args = request.arguments.unwrap_or_default();
        // The run goes on in its own task when the request is dropped (the client went away),
        // so it still ends in the run log once cancelled.
        let (server, tool) = (self.clone(), tool.clone());
        let run = self
            .running
            .tasks
            .spawn(async move { server.call(&tool, args, context).await });
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

/// The calls running now: cancelled together when the clients are gone, then waited for, so
/// that every run ends (in the run log too) before the process does.
#[derive(Default)]
pub(super) struct Running {
    /// Each call's task, from the request on.
    tasks: TaskTracker,
    /// Cancelled by [`Running::stop`]: each call's watcher cancels its run then.
    stopping: CancellationToken,
}

impl Running {
    /// Cancel every running call (and any that starts from now on) and wait until all have
    /// ended.
    pub(super) async fn stop(&self) {
        self.stopping.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Progress of one call whose client sent a `progressToken`: one `notifications/progress` per
/// finished step of the call tree (each model request and each call below the top one), with
/// the count of steps so far and what finished. The total is unknown, so none is sent.
struct Progress {
    /// `None` once the call has ended.
    steps: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedSender<String>>>,
}

impl Progress {
    /// The observer, and the task sending its notifications in order (it ends after
    /// [`Progress::close`]).
    fn start(
        token: ProgressToken,
        peer: Peer<RoleServer>,
    ) -> (Arc<Progress>, tokio::task::JoinHandle<()>) {
        let (steps, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let task = tokio::spawn(async move {
            let mut done = 0u32;
            while let Some(message) = rx.recv().await {
                done += 1;
                let mut param = ProgressNotificationParam::new(token.clone(), f64::from(done));
                param.message = Some(message);
                if peer.notify_progress(param).await.is_err() {
                    return;
                }
            }
        });
        let steps = std::sync::Mutex::new(Some(steps));
        (Arc::new(Progress { steps }), task)
    }

    /// The call has ended: no more steps (anything reported later is dropped).
    fn close(&self) {
        crate::sync::lock(&self.steps).take();
    }

    fn send(&self, step: String) {
        if let Some(steps) = crate::sync::lock(&self.steps).as_ref() {
            let _ = steps.send(step);
        }
    }
}

impl Observer for Progress {
    fn call_start(&self, _: &CallStart) -> u64 {
        0
    }

    fn call_end(&self, _: u64, end: &CallEnd) {
        if end.depth > 0 {
            self.send(format!("`{}` finished", end.name));
        }
    }

    fn model_response(&self, _: u64, event: &ModelResponseEvent) {
        self.send(format!(
            "`{}` got an answer from `{}`",
            event.worker, event.model
        ));
    }
}

/// The clients connected now (one on stdio, any number over HTTP), told when the tool list
/// changes.
#[derive(Default)]
pub(super) struct Peers(std::sync::Mutex<Vec<Peer<RoleServer>>>);

impl Peers {
    fn add(&self, peer: Peer<RoleServer>) {
        crate::sync::lock(&self.0).push(peer);
    }

    /// Send `notifications/tools/list_changed` to every client; those gone are forgotten.
    pub(super) async fn tool_list_changed(&self) {
        let peers = std::mem::take(&mut *crate::sync::lock(&self.0));
        let mut alive = Vec::new();
        for peer in peers {
            if !peer.is_transport_closed() && peer.notify_tool_list_changed().await.is_ok() {
                alive.push(peer);
            }
        }
        crate::sync::lock(&self.0).extend(alive);
    }
}
