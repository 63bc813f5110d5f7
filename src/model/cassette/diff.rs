//! A small line diff (longest common subsequence) for showing how a request differs from the
//! recorded one. Requests are a few hundred lines at most, so the quadratic table is fine;
//! beyond [`MAX_CELLS`] the diff falls back to listing both sides whole.

/// Largest LCS table (lines × lines) computed before giving up on alignment.
const MAX_CELLS: usize = 4_000_000;
/// Unchanged lines shown around each change.
const CONTEXT: usize = 3;

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// The edit script turning `old` into `new`, line by line.
pub fn diff_lines<'a>(old: &'a str, new: &'a str) -> Vec<Line<'a>> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    if a.len().saturating_mul(b.len()) > MAX_CELLS {
        let mut out: Vec<Line> = a.into_iter().map(Line::Removed).collect();
        out.extend(b.into_iter().map(Line::Added));
        return out;
    }
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let mut lcs = vec![vec![0u32; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len() + b.len());
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            out.push(Line::Same(a[i]));
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            out.push(Line::Removed(a[i]));
            i += 1;
        } else {
            out.push(Line::Added(b[j]));
            j += 1;
        }
    }
    out.extend(a[i..].iter().map(|l| Line::Removed(l)));
    out.extend(b[j..].iter().map(|l| Line::Added(l)));
    out
}

/// Number of changed lines (a measure of how far apart two texts are).
pub fn distance(lines: &[Line]) -> usize {
    lines.iter().filter(|l| !matches!(l, Line::Same(_))).count()
}

/// A unified-style rendering: `-` recorded, `+` now, unchanged lines only near changes.
pub fn render(lines: &[Line]) -> String {
    let changed: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !matches!(l, Line::Same(_)))
        .map(|(i, _)| i)
        .collect();
    let near = |i: usize| changed.iter().any(|&c| c.abs_diff(i) <= CONTEXT);
    let mut out = String::new();
    let mut skipped = false;
    for (i, line) in lines.iter().enumerate() {
        let (mark, text) = match line {
            Line::Same(t) if near(i) => (' ', t),
            Line::Same(_) => {
                if !skipped {
                    out.push_str("  ...\n");
                    skipped = true;
                }
                continue;
            }
            Line::Removed(t) => ('-', t),
            Line::Added(t) => ('+', t),
        };
        skipped = false;
        out.push(mark);
        out.push(' ');
        out.push_str(text);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_changed_lines() {
        let d = diff_lines("a\nb\nc\n", "a\nx\nc\n");
        assert_eq!(
            d,
            vec![
                Line::Same("a"),
                Line::Removed("b"),
                Line::Added("x"),
                Line::Same("c")
            ]
        );
        assert_eq!(distance(&d), 2);
        assert_eq!(render(&d), "  a\n- b\n+ x\n  c\n");
    }

    #[test]
    fn far_unchanged_lines_are_elided() {
        let old: String = (0..20).map(|i| format!("{i}\n")).collect();
        let new = old.replace("10\n", "ten\n");
        let shown = render(&diff_lines(&old, &new));
        assert!(shown.starts_with("  ...\n  7\n"), "{shown}");
        assert!(shown.contains("- 10\n+ ten\n"), "{shown}");
        assert!(shown.ends_with("  13\n  ...\n"), "{shown}");
    }

    #[test]
    fn insertions_at_the_end_are_kept() {
        assert_eq!(
            diff_lines("a", "a\nb"),
            vec![Line::Same("a"), Line::Added("b")]
        );
    }
}
