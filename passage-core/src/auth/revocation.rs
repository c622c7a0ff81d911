//! Session revocation: "this user's tokens issued until now no longer count". A Passage token
//! stays valid until its `exp` whatever happens to its user; a revocation makes a deactivation,
//! a deletion or "sign out everywhere" take effect at once on every request this client checks.
//!
//! A revocation is (user id, `revoked_at` in seconds). A token of that user whose `iat` is at or
//! before `revoked_at` — or that has no `iat` — is refused ([`Invalid::Revoked`]); tokens issued
//! later pass. Entries are kept for the *retention* (default 24 h, set it to at least your
//! app's longest token lifetime): long enough that every token issued before them has expired,
//! and never forgotten earlier. Requests read only this local list — one atomic load when it is
//! empty; a [`SharedRevocations`] backend (e.g. `passage-redis`) shares it across replicas.

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Arc, OnceLock, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use super::{
    clock::WallClock,
    error::{AuthError, Invalid},
};
use crate::PassageClaims;

/// Default retention of a revocation: 24 hours.
pub const DEFAULT_REVOCATION_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Set in the gate while requests must be refused (fail-closed and out of sync).
const BLOCKED: u64 = 1 << 63;

/// One revocation: the user's tokens issued at or before `revoked_at` are refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Revocation {
    user_id: String,
    revoked_at: u64,
}

impl Revocation {
    /// A revocation of `user_id`'s tokens issued at or before `revoked_at` (Unix seconds).
    ///
    /// ```
    /// use passage_core::Revocation;
    /// let revocation = Revocation::new("user-1", 1_800_000_000);
    /// assert_eq!(revocation.user_id(), "user-1");
    /// assert_eq!(revocation.revoked_at(), 1_800_000_000);
    /// ```
    #[must_use]
    pub fn new(user_id: impl Into<String>, revoked_at: u64) -> Self {
        Self {
            user_id: user_id.into(),
            revoked_at,
        }
    }

    /// Whose tokens.
    #[must_use]
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    /// Tokens issued at or before this time (Unix seconds) are refused.
    #[must_use]
    pub fn revoked_at(&self) -> u64 {
        self.revoked_at
    }
}

/// Shares revocations across replicas (implemented by `passage-redis`); set with
/// [`PassageBuilder::revocations`](crate::PassageBuilder::revocations). passage-core never
/// waits on it: requests read the local [`RevocationList`] only.
pub trait SharedRevocations: fmt::Debug + Send + Sync + 'static {
    /// Called once, when a client is built: from then on, apply revocations made elsewhere to
    /// `local` ([`RevocationList::apply`]) and report whether it is in sync
    /// ([`RevocationList::set_synced`]; it starts out of sync).
    fn attach(&self, local: RevocationList);

    /// A revocation this client made (already applied locally): share it. Must not block; a
    /// revocation that cannot be shared yet must be kept and shared later, never dropped.
    fn publish(&self, revocation: &Revocation);
}

/// The revocations a client enforces; reached through
/// [`Auth::revocations`](crate::Auth::revocations). Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct RevocationList {
    inner: Arc<ListInner>,
}

struct ListInner {
    /// Entries in the low bits, [`BLOCKED`] on top: zero means "nothing to check".
    gate: AtomicU64,
    /// The latest `revoked_at` of each user.
    entries: RwLock<HashMap<Arc<str>, u64>>,
    /// When entries past their retention were last dropped (unix seconds): at most once a
    /// second, so loading thousands of revocations stays linear.
    pruned_at: AtomicU64,
    retention: u64,
    fail_closed: bool,
    synced: AtomicBool,
    shared: OnceLock<Arc<dyn SharedRevocations>>,
    clock: WallClock,
}

/// A [`RevocationList`] that does not keep it alive: what a shared backend's background task
/// holds, so it ends when the client is dropped.
#[derive(Clone)]
pub struct WeakRevocationList(std::sync::Weak<ListInner>);

impl WeakRevocationList {
    /// The list, if its client still exists.
    #[must_use]
    pub fn upgrade(&self) -> Option<RevocationList> {
        self.0.upgrade().map(|inner| RevocationList { inner })
    }
}

impl fmt::Debug for WeakRevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakRevocationList")
    }
}

impl fmt::Debug for RevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationList")
            .field("entries", &self.len())
            .field("retention_secs", &self.inner.retention)
            .field("fail_closed", &self.inner.fail_closed)
            .field("synced", &self.is_synced())
            .field("shared", &self.inner.shared.get())
            .finish()
    }
}

impl RevocationList {
    pub(crate) fn new(retention: Duration, fail_closed: bool, clock: WallClock) -> Self {
        crate::metrics::revocations(0, true);
        Self {
            inner: Arc::new(ListInner {
                gate: AtomicU64::new(0),
                entries: RwLock::new(HashMap::new()),
                pruned_at: AtomicU64::new(0),
                retention: retention.as_secs(),
                fail_closed,
                synced: AtomicBool::new(true),
                shared: OnceLock::new(),
                clock,
            }),
        }
    }

