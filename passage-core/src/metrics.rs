//! Metrics, through the [`metrics`](https://docs.rs/metrics) facade: every number passage-core
//! reports is emitted here, one function per event, and nowhere else.
//!
//! Nothing is recorded until the application installs a recorder (for example
//! `metrics-exporter-prometheus`). The events on the request path (validation outcomes,
//! token-cache hits and misses) go through handles each client registers at its first request:
//! an atomic add with a recorder, a branch without one — so install the recorder before the
//! first request. The other events are rare (a fetch, an API call, a gauge set at most once a
//! second) and register per event. **No label ever holds a user id, a token, or anything else a
//! request controls**: every label value comes from a small fixed set.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `passage_validations_total` | counter | `outcome`: `ok`, `cached`, `missing`, `malformed`, `invalid`, `revoked`, `keys_unavailable`, `revocations_unavailable` |
//! | `passage_token_cache_hits_total` | counter | |
//! | `passage_token_cache_misses_total` | counter | |
//! | `passage_token_cache_entries` | gauge | |
//! | `passage_jwks_fetches_total` | counter | `result`: `ok`, `timeout`, `transport`, `status`, `too_large`, `parse`; `cause`: `load`, `unknown_kid`, `refresh` |
//! | `passage_jwks_fetch_duration_seconds` | histogram | |
//! | `passage_jwks_age_seconds` | gauge | |
//! | `passage_api_requests_total` | counter | `operation` (e.g. `get_user`), `class` (`2xx`…`5xx`, or `error`), `status` (the HTTP status, or `timeout`, `transport`, `error` without an answer) |
//! | `passage_api_retries_total` | counter | `operation` |
//! | `passage_revocations` | gauge | |
//! | `passage_revocations_in_sync` | gauge | |
//!
//! Gauges describe one client: a process with several clients sees the latest value any of them
//! reported, and their counters add up.

use std::time::Duration;

use ::metrics::{
    Counter, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use crate::{ApiError, AuthError, Invalid, JwksError, PassageClaims};

const VALIDATIONS: &str = "passage_validations_total";
const CACHE_HITS: &str = "passage_token_cache_hits_total";
const CACHE_MISSES: &str = "passage_token_cache_misses_total";
const CACHE_ENTRIES: &str = "passage_token_cache_entries";
const JWKS_FETCHES: &str = "passage_jwks_fetches_total";
const JWKS_FETCH_DURATION: &str = "passage_jwks_fetch_duration_seconds";
const JWKS_AGE: &str = "passage_jwks_age_seconds";
const API_REQUESTS: &str = "passage_api_requests_total";
const API_RETRIES: &str = "passage_api_retries_total";
const REVOCATIONS: &str = "passage_revocations";
const REVOCATIONS_IN_SYNC: &str = "passage_revocations_in_sync";

/// Registers the description and unit of every metric with the installed recorder, so an
/// exporter can print them (Prometheus `# HELP` lines). Call it once, after installing the
/// recorder; metrics are recorded without it too.
///
/// ```
/// // With metrics-exporter-prometheus:
/// // let handle = PrometheusBuilder::new().install_recorder()?;
/// passage_core::metrics::describe();
/// ```
pub fn describe() {
    describe_counter!(
        VALIDATIONS,
        Unit::Count,
        "Requests decided by passage-core, by outcome (ok: validated now; cached: verified before)."
    );
    describe_counter!(
        CACHE_HITS,
        Unit::Count,
        "Verified-token cache lookups that served a token."
    );
    describe_counter!(
        CACHE_MISSES,
        Unit::Count,
        "Verified-token cache lookups that did not serve a token."
    );
    describe_gauge!(
        CACHE_ENTRIES,
        Unit::Count,
        "Tokens in the verified-token cache."
    );
    describe_counter!(
        JWKS_FETCHES,
        Unit::Count,
        "JWKS fetches, by result and by what caused them."
    );
    describe_histogram!(
        JWKS_FETCH_DURATION,
        Unit::Seconds,
        "How long JWKS fetches took (successful or not)."
    );
    describe_gauge!(
        JWKS_AGE,
        Unit::Seconds,
        "Seconds since the signing keys were last fetched successfully."
    );
    describe_counter!(
        API_REQUESTS,
        Unit::Count,
        "Management API calls, by operation and final status (after retries)."
    );
    describe_counter!(
        API_RETRIES,
        Unit::Count,
        "Management API attempts sent again, by operation."
    );
    describe_gauge!(
        REVOCATIONS,
        Unit::Count,
        "Users whose sessions are revoked, held by this client."
    );
    describe_gauge!(
        REVOCATIONS_IN_SYNC,
        "1 when the revocations are in sync with their shared backend (always 1 without one), else 0."
    );
}

/// How a request (or a `validate_jwt` call) was decided; the index of its counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Validated now (signature and claims checked).
    Ok = 0,
    /// Served from the verified-token cache.
    Cached = 1,
    Missing = 2,
    Malformed = 3,
    Invalid = 4,
    Revoked = 5,
    KeysUnavailable = 6,
    RevocationsUnavailable = 7,
}

