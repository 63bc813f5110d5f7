//! INPUTS and OUT of `llm-do batch` on disk: reading the input lines (an undecodable one is a
//! line all the same), opening OUT only when it is a regular file other than INPUTS (opened
//! non-blocking and checked on the open file, so a pipe is refused, never read back), reading
//! back what OUT holds (cutting only a result cut off mid-write), and putting it back in input
//! order after a retry.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::Path;

use serde_json::Value;

use crate::report::Error;

/// The error of a file batch cannot read or write.
fn cannot(path: &Path) -> impl Fn(std::io::Error) -> Error + Copy + '_ {
    move |e| Error::failed(format!("cannot use `{}`: {e}", path.display()))
}

/// The identity of a file (device and inode): two paths naming one file have the same.
pub(super) type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// The bytes of INPUTS and the identity of the file they came from.
pub(super) fn read_input(inputs: &Path) -> Result<(Vec<u8>, Option<FileId>), Error> {
    let cannot = cannot(inputs);
    let mut file = File::open(inputs).map_err(cannot)?;
    let id = file.metadata().map_err(cannot)?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(cannot)?;
    Ok((bytes, file_id(&id)))
}

/// One input line: its text, or the text it decodes to with why it is not UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Line {
    Text(String),
    NotText(String, std::str::Utf8Error),
}

/// The non-blank lines of `bytes` with their numbers (from 1); a line that is not UTF-8 is
/// one line all the same.
pub(super) fn input_lines(bytes: &[u8]) -> Vec<(usize, Line)> {
    bytes
        .split(|b| *b == b'\n')
        .enumerate()
        .filter_map(|(i, raw)| {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = match std::str::from_utf8(raw) {
                Ok(text) if text.trim().is_empty() => return None,
                Ok(text) => Line::Text(text.to_string()),
                Err(e) => Line::NotText(String::from_utf8_lossy(raw).into_owned(), e),
            };
            Some((i + 1, line))
        })
        .collect()
}

/// Open OUT to read it back and append to it (`create`: also when it does not exist yet),
/// non-blocking, so that a pipe with no reader does not stop the open itself; [`usable`] then
/// checks the open file.
pub(super) fn open_output(out: &Path, create: bool) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).append(true).create(create);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits());
    }
    options.open(out)
}

/// OUT as [`open_output`] `opened` it, refused, before anything is read or written, when it
/// is not a regular file or is INPUTS (its type checked on the open file, not on the path).
pub(super) fn usable(
    opened: std::io::Result<File>,
    out: &Path,
    input: Option<FileId>,
) -> Result<File, Error> {
    let file = opened.map_err(cannot(out))?;
    let meta = file.metadata().map_err(cannot(out))?;
    if !meta.is_file() {
        return Err(Error::usage(format!(
            "`{}` is not a regular file (a pipe, a terminal or a device): batch reads its output back to resume",
            out.display()
        ))
        .with_help("write to a file and read it from there: `-o out.jsonl && cat out.jsonl`"));
    }
    if input.is_some() && file_id(&meta) == input {
        return Err(Error::usage(format!(
            "`{}` is the input file: its results would be appended to its own inputs",
            out.display()
        ))
        .with_help("name another file for the results, e.g. `-o results.jsonl`"));
    }
    Ok(file)
}

/// What OUT already holds.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Existing {
    /// Per input line, whether its newest result is an error.
    pub(super) results: BTreeMap<usize, bool>,
    /// The length to keep: all of it, or up to a result cut off mid-write (or trailing blanks).
    keep: usize,
    /// The last result is whole but has no newline (a file edited by hand): one is added.
    unterminated: bool,
}

/// One line of OUT.
#[derive(Debug, PartialEq)]
enum OutLine {
    Blank,
    /// A result of input line `line`; `error` when it is an error line.
    Result {
        line: usize,
        error: bool,
    },
    /// The start of a result, cut off before its end (only the last line can be).
    CutOff,
    Foreign,
}

/// How every result line begins (`line` is its first key).
const START: &str = "{\"line\":";

/// What `raw` (one line of OUT, without its newline) is.
fn out_line_kind(raw: &[u8]) -> OutLine {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return OutLine::Blank;
    }
    // A cut can fall inside a character: read up to it.
    let text = match std::str::from_utf8(raw) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&raw[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return OutLine::Foreign,
    };
    match serde_json::from_str::<Value>(text) {
        Ok(v) => {
            let line = v.get("line").and_then(Value::as_u64);
            let line = line
                .and_then(|n| usize::try_from(n).ok())
                .filter(|n| *n > 0);
            let (output, error) = (v.get("output").is_some(), v.get("error").is_some());
            match line {
                Some(line) if v.get("input").is_some() && output != error => {
                    OutLine::Result { line, error }
                }
                _ => OutLine::Foreign,
            }
        }
        Err(e) if e.is_eof() && (text.starts_with(START) || START.starts_with(text)) => {
            OutLine::CutOff
        }
        Err(_) => OutLine::Foreign,
    }
}

