//! Typed models of Passage's Management API, exactly as shared/PASSAGE_API.md describes them.
//!
//! Enums are `#[non_exhaustive]` with an `Unknown` fallback, so a value the server adds later
//! never breaks deserialization. Date-times are `time::OffsetDateTime` (RFC 3339 on the wire).

mod app;
mod magic_link;
mod user;

pub use app::*;
pub use magic_link::*;
pub use user::*;

/// Arbitrary JSON metadata (`user_metadata`).
pub type Metadata = serde_json::Map<String, serde_json::Value>;
