//! The transport every Management API call goes through: authentication, versioning headers,
//! timeouts, retries with backoff, a body size limit, and tracing.

use std::{sync::Arc, time::Duration};

use http::{HeaderValue, Method, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, de::DeserializeOwned};
use tracing::Instrument as _;

use super::error::{ApiError, ErrorCode, ErrorResponse};
use crate::{
    Secret, metrics,
    net::{PASSAGE_VERSION, USER_AGENT},
};

/// Path segments keep only unreserved characters; `.` and `/` are encoded too, so no id can
/// climb out of its segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'~');

/// Retry policy for idempotent calls.
#[derive(Debug, Clone)]
pub(crate) struct RetryConfig {
    pub(crate) max_retries: u32,
    pub(crate) backoff: Duration,
    pub(crate) max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_retries: 2,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// A request body: `value` as JSON.
pub(crate) fn json_body<T: serde::Serialize>(value: &T) -> Result<bytes::Bytes, ApiError> {
    serde_json::to_vec(value)
        .map(bytes::Bytes::from)
        .map_err(|e| ApiError::Encode(Arc::new(e)))
}

/// One API call, described.
pub(crate) struct Call<'a> {
    pub(crate) operation: &'static str,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: &'a [(&'static str, String)],
    /// JSON; shared, so each retry sends it again without a copy.
    pub(crate) body: Option<bytes::Bytes>,
    /// Safe to send again (GET, DELETE, and updates that set values); never a POST create.
    pub(crate) idempotent: bool,
    /// Needs the API key.
    pub(crate) authenticated: bool,
    /// A removal: a 404 on a retry after an attempt the server may have carried out (its
    /// answer was lost) means the first attempt removed it, and counts as success.
    pub(crate) removes: bool,
}

/// The largest response body read from the API (a page of 500 users is well under 2 MiB).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Checks an id before it goes into a path.
pub(crate) fn segment(name: &'static str, id: &str) -> Result<String, ApiError> {
    if id.is_empty() {
        return Err(ApiError::InvalidArgument {
            name,
            reason: "must not be empty",
        });
    }
    // `%2E%2E` is still `..` to a URL parser, so dot segments are refused outright.
    if id == "." || id == ".." {
        return Err(ApiError::InvalidArgument {
            name,
            reason: "must not be a dot segment",
        });
    }
    if id.len() > 1024 {
        return Err(ApiError::InvalidArgument {
            name,
            reason: "is longer than 1024 bytes",
        });
    }
    Ok(utf8_percent_encode(id, SEGMENT).to_string())
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

enum Attempt {
    Done(Result<bytes::Bytes, ApiError>),
    Retry {
        error: ApiError,
        after: Option<Duration>,
        /// The server may have carried the request out (its answer is what failed).
        maybe_applied: bool,
    },
}

/// How API calls are made: timeout and retries. Set through
/// [`PassageBuilder`](crate::PassageBuilder), which documents each default.
#[derive(Debug, Clone)]
pub(crate) struct TransportConfig {
    pub(crate) request_timeout: Duration,
    pub(crate) retry: RetryConfig,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            retry: RetryConfig::default(),
        }
    }
}

/// The Management API's transport: base URL, API key, HTTP client, timeouts, retries and the
/// headers every call carries. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub(crate) struct Transport {
    inner: Arc<TransportInner>,
}

struct TransportInner {
    /// `{api_url}/v1/apps/{app_id}`.
    base: String,
    api_key: Option<Secret>,
    http: reqwest::Client,
    config: TransportConfig,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("base", &self.inner.base)
            .field("api_key", &self.inner.api_key)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Transport {
    pub(crate) fn new(
        api_url: &str,
        app_id: &str,
        api_key: Option<Secret>,
        http: reqwest::Client,
        config: TransportConfig,
    ) -> Self {
        Self {
            inner: Arc::new(TransportInner {
                base: format!("{api_url}/v1/apps/{app_id}"),
                api_key,
                http,
                config,
            }),
        }
    }

    /// Sends `call`, retrying idempotent calls on connect errors, timeouts, 429 and 5xx.
    pub(crate) async fn call<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, ApiError> {
        let bytes = self.call_raw(call).await?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode(Arc::new(e)))
    }

    /// As [`call`](Self::call), ignoring the body of a success.
    pub(crate) async fn call_empty(&self, call: Call<'_>) -> Result<(), ApiError> {
        self.call_raw(call).await.map(drop)
    }

