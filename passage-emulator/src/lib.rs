#![doc = include_str!("../README.md")]

use std::{net::SocketAddr, sync::Arc, time::Duration};

use futures_util::FutureExt as _;
use passage_server::{Server, ServerBuilder, store::MemoryStore};
use serde_json::Value;

pub use passage_server::{
    CryptoError, Fault, SeedUser, Signer, SigningKey, Target, TokenBuilder,
    store::{self, StoreError},
};

/// Why the emulator could not start or sign.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The server under it could not start (an address that cannot be bound, a refused seed
    /// user, a key that cannot be made).
    #[error("the emulator could not start")]
    Start(#[from] passage_server::ServerError),
    /// Key generation, loading or signing failed.
    #[error("a cryptographic operation failed")]
    Crypto(#[from] CryptoError),
    /// A seed user was refused.
    #[error("seed user refused: {0}")]
    Seed(#[from] StoreError),
    /// A users file could not be read or parsed.
    #[error("could not load users: {0}")]
    Users(String),
}

/// A running emulator: passage-server's Management API and JWKS, in development mode, in
/// memory. Shuts down when dropped.
#[derive(Debug)]
pub struct Emulator {
    server: Server,
}

/// Settings for an [`Emulator`].
#[derive(Debug)]
#[must_use]
pub struct EmulatorBuilder {
    server: ServerBuilder,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            server: Server::builder()
                .app_id("emulator_app")
                .api_key("emulator_api_key")
                .app_name("Passage emulator")
                .development(true)
                .authentication_api(false),
        }
    }
}

impl EmulatorBuilder {
    fn with(mut self, f: impl FnOnce(ServerBuilder) -> ServerBuilder) -> Self {
        self.server = f(self.server);
        self
    }

    /// The app id (default `emulator_app`).
    pub fn app_id(self, app_id: impl Into<String>) -> Self {
        self.with(|s| s.app_id(app_id))
    }

    /// The API key the Management API accepts (default `emulator_api_key`).
    pub fn api_key(self, api_key: impl Into<String>) -> Self {
        self.with(|s| s.api_key(api_key))
    }

    /// The app's name in app info.
    pub fn app_name(self, name: impl Into<String>) -> Self {
        self.with(|s| s.app_name(name))
    }

    /// The app's front-end origin: first `aud` of minted tokens (default `http://localhost:3000`).
    pub fn auth_origin(self, origin: impl Into<String>) -> Self {
        self.with(|s| s.auth_origin(origin))
    }

    /// The listen address (default `127.0.0.1:0`, a free port).
    pub fn bind(self, addr: SocketAddr) -> Self {
        self.with(|s| s.api_bind(addr))
    }

    /// Signs with this key instead of a freshly generated one.
    pub fn signing_key(self, key: SigningKey) -> Self {
        self.with(|s| s.signing_key(key))
    }

    /// Lifetime of minted tokens (default 1 h).
    pub fn token_ttl(self, ttl: Duration) -> Self {
        self.with(|s| s.session_length(ttl))
    }

    /// The JWKS `Cache-Control` header (default `public, max-age=300`).
    pub fn jwks_cache_control(self, value: impl Into<String>) -> Self {
        self.with(|s| s.jwks_cache_control(value))
    }

    /// Adds a user at start.
    pub fn user(self, user: SeedUser) -> Self {
        self.with(|s| s.user(user))
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
        for user in users {
            self = self.user(user);
        }
        Ok(self)
    }

    /// Binds and starts serving.
    ///
    /// # Errors
    /// When the address cannot be bound, a key cannot be generated, or a seed user is refused.
    pub async fn start(self) -> Result<Emulator, EmulatorError> {
        let server = self
            .server
            .store(Arc::new(MemoryStore::new()))
            .start()
            .await?;
        Ok(Emulator { server })
    }
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
        self.server.api_addr()
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    #[must_use]
    pub fn url(&self) -> &str {
        self.server.api_url()
    }

    /// The value for `PASSAGE_AUTH_URL`.
    #[must_use]
    pub fn auth_url(&self) -> &str {
        self.server.auth_url()
    }

    /// The value for `PASSAGE_API_URL`.
    #[must_use]
    pub fn api_url(&self) -> &str {
        self.server.api_url()
    }

