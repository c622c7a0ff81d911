//! The Authentication API: what passage-elements (through passage-js) calls from the browser —
//! app info, users, passkey and magic-link sign-in, the current user, tokens — on a listener of
//! its own, since its paths (`GET /v1/apps/{id}`, `/users`) mean other things on the Management
//! API. Every route is under `/v1/apps/{app_id}`; errors are `{code, error}`.

mod app;
mod assets;
mod ceremonies;
mod deliver;
mod error;
mod limits;
mod magic_links;
mod otp;
mod passkeys;
mod profile;
mod revocations;
mod sessions;
mod templates;
mod users;

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, FromRequestParts, Path},
    http::{HeaderName, HeaderValue, Method, StatusCode, request::Parts},
    response::{IntoResponse, Response},
    routing::{delete, get, patch, post},
};
use serde::de::DeserializeOwned;
use tower_http::cors::{AllowOrigin, CorsLayer};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::{
    ServerBuilder, ServerError,
    mail::{Mailbox, Mailer},
    methods::{AuthMethods, Identifiers},
    server::{bind, local_addr},
    sms::Texter,
    state::Shared as Passage,
    store::Store,
};
pub(crate) use error::AuthApiError;

/// The largest request body accepted: WebAuthn responses are a few KiB.
const BODY_LIMIT: usize = 64 * 1024;

/// How the Authentication API behaves (from the [`ServerBuilder`](crate::ServerBuilder)).
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) app_id: String,
    pub(crate) app_name: String,
    /// The app's origin, without a trailing slash.
    pub(crate) auth_origin: String,
    pub(crate) redirect_url: String,
    /// This API's URL as browsers reach it, without a trailing slash.
    pub(crate) public_auth_url: String,
    pub(crate) session_length: Duration,
    /// How long a session may be refreshed, from its sign-in (`refresh_absolute_lifetime`).
    pub(crate) refresh_absolute_lifetime: Duration,
    /// How long a refresh token works unused (`refresh_inactivity_lifetime`).
    pub(crate) refresh_inactivity_lifetime: Duration,
    /// How recent a session's sign-in must be to change the account (add a passkey, …).
    pub(crate) recent_sign_in: Duration,
    pub(crate) magic_link_ttl: Duration,
    /// The sign-in methods offered (those that can be delivered).
    pub(crate) auth_methods: AuthMethods,
    /// How long a one-time passcode works.
    pub(crate) otp_ttl: Duration,
    /// Which identifiers users sign in with.
    pub(crate) identifiers: Identifiers,
    /// The app's sign-in page (a path on `auth_origin`): where links that confirm a new
    /// address lead (it must show `<passage-auth>` or `<passage-login>`).
    pub(crate) login_url: String,
    /// At most this many magic links to one address per `magic_link_ttl` (0: no limit).
    pub(crate) magic_link_limit: u32,
    pub(crate) public_signup: bool,
    /// The most passkeys one user may hold (0: no limit).
    pub(crate) max_passkeys: usize,
    /// New users prove their identifier (magic link) before registering a passkey.
    pub(crate) require_verification: bool,
    pub(crate) development: bool,
    /// The passage-elements bundle to serve under `/elements/`.
    pub(crate) elements_dir: Option<std::path::PathBuf>,
    /// Where revocations are published for the backends (Redis), if anywhere.
    pub(crate) publish: Option<revocations::Publish>,
    /// How long an unfinished sign-up (a pending user) is kept.
    pub(crate) pending_user_ttl: Duration,
    /// At most this many unfinished sign-ups are kept (the oldest go first).
    pub(crate) max_pending_users: usize,
}

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct State {
    settings: Settings,
    /// The app, its keys and its store, shared with the Management API.
    passage: Arc<Passage>,
    store: Arc<dyn Store>,
    webauthn: Webauthn,
    mailer: Mailer,
    /// Text messages (SMS webhook, or the development mailbox).
    texter: Texter,
    /// Message templates by language, and the operator's element strings.
    locales: templates::Locales,
    /// The elements bundle and the phone input's files, served from here.
    assets: assets::Assets,
    /// Validates the tokens this server issued, exactly as an app's backend does.
    verifier: passage_core::Passage,
    /// Sign-ups started since the unfinished ones were last trimmed to their bound.
    sign_ups: std::sync::atomic::AtomicUsize,
}