impl Outcome {
    /// The outcome of `result`; `cached` when its claims came from the verified-token cache.
    pub(crate) fn of(result: &Result<PassageClaims, AuthError>, cached: bool) -> Self {
        match result {
            Ok(_) if cached => Self::Cached,
            Ok(_) => Self::Ok,
            Err(err) => Self::of_error(err),
        }
    }

    /// The outcome of a refusal.
    pub(crate) fn of_error(err: &AuthError) -> Self {
        match err {
            AuthError::MissingToken => Self::Missing,
            AuthError::Malformed(_) => Self::Malformed,
            AuthError::Invalid(Invalid::Revoked) => Self::Revoked,
            AuthError::Invalid(_) => Self::Invalid,
            AuthError::KeysUnavailable { .. } => Self::KeysUnavailable,
            AuthError::RevocationsUnavailable => Self::RevocationsUnavailable,
        }
    }
}

/// The metrics of the request path, as handles: registering a metric with a recorder looks it
/// up in the recorder's registry (a lock, a hash probe, an allocation in some recorders), so a
/// client registers these once, at its first request, and then only increments them (an atomic
/// add; nothing without a recorder). A recorder installed after a client's first request does
/// not see that client's request-path metrics.
#[derive(Debug)]
pub(crate) struct RequestMetrics {
    /// Indexed by [`Outcome`].
    validations: [Counter; 8],
    cache_hits: Counter,
    cache_misses: Counter,
}

impl RequestMetrics {
    /// Registers every handle with the current recorder.
    pub(crate) fn register() -> Self {
        Self {
            validations: [
                counter!("passage_validations_total", "outcome" => "ok"),
                counter!("passage_validations_total", "outcome" => "cached"),
                counter!("passage_validations_total", "outcome" => "missing"),
                counter!("passage_validations_total", "outcome" => "malformed"),
                counter!("passage_validations_total", "outcome" => "invalid"),
                counter!("passage_validations_total", "outcome" => "revoked"),
                counter!("passage_validations_total", "outcome" => "keys_unavailable"),
                counter!("passage_validations_total", "outcome" => "revocations_unavailable"),
            ],
            cache_hits: counter!("passage_token_cache_hits_total"),
            cache_misses: counter!("passage_token_cache_misses_total"),
        }
    }

    /// A request decided.
    #[inline]
    pub(crate) fn validation(&self, outcome: Outcome) {
        self.validations[outcome as usize].increment(1);
    }

    /// A verified-token cache lookup.
    #[inline]
    pub(crate) fn token_cache_lookup(&self, hit: bool) {
        if hit {
            self.cache_hits.increment(1);
        } else {
            self.cache_misses.increment(1);
        }
    }
}

