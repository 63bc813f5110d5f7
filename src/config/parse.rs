//! Reading `llm-do.toml`: `toml`'s serde errors rewritten into located, uv-style messages
//! (with "did you mean" for unknown keys), then checks serde cannot express (limits, globs,
//! provider names and URLs), each pointing at the offending key or value.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::Config;
use crate::error::Located;

/// Providers built into llm-do; a `[providers.NAME]` table cannot reuse these names.
pub const BUILTIN_PROVIDERS: [&str; 5] = ["anthropic", "openai", "ollama", "test", "script"];

/// One step of a path into the TOML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Parse and validate `llm-do.toml` at `path` with content `text`.
///
/// # Errors
///
/// A [`Located`] diagnostic for TOML syntax errors, unknown keys (with a "did you mean"),
/// values of the wrong type, and invalid limits, globs, provider names or URLs.
pub fn parse_config(path: &Path, text: &str) -> Result<Config, Box<Located>> {
    let doc = Doc::new(path, text);
    let config: Config = toml::from_str(text).map_err(|e| doc.serde_error(&e))?;
    super::checks::check(&config, &|segs, message, help| doc.at(segs, message, help))?;
    Ok(config)
}

/// Check the project's `llm-do.toml` (`path`, `text`) again once the user config is merged
/// under it (`merged`): `[shell] env` must not pass a key of a provider the user config
/// declares, the same rule as for the project's own providers. Only the project sets
/// `[shell]`, so the error points into its file.
///
/// # Errors
///
/// A located error at the `[shell] env` entry naming a secret.
pub fn check_merged(path: &Path, text: &str, merged: &Config) -> Result<(), Box<Located>> {
    let doc = Doc::new(path, text);
    super::checks::shell(merged, &|segs, message, help| doc.at(segs, message, help))
}

/// The sections a user config (`config.toml`) may hold; approvals, the shell allowlist and
/// MCP servers grant powers and belong to a project.
pub const USER_SECTIONS: [&str; 5] = ["defaults", "models", "providers", "limits", "otel"];

/// Parse and validate the user config at `path` (DESIGN §16): the same rules as
/// `llm-do.toml`, and only the sections in [`USER_SECTIONS`].
///
/// # Errors
///
/// As [`parse_config`], and a located error at a section a user config may not hold.
pub fn parse_user_config(path: &Path, text: &str) -> Result<Config, Box<Located>> {
    let config = parse_config(path, text)?;
    let doc = Doc::new(path, text);
    let mut root = doc.root.iter().flatten();
    if let Some((key, _)) = root.find(|(k, _)| !USER_SECTIONS.contains(&k.get_ref().as_ref())) {
        let name = key.get_ref();
        let message = format!("`[{name}]` cannot be set in the user config");
        return Err(Box::new(doc.located(key.span(), message).help(format!(
            "the user config holds only {}; put `[{name}]` in the project's `llm-do.toml`",
            USER_SECTIONS.map(|s| format!("`[{s}]`")).join(", ")
        ))));
    }
    Ok(config)
}

/// A `llm-do.toml` (or user config) being read: its path, text and spanned table (`None` when
/// the text is not valid TOML), to point errors at keys and values.
struct Doc<'a> {
    path: &'a Path,
    text: Arc<str>,
    root: Option<DeTable<'a>>,
}

impl<'a> Doc<'a> {
    fn new(path: &'a Path, text: &'a str) -> Self {
        let root = DeTable::parse(text).map(Spanned::into_inner).ok();
        Doc {
            path,
            text: Arc::from(text),
            root,
        }
    }

    fn located(&self, span: Range<usize>, message: impl Into<String>) -> Located {
        Located::new(self.path, &self.text, (span.start, span.len()), message)
    }

    /// A located error at the value under `segs` (or its key when `segs` ends in a key whose
    /// name is the problem, which callers signal by passing a trailing `Seg::Key` of a table).
    fn at(&self, segs: &[Seg], message: String, help: Option<&str>) -> Box<Located> {
        let span = self.root.as_ref().and_then(|root| value_span(root, segs));
        let located = self.located(span.unwrap_or(0..0), message);
        Box::new(located.help_opt(help.map(str::to_owned)))
    }

    fn serde_error(&self, e: &toml::de::Error) -> Box<Located> {
        let span = e.span().unwrap_or(0..0);
        let file = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        let (message, help) = match &self.root {
            Some(root) => rewrite(e.message(), &path_at(root, span.start), &file),
            None => {
                let syntax = e.message().replace('\n', "; ");
                (format!("invalid TOML: {syntax}"), None)
            }
        };
        Box::new(self.located(span, message).help_opt(help))
    }
}

/// The path of the deepest key whose key or value span contains `offset`.
fn path_at(table: &DeTable, offset: usize) -> Vec<Seg> {
    let key = |k: &str, inner| prefixed(Seg::Key(k.to_owned()), inner);
    for (k, value) in table {
        if k.span().contains(&offset) {
            return key(k.get_ref(), Vec::new());
        }
        let span = value.span();
        if span.contains(&offset) || span.start == offset {
            return key(k.get_ref(), path_in_value(value.get_ref(), offset));
        }
    }
    // A header's table spans only the header line: search the children too.
    let in_child = table.iter().find_map(|(k, v)| {
        let inner = path_in_value(v.get_ref(), offset);
        (!inner.is_empty()).then(|| key(k.get_ref(), inner))
    });
    in_child.unwrap_or_default()
}

