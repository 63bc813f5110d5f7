//! Every ```rhai block in `README.md`, `docs/*.md` and `examples/*/README.md` is a complete
//! program, and runs: each is written to a temp project holding the bundled example's workers
//! and `scripts/files.rhai` plus `tests/fixtures/docs/`, and run with `--model test`.
//!
//! Convention: a fence written ```` ```rhai ```` must run (exit 0). Fragments, and snippets
//! that need something the fixture lacks (a terminal, a network, names they redefine), are
//! fenced ```` ```rhai,ignore ````.
//!
//! What the docs say a block does is checked too (for `docs/*.md`):
//! - a ```` ```console ```` block after it whose command runs a `.rhai` file
//!   (`$ llm-do [FLAGS] scripts/x.rhai [ARGS]`) states its output: the block is run with those
//!   flags and arguments, and its stderr then stdout must be that text (a line `...` stands
//!   for any lines);
//! - a comment stating a duration (`sleep(10); // 10 ms`) is a timing claim: the run may take
//!   at most that long plus well under a second beyond a trivial script's run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::util::{Test, repo};

/// One runnable block: where it is and its text.
struct Snippet {
    file: String,
    line: usize,
    code: String,
    /// The output the docs state for it, if they do.
    stated: Option<Stated>,
}

/// A stated run of a block: `$ llm-do FLAGS PATH.rhai ARGS` and what it prints.
#[derive(Debug, Clone, PartialEq)]
struct Stated {
    flags: Vec<String>,
    args: Vec<String>,
    output: String,
}

/// The runnable ```rhai blocks of a markdown text (pure).
fn runnable_rhai_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(usize, bool, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                // CommonMark: an info string never holds a backtick, so inline code such as
                // ``` `x` ``` at the start of a line opens no fence.
                if let Some(info) = trimmed.strip_prefix("```")
                    && !info.contains('`')
                {
                    let info = info.trim();
                    if !info.is_empty() {
                        let lang = info.split(',').next().unwrap_or_default().trim();
                        let ignored = info.split(',').skip(1).any(|f| f.trim() == "ignore");
                        open = Some((i + 1, lang == "rhai" && !ignored, String::new()));
                    } else {
                        open = Some((i + 1, false, String::new()));
                    }
                }
            }
            Some((start, run, code)) => {
                if trimmed.len() >= 3 && trimmed.chars().all(|c| c == '`') {
                    if *run {
                        out.push((*start, std::mem::take(code)));
                    }
                    open = None;
                } else {
                    code.push_str(line);
                    code.push('\n');
                }
            }
        }
    }
    out
}

/// The stated runs of a markdown text, by the start line of the ```rhai block they follow:
/// the next fence after a runnable block, when it is a console block whose first command runs
/// a `.rhai` file (pure).
fn stated_results(markdown: &str) -> Vec<(usize, Stated)> {
    let lines: Vec<&str> = markdown.lines().collect();
    let starts: Vec<usize> = runnable_rhai_blocks(markdown)
        .into_iter()
        .map(|(l, _)| l)
        .collect();
    let mut out = Vec::new();
    for start in starts {
        // `start` is the 1-based line of the opening fence; find its closing fence.
        let Some(close) = (start..lines.len()).find(|&i| is_fence(lines[i])) else {
            continue;
        };
        let Some(next) = (close + 1..lines.len()).find(|&i| is_fence(lines[i])) else {
            continue;
        };
        if lines[next].trim() != "```console" {
            continue;
        }
        let body: Vec<&str> = lines[next + 1..]
            .iter()
            .take_while(|l| !is_fence(l))
            .copied()
            .collect();
        if let Some(stated) = body.split_first().and_then(|(cmd, rest)| stated(cmd, rest)) {
            out.push((start, stated));
        }
    }
    out
}

fn is_fence(line: &str) -> bool {
    line.trim_start().starts_with("```")
}

