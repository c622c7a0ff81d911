//! Sessions: the `auth_result` every sign-in ends with (an auth token and a refresh token, both
//! of one new session), refreshing (`POST /tokens`), and signing out (`DELETE /tokens`).
//!
//! A session lives until it is signed out, revoked (sign out everywhere, deactivation), its
//! refresh token is presented a second time (someone holds a copy: the whole session ends, as
//! the OAuth 2.0 Security BCP asks), it goes unused for the inactivity lifetime, or its
//! absolute lifetime ends — refreshing never extends that. Every auth token names its session
//! (`sid`), so the server's own API refuses a token once its session has ended.

use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use axum::{
    extract::{Query, State},
    response::Response,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{App, AuthApiError, Body, Shared, ok};
use crate::{
    store::{PasskeyUse, Refresh, RefreshToken, Session, SignIn, User, hash, now, random_id},
    token::TokenBuilder,
};

/// Signs `user` in: records the sign-in, starts a session, and answers `{auth_result}`.
pub(crate) async fn sign_in(
    state: &Shared,
    user: &User,
    redirect_url: &str,
) -> Result<Response, AuthApiError> {
    session(state, user, redirect_url, true, None).await
}

/// [`sign_in`] as the user a magic link or a code was for (gone since: 404 `user_not_found`).
pub(crate) async fn sign_in_as(
    state: &Shared,
    user_id: &str,
    redirect_url: &str,
) -> Result<Response, AuthApiError> {
    let user = state
        .store
        .user(user_id)
        .await?
        .ok_or_else(AuthApiError::user_not_found)?;
    sign_in(state, &user, redirect_url).await
}

/// [`sign_in`] with a passkey: its new material (the counter) is kept in the same store step
/// as the login and the session, if no other sign-in changed it meanwhile.
pub(crate) async fn sign_in_with_passkey(
    state: &Shared,
    user: &User,
    used: PasskeyUse,
    redirect_url: &str,
) -> Result<Response, AuthApiError> {
    session(state, user, redirect_url, true, Some(used)).await
}

/// A second session for a sign-in already recorded (the page that waited for a magic link).
pub(crate) async fn another_session(
    state: &Shared,
    user: &User,
    redirect_url: &str,
) -> Result<Response, AuthApiError> {
    session(state, user, redirect_url, false, None).await
}

async fn session(
    state: &Shared,
    user: &User,
    redirect_url: &str,
    record: bool,
    passkey: Option<PasskeyUse>,
) -> Result<Response, AuthApiError> {
    if user.status == "inactive" {
        return Err(AuthApiError::user_inactive());
    }
    after_revocation(user.revoked_at).await;
    let now = now().unix_timestamp();
    let settings = &state.settings;
    let session = Session {
        id: random_id(),
        user_id: user.id.clone(),
        signed_in_at: now,
        refreshed_at: now,
        expires_at: now.saturating_add(secs(settings.refresh_absolute_lifetime)),
        ended: false,
    };
    let refresh_token = random_token()?;
    let token = RefreshToken {
        hash: hash(&refresh_token),
        session_id: session.id.clone(),
        user_id: user.id.clone(),
        expires_at: inactivity_end(state, now, session.expires_at),
    };
    let expires_at = token.expires_at;
    let session_id = session.id.clone();
    state
        .store
        .sign_in(SignIn {
            passkey,
            record_login: record,
            session,
            token,
        })
        .await?;
    let result = auth_result(
        state,
        &user.id,
        &session_id,
        redirect_url,
        &refresh_token,
        expires_at,
    )?;
    Ok(ok(json!({ "auth_result": result })))
}

/// Waits, when the user's sessions were revoked in this very second, for the next one: tokens
/// issued at or before a revocation's second are refused (`iat ≤ revoked_at`, the rule every
/// validator applies), and a sign-in right after "sign out everywhere" must not get a dead token.
async fn after_revocation(revoked_at: i64) {
    let now = now();
    if revoked_at >= now.unix_timestamp() {
        let next =
            time::OffsetDateTime::from_unix_timestamp(revoked_at.saturating_add(1)).unwrap_or(now);
        let wait = (next - now).clamp(time::Duration::ZERO, time::Duration::seconds(2));
        tokio::time::sleep(wait.unsigned_abs()).await;
    }
}

fn secs(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// When a refresh token issued `now` stops working unused: the inactivity lifetime, never past
/// the session's end.
fn inactivity_end(state: &Shared, now: i64, session_end: i64) -> i64 {
    now.saturating_add(secs(state.settings.refresh_inactivity_lifetime))
        .min(session_end)
}

/// An auth token for `user_id` in `session_id`, with its refresh token.
fn auth_result(
    state: &Shared,
    user_id: &str,
    session_id: &str,
    redirect_url: &str,
    refresh_token: &str,
    refresh_expires_at: i64,
) -> Result<Value, AuthApiError> {
    let settings = &state.settings;
    let now = now().unix_timestamp();
    let token = TokenBuilder::new(Arc::clone(&state.passage), user_id)
        .claim(
            "iss",
            format!("{}/v1/apps/{}", settings.public_auth_url, settings.app_id),
        )
        .claim("iat", now)
        .claim("nbf", now)
        .claim("sid", session_id)
        .expires_in(settings.session_length)
        .sign()
        .map_err(|err| {
            tracing::error!(error = %err, "passage-server: a token could not be signed");
            AuthApiError::internal()
        })?;
    Ok(json!({
        "auth_token": token,
        "redirect_url": if redirect_url.trim().is_empty() { "/" } else { redirect_url },
        "refresh_token": refresh_token,
        "refresh_token_expiration": refresh_expires_at,
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

#[derive(Deserialize)]
pub(crate) struct RefreshRequest {
    refresh_token: String,
}

/// `POST /tokens {refresh_token}`: a new auth token and a new refresh token in the same
/// session; the old one is used up. Presented again, it ends the session.
pub(crate) async fn refresh(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<RefreshRequest>,
) -> Result<Response, AuthApiError> {
    let refused = || AuthApiError::unauthorized("the refresh token is not valid");
    let now = now().unix_timestamp();
    let refresh_token = random_token()?;
    let next = RefreshToken {
        hash: hash(&refresh_token),
        // Filled in by the store from the session of the token presented.
        session_id: String::new(),
        user_id: String::new(),
        expires_at: inactivity_end(&state, now, i64::MAX),
    };
    let session = match state
        .store
        .refresh(&hash(&request.refresh_token), next, now)
        .await?
    {
        Refresh::Rotated(session) => session,
        Refresh::Reused => {
            tracing::warn!(
                "passage-server: a refresh token was presented a second time: its session was ended (a copy of it is in someone's hands)"
            );
            return Err(refused());
        }
        _ => return Err(refused()),
    };
    let user = state
        .store
        .user(&session.user_id)
        .await?
        .ok_or_else(refused)?;
    if user.status != "active" {
        return Err(AuthApiError::user_inactive());
    }
    let expires_at = inactivity_end(&state, now, session.expires_at);
    let result = auth_result(
        &state,
        &user.id,
        &session.id,
        &state.settings.redirect_url,
        &refresh_token,
        expires_at,
    )?;
    Ok(ok(json!({ "auth_result": result })))
}

#[derive(Deserialize)]
pub(crate) struct SignOut {
    #[serde(default)]
    refresh_token: Option<String>,
}

/// `DELETE /tokens?refresh_token=`: ends the session of that refresh token (its auth tokens are
/// refused by this server from now on). Succeeds for an unknown token too: signing out twice is
/// not an error, and the answer tells nothing about tokens.
pub(crate) async fn sign_out(
    _: App,
    State(state): State<Shared>,
    Query(request): Query<SignOut>,
) -> Result<Response, AuthApiError> {
    if let Some(token) = request.refresh_token.filter(|t| !t.is_empty()) {
        state.store.end_session(&hash(&token)).await?;
    }
    Ok(ok(json!({})))
}
