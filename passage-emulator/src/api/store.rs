//! The in-memory user store behind the emulated Management API.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::ids::random_id;

/// A user as the emulator keeps it; serialized as Passage's `UserInfo`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct User {
    pub(crate) id: String,
    pub(crate) email: String,
    pub(crate) phone: String,
    pub(crate) external_id: String,
    pub(crate) email_verified: bool,
    pub(crate) phone_verified: bool,
    pub(crate) webauthn: bool,
    pub(crate) login_count: i64,
    pub(crate) status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) last_login_at: OffsetDateTime,
    pub(crate) user_metadata: Option<Map<String, Value>>,
    pub(crate) recent_events: Vec<Value>,
    pub(crate) social_connections: Map<String, Value>,
    pub(crate) webauthn_devices: Vec<Device>,
    pub(crate) webauthn_types: Vec<String>,
    #[serde(skip)]
    pub(crate) refresh_token_revocations: u32,
}

/// A passkey or security key registered to a user (`WebAuthnDevices`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Device {
    pub(crate) id: String,
    pub(crate) cred_id: String,
    pub(crate) friendly_name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) last_login_at: OffsetDateTime,
    pub(crate) usage_count: i64,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) icons: Icons,
}

/// Device icons: both keys always present, values nullable.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Icons {
    pub(crate) light: Option<String>,
    pub(crate) dark: Option<String>,
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

    /// Registers a passkey with this name.
    #[must_use]
    pub fn with_device(mut self, name: impl Into<String>) -> Self {
        self.devices.push(name.into());
        self
    }
}

/// A created magic link.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MagicLink {
    pub(crate) id: String,
    pub(crate) app_id: String,
    pub(crate) identifier: String,
    pub(crate) redirect_url: String,
    pub(crate) secret: String,
    pub(crate) url: String,
    pub(crate) user_id: String,
    pub(crate) activated: bool,
    pub(crate) ttl: i64,
    #[serde(rename = "type")]
    pub(crate) kind: String,
}

#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) users: Vec<User>,
    pub(crate) magic_links: Vec<MagicLink>,
}

/// The zero time Passage reports for "never".
pub(crate) fn never() -> OffsetDateTime {
    time::macros::datetime!(0001-01-01 00:00:00 UTC)
}

