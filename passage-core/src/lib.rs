//! # passage-core
//!
//! The Rust client for [Passage by 1Password](https://passage.1password.com): validate Passage
//! JWTs against your app's JWKS, find them in requests, and call the Management API. Framework
//! adapters (`passage-tower`, `passage-axum`, `passage-actix`) build on this crate; every
//! decision — where the token is read from, which claims are required, 401 versus 503, the
//! `WWW-Authenticate` challenge — is made here, once.
//!
//! ```no_run
//! use passage_core::Passage;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let passage = Passage::from_env()?; // PASSAGE_APP_ID, PASSAGE_API_KEY, …
//! let claims = passage.auth().validate_jwt("eyJhbGciOiJSUzI1NiIs…").await?;
//! println!("user {}", claims.user_id());
//! # Ok(()) }
//! ```
//!
//! ## Validation rules
//! RS256 only (the algorithm never comes from the token); `kid` required; `crit` refused;
//! `jku`/`x5u`/`jwk` never followed; `exp` required and strict, `nbf` honoured, both JSON
//! numbers; `aud` (string or array) must contain the app id; `sub` non-empty.
//!
//! ## Key and token caching
//! Keys are parsed once per fetch and held in a lock-free snapshot; a fetched set lives for its
//! `Cache-Control: max-age` (clamped) or 5 minutes; an unknown `kid` refetches at most once per
//! 5 s, with concurrent callers sharing one fetch; on failure the keys held keep serving and
//! fetches back off. Verified tokens are remembered (bounded, never beyond `exp`, dropped when
//! their key leaves the JWKS), so a repeat token skips the RSA check.
//!
//! ## Features
//! | feature | default | what |
//! |---|---|---|
//! | — | — | no optional features yet: TLS is rustls with aws-lc-rs, crypto is aws-lc-rs |

mod api;
pub mod auth;
mod client;
mod error;
pub mod models;

pub use api::{
    App, CreateMagicLink, CreateUser, Filter, ListUsers, MagicLinks, Order, Page, UpdateUser, Users,
};
pub use auth::{
    Auth,
    claims::PassageClaims,
    optional,
    token::{self, AUTH_COOKIE, DEFAULT_MAX_TOKEN_LEN, TokenSource, check_token_shape, find_token},
};
pub use client::{DEFAULT_API_URL, DEFAULT_AUTH_URL, Passage, PassageBuilder};
pub use error::{
    ApiError, AuthError, ConfigError, Error, ErrorCode, Invalid, JwksError, Malformed, Report,
};
