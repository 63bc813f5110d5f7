//! How a request differs from the recorded one: a line diff (`similar`, Myers) counted to pick
//! the closest recording and rendered with a little context around each change.

use similar::{ChangeTag, TextDiff};

/// Unchanged lines shown around each change.
const CONTEXT: usize = 3;

/// Number of changed lines between `old` and `new` (how far apart two texts are).
pub fn distance(old: &str, new: &str) -> usize {
    TextDiff::from_lines(old, new)
        .iter_all_changes()
        .filter(|c| c.tag() != ChangeTag::Equal)
        .count()
}

/// A unified-style rendering: `-` recorded, `+` now, unchanged lines only near changes and
/// `  ...` where some were left out.
pub fn render(old: &str, new: &str) -> String {
    let diff = TextDiff::from_lines(old, new);
    let mut out = String::new();
    // Old lines shown (or passed) so far.
    let mut at = 0;
    for group in diff.grouped_ops(CONTEXT) {
        if group.first().is_some_and(|op| op.old_range().start > at) {
            out.push_str("  ...\n");
        }
        for change in group.iter().flat_map(|op| diff.iter_changes(op)) {
            out.push(match change.tag() {
                ChangeTag::Equal => ' ',
                ChangeTag::Delete => '-',
                ChangeTag::Insert => '+',
            });
            out.push(' ');
            out.push_str(change.value().trim_end_matches(['\n', '\r']));
            out.push('\n');
        }
        at = group.last().map_or(at, |op| op.old_range().end);
    }
    if at < diff.old_slices().len() {
        out.push_str("  ...\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_changed_lines() {
        assert_eq!(distance("a\nb\nc\n", "a\nx\nc\n"), 2);
        assert_eq!(render("a\nb\nc\n", "a\nx\nc\n"), "  a\n- b\n+ x\n  c\n");
    }

    #[test]
    fn far_unchanged_lines_are_elided() {
        let old: String = (0..20).map(|i| format!("{i}\n")).collect();
        let new = old.replace("10\n", "ten\n");
        assert_eq!(
            render(&old, &new),
            "  ...\n  7\n  8\n  9\n- 10\n+ ten\n  11\n  12\n  13\n  ...\n"
        );
    }

    #[test]
    fn changes_far_apart_are_shown_in_two_parts() {
        let old: String = (0..20).map(|i| format!("{i}\n")).collect();
        let new = old
            .replace("\n2\n", "\ntwo\n")
            .replace("17\n", "seventeen\n");
        assert_eq!(
            render(&old, &new),
            "  0\n  1\n- 2\n+ two\n  3\n  4\n  5\n  ...\n  14\n  15\n  16\n- 17\n+ seventeen\n  18\n  19\n"
        );
    }

    #[test]
    fn insertions_at_the_end_are_kept() {
        assert_eq!(render("a", "a\nb"), "- a\n+ a\n+ b\n");
        assert_eq!(render("a\n", "a\nb"), "  a\n+ b\n");
    }
}
