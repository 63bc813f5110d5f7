//! Unit tests of the approval gate: source order, rules, session memory, headless denials.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use super::rules::normalize_rule_path;
use super::*;

fn rule(tool: &str, path: Option<&str>, command: Option<&str>, decision: Decision) -> ApprovalRule {
    ApprovalRule {
        tool: tool.into(),
        path: path.map(Into::into),
        command: command.map(Into::into),
        decision,
    }
}

fn req(tool: &str, args: Value) -> Request {
    Request {
        tool: tool.into(),
        args,
        chain: vec!["main".into()],
    }
}

/// Answers from a script and counts how often it was asked.
struct Scripted {
    answers: Mutex<Vec<PromptAnswer>>,
    asked: Arc<AtomicUsize>,
}

impl Scripted {
    fn boxed(answers: Vec<PromptAnswer>) -> (Box<dyn Prompter>, Arc<AtomicUsize>) {
        let asked = Arc::new(AtomicUsize::new(0));
        let prompter = Scripted {
            answers: Mutex::new(answers.into_iter().rev().collect()),
            asked: Arc::clone(&asked),
        };
        (Box::new(prompter), asked)
    }
}

impl Prompter for Scripted {
    fn ask(&self, _req: &Request) -> PromptAnswer {
        self.asked.fetch_add(1, Ordering::SeqCst);
        self.answers
            .lock()
            .unwrap()
            .pop()
            .unwrap_or(PromptAnswer::Quit)
    }
}

#[test]
fn flags_win_over_everything() {
    let rules = [rule("*", None, None, Decision::Reject)];
    let gate = Gate::new(Mode::ApproveAll, &rules)
        .unwrap()
        .with_policy(Box::new(|_| Ok(Some(Decision::Reject))));
    let v = gate.check(&req("write_file", json!({})), true);
    assert_eq!(v, verdict(Outcome::Approved, DecidedBy::Flag));
    let gate = Gate::new(Mode::RejectAll, &[]).unwrap();
    let v = gate.check(&req("read_file", json!({})), false);
    assert_eq!(
        v,
        verdict(
            Outcome::Denied("rejected by `--reject-all`".into()),
            DecidedBy::Flag
        )
    );
}

#[test]
fn policy_precedes_rules_and_can_pass() {
    let rules = [rule("write_file", None, None, Decision::Approve)];
    let gate = Gate::new(Mode::Normal, &rules)
        .unwrap()
        .with_policy(Box::new(|r| {
            Ok(match r.args["path"].as_str() {
                Some("secret.txt") => Some(Decision::Reject),
                _ => None,
            })
        }));
    let denied = gate.check(&req("write_file", json!({"path": "secret.txt"})), true);
    assert_eq!(denied.decided_by, DecidedBy::Policy);
    assert_eq!(
        denied.outcome,
        Outcome::Denied("rejected by the approval policy `fn approve`".into())
    );
    let passed = gate.check(&req("write_file", json!({"path": "ok.txt"})), true);
    assert_eq!(passed, verdict(Outcome::Approved, DecidedBy::Rule(0)));
}

#[test]
fn failing_policy_denies() {
    let gate = Gate::new(Mode::Normal, &[])
        .unwrap()
        .with_policy(Box::new(|_| Err("boom".into())));
    let v = gate.check(&req("read_file", json!({})), false);
    assert_eq!(v.decided_by, DecidedBy::Policy);
    assert_eq!(
        v.outcome,
        Outcome::Denied("the approval policy `fn approve` failed: boom".into())
    );
}

#[test]
fn first_matching_rule_wins_and_globs_apply_to_arguments() {
    let rules = [
        rule(
            "write_file",
            Some("output/secret/**"),
            None,
            Decision::Reject,
        ),
        rule("write_file", Some("output/**"), None, Decision::Approve),
        rule("shell", None, Some("git *"), Decision::Approve),
        rule("mcp.github.*", None, None, Decision::Reject),
    ];
    let gate = Gate::new(Mode::Normal, &rules).unwrap();
    let check = |tool: &str, args: Value| gate.check(&req(tool, args), true);
    let v = check("write_file", json!({"path": "output/secret/k.txt"}));
    assert_eq!(v.decided_by, DecidedBy::Rule(0));
    assert_eq!(
        v.outcome,
        Outcome::Denied(
            "rejected by `[[approvals]]` rule #1 (tool = `write_file`, path = `output/secret/**`) in `llm-do.toml`".into()
        )
    );
    assert_eq!(
        check("write_file", json!({"path": "./output//a/b.txt"})),
        verdict(Outcome::Approved, DecidedBy::Rule(1))
    );
    assert_eq!(
        check("shell", json!({"command": "git   log -p"})).decided_by,
        DecidedBy::Rule(2)
    );
    assert_eq!(
        check("mcp.github.create_issue", json!({})).decided_by,
        DecidedBy::Rule(3)
    );
    // No rule matches: the default (approval needed, no prompter) denies.
    let v = check("write_file", json!({"path": "output/../src/main.rs"}));
    assert_eq!(v.decided_by, DecidedBy::Default);
    assert!(matches!(v.outcome, Outcome::Denied(_)));
}

