//! The JWKS key store: signing keys fetched from Passage, parsed once per fetch, and the refresh
//! policy of DESIGN.md (TTL from `Cache-Control`, unknown-kid refetch cooldown, single flight,
//! stale-while-failing with backoff, fetch timeout).

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use arc_swap::ArcSwap;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::{
    Engine as _,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use serde::Deserialize;

use crate::error::{AuthError, Invalid, JwksError};

/// JWK `n`/`e` are unpadded base64url by RFC 7518; some servers pad them anyway.
const JWK_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Tuning of the key store; set through [`PassageBuilder`](crate::PassageBuilder).
#[derive(Debug, Clone)]
pub(crate) struct JwksConfig {
    /// Lifetime of a fetched key set when the response has no usable `Cache-Control`.
    pub(crate) ttl: Duration,
    /// Bounds applied to a `Cache-Control: max-age`.
    pub(crate) min_ttl: Duration,
    pub(crate) max_ttl: Duration,
    /// At most one refetch for an unknown `kid` per this interval.
    pub(crate) refetch_cooldown: Duration,
    /// A fetch (connect, headers and body) must finish within this.
    pub(crate) fetch_timeout: Duration,
    /// After a failed fetch, wait this long before the next (doubling up to `backoff_max`).
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    /// Largest JWKS document accepted.
    pub(crate) max_document_bytes: usize,
}

impl Default for JwksConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            min_ttl: Duration::from_secs(30),
            max_ttl: Duration::from_secs(24 * 3600),
            refetch_cooldown: Duration::from_secs(5),
            fetch_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            max_document_bytes: 1024 * 1024,
        }
    }
}

/// One immutable snapshot of the keys; readers never wait for a fetch.
struct KeySet {
    keys: HashMap<Box<str>, Arc<ParsedPublicKey>>,
    /// `None` until the first successful fetch.
    fresh_until: Option<Instant>,
    /// Bumped whenever a refresh removes a key; verified tokens cached under an older epoch are
    /// no longer trusted.
    epoch: u64,
}

impl KeySet {
    fn is_stale(&self, now: Instant) -> bool {
        self.fresh_until.is_some_and(|t| now >= t)
    }
}

#[derive(Default)]
struct FetchState {
    last_attempt: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<JwksError>,
}

pub(crate) struct KeyStore {
    url: String,
    http: reqwest::Client,
    cfg: JwksConfig,
    current: ArcSwap<KeySet>,
    /// Held while fetching: concurrent callers share the one in-flight fetch.
    fetch_lock: tokio::sync::Mutex<()>,
    state: Mutex<FetchState>,
    /// Fetches finished (success or failure); read before looking at the snapshot, so a caller
    /// that then waits for the fetch lock knows whether a fetch completed meanwhile.
    completed: AtomicU64,
    refreshing: AtomicBool,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.current.load();
        f.debug_struct("KeyStore")
            .field("url", &self.url)
            .field("kids", &set.keys.keys().collect::<Vec<_>>())
            .field("epoch", &set.epoch)
            .finish_non_exhaustive()
    }
}

