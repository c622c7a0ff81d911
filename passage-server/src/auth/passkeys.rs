//! Passkeys with webauthn-rs: registering a new user's first passkey, adding one to a signed-in
//! user, and signing in — with an identifier (its passkeys are allowed) or without
//! (discoverable: the authenticator names the user through the user handle).
//!
//! Every handshake is single use. A finish is refused, and nothing stored changes, when its
//! handshake is unknown, used, expired or of another kind, when the response does not verify
//! (challenge, origin, RP id, signature, user verification, sign counter), when the credential
//! belongs to another user than the handshake's, or when it is registered already.

use crate::{
    passkey::{Material, derived_handle},
    store::{Device, DeviceRules, PasskeyUse, StoreError, User, now, refusals},
};
use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header::USER_AGENT},
    response::Response,
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Value, json};
use webauthn_rs::prelude::{
    CredentialID, Passkey, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
};
use webauthn_rs_proto::{AllowCredentials, AuthenticatorAttachment, ResidentKeyRequirement};

use super::{
    App, AuthApiError, Body, Shared,
    ceremonies::{self, Ceremony},
    ok, sessions,
    users::{RecentUser, identifier, identifier_for, pending_user, public_user, signing_in},
};

/// A credential id as the browser writes it (and `Device::cred_id` keeps it): base64url.
fn encode_id(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// A name for a new passkey, from the browser that made it.
fn device_name(headers: &HeaderMap) -> String {
    let agent = headers
        .get(USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
    ]
    .into_iter()
    .find(|(marker, _)| agent.contains(marker))
    .map(|(_, name)| name);
    browser.map_or_else(|| "Passkey".to_owned(), |b| format!("{b} passkey"))
}

#[derive(Deserialize)]
pub(crate) struct RegisterStart {
    identifier: String,
    #[serde(default)]
    authenticator_attachment: Option<String>,
}

/// `POST /register/webauthn/start {identifier, authenticator_attachment}` → `{handshake, user}`.
/// Creates the pending user (passage-js does not call `POST /users` first). Refused for an
/// identifier whose user is active, has a passkey or has signed in before: otherwise anyone
/// could add their passkey to someone else's account. Refused altogether when the server
/// requires identifier verification: then sign-up is by magic link, and the passkey is added
/// by the signed-in user.
pub(crate) async fn register_start(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<RegisterStart>,
) -> Result<Response, AuthApiError> {
    offered(&state)?;
    if state.settings.require_verification {
        return Err(AuthApiError::new(
            StatusCode::FORBIDDEN,
            "identifier_verification_required",
            "verify your email with a magic link first; then add a passkey",
        ));
    }
    let identifier = identifier_for(&state, &request.identifier)?;
    let user = pending_user(&state, &identifier).await?;
    if !user.webauthn_devices.is_empty() || user.login_count > 0 {
        return Err(already_registered());
    }
    let (challenge, registration) = registration(
        &state,
        &user,
        request.authenticator_attachment.as_deref(),
        Vec::new(),
    )?;
    let id = ceremonies::begin(
        &state,
        Ceremony::Register {
            user_id: user.id.clone(),
            state: registration,
        },
    )
    .await?;
    Ok(ok(
        json!({ "handshake": { "id": id, "challenge": challenge }, "user": public_user(&user) }),
    ))
}

/// Refused when the app does not offer passkeys.
fn offered(state: &Shared) -> Result<(), AuthApiError> {
    if state.settings.auth_methods.passkeys {
        Ok(())
    } else {
        Err(AuthApiError::new(
            StatusCode::BAD_REQUEST,
            "passkeys_unavailable",
            "this app does not offer passkeys",
        ))
    }
}

fn already_registered() -> AuthApiError {
    AuthApiError::new(
        StatusCode::CONFLICT,
        "identifier_already_exists",
        "an account with this identifier already exists; sign in instead",
    )
}

/// A registration challenge for `user`: a discoverable credential (so it can sign in without
/// an identifier), user verification required.
fn registration(
    state: &Shared,
    user: &User,
    attachment: Option<&str>,
    exclude: Vec<CredentialID>,
) -> Result<(Value, PasskeyRegistration), AuthApiError> {
    let name = if user.email.is_empty() {
        &user.phone
    } else {
        &user.email
    };
    let exclude = (!exclude.is_empty()).then_some(exclude);
    let (mut challenge, registration) = state
        .webauthn
        .start_passkey_registration(derived_handle(&user.id), name, name, exclude)
        .map_err(|err| {
            tracing::error!(error = %err, "passage-server: a registration could not start");
            AuthApiError::internal()
        })?;
    if let Some(selection) = challenge.public_key.authenticator_selection.as_mut() {
        selection.resident_key = Some(ResidentKeyRequirement::Required);
        selection.require_resident_key = true;
        selection.authenticator_attachment = match attachment {
            Some("platform") => Some(AuthenticatorAttachment::Platform),
            Some("cross-platform") => Some(AuthenticatorAttachment::CrossPlatform),
            _ => None,
        };
    }
    let challenge = serde_json::to_value(&challenge).map_err(|_| AuthApiError::internal())?;
    Ok((challenge, registration))
}

#[derive(Deserialize)]
pub(crate) struct Finish {
    handshake_id: String,
    handshake_response: Value,
    #[serde(default)]
    user_id: Option<String>,
}

/// `POST /register/webauthn/finish {handshake_id, handshake_response, user_id}` →
/// `{auth_result}`: the passkey is kept and the user, now active, is signed in.
pub(crate) async fn register_finish(
    _: App,
    State(state): State<Shared>,
    headers: HeaderMap,
    Body(request): Body<Finish>,
) -> Result<Response, AuthApiError> {
    let Ceremony::Register {
        user_id,
        state: registration,
    } = ceremonies::take(&state, &request.handshake_id).await?
    else {
        return Err(AuthApiError::handshake_not_found());
    };
    if request.user_id.as_ref().is_some_and(|id| *id != user_id) {
        return Err(mismatch());
    }
    let user = state
        .store
        .user(&user_id)
        .await?
        .ok_or_else(AuthApiError::user_not_found)?;
    // Whether the user is still registering (pending, no passkey) is checked by the store in
    // the same atomic step that keeps the passkey: two finishes at once for one pending user,
    // on one replica or two, cannot both add theirs.
    let first = DeviceRules {
        first: true,
        max: state.settings.max_passkeys,
    };
    keep_passkey(
        &state,
        &user,
        &headers,
        request.handshake_response,
        &registration,
        first,
    )
    .await
    .map_err(|err| match err {
        Kept::Refused(StoreError::Refused(refusals::NOT_FIRST)) => already_registered(),
        other => other.into(),
    })?;
    sessions::sign_in(&state, &user, &state.settings.redirect_url).await
}

fn mismatch() -> AuthApiError {
    AuthApiError::new(
        StatusCode::BAD_REQUEST,
        "handshake_mismatch",
        "the response does not belong to this handshake's user",
    )
}

/// Why a passkey was not kept: the response did not verify (or another failure), or the store
/// refused it under the rules.
enum Kept {
    Failed(AuthApiError),
    Refused(StoreError),
}

impl From<AuthApiError> for Kept {
    fn from(err: AuthApiError) -> Self {
        Self::Failed(err)
    }
}

impl From<Kept> for AuthApiError {
    fn from(kept: Kept) -> Self {
        match kept {
            Kept::Failed(err) => err,
            Kept::Refused(err) => err.into(),
        }
    }
}

/// Verifies a registration response and keeps its passkey as a new device of `user`, if
/// `rules` allow it when it is stored.
async fn keep_passkey(
    state: &Shared,
    user: &User,
    headers: &HeaderMap,
    response: Value,
    registration: &PasskeyRegistration,
    rules: DeviceRules,
) -> Result<Device, Kept> {
    let credential: RegisterPublicKeyCredential =
        serde_json::from_value(response).map_err(AuthApiError::webauthn)?;
    let passkey = state
        .webauthn
        .finish_passkey_registration(&credential, registration)
        .map_err(AuthApiError::webauthn)?;
    if passkey.cred_id().is_empty() {
        // WebAuthn allows 16 to 1023 bytes; no authenticator makes an empty id, and one could
        // never be found again (the stores index credential ids that are not empty).
        return Err(AuthApiError::webauthn("the credential id is empty").into());
    }
    let cred_id = encode_id(passkey.cred_id().as_ref());
    let taken = || {
        AuthApiError::new(
            StatusCode::CONFLICT,
            "credential_already_registered",
            "this passkey is registered already",
        )
    };
    if state
        .store
        .find_passkey(&cred_id)
        .await
        .map_err(AuthApiError::from)?
        .is_some()
    {
        return Err(taken().into());
    }
    let material = Material::new(passkey)
        .to_text()
        .map_err(|_| AuthApiError::internal())?;
    let device = Device::passkey(device_name(headers), cred_id, now());
    match state
        .store
        .add_device(&user.id, device.clone(), material, rules)
        .await
    {
        Ok(()) => Ok(device),
        Err(StoreError::Refused(refusals::CREDENTIAL_TAKEN)) => Err(taken().into()),
        Err(err @ (StoreError::Refused(_) | StoreError::Limit(_))) => Err(Kept::Refused(err)),
        Err(err) => Err(AuthApiError::from(err).into()),
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginStart {
    #[serde(default)]
    identifier: Option<String>,
}

/// `POST /login/webauthn/start {identifier?}` → `{handshake, user}`. With an identifier, the
/// user's passkeys are allowed; without one (`{}`, the conditional UI), any passkey of this
/// app, and the user is `null`.
pub(crate) async fn login_start(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<LoginStart>,
) -> Result<Response, AuthApiError> {
    offered(&state)?;
    let Some(identifier) = request.identifier.filter(|i| !i.trim().is_empty()) else {
        let (challenge, discoverable) = state
            .webauthn
            .start_discoverable_authentication()
            .map_err(|err| {
                tracing::error!(error = %err, "passage-server: a sign-in could not start");
                AuthApiError::internal()
            })?;
        let id = ceremonies::begin(
            &state,
            Ceremony::Discoverable {
                state: discoverable,
            },
        )
        .await?;
        return Ok(ok(json!({
            "handshake": { "id": id, "challenge": public_key_only(&challenge)? },
            "user": null,
        })));
    };
    let identifier = self::identifier(&identifier)?;
    let user = signing_in(&state, &identifier).await?;
    let passkeys = passkeys_of(&state, &user.id).await?;
    if passkeys.is_empty() {
        return Err(AuthApiError::new(
            StatusCode::BAD_REQUEST,
            "no_passkeys",
            "this account has no passkey yet; sign in with a magic link",
        ));
    }
    // The state of a discoverable sign-in, with the user's credentials allowed in the
    // challenge the browser gets: the state kept does not grow with the user's passkeys, and
    // the finish checks the credential against the handshake's user.
    let (mut challenge, authentication) = state
        .webauthn
        .start_discoverable_authentication()
        .map_err(|err| {
            tracing::error!(error = %err, "passage-server: a sign-in could not start");
            AuthApiError::internal()
        })?;
    challenge.public_key.allow_credentials = passkeys
        .iter()
        .map(|passkey| AllowCredentials {
            type_: "public-key".to_owned(),
            id: passkey.cred_id().clone(),
            transports: None,
        })
        .collect();
    let id = ceremonies::begin(
        &state,
        Ceremony::Login {
            user_id: user.id.clone(),
            state: authentication,
        },
    )
    .await?;
    Ok(ok(json!({
        "handshake": { "id": id, "challenge": public_key_only(&challenge)? },
        "user": public_user(&user),
    })))
}

/// The challenge as `{publicKey}`: webauthn-rs adds `mediation: conditional` for discoverable
/// sign-ins, which is the page's choice (the element sets it itself for the conditional UI).
fn public_key_only(challenge: &impl serde::Serialize) -> Result<Value, AuthApiError> {
    let mut value = serde_json::to_value(challenge).map_err(|_| AuthApiError::internal())?;
    let public_key = value
        .get_mut("publicKey")
        .map(Value::take)
        .ok_or_else(AuthApiError::internal)?;
    Ok(json!({ "publicKey": public_key }))
}

/// The passkeys a user has registered (material that does not parse is skipped and logged).
async fn passkeys_of(state: &Shared, user_id: &str) -> Result<Vec<Passkey>, AuthApiError> {
    Ok(state
        .store
        .passkeys(user_id).await?
        .into_iter()
        .filter_map(|(device, material)| {
            Material::parse(&material)
                .map(|material| material.passkey)
                .inspect_err(|err| {
                    tracing::error!(device = %device.id, error = %err, "passage-server: a stored passkey does not parse");
                })
                .ok()
        })
        .collect())
}

/// `POST /login/webauthn/finish {handshake_id, handshake_response, user_id?}` → `{auth_result}`.
pub(crate) async fn login_finish(
    _: App,
    State(state): State<Shared>,
    Body(request): Body<Finish>,
) -> Result<Response, AuthApiError> {
    let ceremony = ceremonies::take(&state, &request.handshake_id).await?;
    if matches!(
        ceremony,
        Ceremony::Register { .. } | Ceremony::AddDevice { .. }
    ) {
        return Err(AuthApiError::handshake_not_found());
    }
    let mut response = request.handshake_response;
    // passage-js sends "" when the authenticator returned no user handle.
    if let Some(assertion) = response.get_mut("response").and_then(Value::as_object_mut)
        && assertion
            .get("userHandle")
            .is_some_and(|h| h.as_str() == Some(""))
    {
        assertion.remove("userHandle");
    }
    let credential: PublicKeyCredential =
        serde_json::from_value(response).map_err(AuthApiError::webauthn)?;
    // The credential id names the stored passkey; the user handle the authenticator presents
    // must then be the one that passkey was made with — this server's handle for its user, or,
    // for an imported passkey, the handle its first server gave it.
    let (user, device, before, mut material) =
        stored_passkey(&state, credential.get_credential_id()).await?;
    let presented = credential.get_user_unique_id();
    let (authentication, discoverable) = match ceremony {
        Ceremony::Login {
            user_id,
            state: authentication,
        } => {
            if user.id != user_id {
                return Err(mismatch());
            }
            (authentication, false)
        }
        Ceremony::Discoverable {
            state: authentication,
        } => (authentication, true),
        Ceremony::Register { .. } | Ceremony::AddDevice { .. } => {
            return Err(AuthApiError::handshake_not_found());
        }
    };
    // With an identifier, an authenticator may leave the handle out; when it gives one, it
    // must be the passkey's. Without one (discoverable), the handle is required.
    let handle_fits = match presented {
        Some(_) => material.check_handle(&user.id, presented),
        None => !discoverable,
    };
    if !handle_fits || request.user_id.as_ref().is_some_and(|id| *id != user.id) {
        return Err(mismatch());
    }
    material.learn_backup_eligibility(credential.response.authenticator_data.as_ref());
    let result = state
        .webauthn
        .finish_discoverable_authentication_v2(&credential, authentication, &material.passkey)
        .map_err(AuthApiError::webauthn)?;
    // webauthn-rs checks the counter against the passkey as it was when the handshake started;
    // check it against the passkey as stored now, so an assertion made before a later sign-in
    // (a cloned authenticator) is refused too.
    let stored = material.sign_count();
    if (stored > 0 || result.counter() > 0) && result.counter() <= stored {
        return Err(AuthApiError::webauthn(
            "the sign counter went back: a cloned authenticator?",
        ));
    }
    material.passkey.update_credential(&result);
    let after = material.to_text().map_err(|_| AuthApiError::internal())?;
    let used = PasskeyUse {
        device_id: device.id,
        before,
        after,
    };
    sessions::sign_in_with_passkey(&state, &user, used, &state.settings.redirect_url).await
}

/// The stored passkey with this credential id, with its user and device, as stored and parsed.
async fn stored_passkey(
    state: &Shared,
    cred_id: &[u8],
) -> Result<(User, Device, String, Material), AuthApiError> {
    let (user, device, text) = state
        .store
        .find_passkey(&encode_id(cred_id))
        .await?
        .ok_or_else(|| AuthApiError::webauthn("the credential is not registered"))?;
    let material = Material::parse(&text).map_err(|err| {
        tracing::error!(device = %device.id, error = %err, "passage-server: a stored passkey does not parse");
        AuthApiError::internal()
    })?;
    Ok((user, device, text, material))
}

#[derive(Deserialize)]
pub(crate) struct AddDeviceStart {
    #[serde(default)]
    authenticator_attachment: Option<String>,
}

/// `POST /currentuser/devices/start {authenticator_attachment}` → `{handshake, user}`: the
/// signed-in user adds a passkey (after a magic-link sign-in, the element offers this).
pub(crate) async fn add_device_start(
    RecentUser(user): RecentUser,
    State(state): State<Shared>,
    Body(request): Body<AddDeviceStart>,
) -> Result<Response, AuthApiError> {
    offered(&state)?;
    let max = state.settings.max_passkeys;
    if max > 0 && user.webauthn_devices.len() >= max {
        return Err(StoreError::Limit(refusals::TOO_MANY_DEVICES).into());
    }
    let exclude = passkeys_of(&state, &user.id)
        .await?
        .iter()
        .map(|passkey| passkey.cred_id().clone())
        .collect();
    let (challenge, registration) = registration(
        &state,
        &user,
        request.authenticator_attachment.as_deref(),
        exclude,
    )?;
    let id = ceremonies::begin(
        &state,
        Ceremony::AddDevice {
            user_id: user.id.clone(),
            state: registration,
        },
    )
    .await?;
    Ok(ok(
        json!({ "handshake": { "id": id, "challenge": challenge }, "user": public_user(&user) }),
    ))
}

/// `POST /currentuser/devices/finish {handshake_id, handshake_response}` → `{device}`.
pub(crate) async fn add_device_finish(
    RecentUser(user): RecentUser,
    State(state): State<Shared>,
    headers: HeaderMap,
    Body(request): Body<Finish>,
) -> Result<Response, AuthApiError> {
    let Ceremony::AddDevice {
        user_id,
        state: registration,
    } = ceremonies::take(&state, &request.handshake_id).await?
    else {
        return Err(AuthApiError::handshake_not_found());
    };
    if user_id != user.id || request.user_id.as_ref().is_some_and(|id| *id != user_id) {
        return Err(mismatch());
    }
    let rules = DeviceRules {
        first: false,
        max: state.settings.max_passkeys,
    };
    let device = keep_passkey(
        &state,
        &user,
        &headers,
        request.handshake_response,
        &registration,
        rules,
    )
    .await?;
    let mut device = serde_json::to_value(&device).map_err(|_| AuthApiError::internal())?;
    if let Some(fields) = device.as_object_mut() {
        fields.insert("user_id".to_owned(), json!(user.id));
    }
    Ok(ok(json!({ "device": device })))
}
