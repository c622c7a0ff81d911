//! Identifiers — the email address or phone number a user signs in with — as users type them,
//! brought to one form: one mailbox is one identifier, whatever characters were used to write
//! it. Sign-up, sign-in, the Management API and `import` all parse with [`Identifier::parse`].
//!
//! An email address is normalised with Unicode NFKC (fullwidth and compatibility forms become
//! their plain letters) and lower-cased; its domain goes through IDNA (UTS #46) to its ASCII
//! form; invisible and format characters (soft hyphens, zero-width characters, variation
//! selectors, bidirectional marks), controls and white space are refused, and so is mailbox
//! syntax (`name <addr>`, quotes, comments, lists): only a bare address is an identifier. A
//! phone number is E.164: `+` and 8 to 15 digits, the first not 0.

use std::fmt;

/// A parsed, normalised identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// An email address: NFKC, lower case, the domain in ASCII (IDNA).
    Email(String),
    /// A phone number in E.164 (`+15555550100`).
    Phone(String),
}

/// Why a text is not an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifierError {
    /// Neither an email address nor an E.164 phone number.
    #[error("must be an email address or an E.164 phone number")]
    Invalid,
    /// It holds invisible or format characters (which would let one mailbox pass for many).
    #[error("must not contain invisible or formatting characters")]
    Invisible,
}

/// Longest email address accepted (RFC 5321's path limit, less the angle brackets).
const MAX_EMAIL: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL: usize = 64;

impl Identifier {
    /// Parses `raw` (white space around it is ignored).
    ///
    /// # Errors
    /// [`IdentifierError`] when it is not an identifier.
    pub fn parse(raw: &str) -> Result<Self, IdentifierError> {
        let raw = raw.trim();
        if raw.starts_with('+') {
            return phone(raw).map(Self::Phone);
        }
        email(raw).map(Self::Email)
    }

    /// Parses an email address only.
    ///
    /// # Errors
    /// [`IdentifierError`] when it is not one.
    pub fn email(raw: &str) -> Result<Self, IdentifierError> {
        email(raw.trim()).map(Self::Email)
    }

    /// Parses a phone number only.
    ///
    /// # Errors
    /// [`IdentifierError`] when it is not one.
    pub fn phone(raw: &str) -> Result<Self, IdentifierError> {
        phone(raw.trim()).map(Self::Phone)
    }

    /// The normalised text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Email(s) | Self::Phone(s) => s,
        }
    }

    /// Whether it is an email address.
    #[must_use]
    pub fn is_email(&self) -> bool {
        matches!(self, Self::Email(_))
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn phone(raw: &str) -> Result<String, IdentifierError> {
    let digits = raw.strip_prefix('+').ok_or(IdentifierError::Invalid)?;
    if (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
    {
        Ok(raw.to_owned())
    } else {
        Err(IdentifierError::Invalid)
    }
}

fn email(raw: &str) -> Result<String, IdentifierError> {
    if raw.chars().any(invisible) {
        return Err(IdentifierError::Invisible);
    }
    let normal: String = icu_normalizer::ComposingNormalizerBorrowed::new_nfkc()
        .normalize(raw)
        .to_lowercase();
    // Normalising can make characters of its own (rare, but never let one through).
    if normal.chars().any(invisible) {
        return Err(IdentifierError::Invisible);
    }
    let (local, domain) = normal.split_once('@').ok_or(IdentifierError::Invalid)?;
    let local_ok = !local.is_empty()
        && local.len() <= MAX_LOCAL
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;:[]\\@".contains(c));
    if !local_ok {
        return Err(IdentifierError::Invalid);
    }
    let domain = idna::domain_to_ascii_strict(domain).map_err(|_| IdentifierError::Invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        // A top-level domain is never all digits: `ada@1.2.3.4` is an address literal.
        && domain
            .rsplit('.')
            .next()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()));
    if !domain_ok {
        return Err(IdentifierError::Invalid);
    }
    let address = format!("{local}@{domain}");
    if address.len() > MAX_EMAIL {
        return Err(IdentifierError::Invalid);
    }
    Ok(address)
}

/// Characters that change nothing a reader sees: Unicode's default-ignorable code points (soft
/// hyphen, zero-width characters, joiners, bidirectional marks, variation selectors, tags, …),
/// the other format characters, and controls.
fn invisible(c: char) -> bool {
    let code = u32::from(c);
    c.is_control()
        || matches!(
            code,
            0x00AD
                | 0x034F
                | 0x061C
                | 0x115F..=0x1160
                | 0x17B4..=0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x202A..=0x202E
                | 0x2060..=0x206F
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xFFF0..=0xFFFB
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0000..=0xE0FFF
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email_of(raw: &str) -> Result<String, IdentifierError> {
        Identifier::parse(raw).map(|i| i.as_str().to_owned())
    }

    #[test]
    fn one_mailbox_is_one_identifier() {
        for raw in [
            "ada@example.com",
            " Ada@Example.COM ",
            "ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ", // fullwidth
            "ada@EXAMPLE.com",
            "ada@example.com\u{3002}".trim_end_matches('\u{3002}'),
        ] {
            assert_eq!(email_of(raw).as_deref(), Ok("ada@example.com"), "{raw:?}");
        }
        // An internationalised domain comes out in its ASCII form, whichever way it is written.
        assert_eq!(
            email_of("ada@bücher.example").as_deref(),
            Ok("ada@xn--bcher-kva.example")
        );
        assert_eq!(
            email_of("ada@BÜCHER.example").as_deref(),
            Ok("ada@xn--bcher-kva.example")
        );
        assert_eq!(
            email_of("ada@xn--bcher-kva.example").as_deref(),
            Ok("ada@xn--bcher-kva.example")
        );
    }

    #[test]
    fn invisible_characters_are_refused() {
        for raw in [
            "a\u{00AD}da@example.com",  // soft hyphen
            "a\u{200B}da@example.com",  // zero-width space
            "a\u{200D}da@example.com",  // zero-width joiner
            "ada\u{FE0F}@example.com",  // variation selector
            "ada@exam\u{200C}ple.com",  // zero-width non-joiner in the domain
            "\u{202E}moc.elpmaxe@ada",  // right-to-left override
            "ada@example.com\u{E0001}", // tag
            "ada\u{0007}@example.com",  // control
        ] {
            assert_eq!(email_of(raw), Err(IdentifierError::Invisible), "{raw:?}");
        }
    }

    #[test]
    fn only_bare_addresses() {
        for raw in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "a@b@example.com",
            "Ada <ada@example.com>",
            "\"ada\"@example.com",
            "ada@example.com, bob@example.com",
            "ada(comment)@example.com",
            "a da@example.com",
            "ada@localhost",
            "ada@.example.com",
            "ada@example.com.",
            ".ada@example.com",
            "a..da@example.com",
            "ada@exa_mple.com",
            "ada@1.2.3.4",
            "ada@example.123",
            &format!("{}@example.com", "a".repeat(65)),
            &format!("ada@{}.com", "a".repeat(250)),
        ] {
            assert_eq!(email_of(raw), Err(IdentifierError::Invalid), "{raw:?}");
        }
    }

    #[test]
    fn phones_are_e164() {
        assert_eq!(
            Identifier::parse(" +15555550100 "),
            Ok(Identifier::Phone("+15555550100".into()))
        );
        for raw in [
            "+1555",
            "+1234567890123456",
            "+1 555 555 0100",
            "+0155555501",
            "+1555555010a",
            "+",
        ] {
            assert_eq!(
                Identifier::parse(raw),
                Err(IdentifierError::Invalid),
                "{raw:?}"
            );
        }
    }
}
