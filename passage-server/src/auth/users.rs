//! Users as the browser sees them: looking one up by identifier (`GET /users`), creating a
//! pending one (`POST /users`), and the signed-in user (`/currentuser`, with a bearer token).
//!
//! A bearer token is validated as an app's backend validates it (passage-core), and then as
//! only this server can: its user must still exist and not be inactive, it must have been
//! issued after the user's last revocation (sign out everywhere, deactivation), and its
//! session (`sid`) must still be live — a token of a signed-out session is refused here at
//! once, though it stays valid for backends until it expires. Changing the account (adding a
//! passkey, an identifier) also needs a recent sign-in: a session signed in within
//! [`recent_sign_in`](super::Settings::recent_sign_in).

use axum::{
    extract::{FromRequestParts, Path, Query, State},
    http::{StatusCode, request::Parts},
    response::Response,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{App, AuthApiError, Body, Shared, ok};
use crate::{
    identifier::{Identifier, IdentifierError},
    store::{SeedUser, Session, User, now},
};

/// An identifier from a request, or the answer that refuses it.
pub(crate) fn identifier(raw: &str) -> Result<Identifier, AuthApiError> {
    Identifier::parse(raw).map_err(refuse_identifier)
}

/// An identifier from a request, of a kind the app allows (`allowed_identifier`).
pub(crate) fn identifier_for(state: &Shared, raw: &str) -> Result<Identifier, AuthApiError> {
    let identifier = identifier(raw)?;
    let allowed = state.settings.identifiers;
    let ok = if identifier.is_email() {
        allowed.email()
    } else {
        allowed.phone()
    };
    if !ok {
        return Err(AuthApiError::new(
            StatusCode::BAD_REQUEST,
            "identifier_not_allowed",
            if identifier.is_email() {
                "identifier: this app signs in with phone numbers, not email addresses"
            } else {
                "identifier: this app signs in with email addresses, not phone numbers"
            },
        ));
    }
    Ok(identifier)
}

/// The answer for an identifier that does not parse.
pub(crate) fn refuse_identifier(err: IdentifierError) -> AuthApiError {
    AuthApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_identifier",
        format!("identifier: {err}"),
    )
}

/// A new pending user with this identifier.
pub(crate) fn seed(identifier: &Identifier) -> SeedUser {
    let mut seed = SeedUser::default();
    match identifier {
        Identifier::Email(email) => seed.email = Some(email.clone()),
        Identifier::Phone(phone) => seed.phone = Some(phone.clone()),
    }
    seed.status = Some("pending".to_owned());
    seed
}

/// The public user shape `GET /users` and the handshakes answer: no devices, no history.
/// `webauthn_types` lists `security_key` beside `passkey` for a user with passkeys: every
/// WebAuthn browser can use a security key, so the element always offers the passkey
/// sign-in (with `passkey` alone it falls back to a magic link where it cannot detect a
/// platform authenticator, e.g. headless or Linux browsers).
pub(crate) fn public_user(user: &User) -> Value {
    let types: &[&str] = if user.webauthn_devices.is_empty() {
        &[]
    } else {
        &["passkey", "security_key"]
    };
    json!({
        "id": user.id,
        "email": user.email,
        "email_verified": user.email_verified,
        "phone": user.phone,
        "phone_verified": user.phone_verified,
        "status": user.status,
        "user_metadata": user.user_metadata,
        "webauthn": !user.webauthn_devices.is_empty(),
        "webauthn_types": types,
    })
}

#[derive(Deserialize)]
pub(crate) struct Lookup {
    identifier: String,
}

/// `GET /users?identifier=` → `{user}`, or `{user: null}` (200) when nobody has it.
pub(crate) async fn lookup(
    _: App,
    State(state): State<Shared>,
    query: Result<Query<Lookup>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, AuthApiError> {
    let Query(lookup) = query.map_err(|_| AuthApiError::bad_request("identifier: is required"))?;
    let identifier = identifier(&lookup.identifier)?;
    let user = state.store.user_by_identifier(identifier.as_str()).await?;
    Ok(ok(json!({ "user": user.as_ref().map(public_user) })))
}

#[derive(Deserialize)]
pub(crate) struct Create {
    identifier: String,
    #[serde(default)]
    user_metadata: Option<serde_json::Map<String, Value>>,
}

/// `POST /users {identifier, user_metadata}` → `{user}`: a pending user (when sign-up is open),
/// with the values of the app's fields asked at registration — each of its declared type and
/// size; every other key is ignored (an app may keep authorization data such as `role` in
/// metadata: a browser never writes it). A pending user who already exists is returned with
/// the values sent now (the element calls this again when a registration is resumed).
pub(crate) async fn create(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<Create>,
) -> Result<Response, AuthApiError> {
    let identifier = identifier_for(&state, &request.identifier)?;
    let metadata = match &request.user_metadata {
        Some(sent) => Some(
            state
                .passage
                .fields
                .check(sent, None, crate::fields::Writer::Registration)
                .map_err(invalid_metadata)?,
        ),
        None => None,
    };
    let mut user = pending_user(&state, &identifier).await?;
    if let Some(metadata) = metadata.filter(|m| !m.is_empty()) {
        let change = crate::store::Change {
            user_metadata: Some(metadata),
            ..crate::store::Change::default()
        };
        user = state.store.update_user(&user.id, change).await?;
    }
    Ok(ok(json!({ "user": public_user(&user) })))
}

/// The answer for metadata that does not fit the app's fields.
pub(crate) fn invalid_metadata(err: crate::fields::FieldError) -> AuthApiError {
    AuthApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_user_metadata",
        err.to_string(),
    )
}

