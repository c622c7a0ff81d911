//! What `<passage-profile>` changes for the signed-in user: the app's fields
//! (`/currentuser/user-metadata`), the email address and phone number
//! (`PATCH /currentuser/email`, `/currentuser/phone`), a passkey's name
//! (`PATCH /currentuser/devices/{id}`); adding and removing passkeys are in
//! [`passkeys`](super::passkeys) and [`users`](super::users).
//!
//! Every change needs a recent sign-in ([`RecentUser`]). A new email address or phone number
//! takes effect only once it proves itself: the server sends a link to it (`psg_verify_link`,
//! to the app's `login_url`, where the element activates it); opening it makes the change,
//! signs the user in, and tells the old address. Until then nothing changes — someone who
//! borrowed a signed-in browser cannot move the account to an address of theirs without also
//! receiving mail there, and the owner hears of any change made.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    AuthApiError, Body, Shared, deliver, limits,
    magic_links::{keep_and_deliver, link_url_with, new_link},
    ok,
    users::{CurrentUser, RecentUser, identifier_for, invalid_metadata},
};
use crate::{
    fields::Writer,
    identifier::Identifier,
    store::{CHANGE_EMAIL, CHANGE_PHONE, Change},
};

/// `GET /currentuser/user-metadata` → `{user_metadata}`.
pub(crate) async fn metadata(CurrentUser { user, .. }: CurrentUser) -> Response {
    ok(json!({ "user_metadata": user.user_metadata.unwrap_or_default() }))
}

#[derive(Deserialize)]
pub(crate) struct MetadataUpdate {
    user_metadata: Map<String, Value>,
}

/// `PATCH /currentuser/user-metadata {user_metadata}` → `{user}`: the fields the app lets users
/// change in their profile, each of its type and size; every other key keeps its value.
pub(crate) async fn update_metadata(
    RecentUser(user): RecentUser,
    State(state): State<Shared>,
    Body(request): Body<MetadataUpdate>,
) -> Result<Response, AuthApiError> {
    let metadata = state
        .passage
        .fields
        .check(
            &request.user_metadata,
            user.user_metadata.as_ref(),
            Writer::Profile,
        )
        .map_err(invalid_metadata)?;
    let change = Change {
        user_metadata: Some(metadata),
        ..Change::default()
    };
    let user = state.store.update_user(&user.id, change).await?;
    Ok(ok(json!({ "user": user })))
}

#[derive(Deserialize)]
pub(crate) struct EmailChange {
    new_email: String,
    #[serde(default)]
    language: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct PhoneChange {
    new_phone: String,
    #[serde(default)]
    language: Option<String>,
}

/// `PATCH /currentuser/email {new_email}` → `{magic_link: {id}}`: a link to the new address;
/// the change is made when it is opened. `""` removes the address, at once, when the user keeps
/// a phone number to sign in with.
pub(crate) async fn change_email(
    RecentUser(user): RecentUser,
    State(state): State<Shared>,
    Body(request): Body<EmailChange>,
) -> Result<Response, AuthApiError> {
    change(
        &state,
        &user,
        &request.new_email,
        request.language.as_deref(),
        true,
    )
    .await
}

/// `PATCH /currentuser/phone {new_phone}` → `{magic_link: {id}}`, as for the email address.
pub(crate) async fn change_phone(
    RecentUser(user): RecentUser,
    State(state): State<Shared>,
    Body(request): Body<PhoneChange>,
) -> Result<Response, AuthApiError> {
    change(
        &state,
        &user,
        &request.new_phone,
        request.language.as_deref(),
        false,
    )
    .await
}

async fn change(
    state: &Shared,
    user: &crate::store::User,
    raw: &str,
    language: Option<&str>,
    email: bool,
) -> Result<Response, AuthApiError> {
    if raw.trim().is_empty() {
        return remove(state, user, email).await;
    }
    let identifier = identifier_for(state, raw)?;
    if identifier.is_email() != email {
        return Err(AuthApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_identifier",
            if email {
                "new_email: must be an email address"
            } else {
                "new_phone: must be a phone number"
            },
        ));
    }
    let current = if email { &user.email } else { &user.phone };
    if current == identifier.as_str() {
        return Err(AuthApiError::bad_request(
            "this is the account's address already",
        ));
    }
    if state
        .store
        .user_by_identifier(identifier.as_str())
        .await?
        .is_some()
    {
        return Err(AuthApiError::new(
            StatusCode::CONFLICT,
            "identifier_already_exists",
            "another account signs in with this address",
        ));
    }
    if !deliver::reaches(state, &identifier) {
        return Err(AuthApiError::new(
            StatusCode::BAD_REQUEST,
            "magic_link_unavailable",
            "this server cannot send messages to such an address",
        ));
    }
    limits::count(state, &identifier).await?;
    let settings = &state.settings;
    let kind = if email { CHANGE_EMAIL } else { CHANGE_PHONE };
    let link = new_link(state, &user.id, &identifier, kind, None, |secret| {
        link_url_with(
            &settings.auth_origin,
            Some(&settings.login_url),
            "psg_verify_link",
            secret,
        )
    });
    keep_and_deliver(state, &link, &identifier, language, true).await
}

