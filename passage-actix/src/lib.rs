#![doc = include_str!("../README.md")]

mod error;
mod extract;
mod middleware;

pub use error::PassageError;
pub use extract::{OptionalPassageUser, PassageUser};
pub use middleware::{PassageAuth, PassageAuthFuture, PassageAuthMiddleware};
pub use passage_core::{
    AuthError, ConfigError, Passage, PassageBuilder, PassageClaims, Report, TokenSource,
};

// The Management API, so an app needs no direct dependency on passage-core for it (the enums
// and records are in `models`: `UserStatus`, `Language`, `User`, …).
pub use passage_core::{
    ApiError, CreateMagicLink, CreateUser, ErrorCode, ErrorResponse, Filter, ListUsers, Order,
    Page, PageLinks, UpdateUser, models,
};
