//! Signing keys as the store keeps them: sealed at rest, opened at start, rotated by any
//! process (`passage-server rotate-key`), and reloaded by every replica, so all of them serve
//! the same JWKS and sign with the same key.
//!
//! A rotation stores a new key that **signs from** a moment in the future. Until then every
//! replica serves it in the JWKS (announced) and keeps signing with the key before it; from then
//! on every replica signs with it; the key before it stays in the JWKS while tokens it signed
//! can still be valid (the session length, plus five minutes), then leaves it. Replicas read the
//! keys again every [`ServerBuilder::key_reload_interval`](crate::ServerBuilder::key_reload_interval),
//! so a rotation's delay must be longer than that (the CLI's default, 10 minutes, also outlasts
//! the JWKS's `Cache-Control` of 5 minutes for validators that do not fetch again on an unknown
//! `kid`).

use std::{collections::HashMap, sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{
    ServerError,
    keys::{KeyRing, SigningKey},
    seal::SealingKey,
    state::{Shared, lock},
    store::{Store, StoredKey},
};

/// The sealing keys a server was given.
#[derive(Clone, Default)]
pub(crate) struct Sealing {
    pub(crate) current: Option<SealingKey>,
    pub(crate) previous: Option<SealingKey>,
}

impl Sealing {
    /// A key as the store keeps it: sealed under the current key, when there is one.
    pub(crate) fn store(
        &self,
        key: &SigningKey,
        signs_from: i64,
    ) -> Result<StoredKey, ServerError> {
        let pkcs8 = key.to_pkcs8()?;
        let pkcs8 = match &self.current {
            Some(sealing) => sealing.seal(key.kid(), &pkcs8)?,
            None => pkcs8,
        };
        Ok(StoredKey {
            kid: key.kid().to_owned(),
            pkcs8,
            signs_from,
        })
    }

    /// A stored key opened, and whether it must be stored again (sealed now, or under the
    /// current key rather than a previous one).
    pub(crate) fn open(&self, stored: &StoredKey) -> Result<(SigningKey, bool), ServerError> {
        if !crate::seal::is_sealed(&stored.pkcs8) {
            let key = SigningKey::from_pkcs8(stored.kid.clone(), &stored.pkcs8)?;
            return Ok((key, self.current.is_some()));
        }
        let keys: Vec<&SealingKey> = self.current.iter().chain(self.previous.iter()).collect();
        let plain = crate::seal::open(&stored.kid, &stored.pkcs8, &keys)?;
        let under_current = self.current.as_ref().is_some_and(|current| {
            crate::seal::open(&stored.kid, &stored.pkcs8, &[current]).is_ok()
        });
        Ok((
            SigningKey::from_pkcs8(stored.kid.clone(), &plain)?,
            !under_current,
        ))
    }
}

/// The key ring at start: the store's keys, the given key, or a new one — kept in the store
/// (sealed when a sealing key is given), so a restart, and every replica on the same database,
/// serves and signs with the same keys. Of two servers starting at once on an empty database,
/// both keep the first key stored. Returns the ring and the store's keys opened (by `kid`).
pub(crate) async fn start(
    store: &dyn Store,
    given: Option<SigningKey>,
    sealing: &Sealing,
    retain: i64,
) -> Result<(KeyRing, Opened), ServerError> {
    let mut stored = store.signing_keys().await?;
    if stored.is_empty() && given.is_none() {
        let candidate = SigningKey::generate()?;
        stored = store
            .first_signing_key(sealing.store(&candidate, 0)?)
            .await?;
    }
    let mut opened = Opened::default();
    for key in &stored {
        let (key_opened, reseal) = sealing.open(key)?;
        if reseal {
            store
                .replace_signing_key(sealing.store(&key_opened, key.signs_from)?)
                .await?;
            tracing::info!(kid = %key.kid, "passage-server: a signing key was sealed under the current sealing key");
        }
        opened.0.insert(key.kid.clone(), key_opened);
    }
    let Some(given) = given else {
        let ring = ring(&stored, &opened, now(), retain)
            .ok_or_else(|| ServerError::Config("the store holds no signing key".into()))?;
        return Ok((ring, opened));
    };
    // A key given by the embedding code signs from now on, beside the stored ones.
    if !opened.0.contains_key(given.kid()) {
        store.add_signing_key(sealing.store(&given, 0)?).await?;
    }
    let mut served: Vec<SigningKey> = stored
        .iter()
        .filter_map(|key| opened.0.get(&key.kid).cloned())
        .filter(|key| key.kid() != given.kid())
        .collect();
    served.push(given.clone());
    Ok((KeyRing::with_served(given, served), opened))
}

/// The store's keys, opened, by `kid` (so a reload unseals only the new ones).
#[derive(Default)]
pub(crate) struct Opened(HashMap<String, SigningKey>);

/// Seconds since the epoch.
fn now() -> i64 {
    crate::store::now().unix_timestamp()
}

/// The ring the stored keys make at `now`: the newest key whose time has come signs; keys
/// whose time is still to come are served (announced); a key superseded less than `retain`
/// seconds ago is served (tokens it signed are still valid). `None` without keys.
pub(crate) fn ring(
    stored: &[StoredKey],
    opened: &Opened,
    now: i64,
    retain: i64,
) -> Option<KeyRing> {
    // In the order they sign in: by `signs_from`, then as stored.
    let mut order: Vec<&StoredKey> = stored.iter().collect();
    order.sort_by_key(|key| key.signs_from);
    let current = order
        .iter()
        .rposition(|key| key.signs_from <= now)
        .unwrap_or(0);
    let mut served = Vec::new();
    for (index, key) in order.iter().enumerate() {
        let superseded_at = order.get(index + 1).map(|next| next.signs_from);
        let serve =
            index >= current || superseded_at.is_some_and(|at| at.saturating_add(retain) > now);
        if serve && let Some(key) = opened.0.get(&key.kid) {
            served.push(key.clone());
        }
    }
    let current = opened.0.get(&order.get(current)?.kid)?.clone();
    Some(KeyRing::with_served(current, served))
}

/// Reads the store's keys every `interval` and rebuilds the ring (new keys, keys whose time
/// came, keys retired), until `stop`.
pub(crate) fn reload(
    shared: Arc<Shared>,
    sealing: Sealing,
    mut opened: Opened,
    interval: Duration,
    retain: i64,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(interval);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            tokio::select! {
                _ = every.tick() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            let stored = match shared.store.signing_keys().await {
                Ok(stored) => stored,
                Err(err) => {
                    crate::metrics::store_error("upkeep");
                    tracing::error!(error = %err, "passage-server: the signing keys could not be read again");
                    continue;
                }
            };
            for key in &stored {
                if opened.0.contains_key(&key.kid) {
                    continue;
                }
                match sealing.open(key) {
                    Ok((key_opened, _)) => {
                        tracing::info!(kid = %key.kid, signs_from = key.signs_from, "passage-server: a new signing key");
                        opened.0.insert(key.kid.clone(), key_opened);
                    }
                    Err(err) => {
                        tracing::error!(kid = %key.kid, error = %err, "passage-server: a new signing key cannot be opened (is it sealed under another sealing key?)")
                    }
                }
            }
            if let Some(ring) = ring(&stored, &opened, now(), retain) {
                let mut keys = lock(&shared.keys);
                if keys.current.kid() != ring.current.kid() {
                    tracing::info!(kid = %ring.current.kid(), "passage-server: signing with a new key");
                }
                let extra = std::mem::take(&mut keys.extra);
                *keys = ring;
                keys.extra = extra;
            }
        }
    })
}

