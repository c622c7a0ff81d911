//! # passage-actix
//!
//! Authenticate [Passage](https://passage.1password.com) users in actix-web 4, with the same
//! answers as every other adapter of this workspace (decided in `passage-core`): 401 with an
//! RFC 6750 `WWW-Authenticate` challenge and a small JSON body, or 503 with `Retry-After` when
//! signing keys cannot be obtained.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use passage_actix::{Passage, PassageUser};
//!
//! async fn me(user: PassageUser) -> String {
//!     format!("hello {}", user.id())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let passage = Passage::from_env()?;
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(web::Data::new(passage.clone()))
//!         .route("/me", web::get().to(me))
//! })
//! .bind("127.0.0.1:8080")?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```
//!
//! ## Protect a scope
//! [`PassageAuth`] validates once per request and stores the claims, so [`PassageUser`] is then
//! free:
//!
//! ```no_run
//! use actix_web::{App, web};
//! use passage_actix::{Passage, PassageAuth, PassageUser};
//! # async fn me(user: PassageUser) -> String { user.id().to_owned() }
//! # fn run(passage: Passage) {
//! let app = App::new()
//!     .app_data(web::Data::new(passage.clone()))
//!     .service(web::scope("/api").wrap(PassageAuth::new(passage)).route("/me", web::get().to(me)));
//! # }
//! ```
//!
//! ## Optional authentication
//! actix-web's own `Option<T>` extractor turns *every* error into `None`, so on its own
//! `Option<PassageUser>` would treat a bad token as anonymous. Behind
//! [`PassageAuth::optional`] it is exact (bad tokens were already refused); without the
//! middleware use [`OptionalPassageUser`]: no token is `None`, a bad token is a 401.
//!
//! A missing client is a programming error and answers 500 with a logged hint: register
//! `web::Data<Passage>` (or a plain `Passage`) with `app_data`, or wrap with [`PassageAuth`].
//!
//! | feature | default | what |
//! |---|---|---|
//! | — | — | none |

mod error;
mod extract;
mod middleware;

pub use error::PassageError;
pub use extract::{OptionalPassageUser, PassageUser};
pub use middleware::{PassageAuth, PassageAuthMiddleware};
pub use passage_core::{Passage, PassageClaims, TokenSource};
