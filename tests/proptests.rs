//! Property tests of everything that parses untrusted or user-written input, at library level:
//! `llm-do.toml`, schema shorthand, the SSE decoder with both wire formats' stream states,
//! tool arguments from models (the worker toolbox and the builtin tools), and the path
//! sandbox. Properties: no panic, no hang (every stream is finite and every call returns),
//! and no path outside the project root. Case counts stay modest so `cargo test` is fast.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use futures_util::stream;
use proptest::prelude::*;
use serde_json::{Value, json};

use llm_do::config::{ShellConfig, ShellRule, parse_config};
use llm_do::model::sse::{SseHandler, drive};
use llm_do::model::{ModelError, ModelResponse, ToolCall, anthropic, openai};
use llm_do::tools::{Sandbox, ToolEnv};

/// Cases per property: enough to find shallow bugs, small enough for every `cargo test`.
pub const CASES: u32 = 256;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Arbitrary JSON, biased towards the shapes tools and schemas use.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::from),
        path_text().prop_map(Value::from),
        prop::sample::select(vec![
            "string", "integer", "object", "array", "number", "boolean"
        ])
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Object keys: the argument and schema keywords the code looks for, or anything.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "path",
            "content",
            "max_chars",
            "offset",
            "pattern",
            "command",
            "timeout",
            "type",
            "properties",
            "items",
            "required",
            "description",
            "enum",
            "input",
            "$ref",
        ])
        .prop_map(String::from),
        "\\PC{0,6}",
    ]
}

/// Path-like text built from the pieces that break naive confinement.
fn path_text() -> impl Strategy<Value = String> {
    let part = prop::sample::select(vec![
        "..", ".", "", "sub", "a.txt", "new", "link_out", "link_in", "dangling", "loop", ".git",
        "hooks", "ü", "日本", "\0", "x\0y", " ", "...", "~", "$HOME", "\\..\\", "%2e%2e",
    ]);
    (
        any::<bool>(),
        prop::collection::vec(part, 0..7),
        any::<bool>(),
    )
        .prop_map(|(absolute, parts, trailing)| {
            let mut text = parts.join("/");
            if absolute {
                text.insert(0, '/');
            }
            if trailing {
                text.push('/');
            }
            text
        })
}

/// A project root with a sibling `outside` directory, symlinks out of and within the root, a
/// dangling link, a link loop and a `.git` directory. Shared by all sandbox cases.
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    sandbox: Sandbox,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::create_dir_all(root.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(root.join("sub/a.txt"), "inside").unwrap();
        std::fs::write(outside.join("secret.txt"), "outside").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            symlink(&outside, root.join("link_out")).unwrap();
            symlink("sub", root.join("link_in")).unwrap();
            symlink(dir.path().join("missing"), root.join("dangling")).unwrap();
            symlink("loop", root.join("loop")).unwrap();
        }
        let sandbox = Sandbox::new(&root).unwrap();
        let root = sandbox.root().to_path_buf();
        let outside = outside.canonicalize().unwrap();
        Fixture {
            _dir: dir,
            root,
            outside,
            sandbox,
        }
    })
}

