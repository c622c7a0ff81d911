#![doc = include_str!("../README.md")]

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
