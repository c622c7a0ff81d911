//! `cargo run -p example-actix` — an actix-web app protected by Passage.
//!
//! Same routes, variables and answers as `example-axum`: `PASSAGE_APP_ID` unset starts an
//! embedded emulator and prints a ready `curl` line; `BIND` sets the address. Ctrl-C stops it.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    example_support::run_server("example-actix", example_actix::serve).await
}
