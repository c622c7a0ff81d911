//! What a failed HTTP exchange was, for every error family that wraps one (the JWKS fetch, the
//! Management API): a timeout, or anything else, kept for the logs.

use std::{sync::Arc, time::Duration};

/// Sent as `User-Agent` on every request (some CDNs in front of the JWKS refuse requests
/// without one).
pub(crate) const USER_AGENT: &str = concat!("passage-rust/", env!("CARGO_PKG_VERSION"));
/// Sent as `Passage-Version` on API calls, like the sibling SDKs (`passage-go v2.1.2`).
pub(crate) const PASSAGE_VERSION: &str = concat!("passage-rust ", env!("CARGO_PKG_VERSION"));
/// Connect timeout of the HTTP client a client builds for itself.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The HTTP client a [`Passage`](crate::Passage) uses unless given one: rustls, a connect
/// timeout, our `User-Agent`.
pub(crate) fn default_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
}

pub(crate) enum Failure {
    Timeout,
    Other(Arc<reqwest::Error>),
}

impl From<reqwest::Error> for Failure {
    fn from(err: reqwest::Error) -> Self {
        if err.is_timeout() {
            Self::Timeout
        } else {
            Self::Other(Arc::new(err))
        }
    }
}
