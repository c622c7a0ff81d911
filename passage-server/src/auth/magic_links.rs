//! Magic links from the element: sending one (`/login/magic-link`, `/register/magic-link`),
//! activating it from the link (`PATCH /magic-link/activate`), and the page that asked for it
//! collecting the sign-in (`POST /magic-link/status`). Links are single use, expire, are kept
//! only as the hash of their secret, and go to `auth_origin + magic_link_path` with
//! `?psg_magic_link=`, where the element activates them.
//!
//! **Bound to the browser that asked.** `/passage-fetch.js` gives each browser a random id (in
//! the app's `localStorage`) and sends it as `Passage-Browser` with every call. A link keeps the
//! hash of the id that asked for it; opening the link signs in the browser that opens it, and
//! the page that waits for it gets a session only when the link was opened in that same
//! browser. Otherwise whoever types a victim's address and waits would be signed in as the
//! victim the moment the victim clicks the mail.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde::Deserialize;
use serde_json::json;

use super::{
    App, AuthApiError, Body, Shared, deliver, limits, ok, sessions,
    users::{identifier_for, pending_user, signing_in},
};
use crate::{
    identifier::Identifier,
    store::{Activation, MagicLink, hash, now, random_id},
};

/// The header `/passage-fetch.js` sends with the browser's id.
pub(crate) const BROWSER_HEADER: &str = "passage-browser";

/// The hash of the calling browser's id, when it sent a well-formed one.
fn browser(headers: &HeaderMap) -> Option<String> {
    let id = headers.get(BROWSER_HEADER)?.to_str().ok()?;
    let well_formed = (16..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| hash(id))
}

#[derive(Deserialize)]
pub(crate) struct Send {
    identifier: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    magic_link_path: Option<String>,
}

/// `POST /login/magic-link {identifier, language, magic_link_path}` → `{magic_link: {id}}`.
pub(crate) async fn login(
    _: App,
    State(state): State<Shared>,
    headers: HeaderMap,
    Body(request): Body<Send>,
) -> Result<Response, AuthApiError> {
    let identifier = deliverable(&state, &request.identifier)?;
    let user = signing_in(&state, &identifier).await?;
    limits::count(&state, &identifier).await?;
    send(
        &state,
        &user.id,
        &identifier,
        "login",
        &request,
        browser(&headers),
    )
    .await
}

/// `POST /register/magic-link {identifier, language, magic_link_path}` → `{magic_link: {id}}`:
/// the pending user is created (when sign-up is open) and signs in by the link.
pub(crate) async fn register(
    _: App,
    State(state): State<Shared>,
    headers: HeaderMap,
    Body(request): Body<Send>,
) -> Result<Response, AuthApiError> {
    let identifier = deliverable(&state, &request.identifier)?;
    limits::count(&state, &identifier).await?;
    let user = pending_user(&state, &identifier).await?;
    send(
        &state,
        &user.id,
        &identifier,
        "register",
        &request,
        browser(&headers),
    )
    .await
}

/// The identifier, if the app offers magic links and one can be sent to it (mail set up for an
/// email address, an SMS webhook for a phone number).
fn deliverable(state: &Shared, raw: &str) -> Result<Identifier, AuthApiError> {
    if !state.settings.auth_methods.magic_link {
        return Err(unavailable("this app does not offer magic links"));
    }
    let identifier = identifier_for(state, raw)?;
    if !deliver::reaches(state, &identifier) {
        return Err(unavailable(if identifier.is_email() {
            "magic links are off: this server has no SMTP settings"
        } else {
            "magic links by text message are off: this server has no SMS webhook"
        }));
    }
    Ok(identifier)
}

fn unavailable(message: &str) -> AuthApiError {
    AuthApiError::new(StatusCode::BAD_REQUEST, "magic_link_unavailable", message)
}

/// Creates, keeps (as the hash of its secret) and delivers a link.
async fn send(
    state: &Shared,
    user_id: &str,
    identifier: &Identifier,
    kind: &str,
    request: &Send,
    browser: Option<String>,
) -> Result<Response, AuthApiError> {
    let path = request.magic_link_path.as_deref();
    let origin = &state.settings.auth_origin;
    let link = new_link(state, user_id, identifier, kind, browser, |secret| {
        link_url(origin, path, secret)
    });
    keep_and_deliver(state, &link, identifier, request.language.as_deref(), false).await
}

