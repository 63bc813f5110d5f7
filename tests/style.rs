//! How the tests assert, kept true by a test (issue 32): checks that state a whole output
//! outnumber checks that look for a piece of it.
//!
//! Counted over every `.rs` file under `tests/`, after comments and string literals are
//! blanked (so a Rhai `m.contains("idea")` inside a string is no check):
//!
//! - **contains** (a piece of the output): each `assert!`/`prop_assert!` whose arguments call
//!   `.contains(`, `.starts_with(` or `.ends_with(` (once per macro, whatever it is called
//!   on), and each `predicate::str::contains`/`starts_with`/`ends_with`/`is_match`.
//! - **whole** (the entire output): each `assert_eq!`/`prop_assert_eq!` one of whose two
//!   compared values is a whole stdout, stderr or JSON document (`out.stdout`, `&run.stderr`,
//!   `stdout.as_str()`, `out.json()`), each `.stdout(X)`/`.stderr(X)` expectation (the
//!   [`crate::util::Test`] builder, assert_cmd) whose `X` is no predicate, pipe or file, and
//!   each insta snapshot (`assert_snapshot!`, `assert_json_snapshot!`, ...).
//!
//! An `assert_eq!` on one field or one line is neither: it is exact, but not the whole output.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::layers::code_of;

/// Checks of each kind in some test code.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    /// Checks stating a whole output.
    whole: usize,
    /// Checks looking for a piece of an output.
    contains: usize,
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, o: Counts) -> Counts {
        Counts {
            whole: self.whole + o.whole,
            contains: self.contains + o.contains,
        }
    }
}

/// The text between the parenthesis (or bracket, brace) opening at `open` and its match.
fn group_at(code: &str, open: usize) -> &str {
    let mut depth = 0usize;
    for (i, c) in code[open..].char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return &code[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    &code[open + 1..]
}

/// `args` split at its top-level commas.
fn split_args(args: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in args.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(args[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(args[start..].trim());
    out
}

/// Whether `value` (one side of an `assert_eq!`) is a whole stdout, stderr or JSON output.
fn is_whole_output(value: &str) -> bool {
    let whole = Regex::new(r"^&?([\w.]*\.)?(stdout|stderr)(\.as_str\(\))?$").unwrap();
    whole.is_match(value) || value.ends_with(".json()")
}

/// The checks in `code` (source with comments and strings blanked by [`code_of`]).
fn count(code: &str) -> Counts {
    let mut c = Counts::default();
    let macros = Regex::new(r"\b(prop_)?assert(_eq)?!\s*\(").unwrap();
    let partial = Regex::new(r"\.(contains|starts_with|ends_with)\s*\(").unwrap();
    for m in macros.find_iter(code) {
        let args = group_at(code, m.end() - 1);
        if m.as_str().contains("_eq") {
            let args = split_args(args);
            if args.iter().take(2).any(|a| is_whole_output(a)) {
                c.whole += 1;
            }
        } else if partial.is_match(args) {
            c.contains += 1;
        }
    }
    let predicates =
        Regex::new(r"\bpredicates?::str::(contains|starts_with|ends_with|is_match)\s*\(").unwrap();
    c.contains += predicates.find_iter(code).count();
    let expectations = Regex::new(r"\.(stdout|stderr)\s*\(").unwrap();
    for m in expectations.find_iter(code) {
        let arg = group_at(code, m.end() - 1).trim();
        let io = ["predicate", "Stdio", "File", "pipe"];
        if !arg.is_empty() && !io.iter().any(|w| arg.contains(w)) {
            c.whole += 1;
        }
    }
    let snapshots = Regex::new(r"\binsta::assert_\w*snapshot!|\bassert_\w*snapshot!").unwrap();
    c.whole += snapshots.find_iter(code).count();
    c
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The checks of the whole suite.
fn suite() -> Counts {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    rust_files(&tests)
        .iter()
        .map(|f| count(&code_of(&std::fs::read_to_string(f).unwrap())))
        .fold(Counts::default(), |a, b| a + b)
}

#[test]
fn whole_output_checks_outnumber_contains_checks() {
    let c = suite();
    println!(
        "whole-output checks: {}, contains checks: {}",
        c.whole, c.contains
    );
    assert!(
        c.whole > c.contains,
        "{} checks state a whole output, {} look for a piece of one (see tests/style.rs)",
        c.whole,
        c.contains
    );
}

#[test]
fn the_counter_tells_whole_from_contains() {
    let code = code_of(
        r#"
        assert!(out.stderr.contains("x") && out.stdout.starts_with("y"), "{}", out.stderr);
        assert!(!run.stdout.ends_with('\n'));
        assert!(ok, "no check: {}", a.contains(b)); // assert!(x.contains(y)) in a comment
        let s = "assert!(m.contains(1))";
        cmd.assert().stdout(predicate::str::contains("hi"));
        assert_eq!(out.stdout, "hi\n");
        assert_eq!(&run.stderr, &expected, "{}", out.stdout);
        assert_eq!(out.json(), json!({"a": [1, 2]}));
        assert_eq!(out.json()["total"], 42);
        assert_eq!(lines[0], "first");
        Test::new().stdout("hi\n").stderr(EXPECTED).run();
        cmd.stdout(Stdio::piped());
        insta::assert_snapshot!(out.stdout);
        assert_json_snapshot!(v);
        "#,
    );
    assert_eq!(
        count(&code),
        Counts {
            whole: 7,
            contains: 4
        }
    );
}

/// The `Test` builder's expectations: all three are checked once any is stated.
mod builder {
    use crate::util::Test;

    fn version() -> String {
        format!("llm-do {}\n", env!("CARGO_PKG_VERSION"))
    }

    #[test]
    fn a_run_matching_every_expectation_passes() {
        Test::new().args(&["--version"]).stdout(&version()).run();
        Test::new()
            .args(&["--version"])
            .filter(r"\d+\.\d+\.\d+", "[VERSION]")
            .stdout("llm-do [VERSION]\n")
            .run();
    }

    #[test]
    #[should_panic(
        expected = "--- expected stderr\n\n--- actual stderr\nerror: cannot read script"
    )]
    fn an_unset_stream_means_empty() {
        Test::new().args(&["nosuch"]).status(2).run();
    }

    #[test]
    #[should_panic(expected = "expected status 0, got 2")]
    fn an_unset_status_means_zero() {
        Test::new()
            .args(&["nosuch"])
            .stderr("error: cannot read script `nosuch`: No such file or directory (os error 2)\n")
            .run();
    }

    #[test]
    #[should_panic(expected = "--- expected stdout\nllm-do 9.9.9\n")]
    fn a_different_stdout_fails() {
        Test::new()
            .args(&["--version"])
            .stdout("llm-do 9.9.9\n")
            .run();
    }
}
