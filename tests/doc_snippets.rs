//! The docs are tests: every ```` ```rhai ```` and ```` ```console ```` block in `README.md`,
//! `docs/*.md` and `examples/*/README.md` runs against the freshly built binary.
//!
//! **Re-bless** after a deliberate output change, with one command:
//!
//! ```text
//! LLM_DO_BLESS=1 cargo test --test integration doc_snippets
//! ```
//!
//! It rewrites, in the markdown, the stated output (and `? CODE`) of every console command whose
//! output no longer matches with what the binary printed, keeping the elisions (`[..]`, `...`)
//! that still match. Review the result with `git diff`.
//!
//! Each page runs in a project of its own: a copy of the bundled example project (the repository
//! root's `workers/`, `scripts/`, `cassettes/`, `tests/*.jsonl`) for `README.md` and
//! `docs/*.md`, or a copy of the example's folder for `examples/NAME/README.md`, plus the files
//! of `tests/fixtures/docs/PAGE/` when that folder exists (`PAGE` is the page's file stem, or
//! `examples-NAME`). Blocks run in page order, so a walk builds on its earlier steps.
//!
//! Fences:
//! - ```` ```rhai ```` is a complete program and must run (exit 0) with `--model test`, each in
//!   a fresh copy of the page's project. Fragments are fenced ```` ```rhai,ignore ````. A comment
//!   stating a duration (`sleep(10); // 10 ms`) is a timing claim: the run may take at most that
//!   long plus well under a second beyond a trivial script's run.
//! - ```` ```console ```` holds commands (`$ CMD`) and what they print, stdout and stderr
//!   together as a terminal shows them. `? CODE` right after a command states a non-zero exit
//!   status (none means 0). In the output, a line `...` stands for any number of lines and
//!   `[..]` for any text within a line; `[ROOT]` is the project's folder and `[HOME]` the home
//!   folder; a duration (`1.2 ms`, `0.4 s`) matches any duration, so the docs can show real
//!   ones. Commands run in `sh` (so `cd`, `|`, `>` and `&&` work), with `llm-do` on `PATH`
//!   resolving to the binary under test, a clean environment (no API keys, `NO_COLOR=1`) and
//!   no stdin. Each block starts in the project's root, or in `cwd=DIR` of it when the info
//!   string says so (```` ```console cwd=hello ````); a `cd` carries over to the block's next
//!   command.
//!   When a console block's first command runs a `.rhai` file that does not exist and the fence
//!   right before it is a runnable ```` ```rhai ```` block, that block is written there first.
//! - ```` ```console,ignore ```` blocks cannot run offline (a real API key, an interactive
//!   terminal, a build): they are counted as skipped, and the prose nearby says why.
//! - Any fence with `file=PATH` in its info string (```` ```yaml file=workers/haiku.worker ````)
//!   is the text of PATH: it is written there, relative to the project's root, when the
//!   walk reaches it (`ignore` or not; a ```` ```rhai file=... ```` block runs only through the
//!   commands that use it).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{CLEARED, Test, repo};

/// A fenced block of a markdown page.
#[derive(Debug, Clone, PartialEq)]
struct Fence {
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string's first word (`rhai`, `console`, ...), empty for a bare fence.
    lang: String,
    /// `ignore` is among the info string's words.
    ignore: bool,
    /// `file=PATH`: the block is the text of PATH in the page's project.
    file: Option<String>,
    /// `cwd=DIR`: a console block runs in DIR of the page's project instead of its root.
    cwd: Option<String>,
    body: Vec<String>,
}

impl Fence {
    /// A complete program the rhai runner runs: a ```` ```rhai ```` block that is neither
    /// ignored nor a file of a walk (those run through the console blocks that use them).
    fn runnable_rhai(&self) -> bool {
        self.lang == "rhai" && !self.ignore && self.file.is_none()
    }
}

