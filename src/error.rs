//! [`Located`], the one diagnostic shape for anything that points into a file (worker,
//! `llm-do.toml`, Rhai script). Base layer: it knows nothing of calls or projects; the error
//! every command returns and its exit code live with the faces, in `report`.

use std::path::Path;
use std::sync::Arc;

use miette::{Diagnostic, NamedSource, SourceSpan};

/// An error that points at a span of a file: rendered by miette with the file's text,
/// `file:line:col` and an optional hint.
#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
pub struct Located {
    pub message: String,
    #[source_code]
    pub src: NamedSource<Arc<str>>,
    #[label("{label}")]
    pub span: SourceSpan,
    pub label: String,
    #[help]
    pub help: Option<String>,
    /// Further located notes (e.g. the other definition of a duplicate name).
    #[related]
    pub related: Vec<Located>,
}

impl Located {
    /// A located error in `path` (shown relative to the project when possible) with `text`.
    pub fn new(
        path: &Path,
        text: &Arc<str>,
        span: impl Into<SourceSpan>,
        message: impl Into<String>,
    ) -> Self {
        let name = path.display().to_string();
        Self {
            message: message.into(),
            src: NamedSource::new(name, text.clone()).with_language("text"),
            span: span.into(),
            label: String::from("here"),
            help: None,
            related: Vec::new(),
        }
    }
    /// Set the label shown under the span.
    #[must_use]
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }
    /// Set the `help:` line.
    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// Set the `help:` line when there is one.
    #[must_use]
    pub fn help_opt(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
    /// `line:col` (1-based) of the span's start in `text`, the file this error points into.
    pub fn line_col(&self, text: &str) -> String {
        let before = &text[..self.span.offset().min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        format!("{line}:{col}")
    }

    /// Attach a related located note.
    #[must_use]
    pub fn related(mut self, other: Located) -> Self {
        self.related.push(other);
        self
    }
}

/// Byte offset of 1-based `line`/`column` in `text` (clamped to the text).
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            let col = column.saturating_sub(1);
            let within = l.char_indices().nth(col).map_or(l.len(), |(b, _)| b);
            return offset + within;
        }
        offset += l.len();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_of_finds_line_and_column() {
        let text = "ab\ncde\nf";
        assert_eq!(offset_of(text, 1, 1), 0);
        assert_eq!(offset_of(text, 2, 2), 4);
        assert_eq!(offset_of(text, 3, 1), 7);
        assert_eq!(offset_of(text, 9, 1), text.len());
    }
}
