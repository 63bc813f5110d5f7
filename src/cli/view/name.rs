//! `/name/NAME`: one name on its way from prompt to code. Its `stats` figures; for a
//! `[stabilize]` switch, the live agreement of the shadow comparisons run by run drawn as SVG
//! against the worker's self-agreement (the noise floor `llm-do test --repeat` measured), the
//! share the fn deferred, what serving by code would have saved, and the disputed inputs with
//! both outputs side by side (a word diff for text, field by field for objects). Every figure
//! comes from the log's readers (`crate::log::agreement`, `crate::stats`).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use rusqlite::Connection;
use serde_json::Value;

use super::pages::{Ask, document, dollars, esc, shown, since_form, url_part};
use crate::cli::stats::of;
use crate::log::agreement::{self, Dispute, TestResult};
use crate::log::{self, CallFilter, SwitchFigures, Volume, Window};

/// Runs drawn on the agreement chart at most (the newest).
const MAX_RUNS: usize = 60;
/// Disputed inputs shown at most (the newest).
const MAX_DISPUTES: usize = 20;

/// The page of `name`, or `None` when the log knows nothing of it.
pub(super) fn page(
    conn: &Connection,
    name: &str,
    window: &Window,
    ask: &Ask,
) -> Result<Option<String>, log::LogError> {
    // The whole history is read off the aggregates of every name; a window, from this
    // name's calls only.
    let filter = if window.is_all() {
        CallFilter::default()
    } else {
        CallFilter {
            name: Some(name),
            ..CallFilter::default()
        }
        .within(window)
    };
    let rows: Vec<crate::stats::Row> = crate::stats::from_log(conn, &filter)?
        .into_iter()
        .filter(|r| r.name == name)
        .collect();
    let switch = log::switch_figures_within(conn, window)?
        .into_iter()
        .find(|s| s.name == name);
    let floor = agreement::noise_floor(conn, name)?;
    if rows.is_empty() && switch.is_none() && floor.is_none() && !known(conn, name)? {
        return Ok(None);
    }
    let path = format!("/name/{}", url_part(name));
    let mut body = since_form(&esc(&path), ask);
    body.push_str(&figures_table(&rows));
    if let Some(s) = &switch {
        let volume = super::pages::worker_volume_of(conn, name, window, &mut None)?;
        body.push_str(&switch_summary(s, floor.as_ref()));
        let runs = agreement::agreement_by_run(conn, name, window, MAX_RUNS)?;
        body.push_str(&super::chart::chart(
            &runs,
            floor.as_ref().and_then(TestResult::self_rate),
            ask,
        ));
        body.push_str(&saving(name, s, &volume));
        let (disputes, total) = agreement::disputes(conn, name, window, MAX_DISPUTES)?;
        body.push_str(&disputes_html(&disputes, total));
    } else {
        body.push_str(&floor_line(floor.as_ref()));
        let _ = write!(
            body,
            "<p id=\"no-switch\">No shadow comparisons of <code>{}</code> as a \
             <code>[stabilize]</code> switch ({}).</p>",
            esc(name),
            esc(&window.describe())
        );
    }
    let title = format!("Name {name}");
    Ok(Some(document(&title, Some(ask), "", &body)))
}

/// Whether the log has any call of `name` at all (outside the window too): a name seen once
/// has a page, even when the window holds none of its calls.
fn known(conn: &Connection, name: &str) -> Result<bool, log::LogError> {
    Ok(!log::calls(
        conn,
        &CallFilter {
            name: Some(name),
            limit: Some(1),
            ..CallFilter::default()
        },
    )?
    .is_empty())
}

/// The `stats` figures of the name, one row per kind (a switch has a worker and a fn).
fn figures_table(rows: &[crate::stats::Row]) -> String {
    let mut html = String::from(
        "<table id=\"figures\"><tr><th>kind</th><th>calls</th><th>errors</th><th>p50</th>\
         <th>p90</th><th>tokens</th><th>distinct outputs per input</th></tr>",
    );
    for r in rows {
        let (cells, per_input) = (super::pages::figure_cells(r), super::pages::per_input(r));
        let _ = write!(
            html,
            "<tr><td>{}</td>{cells}<td class=\"n\">{per_input}</td></tr>",
            esc(&r.kind)
        );
    }
    html.push_str("</table>");
    html
}