impl State {
    pub(crate) fn new(
        settings: Settings,
        passage: Arc<Passage>,
        (mailer, texter, locales): (Mailer, Texter, templates::Locales),
        local_auth_url: &str,
    ) -> Result<Self, ServerError> {
        let origin = url::Url::parse(&settings.auth_origin)
            .map_err(|_| ServerError::Config("auth_origin is not a URL".into()))?;
        let rp_id = origin.domain().ok_or_else(|| {
            ServerError::Config(format!(
                "auth_origin {} has no domain name: passkeys need one (use http://localhost:PORT, not an IP address)",
                settings.auth_origin
            ))
        })?;
        let webauthn = WebauthnBuilder::new(rp_id, &origin)
            .and_then(|builder| builder.rp_name(&settings.app_name).build())
            .map_err(|err| {
                ServerError::Config(format!(
                    "passkeys cannot work with auth_origin {}: {err}",
                    settings.auth_origin
                ))
            })?;
        let verifier = passage_core::Passage::builder(&settings.app_id)
            .api_key("unused: this client only validates tokens")
            .auth_url(local_auth_url)
            .api_url(local_auth_url)
            .token_source(passage_core::TokenSource::Header)
            // Its own listener, possibly bound to a non-loopback address: no network between.
            .danger_allow_plain_http();
        let verifier = revocations::shared(verifier, settings.publish.as_ref())?
            .build()
            .map_err(|err| {
                ServerError::Config(format!("token validation cannot be set up: {err}"))
            })?;
        revocations::publish(&passage, &verifier);
        Ok(Self {
            assets: assets::Assets::new(settings.elements_dir.clone()),
            settings,
            store: Arc::clone(&passage.store),
            passage,
            webauthn,
            mailer,
            texter,
            locales,
            verifier,
            sign_ups: 0.into(),
        })
    }

    pub(crate) fn mailbox(&self) -> Mailbox {
        self.mailer.mailbox()
    }
}

type Shared = Arc<State>;

/// The Authentication API, started: where it listens, its mailbox, its task.
pub(crate) struct Started {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) public_url: String,
    pub(crate) mailbox: Mailbox,
    pub(crate) task: tokio::task::JoinHandle<()>,
}

/// Binds and serves the Authentication API for `passage`, with the builder's settings.
pub(crate) async fn start(
    builder: ServerBuilder,
    passage: Arc<Passage>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<Started, ServerError> {
    let origin = url::Url::parse(&builder.auth_origin).map_err(|_| {
        ServerError::Config(format!("auth_origin {} is not a URL", builder.auth_origin))
    })?;
    let auth_origin = origin.origin().ascii_serialization();
    let listener = bind(builder.auth_bind).await?;
    let addr = local_addr(&listener, builder.auth_bind)?;
    let public_url = builder
        .public_auth_url
        .unwrap_or_else(|| format!("http://localhost:{}", addr.port()))
        .trim_end_matches('/')
        .to_owned();
    // The mail server must answer within half the request's time, at most 10 s.
    #[cfg(feature = "smtp")]
    let mailer = Mailer::new(
        builder.smtp,
        builder.development,
        (builder.connections.request / 2).min(Duration::from_secs(10)),
    )?;
    #[cfg(not(feature = "smtp"))]
    let mailer = Mailer::new(builder.development);
    let texter = Texter::new(
        builder.sms.clone(),
        builder.development,
        &mailer.mailbox(),
        &builder.app_id,
    )
    .map_err(|err| ServerError::Config(err.to_string()))?;
    let locales = templates::Locales::load(builder.locales_dir.as_deref())?;
    let delivers = match builder.identifiers {
        Identifiers::Email => mailer.delivers(),
        Identifiers::Phone => texter.delivers(),
        Identifiers::Both => mailer.delivers() || texter.delivers(),
    };
    let auth_methods = match builder.auth_methods {
        // Chosen: what cannot be delivered is a configuration error.
        Some(methods) => {
            if (methods.otp || methods.magic_link) && !delivers {
                return Err(ServerError::Config(format!(
                    "{methods} need a way to send messages to {} identifiers: configure SMTP for email, an SMS webhook for phone numbers (or development mode)",
                    builder.identifiers.as_str()
                )));
            }
            if !(methods.passkeys || methods.otp || methods.magic_link) {
                return Err(ServerError::Config(
                    "at least one sign-in method is needed".into(),
                ));
            }
            methods
        }
        // The default: passkeys, and magic links when they can be sent.
        None => AuthMethods {
            magic_link: delivers,
            ..AuthMethods::default()
        },
    };
    if builder.require_verification && !(delivers && (auth_methods.otp || auth_methods.magic_link))
    {
        return Err(ServerError::Config(
            "identifier verification needs magic links or one-time passcodes: configure SMTP (or development mode)"
                .into(),
        ));
    }
    let settings = Settings {
        app_id: builder.app_id,
        app_name: builder.app_name,
        auth_origin,
        redirect_url: builder.redirect_url,
        public_auth_url: public_url.clone(),
        session_length: builder.session_length,
        refresh_absolute_lifetime: builder.refresh_absolute_lifetime,
        refresh_inactivity_lifetime: builder.refresh_inactivity_lifetime,
        recent_sign_in: builder.recent_sign_in,
        magic_link_ttl: builder.magic_link_ttl,
        auth_methods,
        otp_ttl: builder.otp_ttl,
        identifiers: builder.identifiers,
        login_url: builder.login_url,
        magic_link_limit: builder.magic_link_limit,
        public_signup: builder.public_signup,
        max_passkeys: builder.max_passkeys,
        require_verification: builder.require_verification,
        development: builder.development,
        elements_dir: builder.elements_dir,
        publish: builder.redis_url.map(|redis_url| revocations::Publish {
            redis_url,
            namespace: builder.redis_namespace,
        }),
        pending_user_ttl: builder.pending_user_ttl,
        max_pending_users: builder.max_pending_users,
    };
    // The server validates its own tokens (for /currentuser) through this listener's JWKS, at
    // the address it is bound to: a wildcard bind is reached on loopback, a specific address
    // at that address. Never a guessed loopback port another local process could hold.
    let local_url = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            format!("http://127.0.0.1:{}", addr.port())
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            format!("http://[::1]:{}", addr.port())
        }
        _ => format!("http://{addr}"),
    };
    let _ = passage.sign_in.set(crate::state::SignIn {
        methods: settings.auth_methods,
        identifiers: settings.identifiers,
        otp_ttl_secs: settings.otp_ttl.as_secs(),
        magic_link_ttl_secs: settings.magic_link_ttl.as_secs(),
    });
    let state = Arc::new(State::new(
        settings,
        passage,
        (mailer, texter, locales),
        &local_url,
    )?);
    let mailbox = state.mailbox();
    tokio::spawn(upkeep(Arc::clone(&state), shutdown.clone()));
    let task = crate::listen::serve(
        listener,
        router(state),
        builder.connections.limits(0.75),
        shutdown,
        "the Authentication API",
    );
    Ok(Started {
        addr,
        public_url,
        mailbox,
        task,
    })
}