/// A new link of `kind` to `identifier` for `user_id`, delivered by this server (so opening it
/// verifies the address), at the URL `url` makes of its secret, for the configured lifetime.
pub(crate) fn new_link(
    state: &Shared,
    user_id: &str,
    identifier: &Identifier,
    kind: &str,
    browser: Option<String>,
    url: impl FnOnce(&str) -> String,
) -> MagicLink {
    let settings = &state.settings;
    let secret = random_id();
    let ttl = time::Duration::try_from(settings.magic_link_ttl).unwrap_or(time::Duration::MINUTE);
    MagicLink {
        id: random_id(),
        app_id: settings.app_id.clone(),
        identifier: identifier.as_str().to_owned(),
        redirect_url: settings.redirect_url.clone(),
        url: url(&secret),
        secret_hash: hash(&secret),
        secret,
        user_id: user_id.to_owned(),
        activated: false,
        ttl: ttl.whole_minutes().max(1),
        kind: kind.to_owned(),
        expires_at: now() + ttl,
        collected: false,
        delivered: true,
        browser,
        same_browser: false,
        code: false,
        tries: 0,
    }
}

/// Keeps `link` (as the hash of its secret) and sends it to `identifier` (`verify`: a link that
/// confirms a new address): `{magic_link: {id}}`, or 502 `magic_link_not_sent`.
pub(crate) async fn keep_and_deliver(
    state: &Shared,
    link: &MagicLink,
    identifier: &Identifier,
    language: Option<&str>,
    verify: bool,
) -> Result<Response, AuthApiError> {
    state.store.insert_magic_link(link.clone()).await?;
    deliver::send(
        state,
        identifier,
        language,
        deliver::Message::Link {
            url: &link.url,
            verify,
        },
        "magic_link_not_sent",
    )
    .await?;
    Ok(ok(json!({ "magic_link": { "id": link.id } })))
}

/// `origin + path` with `psg_magic_link=ml<secret>` added to its query (before any fragment),
/// as a URL on the app's origin. The path comes from the page, so only a plain local path is
/// used — short, without white space, control characters or backslashes — and the result,
/// once parsed (dot segments resolved, as a browser resolves them), must be on the same origin
/// with a path that does not start with `//`; anything else becomes `/`. A link must never lead
/// elsewhere, nor carry text of the caller's into the app's mail.
pub(crate) fn link_url(origin: &str, path: Option<&str>, secret: &str) -> String {
    link_url_with(origin, path, "psg_magic_link", secret)
}

/// [`link_url`] with another query parameter (`psg_verify_link`: a link that confirms a new
/// address, which the element activates and reports as a change).
pub(crate) fn link_url_with(origin: &str, path: Option<&str>, param: &str, secret: &str) -> String {
    let plain = |p: &&str| {
        p.len() <= 512
            && p.starts_with('/')
            && !p.starts_with("//")
            && !p
                .chars()
                .any(|c| c == '\\' || c.is_whitespace() || c.is_control())
    };
    path.filter(plain)
        .and_then(|path| on_origin(origin, &joined(origin, path, param, secret)))
        .unwrap_or_else(|| joined(origin, "/", param, secret))
}

/// `url`, serialized, if it parses, is on `origin`, and its path cannot be read as another
/// host's (`//host/…`, even after percent-decoding or dot segments).
fn on_origin(origin: &str, url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    let path = url.path();
    let decoded = percent_decode(path);
    let safe = !path.starts_with("//")
        && !decoded.starts_with("//")
        && !decoded.starts_with("/\\")
        && !decoded.contains("/./")
        && !decoded.contains("/../");
    (safe && url.origin().ascii_serialization() == origin).then(|| url.to_string())
}

