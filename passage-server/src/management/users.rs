//! User routes: create, get, update, delete, (de)activate, devices, refresh tokens. Every rule
//! about what a user may hold lives in the store; these translate requests and answers.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{body, email, error::ApiError, phone, reply};
use crate::{
    state::Shared,
    store::{Change, SeedUser, User},
};

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

/// The body's identifiers, normalised as sign-up normalises them (an empty one stays empty:
/// it removes the identifier on an update).
fn check_identifiers(body: &mut UserBody) -> Result<(), ApiError> {
    if let Some(raw) = body.email.as_mut().filter(|e| !e.is_empty()) {
        *raw = email(raw)?;
    }
    if let Some(raw) = body.phone.as_mut().filter(|p| !p.is_empty()) {
        *raw = phone(raw)?;
    }
    Ok(())
}

/// The body's metadata, checked against the app's declared fields (declared keys typed; the
/// app's own keys kept as sent).
fn check_metadata(shared: &Shared, body: &mut UserBody) -> Result<(), ApiError> {
    if let Some(metadata) = body.user_metadata.as_ref() {
        let checked = shared
            .fields
            .check(metadata, None, crate::fields::Writer::Management)
            .map_err(|err| ApiError::bad_request(err.to_string()))?;
        body.user_metadata = Some(checked);
    }
    Ok(())
}

fn user_response(status: StatusCode, user: &User) -> Response {
    reply(status, json!({ "user": user }))
}

pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let mut request: UserBody = body(&bytes)?;
    check_identifiers(&mut request)?;
    check_metadata(&shared, &mut request)?;
    let seed = SeedUser {
        email: request.email.filter(|e| !e.is_empty()),
        phone: request.phone.filter(|p| !p.is_empty()),
        user_metadata: request.user_metadata,
        ..SeedUser::default()
    };
    let user = shared.store.insert_user(seed).await?;
    Ok(user_response(StatusCode::CREATED, &user))
}

pub(super) async fn get(
    State(shared): State<Arc<Shared>>,
    Path((_app_id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let user = shared
        .store
        .user(&user_id)
        .await?
        .ok_or_else(ApiError::user_not_found)?;
    Ok(user_response(StatusCode::OK, &user))
}

pub(super) async fn update(
    State(shared): State<Arc<Shared>>,
    Path((_app_id, user_id)): Path<(String, String)>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let mut request: UserBody = body(&bytes)?;
    check_identifiers(&mut request)?;
    check_metadata(&shared, &mut request)?;
    let change = Change {
        email: request.email,
        phone: request.phone,
        user_metadata: request.user_metadata,
    };
    let user = shared.store.update_user(&user_id, change).await?;
    Ok(user_response(StatusCode::OK, &user))
}

pub(super) async fn delete(
    State(shared): State<Arc<Shared>>,
    Path((_app_id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    shared.store.delete_user(&user_id).await?;
    shared.revoked(&user_id);
    Ok(reply(StatusCode::OK, json!({})))
}

async fn set_status(shared: &Shared, user_id: &str, status: &str) -> Result<Response, ApiError> {
    let user = shared.store.set_status(user_id, status).await?;
    if status == "inactive" {
        shared.revoked(user_id);
    }
    Ok(user_response(StatusCode::OK, &user))
}

pub(super) async fn activate(
    State(shared): State<Arc<Shared>>,
    Path((_app_id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    set_status(&shared, &user_id, "active").await
}

pub(super) async fn deactivate(
    State(shared): State<Arc<Shared>>,
    Path((_app_id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    set_status(&shared, &user_id, "inactive").await
}

pub(super) async fn list_devices(
    State(shared): State<Arc<Shared>>,
    Path((_app_id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let user = shared
        .store
        .user(&user_id)
        .await?
        .ok_or_else(ApiError::user_not_found)?;
    Ok(reply(
        StatusCode::OK,
        json!({ "devices": user.webauthn_devices }),
    ))
}

pub(super) async fn revoke_device(
    State(shared): State<Arc<Shared>>,
    Path((_app_id, user_id, device_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    shared.store.revoke_device(&user_id, &device_id).await?;
    Ok(reply(StatusCode::OK, json!({})))
}

pub(super) async fn revoke_tokens(
    State(shared): State<Arc<Shared>>,
    Path((_app_id, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    shared.store.revoke_sessions(&user_id).await?;
    shared.revoked(&user_id);
    Ok(reply(StatusCode::OK, json!({})))
}
