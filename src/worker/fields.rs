//! Validation of worker frontmatter, key by key: each field's type and range, with errors
//! located at the offending key or value in the file (DESIGN §3), all of a file's errors kept
//! together ([`Gather`]).

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value as Yaml};

use super::frontmatter::{self, KeySpans, Sections};
use crate::error::Located;
use crate::schema;

/// Every key a worker's frontmatter may hold.
#[rustfmt::skip]
pub const KEYS: [&str; 21] = [
    "name", "description", "model", "temperature", "max_tokens", "keep_cut_off", "toolsets",
    "input", "output", "examples", "attachments", "max_turns", "tool_choice", "seed",
    "parallel_tool_calls", "compare", "cache", "reasoning", "max_cost_usd", "max_requests",
    "max_run_tokens",
];

/// The parsed frontmatter of one file, with what is needed to locate errors in it.
pub struct Fields<'a> {
    path: &'a Path,
    text: &'a Arc<str>,
    range: Range<usize>,
    /// The opening `---` line: where errors go when nothing closer is known.
    open: Range<usize>,
    map: Mapping,
}

impl<'a> Fields<'a> {
    /// Parse the frontmatter YAML of `text` (split into `sections`) and check that it is a map
    /// of known keys.
    ///
    /// # Errors
    ///
    /// YAML syntax errors (at their position in the whole file), a frontmatter that is not a
    /// map, non-string or unknown keys.
    pub fn parse(
        path: &'a Path,
        text: &'a Arc<str>,
        sections: &Sections,
    ) -> Result<Self, Box<Located>> {
        let mut fields = Self {
            path,
            text,
            range: sections.frontmatter.clone(),
            open: sections.open.clone(),
            map: Mapping::new(),
        };
        let yaml = &text[fields.range.clone()];
        let value: Yaml = serde_yaml::from_str(yaml).map_err(|e| fields.yaml_error(&e))?;
        fields.map = match value {
            Yaml::Null => Mapping::new(),
            Yaml::Mapping(map) => map,
            other => {
                let span = fields.range.start..fields.range.end;
                return Err(fields
                    .error(
                        span,
                        format!(
                            "worker frontmatter must be a map of keys, found {}",
                            describe(&other)
                        ),
                    )
                    .help("write `key: value` lines, e.g. `description: Summarise a text`")
                    .into());
            }
        };
        fields.check_keys()?;
        Ok(fields)
    }

    fn yaml_error(&self, e: &serde_yaml::Error) -> Box<Located> {
        let message = frontmatter::clean_yaml_message(&e.to_string());
        let at = e.location().map_or(self.range.start, |loc| {
            let yaml = &self.text[self.range.clone()];
            self.range.start + crate::error::offset_of(yaml, loc.line(), loc.column())
        });
        if let Some((key, span)) = self.duplicate_key(&message) {
            return self
                .error(span, format!("duplicate key `{key}` in worker frontmatter"))
                .label("written again here")
                .help("keep one of them")
                .into();
        }
        self.error(
            at..at,
            format!("invalid YAML in worker frontmatter: {message}"),
        )
        .into()
    }

