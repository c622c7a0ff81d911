//! What a Passage keeps — users and their devices, passkey material, refresh tokens, magic
//! links, signing keys — behind one trait, [`Store`], with one implementation per database:
//! [`MemoryStore`] (development and tests), `SqliteStore` (feature `sqlite`). The types are the
//! wire's (`docs/wire-format.md`).

mod memory;
#[cfg(feature = "sqlite")]
mod sqlite;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

pub use crate::ids::random_id;
pub use memory::MemoryStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// What a [`Store`] method returns: a boxed future, so the trait works behind `dyn Store` and a
/// database driver can await (an in-memory or SQLite store answers on the first poll).
pub type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// A user as a store keeps it; serialized as Passage's `UserInfo`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)] // the fields are Passage's own (docs/wire-format.md)
pub struct User {
    pub id: String,
    pub email: String,
    pub phone: String,
    pub external_id: String,
    pub email_verified: bool,
    pub phone_verified: bool,
    pub webauthn: bool,
    pub login_count: i64,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_login_at: OffsetDateTime,
    pub user_metadata: Option<Map<String, Value>>,
    pub recent_events: Vec<Value>,
    pub social_connections: Map<String, Value>,
    pub webauthn_devices: Vec<Device>,
    pub webauthn_types: Vec<String>,
    /// How many times "revoke refresh tokens" was called (not on the wire).
    #[serde(skip)]
    pub refresh_token_revocations: u32,
}

/// A passkey or security key registered to a user (`WebAuthnDevices`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)] // the fields are Passage's own (docs/wire-format.md)
pub struct Device {
    pub id: String,
    pub cred_id: String,
    pub friendly_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_login_at: OffsetDateTime,
    pub usage_count: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub icons: Icons,
}

/// Device icons: both keys always present, values nullable.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[allow(missing_docs)]
pub struct Icons {
    pub light: Option<String>,
    pub dark: Option<String>,
}

/// A user to load into the emulator (from `--users FILE`, the dev endpoint, or code).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct SeedUser {
    /// The user id (random when absent).
    #[serde(default)]
    pub id: Option<String>,
    /// Email address (lowercased).
    #[serde(default)]
    pub email: Option<String>,
    /// Phone number in E.164.
    #[serde(default)]
    pub phone: Option<String>,
    /// `active` (default), `inactive` or `pending`.
    #[serde(default)]
    pub status: Option<String>,
    /// Custom metadata.
    #[serde(default)]
    pub user_metadata: Option<Map<String, Value>>,
    /// Names of passkeys to register to the user.
    #[serde(default)]
    pub devices: Vec<String>,
}

impl SeedUser {
    /// A seed user with this email.
    #[must_use]
    pub fn email(email: impl Into<String>) -> Self {
        Self {
            email: Some(email.into()),
            ..Self::default()
        }
    }

    /// Sets the user id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the phone number.
    #[must_use]
    pub fn with_phone(mut self, phone: impl Into<String>) -> Self {
        self.phone = Some(phone.into());
        self
    }

    /// Sets the status (`active`, `inactive` or `pending`).
    #[must_use]
    pub fn with_status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Registers a passkey with this name.
    #[must_use]
    pub fn with_device(mut self, name: impl Into<String>) -> Self {
        self.devices.push(name.into());
        self
    }
}

/// A created magic link; serialized as Passage's `MagicLink`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[allow(missing_docs)] // the fields are Passage's own (docs/wire-format.md)
pub struct MagicLink {
    pub id: String,
    pub app_id: String,
    pub identifier: String,
    pub redirect_url: String,
    pub secret: String,
    pub url: String,
    pub user_id: String,
    pub activated: bool,
    /// Lifetime in minutes.
    pub ttl: i64,
    #[serde(rename = "type")]
    pub kind: String,
    /// When it stops working (not on the wire).
    #[serde(skip, default = "never")]
    pub expires_at: OffsetDateTime,
    /// Whether a waiting page has collected the sign-in it made (not on the wire).
    #[serde(skip)]
    pub collected: bool,
    /// Whether the server delivered it (by mail) itself, rather than handing it to the app that
    /// asked for it through the Management API: only then does opening it verify the address
    /// (not on the wire).
    #[serde(skip)]
    pub delivered: bool,
}

