//! The text layer of `.worker` files: splitting the `---` frontmatter from the body, mapping
//! YAML error positions back into the whole file, and finding where a top-level key, its value
//! or a list item sits in the text. `serde_yaml` values carry no spans, so locations come from
//! the text itself: top-level keys start at column 0, which is all error messages need.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

/// Where the parts of a worker file are, as byte ranges of the whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sections {
    /// The opening `---` line (without its line break).
    pub open: Range<usize>,
    /// The YAML between the two `---` lines.
    pub frontmatter: Range<usize>,
    /// Everything after the closing `---` line.
    pub body: Range<usize>,
}

/// Why a file could not be split into frontmatter and body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The first line is not `---`; carries the span of that line.
    #[error("missing frontmatter in worker file")]
    MissingOpen(Range<usize>),
    /// No closing `---` line; carries an empty span at the end of the text.
    #[error("unclosed frontmatter in worker file")]
    MissingClose(Range<usize>),
}

/// Lines of `text` from byte `from`, each as (range without line break, range with it).
fn lines(text: &str, from: usize) -> impl Iterator<Item = (Range<usize>, Range<usize>)> + '_ {
    let mut start = from;
    text[from..].split_inclusive('\n').map(move |line| {
        let full = start..start + line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        start = full.end;
        (full.start..full.start + content.len(), full)
    })
}

fn is_fence(line: &str) -> bool {
    line.trim_end() == "---"
}

/// Split `text` into the opening fence, the frontmatter and the body. A UTF-8 byte-order mark
/// is skipped; lines may end in `\n` or `\r\n`.
///
/// # Errors
///
/// [`SplitError`] when the opening or closing `---` line is missing.
pub fn split(text: &str) -> Result<Sections, SplitError> {
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut it = lines(text, start);
    let Some((open, open_full)) = it.next().filter(|(l, _)| is_fence(&text[l.clone()])) else {
        let first = lines(text, start).next().map_or(start..start, |(l, _)| l);
        return Err(SplitError::MissingOpen(first));
    };
    for (line, full) in it {
        if is_fence(&text[line.clone()]) {
            return Ok(Sections {
                open,
                frontmatter: open_full.end..full.start,
                body: full.end..text.len(),
            });
        }
    }
    Err(SplitError::MissingClose(text.len()..text.len()))
}

/// Remove libyaml's ` at line N column M` position suffixes (the span shows the position).
pub fn clean_yaml_message(message: &str) -> String {
    static POSITION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(" at line [0-9]+ column [0-9]+").expect("a valid pattern"));
    POSITION.replace_all(message, "").into_owned()
}

/// The span of a top-level key and of its value in the frontmatter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpans {
    pub key: Range<usize>,
    /// The value on the key's line, else the indented block below it, else the key.
    pub value: Range<usize>,
}

/// Find top-level `key:` (plain, `"key":` or `'key':`) in the `frontmatter` range of `text`.
pub fn locate_key(text: &str, frontmatter: &Range<usize>, key: &str) -> Option<KeySpans> {
    let fm = &text[..frontmatter.end];
    let mut found = lines(fm, frontmatter.start)
        .skip_while(|(line, _)| top_level_key(&fm[line.clone()]).is_none_or(|(k, _)| k != key));
    let (line, _) = found.next()?;
    let (_, colon) = top_level_key(&fm[line.clone()])?;
    let key_span = line.start..line.start + fm[line.start..line.start + colon].trim_end().len();
    let after = line.start + colon + 1;
    let inline = strip_comment(&fm[after..line.end]);
    let lead = inline.len() - inline.trim_start().len();
    if !inline.trim().is_empty() {
        let start = after + lead;
        return Some(KeySpans {
            key: key_span,
            value: start..start + inline.trim().len(),
        });
    }
    let block: Vec<Range<usize>> = found
        .map(|(l, _)| l)
        .take_while(|l| {
            let s = &fm[l.clone()];
            s.trim().is_empty() || s.starts_with([' ', '\t', '-', '#'])
        })
        .filter(|l| !fm[l.clone()].trim().is_empty())
        .collect();
    let value = match (block.first(), block.last()) {
        (Some(first), Some(last)) => {
            let s = &fm[first.clone()];
            first.start + (s.len() - s.trim_start().len())
                ..last.start + fm[last.clone()].trim_end().len()
        }
        _ => key_span.clone(),
    };
    Some(KeySpans {
        key: key_span,
        value,
    })
}

/// The key a top-level `key: value` line starts with (unquoted), and its colon's index.
fn top_level_key(line: &str) -> Option<(&str, usize)> {
    if line.starts_with([' ', '\t', '-', '#']) {
        return None;
    }
    let colon = line.find(':')?;
    Some((line[..colon].trim_end().trim_matches(['"', '\'']), colon))
}