#[test]
fn rule_paths_are_normalized_and_never_escape() {
    assert_eq!(
        normalize_rule_path("./out//a.txt").as_deref(),
        Some("out/a.txt")
    );
    assert_eq!(normalize_rule_path("out/x/../b").as_deref(), Some("out/b"));
    assert_eq!(normalize_rule_path("../out/a"), None);
    assert_eq!(normalize_rule_path("/etc/passwd"), None);
}

#[test]
fn invalid_rule_globs_are_reported() {
    let err = Gate::new(Mode::Normal, &[rule("w[", None, None, Decision::Approve)])
        .err()
        .expect("a bad glob is refused");
    assert!(
        err.to_string()
            .starts_with("invalid glob `w[` in `tool` of `[[approvals]]` rule #1")
    );
}

#[test]
fn defaults_apply_when_nothing_else_answers() {
    let gate = Gate::new(Mode::Normal, &[]).unwrap();
    assert_eq!(
        gate.check(&req("read_file", json!({"path": "a"})), false),
        verdict(Outcome::Approved, DecidedBy::Default)
    );
    let v = gate.check(&req("write_file", json!({"path": "a"})), true);
    let Outcome::Denied(reason) = v.outcome else {
        panic!("expected a denial, got {v:?}");
    };
    assert!(reason.contains("--approve-all"), "{reason}");
    assert!(reason.contains("[[approvals]]"), "{reason}");
}

#[test]
fn prompt_answers_map_to_outcomes() {
    let (prompter, asked) = Scripted::boxed(vec![
        PromptAnswer::Once,
        PromptAnswer::Deny(Some("not there".into())),
        PromptAnswer::Deny(None),
        PromptAnswer::Quit,
    ]);
    let gate = Gate::new(Mode::Normal, &[])
        .unwrap()
        .with_prompter(prompter);
    let r = req("write_file", json!({"path": "a"}));
    assert_eq!(
        gate.check(&r, true),
        verdict(Outcome::Approved, DecidedBy::User)
    );
    assert_eq!(
        gate.check(&r, true).outcome,
        Outcome::Denied("not there".into())
    );
    assert_eq!(
        gate.check(&r, true).outcome,
        Outcome::Denied("denied by the user".into())
    );
    assert_eq!(
        gate.check(&r, true),
        verdict(Outcome::Abort, DecidedBy::User)
    );
    assert_eq!(asked.load(Ordering::SeqCst), 4);
}

#[test]
fn session_answers_are_remembered_per_tool_and_arguments() {
    let (prompter, asked) = Scripted::boxed(vec![PromptAnswer::Session, PromptAnswer::Once]);
    let gate = Gate::new(Mode::Normal, &[])
        .unwrap()
        .with_prompter(prompter);
    let first = req("write_file", json!({"path": "a", "content": "x"}));
    let reordered = req("write_file", json!({"content": "x", "path": "a"}));
    assert_eq!(
        gate.check(&first, true),
        verdict(Outcome::Approved, DecidedBy::User)
    );
    assert_eq!(
        gate.check(&reordered, true),
        verdict(Outcome::Approved, DecidedBy::Session)
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let other = req("write_file", json!({"path": "b", "content": "x"}));
    assert_eq!(gate.check(&other, true).decided_by, DecidedBy::User);
    assert_eq!(asked.load(Ordering::SeqCst), 2);
}

#[test]
fn prompt_decisions_from_rules_use_the_prompter() {
    let (prompter, asked) = Scripted::boxed(vec![PromptAnswer::Once]);
    let rules = [rule("read_file", None, None, Decision::Prompt)];
    let gate = Gate::new(Mode::Normal, &rules)
        .unwrap()
        .with_prompter(prompter);
    let v = gate.check(&req("read_file", json!({"path": "a"})), false);
    assert_eq!(v, verdict(Outcome::Approved, DecidedBy::User));
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[test]
fn gate_is_shared_across_threads_and_prompts_one_at_a_time() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Gate>();

    /// Fails the test if two prompts overlap.
    struct Exclusive(AtomicUsize);
    impl Prompter for Exclusive {
        fn ask(&self, _req: &Request) -> PromptAnswer {
            assert_eq!(
                self.0.fetch_add(1, Ordering::SeqCst),
                0,
                "prompts overlapped"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
            self.0.fetch_sub(1, Ordering::SeqCst);
            PromptAnswer::Once
        }
    }
    let gate = Arc::new(
        Gate::new(Mode::Normal, &[])
            .unwrap()
            .with_prompter(Box::new(Exclusive(AtomicUsize::new(0)))),
    );
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let gate = Arc::clone(&gate);
            std::thread::spawn(move || gate.check(&req("shell", json!({"command": i})), true))
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().outcome, Outcome::Approved);
    }
}

