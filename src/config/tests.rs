use std::path::Path;

use super::*;

const FULL: &str = r#"
[defaults]
model = "anthropic:claude-haiku-4-5"

[limits]
max_depth = 5
max_parallel = 8
max_operations = 1000

[[approvals]]
tool = "write_file"
path = "output/**"
decision = "approve"

[[approvals]]
tool = "shell"
command = "git *"
decision = "prompt"

[shell]
allow = [{ prefix = "git status", approval = false }, { prefix = "wc" }]
timeout = 10

[providers.local]
base_url = "http://localhost:8000/v1"
api_key_env = "LOCAL_KEY"
wire = "openai"
"#;

fn parse(text: &str) -> Result<Config, Box<Located>> {
    parse_config(Path::new("llm-do.toml"), text)
}

/// The error's message, `line:col` of its span start, and help.
fn fail(text: &str) -> (String, String, Option<String>) {
    let e = parse(text).expect_err("expected an error");
    (e.message.clone(), e.line_col(text), e.help.clone())
}

use crate::error::Located;

#[test]
fn parses_every_section() {
    let c = parse(FULL).unwrap();
    assert_eq!(
        c.defaults.model.as_deref(),
        Some("anthropic:claude-haiku-4-5")
    );
    assert_eq!(
        c.limits,
        Limits {
            max_depth: Some(5),
            max_parallel: Some(8),
            max_operations: Some(1000),
            ..Limits::default()
        }
    );
    assert_eq!(c.approvals.len(), 2);
    assert_eq!(c.approvals[0].path.as_deref(), Some("output/**"));
    assert_eq!(c.approvals[1].decision, Decision::Prompt);
    assert_eq!(
        c.shell.allow[0],
        ShellRule {
            prefix: "git status".into(),
            approval: false,
            protected: false,
        }
    );
    assert!(c.shell.allow[1].approval);
    assert_eq!(c.shell.timeout, Some(10));
    let local = &c.providers["local"];
    assert_eq!(
        (local.base_url.as_str(), local.wire),
        ("http://localhost:8000/v1", Some(Wire::Openai))
    );
    assert_eq!(local.api_key_env.as_deref(), Some("LOCAL_KEY"));
}

#[test]
fn empty_file_is_all_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
}

#[test]
fn unknown_key_with_suggestion() {
    let (msg, at, help) = fail("[defaults]\nmodle = \"x:y\"\n");
    assert_eq!(msg, "unknown key `modle` in `[defaults]`");
    assert_eq!(at, "2:1");
    assert_eq!(help.as_deref(), Some("did you mean `model`?"));
    let (msg, at, help) = fail("[defualts]\nmodel = \"x:y\"\n");
    assert_eq!(msg, "unknown section `defualts` in `llm-do.toml`");
    assert_eq!(at, "1:2");
    assert_eq!(help.as_deref(), Some("did you mean `defaults`?"));
    let (msg, at, help) = fail("[shell]\nallow = [{ prefix = \"git\", aproval = false }]\n");
    assert_eq!(msg, "unknown key `aproval` in `[[shell.allow]]`");
    assert_eq!(at, "2:28");
    assert_eq!(help.as_deref(), Some("did you mean `approval`?"));
    let (msg, _, help) =
        fail("[providers.local]\nbase_url = \"http://x\"\nwire = \"openai\"\nzzz = 1\n");
    assert_eq!(msg, "unknown key `zzz` in `[providers.local]`");
    assert_eq!(
        help.as_deref(),
        Some(
            "valid keys are `base_url`, `api_key_env`, `wire`, `requests_per_minute`, `max_concurrent`"
        )
    );
    let (msg, at, _) = fail("[limits]\nmax_dept = 3\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        ("unknown key `max_dept` in `[limits]`", "2:1")
    );
}

#[test]
fn wrong_value_types() {
    let (msg, at, _) = fail("[limits]\nmax_depth = \"five\"\n");
    assert_eq!(
        msg,
        "`max_depth` must be a non-negative integer, found the string \"five\""
    );
    assert_eq!(at, "2:13");
    let (msg, _, _) = fail("[limits]\nmax_parallel = -1\n");
    assert_eq!(
        msg,
        "`max_parallel` must be a non-negative integer, found `-1`"
    );
    let (msg, _, _) = fail("providers = 3\n");
    assert_eq!(msg, "`providers` must be a table, found `3`");
    let (msg, at, help) = fail("[[approvals]]\ntool = \"x\"\ndecision = \"aprove\"\n");
    assert_eq!(msg, "unknown value `aprove` for `decision`");
    assert_eq!(at, "3:12");
    assert_eq!(help.as_deref(), Some("did you mean `approve`?"));
    let (msg, at, _) = fail("[[approvals]]\ntool = \"x\"\n");
    assert_eq!(msg, "missing key `decision` in `[[approvals]]`");
    assert_eq!(at, "1:1");
}