/// The noise floor as a sentence: the self-agreement of the newest `test --repeat`.
fn floor_line(floor: Option<&TestResult>) -> String {
    let text = match floor {
        Some(t) => {
            let (k, n) = t.self_agreement.unwrap_or_default();
            format!(
                "noise floor {} (self-agreement of <code>llm-do test --repeat {}</code> as a {}, \
                 {}, {})",
                of(k, n),
                t.repeat,
                esc(&t.kind),
                crate::output::count(t.cases, "case"),
                esc(&t.time)
            )
        }
        None => "no noise floor yet: run <code>llm-do test NAME --repeat 3</code>".into(),
    };
    format!("<p id=\"floor\">{text}</p>")
}

/// The switch's mode, live agreement, deferred share and noise floor.
fn switch_summary(s: &SwitchFigures, floor: Option<&TestResult>) -> String {
    let c = s.counts;
    format!(
        "<p id=\"switch\"><span class=\"mode\">{}</span> · live agreement {} · deferred {}</p>{}",
        esc(&s.mode),
        of(c.agreed, c.compared),
        of(c.deferred, c.calls),
        floor_line(floor)
    )
}

/// What serving by code would have saved on the window's calls: the worker's average cost per
/// call times the calls the fn served or would serve (those it did not defer); unknown without
/// a worker call with a cost.
#[allow(clippy::cast_precision_loss)]
fn saving(name: &str, s: &SwitchFigures, volume: &Volume) -> String {
    let served = s.counts.calls.saturating_sub(s.counts.deferred);
    let per_call = volume
        .cost
        .filter(|_| volume.calls > 0)
        .map(|c| c / volume.calls as f64);
    match per_call {
        Some(each) => format!(
            "<p id=\"saving\">Projected saving: {} — the worker's {} over {} \
             (about {} a call) for each of the {} the fn did not defer.</p>",
            dollars(Some(each * served as f64)),
            dollars(volume.cost),
            crate::output::count(volume.calls, "call"),
            dollars(Some(each)),
            crate::output::count(served, "call"),
        ),
        None => format!(
            "<p id=\"saving\">Projected saving: unknown — no worker call of <code>{}</code> with a cost \
             in this window (a model without a price), over the {} the fn did not defer.</p>",
            esc(name),
            crate::output::count(served, "call"),
        ),
    }
}

/// The disputed inputs, newest first: each input with the worker's and the fn's outputs.
fn disputes_html(disputes: &[Dispute], total: u64) -> String {
    let mut html = format!(
        "<h2 id=\"disputes\">Disputed inputs ({} of {total})</h2>",
        disputes.len()
    );
    if disputes.is_empty() {
        html.push_str("<p>The worker and the fn agreed on every input compared.</p>");
    }
    for d in disputes {
        let fields = if d.fields.is_empty() {
            String::new()
        } else {
            format!(" · fields that differ: {}", esc(&d.fields.join(", ")))
        };
        let _ = write!(
            html,
            "<div class=\"dispute\"><p>{} · run {}{fields}</p><p>input</p>\
             <pre class=\"input\">{}</pre>{}</div>",
            esc(&d.time),
            esc(&d.run),
            esc(&shown(&d.input)),
            side_by_side(d.worker_output.as_ref(), d.code_output.as_ref(), &d.fields)
        );
    }
    html
}

