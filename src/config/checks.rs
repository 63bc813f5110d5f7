//! Checks on a deserialized `llm-do.toml` that its types cannot express: limits of at least
//! one, globs that compile, provider names and URLs, model ids. Each failure names the path
//! of the offending value; the caller turns that into a located error.

use super::parse::{BUILTIN_PROVIDERS, Seg};
use super::{Config, Limits};
use crate::env_vars;
use crate::error::Located;

/// Builds the located error for the value at a path, with a message and an optional hint.
pub type At<'a> = &'a dyn Fn(&[Seg], String, Option<&str>) -> Box<Located>;

fn key(name: &str) -> Seg {
    Seg::Key(name.to_owned())
}

/// Run every check, stopping at the first failure.
///
/// # Errors
///
/// The located error built by `at` for the first invalid value.
pub fn check(config: &Config, at: At) -> Result<(), Box<Located>> {
    let named = [
        (&config.defaults.model, "defaults", "model"),
        (&config.eval.judge_model, "eval", "judge_model"),
    ];
    for (model, table, field) in named {
        if let Some(model) = model {
            model_name(config, model, &[key(table), key(field)], at)?;
        }
    }
    for (alias, target) in &config.models {
        for (i, entry) in target.entries().iter().enumerate() {
            let mut path = vec![key("models"), key(alias)];
            if matches!(target, super::AliasTarget::Chain(_)) {
                path.push(Seg::Index(i));
            }
            if !is_model_id(entry) && !config.models.contains_key(entry) && !is_identifier(entry) {
                return Err(at(
                    &path,
                    format!("invalid model id `{entry}` for alias `{alias}`"),
                    Some("model ids look like `anthropic:claude-haiku-4-5`"),
                ));
            }
            model_name(config, entry, &path, at)?;
        }
        if let Err(e) = config.expand_model(alias) {
            return Err(at(&[key("models"), key(alias)], e.to_string(), None));
        }
    }
    if config.defaults.max_tokens == Some(0) {
        return Err(at(
            &[key("defaults"), key("max_tokens")],
            "`max_tokens` must be at least 1".into(),
            Some("omit it to use the default (4096)"),
        ));
    }
    limits(&config.limits, at)?;
    approvals(config, at)?;
    shell(config, at)?;
    providers(config, at)?;
    mcp(config, at)
}

/// Checks a model name of the config: a model id of a known provider, or a known alias.
fn model_name(config: &Config, name: &str, path: &[Seg], at: At) -> Result<(), Box<Located>> {
    if let Err(e) = config.expand_model(name) {
        let hint = Some(
            "model ids look like `anthropic:claude-haiku-4-5`, `test` or `script:NAME`; \
             aliases are keys of `[models]`",
        );
        return Err(at(path, e.to_string(), hint));
    }
    if let Some(message) = unknown_provider(config, name) {
        return Err(at(
            path,
            message,
            Some("add it as `[providers.NAME]` in `llm-do.toml`"),
        ));
    }
    Ok(())
}

/// The complaint about a model id whose provider is neither built in nor configured (with a
/// "did you mean"); `None` for aliases and known providers.
#[must_use]
pub fn unknown_provider(config: &Config, id: &str) -> Option<String> {
    let (provider, _) = id.split_once(':')?;
    if BUILTIN_PROVIDERS.contains(&provider)
        || provider == "replay"
        || config.providers.contains_key(provider)
    {
        return None;
    }
    let known = BUILTIN_PROVIDERS
        .iter()
        .copied()
        .chain(config.providers.keys().map(String::as_str));
    let hint = crate::suggest::did_you_mean(provider, known)
        .map(|h| format!("; {h}"))
        .unwrap_or_default();
    Some(format!(
        "unknown provider `{provider}` in model id `{id}`{hint}"
    ))
}

/// Whether `id` looks like `provider:model`.
#[must_use]
pub fn is_model_id(id: &str) -> bool {
    id == crate::model::test::TEST_MODEL_ID
        || id
            .split_once(':')
            .is_some_and(|(provider, model)| is_identifier(provider) && !model.trim().is_empty())
}

