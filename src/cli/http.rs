//! The one accept loop of llm-do's local HTTP servers (`llm-do view`, `llm-do mcp serve
//! --http`): HTTP/1 on hyper, one task per connection, until Ctrl-C or SIGTERM.

use std::convert::Infallible;
use std::future::Future;

use hyper::body::{Body, Incoming};
use hyper::{Request, Response};
use tokio::net::TcpListener;

use crate::interrupt::Signals;

/// Answer each request of each connection `listener` accepts with `answer`, until `signals`
/// delivers one (never, when none can arrive). A connection that fails is the client's
/// business: the server goes on.
pub(super) async fn serve<F, Fut, B>(listener: TcpListener, signals: &mut Signals, answer: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<B>, Infallible>> + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let service = hyper::service::service_fn(answer.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
            true = signals.next() => return,
        }
    }
}
