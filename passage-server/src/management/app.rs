//! `GET /v1/apps/{app_id}`: every `AppInfo` field.

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::Response,
};
use serde_json::json;

use super::{error::ApiError, reply};
use crate::state::Shared;

pub(super) async fn get_app(
    State(shared): State<Arc<Shared>>,
    Path(app_id): Path<String>,
) -> Result<Response, ApiError> {
    if app_id != shared.app_id {
        return Err(ApiError::app_not_found());
    }
    let origin = &shared.auth_origin;
    // What the Authentication API offers when it runs; the emulator's (everything) otherwise.
    let sign_in = shared.sign_in.get().copied();
    let methods = sign_in.map_or(
        json!({
            "passkeys": { "enabled": true },
            "otp": { "enabled": true, "ttl": 300, "ttl_display_unit": "m" },
            "magic_link": { "enabled": true, "ttl": 300, "ttl_display_unit": "m" },
        }),
        |s| {
            json!({
                "passkeys": { "enabled": s.methods.passkeys },
                "otp": { "enabled": s.methods.otp, "ttl": s.otp_ttl_secs, "ttl_display_unit": "s" },
                "magic_link": {
                    "enabled": s.methods.magic_link,
                    "ttl": s.magic_link_ttl_secs,
                    "ttl_display_unit": "s",
                },
            })
        },
    );
    let (allowed, required) = match sign_in.map(|s| s.identifiers) {
        None | Some(crate::methods::Identifiers::Both) => ("both", "either"),
        Some(crate::methods::Identifiers::Email) => ("email", "email"),
        Some(crate::methods::Identifiers::Phone) => ("phone", "phone"),
    };
    let (fallback, fallback_ttl) = match sign_in {
        None => ("magic_link", 300),
        Some(s) if s.methods.otp => ("otp", s.otp_ttl_secs),
        Some(s) if s.methods.magic_link => ("magic_link", s.magic_link_ttl_secs),
        Some(_) => ("none", 0),
    };
    let public_key = shared.current_key().public_key_pem();
    Ok(reply(
        StatusCode::OK,
        json!({ "app": {
            "id": shared.app_id,
            "name": shared.app_name,
            "auth_origin": origin,
            "redirect_url": "/",
            "login_url": "/",
            "hosted": false,
            "hosted_subdomain": "",
            "hosted_theme": "auto",
            "role": "admin",
            "rsa_public_key": public_key,
            "allowed_identifier": allowed,
            "required_identifier": required,
            "application_login_uri": "",
            "auth_fallback_method": fallback,
            "default_language": "en",
            "additional_auth_origins": [],
            "allowed_callback_urls": [],
            "allowed_logout_urls": [],
            "auth_fallback_method_ttl": fallback_ttl,
            "refresh_absolute_lifetime": 2_592_000,
            "refresh_inactivity_lifetime": 432_000,
            "session_timeout_length": 3600,
            "auto_theme_enabled": true,
            "passage_branding": true,
            "profile_management": true,
            "public_signup": true,
            "refresh_enabled": true,
            "require_email_verification": false,
            "require_identifier_verification": false,
            "auth_methods": methods,
            "created_at": "2024-01-01T00:00:00Z",
            "layouts": shared.fields.layouts_json(),
            "type": "complete",
            "user_metadata_schema": shared.fields.schema_json(),
            // Only values the official models accept (there is no "rust").
            "technologies": [],
            "element_customization": {},
            "element_customization_dark": {},
            "id_token_lifetime": 3600,
        }}),
    ))
}
