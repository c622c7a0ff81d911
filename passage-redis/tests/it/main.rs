//! passage-redis against a real `redis-server` (started here on a free loopback port, in a
//! temporary directory): replicas sharing revocations, Redis going away and coming back (with
//! and without its data), fail-closed clients.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests fail by panicking"
)]

mod redis_server;
mod replicas;
