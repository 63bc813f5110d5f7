//! Conversations in the run log (`llm-do chat`, a script's `chat()`): each message of each
//! ended turn is one row of `chat_messages`, keyed by conversation and position, with the run
//! that held the turn. `llm-do chat WORKER --continue` reads the newest conversation with
//! WORKER back whole. Messages are stored as the model saw them (JSON of
//! [`crate::model::Message`]); like every other row, they hold no keys.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::call::TurnPlace;
use crate::model::Message;

use super::{LogError, sql_int};

/// The table (created with the rest of the log's schema).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS chat_messages (
    conversation TEXT NOT NULL, seq INTEGER NOT NULL, turn INTEGER NOT NULL, run TEXT NOT NULL,
    worker TEXT NOT NULL, message TEXT NOT NULL, time TEXT NOT NULL,
    PRIMARY KEY (conversation, seq)
);
CREATE INDEX IF NOT EXISTS chat_messages_by_worker ON chat_messages (worker, time);
";

/// The messages of one ended turn, waiting to be written.
#[derive(Debug, Clone)]
pub(super) struct TurnRows {
    pub conversation: String,
    pub worker: String,
    pub place: TurnPlace,
    pub messages: Vec<Message>,
    pub time: String,
}

/// Write `turns` of run `run` in `tx`.
pub(super) fn insert(tx: &Transaction, run: &str, turns: &[TurnRows]) -> Result<(), LogError> {
    // A run without chat turns compiles no statement (most runs).
    if turns.is_empty() {
        return Ok(());
    }
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO chat_messages (conversation, seq, turn, run, worker, message, time)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for t in turns {
        for (i, m) in t.messages.iter().enumerate() {
            let seq = sql_int(u64::try_from(t.place.first + i).unwrap_or(u64::MAX));
            let text = serde_json::to_string(m).unwrap_or_default();
            insert.execute(params![
                t.conversation,
                seq,
                t.place.turn,
                run,
                t.worker,
                text,
                t.time
            ])?;
        }
    }
    Ok(())
}

/// A conversation read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedConversation {
    pub id: String,
    /// Turns ended in it.
    pub turns: u32,
    pub messages: Vec<Message>,
    /// When its last turn ended.
    pub last: String,
}

/// The newest conversation with `worker` (the one whose last turn ended last), if any.
///
/// # Errors
///
/// The log cannot be read, or holds a message that is not one.
pub fn latest(conn: &Connection, worker: &str) -> Result<Option<SavedConversation>, LogError> {
    let found: Option<(String, String)> = conn
        .query_row(
            "SELECT conversation, time FROM chat_messages WHERE worker = ?1
             ORDER BY time DESC, seq DESC LIMIT 1",
            [worker],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((id, last)) = found else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare("SELECT message, turn FROM chat_messages WHERE conversation = ?1 ORDER BY seq")?;
    let rows = stmt.query_map([&id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
    let mut messages = Vec::new();
    let mut turns = 0;
    for row in rows {
        let (text, turn) = row?;
        let message = serde_json::from_str(&text).map_err(|e| LogError::Corrupt {
            what: format!("a message of conversation `{id}`"),
            message: e.to_string(),
        })?;
        messages.push(message);
        turns = turns.max(turn);
    }
    Ok(Some(SavedConversation {
        id,
        turns,
        messages,
        last,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::{Retention, RunLog, open, path_in};
    use super::*;

    #[test]
    fn the_newest_conversation_of_a_worker_is_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let log = RunLog::start(&path, "llm-do chat w", Retention::default()).unwrap();
        let first = [Message::user("hi"), Message::assistant("hello")];
        let second = [Message::user("again"), Message::assistant("sure")];
        log.chat_turn("old", "w", TurnPlace { turn: 1, first: 0 }, &first);
        log.chat_turn("c1", "w", TurnPlace { turn: 1, first: 0 }, &first);
        log.chat_turn("c1", "w", TurnPlace { turn: 2, first: 2 }, &second);
        log.chat_turn("c2", "other", TurnPlace { turn: 1, first: 0 }, &first);
        log.finish().unwrap();
        let conn = open(&path).unwrap();
        let saved = latest(&conn, "w").unwrap().unwrap();
        assert_eq!(saved.id, "c1");
        assert_eq!(saved.turns, 2);
        assert_eq!(saved.messages, [first, second].concat());
        assert_eq!(latest(&conn, "nobody").unwrap(), None);
    }
}
