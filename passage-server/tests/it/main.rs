//! passage-server's suites: one binary.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod authenticator;
mod cli;
mod hardening;
mod import;
mod passkeys;
mod postgres;
mod postgres_server;
mod replicas;
mod sessions;
mod store;
mod support;
