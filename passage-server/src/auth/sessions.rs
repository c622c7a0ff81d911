//! Sessions: the `auth_result` every sign-in ends with (an auth token and a refresh token),
//! refreshing (`POST /tokens`, which rotates the refresh token) and signing out
//! (`DELETE /tokens`, which revokes it).

use std::sync::Arc;

use crate::{
    store::{RefreshToken, User},
    token::TokenBuilder,
};
use aws_lc_rs::{
    digest,
    rand::{SecureRandom as _, SystemRandom},
};
use axum::{
    extract::{Query, State},
    response::Response,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{App, AuthApiError, Body, Shared, ok};

/// Signs `user` in: records the sign-in and answers `{auth_result}` with a new auth token and
/// refresh token.
pub(crate) async fn sign_in(
    state: &Shared,
    user: &User,
    redirect_url: &str,
) -> Result<Response, AuthApiError> {
    session(state, user, redirect_url, true).await
}

/// A second session for a sign-in already recorded (the page that waited for a magic link).
pub(crate) async fn another_session(
    state: &Shared,
    user: &User,
    redirect_url: &str,
) -> Result<Response, AuthApiError> {
    session(state, user, redirect_url, false).await
}

async fn session(
    state: &Shared,
    user: &User,
    redirect_url: &str,
    record: bool,
) -> Result<Response, AuthApiError> {
    if user.status == "inactive" {
        return Err(AuthApiError::user_inactive());
    }
    if user.status != "active" {
        state.store.set_status(&user.id, "active").await?;
    }
    if record {
        state.store.record_login(&user.id).await?;
    }
    let result = auth_result(state, &user.id, redirect_url).await?;
    Ok(ok(json!({ "auth_result": result })))
}

/// An auth token for `user_id` and a new refresh token (kept as its hash).
async fn auth_result(
    state: &Shared,
    user_id: &str,
    redirect_url: &str,
) -> Result<Value, AuthApiError> {
    let settings = &state.settings;
    let now = crate::store::now().unix_timestamp();
    let token = TokenBuilder::new(Arc::clone(&state.passage), user_id)
        .claim(
            "iss",
            format!("{}/v1/apps/{}", settings.public_auth_url, settings.app_id),
        )
        .claim("iat", now)
        .claim("nbf", now)
        .expires_in(settings.session_length)
        .sign()
        .map_err(|err| {
            tracing::error!(error = %err, "passage-server: a token could not be signed");
            AuthApiError::internal()
        })?;
    let refresh_token = random_token()?;
    let expires_at =
        now.saturating_add(i64::try_from(settings.refresh_lifetime.as_secs()).unwrap_or(i64::MAX));
    state
        .store
        .insert_refresh_token(RefreshToken {
            hash: hash(&refresh_token),
            user_id: user_id.to_owned(),
            expires_at,
        })
        .await?;
    Ok(json!({
        "auth_token": token,
        "redirect_url": if redirect_url.trim().is_empty() { "/" } else { redirect_url },
        "refresh_token": refresh_token,
        "refresh_token_expiration": expires_at,
    }))
}

/// 32 random bytes, base64url: a refresh token.
fn random_token() -> Result<String, AuthApiError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).map_err(|_| {
        tracing::error!("passage-server: the system random source failed");
        AuthApiError::internal()
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// How a refresh token is kept: its SHA-256, hex.
fn hash(token: &str) -> String {
    digest::digest(&digest::SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[derive(Deserialize)]
pub(crate) struct RefreshRequest {
    refresh_token: String,
}

/// `POST /tokens {refresh_token}`: a new auth token and a new refresh token; the old one stops
/// working (a second use is refused).
pub(crate) async fn refresh(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<RefreshRequest>,
) -> Result<Response, AuthApiError> {
    let refused = || AuthApiError::unauthorized("the refresh token is not valid");
    let token = state
        .store
        .take_refresh_token(&hash(&request.refresh_token))
        .await?
        .ok_or_else(refused)?;
    if token.expires_at <= crate::store::now().unix_timestamp() {
        return Err(refused());
    }
    let user = state
        .store
        .user(&token.user_id)
        .await?
        .ok_or_else(refused)?;
    if user.status != "active" {
        return Err(AuthApiError::user_inactive());
    }
    let result = auth_result(&state, &user.id, &state.settings.redirect_url).await?;
    Ok(ok(json!({ "auth_result": result })))
}

#[derive(Deserialize)]
pub(crate) struct SignOut {
    #[serde(default)]
    refresh_token: Option<String>,
}

/// `DELETE /tokens?refresh_token=`: revokes the refresh token. Succeeds for an unknown token
/// too: signing out twice is not an error, and the answer tells nothing about tokens.
pub(crate) async fn sign_out(
    _: App,
    State(state): State<Shared>,
    Query(request): Query<SignOut>,
) -> Result<Response, AuthApiError> {
    if let Some(token) = request.refresh_token.filter(|t| !t.is_empty()) {
        state.store.take_refresh_token(&hash(&token)).await?;
    }
    Ok(ok(json!({})))
}
