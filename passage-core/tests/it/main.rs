//! passage-core integration tests: one binary, real loopback HTTP against passage-emulator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test by panicking"
)]

mod api;
mod metrics;
mod oracle;
mod properties;
mod revocation;
mod seams;
mod validation;