/// Removes the email address (or phone number) at once, when the user keeps the other to sign
/// in with and the app allows that kind; the removed address is told.
async fn remove(
    state: &Shared,
    user: &crate::store::User,
    email: bool,
) -> Result<Response, AuthApiError> {
    let (removed, kept) = if email {
        (&user.email, &user.phone)
    } else {
        (&user.phone, &user.email)
    };
    let allowed = state.settings.identifiers;
    let kept_allowed = if email {
        allowed.phone()
    } else {
        allowed.email()
    };
    if kept.is_empty() || !kept_allowed {
        return Err(AuthApiError::new(
            StatusCode::BAD_REQUEST,
            "identifier_required",
            "the account must keep an email address or a phone number to sign in with",
        ));
    }
    if removed.is_empty() {
        return Ok(ok(json!({ "magic_link": { "id": "" } })));
    }
    let change = Change {
        email: email.then(String::new),
        phone: (!email).then(String::new),
        ..Change::default()
    };
    state.store.update_user(&user.id, change).await?;
    if let Ok(old) = Identifier::parse(removed) {
        let told = deliver::send(
            state,
            &old,
            None,
            deliver::Message::Changed { new: kept },
            "notice_not_sent",
        )
        .await;
        if told.is_err() {
            tracing::warn!("passage-server: the removed address was not told");
        }
    }
    Ok(ok(json!({ "magic_link": { "id": "" } })))
}

#[derive(Deserialize)]
pub(crate) struct Rename {
    friendly_name: String,
}

/// `PATCH /currentuser/devices/{device_id} {friendly_name}` → `{device}`: 1 to 64 characters,
/// no control characters (the element's own limit).
pub(crate) async fn rename_device(
    RecentUser(user): RecentUser,
    State(state): State<Shared>,
    Path((_, device_id)): Path<(String, String)>,
    Body(request): Body<Rename>,
) -> Result<Response, AuthApiError> {
    let name = request.friendly_name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(AuthApiError::bad_request(
            "friendly_name: 1 to 64 characters, without control characters",
        ));
    }
    let device = state
        .store
        .rename_device(&user.id, &device_id, name)
        .await?;
    let mut device = serde_json::to_value(&device).map_err(|_| AuthApiError::internal())?;
    if let Some(fields) = device.as_object_mut() {
        fields.insert("user_id".to_owned(), json!(user.id));
    }
    Ok(ok(json!({ "device": device })))
}

/// `GET /currentuser/social-connections` → `{social_connections}`: none (this server offers no
/// social sign-in).
pub(crate) async fn social_connections(CurrentUser { user, .. }: CurrentUser) -> Response {
    ok(json!({ "social_connections": user.social_connections }))
}