/// Every minute (or the pending users' lifetime, when shorter) until shutdown: unfinished sign-ups older than their lifetime go (so nobody can
/// hold an address by starting a sign-up), and ended or expired sessions with their tokens.
async fn upkeep(state: Shared, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let period = state
        .settings
        .pending_user_ttl
        .clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut every = tokio::time::interval(period);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
        let now = crate::store::now();
        let ttl = time::Duration::try_from(state.settings.pending_user_ttl)
            .unwrap_or(time::Duration::DAY);
        match state
            .store
            .expire_pending(now - ttl, state.settings.max_pending_users)
            .await
        {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "passage-server: unfinished sign-ups expired"),
            Err(err) => {
                crate::metrics::store_error("upkeep");
                tracing::error!(error = %err, "passage-server: pending users could not expire");
            }
        }
        if let Err(err) = state.store.purge_sessions(now.unix_timestamp()).await {
            crate::metrics::store_error("upkeep");
            tracing::error!(error = %err, "passage-server: ended sessions could not be purged");
        }
        if let Err(err) = state.store.purge_links(now).await {
            crate::metrics::store_error("upkeep");
            tracing::error!(error = %err, "passage-server: expired links and codes could not be purged");
        }
        match state.store.handshakes_held(now.unix_timestamp()).await {
            Ok(held) => crate::metrics::handshakes(held),
            Err(err) => {
                crate::metrics::store_error("upkeep");
                tracing::error!(error = %err, "passage-server: handshakes could not be counted");
            }
        }
    }
}