    async fn call_raw(&self, call: Call<'_>) -> Result<bytes::Bytes, ApiError> {
        let span = tracing::debug_span!(
            "passage.api",
            operation = call.operation,
            method = %call.method,
            status = tracing::field::Empty,
            attempt = tracing::field::Empty,
        );
        let operation = call.operation;
        // The HTTP status of the last answer received, for the metric of a success.
        let mut last_status = None;
        let result = async {
            let inner = &self.inner;
            let key = match (&inner.api_key, call.authenticated) {
                (Some(key), _) => Some(key),
                (None, true) => return Err(ApiError::MissingApiKey),
                (None, false) => None,
            };
            let url = format!("{}{}", inner.base, call.path);
            let retry = &inner.config.retry;
            let mut attempt = 0u32;
            let mut maybe_applied = false;
            loop {
                attempt += 1;
                tracing::Span::current().record("attempt", attempt);
                let mut request = inner
                    .http
                    .request(call.method.clone(), &url)
                    .timeout(inner.config.request_timeout)
                    .header(header::ACCEPT, "application/json")
                    // Also with a client of the user's own, which may send none.
                    .header(header::USER_AGENT, USER_AGENT)
                    .header("Passage-Version", PASSAGE_VERSION);
                if !call.query.is_empty() {
                    request = request.query(call.query);
                }
                if let Some(key) = key {
                    let mut value = HeaderValue::try_from(format!("Bearer {}", key.expose()))
                        .map_err(|_| ApiError::InvalidArgument { name: "api_key", reason: "is not a valid header value" })?;
                    value.set_sensitive(true);
                    request = request.header(header::AUTHORIZATION, value);
                }
                if let Some(body) = &call.body {
                    request = request.header(header::CONTENT_TYPE, "application/json").body(body.clone());
                }
                let sent = request.send().await;
                if let Ok(response) = &sent {
                    last_status = Some(response.status().as_u16());
                }
                let outcome = match sent {
                    // Connect failures, timeouts and dropped connections are worth another try.
                    Err(err) if !err.is_builder() && !err.is_redirect() => {
                        let maybe_applied = !err.is_connect();
                        Attempt::Retry { error: ApiError::from(err), after: None, maybe_applied }
                    }
                    Err(err) => Attempt::Done(Err(ApiError::from(err))),
                    Ok(response) => read(response).await,
                };
                match outcome {
                    Attempt::Done(Err(err)) if call.removes && maybe_applied && err.is_not_found() => {
                        tracing::debug!("passage: already removed by an earlier attempt whose answer was lost");
                        return Ok(bytes::Bytes::new());
                    }
                    Attempt::Done(result) => return result,
                    Attempt::Retry { error, after, maybe_applied: applied } => {
                        maybe_applied |= applied;
                        if !call.idempotent || attempt > retry.max_retries {
                            tracing::debug!(error = %crate::Report(&error), "passage: API call failed");
                            return Err(error);
                        }
                        let wait = match after {
                            Some(after) if after > retry.max_backoff => {
                                tracing::debug!(retry_after_ms = after.as_millis() as u64, "passage: Retry-After too long, giving up");
                                return Err(error);
                            }
                            Some(after) => after,
                            None => jittered(retry, attempt),
                        };
                        tracing::debug!(error = %crate::Report(&error), wait_ms = wait.as_millis() as u64, "passage: retrying");
                        metrics::api_retry(operation);
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        .instrument(span)
        .await;
        metrics::api_call(operation, last_status, &result);
        result
    }
}

/// Full jitter: a random wait up to `backoff · 2^(attempt-1)`, capped.
fn jittered(retry: &RetryConfig, attempt: u32) -> Duration {
    let ceiling = retry
        .backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(retry.max_backoff);
    ceiling.mul_f64(fastrand::f64().max(0.1))
}

/// The body, read up to [`MAX_RESPONSE_BYTES`].
async fn body(mut response: reqwest::Response) -> Result<bytes::Bytes, ApiError> {
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
    {
        return Err(ApiError::ResponseTooLarge(MAX_RESPONSE_BYTES));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(ApiError::from)? {
        if body.len().saturating_add(chunk.len()) > MAX_RESPONSE_BYTES {
            return Err(ApiError::ResponseTooLarge(MAX_RESPONSE_BYTES));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

async fn read(response: reqwest::Response) -> Attempt {
    let status = response.status();
    tracing::Span::current().record("status", status.as_u16());
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let bytes = match body(response).await {
        Ok(bytes) => bytes,
        Err(error @ ApiError::ResponseTooLarge(_)) => return Attempt::Done(Err(error)),
        Err(error) => {
            return if status.is_success() || status.is_server_error() {
                Attempt::Retry {
                    error,
                    after: None,
                    maybe_applied: true,
                }
            } else {
                Attempt::Done(Err(error))
            };
        }
    };
    if status.is_success() {
        return Attempt::Done(Ok(bytes));
    }
    let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
    let code = body
        .as_ref()
        .and_then(|b| b.code.as_deref())
        .map_or_else(|| ErrorCode::Other(String::new()), ErrorCode::parse);
    let message = body
        .and_then(|b| b.error)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    let error = ApiError::Response(ErrorResponse::new(status.as_u16(), code, message));
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Attempt::Retry {
            error,
            after: retry_after,
            // A 500, 502 or 504 may come after the work was done (a crash, or a gateway that
            // gave up waiting); a 503 or 429 means the request was turned away.
            maybe_applied: status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE,
        }
    } else {
        Attempt::Done(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_their_segment() {
        assert_eq!(segment("user_id", "../x").unwrap(), "%2E%2E%2Fx");
        assert_eq!(segment("user_id", "a/b").unwrap(), "a%2Fb");
        assert!(segment("user_id", "..").is_err());
        assert!(segment("user_id", ".").is_err());
        assert_eq!(segment("user_id", "abc-DEF_1").unwrap(), "abc-DEF_1");
        assert!(segment("user_id", "").is_err());
    }

    #[test]
    fn jitter_stays_under_the_cap() {
        let retry = RetryConfig {
            max_retries: 5,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
        };
        for attempt in 1..10 {
            assert!(jittered(&retry, attempt) <= Duration::from_millis(300));
        }
    }
}
