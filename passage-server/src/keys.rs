//! RSA signing keys, their JWKs, and the key ring a server serves.

use std::sync::Arc;

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    rsa::{KeyPair, KeySize},
    signature::{KeyPair as _, RsaEncoding},
};
use base64::{
    Engine as _, engine::general_purpose::STANDARD, engine::general_purpose::URL_SAFE_NO_PAD,
};
use serde_json::{Value, json};

/// A cryptographic operation (key generation, loading, signing) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a cryptographic operation failed")]
pub struct CryptoError;

/// An RSA-2048 signing key with its `kid`. Cheap to clone.
#[derive(Clone)]
pub struct SigningKey {
    kid: Arc<str>,
    pair: Arc<KeyPair>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key with a random `kid`.
    ///
    /// # Errors
    /// When the crypto library cannot generate a key.
    pub fn generate() -> Result<Self, CryptoError> {
        Self::generate_with_kid(crate::ids::random_id())
    }

    /// Generates a fresh RSA-2048 key under the given `kid` (to re-key a kid, or to serve two
    /// keys under one name).
    ///
    /// # Errors
    /// When the crypto library cannot generate a key.
    pub fn generate_with_kid(kid: impl Into<String>) -> Result<Self, CryptoError> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| CryptoError)?;
        Ok(Self {
            kid: kid.into().into(),
            pair: Arc::new(pair),
        })
    }

    /// Loads a key from PKCS#8 DER, under the given `kid`.
    ///
    /// # Errors
    /// When the bytes are not an RSA PKCS#8 key.
    pub fn from_pkcs8(kid: impl Into<String>, pkcs8_der: &[u8]) -> Result<Self, CryptoError> {
        let pair = KeyPair::from_pkcs8(pkcs8_der).map_err(|_| CryptoError)?;
        Ok(Self {
            kid: kid.into().into(),
            pair: Arc::new(pair),
        })
    }

    /// The private key as PKCS#8 DER, to keep it (a server's keys must survive a restart).
    ///
    /// # Errors
    /// [`CryptoError`] when the key cannot be encoded.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, CryptoError> {
        use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
        let der: Pkcs8V1Der<'static> = self.pair.as_der().map_err(|_| CryptoError)?;
        Ok(der.as_ref().to_vec())
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kty`, `kid`, `use`, `alg`, `n`, `e`).
    #[must_use]
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA",
            "kid": &*self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo), e.g. for the classic
    /// "HS256 keyed with the public key" attack in tests.
    #[must_use]
    pub fn public_key_pem(&self) -> String {
        let der = self
            .pair
            .public_key()
            .as_der()
            .map(|der| STANDARD.encode(der.as_ref()))
            .unwrap_or_default();
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in der.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// Signs raw JSON (kept byte for byte, even when it is not UTF-8) with RS256 under this key:
    /// a compact token, for tests of how validators treat odd but signed tokens.
    ///
    /// # Errors
    /// [`CryptoError`] when signing fails.
    pub fn sign_raw(
        &self,
        header_json: impl AsRef<[u8]>,
        claims_json: impl AsRef<[u8]>,
    ) -> Result<String, CryptoError> {
        crate::token::sign_raw(self, header_json.as_ref(), claims_json.as_ref())
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 or PSS under `encoding`.
    pub(crate) fn sign(
        &self,
        encoding: &'static dyn RsaEncoding,
        message: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(encoding, &SystemRandom::new(), message, &mut signature)
            .map_err(|_| CryptoError)?;
        Ok(signature)
    }
}

/// The keys served in the JWKS, and which one signs new tokens.
#[derive(Debug)]
pub(crate) struct KeyRing {
    pub(crate) served: Vec<SigningKey>,
    pub(crate) current: SigningKey,
    /// Raw JWKs served as they are (e.g. EC or malformed keys, to test clients skip them).
    pub(crate) extra: Vec<Value>,
}

impl KeyRing {
    /// Serves `served` (which holds `current`) and signs with `current`.
    pub(crate) fn with_served(current: SigningKey, served: Vec<SigningKey>) -> Self {
        Self {
            served,
            current,
            extra: Vec::new(),
        }
    }

    /// Serves `key` beside the others (or alone, with `retire_old`) and signs with it from now on.
    pub(crate) fn rotate(&mut self, key: SigningKey, retire_old: bool) {
        if retire_old {
            self.served.clear();
        }
        self.served.push(key.clone());
        self.current = key;
    }

    /// Replaces the current key's material, keeping its kid: the served key under that kid
    /// changes, and new tokens are signed with the new material.
    pub(crate) fn rekey(&mut self, key: SigningKey) {
        let kid = self.current.kid().to_owned();
        self.served.retain(|served| served.kid() != kid);
        self.rotate(key, false);
    }

    pub(crate) fn jwks(&self) -> Value {
        let keys: Vec<Value> = self
            .served
            .iter()
            .map(SigningKey::jwk)
            .chain(self.extra.iter().cloned())
            .collect();
        json!({ "keys": keys })
    }
}
