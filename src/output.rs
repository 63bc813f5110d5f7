//! Writing to stdout without panicking (base layer). `println!` panics when stdout is a closed
//! pipe (`llm-do list | head`) or a full disk; everything llm-do prints to stdout goes through
//! [`stdout`] instead. A closed pipe ends the process at once with status 0: the reader has
//! what it wanted (as ripgrep does).
//!
//! Text a model or a file wrote never reaches a terminal raw: [`escape`] is the one function
//! every face passes such text through (`logs`, `-v`, chat, errors), so a tool argument cannot
//! set the window title, clear the screen, forge lines with a carriage return or reorder text
//! with a bidi override.
//!
//! A command's result is printed by one printer: it returns a value that is [`Show`], and
//! [`shown`] renders it as text for people or, with `--json`, as JSON in one style for every
//! command (pretty, 2-space indents).

use std::borrow::Cow;
use std::io::{self, Write};

/// How [`escape`] writes the characters it escapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escaped {
    /// As Rust writes them: `\x1b`, `\r`, `\u{202e}`. Newlines and tabs stay.
    Text,
    /// As [`Escaped::Text`], but colour and style sequences (`ESC [ digits ; m`, which change
    /// nothing but colour) stay: for llm-do's own coloured diagnostics around escaped text.
    Styled,
    /// As JSON string escapes (`\u001b`, `\u202e`), for JSON text: valid JSON that decodes to
    /// the same value. (JSON already escapes C0 controls; this adds DEL, C1 and bidi.)
    Json,
}

/// Whether `c` can change a terminal's state or how the text around it reads: C0 controls
/// but newline and tab, DEL, C1 controls, and the bidi embeddings, overrides, isolates and
/// marks.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The length of a colour/style sequence (`ESC [` digits and `;`, then `m`) at the start of
/// `rest`, if one is there.
fn sgr_len(rest: &str) -> Option<usize> {
    let body = rest.strip_prefix("\u{1b}[")?;
    let params = body.find(|c: char| !(c.is_ascii_digit() || c == ';'))?;
    (body[params..].starts_with('m')).then_some(2 + params + 1)
}

/// `text` with everything that could act on a terminal escaped (see [`is_unsafe`]), written as
/// `how` says. Text without such characters is returned as it is.
#[must_use]
pub fn escape(text: &str, how: Escaped) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if how == Escaped::Styled
            && let Some(n) = sgr_len(rest)
        {
            out.push_str(&rest[..n]);
            rest = &rest[n..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        if !is_unsafe(c) {
            out.push(c);
            continue;
        }
        let code = u32::from(c);
        match (how, c) {
            (Escaped::Json, _) => out.push_str(&format!("\\u{code:04x}")),
            (_, '\r') => out.push_str("\\r"),
            (_, _) if code < 0x80 => out.push_str(&format!("\\x{code:02x}")),
            _ => out.push_str(&format!("\\u{{{code:x}}}")),
        }
    }
    Cow::Owned(out)
}

/// A command's result as data that prints itself: as text, or as its serde form (`--json`).
pub trait Show: serde::Serialize {
    /// The text form, every line ending in a newline (empty: nothing is printed).
    fn text(&self) -> String;
}

/// What the printer writes for `value`: its text, or (`json`) its JSON, pretty with 2-space
/// indents, and a newline. Terminal controls are escaped in both ([`escape`]), so what a
/// model or a file wrote never reaches a terminal raw, and the JSON still decodes to the
/// same value.
#[must_use]
pub fn shown(value: &impl Show, json: bool) -> String {
    if json {
        let text = serde_json::to_string_pretty(value).unwrap_or_default();
        format!("{}\n", escape(&text, Escaped::Json))
    } else {
        escape(&value.text(), Escaped::Text).into_owned()
    }
}

/// A JSON value shows as its JSON (pretty) in both forms.
impl Show for serde_json::Value {
    fn text(&self) -> String {
        format!(
            "{}\n",
            serde_json::to_string_pretty(self).unwrap_or_default()
        )
    }
}