/// Read OUT's bytes: its results, and what to cut; a line that is not a result (the file is
/// not batch's own) is refused by its number.
fn existing(bytes: &[u8]) -> Result<Existing, usize> {
    let mut found = Existing {
        keep: bytes.len(),
        ..Existing::default()
    };
    let tail_start = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let count = bytes.split(|b| *b == b'\n').count();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let last = i + 1 == count;
        match out_line_kind(raw) {
            OutLine::Result { line, error } => {
                found.results.insert(line, error);
                found.unterminated = last && !raw.is_empty();
            }
            OutLine::Blank if last => found.keep = tail_start,
            OutLine::Blank => {}
            OutLine::CutOff if last => found.keep = tail_start,
            OutLine::CutOff | OutLine::Foreign => return Err(i + 1),
        }
    }
    Ok(found)
}

/// Read OUT back to resume: cut a result cut off mid-write, end a last line that has no
/// newline; refused when OUT is not batch's own (nothing changed then).
pub(super) fn resume(file: &mut File, out: &Path) -> Result<Existing, Error> {
    let io = cannot(out);
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    let found = existing(&bytes).map_err(|line| {
        Error::usage(format!(
            "`{}` line {line} is not a result of `llm-do batch`",
            out.display()
        ))
        .with_help("batch appends only to its own results: name a new file, or fix that line")
    })?;
    if found.keep < bytes.len() {
        file.set_len(found.keep as u64).map_err(io)?;
    }
    if found.unterminated {
        file.write_all(b"\n").map_err(io)?;
    }
    Ok(found)
}

/// OUT's lines in input order, the newest result per input line; `None` when they are so
/// already (or OUT holds something else than results, which is then left as it is).
fn in_order(bytes: &[u8]) -> Option<String> {
    let mut lines: Vec<(usize, &str)> = Vec::new();
    for raw in bytes.split(|b| *b == b'\n') {
        match out_line_kind(raw) {
            OutLine::Blank => {}
            OutLine::Result { line, .. } => lines.push((line, std::str::from_utf8(raw).ok()?)),
            OutLine::CutOff | OutLine::Foreign => return None,
        }
    }
    if lines.windows(2).all(|w| w[0].0 < w[1].0) {
        return None;
    }
    let newest: BTreeMap<usize, &str> = lines.into_iter().collect();
    Some(newest.values().map(|l| format!("{l}\n")).collect())
}

/// Rewrite OUT in input order (atomically) when this run appended out of order.
pub(super) fn put_in_order(file: &mut File, out: &Path) -> Result<(), Error> {
    let cannot = cannot(out);
    let mut bytes = Vec::new();
    file.rewind().map_err(cannot)?;
    file.read_to_end(&mut bytes).map_err(cannot)?;
    match in_order(&bytes) {
        // Through a symlink, the file it names is replaced, not the link.
        Some(text) => std::fs::canonicalize(out)
            .and_then(|file| crate::atomic::write_atomic(&file, text.as_bytes()))
            .map_err(cannot),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_lines_keep_undecodable_ones_and_skip_blanks() {
        let got = input_lines(b"\"a\"\r\n\n  \n\xff\"b\"\n\"c\"");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (1, Line::Text("\"a\"".into())));
        assert!(matches!(&got[1], (4, Line::NotText(t, _)) if t == "\u{fffd}\"b\""));
        assert_eq!(got[2], (5, Line::Text("\"c\"".into())));
    }

    #[test]
    fn only_a_result_cut_off_mid_write_is_cut() {
        let ok = b"{\"line\":1,\"input\":\"a\",\"output\":\"x\"}";
        let mut whole = ok.to_vec();
        whole.push(b'\n');
        // A whole last result without a newline is kept and ended.
        let found = existing(ok).unwrap();
        assert_eq!((found.keep, found.unterminated), (ok.len(), true));
        assert_eq!(found.results, BTreeMap::from([(1, false)]));
        // Any prefix of a result after a whole line is cut, down to that line.
        for cut in 1..ok.len() {
            let mut bytes = whole.clone();
            bytes.extend_from_slice(&ok[..cut]);
            let found = existing(&bytes).unwrap();
            assert_eq!(
                (found.keep, found.unterminated),
                (whole.len(), false),
                "{cut}"
            );
        }
        // Something that is not a result is never cut: it is refused.
        assert_eq!(existing(b"{\"line\":1}\n"), Err(1));
        let mut bytes = whole.clone();
        bytes.extend_from_slice(b"hello");
        assert_eq!(existing(&bytes), Err(2));
    }

    #[test]
    fn results_are_put_in_input_order_newest_first() {
        let a = "{\"line\":1,\"input\":\"a\",\"error\":\"e\"}";
        let b = "{\"line\":2,\"input\":\"b\",\"output\":\"y\"}";
        let a2 = "{\"line\":1,\"input\":\"a\",\"output\":\"x\"}";
        assert_eq!(in_order(format!("{a}\n{b}\n").as_bytes()), None);
        assert_eq!(
            in_order(format!("{a}\n{b}\n{a2}\n").as_bytes()),
            Some(format!("{a2}\n{b}\n"))
        );
    }
}
