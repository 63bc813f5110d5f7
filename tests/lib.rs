//! The integration suite: one test binary (`autotests = false`) driving the real `llm-do`
//! binary in temporary projects, plus library-level provider tests against a mock server.

mod cli;
mod concurrency;
mod errors;
mod providers;
mod util;

/// The mock model server of the benchmark harness, shared with `examples/mock_server.rs`.
#[path = "../bench/mock/mod.rs"]
mod mock;
