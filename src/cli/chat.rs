//! `llm-do chat WORKER [--continue]` (DESIGN §16): a conversation with one worker, its system
//! prompt, tools and approvals as when it runs. Each line is one turn through the seam as an
//! [`Input::Turn`], so the worker run sends the conversation so far before it; the run log
//! keeps every ended turn, and `--continue` reads the newest conversation with WORKER back.
//!
//! On a terminal: the interactive loop (`crate::repl`) serving the chat-turn handler here: a
//! `you> ` prompt, the reply streamed as it arrives, `/exit` or Ctrl-D to end, Ctrl-C to cancel
//! the reply being written (not the chat). From a pipe: one turn per
//! line, each reply printed plain, exit 0 at the end of input; a failed turn ends the chat with
//! its error. `--json` prints one object per turn (`chat_turn` in `docs/cli.schema.json`).

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;

use serde_json::{Value, json};

use crate::call::{CallCtx, CallError, Conversation};
use crate::output::{Escaped, escape};
use crate::repl::{Flow, Handler};
use crate::report::{Error, Setback};
use crate::runtime::{LiveText, Runtime};
use crate::session::{Closings, LivePrinter, Session};
use crate::settings::Settings;

/// The line that ends the chat.
const EXIT: &str = "/exit";

/// Hold a conversation with `worker`, a new one or (`resume`) the newest in the run log.
pub async fn run(
    settings: Settings,
    worker: &str,
    resume: bool,
    closings: &Closings,
) -> Result<(), Error> {
    let interactive = std::io::stdin().is_terminal();
    let printer = (interactive && std::io::stdout().is_terminal() && !settings.json)
        .then(|| Arc::new(LivePrinter::replies()));
    let live = printer.clone().map(|p| p as Arc<dyn LiveText>);
    let session = Session::of(&settings).live(live).open()?;
    let rt = session.runtime();
    let mut turns = session.chat(worker)?;
    if resume {
        turns = turns.resume(resumed(&settings, worker)?);
    }
    let chat = Chat {
        rt: rt.clone(),
        turns,
        json: settings.json,
        printer,
    };
    let result = if interactive {
        crate::repl::run(rt.clone(), chat).await
    } else {
        session.interrupting(chat.pipe_turns()).await
    };
    session.end(closings, result)
}

/// The newest conversation with `worker` in the run log.
fn resumed(settings: &Settings, worker: &str) -> Result<Conversation, Error> {
    let nothing = |why: &str, help: String| {
        Error::usage(format!("nothing to continue: {why}")).with_help(help)
    };
    if !settings.log {
        return Err(nothing(
            "the run log is off, so no conversation was kept",
            "conversations are kept in the run log `.llm-do/log.db`: leave out `--no-log` (and `[log] enabled = false` in llm-do.toml)".into(),
        ));
    }
    let path = crate::log::path_in(&settings.root);
    let saved = if path.exists() {
        let conn = crate::log::open(&path)?;
        crate::log::chat::latest(&conn, worker)?
    } else {
        None
    };
    let Some(saved) = saved else {
        return Err(nothing(
            &format!("the run log holds no conversation with `{worker}`"),
            format!("start one with `llm-do chat {worker}`"),
        ));
    };
    if !settings.quiet {
        crate::report::note(&format!(
            "continuing the conversation with `{worker}` of {} ({})",
            saved.last,
            crate::output::count(saved.turns as u64, "turn")
        ));
    }
    Ok(Conversation::resume(saved.id, saved.turns, saved.messages))
}

/// One chat session.
struct Chat {
    rt: Arc<Runtime>,
    /// The conversation with the worker (resolved once: a reload does not apply
    /// mid-conversation).
    turns: crate::session::Chat,
    json: bool,
    /// Streams replies on a terminal (not with `--json`).
    printer: Option<Arc<LivePrinter>>,
}

/// On a terminal, each line is one turn. No completion, and no history file: the turns are
/// kept in the run log.
impl Handler for Chat {
    type Helper = ();

    const PROMPT: &'static str = "you> ";

