#![doc = include_str!("../README.md")]

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures_util::StreamExt as _;
use passage_core::{Revocation, RevocationList, SharedRevocations, WeakRevocationList};
use redis::{AsyncConnectionConfig, Client, Script, aio::MultiplexedConnection};
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, mpsc};

/// Why a [`RedisRevocations`] could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisRevocationsError {
    /// The Redis URL does not parse (its text is not repeated: it may hold a password).
    #[error("the Redis URL is not valid")]
    InvalidUrl(#[source] redis::RedisError),
}

/// Keeps the newest revocation of a user, expiring with its retention, and announces it:
/// `KEYS[1]` the user's key; `ARGV` revoked_at, seconds to keep, channel, message, announce.
const WRITE: &str = r"
local current = redis.call('GET', KEYS[1])
if (not current) or tonumber(current) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
if ARGV[5] == '1' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return 1
";

/// Session revocations shared through Redis, for
/// [`PassageBuilder::revocations`](passage_core::PassageBuilder::revocations).
///
/// - A revocation is written durably — key `{namespace}:revoked:{user_id}` = `revoked_at`,
///   expiring with the client's retention — and announced on the channel
///   `{namespace}:revocations`, so every replica applies it within moments.
/// - Each replica subscribes, then loads every current revocation, at start and after every
///   reconnect: nothing announced while it was disconnected is missed. It then writes back the
///   revocations it holds that Redis lacks, so a Redis that lost its data is repaired.
/// - A revocation made while Redis is unreachable applies locally at once and is queued; it is
///   written and announced when Redis is back (call [`flush`](Self::flush) before a short-lived
///   process exits).
/// - Redis is never on the request path: requests read the local list. While the subscription is
///   down the list is out of sync (logged); a client built with
///   `revocations_fail_closed(true)` then refuses tokens (503) instead of serving.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use passage_core::PassageBuilder;
/// use passage_redis::RedisRevocations;
///
/// let redis = RedisRevocations::new("redis://127.0.0.1:6379/")?.namespace("my_app");
/// let passage = PassageBuilder::from_env()?.revocations(redis.clone()).build()?;
/// passage.users().deactivate("user-1").await?; // refused on every replica from now on
/// redis.flush(std::time::Duration::from_secs(5)).await; // before a CLI exits
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisRevocations {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    namespace: String,
    queue: mpsc::UnboundedSender<Revocation>,
    /// Taken by the background task when the first client attaches.
    receiver: std::sync::Mutex<Option<mpsc::UnboundedReceiver<Revocation>>>,
    /// Revocations published and not yet written.
    unwritten: AtomicUsize,
}

impl std::fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("RedisRevocations")
            .field("namespace", &self.inner.namespace)
            .field("unwritten", &self.unwritten())
            .finish_non_exhaustive()
    }
}

/// What goes over the channel.
#[derive(Serialize, Deserialize)]
struct Announcement {
    user_id: String,
    revoked_at: u64,
}

impl RedisRevocations {
    /// Revocations in the Redis at `url` (`redis://[:password@]host[:port][/db]`), in the
    /// namespace `passage`. Nothing connects until a client is built with it.
    ///
    /// # Errors
    /// [`RedisRevocationsError::InvalidUrl`].
    pub fn new(url: &str) -> Result<Self, RedisRevocationsError> {
        let client = Client::open(url).map_err(RedisRevocationsError::InvalidUrl)?;
        let (queue, receiver) = mpsc::unbounded_channel();
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                namespace: "passage".to_owned(),
                queue,
                receiver: std::sync::Mutex::new(Some(receiver)),
                unwritten: AtomicUsize::new(0),
            }),
        })
    }

    /// The prefix of keys and channel (default `passage`): one per app sharing a Redis.
    #[must_use]
    pub fn namespace(self, namespace: impl Into<String>) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.namespace = namespace.into();
                Self {
                    inner: Arc::new(inner),
                }
            }
            // Already shared (cloned): keep it as it is rather than split the queue.
            Err(inner) => {
                tracing::warn!("passage-redis: namespace() after clone() is ignored");
                Self { inner }
            }
        }
    }

    /// Revocations published and not yet written to Redis.
    #[must_use]
    pub fn unwritten(&self) -> usize {
        self.inner.unwritten.load(Ordering::Acquire)
    }

    /// Waits until every revocation published so far is written, or `timeout` passes; true when
    /// all are written. For processes that exit right after revoking (a CLI).
    pub async fn flush(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.unwritten() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }
}

