#![doc = include_str!("../README.md")]

mod api;
mod auth;
mod builder;
mod client;
pub mod metrics;
pub mod models;
mod net;
mod report;
mod secret;

pub use api::{
    ApiError, App, CreateMagicLink, CreateUser, ErrorCode, ErrorResponse, Filter, ListUsers,
    MagicLinks, Order, Page, PageLinks, UpdateUser, Users,
};
pub use auth::{
    Auth, DEFAULT_REVOCATION_RETENTION, Revocation, RevocationList, SharedRevocations,
    WeakRevocationList,
    claims::PassageClaims,
    clock::Clock,
    error::{AuthError, Invalid, JwksError, Malformed},
    token::{AUTH_COOKIE, DEFAULT_MAX_TOKEN_LEN, TokenSource},
};
pub use builder::{ConfigError, PassageBuilder};
pub use client::Passage;
pub use report::Report;
pub use secret::Secret;

pub mod adapter {
    //! The hooks framework adapters are built on; applications rarely need them.
    //!
    //! passage-tower, passage-axum and passage-actix use exactly these items, so any adapter
    //! (another framework, a gRPC server) makes the same decisions they do:
    //!
    //! - a layer or middleware calls [`Hooks::admit`] with its [`Admission`] and puts its verdict
    //!   into the request's extensions: the [`PassageClaims`](crate::PassageClaims), or
    //!   [`Anonymous`] ([`Hooks::anonymous`]);
    //! - an extractor calls [`Hooks::extract`] with what it finds there ([`Layered`]): a layer's
    //!   verdict is final for its request, and only a verdict of the extractor's own client
    //!   (same app id and auth host) is trusted; [`Layered::decide`] covers an extractor that may
    //!   have no client of its own (it then uses whatever layer's verdict it finds) and says
    //!   [`NotConfigured`] when there is neither;
    //! - a refusal is answered with [`rejection_response`] (HTTP or gRPC).
    //!
    //! ```
    //! use passage_core::{Passage, TokenSource, adapter::{Admission, Decision, Hooks as _}};
    //!
    //! # async fn run(passage: Passage, headers: http::HeaderMap) {
    //! let admission = Admission::optional(TokenSource::Header);
    //! let verdict = match passage.auth().admit_headers(admission, &headers) {
    //!     Decision::Ready(verdict) => verdict,
    //!     Decision::Pending(pending) => pending.resolve().await,
    //! };
    //! match verdict {
    //!     Ok(Some(claims)) => println!("user {}", claims.user_id()),
    //!     Ok(None) => println!("anonymous"),
    //!     Err(refused) => println!("{} {}", refused.status(), refused.code()),
    //! }
    //! # }
    //! ```

    pub use crate::auth::{
        admission::{Admission, Anonymous, Decision, Hooks, Layered, Pending, required},
        response::{NotConfigured, is_grpc, rejection_response},
    };
}

#[doc(hidden)]
pub mod __private {
    //! Internals for the fuzz targets and property tests; not part of the API.

    pub use crate::auth::token::{check_token_shape, find_token};
    use crate::{Auth, AuthError, JwksError, PassageClaims, auth::AuthConfig};

    /// Validation against a fixed JWKS document, with no network and no token cache: the same
    /// rules as a client's, for fuzzing.
    #[derive(Debug)]
    pub struct OfflineAuth(Auth);

    impl OfflineAuth {
        /// Validation for `app_id` with the keys of `jwks` (a JWKS document).
        ///
        /// # Errors
        /// When the document does not parse.
        pub fn new(app_id: &str, jwks: &[u8]) -> Result<Self, JwksError> {
            let config = AuthConfig {
                token_cache_capacity: 0,
                ..AuthConfig::default()
            };
            let http = reqwest::Client::builder()
                .build()
                .map_err(|e| JwksError::Transport(std::sync::Arc::new(e)))?;
            let auth = Auth::new(app_id.into(), "offline:".to_owned(), http, config);
            auth.preload_keys(jwks)?;
            Ok(Self(auth))
        }

        /// Validates `token` now.
        ///
        /// # Errors
        /// As [`Auth::validate_jwt`].
        pub fn validate(&self, token: &str) -> Result<PassageClaims, AuthError> {
            self.0.validate_offline(token)
        }
    }
}