    /// The JWKS URL.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        self.server.jwks_url()
    }

    /// The app id.
    #[must_use]
    pub fn app_id(&self) -> &str {
        self.server.app_id()
    }

    /// The API key the emulator accepts.
    #[must_use]
    pub fn api_key(&self) -> &str {
        self.server.api_key()
    }

    /// The app's front-end origin (the first `aud` of minted tokens).
    #[must_use]
    pub fn auth_origin(&self) -> &str {
        self.server.auth_origin()
    }

    /// The `PASSAGE_*` environment variables a client needs to use this emulator.
    #[must_use]
    pub fn env_vars(&self) -> [(&'static str, String); 4] {
        self.server.env_vars()
    }

    /// A valid token for `user_id`, signed like Passage's.
    ///
    /// # Errors
    /// [`EmulatorError::Crypto`] when signing fails.
    pub fn mint_token(&self, user_id: &str) -> Result<String, EmulatorError> {
        Ok(self.server.mint_token(user_id)?)
    }

    /// A token builder for `user_id`, to customise claims, header, expiry and signer.
    pub fn token(&self, user_id: &str) -> TokenBuilder {
        self.server.token(user_id)
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
        Ok(self.current_key().sign_raw(header_json, claims_json)?)
    }

    /// The key signing new tokens.
    #[must_use]
    pub fn current_key(&self) -> SigningKey {
        self.server.current_key()
    }

    /// Generates a new signing key, serves it beside the old ones, and signs with it from now on.
    ///
    /// # Errors
    /// [`EmulatorError::Crypto`] when key generation fails.
    pub fn rotate_key(&self) -> Result<SigningKey, EmulatorError> {
        Ok(self.server.rotate_key()?)
    }

    /// Re-keys the current kid: the JWKS serves new key material under the same `kid`, and new
    /// tokens are signed with it (what a JWKS does when a key is replaced after a compromise but
    /// its name is kept). Tokens signed before no longer verify.
    ///
    /// # Errors
    /// [`EmulatorError::Crypto`] when key generation fails.
    pub fn rekey(&self) -> Result<SigningKey, EmulatorError> {
        Ok(self.server.rekey()?)
    }

    /// Stops serving the key `kid` in the JWKS (tokens it signed no longer verify).
    pub fn retire_key(&self, kid: &str) {
        self.server.retire_key(kid);
    }

    /// Serves `jwk` in the JWKS as it is (e.g. an EC key a client must skip).
    pub fn add_raw_jwk(&self, jwk: Value) {
        self.server.add_raw_jwk(jwk);
    }

    /// Sets the JWKS `Cache-Control` header.
    pub fn set_jwks_cache_control(&self, value: impl Into<String>) {
        self.server.set_jwks_cache_control(value);
    }

    /// Makes every request to `target` fail with `fault` until cleared.
    pub fn set_fault(&self, target: Target, fault: Fault) {
        self.server.set_fault(target, fault);
    }

    /// Makes the next `times` requests to `target` fail with `fault`.
    pub fn set_fault_times(&self, target: Target, fault: Fault, times: u32) {
        self.server.set_fault_times(target, fault, times);
    }

    /// Lets `target` answer normally again.
    pub fn clear_fault(&self, target: Target) {
        self.server.clear_fault(target);
    }

    /// How many requests reached the JWKS route (faulted ones included).
    #[must_use]
    pub fn jwks_hits(&self) -> u64 {
        self.server.jwks_hits()
    }

    /// Adds a user; returns its id.
    ///
    /// # Errors
    /// [`EmulatorError::Seed`] when the user is refused (no identifier, duplicate, bad status).
    pub fn seed_user(&self, user: SeedUser) -> Result<String, EmulatorError> {
        // The emulator's store is in memory: it answers at once.
        match self.server.seed_user_now(user) {
            Some(result) => Ok(result?),
            None => Err(EmulatorError::Seed(StoreError::Failed(
                "the store did not answer at once".into(),
            ))),
        }
    }

    /// How many times `user_id`'s refresh tokens were revoked (`None` for an unknown user).
    #[must_use]
    pub fn refresh_token_revocations(&self, user_id: &str) -> Option<u32> {
        self.server
            .store()
            .user(user_id)
            .now_or_never()
            .and_then(Result::ok)
            .flatten()
            .map(|u| u.refresh_token_revocations)
    }

    /// The JWKS document served (`{"keys": [...]}`).
    #[must_use]
    pub fn jwks(&self) -> Value {
        self.server.jwks()
    }

    /// The passage-server under this emulator.
    #[must_use]
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Stops serving (also done on drop).
    pub fn shutdown(&self) {
        self.server.shutdown();
    }

    /// Stops accepting connections and waits until the requests in flight have finished.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}
