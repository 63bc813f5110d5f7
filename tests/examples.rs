//! Every project under `examples/` loads (`llm-do check --project`) and runs offline with its
//! `script:stand_in` model, producing the output its README shows.

use std::path::Path;

use crate::util::{Test, repo};

/// Every example project, by folder name.
const EXAMPLES: &[&str] = &[
    "approvals_demo",
    "data_report",
    "filename_cleaner",
    "pitchdeck_eval",
    "pitchdeck_eval_code_entry",
    "pitchdeck_eval_stabilized",
    "recursive_summarizer",
    "tool_policy",
];

/// A temp project holding a copy of `examples/NAME` (without generated `output/`).
fn example(name: &str) -> Test {
    let root = repo().join("examples").join(name);
    let mut t = Test::new();
    for (rel, text) in files(&root, &root) {
        t = t.file(&rel, &text);
    }
    t
}

fn files(root: &Path, dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        if p.is_dir() {
            if rel != "output" {
                out.extend(files(root, &p));
            }
        } else {
            out.push((rel, std::fs::read_to_string(&p).unwrap()));
        }
    }
    out
}

fn read(t: &Test, rel: &str) -> String {
    std::fs::read_to_string(t.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Folders under `examples/` that are not projects: `distributed/` holds llm-do inside other
/// engines (a Ray job), run by the Ray tier of `.ci/run`.
const NOT_PROJECTS: &[&str] = &["distributed"];

#[test]
fn every_example_is_listed_here() {
    let mut found: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !NOT_PROJECTS.contains(&name.as_str()))
        .collect();
    found.sort();
    assert_eq!(found, EXAMPLES);
}

#[test]
fn every_example_passes_check_from_the_repository_root() {
    for name in EXAMPLES {
        let dir = format!("examples/{name}");
        let run = Test::new()
            .cwd(&repo())
            .run_with(&["check", "--project", &dir]);
        run.status(0);
        assert!(run.stdout.starts_with("ok: "), "{name}: {}", run.stdout);
        assert!(
            repo().join(&dir).join("README.md").is_file(),
            "{name} has no README.md"
        );
    }
}

#[test]
fn pitchdeck_eval_orchestrator_lists_and_evaluates_every_deck() {
    let t = example("pitchdeck_eval");
    let run = t.run_with(&[
        "--model",
        "script:stand_in",
        "run",
        "pitch_orchestrator",
        "Review the decks",
        "-v",
    ]);
    run.status(0);
    assert!(run.stdout.starts_with("# Pitch deck review\n"));
    let order: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("## "))
        .collect();
    assert_eq!(
        order,
        ["## Aurora Robotics", "## Cobalt Health", "## Beanstalk AI"]
    );
    assert_eq!(run.stderr.matches("▶ neural pitch_evaluator").count(), 3);
    assert!(run.stderr.contains("▶ builtin list_files"));
}

#[test]
fn pitchdeck_eval_stabilized_lists_with_the_rhai_fn() {
    let t = example("pitchdeck_eval_stabilized");
    let run = t.run_with(&[
        "--model",
        "script:stand_in",
        "run",
        "pitch_orchestrator",
        "Review the decks",
        "-v",
    ]);
    run.status(0);
    assert!(run.stderr.contains("▶ symbolic list_pitchdecks"));
    assert!(!run.stderr.contains("list_files"));
    assert_eq!(run.stdout.matches("\nScore: ").count(), 3);
    let decks = t.run_with(&["run", "list_pitchdecks"]);
    decks.status(0);
    assert_eq!(decks.json()[1]["path"], "input/beanstalk_ai.md");
}

#[test]
fn pitchdeck_eval_code_entry_writes_a_ranked_report() {
    let t = example("pitchdeck_eval_code_entry");
    let run = t.run_with(&["scripts/main.rhai", "--model", "script:stand_in"]);
    run.status(0);
    let out = run.json();
    assert_eq!(out["report"], "output/report.md");
    assert_eq!(
        out["ranking"],
        serde_json::json!([
            "Aurora Robotics: 9 (invest)",
            "Cobalt Health: 7 (maybe)",
            "Beanstalk AI: 3 (pass)"
        ])
    );
    let report = read(&t, "output/report.md");
    assert!(report.contains("| 1 | Aurora Robotics | 9 | invest |"));
    assert_eq!(report.matches("\n## ").count(), 3);
    // The built-in test model runs it too (placeholder verdicts that fit the schema).
    t.run_with(&["scripts/main.rhai", "--model", "test"])
        .status(0);
}

#[test]
fn filename_cleaner_shows_both_stages() {
    let t = example("filename_cleaner");
    let run = t.run_with(&["scripts/main.rhai", "--model", "script:stand_in"]);
    run.status(0);
    let rows = run.json();
    assert_eq!(rows.as_array().unwrap().len(), 3);
    assert_eq!(rows[0]["sanitize_filename"], "q3_report_final_v2.pdf");
    assert_eq!(rows[0]["v1"], "q3_report_(final)_v2.pdf");
    assert_eq!(rows[1]["stabilized"], "2024-03_meeting_notes_draft.docx");
    let one = t.run_with(&["run", "sanitize_filename", "My File (1).TXT"]);
    one.status(0);
    assert_eq!(one.stdout.trim(), "my_file_1.txt");
}

