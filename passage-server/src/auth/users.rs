//! Users as the browser sees them: looking one up by identifier (`GET /users`), creating a
//! pending one (`POST /users`), and the signed-in user (`/currentuser`, with a bearer token).

use crate::store::{SeedUser, User};
use axum::{
    extract::{FromRequestParts, Path, Query, State},
    http::{StatusCode, request::Parts},
    response::Response,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{App, AuthApiError, Body, Shared, ok};

/// An identifier as users type it, normalised: an email address (lower-cased) or an E.164
/// phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identifier {
    Email(String),
    Phone(String),
}

impl Identifier {
    pub(crate) fn parse(raw: &str) -> Result<Self, AuthApiError> {
        let raw = raw.trim();
        if let Some(digits) = raw.strip_prefix('+')
            && (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Ok(Self::Phone(raw.to_owned()));
        }
        let valid_email = raw.len() <= 254
            && raw.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
            })
            && !raw.chars().any(|c| {
                // Mailbox syntax (`name <addr>`, quotes, comments, lists) would let one address
                // pass for many: refused, only a bare address is an identifier.
                c.is_whitespace() || c.is_control() || "<>\"(),;:[]\\".contains(c)
            });
        if valid_email {
            Ok(Self::Email(raw.to_lowercase()))
        } else {
            Err(AuthApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_identifier",
                "identifier: must be an email address or an E.164 phone number",
            ))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Self::Email(s) | Self::Phone(s) => s,
        }
    }

    /// A new pending user with this identifier.
    pub(crate) fn seed(&self) -> SeedUser {
        let mut seed = SeedUser::default();
        match self {
            Self::Email(email) => seed.email = Some(email.clone()),
            Self::Phone(phone) => seed.phone = Some(phone.clone()),
        }
        seed.status = Some("pending".to_owned());
        seed
    }
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
    let identifier = Identifier::parse(&lookup.identifier)?;
    let user = state.store.user_by_identifier(identifier.as_str()).await?;
    Ok(ok(json!({ "user": user.as_ref().map(public_user) })))
}

#[derive(Deserialize)]
pub(crate) struct Create {
    identifier: String,
}

/// `POST /users {identifier}` → `{user}`: a pending user (when sign-up is open). A pending user
/// who already exists is returned as is. `user_metadata` in the request is ignored: the app
/// declares no metadata fields (`user_metadata_schema` is empty), and anything a browser sends
/// unchecked must never land where an app may keep authorization data (`plan`, `role`); apps
/// set metadata through the Management API.
pub(crate) async fn create(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<Create>,
) -> Result<Response, AuthApiError> {
    let identifier = Identifier::parse(&request.identifier)?;
    let user = pending_user(&state, &identifier).await?;
    Ok(ok(json!({ "user": public_user(&user) })))
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
        None => Ok(state.store.insert_user(identifier.seed()).await?),
    }
}

/// The user a request's bearer token names (validated as an app's backend validates it).
pub(crate) struct CurrentUser(pub(crate) User);

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
        Ok(Self(user))
    }
}

/// `GET /currentuser` → `{user}` with its devices.
pub(crate) async fn current(CurrentUser(user): CurrentUser) -> Response {
    ok(json!({ "user": user }))
}

/// `GET /currentuser/devices` → `{devices}`.
pub(crate) async fn devices(CurrentUser(user): CurrentUser) -> Response {
    ok(json!({ "devices": user.webauthn_devices }))
}

/// `DELETE /currentuser/devices/{device_id}`: removes one of the user's passkeys.
pub(crate) async fn revoke_device(
    CurrentUser(user): CurrentUser,
    State(state): State<Shared>,
    Path((_, device_id)): Path<(String, String)>,
) -> Result<Response, AuthApiError> {
    state.store.revoke_device(&user.id, &device_id).await?;
    Ok(ok(json!({})))
}
