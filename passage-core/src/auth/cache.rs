//! The verified-token cache: a repeat token skips the signature check.
//!
//! Keyed by the whole token (a lookup compares every byte, so no collision can authenticate
//! anyone); bounded in entries; an entry expires no later than its token's `exp`; entries made
//! under an older key-removal epoch (a key has since left the JWKS) are refused and dropped.

use std::time::{Duration, Instant};

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

pub(crate) struct TokenCache {
    entries: Cache<Box<str>, Entry>,
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
                .build(),
        }
    }

    /// The claims of a token verified before, if still within `exp` and the key epoch.
    pub(crate) fn get(&self, token: &str, epoch: u64, now: u64) -> Option<PassageClaims> {
        let entry = self.entries.get(token)?;
        if entry.epoch != epoch || now >= entry.claims.expires_at() {
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
