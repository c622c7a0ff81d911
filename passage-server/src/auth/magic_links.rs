//! Magic links from the element: sending one (`/login/magic-link`, `/register/magic-link`),
//! activating it from the link (`PATCH /magic-link/activate`), and the page that sent it
//! collecting the sign-in (`POST /magic-link/status`). Links are single use, expire, and go
//! to `auth_origin + magic_link_path` with `?psg_magic_link=`, where the element activates them.

use crate::store::{MagicLink, now, random_id};
use axum::{extract::State, http::StatusCode, response::Response};
use serde::Deserialize;
use serde_json::json;

use super::{
    App, AuthApiError, Body, Shared, ok, sessions,
    users::{Identifier, pending_user},
};

#[derive(Deserialize)]
pub(crate) struct Send {
    identifier: String,
    #[serde(default)]
    magic_link_path: Option<String>,
}

/// `POST /login/magic-link {identifier, language, magic_link_path}` → `{magic_link: {id}}`.
pub(crate) async fn login(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<Send>,
) -> Result<Response, AuthApiError> {
    let identifier = deliverable(&state, &request.identifier)?;
    let user = state
        .store
        .user_by_identifier(identifier.as_str())
        .await?
        .ok_or_else(AuthApiError::user_not_found)?;
    if user.status == "inactive" {
        return Err(AuthApiError::user_inactive());
    }
    count_send(&state, &identifier)?;
    send(
        &state,
        &user.id,
        &identifier,
        "login",
        request.magic_link_path.as_deref(),
    )
    .await
}

/// `POST /register/magic-link {identifier, language, magic_link_path}` → `{magic_link: {id}}`:
/// the pending user is created (when sign-up is open) and signs in by the link.
pub(crate) async fn register(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<Send>,
) -> Result<Response, AuthApiError> {
    let identifier = deliverable(&state, &request.identifier)?;
    count_send(&state, &identifier)?;
    let user = pending_user(&state, &identifier).await?;
    send(
        &state,
        &user.id,
        &identifier,
        "register",
        request.magic_link_path.as_deref(),
    )
    .await
}

/// The identifier, if a link can be sent to it: an email address, with mail set up.
fn deliverable(state: &Shared, raw: &str) -> Result<Identifier, AuthApiError> {
    if !state.mailer.delivers() {
        return Err(unavailable(
            "magic links are off: this server has no SMTP settings",
        ));
    }
    match Identifier::parse(raw)? {
        Identifier::Phone(_) => Err(unavailable("magic links by text message are not supported")),
        email => Ok(email),
    }
}

/// Counts a link to `identifier` (before anything is stored), or refuses it: the address has
/// had its share of links.
fn count_send(state: &Shared, identifier: &Identifier) -> Result<(), AuthApiError> {
    state.sends.try_send(identifier.as_str()).map_err(|wait| {
        tracing::warn!("passage-server: magic-link limit reached for an address; refused");
        AuthApiError::too_many_requests(
            "too many magic links were sent to this address; try again later",
            wait,
        )
    })
}

fn unavailable(message: &str) -> AuthApiError {
    AuthApiError::new(StatusCode::BAD_REQUEST, "magic_link_unavailable", message)
}