impl User {
    /// A new user from a seed, with the rules every store applies (an identifier, a known
    /// status, the email lower-cased), and the devices the seed names.
    ///
    /// # Errors
    /// [`StoreError::Refused`] without an identifier or with an unknown status.
    pub fn from_seed(seed: SeedUser) -> Result<(Self, Vec<Device>), StoreError> {
        memory::new_user(seed)
    }

    /// Applies a change (after the store checked that no other user holds its identifiers).
    pub fn apply(&mut self, change: Change) {
        memory::apply(self, change);
    }

    /// Records a sign-in at `at`: login count, last login, a recent event.
    pub fn record_login(&mut self, at: OffsetDateTime) {
        self.login_count += 1;
        self.last_login_at = at;
        self.recent_events.insert(0, memory::login_event(at));
        self.recent_events.truncate(10);
    }

    /// Marks the address a magic link was delivered to as verified, if the server delivered it
    /// itself and it is still this user's email or phone: opening the link proved that the user
    /// receives messages there. A link handed to the app through the Management API proves
    /// nothing about the address.
    pub fn verify_by_link(&mut self, link: &MagicLink) {
        if !link.delivered {
            return;
        }
        let sent_to = link.identifier.to_lowercase();
        if !self.email.is_empty() && self.email == sent_to {
            self.email_verified = true;
        }
        if !self.phone.is_empty() && self.phone == sent_to {
            self.phone_verified = true;
        }
    }

    /// Sets the user's devices, and the fields that follow them (`webauthn`, `webauthn_types`).
    pub fn set_devices(&mut self, devices: Vec<Device>) {
        self.webauthn_devices = devices;
        memory::refresh_webauthn(self);
    }
}

impl Device {
    /// A new passkey with a fresh id, registered at `at`.
    #[must_use]
    pub fn passkey(friendly_name: String, cred_id: String, at: OffsetDateTime) -> Self {
        Self {
            id: crate::ids::random_id(),
            cred_id,
            friendly_name,
            created_at: at,
            updated_at: at,
            last_login_at: at,
            usage_count: 0,
            kind: "passkey".to_owned(),
            icons: Icons::default(),
        }
    }
}

/// Changes to a user (fields left `None` stay as they are).
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// A new email (lower-cased; no longer verified).
    pub email: Option<String>,
    /// A new phone (no longer verified).
    pub phone: Option<String>,
    /// New metadata (replaces the old).
    pub user_metadata: Option<Map<String, Value>>,
}

/// What [`Store::add_device`] checks, in the same atomic step as the insert (so two requests at
/// once, on one process or several, cannot both pass).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceRules {
    /// Only as the first passkey of a pending user (a registration): refused when the user holds
    /// a passkey already or is not pending.
    pub first: bool,
    /// At most this many devices per user (0: no limit): refused with [`StoreError::Limit`].
    pub max: usize,
}

/// Refusal texts of [`Store::add_device`].
pub mod refusals {
    /// The credential id is another device's.
    pub const CREDENTIAL_TAKEN: &str = "this credential is already registered";
    /// [`DeviceRules::first`](super::DeviceRules::first): the user holds a passkey already, or
    /// is not pending.
    pub const NOT_FIRST: &str = "the user is registered already";
    /// [`DeviceRules::max`](super::DeviceRules::max) reached.
    pub const TOO_MANY_DEVICES: &str = "the user holds the most passkeys allowed";
}

/// A refresh token as kept: its SHA-256 (hex), never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// Whose.
    pub user_id: String,
    /// Unix seconds after which it no longer works.
    pub expires_at: i64,
}

