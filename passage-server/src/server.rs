//! [`ServerBuilder`] and [`Server`]: open the store, load or make the signing keys, bind the
//! listeners — the Management API (with the JWKS) and, with the `authentication` feature, the
//! Authentication API — and serve until stopped.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, OnceLock},
    time::Duration,
};

use futures_util::FutureExt as _;
use serde_json::Value;
use tokio::{sync::watch, task::JoinHandle};

use crate::{
    dev::faults::{Fault, Faults, Target},
    keys::{CryptoError, SigningKey},
    management,
    seal::SealingKey,
    state::{Shared, lock},
    store::{MemoryStore, SeedUser, Store, StoreError},
    token::TokenBuilder,
};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The store could not be opened or read, or a seed user was refused.
    #[error("the store failed")]
    Store(#[from] StoreError),
    /// A signing key could not be made or loaded.
    #[error("the signing keys could not be loaded")]
    Crypto(#[from] CryptoError),
    /// A signing key could not be sealed or opened.
    #[error("the signing keys could not be unsealed")]
    Seal(#[from] crate::seal::SealError),
    /// An address could not be bound.
    #[error("could not bind {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A setting cannot work.
    #[error("invalid setting: {0}")]
    Config(String),
}

/// What answers `GET /metrics` ([`ServerBuilder::metrics`]).
pub(crate) type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// Settings of a [`Server`]. Defaults suit local development: a demo app on `localhost`.
#[must_use]
pub struct ServerBuilder {
    pub(crate) app_id: String,
    pub(crate) app_name: String,
    pub(crate) api_key: String,
    pub(crate) auth_origin: String,
    pub(crate) redirect_url: String,
    #[cfg(feature = "sqlite")]
    pub(crate) database: Option<std::path::PathBuf>,
    #[cfg(feature = "postgres")]
    pub(crate) database_url: Option<crate::store::DatabaseUrl>,
    pub(crate) store: Option<Arc<dyn Store>>,
    pub(crate) development: bool,
    pub(crate) authentication_api: bool,
    pub(crate) auth_bind: SocketAddr,
    pub(crate) api_bind: SocketAddr,
    pub(crate) public_auth_url: Option<String>,
    #[cfg(feature = "smtp")]
    pub(crate) smtp: Option<crate::mail::SmtpSettings>,
    pub(crate) session_length: Duration,
    pub(crate) refresh_absolute_lifetime: Duration,
    pub(crate) refresh_inactivity_lifetime: Duration,
    pub(crate) recent_sign_in: Duration,
    pub(crate) pending_user_ttl: Duration,
    pub(crate) max_pending_users: usize,
    pub(crate) redis_url: Option<String>,
    pub(crate) redis_namespace: String,
    pub(crate) magic_link_ttl: Duration,
    pub(crate) magic_link_limit: u32,
    pub(crate) auth_methods: Option<crate::methods::AuthMethods>,
    pub(crate) otp_ttl: Duration,
    pub(crate) identifiers: crate::methods::Identifiers,
    pub(crate) login_url: String,
    #[cfg(feature = "authentication")]
    pub(crate) sms: Option<crate::sms::SmsWebhook>,
    pub(crate) locales_dir: Option<std::path::PathBuf>,
    pub(crate) user_fields: crate::fields::UserFields,
    pub(crate) public_signup: bool,
    pub(crate) max_passkeys: usize,
    pub(crate) require_verification: bool,
    pub(crate) users: Vec<SeedUser>,
    pub(crate) elements_dir: Option<std::path::PathBuf>,
    pub(crate) signing_key: Option<SigningKey>,
    pub(crate) sealing_key: Option<SealingKey>,
    pub(crate) previous_sealing_key: Option<SealingKey>,
    pub(crate) jwks_cache_control: String,
    pub(crate) key_reload: Duration,
    pub(crate) connections: crate::listen::Settings,
    pub(crate) metrics: Option<MetricsRender>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The API key, the SMTP URL (its password), the Redis URL and the keys never print.
        f.debug_struct("ServerBuilder")
            .field("app_id", &self.app_id)
            .field("app_name", &self.app_name)
            .field("auth_origin", &self.auth_origin)
            .field("development", &self.development)
            .field("authentication_api", &self.authentication_api)
            .field("auth_bind", &self.auth_bind)
            .field("api_bind", &self.api_bind)
            .field("public_auth_url", &self.public_auth_url)
            .field("session_length", &self.session_length)
            .field("public_signup", &self.public_signup)
            .field("auth_methods", &self.auth_methods)
            .field("identifiers", &self.identifiers)
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            app_id: "passage_app".to_owned(),
            app_name: "Passage".to_owned(),
            api_key: String::new(),
            auth_origin: "http://localhost:3000".to_owned(),
            redirect_url: "/".to_owned(),
            #[cfg(feature = "sqlite")]
            database: None,
            #[cfg(feature = "postgres")]
            database_url: None,
            store: None,
            development: false,
            authentication_api: true,
            auth_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_auth_url: None,
            #[cfg(feature = "smtp")]
            smtp: None,
            session_length: Duration::from_secs(3600),
            refresh_absolute_lifetime: Duration::from_secs(30 * 24 * 3600),
            refresh_inactivity_lifetime: Duration::from_secs(5 * 24 * 3600),
            recent_sign_in: Duration::from_secs(10 * 60),
            pending_user_ttl: Duration::from_secs(3600),
            max_pending_users: 10_000,
            redis_url: None,
            redis_namespace: "passage".to_owned(),
            magic_link_ttl: Duration::from_secs(15 * 60),
            magic_link_limit: 5,
            auth_methods: None,
            otp_ttl: Duration::from_secs(5 * 60),
            identifiers: crate::methods::Identifiers::Email,
            login_url: "/".to_owned(),
            #[cfg(feature = "authentication")]
            sms: None,
            locales_dir: None,
            user_fields: crate::fields::UserFields::default(),
            public_signup: true,
            max_passkeys: 20,
            require_verification: false,
            users: Vec::new(),
            elements_dir: None,
            signing_key: None,
            sealing_key: None,
            previous_sealing_key: None,
            jwks_cache_control: "public, max-age=300".to_owned(),
            key_reload: Duration::from_secs(30),
            connections: crate::listen::Settings::default(),
            metrics: None,
        }
    }
}