#[test]
fn syntax_errors() {
    let (msg, at, _) = fail("[limits\n");
    assert_eq!(msg, "invalid TOML: unclosed table, expected `]`");
    assert_eq!(at, "1:8");
}

#[test]
fn bad_globs() {
    let (msg, at, _) =
        fail("[[approvals]]\ntool = \"write_file\"\npath = \"out/[a\"\ndecision = \"approve\"\n");
    assert_eq!(
        msg,
        "invalid glob `out/[a` in `path`: unclosed character class; missing ']'"
    );
    assert_eq!(at, "3:8");
    let (msg, at, _) = fail("[[approvals]]\ntool = \"{a\"\ndecision = \"reject\"\n");
    assert!(msg.starts_with("invalid glob `{a` in `tool`"), "{msg}");
    assert_eq!(at, "2:8");
}

#[test]
fn bad_limits() {
    let (msg, at, _) = fail("[limits]\nmax_parallel = 0\n");
    assert_eq!(msg, "`max_parallel` must be at least 1");
    assert_eq!(at, "2:16");
    let (msg, _, _) = fail("[limits]\nmax_depth = 0\n");
    assert_eq!(msg, "`max_depth` must be at least 1");
}

#[test]
fn bad_providers() {
    let (msg, at, help) = fail("[providers.openai]\nbase_url = \"http://x\"\nwire = \"openai\"\n");
    assert_eq!(msg, "provider `openai` is built in and cannot be redefined");
    assert_eq!(at, "1:12");
    assert!(help.unwrap().contains("OPENAI_BASE_URL"));
    // Rate limits alone are fine for a built-in provider.
    let c = parse("[providers.openai]\nmax_concurrent = 4\n").unwrap();
    assert_eq!(c.providers["openai"].max_concurrent, Some(4));
    let (msg, at, _) = fail("[providers.local]\nwire = \"openai\"\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        ("provider `local` needs `base_url`", "1:12")
    );
    let (msg, _, help) = fail("[providers.local]\nbase_url = \"http://x\"\n");
    assert_eq!(msg, "provider `local` needs `wire`");
    assert_eq!(
        help.as_deref(),
        Some("`wire = \"openai\"` or `wire = \"anthropic\"`: the API the endpoint speaks")
    );
    let (msg, at, _) = fail("[providers.\"my-llm\"]\nbase_url = \"http://x\"\nwire = \"openai\"\n");
    assert_eq!(msg, "invalid provider name `my-llm`");
    assert_eq!(at, "1:12");
    let (msg, at, _) =
        fail("[providers.local]\nbase_url = \"localhost:8000\"\nwire = \"openai\"\n");
    assert_eq!(
        msg,
        "`base_url` of provider `local` must start with `http://` or `https://`"
    );
    assert_eq!(at, "2:12");
}

#[test]
fn bad_default_model_and_shell() {
    let (msg, at, _) = fail("[defaults]\nmodel = \"haiku\"\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        (
            "unknown model alias `haiku`; name a `[models]` alias of `llm-do.toml` or a model id `provider:model`",
            "2:9"
        )
    );
    let (msg, at, _) = fail("[shell]\nallow = [{ prefix = \" \" }]\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        ("shell `prefix` is empty", "2:21")
    );
}

#[test]
fn mcp_servers_parse_and_are_checked() {
    let c = parse("[mcp.echo]\ncommand = \"srv\"\nargs = [\"-v\"]\nenv = { A = \"1\" }\n\n[mcp.gh]\nurl = \"https://x/mcp\"\nheaders_env = { Authorization = \"GH_TOKEN\" }\n").unwrap();
    assert_eq!(c.mcp["echo"].command.as_deref(), Some("srv"));
    assert_eq!(c.mcp["echo"].args, vec!["-v".to_string()]);
    assert_eq!(c.mcp["gh"].headers_env["Authorization"], "GH_TOKEN");
    let (msg, _, help) = fail("[mcp.echo]\ncomand = \"srv\"\n");
    assert_eq!(msg, "unknown key `comand` in `[mcp.echo]`");
    assert!(help.unwrap().contains("command"));
    let (msg, _, _) = fail("[mcp.echo]\nargs = []\n");
    assert_eq!(msg, "mcp server `echo` needs `command` or `url`");
    let (msg, _, _) = fail("[mcp.echo]\ncommand = \"a\"\nurl = \"http://x\"\n");
    assert_eq!(msg, "mcp server `echo` has both `command` and `url`");
    let (msg, _, _) = fail("[mcp.echo]\nurl = \"ftp://x\"\n");
    assert!(msg.contains("must start with `http://`"), "{msg}");
    let (msg, _, _) = fail("[mcp.\"a-b\"]\ncommand = \"a\"\n");
    assert_eq!(msg, "invalid mcp server name `a-b`");
}

