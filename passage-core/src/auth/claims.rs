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

struct Inner {
    sub: String,
    exp: u64,
    iat: Option<u64>,
    nbf: Option<u64>,
    iss: Option<String>,
    aud: Vec<String>,
    all: Map<String, Value>,
}

impl PassageClaims {
    pub(crate) fn new(
        sub: String,
        exp: u64,
        iat: Option<u64>,
        nbf: Option<u64>,
        iss: Option<String>,
        aud: Vec<String>,
        all: Map<String, Value>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                sub,
                exp,
                iat,
                nbf,
                iss,
                aud,
                all,
            }),
        }
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