impl ServerBuilder {
    /// The app id (default `passage_app`).
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = app_id.into();
        self
    }

    /// The app's name, shown by passkey prompts and in mails (default `Passage`).
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = name.into();
        self
    }

    /// The Management API key (required; no default).
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = api_key.into();
        self
    }

    /// The origin of the app's pages, where passage-elements runs (default
    /// `http://localhost:3000`). It is the passkeys' relying party (its host is the RP id), the
    /// only origin the Authentication API answers across origins, and the first audience of
    /// the tokens.
    pub fn auth_origin(mut self, origin: impl Into<String>) -> Self {
        self.auth_origin = origin.into();
        self
    }

    /// Where the element sends a user after signing in (default `/`).
    pub fn redirect_url(mut self, url: impl Into<String>) -> Self {
        self.redirect_url = url.into();
        self
    }

    /// Keeps everything in this SQLite file (default: in memory, gone at exit).
    #[cfg(feature = "sqlite")]
    pub fn database(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.database = Some(path.into());
        self
    }

    /// Keeps everything in the PostgreSQL database at `url` (`postgres://user:password@host/db`;
    /// TLS and the pool size as [`PostgresStore`](crate::store::PostgresStore) reads them), which
    /// several servers may share. The password is never shown (`Debug`, errors, logs).
    #[cfg(feature = "postgres")]
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(crate::store::DatabaseUrl::from(url.into()));
        self
    }

    /// Keeps everything in `store` (default: in memory, or the [`database`](Self::database)
    /// file). Its signing keys are used (one is made and kept there when it has none), so
    /// tokens signed before a restart still validate after it.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Development mode (default: off): the conveniences under `/__emulator` on the Management
    /// API (token minting, sign-in cookie, seeding, key rotation, faults), fault injection, and
    /// a mailbox of the messages sent (`/__passage/mailbox`). Never for production: anyone who
    /// can reach those routes can sign in as anyone.
    pub fn development(mut self, on: bool) -> Self {
        self.development = on;
        self
    }

    /// Whether the Authentication API is served (default: yes, with the `authentication`
    /// feature). Off, the server is the Management API and the JWKS alone, as passage-emulator
    /// runs it.
    pub fn authentication_api(mut self, on: bool) -> Self {
        self.authentication_api = on;
        self
    }

    /// The Authentication API's listen address (default `127.0.0.1:0`).
    pub fn auth_bind(mut self, addr: SocketAddr) -> Self {
        self.auth_bind = addr;
        self
    }

    /// The Management API's listen address (default `127.0.0.1:0`).
    pub fn api_bind(mut self, addr: SocketAddr) -> Self {
        self.api_bind = addr;
        self
    }

    /// The Authentication API's URL as browsers reach it (default: the bound address, as
    /// `http://localhost:PORT`), e.g. behind a TLS proxy.
    pub fn public_auth_url(mut self, url: impl Into<String>) -> Self {
        self.public_auth_url = Some(url.into());
        self
    }

    /// Sends magic links by SMTP. Without it, magic links are only offered in development mode,
    /// where they land in the mailbox.
    #[cfg(feature = "smtp")]
    pub fn smtp(mut self, smtp: crate::mail::SmtpSettings) -> Self {
        self.smtp = Some(smtp);
        self
    }

    /// Lifetime of an auth token (default 1 h).
    pub fn session_length(mut self, length: Duration) -> Self {
        self.session_length = length;
        self
    }

    /// How long a session may be refreshed, counted from its sign-in (default 30 days; app
    /// info's `refresh_absolute_lifetime`): refreshing never extends it.
    pub fn refresh_absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_absolute_lifetime = lifetime;
        self
    }

    /// How long a refresh token works unused (default 5 days; app info's
    /// `refresh_inactivity_lifetime`): a session not refreshed for that long ends.
    pub fn refresh_inactivity_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_inactivity_lifetime = lifetime;
        self
    }

    /// How recent a session's sign-in must be for its user to change the account — add or
    /// remove a passkey, change an identifier (default 10 minutes). Older sessions get 403
    /// `recent_sign_in_required` and must sign in again.
    pub fn recent_sign_in(mut self, window: Duration) -> Self {
        self.recent_sign_in = window;
        self
    }

    /// How long an unfinished sign-up (a pending user without a passkey who never signed in)
    /// is kept before it is removed (default 1 hour), so nobody can hold an address by starting
    /// a sign-up.
    pub fn pending_user_ttl(mut self, ttl: Duration) -> Self {
        self.pending_user_ttl = ttl;
        self
    }

    /// At most this many unfinished sign-ups are kept (default 10 000): beyond it, the oldest
    /// go as new ones come, so anonymous sign-ups cannot fill the disk. (A person whose sign-up
    /// is removed starts again.)
    pub fn max_pending_users(mut self, max: usize) -> Self {
        self.max_pending_users = max.max(1);
        self
    }

    /// Publishes every revocation (sign out everywhere, deactivation, deletion) to this Redis, as passage-redis does, under `namespace` (passage-redis's
    /// default is `passage`): every backend using passage-core with `RedisRevocations` on the
    /// same Redis and namespace refuses those tokens at once. Needs the `redis` feature.
    pub fn redis(mut self, url: impl Into<String>, namespace: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self.redis_namespace = namespace.into();
        self
    }

    /// Lifetime of a magic link (default 15 min).
    pub fn magic_link_ttl(mut self, ttl: Duration) -> Self {
        self.magic_link_ttl = ttl;
        self
    }

    /// At most this many magic links to one address within a link's lifetime
    /// ([`magic_link_ttl`](Self::magic_link_ttl)); more are refused with 429
    /// `too_many_requests` and `Retry-After` (default 5; 0 turns the limit off). Without a limit,
    /// anyone who knows an address — or invents one, through sign-up — could flood its inbox
    /// through this server.
    pub fn magic_link_limit(mut self, links: u32) -> Self {
        self.magic_link_limit = links;
        self
    }

    /// The sign-in methods the app offers, as Passage's console let an app choose (default:
    /// passkeys, and magic links when they can be sent). passage-elements uses one-time
    /// passcodes whenever they are offered, magic links only when they are not. Offering codes
    /// or links without a way to send them to the app's identifiers (SMTP for email, an
    /// [SMS webhook](Self::sms_webhook) for phone numbers, or development mode) is refused at
    /// start.
    pub fn auth_methods(mut self, methods: crate::methods::AuthMethods) -> Self {
        self.auth_methods = Some(methods);
        self
    }

    /// Lifetime of a one-time passcode (default 5 min; app info's `auth_methods.otp.ttl`).
    pub fn otp_ttl(mut self, ttl: Duration) -> Self {
        self.otp_ttl = ttl;
        self
    }

    /// Which identifiers users sign up and sign in with (default: email addresses; app info's
    /// `allowed_identifier`). Identifiers of another kind are refused with 400
    /// `identifier_not_allowed`.
    pub fn identifiers(mut self, identifiers: crate::methods::Identifiers) -> Self {
        self.identifiers = identifiers;
        self
    }

    /// The app's sign-in page, a path on the [`auth_origin`](Self::auth_origin) showing
    /// `<passage-auth>` or `<passage-login>` (default `/`; app info's `login_url`): where the
    /// link that confirms a new email address or phone number leads.
    pub fn login_url(mut self, path: impl Into<String>) -> Self {
        self.login_url = path.into();
        self
    }

    /// Sends text messages (codes and links to phone numbers) through this webhook: a signed
    /// JSON `POST` for each, retried with backoff (see [`SmsWebhook`](crate::SmsWebhook)).
    /// Without it, phone numbers get messages only in development mode, in the mailbox.
    #[cfg(feature = "authentication")]
    pub fn sms_webhook(mut self, webhook: crate::sms::SmsWebhook) -> Self {
        self.sms = Some(webhook);
        self
    }

    /// A directory of the operator's own UI strings for the element (`{lang}.json`, the keys
    /// of passage-elements' English file) and message templates (`messages.{lang}.json`),
    /// served before the built-in ones.
    pub fn locales_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.locales_dir = Some(dir.into());
        self
    }

    /// The app's own user fields (Passage's user metadata schema, with its layouts): asked at
    /// registration and editable in the profile as declared, served in app info, and checked on
    /// every write — from the browser only declared fields are kept, each of its type and size;
    /// through the Management API declared fields must be of their type (default: none).
    pub fn user_fields(mut self, fields: crate::fields::UserFields) -> Self {
        self.user_fields = fields;
        self
    }

    /// Whether anyone may sign up (default: yes).
    pub fn public_signup(mut self, on: bool) -> Self {
        self.public_signup = on;
        self
    }

    /// The most passkeys (and security keys) one user may hold (default 20; 0: no limit). More
    /// are refused with 403 `limit_reached`. Each one is kept and offered at every sign-in, so
    /// without a limit an account could be made to hold thousands.
    pub fn max_passkeys(mut self, max: usize) -> Self {
        self.max_passkeys = max;
        self
    }

    /// Whether a new user must prove their email before registering a passkey (default: no).
    /// On, sign-up goes by magic link first and the passkey is added once signed in, so nobody
    /// can register a passkey to an address they do not own and wait for its owner to sign in
    /// to that account by magic link. Needs a way to send links (SMTP, or development mode).
    pub fn require_identifier_verification(mut self, on: bool) -> Self {
        self.require_verification = on;
        self
    }

    /// Serves the passage-elements bundle (its `dist/package` directory, from npm
    /// `@passageidentity/passage-elements`) under `/elements/`, so a page loads the element from
    /// this server: `<script type="module" src="AUTH_URL/elements/passage-auth/index.es.js">`.
    pub fn elements_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.elements_dir = Some(dir.into());
        self
    }

    /// Adds a user at start (when no user holds its identifier yet).
    pub fn user(mut self, user: SeedUser) -> Self {
        self.users.push(user);
        self
    }

    /// Signs with this key instead of the store's (or a freshly generated one).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Seals the signing keys in the store under `key` (AES-256-GCM): whoever copies the
    /// database without it cannot forge tokens. Keys kept unsealed are sealed at start. Without
    /// it a server with a database warns at start: its private signing key is in the file.
    pub fn sealing_key(mut self, key: SealingKey) -> Self {
        self.sealing_key = Some(key);
        self
    }

    /// The sealing key to open keys sealed before a rotation: they are sealed again under
    /// [`sealing_key`](Self::sealing_key) at start. Keep it until every server has started once
    /// with the new key.
    pub fn previous_sealing_key(mut self, key: SealingKey) -> Self {
        self.previous_sealing_key = Some(key);
        self
    }

    /// The JWKS `Cache-Control` header (default `public, max-age=300`).
    pub fn jwks_cache_control(mut self, value: impl Into<String>) -> Self {
        self.jwks_cache_control = value.into();
        self
    }

    /// How often the signing keys are read again from the store (default 30 s), so a key
    /// rotated by another process (`passage-server rotate-key`) is served, then signs, here too.
    /// Not in development mode, nor with a [`signing_key`](Self::signing_key) given.
    pub fn key_reload_interval(mut self, interval: Duration) -> Self {
        self.key_reload = interval.max(Duration::from_millis(100));
        self
    }

    /// The most connections each listener holds at once (default: three quarters of the
    /// process's open-file limit for the Authentication API, a quarter for the Management API,
    /// so a flood of one never starves the other). More wait in the kernel's backlog.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.connections.max = Some(connections.max(1));
        self
    }

    /// How long a client may take to send a request's headers (default 10 s), then the
    /// connection closes.
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.connections.headers = timeout;
        self
    }

    /// How long a connection may stay silent, keep-alive included (default 60 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.connections.idle = timeout;
        self
    }

    /// How long reading a request's body and answering it may take (default 30 s), then 408.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.connections.request = timeout;
        self
    }

    /// Answers `GET /metrics` on the Management listener with what `render` returns, in the
    /// Prometheus text format: the renderer of the recorder the process installed, after
    /// [`metrics::describe`](crate::metrics::describe). Without it, `/metrics` is not a route.
    ///
    /// ```
    /// # fn handle() -> String { String::new() }
    /// let builder = passage_server::Server::builder()
    ///     .api_key("test")
    ///     .metrics(handle);
    /// ```
    pub fn metrics(mut self, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.metrics = Some(Arc::new(render));
        self
    }

    /// Opens the store, binds the listeners and starts serving.
    ///
    /// # Errors
    /// [`ServerError`] for a setting that cannot work, a store that cannot be opened, a key
    /// that cannot be made, or an address that cannot be bound.
    pub async fn start(mut self) -> Result<Server, ServerError> {
        if self.api_key.is_empty() {
            return Err(ServerError::Config("an API key is required".into()));
        }
        let store = self.open_store().await?;
        for user in std::mem::take(&mut self.users) {
            let mut known = false;
            for identifier in [&user.email, &user.phone].into_iter().flatten() {
                known |= store.user_by_identifier(identifier).await?.is_some();
            }
            if !known {
                store.insert_user(user).await?;
            }
        }
        if self.sealing_key.is_none() && self.persistent() {
            tracing::warn!(
                "passage-server: NO SEALING KEY: the private signing key is kept in the database unsealed, so anyone who can read the database can forge tokens for every user; give one with --key-file (openssl rand -base64 32 > key, chmod 600)"
            );
        }
        let sealing = crate::signing::Sealing {
            current: self.sealing_key.take(),
            previous: self.previous_sealing_key.take(),
        };
        // A key stays served while tokens it signed may be valid: the session length, and five
        // minutes for clocks that differ.
        let retain = i64::try_from(self.session_length.as_secs())
            .unwrap_or(i64::MAX)
            .saturating_add(300);
        let reloads = !self.development && self.signing_key.is_none();
        let (keys, opened) =
            crate::signing::start(store.as_ref(), self.signing_key.take(), &sealing, retain)
                .await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let api_listener = bind(self.api_bind).await?;
        let api_addr = local_addr(&api_listener, self.api_bind)?;
        let shared = Arc::new(Shared {
            app_id: self.app_id.clone(),
            api_key: self.api_key.clone(),
            app_name: self.app_name.clone(),
            auth_origin: self.auth_origin.trim_end_matches('/').to_owned(),
            token_ttl_secs: i64::try_from(self.session_length.as_secs()).unwrap_or(i64::MAX),
            fields: std::mem::take(&mut self.user_fields),
            issuer: OnceLock::new(),
            keys: Mutex::new(keys),
            faults: Mutex::new(Faults::default()),
            jwks_hits: 0.into(),
            jwks_cache_control: Mutex::new(self.jwks_cache_control.clone()),
            store,
            shutdown: shutdown_rx.clone(),
            on_revoke: OnceLock::new(),
            sign_in: OnceLock::new(),
        });
        let api_url = format!("http://{api_addr}");
        #[cfg_attr(not(feature = "authentication"), allow(unused_mut))]
        let mut tasks = vec![crate::listen::serve(
            api_listener,
            management::router::router(Arc::clone(&shared), self.development, self.metrics.clone()),
            self.connections.limits(0.25),
            shutdown_rx.clone(),
            "the Management API",
        )];
        if reloads {
            tasks.push(crate::signing::reload(
                Arc::clone(&shared),
                sealing,
                opened,
                self.key_reload,
                retain,
                shutdown_rx.clone(),
            ));
        } else {
            drop((sealing, opened));
        }
        #[cfg(feature = "authentication")]
        let auth = if self.authentication_api {
            let auth = crate::auth::start(self, Arc::clone(&shared), shutdown_rx).await?;
            tasks.push(auth.task);
            Some((auth.addr, auth.public_url, auth.mailbox))
        } else {
            None
        };
        #[cfg(not(feature = "authentication"))]
        let auth: Option<(SocketAddr, String)> = {
            let _ = (&self, shutdown_rx);
            None
        };
        let auth_url = auth
            .as_ref()
            .map_or_else(|| api_url.clone(), |auth| auth.1.clone());
        let _ = shared
            .issuer
            .set(format!("{auth_url}/v1/apps/{}", shared.app_id));
        tracing::debug!(%api_url, %auth_url, "passage-server: listening");
        Ok(Server {
            shared,
            api_addr,
            api_url,
            auth_addr: auth.as_ref().map_or(api_addr, |auth| auth.0),
            auth_url,
            #[cfg(feature = "authentication")]
            mailbox: auth.map(|auth| auth.2),
            shutdown,
            tasks,
        })
    }

    /// Whether the store outlives the process (a database).
    fn persistent(&self) -> bool {
        #[cfg(feature = "sqlite")]
        if self.database.is_some() {
            return true;
        }
        #[cfg(feature = "postgres")]
        if self.database_url.is_some() {
            return true;
        }
        false
    }

    /// The store the settings name: the given one, the database file, or memory.
    async fn open_store(&self) -> Result<Arc<dyn Store>, ServerError> {
        if let Some(store) = &self.store {
            return Ok(Arc::clone(store));
        }
        #[cfg(all(feature = "sqlite", feature = "postgres"))]
        if self.database.is_some() && self.database_url.is_some() {
            return Err(ServerError::Config(
                "both a SQLite file and a PostgreSQL URL were given: choose one".into(),
            ));
        }
        #[cfg(feature = "postgres")]
        if let Some(url) = &self.database_url {
            return Ok(Arc::new(
                crate::store::PostgresStore::connect(url.expose()).await?,
            ));
        }
        #[cfg(feature = "sqlite")]
        if let Some(path) = &self.database {
            // A server of this process stopped a moment ago may still be letting go of the
            // file: wait a little (yielding, so it can) before calling it another process's.
            let mut waited = Duration::ZERO;
            loop {
                match crate::store::SqliteStore::open(path) {
                    Err(StoreError::InUse(_)) if waited < Duration::from_secs(2) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        waited += Duration::from_millis(50);
                    }
                    opened => return Ok(Arc::new(opened?)),
                }
            }
        }
        Ok(Arc::new(MemoryStore::new()))
    }
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM (what `docker stop`, systemd and Kubernetes
/// send): await it, then [`Server::stop`] to finish the requests in flight.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ServerError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

pub(crate) fn local_addr(
    listener: &tokio::net::TcpListener,
    addr: SocketAddr,
) -> Result<SocketAddr, ServerError> {
    listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })
}

