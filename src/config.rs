//! `llm-do.toml` (DESIGN §9): defaults, limits, approval rules, shell allowlist, providers.
//! Parsing is strict: unknown keys are errors with their location and a "did you mean".

mod checks;
mod parse;
pub mod user;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use checks::{is_identifier, is_model_id, unknown_provider};
pub use parse::{BUILTIN_PROVIDERS, check_merged, parse_config, parse_user_config};

// Sections parsed here but defined by the module that acts on them, so that module needs
// nothing from `config` (no import circle).
pub use crate::approval::{ApprovalRule, Decision};
pub use crate::model::providers::{ProviderConfig, Wire};
pub use crate::tools::shell::{ShellConfig, ShellRule};

/// The parsed `llm-do.toml`. Every section is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "is_default")]
    pub defaults: Defaults,
    #[serde(default, skip_serializing_if = "is_default")]
    pub limits: Limits,
    /// `[models]`: aliases, short name → model id or fallback chain (expanded by
    /// [`Config::expand_model`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, AliasTarget>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<ApprovalRule>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub shell: ShellConfig,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, ProviderConfig>,
    /// `[mcp.NAME]`: MCP servers usable as toolsets (`mcp.NAME`, `mcp.NAME.tool`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mcp: BTreeMap<String, McpServer>,
    /// `[log]`: the run log (DESIGN §14).
    #[serde(default, skip_serializing_if = "is_default")]
    pub log: LogConfig,
    /// `[prices."provider:model"]`: per-million-token prices over the shipped table.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prices: BTreeMap<String, crate::model::prices::Price>,
    /// `[eval]`: settings of `llm-do test`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub eval: Eval,
    /// `[stabilize] NAME = "worker" | "code" | "shadow" | "shadow-code" | "canary:P"`: which of
    /// a worker and a fn sharing NAME serves (DESIGN §14).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stabilize: BTreeMap<String, Stabilize>,
    /// `[serve]`: what `llm-do mcp serve` offers MCP clients.
    #[serde(default, skip_serializing_if = "is_default")]
    pub serve: Serve,
    /// `[otel]`: OpenTelemetry export (docs/observability.md).
    #[serde(default, skip_serializing_if = "is_default")]
    pub otel: Otel,
}

/// How a name shared by a worker and a fn is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Stabilize {
    /// The worker serves.
    Worker,
    /// The fn serves; a `defer()` answer hands the call to the worker.
    Code,
    /// Both run; the worker's answer is returned and disagreements are logged.
    Shadow,
    /// Both run; the fn's answer is returned and disagreements are logged.
    ShadowCode,
    /// This percentage of distinct inputs (by a hash of the input) goes to the fn.
    Canary(u8),
}

impl TryFrom<String> for Stabilize {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Ok(match s.as_str() {
            "worker" => Stabilize::Worker,
            "code" => Stabilize::Code,
            "shadow" => Stabilize::Shadow,
            "shadow-code" => Stabilize::ShadowCode,
            other => match other.strip_prefix("canary:").map(str::parse::<u8>) {
                Some(Ok(p)) if p <= 100 => Stabilize::Canary(p),
                _ => {
                    return Err(format!(
                        "`{s}` is not a stabilize mode: use \"worker\", \"code\", \"shadow\", \"shadow-code\" or \"canary:P\" (P from 0 to 100)"
                    ));
                }
            },
        })
    }
}

impl From<Stabilize> for String {
    fn from(s: Stabilize) -> String {
        s.to_string()
    }
}

impl std::fmt::Display for Stabilize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stabilize::Worker => f.write_str("worker"),
            Stabilize::Code => f.write_str("code"),
            Stabilize::Shadow => f.write_str("shadow"),
            Stabilize::ShadowCode => f.write_str("shadow-code"),
            Stabilize::Canary(p) => write!(f, "canary:{p}"),
        }
    }
}

/// The value of a `[models]` alias: one model id (or alias), or a fallback chain of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum AliasTarget {
    One(String),
    Chain(Vec<String>),
}

impl AliasTarget {
    /// The entries in order.
    #[must_use]
    pub fn entries(&self) -> &[String] {
        match self {
            AliasTarget::One(id) => std::slice::from_ref(id),
            AliasTarget::Chain(ids) => ids,
        }
    }
}

/// Why a model name could not be expanded through `[models]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("unknown model alias `{name}`{hint}")]
    Unknown { name: String, hint: String },
    #[error("model alias `{0}` refers to itself through {1}")]
    Loop(String, String),
    #[error("model alias `{0}` names an empty list")]
    Empty(String),
}

