#![doc = include_str!("../README.md")]

mod auth;
mod import;
mod mail;
mod sqlite;

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use passage_emulator::{
    Emulator, EmulatorError,
    store::{MemoryStore, SeedUser, Store, StoreError},
};
use tokio::{sync::watch, task::JoinHandle};

pub use import::{ImportReport, import_users};
pub use mail::{Mail, SmtpSettings};
pub use sqlite::SqliteStore;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The Management API (and its store) could not start.
    #[error("the Management API could not start")]
    Api(#[from] EmulatorError),
    /// The store could not be opened or read.
    #[error("the store failed")]
    Store(#[from] StoreError),
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

/// Settings of a [`Server`]. Defaults suit local development: a demo app on `localhost`.
#[derive(Debug)]
#[must_use]
pub struct ServerBuilder {
    app_id: String,
    app_name: String,
    api_key: String,
    auth_origin: String,
    redirect_url: String,
    database: Option<PathBuf>,
    development: bool,
    auth_bind: SocketAddr,
    api_bind: SocketAddr,
    public_auth_url: Option<String>,
    smtp: Option<SmtpSettings>,
    session_length: Duration,
    refresh_lifetime: Duration,
    magic_link_ttl: Duration,
    magic_link_limit: u32,
    public_signup: bool,
    require_verification: bool,
    users: Vec<SeedUser>,
    elements_dir: Option<PathBuf>,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            app_id: "passage_app".to_owned(),
            app_name: "Passage".to_owned(),
            api_key: String::new(),
            auth_origin: "http://localhost:3000".to_owned(),
            redirect_url: "/".to_owned(),
            database: None,
            development: false,
            auth_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_auth_url: None,
            smtp: None,
            session_length: Duration::from_secs(3600),
            refresh_lifetime: Duration::from_secs(30 * 24 * 3600),
            magic_link_ttl: Duration::from_secs(15 * 60),
            magic_link_limit: 5,
            public_signup: true,
            require_verification: false,
            users: Vec::new(),
            elements_dir: None,
        }
    }
}

impl ServerBuilder {
    /// The app id (default `passage_app`).
    pub fn app_id(mut self, app_id: impl Into<String>) -> Self {
        self.app_id = app_id.into();
        self
    }

    /// The app's name, shown by passkey prompts (default `Passage`).
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
    pub fn database(mut self, path: impl Into<PathBuf>) -> Self {
        self.database = Some(path.into());
        self
    }

