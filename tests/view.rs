//! `llm-do view`: the real binary serves the run log's pages on 127.0.0.1 with a token in its
//! URL; requests without it are refused; what a model wrote is shown escaped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use regex::Regex;
use serde_json::Value;

use crate::util::{Test, VARYING};

/// `greeter` (the test model echoes its input) and `add`, called by `main.rhai` with `input`.
fn project(input: &str) -> Test {
    Test::greeter_and_add(input)
}

/// A running `llm-do view --port 0` and the URL it printed; killed when dropped.
struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
    token: String,
}

impl Server {
    fn start(t: &Test) -> Server {
        let mut child = t
            .command(&["view", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn llm-do view");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim_end();
        let (base, token) = url
            .split_once("/?token=")
            .unwrap_or_else(|| panic!("not a URL with a token: {url:?}"));
        Server {
            base: base.to_string(),
            token: token.to_string(),
            child,
        }
    }

    /// GET `path` (which may have a query) with the token: status and body.
    async fn page(&self, path: &str) -> (u16, String) {
        let sep = if path.contains('?') { '&' } else { '?' };
        get(&format!("{}{path}{sep}token={}", self.base, self.token)).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// How many times `needle` occurs in `html`.
fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}

/// The title of a page.
fn title(html: &str) -> &str {
    let start = html.find("<title>").expect("a title") + "<title>".len();
    &html[start..start + html[start..].find("</title>").unwrap()]
}

/// The body of a page as a snapshot states it: a line after each row or block, and what varies
/// between runs replaced: the token, the run ids (`ids[i]` is `[RUN i]`), the binary's path,
/// wall-clock times (a `since` in 2999 is kept), durations ([`VARYING`]), the chart's date
/// labels and the geometry of the waterfall bars.
fn body(html: &str, token: &str, ids: &[String]) -> String {
    const FUTURE: &str = "2999-01-01T00:00:00.000Z";
    let start = html.find("<body>").expect("a body");
    let mut text = html[start..]
        .replace(env!("CARGO_BIN_EXE_llm-do"), "llm-do")
        .replace(FUTURE, "[FUTURE]");
    if !token.is_empty() {
        text = text.replace(token, "[TOKEN]");
    }
    for (i, id) in ids.iter().enumerate() {
        text = text.replace(id.as_str(), &format!("[RUN {i}]"));
    }
    for tag in [
        "</tr>",
        "</p>",
        "</h1>",
        "</h2>",
        "</nav>",
        "</form>",
        "</table>",
        "</summary>",
        "</details>",
        "</div>",
    ] {
        text = text.replace(tag, &format!("{tag}\n"));
    }
    let more = [
        (
            r#"<rect x="[\d.]+" y="1" width="[\d.]+""#,
            r#"<rect x="[X]" y="1" width="[W]""#,
        ),
        (r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "[WHEN]"),
        (r">\d{4}-\d\d-\d\d</text>", ">[DAY]</text>"),
    ];
    for (pattern, to) in VARYING.iter().chain(more.iter()) {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, *to)
            .into_owned();
    }
    text.replace("[FUTURE]", FUTURE)
}

fn run_ids(t: &Test) -> Vec<String> {
    let out = t.run_with(&["logs", "--runs", "--json"]);
    out.status(0);
    let runs: Vec<Value> = serde_json::from_str(&out.stdout).unwrap();
    runs.iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_without_the_token_are_refused() {
    let t = project("Ada");
    t.run_with(&["main.rhai"]).status(0);
    let server = Server::start(&t);
    // Loopback only by default.
    assert_eq!(
        server.base.rsplit_once(':').map(|(host, _)| host),
        Some("http://127.0.0.1")
    );
    assert_eq!(server.token.len(), 32);
    for path in ["/", "/runs", "/names", "/runs?token=", "/runs?token=0123"] {
        let (status, body) = get(&format!("{}{path}", server.base)).await;
        assert_eq!(status, 403, "{path}");
        assert_eq!(
            self::body(&body, &server.token, &[]),
            "<body><h1>Forbidden</h1>\n<p class=\"error\">this page needs the token of the URL \
             `llm-do view` printed</p>\n</body></html>\n",
            "{path}"
        );
    }
    let wrong = format!("{}/runs?token={}", server.base, "0".repeat(32));
    assert_eq!(get(&wrong).await.0, 403);
    // Nothing writes: another method is refused even with the token.
    let url = format!("{}/runs?token={}", server.base, server.token);
    let post = reqwest::Client::new().post(&url).send().await.unwrap();
    assert_eq!(post.status().as_u16(), 405);
    // With the token, the page answers and says it may run no script.
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'"
    );
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runs_page_lists_each_run_newest_first_with_a_link_to_it() {
    let t = project("Ada");
    t.run_with(&["main.rhai"]).status(0);
    t.run_with(&["run", "add", "--input-json", "{\"a\": 1}"]);
    let ids = run_ids(&t);
    assert_eq!(ids.len(), 2);
    let server = Server::start(&t);
    let (status, html) = server.page("/").await;
    assert_eq!(status, 200);
    assert_eq!(title(&html), "Runs · llm-do view");
    // The second time, the ended runs' sums are read from what the first kept: the same page.
    assert_eq!(server.page("/").await.1, html);
    assert_eq!(count(&html, "<tr class=\"run\">"), 2, "{html}");
    // Newest first: the failed `add` run, then the script; each links to its page.
    let (newest, oldest) = (
        html.find(&format!(">{}</a>", ids[0])).unwrap(),
        html.find(&format!(">{}</a>", ids[1])).unwrap(),
    );
    assert!(newest < oldest);
    assert_eq!(count(&html, "<td class=\"status-error\">error</td>"), 1);
    assert_eq!(count(&html, "<td class=\"status-ok\">ok</td>"), 1);
    // No worker ran in the failed run: no tokens, no cost (not a cost of $0). The script's
    // run: 2 calls, the worker's tokens (its tokens in and out).
    insta::assert_snapshot!("runs_page", body(&html, &server.token, &ids));
    // A window: runs since a moment in the future are none; a bad one is a 400.
    let (status, html) = server.page("/runs?since=2999-01-01").await;
    assert_eq!(status, 200);
    assert_eq!(count(&html, "<tr class=\"run\">"), 0);
    insta::assert_snapshot!("runs_page_none_since", body(&html, &server.token, &ids));
    // The names page says the same of its calls, in words a reader can say aloud.
    let (status, html) = server.page("/names?since=2999-01-01").await;
    assert_eq!(status, 200);
    assert_eq!(
        count(&html, "<p>No calls since 2999-01-01T00:00:00.000Z.</p>"),
        1
    );
    let (status, _) = server.page("/runs?since=7d").await;
    assert_eq!(status, 200);
    let (status, html) = server.page("/runs?since=soon").await;
    assert_eq!(status, 400, "{html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_page_shows_its_call_tree_with_what_a_model_wrote_escaped() {
    let hostile = "<script>alert('x')</script>";
    let t = project(hostile);
    t.run_with(&["main.rhai"]).status(0);
    let id = run_ids(&t).remove(0);
    let server = Server::start(&t);
    let (status, html) = server.page(&format!("/run/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(title(&html), format!("Run {id} · llm-do view"));
    assert_eq!(count(&html, "<details class=\"call\""), 2);
    assert_eq!(
        count(&html, "<svg class=\"bar\""),
        2,
        "a waterfall bar per call"
    );
    let (greeter, add) = (
        html.find("<b>greeter</b>").unwrap(),
        html.find("<b>add</b>").unwrap(),
    );
    assert!(greeter < add, "in the order they started");
    // How the run ended, and each call with what the model wrote escaped: no `<script` at all.
    assert_eq!(count(&html, "<script"), 0);
    insta::assert_snapshot!("run_page", body(&html, &server.token, &[id]));
    // A run id that does not exist, and a page that does not.
    let (status, html) = server.page("/run/nosuchrun").await;
    assert_eq!(status, 404);
    assert_eq!(title(&html), "Not Found · llm-do view");
    assert_eq!(server.page("/nothing").await.0, 404);
}

/// The greeter project with `triage` in shadow: the fake worker says `bug` unless a message
/// has "idea"; the fn says `bug` for "crash", `feature` otherwise, and defers "???".
/// `sort.rhai` triages four messages: two agree, "slow page" is disputed, "???" deferred.
fn triage_project() -> Test {
    project("Ada")
        .config("[stabilize]\ntriage = \"shadow\"\n")
        .fake_triage_worker()
        .script(
            "triage",
            "/// message: string\nfn triage(message) { if message == \"???\" { return defer(); } if message.contains(\"crash\") { #{category: \"bug\"} } else { #{category: \"feature\"} } }\n",
        )
        .file(
            "sort.rhai",
            "for m in [\"it crashes\", \"an idea\", \"slow page\", \"???\"] { call(\"triage\", #{message: m}); }",
        )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_names_page_shows_candidates_and_stabilize_switches() {
    let t = triage_project();
    t.run_with(&["main.rhai"]).status(0);
    t.run_with(&["main.rhai"]).status(0);
    t.run_with(&["sort.rhai"]).status(0);
    let server = Server::start(&t);
    let (status, html) = server.page("/names").await;
    assert_eq!(status, 200);
    assert_eq!(title(&html), "Names · llm-do view");
    assert_eq!(count(&html, "<tr class=\"name\">"), 4, "{html}");
    // `greeter` answered the same input the same twice: a candidate; `add` is code already.
    assert_eq!(count(&html, "<span class=\"badge\""), 1);
    // The switch: its mode, live agreement of the shadow comparisons, and deferrals.
    insta::assert_snapshot!("names_page", body(&html, &server.token, &[]));
}

#[test]
fn without_a_run_log_there_is_nothing_to_serve() {
    let t = Test::new().args(&["view", "--port", "0"]);
    let out = t.run();
    out.status(2);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error: no run log at `[PROJECT]/.llm-do/log.db`\n  hint: runs are logged unless `--no-log` or `[log] enabled = false`\n"
    );
}

#[test]
fn a_corrupt_log_is_said_before_serving() {
    let t = Test::new()
        .file(".llm-do/log.db", "this is not a database, it is text")
        .args(&["view", "--port", "0"]);
    let out = t.run();
    out.status(1);
    assert_eq!(out.stdout, "", "no URL printed");
    assert_eq!(
        out.stderr,
        "error: cannot open the run log `[PROJECT]/.llm-do/log.db`: file is not a database\n"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_run_is_listed_as_interrupted() {
    let t = Test::new().file(
        "main.rhai",
        "write_text(\"out/ready.txt\", \"1\");\nsleep(600000);\n",
    );
    interrupt(sleeping_run(&t));
    let server = Server::start(&t);
    let (status, html) = server.page("/runs").await;
    assert_eq!(status, 200);
    assert_eq!(count(&html, "<tr class=\"run\">"), 1, "{html}");
    assert_eq!(
        count(&html, "<td class=\"status-interrupted\">interrupted</td>"),
        1,
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_switch_page_draws_live_agreement_against_the_noise_floor_and_the_disputes() {
    let t = triage_project().file(
        "tests/triage.jsonl",
        "{\"input\": {\"message\": \"it crashes\"}, \"expected\": {\"category\": \"bug\"}}\n\
         {\"input\": {\"message\": \"an idea\"}, \"expected\": {\"category\": \"feature\"}}\n",
    );
    t.run_with(&["sort.rhai"]).status(0);
    t.run_with(&["sort.rhai"]).status(0);
    let server = Server::start(&t);
    // Before any `test --repeat`, there is no noise floor to draw.
    let (status, html) = server.page("/name/triage").await;
    assert_eq!(status, 200, "{html}");
    let ids = run_ids(&t);
    insta::assert_snapshot!("switch_page_no_floor", body(&html, &server.token, &ids));
    assert_eq!(count(&html, "<line class=\"floor\""), 0);
    // `test --repeat` keeps its result in the log (not with `--no-log`): the worker's
    // self-agreement.
    t.run_with(&["test", "triage", "--repeat", "2", "--no-log"])
        .status(0);
    let (_, again) = server.page("/name/triage").await;
    assert_eq!(again, html, "no floor kept from a `--no-log` run");
    t.run_with(&["test", "triage", "--repeat", "2"]).status(0);
    let (status, html) = server.page("/name/triage").await;
    assert_eq!(status, 200);
    assert_eq!(title(&html), "Name triage · llm-do view");
    // Both sides of the switch, as `stats` counts them.
    assert_eq!(
        count(&html, "<tr><td>neural</td><td class=\"n\">8</td>"),
        1,
        "{html}"
    );
    // The switch's live agreement and deferrals, the floor, the chart, the saving, the
    // disputes: the whole page.
    let ids = run_ids(&t);
    insta::assert_snapshot!("switch_page", body(&html, &server.token, &ids));
    // The chart: a point per run (each 2 of 3 agreed), the floor dashed at 100%.
    assert_eq!(count(&html, "<svg id=\"agreement\""), 1);
    assert_eq!(count(&html, "<circle class=\"run\""), 2);
    assert_eq!(count(&html, "<title>run "), 2);
    assert_eq!(count(&html, ": agreed 2/3 (66.7%)</title>"), 2, "{html}");
    assert_eq!(
        count(
            &html,
            "<line class=\"floor\" x1=\"44\" x2=\"630\" y1=\"10.0\" y2=\"10.0\""
        ),
        1,
        "{html}"
    );
    // The fake model has no price: the saving cannot be projected, and the page says why.
    // The disputed input of each run, the two outputs field by field.
    assert_eq!(count(&html, "<div class=\"dispute\">"), 2);
    assert_eq!(
        count(
            &html,
            "<tr class=\"field differs\"><td>category</td><td>bug</td><td>feature</td></tr>"
        ),
        2,
        "{html}"
    );
    assert_eq!(count(&html, "slow page"), 2);
    assert_eq!(
        count(&html, "it crashes"),
        0,
        "agreed inputs are no disputes"
    );
    // A window with none of its events has nothing to draw.
    let (status, html) = server.page("/name/triage?since=2999-01-01").await;
    assert_eq!(status, 200);
    insta::assert_snapshot!("switch_page_none_since", body(&html, &server.token, &ids));
    assert_eq!(count(&html, "<svg"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plain_name_has_a_page_and_an_unknown_one_is_not_found() {
    let t = project("Ada");
    t.run_with(&["main.rhai"]).status(0);
    let server = Server::start(&t);
    let (status, html) = server.page("/name/greeter").await;
    assert_eq!(status, 200);
    assert_eq!(title(&html), "Name greeter · llm-do view");
    insta::assert_snapshot!("plain_name_page", body(&html, &server.token, &[]));
    let (status, html) = server.page("/name/nosuchname").await;
    assert_eq!(status, 404);
    assert_eq!(title(&html), "Not Found · llm-do view");
}

/// A run that goes on (a script asleep) until its SIGINT, and the `out/ready.txt` it wrote.
#[cfg(unix)]
fn sleeping_run(t: &Test) -> Child {
    let child = t
        .command(&["main.rhai"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = t.path().join("out/ready.txt");
    for _ in 0..2000 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(ready.exists(), "the script never got to its sleep");
    child
}

#[cfg(unix)]
fn interrupt(mut child: Child) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_runs_page_reloads_itself_while_a_run_is_in_progress() {
    // A run shows in the log from its first call on: this one is in the call `slow`.
    let t = Test::new()
        .script(
            "slow",
            "fn slow() { write_text(\"out/ready.txt\", \"1\"); sleep(600000); }\n",
        )
        .file("main.rhai", "call(\"slow\", #{});\n");
    let child = sleeping_run(&t);
    let server = Server::start(&t);
    // The run's row is written by its writer thread just after the call began.
    let mut html = String::new();
    for _ in 0..500 {
        html = server.page("/runs").await.1;
        if html.contains("<tr class=\"run\">") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        count(&html, "<meta http-equiv=\"refresh\" content=\"5\">"),
        1,
        "{html}"
    );
    assert_eq!(
        count(&html, "<td class=\"status-unfinished\">unfinished</td>"),
        1,
        "{html}"
    );
    insta::assert_snapshot!("runs_page_live", body(&html, &server.token, &run_ids(&t)));
    interrupt(child);
    let (status, html) = server.page("/runs").await;
    assert_eq!(status, 200);
    assert_eq!(
        count(&html, "http-equiv"),
        0,
        "no reloads once it ended: {html}"
    );
    assert_eq!(count(&html, "<p id=\"live\">"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_another_process_is_writing_is_still_served() {
    let t = project("Ada");
    t.run_with(&["main.rhai"]).status(0);
    let server = Server::start(&t);
    // Another process holds the log's write lock (as a run's writer does, briefly), and the
    // runs page has call counts to remember (which it would write, best effort).
    let writer = rusqlite::Connection::open(t.path().join(".llm-do/log.db")).unwrap();
    writer
        .execute_batch("DELETE FROM run_counts; BEGIN IMMEDIATE; DELETE FROM approvals;")
        .unwrap();
    for path in ["/runs", "/names", "/name/greeter"] {
        let (status, html) = server.page(path).await;
        assert_eq!(status, 200, "{path}: {html}");
    }
    let (_, html) = server.page("/runs").await;
    assert_eq!(count(&html, "<tr class=\"run\">"), 1, "{html}");
    writer.execute_batch("ROLLBACK").unwrap();
}

#[test]
fn a_foreign_database_at_the_logs_place_is_refused_before_serving() {
    let t = Test::new().args(&["view", "--port", "0"]);
    std::fs::create_dir_all(t.path().join(".llm-do")).unwrap();
    let foreign = rusqlite::Connection::open(t.path().join(".llm-do/log.db")).unwrap();
    foreign
        .execute_batch(
            "CREATE TABLE calls (who TEXT, what TEXT); INSERT INTO calls VALUES ('ada', 'hello');",
        )
        .unwrap();
    drop(foreign);
    let out = t.run();
    out.status(1);
    assert_eq!(out.stdout, "", "no URL printed");
    assert_eq!(
        out.stderr,
        "error: `[PROJECT]/.llm-do/log.db` is not an llm-do run log: it holds tables llm-do did not write; move it away and llm-do starts a new log\n"
    );
    // Refused without a change: the foreign table is as it was, and nothing was added.
    let foreign = rusqlite::Connection::open(t.path().join(".llm-do/log.db")).unwrap();
    let tables: Vec<String> = foreign
        .prepare("SELECT name FROM sqlite_master ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(tables, ["calls"]);
}
