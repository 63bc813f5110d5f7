//! `chat(name)` in Rhai (DESIGN §16): a conversation with a worker that remembers earlier
//! turns. `let c = chat("helper"); c.send("hi"); c.send("and again")`: each `send` is one turn
//! through the runtime's one seam ([`Caller::chat_turn`]), so input validation, budgets,
//! traces and the run log apply exactly as to `call("helper", ...)`; the worker run sends the
//! conversation so far before the new input. Copies of a chat value share its conversation.

use std::sync::Weak;

use rhai::{Array, Dynamic, Engine, EvalAltResult, NativeCallContext};

use crate::call::Conversation;
use crate::script::call::{call_error, ctx_of, upgrade};
use crate::script::caller::Caller;
use crate::script::value;

/// The Rhai fn that starts a conversation.
pub const CHAT_FN: &str = "chat";

/// A conversation with one worker, as a Rhai value (type name `Chat`).
#[derive(Debug, Clone)]
pub struct Chat {
    worker: String,
    conversation: Conversation,
}

/// Register `chat(name)`, `c.send(input)` and the `worker`, `turns` and `history` properties.
pub fn register(engine: &mut Engine, rt: Weak<dyn Caller>) {
    engine.register_type_with_name::<Chat>("Chat");
    let weak = rt.clone();
    engine.register_fn(
        CHAT_FN,
        move |ctx: NativeCallContext, name: &str| -> Result<Chat, Box<EvalAltResult>> {
            let pos = ctx.call_position();
            upgrade(&weak, pos)?
                .chat_worker(name)
                .map_err(|e| call_error(e, pos))?;
            Ok(Chat {
                worker: name.to_string(),
                conversation: Conversation::default(),
            })
        },
    );
    engine.register_fn(
        "send",
        move |ctx: NativeCallContext,
              chat: &mut Chat,
              input: Dynamic|
              -> Result<Dynamic, Box<EvalAltResult>> {
            let pos = ctx.call_position();
            let caller = ctx.tag().map(ctx_of).unwrap_or_default();
            upgrade(&rt, pos)?
                .chat_turn(
                    &caller,
                    &chat.worker,
                    value::to_json(&input),
                    &chat.conversation,
                )
                .map_err(|e| call_error(e, pos))
        },
    );
    engine.register_get("worker", |c: &mut Chat| c.worker.clone());
    engine.register_get("turns", |c: &mut Chat| i64::from(c.conversation.turns()));
    engine.register_get("history", |c: &mut Chat| history(&c.conversation));
    engine.register_fn("to_string", |c: &mut Chat| {
        format!(
            "chat with `{}` ({} turns)",
            c.worker,
            c.conversation.turns()
        )
    });
}

/// The text messages so far as `#{role, text}` maps (tool calls and results left out).
fn history(conversation: &Conversation) -> Array {
    conversation
        .messages()
        .iter()
        .filter_map(|m| {
            let text = m.text();
            (!text.is_empty())
                .then(|| value::to_dynamic(&serde_json::json!({"role": m.role, "text": text})))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    #[test]
    fn history_keeps_the_text_messages() {
        let c = Conversation::default();
        c.append(&[Message::user("hi"), Message::assistant("hello")]);
        let h = history(&c);
        assert_eq!(h.len(), 2);
        let first = h[0].clone().cast::<rhai::Map>();
        assert_eq!(first["role"].clone().into_string().unwrap(), "user");
        assert_eq!(first["text"].clone().into_string().unwrap(), "hi");
    }
}
