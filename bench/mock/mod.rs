//! A mock model server for benchmarks and tests: OpenAI Chat Completions and Anthropic Messages
//! over plain HTTP/1.1 with keep-alive, a fixed (or per-conversation) latency, and counters of
//! requests in flight. `GET /stats` returns the counters as JSON; `POST /stats/reset` zeroes
//! them. What it answers is decided in [`wire`].
//!
//! A request whose client goes away while it waits out its latency is counted as `dropped`
//! (that is how tests see a cancelled sibling), one that gets its reply as `completed`.
//!
//! Shared by `examples/mock_server.rs` (the benchmark harness) and the integration tests, each
//! using a different part of it.
#![allow(dead_code)]

pub mod wire;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

pub use wire::Script;
use wire::Wire;

/// Largest request head or body accepted.
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// Counters of model requests.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    completed: AtomicU64,
    dropped: AtomicU64,
}

impl Stats {
    /// The counters as `{requests, in_flight, max_in_flight, completed, dropped}`.
    pub fn snapshot(&self) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::SeqCst);
        json!({
            "requests": get(&self.requests),
            "in_flight": get(&self.in_flight),
            "max_in_flight": get(&self.max_in_flight),
            "completed": get(&self.completed),
            "dropped": get(&self.dropped),
        })
    }

    fn reset(&self) {
        for c in [
            &self.requests,
            &self.max_in_flight,
            &self.completed,
            &self.dropped,
        ] {
            c.store(0, Ordering::SeqCst);
        }
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// Counts one request in flight until dropped.
struct InFlight<'a>(&'a Stats);

impl<'a> InFlight<'a> {
    fn new(stats: &'a Stats) -> Self {
        stats.requests.fetch_add(1, Ordering::SeqCst);
        let now = stats.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(stats)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running mock server.
pub struct MockServer {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl MockServer {
    /// Listen on `addr` (port 0 picks a free port) and serve in the background.
    pub async fn start(addr: &str, script: Script) -> io::Result<MockServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(serve(listener, Arc::new(script), stats.clone()));
        Ok(MockServer { addr, stats, task })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(listener: TcpListener, script: Arc<Script>, stats: Arc<Stats>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, script.clone(), stats.clone()));
    }
}

/// One parsed request.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    close: bool,
}

/// Serve requests on one keep-alive connection until the client closes it.
async fn connection(stream: TcpStream, script: Arc<Script>, stats: Arc<Stats>) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Ok(Some(request)) = read_request(&mut reader).await {
        let (status, body) = match (request.method.as_str(), request.path.as_str()) {
            ("GET", "/stats") => (200, stats.snapshot()),
            ("POST", "/stats/reset") => {
                stats.reset();
                (200, stats.snapshot())
            }
            ("POST", p) if p.ends_with("/chat/completions") || p.ends_with("/messages") => {
                let wire = if p.ends_with("/messages") {
                    Wire::Anthropic
                } else {
                    Wire::OpenAi
                };
                let guard = InFlight::new(&stats);
                let Ok(json) = serde_json::from_slice::<Value>(&request.body) else {
                    let _ = respond(&mut write, 400, &json!({"error": "body is not JSON"})).await;
                    continue;
                };
                let reply = wire::reply(wire, &json, &script);
                let wait = async {
                    while stats.in_flight.load(Ordering::SeqCst) < reply.await_in_flight {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    tokio::time::sleep(reply.delay).await;
                };
                tokio::select! {
                    () = wait => {}
                    // The client only sends again after our reply, so readable here means closed.
                    _ = reader.fill_buf() => {
                        stats.dropped.fetch_add(1, Ordering::SeqCst);
                        return;
                    }
                }
                drop(guard);
                stats.completed.fetch_add(1, Ordering::SeqCst);
                (reply.status, reply.body)
            }
            _ => (
                404,
                json!({"error": format!("no route for {} {}", request.method, request.path)}),
            ),
        };
        if respond(&mut write, status, &body).await.is_err() || request.close {
            return;
        }
    }
}

/// Read one request (head and `content-length` body); `None` when the client closed.
async fn read_request<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad request line",
        ));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let (mut length, mut close) = (0usize, false);
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().map_err(|_| invalid("bad content-length"))?;
            } else if name.eq_ignore_ascii_case("connection") {
                close = value.eq_ignore_ascii_case("close");
            }
        }
    }
    if length > MAX_BYTES {
        return Err(invalid("body too large"));
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await?;
    Ok(Some(Request {
        method,
        path,
        body,
        close,
    }))
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

async fn respond<W: AsyncWriteExt + Unpin>(
    write: &mut W,
    status: u16,
    body: &Value,
) -> io::Result<()> {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    write.write_all(head.as_bytes()).await?;
    write.write_all(body.as_bytes()).await?;
    write.flush().await
}
