#![doc = include_str!("../README.md")]

mod future;
mod layer;
mod rejection;
mod service;

pub use future::ResponseFuture;
pub use layer::PassageLayer;
pub use passage_core::{Passage, PassageClaims, TokenSource};
pub use rejection::{DefaultRejection, EmptyBodyRejection, OnRejection};
pub use service::PassageService;
