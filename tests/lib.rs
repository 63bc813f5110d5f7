//! The integration suite: one test binary (`autotests = false`) driving the real `llm-do`
//! binary in temporary projects, plus library-level provider tests against a mock server.

mod cli;
mod errors;
mod providers;
mod repl;
mod util;
