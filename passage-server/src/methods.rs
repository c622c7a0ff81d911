//! How users of the app may sign in, as Passage's console let an app choose: which methods
//! ([`AuthMethods`]: passkeys, one-time passcodes, magic links) and which identifiers
//! ([`Identifiers`]: email, phone, or both).

use std::{fmt, str::FromStr};

/// The sign-in methods an app offers. passage-elements uses a one-time passcode whenever the
/// app offers them, and a magic link only when it does not; passkeys beside either.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthMethods {
    /// Passkeys (WebAuthn).
    pub passkeys: bool,
    /// One-time passcodes by email or text message (Passage's recommended fallback).
    pub otp: bool,
    /// Magic links by email or text message.
    pub magic_link: bool,
}

impl Default for AuthMethods {
    /// Passkeys and magic links.
    fn default() -> Self {
        Self {
            passkeys: true,
            otp: false,
            magic_link: true,
        }
    }
}

/// A setting's value that is not one of those accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not one of the accepted values")]
pub struct UnknownValue(pub String);

impl FromStr for AuthMethods {
    type Err = UnknownValue;

    /// Parses a comma-separated list: `passkeys`, `otp`, `magic_link` (as Passage named them).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut methods = Self {
            passkeys: false,
            otp: false,
            magic_link: false,
        };
        for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "passkeys" | "passkey" => methods.passkeys = true,
                "otp" => methods.otp = true,
                "magic_link" | "magic-link" => methods.magic_link = true,
                other => return Err(UnknownValue(other.to_owned())),
            }
        }
        Ok(methods)
    }
}

impl fmt::Display for AuthMethods {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [
            (self.passkeys, "passkeys"),
            (self.otp, "otp"),
            (self.magic_link, "magic_link"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        f.write_str(&names.join(","))
    }
}

/// Which identifiers users sign up and sign in with (app info's `allowed_identifier`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Identifiers {
    /// Email addresses only.
    #[default]
    Email,
    /// Phone numbers only.
    Phone,
    /// Either.
    Both,
}

impl Identifiers {
    /// The name app info uses (`email`, `phone`, `both`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Both => "both",
        }
    }

    /// Whether email addresses are allowed.
    #[must_use]
    pub fn email(self) -> bool {
        self != Self::Phone
    }

    /// Whether phone numbers are allowed.
    #[must_use]
    pub fn phone(self) -> bool {
        self != Self::Email
    }
}

impl FromStr for Identifiers {
    type Err = UnknownValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "email" => Ok(Self::Email),
            "phone" => Ok(Self::Phone),
            "both" => Ok(Self::Both),
            other => Err(UnknownValue(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_parse_as_the_console_named_them() {
        let methods = AuthMethods {
            passkeys: true,
            otp: true,
            magic_link: false,
        };
        assert_eq!("passkeys, otp".parse::<AuthMethods>(), Ok(methods));
        assert_eq!(methods.to_string(), "passkeys,otp");
        assert_eq!(
            "sms".parse::<AuthMethods>(),
            Err(UnknownValue("sms".into()))
        );
        assert_eq!("both".parse::<Identifiers>(), Ok(Identifiers::Both));
    }
}
