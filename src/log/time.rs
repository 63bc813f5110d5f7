//! Times as the run log writes them: RFC 3339 in UTC with milliseconds, sortable as text, and
//! back to seconds since the epoch. Formatted and parsed by `jiff` (measured against the
//! hand-written code it replaced: docs/performance.md). Pure: no other part of the log is needed.

use std::time::SystemTime;

use jiff::Timestamp;

/// The current time as RFC 3339 (UTC, milliseconds).
pub fn now() -> String {
    format_time(SystemTime::now())
}

/// `t` as RFC 3339 (UTC, milliseconds): sortable as text. A time `jiff` cannot represent
/// (beyond year 9999) is written as the epoch.
pub fn format_time(t: SystemTime) -> String {
    text(Timestamp::try_from(t).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// `t` as the log writes times: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn text(t: Timestamp) -> String {
    format!("{t:.3}")
}

/// Seconds since the epoch of a time as the log writes it (`YYYY-MM-DDTHH:MM:SS.mmmZ`), with
/// its milliseconds.
pub fn seconds_of(time: &str) -> Option<f64> {
    let t: Timestamp = time.parse().ok()?;
    #[allow(clippy::cast_precision_loss)]
    Some(t.as_millisecond() as f64 / 1000.0)
}
