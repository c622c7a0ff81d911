#![doc = include_str!("../README.md")]

mod api;
mod dev;
mod faults;
mod ids;
mod keys;
mod server;
mod state;
pub mod store;
mod token;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock, atomic::Ordering},
    time::Duration,
};

use serde_json::Value;
use tokio::{sync::watch, task::JoinHandle};

pub use faults::{Fault, Target};
pub use keys::SigningKey;
pub use store::SeedUser;
pub use token::{Signer, TokenBuilder};

use crate::{
    faults::Faults,
    keys::KeyRing,
    state::{Shared, lock},
    store::{MemoryStore, Store},
};

/// Why the emulator could not start or sign.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The listen address could not be bound.
    #[error("could not bind {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Key generation, loading or signing failed.
    #[error("a cryptographic operation failed")]
    Crypto,
    /// A seed user was refused, or the store failed.
    #[error("seed user refused: {0}")]
    Seed(#[from] store::StoreError),
    /// A users file could not be read or parsed.
    #[error("could not load users: {0}")]
    Users(String),
}

/// A running emulator. Shuts down when dropped.
#[derive(Debug)]
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    url: String,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Settings for an [`Emulator`].
#[derive(Debug)]
#[must_use]
pub struct EmulatorBuilder {
    app_id: String,
    api_key: String,
    app_name: String,
    auth_origin: String,
    bind: SocketAddr,
    signing_key: Option<SigningKey>,
    token_ttl: Duration,
    cache_control: String,
    users: Vec<SeedUser>,
    store: Option<Arc<dyn Store>>,
    development: bool,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            app_id: "emulator_app".to_owned(),
            api_key: "emulator_api_key".to_owned(),
            app_name: "Passage emulator".to_owned(),
            auth_origin: "http://localhost:3000".to_owned(),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            signing_key: None,
            token_ttl: Duration::from_secs(3600),
            cache_control: "public, max-age=300".to_owned(),
            users: Vec::new(),
            store: None,
            development: true,
        }
    }
}

impl EmulatorBuilder {
    /// The app id (default `emulator_app`).
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = app_id.into();
        self
    }

    /// The API key the Management API accepts (default `emulator_api_key`).
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = api_key.into();
        self
    }

    /// The app's name in app info.
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = name.into();
        self
    }

    /// The app's front-end origin: first `aud` of minted tokens (default `http://localhost:3000`).
    pub fn auth_origin(mut self, origin: impl Into<String>) -> Self {
        self.auth_origin = origin.into();
        self
    }

    /// The listen address (default `127.0.0.1:0`, a free port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Signs with this key instead of a freshly generated one.
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Lifetime of minted tokens (default 1 h).
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl;
        self
    }

    /// The JWKS `Cache-Control` header (default `public, max-age=300`).
    pub fn jwks_cache_control(mut self, value: impl Into<String>) -> Self {
        self.cache_control = value.into();
        self
    }

    /// Adds a user at start.
    pub fn user(mut self, user: SeedUser) -> Self {
        self.users.push(user);
        self
    }

    /// Keeps users, devices, links, tokens and signing keys in `store` instead of memory. The
    /// signing keys are taken from the store (one is generated and kept there when it has none),
    /// so tokens signed before a restart still validate after it.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Whether the development conveniences are served (default: yes): the `/__emulator` routes
    /// (token minting, sign-in cookie, seeding, key rotation, faults) and fault injection. A
    /// production server turns them off.
    pub fn development(mut self, on: bool) -> Self {
        self.development = on;
        self
    }

    /// Adds users from a JSON file holding an array of [`SeedUser`].
    ///
    /// # Errors
    /// [`EmulatorError::Users`] when the file cannot be read or parsed.
    pub fn users_file(mut self, path: &std::path::Path) -> Result<Self, EmulatorError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| EmulatorError::Users(format!("{}: {e}", path.display())))?;
        let users: Vec<SeedUser> = serde_json::from_str(&text)
            .map_err(|e| EmulatorError::Users(format!("{}: {e}", path.display())))?;
        self.users.extend(users);
        Ok(self)
    }

    /// Binds and starts serving.
    ///
    /// # Errors
    /// When the address cannot be bound, a key cannot be generated, or a seed user is refused.
    pub async fn start(self) -> Result<Emulator, EmulatorError> {
        let store = self.store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
        let keys = signing_keys(store.as_ref(), self.signing_key)?;
        for user in self.users {
            store.insert_user(user)?;
        }
        let listener = tokio::net::TcpListener::bind(self.bind)
            .await
            .map_err(|source| EmulatorError::Bind {
                addr: self.bind,
                source,
            })?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: self.bind,
                source,
            })?;
        let url = format!("http://{addr}");
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            app_id: self.app_id,
            api_key: self.api_key,
            app_name: self.app_name,
            auth_origin: self.auth_origin,
            token_ttl_secs: i64::try_from(self.token_ttl.as_secs()).unwrap_or(i64::MAX),
            base_url: OnceLock::from(url.clone()),
            keys: Mutex::new(keys),
            faults: Mutex::new(Faults::default()),
            jwks_hits: 0.into(),
            jwks_cache_control: Mutex::new(self.cache_control),
            store,
            shutdown: shutdown_rx.clone(),
        });
        let app = server::router(Arc::clone(&shared), self.development);
        let mut stop = shutdown_rx;
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            });
            if let Err(err) = serve.await {
                tracing::error!(error = %err, "emulator: server stopped");
            }
        });
        tracing::debug!(%url, "emulator: listening");
        Ok(Emulator {
            shared,
            addr,
            url,
            shutdown,
            task,
        })
    }
}

