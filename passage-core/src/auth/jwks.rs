//! The JWKS key store: signing keys fetched from Passage, parsed once per fetch, and the refresh
//! policy: TTL from `Cache-Control` (within bounds), a background refresh when stale, requests
//! with an unknown kid waiting for the fetch in flight, a cooldown on fetches caused by unknown
//! kids, stale-while-failing with backoff up to an optional ceiling, a fetch timeout, and a key
//! identified by its material (a kid removed or re-keyed flushes the verified-token cache).

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

use super::clock::WallClock;
use super::error::{AuthError, Invalid, JwksError};
use crate::metrics::{self, FetchCause};

/// JWK `n`/`e` are unpadded base64url by RFC 7518; some servers pad them anyway.
const JWK_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Tuning of the key store; set through [`PassageBuilder`](crate::PassageBuilder), which
/// documents each default.
#[derive(Debug, Clone)]
pub(crate) struct JwksConfig {
    /// Lifetime of a fetched key set when the response has no usable `Cache-Control`.
    pub(crate) ttl: Duration,
    /// Bounds applied to a `Cache-Control: max-age`.
    pub(crate) min_ttl: Duration,
    pub(crate) max_ttl: Duration,
    /// At most one fetch caused by unknown `kid`s per this interval.
    pub(crate) refetch_cooldown: Duration,
    /// A fetch (connect, headers and body) must finish within this.
    pub(crate) fetch_timeout: Duration,
    /// After a failed fetch, wait this long before the next (doubling up to `backoff_max`).
    pub(crate) backoff_min: Duration,
    pub(crate) backoff_max: Duration,
    /// How long past its freshness a key set keeps serving while every refresh fails; `None`
    /// serves it for as long as the process runs.
    pub(crate) max_stale: Option<Duration>,
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
            max_stale: Some(Duration::from_secs(24 * 3600)),
            max_document_bytes: 1024 * 1024,
        }
    }
}

/// A signing key as published: parsed once per fetch, and its material, which is what makes it
/// this key (a `kid` is only a name: a JWKS may re-publish a name with new material).
pub(crate) struct Key {
    parsed: ParsedPublicKey,
    n: Box<[u8]>,
    e: Box<[u8]>,
}

impl Key {
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed.verify_sig(message, signature).is_ok()
    }

    fn same_material(&self, other: &Self) -> bool {
        self.n == other.n && self.e == other.e
    }
}

/// When a key set was fetched, on the wall clock (see [`clock`](super::clock)).
#[derive(Debug, Clone, Copy)]
struct Fetched {
    at: Duration,
    fresh_until: Duration,
    /// Past this, the keys stop serving (the `max_stale` ceiling).
    usable_until: Option<Duration>,
}

/// One immutable snapshot of the keys; readers never wait for a fetch.
struct KeySet {
    keys: HashMap<Box<str>, Arc<Key>>,
    /// `None` until the first successful fetch.
    fetched: Option<Fetched>,
    /// Bumped whenever a refresh removes a key or changes one's material; verified tokens cached
    /// under an older epoch are no longer trusted.
    epoch: u64,
}

impl KeySet {
    /// Past its freshness, or fetched "in the future" (the wall clock stepped back): refresh.
    fn is_stale(&self, now: Duration) -> bool {
        self.fetched
            .is_some_and(|f| now >= f.fresh_until || now < f.at)
    }

    /// Loaded, and not past the staleness ceiling.
    fn is_usable(&self, now: Duration) -> bool {
        self.fetched
            .is_some_and(|f| f.usable_until.is_none_or(|until| now < until))
    }
}

#[derive(Default)]
struct FetchState {
    /// Start of the last fetch made because a request named a kid the serving set does not
    /// hold: the unknown-kid cooldown runs from it. Loads and background refreshes do not set it.
    last_demanded: Option<Instant>,
    /// Start of the last fetch that finished (success or failure).
    last_finished_start: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<JwksError>,
}

pub(crate) struct KeyStore {
    url: String,
    http: reqwest::Client,
    cfg: JwksConfig,
    clock: WallClock,
    current: ArcSwap<KeySet>,
    /// Held while fetching: a request that needs a key waits for the fetch in flight, and
    /// concurrent requests share one fetch.
    fetch_lock: tokio::sync::Mutex<()>,
    state: Mutex<FetchState>,
    refreshing: AtomicBool,
    /// The key set's age last reported (a metric), in whole seconds.
    reported_age: AtomicU64,
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

/// Why a fetch is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// No keys may serve yet (not loaded, or past the staleness ceiling).
    Load,
    /// A request names a kid the serving set does not hold: the cooldown limits these.
    UnknownKid,
    /// The set went stale (background).
    Refresh,
}

