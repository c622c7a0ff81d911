use crate::Secret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A Passage app's settings (`AppInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)] // field names are Passage's own; see shared/PASSAGE_API.md
pub struct AppInfo {
    pub id: String,
    pub name: String,
    pub auth_origin: String,
    #[serde(default)]
    pub redirect_url: String,
    #[serde(default)]
    pub login_url: String,
    #[serde(default)]
    pub hosted: bool,
    #[serde(default)]
    pub hosted_subdomain: String,
    #[serde(default)]
    pub hosted_theme: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub rsa_public_key: String,
    #[serde(default)]
    pub allowed_identifier: String,
    #[serde(default)]
    pub required_identifier: String,
    #[serde(default)]
    pub application_login_uri: String,
    #[serde(default)]
    pub auth_fallback_method: String,
    #[serde(default)]
    pub default_language: String,
    #[serde(default)]
    pub additional_auth_origins: Vec<String>,
    #[serde(default)]
    pub allowed_callback_urls: Vec<String>,
    #[serde(default)]
    pub allowed_logout_urls: Vec<String>,
    #[serde(default)]
    pub auth_fallback_method_ttl: i64,
    #[serde(default)]
    pub refresh_absolute_lifetime: i64,
    #[serde(default)]
    pub refresh_inactivity_lifetime: i64,
    #[serde(default)]
    pub session_timeout_length: i64,
    #[serde(default)]
    pub auto_theme_enabled: bool,
    #[serde(default)]
    pub passage_branding: bool,
    #[serde(default)]
    pub profile_management: bool,
    #[serde(default)]
    pub public_signup: bool,
    #[serde(default)]
    pub refresh_enabled: bool,
    #[serde(default)]
    pub require_email_verification: bool,
    #[serde(default)]
    pub require_identifier_verification: bool,
    #[serde(default)]
    pub auth_methods: AuthMethods,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(default)]
    pub layouts: Layouts,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub user_metadata_schema: Vec<MetadataField>,
    #[serde(default)]
    pub technologies: Vec<String>,
    #[serde(default)]
    pub element_customization: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub element_customization_dark: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light_logo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dark_logo_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_lifetime: Option<i64>,
    /// The app secret, present only for some roles; never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Secret>,
}

/// Which authentication methods are on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuthMethods {
    /// Passkeys.
    #[serde(default)]
    pub passkeys: MethodEnabled,
    /// One-time passcodes.
    #[serde(default)]
    pub otp: TtlMethod,
    /// Magic links.
    #[serde(default)]
    pub magic_link: TtlMethod,
}

/// A method that is on or off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MethodEnabled {
    /// Whether it is on.
    #[serde(default)]
    pub enabled: bool,
}

/// A method with a lifetime.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TtlMethod {
    /// Whether it is on.
    #[serde(default)]
    pub enabled: bool,
    /// Lifetime in seconds (≥ 60).
    #[serde(default)]
    pub ttl: i64,
    /// Unit shown to users: `s`, `m`, `h` or `d`.
    #[serde(default)]
    pub ttl_display_unit: String,
}

/// Layouts of the profile and registration elements.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Layouts {
    /// Profile element layout.
    #[serde(default)]
    pub profile: Vec<LayoutItem>,
    /// Registration element layout.
    #[serde(default)]
    pub registration: Vec<LayoutItem>,
}

/// One placed field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)]
pub struct LayoutItem {
    pub id: String,
    pub x: i64,
    pub y: i64,
    pub w: i64,
    pub h: i64,
}

/// A custom user metadata field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MetadataField {
    /// Field id.
    pub id: String,
    /// Key in `user_metadata`.
    pub field_name: String,
    /// Label shown to users.
    #[serde(default)]
    pub friendly_name: String,
    /// `string`, `boolean`, `integer`, `date`, `phone` or `email`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Shown in the profile element.
    #[serde(default)]
    pub profile: bool,
    /// Asked at registration.
    #[serde(default)]
    pub registration: bool,
}