/// Mints tokens and reads the JWKS of an [`Emulator`]; see [`Emulator::issuer`].
#[derive(Debug, Clone)]
pub struct TokenIssuer(Arc<Shared>);

impl TokenIssuer {
    /// A token builder for `user_id`, as [`Emulator::token`].
    pub fn token(&self, user_id: &str) -> TokenBuilder {
        TokenBuilder::new(Arc::clone(&self.0), user_id)
    }

    /// The JWKS document served.
    #[must_use]
    pub fn jwks(&self) -> Value {
        lock(&self.0.keys).jwks()
    }

    /// The JWKS `Cache-Control` value.
    #[must_use]
    pub fn jwks_cache_control(&self) -> String {
        lock(&self.0.jwks_cache_control).clone()
    }
}

/// The key ring: the store's keys (the newest signs), the given key, or a new one — kept in
/// the store, so a restart serves and signs with the same keys.
fn signing_keys(store: &dyn Store, given: Option<SigningKey>) -> Result<KeyRing, EmulatorError> {
    let mut kept = Vec::new();
    for stored in store.signing_keys()? {
        kept.push(SigningKey::from_pkcs8(stored.kid, &stored.pkcs8)?);
    }
    let current = match (given, kept.last()) {
        (Some(key), _) => key,
        (None, Some(newest)) => return Ok(KeyRing::with_served(newest.clone(), kept)),
        (None, None) => SigningKey::generate()?,
    };
    if !kept.iter().any(|k| k.kid() == current.kid()) {
        store.add_signing_key(store::StoredKey {
            kid: current.kid().to_owned(),
            pkcs8: current.to_pkcs8()?,
        })?;
        kept.push(current.clone());
    }
    Ok(KeyRing::with_served(current, kept))
}

impl Emulator {
    /// An emulator with default settings.
    ///
    /// # Errors
    /// As [`EmulatorBuilder::start`].
    pub async fn start() -> Result<Self, EmulatorError> {
        Self::builder().start().await
    }

    /// Settings for an emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The listen address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The value for `PASSAGE_AUTH_URL`.
    #[must_use]
    pub fn auth_url(&self) -> &str {
        &self.url
    }

    /// The value for `PASSAGE_API_URL`.
    #[must_use]
    pub fn api_url(&self) -> &str {
        &self.url
    }

