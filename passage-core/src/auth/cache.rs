//! The verified-token cache: a repeat token skips the signature check.
//!
//! Keyed by the whole token (a lookup compares every byte, so no collision can authenticate
//! anyone); bounded in entries ([`quick_cache`]'s scan-resistant CLOCK-Pro eviction); an entry is
//! served only inside its token's `nbf`..`exp` window on the wall clock (the same clock and the
//! same seconds the full validation reads, so a hit never outlives what a full validation would
//! accept, even after a host suspend or a corrected clock); entries made under an older key
//! epoch (a key has since left the JWKS or changed its material) are refused and dropped.
//!
//! Why `quick_cache` and not `moka`: a hit here is the whole per-request cost of authentication.
//! A `quick_cache` hit is one shard read lock and a hash-table probe; a `moka` hit also records
//! the read in a channel and runs its housekeeping on the caller's thread. The expiry `moka`
//! offered is one comparison here, against the clock reading the caller already made.

use std::{
    hash::{BuildHasher, Hasher, RandomState},
    sync::atomic::{AtomicU64, Ordering},
};

use quick_cache::{UnitWeighter, sync::Cache};

use crate::{PassageClaims, metrics};

#[derive(Clone)]
struct Entry {
    claims: PassageClaims,
    epoch: u64,
    /// First second the entry may serve: the token's `nbf` less the leeway (0 without `nbf`).
    from: u64,
    /// The token's `exp`, in seconds since the Unix epoch: never served at or after it.
    until: u64,
}

/// Hashes only the last [`TAIL`] bytes of what it is given, keyed per process.
///
/// Tokens end in their RSA signature, so the tail is unpredictable for every token in the cache
/// (only signature-verified tokens are ever inserted): the last 16 base64url characters of an
/// RSA-2048 signature carry 92 random bits. A keyed multiply-fold of those bytes is enough to
/// spread them, and costs a few instructions where SipHash over a 32-byte tail cost ~280 per
/// lookup (`benches/instructions.sh`).
/// Nobody can choose the keys in the table, so a weak hash opens no flooding attack: a crafted
/// lookup can at most land in the bucket of a real token and cost itself one comparison, because
/// lookups still compare the whole token and a shared tail never matches a different token.
#[derive(Clone)]
struct TailHash {
    keys: [u64; 2],
}

const TAIL: usize = 16;

impl Default for TailHash {
    fn default() -> Self {
        // Two random words from the standard library's per-process random hasher keys.
        let random = RandomState::new();
        let first = random.hash_one(0x243f_6a88_85a3_08d3_u64);
        Self {
            keys: [first, random.hash_one(first)],
        }
    }
}

struct TailHasher {
    keys: [u64; 2],
    state: u64,
}

impl BuildHasher for TailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> Self::Hasher {
        TailHasher {
            keys: self.keys,
            state: 0,
        }
    }
}

impl Hasher for TailHasher {
    fn write(&mut self, bytes: &[u8]) {
        let tail = &bytes[bytes.len().saturating_sub(TAIL)..];
        let mut block = [0u8; TAIL];
        block[TAIL - tail.len()..].copy_from_slice(tail);
        let block = u128::from_le_bytes(block);
        let (low, high) = (block as u64, (block >> 64) as u64);
        self.state = fold(self.state ^ low ^ self.keys[0], high ^ self.keys[1]);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

/// The folded multiply: the high and low halves of the 128-bit product, xored.
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

pub(crate) struct TokenCache {
    entries: Cache<Box<[u8]>, Entry, UnitWeighter, TailHash>,
    /// The second the entry count was last reported in (a metric).
    reported_at: AtomicU64,
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
            reported_at: AtomicU64::new(u64::MAX),
        }
    }

    /// The claims of a token verified before, if `now` (wall-clock seconds) is inside its
    /// validity window and it was verified under the current key epoch. Compares the raw bytes of
    /// the request's credential: only tokens that passed every check are cached, so an equal
    /// credential is that same token.
    pub(crate) fn get(&self, token: &[u8], epoch: u64, now: u64) -> Option<PassageClaims> {
        let entry = self.entries.get(token)?;
        if entry.epoch != epoch || now >= entry.until {
            self.entries.remove(token);
            self.report_entries(now);
            return None;
        }
        // Before `nbf` (the clock stepped back since): not served, but kept for later.
        (now >= entry.from).then_some(entry.claims)
    }

