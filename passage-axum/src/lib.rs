#![doc = include_str!("../README.md")]

mod extract;

pub use extract::{PassageRejection, PassageUser};
pub use passage_core::{
    AuthError, ConfigError, Passage, PassageBuilder, PassageClaims, Report, TokenSource,
};
pub use passage_tower::{DefaultRejection, OnRejection, PassageLayer, PassageService};

// The Management API, so an app needs no direct dependency on passage-core for it (the enums
// and records are in `models`: `UserStatus`, `Language`, `User`, …).
pub use passage_core::{
    ApiError, CreateMagicLink, CreateUser, ErrorCode, ErrorResponse, Filter, ListUsers, Order,
    Page, PageLinks, UpdateUser, models,
};
