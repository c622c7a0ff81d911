//! [`PassageBuilder`], every setting of a client, and [`ConfigError`], why one cannot be built.
//! Each default lives with its owner (`AuthConfig`, `JwksConfig`, `TransportConfig`); this file
//! checks ranges and assembles the parts.

use std::{fmt, sync::Arc, time::Duration};

use crate::{
    Clock, Passage, Secret, TokenSource,
    api::transport::{Transport, TransportConfig},
    auth::{Auth, AuthConfig, clock::WallClock},
    net,
};

/// Configuration for a [`Passage`] client. Every setter consumes and returns the builder.
///
/// The two hosts have no default — the hosted Passage (`auth.passage.id`, `api.passage.id`)
/// was retired on 2026-01-16 — so [`auth_url`](Self::auth_url) and [`api_url`](Self::api_url)
/// name your passage-server (its Authentication API and its Management API), or an emulator in
/// tests; [`build`](Self::build) refuses a builder without them
/// ([`ConfigError::MissingServer`]).
///
/// ```
/// use std::time::Duration;
/// use passage_core::{Passage, TokenSource};
///
/// let passage = Passage::builder("my-app-id")
///     .auth_url("https://auth.example.com")
///     .api_url("https://passage-api.internal:8787")
///     .jwks_fetch_timeout(Duration::from_secs(2))
///     .token_cache_capacity(50_000)
///     .token_source(TokenSource::Header)
///     .build()?;
/// # Ok::<(), passage_core::ConfigError>(())
/// ```
#[must_use]
pub struct PassageBuilder {
    app_id: String,
    api_key: Option<String>,
    auth_url: Option<String>,
    api_url: Option<String>,
    auth: AuthConfig,
    api: TransportConfig,
    plain_http: bool,
    http: Option<reqwest::Client>,
}

/// The longest duration any setting accepts; longer values are a [`ConfigError`].
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
/// The smallest staleness ceiling accepted: below it, every hiccup of a refresh would refuse
/// requests (and with a zero TTL, keys just fetched could never serve).
const MIN_MAX_STALE: Duration = Duration::from_secs(60);
/// The largest clock-skew leeway accepted.
const MAX_LEEWAY: Duration = Duration::from_secs(3600);
/// The token length limits accepted: from what a real Passage token needs (RS256 header, claims
/// and a 2048-bit signature already take ~700 bytes) to more than any HTTP server takes in a
/// header by default.
const TOKEN_LEN_LIMITS: std::ops::RangeInclusive<usize> = 1024..=1024 * 1024;

impl fmt::Debug for PassageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassageBuilder")
            .field("app_id", &self.app_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("auth_url", &self.auth_url)
            .field("api_url", &self.api_url)
            .field("auth", &self.auth)
            .field("api", &self.api)
            .field("plain_http", &self.plain_http)
            .finish_non_exhaustive()
    }
}

