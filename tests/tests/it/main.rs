//! Cross-crate suites over real loopback HTTP: one binary, every adapter.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

mod e2e;
mod grpc;
mod readme;
mod recipe_actix;
mod recipe_axum;
mod seams;
mod security;
mod stack;
