//! The figures of an eval: agreement rates with a 95% Wilson score interval, and confusion
//! matrices for enum fields. Pure arithmetic.

use serde::Serialize;
use serde_json::Value;

/// z for a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The 95% Wilson score interval of `k` successes in `n` trials (`(0, 1)` when `n` is 0).
/// Unlike `p ± z·se` it stays inside 0..1 and is honest for small `n` and for `k = n`.
pub fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    #[allow(clippy::cast_precision_loss)]
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    ((center - half).max(0.0), (center + half).min(1.0))
}

/// `agreed` of `total`, the rate and its 95% Wilson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub agreed: usize,
    pub total: usize,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

impl Rate {
    pub fn new(agreed: usize, total: usize) -> Rate {
        let (low, high) = wilson(agreed, total);
        #[allow(clippy::cast_precision_loss)]
        let rate = if total == 0 {
            1.0
        } else {
            agreed as f64 / total as f64
        };
        Rate {
            agreed,
            total,
            rate,
            low,
            high,
        }
    }

    /// `3/4 = 75.0% (95% CI 30.1%–95.4%)`
    pub fn text(&self) -> String {
        format!(
            "{}/{} = {} (95% CI {}–{})",
            self.agreed,
            self.total,
            percent(self.rate),
            percent(self.low),
            percent(self.high)
        )
    }
}

/// `0.75` → `75.0%`
pub fn percent(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// How the expected values of an enum field were answered: `counts[e][a]` cases expected
/// `labels[e]` and got `labels[a]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    pub field: String,
    pub labels: Vec<String>,
    pub counts: Vec<Vec<usize>>,
}

impl Confusion {
    /// A matrix over the enum `values` (more labels are added as they are seen).
    pub fn new(field: &str, values: &[Value]) -> Confusion {
        let labels: Vec<String> = values.iter().map(|v| label(Some(v))).collect();
        let counts = vec![vec![0; labels.len()]; labels.len()];
        Confusion {
            field: field.to_owned(),
            labels,
            counts,
        }
    }

    fn index(&mut self, label: String) -> usize {
        if let Some(i) = self.labels.iter().position(|l| *l == label) {
            return i;
        }
        self.labels.push(label);
        for row in &mut self.counts {
            row.push(0);
        }
        self.counts.push(vec![0; self.labels.len()]);
        self.labels.len() - 1
    }

    /// Count one answer.
    pub fn add(&mut self, expected: String, actual: String) {
        let e = self.index(expected);
        let a = self.index(actual);
        self.counts[e][a] += 1;
    }
}

/// A value as a matrix label: strings as they are, others as JSON, a missing one `(none)`.
pub fn label(v: Option<&Value>) -> String {
    match v {
        None => "(none)".to_owned(),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round(x: (f64, f64)) -> (f64, f64) {
        (
            (x.0 * 1000.0).round() / 1000.0,
            (x.1 * 1000.0).round() / 1000.0,
        )
    }

    #[test]
    fn wilson_matches_known_values() {
        assert_eq!(round(wilson(8, 10)), (0.490, 0.943));
        assert_eq!(round(wilson(10, 10)), (0.722, 1.0));
        assert_eq!(round(wilson(0, 10)), (0.0, 0.278));
        assert_eq!(round(wilson(50, 100)), (0.404, 0.596));
        assert_eq!(round(wilson(1, 1)), (0.207, 1.0));
        assert_eq!(wilson(0, 0), (0.0, 1.0));
    }

    #[test]
    fn rates_render_with_their_interval() {
        assert_eq!(Rate::new(8, 10).text(), "8/10 = 80.0% (95% CI 49.0%–94.3%)");
        assert!((Rate::new(0, 0).rate - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn confusion_counts_and_grows() {
        let mut c = Confusion::new("category", &[json!("bug"), json!("billing")]);
        c.add("bug".into(), "bug".into());
        c.add("bug".into(), "billing".into());
        c.add("billing".into(), "other".into());
        assert_eq!(c.labels, ["bug", "billing", "other"]);
        assert_eq!(c.counts, vec![vec![1, 1, 0], vec![0, 0, 1], vec![0, 0, 0]]);
        assert_eq!(label(Some(&json!(true))), "true");
        assert_eq!(label(None), "(none)");
    }
}