/// A signing key as kept: its kid and PKCS#8 DER.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id.
    pub kid: String,
    /// The private key, PKCS#8 DER.
    pub pkcs8: Vec<u8>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Why a store refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No user has this id.
    #[error("no such user")]
    NoSuchUser,
    /// The user has no device with this id.
    #[error("no such device")]
    NoSuchDevice,
    /// The change breaks a rule (a duplicate identifier, a bad status, …).
    #[error("{0}")]
    Refused(&'static str),
    /// A limit was reached (the most passkeys a user may hold, …).
    #[error("{0}")]
    Limit(&'static str),
    /// The storage itself failed (disk, database).
    #[error("storage failed: {0}")]
    Failed(String),
}

/// Storage of a Passage. Every method is one short, atomic operation (a transaction in a
/// database); implementations are shared across requests (`&self`, interior mutability).
pub trait Store: std::fmt::Debug + Send + Sync + 'static {
    /// Every user, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn users<'a>(&'a self) -> StoreFuture<'a, Vec<User>>;

    /// The user with this id.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>>;

    /// The user whose email (any case) or phone is `identifier`.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn user_by_identifier<'a>(&'a self, identifier: &'a str) -> StoreFuture<'a, Option<User>>;

    /// Adds a user, keeping its id when given; its email is lower-cased.
    ///
    /// # Errors
    /// [`StoreError::Refused`] without an identifier, for a duplicate identifier or id, or a bad
    /// status.
    fn insert_user<'a>(&'a self, seed: SeedUser) -> StoreFuture<'a, User>;

    /// Changes a user's email, phone or metadata.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`]; [`StoreError::Refused`] for another user's identifier.
    fn update_user<'a>(&'a self, id: &'a str, change: Change) -> StoreFuture<'a, User>;

    /// Sets a user's status (`active`, `inactive`, `pending`).
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`].
    fn set_status<'a>(&'a self, id: &'a str, status: &'a str) -> StoreFuture<'a, User>;

    /// Removes a user with everything it holds (devices, passkeys, tokens, links).
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`].
    fn delete_user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Records a sign-in: login count, last login, a recent event.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`].
    fn record_login<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Registers a device with its passkey material (opaque to the store), if `rules` allow it
    /// at that moment.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`]; [`StoreError::Refused`] ([`refusals`]) for a credential id
    /// taken or a user who is not registering; [`StoreError::Limit`] at the most devices.
    fn add_device<'a>(
        &'a self,
        user_id: &'a str,
        device: Device,
        passkey: String,
        rules: DeviceRules,
    ) -> StoreFuture<'a, ()>;

    /// A user's devices with their passkey material (empty for devices without any).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn passkeys<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<(Device, String)>>;

    /// The user, device and passkey material of a credential id (the browser's, base64url).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn find_passkey<'a>(
        &'a self,
        cred_id: &'a str,
    ) -> StoreFuture<'a, Option<(User, Device, String)>>;

    /// Records a use of a device: new passkey material (its counter), usage count, last use.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`], [`StoreError::NoSuchDevice`].
    fn use_device<'a>(
        &'a self,
        user_id: &'a str,
        device_id: &'a str,
        passkey: String,
    ) -> StoreFuture<'a, ()>;

    /// Removes one of a user's devices (and its passkey).
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`], [`StoreError::NoSuchDevice`].
    fn revoke_device<'a>(&'a self, user_id: &'a str, device_id: &'a str) -> StoreFuture<'a, ()>;

    /// Signs a user out everywhere: every refresh token of theirs stops working.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`].
    fn revoke_refresh_tokens<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()>;

    /// Keeps a new refresh token.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn insert_refresh_token<'a>(&'a self, token: RefreshToken) -> StoreFuture<'a, ()>;

    /// Removes and returns a refresh token: each works once.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn take_refresh_token<'a>(&'a self, hash: &'a str) -> StoreFuture<'a, Option<RefreshToken>>;

    /// Keeps a new magic link.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn insert_magic_link<'a>(&'a self, link: MagicLink) -> StoreFuture<'a, ()>;

    /// The magic link with this id.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn magic_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MagicLink>>;

    /// Activates the magic link with this secret, once, if it has not expired at `now`, and
    /// verifies the address it was delivered to ([`User::verify_by_link`]); returns it
    /// activated. A used, expired or unknown secret is `None`.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn activate_magic_link<'a>(
        &'a self,
        secret: &'a str,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, Option<MagicLink>>;

    /// Marks an activated magic link's sign-in as collected by the page that waited for it;
    /// true the first time only.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn collect_magic_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool>;

    /// The signing keys kept, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn signing_keys<'a>(&'a self) -> StoreFuture<'a, Vec<StoredKey>>;

    /// Keeps a signing key.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn add_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()>;

    /// Forgets every user, device, token and link (not the keys).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn clear<'a>(&'a self) -> StoreFuture<'a, ()>;
}

/// The zero time Passage reports for "never".
#[must_use]
pub fn never() -> OffsetDateTime {
    time::macros::datetime!(0001-01-01 00:00:00 UTC)
}

/// Now, to the microsecond (Passage's precision).
#[must_use]
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    // Microsecond precision, like Passage.
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}