    /// For libyaml's `duplicate entry with key "k"` (reported at the map's start), the key and
    /// the span of its second top-level occurrence.
    fn duplicate_key<'m>(&self, message: &'m str) -> Option<(&'m str, Range<usize>)> {
        let key = message
            .strip_prefix("duplicate entry with key \"")?
            .strip_suffix('"')?;
        frontmatter::top_level_keys(self.text, &self.range)
            .into_iter()
            .filter(|(k, _)| k == key)
            .nth(1)
            .map(|(_, span)| (key, span))
    }

    /// Every key is a known name; all unknown ones are reported together.
    fn check_keys(&self) -> Result<(), Box<Located>> {
        let mut found = Gather::default();
        for key in self.map.keys() {
            let err = match key.as_str() {
                Some(name) if KEYS.contains(&name) => continue,
                Some(name) => {
                    let help = crate::suggest::did_you_mean(name, KEYS).unwrap_or_else(|| {
                        format!("valid keys are {}", crate::suggest::quoted(KEYS))
                    });
                    let message = format!("unknown key `{name}` in worker frontmatter");
                    let err = self.error(self.key_span(name), message);
                    err.label("unknown key").help(help)
                }
                None => {
                    let shown = display_scalar(key);
                    let message = format!("frontmatter key `{shown}` is not a name");
                    self.error(self.key_span(&shown), message)
                }
            };
            found.take::<()>(Err(err.into()));
        }
        found.finish(())
    }

    /// A located error in this file.
    pub fn error(&self, span: Range<usize>, message: impl Into<String>) -> Located {
        Located::new(self.path, self.text, (span.start, span.len()), message)
    }

    /// The opening `---` line.
    pub fn open(&self) -> Range<usize> {
        self.open.clone()
    }

    fn key_spans(&self, key: &str) -> Option<KeySpans> {
        frontmatter::locate_key(self.text, &self.range, key)
    }

    /// Span of `key`'s value (or of the opening `---` when the key cannot be found).
    pub fn value_span(&self, key: &str) -> Range<usize> {
        self.key_spans(key).map_or(self.open.clone(), |s| s.value)
    }

    /// Span of `key` itself.
    pub fn key_span(&self, key: &str) -> Range<usize> {
        self.key_spans(key).map_or(self.open.clone(), |s| s.key)
    }

    /// The value of `key`; `None` when absent or null (`key:` with nothing after it).
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// The error for `key` holding `found` where `expected` was wanted.
    pub fn wrong(&self, key: &str, expected: &str, found: &Yaml) -> Box<Located> {
        self.error(
            self.value_span(key),
            format!("`{key}` must be {expected}, found {}", describe(found)),
        )
        .label(format!("expected {expected}"))
        .into()
    }

    /// An optional value that `read` accepts (`None` from it is the error naming `expected`).
    pub fn read<T>(
        &self,
        key: &str,
        expected: &str,
        read: impl Fn(&Yaml) -> Option<T>,
    ) -> Result<Option<T>, Box<Located>> {
        self.get(key)
            .map(|v| read(v).ok_or_else(|| self.wrong(key, expected, v)))
            .transpose()
    }

    /// An optional string field.
    pub fn string(&self, key: &str) -> Result<Option<String>, Box<Located>> {
        self.read(key, "a string", |v| v.as_str().map(str::to_owned))
    }

    /// An optional boolean.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, Box<Located>> {
        self.read(key, "`true` or `false`", Yaml::as_bool)
    }

    /// An optional number (`Yaml::as_i64`, `Yaml::as_f64`, as `read` says) in `range`.
    pub fn in_range<T: PartialOrd>(
        &self,
        key: &str,
        read: fn(&Yaml) -> Option<T>,
        range: std::ops::RangeInclusive<T>,
        expected: &str,
    ) -> Result<Option<T>, Box<Located>> {
        self.read(key, expected, |v| read(v).filter(|n| range.contains(n)))
    }

    /// An optional list of strings, each with its span in the file.
    pub fn string_list(&self, key: &str) -> Result<Vec<(String, Range<usize>)>, Box<Located>> {
        let Some(value) = self.get(key) else {
            return Ok(Vec::new());
        };
        let Yaml::Sequence(items) = value else {
            let err = self.wrong(key, "a list of names", value);
            return Err(match value {
                Yaml::String(s) => Box::new((*err).help(format!("write a list: `{key}: [{s}]`"))),
                _ => err,
            });
        };
        let names: Vec<String> = items.iter().map(display_scalar).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let spans = frontmatter::locate_items(self.text, &self.value_span(key), &refs);
        (items.iter().zip(names).zip(spans))
            .map(|((item, name), span)| match item {
                Yaml::String(_) => Ok((name, span)),
                other => {
                    let message =
                        format!("`{key}` entries must be names, found {}", describe(other));
                    Err(self.error(span, message).label("expected a name").into())
                }
            })
            .collect()
    }

    /// Convert a YAML value under `key` to JSON.
    pub fn to_json(&self, key: &str, v: &Yaml) -> Result<Json, Box<Located>> {
        serde_json::to_value(v).map_err(|e| {
            self.error(
                self.value_span(key),
                format!("`{key}` cannot be read as JSON: {e}"),
            )
            .help("map keys must be strings")
            .into()
        })
    }

    /// Span of `field:` inside `key`'s value (a nested key's line), or of `key`'s value.
    pub fn nested_span(&self, key: &str, field: &str) -> Range<usize> {
        let region = self.value_span(key);
        find_field(self.text, &region, field).unwrap_or(region)
    }

    /// An optional schema (shorthand or full), expanded and checked to compile.
    pub fn schema(&self, key: &str) -> Result<Option<Json>, Box<Located>> {
        let Some(raw) = self.get(key).map(|v| self.to_json(key, v)).transpose()? else {
            return Ok(None);
        };
        let expanded = schema::expand(&raw).map_err(|e| {
            let region = self.value_span(key);
            let span = e
                .path
                .last()
                .and_then(|field| find_field(self.text, &region, field))
                .unwrap_or_else(|| self.key_span(key));
            Box::new(
                self.error(span, format!("invalid `{key}` schema: {e}"))
                    .help_opt(e.help.clone()),
            )
        })?;
        schema::Validator::new(&expanded).map_err(|e| {
            Box::new(self.error(self.key_span(key), format!("invalid `{key}` schema: {e}")))
        })?;
        Ok(Some(expanded))
    }
}