/// Two outputs side by side: objects field by field (the differing fields marked), text as a
/// word diff, anything else as JSON in two columns.
fn side_by_side(worker: Option<&Value>, code: Option<&Value>, fields: &[String]) -> String {
    match (worker, code) {
        (Some(Value::Object(w)), Some(Value::Object(c))) => {
            let keys: BTreeSet<&String> = w.keys().chain(c.keys()).collect();
            let mut html = String::from(
                "<table class=\"sides\"><tr><th>field</th><th>worker</th><th>fn</th></tr>",
            );
            for k in keys {
                let (a, b) = (w.get(k), c.get(k));
                let differs = a != b || fields.contains(k);
                let _ = write!(
                    html,
                    "<tr class=\"field{}\"><td>{}</td><td>{}</td><td>{}</td></tr>",
                    if differs { " differs" } else { "" },
                    esc(k),
                    esc(&compact(a)),
                    esc(&compact(b))
                );
            }
            html.push_str("</table>");
            html
        }
        (Some(Value::String(w)), Some(Value::String(c))) => format!(
            "{}<p>diff</p><pre class=\"diff\">{}</pre>",
            columns(&compact(worker), &compact(code)),
            word_diff(w, c)
        ),
        (w, c) => columns(
            &w.map_or_else(|| "(no output)".into(), shown),
            &c.map_or_else(|| "(no output)".into(), shown),
        ),
    }
}

/// The worker's and the fn's output texts in two columns.
fn columns(worker: &str, code: &str) -> String {
    format!(
        "<table class=\"sides\"><tr><th>worker</th><th>fn</th></tr><tr>\
         <td><pre class=\"worker\">{}</pre></td><td><pre class=\"fn\">{}</pre></td></tr></table>",
        esc(worker),
        esc(code)
    )
}

/// A value in one line of JSON (a string without its quotes); `-` when missing.
fn compact(v: Option<&Value>) -> String {
    let text = match v {
        None => return "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    crate::output::clip(&text, super::pages::MAX_VALUE)
}

/// The words the worker wrote and the fn did not as `<del>`, the fn's own as `<ins>`
/// (escaped; `similar`'s word diff).
fn word_diff(worker: &str, code: &str) -> String {
    let worker = crate::output::clip(worker, super::pages::MAX_VALUE);
    let code = crate::output::clip(code, super::pages::MAX_VALUE);
    let diff = similar::TextDiff::from_words(worker.as_str(), code.as_str());
    let mut html = String::new();
    for change in diff.iter_all_changes() {
        let text = esc(change.value());
        match change.tag() {
            similar::ChangeTag::Equal => html.push_str(&text),
            similar::ChangeTag::Delete => {
                let _ = write!(html, "<del>{text}</del>");
            }
            similar::ChangeTag::Insert => {
                let _ = write!(html, "<ins>{text}</ins>");
            }
        }
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_diffed_word_by_word_and_escaped() {
        assert_eq!(
            word_diff("a <b> cat", "a <b> dog"),
            "a &lt;b&gt; <del>cat</del><ins>dog</ins>"
        );
    }

    #[test]
    fn objects_are_compared_field_by_field() {
        let html = side_by_side(
            Some(&json!({"category": "bug", "score": 2})),
            Some(&json!({"category": "feature", "score": 2})),
            &["category".into()],
        );
        assert_eq!(
            html,
            "<table class=\"sides\"><tr><th>field</th><th>worker</th><th>fn</th></tr>\
             <tr class=\"field differs\"><td>category</td><td>bug</td><td>feature</td></tr>\
             <tr class=\"field\"><td>score</td><td>2</td><td>2</td></tr></table>"
        );
    }

    #[test]
    fn the_saving_is_the_workers_average_cost_times_the_calls_not_deferred() {
        let s = SwitchFigures {
            counts: crate::log::agreement::SwitchCounts {
                calls: 10,
                deferred: 2,
                ..Default::default()
            },
            ..SwitchFigures::default()
        };
        let volume = |cost| Volume {
            calls: 4,
            cost,
            ..Volume::default()
        };
        assert_eq!(
            saving("t", &s, &volume(Some(0.2))),
            "<p id=\"saving\">Projected saving: $0.4000 — the worker's $0.2000 over 4 calls \
             (about $0.0500 a call) for each of the 8 calls the fn did not defer.</p>"
        );
        let unknown = "<p id=\"saving\">Projected saving: unknown — no worker call of \
             <code>t</code> with a cost in this window (a model without a price), over the 8 calls \
             the fn did not defer.</p>";
        assert_eq!(saving("t", &s, &volume(None)), unknown);
        let no_calls = Volume {
            cost: Some(0.2),
            ..Volume::default()
        };
        assert_eq!(
            saving("t", &s, &no_calls),
            unknown,
            "no worker calls: no average"
        );
    }
}