/// A running Passage-compatible server: the Management API (and the JWKS) on one listener, the
/// Authentication API (and the JWKS) on the other. Stops when dropped.
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    api_addr: SocketAddr,
    api_url: String,
    auth_addr: SocketAddr,
    auth_url: String,
    #[cfg(feature = "authentication")]
    mailbox: Option<crate::mail::Mailbox>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Settings for a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The app id.
    #[must_use]
    pub fn app_id(&self) -> &str {
        &self.shared.app_id
    }

    /// The Management API key.
    #[must_use]
    pub fn api_key(&self) -> &str {
        &self.shared.api_key
    }

    /// The app's origin (the first `aud` of the tokens).
    #[must_use]
    pub fn auth_origin(&self) -> &str {
        &self.shared.auth_origin
    }

    /// The Authentication API's URL as browsers reach it: what `PASSAGE_AUTH_URL` is set to
    /// (the Management API's, when the Authentication API is off: the JWKS is on both).
    #[must_use]
    pub fn auth_url(&self) -> &str {
        &self.auth_url
    }

    /// The Authentication API's bound address (the Management API's when it is off).
    #[must_use]
    pub fn auth_addr(&self) -> SocketAddr {
        self.auth_addr
    }

    /// The Management API's URL: what `PASSAGE_API_URL` is set to.
    #[must_use]
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// The Management API's bound address.
    #[must_use]
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The JWKS URL.
    #[must_use]
    pub fn jwks_url(&self) -> String {
        format!(
            "{}/v1/apps/{}/.well-known/jwks.json",
            self.auth_url, self.shared.app_id
        )
    }

    /// The `PASSAGE_*` variables a backend needs to use this server.
    #[must_use]
    pub fn env_vars(&self) -> [(&'static str, String); 4] {
        [
            ("PASSAGE_APP_ID", self.app_id().to_owned()),
            ("PASSAGE_API_KEY", self.api_key().to_owned()),
            ("PASSAGE_AUTH_URL", self.auth_url().to_owned()),
            ("PASSAGE_API_URL", self.api_url().to_owned()),
        ]
    }

    /// The messages sent so far (kept in development mode, or sent by SMTP), newest last.
    #[cfg(feature = "authentication")]
    #[must_use]
    pub fn mailbox(&self) -> Vec<crate::mail::Mail> {
        self.mailbox
            .as_ref()
            .map(crate::mail::Mailbox::messages)
            .unwrap_or_default()
    }

    /// The store behind this server.
    #[must_use]
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.shared.store)
    }

    /// A token builder for `user_id`, signed like the server's own tokens by default; every
    /// part can be changed (for tests of how validators refuse odd tokens).
    pub fn token(&self, user_id: &str) -> TokenBuilder {
        TokenBuilder::new(Arc::clone(&self.shared), user_id)
    }

    /// A valid token for `user_id`, as the server issues them.
    ///
    /// # Errors
    /// [`CryptoError`] when signing fails.
    pub fn mint_token(&self, user_id: &str) -> Result<String, CryptoError> {
        self.token(user_id).sign()
    }

    /// The key signing new tokens.
    #[must_use]
    pub fn current_key(&self) -> SigningKey {
        self.shared.current_key()
    }

    /// The JWKS document served (`{"keys": [...]}`).
    #[must_use]
    pub fn jwks(&self) -> Value {
        lock(&self.shared.keys).jwks()
    }

    /// Generates a new signing key, serves it beside the old ones, and signs with it from now
    /// on (not kept in the store: a key rotation for tests and development).
    ///
    /// # Errors
    /// [`CryptoError`] when key generation fails.
    pub fn rotate_key(&self) -> Result<SigningKey, CryptoError> {
        let key = SigningKey::generate()?;
        lock(&self.shared.keys).rotate(key.clone(), false);
        Ok(key)
    }

    /// Re-keys the current kid: the JWKS serves new key material under the same `kid`, and new
    /// tokens are signed with it. Tokens signed before no longer verify.
    ///
    /// # Errors
    /// [`CryptoError`] when key generation fails.
    pub fn rekey(&self) -> Result<SigningKey, CryptoError> {
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

    /// Development mode: makes every request to `target` fail with `fault` until cleared.
    pub fn set_fault(&self, target: Target, fault: Fault) {
        lock(&self.shared.faults).set(target, Some(fault), None);
    }

    /// Development mode: makes the next `times` requests to `target` fail with `fault`.
    pub fn set_fault_times(&self, target: Target, fault: Fault, times: u32) {
        lock(&self.shared.faults).set(target, Some(fault), Some(times));
    }

    /// Lets `target` answer normally again.
    pub fn clear_fault(&self, target: Target) {
        lock(&self.shared.faults).set(target, None, None);
    }

    /// How many requests reached the Management listener's JWKS route (faulted ones included).
    #[must_use]
    pub fn jwks_hits(&self) -> u64 {
        self.shared
            .jwks_hits
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Adds a user; returns its id.
    ///
    /// # Errors
    /// [`StoreError`] when the user is refused (no identifier, a duplicate, a bad status).
    pub async fn seed_user(&self, user: SeedUser) -> Result<String, StoreError> {
        Ok(self.shared.store.insert_user(user).await?.id)
    }

    /// Adds a user now, when the store answers at once (a [`MemoryStore`]); `None` when it
    /// would have to wait (a database).
    #[doc(hidden)]
    pub fn seed_user_now(&self, user: SeedUser) -> Option<Result<String, StoreError>> {
        self.shared
            .store
            .insert_user(user)
            .now_or_never()
            .map(|result| result.map(|user| user.id))
    }

    /// Stops accepting connections (also done on drop); requests in flight finish.
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Stops accepting connections and waits until the requests in flight have finished.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}
