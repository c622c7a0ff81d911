//! `cargo run -p example-axum` — an axum app protected by Passage.
//!
//! With `PASSAGE_APP_ID` unset it starts an embedded Passage emulator with a demo user and prints
//! a ready `curl` line; with `PASSAGE_APP_ID` (and `PASSAGE_API_KEY`) it talks to Passage.
//! `BIND` sets the address (default `127.0.0.1:3000`). Ctrl-C stops it gracefully.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    example_support::run_server("example-axum", example_axum::serve).await
}
