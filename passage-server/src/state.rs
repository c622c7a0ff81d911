//! What every listener of a server shares: the app, its store, its signing keys, and (in
//! development mode) the faults to inject.

use std::sync::{
    Arc, Mutex, MutexGuard, OnceLock,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::watch;

use crate::{
    dev::faults::Faults,
    keys::{KeyRing, SigningKey},
    store::Store,
};

pub(crate) struct Shared {
    pub(crate) app_id: String,
    pub(crate) api_key: String,
    pub(crate) app_name: String,
    /// The app's origin: the first `aud` of every token.
    pub(crate) auth_origin: String,
    pub(crate) token_ttl_secs: i64,
    /// The app's declared user fields (app info's `user_metadata_schema`), which every
    /// metadata write is checked against.
    pub(crate) fields: crate::fields::UserFields,
    /// The tokens' `iss`: `{auth url}/v1/apps/{app_id}`, set once the listeners are bound.
    pub(crate) issuer: OnceLock<String>,
    pub(crate) keys: Mutex<KeyRing>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) jwks_hits: AtomicU64,
    pub(crate) jwks_cache_control: Mutex<String>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// Told of every revocation of a user's sessions (sign out everywhere, deactivation,
    /// deletion) once the store has it: the Authentication API's validator, which publishes it
    /// to the backends when Redis is configured.
    pub(crate) on_revoke: OnceLock<OnRevoke>,
    /// How users sign in, as the Authentication API resolved it at start (unset without it):
    /// what the Management API's app info reports.
    pub(crate) sign_in: OnceLock<SignIn>,
}

/// The sign-in settings in force ([`Shared::sign_in`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignIn {
    pub(crate) methods: crate::methods::AuthMethods,
    pub(crate) identifiers: crate::methods::Identifiers,
    pub(crate) otp_ttl_secs: u64,
    pub(crate) magic_link_ttl_secs: u64,
}

/// What [`Shared::on_revoke`] calls.
pub(crate) type OnRevoke = Box<dyn Fn(&str) + Send + Sync>;

impl Shared {
    pub(crate) fn app_id(&self) -> &str {
        &self.app_id
    }

    pub(crate) fn auth_origin(&self) -> &str {
        &self.auth_origin
    }

    pub(crate) fn issuer(&self) -> &str {
        self.issuer.get().map_or("", String::as_str)
    }

    pub(crate) fn token_ttl_secs(&self) -> i64 {
        self.token_ttl_secs
    }

    pub(crate) fn current_key(&self) -> SigningKey {
        lock(&self.keys).current.clone()
    }

    pub(crate) fn count_jwks_hit(&self) {
        self.jwks_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Reports a revocation of `user_id`'s sessions (after the store made it).
    pub(crate) fn revoked(&self, user_id: &str) {
        if let Some(on_revoke) = self.on_revoke.get() {
            on_revoke(user_id);
        }
    }

    /// The JWKS document and its `Cache-Control` value.
    pub(crate) fn jwks(&self) -> (serde_json::Value, String) {
        (
            lock(&self.keys).jwks(),
            lock(&self.jwks_cache_control).clone(),
        )
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API key never prints.
        f.debug_struct("Shared")
            .field("app_id", &self.app_id)
            .field("auth_origin", &self.auth_origin)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Locks a mutex, recovering from poisoning (handlers never leave state half-written).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
