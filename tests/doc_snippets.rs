//! Every ```rhai block in `README.md`, `docs/*.md` and `examples/*/README.md` is a complete
//! program, and runs: each is written to a temp project holding the bundled example's workers
//! and `scripts/files.rhai` plus `tests/fixtures/docs/`, and run with `--model test`.
//!
//! Convention: a fence written ```` ```rhai ```` must run (exit 0). Fragments, and snippets
//! that need something the fixture lacks (a terminal, a network, names they redefine), are
//! fenced ```` ```rhai,ignore ````.

use std::path::{Path, PathBuf};

use crate::util::{Test, repo};

/// One runnable block: where it is and its text.
struct Snippet {
    file: String,
    line: usize,
    code: String,
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
        for (line, code) in runnable_rhai_blocks(&text) {
            out.push(Snippet {
                file: file.clone(),
                line,
                code,
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
fn every_runnable_rhai_block_in_the_docs_runs() {
    let all = snippets();
    assert!(all.len() > 10, "found only {} snippets", all.len());
    let mut failures = Vec::new();
    for s in &all {
        let t = fixture().file("snippet.rhai", &s.code);
        // `Ada` is an argument for snippets that read `args`; the others ignore it.
        let run = t.run_with(&["--model", "test", "snippet.rhai", "Ada"]);
        if run.status != 0 {
            failures.push(format!(
                "{}:{} exited {}\n{}\n--- stderr\n{}",
                s.file, s.line, run.status, s.code, run.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing snippets:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