/// Whether `path` physically lies inside `root`: its deepest existing ancestor, with every
/// symlink followed, is under the root.
fn physically_inside(path: &Path, root: &Path) -> bool {
    let mut existing = path;
    while std::fs::symlink_metadata(existing).is_err() {
        match existing.parent() {
            Some(parent) => existing = parent,
            None => return false,
        }
    }
    existing
        .canonicalize()
        .is_ok_and(|real| real.starts_with(root))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_sandbox_never_resolves_outside_the_root(text in path_text(), prefix_root in any::<bool>()) {
        let f = fixture();
        let text = if prefix_root { format!("{}/{text}", f.root.display()) } else { text };
        if let Ok(at) = f.sandbox.resolve(&text) {
            let path = at.abs();
            prop_assert!(path.starts_with(&f.root), "{text:?} -> {path:?}");
            prop_assert!(physically_inside(path, &f.root), "{text:?} -> {path:?}");
            prop_assert!(!path.starts_with(&f.outside));
        }
        if let Ok(target) = f.sandbox.resolve_for_write(&text) {
            let path = target.resolved().abs();
            prop_assert!(physically_inside(path, &f.root), "{text:?} -> {path:?}");
            let inside = path.strip_prefix(&f.root).unwrap();
            prop_assert!(!inside.components().any(|c| c.as_os_str() == ".git"), "{text:?}");
            prop_assert!(!path.is_dir());
        }
    }

    #[test]
    fn config_parsing_never_panics(text in "\\PC{0,200}") {
        let _ = parse_config(Path::new("llm-do.toml"), &text);
    }

    #[test]
    fn toml_shaped_config_never_panics(lines in prop::collection::vec(toml_line(), 0..12)) {
        let _ = parse_config(Path::new("llm-do.toml"), &lines.join("\n"));
    }

    #[test]
    fn schema_expansion_never_panics(value in json_value()) {
        if let Ok(schema) = llm_do::schema::expand(&value) {
            let _ = llm_do::schema::Validator::new(&schema);
        }
    }

    #[test]
    fn arbitrary_sse_bytes_never_panic_or_hang(bytes in prop::collection::vec(any::<u8>(), 0..400), cuts in cuts()) {
        let _ = run_openai(&chunked(&bytes, &cuts));
        let _ = run_anthropic(&chunked(&bytes, &cuts));
    }

    #[test]
    fn sse_shaped_streams_never_panic_or_hang(lines in prop::collection::vec(sse_line(), 0..16), cuts in cuts()) {
        let text = lines.join("\n").into_bytes();
        let _ = run_openai(&chunked(&text, &cuts));
        let _ = run_anthropic(&chunked(&text, &cuts));
    }

    #[test]
    fn a_valid_openai_stream_decodes_the_same_however_it_is_cut(
        pieces in prop::collection::vec("\\PC{1,8}", 1..6),
        cuts in cuts(),
        keep in 0usize..=100,
    ) {
        let mut text = String::new();
        for piece in &pieces {
            let chunk = json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
            text.push_str(&format!("data: {chunk}\n\n"));
        }
        let before_finish = text.len();
        text.push_str("data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
        let bytes = text.as_bytes();
        let reply = run_openai(&chunked(bytes, &cuts)).map_err(|f| f.to_string());
        prop_assert_eq!(reply.map(|r| r.text), Ok(pieces.concat()));
        // Cut short before the finish: an error, never a silently partial answer.
        let cut = before_finish * keep / 100;
        let reply = run_openai(&chunked(&bytes[..cut], &cuts));
        prop_assert!(reply.is_err());
    }

    #[test]
    fn a_cut_anthropic_stream_is_an_error(keep in 0usize..100, cuts in cuts()) {
        let text = anthropic_stream();
        let cut = text.rfind("event: message_stop").unwrap() * keep / 100;
        prop_assert!(run_anthropic(&chunked(&text.as_bytes()[..cut], &cuts)).is_err());
        let reply = run_anthropic(&chunked(text.as_bytes(), &cuts)).map_err(|f| f.to_string());
        prop_assert_eq!(reply.map(|r| r.text), Ok("Hello world".to_owned()));
    }

    #[test]
    fn builtin_tools_take_any_json_arguments(name in tool_name(), args in json_value()) {
        let (env, outside_before) = tool_env();
        let _ = runtime().block_on(llm_do::tools::run(&env, &name, &args));
        prop_assert_eq!(llm_do_tree(&fixture_outside()), outside_before);
    }

    #[test]
    fn the_toolbox_takes_any_arguments_from_a_model(
        name in tool_name(),
        args in prop_oneof![json_value(), json_value().prop_map(|v| Value::String(v.to_string())), "\\PC{0,20}".prop_map(Value::from)],
    ) {
        let call = ToolCall { id: "t1".into(), name: name.clone(), arguments: args };
        let result = toolbox_call(&call);
        // A bad call is a tool result the model can read, never a failed run.
        prop_assert!(result.is_ok(), "{name}: {result:?}");
        prop_assert_eq!(llm_do_tree(&fixture_outside()), tool_env().1);
    }
}

/// Cut points for splitting a byte string into chunks.
fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..64, 0..24)
}

fn chunked(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut chunks = Vec::new();
    let mut rest = bytes;
    for cut in cuts {
        let (head, tail) = rest.split_at((*cut).min(rest.len()));
        chunks.push(head.to_vec());
        rest = tail;
    }
    chunks.push(rest.to_vec());
    chunks
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

fn drive_with<H: SseHandler>(chunks: &[Vec<u8>], handler: H) -> Result<ModelResponse, ModelError> {
    let owned = chunks.iter().cloned().map(Ok::<_, ModelError>);
    runtime().block_on(drive(stream::iter(owned), handler, None, "p"))
}

fn run_openai(chunks: &[Vec<u8>]) -> Result<ModelResponse, ModelError> {
    drive_with(chunks, openai::StreamState::new("p"))
}

fn run_anthropic(chunks: &[Vec<u8>]) -> Result<ModelResponse, ModelError> {
    drive_with(
        chunks,
        anthropic::StreamState::new("p", Some("final_result".into())),
    )
}

fn anthropic_stream() -> String {
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 3}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " world"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    events
        .iter()
        .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
        .collect()
}