impl PassageBuilder {
    /// A builder for `app_id`, with no hosts (set [`auth_url`](Self::auth_url) and
    /// [`api_url`](Self::api_url)) and these defaults: JWKS TTL 5 min (or `Cache-Control` within
    /// 30 s–24 h), unknown-kid refetch at most every 5 s, fetch timeout 5 s, backoff 1 s–60 s,
    /// stale keys served for at most 24 h past their TTL, token cache of 10 000 entries, no
    /// leeway, 8 KiB token limit, header then cookie, the system clock.
    pub fn new(app_id: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            api_key: None,
            auth_url: None,
            api_url: None,
            auth: AuthConfig::default(),
            api: TransportConfig::default(),
            plain_http: false,
            http: None,
        }
    }

    /// A builder configured by the `PASSAGE_*` environment variables: `PASSAGE_APP_ID`,
    /// `PASSAGE_AUTH_URL` and `PASSAGE_API_URL` (required), `PASSAGE_API_KEY` (needed for the
    /// Management API). Unset and empty are the same.
    ///
    /// # Errors
    /// [`ConfigError::MissingEnv`]`("PASSAGE_APP_ID")` when the app id is unset — checked first,
    /// so "no app configured" is told apart from a half-configured one;
    /// [`ConfigError::MissingServer`] when `PASSAGE_AUTH_URL` or `PASSAGE_API_URL` is unset (the
    /// hosted Passage they used to default to was retired on 2026-01-16: point them at your
    /// passage-server); [`ConfigError::InvalidEnv`] when a variable is not Unicode.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(env)
    }

    /// A builder from `PASSAGE_*` name/value pairs, read as [`from_env`](Self::from_env) reads
    /// the environment — an emulator's `env_vars()`, or your own configuration's.
    ///
    /// ```
    /// use passage_core::PassageBuilder;
    ///
    /// let vars = [
    ///     ("PASSAGE_APP_ID", "my-app"),
    ///     ("PASSAGE_AUTH_URL", "http://127.0.0.1:8787"),
    ///     ("PASSAGE_API_URL", "http://127.0.0.1:8787"),
    /// ];
    /// let passage = PassageBuilder::from_env_vars(vars)?.build()?;
    /// assert_eq!(passage.auth_url(), "http://127.0.0.1:8787");
    /// # Ok::<(), passage_core::ConfigError>(())
    /// ```
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env): [`ConfigError::MissingEnv`] without a (non-empty)
    /// `PASSAGE_APP_ID`, [`ConfigError::MissingServer`] without `PASSAGE_AUTH_URL` or
    /// `PASSAGE_API_URL`.
    pub fn from_env_vars<I, K, V>(vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: Into<String>,
    {
        let vars: Vec<(K, String)> = vars.into_iter().map(|(k, v)| (k, v.into())).collect();
        Self::from_lookup(|name| {
            Ok(vars
                .iter()
                .rev()
                .find(|(key, _)| key.as_ref() == name)
                .map(|(_, value)| value.clone())
                .filter(|value| !value.is_empty()))
        })
    }

    fn from_lookup(
        get: impl Fn(&'static str) -> Result<Option<String>, ConfigError>,
    ) -> Result<Self, ConfigError> {
        let app_id = get("PASSAGE_APP_ID")?.ok_or(ConfigError::MissingEnv("PASSAGE_APP_ID"))?;
        let mut builder = match (get("PASSAGE_AUTH_URL")?, get("PASSAGE_API_URL")?) {
            (Some(auth_url), Some(api_url)) => {
                Self::new(app_id).auth_url(auth_url).api_url(api_url)
            }
            (auth_url, api_url) => {
                return Err(ConfigError::MissingServer {
                    missing: missing(auth_url.is_none(), api_url.is_none(), VARIABLES),
                });
            }
        };
        if let Some(key) = get("PASSAGE_API_KEY")? {
            builder = builder.api_key(key);
        }
        Ok(builder)
    }

    /// The Management API key (never printed).
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }

    /// The auth host serving `/v1/apps/{app_id}/.well-known/jwks.json`: your passage-server's
    /// Authentication API (required; no default).
    pub fn auth_url(mut self, url: impl Into<String>) -> Self {
        self.auth_url = Some(url.into());
        self
    }

    /// The API host serving `/v1/apps/{app_id}/…`: your passage-server's Management API
    /// (required; no default).
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// How long fetched keys are fresh when the JWKS response has no `Cache-Control: max-age`.
    pub fn jwks_ttl(mut self, ttl: Duration) -> Self {
        self.auth.jwks.ttl = ttl;
        self
    }

    /// Bounds applied to a `Cache-Control: max-age` from the JWKS host.
    pub fn jwks_ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.auth.jwks.min_ttl = min;
        self.auth.jwks.max_ttl = max;
        self
    }

    /// At most one JWKS refetch for an unknown `kid` per this interval (default 5 s).
    pub fn jwks_refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.auth.jwks.refetch_cooldown = cooldown;
        self
    }

    /// Timeout of one JWKS fetch, connect to last byte (default 5 s).
    pub fn jwks_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.auth.jwks.fetch_timeout = timeout;
        self
    }

    /// Wait after a failed JWKS fetch: `min`, doubling per failure up to `max`.
    pub fn jwks_retry_backoff(mut self, min: Duration, max: Duration) -> Self {
        self.auth.jwks.backoff_min = min;
        self.auth.jwks.backoff_max = max;
        self
    }

    /// How long past their freshness held keys keep serving while every refresh fails
    /// (default 24 h, at least 1 min); `None` serves them for as long as the process runs.
    ///
    /// Past the ceiling, requests get 503 until a refresh succeeds. The trade-off: serving stale
    /// keys keeps an app up through an outage of the auth host, but a key removed from the JWKS
    /// (after a compromise) keeps verifying for as long as the host cannot be reached — and an
    /// attacker who can block that traffic can make it last. A day rides out any ordinary
    /// outage, and bounds how long a blocked host can keep a revoked key alive.
    pub fn jwks_max_stale(mut self, ceiling: Option<Duration>) -> Self {
        self.auth.jwks.max_stale = ceiling;
        self
    }

    /// Entries in the verified-token cache (default 10 000); 0 turns it off.
    pub fn token_cache_capacity(mut self, entries: u64) -> Self {
        self.auth.token_cache_capacity = entries;
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (default none, at most 1 h).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.auth.leeway = leeway;
        self
    }

    /// Shares session revocations across replicas through `shared` (e.g. `passage-redis`);
    /// see [`Auth::revoke_sessions`](crate::Auth::revoke_sessions). Without it, revocations
    /// apply to this client only.
    pub fn revocations(mut self, shared: impl crate::SharedRevocations) -> Self {
        self.auth.shared_revocations = Some(Arc::new(shared));
        self
    }

    /// How long a revocation is kept (default 24 h; 1 min to 1 year): set it to at least the
    /// longest lifetime of your app's tokens, or a token issued before a revocation could
    /// outlive it.
    pub fn revocation_retention(mut self, retention: Duration) -> Self {
        self.auth.revocation_retention = retention;
        self
    }

    /// Refuse every token (503 `revocations_unavailable`) while shared revocations are out of
    /// sync — e.g. Redis is unreachable — rather than risk admitting a token revoked elsewhere
    /// (default: off; keep serving with the revocations held).
    pub fn revocations_fail_closed(mut self, on: bool) -> Self {
        self.auth.revocations_fail_closed = on;
        self
    }

    /// Whether `users().deactivate`, `users().delete` and `users().revoke_refresh_tokens`
    /// also revoke the user's current tokens (default: yes).
    pub fn revoke_on_user_changes(mut self, on: bool) -> Self {
        self.auth.revoke_on_user_changes = on;
        self
    }

    /// Longest token accepted, in bytes (default 8 KiB; 1 KiB to 1 MiB).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.auth.max_token_len = bytes;
        self
    }

    /// The audiences a token may be issued for: its `aud` must contain one of them (default:
    /// the app id alone, the rule of every current Passage SDK).
    ///
    /// passage-python 2.x checked `aud` against the app's `auth_origin` instead, for apps not
    /// hosted by Passage; if your tokens carry only the origin, accept both:
    ///
    /// ```
    /// # use passage_core::Passage;
    /// let passage = Passage::builder("my-app")
    ///     .auth_url("https://auth.example.com")
    ///     .api_url("https://passage-api.internal:8787")
    ///     .accepted_audiences(["my-app", "https://app.example.com"])
    ///     .build()?;
    /// # Ok::<(), passage_core::ConfigError>(())
    /// ```
    pub fn accepted_audiences<I, S>(mut self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.auth.audiences = Some(audiences.into_iter().map(Into::into).collect());
        self
    }

    /// Where requests' tokens are looked for (default header, then cookie).
    pub fn token_source(mut self, source: TokenSource) -> Self {
        self.auth.source = source;
        self
    }

    /// The clock token times and key freshness are read from (default the system clock); for
    /// tests that move time.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.auth.clock = WallClock::custom(Arc::new(clock));
        self
    }

    /// Allows `http://` auth and API URLs on hosts other than loopback. Only for test rigs on a
    /// private network: over plain HTTP anyone on the path can serve a JWKS of their own (and so
    /// forge tokens) and read the API key. Loopback hosts (`127.0.0.0/8`, `::1`, `localhost`)
    /// never need it.
    pub fn danger_allow_plain_http(mut self) -> Self {
        self.plain_http = true;
        self
    }

    /// Your own `reqwest::Client` (proxies, TLS roots, …); timeouts set here still apply.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Timeout of one Management API request (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.api.request_timeout = timeout;
        self
    }

    /// Retries of idempotent API calls after connect errors, timeouts, 429 and 5xx (default 2).
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.api.retry.max_retries = retries;
        self
    }

    /// First retry wait (default 200 ms), doubled per retry with full jitter, capped at `max`
    /// (default 5 s). A `Retry-After` longer than `max` ends the retries.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.api.retry.backoff = first;
        self.api.retry.max_backoff = max;
        self
    }

    /// Checks the settings and builds the client. No network I/O.
    ///
    /// # Errors
    /// [`ConfigError`] for an invalid app id, an empty API key, a host that is unset
    /// ([`ConfigError::MissingServer`]) or not an absolute http(s) URL (or plain `http://` off
    /// loopback), a zero timeout, a duration over a year, a
    /// `(min, max)` pair out of order, a leeway over an hour, a token limit under 1 KiB or over 1 MiB,
    /// or an HTTP client that cannot be built.
    pub fn build(self) -> Result<Passage, ConfigError> {
        if self.app_id.is_empty()
            || !self
                .app_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::InvalidAppId);
        }
        if self.api_key.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::EmptyApiKey);
        }
        let (Some(auth_url), Some(api_url)) = (self.auth_url.as_deref(), self.api_url.as_deref())
        else {
            return Err(ConfigError::MissingServer {
                missing: missing(self.auth_url.is_none(), self.api_url.is_none(), SETTINGS),
            });
        };
        let auth_url = base_url("auth_url", auth_url, self.plain_http)?;
        let api_url = base_url("api_url", api_url, self.plain_http)?;
        self.check_ranges()?;
        let http = match self.http {
            Some(http) => http,
            None => net::default_client().map_err(|e| ConfigError::HttpClient(Arc::new(e)))?,
        };
        let app_id: Arc<str> = self.app_id.into();
        let jwks_url = format!("{auth_url}/v1/apps/{app_id}/.well-known/jwks.json");
        let auth = Auth::new(Arc::clone(&app_id), jwks_url, http.clone(), self.auth);
        let api_key = self.api_key.map(Secret::new);
        let api = Transport::new(&api_url, &app_id, api_key, http, self.api);
        Ok(Passage::from_parts(app_id, auth_url, api_url, auth, api))
    }

    /// Every numeric setting can work: no zero timeouts, nothing that could overflow a clock.
    fn check_ranges(&self) -> Result<(), ConfigError> {
        let jwks = &self.auth.jwks;
        let durations = [
            ("jwks_ttl", jwks.ttl),
            ("jwks_ttl_bounds", jwks.max_ttl),
            ("jwks_refetch_cooldown", jwks.refetch_cooldown),
            ("jwks_fetch_timeout", jwks.fetch_timeout),
            ("jwks_retry_backoff", jwks.backoff_max),
            ("jwks_max_stale", jwks.max_stale.unwrap_or_default()),
            ("revocation_retention", self.auth.revocation_retention),
            ("request_timeout", self.api.request_timeout),
            ("retry_backoff", self.api.retry.max_backoff),
        ];
        for (name, value) in durations {
            if value > MAX_DURATION {
                return Err(ConfigError::OutOfRange(name));
            }
        }
        if self.auth.revocation_retention < Duration::from_secs(60) {
            return Err(ConfigError::OutOfRange("revocation_retention"));
        }
        if jwks.fetch_timeout.is_zero() {
            return Err(ConfigError::OutOfRange("jwks_fetch_timeout"));
        }
        if self.api.request_timeout.is_zero() {
            return Err(ConfigError::OutOfRange("request_timeout"));
        }
        if jwks.min_ttl > jwks.max_ttl
            || jwks.backoff_min > jwks.backoff_max
            || self.api.retry.backoff > self.api.retry.max_backoff
        {
            return Err(ConfigError::OutOfRange("a (min, max) pair"));
        }
        if self
            .auth
            .jwks
            .max_stale
            .is_some_and(|ceiling| ceiling < MIN_MAX_STALE)
        {
            return Err(ConfigError::OutOfRange("jwks_max_stale"));
        }
        if self.auth.leeway > MAX_LEEWAY {
            return Err(ConfigError::OutOfRange("leeway"));
        }
        if !TOKEN_LEN_LIMITS.contains(&self.auth.max_token_len) {
            return Err(ConfigError::OutOfRange("max_token_len"));
        }
        if self
            .auth
            .audiences
            .as_ref()
            .is_some_and(|a| a.is_empty() || a.iter().any(String::is_empty))
        {
            return Err(ConfigError::OutOfRange("accepted_audiences"));
        }
        Ok(())
    }
}

