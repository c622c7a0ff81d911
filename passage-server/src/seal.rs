//! Sealing the signing keys at rest: a [`SealingKey`] the operator provides (a file of 32 random
//! bytes) encrypts each private signing key with AES-256-GCM before the store keeps it, bound to
//! its `kid`. Whoever copies the database without the sealing key cannot forge tokens.
//!
//! A sealed key is `psk1` ‖ the sealing key's id (8 bytes of SHA-256 of it) ‖ the nonce (12
//! bytes) ‖ the ciphertext and tag. Keys kept unsealed (by an earlier release, or a server run
//! without a sealing key) are sealed the next time a server starts with one; keys sealed under a
//! previous sealing key are opened with it and sealed again under the current one (rotation).

use std::path::Path;

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, Nonce, RandomizedNonceKey},
    digest,
    rand::{SecureRandom as _, SystemRandom},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};

/// What a sealed key starts with.
const MAGIC: &[u8; 4] = b"psk1";
const ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;

/// Why a sealing key or a sealed signing key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The sealing key file cannot be read.
    #[error("the sealing key {path} cannot be read: {reason}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The sealing key is not 32 bytes (base64, hex or raw).
    #[error("a sealing key is 32 random bytes, written in base64 (openssl rand -base64 32)")]
    Malformed,
    /// A signing key is sealed under a sealing key this server was not given.
    #[error(
        "the signing key {kid} is sealed under another sealing key: start with the key it was sealed with (--key-file, or --previous-key-file while rotating)"
    )]
    UnknownSealingKey {
        /// The signing key's id.
        kid: String,
    },
    /// A signing key is sealed but no sealing key was given.
    #[error("the signing key {kid} is sealed: start with its sealing key (--key-file)")]
    NoSealingKey {
        /// The signing key's id.
        kid: String,
    },
    /// Sealing or opening failed (a damaged record, or the crypto library).
    #[error("the signing key {kid} could not be sealed or opened")]
    Crypto {
        /// The signing key's id.
        kid: String,
    },
}

/// A key that seals signing keys at rest. Never printed.
#[derive(Clone)]
pub struct SealingKey {
    bytes: [u8; 32],
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("id", &hex(&self.id()))
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl SealingKey {
    /// A new random key.
    ///
    /// # Errors
    /// When the system's random source fails.
    pub fn generate() -> Result<Self, SealError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SealError::Malformed)?;
        Ok(Self { bytes })
    }

    /// The key written as text: 32 bytes in base64 (or 64 hex digits); white space around it
    /// is ignored.
    ///
    /// # Errors
    /// [`SealError::Malformed`] for anything else.
    pub fn from_text(text: &str) -> Result<Self, SealError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| SealError::Malformed)?
        } else {
            STANDARD.decode(text).map_err(|_| SealError::Malformed)?
        };
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| SealError::Malformed)?;
        Ok(Self { bytes })
    }

    /// The key in `path` (as [`from_text`](Self::from_text) reads it).
    ///
    /// # Errors
    /// [`SealError::Unreadable`] or [`SealError::Malformed`].
    pub fn from_file(path: &Path) -> Result<Self, SealError> {
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt as _;
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    path = %path.display(),
                    mode = format!("{:o}", meta.permissions().mode() & 0o777),
                    "passage-server: the sealing key file is readable by others: whoever reads it and the database can forge tokens (chmod 600 it)"
                );
            }
        }
        let text = std::fs::read_to_string(path).map_err(|err| SealError::Unreadable {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        Self::from_text(&text)
    }

    /// The key in base64, as a key file holds it.
    #[must_use]
    pub fn to_text(&self) -> String {
        STANDARD.encode(self.bytes)
    }

    /// Which key this is, without revealing it: 8 bytes of its SHA-256.
    fn id(&self) -> [u8; ID_LEN] {
        let digest = digest::digest(&digest::SHA256, &self.bytes);
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest.as_ref()[..ID_LEN]);
        id
    }

    /// `plain` sealed, bound to `kid`.
    ///
    /// # Errors
    /// [`SealError::Crypto`].
    pub(crate) fn seal(&self, kid: &str, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let crypto = || SealError::Crypto {
            kid: kid.to_owned(),
        };
        let key = RandomizedNonceKey::new(&AES_256_GCM, &self.bytes).map_err(|_| crypto())?;
        let mut sealed = plain.to_vec();
        let nonce = key
            .seal_in_place_append_tag(Aad::from(kid.as_bytes()), &mut sealed)
            .map_err(|_| crypto())?;
        let mut out = Vec::with_capacity(MAGIC.len() + ID_LEN + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.id());
        out.extend_from_slice(nonce.as_ref());
        out.extend_from_slice(&sealed);
        Ok(out)
    }
}

