//! `llm-do init [DIR]`: a small working project (config, a worker, a script with a fn, a test
//! case) that passes `check` and runs offline on the `test` model. It never overwrites: when
//! any file it would create exists, it writes nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::report::{Error, show};

/// The files of a new project, relative to its root.
const FILES: [(&str, &str); 4] = [
    (
        "llm-do.toml",
        r#"# Project settings: docs/cli.md and docs/providers.md.
[defaults]
# `test` answers offline, without a key. For a real model set e.g.
# "anthropic:claude-haiku-4-5" (and ANTHROPIC_API_KEY), or pass `--model`.
model = "test"
"#,
    ),
    (
        "workers/greeter.worker",
        "---
description: Greet a person warmly in one sentence
input:
  name: string
---
You write one short, warm greeting for the person named in the input.
Answer with the greeting only.
",
    ),
    (
        "scripts/main.rhai",
        r#"// Run it:  llm-do scripts/main.rhai Ada

/// Shout a text: upper case and an exclamation mark.
/// text: string
fn shout(text) {
    text.to_upper() + "!"
}

let who = if args.len() > 0 { args[0] } else { "World" };

// A worker (a prompt) and a fn (code), called the same way.
#{
    greeting: call("greeter", #{ name: who }),
    shouted: call("shout", #{ text: who }),
}
"#,
    ),
    (
        "tests/shout.jsonl",
        "{\"input\": {\"text\": \"hello\"}, \"expected\": \"HELLO!\"}\n",
    ),
];

/// Create the project in `dir` (created when missing) and say what was made (`json`: as
/// `{"created": [paths], "next": command}`).
pub fn run(dir: &Path, quiet: bool, json: bool) -> Result<(), Error> {
    // Paths are shown as given: `workers/greeter.worker` in the current folder, not `./...`.
    let base = if dir == Path::new(".") {
        PathBuf::new()
    } else {
        dir.to_path_buf()
    };
    let targets: Vec<(PathBuf, &str)> = FILES
        .iter()
        .map(|(rel, text)| (base.join(rel), *text))
        .collect();
    let existing: Vec<String> = FILES
        .iter()
        .flat_map(|(rel, _)| in_the_way(&base, rel))
        .collect();
    if !existing.is_empty() {
        return Err(Error::usage(format!(
            "`llm-do init` would overwrite {}; nothing was written",
            existing.join(", ")
        ))
        .with_help("run it in an empty folder, or pass one: `llm-do init DIR`"));
    }
    let mut created = Vec::new();
    for (path, text) in &targets {
        if let Err(e) = create(path, text) {
            return Err(Error::Failed {
                message: format!("cannot create `{}`: {e}", path.display()),
                help: (!created.is_empty())
                    .then(|| format!("already created: {}", created.join(", "))),
            });
        }
        created.push(format!("`{}`", path.display()));
    }
    let cd = if dir == Path::new(".") {
        String::new()
    } else {
        format!("cd {} && ", shell_word(&dir.display().to_string()))
    };
    let made = Made {
        created: targets
            .iter()
            .map(|(p, _)| p.display().to_string())
            .collect(),
        next: format!("{cd}llm-do scripts/main.rhai Ada"),
    };
    if quiet && !json {
        return Ok(());
    }
    show(&made, json)
}

/// What `init` made: the files created and the command to run next.
#[derive(Debug, serde::Serialize)]
struct Made {
    created: Vec<String>,
    next: String,
}

impl crate::output::Show for Made {
    fn text(&self) -> String {
        let mut text: String = self
            .created
            .iter()
            .map(|path| format!("created {path}\n"))
            .collect();
        text.push_str(&format!(
            "\nnext: {}\n  (then `llm-do check`, `llm-do list`, and set a real model in llm-do.toml)\n",
            self.next
        ));
        text
    }
}

/// What stands in the way of creating `rel` under `dir`, each as it is shown: the file itself
/// when anything is there (a dangling symlink too: `exists()` would miss it), and every folder
/// on the way that is a symlink or not a folder (writing through one would put files outside
/// the project, or fail half-way). Checked for every file before any is written.
fn in_the_way(dir: &Path, rel: &str) -> Vec<String> {
    let shown = |p: &Path| p.display().to_string();
    let mut found = Vec::new();
    let mut path = dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            break;
        };
        let last = i + 1 == parts.len();
        if meta.file_type().is_symlink() {
            found.push(format!("`{}` (a symlink)", shown(&path)));
            break;
        }
        if last {
            found.push(format!("`{}`", shown(&path)));
        } else if !meta.is_dir() {
            found.push(format!("`{}` (not a folder)", shown(&path)));
            break;
        }
    }
    found
}

/// Write `text` to a new file at `path`, creating its folder; fails if the file exists.
fn create(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// `word` quoted for a POSIX shell when it needs it.
fn shell_word(word: &str) -> String {
    if word
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
