//! Typed models of Passage's Management API, with the shapes and enums of the official SDKs'
//! generated models (see `docs/wire-format.md`).
//!
//! Enums are `#[non_exhaustive]` with an `Unknown` fallback, so a value the server adds later
//! never breaks deserialization (the app settings' enums keep the value they did not know).
//! Date-times are `time::OffsetDateTime` (RFC 3339 on the wire).

/// A string enum of the wire: known values as variants, anything else kept in `Unknown`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this SDK does not know, as sent.
            Unknown(String),
        }

        impl $name {
            /// The wire value.
            #[must_use]
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Unknown(value) => value,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from(value.as_ref()))
            }
        }
    };
}

mod app;
mod magic_link;
mod user;

pub use app::*;
pub use magic_link::*;
pub use user::*;

/// Arbitrary JSON metadata (`user_metadata`).
pub type Metadata = serde_json::Map<String, serde_json::Value>;