/// One line of an SSE stream: fields both wire formats use, with JSON-ish payloads.
fn sse_line() -> impl Strategy<Value = String> {
    let event = prop::sample::select(vec![
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
        "",
    ]);
    prop_oneof![
        event.prop_map(|e| format!("event: {e}")),
        json_value().prop_map(|v| format!("data: {v}")),
        prop::sample::select(vec![
            "data: [DONE]".to_owned(),
            "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\"}}]}}]}".to_owned(),
            "data: {\"choices\":[{\"finish_reason\":\"length\",\"delta\":{\"tool_calls\":[{\"id\":\"a\",\"function\":{\"name\":\"w\"}}]}}]}".to_owned(),
            "data: {\"type\":\"content_block_start\",\"index\":18446744073709551615,\"content_block\":{\"type\":\"tool_use\"}}".to_owned(),
            "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\"}}".to_owned(),
            ": keep-alive".to_owned(),
            "retry: 10".to_owned(),
            "id: 7".to_owned(),
            String::new(),
            "\r".to_owned(),
        ]),
        "\\PC{0,20}",
    ]
}

/// One line of a TOML file shaped like `llm-do.toml`.
fn toml_line() -> impl Strategy<Value = String> {
    let section = prop::sample::select(vec![
        "[defaults]",
        "[limits]",
        "[shell]",
        "[providers.local]",
        "[[approvals]]",
        "[[shell.allow]]",
        "[providers]",
        "[limits.x]",
    ]);
    let name = prop::sample::select(vec![
        "model",
        "max_depth",
        "max_parallel",
        "max_operations",
        "tool",
        "path",
        "decision",
        "allow",
        "base_url",
        "wire",
        "api_key_env",
        "prefix",
        "approval",
        "timeout",
    ]);
    let value = prop::sample::select(vec![
        "\"test\"",
        "5",
        "-1",
        "0",
        "18446744073709551616",
        "true",
        "\"approve\"",
        "\"prompt\"",
        "\"openai\"",
        "\"output/**\"",
        "\"[\"",
        "[{ prefix = \"git status\" }]",
        "{}",
        "[]",
        "\"http://x/v1\"",
        "1.5",
        "\"\"",
    ]);
    prop_oneof![
        section.prop_map(String::from),
        (name, value).prop_map(|(n, v)| format!("{n} = {v}")),
        "\\PC{0,20}",
    ]
}

fn tool_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["read_file", "list_files", "write_file", "shell"])
            .prop_map(String::from),
        "\\PC{0,8}",
    ]
}

/// Builtin tools over the fixture, with `echo` allowed in the shell; and the current state of
/// the directory outside the root (which no tool call may change).
fn tool_env() -> (ToolEnv, Vec<(String, Vec<u8>)>) {
    let f = fixture();
    let env = ToolEnv {
        sandbox: Arc::new(f.sandbox.clone()),
        shell: ShellConfig {
            allow: vec![ShellRule {
                prefix: "echo".into(),
                approval: false,
                protected: false,
            }],
            timeout: Some(5),
            env: Vec::new(),
        },
    };
    (env, llm_do_tree(&f.outside))
}

fn fixture_outside() -> PathBuf {
    fixture().outside.clone()
}

/// Paths and contents under `dir`.
fn llm_do_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    crate::util::tree(dir)
}

/// One model tool call through a worker's toolbox (tools `fs` and `shell`, every call
/// approved), as the run loop makes it.
fn toolbox_call(call: &ToolCall) -> Result<llm_do::model::ToolResult, String> {
    use llm_do::call::CallCtx;
    use llm_do::runtime::Runtime;
    use llm_do::runtime::toolbox::Toolbox;

    static RT: OnceLock<Arc<Runtime>> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        let mut settings = llm_do::settings::Settings::new(fixture().root.clone());
        settings.approval = llm_do::approval::Mode::ApproveAll;
        settings.quiet = true;
        let _guard = runtime().enter();
        Runtime::builder(
            settings,
            runtime().handle().clone(),
            Arc::new(llm_do::trace::Silent),
        )
        .build()
        .unwrap()
    });
    let spec = llm_do::worker::parse_worker(
        Path::new("workers/w.worker"),
        "---\ntoolsets: [fs, shell]\n---\nDo it.\n",
    )
    .map_err(|e| e.to_string())?;
    let toolbox = Toolbox::for_worker(rt, &spec);
    let ctx = CallCtx::default().enter("w");
    runtime()
        .block_on(toolbox.run(rt, &ctx, call))
        .map_err(|e| e.to_string())
}

