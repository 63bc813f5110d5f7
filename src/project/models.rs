//! What `llm-do models` and the REPL's `:models` show: the providers (built in and
//! `[providers.NAME]`, with base URL and key variable, never a key), the `[models]` aliases and
//! the price table with `[prices]` overrides marked, as data ([`Models`]), and its rendering as
//! text (shown by the one printer, which also writes it as `--json`). Both faces call these;
//! neither builds rows of its own.

use std::collections::BTreeMap;

use crate::config::{Config, Wire};
use crate::env_vars;
use crate::model::prices::{self, Price};
use crate::model::providers::{ANTHROPIC_DEFAULT_BASE, OLLAMA_DEFAULT_HOST, OPENAI_DEFAULT_BASE};
use crate::output::table;

/// What `models` shows: providers, aliases and prices.
#[derive(Debug, serde::Serialize)]
pub struct Models {
    providers: Vec<Provider>,
    /// Each alias: as written (`value`) and the models it finally names (`models`).
    aliases: BTreeMap<String, Alias>,
    prices: Vec<PriceRow>,
    prices_date: &'static str,
}

/// One `[models]` alias.
#[derive(Debug, serde::Serialize)]
struct Alias {
    value: Vec<String>,
    models: Vec<String>,
}

/// One model's price, USD per million tokens (cache prices default to the input price).
#[derive(Debug, serde::Serialize)]
struct PriceRow {
    model: String,
    input: f64,
    output: f64,
    cache_read: f64,
    cache_write: f64,
    /// Set by `[prices]` in the config.
    #[serde(rename = "override")]
    overridden: bool,
}

/// One provider row (as `--json` shows it).
#[derive(Debug, serde::Serialize)]
struct Provider {
    name: String,
    wire: &'static str,
    base_url: String,
    key_env: Option<String>,
    key_set: bool,
    builtin: bool,
    requests_per_minute: Option<u32>,
    max_concurrent: Option<u32>,
}

impl Models {
    /// What `config` and this process's environment say about providers, aliases and prices.
    pub fn from_env(config: &Config) -> Models {
        let aliases = config
            .models
            .iter()
            .map(|(alias, target)| {
                let value = target.entries().to_vec();
                let models = config.expand_model(alias).unwrap_or_default();
                (alias.clone(), Alias { value, models })
            })
            .collect();
        Models {
            providers: providers(config),
            aliases,
            prices: price_rows(config),
            prices_date: prices::TABLE_DATE,
        }
    }
}

/// The built-in providers (where the environment puts them), then the `[providers.NAME]`
/// endpoints; each with the limits its `[providers.NAME]` table sets. A variable set to blanks
/// counts as unset.
fn providers(config: &Config) -> Vec<Provider> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let base = |var: &str, default: &str| env(var).unwrap_or_else(|| default.to_owned());
    let key = |var: &str| Some(var.to_owned());
    // (name, wire, base URL, key variable)
    let builtin = [
        (
            "anthropic",
            "anthropic",
            base(env_vars::ANTHROPIC_BASE_URL, ANTHROPIC_DEFAULT_BASE),
            key(env_vars::ANTHROPIC_API_KEY),
        ),
        (
            "openai",
            "openai",
            base(env_vars::OPENAI_BASE_URL, OPENAI_DEFAULT_BASE),
            key(env_vars::OPENAI_API_KEY),
        ),
        (
            "ollama",
            "openai",
            base(env_vars::OLLAMA_HOST, OLLAMA_DEFAULT_HOST),
            None,
        ),
    ];
    let named = config
        .providers
        .iter()
        .filter(|(name, _)| !crate::config::BUILTIN_PROVIDERS.contains(&name.as_str()))
        .map(|(name, p)| {
            let wire = match p.wire {
                Some(Wire::Anthropic) => "anthropic",
                _ => "openai",
            };
            let (url, key) = (p.base_url.clone(), p.api_key_env.clone());
            (name.as_str(), wire, url, key)
        });
    let rows = builtin.into_iter().chain(named);
    rows.map(|(name, wire, base_url, key_env)| {
        let table = config.providers.get(name);
        Provider {
            name: name.to_owned(),
            wire,
            base_url,
            key_set: key_env.as_deref().is_some_and(|v| env(v).is_some()),
            key_env,
            builtin: crate::config::BUILTIN_PROVIDERS.contains(&name),
            requests_per_minute: table.and_then(|p| p.requests_per_minute),
            max_concurrent: table.and_then(|p| p.max_concurrent),
        }
    })
    .collect()
}

/// The shipped table, then overrides and additions.
fn price_rows(config: &Config) -> Vec<PriceRow> {
    let row = |model: &str, p: &Price, overridden| PriceRow {
        model: model.to_owned(),
        input: p.input,
        output: p.output,
        cache_read: p.cache_read.unwrap_or(p.input),
        cache_write: p.cache_write.unwrap_or(p.input),
        overridden,
    };
    let shipped = prices::TABLE.iter().map(|(id, p)| {
        let over = config.prices.get(*id);
        row(id, over.unwrap_or(p), over.is_some())
    });
    let added = config
        .prices
        .iter()
        .filter(|(id, _)| !prices::TABLE.iter().any(|(m, _)| m == id))
        .map(|(id, p)| row(id, p, true));
    shipped.chain(added).collect()
}

impl crate::output::Show for Models {
    fn text(&self) -> String {
        let mut providers: Vec<Vec<String>> = self.providers.iter().map(provider_line).collect();
        providers.push(vec![
            String::new(),
            "test".into(),
            "offline, deterministic".into(),
        ]);
        let mut text = format!("providers:\n{}aliases:\n", table(&providers, 3));
        if self.aliases.is_empty() {
            text.push_str("  (none; add them under `[models]` in `llm-do.toml`)\n");
        }
        for (alias, a) in &self.aliases {
            let (written, expanded) = (a.value.join(", "), a.models.join(", "));
            // What the alias finally names, when it names other aliases.
            if expanded.is_empty() || expanded == written {
                text.push_str(&format!("  {alias} = {written}\n"));
            } else {
                text.push_str(&format!("  {alias} = {written}  (→ {expanded})\n"));
            }
        }
        text.push_str(&format!(
            "prices (USD per million tokens: input, output, cache read, cache write; table of {}, * = `[prices]`):\n",
            self.prices_date
        ));
        let money = |n: f64| format!("{n:>7.3}");
        let prices: Vec<Vec<String>> = self
            .prices
            .iter()
            .map(|p| {
                let marker = if p.overridden { "*" } else { " " };
                let cells = [p.input, p.output, p.cache_read, p.cache_write].map(money);
                [format!("{marker} {}", p.model)]
                    .into_iter()
                    .chain(cells)
                    .collect()
            })
            .collect();
        text.push_str(&table(&prices, 1));
        text
    }
}

/// A provider's row: indent, name, then where it is, its wire, its key and its limits.
fn provider_line(p: &Provider) -> Vec<String> {
    let limits = [
        p.requests_per_minute.map(|n| format!(", {n}/min")),
        p.max_concurrent.map(|n| format!(", {n} at once")),
    ];
    let key = match &p.key_env {
        Some(var) if p.key_set => format!("key `{var}` (set)"),
        Some(var) => format!("key `{var}` (not set)"),
        None => "no key".to_owned(),
    };
    let about = format!(
        "{} ({} wire{}, {key}{})",
        p.base_url,
        p.wire,
        if p.builtin { ", built in" } else { "" },
        limits.into_iter().flatten().collect::<String>(),
    );
    vec![String::new(), p.name.clone(), about]
}
