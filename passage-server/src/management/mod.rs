//! The Management API: every operation of docs/wire-format.md with its paths, status codes,
//! shapes and errors. One layer authorizes every route that needs the API key.

mod app;
pub(crate) mod error;
mod list;
mod magic_links;
pub(crate) mod router;
mod users;

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{RawPathParams, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{delete, get, patch, post},
};
use serde::Deserialize;
use serde_json::Value;

use self::error::ApiError;
use crate::state::Shared;

pub(crate) fn routes(shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    let with_key = Router::new()
        .route("/v1/apps/{app_id}/magic-links", post(magic_links::create))
        .route(
            "/v1/apps/{app_id}/users",
            get(list::list_users).post(users::create),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}/activate",
            patch(users::activate),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}/deactivate",
            patch(users::deactivate),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}/devices",
            get(users::list_devices),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}/devices/{device_id}",
            delete(users::revoke_device),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}/tokens",
            delete(users::revoke_tokens),
        )
        // On every route above, and on any added there: no handler can forget it.
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(shared),
            authorize,
        ));
    Router::new()
        .route("/v1/apps/{app_id}", get(app::get_app))
        .merge(with_key)
}

/// `200`/`201` with a JSON body.
pub(crate) fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The app must be ours and the request must carry our API key.
async fn authorize(
    State(shared): State<Arc<Shared>>,
    params: RawPathParams,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let app_id = params
        .iter()
        .find_map(|(name, value)| (name == "app_id").then_some(value));
    if app_id != Some(shared.app_id.as_str()) {
        return Err(ApiError::app_not_found());
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    // Compared in constant time: how long a refusal takes says nothing about the key.
    let matches = presented.is_some_and(|key| {
        aws_lc_rs::constant_time::verify_slices_are_equal(key.as_bytes(), shared.api_key.as_bytes())
            .is_ok()
    });
    if !matches {
        return Err(ApiError::unauthorized());
    }
    Ok(next.run(request).await)
}

/// The largest request body accepted (a user with its metadata, a magic link): 1 MiB.
pub(crate) const BODY_LIMIT: usize = 1024 * 1024;

/// Parses a JSON body into `T`, answering 400 `invalid_request` otherwise.
pub(crate) fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

/// An email address as sign-up normalises it, or the 400 that refuses it.
pub(crate) fn email(raw: &str) -> Result<String, ApiError> {
    crate::identifier::Identifier::email(raw)
        .map(|email| email.as_str().to_owned())
        .map_err(|err| ApiError::bad_request(format!("email: {err}.")))
}

/// A phone number in E.164, or the 400 that refuses it.
pub(crate) fn phone(raw: &str) -> Result<String, ApiError> {
    crate::identifier::Identifier::phone(raw)
        .map(|phone| phone.as_str().to_owned())
        .map_err(|_| ApiError::bad_request("phone: must be a valid E164 number."))
}