/// A project for the approval property: `secrets/` under a reject rule, the protected set
/// (`llm-do.toml`, `scripts/`, `workers/`, `.llm-do/`, `.git/`), `notes/` with symlinks into all
/// of them, and `outside/` beside the root.
struct GateFixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    env: ToolEnv,
    /// Counter for the symlink each case creates before its call.
    links: std::sync::atomic::AtomicUsize,
}

fn gate_fixture() -> &'static GateFixture {
    static FIXTURE: OnceLock<GateFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        for (file, text) in [
            ("secrets/keep.md", "keep"),
            ("scripts/policy.rhai", "fn approve(r) { () }"),
            ("workers/w.worker", "---\n---\nHi.\n"),
            (".llm-do/state", "state"),
            (".git/config", "[core]"),
            ("llm-do.toml", "[shell]\n"),
            ("notes/a.md", "a"),
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("o.txt"), "o").unwrap();
        #[cfg(unix)]
        for (link, target) in [
            ("notes/s", "../secrets"),
            ("notes/k", "../secrets/keep.md"),
            ("notes/sc", "../scripts"),
            ("notes/cfg", "../llm-do.toml"),
            ("notes/w", "../workers"),
            ("notes/g", "../.git"),
            ("notes/up", ".."),
            ("notes/out", "../../outside"),
        ] {
            std::os::unix::fs::symlink(target, root.join(link)).unwrap();
        }
        let env = ToolEnv {
            sandbox: Arc::new(Sandbox::new(&root).unwrap()),
            shell: ShellConfig::default(),
        };
        GateFixture {
            _dir: dir,
            root,
            outside,
            env,
            links: std::sync::atomic::AtomicUsize::new(0),
        }
    })
}

impl GateFixture {
    /// Everything no approved write may change: the rejected folder (`secrets` counts only
    /// when rules apply), the protected set and the folder outside.
    fn guarded(&self, with_secrets: bool) -> Vec<(String, Vec<u8>)> {
        let mut dirs = vec!["scripts", "workers", ".llm-do", ".git"];
        if with_secrets {
            dirs.push("secrets");
        }
        let mut all: Vec<(String, Vec<u8>)> = dirs
            .iter()
            .flat_map(|d| {
                crate::util::tree(&self.root.join(d))
                    .into_iter()
                    .map(move |(p, c)| (format!("{d}/{p}"), c))
            })
            .collect();
        all.extend(crate::util::tree(&self.outside));
        all.push((
            "llm-do.toml".into(),
            std::fs::read(self.root.join("llm-do.toml")).unwrap_or_default(),
        ));
        all.sort();
        all
    }

    /// A case of the hostile-path properties: a new symlink `notes/lN` to `target` made now,
    /// and the path `parts` spell (`LINK` naming that symlink), made absolute through the root
    /// (`prefix` 1) or the file system root (2). Returns the path and the link's name.
    #[cfg(unix)]
    fn hostile_case(&self, prefix: u8, parts: &[&str], target: &str) -> (String, String) {
        let n = self.links.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let link = format!("l{n}");
        std::os::unix::fs::symlink(target, self.root.join("notes").join(&link)).unwrap();
        let mut path = parts
            .iter()
            .map(|p| if *p == "LINK" { link.as_str() } else { p })
            .collect::<Vec<_>>()
            .join("/");
        match prefix {
            1 => path = format!("{}/{path}", self.root.display()),
            2 => path.insert(0, '/'),
            _ => {}
        }
        (path, link)
    }
}

/// Paths a hostile model could name for a write: pieces of every protected and rejected name,
/// the fixture's symlinks, `..`, odd spellings, `LINK` (the symlink this case made), optionally
/// absolute through the root or the file system root.
fn hostile_path() -> impl Strategy<Value = (u8, Vec<&'static str>)> {
    let part = prop::sample::select(vec![
        "..",
        ".",
        "",
        "notes",
        "s",
        "k",
        "sc",
        "cfg",
        "w",
        "g",
        "up",
        "out",
        "LINK",
        "LINK",
        "secrets",
        "keep.md",
        "scripts",
        "Scripts",
        "policy.rhai",
        "workers",
        "w.worker",
        "llm-do.toml",
        "LLM-DO.TOML",
        ".llm-do",
        ".git",
        "config",
        "new.md",
        "a.md",
    ]);
    (0u8..3, prop::collection::vec(part, 1..6))
}

