//! Resolution of `provider:model` ids to HTTP models (DESIGN §7): the built-in `anthropic:`,
//! `openai:` and `ollama:` providers and the named endpoints of `[providers.NAME]` in
//! `llm-do.toml` (which take precedence, so a config can point `openai` at a proxy).
//!
//! The offline `test` model and `script:` models are resolved by the caller before this.
//! Settings carry their own environment lookup, so resolution never reads global state.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::env_vars;
use crate::suggest::{did_you_mean, quoted};

use super::http::{ApiKey, Endpoint, RetryPolicy};
use super::http_model::HttpModel;
use super::limit::Limiter;
use super::wire::join_url;
use super::{ModelError, SharedModel};

/// Wire format of a named provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Wire {
    Openai,
    Anthropic,
}

/// `[providers.NAME]`: an OpenAI- or Anthropic-compatible endpoint (`base_url` and `wire`
/// required), or the rate limits of a built-in provider (`[providers.anthropic]` with only
/// `requests_per_minute`/`max_concurrent`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Empty for a built-in provider.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub base_url: String,
    /// Environment variable holding the API key (none: no auth header).
    pub api_key_env: Option<String>,
    /// `None` for a built-in provider.
    pub wire: Option<Wire>,
    /// Most requests started per minute by the whole process (a token bucket).
    pub requests_per_minute: Option<u32>,
    /// Most requests in flight at once across the whole process.
    pub max_concurrent: Option<u32>,
}

/// Default base URL of `anthropic:`.
pub const ANTHROPIC_DEFAULT_BASE: &str = "https://api.anthropic.com";
/// Default base URL of `openai:`.
pub const OPENAI_DEFAULT_BASE: &str = "https://api.openai.com/v1";
/// Default address of `ollama:`.
pub const OLLAMA_DEFAULT_HOST: &str = "http://localhost:11434";

/// The built-in HTTP providers.
const BUILTIN: [&str; 3] = ["anthropic", "ollama", "openai"];
/// Providers handled before [`resolve`] (offered in "did you mean" hints only).
const RESOLVED_ELSEWHERE: [&str; 2] = ["test", "script"];

/// Looks up an environment variable.
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// Everything model resolution needs: the shared client, configured providers, an environment
/// lookup, the retry policy and whether to stream.
#[derive(Clone)]
pub struct ProviderSettings {
    pub client: reqwest::Client,
    /// `[providers.NAME]` tables of `llm-do.toml`.
    pub providers: BTreeMap<String, ProviderConfig>,
    pub env: EnvLookup,
    pub retry: RetryPolicy,
    /// Request SSE streams (text deltas reach the caller's sink as they arrive).
    pub stream: bool,
    /// Rate limiters of the named providers that set limits, made on first use and shared by
    /// every model (and clone of these settings) in the process.
    limiters: Arc<Mutex<HashMap<String, Arc<Limiter>>>>,
}

impl ProviderSettings {
    /// Settings that read the process environment, with the default retry policy and no
    /// streaming.
    pub fn new(client: reqwest::Client, providers: BTreeMap<String, ProviderConfig>) -> Self {
        Self {
            client,
            providers,
            env: Arc::new(|name| std::env::var(name).ok()),
            retry: RetryPolicy::default(),
            stream: false,
            limiters: Arc::default(),
        }
    }

    /// The shared limiter of provider `name`, when its table sets limits.
    fn limiter(&self, name: &str, config: &ProviderConfig) -> Option<Arc<Limiter>> {
        let mut limiters = crate::sync::lock(&self.limiters);
        if let Some(l) = limiters.get(name) {
            return Some(l.clone());
        }
        let limiter = Arc::new(Limiter::new(
            config.requests_per_minute,
            config.max_concurrent,
        )?);
        limiters.insert(name.to_owned(), limiter.clone());
        Some(limiter)
    }

    /// Replaces the environment with a fixed snapshot (tests, reproducible runs).
    #[must_use]
    pub fn with_env(mut self, vars: HashMap<String, String>) -> Self {
        self.env = Arc::new(move |name| vars.get(name).cloned());
        self
    }