    /// Remembers a verified token for its validity window: from its `nbf` less `leeway`, until
    /// its `exp` (not at all when that has passed at `now`).
    pub(crate) fn insert(
        &self,
        token: &str,
        claims: PassageClaims,
        epoch: u64,
        now: u64,
        leeway: u64,
    ) {
        let until = claims.expires_at();
        if now >= until {
            return;
        }
        let from = claims
            .not_before()
            .map_or(0, |nbf| nbf.saturating_sub(leeway));
        let entry = Entry {
            claims,
            epoch,
            from,
            until,
        };
        self.entries.insert(token.as_bytes().into(), entry);
        self.report_entries(now);
    }

    /// Reports the number of entries, at most once a second (`now`): counting them reads every
    /// shard, which a full validation should not pay each time on a many-core host.
    fn report_entries(&self, now: u64) {
        if self.reported_at.load(Ordering::Relaxed) != now {
            self.reported_at.store(now, Ordering::Relaxed);
            metrics::token_cache_entries(self.len());
        }
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
    use crate::auth::claims::Verified;

    const NOW: u64 = 1_800_000_000;

    fn claims(exp: u64, nbf: Option<u64>) -> PassageClaims {
        PassageClaims::new(Verified {
            sub: "u".into(),
            exp,
            iat: None,
            nbf,
            iss: None,
            aud: vec!["app".into()],
            all: Map::new(),
            authority: "test".into(),
        })
    }

    #[test]
    fn a_shared_tail_never_matches_another_token() {
        let cache = TokenCache::new(10);
        let tail = "s".repeat(TAIL);
        cache.insert(
            &format!("genuine.{tail}"),
            claims(NOW + 60, None),
            0,
            NOW,
            0,
        );
        let genuine = format!("genuine.{tail}");
        let forged = format!("forged.{tail}");
        assert!(cache.get(genuine.as_bytes(), 0, NOW).is_some());
        assert!(cache.get(forged.as_bytes(), 0, NOW).is_none());
    }

    #[test]
    fn entries_from_an_older_key_epoch_are_refused() {
        let cache = TokenCache::new(10);
        cache.insert("a.b.c", claims(NOW + 60, None), 3, NOW, 0);
        assert!(
            cache.get(b"a.b.c", 4, NOW).is_none(),
            "a key left the JWKS since"
        );
        assert!(
            cache.get(b"a.b.c", 3, NOW).is_none(),
            "and the entry is gone"
        );
    }

    #[test]
    fn entries_are_never_served_at_or_after_exp() {
        let cache = TokenCache::new(10);
        cache.insert("d.e.f", claims(NOW + 1, None), 0, NOW, 0);
        assert!(cache.get(b"d.e.f", 0, NOW).is_some());
        assert!(cache.get(b"d.e.f", 0, NOW + 1).is_none());
        assert!(
            cache.get(b"d.e.f", 0, NOW).is_none(),
            "and the expired entry is gone"
        );
    }

    #[test]
    fn entries_are_not_served_before_nbf_after_the_clock_steps_back() {
        let cache = TokenCache::new(10);
        cache.insert("n.b.f", claims(NOW + 60, Some(NOW - 10)), 0, NOW, 5);
        assert!(cache.get(b"n.b.f", 0, NOW).is_some());
        assert!(
            cache.get(b"n.b.f", 0, NOW - 15).is_some(),
            "within the leeway"
        );
        assert!(
            cache.get(b"n.b.f", 0, NOW - 16).is_none(),
            "before nbf - leeway"
        );
        assert!(
            cache.get(b"n.b.f", 0, NOW).is_some(),
            "kept for when it is valid again"
        );
    }

    #[test]
    fn tokens_already_expired_are_not_cached() {
        let cache = TokenCache::new(10);
        cache.insert("g.h.i", claims(NOW - 1, None), 0, NOW, 0);
        cache.insert("g.h.j", claims(NOW, None), 0, NOW, 0);
        assert!(cache.get(b"g.h.i", 0, NOW - 5).is_none());
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn any_configured_capacity_builds_and_allocates_lazily() {
        let cache = TokenCache::new(u64::MAX);
        cache.insert("j.k.l", claims(NOW + 60, None), 0, NOW, 0);
        assert!(cache.get(b"j.k.l", 0, NOW).is_some());
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = TokenCache::new(100);
        for i in 0..5_000 {
            cache.insert(
                &format!("token.{i}.{}", "x".repeat(40)),
                claims(NOW + 600, None),
                0,
                NOW,
                0,
            );
        }
        assert!(cache.len() <= 100, "{} entries", cache.len());
        assert!(cache.len() >= 50, "{} entries: still caching", cache.len());
    }
}
