#![doc = include_str!("../README.md")]

mod extract;

pub use extract::{PassageRejection, PassageUser};
pub use passage_core::{Passage, PassageClaims, TokenSource};
pub use passage_tower::{DefaultRejection, OnRejection, PassageLayer, PassageService};