    /// Development mode: the emulator's conveniences (token minting, seeding, faults under
    /// `/__emulator`) and a mailbox of the magic links sent (`/__passage/mailbox`). Never for
    /// production: anyone who can reach those routes can sign in as anyone.
    pub fn development(mut self, on: bool) -> Self {
        self.development = on;
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
    pub fn smtp(mut self, smtp: SmtpSettings) -> Self {
        self.smtp = Some(smtp);
        self
    }

    /// Lifetime of an auth token (default 1 h).
    pub fn session_length(mut self, length: Duration) -> Self {
        self.session_length = length;
        self
    }

    /// Lifetime of a refresh token (default 30 days).
    pub fn refresh_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_lifetime = lifetime;
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
    /// through this server. Counted in memory, per server process.
    pub fn magic_link_limit(mut self, links: u32) -> Self {
        self.magic_link_limit = links;
        self
    }

    /// Whether anyone may sign up (default: yes).
    pub fn public_signup(mut self, on: bool) -> Self {
        self.public_signup = on;
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
    pub fn elements_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.elements_dir = Some(dir.into());
        self
    }

    /// Adds a user at start (when no user holds its identifier yet).
    pub fn user(mut self, user: SeedUser) -> Self {
        self.users.push(user);
        self
    }

    /// Opens the store, binds both listeners and starts serving.
    ///
    /// # Errors
    /// [`ServerError`] for a setting that cannot work, a store that cannot be opened, or an
    /// address that cannot be bound.
    pub async fn start(self) -> Result<Server, ServerError> {
        if self.api_key.is_empty() {
            return Err(ServerError::Config("an API key is required".into()));
        }
        let origin = url::Url::parse(&self.auth_origin).map_err(|_| {
            ServerError::Config(format!("auth_origin {} is not a URL", self.auth_origin))
        })?;
        let auth_origin = origin.origin().ascii_serialization();
        let store: Arc<dyn Store> = match &self.database {
            Some(path) => Arc::new(SqliteStore::open(path)?),
            None => Arc::new(MemoryStore::new()),
        };
        for user in self.users {
            let known = [&user.email, &user.phone]
                .into_iter()
                .flatten()
                .map(|identifier| store.user_by_identifier(identifier))
                .collect::<Result<Vec<_>, _>>()?;
            if known.iter().all(Option::is_none) {
                store.insert_user(user)?;
            }
        }
        let api = Emulator::builder()
            .app_id(&self.app_id)
            .api_key(&self.api_key)
            .app_name(&self.app_name)
            .auth_origin(&auth_origin)
            .bind(self.api_bind)
            .token_ttl(self.session_length)
            .store(Arc::clone(&store))
            .development(self.development)
            .start()
            .await?;
        let listener = tokio::net::TcpListener::bind(self.auth_bind)
            .await
            .map_err(|source| ServerError::Bind {
                addr: self.auth_bind,
                source,
            })?;
        let auth_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: self.auth_bind,
            source,
        })?;
        let public_auth_url = self
            .public_auth_url
            .unwrap_or_else(|| format!("http://localhost:{}", auth_addr.port()));
        let mailer = mail::Mailer::new(self.smtp, self.development)?;
        if self.require_verification && !mailer.delivers() {
            return Err(ServerError::Config(
                "identifier verification needs magic links: configure SMTP (or development mode)"
                    .into(),
            ));
        }
        let settings = auth::Settings {
            app_id: self.app_id,
            app_name: self.app_name,
            auth_origin,
            redirect_url: self.redirect_url,
            public_auth_url: public_auth_url.trim_end_matches('/').to_owned(),
            session_length: self.session_length,
            refresh_lifetime: self.refresh_lifetime,
            magic_link_ttl: self.magic_link_ttl,
            magic_link_limit: self.magic_link_limit,
            public_signup: self.public_signup,
            require_verification: self.require_verification,
            development: self.development,
            elements_dir: self.elements_dir,
        };
        // The server validates its own tokens (for /currentuser) through this listener's JWKS, at
        // the address it is bound to: a wildcard bind is reached on loopback, a specific address
        // at that address. Never a guessed loopback port another local process could hold.
        let local_auth_url = match auth_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                format!("http://127.0.0.1:{}", auth_addr.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => format!("http://[::1]:{}", auth_addr.port()),
            _ => format!("http://{auth_addr}"),
        };
        let state = auth::State::new(settings, api.issuer(), store, mailer, &local_auth_url)?;
        let mailbox = state.mailbox();
        let router = auth::router(Arc::new(state));
        let (shutdown, mut stop) = watch::channel(false);
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
                let _ = stop.wait_for(|stop| *stop).await;
            });
            if let Err(err) = serve.await {
                tracing::error!(error = %err, "passage-server: the Authentication API stopped");
            }
        });
        Ok(Server {
            api,
            auth_addr,
            public_auth_url,
            mailbox,
            shutdown,
            task,
        })
    }
}

/// A running Passage-compatible server: the Authentication API (and the JWKS) on one listener,
/// the Management API on the other. Stops when dropped.
#[derive(Debug)]
pub struct Server {
    api: Emulator,
    auth_addr: SocketAddr,
    public_auth_url: String,
    mailbox: mail::Mailbox,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Server {
    /// Settings for a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The app id.
    #[must_use]
    pub fn app_id(&self) -> &str {
        self.api.app_id()
    }

    /// The Management API key.
    #[must_use]
    pub fn api_key(&self) -> &str {
        self.api.api_key()
    }

    /// The Authentication API's URL as browsers reach it: what `PASSAGE_AUTH_URL` is set to.
    #[must_use]
    pub fn auth_url(&self) -> &str {
        &self.public_auth_url
    }

    /// The Authentication API's bound address.
    #[must_use]
    pub fn auth_addr(&self) -> SocketAddr {
        self.auth_addr
    }

    /// The Management API's URL: what `PASSAGE_API_URL` is set to.
    #[must_use]
    pub fn api_url(&self) -> &str {
        self.api.api_url()
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

    /// The messages sent so far (development mode, or without SMTP), newest last.
    #[must_use]
    pub fn mailbox(&self) -> Vec<Mail> {
        self.mailbox.messages()
    }

    /// The Management API side: minting tokens, seeding users, faults (development only).
    #[must_use]
    pub fn emulator(&self) -> &Emulator {
        &self.api
    }

    /// Stops serving (also done on drop).
    pub fn shutdown(&self) {
        let _ = self.shutdown.send(true);
        self.api.shutdown();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        self.task.abort();
    }
}
