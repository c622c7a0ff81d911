#![doc = include_str!("../README.md")]
//!
//! ## Features
//!
//! | feature | what it adds | default |
//! |---|---|---|
//! | `authentication` | the Authentication API that passage-elements calls: passkeys (webauthn-rs), magic links, sessions | yes |
//! | `sqlite` | [`SqliteStore`](store::SqliteStore): everything in one SQLite file (SQLite bundled), for one server process | yes |
//! | `postgres` | [`PostgresStore`](store::PostgresStore): everything in PostgreSQL (tokio-postgres, a deadpool pool, rustls for TLS), for several server processes on one database | yes |
//! | `smtp` | magic links by SMTP (lettre); without it, links go only to the development mailbox | yes |
//! | `redis` | publishes session revocations to Redis, as passage-redis does | yes |
//! | `import` | `import_users` and `export_users`: Passage's console export (JSON or CSV) with passkeys, and back | yes |
//! | `cli` | the `passage-server` binary | yes |
//!
//! Without features, a server is the Management API and the JWKS over a
//! [`MemoryStore`](store::MemoryStore), with token minting and fault injection in development
//! mode: what `passage-emulator` runs.

#[cfg(feature = "authentication")]
mod auth;
mod dev;
mod fields;
mod identifier;
mod ids;
#[cfg(feature = "import")]
mod import;
mod keys;
mod listen;
#[cfg(feature = "authentication")]
mod mail;
mod management;
mod methods;
pub mod metrics;
#[cfg(feature = "authentication")]
mod passkey;
mod seal;
mod server;
mod signing;
#[cfg(feature = "authentication")]
mod sms;
mod state;
pub mod store;
mod token;

pub use dev::faults::{Fault, Target};
pub use fields::{
    FieldError, FieldType, LayoutItem, Layouts, MAX_FIELDS, MAX_METADATA_BYTES, MAX_TEXT,
    UserField, UserFields,
};
pub use identifier::{Identifier, IdentifierError};
#[cfg(feature = "import")]
pub use import::{
    Format, ImportError, ImportOptions, ImportReport, MAX_FILE_BYTES, MAX_ROWS, PasskeyRefusal,
    Refusal, UserLine, export_users, import_users, relying_party_of,
};
pub use keys::{CryptoError, SigningKey};
#[cfg(feature = "authentication")]
pub use mail::Mail;
#[cfg(feature = "smtp")]
pub use mail::SmtpSettings;
pub use methods::{AuthMethods, Identifiers, UnknownValue};
pub use seal::{SealError, SealingKey};
pub use server::{Server, ServerBuilder, ServerError, shutdown_signal};
pub use signing::{Rotation, rotate as rotate_signing_key};
#[cfg(feature = "authentication")]
pub use sms::{SmsWebhook, signature as sms_signature};
pub use store::SeedUser;
pub use token::{Signer, TokenBuilder};