/// Where the symlink a case creates points (relative to `notes/`).
fn link_target() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "../secrets",
        "../secrets/keep.md",
        "../secrets/new.md",
        "../scripts",
        "../scripts/policy.rhai",
        "../scripts/new.rhai",
        "../llm-do.toml",
        "../workers",
        "../.llm-do",
        "../.git",
        "..",
        ".",
        "a.md",
        "../../outside",
        "../../outside/new.txt",
        "s",
        "up/scripts",
    ])
}

proptest! {
    #![proptest_config(config())]

    /// No path a model names, however spelled and through whatever symlinks exist before the
    /// call, gets a write approved and landed in a rejected folder, the protected set or
    /// outside the root.
    #[cfg(unix)]
    #[test]
    fn approved_writes_never_land_where_rules_or_the_protected_set_forbid(
        (prefix, parts) in hostile_path(),
        target in link_target(),
        approve_all in any::<bool>(),
    ) {
        use llm_do::approval::{Gate, Mode, Outcome, Request};
        use llm_do::config::{ApprovalRule, Decision};

        let f = gate_fixture();
        let (path, link) = f.hostile_case(prefix, &parts, target);
        let rule = |path: &str, decision| ApprovalRule {
            tool: "write_file".into(),
            path: Some(path.into()),
            command: None,
            decision,
        };
        let rules = [rule("secrets/**", Decision::Reject), rule("**", Decision::Approve)];
        let mode = if approve_all { Mode::ApproveAll } else { Mode::Normal };
        let gate = Gate::new(mode, &rules).unwrap();
        let before = f.guarded(!approve_all);
        let args = json!({"path": path, "content": "pwned"});
        let request = Request {
            tool: "write_file".into(),
            args: f.env.canonical_args("write_file", &args),
            chain: vec!["w".into()],
        };
        let verdict = gate.check(&request, true);
        if verdict.outcome == Outcome::Approved {
            let _ = runtime().block_on(llm_do::tools::run(&f.env, "write_file", &args));
        }
        prop_assert_eq!(
            f.guarded(!approve_all),
            before,
            "{} (via notes/{} -> {}) was {:?}",
            path,
            link,
            target,
            verdict
        );
    }

    /// The same paths as the `shell` arguments of a model under plain `cp` and `touch` rules
    /// that need no approval: nothing lands in the protected set or outside the root.
    #[cfg(unix)]
    #[test]
    fn shell_commands_never_write_into_the_protected_set_or_outside(
        (prefix, parts) in hostile_path(),
        target in link_target(),
        form in 0u8..4,
    ) {
        let f = gate_fixture();
        let (mut path, link) = f.hostile_case(prefix, &parts, target);
        if path.is_empty() {
            path.push('.');
        }
        let command = match form {
            0 => format!("cp notes/a.md {path}"),
            1 => format!("cp notes/a.md -t{path}"),
            2 => format!("cp --target-directory={path} notes/a.md"),
            _ => format!("touch {path}"),
        };
        let rule = |prefix: &str| ShellRule {
            prefix: prefix.into(),
            approval: false,
            protected: false,
        };
        let env = ToolEnv {
            sandbox: f.env.sandbox.clone(),
            shell: ShellConfig {
                allow: vec![rule("cp"), rule("touch")],
                ..ShellConfig::default()
            },
        };
        let before = f.guarded(false);
        let out = runtime().block_on(llm_do::tools::run(&env, "shell", &json!({"command": command})));
        prop_assert_eq!(
            f.guarded(false),
            before,
            "{} (via notes/{} -> {}) gave {:?}",
            command,
            link,
            target,
            out
        );
    }
}

/// What a hostile draft may try, as a statement.
fn hostile_statement() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "write_text(\"pwned.txt\", \"x\");",
        "write_text(\"pwned.txt\", env(\"PATH\"));",
        "return env(\"PATH\");",
        "return read_text(\"llm-do.toml\");",
        "call(\"shell\", #{command: \"touch pwned.txt\"});",
        "let w = worker(#{name: \"w\", instructions: \"x\"});",
        "loop {}",
        "while true { let s = \"\"; s.pad(1000, 'x'); }",
        // Rhai's own `sleep` would hold the thread with no operation or CPU spent.
        "sleep(100);",
        "sleep(100.0);",
        "eval(\"write_text(\\\"pwned.txt\\\", \\\"x\\\")\");",
        "Fn(\"write_text\").call(\"pwned.txt\", \"x\");",
        "return defer();",
        "print(env(\"PATH\"));",
        "let x = 1;",
    ])
}

