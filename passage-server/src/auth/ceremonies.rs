//! WebAuthn ceremonies in progress: the server-side state of each handshake, single use, kept
//! for a while and bounded in number. In memory: a handshake lasts seconds to minutes, and one
//! cut short by a restart is simply started again.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PasskeyRegistration,
};

use super::AuthApiError;

/// How long a handshake stays usable. The conditional-UI sign-in starts one when the page
/// loads and finishes it whenever the user picks a passkey, so this is generous.
const LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The most handshakes in progress at once: a bound on memory that anonymous callers can fill.
const CAPACITY: usize = 50_000;

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
        state: PasskeyAuthentication,
    },
    /// Signing in with whichever passkey the authenticator offers.
    Discoverable { state: DiscoverableAuthentication },
}

/// The handshakes in progress, by id.
#[derive(Debug, Default)]
pub(crate) struct Ceremonies(Mutex<HashMap<String, (Instant, Ceremony)>>);

impl Ceremonies {
    /// Keeps `ceremony` and returns its handshake id.
    pub(crate) fn begin(&self, ceremony: Ceremony) -> Result<String, AuthApiError> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if map.len() >= CAPACITY {
            map.retain(|_, (started, _)| now.duration_since(*started) < LIFETIME);
        }
        if map.len() >= CAPACITY {
            tracing::warn!("passage-server: too many WebAuthn handshakes in progress");
            return Err(AuthApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "too_many_handshakes",
                "too many sign-ins in progress; try again shortly",
            ));
        }
        let id = passage_emulator::store::random_id();
        map.insert(id.clone(), (now, ceremony));
        Ok(id)
    }

    /// Takes the handshake `id` (it cannot be used again), if it exists and is still fresh.
    pub(crate) fn take(&self, id: &str) -> Result<Ceremony, AuthApiError> {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match map.remove(id) {
            Some((started, ceremony)) if started.elapsed() < LIFETIME => Ok(ceremony),
            _ => Err(AuthApiError::handshake_not_found()),
        }
    }
}