/// `$ llm-do [FLAGS] X.rhai [ARGS]` and the lines it prints (up to a next `$` command).
fn stated(command: &str, rest: &[&str]) -> Option<Stated> {
    let words: Vec<&str> = command
        .strip_prefix("$ llm-do ")?
        .split_whitespace()
        .collect();
    let script = words.iter().position(|w| w.ends_with(".rhai"))?;
    let output: Vec<&str> = rest
        .iter()
        .take_while(|l| !l.starts_with("$ "))
        .copied()
        .collect();
    Some(Stated {
        flags: words[..script].iter().map(ToString::to_string).collect(),
        args: words[script + 1..]
            .iter()
            .map(ToString::to_string)
            .collect(),
        output: output.iter().map(|l| format!("{l}\n")).collect(),
    })
}

/// Whether `actual` is the `expected` text, where a line `...` in `expected` stands for any
/// number of lines.
fn matches_stated(expected: &str, actual: &str) -> bool {
    let want: Vec<&str> = expected.lines().collect();
    let got: Vec<&str> = actual.lines().collect();
    match want.iter().position(|l| l.trim() == "...") {
        None => want == got,
        Some(i) => {
            let (head, tail) = (&want[..i], &want[i + 1..]);
            got.len() >= head.len() + tail.len()
                && got.starts_with(head)
                && matches_stated(&tail.join("\n"), &got[got.len() - tail.len()..].join("\n"))
        }
    }
}

/// Milliseconds the comments of `code` say it takes (`// 10 ms`, `// waits 20 ms, then 40 ms`).
fn claimed_ms(code: &str) -> Option<u64> {
    let mut total = None;
    for line in code.lines() {
        let Some((_, comment)) = line.split_once("//") else {
            continue;
        };
        let words: Vec<&str> = comment.split_whitespace().collect();
        for pair in words.windows(2) {
            if pair[1].trim_end_matches([',', '.', ';']) == "ms"
                && let Ok(n) = pair[0].parse::<u64>()
            {
                total = Some(total.unwrap_or(0) + n);
            }
        }
    }
    total
}

fn markdown_files() -> Vec<PathBuf> {
    let root = repo();
    let mut files = vec![root.join("README.md")];
    for dir in ["docs", "examples"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "md") {
                files.push(p);
            } else if p.join("README.md").is_file() {
                files.push(p.join("README.md"));
            }
        }
    }
    files.sort();
    files
}

fn snippets() -> Vec<Snippet> {
    let root = repo();
    let mut out = Vec::new();
    for path in markdown_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.strip_prefix(&root).unwrap().display().to_string();
        // Stated results are checked in `docs/`; the READMEs show shortened scripts.
        let stated = if file.starts_with("docs/") {
            stated_results(&text)
        } else {
            Vec::new()
        };
        for (line, code) in runnable_rhai_blocks(&text) {
            let stated = stated
                .iter()
                .find(|(l, _)| *l == line)
                .map(|(_, s)| s.clone());
            out.push(Snippet {
                file: file.clone(),
                line,
                code,
                stated,
            });
        }
    }
    out
}

/// A temp project: the bundled workers, `scripts/files.rhai`, and `tests/fixtures/docs/`.
fn fixture() -> Test {
    let root = repo();
    let mut t = Test::new();
    for e in std::fs::read_dir(root.join("workers")).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        t = t.file(
            &format!("workers/{name}"),
            &std::fs::read_to_string(e.path()).unwrap(),
        );
    }
    t = t.file(
        "scripts/files.rhai",
        &std::fs::read_to_string(root.join("scripts/files.rhai")).unwrap(),
    );
    copy_tree(t, &root.join("tests/fixtures/docs"), Path::new(""))
}

fn copy_tree(mut t: Test, dir: &Path, rel: &Path) -> Test {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let r = rel.join(e.file_name());
        if p.is_dir() {
            t = copy_tree(t, &p, &r);
        } else {
            t = t.file(
                &r.display().to_string(),
                &std::fs::read_to_string(&p).unwrap(),
            );
        }
    }
    t
}

