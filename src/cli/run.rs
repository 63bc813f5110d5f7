//! `llm-do run NAME [INPUT]`: one worker, fn or builtin, reached through the seam like any
//! call.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::call::{CallCtx, Input};
use crate::report::Error;
use crate::session::{Closings, Session};
use crate::settings::Settings;

/// What `run` was given: text (INPUT or piped stdin), JSON (`--input-json`), or nothing.
pub enum RunInput {
    Text(String),
    Json(Value),
    None,
}

/// Run `name` on `input` and print the result.
pub async fn run(
    settings: Settings,
    name: &str,
    input: RunInput,
    closings: &Closings,
) -> Result<(), Error> {
    let session = Session::of(&settings).open()?;
    let rt = session.runtime();
    let callee = rt.resolve(name).map_err(Error::of_named_call)?;
    let input = match input {
        RunInput::Text(text) => callee.input_from_text(&text),
        RunInput::Json(v) => v,
        RunInput::None => Value::Null,
    };
    let top = CallCtx::default();
    let out = session
        .run(closings, rt.invoke(&top, &callee, Input::Json(input)))
        .await?;
    crate::report::show_value(&crate::script::value::to_json(&out), settings.json)
}

/// The input of `llm-do run`: `--input-json`, `--input-file FILE` or `@FILE`, the INPUT text,
/// or stdin when piped.
pub fn read_input(
    input: Option<String>,
    input_json: Option<String>,
    input_file: Option<PathBuf>,
) -> Result<RunInput, Error> {
    if let Some(j) = input_json {
        return serde_json::from_str(&j).map(RunInput::Json).map_err(|e| {
            Error::usage(format!("`--input-json` is not valid JSON: {e}"))
                .with_help("example: --input-json '{\"name\": \"x\"}'")
        });
    }
    let file = input_file.or_else(|| {
        input
            .as_deref()
            .and_then(|i| i.strip_prefix('@'))
            .map(PathBuf::from)
    });
    if let Some(path) = file {
        return from_file(&path);
    }
    if let Some(text) = input {
        return Ok(RunInput::Text(text));
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(RunInput::None);
    }
    let mut text = String::new();
    stdin
        .lock()
        .read_to_string(&mut text)
        .map_err(|e| Error::usage(format!("cannot read stdin: {e}")))?;
    Ok(text_input(&text))
}

/// The input held in `path`: JSON when it ends in `.json`, else text.
fn from_file(path: &Path) -> Result<RunInput, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::usage(format!("cannot read input file `{}`: {e}", path.display())))?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        return serde_json::from_str(&text)
            .map(RunInput::Json)
            .map_err(|e| {
                Error::usage(format!(
                    "input file `{}` is not valid JSON: {e}",
                    path.display()
                ))
                .with_help("a file not ending in `.json` is read as text")
            });
    }
    Ok(text_input(&text))
}

/// Text input without its trailing newlines; empty text is no input.
fn text_input(text: &str) -> RunInput {
    let text = text.trim_end_matches('\n');
    if text.is_empty() {
        RunInput::None
    } else {
        RunInput::Text(text.to_string())
    }
}