impl KeyStore {
    pub(crate) fn new(
        url: String,
        http: reqwest::Client,
        cfg: JwksConfig,
        clock: WallClock,
    ) -> Self {
        Self {
            url,
            http,
            cfg,
            clock,
            current: ArcSwap::from_pointee(KeySet {
                keys: HashMap::new(),
                fetched: None,
                epoch: 0,
            }),
            fetch_lock: tokio::sync::Mutex::new(()),
            state: Mutex::new(FetchState::default()),
            refreshing: AtomicBool::new(false),
            reported_age: AtomicU64::new(u64::MAX),
        }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The current key epoch, or `None` when the keys may not serve (not loaded, or past the
    /// staleness ceiling): then nothing is trusted from the verified-token cache either. Starts a
    /// background refresh when the set is stale, so even traffic served entirely from the
    /// verified-token cache notices removed and changed keys.
    pub(crate) fn epoch(self: &Arc<Self>, now: Duration) -> Option<u64> {
        let set = self.current.load();
        if set.is_stale(now) {
            self.refresh_in_background();
        }
        self.report_age(&set, now);
        set.is_usable(now).then_some(set.epoch)
    }

    /// Reports the age of the key set (seconds since its fetch) when it has changed since the
    /// last report: on the request path that is one atomic load, and a report once a second.
    fn report_age(&self, set: &KeySet, now: Duration) {
        let Some(fetched) = set.fetched else {
            return;
        };
        let age = now.saturating_sub(fetched.at).as_secs();
        if self.reported_age.load(Ordering::Relaxed) != age {
            self.reported_age.store(age, Ordering::Relaxed);
            metrics::jwks_age(age);
        }
    }

    /// The key for `kid`. A held key is returned at once; otherwise the request waits for a
    /// fetch in flight, or makes one (subject to the unknown-kid cooldown and the backoff).
    ///
    /// Returns the key with the epoch of the set it came from, for the verified-token cache.
    pub(crate) async fn key(&self, kid: &str) -> Result<(Arc<Key>, u64), AuthError> {
        match self.key_now(kid, self.clock.now()) {
            Some(key) => Ok(key),
            None => self.fetch_for(kid).await,
        }
    }

    /// The key for `kid` if it is held and may serve now; `None` when getting it needs a fetch.
    /// (Staleness is [`epoch`](Self::epoch)'s to notice: every validation reads it first.)
    pub(crate) fn key_now(&self, kid: &str, now: Duration) -> Option<(Arc<Key>, u64)> {
        let set = self.current.load();
        if !set.is_usable(now) {
            return None;
        }
        set.keys.get(kid).map(|key| (Arc::clone(key), set.epoch))
    }

    /// Fetches now unless the keys may serve (single flight; subject to the backoff).
    pub(crate) async fn warm_up(&self) -> Result<(), AuthError> {
        let _flight = self.fetch_lock.lock().await;
        if self.current.load().is_usable(self.clock.now()) {
            return Ok(());
        }
        {
            let state = lock(&self.state);
            let instant = Instant::now();
            if state.retry_at.is_some_and(|at| instant < at) {
                return Err(self.miss_error(&state, instant));
            }
        }
        self.fetch_and_store(Cause::Load).await;
        if self.current.load().is_usable(self.clock.now()) {
            return Ok(());
        }
        Err(self.miss_error(&lock(&self.state), Instant::now()))
    }

    /// Serves the keys of `document` as if just fetched, fresh forever (no fetch ever happens):
    /// for validation without a network (the fuzz targets).
    pub(crate) fn preload(&self, document: &[u8]) -> Result<(), JwksError> {
        let document: JwkSet =
            serde_json::from_slice(document).map_err(|e| JwksError::Parse(Arc::new(e)))?;
        self.current.store(Arc::new(KeySet {
            keys: parse_keys(document.keys),
            fetched: Some(Fetched {
                at: Duration::ZERO,
                fresh_until: Duration::MAX,
                usable_until: None,
            }),
            epoch: 0,
        }));
        Ok(())
    }

    /// A request needs `kid`, which the current set does not hold (or may not serve).
    ///
    /// It waits for a fetch in flight, whatever started it, and uses its result. If that fetch
    /// began before this request arrived and does not have the kid, the request may fetch
    /// again: the cooldown limits only fetches caused by unknown kids, so a key published after
    /// the last fetch is unreachable for at most the cooldown, whatever anyone sends.
    async fn fetch_for(&self, kid: &str) -> Result<(Arc<Key>, u64), AuthError> {
        let arrived = Instant::now();
        // Each fetch is bounded by the fetch timeout, so this wait is too.
        let _flight = self.fetch_lock.lock().await;
        let usable = {
            let set = self.current.load();
            let usable = set.is_usable(self.clock.now());
            if let Some(key) = set.keys.get(kid).filter(|_| usable) {
                return Ok((Arc::clone(key), set.epoch));
            }
            usable
        };
        {
            let state = lock(&self.state);
            let instant = Instant::now();
            // A fetch that started after this request arrived has answered it.
            let answered = state
                .last_finished_start
                .is_some_and(|start| start >= arrived);
            let backing_off = state.retry_at.is_some_and(|at| instant < at);
            if answered || backing_off {
                return Err(self.miss_error(&state, instant));
            }
            let cooling = state
                .last_demanded
                .is_some_and(|last| instant.duration_since(last) < self.cfg.refetch_cooldown);
            if usable && cooling {
                tracing::debug!(kid, "passage: unknown kid within the refetch cooldown");
                return Err(AuthError::Invalid(Invalid::UnknownKeyId));
            }
        }
        let cause = if usable {
            Cause::UnknownKid
        } else {
            Cause::Load
        };
        self.fetch_and_store(cause).await;
        match self.key_now(kid, self.clock.now()) {
            Some(key) => Ok(key),
            None => Err(self.miss_error(&lock(&self.state), Instant::now())),
        }
    }

    /// The error for a kid we cannot serve: unknown when the held keys may serve, else
    /// unavailable (nothing loaded yet, or past the staleness ceiling while refreshes fail).
    fn miss_error(&self, state: &FetchState, now: Instant) -> AuthError {
        if self.current.load().is_usable(self.clock.now()) {
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
                if this.current.load().is_stale(this.clock.now()) {
                    this.fetch_and_store(Cause::Refresh).await;
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
    async fn fetch_and_store(&self, cause: Cause) {
        let started = Instant::now();
        if cause == Cause::UnknownKid {
            // Set before the fetch: a request cancelled mid-fetch still spent the cooldown.
            lock(&self.state).last_demanded = Some(started);
        }
        let outcome = self.fetch().await;
        metrics::jwks_fetch(
            match cause {
                Cause::Load => FetchCause::Load,
                Cause::UnknownKid => FetchCause::UnknownKid,
                Cause::Refresh => FetchCause::Refresh,
            },
            outcome.as_ref().err(),
            started.elapsed(),
        );
        let now = self.clock.now();
        let mut state = lock(&self.state);
        state.last_finished_start = Some(started);
        match outcome {
            Ok((keys, ttl)) => {
                let old = self.current.load();
                let gone = old
                    .keys
                    .iter()
                    .any(|(kid, key)| keys.get(kid).is_none_or(|new| !new.same_material(key)));
                let epoch = old.epoch + u64::from(gone);
                tracing::debug!(
                    url = %self.url,
                    keys = keys.len(),
                    ttl_secs = ttl.as_secs(),
                    removed_or_changed = gone,
                    ?cause,
                    "passage: JWKS refreshed"
                );
                let fresh_until = now.saturating_add(ttl);
                self.current.store(Arc::new(KeySet {
                    keys,
                    fetched: Some(Fetched {
                        at: now,
                        fresh_until,
                        usable_until: self.cfg.max_stale.map(|m| fresh_until.saturating_add(m)),
                    }),
                    epoch,
                }));
                self.report_age(&self.current.load(), now);
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
                    retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                    keeping_cached_keys = self.current.load().keys.len(),
                    "passage: JWKS fetch failed"
                );
                state.retry_at = Some(later(Instant::now(), backoff));
                state.last_error = Some(err);
                self.report_age(&self.current.load(), now);
            }
        }
    }

    async fn fetch(&self) -> Result<(HashMap<Box<str>, Arc<Key>>, Duration), JwksError> {
        let mut response = self
            .http
            .get(&self.url)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, crate::net::USER_AGENT)
            .timeout(self.cfg.fetch_timeout)
            .send()
            .await
            .map_err(JwksError::from)?;
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
        while let Some(chunk) = response.chunk().await.map_err(JwksError::from)? {
            if body.len().saturating_add(chunk.len()) > self.cfg.max_document_bytes {
                return Err(JwksError::TooLarge(self.cfg.max_document_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        let document: JwkSet =
            serde_json::from_slice(&body).map_err(|e| JwksError::Parse(Arc::new(e)))?;
        Ok((parse_keys(document.keys), ttl))
    }
}

/// `now + d`, saturating far in the future instead of overflowing.
fn later(now: Instant, d: Duration) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(d)
        .or_else(|| now.checked_add(FAR))
        .unwrap_or(now)
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

/// Keeps the RSA keys usable for RS256 (≥ 2048 bits); skips the rest with a trace event. A kid
/// listed twice with different material is dropped: document order must not pick the key.
fn parse_keys(values: Vec<serde_json::Value>) -> HashMap<Box<str>, Arc<Key>> {
    let mut keys: HashMap<Box<str>, Arc<Key>> = HashMap::new();
    let mut conflicting = Vec::new();
    for value in values {
        match parse_key(value) {
            Ok((kid, key)) => match keys.get(kid.as_str()) {
                Some(held) if held.same_material(&key) => {
                    tracing::trace!(kid, "passage: skipping a repeated JWK");
                }
                Some(_) => conflicting.push(kid),
                None => {
                    keys.insert(kid.into_boxed_str(), Arc::new(key));
                }
            },
            Err(reason) => tracing::trace!(reason, "passage: skipping a JWK"),
        }
    }
    for kid in conflicting {
        if keys.remove(kid.as_str()).is_some() {
            tracing::warn!(
                kid,
                "passage: the JWKS lists this kid with different keys; refusing tokens that name it"
            );
        }
    }
    keys
}

fn parse_key(value: serde_json::Value) -> Result<(String, Key), &'static str> {
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
    let parsed = components
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .map_err(|_| "not a usable RSA key (at least 2048 bits)")?;
    Ok((
        kid,
        Key {
            parsed,
            n: n.into(),
            e: e.into(),
        },
    ))
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
