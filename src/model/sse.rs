//! Server-sent events: decodes a byte stream into events (via `eventsource-stream`, which
//! copes with arbitrary chunk boundaries, CRLF and keep-alive comments) and feeds them to a
//! wire format's [`SseHandler`], forwarding its [`StreamEvent`]s to the caller's sink.

use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::{Stream, StreamExt};

use super::{ModelError, ModelResponse, StreamEvent, StreamSink};

/// Whether a handler wants more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// The terminal event arrived (`[DONE]`, `message_stop`); stop reading.
    Done,
}

/// A wire format's reply parser: pure, fed one decoded event at a time, or a whole
/// non-streamed body.
pub trait SseHandler {
    /// Handles one event (`event` is the SSE event name, `message` when absent). Events for the
    /// sink go into `out`.
    fn on_event(
        &mut self,
        event: &str,
        data: &str,
        out: &mut Vec<StreamEvent>,
    ) -> Result<Flow, ModelError>;
    /// The reply once the byte stream ended; errors when the stream was cut short.
    fn finish(self) -> Result<ModelResponse, ModelError>;
    /// The reply from a whole non-streamed JSON body.
    fn whole(self, body: &serde_json::Value) -> Result<ModelResponse, ModelError>;
}

/// Reads `bytes` to the end (or to the handler's terminal event) and returns the reply.
pub async fn drive<S, B, H>(
    bytes: S,
    mut handler: H,
    sink: Option<StreamSink<'_>>,
    provider: &str,
) -> Result<ModelResponse, ModelError>
where
    S: Stream<Item = Result<B, ModelError>> + Unpin,
    B: AsRef<[u8]>,
    H: SseHandler,
{
    let mut events = bytes.eventsource();
    let mut out = Vec::new();
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| decode_error(e, provider))?;
        let flow = handler.on_event(&event.event, &event.data, &mut out)?;
        if let Some(sink) = sink {
            out.drain(..).for_each(sink);
        } else {
            out.clear();
        }
        if flow == Flow::Done {
            break;
        }
    }
    handler.finish()
}

fn decode_error(error: EventStreamError<ModelError>, provider: &str) -> ModelError {
    match error {
        EventStreamError::Transport(failure) => failure,
        EventStreamError::Utf8(e) => protocol(provider, format!("stream is not valid UTF-8: {e}")),
        EventStreamError::Parser(e) => protocol(provider, format!("malformed event stream: {e}")),
    }
}

/// A non-retryable [`ModelError::Protocol`] failure.
pub fn protocol(provider: &str, message: impl Into<String>) -> ModelError {
    ModelError::Protocol {
        provider: provider.to_owned(),
        message: message.into(),
    }
}

/// Splits `bytes` into chunks of 1..=7 bytes (cycling), for tests of boundary handling.
#[cfg(test)]
pub fn ragged_chunks(bytes: &[u8]) -> Vec<Result<Vec<u8>, ModelError>> {
    let mut chunks = Vec::new();
    let mut rest = bytes;
    let mut size = 1;
    while !rest.is_empty() {
        let (head, tail) = rest.split_at(size.min(rest.len()));
        chunks.push(Ok(head.to_vec()));
        rest = tail;
        size = size % 7 + 1;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    /// Collects `event:data` pairs; done at `[DONE]`.
    #[derive(Default)]
    struct Echo(Vec<String>, bool);

    impl SseHandler for Echo {
        fn on_event(
            &mut self,
            event: &str,
            data: &str,
            out: &mut Vec<StreamEvent>,
        ) -> Result<Flow, ModelError> {
            if data == "[DONE]" {
                self.1 = true;
                return Ok(Flow::Done);
            }
            out.push(StreamEvent::TextDelta(data.to_owned()));
            self.0.push(format!("{event}:{data}"));
            Ok(Flow::Continue)
        }
        fn whole(self, _: &serde_json::Value) -> Result<ModelResponse, ModelError> {
            self.finish()
        }
        fn finish(self) -> Result<ModelResponse, ModelError> {
            if !self.1 {
                return Err(protocol("p", "stream ended early"));
            }
            Ok(ModelResponse {
                text: self.0.join("|"),
                ..ModelResponse::default()
            })
        }
    }

    #[tokio::test]
    async fn decodes_events_across_ragged_chunks() {
        let text = ": keep-alive\n\nevent: a\ndata: héllo\n\r\ndata: {\"x\":1}\n\ndata: [DONE]\n\ndata: ignored\n\n";
        let seen = std::sync::Mutex::new(Vec::new());
        let sink = |e: StreamEvent| seen.lock().unwrap().push(e);
        let reply = drive(
            stream::iter(ragged_chunks(text.as_bytes())),
            Echo::default(),
            Some(&sink),
            "p",
        )
        .await
        .unwrap();
        assert_eq!(reply.text, "a:héllo|message:{\"x\":1}");
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn transport_errors_and_early_ends_surface() {
        let chunks: Vec<Result<Vec<u8>, ModelError>> = vec![
            Ok(b"data: 1\n\n".to_vec()),
            Err(ModelError::Other("reset".into())),
        ];
        let err = drive(stream::iter(chunks), Echo::default(), None, "p")
            .await
            .unwrap_err();
        assert!(matches!(err, ModelError::Other(m) if m == "reset"));
        let err = drive(
            stream::iter(ragged_chunks(b"data: 1\n\n")),
            Echo::default(),
            None,
            "p",
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("stream ended early"));
    }
}
