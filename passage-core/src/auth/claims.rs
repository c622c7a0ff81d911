//! [`PassageClaims`]: the verified contents of a Passage token.

use std::{fmt, sync::Arc};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The verified claims of a Passage token. Cheap to clone (one `Arc`).
///
/// `sub` is the Passage user id. Every claim, including custom ones, is available through
/// [`get`](Self::get), [`all`](Self::all) or [`deserialize`](Self::deserialize).
#[derive(Clone)]
pub struct PassageClaims {
    inner: Arc<Inner>,
}

/// What a validation established; becomes [`PassageClaims`].
pub(crate) struct Verified {
    pub(crate) sub: String,
    pub(crate) exp: u64,
    pub(crate) iat: Option<u64>,
    pub(crate) nbf: Option<u64>,
    pub(crate) iss: Option<String>,
    pub(crate) aud: Vec<String>,
    pub(crate) all: Map<String, Value>,
    /// Who verified them: the JWKS URL of the validating client (see [`Authority`]).
    pub(crate) authority: Authority,
}

type Inner = Verified;

/// The identity of a validating client, kept with every verdict it makes: the URL of the JWKS
/// it trusts (which names the app id and the auth host). An extractor trusts a layer's verdict
/// only when it names the same authority as the extractor's own client.
#[derive(Debug, Clone)]
pub(crate) struct Authority(Arc<str>);

impl Authority {
    pub(crate) fn new(jwks_url: &str) -> Self {
        Self(jwks_url.into())
    }

    /// The same client, or another client of the same app and auth host.
    #[inline]
    pub(crate) fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl From<&str> for Authority {
    fn from(url: &str) -> Self {
        Self::new(url)
    }
}

impl PassageClaims {
    pub(crate) fn new(verified: Verified) -> Self {
        Self {
            inner: Arc::new(verified),
        }
    }

    /// Whether these claims were verified by a client with `authority`.
    #[inline]
    pub(crate) fn verified_by(&self, authority: &Authority) -> bool {
        self.inner.authority.same(authority)
    }

    /// The Passage user id (the `sub` claim).
    #[must_use]
    pub fn user_id(&self) -> &str {
        &self.inner.sub
    }

    /// Expiry, in seconds since the Unix epoch (the `exp` claim).
    #[must_use]
    pub fn expires_at(&self) -> u64 {
        self.inner.exp
    }

    /// Issue time, in seconds since the Unix epoch (the `iat` claim), if present.
    #[must_use]
    pub fn issued_at(&self) -> Option<u64> {
        self.inner.iat
    }

    /// Start of validity, in seconds since the Unix epoch (the `nbf` claim), if present.
    #[must_use]
    pub fn not_before(&self) -> Option<u64> {
        self.inner.nbf
    }

    /// The issuer (the `iss` claim), if present. Passage does not document a stable value, so it
    /// is not checked.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.inner.iss.as_deref()
    }

    /// The audiences (the `aud` claim, a string or an array on the wire); one is this app's id.
    #[must_use]
    pub fn audience(&self) -> &[String] {
        &self.inner.aud
    }

    /// One claim by name, including custom claims.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.inner.all.get(name)
    }

    /// Every claim of the token.
    #[must_use]
    pub fn all(&self) -> &Map<String, Value> {
        &self.inner.all
    }

    /// Deserializes the whole claim set into your own type (for custom claims).
    ///
    /// # Errors
    /// When the claims do not fit `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&Value::Object(self.inner.all.clone()))
    }
}

impl fmt::Debug for PassageClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassageClaims")
            .field("sub", &self.inner.sub)
            .field("exp", &self.inner.exp)
            .field("iat", &self.inner.iat)
            .field("nbf", &self.inner.nbf)
            .field("iss", &self.inner.iss)
            .field("aud", &self.inner.aud)
            .finish_non_exhaustive()
    }
}
