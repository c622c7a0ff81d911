//! The Management API: [`Users`], [`MagicLinks`] and [`App`], over one [`Transport`](transport).

mod app;
pub(crate) mod error;
mod list;
mod magic_links;
pub(crate) mod transport;
mod users;

pub use app::App;
pub use error::{ApiError, ErrorCode, ErrorResponse};
pub use list::{Filter, ListUsers, Order, Page, PageLinks};
pub use magic_links::{CreateMagicLink, MagicLinks};
pub use users::{CreateUser, UpdateUser, Users};
