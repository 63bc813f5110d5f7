//! A `Test` builder: a temporary project, the real binary, a clean environment.
//!
//! As just's `Test`, it can state what the run must print up front: `.stdout(..)`,
//! `.stderr(..)`, `.status(..)`. Once any is set, every `run`/`run_with` of that `Test` checks
//! all three, an unset stream meaning empty and an unset status 0, so state them on a `Test`
//! that runs once. `.filter(regex, replacement)` normalises what varies between runs (an item
//! number, a timing) before anything is compared or returned.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use regex::Regex;

/// Environment variables that must not leak from the developer's shell into tests.
pub const CLEARED: &[&str] = &[
    "LLM_DO_MODEL",
    "LLM_DO_CONFIG",
    "XDG_CONFIG_HOME",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OLLAMA_HOST",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_SDK_DISABLED",
    "TRACEPARENT",
    "TRACESTATE",
];

/// A worker `triage` on the `script:fake` model, with a `category` output.
pub const TRIAGE_WORKER: &str = "---\nmodel: script:fake\ninput:\n  message: string\noutput:\n  category: string\n---\nClassify.\n";

/// `fn fake(request)`: `feature` for a message with "idea", `bug` otherwise.
pub const FAKE_TRIAGE_MODEL: &str = "fn fake(request) { let m = request.messages[0].text; if m.contains(\"idea\") { #{output: #{category: \"feature\"}} } else { #{output: #{category: \"bug\"}} } }\n";

/// A project in a temp dir and a command line to run in it.
pub struct Test {
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<String>,
    cwd: Option<PathBuf>,
    expect: Option<Expect>,
    filters: Vec<(Regex, String)>,
}

/// What a run must print and return: all three are checked, so an unset stream is empty.
#[derive(Debug, Default, Clone)]
struct Expect {
    stdout: String,
    stderr: String,
    status: i32,
}

/// What a run produced.
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Test {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("workers")).unwrap();
        Self {
            dir,
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            cwd: None,
            expect: None,
            filters: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(self, rel: &str, text: &str) -> Self {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    /// The `triage` worker of the stabilize tests: a `script:fake` model that answers
    /// `feature` for messages with "idea" and `bug` otherwise (`category`, per the schema).
    pub fn fake_triage_worker(self) -> Self {
        self.worker("triage", TRIAGE_WORKER)
            .script("models", FAKE_TRIAGE_MODEL)
    }

    /// `greeter` (the `test` model echoes its input) and a fn `add`, both called by
    /// `main.rhai`, which greets `name`: a run of two calls, one of each kind.
    pub fn greeter_and_add(name: &str) -> Self {
        Test::new()
            .worker("greeter", "---\nmodel: test\n---\nGreet.\n")
            .script(
                "lib",
                "/// a: integer\n/// b: integer\nfn add(a, b) { a + b }\n",
            )
            .file(
                "main.rhai",
                &format!("let g = call(\"greeter\", {name:?}); call(\"add\", #{{a: 1, b: 2}})"),
            )
    }

    pub fn worker(self, name: &str, text: &str) -> Self {
        self.file(&format!("workers/{name}.worker"), text)
    }

    pub fn script(self, name: &str, text: &str) -> Self {
        self.file(&format!("scripts/{name}.rhai"), text)
    }

    pub fn config(self, text: &str) -> Self {
        self.file("llm-do.toml", text)
    }

    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| (*a).to_string()));
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn stdin(mut self, s: &str) -> Self {
        self.stdin = Some(s.into());
        self
    }

    /// The whole stdout the run must print (see the module doc).
    pub fn stdout(mut self, s: &str) -> Self {
        self.expect.get_or_insert_default().stdout = s.into();
        self
    }

    /// The whole stderr the run must print (see the module doc).
    pub fn stderr(mut self, s: &str) -> Self {
        self.expect.get_or_insert_default().stderr = s.into();
        self
    }

    /// The exit status the run must end with (see the module doc).
    pub fn status(mut self, code: i32) -> Self {
        self.expect.get_or_insert_default().status = code;
        self
    }

    /// Replace every match of `pattern` in stdout and stderr with `replacement` (a regex
    /// replacement: `$1` names a group) before they are checked or returned.
    pub fn filter(mut self, pattern: &str, replacement: &str) -> Self {
        let re = Regex::new(pattern).unwrap_or_else(|e| panic!("filter `{pattern}`: {e}"));
        self.filters.push((re, replacement.into()));
        self
    }

    /// Run in `dir` instead of the project root.
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Run with `args` added to the command line, keeping the project for later checks; the
    /// expectations, if any were stated, are checked.
    #[track_caller]
    pub fn run_with(&self, args: &[&str]) -> Run {
        let run = self.exec(args);
        if let Some(expect) = &self.expect {
            run.check(expect);
        }
        run
    }

    /// Run the command line; the expectations, if any were stated, are checked.
    #[track_caller]
    pub fn run(&self) -> Run {
        self.run_with(&[])
    }

    /// Start llm-do with `extra` in the background, its output discarded, for tests that stop
    /// it midway (a signal, a kill).
    pub fn spawn_quiet(&self, extra: &[&str]) -> std::process::Child {
        self.command(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn llm-do")
    }

    /// The command line as a plain `std::process::Command` with the same clean environment,
    /// for tests that drive the child process themselves (e.g. to send it a signal).
    pub fn command(&self, extra: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_llm-do"));
        cmd.current_dir(self.cwd.as_deref().unwrap_or(self.dir.path()));
        for k in CLEARED {
            cmd.env_remove(k);
        }
        cmd.env("HOME", self.dir.path()).env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.args(&self.args).args(extra);
        cmd
    }

    fn exec(&self, extra: &[&str]) -> Run {
        let mut cmd = Command::from_std(self.command(extra));
        cmd.write_stdin(self.stdin.clone().unwrap_or_default());
        let out: Output = cmd.output().expect("run llm-do");
        let clean = |b: &[u8]| {
            let text = String::from_utf8_lossy(b)
                .replace(&self.dir.path().display().to_string(), "[PROJECT]");
            self.filters.iter().fold(text, |text, (re, to)| {
                re.replace_all(&text, to.as_str()).into_owned()
            })
        };
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: clean(&out.stdout),
            stderr: clean(&out.stderr),
        }
    }
}

