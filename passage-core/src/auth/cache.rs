//! The verified-token cache: a repeat token skips the signature check.
//!
//! Keyed by the whole token (a lookup compares every byte, so no collision can authenticate
//! anyone); bounded in entries ([`quick_cache`]'s scan-resistant CLOCK-Pro eviction); an entry is
//! never served at or after its token's `exp`; entries made under an older key-removal epoch (a
//! key has since left the JWKS) are refused and dropped.
//!
//! Why `quick_cache` and not `moka`: a hit here is the whole per-request cost of authentication.
//! A `quick_cache` hit is one shard read lock and a hash-table probe; a `moka` hit also records
//! the read in a channel and runs its housekeeping on the caller's thread. The expiry `moka`
//! offered is one comparison here, against the clock reading the caller already made.

use std::{
    hash::{BuildHasher, Hasher, RandomState},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use quick_cache::{UnitWeighter, sync::Cache};

use crate::PassageClaims;

#[derive(Clone)]
struct Entry {
    claims: PassageClaims,
    epoch: u64,
    /// The token's `exp` on the monotonic clock the lookups read (converted once, at insertion:
    /// a later step of the wall clock does not move it).
    expires: Instant,
}

/// Hashes only the last [`TAIL`] bytes of what it is given, with a per-process random key.
///
/// Tokens end in their RSA signature, so the tail is unpredictable for every token in the cache
/// (only signature-verified tokens are ever inserted), and hashing 32 bytes instead of the whole
/// ~800-byte token makes a hit several times cheaper. Lookups still compare the whole token, so a
/// shared tail can never match a different token; a crafted token that shares a cached token's
/// tail only costs itself one extra comparison.
#[derive(Clone, Default)]
struct TailHash(RandomState);

const TAIL: usize = 32;

struct TailHasher<H>(H);

impl BuildHasher for TailHash {
    type Hasher = TailHasher<<RandomState as BuildHasher>::Hasher>;

    fn build_hasher(&self) -> Self::Hasher {
        TailHasher(self.0.build_hasher())
    }
}

impl<H: Hasher> Hasher for TailHasher<H> {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(&bytes[bytes.len().saturating_sub(TAIL)..]);
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

pub(crate) struct TokenCache {
    entries: Cache<Box<[u8]>, Entry, UnitWeighter, TailHash>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.entries.capacity())
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl TokenCache {
    pub(crate) fn new(capacity: u64) -> Self {
        let items = usize::try_from(capacity).unwrap_or(usize::MAX);
        Self {
            entries: Cache::with(
                items,
                capacity,
                UnitWeighter,
                TailHash::default(),
                quick_cache::sync::DefaultLifecycle::default(),
            ),
        }
    }

    /// The claims of a token verified before, if `now` is before its `exp` and it was verified
    /// under the current key epoch. Compares the raw bytes of the request's credential: only
    /// tokens that passed every check are cached, so an equal credential is that same token.
    pub(crate) fn get(&self, token: &[u8], epoch: u64, now: Instant) -> Option<PassageClaims> {
        let entry = self.entries.get(token)?;
        if entry.epoch != epoch || now >= entry.expires {
            self.entries.remove(token);
            return None;
        }
        Some(entry.claims)
    }

    /// Remembers a verified token until its `exp` (not at all when that has passed).
    pub(crate) fn insert(&self, token: &str, claims: PassageClaims, epoch: u64) {
        let now = Instant::now();
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let left = Duration::from_secs(claims.expires_at()).saturating_sub(since_epoch);
        if left.is_zero() {
            return;
        }
        let Some(expires) = now.checked_add(left) else {
            return;
        };
        let entry = Entry {
            claims,
            epoch,
            expires,
        };
        self.entries.insert(token.as_bytes().into(), entry);
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> u64 {
        u64::try_from(self.entries.len()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    fn claims(exp: u64) -> PassageClaims {
        PassageClaims::new(
            "u".into(),
            exp,
            None,
            None,
            None,
            vec!["app".into()],
            Map::new(),
        )
    }

    fn in_secs(secs: u64) -> Instant {
        Instant::now() + Duration::from_secs(secs)
    }

    #[test]
    fn a_shared_tail_never_matches_another_token() {
        let cache = TokenCache::new(10);
        let tail = "s".repeat(TAIL);
        let now = crate::auth::now_secs();
        cache.insert(&format!("genuine.{tail}"), claims(now + 60), 0);
        let genuine = format!("genuine.{tail}");
        let forged = format!("forged.{tail}");
        assert!(cache.get(genuine.as_bytes(), 0, Instant::now()).is_some());
        assert!(cache.get(forged.as_bytes(), 0, Instant::now()).is_none());
    }

    #[test]
    fn entries_from_an_older_key_epoch_are_refused() {
        let cache = TokenCache::new(10);
        let now = crate::auth::now_secs();
        cache.insert("a.b.c", claims(now + 60), 3);
        assert!(
            cache.get(b"a.b.c", 4, Instant::now()).is_none(),
            "a key left the JWKS since"
        );
        assert!(
            cache.get(b"a.b.c", 3, Instant::now()).is_none(),
            "and the entry is gone"
        );
    }

    #[test]
    fn entries_are_never_served_at_or_after_exp() {
        let cache = TokenCache::new(10);
        let now = crate::auth::now_secs();
        cache.insert("d.e.f", claims(now + 1), 0);
        assert!(cache.get(b"d.e.f", 0, Instant::now()).is_some());
        // `exp` is at most one second away: never served a second from now.
        assert!(cache.get(b"d.e.f", 0, in_secs(1)).is_none());
        assert!(
            cache.get(b"d.e.f", 0, Instant::now()).is_none(),
            "and the expired entry is gone"
        );
    }

    #[test]
    fn tokens_already_expired_are_not_cached() {
        let cache = TokenCache::new(10);
        let now = crate::auth::now_secs();
        cache.insert("g.h.i", claims(now.saturating_sub(1)), 0);
        assert!(cache.get(b"g.h.i", 0, Instant::now()).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn any_configured_capacity_builds_and_allocates_lazily() {
        let cache = TokenCache::new(u64::MAX);
        let now = crate::auth::now_secs();
        cache.insert("j.k.l", claims(now + 60), 0);
        assert!(cache.get(b"j.k.l", 0, Instant::now()).is_some());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = TokenCache::new(100);
        let now = crate::auth::now_secs();
        for i in 0..5_000 {
            cache.insert(
                &format!("token.{i}.{}", "x".repeat(40)),
                claims(now + 600),
                0,
            );
        }
        assert!(cache.len() <= 100, "{} entries", cache.len());
        assert!(cache.len() >= 50, "{} entries: still caching", cache.len());
    }
}
