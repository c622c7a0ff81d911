use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Secret;

/// A Passage app's settings (`AppInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)] // field names are Passage's own (see docs/wire-format.md)
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
    pub hosted_theme: ThemeType,
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
    pub kind: AppType,
    #[serde(default)]
    pub user_metadata_schema: Vec<MetadataField>,
    #[serde(default)]
    pub technologies: Vec<Technology>,
    #[serde(default)]
    pub element_customization: ElementCustomization,
    #[serde(default)]
    pub element_customization_dark: ElementCustomization,
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
    /// Unit shown to users.
    #[serde(default)]
    pub ttl_display_unit: TtlDisplayUnit,
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
    /// The value's type.
    #[serde(rename = "type")]
    pub kind: MetadataFieldType,
    /// Shown in the profile element.
    #[serde(default)]
    pub profile: bool,
    /// Asked at registration.
    #[serde(default)]
    pub registration: bool,
}

wire_enum! {
    /// Passage's product an app runs on.
    pub enum AppType {
        /// Passkey Complete.
        Complete = "complete",
        /// Passkey Flex.
        Flex = "flex",
    }
}

#[allow(clippy::derivable_impls, reason = "wire_enum! derives no Default")]
impl Default for AppType {
    fn default() -> Self {
        Self::Complete
    }
}

wire_enum! {
    /// A front-end or back-end technology an app declares.
    pub enum Technology {
        /// React.
        React = "react",
        /// Go.
        Go = "go",
        /// Vue.
        Vue = "vue",
        /// Angular.
        Angular = "angular",
        /// Python.
        Python = "python",
        /// JavaScript.
        Javascript = "javascript",
        /// iOS.
        Ios = "ios",
        /// Android.
        Android = "android",
    }
}

wire_enum! {
    /// The theme of Passage's hosted pages.
    pub enum ThemeType {
        /// Follows the system setting.
        Auto = "auto",
        /// Light.
        Light = "light",
        /// Dark.
        Dark = "dark",
    }
}

#[allow(clippy::derivable_impls, reason = "wire_enum! derives no Default")]
impl Default for ThemeType {
    fn default() -> Self {
        Self::Auto
    }
}

wire_enum! {
    /// The unit a method's lifetime is shown in.
    pub enum TtlDisplayUnit {
        /// Seconds.
        Seconds = "s",
        /// Minutes.
        Minutes = "m",
        /// Hours.
        Hours = "h",
        /// Days.
        Days = "d",
    }
}

#[allow(clippy::derivable_impls, reason = "wire_enum! derives no Default")]
impl Default for TtlDisplayUnit {
    fn default() -> Self {
        Self::Seconds
    }
}

wire_enum! {
    /// The type of a custom user metadata field.
    pub enum MetadataFieldType {
        /// Text.
        String = "string",
        /// `true` or `false`.
        Boolean = "boolean",
        /// A whole number.
        Integer = "integer",
        /// A date.
        Date = "date",
        /// A phone number.
        Phone = "phone",
        /// An email address.
        Email = "email",
    }
}

wire_enum! {
    /// A font of Passage's elements.
    pub enum FontFamily {
        /// Helvetica (the default).
        Helvetica = "Helvetica",
        /// Arial.
        Arial = "Arial",
        /// Arial Black.
        ArialBlack = "Arial Black",
        /// Verdana.
        Verdana = "Verdana",
        /// Tahoma.
        Tahoma = "Tahoma",
        /// Trebuchet MS.
        TrebuchetMs = "Trebuchet MS",
        /// Impact.
        Impact = "Impact",
        /// Gill Sans.
        GillSans = "Gill Sans",
        /// Times New Roman.
        TimesNewRoman = "Times New Roman",
        /// Georgia.
        Georgia = "Georgia",
        /// Palatino.
        Palatino = "Palatino",
        /// Baskerville.
        Baskerville = "Baskerville",
        /// Andalé Mono.
        AndaleMono = "Andalé Mono",
        /// Courier.
        Courier = "Courier",
        /// Lucida.
        Lucida = "Lucida",
        /// Monaco.
        Monaco = "Monaco",
        /// Bradley Hand.
        BradleyHand = "Bradley Hand",
        /// Brush Script MT.
        BrushScriptMt = "Brush Script MT",
        /// Luminari.
        Luminari = "Luminari",
        /// Comic Sans MS.
        ComicSansMs = "Comic Sans MS",
    }
}

/// How Passage's elements look (`element_customization`, and `_dark`); every field optional,
/// colours in hex, sizes in pixels.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
#[allow(missing_docs)] // field names are Passage's own
pub struct ElementCustomization {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_container_background_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_container_max_width: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_input_box_background_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_input_box_border_radius: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_header_font_family: Option<FontFamily>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_body_font_family: Option<FontFamily>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_header_text_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_body_text_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_primary_button_background_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_primary_button_text_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_primary_button_hover_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_primary_button_border_radius: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_primary_button_border_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_primary_button_border_width: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_secondary_button_background_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_secondary_button_text_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_secondary_button_hover_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_secondary_button_border_radius: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_secondary_button_border_color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_secondary_button_border_width: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_are_kept() {
        let theme: ThemeType = serde_json::from_str(r#""sepia""#).unwrap();
        assert_eq!(theme, ThemeType::Unknown("sepia".into()));
        assert_eq!(serde_json::to_string(&theme).unwrap(), r#""sepia""#);
        let tech: Vec<Technology> = serde_json::from_str(r#"["go","rust"]"#).unwrap();
        assert_eq!(tech, [Technology::Go, Technology::Unknown("rust".into())]);
        let font: FontFamily = serde_json::from_str(r#""Andal\u00e9 Mono""#).unwrap();
        assert_eq!(font, FontFamily::AndaleMono);
    }
}