    /// Connects a shared backend (once): the list is out of sync until the backend says so.
    pub(crate) fn share(&self, shared: Arc<dyn SharedRevocations>) {
        if self.inner.shared.set(Arc::clone(&shared)).is_ok() {
            self.set_synced(false);
            shared.attach(self.clone());
        }
    }

    /// A handle that does not keep the list (and its client) alive.
    #[must_use]
    pub fn downgrade(&self) -> WeakRevocationList {
        WeakRevocationList(Arc::downgrade(&self.inner))
    }

    /// Revokes `user_id`'s sessions now: applied here at once, and shared when a backend is set.
    pub fn revoke(&self, user_id: &str) -> Revocation {
        let revocation = Revocation::new(user_id, self.inner.clock.now().as_secs());
        self.apply(&revocation);
        if let Some(shared) = self.inner.shared.get() {
            shared.publish(&revocation);
        }
        tracing::info!(user_id, "passage: sessions revoked");
        revocation
    }

    /// Applies a revocation made elsewhere (not shared again). Keeps the latest per user;
    /// ignores one already past its retention. True when it changed the list.
    pub fn apply(&self, revocation: &Revocation) -> bool {
        let now = self.inner.clock.now().as_secs();
        if revocation.revoked_at.saturating_add(self.inner.retention) <= now {
            return false;
        }
        let mut entries = self.write();
        if self.inner.pruned_at.swap(now, Ordering::Relaxed) != now {
            entries.retain(|_, at| at.saturating_add(self.inner.retention) > now);
        }
        let changed = match entries.get_mut(revocation.user_id.as_str()) {
            Some(at) if *at >= revocation.revoked_at => false,
            Some(at) => {
                *at = revocation.revoked_at;
                true
            }
            None => {
                entries.insert(revocation.user_id.as_str().into(), revocation.revoked_at);
                true
            }
        };
        self.update_gate(entries.len());
        changed
    }

    /// Whether a token of `user_id` issued at `issued_at` (`None`: no `iat`) is revoked.
    #[must_use]
    pub fn is_revoked(&self, user_id: &str, issued_at: Option<u64>) -> bool {
        if self.inner.gate.load(Ordering::Acquire) & !BLOCKED == 0 {
            return false;
        }
        let entries = self
            .inner
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(user_id)
            .is_some_and(|revoked_at| issued_at.is_none_or(|iat| iat <= *revoked_at))
    }

    /// Every revocation held (still within its retention).
    #[must_use]
    pub fn current(&self) -> Vec<Revocation> {
        let now = self.inner.clock.now().as_secs();
        self.inner
            .entries
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(_, at)| at.saturating_add(self.inner.retention) > now)
            .map(|(user, at)| Revocation::new(user.as_ref(), *at))
            .collect()
    }

    /// How many users have a revocation held.
    #[must_use]
    pub fn len(&self) -> usize {
        usize::try_from(self.inner.gate.load(Ordering::Acquire) & !BLOCKED).unwrap_or(usize::MAX)
    }

    /// True when no revocation is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How long a revocation is kept.
    #[must_use]
    pub fn retention(&self) -> Duration {
        Duration::from_secs(self.inner.retention)
    }

    /// Whether the shared backend has every revocation (always true without one).
    #[must_use]
    pub fn is_synced(&self) -> bool {
        self.inner.synced.load(Ordering::Acquire)
    }

    /// Called by the shared backend: in sync (loaded, subscribed) or not. Out of sync, a
    /// fail-closed client refuses every token with 503 (`revocations_unavailable`); a
    /// fail-open one (the default) keeps serving with what it holds.
    pub fn set_synced(&self, synced: bool) {
        let entries = self.write();
        let was = self.inner.synced.swap(synced, Ordering::AcqRel);
        self.update_gate(entries.len());
        drop(entries);
        if was != synced {
            if synced {
                tracing::info!("passage: revocations in sync");
            } else {
                tracing::warn!(
                    fail_closed = self.inner.fail_closed,
                    "passage: revocations out of sync; a revocation made elsewhere may be missed"
                );
            }
        }
    }

    /// The check every validated token passes, cache hits included.
    #[inline]
    pub(crate) fn check(&self, claims: &PassageClaims) -> Result<(), AuthError> {
        let gate = self.inner.gate.load(Ordering::Acquire);
        if gate == 0 {
            return Ok(());
        }
        if gate & BLOCKED != 0 {
            return Err(AuthError::RevocationsUnavailable);
        }
        if self.is_revoked(claims.user_id(), claims.issued_at()) {
            return Err(AuthError::Invalid(Invalid::Revoked));
        }
        Ok(())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Arc<str>, u64>> {
        self.inner
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Recomputes the gate (called with the write lock held).
    fn update_gate(&self, len: usize) {
        crate::metrics::revocations(len, self.inner.synced.load(Ordering::Acquire));
        let blocked = self.inner.fail_closed && !self.inner.synced.load(Ordering::Acquire);
        let len = u64::try_from(len).unwrap_or(BLOCKED - 1).min(BLOCKED - 1);
        let gate = len | if blocked { BLOCKED } else { 0 };
        self.inner.gate.store(gate, Ordering::Release);
    }
}
