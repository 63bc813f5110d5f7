//! HTTP providers against a local wiremock server: request bodies, tool loops, structured
//! output, attachments, retries, error messages and streaming, for both wire formats.

mod anthropic;
mod common;
mod features;
mod openai;
mod real_output;
