//! How an eval reads: a text report per name, the whole report as JSON, and JUnit XML (one
//! `testsuite` per name, one `testcase` per case) for CI. The XML is written by hand: a
//! handful of elements, every attribute and text escaped. (Not `quick-junit`: it always writes
//! `skipped` on `testsuites`, which Jenkins' `junit-10.xsd` does not allow.)

use std::fmt::Write as _;

use serde_json::Value;

use crate::eval::run::{CaseReport, NameReport};
use crate::eval::score::{Confusion, percent};
use crate::runtime::grade::FieldResult;

/// The text report of one name.
pub fn text(r: &NameReport) -> String {
    let cases = crate::output::count(r.cases.len() as u64, "case");
    let mut out = format!("`{}` ({}): {cases}", r.name, r.kind);
    if r.repeat > 1 {
        let _ = write!(out, ", {} runs each", r.repeat);
    }
    out.push('\n');
    let width = r
        .cases
        .iter()
        .map(|c| c.case.label.len())
        .max()
        .unwrap_or(0);
    for c in &r.cases {
        let mark = if c.pass { "ok  " } else { "FAIL" };
        let _ = write!(out, "  {mark}  {:width$}", c.case.label);
        if r.repeat > 1 {
            let passed = c.runs.iter().filter(|x| x.pass).count();
            let _ = write!(out, "  {passed}/{} runs", c.runs.len());
            if let Some(s) = c.self_agreement {
                let _ = write!(out, ", self-agreement {}", percent(s.rate));
            }
        }
        if c.case.disputed {
            out.push_str("  (disputed)");
        }
        out.push('\n');
        for line in failure_lines(c) {
            let _ = writeln!(out, "          {line}");
        }
    }
    if !r.fields.is_empty() {
        out.push_str("\nfields:\n");
        let fw = r.fields.iter().map(|f| f.field.len()).max().unwrap_or(0);
        for f in &r.fields {
            let _ = writeln!(
                out,
                "  {:fw$}  {:6} {:>7}  {:>6}",
                f.field,
                f.comparator,
                format!("{}/{}", f.rate.agreed, f.rate.total),
                percent(f.rate.rate)
            );
        }
    }
    for c in &r.confusion {
        out.push('\n');
        out.push_str(&confusion(c));
    }
    let _ = writeln!(out, "\nagreement: {}", r.agreement.text());
    if let Some(s) = r.self_agreement {
        let _ = writeln!(out, "self-agreement (pairs of runs): {}", s.text());
    }
    let _ = writeln!(
        out,
        "result: {} (pass line {})",
        if r.pass { "pass" } else { "FAIL" },
        percent(r.pass_line)
    );
    out
}

/// What went wrong in a case's runs, each distinct line once.
fn failure_lines(c: &CaseReport) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for run in c.runs.iter().filter(|r| !r.pass) {
        let new: Vec<String> = match &run.error {
            Some(e) => vec![format!("error: {e}")],
            None => run.differences.iter().map(difference).collect(),
        };
        for l in new {
            if !lines.contains(&l) {
                lines.push(l);
            }
        }
    }
    lines
}

/// `field: expected X, got Y` (and the judge's reason).
fn difference(d: &FieldResult) -> String {
    let show = |v: &Option<Value>| v.as_ref().map_or("nothing".to_owned(), Value::to_string);
    let mut s = format!(
        "{}: expected {}, got {}",
        d.field,
        show(&d.expected),
        show(&d.actual)
    );
    if let Some(reason) = d.reason.as_deref().filter(|r| !r.is_empty()) {
        let _ = write!(s, " (judge: {reason})");
    }
    s
}

/// A confusion matrix: rows expected, columns actual.
fn confusion(c: &Confusion) -> String {
    // Two columns before the counts: an empty one (the indent) and the expected labels.
    let row = |label: &str, cells: Vec<String>| -> Vec<String> {
        [String::new(), label.to_owned()]
            .into_iter()
            .chain(cells)
            .collect()
    };
    let mut rows = vec![row("", c.labels.clone())];
    for (label, counts) in c.labels.iter().zip(&c.counts) {
        rows.push(row(label, counts.iter().map(ToString::to_string).collect()));
    }
    format!(
        "confusion of `{}` (rows: expected, columns: actual):\n{}",
        c.field,
        crate::output::table(&rows, 2)
    )
}

/// The reports of one `llm-do test`: each name's text, blank-line apart, or as JSON
/// `{pass, names: [...]}`.
#[derive(Debug)]
pub struct Reports<'a>(pub &'a [NameReport]);

impl serde::Serialize for Reports<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serde::Serialize::serialize(&json(self.0), s)
    }
}

