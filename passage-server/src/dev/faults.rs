//! Fault injection (development mode): make the JWKS or the Management API fail on purpose.

use std::{sync::Arc, time::Duration};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::PREFIX;
use crate::{
    management::error::ApiError,
    state::{Shared, lock},
};

/// What a development server does instead of answering normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer `503 Service Unavailable` (a JSON error body on the API).
    Unavailable,
    /// Answer this status with a Passage-shaped JSON error body (429 carries `Retry-After: 1`).
    Status(u16),
    /// Never answer (until the server shuts down).
    Hang,
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// Send headers, then drop the connection mid-body.
    Close,
    /// Handle the request (its effects happen), then drop the connection mid-body: the client
    /// never learns the outcome (a lost response).
    LoseResponse,
    /// Make the answer at once, then send it only after this long (a slow link: the answer
    /// reflects the moment the request arrived).
    Slow(std::time::Duration),
}

/// Which part of a development server a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// `GET /v1/apps/{app_id}/.well-known/jwks.json`.
    Jwks,
    /// Every Management API route.
    Api,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    fault: Fault,
    remaining: Option<u32>,
}

#[derive(Debug, Default)]
pub(crate) struct Faults {
    jwks: Option<Slot>,
    api: Option<Slot>,
}

impl Faults {
    fn slot(&mut self, target: Target) -> &mut Option<Slot> {
        match target {
            Target::Jwks => &mut self.jwks,
            Target::Api => &mut self.api,
        }
    }

    pub(crate) fn set(&mut self, target: Target, fault: Option<Fault>, times: Option<u32>) {
        *self.slot(target) = fault.map(|fault| Slot {
            fault,
            remaining: times,
        });
    }

    /// The fault for the next request to `target`, counting down limited faults.
    pub(crate) fn take(&mut self, target: Target) -> Option<Fault> {
        let slot = self.slot(target);
        let current = (*slot)?;
        match current.remaining {
            Some(0) => {
                *slot = None;
                None
            }
            Some(n) => {
                *slot = (n > 1).then_some(Slot {
                    remaining: Some(n - 1),
                    ..current
                });
                Some(current.fault)
            }
            None => Some(current.fault),
        }
    }
}

/// Which target a request path is (none for the development routes themselves).
pub(crate) fn target(path: &str) -> Option<Target> {
    if path.starts_with(PREFIX) {
        None
    } else if path.ends_with("/.well-known/jwks.json") {
        Some(Target::Jwks)
    } else {
        Some(Target::Api)
    }
}

/// Injects the fault set for a request's target, and logs every request.
pub(crate) async fn faults_and_logs(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let target = target(&path);
    if target == Some(Target::Jwks) {
        shared.count_jwks_hit();
    }
    let fault = target.and_then(|t| lock(&shared.faults).take(t));
    let response = match fault {
        None => next.run(request).await,
        Some(Fault::Slow(delay)) => {
            tracing::debug!(%method, %path, ?delay, "emulator: answering slowly");
            let response = next.run(request).await;
            tokio::time::sleep(delay).await;
            response
        }
        Some(Fault::LoseResponse) => {
            tracing::debug!(%method, %path, "emulator: handling, then losing the response");
            let handled = next.run(request).await;
            let status = handled.status();
            let mut lost = broken_body();
            *lost.status_mut() = status;
            lost
        }
        Some(fault) => {
            tracing::debug!(%method, %path, ?fault, "emulator: injecting a fault");
            inject(&shared, fault, target).await
        }
    };
    tracing::info!(%method, %path, status = response.status().as_u16(), "emulator");
    response
}

async fn inject(shared: &Shared, fault: Fault, target: Option<Target>) -> Response {
    match fault {
        Fault::Unavailable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal_server_error",
            "Service unavailable (emulated).",
        )
        .into_response(),
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response =
                ApiError::for_status(status, target.unwrap_or(Target::Api)).into_response();
            if status == StatusCode::TOO_MANY_REQUESTS {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            }
            response
        }
        Fault::Hang => {
            let mut shutdown = shared.shutdown.clone();
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => {}
                () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            }
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
        Fault::Garbage => (
            [(header::CONTENT_TYPE, "application/json")],
            "<html><body>502 Bad Gateway</body></html>\u{0}{{{",
        )
            .into_response(),
        Fault::Close | Fault::LoseResponse => broken_body(),
        Fault::Slow(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// A response whose body fails after the headers: the connection is dropped mid-body.
fn broken_body() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::other("emulated connection reset"))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(failing),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limited_faults_count_down() {
        let mut faults = Faults::default();
        faults.set(Target::Api, Some(Fault::Unavailable), Some(2));
        assert_eq!(faults.take(Target::Api), Some(Fault::Unavailable));
        assert_eq!(faults.take(Target::Jwks), None);
        assert_eq!(faults.take(Target::Api), Some(Fault::Unavailable));
        assert_eq!(faults.take(Target::Api), None);
        faults.set(Target::Jwks, Some(Fault::Hang), None);
        assert_eq!(faults.take(Target::Jwks), Some(Fault::Hang));
        assert_eq!(faults.take(Target::Jwks), Some(Fault::Hang));
    }
}