/// The fenced blocks of a markdown text, in order (pure).
fn fences(markdown: &str) -> Vec<Fence> {
    let mut out = Vec::new();
    let mut open: Option<Fence> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                // CommonMark: an info string never holds a backtick, so inline code such as
                // ``` `x` ``` at the start of a line opens no fence.
                if let Some(info) = trimmed.strip_prefix("```")
                    && !info.contains('`')
                {
                    let words: Vec<&str> = info
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .filter(|w| !w.is_empty())
                        .collect();
                    open = Some(Fence {
                        line: i + 1,
                        lang: words.first().unwrap_or(&"").to_string(),
                        ignore: words.iter().skip(1).any(|w| *w == "ignore"),
                        file: words
                            .iter()
                            .find_map(|w| w.strip_prefix("file="))
                            .map(String::from),
                        cwd: words
                            .iter()
                            .find_map(|w| w.strip_prefix("cwd="))
                            .map(String::from),
                        body: Vec::new(),
                    });
                }
            }
            Some(fence) => {
                if trimmed.len() >= 3 && trimmed.chars().all(|c| c == '`') {
                    out.extend(open.take());
                } else {
                    fence.body.push(line.to_string());
                }
            }
        }
    }
    out
}

/// One `$ CMD` of a console block and what the docs say it does.
#[derive(Debug, Clone, PartialEq)]
struct Command {
    /// The shell command line (after `$ `).
    cmd: String,
    /// The stated exit status (`? CODE`, else 0).
    status: i32,
    /// The stated output lines.
    expected: Vec<String>,
    /// 0-based file lines `[start, end)` holding the status and output (what blessing rewrites).
    span: (usize, usize),
}

/// The commands of a console fence (pure). Lines before the first `$` are an error.
fn commands(fence: &Fence) -> Result<Vec<Command>, String> {
    let mut out: Vec<Command> = Vec::new();
    // Body line k is file line (0-based) `fence.line + k`.
    for (k, line) in fence.body.iter().enumerate() {
        let at = fence.line + k;
        if let Some(cmd) = line.strip_prefix("$ ") {
            out.push(Command {
                cmd: cmd.to_string(),
                status: 0,
                expected: Vec::new(),
                span: (at + 1, at + 1),
            });
            continue;
        }
        let Some(c) = out.last_mut() else {
            if line.trim().is_empty() {
                continue;
            }
            return Err(format!("line {}: output before any `$ ` command", at + 1));
        };
        let code = line.strip_prefix("? ").and_then(|s| s.trim().parse().ok());
        match code {
            Some(code) if c.expected.is_empty() && c.status == 0 && c.span.0 == at => {
                c.status = code;
            }
            _ => c.expected.push(line.trim_end().to_string()),
        }
        c.span.1 = at + 1;
    }
    Ok(out)
}

/// `line` with every duration (`1.2 ms`, `0.4 s`) replaced by one placeholder (pure).
fn mask_durations(line: &str) -> std::borrow::Cow<'_, str> {
    static DURATION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?:\b\d+(?:\.\d+)?|\[\.\.\]) ?(?:ms|s)\b").unwrap()
    });
    DURATION.replace_all(line, "<duration>")
}

