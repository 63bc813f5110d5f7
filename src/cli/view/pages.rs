//! The pages of `llm-do view`, drawn as HTML strings from the log's own readers (the ones
//! `logs` and `stats` print). Everything read from the log goes through [`esc`]: a model or a
//! tool put it there. No script and no asset from elsewhere: the style is inline and the
//! waterfall is SVG drawn here.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use hyper::StatusCode;
use rusqlite::Connection;

use crate::cli::logs::{dropped, status_of, to_second, took};
use crate::log::{self, CallFilter, CallRow, Window};

/// A drawn page and the status it is answered with.
pub struct Page {
    pub status: StatusCode,
    pub html: String,
}

/// What a request asks beside its path: the token (carried on by every link) and `since`.
pub struct Ask<'a> {
    pub token: &'a str,
    pub since: Option<&'a str>,
}

/// Runs listed on the runs page at most.
const MAX_RUNS: usize = 200;
/// Calls drawn on a run's page at most (the rest are counted, not drawn).
const MAX_CALLS: usize = 2_000;
/// How long a page waits for another process's write lock on the log.
const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// Seconds between reloads of the runs page while a run is in progress.
const REFRESH_SECONDS: u32 = 5;
/// Characters of an input or output shown before it is cut.
pub(super) const MAX_VALUE: usize = 20_000;

