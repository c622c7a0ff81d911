//! `bench-load`: how much a passage-server process serves on this machine.
//!
//! It starts the given `passage-server` binary on a database (a SQLite file, or a PostgreSQL
//! URL), registers users with passkeys through the Authentication API (its own software
//! authenticator, as a browser would), creates users through the Management API up to
//! `--users`, and then measures, for a fixed time each and at a fixed concurrency:
//!
//! - passkey sign-ins (login start + finish, one ES256 verification and one RS256 token each),
//! - token refreshes (each rotates the refresh token and signs a token),
//! - the Management API's first page of users, at a few users and at `--users`,
//! - the server's resident memory, and its CPU time per sign-in as a ratio to the crypto floor
//!   (one ES256 verification + one RS256 signature) measured in this process in the same run.
//!
//! Loopback only; every phase is bounded in time. Run it with `benches/load.sh`, which builds
//! both in release mode and prints the table for SQLite and PostgreSQL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "a benchmark: a broken run stops with its cause"
)]

#[path = "../../../passage-server/tests/it/authenticator.rs"]
#[allow(dead_code, unreachable_pub)]
mod authenticator;
mod floor;
mod phases;
mod server;

use std::{path::PathBuf, time::Duration};

/// What to run (from the command line).
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The `passage-server` binary.
    pub(crate) server: PathBuf,
    /// Each `--database` to measure: a file path or a `postgres://` URL, in order.
    pub(crate) databases: Vec<String>,
    /// Seconds each timed phase runs.
    pub(crate) seconds: u64,
    /// Users in the store for the measurements.
    pub(crate) users: usize,
    /// Requests in flight at once.
    pub(crate) concurrency: usize,
    /// Users who sign in with passkeys (each concurrent caller takes its own share).
    pub(crate) passkey_users: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-load --server PATH --database DB [--database DB…] [--seconds 10] [--users 100000] [--concurrency 32] [--passkey-users 512] [--smoke]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let mut options = Options {
        server: PathBuf::new(),
        databases: Vec::new(),
        seconds: 10,
        users: 100_000,
        concurrency: 32,
        passkey_users: 512,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        let mut number = |name: &str| {
            let text = value();
            text.parse::<usize>().unwrap_or_else(|_| {
                eprintln!("bench-load: {name} wants a number, not {text:?}");
                usage()
            })
        };
        match arg.as_str() {
            "--server" => options.server = PathBuf::from(value()),
            "--database" => options.databases.push(value()),
            "--seconds" => options.seconds = number("--seconds") as u64,
            "--users" => options.users = number("--users"),
            "--concurrency" => options.concurrency = number("--concurrency").max(1),
            "--passkey-users" => options.passkey_users = number("--passkey-users").max(1),
            // A run that only proves the bench works: seconds, not minutes.
            "--smoke" => {
                options.seconds = 1;
                options.users = 600;
                options.concurrency = 4;
                options.passkey_users = 16;
            }
            _ => usage(),
        }
    }
    if options.server.as_os_str().is_empty() || options.databases.is_empty() {
        usage();
    }
    options.passkey_users = options.passkey_users.max(options.concurrency);
    options.users = options.users.max(options.passkey_users);
    options
}

#[tokio::main]
async fn main() {
    let options = options();
    let floor = floor::measure(Duration::from_millis(800));
    let mut reports = Vec::new();
    for database in &options.databases {
        let report = phases::run(&options, database, floor).await;
        report.print();
        reports.push(report);
    }
    phases::compare(&reports);
}