/// `text` cut to its first `max_chars` characters, with `…` when it was longer.
pub fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// A JSON value as plain text: a string as it is (no quotes), anything else as compact JSON.
pub fn plain_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Write `text` to stdout and flush. A closed pipe exits the process quietly (status 0).
///
/// # Errors
///
/// Any other write failure, e.g. `ENOSPC` on a full disk.
pub fn stdout(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        other => other,
    }
}

/// The first failure to write a script's `print` output, kept so the run can end with it.
static PRINT_FAILURE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// A line a script prints (`print(...)`). Returns `false` when stdout cannot be written (the
/// failure is kept for [`print_failure`]); the caller then stops the run.
pub fn script_line(text: &str) -> bool {
    match stdout(&format!("{text}\n")) {
        Ok(()) => true,
        Err(e) => {
            let _ = PRINT_FAILURE.set(e.to_string());
            false
        }
    }
}

/// Why a script's `print` failed, if it did.
pub fn print_failure() -> Option<&'static str> {
    PRINT_FAILURE.get().map(String::as_str)
}

/// `rows` as aligned columns two spaces apart, one line each with no trailing blanks: the
/// first `left` columns aligned left, the rest right.
#[must_use]
pub fn table(rows: &[Vec<String>], left: usize) -> String {
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len)).map(width).collect();
    let line = |r: &Vec<String>| {
        let cells = r.iter().zip(&widths).enumerate().map(|(i, (c, w))| {
            if i < left {
                format!("{c:<w$}")
            } else {
                format!("{c:>w$}")
            }
        });
        format!("{}\n", cells.collect::<Vec<_>>().join("  ").trim_end())
    };
    rows.iter().map(line).collect()
}

/// `n` and `thing`, plural unless one: `1 worker run`, `2 worker runs`.
#[must_use]
pub fn count(n: u64, thing: &str) -> String {
    match n {
        1 => format!("1 {thing}"),
        n => format!("{n} {thing}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_shown_escaped() {
        let hostile = "title\u{1b}]0;pwned\u{7}\u{1b}[2J\rforged\u{9b}1m\u{202e}txt.exe\u{7f}";
        assert_eq!(
            escape(hostile, Escaped::Text),
            r"title\x1b]0;pwned\x07\x1b[2J\rforged\u{9b}1m\u{202e}txt.exe\x7f"
        );
        assert_eq!(
            escape(hostile, Escaped::Json),
            r"title\u001b]0;pwned\u0007\u001b[2J\u000dforged\u009b1m\u202etxt.exe\u007f"
        );
        // Plain text, newlines and tabs included, comes back borrowed and unchanged.
        assert!(matches!(
            escape("a\tb\nc — ü", Escaped::Text),
            Cow::Borrowed("a\tb\nc — ü")
        ));
    }

    #[test]
    fn styled_text_keeps_only_colour_sequences() {
        assert_eq!(
            escape(
                "\u{1b}[1;31merror\u{1b}[0m: \u{1b}]0;x\u{7}\u{1b}[2J",
                Escaped::Styled
            ),
            "\u{1b}[1;31merror\u{1b}[0m: \\x1b]0;x\\x07\\x1b[2J"
        );
    }

    #[derive(serde::Serialize)]
    struct Pair {
        a: u8,
        b: &'static str,
    }

    impl Show for Pair {
        fn text(&self) -> String {
            format!("{} {}\n", self.a, self.b)
        }
    }

    #[test]
    fn one_printer_writes_text_or_pretty_json_escaped() {
        let pair = Pair {
            a: 1,
            b: "x\u{1b}[2J",
        };
        assert_eq!(shown(&pair, false), "1 x\\x1b[2J\n");
        assert_eq!(
            shown(&pair, true),
            "{\n  \"a\": 1,\n  \"b\": \"x\\u001b[2J\"\n}\n"
        );
    }

    #[test]
    fn json_escapes_decode_to_the_same_text() {
        let value = serde_json::json!({"arg": "\u{1b}[2J\u{202e}\u{9b}\u{7f}"});
        let text = serde_json::to_string(&value).unwrap();
        let shown = escape(&text, Escaped::Json);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, value);
    }
}