/// `value # comment` → `value` (a `#` only starts a comment after whitespace).
fn strip_comment(s: &str) -> &str {
    s.match_indices('#')
        .find(|(i, _)| *i == 0 || s[..*i].ends_with([' ', '\t']))
        .map_or(s, |(i, _)| &s[..i])
}

/// Every top-level key written in the frontmatter, in order, with its span. Used to point at
/// a key written twice (`locate_key` finds the first).
pub fn top_level_keys(text: &str, frontmatter: &Range<usize>) -> Vec<(String, Range<usize>)> {
    lines(&text[..frontmatter.end], frontmatter.start)
        .filter_map(|(line, _)| {
            let (key, colon) = top_level_key(&text[line.clone()])?;
            Some((key.to_owned(), line.start..line.start + colon))
        })
        .collect()
}

/// Find each of `items` in order inside `region`, as whole words (so `fs` is not found inside
/// `fs_ro`). Items not found get `region`.
pub fn locate_items(text: &str, region: &Range<usize>, items: &[&str]) -> Vec<Range<usize>> {
    let mut cursor = region.start;
    items
        .iter()
        .map(|item| match find_word(text, cursor..region.end, item) {
            Some(span) => {
                cursor = span.end;
                span
            }
            None => region.clone(),
        })
        .collect()
}

fn find_word(text: &str, region: Range<usize>, word: &str) -> Option<Range<usize>> {
    if word.is_empty() {
        return None;
    }
    let is_word = |c: char| c.is_alphanumeric() || "_-./:@".contains(c);
    let start = find_bounded(text.get(region.clone())?, word, |before, after| {
        before.chars().next_back().is_none_or(|c| !is_word(c))
            && after.chars().next().is_none_or(|c| !is_word(c))
    })?;
    Some(region.start + start..region.start + start + word.len())
}

/// The offset of the first (possibly overlapping) occurrence of `word` in `hay` that `fits`
/// the text before and after it.
pub(super) fn find_bounded(
    hay: &str,
    word: &str,
    fits: impl Fn(&str, &str) -> bool,
) -> Option<usize> {
    hay.char_indices()
        .map(|(i, _)| i)
        .find(|&i| hay[i..].starts_with(word) && fits(&hay[..i], &hay[i + word.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_frontmatter_and_body() {
        let text = "---\nname: a\n---\nbody\n";
        let s = split(text).unwrap();
        assert_eq!(&text[s.open], "---");
        assert_eq!(&text[s.frontmatter], "name: a\n");
        assert_eq!(&text[s.body], "body\n");
    }

    #[test]
    fn splits_crlf_and_bom() {
        let text = "\u{feff}---\r\nname: a\r\n---\r\nbody";
        let s = split(text).unwrap();
        assert_eq!(&text[s.frontmatter], "name: a\r\n");
        assert_eq!(&text[s.body], "body");
    }

    #[test]
    fn split_errors() {
        assert_eq!(split("name: a\n"), Err(SplitError::MissingOpen(0..7)));
        assert_eq!(split(""), Err(SplitError::MissingOpen(0..0)));
        assert_eq!(
            split("---\nname: a\n"),
            Err(SplitError::MissingClose(12..12))
        );
    }

    #[test]
    fn cleans_positions_from_yaml_messages() {
        assert_eq!(
            clean_yaml_message(
                "did not find expected key at line 3 column 1, while parsing a block mapping at line 1 column 1"
            ),
            "did not find expected key, while parsing a block mapping"
        );
        assert_eq!(clean_yaml_message("x at line y"), "x at line y");
    }

    #[test]
    fn locates_keys_and_values() {
        let text = "---\nname: a # c\n\"model\": x\ntoolsets:\n  - fs_ro\n  - fs\nseed:\n---\n";
        let fm = split(text).unwrap().frontmatter;
        let name = locate_key(text, &fm, "name").unwrap();
        assert_eq!((&text[name.key], &text[name.value]), ("name", "a"));
        let model = locate_key(text, &fm, "model").unwrap();
        assert_eq!((&text[model.key], &text[model.value]), ("\"model\"", "x"));
        let tools = locate_key(text, &fm, "toolsets").unwrap();
        assert_eq!(&text[tools.value.clone()], "- fs_ro\n  - fs");
        assert_eq!(
            locate_items(text, &tools.value, &["fs_ro", "fs"])
                .into_iter()
                .map(|r| &text[r])
                .collect::<Vec<_>>(),
            ["fs_ro", "fs"]
        );
        assert_eq!(&text[locate_key(text, &fm, "seed").unwrap().value], "seed");
        assert!(locate_key(text, &fm, "nam").is_none());
    }

    #[test]
    fn lists_top_level_keys() {
        let text = "---\na: 1\n  b: 2\n'c': 3\n---\n";
        let fm = split(text).unwrap().frontmatter;
        let keys: Vec<String> = top_level_keys(text, &fm).into_iter().map(|k| k.0).collect();
        assert_eq!(keys, ["a", "c"]);
    }
}