/// Whether `stored` is a sealed key (else it is plain PKCS#8).
pub(crate) fn is_sealed(stored: &[u8]) -> bool {
    stored.starts_with(MAGIC)
}

/// `stored` opened with whichever of `keys` sealed it.
///
/// # Errors
/// [`SealError`] when no key given sealed it, or it does not open.
pub(crate) fn open(kid: &str, stored: &[u8], keys: &[&SealingKey]) -> Result<Vec<u8>, SealError> {
    let crypto = || SealError::Crypto {
        kid: kid.to_owned(),
    };
    let rest = stored.strip_prefix(MAGIC.as_slice()).ok_or_else(crypto)?;
    if rest.len() < ID_LEN + NONCE_LEN {
        return Err(crypto());
    }
    let (id, rest) = rest.split_at(ID_LEN);
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    if keys.is_empty() {
        return Err(SealError::NoSealingKey {
            kid: kid.to_owned(),
        });
    }
    let key =
        keys.iter()
            .find(|key| key.id() == id)
            .ok_or_else(|| SealError::UnknownSealingKey {
                kid: kid.to_owned(),
            })?;
    let aead = RandomizedNonceKey::new(&AES_256_GCM, &key.bytes).map_err(|_| crypto())?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| crypto())?;
    let mut buffer = sealed.to_vec();
    let plain = aead
        .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buffer)
        .map_err(|_| crypto())?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_their_key_and_kid() {
        let key = SealingKey::generate().unwrap();
        let other = SealingKey::generate().unwrap();
        let sealed = key.seal("kid-1", b"private key").unwrap();
        assert!(is_sealed(&sealed));
        assert!(
            !sealed.windows(11).any(|w| w == b"private key"),
            "not in the clear"
        );
        assert_eq!(
            open("kid-1", &sealed, &[&other, &key]).unwrap(),
            b"private key"
        );
        assert!(matches!(
            open("kid-1", &sealed, &[&other]),
            Err(SealError::UnknownSealingKey { .. })
        ));
        assert!(matches!(
            open("kid-1", &sealed, &[]),
            Err(SealError::NoSealingKey { .. })
        ));
        assert!(
            matches!(
                open("kid-2", &sealed, &[&key]),
                Err(SealError::Crypto { .. })
            ),
            "bound to its kid"
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(matches!(
            open("kid-1", &tampered, &[&key]),
            Err(SealError::Crypto { .. })
        ));
    }

    #[test]
    fn keys_are_read_as_base64_or_hex() {
        let key = SealingKey::generate().unwrap();
        let again = SealingKey::from_text(&format!(" {}\n", key.to_text())).unwrap();
        assert_eq!(again.id(), key.id());
        let hex_text = hex(&key.bytes);
        assert_eq!(SealingKey::from_text(&hex_text).unwrap().id(), key.id());
        for bad in ["", "short", &STANDARD.encode([0u8; 31])] {
            assert_eq!(SealingKey::from_text(bad).err(), Some(SealError::Malformed));
        }
        assert!(
            !format!("{key:?}").contains(&key.to_text()),
            "never printed"
        );
    }
}
