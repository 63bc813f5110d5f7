//! Every environment variable llm-do reads, in one place.

/// Default model id when no `--model` flag or worker `model` is given.
pub const LLM_DO_MODEL: &str = "LLM_DO_MODEL";

/// API key for `anthropic:` models.
pub const ANTHROPIC_API_KEY: &str = "ANTHROPIC_API_KEY";
/// Base URL of the Anthropic API (default `https://api.anthropic.com`).
pub const ANTHROPIC_BASE_URL: &str = "ANTHROPIC_BASE_URL";
/// API key for `openai:` models.
pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
/// Base URL of the OpenAI API (default `https://api.openai.com/v1`).
pub const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
/// Address of the Ollama server for `ollama:` models (default `http://localhost:11434`).
pub const OLLAMA_HOST: &str = "OLLAMA_HOST";

/// Path of the user config file (default: `llm-do/config.toml` in `$XDG_CONFIG_HOME`, i.e.
/// `~/.config`). Tests point it at a temp file.
pub const LLM_DO_CONFIG: &str = "LLM_DO_CONFIG";

/// Path of the REPL history file (default: `llm-do/history.txt` in the user's data directory).
pub const LLM_DO_HISTORY: &str = "LLM_DO_HISTORY";

/// Seconds one model request may take, response body included (default 300). Mostly for
/// slow local servers and for tests of timeouts.
pub const LLM_DO_HTTP_TIMEOUT_SECS: &str = "LLM_DO_HTTP_TIMEOUT_SECS";
/// Milliseconds before the first retry of a failed model request; doubles on each further
/// retry (default 500). Tests set it low to keep retries fast.
pub const LLM_DO_RETRY_BASE_MS: &str = "LLM_DO_RETRY_BASE_MS";
/// Total attempts of one model request, the first included (default 4; 1 disables retries).
pub const LLM_DO_RETRY_ATTEMPTS: &str = "LLM_DO_RETRY_ATTEMPTS";

/// OpenTelemetry export (docs/observability.md): the OTLP/HTTP base endpoint (`/v1/traces` is
/// appended); setting it turns export on.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The full OTLP/HTTP traces URL (used as it is); setting it turns export on.
pub const OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// `true` turns OpenTelemetry export off whatever else says.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// `service.name` of exported spans (default `llm-do`).
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// A W3C trace context: the run's root span becomes a child of this span.
pub const TRACEPARENT: &str = "TRACEPARENT";
/// The W3C trace state that goes with [`TRACEPARENT`].
pub const TRACESTATE: &str = "TRACESTATE";