/// The errors found in one file: the first is reported, the rest ride along as related
/// errors (each located), so a file's every mistake is shown at once.
#[derive(Default)]
pub(super) struct Gather(Vec<Located>);

impl Gather {
    /// The value of `checked`, or its type's default with the error kept.
    pub(super) fn take<T: Default>(&mut self, checked: Result<T, Box<Located>>) -> T {
        checked.unwrap_or_else(|e| {
            self.0.push(*e);
            T::default()
        })
    }

    /// How many errors so far.
    pub(super) fn count(&self) -> usize {
        self.0.len()
    }

    /// `value` when nothing was found, else the first error in the file with the others (in
    /// the order they appear) related.
    pub(super) fn finish<T>(mut self, value: T) -> Result<T, Box<Located>> {
        self.0.sort_by_key(|e| e.span.offset());
        let mut all = self.0.into_iter();
        match all.next() {
            None => Ok(value),
            Some(mut first) => {
                first.related.extend(all);
                Err(first.into())
            }
        }
    }
}

/// The span of `field:` inside a schema's region (the line of a nested key).
fn find_field(text: &str, region: &Range<usize>, field: &str) -> Option<Range<usize>> {
    let start = frontmatter::find_bounded(text.get(region.clone())?, field, |before, after| {
        before
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            && after
                .trim_start_matches(['"', '\''])
                .trim_start_matches([' ', '\t'])
                .starts_with(':')
    })?;
    Some(region.start + start..region.start + start + field.len())
}

/// A short description of a YAML value for "found ..." messages.
pub fn describe(v: &Yaml) -> String {
    match v {
        Yaml::Null => "nothing".to_owned(),
        Yaml::Bool(b) => format!("`{b}`"),
        Yaml::Number(n) => format!("`{n}`"),
        Yaml::String(s) => format!("the string `{s}`"),
        Yaml::Sequence(_) => "a list".to_owned(),
        Yaml::Mapping(_) => "a map".to_owned(),
        Yaml::Tagged(t) => format!("a value tagged `{}`", t.tag),
    }
}

/// A scalar as written (for locating it in the text).
fn display_scalar(v: &Yaml) -> String {
    match v {
        Yaml::Bool(b) => b.to_string(),
        Yaml::Number(n) => n.to_string(),
        Yaml::String(s) => s.clone(),
        Yaml::Null => "null".to_owned(),
        other => describe(other),
    }
}
