//! # passage-axum
//!
//! Authenticate [Passage](https://passage.1password.com) users in axum 0.8 with one extractor:
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use passage_axum::{Passage, PassageUser};
//!
//! async fn me(user: PassageUser) -> String {
//!     format!("hello {}", user.id())
//! }
//!
//! async fn maybe(user: Option<PassageUser>) -> String {
//!     user.map_or("hello stranger".into(), |u| format!("hello {}", u.id()))
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let passage = Passage::from_env()?;
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .route("/maybe", get(maybe))
//!     .with_state(passage);
//! # Ok(()) }
//! ```
//!
//! ## Protect a whole router
//! [`PassageLayer`] (re-exported from `passage-tower`) validates once per request and puts the
//! claims into extensions, where [`PassageUser`] then finds them for free:
//!
//! ```no_run
//! # use axum::{Router, routing::get};
//! use passage_axum::{Passage, PassageLayer, PassageUser};
//! # async fn me(user: PassageUser) -> String { user.id().to_owned() }
//! # fn run(passage: Passage) {
//! let app: Router = Router::new()
//!     .route("/me", get(me))
//!     .layer(PassageLayer::new(passage.clone()))
//!     .route("/healthz", get(|| async { "ok" })) // added after the layer: public
//!     .with_state(passage);
//! # }
//! ```
//!
//! ## Optional authentication
//! `Option<PassageUser>`: no token is `None`; a present but bad token is still a 401 (a client
//! with a broken token should hear about it, not be treated as a stranger).
//!
//! ## Custom rejection
//! [`PassageRejection`] implements `IntoResponse` with the workspace's standard answer (401 +
//! `WWW-Authenticate`, or 503 + `Retry-After`, small JSON body). For your own body, extract
//! `Result<PassageUser, PassageRejection>` and map the error, or give the layer an
//! [`OnRejection`]:
//!
//! ```no_run
//! use axum::{Json, http::StatusCode, response::IntoResponse};
//! use passage_axum::{PassageRejection, PassageUser};
//!
//! async fn me(user: Result<PassageUser, PassageRejection>) -> impl IntoResponse {
//!     match user {
//!         Ok(user) => (StatusCode::OK, user.id().to_owned()).into_response(),
//!         Err(rejection) => (rejection.status(), format!("please sign in ({})", rejection.error().code())).into_response(),
//!     }
//! }
//! ```
//!
//! | feature | default | what |
//! |---|---|---|
//! | — | — | none |

mod extract;

pub use extract::{PassageRejection, PassageUser};
pub use passage_core::{Passage, PassageClaims, TokenSource};
pub use passage_tower::{DefaultRejection, OnRejection, PassageLayer, PassageService};