/// A key [`rotate`] stored.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The new key's id.
    pub kid: String,
    /// When it starts signing (seconds since the epoch); served from the next reload.
    pub signs_from: i64,
}

/// Stores a new signing key that signs from `signs_in` from now (every replica serves it from
/// its next reload, and signs with it from then on), sealed under `sealing` — required when the
/// stored keys are sealed.
///
/// # Errors
/// [`ServerError`] when the store fails, a key cannot be made, or the stored keys are sealed and
/// no sealing key is given.
pub async fn rotate(
    store: &dyn Store,
    sealing: Option<SealingKey>,
    signs_in: Duration,
) -> Result<Rotation, ServerError> {
    let stored = store.signing_keys().await?;
    if sealing.is_none() && stored.iter().any(|key| crate::seal::is_sealed(&key.pkcs8)) {
        return Err(ServerError::Config(
            "the stored signing keys are sealed: give the sealing key (--key-file) to seal the new one".into(),
        ));
    }
    let sealing = Sealing {
        current: sealing,
        previous: None,
    };
    if let Some(key) = stored.first() {
        // The sealing key must be the one the server runs with: a key it cannot open would
        // never sign.
        sealing.open(key)?;
    }
    let key = SigningKey::generate()?;
    let signs_from = now().saturating_add(i64::try_from(signs_in.as_secs()).unwrap_or(i64::MAX));
    store
        .add_signing_key(sealing.store(&key, signs_from)?)
        .await?;
    Ok(Rotation {
        kid: key.kid().to_owned(),
        signs_from,
    })
}

