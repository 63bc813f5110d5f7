//! Each message's encoded bytes, kept across the turns of one conversation so a turn encodes
//! only the messages it appends (a tool loop resends the whole conversation every turn; encoding
//! it again each time made a 1,000-call loop quadratic in llm-do's own CPU).
//!
//! The cache travels in the [`ModelRequest`](super::ModelRequest) that the worker run loop grows
//! turn by turn. Messages already sent are not edited; should one be (same position, other
//! content), its fingerprint (role, part kinds and every string's length) no longer matches and
//! it and everything after it are encoded again. Debug builds check every cached encoding
//! against a fresh one.

use std::sync::Mutex;

use super::{Message, Part};

/// One message as a wire encodes it: `bytes` holds its blocks back to back, `ends` where each
/// block ends, and the first `results` blocks are tool results (wires that order them first).
#[derive(Debug, Default, Clone)]
pub(crate) struct Encoded {
    fingerprint: u64,
    pub bytes: Vec<u8>,
    pub ends: Vec<usize>,
    pub results: usize,
}

impl Encoded {
    /// An empty encoding whose first `results` blocks will be tool results.
    pub fn with_results(results: usize) -> Self {
        Encoded {
            results,
            ..Encoded::default()
        }
    }

    /// A message encoded as one fragment (no block structure).
    pub fn fragment(bytes: Vec<u8>) -> Self {
        let ends = vec![bytes.len()];
        Encoded {
            fingerprint: 0,
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

/// The per-message encodings of one conversation for the wire that last encoded it.
#[derive(Default)]
pub struct EncodeCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    wire: &'static str,
    messages: Vec<Encoded>,
}

impl EncodeCache {
    /// Call `assemble` with the encodings of `messages` for `wire`, encoding with `encode` the
    /// messages not cached yet (or changed since). Without the cache (held elsewhere), every
    /// message is encoded for this call only.
    pub(crate) fn with<R, E>(
        &self,
        wire: &'static str,
        messages: &[Message],
        encode: impl Fn(&Message) -> Result<Encoded, E>,
        assemble: impl FnOnce(&[Encoded]) -> R,
    ) -> Result<R, E> {
        let Ok(mut state) = self.state.try_lock() else {
            let fresh = messages
                .iter()
                .map(&encode)
                .collect::<Result<Vec<_>, E>>()?;
            return Ok(assemble(&fresh));
        };
        if state.wire != wire {
            state.wire = wire;
            state.messages.clear();
        }
        let kept = state
            .messages
            .iter()
            .zip(messages)
            .take_while(|(cached, m)| cached.fingerprint == fingerprint(m))
            .count();
        state.messages.truncate(kept);
        for message in &messages[kept..] {
            let mut encoded = encode(message)?;
            encoded.fingerprint = fingerprint(message);
            state.messages.push(encoded);
        }
        Ok(assemble(&state.messages))
    }
}

impl Clone for EncodeCache {
    /// A copy starts empty: the copy may be edited apart from the original.
    fn clone(&self) -> Self {
        EncodeCache::default()
    }
}

impl PartialEq for EncodeCache {
    /// A cache never makes two requests differ.
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for EncodeCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncodeCache")
    }
}

/// What identifies a message's content cheaply: its role, the kind of each part and the length
/// of each of its strings.
fn fingerprint(message: &Message) -> u64 {
    let mut h = Fnv::default();
    h.add(message.role as u64);
    h.add(message.parts.len() as u64);
    for part in &message.parts {
        match part {
            Part::Text(t) => {
                h.add(1);
                h.add(t.len() as u64);
            }
            Part::ToolCall(c) => {
                h.add(2);
                h.add(c.id.len() as u64);
                h.add(c.name.len() as u64);
                h.add(json_size(&c.arguments));
            }
            Part::ToolResult(r) => {
                h.add(3 + u64::from(r.is_error));
                h.add(r.call_id.len() as u64);
                h.add(r.name.len() as u64);
                h.add(r.content.len() as u64);
            }
            Part::Attachment(a) => {
                h.add(5);
                h.add(a.path.len() as u64);
                h.add(a.media_type.len() as u64);
                h.add(a.data_base64.len() as u64);
            }
            Part::Thinking(block) => {
                h.add(6);
                h.add(json_size(block));
            }
        }
    }
    h.0
}

/// A size of a JSON value (its strings' lengths and its element counts), without encoding it.
fn json_size(value: &serde_json::Value) -> u64 {
    use serde_json::Value;
    match value {
        Value::Null => 1,
        Value::Bool(b) => 2 + u64::from(*b),
        Value::Number(n) => 4 + n.as_f64().map_or(0, f64::to_bits),
        Value::String(s) => 8 + s.len() as u64,
        Value::Array(a) => a.iter().fold(16 + a.len() as u64, |acc, v| {
            acc.wrapping_mul(31).wrapping_add(json_size(v))
        }),
        Value::Object(m) => m.iter().fold(32 + m.len() as u64, |acc, (k, v)| {
            acc.wrapping_mul(31)
                .wrapping_add(k.len() as u64)
                .wrapping_mul(31)
                .wrapping_add(json_size(v))
        }),
    }
}

/// FNV-1a over 64-bit words.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn add(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(0x0100_0000_01b3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(m: &Message) -> Result<Encoded, ()> {
        Ok(Encoded::fragment(m.text().into_bytes()))
    }

    fn texts(cache: &EncodeCache, wire: &'static str, messages: &[Message]) -> Vec<String> {
        cache
            .with(wire, messages, encode, |e| {
                e.iter()
                    .map(|e| String::from_utf8(e.bytes.clone()).unwrap())
                    .collect()
            })
            .unwrap()
    }

    /// Appended messages are encoded; a changed one is encoded again with all after it; another
    /// wire starts over.
    #[test]
    fn keeps_what_did_not_change() {
        let cache = EncodeCache::default();
        let mut messages = vec![Message::user("a"), Message::assistant("b")];
        assert_eq!(texts(&cache, "w", &messages), ["a", "b"]);
        messages.push(Message::user("c"));
        assert_eq!(texts(&cache, "w", &messages), ["a", "b", "c"]);
        messages[1] = Message::assistant("bb");
        assert_eq!(texts(&cache, "w", &messages), ["a", "bb", "c"]);
        messages.truncate(1);
        assert_eq!(texts(&cache, "w", &messages), ["a"]);
        assert_eq!(texts(&cache, "other", &messages), ["a"]);
        let held = cache.state.lock().unwrap();
        assert_eq!(
            cache
                .with("w", &messages, encode, <[Encoded]>::len)
                .unwrap(),
            1
        );
        drop(held);
    }

    /// A conversation grown turn by turn (tool calls, merged user turns, an edit of a sent
    /// message) encodes, on both wires, to the bytes a fresh request (a copy: empty cache)
    /// encodes to.
    #[test]
    fn growing_conversations_encode_as_fresh_ones() {
        use crate::model::{ModelRequest, ToolCall, ToolDef, ToolResult, anthropic, openai};
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
                messages: vec![Message::user("go \"quoted\" \u{e9}")],
                ..ModelRequest::default()
            };
            let check = |request: &ModelRequest| {
                let fresh = request.clone();
                assert_eq!(
                    openai::encode_request(request, "m", false).unwrap(),
                    openai::encode_request(&fresh, "m", false).unwrap()
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
                    // Two user messages in a row merge into one turn (tool results first).
                    request.messages.push(Message::user("and more"));
                }
                check(&request);
            }
            request.messages[0] = Message::user("edited");
            check(&request);
        }
    }
}
