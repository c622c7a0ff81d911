//! The verified-token cache: a repeat token skips the signature check.
//!
//! Keyed by the whole token (a lookup compares every byte, so no collision can authenticate
//! anyone); bounded in entries; an entry expires no later than its token's `exp`; entries made
//! under an older key-removal epoch (a key has since left the JWKS) are refused and dropped.

use std::{
    hash::{BuildHasher, Hasher, RandomState},
    time::{Duration, Instant},
};

use moka::{Expiry, sync::Cache};

use crate::PassageClaims;

#[derive(Clone)]
struct Entry {
    claims: PassageClaims,
    epoch: u64,
}

struct UntilExp;

impl Expiry<Box<str>, Entry> for UntilExp {
    fn expire_after_create(&self, _: &Box<str>, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(Duration::from_secs(
            entry.claims.expires_at().saturating_sub(super::now_secs()),
        ))
    }
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
    entries: Cache<Box<str>, Entry, TailHash>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.entries.policy().max_capacity())
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl TokenCache {
    pub(crate) fn new(capacity: u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilExp)
                .build_with_hasher(TailHash::default()),
        }
    }

    /// The claims of a token verified before, if still within `exp` (moka expires each entry at
    /// its token's `exp`, see [`UntilExp`]) and made under the current key epoch.
    pub(crate) fn get(&self, token: &str, epoch: u64) -> Option<PassageClaims> {
        let entry = self.entries.get(token)?;
        if entry.epoch != epoch {
            self.entries.invalidate(token);
            return None;
        }
        Some(entry.claims)
    }

    pub(crate) fn insert(&self, token: &str, claims: PassageClaims, epoch: u64) {
        self.entries.insert(token.into(), Entry { claims, epoch });
    }

    /// Approximate number of entries (exact after pending maintenance runs).
    pub(crate) fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
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

    #[test]
    fn a_shared_tail_never_matches_another_token() {
        let cache = TokenCache::new(10);
        let tail = "s".repeat(TAIL);
        let now = crate::auth::now_secs();
        cache.insert(&format!("genuine.{tail}"), claims(now + 60), 0);
        assert!(cache.get(&format!("genuine.{tail}"), 0).is_some());
        assert!(cache.get(&format!("forged.{tail}"), 0).is_none());
    }

    #[test]
    fn entries_from_an_older_key_epoch_are_refused() {
        let cache = TokenCache::new(10);
        let now = crate::auth::now_secs();
        cache.insert("a.b.c", claims(now + 60), 3);
        assert!(cache.get("a.b.c", 4).is_none(), "a key left the JWKS since");
        assert!(cache.get("a.b.c", 3).is_none(), "and the entry is gone");
    }

    #[test]
    fn entries_die_at_exp() {
        let cache = TokenCache::new(10);
        let now = crate::auth::now_secs();
        cache.insert("d.e.f", claims(now + 1), 0);
        assert!(cache.get("d.e.f", 0).is_some());
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert!(
            cache.get("d.e.f", 0).is_none(),
            "moka expires the entry at exp"
        );
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
    }
}