    fn banner(&self) -> Option<String> {
        (!self.rt.settings.quiet).then(|| {
            format!(
                "chat with `{}`: `{EXIT}` or Ctrl-D to end, Ctrl-C to cancel a reply",
                self.turns.worker()
            )
        })
    }

    /// Hold one turn and print its reply (unless it was streamed), or say how it failed.
    fn line(&mut self, line: &str) -> Result<Flow, Error> {
        let text = line.trim();
        if text == EXIT {
            return Ok(Flow::Quit);
        }
        if let Some(p) = &self.printer {
            p.take_streamed();
        }
        match self.interruptible_turn(text) {
            Ok(out) => {
                let streamed = self.printer.as_ref().is_some_and(|p| p.take_streamed());
                if !streamed {
                    self.print(text, &out)?;
                }
            }
            Err(e) => crate::report::setback(&match e {
                CallError::Cancelled => Setback::Interrupted,
                CallError::Aborted => Setback::Aborted,
                e => Setback::Failed(self.rt.error_text(&e)),
            }),
        }
        Ok(Flow::Continue)
    }
}

impl Chat {
    /// One turn from the loop's thread; Ctrl-C cancels it (and only it).
    fn interruptible_turn(&self, text: &str) -> Result<Value, CallError> {
        let (turns, text) = (self.turns.clone(), text.to_owned());
        let turn = async move { turns.turn(&CallCtx::default(), &text).await };
        crate::repl::interruptible(&self.rt, turn)
    }

    /// The pipe loop: one turn per line until the end of input. Run under
    /// `Session::interrupting`, Ctrl-C or SIGTERM ends it, during a turn or while waiting for
    /// the next line alike (once handlers are installed, nothing else would).
    async fn pipe_turns(&self) -> Result<(), Error> {
        let mut lines = stdin_lines();
        let top = CallCtx::default();
        loop {
            let line = tokio::select! {
                biased;
                () = self.rt.cancel.cancelled() => return Err(Error::Call(CallError::Cancelled)),
                line = lines.recv() => line,
            };
            let Some(line) = line else { break };
            let line = line.map_err(|e| Error::usage(format!("cannot read stdin: {e}")))?;
            let text = match line.trim() {
                "" => continue,
                EXIT => break,
                text => text,
            };
            let out = self.turns.turn(&top, text).await?;
            self.print(text, &out)?;
        }
        Ok(())
    }

    /// Print a reply: plain (strings raw, the rest as JSON), or with `--json` one object a
    /// turn.
    fn print(&self, text: &str, out: &Value) -> Result<(), Error> {
        if self.json {
            let line = turn_json(self.turns.conversation(), text, out).to_string();
            return crate::report::out_line(&escape(&line, Escaped::Json));
        }
        crate::script::value::render(out, false).map_or(Ok(()), |s| {
            crate::report::out_line(&escape(&s, Escaped::Text))
        })
    }
}

/// The lines of stdin, read on a thread of its own: a read still waiting for input when the
/// chat ends (Ctrl-C) must not hold up the async runtime's shutdown, as a read on its blocking
/// pool would.
fn stdin_lines() -> tokio::sync::mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// One turn as `--json` prints it (`chat_turn` in `docs/cli.schema.json`).
fn turn_json(conversation: &Conversation, input: &str, output: &Value) -> Value {
    json!({
        "conversation": conversation.id(),
        "turn": conversation.turns(),
        "input": input,
        "output": output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Message;

    #[test]
    fn a_turn_in_json_names_its_conversation_and_number() {
        let c = Conversation::resume("c1".into(), 0, Vec::new());
        c.append(&[Message::user("hi"), Message::assistant("hello")]);
        assert_eq!(
            turn_json(&c, "hi", &json!("hello")),
            json!({"conversation": "c1", "turn": 1, "input": "hi", "output": "hello"})
        );
    }

    #[test]
    fn only_the_chat_workers_own_replies_stream() {
        let p = LivePrinter::replies();
        assert!(p.wants(1));
        assert!(!p.wants(2));
    }
}
