//! "Did you mean" suggestions for unknown names (workers, fns, toolsets, keys, providers).

/// Candidates close to `name`, best first (at most three).
pub fn similar<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, c)| *score >= 0.8 || c.contains(name) && name.len() >= 3)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// A `did you mean ...?` hint, or `None` when nothing is close.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let found = similar(name, candidates);
    match found.as_slice() {
        [] => None,
        [one] => Some(format!("did you mean `{one}`?")),
        many => Some(format!("did you mean one of {}?", quoted(many))),
    }
}

/// Names in backticks, joined by commas: `` `a`, `b` ``.
pub fn quoted<S: std::fmt::Display>(names: impl IntoIterator<Item = S>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        assert_eq!(
            did_you_mean("modle", ["model", "name", "seed"]).as_deref(),
            Some("did you mean `model`?")
        );
        assert_eq!(did_you_mean("zzz", ["model", "name"]), None);
    }
}