#[test]
fn fences_are_classified() {
    let md = "a\n```rhai\n1 + 1\n```\n```rhai,ignore\nx\n```\n```console\n$ y\n```\n```\nplain\n```\n  ``` `inline` ```\n```rhai\n2\n```\n";
    assert_eq!(
        runnable_rhai_blocks(md),
        [(2, "1 + 1\n".to_string()), (15, "2\n".to_string())]
    );
}

#[test]
fn stated_results_follow_their_block() {
    let md = "```rhai\nsleep(10); // 10 ms\n\"a\"\n```\n\nprints:\n\n```console\n$ llm-do --model test scripts/x.rhai Ada\na\n```\n```rhai\n1\n```\n```console\n$ llm-do run w\nx\n```\n";
    assert_eq!(
        stated_results(md),
        [(
            1,
            Stated {
                flags: vec!["--model".into(), "test".into()],
                args: vec!["Ada".into()],
                output: "a\n".into(),
            }
        )]
    );
    assert_eq!(
        claimed_ms("sleep(10); // 10 ms\nf() // waits 20 ms, then 40 ms."),
        Some(70)
    );
    assert_eq!(claimed_ms("let x = 10; // ms of nothing"), None);
    assert!(matches_stated("[\n...\n]\n", "[\n  1,\n  2\n]\n"));
    assert!(!matches_stated("[\n  1\n]\n", "[\n  2\n]\n"));
}

/// How long a trivial script takes in the fixture (start-up, project load), to subtract
/// from timed snippets: the machine may be slow or busy, the claim is about the script.
fn baseline() -> Duration {
    let t = fixture().file("snippet.rhai", "1\n");
    (0..2)
        .map(|_| {
            let started = Instant::now();
            t.run_with(&["--model", "test", "snippet.rhai"]).status(0);
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// What a run beyond the claimed time may take: well under a second (a `sleep(10)` taken
/// as seconds would be ten).
const TIMING_SLACK: Duration = Duration::from_millis(800);

#[test]
fn every_runnable_rhai_block_in_the_docs_runs() {
    let all = snippets();
    assert!(all.len() > 10, "found only {} snippets", all.len());
    let mut failures = Vec::new();
    let base = baseline();
    for s in &all {
        let t = fixture().file("snippet.rhai", &s.code);
        let command: Vec<String> = match &s.stated {
            Some(stated) => stated
                .flags
                .iter()
                .cloned()
                .chain(["snippet.rhai".to_string()])
                .chain(stated.args.iter().cloned())
                .collect(),
            // `Ada` is an argument for snippets that read `args`; the others ignore it.
            None => ["--model", "test", "snippet.rhai", "Ada"]
                .map(String::from)
                .to_vec(),
        };
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        let started = Instant::now();
        let run = t.run_with(&command);
        let took = started.elapsed();
        let at = format!("{}:{}", s.file, s.line);
        if run.status != 0 {
            failures.push(format!(
                "{at} exited {}\n{}\n--- stderr\n{}",
                run.status, s.code, run.stderr
            ));
            continue;
        }
        if let Some(stated) = &s.stated {
            let actual = format!("{}{}", run.stderr, run.stdout);
            if !matches_stated(&stated.output, &actual) {
                failures.push(format!(
                    "{at}: the docs state\n{}--- but it printed\n{actual}",
                    stated.output
                ));
            }
        }
        if let Some(ms) = claimed_ms(&s.code) {
            let limit = Duration::from_millis(ms) + TIMING_SLACK;
            let beyond = took.saturating_sub(base);
            if beyond > limit {
                failures.push(format!(
                    "{at}: the comments claim {ms} ms, but the run took {beyond:?} beyond a trivial script\n{}",
                    s.code
                ));
            }
        }
    }
    let stated = all.iter().filter(|s| s.stated.is_some()).count();
    assert!(stated >= 8, "only {stated} snippets state their output");
    let timed = all.iter().filter(|s| claimed_ms(&s.code).is_some()).count();
    assert!(timed >= 2, "only {timed} snippets claim a duration");
    assert!(
        failures.is_empty(),
        "{} failing snippets:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