/// Clears a flag when dropped.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl KeyStore {
    pub(crate) fn new(url: String, http: reqwest::Client, cfg: JwksConfig) -> Self {
        Self {
            url,
            http,
            cfg,
            current: ArcSwap::from_pointee(KeySet {
                keys: HashMap::new(),
                fresh_until: None,
                epoch: 0,
            }),
            fetch_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(FetchState::default()),
            completed: AtomicU64::new(0),
            refreshing: AtomicBool::new(false),
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The current key-removal epoch; starts a background refresh when the set is stale, so
    /// even traffic served entirely from the verified-token cache notices removed keys.
    pub(crate) fn epoch(self: &Arc<Self>, now: Instant) -> u64 {
        let set = self.current.load();
        if set.is_stale(now) {
            self.refresh_in_background();
        }
        set.epoch
    }

    /// The key for `kid`. A known key is returned at once; an unknown one may trigger a fetch,
    /// subject to cooldown and backoff. (Staleness is [`epoch`](Self::epoch)'s to notice: every
    /// validation reads it first.)
    pub(crate) async fn key(
        self: &Arc<Self>,
        kid: &str,
    ) -> Result<Arc<ParsedPublicKey>, AuthError> {
        let seen = self.completed.load(Ordering::Acquire);
        match self.key_now(kid) {
            Some(key) => Ok(key),
            None => self.fetch_for_unknown(kid, seen).await,
        }
    }

    /// The key for `kid` if it is held now; `None` when getting it would need a fetch.
    pub(crate) fn key_now(&self, kid: &str) -> Option<Arc<ParsedPublicKey>> {
        self.current.load().keys.get(kid).cloned()
    }

    /// Fetches now (single flight) unless the store is warm, or backing off.
    pub(crate) async fn warm_up(self: &Arc<Self>) -> Result<(), AuthError> {
        if self.current.load().fresh_until.is_some() {
            return Ok(());
        }
        let seen = self.completed.load(Ordering::Acquire);
        match self.fetch_for_unknown("", seen).await {
            Err(err) if err.is_keys_unavailable() => Err(err),
            _ => Ok(()),
        }
    }

    async fn fetch_for_unknown(
        &self,
        kid: &str,
        seen: u64,
    ) -> Result<Arc<ParsedPublicKey>, AuthError> {
        {
            let state = lock(&self.state);
            let now = Instant::now();
            if state.retry_at.is_some_and(|at| now < at) {
                return Err(self.miss_error(&state, now));
            }
            let warm = self.current.load().fresh_until.is_some();
            let cooling = state
                .last_attempt
                .is_some_and(|last| now.duration_since(last) < self.cfg.refetch_cooldown);
            if warm && cooling {
                tracing::debug!(kid, "passage: unknown kid within the refetch cooldown");
                return Err(AuthError::Invalid(Invalid::UnknownKeyId));
            }
        }
        let _flight = self.fetch_lock.lock().await;
        // A fetch that finished since we looked at the snapshot is the one we share.
        if self.completed.load(Ordering::Acquire) == seen {
            self.fetch_and_store().await;
        }
        if let Some(key) = self.current.load().keys.get(kid) {
            return Ok(Arc::clone(key));
        }
        let state = lock(&self.state);
        Err(self.miss_error(&state, Instant::now()))
    }

    /// The error for a kid we do not hold: unknown when we hold a key set, else unavailable.
    fn miss_error(&self, state: &FetchState, now: Instant) -> AuthError {
        if self.current.load().fresh_until.is_some() {
            return AuthError::Invalid(Invalid::UnknownKeyId);
        }
        AuthError::KeysUnavailable {
            source: state.last_error.clone().unwrap_or(JwksError::NotLoaded),
            retry_after: state
                .retry_at
                .map_or(self.cfg.backoff_min, |at| at.saturating_duration_since(now)),
        }
    }

    fn refresh_in_background(self: &Arc<Self>) {
        // Every request sees a stale set until the refresh lands: a plain load, not the lock or
        // a read-modify-write, keeps those requests from contending.
        if self.refreshing.load(Ordering::Acquire) {
            return;
        }
        if lock(&self.state)
            .retry_at
            .is_some_and(|at| Instant::now() < at)
        {
            return;
        }
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.refreshing.store(false, Ordering::Release);
            return;
        };
        let this = Arc::clone(self);
        runtime.spawn(async move {
            // Cleared however this task ends, even when its runtime shuts down mid-fetch: a flag
            // left set would stop every later background refresh.
            let _refreshing = ClearOnDrop(&this.refreshing);
            let retry_at = {
                let _flight = this.fetch_lock.lock().await;
                if this.current.load().is_stale(Instant::now()) {
                    this.fetch_and_store().await;
                }
                lock(&this.state).retry_at
            };
            // After a failure, stay "refreshing" through the backoff: requests meanwhile skip with
            // a plain load rather than each taking the state lock to read the retry time.
            if let Some(at) = retry_at {
                tokio::time::sleep_until(at.into()).await;
            }
        });
    }

    /// One fetch; records its outcome. Call with `fetch_lock` held.
    async fn fetch_and_store(&self) {
        lock(&self.state).last_attempt = Some(Instant::now());
        let outcome = self.fetch().await;
        let mut state = lock(&self.state);
        match outcome {
            Ok((keys, ttl)) => {
                let old = self.current.load();
                let removed = old.keys.keys().any(|kid| !keys.contains_key(kid));
                let epoch = old.epoch + u64::from(removed);
                tracing::debug!(
                    url = %self.url,
                    keys = keys.len(),
                    ttl_secs = ttl.as_secs(),
                    removed,
                    "passage: JWKS refreshed"
                );
                self.current.store(Arc::new(KeySet {
                    keys,
                    fresh_until: Some(Instant::now() + ttl),
                    epoch,
                }));
                state.failures = 0;
                state.retry_at = None;
                state.last_error = None;
            }
            Err(err) => {
                state.failures = state.failures.saturating_add(1);
                let backoff = backoff(&self.cfg, state.failures);
                tracing::warn!(
                    url = %self.url,
                    error = %err,
                    failures = state.failures,
                    retry_in_ms = backoff.as_millis() as u64,
                    keeping_cached_keys = self.current.load().keys.len(),
                    "passage: JWKS fetch failed"
                );
                state.retry_at = Some(Instant::now() + backoff);
                state.last_error = Some(err);
            }
        }
        self.completed.fetch_add(1, Ordering::Release);
    }

    async fn fetch(
        &self,
    ) -> Result<(HashMap<Box<str>, Arc<ParsedPublicKey>>, Duration), JwksError> {
        let mut response = self
            .http
            .get(&self.url)
            .header(http::header::ACCEPT, "application/json")
            .timeout(self.cfg.fetch_timeout)
            .send()
            .await
            .map_err(JwksError::from_reqwest)?;
        let status = response.status();
        if !status.is_success() {
            return Err(JwksError::Status(status.as_u16()));
        }
        let ttl = response
            .headers()
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .find_map(|v| v.to_str().ok().and_then(cache_ttl))
            .map_or(self.cfg.ttl, |ttl| {
                ttl.clamp(self.cfg.min_ttl, self.cfg.max_ttl)
            });
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(JwksError::from_reqwest)? {
            if body.len() + chunk.len() > self.cfg.max_document_bytes {
                return Err(JwksError::TooLarge(self.cfg.max_document_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        let document: JwkSet =
            serde_json::from_slice(&body).map_err(|e| JwksError::Parse(Arc::new(e)))?;
        Ok((parse_keys(document.keys), ttl))
    }
}

/// The TTL a `Cache-Control` value asks for: `max-age`, or zero for `no-cache`/`no-store`.
fn cache_ttl(value: &str) -> Option<Duration> {
    value.split(',').map(str::trim).find_map(|directive| {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-cache" || lower == "no-store" {
            return Some(Duration::ZERO);
        }
        lower
            .strip_prefix("max-age=")
            .and_then(|secs| secs.trim_matches('"').parse::<u64>().ok())
            .map(Duration::from_secs)
    })
}

fn backoff(cfg: &JwksConfig, failures: u32) -> Duration {
    let doubled = cfg
        .backoff_min
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubled.min(cfg.backoff_max)
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

/// Keeps the RSA keys usable for RS256 (≥ 2048 bits); skips the rest with a trace event.
fn parse_keys(values: Vec<serde_json::Value>) -> HashMap<Box<str>, Arc<ParsedPublicKey>> {
    let mut keys = HashMap::new();
    for value in values {
        match parse_key(value) {
            Ok((kid, key)) => {
                if keys.contains_key(kid.as_str()) {
                    tracing::trace!(kid, "passage: skipping a duplicate kid in the JWKS");
                    continue;
                }
                keys.insert(kid.into_boxed_str(), Arc::new(key));
            }
            Err(reason) => tracing::trace!(reason, "passage: skipping a JWK"),
        }
    }
    keys
}

fn parse_key(value: serde_json::Value) -> Result<(String, ParsedPublicKey), &'static str> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| "not a JWK object")?;
    if jwk.kty != "RSA" {
        return Err("kty is not RSA");
    }
    if jwk.alg.as_deref().is_some_and(|alg| alg != "RS256") {
        return Err("alg is not RS256");
    }
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("use is not sig");
    }
    let kid = jwk.kid.filter(|k| !k.is_empty()).ok_or("no kid")?;
    let n = jwk.n.ok_or("no modulus")?;
    let e = jwk.e.ok_or("no exponent")?;
    let n = JWK_B64.decode(n).map_err(|_| "modulus is not base64url")?;
    let e = JWK_B64.decode(e).map_err(|_| "exponent is not base64url")?;
    let (n, e) = (strip_leading_zeros(&n), strip_leading_zeros(&e));
    // RS256 keys must be 2048 to 8192 bits; refuse others here rather than at every verify.
    if !(256..=1024).contains(&n.len()) {
        return Err("modulus is not 2048 to 8192 bits");
    }
    let components = RsaPublicKeyComponents { n, e };
    let key = components
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .map_err(|_| "not a usable RSA key (at least 2048 bits)")?;
    Ok((kid, key))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Locks a mutex, recovering from poisoning (the state stays consistent field by field).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age_is_read() {
        assert_eq!(
            cache_ttl("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(cache_ttl("Max-Age=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(cache_ttl("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_ttl("public"), None);
        assert_eq!(cache_ttl("max-age=-5"), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let cfg = JwksConfig {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_millis(700),
            ..JwksConfig::default()
        };
        let steps: Vec<u128> = (1..=6).map(|n| backoff(&cfg, n).as_millis()).collect();
        assert_eq!(steps, [100, 200, 400, 700, 700, 700]);
        assert_eq!(backoff(&cfg, u32::MAX).as_millis(), 700);
    }

    #[test]
    fn non_rs256_keys_are_skipped_not_fatal() {
        let keys = parse_keys(vec![
            serde_json::json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"}),
            serde_json::json!({"kty": "RSA", "kid": "rs512", "alg": "RS512", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!({"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!({"kty": "RSA", "kid": "tiny", "n": "AQAB", "e": "AQAB"}),
            serde_json::json!("not an object"),
        ]);
        assert!(keys.is_empty());
    }
}
