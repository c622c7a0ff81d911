//! # passage-tower
//!
//! [`PassageLayer`] authenticates every request with [Passage](https://passage.1password.com)
//! and puts the user's [`PassageClaims`] into the request extensions. It works for any tower
//! stack: axum, hyper, tonic.
//!
//! ```no_run
//! use passage_core::Passage;
//! use passage_tower::PassageLayer;
//! use tower::ServiceBuilder;
//!
//! # fn run(passage: Passage) {
//! let layer = ServiceBuilder::new().layer(PassageLayer::new(passage));
//! # let _ = layer;
//! # }
//! ```
//!
//! Failures answer per the contract of every adapter in this workspace (decided in
//! `passage-core`): `401` with `WWW-Authenticate: Bearer realm="passage"` (plus
//! `error="invalid_token"` when a token was presented) and a small JSON body with a stable
//! `code`; `503` with `Retry-After` when signing keys cannot be obtained. gRPC requests
//! (`content-type: application/grpc…`) get `grpc-status` 16 (UNAUTHENTICATED) or 14 (UNAVAILABLE).
//!
//! A request is decided in `call` without allocating; only a token signed by a key not yet
//! held boxes a future (to fetch the JWKS).
//!
//! | feature | default | what |
//! |---|---|---|
//! | — | — | none: the layer depends only on `http`, `tower-layer`/`tower-service` and `passage-core` |

mod future;
mod layer;
mod rejection;
mod service;

pub use future::ResponseFuture;
pub use layer::PassageLayer;
pub use passage_core::{Passage, PassageClaims, TokenSource};
pub use rejection::{DefaultRejection, OnRejection};
pub use service::PassageService;
