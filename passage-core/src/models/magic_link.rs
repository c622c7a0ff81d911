use serde::{Deserialize, Serialize};

use crate::Secret;

/// A created magic link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MagicLink {
    /// Magic link id.
    pub id: String,
    /// The app it belongs to.
    #[serde(default)]
    pub app_id: String,
    /// The email or phone it was sent to.
    #[serde(default)]
    pub identifier: String,
    /// Where the user lands after using it.
    #[serde(default)]
    pub redirect_url: String,
    /// The secret (part of the URL); never printed.
    #[serde(default)]
    pub secret: Secret,
    /// The link itself: a credential, never printed. Send it with `url.expose()`.
    pub url: Secret,
    /// The user it signs in.
    #[serde(default)]
    pub user_id: String,
    /// Whether it has been used.
    #[serde(default)]
    pub activated: bool,
    /// Lifetime in minutes.
    #[serde(default)]
    pub ttl: i64,
    /// Login or identifier verification.
    #[serde(rename = "type")]
    pub kind: MagicLinkType,
}

/// What a magic link does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MagicLinkType {
    /// Signs the user in (the default).
    #[default]
    Login,
    /// Verifies the identifier.
    VerifyIdentifier,
    /// A type this SDK does not know yet.
    #[serde(other)]
    Unknown,
}

/// How a magic link is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Channel {
    /// By email.
    Email,
    /// By text message.
    Phone,
}

/// The language of a magic link message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Language {
    /// German.
    De,
    /// English.
    En,
    /// Spanish.
    Es,
    /// Italian.
    It,
    /// Polish.
    Pl,
    /// Portuguese.
    Pt,
    /// Chinese.
    Zh,
}

impl std::str::FromStr for Language {
    type Err = crate::ApiError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Ok(match code {
            "de" => Self::De,
            "en" => Self::En,
            "es" => Self::Es,
            "it" => Self::It,
            "pl" => Self::Pl,
            "pt" => Self::Pt,
            "zh" => Self::Zh,
            _ => {
                return Err(crate::ApiError::InvalidArgument {
                    name: "language",
                    reason: "must be one of de, en, es, it, pl, pt, zh",
                });
            }
        })
    }
}