/// Creates, keeps and delivers a link.
async fn send(
    state: &Shared,
    user_id: &str,
    identifier: &Identifier,
    kind: &str,
    path: Option<&str>,
) -> Result<Response, AuthApiError> {
    let settings = &state.settings;
    let secret = random_id();
    let ttl = time::Duration::try_from(settings.magic_link_ttl).unwrap_or(time::Duration::MINUTE);
    let link = MagicLink {
        id: random_id(),
        app_id: settings.app_id.clone(),
        identifier: identifier.as_str().to_owned(),
        redirect_url: settings.redirect_url.clone(),
        url: link_url(&settings.auth_origin, path, &secret),
        secret,
        user_id: user_id.to_owned(),
        activated: false,
        ttl: ttl.whole_minutes().max(1),
        kind: kind.to_owned(),
        expires_at: now() + ttl,
        collected: false,
        delivered: true,
    };
    state.store.insert_magic_link(link.clone()).await?;
    if let Err(cause) = state
        .mailer
        .send_link(&settings.app_name, identifier.as_str(), &link.url)
        .await
    {
        tracing::error!(cause = %cause, "passage-server: a magic link could not be sent");
        return Err(AuthApiError::new(
            StatusCode::BAD_GATEWAY,
            "magic_link_not_sent",
            "the magic link could not be sent; try again later",
        ));
    }
    Ok(ok(json!({ "magic_link": { "id": link.id } })))
}

/// `origin + path` with `psg_magic_link=ml<secret>` added to its query (before any fragment),
/// as a URL on the app's origin. The path comes from the page, so only a plain local path is
/// used — short, without white space, control characters or backslashes, not `//…` — and the
/// result must parse to the same origin; anything else becomes `/`. A link must never lead
/// elsewhere, nor carry text of the caller's into the app's mail.
fn link_url(origin: &str, path: Option<&str>, secret: &str) -> String {
    let plain = |p: &&str| {
        p.len() <= 512
            && p.starts_with('/')
            && !p.starts_with("//")
            && !p
                .chars()
                .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    };
    path.filter(plain)
        .and_then(|path| on_origin(origin, &joined(origin, path, secret)))
        .unwrap_or_else(|| joined(origin, "/", secret))
}

/// `url`, serialized, if it parses and is on `origin`.
fn on_origin(origin: &str, url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    (url.origin().ascii_serialization() == origin).then(|| url.to_string())
}

fn joined(origin: &str, path: &str, secret: &str) -> String {
    let (path, fragment) = path
        .split_once('#')
        .map_or((path, None), |(p, f)| (p, Some(f)));
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("{origin}{path}{separator}psg_magic_link=ml{secret}");
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

#[derive(Deserialize)]
pub(crate) struct Activate {
    magic_link: String,
}

/// `PATCH /magic-link/activate {magic_link}` → `{auth_result}`; an unknown, used or expired
/// link is 404 (the element shows "invalid link").
pub(crate) async fn activate(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<Activate>,
) -> Result<Response, AuthApiError> {
    let secret = request
        .magic_link
        .strip_prefix("ml")
        .unwrap_or(&request.magic_link);
    let link = state
        .store
        .activate_magic_link(secret, now())
        .await?
        .ok_or_else(|| {
            AuthApiError::new(
                StatusCode::NOT_FOUND,
                "magic_link_not_found",
                "this link is not valid: it was used, has expired, or never existed",
            )
        })?;
    let user = state
        .store
        .user(&link.user_id)
        .await?
        .ok_or_else(AuthApiError::user_not_found)?;
    sessions::sign_in(&state, &user, &link.redirect_url).await
}

#[derive(Deserialize)]
pub(crate) struct Status {
    id: String,
}

/// `POST /magic-link/status {id}` → `{auth_result}` once the link was activated (once: the
/// sign-in is handed to one waiting page); until then 404, which the element polls past.
pub(crate) async fn status(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<Status>,
) -> Result<Response, AuthApiError> {
    let not_yet = || {
        AuthApiError::new(
            StatusCode::NOT_FOUND,
            "magic_link_not_activated",
            "the link has not been used yet",
        )
    };
    let link = state
        .store
        .magic_link(&request.id)
        .await?
        .ok_or_else(not_yet)?;
    if !link.activated || !state.store.collect_magic_link(&link.id).await? {
        return Err(not_yet());
    }
    let user = state
        .store
        .user(&link.user_id)
        .await?
        .ok_or_else(AuthApiError::user_not_found)?;
    sessions::another_session(&state, &user, &link.redirect_url).await
}