/// The Authentication API's routes, with CORS for the app's origin and a body limit.
pub(crate) fn router(state: Shared) -> Router {
    let cors = cors(&state.settings.auth_origin);
    let app = Router::new()
        .route("/", get(app::get_app))
        .route("/.well-known/jwks.json", get(app::jwks))
        .route("/users", get(users::lookup).post(users::create))
        .route("/currentuser", get(users::current))
        .route("/currentuser/devices", get(users::devices))
        .route(
            "/currentuser/devices/{device_id}",
            delete(users::revoke_device).patch(profile::rename_device),
        )
        .route(
            "/currentuser/user-metadata",
            get(profile::metadata).patch(profile::update_metadata),
        )
        .route("/currentuser/email", patch(profile::change_email))
        .route("/currentuser/phone", patch(profile::change_phone))
        .route(
            "/currentuser/social-connections",
            get(profile::social_connections),
        )
        .route(
            "/currentuser/devices/start",
            post(passkeys::add_device_start),
        )
        .route(
            "/currentuser/devices/finish",
            post(passkeys::add_device_finish),
        )
        .route("/register/webauthn/start", post(passkeys::register_start))
        .route("/register/webauthn/finish", post(passkeys::register_finish))
        .route("/login/webauthn/start", post(passkeys::login_start))
        .route("/login/webauthn/finish", post(passkeys::login_finish))
        .route("/login/magic-link", post(magic_links::login))
        .route("/register/magic-link", post(magic_links::register))
        .route("/magic-link/activate", patch(magic_links::activate))
        .route("/magic-link/status", post(magic_links::status))
        .route("/login/otp", post(otp::login))
        .route("/register/otp", post(otp::register))
        .route("/otp/activate", post(otp::activate))
        .route(
            "/tokens",
            post(sessions::refresh).delete(sessions::sign_out),
        )
        .route_layer(axum::middleware::from_fn(measure));
    let mut router = Router::new()
        .nest("/v1/apps/{app_id}", app)
        .route("/locales/passage-auth/v2/{file}", get(app::locale))
        .route("/passage-fetch.js", get(app::fetch_script))
        .route("/elements/{*path}", get(assets::element_file))
        .route(
            &format!("{}{{*path}}", assets::VENDOR_PATH),
            get(assets::vendor_file),
        );
    if state.settings.development {
        router = router.route("/__passage/mailbox", get(app::mailbox));
    }
    router
        .fallback(|| async {
            AuthApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
        })
        .method_not_allowed_fallback(|| async {
            AuthApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not answer that method",
            )
        })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(cors)
        .with_state(state)
}

/// Counts every ceremony by kind and outcome, and times it ([`crate::metrics`]).
async fn measure(
    route: axum::extract::MatchedPath,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = route.as_str();
    let route = route.strip_prefix("/v1/apps/{app_id}").unwrap_or(route);
    let Some(kind) = crate::metrics::ceremony_kind(request.method(), route) else {
        return next.run(request).await;
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let outcome = if response.status().is_success() {
        "ok"
    } else {
        response
            .extensions()
            .get::<error::Refusal>()
            .map_or("refused", |refusal| refusal.0)
    };
    crate::metrics::ceremony(kind, outcome, started.elapsed());
    response
}

/// Cross-origin calls from the app's pages only, with the headers passage-js sends.
fn cors(auth_origin: &str) -> CorsLayer {
    // A predicate, not `exact`: another origin gets no `Access-Control-Allow-Origin` at all.
    let allowed = HeaderValue::from_str(auth_origin).ok();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            allowed.as_ref() == Some(origin)
        }))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            HeaderName::from_static("passage-version"),
            HeaderName::from_static("passage-element-version"),
            HeaderName::from_static(magic_links::BROWSER_HEADER),
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
        ])
        .max_age(Duration::from_secs(600))
}

/// The app a request names, checked against this server's.
pub(crate) struct App;

impl FromRequestParts<Shared> for App {
    type Rejection = AuthApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let Path(params) =
            Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|_| AuthApiError::app_not_found())?;
        if params.get("app_id") == Some(&state.settings.app_id) {
            Ok(Self)
        } else {
            Err(AuthApiError::app_not_found())
        }
    }
}

/// A JSON body, refused with `{code, error}` (never axum's plain-text rejection). Only a body
/// sent as `application/json` is read (415 otherwise): a web page can make its visitors'
/// browsers send "simple" cross-site requests (form encodings, `text/plain`) without asking,
/// but not JSON.
pub(crate) struct Body<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(AuthApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be sent as application/json",
            )
            .into_response());
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AuthApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "payload_too_large",
                        "the body is larger than allowed",
                    )
                } else {
                    AuthApiError::bad_request("the body could not be read")
                }
                .into_response()
            })?;
        // passage-js sends `{}` for "no fields"; an empty body means the same.
        let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        serde_json::from_slice(bytes).map(Body).map_err(|err| {
            AuthApiError::bad_request(format!("the body is not the expected JSON: {err}"))
                .into_response()
        })
    }
}

/// A `200` JSON answer.
pub(crate) fn ok(body: serde_json::Value) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}
