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
        let (text, span) = fit_long_lines(text, span.into());
        Self {
            message: message.into(),
            src: NamedSource::new(name, text).with_language("text"),
            span,
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
    /// Attach a related located note.
    #[must_use]
    pub fn related(mut self, other: Located) -> Self {
        self.related.push(other);
        self
    }
}

/// Lines longer than this many bytes are cut around the span before rendering: miette pads
/// to the span's column with a format width, which panics past 65,535, and nobody reads a
/// 70,000-column snippet.
pub const MAX_SHOWN_LINE: usize = 400;

/// `text` with every line longer than [`MAX_SHOWN_LINE`] cut to a window (around the span on
/// its own line, the start elsewhere) marked with `…`, and the span moved to match. Line
/// numbers are unchanged.
fn fit_long_lines(text: &Arc<str>, span: SourceSpan) -> (Arc<str>, SourceSpan) {
    if text.split('\n').all(|l| l.len() <= MAX_SHOWN_LINE) {
        return (text.clone(), span);
    }
    let (start, len) = (span.offset(), span.len());
    let mut out = String::new();
    let mut new_start = None;
    let mut new_len = len;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let newline = &line[body.len()..];
        let here = (at..=at + body.len()).contains(&start).then(|| start - at);
        if body.len() <= MAX_SHOWN_LINE {
            if let Some(col) = here {
                new_start.get_or_insert(out.len() + col);
            }
            out.push_str(line);
        } else {
            let from = floor_char(
                body,
                here.map_or(0, |c| c.saturating_sub(MAX_SHOWN_LINE / 2)),
            );
            let to = floor_char(body, (from + MAX_SHOWN_LINE).min(body.len()));
            if from > 0 {
                out.push('…');
            }
            if let Some(col) = here {
                new_start.get_or_insert(out.len() + col.clamp(from, to) - from);
                new_len = len.min(to.saturating_sub(col));
            }
            out.push_str(&body[from..to]);
            if to < body.len() {
                out.push('…');
            }
            out.push_str(newline);
        }
        at += line.len();
    }
    let offset = new_start.unwrap_or(out.len().min(start));
    (Arc::from(out), SourceSpan::new(offset.into(), new_len))
}

/// The largest char boundary of `s` at or before `i`.
fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
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
impl Located {
    /// `line:col` (1-based) of the span's start in `text`, the file this error points into
    /// (the tests' way to state where an error points).
    pub(crate) fn line_col(&self, text: &str) -> String {
        let before = &text[..self.span.offset().min(text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        format!("{line}:{col}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_around_the_span() {
        let long = "é".repeat(40_000);
        let text: Arc<str> = format!("a: 1\nb: {long}bad\nc: 3\n").into();
        let start = text.find("bad").unwrap();
        let e = Located::new(Path::new("f"), &text, (start, 3), "boom");
        let shown = e.src.inner();
        assert!(
            shown.lines().all(|l| l.len() <= MAX_SHOWN_LINE + 8),
            "{shown}"
        );
        assert_eq!(shown.lines().count(), 3, "line numbers stay");
        let at = e.span.offset();
        assert_eq!(&shown[at..at + e.span.len()], "bad");
        // And it renders without panicking.
        let _ = format!("{:?}", miette::Report::new(e));
    }

    #[test]
    fn offset_of_finds_line_and_column() {
        let text = "ab\ncde\nf";
        assert_eq!(offset_of(text, 1, 1), 0);
        assert_eq!(offset_of(text, 2, 2), 4);
        assert_eq!(offset_of(text, 3, 1), 7);
        assert_eq!(offset_of(text, 9, 1), text.len());
    }
}