    /// The JWKS URL.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        format!(
            "{}/v1/apps/{}/.well-known/jwks.json",
            self.url, self.shared.app_id
        )
    }

    /// The app id.
    #[must_use]
    pub fn app_id(&self) -> &str {
        &self.shared.app_id
    }

    /// The API key the emulator accepts.
    #[must_use]
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// The `PASSAGE_*` environment variables a client needs to use this emulator.
    #[must_use]
    pub fn env_vars(&self) -> [(&'static str, String); 4] {
        [
            ("PASSAGE_APP_ID", self.app_id().to_owned()),
            ("PASSAGE_API_KEY", self.api_key().to_owned()),
            ("PASSAGE_AUTH_URL", self.auth_url().to_owned()),
            ("PASSAGE_API_URL", self.api_url().to_owned()),
        ]
    }

    /// A valid token for `user_id`, signed like Passage's.
    ///
    /// # Errors
    /// [`EmulatorError::Crypto`] when signing fails.
    pub fn mint_token(&self, user_id: &str) -> Result<String, EmulatorError> {
        self.token(user_id).sign()
    }

    /// A token builder for `user_id`, to customise claims, header, expiry and signer.
    pub fn token(&self, user_id: &str) -> TokenBuilder {
        TokenBuilder::new(Arc::clone(&self.shared), user_id)
    }

    /// Signs raw JSON (kept byte for byte, duplicate keys and all) with RS256 under the current
    /// key: for tests of how validators treat odd but signed tokens.
    ///
    /// # Errors
    /// [`EmulatorError::Crypto`] when signing fails.
    pub fn sign_raw(
        &self,
        header_json: impl AsRef<[u8]>,
        claims_json: impl AsRef<[u8]>,
    ) -> Result<String, EmulatorError> {
        self.current_key().sign_raw(header_json, claims_json)
    }

    /// The key signing new tokens.
    #[must_use]
    pub fn current_key(&self) -> SigningKey {
        self.shared.current_key()
    }

    /// Generates a new signing key, serves it beside the old ones, and signs with it from now on.
    ///
    /// # Errors
    /// [`EmulatorError::Crypto`] when key generation fails.
    pub fn rotate_key(&self) -> Result<SigningKey, EmulatorError> {
        let key = SigningKey::generate()?;
        lock(&self.shared.keys).rotate(key.clone(), false);
        Ok(key)
    }

    /// Re-keys the current kid: the JWKS serves new key material under the same `kid`, and new
    /// tokens are signed with it (what a JWKS does when a key is replaced after a compromise but
    /// its name is kept). Tokens signed before no longer verify.
    ///
    /// # Errors
    /// [`EmulatorError::Crypto`] when key generation fails.
    pub fn rekey(&self) -> Result<SigningKey, EmulatorError> {
        let key = SigningKey::generate_with_kid(self.current_key().kid())?;
        lock(&self.shared.keys).rekey(key.clone());
        Ok(key)
    }

    /// Stops serving the key `kid` in the JWKS (tokens it signed no longer verify).
    pub fn retire_key(&self, kid: &str) {
        lock(&self.shared.keys).served.retain(|k| k.kid() != kid);
    }

    /// Serves `jwk` in the JWKS as it is (e.g. an EC key a client must skip).
    pub fn add_raw_jwk(&self, jwk: Value) {
        lock(&self.shared.keys).extra.push(jwk);
    }

    /// Sets the JWKS `Cache-Control` header.
    pub fn set_jwks_cache_control(&self, value: impl Into<String>) {
        *lock(&self.shared.jwks_cache_control) = value.into();
    }

    /// Makes every request to `target` fail with `fault` until cleared.
    pub fn set_fault(&self, target: Target, fault: Fault) {
        lock(&self.shared.faults).set(target, Some(fault), None);
    }

    /// Makes the next `times` requests to `target` fail with `fault`.
    pub fn set_fault_times(&self, target: Target, fault: Fault, times: u32) {
        lock(&self.shared.faults).set(target, Some(fault), Some(times));
    }

    /// Lets `target` answer normally again.
    pub fn clear_fault(&self, target: Target) {
        lock(&self.shared.faults).set(target, None, None);
    }

    /// How many requests reached the JWKS route (faulted ones included).
    #[must_use]
    pub fn jwks_hits(&self) -> u64 {
        self.shared.jwks_hits.load(Ordering::Relaxed)
    }

    /// Adds a user; returns its id.
    ///
    /// # Errors
    /// [`EmulatorError::Seed`] when the user is refused (no identifier, duplicate, bad status).
    pub fn seed_user(&self, user: SeedUser) -> Result<String, EmulatorError> {
        Ok(self.shared.store.insert_user(user)?.id)
    }

    /// How many times `user_id`'s refresh tokens were revoked (`None` for an unknown user).
    #[must_use]
    pub fn refresh_token_revocations(&self, user_id: &str) -> Option<u32> {
        self.shared
            .store
            .user(user_id)
            .ok()
            .flatten()
            .map(|u| u.refresh_token_revocations)
    }

    /// A handle that mints tokens and reads the JWKS of this emulator, for other listeners
    /// (passage-server's Authentication API). Cheap to clone; it outlives nothing: once the
    /// emulator is dropped, it still signs, but nothing serves its keys.
    #[must_use]
    pub fn issuer(&self) -> TokenIssuer {
        TokenIssuer(Arc::clone(&self.shared))
    }

    /// The store behind this emulator.
    #[must_use]
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.shared.store)
    }

    /// The JWKS document served (`{"keys": [...]}`), e.g. to serve it from another listener.
    #[must_use]
    pub fn jwks(&self) -> Value {
        lock(&self.shared.keys).jwks()
    }

    /// The app's front-end origin (the first `aud` of minted tokens).
    #[must_use]
    pub fn auth_origin(&self) -> &str {
        &self.shared.auth_origin
    }

    /// Stops serving (also done on drop).
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.task.abort();
    }
}
