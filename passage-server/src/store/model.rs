//! The records a store keeps: users and their devices, magic links, sessions and refresh
//! tokens, signing keys, WebAuthn handshakes. Users, devices and magic links serialize as the
//! wire's (`docs/wire-format.md`); fields not on the wire are skipped.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{StoreError, never, rules};

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
    /// Unix seconds of the user's last revocation (sign out everywhere, deactivation): every
    /// token issued at or before it is refused (0: never; not on the wire).
    #[serde(skip)]
    pub revoked_at: i64,
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
    /// SHA-256 of the secret, hex: all a store keeps of it (the secret and the URL are handed
    /// out once, when the link is made; not on the wire).
    #[serde(skip)]
    pub secret_hash: String,
    /// SHA-256 of the id of the browser that asked for the link (the element's page), if it
    /// said (not on the wire).
    #[serde(skip)]
    pub browser: Option<String>,
    /// Whether the link was opened in the browser that asked for it: only then does the page
    /// that waits for it get a session (not on the wire).
    #[serde(skip)]
    pub same_browser: bool,
    /// Whether this is a one-time passcode rather than a link: its secret is a short code,
    /// entered against its id ([`Store::activate_code`](super::Store::activate_code)) with a
    /// bounded number of tries, and never accepted as a link's secret (not on the wire).
    #[serde(skip)]
    pub code: bool,
    /// Wrong codes entered so far (not on the wire).
    #[serde(skip)]
    pub tries: u32,
}

impl MagicLink {
    /// The link as a store keeps it: without its secret and URL (only their hash is kept).
    #[must_use]
    pub fn without_secret(&self) -> Self {
        Self {
            secret: String::new(),
            url: String::new(),
            ..self.clone()
        }
    }
}

/// What opening a magic link did ([`Store::activate_magic_link`](super::Store::activate_magic_link)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Activation {
    /// It signed its user in: the link, now activated (its user's address verified, if the
    /// server delivered it).
    Activated(Box<MagicLink>),
    /// It confirmed a new identifier (a change asked for in the profile) and signed its user
    /// in: the link, and the identifier it replaced (empty when there was none).
    Changed {
        /// The link, now activated.
        link: Box<MagicLink>,
        /// The email or phone the new one replaced.
        previous: String,
    },
    /// Its user is inactive: nothing changed (the link stays unused).
    Inactive,
    /// No unused, unexpired link has this secret.
    Unknown,
}

impl Activation {
    /// The link activated: [`Changed`](Self::Changed) when it confirmed a new identifier
    /// (`previous`: the one it replaced), else [`Activated`](Self::Activated).
    pub(crate) fn done(link: MagicLink, previous: Option<String>) -> Self {
        match previous {
            Some(previous) => Self::Changed {
                link: Box::new(link),
                previous,
            },
            None => Self::Activated(Box::new(link)),
        }
    }
}

/// What entering a one-time passcode did ([`Store::activate_code`](super::Store::activate_code)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CodeActivation {
    /// The code was right: it signed its user in (its address verified), and it is used up.
    Activated(Box<MagicLink>),
    /// The code was wrong; this many tries are left.
    Wrong {
        /// Tries left before the code is dead.
        left: u32,
    },
    /// The code was tried too many times: it is dead, even for the right code.
    Exhausted,
    /// Its user is inactive: nothing changed (the try is not counted).
    Inactive,
    /// No unused, unexpired code has this id.
    Unknown,
}

/// A signed-in session: what a chain of refresh tokens belongs to, from a sign-in until it
/// ends (signed out, revoked, reused, or expired).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The id (the tokens' `sid` claim).
    pub id: String,
    /// Whose.
    pub user_id: String,
    /// Unix seconds of the sign-in (refreshing does not move it).
    pub signed_in_at: i64,
    /// Unix seconds of the last refresh (or the sign-in).
    pub refreshed_at: i64,
    /// Unix seconds after which no refresh works: the absolute lifetime.
    pub expires_at: i64,
    /// Whether it ended before that (sign-out, revocation, a refresh token used twice).
    pub ended: bool,
}

impl Session {
    /// Whether its tokens may still be used at `now` (unix seconds).
    #[must_use]
    pub fn is_live(&self, now: i64) -> bool {
        !self.ended && now < self.expires_at
    }
}

/// What presenting a refresh token did ([`Store::refresh`](super::Store::refresh)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refresh {
    /// It was current: it is used up, the new token replaces it, and this is its session.
    Rotated(Session),
    /// No such token.
    Unknown,
    /// It had been used before: someone holds a copy. Its whole session has ended.
    Reused,
    /// Its session ended or expired, or the token itself (inactivity).
    Ended,
}

/// A WebAuthn handshake in progress, as kept between its start and its finish (possibly on
/// another replica).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Which ceremony (`register`, `add_device`, `login`, `discoverable`).
    pub kind: String,
    /// The user it is for, when it is for one.
    pub user_id: Option<String>,
    /// The ceremony's state, serialized (webauthn-rs).
    pub state: String,
    /// Unix seconds after which it is gone.
    pub expires_at: i64,
}

