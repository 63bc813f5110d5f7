//! Settings resolved once before any work: CLI flags over environment over `llm-do.toml` over
//! the user config (`$XDG_CONFIG_HOME/llm-do/config.toml`) over defaults. Commands read these,
//! never clap.

use std::path::PathBuf;

use crate::approval::Mode;

/// Default maximum nesting of worker calls.
pub const DEFAULT_MAX_DEPTH: u32 = 5;
/// Default maximum concurrent calls in fan-out.
pub const DEFAULT_MAX_PARALLEL: u32 = 8;
/// Default Rhai operation budget per evaluation.
pub const DEFAULT_MAX_OPERATIONS: u64 = 50_000_000;
/// CPU seconds one script evaluation may use on its own thread (`[limits] max_cpu_seconds`).
pub const DEFAULT_MAX_CPU_SECONDS: u64 = 30;

/// Read-only settings of one run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The project root.
    pub root: PathBuf,
    /// `--model`: overrides every worker.
    pub model_override: Option<String>,
    /// `LLM_DO_MODEL`.
    pub env_model: Option<String>,
    pub max_depth: u32,
    pub max_parallel: u32,
    pub max_operations: u64,
    /// CPU seconds one script evaluation may use on its own thread.
    pub max_cpu_seconds: u64,
    pub approval: Mode,
    /// Print results as JSON always.
    pub json: bool,
    pub verbosity: u8,
    pub quiet: bool,
    /// `--trace FILE`: where trace events go (for `shadow`: the trace to read).
    pub trace: Option<PathBuf>,
    /// `--record FILE`: the cassette to write at exit.
    pub record: Option<PathBuf>,
    /// `--replay FILE`: the cassette answering model requests.
    pub replay: Option<PathBuf>,
    /// `[limits]` budgets of the run.
    pub budget: Limits,
    /// Append calls to the run log (`--no-log`, `[log] enabled = false` turn it off).
    pub log: bool,
    /// `[log] retain_days`.
    pub log_retain_days: Option<u32>,
    /// `[log] max_mb`.
    pub log_max_mb: Option<f64>,
    /// `[log] max_value_kb`.
    pub log_max_value_kb: Option<u64>,
    /// The command only loads and checks the project (`check`): its engine parses scripts but
    /// never runs them, so it is built without Rhai's standard packages and the builtins.
    pub load_only: bool,
    /// Calls come from an MCP client (`llm-do mcp serve`): approvals are never asked on the
    /// terminal, and a denial for want of one says how to allow the call to a server.
    pub serving: bool,
    /// OpenTelemetry export of every call as a span (`OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// `[otel] endpoint`); `None`: off, and nothing of it is built.
    pub otel: Option<OtelSettings>,
}

impl Settings {
    /// Defaults for a project at `root` (used by tests and embedding).
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            model_override: None,
            env_model: None,
            max_depth: DEFAULT_MAX_DEPTH,
            max_parallel: DEFAULT_MAX_PARALLEL,
            max_operations: DEFAULT_MAX_OPERATIONS,
            max_cpu_seconds: DEFAULT_MAX_CPU_SECONDS,
            approval: Mode::Normal,
            json: false,
            verbosity: 0,
            quiet: false,
            trace: None,
            record: None,
            replay: None,
            budget: Limits::default(),
            log: false,
            log_retain_days: None,
            log_max_mb: None,
            log_max_value_kb: None,
            load_only: false,
            serving: false,
            otel: None,
        }
    }
}

/// The `[limits]` budgets of a run (DESIGN §15), enforced by `runtime::budget`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    pub max_cost_usd: Option<f64>,
    pub max_tokens: Option<u64>,
    pub max_requests: Option<u64>,
    pub max_worker_runs: Option<u64>,
}

/// Where OpenTelemetry spans go, when export is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtelSettings {
    /// The OTLP/HTTP traces URL: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as it is, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` or `[otel] endpoint` with `/v1/traces` appended.
    pub endpoint: String,
    /// `service.name` of the spans: `[otel] service_name`, else `llm-do`; `None` when
    /// `OTEL_SERVICE_NAME` names it (the SDK reads it).
    pub service_name: Option<String>,
}

impl OtelSettings {
    /// Export settings from the environment (`env`) over `[otel]`: on when
    /// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `OTEL_EXPORTER_OTLP_ENDPOINT` is set, or else
    /// `[otel] endpoint`; off (`None`) otherwise and whenever `OTEL_SDK_DISABLED=true`.
    pub fn resolve(
        endpoint: Option<&str>,
        service_name: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Option<Self> {
        use crate::env_vars::{
            OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_SDK_DISABLED,
            OTEL_SERVICE_NAME,
        };
        let set = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        if set(OTEL_SDK_DISABLED).is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
            return None;
        }
        let endpoint = set(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
            .map(|url| url.trim().to_owned())
            .or_else(|| set(OTEL_EXPORTER_OTLP_ENDPOINT).map(|base| traces_url(&base)))
            .or_else(|| endpoint.filter(|e| !e.trim().is_empty()).map(traces_url))?;
        let service_name = match set(OTEL_SERVICE_NAME) {
            Some(_) => None,
            None => Some(service_name.unwrap_or("llm-do").to_owned()),
        };
        Some(Self {
            endpoint,
            service_name,
        })
    }
}

/// The OTLP/HTTP traces URL under a base endpoint (as the OpenTelemetry SDKs do with
/// `OTEL_EXPORTER_OTLP_ENDPOINT`).
fn traces_url(base: &str) -> String {
    format!("{}/v1/traces", base.trim().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn otel_is_off_unless_an_endpoint_is_named() {
        assert_eq!(OtelSettings::resolve(None, Some("x"), env(&[])), None);
        assert_eq!(
            OtelSettings::resolve(Some("http://h:4318/"), None, env(&[])),
            Some(OtelSettings {
                endpoint: "http://h:4318/v1/traces".into(),
                service_name: Some("llm-do".into()),
            })
        );
        // The environment wins over llm-do.toml and is left to the exporter to read.
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://e:4318"),
            ("OTEL_SERVICE_NAME", "svc"),
        ];
        assert_eq!(
            OtelSettings::resolve(Some("http://h:4318"), Some("x"), env(&vars)),
            Some(OtelSettings {
                endpoint: "http://e:4318/v1/traces".into(),
                service_name: None,
            })
        );
        let traces = [
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "https://t/otlp/traces",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://e:4318"),
        ];
        assert_eq!(
            OtelSettings::resolve(None, None, env(&traces)).map(|o| o.endpoint),
            Some("https://t/otlp/traces".into())
        );
        let off = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://e:4318"),
            ("OTEL_SDK_DISABLED", "true"),
        ];
        assert_eq!(
            OtelSettings::resolve(Some("http://h"), None, env(&off)),
            None
        );
        assert_eq!(
            OtelSettings::resolve(None, None, env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "")])),
            None
        );
    }
}