/// `%2e`, `%2f`, `%5c` and the like decoded (once: enough to see what a server would route).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `origin + path` with this link's `param` (`psg_magic_link`, `psg_verify_link`) as the only
/// `psg_` parameter: the page's
/// own parameters stay, but one it slipped in under a Passage name (`psg_magic_link`, even
/// percent-encoded) is dropped — the element reads the first `psg_magic_link`, and a caller's
/// would sign the mail's recipient in to the caller's account.
fn joined(origin: &str, path: &str, param: &str, secret: &str) -> String {
    let (path, fragment) = path
        .split_once('#')
        .map_or((path, None), |(p, f)| (p, Some(f)));
    let (path, query) = path.split_once('?').map_or((path, ""), |(p, q)| (p, q));
    let mut url = format!("{origin}{path}?");
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        let name = percent_decode(&name.replace('+', " ")).to_ascii_lowercase();
        if !name.trim_start().starts_with("psg_") {
            url.push_str(pair);
            url.push('&');
        }
    }
    url.push_str(param);
    url.push_str("=ml");
    url.push_str(secret);
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
/// link is 404 (the element shows "invalid link"); a link of an inactive user is 403 and stays
/// unused.
pub(crate) async fn activate(
    _: App,
    State(state): State<Shared>,
    headers: HeaderMap,
    Body(request): Body<Activate>,
) -> Result<Response, AuthApiError> {
    let secret = request
        .magic_link
        .strip_prefix("ml")
        .unwrap_or(&request.magic_link);
    let opened_in = browser(&headers);
    let link = match state
        .store
        .activate_magic_link(&hash(secret), opened_in.as_deref(), now())
        .await?
    {
        Activation::Activated(link) => link,
        Activation::Changed { link, previous } => {
            // The old address is told (a change its owner did not make is then noticed).
            if let Ok(old) = Identifier::parse(&previous) {
                let told = deliver::send(
                    &state,
                    &old,
                    None,
                    deliver::Message::Changed {
                        new: &link.identifier,
                    },
                    "notice_not_sent",
                )
                .await;
                if told.is_err() {
                    tracing::warn!("passage-server: the old address was not told of a change");
                }
            }
            link
        }
        Activation::Inactive => return Err(AuthApiError::user_inactive()),
        _ => {
            return Err(AuthApiError::new(
                StatusCode::NOT_FOUND,
                "magic_link_not_found",
                "this link is not valid: it was used, has expired, or never existed",
            ));
        }
    };
    sessions::sign_in_as(&state, &link.user_id, &link.redirect_url).await
}

#[derive(Deserialize)]
pub(crate) struct Status {
    id: String,
}

/// `POST /magic-link/status {id}` → `{auth_result}` once the link was opened in the browser
/// that asked for it (once: the sign-in is handed to one waiting page), while it has not
/// expired and its user is active; until then 404, which the element polls past.
pub(crate) async fn status(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<Status>,
) -> Result<Response, AuthApiError> {
    let not_yet = || {
        AuthApiError::new(
            StatusCode::NOT_FOUND,
            "magic_link_not_activated",
            "the link has not been opened in this browser",
        )
    };
    if !state.store.collect_magic_link(&request.id, now()).await? {
        return Err(not_yet());
    }
    let link = state
        .store
        .magic_link(&request.id)
        .await?
        .ok_or_else(not_yet)?;
    let user = state
        .store
        .user(&link.user_id)
        .await?
        .ok_or_else(AuthApiError::user_not_found)?;
    sessions::another_session(&state, &user, &link.redirect_url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_stay_on_the_origin() {
        let origin = "http://localhost:3000";
        for (path, expected) in [
            (
                "/login?next=%2Fme#top",
                "http://localhost:3000/login?next=%2Fme&psg_magic_link=mls#top",
            ),
            ("/a/b", "http://localhost:3000/a/b?psg_magic_link=mls"),
            ("//evil.test/x", "http://localhost:3000/?psg_magic_link=mls"),
            (
                "/.//evil.test/x",
                "http://localhost:3000/?psg_magic_link=mls",
            ),
            (
                "/a/..//evil.test/x",
                "http://localhost:3000/?psg_magic_link=mls",
            ),
            (
                "/%2e//evil.test/x",
                "http://localhost:3000/?psg_magic_link=mls",
            ),
            (
                "/%2F/evil.test/x",
                "http://localhost:3000/?psg_magic_link=mls",
            ),
            (
                "/%5C/evil.test/x",
                "http://localhost:3000/?psg_magic_link=mls",
            ),
            (
                "/\t/evil.test/x",
                "http://localhost:3000/?psg_magic_link=mls",
            ),
            ("/\\evil.test", "http://localhost:3000/?psg_magic_link=mls"),
            // A caller's own psg_magic_link (the element would read the first) never stays.
            (
                "/?psg_magic_link=mlATTACKER",
                "http://localhost:3000/?psg_magic_link=mls",
            ),
            (
                "/welcome?next=%2Fa&psg%5Fmagic%5Flink=mlX&PSG_x=1#top",
                "http://localhost:3000/welcome?next=%2Fa&psg_magic_link=mls#top",
            ),
            (
                "/?+psg_magic_link=mlX&a=1&&",
                "http://localhost:3000/?a=1&psg_magic_link=mls",
            ),
            (
                "https://evil.test/",
                "http://localhost:3000/?psg_magic_link=mls",
            ),
        ] {
            assert_eq!(link_url(origin, Some(path), "s"), expected, "{path:?}");
        }
    }
}