#[cfg(test)]
mod tests {
    use super::{Opened, StoredKey, ring};
    use crate::keys::SigningKey;

    fn keys(plan: &[(&str, i64)]) -> (Vec<StoredKey>, Opened) {
        let mut opened = Opened::default();
        let stored = plan
            .iter()
            .map(|(kid, signs_from)| {
                let key = SigningKey::generate_with_kid(*kid).unwrap();
                opened.0.insert((*kid).to_owned(), key);
                StoredKey {
                    kid: (*kid).to_owned(),
                    pkcs8: Vec::new(),
                    signs_from: *signs_from,
                }
            })
            .collect();
        (stored, opened)
    }

    fn served(stored: &[StoredKey], opened: &Opened, now: i64) -> (String, Vec<String>) {
        let ring = ring(stored, opened, now, 100).unwrap();
        let served = ring.served.iter().map(|k| k.kid().to_owned()).collect();
        (ring.current.kid().to_owned(), served)
    }

    #[test]
    fn a_rotated_key_is_announced_then_signs_then_its_predecessor_retires() {
        // "a" signs from the start; "b" was rotated in to sign from 1 000.
        let (stored, opened) = keys(&[("a", 0), ("b", 1_000)]);
        assert_eq!(
            served(&stored, &opened, 500),
            ("a".into(), vec!["a".into(), "b".into()])
        );
        assert_eq!(
            served(&stored, &opened, 1_000),
            ("b".into(), vec!["a".into(), "b".into()])
        );
        // Retained 100 s after it was superseded, then no longer served.
        assert_eq!(
            served(&stored, &opened, 1_099),
            ("b".into(), vec!["a".into(), "b".into()])
        );
        assert_eq!(
            served(&stored, &opened, 1_100),
            ("b".into(), vec!["b".into()])
        );
    }

    #[test]
    fn keys_of_earlier_releases_sign_newest_first() {
        // Every key stored before rotations had a time signs "from the start": the last stored
        // signs, as it always did; the others stay served until retired by their successor's 0.
        let (stored, opened) = keys(&[("a", 0), ("b", 0)]);
        assert_eq!(
            served(&stored, &opened, 50),
            ("b".into(), vec!["a".into(), "b".into()])
        );
        assert_eq!(
            served(&stored, &opened, 500),
            ("b".into(), vec!["b".into()])
        );
        // Two rotations pending: both announced, the earlier signs first.
        let (stored, opened) = keys(&[("a", 0), ("c", 3_000), ("b", 2_000)]);
        assert_eq!(
            served(&stored, &opened, 10),
            ("a".into(), vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(served(&stored, &opened, 2_500).0, "b");
    }
}
