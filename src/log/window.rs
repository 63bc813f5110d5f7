//! Time windows over the run log (`--since`, `--until`): a duration back from now (`90s`,
//! `15m`, `3h`, `7d`, `2w`) or a moment (RFC 3339, `2026-12-01T09:30:00+02:00`, or a day,
//! `2026-12-01`), turned into the log's own time text (UTC, milliseconds) so that a window is
//! two text comparisons the `time` indexes answer.

use std::time::{Duration, SystemTime};

use jiff::Timestamp;

/// A bound that is neither a duration nor a timestamp.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "`{0}` is not a time: give a duration back from now (`30m`, `3h`, `7d`, `2w`) or an RFC 3339 timestamp (`2026-12-01T09:30:00Z`, `2026-12-01`)"
)]
pub struct BadTime(pub String);

/// Which calls a reader sees, by the time each started: `since <= time < until`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Window {
    /// Inclusive lower bound, as the log writes times.
    pub since: Option<String>,
    /// Exclusive upper bound, as the log writes times.
    pub until: Option<String>,
}

impl Window {
    /// The window `--since`/`--until` name, read at `now`.
    ///
    /// # Errors
    ///
    /// Either bound is not a time.
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        now: SystemTime,
    ) -> Result<Window, BadTime> {
        let bound = |s: Option<&str>| s.map(|s| moment(s, now)).transpose();
        Ok(Window {
            since: bound(since)?,
            until: bound(until)?,
        })
    }

    /// Whether the window is the whole log.
    pub fn is_all(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }

    /// How a report names the window: `all of the run log`, `calls since T`, `calls before U`,
    /// `calls from T to U`.
    pub fn describe(&self) -> String {
        self.bounds()
            .map_or_else(|| "all of the run log".into(), |b| format!("calls {b}"))
    }

    /// The window's bounds as words (`since T`, `before U`, `from T to U`); `None`: the whole
    /// log.
    pub fn bounds(&self) -> Option<String> {
        match (&self.since, &self.until) {
            (None, None) => None,
            (Some(s), None) => Some(format!("since {s}")),
            (None, Some(u)) => Some(format!("before {u}")),
            (Some(s), Some(u)) => Some(format!("from {s} to {u}")),
        }
    }
}

/// One bound: a duration before `now`, or a timestamp, as the log's time text.
fn moment(text: &str, now: SystemTime) -> Result<String, BadTime> {
    let bad = || BadTime(text.to_string());
    let t = text.trim();
    if let Some(back) = duration(t) {
        let at = now.checked_sub(back).ok_or_else(bad)?;
        return Ok(super::time::format_time(at));
    }
    timestamp(t).map(super::time::text).ok_or_else(bad)
}

/// `N` followed by one unit: `s`, `m`, `h`, `d` or `w`.
fn duration(t: &str) -> Option<Duration> {
    let unit = t.chars().last()?;
    let n: u64 = t.get(..t.len() - unit.len_utf8())?.parse().ok()?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(secs)?))
}

/// The moment of `YYYY-MM-DD` (midnight UTC), or of RFC 3339 `YYYY-MM-DDTHH:MM[:SS[.fff]]`
/// followed by `Z` or `±HH:MM` (a space may stand for the `T`).
fn timestamp(t: &str) -> Option<Timestamp> {
    if t.len() == 10 {
        return format!("{t}T00:00Z").parse().ok();
    }
    t.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn durations_count_back_from_now() {
        let now = at(1_796_158_954_038); // 2026-12-01T21:02:34.038Z
        let w = Window::parse(Some("3h"), Some("90s"), now).unwrap();
        assert_eq!(w.since.as_deref(), Some("2026-12-01T18:02:34.038Z"));
        assert_eq!(w.until.as_deref(), Some("2026-12-01T21:01:04.038Z"));
        let w = Window::parse(Some("7d"), None, now).unwrap();
        assert_eq!(w.since.as_deref(), Some("2026-11-24T21:02:34.038Z"));
        assert_eq!(w.describe(), "calls since 2026-11-24T21:02:34.038Z");
        assert!(Window::parse(None, None, now).unwrap().is_all());
    }

    #[test]
    fn timestamps_are_read_in_utc() {
        let now = at(0);
        let one = |s: &str| Window::parse(Some(s), None, now).map(|w| w.since.unwrap());
        assert_eq!(one("2026-12-01").unwrap(), "2026-12-01T00:00:00.000Z");
        assert_eq!(
            one("2026-12-01T09:30:00Z").unwrap(),
            "2026-12-01T09:30:00.000Z"
        );
        assert_eq!(
            one("2026-12-01T09:30:00+02:00").unwrap(),
            "2026-12-01T07:30:00.000Z"
        );
        assert_eq!(
            one("2026-12-01 01:00-01:30").unwrap(),
            "2026-12-01T02:30:00.000Z"
        );
        assert_eq!(
            one("2026-12-01T09:30:00.250Z").unwrap(),
            "2026-12-01T09:30:00.250Z"
        );
        assert_eq!(one("1969-12-31").unwrap(), "1969-12-31T00:00:00.000Z");
        for bad in [
            "yesterday",
            "7x",
            "2026-13-01",
            "2026-12-01T25:00Z",
            "2026-12-01T09:30",
            "",
        ] {
            assert_eq!(one(bad), Err(BadTime(bad.into())), "{bad}");
        }
    }
}
