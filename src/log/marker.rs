//! The truncation marker: what the run log stores for a value too long to log (see
//! `log::capped`). Its own file so that the aggregates can know one without importing the log.

/// The key of the one-key object that stands for a value too long to log (see `log::capped`).
pub const TRUNCATED: &str = "llm_do_truncated";

/// `log::is_truncated` for a value as the log stores it (compact JSON text), without parsing
/// it.
pub fn is_truncated_text(json: &str) -> bool {
    json.strip_prefix("{\"")
        .and_then(|rest| rest.strip_prefix(TRUNCATED))
        .is_some_and(|rest| rest.starts_with("\":"))
}
