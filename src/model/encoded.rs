//! A request's messages with each one's encoded bytes, kept across the turns of one
//! conversation so a turn encodes only the messages it appends (a tool loop resends the whole
//! conversation every turn; encoding it again each time made a 1,000-call loop quadratic in
//! llm-do's own CPU).
//!
//! [`Messages`] is append-only except through [`Messages::edit`], which forgets every kept
//! encoding: a kept encoding always belongs to the message at its position, by construction
//! (no per-turn check of the whole conversation). Debug builds still compare every body
//! assembled from kept encodings against a fresh encoding.

use std::ops::Deref;
use std::sync::Mutex;

use super::{Message, ModelError};

/// One message as a wire encodes it: `bytes` holds its blocks back to back, `ends` where each
/// block ends, and the first `results` blocks are tool results (wires that order them first).
#[derive(Debug, Default, Clone)]
pub(crate) struct Encoded {
    pub bytes: Vec<u8>,
    pub ends: Vec<usize>,
    pub results: usize,
}

impl Encoded {
    /// A message encoded as one fragment (no block structure).
    pub fn fragment(bytes: Vec<u8>) -> Self {
        let ends = vec![bytes.len()];
        Encoded {
            bytes,
            ends,
            results: 0,
        }
    }

    /// The encoded blocks, in order.
    pub fn blocks(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let block = &self.bytes[start..end];
            start = end;
            block
        })
    }
}

/// The messages of a request, and their encodings for the wire that last sent them.
///
/// Reading is through the slice it derefs to; appending ([`push`](Messages::push)) keeps every
/// kept encoding, [`split_off`](Messages::split_off) keeps those before the split, and any
/// other change goes through [`edit`](Messages::edit), which drops them all.
#[derive(Default, serde::Serialize)]
#[serde(transparent)]
pub struct Messages {
    list: Vec<Message>,
    /// Encodings of the first messages of `list`, never more than `list` holds.
    #[serde(skip)]
    encoded: Mutex<Kept>,
}

#[derive(Default)]
struct Kept {
    wire: &'static str,
    messages: Vec<Encoded>,
    /// The last body [`Messages::joined_body`] made, to append the next turn to.
    body: Option<KeptBody>,
}

/// A body [`Messages::kept_body`] made, and where the next turn can continue it.
struct KeptBody {
    /// Shared with the request while it is in flight; unique again once it is done.
    bytes: bytes::Bytes,
    head: usize,
    resume: Resume,
}

/// Where a body can be continued: the messages before `count` are written, ending at byte
/// `end`; what follows comes after a separator unless `empty`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    pub count: usize,
    pub end: usize,
    pub empty: bool,
}

impl Messages {
    /// Append `message`: what was encoded stays kept.
    pub fn push(&mut self, message: Message) {
        self.list.push(message);
    }

    /// The messages from `at` on, removed; the encodings before `at` stay kept.
    pub fn split_off(&mut self, at: usize) -> Vec<Message> {
        let kept = crate::sync::get_mut(&mut self.encoded);
        kept.messages.truncate(at);
        kept.body = None;
        self.list.split_off(at)
    }

    /// The messages to change in any way; every kept encoding is dropped.
    pub fn edit(&mut self) -> &mut Vec<Message> {
        *crate::sync::get_mut(&mut self.encoded) = Kept::default();
        &mut self.list
    }