    /// The variable's value, treating an empty value as unset.
    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.trim().is_empty())
    }

    fn key(&self, var: &str) -> Result<ApiKey, ModelError> {
        let value = self.var(var).ok_or_else(|| ModelError::MissingKey {
            var: var.to_owned(),
        })?;
        Ok(ApiKey::new(value.trim(), var))
    }
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("providers", &self.providers)
            .field("retry", &self.retry)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// Resolves `provider:model` to a model speaking its provider's wire, sharing the process's
/// client and its provider's rate limits (a built-in provider's table holds only those).
/// Errors: an id without a provider or model, an unknown provider (with a "did you mean"), or
/// a missing API key (naming its variable).
pub fn resolve(id: &str, settings: &ProviderSettings) -> Result<SharedModel, ModelError> {
    let (provider, name) = split_id(id)?;
    let config = settings.providers.get(provider);
    let base = |var: &str, default: &str| settings.var(var).unwrap_or_else(|| default.to_owned());
    let (wire, base, key, keyless_hint) = match (provider, config) {
        (_, Some(config)) if !BUILTIN.contains(&provider) => (
            config.wire.unwrap_or(Wire::Openai),
            config.base_url.clone(),
            config
                .api_key_env
                .as_deref()
                .map(|var| settings.key(var))
                .transpose()?,
            Some(format!(
                "set `api_key_env` under `[providers.{provider}]` in `llm-do.toml`"
            )),
        ),
        ("anthropic", _) => (
            Wire::Anthropic,
            base(env_vars::ANTHROPIC_BASE_URL, ANTHROPIC_DEFAULT_BASE),
            Some(settings.key(env_vars::ANTHROPIC_API_KEY)?),
            None,
        ),
        ("openai", _) => (
            Wire::Openai,
            base(env_vars::OPENAI_BASE_URL, OPENAI_DEFAULT_BASE),
            Some(settings.key(env_vars::OPENAI_API_KEY)?),
            None,
        ),
        ("ollama", _) => {
            let host = ollama_host(&base(env_vars::OLLAMA_HOST, OLLAMA_DEFAULT_HOST));
            (Wire::Openai, join_url(&host, "v1"), None, None)
        }
        _ => return Err(unknown_provider(id, provider, settings)),
    };
    let endpoint = Endpoint {
        provider: provider.to_owned(),
        url: match wire {
            Wire::Openai => join_url(&base, "chat/completions"),
            Wire::Anthropic => anthropic_url(&base),
        },
        key,
        keyless_hint,
    };
    Ok(Arc::new(HttpModel {
        id: id.to_owned(),
        name: name.to_owned(),
        client: settings.client.clone(),
        endpoint,
        retry: settings.retry,
        stream: settings.stream,
        limiter: config.and_then(|c| settings.limiter(provider, c)),
        wire,
    }))
}

/// Splits `provider:model` at the first colon (model names may hold colons: `ollama:qwen3:8b`).
fn split_id(id: &str) -> Result<(&str, &str), ModelError> {
    match id.split_once(':') {
        Some((provider, name)) if !provider.is_empty() && !name.trim().is_empty() => {
            Ok((provider, name))
        }
        Some((provider, _)) if !provider.is_empty() => Err(ModelError::Other(format!(
            "model id `{id}` names no model; write it as `{provider}:MODEL`"
        ))),
        _ => Err(ModelError::Other(format!(
            "model id `{id}` names no provider; write it as `provider:model`, e.g. `openai:{}`",
            id.trim_start_matches(':')
        ))),
    }
}

/// The Messages URL for a base given with or without its `/v1` suffix.
fn anthropic_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/v1") {
        join_url(base, "messages")
    } else {
        join_url(base, "v1/messages")
    }
}

/// `OLLAMA_HOST` as a URL: Ollama accepts `host:port` without a scheme.
fn ollama_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    if host.contains("://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    }
}

