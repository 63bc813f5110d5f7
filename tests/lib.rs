//! The integration suite: one test binary (`autotests = false`) driving the real `llm-do`
//! binary in temporary projects, plus library-level provider tests against a mock server.

mod approvals;
mod cli;
mod errors;
mod providers;
mod real_llm;
mod repl;
mod trace;
mod util;