/// The verified-token cache holds `entries` tokens.
pub(crate) fn token_cache_entries(entries: u64) {
    gauge!(CACHE_ENTRIES).set(entries as f64);
}

/// Why a JWKS fetch was made (the key store's `Cause`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum FetchCause {
    Load,
    UnknownKid,
    Refresh,
}

/// A JWKS fetch finished after `took`: `error` is `None` on success.
pub(crate) fn jwks_fetch(cause: FetchCause, error: Option<&JwksError>, took: Duration) {
    let result = match error {
        None => "ok",
        Some(JwksError::Timeout) => "timeout",
        // `NotLoaded` never comes out of a fetch.
        Some(JwksError::Transport(_) | JwksError::NotLoaded) => "transport",
        Some(JwksError::Status(_)) => "status",
        Some(JwksError::TooLarge(_)) => "too_large",
        Some(JwksError::Parse(_)) => "parse",
    };
    let cause = match cause {
        FetchCause::Load => "load",
        FetchCause::UnknownKid => "unknown_kid",
        FetchCause::Refresh => "refresh",
    };
    counter!(JWKS_FETCHES, "result" => result, "cause" => cause).increment(1);
    histogram!(JWKS_FETCH_DURATION).record(took.as_secs_f64());
}

/// The signing keys were last fetched successfully `seconds` ago.
pub(crate) fn jwks_age(seconds: u64) {
    gauge!(JWKS_AGE).set(seconds as f64);
}

/// A Management API call of `operation` finished with `result`; `answered` is the HTTP status of
/// the last answer received, used for a success (a failure carries its own status, or none).
pub(crate) fn api_call(
    operation: &'static str,
    answered: Option<u16>,
    result: &Result<bytes::Bytes, ApiError>,
) {
    let status = match result {
        Ok(_) => answered,
        Err(err) => err.status(),
    };
    let (class, status) = match status {
        Some(code) => (status_class(code), status_code(code)),
        None => {
            let status = match result {
                Err(ApiError::Timeout) => "timeout",
                Err(ApiError::Transport(_)) => "transport",
                _ => "error",
            };
            ("error", status)
        }
    };
    counter!(API_REQUESTS, "operation" => operation, "class" => class, "status" => status)
        .increment(1);
}

/// A Management API call of `operation` is sent again.
pub(crate) fn api_retry(operation: &'static str) {
    counter!(API_RETRIES, "operation" => operation).increment(1);
}

/// The revocation list holds `held` users' revocations, and is in sync or not.
pub(crate) fn revocations(held: usize, in_sync: bool) {
    gauge!(REVOCATIONS).set(held as f64);
    gauge!(REVOCATIONS_IN_SYNC).set(if in_sync { 1.0 } else { 0.0 });
}

fn status_class(code: u16) -> &'static str {
    match code {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "error",
    }
}

/// Every status code from 100 to 599 as text, so a label never formats or allocates.
static STATUS_CODES: [[u8; 3]; 500] = {
    let mut codes = [[0u8; 3]; 500];
    let mut i = 0;
    while i < 500 {
        let code = i + 100;
        codes[i] = [
            b'0' + (code / 100) as u8,
            b'0' + (code / 10 % 10) as u8,
            b'0' + (code % 10) as u8,
        ];
        i += 1;
    }
    codes
};

/// `code` as a label value: its three digits, or `other` outside 100–599.
fn status_code(code: u16) -> &'static str {
    usize::from(code)
        .checked_sub(100)
        .and_then(|i| STATUS_CODES.get(i))
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_the_codes() {
        assert_eq!(status_code(100), "100");
        assert_eq!(status_code(200), "200");
        assert_eq!(status_code(404), "404");
        assert_eq!(status_code(599), "599");
        assert_eq!(status_code(99), "other");
        assert_eq!(status_code(600), "other");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(42), "error");
    }
}