impl Config {
    /// `name` expanded through `[models]` into concrete model ids, in fallback order: a model
    /// id stays as it is, an alias is replaced by its entries (recursively). Duplicates after
    /// the first are dropped.
    ///
    /// # Errors
    ///
    /// A name that is neither a model id nor an alias (with a "did you mean"), an alias loop or
    /// an alias of an empty list.
    pub fn expand_model(&self, name: &str) -> Result<Vec<String>, AliasError> {
        let mut out = Vec::new();
        self.expand_into(name, &mut Vec::new(), &mut out)?;
        Ok(out)
    }

    fn expand_into(
        &self,
        name: &str,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), AliasError> {
        let Some(target) = self.models.get(name) else {
            if is_model_id(name) {
                if !out.iter().any(|o| o == name) {
                    out.push(name.to_owned());
                }
                return Ok(());
            }
            let hint = crate::suggest::did_you_mean(name, self.models.keys().map(String::as_str))
                .map(|h| format!("; {h}"))
                .unwrap_or_else(|| {
                    "; name a `[models]` alias of `llm-do.toml` or a model id `provider:model`"
                        .to_owned()
                });
            return Err(AliasError::Unknown {
                name: name.to_owned(),
                hint,
            });
        };
        if let Some(start) = stack.iter().position(|s| s == name) {
            let mut path: Vec<String> = stack[start..].iter().map(|s| format!("`{s}`")).collect();
            path.push(format!("`{name}`"));
            return Err(AliasError::Loop(name.to_owned(), path.join(" → ")));
        }
        if target.entries().is_empty() {
            return Err(AliasError::Empty(name.to_owned()));
        }
        stack.push(name.to_owned());
        for entry in target.entries() {
            self.expand_into(entry, stack, out)?;
        }
        stack.pop();
        Ok(())
    }
}

/// `[log]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `false` turns the run log off (default on).
    pub enabled: Option<bool>,
    /// Runs older than this many days are deleted when a run starts (default: kept).
    pub retain_days: Option<u32>,
    /// When a run starts, the oldest runs are deleted, each whole, while the log's pages in
    /// use pass this many megabytes (default: no limit).
    pub max_mb: Option<f64>,
    /// An input or output longer than this many KiB (as JSON) is stored as a truncation
    /// marker (default [`crate::log::DEFAULT_MAX_VALUE_KB`]).
    pub max_value_kb: Option<u64>,
}

/// `[otel]`: where every call goes as an OpenTelemetry span (the standard `OTEL_*`
/// environment variables win over these).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Otel {
    /// The OTLP/HTTP base endpoint, e.g. `http://localhost:6006` (`/v1/traces` is appended);
    /// unset: no export unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    pub endpoint: Option<String>,
    /// `service.name` of the spans (default `llm-do`).
    pub service_name: Option<String>,
}

/// `[serve]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Serve {
    /// The names `llm-do mcp serve` offers as tools, exactly (workers, fns, `[stabilize]`
    /// names). Unset: every worker, trusted fn and switch name except the approval policy
    /// `approve` and `script:` model fns.
    pub expose: Option<Vec<String>>,
}

/// `[eval]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Eval {
    /// Model that grades `judge` comparators (default: the model workers get).
    pub judge_model: Option<String>,
}

/// `[defaults]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Model id used when neither `--model`, the worker, nor `LLM_DO_MODEL` names one.
    pub model: Option<String>,
    /// Most tokens of one model reply for workers without `max_tokens:` (default
    /// [`crate::model::DEFAULT_MAX_TOKENS`]).
    pub max_tokens: Option<u32>,
}

/// `[limits]`
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Maximum nesting of worker calls (default 5).
    pub max_depth: Option<u32>,
    /// Maximum concurrent calls in `call_all`/`parallel` (default 8).
    pub max_parallel: Option<u32>,
    /// Rhai operation budget per script run (default 50 million).
    pub max_operations: Option<u64>,
    /// CPU seconds one script evaluation may use on its own thread (default 30); bounds work
    /// the operation count does not see, such as an array grown in a loop.
    pub max_cpu_seconds: Option<u64>,
    /// Most US dollars of model use per run (needs a price: shipped or `[prices]`).
    pub max_cost_usd: Option<f64>,
    /// Most model tokens (input, output and cache) per run.
    pub max_tokens: Option<u64>,
    /// Most model requests per run.
    pub max_requests: Option<u64>,
    /// Most worker runs per run (default 10,000): bounds runaway fan-out.
    pub max_worker_runs: Option<u64>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// `[mcp.NAME]`: an MCP server, either a stdio child process (`command`, `args`, `env`) or a
/// streamable HTTP endpoint (`url`, `headers_env`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct McpServer {
    /// Program started for a stdio server.
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment variables for it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Endpoint of a streamable HTTP server.
    pub url: Option<String>,
    /// HTTP header name → environment variable holding its value (e.g. a token).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers_env: BTreeMap<String, String>,
    /// Seconds one tool call may take (default 60), from a script or a model alike.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

#[cfg(test)]
mod tests;
