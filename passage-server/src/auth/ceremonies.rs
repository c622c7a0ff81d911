//! WebAuthn ceremonies in progress: the server-side state of each handshake, single use, kept
//! for a while and bounded in number. In memory: a handshake lasts seconds to minutes, and one
//! cut short by a restart is simply started again.

use std::{
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use webauthn_rs::prelude::{
    DiscoverableAuthentication, PasskeyAuthentication, PasskeyRegistration,
};

use super::{AuthApiError, bounded::Bounded};

/// How long a handshake stays usable. The conditional-UI sign-in starts one when the page
/// loads and finishes it whenever the user picks a passkey, so this is generous.
const LIFETIME: Duration = Duration::from_secs(15 * 60);

/// The most handshakes in progress at once: a bound on memory. Anonymous callers can fill it, so
/// a full map makes room (expired handshakes first, at most once a second; then an arbitrary
/// one) rather than refusing: a flood can cut some ceremonies short (their finish is 404 and
/// the element starts again), but it cannot lock everyone out of signing in.
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
pub(crate) struct Ceremonies(Mutex<Bounded<(Instant, Ceremony)>>);

impl Ceremonies {
    /// Keeps `ceremony` and returns its handshake id.
    pub(crate) fn begin(&self, ceremony: Ceremony) -> String {
        self.begin_with(ceremony, Instant::now(), CAPACITY)
    }

    fn begin_with(&self, ceremony: Ceremony, now: Instant, capacity: usize) -> String {
        let mut in_progress = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if in_progress.make_room(now, capacity, |(started, _)| {
            now.duration_since(*started) < LIFETIME
        }) {
            tracing::warn!("passage-server: WebAuthn handshakes at capacity; one was dropped");
        }
        let id = crate::store::random_id();
        in_progress.map.insert(id.clone(), (now, ceremony));
        id
    }

    /// Takes the handshake `id` (it cannot be used again), if it exists and is still fresh.
    pub(crate) fn take(&self, id: &str) -> Result<Ceremony, AuthApiError> {
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match guard.map.remove(id) {
            Some((started, ceremony)) if started.elapsed() < LIFETIME => Ok(ceremony),
            _ => Err(AuthApiError::handshake_not_found()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use webauthn_rs::prelude::Url;

    fn discoverable() -> Ceremony {
        let origin = Url::parse("http://localhost:3000").unwrap();
        let webauthn = webauthn_rs::WebauthnBuilder::new("localhost", &origin)
            .unwrap()
            .build()
            .unwrap();
        let (_, state) = webauthn.start_discoverable_authentication().unwrap();
        Ceremony::Discoverable { state }
    }

    #[test]
    fn a_full_map_makes_room_instead_of_refusing() {
        let ceremonies = Ceremonies::default();
        let start = Instant::now();
        let first: Vec<String> = (0..3)
            .map(|_| ceremonies.begin_with(discoverable(), start, 3))
            .collect();
        let newest = ceremonies.begin_with(discoverable(), start, 3);
        assert_eq!(ceremonies.0.lock().unwrap().map.len(), 3, "still bounded");
        assert!(ceremonies.take(&newest).is_ok(), "the new one was kept");
        let kept = first
            .iter()
            .filter(|id| ceremonies.take(id).is_ok())
            .count();
        assert_eq!(kept, 2, "one older handshake made room");
    }
}