/// A page of users ([`Store::list_users`](super::Store::list_users)).
#[derive(Debug, Clone, Default)]
pub struct UserPage {
    /// The users on the page, in the query's order.
    pub users: Vec<User>,
    /// How many users match the query, on every page.
    pub total: usize,
}

impl User {
    /// A new user from a seed, with the rules every store applies (an identifier, a known
    /// status, the email lower-cased), and the devices the seed names.
    ///
    /// # Errors
    /// [`StoreError::Refused`] without an identifier or with an unknown status.
    pub fn from_seed(seed: SeedUser) -> Result<(Self, Vec<Device>), StoreError> {
        rules::new_user(seed)
    }

    /// Applies a change (after the store checked that no other user holds its identifiers).
    pub fn apply(&mut self, change: Change) {
        rules::apply(self, change);
    }

    /// Records a sign-in at `at`: login count, last login, a recent event.
    pub fn record_login(&mut self, at: OffsetDateTime) {
        self.login_count += 1;
        self.last_login_at = at;
        self.recent_events.insert(0, rules::login_event(at));
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
        rules::refresh_webauthn(self);
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

/// What [`Store::add_device`](super::Store::add_device) checks, in the same atomic step as the insert (so two requests at
/// once, on one process or several, cannot both pass).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceRules {
    /// Only as the first passkey of a pending user (a registration): refused when the user holds
    /// a passkey already or is not pending.
    pub first: bool,
    /// At most this many devices per user (0: no limit): refused with [`StoreError::Limit`].
    pub max: usize,
}

/// Refusal texts of [`Store::add_device`](super::Store::add_device).
pub mod refusals {
    /// The credential id is another device's.
    pub const CREDENTIAL_TAKEN: &str = "this credential is already registered";
    /// [`DeviceRules::first`](super::DeviceRules::first): the user holds a passkey already, or
    /// is not pending.
    pub const NOT_FIRST: &str = "the user is registered already";
    /// [`DeviceRules::max`](super::DeviceRules::max) reached.
    pub const TOO_MANY_DEVICES: &str = "the user holds the most passkeys allowed";
    /// [`Store::import_user`](crate::store::Store::import_user): the id is another user's (one with
    /// other identifiers).
    pub const ID_TAKEN: &str = "the id is taken by a user with other identifiers";
    /// [`Store::import_user`](crate::store::Store::import_user): the email or phone is another user's.
    pub const IDENTIFIER_TAKEN: &str = "the email or phone is another user's";
    /// [`SignIn`](super::SignIn): the user is inactive.
    pub const USER_INACTIVE: &str = "the user is inactive";
    /// [`SignIn`](super::SignIn): another sign-in changed the passkey (its counter) since it
    /// was read: of two assertions checked against the same counter, only one counts.
    pub const PASSKEY_CHANGED: &str = "the passkey was used by another sign-in at the same moment";
}

/// What [`Store::import_user`](crate::store::Store::import_user) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Imported {
    /// The user was created, with every passkey given.
    Created,
    /// The user was there already (the same id with the same identifiers, from an earlier
    /// import): nothing about it changed, and of the passkeys given, those it did not hold yet
    /// were added (`added` of them).
    Existing {
        /// How many passkeys were added.
        added: usize,
    },
}

/// A sign-in as the store keeps it, in one step, under its user's lock: refused for an inactive
/// user ([`refusals::USER_INACTIVE`]: a deactivation since the caller read them), a pending
/// user becomes active, the passkey it used gets its new material (refused with
/// [`refusals::PASSKEY_CHANGED`] when another sign-in changed it since it was read), the login
/// is counted, and the new session with its first refresh token is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    /// The passkey that signed in; `None` for a sign-in by link or code.
    pub passkey: Option<PasskeyUse>,
    /// Whether to count it as a login (a second session for the page that waited for a magic
    /// link is not one).
    pub record_login: bool,
    /// The session.
    pub session: Session,
    /// Its first refresh token.
    pub token: RefreshToken,
}

/// A passkey's use in a [`SignIn`]: its material as read before the assertion was checked, and
/// after (its counter moved on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    /// The device whose passkey it is.
    pub device_id: String,
    /// The material the assertion was checked against.
    pub before: String,
    /// The material to keep.
    pub after: String,
}

/// A refresh token as kept: its SHA-256 (hex), never the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// The session it belongs to.
    pub session_id: String,
    /// Whose.
    pub user_id: String,
    /// Unix seconds after which it no longer works (the inactivity lifetime, at most the
    /// session's end).
    pub expires_at: i64,
}

/// A signing key as kept: its kid and its private key (PKCS#8 DER, sealed under the operator's
/// key when one is configured: the store never sees the difference).
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id.
    pub kid: String,
    /// The private key: PKCS#8 DER, or sealed.
    pub pkcs8: Vec<u8>,
    /// When it starts signing, in seconds since the epoch (0: from the start); until then it is
    /// only served, announced.
    pub signs_from: i64,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}