/// The two hosts as a builder's settings: the auth host, the API host, both.
const SETTINGS: [&str; 3] = ["auth_url", "api_url", "auth_url and api_url"];
/// The two hosts as environment variables: the auth host, the API host, both.
const VARIABLES: [&str; 3] = [
    "PASSAGE_AUTH_URL",
    "PASSAGE_API_URL",
    "PASSAGE_AUTH_URL and PASSAGE_API_URL",
];

/// Which of the two hosts are unset, in `names` ([`SETTINGS`] or [`VARIABLES`]), for
/// [`ConfigError::MissingServer`].
fn missing(auth: bool, api: bool, names: [&'static str; 3]) -> &'static str {
    match (auth, api) {
        (true, true) => names[2],
        (true, false) => names[0],
        _ => names[1],
    }
}

/// Reads an environment variable; unset or empty is `None`.
fn env(name: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(value) if value.is_empty() => Ok(None),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::InvalidEnv(name)),
    }
}

/// An absolute http(s) URL with a host and no query or fragment, without its trailing slash;
/// plain `http://` only on loopback unless `plain_http` allows it.
fn base_url(name: &'static str, raw: &str, plain_http: bool) -> Result<String, ConfigError> {
    let invalid = |reason| ConfigError::InvalidUrl { name, reason };
    let url = reqwest::Url::parse(raw).map_err(|_| invalid("it does not parse"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("the scheme is not http or https"));
    }
    let Some(host) = url.host().filter(|h| !matches!(h, url::Host::Domain(""))) else {
        return Err(invalid("it has no host"));
    };
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it has a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it carries credentials"));
    }
    if url.scheme() == "http" && !plain_http && !is_loopback(&host) {
        return Err(invalid(
            "plain http is only allowed on loopback (see PassageBuilder::danger_allow_plain_http)",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(domain) => domain.eq_ignore_ascii_case("localhost"),
    }
}

/// Why a [`Passage`](crate::Passage) client could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The app id is empty or holds characters that cannot appear in a URL path segment.
    #[error("the Passage app id must be non-empty ASCII letters, digits, '-' or '_'")]
    InvalidAppId,
    /// The API key is empty.
    #[error("the Passage API key is empty")]
    EmptyApiKey,
    /// A host is not an absolute `http(s)` URL.
    #[error("{name} is not an absolute http(s) URL: {reason}")]
    InvalidUrl {
        /// Which setting (e.g. `auth_url`).
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A required environment variable is not set (`PASSAGE_APP_ID`: no app is configured).
    #[error("the environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// No Passage server is configured: the auth URL, the API URL or both are unset. They have
    /// no default since the hosted Passage was retired (2026-01-16); point them at your
    /// passage-server.
    #[error(
        "no Passage server is configured ({missing} not set): set PASSAGE_AUTH_URL to your \
         passage-server's Authentication API and PASSAGE_API_URL to its Management API \
         (PassageBuilder::auth_url and api_url in code); the hosted Passage \
         (auth.passage.id, api.passage.id) was retired on 2026-01-16"
    )]
    MissingServer {
        /// What is unset: `PASSAGE_AUTH_URL`, `PASSAGE_API_URL` or both (from the environment),
        /// or `auth_url`, `api_url` or both (a builder).
        missing: &'static str,
    },
    /// An environment variable is not valid Unicode.
    #[error("the environment variable {0} is not valid Unicode")]
    InvalidEnv(&'static str),
    /// A numeric or duration setting is out of range.
    #[error("{0} is out of range")]
    OutOfRange(&'static str),
    /// The HTTP client could not be built.
    #[error("the HTTP client could not be built")]
    HttpClient(#[source] Arc<reqwest::Error>),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A builder with both hosts on loopback (nothing listens there; building does no I/O).
    fn local(app_id: &str) -> PassageBuilder {
        Passage::builder(app_id)
            .auth_url("http://127.0.0.1:9")
            .api_url("http://127.0.0.1:9")
    }

    #[test]
    fn build_checks_its_input() {
        assert!(matches!(
            Passage::builder("").build(),
            Err(ConfigError::InvalidAppId)
        ));
        assert!(matches!(
            Passage::builder("a/b").build(),
            Err(ConfigError::InvalidAppId)
        ));
        assert!(matches!(
            local("app").api_key("").build(),
            Err(ConfigError::EmptyApiKey)
        ));
        for bad in [
            "auth.passage.id",
            "ftp://x",
            "http://",
            "http://x/?q=1",
            "http://u:p@x",
        ] {
            let result = local("app").auth_url(bad).build();
            assert!(
                matches!(
                    result,
                    Err(ConfigError::InvalidUrl {
                        name: "auth_url",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        let result = local("app").jwks_fetch_timeout(Duration::ZERO).build();
        assert!(matches!(result, Err(ConfigError::OutOfRange(_))));
    }

    #[test]
    fn urls_are_normalised_and_jwks_url_derived() {
        let passage = Passage::builder("app_1")
            .auth_url("http://127.0.0.1:9/")
            .api_url("https://api.example.com/base/")
            .build()
            .unwrap();
        assert_eq!(passage.auth_url(), "http://127.0.0.1:9");
        assert_eq!(passage.api_url(), "https://api.example.com/base");
        assert_eq!(
            passage.auth().jwks_url(),
            "http://127.0.0.1:9/v1/apps/app_1/.well-known/jwks.json"
        );
    }

    #[test]
    fn debug_never_prints_the_api_key() {
        let builder = local("app").api_key("sk_live_secret");
        assert!(!format!("{builder:?}").contains("sk_live_secret"));
        let passage = builder.build().unwrap();
        assert!(!format!("{passage:?}").contains("sk_live_secret"));
    }

    #[test]
    fn no_host_has_a_default() {
        let cases = [
            (Passage::builder("app"), "auth_url and api_url"),
            (
                Passage::builder("app").api_url("http://127.0.0.1:9"),
                "auth_url",
            ),
            (
                Passage::builder("app").auth_url("http://127.0.0.1:9"),
                "api_url",
            ),
        ];
        for (builder, expected) in cases {
            match builder.build() {
                Err(ConfigError::MissingServer { missing }) => assert_eq!(missing, expected),
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_environment_must_name_the_server() {
        let app = ("PASSAGE_APP_ID", "app");
        let auth = ("PASSAGE_AUTH_URL", "http://127.0.0.1:9");
        let api = ("PASSAGE_API_URL", "http://127.0.0.1:9");
        let cases: [(&[(&str, &str)], &str); 4] = [
            (&[app], "PASSAGE_AUTH_URL and PASSAGE_API_URL"),
            (&[app, api], "PASSAGE_AUTH_URL"),
            (&[app, auth], "PASSAGE_API_URL"),
            (&[app, auth, ("PASSAGE_API_URL", "")], "PASSAGE_API_URL"),
        ];
        for (vars, expected) in cases {
            let result = PassageBuilder::from_env_vars(vars.iter().copied());
            let Err(err @ ConfigError::MissingServer { missing }) = result else {
                panic!("{expected}: {result:?}");
            };
            assert_eq!(missing, expected);
            // The message names both variables and where they point.
            let message = err.to_string();
            for needle in [
                "PASSAGE_AUTH_URL",
                "PASSAGE_API_URL",
                "passage-server",
                "retired",
            ] {
                assert!(message.contains(needle), "{needle} in {message}");
            }
        }
        // Without an app id, that is the error — whatever else is missing: "no app configured"
        // (examples start an embedded server then) is told apart from a half-configured one.
        for vars in [&[][..], &[auth, api][..], &[auth][..]] {
            assert!(matches!(
                PassageBuilder::from_env_vars(vars.iter().copied()),
                Err(ConfigError::MissingEnv("PASSAGE_APP_ID"))
            ));
        }
        let passage = PassageBuilder::from_env_vars([app, auth, api])
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(passage.auth_url(), "http://127.0.0.1:9");
    }
}