#[test]
fn approvals_demo_meets_every_decision_source_headless() {
    let t = example("approvals_demo");
    let run = t.run_with(&[
        "run",
        "housekeeper",
        "Tidy up",
        "--model",
        "script:stand_in",
        "-v",
    ]);
    run.status(0);
    for want in [
        "write output/notes.md -> wrote",
        "write output/cleanup.sh -> denied: rejected by the approval policy `fn approve`",
        "write notes.md -> denied: rejected by `[[approvals]]` rule #2",
        "wc -l output/notes.md -> exit code: 0, stdout: 3 output/notes.md",
        "ls secrets -> denied: rejected by the approval policy",
        "rm output/draft.md -> denied: `shell` requires approval and there is no terminal",
        "cat output/notes.md -> error: shell command `cat output/notes.md` is not allowed",
    ] {
        assert!(
            run.stdout.contains(want),
            "missing {want:?} in\n{}",
            run.stdout
        );
    }
    assert!(
        run.stderr.contains("(by rule #1 in llm-do.toml)") && run.stderr.contains("(by policy)")
    );
    assert!(t.path().join("output/draft.md").is_file());
    assert!(!t.path().join("output/cleanup.sh").exists());
    assert!(!t.path().join("notes.md").exists());
}

#[test]
fn recursive_summarizer_recurses_within_the_depth_limit() {
    let t = example("recursive_summarizer");
    let run = t.run_with(&["scripts/main.rhai", "--model", "script:stand_in", "-v"]);
    run.status(0);
    let out = run.json();
    assert_eq!(out["path"], "input/lighthouses.md");
    let summary = out["summary"].as_str().unwrap();
    assert!(summary.starts_with("Lighthouses began as open fires"));
    assert!(summary.ends_with("but they still matter."));
    assert!(run.stderr.matches("▶ neural summarize").count() > 4);
    let shallow = t.run_with(&[
        "scripts/main.rhai",
        "--model",
        "script:stand_in",
        "--max-depth",
        "2",
    ]);
    shallow.status(1);
    insta::assert_snapshot!(shallow.stderr, @r#"
         x maximum worker depth 2 exceeded calling `summarize` (chain: summarize > summarize > summarize)
          ,-[scripts/main.rhai:7:49]
        6 | let text = read_text(path);
        7 | #{ path: path, chars: text.len(), summary: call("summarize", text) }
          :                                                 |
          :                                                 `-- here
          `----
        "#);
}

#[test]
fn data_report_both_stages_agree_on_the_figures() {
    let t = example("data_report");
    let v1 = t.run_with(&[
        "run",
        "sales_report_v1",
        "input/sales.csv",
        "--model",
        "script:stand_in",
    ]);
    v1.status(0);
    insta::assert_snapshot!(v1.stdout, @r"
        # Sales report

        Total revenue: 40100

        - west: 19850
        - north: 13550
        - south: 6700

        Best-selling product: widget (680 units)

        west leads with 19850 of 40100 in revenue. Monthly revenue grew from 13250 to 14150; watch whether widget volume keeps up.
        ");
    let v2 = t.run_with(&["scripts/main.rhai", "--model", "script:stand_in"]);
    v2.status(0);
    assert_eq!(v2.json()["total_revenue"], 40100);
    let report = read(&t, "output/report.md");
    assert!(report.contains("| west | 19850 |"));
    assert!(report.contains("## Commentary\n\nwest leads"));
}

#[test]
fn tool_policy_refuses_writes_outside_output() {
    let t = example("tool_policy");
    let run = t.run_with(&[
        "run",
        "note_writer",
        "Rust ownership",
        "--model",
        "script:stand_in",
        "-v",
    ]);
    run.status(0);
    assert_eq!(run.stdout.trim(), "saved output/notes.md (56 chars)");
    insta::with_settings!({filters => crate::util::VARYING.to_vec()}, {
        insta::assert_snapshot!(run.stderr, @r"
            ▶ neural note_writer
              ? save_output approved (by default)
              ▶ symbolic save_output
              ✗ save_output [T] ms: save_output writes only under output/, not `notes.md`; use a path like output/notes.md
              ? save_output approved (by default)
              ▶ symbolic save_output
              ✓ save_output [T] ms
            ✓ note_writer [T] ms
            total: 3 model calls, 0 in / 0 out tokens
              note_writer: 3 model calls, 0 in / 0 out tokens
            ");
    });
    assert!(read(&t, "output/notes.md").starts_with("# Rust ownership"));
    assert!(!t.path().join("notes.md").exists());
    let direct = t.run_with(&[
        "run",
        "save_output",
        "--input-json",
        r#"{"path": "output/../x.md", "content": "x"}"#,
    ]);
    direct.status(1);
}

/// Regression: builtins must not empty the variable passed to them (`read_text(path)`).
#[test]
fn builtins_leave_their_argument_variables_alone() {
    let run = Test::new()
        .file("a.txt", "hi")
        .script(
            "t",
            "let p = \"a.txt\"; let s = read_text(p); [p, s, exists(p)]",
        )
        .run_with(&["scripts/t.rhai"]);
    run.status(0);
    assert_eq!(run.json(), serde_json::json!(["a.txt", "hi", true]));
}
