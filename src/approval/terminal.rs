//! [`TerminalPrompter`]: asks the person at the terminal about a tool call.
//!
//! The question goes to the terminal, never to stdout (results only go there), and the answer
//! is read from `/dev/tty` so a script fed through stdin can still be approved interactively.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, IsTerminal, Write};
use std::sync::Mutex;

use serde_json::Value;

use super::request::{PromptAnswer, Prompter, Request};

/// Longest string argument shown in full.
const MAX_SHOWN_CHARS: usize = 300;
/// Most lines of pretty-printed arguments shown.
const MAX_SHOWN_LINES: usize = 40;

/// Reads answers from a terminal and writes questions to it.
pub struct TerminalPrompter {
    io: Mutex<(Box<dyn BufRead + Send>, Box<dyn Write + Send>)>,
}

impl TerminalPrompter {
    /// A prompter on the controlling terminal (`/dev/tty`), else on stdin/stderr when stdin is
    /// a terminal; `None` when there is no terminal (CI, pipes): prompts then become denials.
    pub fn detect() -> Option<Self> {
        let tty = OpenOptions::new().read(true).write(true).open("/dev/tty");
        if let Ok(tty) = tty
            && let Ok(out) = tty.try_clone()
        {
            return Some(Self::new(BufReader::new(tty), out));
        }
        io::stdin()
            .is_terminal()
            .then(|| Self::new(BufReader::new(io::stdin()), io::stderr()))
    }

    /// A prompter over any reader and writer (tests, a REPL's own terminal handle).
    pub fn new(input: impl BufRead + Send + 'static, output: impl Write + Send + 'static) -> Self {
        Self {
            io: Mutex::new((Box::new(input), Box::new(output))),
        }
    }
}

impl Prompter for TerminalPrompter {
    fn ask(&self, req: &Request) -> PromptAnswer {
        let mut guard = crate::sync::lock(&self.io);
        let (input, output) = &mut *guard;
        // Write errors are ignored: the answer still decides, and an unreadable terminal ends
        // in a denial below.
        let _ = write!(output, "{}", render_request(req));
        loop {
            let _ = write!(
                output,
                "approve? [y]es once, [a]lways this session, [n]o [reason], [q]uit: "
            );
            let _ = output.flush();
            let mut line = String::new();
            match input.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    let _ = writeln!(output);
                    return PromptAnswer::Deny(Some(String::from("no answer from the terminal")));
                }
                Ok(_) => {}
            }
            if let Some(answer) = parse_answer(&line) {
                return answer;
            }
            let _ = writeln!(output, "unrecognized answer `{}`", line.trim());
        }
    }
}

/// `y`/`yes`, `a`/`always`, `n`/`no` optionally followed by a reason, `q`/`quit`; any case.
pub fn parse_answer(line: &str) -> Option<PromptAnswer> {
    let line = line.trim();
    let (word, rest) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(w, r)| (w, r.trim()));
    match word.to_ascii_lowercase().as_str() {
        "y" | "yes" if rest.is_empty() => Some(PromptAnswer::Once),
        "a" | "always" if rest.is_empty() => Some(PromptAnswer::Session),
        "q" | "quit" if rest.is_empty() => Some(PromptAnswer::Quit),
        "n" | "no" => Some(PromptAnswer::Deny(
            (!rest.is_empty()).then(|| rest.to_owned()),
        )),
        _ => None,
    }
}

/// The question: tool, calling chain and arguments (long strings and long listings cut).
pub fn render_request(req: &Request) -> String {
    let mut out = format!("\napproval needed: `{}`\n", req.tool);
    if !req.chain.is_empty() {
        let _ = writeln!(out, "  called by: {}", req.chain.join(" > "));
    }
    let pretty = serde_json::to_string_pretty(&shorten(&req.args)).unwrap_or_default();
    let lines: Vec<&str> = pretty.lines().collect();
    out.push_str("  arguments:\n");
    for line in lines.iter().take(MAX_SHOWN_LINES) {
        let _ = writeln!(out, "    {line}");
    }
    if lines.len() > MAX_SHOWN_LINES {
        let _ = writeln!(
            out,
            "    [... {} more lines]",
            lines.len() - MAX_SHOWN_LINES
        );
    }
    out
}

/// `value` with every string longer than [`MAX_SHOWN_CHARS`] cut and marked.
fn shorten(value: &Value) -> Value {
    match value {
        Value::String(s) if s.chars().count() > MAX_SHOWN_CHARS => {
            let head: String = s.chars().take(MAX_SHOWN_CHARS).collect();
            let more = s.chars().count() - MAX_SHOWN_CHARS;
            Value::String(format!("{head}... [{more} more chars]"))
        }
        Value::Array(items) => Value::Array(items.iter().map(shorten).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shorten(v))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    #[test]
    fn parses_answers() {
        assert_eq!(parse_answer("y\n"), Some(PromptAnswer::Once));
        assert_eq!(parse_answer(" YES "), Some(PromptAnswer::Once));
        assert_eq!(parse_answer("a"), Some(PromptAnswer::Session));
        assert_eq!(parse_answer("n"), Some(PromptAnswer::Deny(None)));
        assert_eq!(
            parse_answer("n  use out/ instead "),
            Some(PromptAnswer::Deny(Some("use out/ instead".into())))
        );
        assert_eq!(parse_answer("q"), Some(PromptAnswer::Quit));
        assert_eq!(parse_answer("maybe"), None);
        assert_eq!(parse_answer("y please"), None);
        assert_eq!(parse_answer(""), None);
    }

    #[test]
    fn renders_tool_chain_and_shortened_arguments() {
        let req = Request {
            tool: "write_file".into(),
            args: json!({"path": "a.txt", "content": "x".repeat(400)}),
            chain: vec!["main".into(), "writer".into()],
        };
        let text = render_request(&req);
        assert!(text.contains("approval needed: `write_file`"));
        assert!(text.contains("called by: main > writer"));
        assert!(text.contains("\"path\": \"a.txt\""));
        assert!(text.contains("... [100 more chars]"));
    }

    /// A writer whose bytes the test can read afterwards.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn re_asks_on_unrecognized_input_and_denies_on_eof() {
        let req = Request {
            tool: "shell".into(),
            args: json!({"command": "git push"}),
            chain: vec![],
        };
        let out = Shared::default();
        let prompter = TerminalPrompter::new(io::Cursor::new("what\nn not now\n"), out.clone());
        assert_eq!(
            prompter.ask(&req),
            PromptAnswer::Deny(Some("not now".into()))
        );
        let shown = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(shown.contains("unrecognized answer `what`"), "{shown}");
        assert_eq!(shown.matches("approve? ").count(), 2);
        let eof = TerminalPrompter::new(io::Cursor::new(""), io::sink());
        assert!(matches!(eof.ask(&req), PromptAnswer::Deny(Some(_))));
    }
}
