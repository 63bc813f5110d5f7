//! Evals (DESIGN §14): `llm-do test` runs the cases of a name ([`cases`]: `tests/NAME.jsonl`
//! and a worker's `examples:`) through the name as defined now, grades each output with the
//! comparators of [`crate::compare`] (plus a `judge` model and a `compare_NAME` Rhai fn:
//! [`crate::runtime::grade`], which shadow calls share), and reports agreement with a Wilson
//! interval and the noise floor of repeated runs ([`score`], [`run`], [`report`]).
//! `llm-do dataset` builds cases from the run log ([`dataset`]). Runtime layer: every call
//! goes through the seam (`Runtime::call`/`invoke`).

pub mod cases;
pub mod dataset;
pub mod draft;
pub mod report;
pub mod run;
pub mod score;
