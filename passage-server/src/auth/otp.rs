//! One-time passcodes, as passage-elements asks for them: `POST /login/otp` and
//! `POST /register/otp` (`{identifier, language}` → `{otp_id}`) send a 6-digit code to the
//! address, and `POST /otp/activate` (`{otp, otp_id}` → `{auth_result}`) signs in with it.
//!
//! A code is kept as a one-time passcode record beside the magic links, in the store (so any
//! replica can check it): only the SHA-256 of its id and digits, never the digits. It works
//! once, until its lifetime (app info's `auth_methods.otp.ttl`) ends, and for at most
//! [`MAX_TRIES`] wrong tries — counted in the same atomic step as the check, so guesses sent at
//! once are all counted — after which it is dead, even for the right digits (the element reads
//! that answer, 401, as "too many attempts"). Codes to one address are counted with its links
//! ([`limits`](super::limits)): at most `magic_link_limit` messages per window. So a guesser
//! gets at most `MAX_TRIES × magic_link_limit` tries at a million codes per window.

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use axum::{extract::State, http::StatusCode, response::Response};
use serde::Deserialize;
use serde_json::json;

use super::{
    App, AuthApiError, Body, Shared, deliver, limits, ok, sessions,
    users::{identifier_for, pending_user, signing_in},
};
use crate::{
    identifier::Identifier,
    store::{CodeActivation, MagicLink, hash, now, random_id},
};

/// Digits in a code: passage-elements has six inputs and refuses any other length.
pub(crate) const DIGITS: usize = 6;

/// Wrong tries a code survives: the next wrong one kills it.
pub(crate) const MAX_TRIES: u32 = 5;

#[derive(Deserialize)]
pub(crate) struct Send {
    identifier: String,
    #[serde(default)]
    language: Option<String>,
}

/// `POST /login/otp {identifier, language}` → `{otp_id}`: a code for a user who exists (the
/// element also calls it for every resend during a registration, for the pending user).
pub(crate) async fn login(
    _: App,
    State(state): State<Shared>,
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
        request.language.as_deref(),
    )
    .await
}

/// `POST /register/otp {identifier, language}` → `{otp_id}`: the pending user is created
/// (when sign-up is open) and signs in with the code.
pub(crate) async fn register(
    _: App,
    State(state): State<Shared>,
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
        request.language.as_deref(),
    )
    .await
}

/// The identifier, if the app offers codes and a code can be sent to it.
fn deliverable(state: &Shared, raw: &str) -> Result<Identifier, AuthApiError> {
    if !state.settings.auth_methods.otp {
        return Err(AuthApiError::new(
            StatusCode::BAD_REQUEST,
            "otp_unavailable",
            "this app does not offer one-time passcodes",
        ));
    }
    let identifier = identifier_for(state, raw)?;
    if !deliver::reaches(state, &identifier) {
        return Err(AuthApiError::new(
            StatusCode::BAD_REQUEST,
            "otp_unavailable",
            if identifier.is_email() {
                "codes by mail are off: this server has no SMTP settings"
            } else {
                "codes by text message are off: this server has no SMS webhook"
            },
        ));
    }
    Ok(identifier)
}

/// The hash a code is kept as: of its id and its digits (a code's digits alone would be the
/// same for many codes).
fn code_hash(otp_id: &str, code: &str) -> String {
    hash(&format!("otp:{otp_id}:{code}"))
}

/// Six random digits, uniform (rejection sampling: no digit is likelier than another).
fn random_code() -> Result<String, AuthApiError> {
    let random = SystemRandom::new();
    // The largest multiple of 10^6 that fits in a u32.
    const LIMIT: u32 = u32::MAX - u32::MAX % 1_000_000;
    loop {
        let mut bytes = [0u8; 4];
        random.fill(&mut bytes).map_err(|_| {
            tracing::error!("passage-server: the system random source failed");
            AuthApiError::internal()
        })?;
        let value = u32::from_le_bytes(bytes);
        if value < LIMIT {
            return Ok(format!("{:06}", value % 1_000_000));
        }
    }
}

/// Makes, keeps (as its hash) and sends a code.
async fn send(
    state: &Shared,
    user_id: &str,
    identifier: &Identifier,
    kind: &str,
    language: Option<&str>,
) -> Result<Response, AuthApiError> {
    let settings = &state.settings;
    let code = random_code()?;
    let id = random_id();
    let ttl = time::Duration::try_from(settings.otp_ttl).unwrap_or(time::Duration::MINUTE);
    let minutes = (ttl.whole_seconds() + 59) / 60;
    let record = MagicLink {
        id: id.clone(),
        app_id: settings.app_id.clone(),
        identifier: identifier.as_str().to_owned(),
        redirect_url: settings.redirect_url.clone(),
        secret: String::new(),
        url: String::new(),
        user_id: user_id.to_owned(),
        activated: false,
        ttl: minutes.max(1),
        kind: kind.to_owned(),
        expires_at: now() + ttl,
        collected: false,
        delivered: true,
        secret_hash: code_hash(&id, &code),
        browser: None,
        same_browser: false,
        code: true,
        tries: 0,
    };
    state.store.insert_magic_link(record).await?;
    deliver::send(
        state,
        identifier,
        language,
        deliver::Message::Code {
            code: &code,
            minutes: minutes.max(1),
        },
        "otp_not_sent",
    )
    .await?;
    Ok(ok(json!({ "otp_id": id })))
}

#[derive(Deserialize)]
pub(crate) struct Activate {
    otp: String,
    otp_id: String,
}

/// `POST /otp/activate {otp, otp_id}` → `{auth_result}`. A wrong code is 400 `invalid_otp`; a
/// code tried too often is 401 `otp_attempts_exceeded` (the element's "too many attempts"); an
/// unknown, used or expired one 404 `otp_not_found`; one of an inactive user 403.
pub(crate) async fn activate(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<Activate>,
) -> Result<Response, AuthApiError> {
    if !state.settings.auth_methods.otp {
        return Err(AuthApiError::new(
            StatusCode::BAD_REQUEST,
            "otp_unavailable",
            "this app does not offer one-time passcodes",
        ));
    }
    let well_formed =
        request.otp.len() == DIGITS && request.otp.bytes().all(|b| b.is_ascii_digit());
    if !well_formed || request.otp_id.len() > 128 {
        return Err(AuthApiError::bad_request(format!(
            "otp: must be {DIGITS} digits"
        )));
    }
    let outcome = state
        .store
        .activate_code(
            &request.otp_id,
            &code_hash(&request.otp_id, &request.otp),
            MAX_TRIES,
            now(),
        )
        .await?;
    let link = match outcome {
        CodeActivation::Activated(link) => link,
        CodeActivation::Wrong { .. } => {
            return Err(AuthApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_otp",
                "the code is not right",
            ));
        }
        CodeActivation::Exhausted => {
            tracing::warn!("passage-server: a one-time passcode was tried too often; it is dead");
            return Err(AuthApiError::new(
                StatusCode::UNAUTHORIZED,
                "otp_attempts_exceeded",
                "the code was tried too many times; ask for a new one",
            ));
        }
        CodeActivation::Inactive => return Err(AuthApiError::user_inactive()),
        _ => {
            return Err(AuthApiError::new(
                StatusCode::NOT_FOUND,
                "otp_not_found",
                "this code is not valid: it was used, has expired, or never existed",
            ));
        }
    };
    sessions::sign_in_as(&state, &link.user_id, &link.redirect_url).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..1000 {
            let code = random_code().ok().unwrap_or_default();
            assert_eq!(code.len(), DIGITS);
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
    }
}