#[test]
fn shell_env_lists_extra_variables_but_never_secrets() {
    let c = parse("[shell]\nenv = [\"CARGO_HOME\", \"RUST_LOG\"]\n").unwrap();
    assert_eq!(c.shell.env, ["CARGO_HOME", "RUST_LOG"]);
    let (msg, at, help) = fail("[shell]\nenv = [\"PATH2\", \"OPENAI_API_KEY\"]\n");
    assert_eq!(
        msg,
        "`[shell] env` must not pass `OPENAI_API_KEY` to commands: it is a provider key"
    );
    assert_eq!(at, "2:17");
    assert!(help.unwrap().contains("secrets"));
    let (msg, _, _) = fail(
        "[shell]\nenv = [\"GH_TOKEN\"]\n[mcp.gh]\nurl = \"https://x\"\nheaders_env = { Authorization = \"GH_TOKEN\" }\n",
    );
    assert_eq!(
        msg,
        "`[shell] env` must not pass `GH_TOKEN` to commands: it is a header secret of MCP server `gh`"
    );
    let (msg, _, _) = fail(
        "[shell]\nenv = [\"LOCAL_KEY\"]\n[providers.local]\nbase_url = \"http://x\"\napi_key_env = \"LOCAL_KEY\"\nwire = \"openai\"\n",
    );
    assert!(
        msg.ends_with("it is the API key of provider `local`"),
        "{msg}"
    );
    let (msg, _, _) = fail("[shell]\nenv = [\"A=B\"]\n");
    assert_eq!(
        msg,
        "invalid environment variable name `A=B` in `[shell] env`"
    );
}

#[test]
fn eval_judge_model_is_a_model_id() {
    let config = parse("[eval]\njudge_model = \"script:judge\"\n").unwrap();
    assert_eq!(config.eval.judge_model.as_deref(), Some("script:judge"));
    let (msg, at, _) = fail("[eval]\njudge_model = \"haiku\"\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        (
            "unknown model alias `haiku`; name a `[models]` alias of `llm-do.toml` or a model id `provider:model`",
            "2:15"
        )
    );
    let (msg, at, help) = fail("[eval]\njudge = \"test\"\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        ("unknown key `judge` in `[eval]`", "2:1")
    );
    assert_eq!(help.as_deref(), Some("did you mean `judge_model`?"));
}

#[test]
fn aliases_expand_to_chains() {
    let config = parse(
        "[models]\nfast = \"anthropic:claude-haiku-4-5\"\nsmart = [\"anthropic:claude-sonnet-4-5\", \"openai:gpt-4.1\"]\n\
         both = [\"fast\", \"smart\", \"fast\"]\n[defaults]\nmodel = \"both\"\n",
    )
    .unwrap();
    assert_eq!(
        config.expand_model("both").unwrap(),
        [
            "anthropic:claude-haiku-4-5",
            "anthropic:claude-sonnet-4-5",
            "openai:gpt-4.1"
        ]
    );
    assert_eq!(config.expand_model("openai:x").unwrap(), ["openai:x"]);
    assert_eq!(
        config.expand_model("fats").unwrap_err().to_string(),
        "unknown model alias `fats`; did you mean `fast`?"
    );
}

#[test]
fn alias_errors_are_located() {
    let (msg, at, _) = fail("[models]\nfast = \"quick\"\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        (
            "unknown model alias `quick`; name a `[models]` alias of `llm-do.toml` or a model id `provider:model`",
            "2:8"
        )
    );
    let (msg, at, _) = fail("[models]\na = \"b\"\nb = [\"openai:x\", \"a\"]\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        (
            "model alias `b` refers to itself through `b` → `a` → `b`",
            "2:5"
        )
    );
    let (msg, at, help) = fail("[models]\nfast = [\"openai:x\", \"opnai:y\"]\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        (
            "unknown provider `opnai` in model id `opnai:y`; did you mean `openai`?",
            "2:21"
        )
    );
    assert!(help.unwrap().contains("[providers.NAME]"));
    let (msg, at, _) = fail("[models]\nnone = []\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        ("model alias `none` names an empty list", "2:8")
    );
}

#[test]
fn rate_limits_are_at_least_one() {
    let config = parse(
        "[providers.local]\nbase_url = \"http://x\"\nwire = \"openai\"\nrequests_per_minute = 60\nmax_concurrent = 2\n",
    )
    .unwrap();
    assert_eq!(config.providers["local"].max_concurrent, Some(2));
    let (msg, at, _) =
        fail("[providers.local]\nbase_url = \"http://x\"\nwire = \"openai\"\nmax_concurrent = 0\n");
    assert_eq!(
        (msg.as_str(), at.as_str()),
        (
            "`max_concurrent` of provider `local` must be at least 1",
            "4:18"
        )
    );
}

#[test]
fn model_ids_need_a_provider() {
    use super::is_model_id;
    assert!(is_model_id("test"));
    assert!(is_model_id("anthropic:claude-haiku-4-5"));
    assert!(is_model_id("script:fake"));
    assert!(!is_model_id("gpt"));
    assert!(!is_model_id(":x"));
    assert!(!is_model_id("a:"));
}