impl SharedRevocations for RedisRevocations {
    fn attach(&self, local: RevocationList) {
        let receiver = self
            .inner
            .receiver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(receiver) = receiver else {
            tracing::error!(
                "passage-redis: one RedisRevocations serves one client; build another for a second client"
            );
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(
                "passage-redis: build the client inside a tokio runtime; revocations stay local and out of sync"
            );
            return;
        };
        let sync = Sync {
            inner: Arc::clone(&self.inner),
            local: local.downgrade(),
            receiver: Mutex::new(receiver),
            retention: local.retention().as_secs(),
        };
        runtime.spawn(sync.run());
    }

    fn publish(&self, revocation: &Revocation) {
        self.inner.unwritten.fetch_add(1, Ordering::AcqRel);
        // The receiver lives as long as the background task; if it is gone, so is the client.
        if self.inner.queue.send(revocation.clone()).is_err() {
            self.inner.unwritten.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The background task: keeps the local list in sync with Redis and writes what is published.
struct Sync {
    inner: Arc<Inner>,
    local: WeakRevocationList,
    receiver: Mutex<mpsc::UnboundedReceiver<Revocation>>,
    retention: u64,
}

/// Why a session with Redis ended.
enum End {
    /// The client is gone: stop.
    Stopped,
    /// The connection failed: reconnect.
    Lost(String),
}

impl Sync {
    fn key(&self, user_id: &str) -> String {
        format!("{}:revoked:{user_id}", self.inner.namespace)
    }

    fn channel(&self) -> String {
        format!("{}:revocations", self.inner.namespace)
    }

    async fn run(self) {
        const FIRST_RETRY: Duration = Duration::from_millis(100);
        /// A session in sync this long ended by a fresh outage: retried soon again. A shorter
        /// one (a Redis or proxy that drops connections right after they sync) keeps backing
        /// off, so it is not reloaded ten times a second.
        const HEALTHY: Duration = Duration::from_secs(5);
        let mut pending: VecDeque<Revocation> = VecDeque::new();
        let mut backoff = FIRST_RETRY;
        loop {
            let started = tokio::time::Instant::now();
            match self.session(&mut pending).await {
                End::Stopped => return,
                End::Lost(cause) => {
                    let Some(local) = self.local.upgrade() else {
                        return;
                    };
                    if local.is_synced() && started.elapsed() >= HEALTHY {
                        backoff = FIRST_RETRY;
                    }
                    local.set_synced(false);
                    tracing::warn!(
                        cause,
                        retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                        "passage-redis: disconnected from Redis; requests use the revocations held"
                    );
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// One connected session: subscribe, load, repair, write what is pending, then follow the
    /// channel and the queue until something fails.
    async fn session(&self, pending: &mut VecDeque<Revocation>) -> End {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let mut pubsub = match self.inner.client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(err) => return End::Lost(err.to_string()),
        };
        if let Err(err) = pubsub.subscribe(self.channel()).await {
            return End::Lost(err.to_string());
        }
        let mut conn = match self
            .inner
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
        {
            Ok(conn) => conn,
            Err(err) => return End::Lost(err.to_string()),
        };
        let Some(local) = self.local.upgrade() else {
            return End::Stopped;
        };
        // Subscribed first, loaded second: an announcement in between is seen twice, never missed.
        let stored = match self.load(&mut conn).await {
            Ok(stored) => stored,
            Err(err) => return End::Lost(err.to_string()),
        };
        let mut loaded = 0usize;
        for revocation in &stored {
            loaded += usize::from(local.apply(revocation));
        }
        // What this replica holds and Redis lacks (a Redis that lost its data): written back,
        // quietly (every replica holding it already applies it).
        let in_redis: HashMap<&str, u64> = stored
            .iter()
            .map(|s| (s.user_id(), s.revoked_at()))
            .collect();
        let missing: Vec<Revocation> = local
            .current()
            .into_iter()
            .filter(|held| {
                in_redis
                    .get(held.user_id())
                    .is_none_or(|&at| at < held.revoked_at())
            })
            .collect();
        for revocation in &missing {
            if let Err(err) = self.write(&mut conn, revocation, false).await {
                return End::Lost(err.to_string());
            }
        }
        while let Some(revocation) = pending.front() {
            if let Err(err) = self.write(&mut conn, revocation, true).await {
                return End::Lost(err.to_string());
            }
            pending.pop_front();
            self.inner.unwritten.fetch_sub(1, Ordering::AcqRel);
        }
        local.set_synced(true);
        tracing::info!(
            loaded,
            repaired = missing.len(),
            "passage-redis: revocations in sync with Redis"
        );
        drop(local);
        let mut messages = pubsub.on_message();
        let mut receiver = self.receiver.lock().await;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some(message) = message else {
                        return End::Lost("the subscription closed".into());
                    };
                    let Some(local) = self.local.upgrade() else {
                        return End::Stopped;
                    };
                    match message
                        .get_payload::<String>()
                        .ok()
                        .and_then(|text| serde_json::from_str::<Announcement>(&text).ok())
                    {
                        Some(a) => {
                            local.apply(&Revocation::new(a.user_id, a.revoked_at));
                        }
                        None => tracing::warn!("passage-redis: an announcement did not parse; ignored"),
                    }
                }
                revocation = receiver.recv() => {
                    let Some(revocation) = revocation else {
                        return End::Stopped;
                    };
                    if let Err(err) = self.write(&mut conn, &revocation, true).await {
                        pending.push_back(revocation);
                        return End::Lost(err.to_string());
                    }
                    self.inner.unwritten.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }

    /// Every revocation stored under this namespace.
    async fn load(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<Vec<Revocation>> {
        let prefix = self.key("");
        let pattern = format!("{prefix}*");
        let mut cursor = 0u64;
        let mut found = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .cursor_arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await?;
            if !keys.is_empty() {
                let values: Vec<Option<u64>> =
                    redis::cmd("MGET").arg(&keys).query_async(conn).await?;
                for (key, value) in keys.iter().zip(values) {
                    if let (Some(user_id), Some(revoked_at)) = (key.strip_prefix(&prefix), value) {
                        found.push(Revocation::new(user_id, revoked_at));
                    }
                }
            }
            if next == 0 {
                return Ok(found);
            }
            cursor = next;
        }
    }

    /// Writes (and, when `announce`, publishes) one revocation.
    async fn write(
        &self,
        conn: &mut MultiplexedConnection,
        revocation: &Revocation,
        announce: bool,
    ) -> redis::RedisResult<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let expires_at = revocation.revoked_at().saturating_add(self.retention);
        let keep_secs = expires_at.saturating_sub(now).max(1);
        let message = serde_json::to_string(&Announcement {
            user_id: revocation.user_id().to_owned(),
            revoked_at: revocation.revoked_at(),
        })
        .unwrap_or_default();
        Script::new(WRITE)
            .key(self.key(revocation.user_id()))
            .arg(revocation.revoked_at())
            .arg(keep_secs)
            .arg(self.channel())
            .arg(message)
            .arg(if announce { "1" } else { "0" })
            .invoke_async::<i64>(conn)
            .await
            .map(|_| ())
    }
}