#[test]
fn session_keys_sort_keys_recursively() {
    let req = Request {
        tool: "t".into(),
        args: json!({"b": [{"y": 1, "x": 2}], "a": "s"}),
        chain: Vec::new(),
    };
    assert_eq!(
        session_key(&req),
        "t\u{0}{\"a\":\"s\",\"b\":[{\"x\":2,\"y\":1}]}"
    );
}

#[test]
fn writes_into_the_protected_set_need_a_rule_naming_them() {
    let catch_all = [rule("write_file", Some("**"), None, Decision::Approve)];
    for mode in [Mode::Normal, Mode::ApproveAll] {
        let gate = Gate::new(mode, &catch_all)
            .unwrap()
            .with_policy(Box::new(|_| Ok(Some(Decision::Approve))));
        for path in [
            "llm-do.toml",
            "scripts/policy.rhai",
            "workers/w.worker",
            ".llm-do/x",
            ".git/config",
            "Scripts/x.rhai",
        ] {
            let v = gate.check(&req("write_file", json!({"path": path})), true);
            assert_eq!(v.decided_by, DecidedBy::Default, "{path}");
            let Outcome::Denied(reason) = v.outcome else {
                panic!("{path} was not denied");
            };
            assert!(
                reason.contains("is refused: it is in the protected"),
                "{reason}"
            );
        }
        let notes = gate.check(&req("write_file", json!({"path": "notes/a.md"})), true);
        assert_eq!(notes.outcome, Outcome::Approved);
        let read = gate.check(&req("read_file", json!({"path": "llm-do.toml"})), false);
        assert_eq!(read.outcome, Outcome::Approved);
    }
    let v = Gate::new(Mode::Normal, &[])
        .unwrap()
        .check(&req("write_file", json!({"path": "scripts/p.rhai"})), true);
    assert_eq!(
        v.outcome,
        Outcome::Denied("`write_file` to `scripts/p.rhai` is refused: it is in the protected folder `scripts/` (project code, configuration and state are not written by models); to allow it, add an `[[approvals]]` rule in `llm-do.toml` whose `path` names it, e.g. `tool = \"write_file\"`, `path = \"scripts/**\"`, `decision = \"prompt\"`".into())
    );
}

#[test]
fn a_rule_naming_a_protected_folder_lifts_the_protection_unless_it_rejects() {
    let rules = [
        rule(
            "write_file",
            Some("scripts/generated/**"),
            None,
            Decision::Approve,
        ),
        rule("write_file", Some("workers/**"), None, Decision::Reject),
        rule("write_file", Some("**"), None, Decision::Approve),
    ];
    let gate = Gate::new(Mode::Normal, &rules).unwrap();
    let check = |path: &str| gate.check(&req("write_file", json!({"path": path})), true);
    assert_eq!(
        check("scripts/generated/a.rhai"),
        verdict(Outcome::Approved, DecidedBy::Rule(0))
    );
    assert_eq!(check("scripts/policy.rhai").decided_by, DecidedBy::Default);
    assert!(matches!(
        check("scripts/policy.rhai").outcome,
        Outcome::Denied(_)
    ));
    let workers = check("workers/a.worker");
    assert!(matches!(workers.outcome, Outcome::Denied(_)));
    let named = [rule(
        "write_file",
        Some("llm-do.toml"),
        None,
        Decision::Prompt,
    )];
    let gate = Gate::new(Mode::ApproveAll, &named).unwrap();
    let v = gate.check(&req("write_file", json!({"path": "llm-do.toml"})), true);
    assert_eq!(v, verdict(Outcome::Approved, DecidedBy::Flag));
}

#[test]
fn sources_read_as_words() {
    let shown: Vec<String> = [
        DecidedBy::Flag,
        DecidedBy::Policy,
        DecidedBy::Rule(1),
        DecidedBy::Default,
        DecidedBy::User,
        DecidedBy::Session,
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        shown,
        [
            "flag",
            "policy",
            "rule #2 in llm-do.toml",
            "default",
            "user",
            "session"
        ]
    );
}
