//! What model tokens cost (DESIGN §15): a table shipped with llm-do, dated, per million
//! tokens, which `[prices."provider:model"]` in llm-do.toml overrides or extends. A model with
//! no price has no cost (shown as such), never a guessed one.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Usage;

/// When the shipped table was last checked against the providers' price pages.
pub const TABLE_DATE: &str = "2025-08-15";

/// US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    /// Cache reads; defaults to the input price.
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Cache writes; defaults to the input price.
    #[serde(default)]
    pub cache_write: Option<f64>,
}

const fn p(input: f64, output: f64, cache_read: f64, cache_write: f64) -> Price {
    Price {
        input,
        output,
        cache_read: Some(cache_read),
        cache_write: Some(cache_write),
    }
}

/// The shipped table: `provider:model` → price (as of [`TABLE_DATE`]).
pub const TABLE: &[(&str, Price)] = &[
    ("anthropic:claude-opus-4-1", p(15.0, 75.0, 1.5, 18.75)),
    ("anthropic:claude-opus-4-0", p(15.0, 75.0, 1.5, 18.75)),
    ("anthropic:claude-sonnet-4-5", p(3.0, 15.0, 0.3, 3.75)),
    ("anthropic:claude-sonnet-4-0", p(3.0, 15.0, 0.3, 3.75)),
    (
        "anthropic:claude-3-7-sonnet-latest",
        p(3.0, 15.0, 0.3, 3.75),
    ),
    ("anthropic:claude-haiku-4-5", p(1.0, 5.0, 0.1, 1.25)),
    ("anthropic:claude-3-5-haiku-latest", p(0.8, 4.0, 0.08, 1.0)),
    ("openai:gpt-5", p(1.25, 10.0, 0.125, 1.25)),
    ("openai:gpt-5-mini", p(0.25, 2.0, 0.025, 0.25)),
    ("openai:gpt-5-nano", p(0.05, 0.4, 0.005, 0.05)),
    ("openai:gpt-4.1", p(2.0, 8.0, 0.5, 2.0)),
    ("openai:gpt-4.1-mini", p(0.4, 1.6, 0.1, 0.4)),
    ("openai:gpt-4.1-nano", p(0.1, 0.4, 0.025, 0.1)),
    ("openai:gpt-4o", p(2.5, 10.0, 1.25, 2.5)),
    ("openai:gpt-4o-mini", p(0.15, 0.6, 0.075, 0.15)),
    ("openai:o4-mini", p(1.1, 4.4, 0.275, 1.1)),
    ("openai:o3", p(2.0, 8.0, 0.5, 2.0)),
];

/// The price of `model` (a full `provider:model` id): an override first, then the table.
/// Dated snapshots (`claude-haiku-4-5-20251001`) fall back to their undated name.
pub fn lookup(model: &str, overrides: &BTreeMap<String, Price>) -> Option<Price> {
    let find = |id: &str| {
        overrides
            .get(id)
            .copied()
            .or_else(|| TABLE.iter().find(|(m, _)| *m == id).map(|(_, p)| *p))
    };
    find(model).or_else(|| find(undated(model)))
}

/// `name-YYYYMMDD` → `name`.
fn undated(model: &str) -> &str {
    match model.rsplit_once('-') {
        Some((base, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => model,
    }
}

/// Tokens and dollars of model use inside one call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    pub usage: Usage,
    /// `None` once any request used a model without a price.
    pub cost: Option<f64>,
    /// Whether any request was counted (so a priced run starts from `Some(0.0)`).
    pub requests: u64,
}

impl Spend {
    /// Add one reply's usage and cost.
    pub fn add(&mut self, usage: Usage, cost: Option<f64>) {
        self.usage += usage;
        self.cost = match (self.requests, self.cost, cost) {
            (0, _, c) => c,
            (_, Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        self.requests += 1;
    }
}

/// What `usage` costs at `price`, in US dollars.
pub fn cost(usage: &Usage, price: &Price) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let million = |n: u64| n as f64 / 1_000_000.0;
    million(usage.input_tokens) * price.input
        + million(usage.output_tokens) * price.output
        + million(usage.cache_read_tokens) * price.cache_read.unwrap_or(price.input)
        + million(usage.cache_write_tokens) * price.cache_write.unwrap_or(price.input)
}

/// `usd` as shown to people: `$` and four decimals, more for a small amount so that it keeps
/// two significant digits (`$0.00012`, never `$0.0000` for a real cost).
#[must_use]
pub fn dollars(usd: f64) -> String {
    let decimals = if usd > 0.0 && usd < 0.001 {
        // Digits up to the first significant one, plus one more.
        let first = (-usd.log10()).ceil();
        (first as usize + 1).clamp(4, 12)
    } else {
        4
    };
    format!("${usd:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_come_from_the_table_or_an_override() {
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_tokens: 1_000_000,
            cache_write_tokens: 0,
        };
        let none = BTreeMap::new();
        let haiku = lookup("anthropic:claude-haiku-4-5-20251001", &none).unwrap();
        assert!((cost(&usage, &haiku) - (1.0 + 0.5 + 0.1)).abs() < 1e-9);
        assert!(lookup("local:mystery", &none).is_none());
        let mut over = BTreeMap::new();
        over.insert(
            "local:m".to_string(),
            Price {
                input: 2.0,
                output: 4.0,
                cache_read: None,
                cache_write: None,
            },
        );
        let local = lookup("local:m", &over).unwrap();
        assert!((cost(&usage, &local) - (2.0 + 0.4 + 2.0)).abs() < 1e-9);
    }

    #[test]
    fn small_amounts_keep_two_significant_digits() {
        assert_eq!(dollars(0.5), "$0.5000");
        assert_eq!(dollars(0.0123), "$0.0123");
        assert_eq!(dollars(0.001), "$0.0010");
        assert_eq!(dollars(0.00012), "$0.00012");
        assert_eq!(dollars(0.000_003_4), "$0.0000034");
        assert_eq!(dollars(0.0), "$0.0000");
    }
}
