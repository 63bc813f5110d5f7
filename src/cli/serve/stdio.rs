//! The stdio transport of `mcp serve`: one JSON-RPC message per line, as rmcp's own, except
//! that a line over [`MAX_LINE`] is answered. rmcp's transport drops such a line without a
//! word, so the client's request waited forever; here the client gets an error under the
//! request's id saying what the limit is, and the server goes on with the next line. The
//! oversized line is never held in memory: past the limit it is skipped as it streams by.

use std::future::Future;
use std::sync::Arc;

use rmcp::service::{RoleServer, RxJsonRpcMessage, TxJsonRpcMessage};
use serde::de::{Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;

/// The largest message a client may send, in bytes (rmcp's limit, and its HTTP client's).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// How much of an oversized message is kept to find its request's id in (over stdio, and over
/// HTTP when a client goes away): clients write `id` before `params` (the MCP SDKs do).
pub(super) const ID_WINDOW: usize = 64 * 1024;

/// JSON-RPC's "Invalid Request".
const INVALID_REQUEST: i64 = -32600;

/// Line-delimited JSON-RPC over a reader and a writer (stdin and stdout).
pub struct Lines<R, W> {
    read: BufReader<R>,
    /// The line read so far: `receive` may be cancelled between reads (rmcp polls it in a
    /// `select!`), so a partial line lives here, not in the future.
    line: Vec<u8>,
    /// Set while the rest of an oversized line streams by.
    skipping: Option<Oversized>,
    write: Arc<Mutex<W>>,
    max: usize,
}

/// An oversized line being skipped: its request's id, if its start showed one, and its size.
struct Oversized {
    id: Option<Value>,
    bytes: usize,
}

impl<R: AsyncRead + Unpin + Send, W: AsyncWrite + Unpin + Send + 'static> Lines<R, W> {
    pub fn new(read: R, write: W) -> Self {
        Self::with_max(read, write, MAX_LINE)
    }

    fn with_max(read: R, write: W, max: usize) -> Self {
        Self {
            read: BufReader::new(read),
            line: Vec::new(),
            skipping: None,
            write: Arc::new(Mutex::new(write)),
            max,
        }
    }

    /// The next whole line (without its newline), or `None` at the end of input. Oversized
    /// lines are answered here and never returned.
    async fn next_line(&mut self) -> Option<Vec<u8>> {
        loop {
            let buf = self.read.fill_buf().await.ok()?;
            if buf.is_empty() {
                return None;
            }
            let (n, ends) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if let Some(skip) = &mut self.skipping {
                skip.bytes += n;
            } else if self.line.len() + n > self.max + usize::from(ends) {
                let room = ID_WINDOW.saturating_sub(self.line.len()).min(n);
                self.line.extend_from_slice(&buf[..room]);
                self.skipping = Some(Oversized {
                    id: request_id(&self.line),
                    bytes: self.line.len() - room + n,
                });
                self.line = Vec::new();
            } else {
                self.line.extend_from_slice(&buf[..n]);
            }
            self.read.consume(n);
            if !ends {
                continue;
            }
            if let Some(skip) = self.skipping.take() {
                self.answer(skip.id, &too_large(skip.bytes, self.max));
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            while line.last().is_some_and(|b| matches!(b, b'\n' | b'\r')) {
                line.pop();
            }
            if !line.is_empty() {
                return Some(line);
            }
        }
    }

    /// Send an error response with `id` (JSON-RPC's `null` when it is not known). It is
    /// written by a task of its own, so that a cancelled `receive` cannot cut it short.
    fn answer(&self, id: Option<Value>, message: &str) {
        let response = serde_json::json!({
            "jsonrpc": "2.0",
            "id": id.unwrap_or(Value::Null),
            "error": {"code": INVALID_REQUEST, "message": message},
        });
        let write = self.write.clone();
        tokio::spawn(async move {
            let _ = write_line(&write, &response).await;
        });
    }
}

impl<R, W> rmcp::transport::Transport<RoleServer> for Lines<R, W>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let write = self.write.clone();
        async move { write_line(&write, &item).await }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            let line = self.next_line().await?;
            match serde_json::from_slice(&line) {
                Ok(message) => return Some(message),
                // Not JSON at all: there is no id to answer, and answering could start an
                // error storm with a peer that echoes; ignored, as rmcp and the SDKs do.
                Err(e) if e.is_syntax() || e.is_eof() => {}
                Err(e) => self.answer(
                    request_id(&line),
                    &format!("not a JSON-RPC message this server understands: {e}"),
                ),
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.write.lock().await.flush().await
    }
}

