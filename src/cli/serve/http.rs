//! `llm-do mcp serve --http ADDR`: rmcp's streamable HTTP service on a plain hyper server,
//! one MCP session per client, until Ctrl-C or SIGTERM. A client that drops its connection in
//! the middle of a call cancels that call, as if it had sent `notifications/cancelled`; a
//! session ended with `DELETE` is answered `204 No Content`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use tower_service::Service as _;

use super::server::Server;
use crate::report::Error;

/// Serve `server` on `addr` (the caller has checked it may be served on). The address really
/// listened on (the port chosen when it was 0) is printed on stderr as
/// `llm-do mcp serve: listening on http://ADDR/mcp`.
pub(super) async fn serve(server: Server, addr: SocketAddr) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::usage(format!("cannot listen on `{addr}`: {e}")))?;
    let local = listener.local_addr().unwrap_or(addr);
    let mut config = StreamableHttpServerConfig::default();
    if !addr.ip().is_loopback() {
        // `--http-allow-remote`: clients name this host however they reach it.
        config = config.disable_allowed_hosts();
    }
    let stop = config.cancellation_token.clone();
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    crate::report::note(&format!(
        "llm-do mcp serve: listening on http://{local}/mcp"
    ));
    let mut signals = crate::interrupt::Signals::install();
    let answer = move |req| watch_disconnect(service.clone(), req);
    crate::cli::http::serve(listener, &mut signals, answer).await;
    stop.cancel();
    Ok(())
}

type Mcp = StreamableHttpService<Server, LocalSessionManager>;

/// A response body boxed, as rmcp's are.
type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, std::convert::Infallible>;

/// Serve `req` with rmcp's service; when it is a request of a session (a POST with
/// `Mcp-Session-Id`) and its response stream is dropped before its end (the client went
/// away; hyper drops it when the connection closes mid-response), the request is cancelled
/// through the same service with the `notifications/cancelled` the client did not send.
async fn watch_disconnect(
    mut service: Mcp,
    req: Request<Incoming>,
) -> Result<Response<Watched>, std::convert::Infallible> {
    let in_session =
        req.method() == hyper::Method::POST && req.headers().contains_key("mcp-session-id");
    if !in_session {
        let ending = req.method() == hyper::Method::DELETE;
        let mut response = service.call(req).await?;
        // rmcp ends a session with 202; the MCP SDKs take 200 or 204 as success and log a
        // failed termination otherwise.
        if ending && response.status() == hyper::StatusCode::ACCEPTED {
            *response.status_mut() = hyper::StatusCode::NO_CONTENT;
        }
        return Ok(response.map(|body| Watched {
            body: body.boxed_unsync(),
            on_drop: None,
        }));
    }
    let headers = req.headers().clone();
    let (parts, body) = req.into_parts();
    // The request body keeps its first `ID_WINDOW` bytes as rmcp reads it, to find its id in.
    let start = Arc::new(Mutex::new(Vec::new()));
    let kept = start.clone();
    let body = body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref()
            && let Ok(mut start) = kept.lock()
        {
            let room = super::stdio::ID_WINDOW
                .saturating_sub(start.len())
                .min(data.len());
            start.extend_from_slice(&data[..room]);
        }
        frame
    });
    let response = service
        .call(Request::from_parts(parts, body.boxed_unsync()))
        .await?;
    let on_drop: Box<dyn FnOnce() + Send> = Box::new(move || {
        let text = start.lock().map(|s| s.clone()).unwrap_or_default();
        let Some(id) = super::stdio::request_id(&text) else {
            return;
        };
        let cancel = serde_json::json!({
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": id, "reason": "the client closed its connection"},
        });
        let mut req = Request::post("/mcp")
            .body(http_body_util::Full::new(Bytes::from(cancel.to_string())).boxed_unsync())
            .expect("a request of constant parts");
        *req.headers_mut() = headers;
        req.headers_mut().remove(hyper::header::CONTENT_LENGTH);
        tokio::spawn(async move {
            let _ = service.call(req).await;
        });
    });
    Ok(response.map(|body| Watched {
        body: body.boxed_unsync(),
        on_drop: Some(on_drop),
    }))
}

/// A response body that runs `on_drop` when it is dropped before its end.
struct Watched {
    body: BoxBody,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl Body for Watched {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.on_drop = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take()
            && !self.body.is_end_stream()
        {
            on_drop();
        }
    }
}
