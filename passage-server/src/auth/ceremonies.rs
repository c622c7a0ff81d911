//! WebAuthn ceremonies in progress: the server-side state of each handshake, kept in the store
//! between its start and its finish (so a ceremony started on one replica finishes on any
//! other), single use, for 15 minutes, at most 50 000 at once.
//!
//! A handshake's size does not grow with the user's passkeys: a sign-in with an identifier keeps
//! the same state as a discoverable one (the allowed credentials go to the browser, not into
//! the state), and a registration's state is bounded by the per-user passkey limit.

use std::time::Duration;

use serde::{Serialize, de::DeserializeOwned};
use webauthn_rs::prelude::{DiscoverableAuthentication, PasskeyRegistration};

use super::{AuthApiError, Shared};
use crate::store::{Handshake, now, random_id};

/// How long a handshake stays usable. The conditional-UI sign-in starts one when the page
/// loads and finishes it whenever the user picks a passkey, so this is generous.
const LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The most handshakes in progress at once. Anonymous callers can fill it, so a full store makes
/// room (expired handshakes first, then the oldest) rather than refusing: a flood can cut some
/// ceremonies short (their finish is 404 and the element starts again), but it cannot lock
/// everyone out of signing in.
pub(crate) const CAPACITY: usize = 50_000;

/// The largest state a handshake may keep: a sign-in's or a new user's registration is about
/// 1 KiB, a signed-in user's (with their passkeys to exclude) a few KiB at the per-user limit.
/// With [`CAPACITY`], this bounds what handshakes can hold.
pub(crate) const MAX_STATE: usize = 16 * 1024;

/// A handshake's state.
#[derive(Debug)]
pub(crate) enum Ceremony {
    /// Registering the first passkey of a new (or pending) user.
    Register {
        user_id: String,
        state: PasskeyRegistration,
    },
    /// A signed-in user adding a passkey.
    AddDevice {
        user_id: String,
        state: PasskeyRegistration,
    },
    /// Signing in a known user with one of their passkeys.
    Login {
        user_id: String,
        state: DiscoverableAuthentication,
    },
    /// Signing in with whichever passkey the authenticator offers.
    Discoverable { state: DiscoverableAuthentication },
}

fn serialize(state: &impl Serialize) -> Result<String, AuthApiError> {
    let state = serde_json::to_string(state).map_err(|err| {
        tracing::error!(error = %err, "passage-server: a handshake's state does not serialize");
        AuthApiError::internal()
    })?;
    if state.len() > MAX_STATE {
        tracing::error!(
            bytes = state.len(),
            "passage-server: a handshake's state is larger than allowed"
        );
        return Err(AuthApiError::internal());
    }
    Ok(state)
}

fn deserialize<T: DeserializeOwned>(state: &str) -> Result<T, AuthApiError> {
    serde_json::from_str(state).map_err(|err| {
        tracing::error!(error = %err, "passage-server: a kept handshake does not parse");
        AuthApiError::handshake_not_found()
    })
}

/// Keeps `ceremony` and returns its handshake id (a secret: 24 random characters).
pub(crate) async fn begin(state: &Shared, ceremony: Ceremony) -> Result<String, AuthApiError> {
    let (kind, user_id, serialized) = match &ceremony {
        Ceremony::Register { user_id, state } => ("register", Some(user_id), serialize(state)?),
        Ceremony::AddDevice { user_id, state } => ("add_device", Some(user_id), serialize(state)?),
        Ceremony::Login { user_id, state } => ("login", Some(user_id), serialize(state)?),
        Ceremony::Discoverable { state } => ("discoverable", None, serialize(state)?),
    };
    let id = random_id();
    let expires_at = now()
        .unix_timestamp()
        .saturating_add(i64::try_from(LIFETIME.as_secs()).unwrap_or(i64::MAX));
    let handshake = Handshake {
        kind: kind.to_owned(),
        user_id: user_id.cloned(),
        state: serialized,
        expires_at,
    };
    state.store.put_handshake(&id, handshake, CAPACITY).await?;
    Ok(id)
}

/// Takes the handshake `id` (it cannot be used again), if it exists and is still fresh.
pub(crate) async fn take(state: &Shared, id: &str) -> Result<Ceremony, AuthApiError> {
    let handshake = state
        .store
        .take_handshake(id, now().unix_timestamp())
        .await?
        .ok_or_else(AuthApiError::handshake_not_found)?;
    let user_id = || {
        handshake
            .user_id
            .clone()
            .ok_or_else(AuthApiError::handshake_not_found)
    };
    Ok(match handshake.kind.as_str() {
        "register" => Ceremony::Register {
            user_id: user_id()?,
            state: deserialize(&handshake.state)?,
        },
        "add_device" => Ceremony::AddDevice {
            user_id: user_id()?,
            state: deserialize(&handshake.state)?,
        },
        "login" => Ceremony::Login {
            user_id: user_id()?,
            state: deserialize(&handshake.state)?,
        },
        "discoverable" => Ceremony::Discoverable {
            state: deserialize(&handshake.state)?,
        },
        _ => return Err(AuthApiError::handshake_not_found()),
    })
}