impl Store {
    pub(crate) fn get(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub(crate) fn get_mut(&mut self, id: &str) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.id == id)
    }

    pub(crate) fn find_identifier(&self, identifier: &str) -> Option<&User> {
        let identifier = identifier.to_lowercase();
        self.users.iter().find(|u| {
            (!u.email.is_empty() && u.email == identifier)
                || (!u.phone.is_empty() && u.phone == identifier)
        })
    }

    /// Adds a user; the caller has validated email and phone.
    pub(crate) fn insert(&mut self, seed: SeedUser) -> Result<User, &'static str> {
        let email = seed.email.unwrap_or_default().to_lowercase();
        let phone = seed.phone.unwrap_or_default();
        if email.is_empty() && phone.is_empty() {
            return Err("email or phone is required");
        }
        if (!email.is_empty() && self.find_identifier(&email).is_some())
            || (!phone.is_empty() && self.find_identifier(&phone).is_some())
        {
            return Err("a user with this identifier already exists");
        }
        let id = seed.id.unwrap_or_else(random_id);
        if self.get(&id).is_some() {
            return Err("a user with this id already exists");
        }
        let status = seed.status.unwrap_or_else(|| "active".to_owned());
        if !matches!(status.as_str(), "active" | "inactive" | "pending") {
            return Err("status must be active, inactive or pending");
        }
        let now = now();
        let devices: Vec<Device> = seed
            .devices
            .into_iter()
            .map(|name| Device {
                id: random_id(),
                cred_id: random_id(),
                friendly_name: name,
                created_at: now,
                updated_at: now,
                last_login_at: now,
                usage_count: 0,
                kind: "passkey".to_owned(),
                icons: Icons {
                    light: None,
                    dark: None,
                },
            })
            .collect();
        let user = User {
            id,
            email,
            phone,
            external_id: String::new(),
            email_verified: false,
            phone_verified: false,
            webauthn: !devices.is_empty(),
            login_count: 0,
            status,
            created_at: now,
            updated_at: now,
            last_login_at: never(),
            user_metadata: seed.user_metadata,
            recent_events: Vec::new(),
            social_connections: Map::new(),
            webauthn_types: if devices.is_empty() {
                Vec::new()
            } else {
                vec!["passkey".to_owned()]
            },
            webauthn_devices: devices,
            refresh_token_revocations: 0,
        };
        self.users.push(user.clone());
        Ok(user)
    }

    /// Changes a user's email, phone or metadata; a changed identifier is no longer verified,
    /// and must not be another user's.
    pub(crate) fn update(&mut self, id: &str, change: Change) -> Result<&User, Refusal> {
        if self.get(id).is_none() {
            return Err(Refusal::NoSuchUser);
        }
        for identifier in [change.email.as_deref(), change.phone.as_deref()]
            .into_iter()
            .flatten()
            .filter(|i| !i.is_empty())
        {
            if self.find_identifier(identifier).is_some_and(|u| u.id != id) {
                return Err(Refusal::Invalid(
                    "a user with this identifier already exists",
                ));
            }
        }
        let user = self.get_mut(id).ok_or(Refusal::NoSuchUser)?;
        if let Some(email) = change.email {
            user.email = email.to_lowercase();
            user.email_verified = false;
        }
        if let Some(phone) = change.phone {
            user.phone = phone;
            user.phone_verified = false;
        }
        if let Some(metadata) = change.user_metadata {
            user.user_metadata = Some(metadata);
        }
        user.updated_at = now();
        Ok(user)
    }

    /// Sets a user's status (`active` or `inactive`).
    pub(crate) fn set_status(&mut self, id: &str, status: &str) -> Result<&User, Refusal> {
        let user = self.get_mut(id).ok_or(Refusal::NoSuchUser)?;
        status.clone_into(&mut user.status);
        user.updated_at = now();
        Ok(user)
    }

    /// Removes a user.
    pub(crate) fn delete(&mut self, id: &str) -> Result<(), Refusal> {
        let before = self.users.len();
        self.users.retain(|u| u.id != id);
        if self.users.len() == before {
            return Err(Refusal::NoSuchUser);
        }
        Ok(())
    }

    /// Removes one of a user's devices; a user without devices has no WebAuthn either.
    pub(crate) fn revoke_device(&mut self, id: &str, device_id: &str) -> Result<(), Refusal> {
        let user = self.get_mut(id).ok_or(Refusal::NoSuchUser)?;
        let before = user.webauthn_devices.len();
        user.webauthn_devices.retain(|d| d.id != device_id);
        if user.webauthn_devices.len() == before {
            return Err(Refusal::NoSuchDevice);
        }
        user.webauthn = !user.webauthn_devices.is_empty();
        if !user.webauthn {
            user.webauthn_types.clear();
        }
        Ok(())
    }

    /// Counts a "sign out everywhere".
    pub(crate) fn revoke_refresh_tokens(&mut self, id: &str) -> Result<(), Refusal> {
        let user = self.get_mut(id).ok_or(Refusal::NoSuchUser)?;
        user.refresh_token_revocations += 1;
        Ok(())
    }

    /// Records a sign-in: login count, last login, and a recent event.
    pub(crate) fn record_login(&mut self, id: &str) {
        if let Some(user) = self.get_mut(id) {
            let now = now();
            user.login_count += 1;
            user.last_login_at = now;
            let at = now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            user.recent_events.insert(
                0,
                serde_json::json!({
                    "id": random_id(),
                    "type": "login",
                    "ip_addr": "127.0.0.1",
                    "user_agent": "passage-emulator",
                    "user_agent_display": "Passage emulator",
                    "created_at": at,
                    "completed_at": at,
                    "status": "complete",
                    "action": "login",
                    "social_login_type": null,
                }),
            );
            user.recent_events.truncate(10);
        }
    }
}

/// Changes to a user (fields left `None` stay as they are).
#[derive(Debug, Default)]
pub(crate) struct Change {
    pub(crate) email: Option<String>,
    pub(crate) phone: Option<String>,
    pub(crate) user_metadata: Option<Map<String, serde_json::Value>>,
}

/// Why the store refused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NoSuchUser,
    NoSuchDevice,
    Invalid(&'static str),
}

pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    // Microsecond precision, like Passage.
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}
