//! The wall clock validation reads: token times (`exp`, `nbf`) on every path, cache hits
//! included, and the freshness of the key set.
//!
//! Why the wall clock and not [`Instant`](std::time::Instant): token times are wall-clock
//! seconds, and a monotonic clock stands still while a host is suspended, so anything converted
//! to it (a cache entry's expiry, a key set's freshness) outlives its wall-clock deadline by the
//! length of every suspension. One wall-clock reading per request serves every check.

use std::{
    fmt,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// A source of the current time, for tests that move time (set with
/// [`PassageBuilder::clock`](crate::PassageBuilder::clock)).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use passage_core::{Clock, Passage};
///
/// /// Two hours ahead of the system clock.
/// #[derive(Debug)]
/// struct Ahead;
///
/// impl Clock for Ahead {
///     fn now(&self) -> SystemTime {
///         SystemTime::now() + Duration::from_secs(7200)
///     }
/// }
///
/// let passage = Passage::builder("my-app")
///     .auth_url("https://auth.example.com")
///     .api_url("https://passage-api.internal:8787")
///     .clock(Ahead)
///     .build()?;
/// # Ok::<(), passage_core::ConfigError>(())
/// ```
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> SystemTime;
}

/// The clock a client reads: the system clock unless a test set another.
#[derive(Debug, Clone, Default)]
pub(crate) struct WallClock(Option<Arc<dyn Clock>>);

impl WallClock {
    pub(crate) fn custom(clock: Arc<dyn Clock>) -> Self {
        Self(Some(clock))
    }

    /// Time since the Unix epoch (zero for a clock set before 1970).
    #[inline]
    pub(crate) fn now(&self) -> Duration {
        let now = match &self.0 {
            None => SystemTime::now(),
            Some(clock) => clock.now(),
        };
        now.duration_since(UNIX_EPOCH).unwrap_or_default()
    }
}