impl Run {
    /// Panic, showing both, unless the run printed and returned exactly what `e` says.
    #[track_caller]
    fn check(&self, e: &Expect) {
        let mut wrong = Vec::new();
        for (name, want, got) in [
            ("stdout", &e.stdout, &self.stdout),
            ("stderr", &e.stderr, &self.stderr),
        ] {
            if want != got {
                wrong.push(format!(
                    "--- expected {name}\n{want}\n--- actual {name}\n{got}"
                ));
            }
        }
        if e.status != self.status {
            wrong.push(format!("expected status {}, got {}", e.status, self.status));
        }
        assert!(wrong.is_empty(), "unexpected output\n{}", wrong.join("\n"));
    }

    /// Assert the exit status, showing the output when it differs.
    #[track_caller]
    pub fn status(&self, code: i32) -> &Self {
        assert_eq!(
            self.status, code,
            "unexpected exit status\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// The stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// insta filters for what varies between runs of the same command: durations of the `-v` call
/// tree (`18.4 ms`) and of runs (`0.046 s`), the latency columns of `llm-do stats` (p50, p90,
/// max), a mock server's port, timestamps, the run ids of the run log and the binary's path. Use as `insta::with_settings!({filters => VARYING.to_vec()}, { ... })`.
pub const VARYING: &[(&str, &str)] = &[
    (r"\b\d+\.\d+ ms\b", "[T] ms"),
    (
        r"(?m)^(\S+ +\S+ +\d+ +\d+% +\d+ +\d+) +[\d.]+ +[\d.]+ +[\d.]+",
        "$1  [p50]  [p90]  [max]",
    ),
    (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
    (r"\b\d+\.\d+ s\b", "[T] s"),
    // The run log's lines: a start time, then a run id (`ba81d18d`, with `:N` a call in it).
    (r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?", "[TIME]"),
    (r"(?m)^\[TIME\]  [0-9a-f]{8}", "[TIME]  [RUN]"),
    // The command line a run log records starts with the binary's own path.
    (r"\S*/target/debug/llm-do\b", "llm-do"),
];

/// A snapshot of the whole tree under `dir` (paths and contents), to prove nothing changed.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            // llm-do's own state (the run log) is not part of the files a run wrote.
            if p.file_name().is_some_and(|n| n == ".llm-do") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// The repository root (the bundled example project).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary off the async runtime (the mock server lives on it).
pub async fn run(t: Test, args: &[&str]) -> (Test, Run) {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = t.run_with(&refs);
        (t, out)
    })
    .await
    .unwrap()
}