/// `text` safe inside HTML text and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as one component of a URL (path segment or query value).
pub(super) fn url_part(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A refusal or failure, as a small page of its own.
pub fn refused(status: StatusCode, why: &str) -> Page {
    Page {
        status,
        html: document(
            status.canonical_reason().unwrap_or("error"),
            None,
            "",
            &format!("<p class=\"error\">{}</p>", esc(why)),
        ),
    }
}

/// The page `path` names, read from the log at `log`.
pub fn page(log: &Path, path: &str, ask: &Ask) -> Page {
    let window = match Window::parse(ask.since, None, std::time::SystemTime::now()) {
        Ok(w) => w,
        Err(e) => return refused(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let conn = match log::open(log) {
        Ok(c) => c,
        Err(e) => return refused(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    // Reads never wait in WAL mode; only the readers' own bookkeeping writes (aggregates,
    // counts) do. A page waits less for a run's writer than a command does, and past that
    // reads around the lock.
    let _ = conn.busy_timeout(WRITER_WAIT);
    let drawn = match path {
        "/" | "/runs" => runs_page(&conn, &window, ask).map(Some),
        "/names" => names_page(&conn, &window, ask).map(Some),
        _ => {
            if let Some(id) = path.strip_prefix("/run/") {
                run_page(&conn, id, ask)
            } else if let Some(name) = path.strip_prefix("/name/") {
                super::name::page(&conn, &percent_decoded(name), &window, ask)
            } else {
                Ok(None)
            }
        }
    };
    match drawn {
        Ok(Some(html)) => Page {
            status: StatusCode::OK,
            html,
        },
        Ok(None) => refused(StatusCode::NOT_FOUND, &format!("no page `{path}` here")),
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// `/path` with the token (and `since`, when kept) as its query.
pub(super) fn link(path: &str, ask: &Ask, keep_since: bool) -> String {
    let mut url = format!("{path}?token={}", url_part(ask.token));
    if let (true, Some(s)) = (keep_since, ask.since) {
        let _ = write!(url, "&since={}", url_part(s));
    }
    esc(&url)
}

/// The whole document: title, `head` (trusted markup drawn here, added to its `<head>`),
/// style, navigation (when asked), body.
pub(super) fn document(title: &str, ask: Option<&Ask>, head: &str, body: &str) -> String {
    let nav = ask.map_or_else(String::new, |ask| {
        format!(
            "<nav><a href=\"{}\">Runs</a> · <a href=\"{}\">Names</a></nav>",
            link("/runs", ask, true),
            link("/names", ask, true)
        )
    });
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} · llm-do view</title>{head}<style>{STYLE}</style></head>\
         <body>{nav}<h1>{title}</h1>{body}</body></html>\n",
        title = esc(title)
    )
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}\
nav{margin-bottom:1em}table{border-collapse:collapse}\
th,td{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}\
td.n{text-align:right;font-variant-numeric:tabular-nums}td.when{white-space:nowrap}\
pre{background:#f6f6f6;padding:.4em;white-space:pre-wrap;max-width:60em;overflow:auto}\
.error,.status-error{color:#b00}.status-interrupted,.status-unfinished{color:#a60}\
.badge{background:#2a7;color:#fff;border-radius:.6em;padding:0 .5em;font-size:90%}\
.mode{background:#eef;border-radius:.3em;padding:0 .4em}\
details{margin:.1em 0}summary{cursor:pointer}svg.bar{vertical-align:middle}\
tr.differs td{background:#fdeaea}del{background:#fbd0d0}ins{background:#d4f4d4;text-decoration:none}\
.dispute{border-top:1px solid #ccc;margin-top:1em}figure{margin:1em 0}";

/// The time filter: a form that reloads the page with `since` (no script needed).
pub(super) fn since_form(path: &str, ask: &Ask) -> String {
    let choices = [
        ("", "all"),
        ("1h", "1 hour"),
        ("1d", "1 day"),
        ("7d", "7 days"),
        ("30d", "30 days"),
    ];
    let options: String = choices
        .into_iter()
        .map(|(value, label)| {
            let selected = if ask.since.unwrap_or("") == value {
                " selected"
            } else {
                ""
            };
            format!("<option value=\"{value}\"{selected}>{label}</option>")
        })
        .collect();
    format!(
        "<form method=\"get\" action=\"{path}\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
         <label>since <select name=\"since\">{options}</select></label> <button>show</button></form>",
        esc(ask.token),
    )
}

pub(super) fn dollars(cost: Option<f64>) -> String {
    cost.map_or_else(|| "-".into(), crate::model::prices::dollars)
}

/// A run's page starts with its command line, how it ended, when and for how long.
fn run_header(r: &log::RunSummary) -> String {
    let status = status_of(r);
    format!(
        "<p id=\"run\"><code>{}</code> · <span class=\"status-{status}\">{status}</span> · \
         started {} · took {}</p>",
        esc(&r.command),
        esc(&r.started),
        took(r)
    )
}

/// The line of a page that found no `what` in `window`.
fn nothing_in(what: &str, window: &Window) -> String {
    let bounds = window.bounds().unwrap_or_else(|| "in the run log".into());
    format!("<p>No {what} {}.</p>", esc(&bounds))
}

/// `/runs`: the newest runs in the window, with how each ended, how long it took, its calls,
/// and its workers' tokens and cost.
fn runs_page(conn: &Connection, window: &Window, ask: &Ask) -> Result<String, log::LogError> {
    let runs = log::runs(conn, window, MAX_RUNS)?;
    let mut body = since_form("/runs", ask);
    if runs.is_empty() {
        body.push_str(&nothing_in("runs", window));
    }
    body.push_str(
        "<table id=\"runs\"><tr><th>started</th><th>run</th><th>command</th><th>status</th>\
         <th>duration</th><th>calls</th><th>tokens</th><th>cost</th></tr>",
    );
    let ids: Vec<(&str, bool)> = runs
        .iter()
        .map(|r| (r.id.as_str(), r.status.is_some()))
        .collect();
    let volumes = log::volume::per_run(conn, &ids)?;
    for r in &runs {
        let volume = volumes.get(&r.id).cloned().unwrap_or_default();
        let status = status_of(r);
        let took = took(r);
        let _ = write!(
            body,
            "<tr class=\"run\"><td class=\"when\">{}</td><td><a href=\"{}\">{}</a></td><td><code>{}</code></td>\
             <td class=\"status-{status}\">{status}</td><td class=\"n\">{took}</td>\
             <td class=\"n\">{}{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            esc(&to_second(&r.started).replace('T', " ")),
            link(&format!("/run/{}", url_part(&r.id)), ask, false),
            esc(&r.id),
            esc(&crate::output::clip(&r.command, 120)),
            r.calls,
            dropped(r),
            volume.tokens,
            dollars(volume.cost.filter(|_| volume.calls > 0)),
        );
    }
    body.push_str("</table>");
    // Live updates without script: while the newest run goes on, the page reloads itself.
    // (A run killed without a word also has no end; it stops the reloads once a later run
    // starts and ends.)
    let live = runs.first().is_some_and(|r| r.status.is_none());
    let head = if live {
        body.insert_str(
            0,
            &format!(
                "<p id=\"live\">A run is in progress: this page reloads every {REFRESH_SECONDS} s.</p>"
            ),
        );
        format!("<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">")
    } else {
        String::new()
    };
    Ok(document("Runs", Some(ask), &head, &body))
}

/// `/run/ID`: one run's calls as a tree (parents before their children, in the order they
/// started), a waterfall bar per call, and each call's input, output, error, stop reason,
/// fallbacks and approval decisions. `None` when no run has that id.
fn run_page(conn: &Connection, id: &str, ask: &Ask) -> Result<Option<String>, log::LogError> {
    let id = percent_decoded(id);
    let Some(run) = log::run_summary(conn, &id)? else {
        return Ok(None);
    };
    let mut calls = log::calls(
        conn,
        &CallFilter {
            run: Some(&id),
            limit: Some(MAX_CALLS + 1),
            ..CallFilter::default()
        },
    )?;
    let cut = calls.len() > MAX_CALLS;
    calls.truncate(MAX_CALLS);
    calls.sort_by_key(|c| c.id);
    let order = tree_order(&calls);
    let t0 = calls
        .iter()
        .filter_map(|c| log::seconds_of(&c.time))
        .fold(f64::INFINITY, f64::min);
    let span = calls
        .iter()
        .filter_map(|c| Some(log::seconds_of(&c.time)? - t0 + c.ms / 1000.0))
        .fold(0.0_f64, f64::max);
    let mut body = run_header(&run);
    let _ = write!(
        body,
        "<p>{} · {:.1} ms from the first call's start to the last call's end</p>",
        crate::output::count(calls.len() as u64, "call"),
        span * 1000.0
    );
    if cut {
        let _ = write!(body, "<p>Only the newest {MAX_CALLS} calls are drawn.</p>");
    }
    body.push_str("<div id=\"tree\">");
    for &i in &order {
        let c = &calls[i];
        let start = log::seconds_of(&c.time).map_or(0.0, |t| t - t0);
        body.push_str(&call_html(conn, c, start, span)?);
    }
    body.push_str("</div>");
    Ok(Some(document(&format!("Run {id}"), Some(ask), "", &body)))
}

/// A path segment as it was before the link encoded it.
fn percent_decoded(segment: &str) -> String {
    form_urlencoded::parse(format!("x={segment}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Indices of `calls` (sorted by id) in tree order: each call followed by its children.
fn tree_order(calls: &[CallRow]) -> Vec<usize> {
    let ids: HashMap<i64, usize> = calls.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
    let mut children: HashMap<Option<usize>, Vec<usize>> = HashMap::new();
    for (i, c) in calls.iter().enumerate() {
        let parent = c.parent.and_then(|p| ids.get(&p).copied());
        children.entry(parent).or_default().push(i);
    }
    let mut order = Vec::with_capacity(calls.len());
    let mut stack: Vec<usize> = children.get(&None).cloned().unwrap_or_default();
    stack.reverse();
    while let Some(i) = stack.pop() {
        order.push(i);
        if let Some(kids) = children.get(&Some(i)) {
            stack.extend(kids.iter().rev());
        }
    }
    order
}

/// One call of a run's tree: a summary line with its waterfall bar, and its details.
fn call_html(
    conn: &Connection,
    c: &CallRow,
    start: f64,
    span: f64,
) -> Result<String, log::LogError> {
    let width = 240.0;
    let scale = if span > 0.0 { width / span } else { 0.0 };
    let x = start * scale;
    let w = (c.ms / 1000.0 * scale).max(1.0);
    let colour = if c.error.is_some() { "#c33" } else { "#48c" };
    let tokens = if c.tokens_in + c.tokens_out > 0 {
        format!(" · {}+{} tok", c.tokens_in, c.tokens_out)
    } else {
        String::new()
    };
    let mut html = format!(
        "<details class=\"call\" style=\"margin-left:{}em\"><summary>\
         <svg class=\"bar\" width=\"{width}\" height=\"10\"><rect x=\"{x:.1}\" y=\"1\" \
         width=\"{w:.1}\" height=\"8\" fill=\"{colour}\"/></svg> \
         <b>{}</b> <span class=\"kind\">{}</span> {:.1} ms{tokens}{}{}</summary>",
        c.depth.min(40) * 2,
        esc(&c.name),
        esc(&c.kind),
        c.ms,
        c.model
            .as_deref()
            .map_or_else(String::new, |m| format!(" · {}", esc(m))),
        if c.error.is_some() {
            " · <span class=\"error\">error</span>"
        } else {
            ""
        },
    );
    let _ = write!(html, "<p>call {} · started {}</p>", c.id, esc(&c.time));
    let parts = [
        ("input", Some(shown(&c.input))),
        ("output", c.output.as_ref().map(shown)),
        ("error", c.error.clone()),
    ];
    for (part, text) in parts {
        if let Some(text) = text {
            let _ = write!(
                html,
                "<p>{part}</p><pre class=\"{part}\">{}</pre>",
                esc(&text)
            );
        }
    }
    if let Some(stop) = &c.stop {
        let cut = if stop == "length" {
            " (cut off at the token limit)"
        } else {
            ""
        };
        let _ = write!(html, "<p>stop reason: {}{cut}</p>", esc(stop));
    }
    if let Some(fallback) = &c.fallback {
        let _ = write!(html, "<p>fallbacks: {}</p>", esc(fallback));
    }
    if c.kind == "worker" {
        let approvals = log::approvals(conn, &c.run, c.id)?;
        if !approvals.is_empty() {
            html.push_str(
                "<table class=\"approvals\"><tr><th>tool</th><th>decision</th>\
                 <th>decided by</th><th>reason</th></tr>",
            );
            for a in &approvals {
                let _ = write!(
                    html,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&a.tool),
                    esc(&a.decision),
                    esc(a.decided_by.as_deref().unwrap_or("-")),
                    esc(a.reason.as_deref().unwrap_or(""))
                );
            }
            html.push_str("</table>");
        }
    }
    html.push_str("</details>");
    Ok(html)
}

/// A logged value as text: a string as it is, anything else as pretty JSON, cut when long.
pub(super) fn shown(value: &serde_json::Value) -> String {
    let text = match value {
        serde_json::Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    crate::output::clip(&text, MAX_VALUE)
}

/// The worker volume of `name` in `window`: over the whole log from the runs' kept sums
/// (read once into `whole` for every name), in a window from the calls.
pub(super) fn worker_volume_of(
    conn: &Connection,
    name: &str,
    window: &Window,
    whole: &mut Option<HashMap<String, log::Volume>>,
) -> Result<log::Volume, log::LogError> {
    if window.is_all() {
        if whole.is_none() {
            *whole = Some(log::volume::per_name(conn)?);
        }
        return Ok(whole
            .as_ref()
            .and_then(|w| w.get(name).cloned())
            .unwrap_or_default());
    }
    let filter = CallFilter {
        name: Some(name),
        ..CallFilter::default()
    }
    .within(window);
    log::worker_volume(conn, &filter)
}

/// `/names`: per worker and fn the figures of `llm-do stats` (calls, error share, p50/p90,
/// tokens, distinct outputs per input, the candidate badge), the workers' cost, and each
/// `[stabilize]` name's mode and live agreement.
fn names_page(conn: &Connection, window: &Window, ask: &Ask) -> Result<String, log::LogError> {
    let rows = crate::stats::from_log(conn, &CallFilter::default().within(window))?;
    let switches: HashMap<String, log::SwitchFigures> = log::switch_figures_within(conn, window)?
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    let mut body = since_form("/names", ask);
    if rows.is_empty() {
        body.push_str(&nothing_in("calls", window));
    }
    body.push_str(
        "<table id=\"names\"><tr><th>name</th><th>kind</th><th>calls</th><th>errors</th>\
         <th>p50</th><th>p90</th><th>tokens</th><th>cost</th><th>distinct outputs per input</th>\
         <th>stabilize</th></tr>",
    );
    let mut whole = None;
    for r in &rows {
        let cost = if r.kind == "neural" {
            dollars(worker_volume_of(conn, &r.name, window, &mut whole)?.cost)
        } else {
            "-".into()
        };
        let badge = if r.is_candidate() {
            " <span class=\"badge\" title=\"equal inputs always gave the same output\">candidate</span>"
        } else {
            ""
        };
        let switch = switches.get(&r.name).map_or_else(String::new, |s| {
            let c = s.counts;
            let agreement = if c.compared > 0 {
                format!(" · agreed {}", crate::cli::stats::of(c.agreed, c.compared))
            } else {
                String::new()
            };
            format!(
                "<span class=\"mode\">{}</span>{agreement} · deferred {}/{}",
                esc(&s.mode),
                c.deferred,
                c.calls
            )
        });
        let per_input = per_input(r);
        let _ = write!(
            body,
            "<tr class=\"name\"><td><b><a href=\"{}\">{}</a></b>{badge}</td><td>{}</td>{}\
             <td class=\"n\">{cost}</td><td class=\"n\">{per_input}</td><td>{switch}</td></tr>",
            link(&format!("/name/{}", url_part(&r.name)), ask, true),
            esc(&r.name),
            esc(&r.kind),
            figure_cells(r),
        );
    }
    body.push_str("</table>");
    Ok(document("Names", Some(ask), "", &body))
}

/// A name's distinct outputs per input, as the pages show it (`≤2 over 3 inputs`).
/// The `stats` figures of a row as table cells: calls, errors, p50, p90 and tokens.
pub(super) fn figure_cells(r: &crate::stats::Row) -> String {
    format!(
        "<td class=\"n\">{}</td><td class=\"n\">{:.1}%</td><td class=\"n\">{:.1} ms</td>\
         <td class=\"n\">{:.1} ms</td><td class=\"n\">{}</td>",
        r.calls,
        r.error_rate() * 100.0,
        r.p50_ms,
        r.p90_ms,
        r.tokens_in + r.tokens_out,
    )
}

pub(super) fn per_input(r: &crate::stats::Row) -> String {
    if r.distinct_inputs > 0 {
        format!(
            "≤{} over {}",
            r.max_outputs_per_input,
            crate::output::count(r.distinct_inputs as u64, "input")
        )
    } else {
        "-".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }

    #[test]
    fn a_tree_lists_children_after_their_parent() {
        let call = |id, parent| CallRow {
            id,
            parent,
            ..CallRow::default()
        };
        let calls = [
            call(1, None),
            call(2, Some(1)),
            call(3, None),
            call(4, Some(1)),
        ];
        assert_eq!(tree_order(&calls), vec![0, 1, 3, 2]);
    }

    #[test]
    fn run_ids_survive_the_link() {
        assert_eq!(percent_decoded(&url_part("r 1/ü")), "r 1/ü");
    }
}