/// The user with `identifier`, who may sign in: 404 `user_not_found` when nobody has it, 403
/// `user_inactive` when they are deactivated.
pub(crate) async fn signing_in(
    state: &Shared,
    identifier: &Identifier,
) -> Result<User, AuthApiError> {
    let user = state
        .store
        .user_by_identifier(identifier.as_str())
        .await?
        .ok_or_else(AuthApiError::user_not_found)?;
    if user.status == "inactive" {
        return Err(AuthApiError::user_inactive());
    }
    Ok(user)
}

/// The pending user with `identifier`, created when nobody has it (and sign-up is open).
/// Refused when an active or inactive user has it: registering is not how they sign in.
pub(crate) async fn pending_user(
    state: &Shared,
    identifier: &Identifier,
) -> Result<User, AuthApiError> {
    match state.store.user_by_identifier(identifier.as_str()).await? {
        Some(user) if user.status == "pending" => Ok(user),
        Some(_) => Err(AuthApiError::new(
            StatusCode::CONFLICT,
            "identifier_already_exists",
            "an account with this identifier already exists; sign in instead",
        )),
        None if !state.settings.public_signup => Err(AuthApiError::new(
            StatusCode::FORBIDDEN,
            "public_signup_disabled",
            // passage-elements shows this text as is when it starts with "Public signup".
            "Public signup is disabled for this app",
        )),
        None => {
            let user = state.store.insert_user(seed(identifier)).await?;
            trim_sign_ups(state).await;
            Ok(user)
        }
    }
}

/// Keeps unfinished sign-ups within `max_pending_users` as they come (anonymous callers can
/// start thousands a second; each is a row on disk until it expires): every tenth of the bound,
/// the oldest beyond it go — so at most a tenth more are held between two trims, per replica.
async fn trim_sign_ups(state: &Shared) {
    use std::sync::atomic::Ordering;
    let max = state.settings.max_pending_users;
    let every = (max / 10).max(1);
    if state.sign_ups.fetch_add(1, Ordering::Relaxed) + 1 < every {
        return;
    }
    state.sign_ups.store(0, Ordering::Relaxed);
    let ttl =
        time::Duration::try_from(state.settings.pending_user_ttl).unwrap_or(time::Duration::DAY);
    match state
        .store
        .expire_pending(crate::store::now() - ttl, max)
        .await
    {
        Ok(0) => {}
        Ok(removed) => tracing::warn!(
            removed,
            max,
            "passage-server: more unfinished sign-ups than --max-pending-users: the oldest were removed"
        ),
        Err(err) => {
            crate::metrics::store_error("authentication");
            tracing::error!(error = %err, "passage-server: unfinished sign-ups could not be trimmed");
        }
    }
}

/// The user a request's bearer token names, and the token's session — validated as an app's
/// backend validates it, and as only this server can (see the module's docs).
pub(crate) struct CurrentUser {
    pub(crate) user: User,
    pub(crate) session: Session,
}

impl FromRequestParts<Shared> for CurrentUser {
    type Rejection = AuthApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        App::from_request_parts(parts, state).await?;
        let claims = state
            .verifier
            .auth()
            .authenticate(&parts.headers)
            .await
            .map_err(|err| {
                tracing::debug!(error = %err, "passage-server: a bearer token was refused");
                AuthApiError::unauthorized(err.to_string())
            })?;
        let user = state
            .store
            .user(claims.user_id())
            .await?
            .ok_or_else(|| AuthApiError::unauthorized("the token's user no longer exists"))?;
        if user.status == "inactive" {
            return Err(AuthApiError::user_inactive());
        }
        let issued = claims
            .issued_at()
            .and_then(|iat| i64::try_from(iat).ok())
            .unwrap_or(0);
        if issued <= user.revoked_at {
            return Err(AuthApiError::unauthorized(
                "the token was issued before its sessions were revoked",
            ));
        }
        let ended = || AuthApiError::unauthorized("the token's session has ended");
        let session_id = claims
            .get("sid")
            .and_then(Value::as_str)
            .ok_or_else(ended)?;
        let session = state
            .store
            .session(session_id)
            .await?
            .filter(|s| s.user_id == user.id && s.is_live(now().unix_timestamp()))
            .ok_or_else(ended)?;
        Ok(Self { user, session })
    }
}

/// [`CurrentUser`] who signed in recently: what changing the account needs.
pub(crate) struct RecentUser(pub(crate) User);

impl FromRequestParts<Shared> for RecentUser {
    type Rejection = AuthApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let CurrentUser { user, session } = CurrentUser::from_request_parts(parts, state).await?;
        let window = i64::try_from(state.settings.recent_sign_in.as_secs()).unwrap_or(i64::MAX);
        if now().unix_timestamp() > session.signed_in_at.saturating_add(window) {
            return Err(AuthApiError::new(
                StatusCode::FORBIDDEN,
                "recent_sign_in_required",
                "sign in again to change your account",
            ));
        }
        Ok(Self(user))
    }
}

/// `GET /currentuser` → `{user}` with its devices.
pub(crate) async fn current(CurrentUser { user, .. }: CurrentUser) -> Response {
    ok(json!({ "user": user }))
}

/// `GET /currentuser/devices` → `{devices}`.
pub(crate) async fn devices(CurrentUser { user, .. }: CurrentUser) -> Response {
    ok(json!({ "devices": user.webauthn_devices }))
}

/// `DELETE /currentuser/devices/{device_id}`: removes one of the user's passkeys.
pub(crate) async fn revoke_device(
    RecentUser(user): RecentUser,
    State(state): State<Shared>,
    Path((_, device_id)): Path<(String, String)>,
) -> Result<Response, AuthApiError> {
    state.store.revoke_device(&user.id, &device_id).await?;
    Ok(ok(json!({})))
}
