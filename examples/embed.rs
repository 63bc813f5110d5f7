//! Embedding llm-do as a library: build a `Runtime` for a project and call a worker and a Rhai
//! fn by name, exactly as a script's `call()` would. Documented in `docs/embedding.md`.
//!
//! Run with: `cargo run --example embed` (offline: the workers use the project's
//! `script:stand_in` model; set `model_override` to e.g. `anthropic:claude-haiku-4-5` for real).

use std::sync::Arc;

use llm_do::call::CallCtx;
use llm_do::runtime::Runtime;
use llm_do::settings::Settings;
use llm_do::trace::Silent;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/pitchdeck_eval_code_entry");
    let mut settings = Settings::new(root);
    settings.model_override = Some("script:stand_in".into());

    // Loads llm-do.toml, every worker and every script (errors are located, like `check`).
    // `Settings` fields (limits, approval mode) are yours to set: the CLI fills them from flags.
    let rt = Runtime::builder(
        settings,
        tokio::runtime::Handle::current(),
        Arc::new(Silent),
    )
    .build()?;
    let ctx = CallCtx::default();

    // A Rhai fn and a worker, reached by name with JSON input.
    let decks = rt.call(&ctx, "list_pitchdecks", json!({})).await?;
    let first = &decks[0];
    let deck = std::fs::read_to_string(
        rt.settings
            .root
            .join(first["path"].as_str().unwrap_or_default()),
    )?;
    let verdict = rt
        .call(
            &ctx,
            "pitch_evaluator",
            json!({ "name": first["name"], "deck": deck }),
        )
        .await?;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({ "decks": decks, "first": verdict }))?
    );
    Ok(())
}