impl crate::output::Show for Reports<'_> {
    fn text(&self) -> String {
        self.0.iter().map(text).collect::<Vec<_>>().join("\n")
    }
}

/// The whole report as JSON: `{pass, names: [...]}`.
pub fn json(reports: &[NameReport]) -> Value {
    serde_json::json!({
        "pass": reports.iter().all(|r| r.pass),
        "names": reports,
    })
}

/// JUnit XML: one `testsuite` per name, one `testcase` per case; a case whose runs all
/// failed with errors is an `error`, any other failing case a `failure`.
pub fn junit(reports: &[NameReport]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (tests, failures, errors) = counts(reports.iter().flat_map(|r| &r.cases));
    let time = |cases: &[CaseReport]| -> f64 { cases.iter().map(seconds).sum() };
    let total: f64 = reports.iter().map(|r| time(&r.cases)).sum();
    let _ = writeln!(
        out,
        "<testsuites name=\"llm-do test\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{total:.3}\">"
    );
    for r in reports {
        let (tests, failures, errors) = counts(r.cases.iter());
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{:.3}\">",
            escape(&r.name),
            time(&r.cases)
        );
        out.push_str("    <properties>\n");
        let mut props = vec![
            ("kind", r.kind.to_owned()),
            ("agreement", format!("{:.4}", r.agreement.rate)),
            ("agreement_low", format!("{:.4}", r.agreement.low)),
            ("agreement_high", format!("{:.4}", r.agreement.high)),
            ("pass_line", format!("{:.4}", r.pass_line)),
            ("repeat", r.repeat.to_string()),
        ];
        if let Some(s) = r.self_agreement {
            props.push(("self_agreement", format!("{:.4}", s.rate)));
        }
        for (k, v) in props {
            let _ = writeln!(
                out,
                "      <property name=\"{k}\" value=\"{}\"/>",
                escape(&v)
            );
        }
        out.push_str("    </properties>\n");
        for c in &r.cases {
            let _ = write!(
                out,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\"",
                escape(&c.case.label),
                escape(&r.name),
                seconds(c)
            );
            if c.pass {
                out.push_str("/>\n");
                continue;
            }
            out.push_str(">\n");
            let lines = failure_lines(c);
            let passed = c.runs.iter().filter(|x| x.pass).count();
            let message = format!(
                "{} of {} runs disagree: {}",
                c.runs.len() - passed,
                c.runs.len(),
                lines.first().map_or("", String::as_str)
            );
            let (tag, kind) = if is_error(c) {
                ("error", "error")
            } else {
                ("failure", "disagreement")
            };
            let body = format!(
                "input: {}\nexpected: {}\n{}",
                c.case.input,
                c.case.expected,
                lines.join("\n")
            );
            let _ = writeln!(
                out,
                "      <{tag} message=\"{}\" type=\"{kind}\">{}</{tag}>",
                escape(&message),
                escape(&body)
            );
            out.push_str("    </testcase>\n");
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Cases, failing cases and cases in error (see [`is_error`]) of `cases`, as JUnit counts
/// them: a case in error is not also a failure.
fn counts<'a>(cases: impl Iterator<Item = &'a CaseReport>) -> (usize, usize, usize) {
    cases.fold((0, 0, 0), |(n, failures, errors), c| {
        let error = is_error(c);
        let failure = !c.pass && !error;
        (
            n + 1,
            failures + usize::from(failure),
            errors + usize::from(error),
        )
    })
}

/// The time of all the case's runs, in seconds.
fn seconds(c: &CaseReport) -> f64 {
    c.runs.iter().map(|r| r.ms).sum::<f64>() / 1000.0
}

/// Every run of the case failed with an error (not a disagreement).
fn is_error(c: &CaseReport) -> bool {
    !c.runs.is_empty() && c.runs.iter().all(|r| r.error.is_some())
}

/// Text for XML attributes and content: the five entities escaped, characters XML 1.0
/// forbids replaced.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\t' | '\r' => {
                let _ = write!(out, "&#{};", c as u32);
            }
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_forbidden_characters() {
        assert_eq!(
            escape("a<b>&\"c\" 'd'\u{1}\n"),
            "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;\u{FFFD}&#10;"
        );
    }

    #[test]
    fn confusion_renders_rows_expected_columns_actual() {
        let c = Confusion {
            field: "category".into(),
            labels: vec!["bug".into(), "billing".into()],
            counts: vec![vec![2, 1], vec![0, 3]],
        };
        assert_eq!(
            confusion(&c),
            "confusion of `category` (rows: expected, columns: actual):\n           bug  billing\n  bug        2        1\n  billing    0        3\n"
        );
    }
}