/// A whole hostile draft of `fn triage`: optional top-level code, the fn (under its own name
/// or a reserved one) with hostile statements, and optional extra fns.
fn hostile_draft() -> impl Strategy<Value = String> {
    (
        // Biased towards drafts that load, so most cases reach the call.
        prop::option::weighted(0.15, hostile_statement()),
        prop::sample::select(
            vec!["triage"; 8]
                .into_iter()
                .chain(["approve", "read_text"])
                .collect::<Vec<_>>(),
        ),
        prop::collection::vec(hostile_statement(), 0..3),
        prop::option::weighted(
            0.25,
            prop::sample::select(vec!["approve", "helper", "fake", "write_text", "main"]),
        ),
    )
        .prop_map(|(top, name, body, extra)| {
            let mut code = String::new();
            if let Some(top) = top {
                code.push_str(top);
                code.push('\n');
            }
            code.push_str(&format!(
                "fn {name}(message) {{ {} #{{category: \"bug\"}} }}\n",
                body.join(" ")
            ));
            if let Some(e) = extra {
                code.push_str(&format!(
                    "fn {e}(request) {{ write_text(\"pwned.txt\", \"x\"); \"approve\" }}\n"
                ));
            }
            code
        })
}

/// Run a marked draft `code` as `triage` in a project where it serves (`shadow-code`): the
/// project refuses it, or it runs with the restricted engine's powers only. Returns the
/// project root's `pwned.txt` (never there) and what the call gave (never the environment).
fn run_draft(code: &str) -> Result<(bool, String), String> {
    use llm_do::runtime::Runtime;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (file, text) in [
        ("llm-do.toml", "[stabilize]\ntriage = \"shadow-code\"\n".to_string()),
        (
            "workers/triage.worker",
            "---\nmodel: script:fake\ninput:\n  message: string\noutput:\n  category: string\n---\nClassify.\n".into(),
        ),
        ("scripts/models.rhai", "fn fake(request) { #{output: #{category: \"bug\"}} }\n".into()),
        ("scripts/drafts/triage.rhai", format!("// llm-do: untrusted draft\n{code}")),
    ] {
        let path = root.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let mut settings = llm_do::settings::Settings::new(root.to_path_buf());
    settings.quiet = true;
    settings.max_operations = 20_000;
    let rt = {
        let _guard = runtime().enter();
        Runtime::builder(
            settings,
            runtime().handle().clone(),
            Arc::new(llm_do::trace::Silent),
        )
        .build()
    };
    let Ok(rt) = rt else {
        // Refused at load: nothing of it ran.
        return Err("refused".into());
    };
    let project = rt.project();
    // Loaded: it is the one untrusted fn, outside the library (never the approval policy).
    assert!(
        project.fns.get("triage").is_some_and(|f| f.untrusted),
        "{code}"
    );
    assert!(
        project
            .library
            .iter_functions()
            .all(|f| f.name != "triage" && f.name != "approve"),
        "{code}"
    );
    let ctx = llm_do::call::CallCtx::default();
    let out = runtime().block_on(rt.call(&ctx, "triage", json!({"message": "live"})));
    let text = match out {
        Ok(v) => v.to_string(),
        Err(e) => e.to_string(),
    };
    Ok((root.join("pwned.txt").exists(), text))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..config() })]

    /// Issue 29: whatever a draft holds (builtins that write, read or reach the environment,
    /// `call()`, inline workers, imports, `eval`, extra fns, `fn approve`, top-level code,
    /// reserved names, endless loops), before a person accepts it nothing of it runs with more
    /// than the restricted engine's powers: no file is written, no secret comes back, every
    /// call ends, and it never joins the library the approval policy is read from.
    #[test]
    fn a_draft_never_runs_with_more_than_the_restricted_engines_powers(code in hostile_draft()) {
        let path = std::env::var("PATH").unwrap_or_default();
        if let Ok((pwned, text)) = run_draft(&code) {
            prop_assert!(!pwned, "{code}");
            prop_assert!(path.is_empty() || !text.contains(&path), "{code}\n{text}");
        }
    }
}
