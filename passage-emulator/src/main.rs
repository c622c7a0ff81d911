//! `passage-emulator`: a local Passage for offline development.
//!
//! ```text
//! passage-emulator --bind 127.0.0.1:8787 --app-id my-app --api-key my-key [--users users.json]
//! ```
//! Prints the `PASSAGE_*` variables a client needs and a sample token, then logs requests.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::Parser;
use passage_emulator::{Emulator, SeedUser};

/// A local Passage: JWKS, tokens, and an in-memory Management API.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8787")]
    bind: SocketAddr,
    /// The app id to emulate.
    #[arg(long, default_value = "emulator_app")]
    app_id: String,
    /// The API key the Management API accepts.
    #[arg(long, default_value = "emulator_api_key")]
    api_key: String,
    /// A JSON file with an array of users to load.
    #[arg(long)]
    users: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("passage-emulator: {}", report(&err));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), passage_emulator::EmulatorError> {
    let mut builder = Emulator::builder()
        .bind(args.bind)
        .app_id(args.app_id)
        .api_key(args.api_key);
    let seeded = args.users.is_some();
    builder = match &args.users {
        Some(path) => builder.users_file(path)?,
        None => builder.user(
            SeedUser::email("demo@example.com")
                .with_id("demo-user")
                .with_device("Demo passkey"),
        ),
    };
    let emulator = builder.start().await?;
    println!("# passage-emulator listening on {}", emulator.url());
    for (name, value) in emulator.env_vars() {
        println!("export {name}={value}");
    }
    if !seeded {
        println!("# sample token for demo-user (valid 1 h):");
        println!("{}", emulator.mint_token("demo-user")?);
    }
    passage_server::shutdown_signal().await;
    println!("# shutting down");
    emulator.stop().await;
    Ok(())
}

/// An error and its causes, on one line.
fn report(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