fn limits(limits: &Limits, at: At) -> Result<(), Box<Located>> {
    for (name, value) in [
        ("max_depth", limits.max_depth.map(u64::from)),
        ("max_parallel", limits.max_parallel.map(u64::from)),
        ("max_operations", limits.max_operations),
        ("max_cpu_seconds", limits.max_cpu_seconds),
    ] {
        if value == Some(0) {
            return Err(at(
                &[key("limits"), key(name)],
                format!("`{name}` must be at least 1"),
                Some("omit it to use the default"),
            ));
        }
    }
    Ok(())
}

/// `[[approvals]]` globs, compiled as the gate compiles them when a run starts.
fn approvals(config: &Config, at: At) -> Result<(), Box<Located>> {
    let Err(e) = crate::approval::Gate::new(crate::approval::Mode::Normal, &config.approvals)
    else {
        return Ok(());
    };
    Err(at(
        &[key("approvals"), Seg::Index(e.number - 1), key(e.field)],
        format!("invalid glob `{}` in `{}`: {}", e.glob, e.field, e.message),
        Some("globs use `*`, `**`, `?`, `[abc]` and `{a,b}`"),
    ))
}

/// `[shell]`: allow rules, the variables `env` passes (never a secret of `config`, which is
/// the merged config once the user config is in), the timeout.
pub(super) fn shell(config: &Config, at: At) -> Result<(), Box<Located>> {
    for (i, rule) in config.shell.allow.iter().enumerate() {
        if rule.prefix.trim().is_empty() {
            return Err(at(
                &[key("shell"), key("allow"), Seg::Index(i), key("prefix")],
                "shell `prefix` is empty".to_owned(),
                Some(
                    "an empty prefix would allow every command; name the command, e.g. `git status`",
                ),
            ));
        }
    }
    for (i, name) in config.shell.env.iter().enumerate() {
        let at_name = || [key("shell"), key("env"), Seg::Index(i)];
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(at(
                &at_name(),
                format!("invalid environment variable name `{name}` in `[shell] env`"),
                None,
            ));
        }
        if let Some(why) = secret_variable(config, name) {
            return Err(at(
                &at_name(),
                format!("`[shell] env` must not pass `{name}` to commands: it is {why}"),
                Some(
                    "shell commands run with arguments a model chose; keep secrets out of their environment",
                ),
            ));
        }
    }
    if config.shell.timeout == Some(0) {
        return Err(at(
            &[key("shell"), key("timeout")],
            "`timeout` must be at least 1 second".to_owned(),
            None,
        ));
    }
    Ok(())
}

/// Why `name` holds a secret: a provider key (`*_API_KEY`, a provider's `api_key_env`, the
/// project's or the user config's) or an MCP server's `headers_env` variable.
fn secret_variable(config: &Config, name: &str) -> Option<String> {
    if crate::tools::shell::is_secret_name(name) {
        return Some(String::from("a provider key"));
    }
    if let Some((provider, _)) = config
        .providers
        .iter()
        .find(|(_, p)| p.api_key_env.as_deref() == Some(name))
    {
        return Some(format!("the API key of provider `{provider}`"));
    }
    config
        .mcp
        .iter()
        .find(|(_, server)| server.headers_env.values().any(|v| v == name))
        .map(|(server, _)| format!("a header secret of MCP server `{server}`"))
}

