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
mod languages;
mod otp;
mod passkeys;
mod postgres;
mod postgres_server;
mod profile;
mod replicas;
mod sessions;
mod sms;
mod store;
mod support;
