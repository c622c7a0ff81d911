//! The emulated Management API: every operation of shared/PASSAGE_API.md with its paths,
//! status codes, shapes and errors.

mod app;
pub(crate) mod error;
mod list;
mod magic_links;
pub(crate) mod store;

use std::sync::Arc;

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, patch, post},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use self::{error::ApiError, store::SeedUser};
use crate::state::{Shared, lock};

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/apps/{app_id}", get(app::get_app))
        .route("/v1/apps/{app_id}/magic-links", post(magic_links::create))
        .route(
            "/v1/apps/{app_id}/users",
            get(list::list_users).post(create_user),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}/activate",
            patch(activate),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}/deactivate",
            patch(deactivate),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}/devices",
            get(list_devices),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}/devices/{device_id}",
            delete(revoke_device),
        )
        .route(
            "/v1/apps/{app_id}/users/{user_id}/tokens",
            delete(revoke_tokens),
        )
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
pub(crate) fn authorize(
    shared: &Shared,
    app_id: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if app_id != shared.app_id {
        return Err(ApiError::app_not_found());
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim());
    if presented != Some(shared.api_key.as_str()) {
        return Err(ApiError::unauthorized());
    }
    Ok(())
}

/// Parses a JSON body into `T`, answering 400 `invalid_request` otherwise.
pub(crate) fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid request body: {e}")))
}

pub(crate) fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.contains(char::is_whitespace)
}

pub(crate) fn valid_phone(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    user_metadata: Option<Map<String, Value>>,
}

fn check_identifiers(body: &UserBody) -> Result<(), ApiError> {
    if let Some(email) = body.email.as_deref().filter(|e| !e.is_empty())
        && !valid_email(email)
    {
        return Err(ApiError::bad_request(
            "email: must be a valid email address.",
        ));
    }
    if let Some(phone) = body.phone.as_deref().filter(|p| !p.is_empty())
        && !valid_phone(phone)
    {
        return Err(ApiError::bad_request("phone: must be a valid E164 number."));
    }
    Ok(())
}

fn user_response(status: StatusCode, user: &store::User) -> Response {
    reply(status, json!({ "user": user }))
}

async fn create_user(
    State(shared): State<Arc<Shared>>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    authorize(&shared, &app_id, &headers)?;
    let request: UserBody = body(&bytes)?;
    check_identifiers(&request)?;
    let seed = SeedUser {
        email: request.email.filter(|e| !e.is_empty()),
        phone: request.phone.filter(|p| !p.is_empty()),
        user_metadata: request.user_metadata,
        ..SeedUser::default()
    };
    let user = lock(&shared.store)
        .insert(seed)
        .map_err(ApiError::bad_request)?;
    Ok(user_response(StatusCode::CREATED, &user))
}

async fn get_user(
    State(shared): State<Arc<Shared>>,
    Path((app_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&shared, &app_id, &headers)?;
    let store = lock(&shared.store);
    let user = store.get(&user_id).ok_or_else(ApiError::user_not_found)?;
    Ok(user_response(StatusCode::OK, user))
}

async fn update_user(
    State(shared): State<Arc<Shared>>,
    Path((app_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    authorize(&shared, &app_id, &headers)?;
    let request: UserBody = body(&bytes)?;
    check_identifiers(&request)?;
    let mut store = lock(&shared.store);
    if store.get(&user_id).is_none() {
        return Err(ApiError::user_not_found());
    }
    for identifier in [request.email.as_deref(), request.phone.as_deref()]
        .into_iter()
        .flatten()
    {
        if !identifier.is_empty()
            && store
                .find_identifier(identifier)
                .is_some_and(|u| u.id != user_id)
        {
            return Err(ApiError::bad_request(
                "a user with this identifier already exists",
            ));
        }
    }
    let user = store
        .get_mut(&user_id)
        .ok_or_else(ApiError::user_not_found)?;
    if let Some(email) = request.email {
        user.email = email.to_lowercase();
        user.email_verified = false;
    }
    if let Some(phone) = request.phone {
        user.phone = phone;
        user.phone_verified = false;
    }
    if let Some(metadata) = request.user_metadata {
        user.user_metadata = Some(metadata);
    }
    user.updated_at = store::now();
    Ok(user_response(StatusCode::OK, user))
}

async fn delete_user(
    State(shared): State<Arc<Shared>>,
    Path((app_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&shared, &app_id, &headers)?;
    let mut store = lock(&shared.store);
    let before = store.users.len();
    store.users.retain(|u| u.id != user_id);
    if store.users.len() == before {
        return Err(ApiError::user_not_found());
    }
    Ok(reply(StatusCode::OK, json!({})))
}

async fn set_status(
    shared: &Shared,
    app_id: &str,
    user_id: &str,
    headers: &HeaderMap,
    status: &str,
) -> Result<Response, ApiError> {
    authorize(shared, app_id, headers)?;
    let mut store = lock(&shared.store);
    let user = store
        .get_mut(user_id)
        .ok_or_else(ApiError::user_not_found)?;
    status.clone_into(&mut user.status);
    user.updated_at = store::now();
    Ok(user_response(StatusCode::OK, user))
}

async fn activate(
    State(shared): State<Arc<Shared>>,
    Path((app_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_status(&shared, &app_id, &user_id, &headers, "active").await
}

async fn deactivate(
    State(shared): State<Arc<Shared>>,
    Path((app_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    set_status(&shared, &app_id, &user_id, &headers, "inactive").await
}

async fn list_devices(
    State(shared): State<Arc<Shared>>,
    Path((app_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&shared, &app_id, &headers)?;
    let store = lock(&shared.store);
    let user = store.get(&user_id).ok_or_else(ApiError::user_not_found)?;
    Ok(reply(
        StatusCode::OK,
        json!({ "devices": user.webauthn_devices }),
    ))
}

async fn revoke_device(
    State(shared): State<Arc<Shared>>,
    Path((app_id, user_id, device_id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&shared, &app_id, &headers)?;
    let mut store = lock(&shared.store);
    let user = store
        .get_mut(&user_id)
        .ok_or_else(ApiError::user_not_found)?;
    let before = user.webauthn_devices.len();
    user.webauthn_devices.retain(|d| d.id != device_id);
    if user.webauthn_devices.len() == before {
        return Err(ApiError::device_not_found());
    }
    user.webauthn = !user.webauthn_devices.is_empty();
    if !user.webauthn {
        user.webauthn_types.clear();
    }
    Ok(reply(StatusCode::OK, json!({})))
}

async fn revoke_tokens(
    State(shared): State<Arc<Shared>>,
    Path((app_id, user_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&shared, &app_id, &headers)?;
    let mut store = lock(&shared.store);
    let user = store
        .get_mut(&user_id)
        .ok_or_else(ApiError::user_not_found)?;
    user.refresh_token_revocations += 1;
    Ok(reply(StatusCode::OK, json!({})))
}