    /// The body `head`, then what `write` appends for the messages, then `tail`. `write` gets
    /// the body so far, where it resumes (`empty`: whether the head ends where a first
    /// element goes, with no separator before it), the messages from there and their
    /// encodings; it returns where a later turn may resume, `count` relative to the messages
    /// it got (everything before that point must stay as written whatever is appended).
    ///
    /// The last body is kept: when the next turn keeps the head, and the request that carried
    /// the last body is done with it, `write` continues it in place from its resume point. A
    /// tool loop's body then grows by what a turn adds instead of being copied whole every
    /// turn (a tenth of a 1,000-call loop's CPU). Anything else builds the body afresh from
    /// the kept encodings.
    pub(crate) fn kept_body<E>(
        &self,
        wire: &'static str,
        encode: impl Fn(&Message) -> Result<Encoded, E>,
        (head, empty, tail): (&[u8], bool, &[u8]),
        write: impl Fn(&mut bytes::BytesMut, Resume, &[Message], &[Encoded]) -> Resume,
    ) -> Result<bytes::Bytes, E> {
        let start = Resume {
            count: 0,
            end: head.len(),
            empty,
        };
        // The whole body written from `encoded`, one encoding per message.
        let fresh = |encoded: &[Encoded]| {
            let mut buf = bytes::BytesMut::from(head);
            write(&mut buf, start, &self.list, encoded);
            buf.extend_from_slice(tail);
            buf.freeze()
        };
        let encode_all = || self.list.iter().map(&encode).collect::<Result<Vec<_>, E>>();
        let Ok(mut kept) = self.encoded.try_lock() else {
            return Ok(fresh(&encode_all()?));
        };
        // Encode the messages not kept yet (all of them for another wire).
        if kept.wire != wire {
            *kept = Kept {
                wire,
                ..Kept::default()
            };
        }
        let done = kept.messages.len();
        debug_assert!(done <= self.list.len(), "more encodings kept than messages");
        for message in &self.list[done..] {
            kept.messages.push(encode(message)?);
        }
        let last = kept.body.take().filter(|b| {
            b.resume.count <= kept.messages.len()
                && b.head == head.len()
                && b.bytes.starts_with(head)
        });
        let (mut buf, from) = match last.map(|b| (b.bytes.try_into_mut(), b.resume)) {
            Some((Ok(mut buf), resume)) => {
                buf.truncate(resume.end);
                (buf, resume)
            }
            _ => (bytes::BytesMut::from(head), start),
        };
        let n = from.count;
        let resume = write(&mut buf, from, &self.list[n..], &kept.messages[n..]);
        buf.extend_from_slice(tail);
        let bytes = buf.freeze();
        debug_assert_eq!(
            String::from_utf8_lossy(&bytes),
            String::from_utf8_lossy(&fresh(&encode_all()?)),
            "the cached encoding differs from a fresh one"
        );
        kept.body = Some(KeptBody {
            bytes: bytes.clone(),
            head: head.len(),
            resume: Resume {
                count: n + resume.count,
                ..resume
            },
        });
        Ok(bytes)
    }
}

/// The error of a request body that cannot be encoded.
pub(crate) fn encoding(e: serde_json::Error) -> ModelError {
    ModelError::Other(format!("cannot encode the request: {e}"))
}

/// The bytes of a JSON object around its `messages` array: the fields of `head` (an object)
/// then `"messages":[`, and `]` then the fields of `tail` (an object, maybe empty) and `}`.
pub(crate) fn frame(
    head: &impl serde::Serialize,
    tail: &impl serde::Serialize,
) -> serde_json::Result<(Vec<u8>, Vec<u8>)> {
    let mut start = serde_json::to_vec(head)?;
    start.pop();
    start.extend_from_slice(b",\"messages\":[");
    let fields = serde_json::to_vec(tail)?;
    let mut end = b"]".to_vec();
    if fields.len() > 2 {
        end.push(b',');
        end.extend_from_slice(&fields[1..]);
    } else {
        end.push(b'}');
    }
    Ok((start, end))
}

/// A [`Messages::kept_body`] writer for wires whose messages are a plain comma-separated
/// list: the non-empty encodings joined by commas, all of them settled once written.
pub(crate) fn join(
    buf: &mut bytes::BytesMut,
    from: Resume,
    _: &[Message],
    encoded: &[Encoded],
) -> Resume {
    let size: usize = encoded.iter().map(|e| e.bytes.len() + 1).sum();
    buf.reserve(size);
    let mut empty = from.empty;
    for e in encoded.iter().filter(|e| !e.bytes.is_empty()) {
        if !empty {
            buf.extend_from_slice(b",");
        }
        empty = false;
        buf.extend_from_slice(&e.bytes);
    }
    Resume {
        count: encoded.len(),
        end: buf.len(),
        empty,
    }
}

impl Deref for Messages {
    type Target = [Message];

    fn deref(&self) -> &[Message] {
        &self.list
    }
}

impl From<Vec<Message>> for Messages {
    fn from(list: Vec<Message>) -> Self {
        Messages {
            list,
            encoded: Mutex::default(),
        }
    }
}

impl Clone for Messages {
    /// A copy keeps no encodings: it may be edited apart from the original.
    fn clone(&self) -> Self {
        Messages::from(self.list.clone())
    }
}

impl PartialEq for Messages {
    /// Kept encodings never make two requests differ.
    fn eq(&self, other: &Self) -> bool {
        self.list == other.list
    }
}