fn path_in_value(value: &DeValue, offset: usize) -> Vec<Seg> {
    match value {
        DeValue::Table(t) => Some(path_at(t, offset)),
        DeValue::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let inner = path_in_value(item.get_ref(), offset);
            let here = item.span().contains(&offset) || !inner.is_empty();
            here.then(|| prefixed(Seg::Index(i), inner))
        }),
        _ => None,
    }
    .unwrap_or_default()
}

/// `first` followed by `rest`.
fn prefixed(first: Seg, rest: Vec<Seg>) -> Vec<Seg> {
    std::iter::once(first).chain(rest).collect()
}

/// The span of the value under `segs`; a trailing key that names a table points at the key.
fn value_span(root: &DeTable, segs: &[Seg]) -> Option<Range<usize>> {
    let (first, rest) = segs.split_first()?;
    let Seg::Key(name) = first else { return None };
    let (key, value) = root.get_key_value(name.as_str())?;
    if rest.is_empty() {
        return Some(match value.get_ref() {
            DeValue::Table(_) => key.span(),
            _ => value.span(),
        });
    }
    span_in_value(value, rest)
}

fn span_in_value(value: &Spanned<DeValue>, segs: &[Seg]) -> Option<Range<usize>> {
    match (value.get_ref(), segs.split_first()) {
        (_, None) => Some(value.span()),
        (DeValue::Table(t), Some(_)) => value_span(t, segs),
        (DeValue::Array(items), Some((Seg::Index(i), rest))) => span_in_value(items.get(*i)?, rest),
        _ => None,
    }
}

/// Where `path` is, in words: its dotted table name (`[providers.local]`, `[[approvals]]`), or
/// the `file` for the top level.
fn place(path: &[Seg], file: &str) -> String {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
        .collect();
    match path.last() {
        None => format!("`{file}`"),
        Some(Seg::Index(_)) => format!("`[[{}]]`", keys.join(".")),
        Some(Seg::Key(_)) => format!("`[{}]`", keys.join(".")),
    }
}

/// Rewrite one of `toml`/serde's messages; `context` is the path of the key at the error.
fn rewrite(message: &str, context: &[Seg], file: &str) -> (String, Option<String>) {
    let parent = context.split_last().map_or(&[][..], |(_, p)| p);
    let key = match context.last() {
        Some(Seg::Key(k)) => Some(k.as_str()),
        _ => None,
    };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (name, expected) = split_expected(rest);
        let what = if parent.is_empty() { "section" } else { "key" };
        return (
            format!("unknown {what} `{name}` in {}", place(parent, file)),
            Some(suggest(&name, &expected, what)),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (name, expected) = split_expected(rest);
        let of = key.map(|k| format!(" for `{k}`")).unwrap_or_default();
        return (
            format!("unknown value `{name}`{of}"),
            Some(suggest(&name, &expected, "value")),
        );
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let name = rest.trim_matches('`');
        return (
            format!("missing key `{name}` in {}", place(context, file)),
            Some(format!("add `{name} = ...`")),
        );
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((found, expected)) = rest.split_once(", expected ")
        {
            let subject = key.map_or_else(|| "the value".to_owned(), |k| format!("`{k}`"));
            let found = found.strip_prefix("string ").map_or_else(
                || {
                    found
                        .split_once(' ')
                        .map_or(found.to_owned(), |(_, v)| v.to_owned())
                },
                |s| format!("the string {s}"),
            );
            return (
                format!("{subject} must be {}, found {found}", plain(expected)),
                None,
            );
        }
    }
    // The TOML is valid (syntax errors never reach here): a value a key does not accept,
    // said by the key's own check (e.g. a stabilize mode).
    let message = message.replace('\n', "; ");
    let message = match key {
        Some(k) if parent.is_empty() => format!("bad value for `{k}`: {message}"),
        Some(k) => format!("bad value for `{k}` in {}: {message}", place(parent, file)),
        None => message,
    };
    (message, None)
}

/// Serde's type names in plain words.
fn plain(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer".to_owned(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer".to_owned(),
        "f32" | "f64" => "a number".to_owned(),
        "a map" => "a table".to_owned(),
        "a sequence" => "an array".to_owned(),
        e if e.starts_with("struct ") => "a table".to_owned(),
        e => e.to_owned(),
    }
}

/// `` `name`, expected one of `a`, `b` `` → (`name`, [a, b]).
fn split_expected(rest: &str) -> (String, Vec<String>) {
    let (name, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let candidates = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    (name.trim_matches('`').to_owned(), candidates)
}

fn suggest(name: &str, candidates: &[String], what: &str) -> String {
    crate::suggest::did_you_mean(name, candidates.iter().map(String::as_str)).unwrap_or_else(|| {
        if candidates.is_empty() {
            format!("no {what}s are allowed here")
        } else {
            format!("valid {what}s are {}", crate::suggest::quoted(candidates))
        }
    })
}