fn providers(config: &Config, at: At) -> Result<(), Box<Located>> {
    for (name, provider) in &config.providers {
        let path = [key("providers"), key(name)];
        if !is_identifier(name) {
            return Err(at(
                &path,
                format!("invalid provider name `{name}`"),
                Some(
                    "provider names use letters, digits and `_`; they prefix model ids as `name:model`",
                ),
            ));
        }
        let redefines = !provider.base_url.is_empty()
            || provider.wire.is_some()
            || provider.api_key_env.is_some();
        if BUILTIN_PROVIDERS.contains(&name.as_str()) && redefines {
            return Err(at(
                &path,
                format!("provider `{name}` is built in and cannot be redefined"),
                Some(&match base_url_variable(name) {
                    Some(var) => format!(
                        "choose another name, e.g. `{name}_local`, or set `{var}` to move the built-in provider; its table takes only `requests_per_minute` and `max_concurrent`"
                    ),
                    None => format!("choose another name, e.g. `{name}_local`"),
                }),
            ));
        }
        for (field, value) in [
            ("requests_per_minute", provider.requests_per_minute),
            ("max_concurrent", provider.max_concurrent),
        ] {
            if value == Some(0) {
                return Err(at(
                    &[key("providers"), key(name), key(field)],
                    format!("`{field}` of provider `{name}` must be at least 1"),
                    Some("omit it for no limit"),
                ));
            }
        }
        if BUILTIN_PROVIDERS.contains(&name.as_str()) {
            continue;
        }
        if provider.base_url.is_empty() {
            return Err(at(
                &path,
                format!("provider `{name}` needs `base_url`"),
                Some("e.g. `base_url = \"http://localhost:8000/v1\"`"),
            ));
        }
        if provider.wire.is_none() {
            return Err(at(
                &path,
                format!("provider `{name}` needs `wire`"),
                Some("`wire = \"openai\"` or `wire = \"anthropic\"`: the API the endpoint speaks"),
            ));
        }
        let url = provider.base_url.as_str();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(at(
                &[key("providers"), key(name), key("base_url")],
                format!("`base_url` of provider `{name}` must start with `http://` or `https://`"),
                Some(&format!("e.g. `http://localhost:8000/v1`, not `{url}`")),
            ));
        }
    }
    Ok(())
}

/// The environment variable that moves a built-in provider, for hints.
fn base_url_variable(provider: &str) -> Option<&'static str> {
    match provider {
        "anthropic" => Some(env_vars::ANTHROPIC_BASE_URL),
        "openai" => Some(env_vars::OPENAI_BASE_URL),
        "ollama" => Some(env_vars::OLLAMA_HOST),
        _ => None,
    }
}

fn mcp(config: &Config, at: At) -> Result<(), Box<Located>> {
    for (name, server) in &config.mcp {
        let path = [key("mcp"), key(name)];
        if !is_identifier(name) {
            return Err(at(
                &path,
                format!("invalid mcp server name `{name}`"),
                Some(
                    "mcp server names use letters, digits and `_`; tools are named `mcp.NAME.tool`",
                ),
            ));
        }
        if server.timeout_secs == Some(0) {
            return Err(at(
                &[key("mcp"), key(name), key("timeout_secs")],
                format!("`timeout_secs` of mcp server `{name}` must be at least 1"),
                Some("it is how long one tool call may take; leave it out for the default, 60"),
            ));
        }
        match (&server.command, &server.url) {
            (Some(_), Some(_)) => {
                return Err(at(
                    &[key("mcp"), key(name), key("url")],
                    format!("mcp server `{name}` has both `command` and `url`"),
                    Some("use `command` for a stdio server or `url` for a streamable HTTP server"),
                ));
            }
            (None, None) => {
                return Err(at(
                    &path,
                    format!("mcp server `{name}` needs `command` or `url`"),
                    Some("e.g. `command = \"npx\"` with `args`, or `url = \"https://...\"`"),
                ));
            }
            (Some(command), None) => {
                if command.trim().is_empty() {
                    return Err(at(
                        &[key("mcp"), key(name), key("command")],
                        format!("`command` of mcp server `{name}` is empty"),
                        None,
                    ));
                }
                if !server.headers_env.is_empty() {
                    return Err(at(
                        &[key("mcp"), key(name), key("headers_env")],
                        format!("`headers_env` of mcp server `{name}` needs `url`"),
                        Some("stdio servers take `env` instead"),
                    ));
                }
            }
            (None, Some(url)) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(at(
                        &[key("mcp"), key(name), key("url")],
                        format!(
                            "`url` of mcp server `{name}` must start with `http://` or `https://`"
                        ),
                        None,
                    ));
                }
                if !server.args.is_empty() || !server.env.is_empty() {
                    let field = if server.args.is_empty() {
                        "env"
                    } else {
                        "args"
                    };
                    return Err(at(
                        &[key("mcp"), key(name), key(field)],
                        format!("`{field}` of mcp server `{name}` needs `command`"),
                        Some("HTTP servers take `headers_env` instead"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Whether `s` is `[A-Za-z_][A-Za-z0-9_]*`.
#[must_use]
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
