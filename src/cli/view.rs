//! `llm-do view [--port N] [--host ADDR]`: a read-only local web page over the run log.
//!
//! A thin face: every figure comes from the readers `logs` and `stats` use (`crate::log`,
//! `crate::stats`); this file only serves them. It listens on 127.0.0.1 unless `--host` names
//! another address, and answers only requests that carry the random token of its URL (the
//! page shows prompts and outputs). Only `GET`/`HEAD`: nothing here writes. Pages are drawn
//! in `view/pages.rs`, with everything from the log HTML-escaped.

mod chart;
mod name;
mod pages;

use std::convert::Infallible;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::report::{Error, out_line};
use crate::settings::Settings;

/// What every request is answered with: the log to read and the token it must carry.
struct State {
    log: PathBuf,
    token: String,
}

/// Serve the pages of the project's run log until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// No run log, a log that cannot be opened, or an address that cannot be bound.
pub async fn run(settings: &Settings, port: u16, host: Option<IpAddr>) -> Result<(), Error> {
    // Ctrl-C and SIGTERM end the server (listened for from the start, so none is missed).
    let mut signals = crate::interrupt::Signals::install();
    let log = crate::session::run_log_path(&settings.root)?;
    // A locked, corrupt or foreign log is said now, not on the first page.
    drop(crate::log::open(&log)?);
    let ip = host.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, port))
        .await
        .map_err(|e| Error::usage(format!("cannot listen on {ip}:{port}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::usage(format!("cannot listen on {ip}:{port}: {e}")))?;
    let token = new_token();
    let url = format!("http://{addr}/?token={token}");
    out_line(&url)?;
    if std::io::stdout().is_terminal() {
        open_browser(&url);
    }
    // Sum the ended runs' worker calls once now, off the request path, so the first runs and
    // names pages of a log written before `run_volumes` do not pay for it (best effort).
    let warm = log.clone();
    drop(tokio::task::spawn_blocking(move || {
        if let Ok(conn) = crate::log::open(&warm) {
            let _ = crate::log::volume::per_name(&conn);
        }
    }));
    let state = Arc::new(State { log, token });
    let page = move |req| answer(Arc::clone(&state), req);
    super::http::serve(listener, &mut signals, page).await;
    Ok(())
}

/// 128 random bits as hex: the token every URL of the page carries.
fn new_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Open `url` in the desktop's browser, best effort (a terminal without one still has the URL).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let _ = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// Equal as secrets are compared: in time that does not depend on where they differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0, |d, (x, y)| d | (x ^ y)) == 0
}

/// One request: refused without the token or with a method that is not a read; otherwise the
/// page its path names, read from the log on a blocking thread.
async fn answer(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(respond(pages::refused(
            StatusCode::METHOD_NOT_ALLOWED,
            "this page only reads the run log",
        )));
    }
    let query = form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes());
    let param = |k: &str| {
        query
            .clone()
            .find(|(q, _)| q == k)
            .map(|(_, v)| v.into_owned())
    };
    let since = param("since").filter(|s| !s.is_empty());
    if !param("token").is_some_and(|t| same_secret(&t, &state.token)) {
        return Ok(respond(pages::refused(
            StatusCode::FORBIDDEN,
            "this page needs the token of the URL `llm-do view` printed",
        )));
    }
    let path = req.uri().path().to_string();
    let page = tokio::task::spawn_blocking(move || {
        let ask = pages::Ask {
            token: &state.token,
            since: since.as_deref(),
        };
        pages::page(&state.log, &path, &ask)
    })
    .await
    .unwrap_or_else(|_| {
        pages::refused(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the page could not be drawn",
        )
    });
    Ok(respond(page))
}

/// The HTTP response of `page`: HTML that may run no script and load nothing from elsewhere,
/// never cached, and whose URL (with its token) is never sent on as a referrer.
fn respond(page: pages::Page) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(page.html)));
    *response.status_mut() = page.status;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_hex_and_compared_whole() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b));
        assert!(!same_secret(&a, &a[..31]));
        assert!(!same_secret(&a, ""));
    }
}
