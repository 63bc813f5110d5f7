//! `llm-do view`: the real binary serves the run log's pages on 127.0.0.1 with a token in its
//! URL; requests without it are refused; what a model wrote is shown escaped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::util::Test;

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
    assert!(
        server.base.starts_with("http://127.0.0.1:"),
        "loopback only by default: {}",
        server.base
    );
    assert_eq!(server.token.len(), 32);
    for path in ["/", "/runs", "/names", "/runs?token=", "/runs?token=0123"] {
        let (status, body) = get(&format!("{}{path}", server.base)).await;
        assert_eq!(status, 403, "{path}");
        assert!(!body.contains("Ada"), "{path}: {body}");
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
    assert_eq!(count(&html, "<tr class=\"run\">"), 2, "{html}");
    // Newest first: the failed `add` run, then the script; each links to its page.
    let (newest, oldest) = (
        html.find(&format!(">{}</a>", ids[0])).unwrap(),
        html.find(&format!(">{}</a>", ids[1])).unwrap(),
    );
    assert!(newest < oldest);
    assert_eq!(count(&html, "<td class=\"status-error\">error</td>"), 1);
    assert_eq!(count(&html, "<td class=\"status-ok\">ok</td>"), 1);
    // No worker ran in the failed run: no tokens, no cost (not a cost of $0).
    assert!(
        html.contains("<td class=\"n\">0</td><td class=\"n\">0</td><td class=\"n\">-</td>"),
        "{html}"
    );
    assert!(html.contains(&format!(
        "<a href=\"/run/{}?token={}\">",
        ids[1], server.token
    )));
    // The script's run: 2 calls, the worker's tokens (its tokens in and out).
    assert!(
        html.contains("<td class=\"n\">2</td><td class=\"n\">7</td><td class=\"n\">-</td>"),
        "{html}"
    );
    // A window: runs since a moment in the future are none; a bad one is a 400.
    let (status, html) = server.page("/runs?since=2999-01-01").await;
    assert_eq!(status, 200);
    assert_eq!(count(&html, "<tr class=\"run\">"), 0);
    assert!(html.contains("<p>No runs"), "{html}");
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
    assert!(
        html.contains("<span class=\"status-ok\">ok</span> · started "),
        "how the run ended: {html}"
    );
    assert!(html.contains("main.rhai</code>"), "{html}");
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
    assert!(!html.contains("<script"), "{html}");
    assert!(html.contains(
        "<pre class=\"output\">test reply: &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;</pre>"
    ));
    assert!(html.contains("<pre class=\"output\">3</pre>"));
    // A run id that does not exist, and a page that does not.
    let (status, html) = server.page("/run/nosuchrun").await;
    assert_eq!(status, 404);
    assert_eq!(title(&html), "Not Found · llm-do view");
    assert_eq!(server.page("/nothing").await.0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_names_page_shows_candidates_and_stabilize_switches() {
    let t = project("Ada")
        .config("[stabilize]\ntriage = \"shadow\"\n")
        .fake_triage_worker()
        .script(
            "triage",
            "/// message: string\nfn triage(message) { if message == \"???\" { return defer(); } if message.contains(\"crash\") { #{category: \"bug\"} } else { #{category: \"feature\"} } }\n",
        )
        .file(
            "sort.rhai",
            "for m in [\"it crashes\", \"an idea\", \"slow page\", \"???\"] { call(\"triage\", #{message: m}); }",
        );
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
    assert!(html.contains("<td><b>greeter</b> <span class=\"badge\""));
    assert!(
        html.contains("<td class=\"n\">≤1 over 1 input</td>"),
        "{html}"
    );
    // The switch: its mode, live agreement of the shadow comparisons, and deferrals.
    assert!(
        html.contains(
            "<td><span class=\"mode\">shadow</span> · agreed 2/3 (66.7%) · deferred 1/4</td>"
        ),
        "{html}"
    );
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
    let mut child = t
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
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
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
