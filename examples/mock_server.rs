//! The mock model server of the benchmark harness (`bench/run.sh`): speaks OpenAI Chat
//! Completions and Anthropic Messages with a fixed latency and reports requests in flight at
//! `GET /stats`. Kept an example so it is never installed with `llm-do`.
//!
//! ```text
//! cargo run --release --example mock_server -- --latency-ms 200 --tool-turns 0
//! ```
//! Prints `listening on http://ADDR` once ready, then serves until killed.

#[path = "../bench/mock/mod.rs"]
mod mock;

use std::io::Write;
use std::time::Duration;

use clap::Parser;

/// A mock OpenAI/Anthropic model server with fixed latency.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Delay before every reply, unless a `delay_ms=N` directive says otherwise.
    #[arg(long, default_value_t = 200)]
    latency_ms: u64,
    /// Turns answered with tool calls before the final text (`tools=N` overrides).
    #[arg(long, default_value_t = 0)]
    tool_turns: u32,
    /// Tool calls per tool turn (`calls=N` overrides).
    #[arg(long, default_value_t = 1)]
    calls_per_turn: u32,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let script = mock::Script {
        latency: Duration::from_millis(args.latency_ms),
        tool_turns: args.tool_turns,
        calls_per_turn: args.calls_per_turn,
    };
    let server = mock::MockServer::start(&args.listen, script).await?;
    println!("listening on {}", server.url());
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    Ok(())
}
