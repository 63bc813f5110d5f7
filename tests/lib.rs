//! The integration suite: one test binary (`autotests = false`) driving the real `llm-do`
//! binary in temporary projects, plus library-level provider tests against a mock server.

mod approvals;
mod batch;
mod budgets;
mod builtins;
mod chat;
mod cli;
mod commands;
mod concurrency;
mod doc_snippets;
mod errors;
mod evals;
mod examples;
mod faults;
mod host_fns;
mod hostile;
mod interrupts;
mod layers;
mod log;
mod log_aggregates;
mod log_query;
mod log_times;
mod mcp;
mod mcp_serve;
mod models;
mod new_users;
mod otel;
mod printer;
mod proptests;
mod providers;
mod real_llm;
mod real_model;
mod repl;
mod runtime_twice;
mod seam;
mod secrets;
mod stabilize;
mod style;
mod trace;
mod util;
mod view;

/// The mock model server of the benchmark harness, shared with `examples/mock_server.rs`.
#[path = "../bench/mock/mod.rs"]
mod mock;