/// Write `value` as one line and flush.
async fn write_line<W: AsyncWrite + Unpin>(
    write: &Mutex<W>,
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    let mut w = write.lock().await;
    w.write_all(&bytes).await?;
    w.flush().await
}

/// The error a client gets for a message of `bytes` over the `max`.
fn too_large(bytes: usize, max: usize) -> String {
    format!(
        "message too large: {} bytes, over the limit of {} bytes ({} MiB) on one message; \
         nothing of it was read. Pass large inputs as files in the project instead",
        bytes,
        max,
        max / (1024 * 1024)
    )
}

/// The `id` of the JSON-RPC request `text` starts (a number or a string), read from its top
/// level as far as the text goes: it may be cut anywhere after the id.
pub(super) fn request_id(text: &[u8]) -> Option<Value> {
    struct FindId<'a>(&'a mut Option<Value>);

    impl<'de> Visitor<'de> for FindId<'_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON-RPC message")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "id" {
                    let id: Value = map.next_value()?;
                    if id.is_number() || id.is_string() {
                        *self.0 = Some(id);
                    }
                    return Ok(());
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }

    let mut id = None;
    // The text is cut, so reading it always ends in an error; the id is kept as it is found.
    let _ = serde_json::Deserializer::from_slice(text).deserialize_map(FindId(&mut id));
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::transport::Transport;

    #[test]
    fn the_id_is_found_at_the_start_of_a_cut_message() {
        let cut =
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{"t":"aaaa"#;
        assert_eq!(request_id(cut), Some(Value::from(7)));
        let cut = br#"{ "id" : "r-1", "params": {"#;
        assert_eq!(request_id(cut), Some(Value::from("r-1")));
        let cut = br#"{"jsonrpc":"2.0","params":{"arguments":{"t":"aaaa"#;
        assert_eq!(request_id(cut), None);
        assert_eq!(request_id(br#"{"id":null}"#), None);
        assert_eq!(request_id(b"not json"), None);
    }

    /// A line over the limit is answered under its id and skipped; the lines around it are
    /// read as usual.
    #[tokio::test]
    async fn an_oversized_line_is_answered_and_the_next_one_read() {
        let ping = |id: u32| format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"method\":\"ping\"}}\n");
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":{{\"x\":\"{}\"}}}}\n",
            "a".repeat(300)
        );
        let input = format!("{}{big}{}", ping(1), ping(3));
        // Read 16 bytes at a time, so that lines end and the limit passes mid-read.
        let (mut feed, read) = tokio::io::duplex(16);
        tokio::spawn(async move { feed.write_all(input.as_bytes()).await });
        let (out, mut peer) = tokio::io::duplex(1 << 16);
        let mut lines = Lines::with_max(read, out, 100);
        let first = Transport::<RoleServer>::receive(&mut lines).await.unwrap();
        assert_eq!(serde_json::to_value(first).unwrap()["id"], 1);
        let third = Transport::<RoleServer>::receive(&mut lines).await.unwrap();
        assert_eq!(serde_json::to_value(third).unwrap()["id"], 3);
        assert!(Transport::<RoleServer>::receive(&mut lines).await.is_none());
        assert!(too_large(big.len(), 100).starts_with(&format!(
            "message too large: {} bytes, over the limit of 100 bytes",
            big.len()
        )));
        let mut answer = String::new();
        let mut peer_lines = tokio::io::BufReader::new(&mut peer);
        peer_lines.read_line(&mut answer).await.unwrap();
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(
            answer,
            serde_json::json!({"jsonrpc": "2.0", "id": 2, "error": {"code": -32600, "message":
                too_large(big.len(), 100)}})
        );
    }
}
