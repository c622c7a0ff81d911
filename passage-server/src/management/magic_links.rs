//! `POST /v1/apps/{app_id}/magic-links`.

use std::sync::Arc;

use axum::{body::Bytes, extract::State, http::StatusCode, response::Response};
use serde::Deserialize;
use serde_json::json;

use super::{body, email, error::ApiError, phone, reply};
use crate::{
    ids::random_id,
    state::Shared,
    store::{MagicLink, hash},
};

/// The longest link lifetime accepted, in minutes: a week.
const MAX_TTL: i64 = 7 * 24 * 60;

const LANGUAGES: [&str; 7] = ["de", "en", "es", "it", "pl", "pt", "zh"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMagicLink {
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    redirect_url: Option<String>,
    #[serde(default)]
    magic_link_path: Option<String>,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    send: Option<bool>,
    #[serde(default)]
    ttl: Option<i64>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let request: CreateMagicLink = body(&bytes)?;
    let kind = request.kind.unwrap_or_else(|| "login".to_owned());
    if !matches!(kind.as_str(), "login" | "verify_identifier") {
        return Err(ApiError::bad_request(
            "type: must be login or verify_identifier",
        ));
    }
    if let Some(language) = &request.language
        && !LANGUAGES.contains(&language.as_str())
    {
        return Err(ApiError::bad_request(
            "language: must be one of de en es it pl pt zh",
        ));
    }
    let ttl = request.ttl.unwrap_or(15);
    if !(1..=MAX_TTL).contains(&ttl) {
        return Err(ApiError::bad_request(format!(
            "ttl: must be between 1 and {MAX_TTL} minutes"
        )));
    }
    if let Some(path) = &request.magic_link_path
        && (!path.starts_with('/') || path.starts_with("//"))
    {
        return Err(ApiError::bad_request(
            "magic_link_path: must be a relative URL",
        ));
    }
    let sources = [
        request.email.is_some(),
        request.phone.is_some(),
        request.user_id.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err(ApiError::bad_request(
            "exactly one of email, phone or user_id is required",
        ));
    }
    if let Some(channel) = &request.channel
        && !matches!(channel.as_str(), "email" | "phone")
    {
        return Err(ApiError::bad_request("channel: must be email or phone"));
    }
    let store = &shared.store;
    let (user, identifier) = if let Some(raw) = &request.email {
        let email = email(raw)?;
        if request.channel.as_deref().is_some_and(|c| c != "email") {
            return Err(ApiError::bad_request(
                "channel: must be email for an email identifier",
            ));
        }
        (store.user_by_identifier(&email).await?, email)
    } else if let Some(raw) = &request.phone {
        let phone = phone(raw)?;
        if request.channel.as_deref().is_some_and(|c| c != "phone") {
            return Err(ApiError::bad_request(
                "channel: must be phone for a phone identifier",
            ));
        }
        (store.user_by_identifier(&phone).await?, phone)
    } else {
        let channel = request
            .channel
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("channel: is required with user_id"))?;
        let id = request.user_id.as_deref().unwrap_or_default();
        let user = store.user(id).await?.ok_or_else(ApiError::user_not_found)?;
        let identifier = if channel == "email" {
            user.email.clone()
        } else {
            user.phone.clone()
        };
        if identifier.is_empty() {
            return Err(ApiError::bad_request(format!(
                "the user has no {channel} identifier"
            )));
        }
        (Some(user), identifier)
    };
    let user = user.ok_or_else(ApiError::user_not_found)?;
    let secret = random_id();
    let path = request.magic_link_path.unwrap_or_else(|| "/".to_owned());
    let link = MagicLink {
        id: random_id(),
        app_id: shared.app_id.clone(),
        identifier,
        redirect_url: request.redirect_url.unwrap_or_else(|| "/".to_owned()),
        url: format!("{}{}?psg_magic_link=ml{}", shared.auth_origin, path, secret),
        secret_hash: hash(&secret),
        secret,
        user_id: user.id,
        activated: false,
        ttl,
        kind,
        expires_at: crate::store::now() + time::Duration::minutes(ttl),
        collected: false,
        // Handed to the app (this API sends no mail): opening it verifies nothing.
        delivered: false,
        browser: None,
        same_browser: false,
        code: false,
        tries: 0,
    };
    let _sent = request.send.unwrap_or(false);
    shared.store.insert_magic_link(link.clone()).await?;
    // The only time the secret and the URL are told: the store keeps their hash.
    Ok(reply(StatusCode::CREATED, json!({ "magic_link": link })))
}