/// Whether `line` matches `pattern`, where `[..]` in the pattern stands for any text and a
/// duration for any duration (pure).
fn line_matches(pattern: &str, line: &str) -> bool {
    let (pattern, line) = (mask_durations(pattern), mask_durations(line));
    let (pattern, line) = (pattern.as_ref(), line.as_ref());
    let parts: Vec<&str> = pattern.split("[..]").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !line.starts_with(first) || line.len() < first.len() + last.len() || !line.ends_with(last) {
        return false;
    }
    let mut rest = &line[first.len()..line.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Whether `lines` match `patterns`, where a pattern line `...` stands for any number of lines
/// (pure).
fn lines_match(patterns: &[String], lines: &[String]) -> bool {
    match patterns.split_first() {
        None => lines.is_empty(),
        Some((p, rest)) if p.trim() == "..." => {
            (0..=lines.len()).any(|skip| lines_match(rest, &lines[skip..]))
        }
        Some((p, rest)) => {
            lines.first().is_some_and(|l| line_matches(p, l)) && lines_match(rest, &lines[1..])
        }
    }
}

/// The blessed text for `actual`: its lines, except that where a stated pattern line still
/// matches (in order) the pattern is kept, and a stated `...` keeps standing for the lines
/// between its matched neighbours (pure).
fn bless(expected: &[String], actual: &[String]) -> Vec<String> {
    let (n, m) = (expected.len(), actual.len());
    let same =
        |i: usize, j: usize| expected[i].trim() != "..." && line_matches(&expected[i], &actual[j]);
    // Longest common subsequence, pattern against line.
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if same(i, j) {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    let mut gap_expected = false;
    let mut gap_actual: Vec<String> = Vec::new();
    let flush = |out: &mut Vec<String>, gap_expected: &mut bool, gap_actual: &mut Vec<String>| {
        if *gap_expected {
            out.push("...".to_string());
        } else {
            out.append(gap_actual);
        }
        gap_actual.clear();
        *gap_expected = false;
    };
    while i < n || j < m {
        if i < n && j < m && same(i, j) && lcs[i][j] == lcs[i + 1][j + 1] + 1 {
            flush(&mut out, &mut gap_expected, &mut gap_actual);
            out.push(expected[i].clone());
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            gap_expected |= expected[i].trim() == "...";
            i += 1;
        } else {
            gap_actual.push(actual[j].clone());
            j += 1;
        }
    }
    flush(&mut out, &mut gap_expected, &mut gap_actual);
    out
}

/// A markdown page with blocks to run.
struct Page {
    /// Path relative to the repository root.
    rel: String,
    /// The folder its project copies.
    base: PathBuf,
    /// `tests/fixtures/docs/KEY/` overlays the project.
    key: String,
}

fn pages() -> Vec<Page> {
    let root = repo();
    let mut out = vec![Page {
        rel: "README.md".into(),
        base: root.clone(),
        key: "README".into(),
    }];
    for e in std::fs::read_dir(root.join("docs")).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "md") {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            out.push(Page {
                rel: format!("docs/{stem}.md"),
                base: root.clone(),
                key: stem,
            });
        }
    }
    for e in std::fs::read_dir(root.join("examples")).unwrap().flatten() {
        let p = e.path();
        if p.join("README.md").is_file() {
            let name = e.file_name().to_string_lossy().into_owned();
            out.push(Page {
                rel: format!("examples/{name}/README.md"),
                base: p.clone(),
                key: format!("examples-{name}"),
            });
        } else if p.extension().is_some_and(|x| x == "md") {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            out.push(Page {
                rel: format!("examples/{stem}.md"),
                base: root.clone(),
                key: format!("examples-{stem}"),
            });
        }
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

/// Copies the project files of `page` into `dest`: the base's project (for the repository root,
/// only `workers/`, `scripts/`, `cassettes/`, `llm-do.toml` and the cases `tests/*.jsonl`), then
/// the page's overlay.
fn make_project(page: &Page, dest: &Path) {
    let root = repo();
    if page.base == root {
        for dir in ["workers", "scripts", "cassettes"] {
            if root.join(dir).is_dir() {
                copy_dir(&root.join(dir), &dest.join(dir));
            }
        }
        if root.join("llm-do.toml").is_file() {
            std::fs::copy(root.join("llm-do.toml"), dest.join("llm-do.toml")).unwrap();
        }
        std::fs::create_dir_all(dest.join("tests")).unwrap();
        for e in std::fs::read_dir(root.join("tests")).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "jsonl") {
                std::fs::copy(e.path(), dest.join("tests").join(e.file_name())).unwrap();
            }
        }
    } else {
        copy_dir(&page.base, dest);
    }
    let overlay = root.join("tests/fixtures/docs").join(&page.key);
    if overlay.is_dir() {
        copy_dir(&overlay, dest);
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name();
        // A previous run's state and outputs (left by trying an example by hand) are not part
        // of the example: the page starts from what a fresh clone holds.
        if name == ".llm-do" || name == "traces" || name == "output" {
            continue;
        }
        if p.is_dir() {
            copy_dir(&p, &to.join(name));
        } else {
            std::fs::copy(&p, to.join(name)).unwrap();
        }
    }
}

/// What checking one page found.
#[derive(Default)]
struct Checked {
    /// Console fences on the page, run or not.
    fences: usize,
    blocks: usize,
    commands: usize,
    skipped: usize,
    failures: Vec<String>,
    /// Blessed replacements: 0-based line span and its new lines.
    edits: Vec<((usize, usize), Vec<String>)>,
}

/// How long one command may run before it is killed (a guard against a hang, not a check).
const HANG_GUARD: Duration = Duration::from_secs(120);

/// Runs `cmd` in `sh` in `cwd`; returns its status, its output (stdout and stderr together) and
/// the folder it ended in.
fn run_shell(
    cmd: &str,
    cwd: &Path,
    home: &Path,
    bin: &Path,
    scratch: &Path,
) -> (i32, String, PathBuf) {
    let out_file = scratch.join("output");
    let cwd_file = scratch.join("cwd");
    let script = format!(
        "exec 2>&1\n{cmd}\n__llm_do_status=$?\npwd > '{}'\nexit $__llm_do_status\n",
        cwd_file.display()
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(Stdio::null())
        .env("PATH", path)
        .env("HOME", home)
        .env("NO_COLOR", "1");
    // Besides the keys and settings of `CLEARED`: the blessing switch, and a terminal width
    // that error reports would wrap to.
    for k in CLEARED.iter().chain(&["LLM_DO_BLESS", "COLUMNS", "LINES"]) {
        command.env_remove(k);
    }
    let _ = std::fs::remove_file(&cwd_file);
    let mut child = command.spawn().expect("spawn sh");
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code().unwrap_or(-1);
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            break -1;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut output = String::new();
    let mut bytes = Vec::new();
    std::fs::File::open(&out_file)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    output.push_str(&String::from_utf8_lossy(&bytes));
    let end = std::fs::read_to_string(&cwd_file)
        .map(|s| PathBuf::from(s.trim_end()))
        .unwrap_or_else(|_| cwd.to_path_buf());
    (status, output, end)
}

/// The output as compared: paths redacted, trailing spaces and trailing blank lines dropped.
fn normalize(output: &str, root: &Path, home: &Path) -> Vec<String> {
    let text = output
        .replace(&root.display().to_string(), "[ROOT]")
        .replace(&home.display().to_string(), "[HOME]");
    let mut lines: Vec<String> = text.lines().map(|l| l.trim_end().to_string()).collect();
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines
}

fn check_page(page: &Page) -> Checked {
    let mut checked = Checked::default();
    let text = std::fs::read_to_string(repo().join(&page.rel)).unwrap();
    let fenced = fences(&text);
    checked.fences = fenced.iter().filter(|f| f.lang == "console").count();
    if !fenced.iter().any(|f| f.lang == "console" && !f.ignore) {
        checked.skipped = fenced.iter().filter(|f| f.lang == "console").count();
        return checked;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Canonical, so that `pwd` and the redaction agree where the temp dir is a symlink.
    let tmp_path = tmp.path().canonicalize().unwrap();
    let (root, home, bin, scratch) = (
        tmp_path.join("project"),
        tmp_path.join("home"),
        tmp_path.join("bin"),
        tmp_path.join("scratch"),
    );
    for d in [&root, &home, &bin, &scratch] {
        std::fs::create_dir_all(d).unwrap();
    }
    make_project(page, &root);
    link_binary(&bin);
    let mut previous: Option<&Fence> = None;
    for fence in &fenced {
        let last = previous.replace(fence);
        if let Some(file) = &fence.file {
            let p = root.join(file);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(
                &p,
                fence
                    .body
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect::<String>(),
            )
            .unwrap();
        }
        if fence.lang != "console" {
            continue;
        }
        if fence.ignore {
            checked.skipped += 1;
            continue;
        }
        let at = |line: usize| format!("{}:{}", page.rel, line);
        let cmds = match commands(fence) {
            Ok(c) => c,
            Err(e) => {
                checked.failures.push(format!("{}: {e}", at(fence.line)));
                continue;
            }
        };
        checked.blocks += 1;
        let mut cwd = root.join(fence.cwd.as_deref().unwrap_or(""));
        // The runnable rhai block right before is the script the first command runs.
        if let (Some(rhai), Some(first)) = (last.filter(|f| f.runnable_rhai()), cmds.first())
            && let Some(script) = first.cmd.split_whitespace().find(|w| w.ends_with(".rhai"))
            && !cwd.join(script).exists()
        {
            let p = cwd.join(script);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(
                &p,
                rhai.body
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect::<String>(),
            )
            .unwrap();
        }
        for c in cmds {
            checked.commands += 1;
            let (status, output, end) = run_shell(&c.cmd, &cwd, &home, &bin, &scratch);
            cwd = end;
            let actual = normalize(&output, &root, &home);
            if status == c.status && lines_match(&c.expected, &actual) {
                continue;
            }
            let mut blessed = Vec::new();
            if status != 0 {
                blessed.push(format!("? {status}"));
            }
            blessed.extend(bless(&c.expected, &actual));
            checked.failures.push(format!(
                "{}: `$ {}`\n--- the docs state (exit {})\n{}\n--- but it exited {status} and printed\n{}",
                at(c.span.0),
                c.cmd,
                c.status,
                c.expected.join("\n"),
                actual.join("\n"),
            ));
            checked.edits.push((c.span, blessed));
        }
    }
    checked
}

/// Puts `llm-do` (the binary under test) in `bin`.
fn link_binary(bin: &Path) {
    let exe = Path::new(env!("CARGO_BIN_EXE_llm-do"));
    #[cfg(unix)]
    std::os::unix::fs::symlink(exe, bin.join("llm-do")).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(exe, bin.join("llm-do.exe")).unwrap();
}

/// Rewrites the spans of `rel` with their blessed lines.
fn apply_edits(rel: &str, mut edits: Vec<((usize, usize), Vec<String>)>) {
    let path = repo().join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.0.0));
    for ((start, end), new) in edits {
        lines.splice(start..end, new);
    }
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

#[test]
fn every_console_block_in_the_docs_runs_as_shown() {
    let bless = std::env::var_os("LLM_DO_BLESS").is_some();
    let mut totals = Checked::default();
    let all = pages();
    for page in &all {
        let checked = check_page(page);
        totals.fences += checked.fences;
        totals.blocks += checked.blocks;
        totals.commands += checked.commands;
        totals.skipped += checked.skipped;
        if bless && !checked.edits.is_empty() {
            apply_edits(&page.rel, checked.edits);
        }
        totals.failures.extend(checked.failures);
    }
    println!(
        "docs: {} console blocks: checked {} ({} commands) in {} pages; skipped {} marked `ignore`",
        totals.fences,
        totals.blocks,
        totals.commands,
        all.len(),
        totals.skipped
    );
    assert_eq!(
        totals.blocks + totals.skipped,
        totals.fences,
        "every console block is either checked or marked `ignore`"
    );
    assert!(
        totals.blocks >= 40,
        "only {} console blocks ran",
        totals.blocks
    );
    if bless {
        println!(
            "docs: re-blessed {} console commands; review with `git diff`",
            totals.failures.len()
        );
        return;
    }
    assert!(
        totals.failures.is_empty(),
        "{} console commands differ from their docs (re-bless: LLM_DO_BLESS=1 cargo test --test integration doc_snippets):\n\n{}",
        totals.failures.len(),
        totals.failures.join("\n\n")
    );
}

/// A fresh project for one rhai block of `page`.
fn rhai_fixture(page: &Page) -> Test {
    let t = Test::new();
    make_project(page, t.path());
    t
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

/// How long a trivial script takes (start-up, project load), to subtract from timed snippets:
/// the machine may be slow or busy, the claim is about the script.
fn baseline(page: &Page) -> Duration {
    let t = rhai_fixture(page).file("snippet.rhai", "1\n");
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
    let mut failures = Vec::new();
    let (mut count, mut timed) = (0, 0);
    for page in pages() {
        let text = std::fs::read_to_string(repo().join(&page.rel)).unwrap();
        let blocks: Vec<Fence> = fences(&text)
            .into_iter()
            .filter(Fence::runnable_rhai)
            .collect();
        let mut base = None;
        for block in blocks {
            count += 1;
            let code: String = block.body.iter().map(|l| format!("{l}\n")).collect();
            let t = rhai_fixture(&page).file("snippet.rhai", &code);
            let started = Instant::now();
            // `Ada` is an argument for snippets that read `args`; the others ignore it.
            let run = t.run_with(&["--model", "test", "snippet.rhai", "Ada"]);
            let took = started.elapsed();
            let at = format!("{}:{}", page.rel, block.line);
            if run.status != 0 {
                failures.push(format!(
                    "{at} exited {}\n{code}\n--- stderr\n{}",
                    run.status, run.stderr
                ));
                continue;
            }
            if let Some(ms) = claimed_ms(&code) {
                timed += 1;
                let base = *base.get_or_insert_with(|| baseline(&page));
                let limit = Duration::from_millis(ms) + TIMING_SLACK;
                let beyond = took.saturating_sub(base);
                if beyond > limit {
                    failures.push(format!(
                        "{at}: the comments claim {ms} ms, but the run took {beyond:?} beyond a trivial script\n{code}"
                    ));
                }
            }
        }
    }
    assert!(count > 10, "found only {count} snippets");
    assert!(timed >= 2, "only {timed} snippets claim a duration");
    assert!(
        failures.is_empty(),
        "{} failing snippets:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn fences_are_classified() {
    let md = "a\n```rhai\n1 + 1\n```\n```rhai,ignore\nx\n```\n```console\n$ y\n```\n```\nplain\n```\n  ``` `inline` ```\n```yaml,file=workers/w.worker\n---\n```\n";
    let f = fences(md);
    let summary: Vec<(usize, &str, bool, Option<&str>)> = f
        .iter()
        .map(|f| (f.line, f.lang.as_str(), f.ignore, f.file.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (2, "rhai", false, None),
            (5, "rhai", true, None),
            (8, "console", false, None),
            (11, "", false, None),
            (15, "yaml", false, Some("workers/w.worker")),
        ]
    );
    assert_eq!(f[0].body, ["1 + 1"]);
}

#[test]
fn console_blocks_split_into_commands() {
    let md = "```console\n$ a\none\n$ b --x\n? 2\nerror: no\n$ c\n```\n";
    let f = &fences(md)[0];
    let cmds = commands(f).unwrap();
    assert_eq!(
        cmds,
        [
            Command {
                cmd: "a".into(),
                status: 0,
                expected: vec!["one".into()],
                span: (2, 3)
            },
            Command {
                cmd: "b --x".into(),
                status: 2,
                expected: vec!["error: no".into()],
                span: (4, 6)
            },
            Command {
                cmd: "c".into(),
                status: 0,
                expected: vec![],
                span: (7, 7)
            },
        ]
    );
    assert!(commands(&fences("```console\nstray\n$ a\n```\n")[0]).is_err());
}

#[test]
fn elisions_match_what_varies_only() {
    let v = |s: &str| s.lines().map(String::from).collect::<Vec<_>>();
    assert!(line_matches("took [..] ms", "took 1.2 ms"));
    assert!(line_matches("✓ a 0.8 ms, 3 in", "✓ a 12 ms, 3 in"));
    assert!(line_matches("waited 1.5 s", "waited 2 s"));
    assert!(!line_matches("✓ a 0.8 ms, 3 in", "✓ a 0.8 ms, 4 in"));
    assert!(line_matches("[..]", ""));
    assert!(!line_matches("took [..] ms", "took long"));
    assert!(line_matches("a[..]b[..]c", "a1b2b3c"));
    assert!(lines_match(&v("[\n...\n]"), &v("[\n  1,\n  2\n]")));
    assert!(lines_match(&v("a\n...\n"), &v("a")));
    assert!(!lines_match(&v("[\n  1\n]"), &v("[\n  2\n]")));
    assert!(!lines_match(&v("a"), &v("a\nb")));
}

#[test]
fn blessing_keeps_elisions_that_still_match() {
    let v = |s: &str| s.lines().map(String::from).collect::<Vec<_>>();
    assert_eq!(
        bless(
            &v("head\ntook [..] ms\n...\nend"),
            &v("head\nnew\ntook 3 ms\nx\ny\nend")
        ),
        v("head\nnew\ntook [..] ms\n...\nend")
    );
    assert_eq!(bless(&v("old"), &v("new\nlines")), v("new\nlines"));
    assert_eq!(
        claimed_ms("sleep(10); // 10 ms\nf() // waits 20 ms, then 40 ms."),
        Some(70)
    );
    assert_eq!(claimed_ms("let x = 10; // ms of nothing"), None);
}
