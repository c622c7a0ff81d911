use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Metadata;

/// A Passage user (`UserInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct User {
    /// The user id (the `sub` of their tokens).
    pub id: String,
    /// Email address, empty when none.
    #[serde(default)]
    pub email: String,
    /// Phone number (E.164), empty when none.
    #[serde(default)]
    pub phone: String,
    /// Your own id for the user, empty when unset.
    #[serde(default)]
    pub external_id: String,
    /// Whether the email is verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Whether the phone is verified.
    #[serde(default)]
    pub phone_verified: bool,
    /// Whether the user has a passkey.
    #[serde(default)]
    pub webauthn: bool,
    /// Number of sign-ins.
    #[serde(default)]
    pub login_count: i64,
    /// Account status.
    pub status: UserStatus,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last update time.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Last sign-in time (year 1 when never).
    #[serde(with = "time::serde::rfc3339")]
    pub last_login_at: OffsetDateTime,
    /// Custom metadata, `None` when unset.
    #[serde(default)]
    pub user_metadata: Option<Metadata>,
    /// Recent authentication events.
    #[serde(default, deserialize_with = "null_as_default")]
    pub recent_events: Vec<UserEvent>,
    /// Linked social accounts.
    #[serde(default, deserialize_with = "null_as_default")]
    pub social_connections: SocialConnections,
    /// Registered passkeys and security keys.
    #[serde(default, deserialize_with = "null_as_default")]
    pub webauthn_devices: Vec<WebAuthnDevice>,
    /// Kinds of WebAuthn credentials the user has.
    #[serde(default, deserialize_with = "null_as_default")]
    pub webauthn_types: Vec<WebAuthnType>,
}

/// A user in a list (`ListPaginatedUsersItem`): [`User`] without events, social connections and
/// devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserListItem {
    /// The user id.
    pub id: String,
    /// Email address, empty when none.
    #[serde(default)]
    pub email: String,
    /// Phone number (E.164), empty when none.
    #[serde(default)]
    pub phone: String,
    /// Your own id for the user, empty when unset.
    #[serde(default)]
    pub external_id: String,
    /// Whether the email is verified.
    #[serde(default)]
    pub email_verified: bool,
    /// Whether the phone is verified.
    #[serde(default)]
    pub phone_verified: bool,
    /// Number of sign-ins.
    #[serde(default)]
    pub login_count: i64,
    /// Account status.
    pub status: UserStatus,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last update time.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Last sign-in time.
    #[serde(with = "time::serde::rfc3339")]
    pub last_login_at: OffsetDateTime,
    /// Custom metadata, `None` when unset.
    #[serde(default)]
    pub user_metadata: Option<Metadata>,
}

/// A user's account status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum UserStatus {
    /// Can sign in.
    Active,
    /// Deactivated: cannot sign in.
    Inactive,
    /// Created but not yet verified.
    Pending,
    /// A status this SDK does not know yet.
    #[serde(other)]
    Unknown,
}

impl UserStatus {
    /// The wire value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Pending => "pending",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for UserStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A recent authentication event (`UserRecentEvent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserEvent {
    /// Event id.
    pub id: String,
    /// Event type.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Client IP address.
    #[serde(default)]
    pub ip_addr: String,
    /// Client user agent.
    #[serde(default)]
    pub user_agent: String,
    /// A readable form of the user agent.
    #[serde(default)]
    pub user_agent_display: String,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it completed, if it did.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub completed_at: Option<OffsetDateTime>,
    /// Complete or not.
    pub status: EventStatus,
    /// What the user did.
    pub action: EventAction,
    /// The social provider used, if any.
    #[serde(default)]
    pub social_login_type: Option<SocialProvider>,
}

/// Whether an event completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventStatus {
    /// Completed.
    Complete,
    /// Not completed.
    Incomplete,
    /// A value this SDK does not know yet.
    #[serde(other)]
    Unknown,
}

/// What an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventAction {
    /// Registration.
    Register,
    /// Sign-in.
    Login,
    /// Anything else.
    Other,
    /// A value this SDK does not know yet.
    #[serde(other)]
    Unknown,
}

/// A social sign-in provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SocialProvider {
    /// Sign in with Apple.
    Apple,
    /// GitHub.
    Github,
    /// Google.
    Google,
    /// A provider this SDK does not know yet.
    #[serde(other)]
    Unknown,
}

/// A user's linked social accounts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SocialConnections {
    /// Apple, if linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apple: Option<SocialConnection>,
    /// GitHub, if linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github: Option<SocialConnection>,
    /// Google, if linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google: Option<SocialConnection>,
}

/// One linked social account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SocialConnection {
    /// The provider's id for the user.
    pub provider_id: String,
    /// The identifier at the provider (e.g. email).
    #[serde(default)]
    pub provider_identifier: String,
    /// When it was linked.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last sign-in through it.
    #[serde(with = "time::serde::rfc3339")]
    pub last_login_at: OffsetDateTime,
}

/// A registered WebAuthn credential (`WebAuthnDevices`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebAuthnDevice {
    /// Device id (for [`revoke_device`](crate::Users::revoke_device)).
    pub id: String,
    /// Credential id.
    #[serde(default)]
    pub cred_id: String,
    /// The name the user gave it.
    #[serde(default)]
    pub friendly_name: String,
    /// Registration time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last update time.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Last use.
    #[serde(with = "time::serde::rfc3339")]
    pub last_login_at: OffsetDateTime,
    /// Number of uses.
    #[serde(default)]
    pub usage_count: i64,
    /// Kind of credential.
    #[serde(rename = "type")]
    pub kind: WebAuthnType,
    /// Icons (values may be null).
    #[serde(default)]
    pub icons: WebAuthnIcons,
}

/// A kind of WebAuthn credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WebAuthnType {
    /// A synced passkey.
    Passkey,
    /// A hardware security key.
    SecurityKey,
    /// A platform authenticator.
    Platform,
    /// A kind this SDK does not know yet.
    #[serde(other)]
    Unknown,
}

/// Device icons for light and dark themes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebAuthnIcons {
    /// Icon for light themes.
    pub light: Option<String>,
    /// Icon for dark themes.
    pub dark: Option<String>,
}

/// `null` (which some servers send for empty arrays) becomes the default value.
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