impl std::fmt::Debug for Messages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.list.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(m: &Message) -> Result<Encoded, ()> {
        Ok(Encoded::fragment(m.text().into_owned().into_bytes()))
    }

    /// The messages' kept (or fresh) encodings for `wire`, comma-joined.
    fn texts(messages: &Messages, wire: &'static str) -> String {
        let body = messages.kept_body(wire, encode, (b"", true, b""), join);
        String::from_utf8(body.unwrap().to_vec()).unwrap()
    }

    fn kept(messages: &Messages) -> usize {
        messages.encoded.lock().unwrap().messages.len()
    }

    /// Appended messages are encoded; an edit drops every kept encoding, a split those after
    /// it; another wire starts over; a copy keeps none.
    #[test]
    fn keeps_what_did_not_change() {
        let mut messages = Messages::from(vec![Message::user("a"), Message::assistant("b")]);
        assert_eq!(texts(&messages, "w"), "a,b");
        messages.push(Message::user("c"));
        assert_eq!(kept(&messages), 2);
        assert_eq!(texts(&messages, "w"), "a,b,c");
        messages.edit()[1] = Message::assistant("bb");
        assert_eq!(kept(&messages), 0);
        assert_eq!(texts(&messages, "w"), "a,bb,c");
        assert_eq!(messages.split_off(1).len(), 2);
        assert_eq!(kept(&messages), 1);
        assert_eq!(texts(&messages, "w"), "a");
        assert_eq!(texts(&messages, "other"), "a");
        assert_eq!(kept(&messages.clone()), 0);
        // While the encodings are held elsewhere, a request is encoded afresh.
        let held = messages.encoded.lock().unwrap();
        assert_eq!(texts(&messages, "w"), "a");
        drop(held);
    }

    fn body(messages: &Messages, head: &str, tail: &str) -> String {
        let empty = head.ends_with('[');
        let bytes = messages
            .kept_body("w", encode, (head.as_bytes(), empty, tail.as_bytes()), join)
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// A kept body grows by what is appended; one still held elsewhere is never written
    /// over; another head, an edit or a split builds it afresh.
    #[test]
    fn joined_bodies_append_and_never_change_what_is_held() {
        let mut messages = Messages::from(vec![Message::user("a"), Message::user("b")]);
        assert_eq!(body(&messages, "[", "]"), "[a,b]");
        messages.push(Message::user("c"));
        assert_eq!(body(&messages, "[", "],t"), "[a,b,c],t");
        let held = messages
            .kept_body("w", encode, (b"[", true, b"]"), join)
            .unwrap();
        messages.push(Message::user("d"));
        assert_eq!(body(&messages, "[", "]"), "[a,b,c,d]");
        assert_eq!(&held[..], b"[a,b,c]");
        assert_eq!(body(&messages, "[s", "]"), "[s,a,b,c,d]");
        messages.push(Message::user(""));
        messages.push(Message::user("e"));
        assert_eq!(body(&messages, "[s", "]"), "[s,a,b,c,d,e]");
        assert_eq!(messages.split_off(2).len(), 4);
        assert_eq!(body(&messages, "[s", "]"), "[s,a,b]");
        messages.edit()[0] = Message::user("z");
        assert_eq!(body(&messages, "[", "]"), "[z,b]");
        let empty = Messages::default();
        assert_eq!(body(&empty, "[", "]"), "[]");
    }

    /// A conversation grown turn by turn (tool calls, merged user turns, an edit of a sent
    /// message) encodes, on both wires, to the bytes a fresh request (a copy: empty cache)
    /// encodes to.
    #[test]
    fn growing_conversations_encode_as_fresh_ones() {
        use crate::model::{ModelRequest, Part, ToolCall, ToolDef, ToolResult, anthropic, openai};
        use serde_json::json;
        for cache in [false, true] {
            let mut request = ModelRequest {
                system: "sys".into(),
                tools: vec![ToolDef {
                    name: "add".into(),
                    description: "Add.".into(),
                    parameters: json!({"type": "object"}),
                }],
                cache,
                messages: vec![Message::user("go \"quoted\" \u{e9}")].into(),
                ..ModelRequest::default()
            };
            let check = |request: &ModelRequest| {
                let fresh = request.clone();
                assert_eq!(
                    openai::encode_request(request, "m", false, "local").unwrap(),
                    openai::encode_request(&fresh, "m", false, "local").unwrap()
                );
                assert_eq!(
                    anthropic::encode_request(request, "m", true).unwrap(),
                    anthropic::encode_request(&fresh, "m", true).unwrap()
                );
            };
            check(&request);
            for turn in 0..5 {
                let id = format!("c{turn}");
                request.messages.push(Message {
                    role: crate::model::Role::Assistant,
                    parts: vec![
                        Part::Text(String::new()),
                        Part::ToolCall(ToolCall {
                            id: id.clone(),
                            name: "add".into(),
                            arguments: json!({"a": turn}),
                        }),
                    ],
                });
                check(&request);
                request.messages.push(Message {
                    role: crate::model::Role::User,
                    parts: vec![Part::ToolResult(ToolResult {
                        call_id: id,
                        name: "add".into(),
                        content: turn.to_string(),
                        is_error: turn == 2,
                    })],
                });
                if turn == 3 {
                    // Two user messages in a row merge into one turn (tool results first),
                    // also into the last turn of a body already sent.
                    check(&request);
                    request.messages.push(Message::user("and more"));
                }
                check(&request);
            }
            request.messages.edit()[0] = Message::user("edited");
            check(&request);
        }
    }
}