fn unknown_provider(id: &str, provider: &str, settings: &ProviderSettings) -> ModelError {
    let mut known: Vec<&str> = BUILTIN.iter().chain(&RESOLVED_ELSEWHERE).copied().collect();
    known.extend(settings.providers.keys().map(String::as_str));
    known.sort_unstable();
    known.dedup();
    let hint = did_you_mean(provider, known.iter().copied())
        .unwrap_or_else(|| format!("known providers: {}", quoted(&known)));
    ModelError::Other(format!(
        "unknown provider `{provider}` in model id `{id}`; {hint} (add others as `[providers.NAME]` in `llm-do.toml`)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> ProviderSettings {
        let mut providers = BTreeMap::new();
        providers.insert(
            "local".to_owned(),
            ProviderConfig {
                base_url: "http://localhost:8000/v1".into(),
                api_key_env: None,
                wire: Some(Wire::Openai),
                requests_per_minute: None,
                max_concurrent: None,
            },
        );
        providers.insert(
            "proxy".to_owned(),
            ProviderConfig {
                base_url: "http://proxy".into(),
                api_key_env: Some("PROXY_KEY".into()),
                wire: Some(Wire::Anthropic),
                requests_per_minute: None,
                max_concurrent: None,
            },
        );
        let env = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ProviderSettings::new(reqwest::Client::new(), providers).with_env(env)
    }

    fn error(id: &str, s: &ProviderSettings) -> String {
        match resolve(id, s) {
            Ok(_) => panic!("`{id}` resolved"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn resolves_builtin_and_named_providers() {
        let s = settings(&[
            ("OPENAI_API_KEY", "sk"),
            ("ANTHROPIC_API_KEY", "ak"),
            ("PROXY_KEY", "pk"),
        ]);
        for id in [
            "openai:gpt-4o",
            "anthropic:claude-haiku-4-5",
            "ollama:qwen3:8b",
            "local:m",
            "proxy:claude",
        ] {
            assert_eq!(resolve(id, &s).unwrap().id(), id);
        }
    }

    #[test]
    fn missing_keys_name_the_variable() {
        let s = settings(&[("OPENAI_API_KEY", "  ")]);
        assert!(error("openai:gpt-4o", &s).contains("`OPENAI_API_KEY`"));
        assert!(error("anthropic:c", &s).contains("`ANTHROPIC_API_KEY`"));
        assert!(error("proxy:c", &s).contains("`PROXY_KEY`"));
        assert!(resolve("ollama:llama3", &s).is_ok());
    }

    #[test]
    fn bad_ids_get_hints() {
        let s = settings(&[]);
        let message = error("opanai:gpt-4o", &s);
        assert!(
            message.contains("unknown provider `opanai`")
                && message.contains("did you mean `openai`?"),
            "{message}"
        );
        let message = error("zzz:m", &s);
        assert!(
            message.contains("known providers:") && message.contains("`local`"),
            "{message}"
        );
        assert!(error("gpt-4o", &s).contains("`provider:model`"));
        assert!(error("openai:", &s).contains("`openai:MODEL`"));
    }

    #[test]
    fn urls_are_derived_from_bases() {
        assert_eq!(
            anthropic_url("https://api.anthropic.com/"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            anthropic_url("http://litellm:4000/v1"),
            "http://litellm:4000/v1/messages"
        );
        assert_eq!(ollama_host("0.0.0.0:11434"), "http://0.0.0.0:11434");
        assert_eq!(
            ollama_host("https://ollama.example/"),
            "https://ollama.example"
        );
    }

    #[test]
    fn debug_output_hides_the_environment() {
        let s = settings(&[("OPENAI_API_KEY", "sk-very-secret")]);
        assert!(!format!("{s:?}").contains("sk-very-secret"));
        let model = HttpModel {
            id: "openai:m".into(),
            name: "m".into(),
            client: s.client.clone(),
            endpoint: Endpoint {
                provider: "openai".into(),
                url: "u".into(),
                key: Some(s.key("OPENAI_API_KEY").unwrap()),
                keyless_hint: None,
            },
            retry: s.retry,
            stream: false,
            limiter: None,
            wire: Wire::Openai,
        };
        assert!(!format!("{model:?}").contains("sk-very-secret"));
    }
}
