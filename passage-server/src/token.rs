//! Minting tokens: Passage-shaped by default, and every part overridable for rejection tests.

use std::{
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    hmac,
    rand::SystemRandom,
    signature::{self, EcdsaKeyPair},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use crate::{
    keys::{CryptoError, SigningKey},
    state::Shared,
};

/// How a minted token is signed. The header's `alg` follows unless set explicitly.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Signer {
    /// RS256 with the server's current key (what Passage does).
    Rs256,
    /// RS256 with a given key (e.g. one the JWKS does not serve).
    Rs256With(SigningKey),
    /// RS384 with the current key.
    Rs384,
    /// RS512 with the current key.
    Rs512,
    /// PS256 with the current key.
    Ps256,
    /// HS256 keyed with the given bytes (e.g. the public key's PEM: the classic confusion attack).
    Hs256(Vec<u8>),
    /// HS384 keyed with the given bytes.
    Hs384(Vec<u8>),
    /// ES256 with a throwaway P-256 key.
    Es256,
    /// `alg: none` with an empty signature.
    None,
}

impl Signer {
    fn alg(&self) -> &'static str {
        match self {
            Self::Rs256 | Self::Rs256With(_) => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Hs256(_) => "HS256",
            Self::Hs384(_) => "HS384",
            Self::Es256 => "ES256",
            Self::None => "none",
        }
    }
}

/// A token under construction; see [`Server::token`](crate::Server::token).
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use passage_server::{Server, Signer};
///
/// let server = Server::builder().api_key("key").development(true).start().await?;
/// let expired = server.token("user-1").expires_in_secs(-60).sign()?;
/// let forged = server.token("user-1").signer(Signer::None).sign()?;
/// let custom = server
///     .token("user-1")
///     .claim("role", "admin")
///     .expires_in(Duration::from_secs(30))
///     .sign()?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use]
pub struct TokenBuilder {
    shared: Arc<Shared>,
    header: Map<String, Value>,
    header_overrides: Map<String, Value>,
    claims: Map<String, Value>,
    signer: Signer,
}

pub(crate) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl TokenBuilder {
    pub(crate) fn new(shared: Arc<Shared>, user_id: &str) -> Self {
        let now = now_secs();
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(user_id));
        claims.insert("aud".into(), json!([shared.auth_origin(), shared.app_id()]));
        claims.insert("iss".into(), json!(shared.issuer()));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + shared.token_ttl_secs()));
        let mut header = Map::new();
        header.insert("typ".into(), json!("JWT"));
        Self {
            shared,
            header,
            header_overrides: Map::new(),
            claims,
            signer: Signer::Rs256,
        }
    }

    /// Sets (or replaces) a claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim (e.g. `exp`, `sub`, `aud`).
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// `exp` this far from now.
    pub fn expires_in(self, ttl: Duration) -> Self {
        let secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        self.expires_in_secs(secs)
    }

    /// `exp` this many seconds from now (negative: already expired).
    pub fn expires_in_secs(self, secs: i64) -> Self {
        self.claim("exp", now_secs().saturating_add(secs))
    }

    /// Sets (or replaces) a header parameter, after the signer's `alg` (so it can lie about it).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header_overrides.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header parameter (e.g. `kid`).
    pub fn without_header(mut self, name: &str) -> Self {
        self.header_overrides.insert(name.to_owned(), Value::Null);
        self
    }

    /// Sets the `kid` (default: the signing key's).
    pub fn kid(self, kid: &str) -> Self {
        self.header("kid", kid)
    }

    /// How the token is signed (default [`Signer::Rs256`] with the current key).
    pub fn signer(mut self, signer: Signer) -> Self {
        self.signer = signer;
        self
    }

    /// The claims as they will be signed.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// Encodes and signs the token.
    ///
    /// # Errors
    /// When signing fails in the crypto library.
    pub fn sign(self) -> Result<String, CryptoError> {
        let current = self.shared.current_key();
        let key = match &self.signer {
            Signer::Rs256With(key) => key.clone(),
            _ => current,
        };
        let mut header = self.header;
        header.insert("alg".into(), json!(self.signer.alg()));
        header.insert("kid".into(), json!(key.kid()));
        for (name, value) in self.header_overrides {
            if value.is_null() {
                header.remove(&name);
            } else {
                header.insert(name, value);
            }
        }
        let encode = |value: &Map<String, Value>| {
            serde_json::to_vec(value)
                .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
                .map_err(|_| CryptoError)
        };
        let signing_input = format!("{}.{}", encode(&header)?, encode(&self.claims)?);
        let message = signing_input.as_bytes();
        let signature = match &self.signer {
            Signer::Rs256 | Signer::Rs256With(_) => {
                key.sign(&signature::RSA_PKCS1_SHA256, message)?
            }
            Signer::Rs384 => key.sign(&signature::RSA_PKCS1_SHA384, message)?,
            Signer::Rs512 => key.sign(&signature::RSA_PKCS1_SHA512, message)?,
            Signer::Ps256 => key.sign(&signature::RSA_PSS_SHA256, message)?,
            Signer::Hs256(secret) => {
                hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), message)
                    .as_ref()
                    .to_vec()
            }
            Signer::Hs384(secret) => {
                hmac::sign(&hmac::Key::new(hmac::HMAC_SHA384, secret), message)
                    .as_ref()
                    .to_vec()
            }
            Signer::Es256 => es256(message)?,
            Signer::None => Vec::new(),
        };
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// Signs raw header and claims JSON (as given, byte for byte: duplicate keys, invalid UTF-8)
/// with RS256 under `key`.
pub(crate) fn sign_raw(
    key: &SigningKey,
    header_json: &[u8],
    claims_json: &[u8],
) -> Result<String, CryptoError> {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(claims_json)
    );
    let signature = key.sign(&signature::RSA_PKCS1_SHA256, signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

fn es256(message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pair = EcdsaKeyPair::generate(alg).map_err(|_| CryptoError)?;
    pair.sign(&SystemRandom::new(), message)
        .map(|sig| sig.as_ref().to_vec())
        .map_err(|_| CryptoError)
}
