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

/// The input and output of a row of calls, its columns `i` and `i + 1`, as the log stores them
/// (`null` for a missing input or output); `None` when either is a marker: a value too long to
/// log is known only by its marker, so it can be neither a case nor compared.
///
/// # Errors
///
/// The columns are not there.
pub fn logged_pair<'r>(
    r: &'r rusqlite::Row,
    i: usize,
) -> rusqlite::Result<Option<(&'r str, &'r str)>> {
    let input = r.get_ref(i)?.as_str_or_null().ok().flatten();
    let output = r.get_ref(i + 1)?.as_str().ok();
    let (input, output) = (input.unwrap_or("null"), output.unwrap_or("null"));
    Ok((!is_truncated_text(input) && !is_truncated_text(output)).then_some((input, output)))
}
