//! `llm-do mcp serve --http ADDR`: rmcp's streamable HTTP service on a plain hyper server,
//! one MCP session per client, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};

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
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let service = TowerToHyperService::new(service.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            true = signals.next() => break,
        }
    }
    stop.cancel();
    Ok(())
}
