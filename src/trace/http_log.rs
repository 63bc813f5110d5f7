//! `-vvv`: HTTP request bodies and response statuses/bodies from the providers' HTTP layer,
//! emitted as `tracing` events at TRACE level under the [`crate::model::http::LOG_TARGET`] target and written to
//! stderr only when `-vvv` installs the subscriber. Headers are never logged and every body
//! passes through [`crate::model::http::redact_all`] first, so API keys do not appear.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Stderr through [`crate::output::escape`]: bodies hold what models wrote. The formatter
/// writes each event whole, so no character is split between writes.
struct EscapedStderr;

impl std::io::Write for EscapedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let shown = crate::output::escape(&text, crate::output::Escaped::Text);
        std::io::stderr().lock().write_all(shown.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().lock().flush()
    }
}

/// Write `llm_do` TRACE events to stderr (only ours: dependencies' logs may hold headers).
pub fn install() {
    let filter = Targets::new().with_target("llm_do", LevelFilter::TRACE);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(|| EscapedStderr)
        .with_ansi(false)
        .without_time()
        .with_target(true);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init();
}
