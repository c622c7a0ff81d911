#![doc = include_str!("../README.md")]

mod error;
mod extract;
mod middleware;

pub use error::PassageError;
pub use extract::{OptionalPassageUser, PassageUser};
pub use middleware::{PassageAuth, PassageAuthFuture, PassageAuthMiddleware};
pub use passage_core::{Passage, PassageClaims, TokenSource};
