//! What a Passage keeps — users and their devices, passkey material, sessions and refresh
//! tokens, magic links, WebAuthn handshakes, message counts, signing keys — behind one trait,
//! [`Store`], with one implementation per database: [`MemoryStore`] (development and tests),
//! `SqliteStore` (feature `sqlite`: one process, one file), `PostgresStore` (feature `postgres`:
//! several server processes on one database). Secrets are kept as hashes (refresh tokens, link secrets)
//! or as the server hands them over (signing keys, sealed by the server when it has a key).

mod memory;
mod model;
#[cfg(feature = "postgres")]
mod postgres;
pub(crate) mod query;
pub(crate) mod rules;
#[cfg(feature = "sqlite")]
mod sqlite;

use time::OffsetDateTime;

pub use model::{
    Activation, Change, CodeActivation, Device, DeviceRules, Handshake, Icons, Imported, MagicLink,
    PasskeyUse, Refresh, RefreshToken, SeedUser, Session, SignIn, StoredKey, User, UserPage,
    refusals,
};
pub use query::{Field, Filter, Op, UserQuery};

pub use crate::ids::random_id;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::{DatabaseUrl, PostgresStore};
#[cfg(feature = "authentication")]
pub(crate) use rules::{CHANGE_EMAIL, CHANGE_PHONE};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// What a [`Store`] method returns: a boxed future, so the trait works behind `dyn Store` and a
/// database driver can await (an in-memory or SQLite store answers on the first poll).
pub type StoreFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The SHA-256 of `text`, hex: how a store keeps secrets it must recognise but never reveal.
#[must_use]
pub fn hash(text: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a store refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No user has this id.
    #[error("no such user")]
    NoSuchUser,
    /// The user has no device with this id.
    #[error("no such device")]
    NoSuchDevice,
    /// The change breaks a rule (a duplicate identifier, a bad status, …).
    #[error("{0}")]
    Refused(&'static str),
    /// A limit was reached (the most passkeys a user may hold, …).
    #[error("{0}")]
    Limit(&'static str),
    /// The storage is held by another process (a SQLite file another server has open).
    #[error("{0}")]
    InUse(String),
    /// The storage itself failed (disk, database).
    #[error("storage failed: {0}")]
    Failed(String),
}

/// When a store makes room among handshakes: at every put for a small capacity, every
/// `capacity / 1024` puts (at most 64) for a large one — counting and evicting at every sign-in
/// would cost each a table count, and across replicas a lock they all wait on.
#[derive(Debug, Default)]
pub(crate) struct RoomCheck(std::sync::atomic::AtomicU64);

impl RoomCheck {
    /// Whether this put makes room.
    pub(crate) fn due(&self, capacity: usize) -> bool {
        let every = u64::try_from(capacity / 1024).unwrap_or(64).clamp(1, 64);
        self.0
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(every)
    }
}

/// Storage of a Passage. Every method is one short, atomic operation (a transaction in a
/// database); implementations are shared across requests (`&self`, interior mutability), and
/// several server processes may share one database: every rule a concurrent request could
/// race past is checked inside the operation that depends on it.
pub trait Store: std::fmt::Debug + Send + Sync + 'static {
    /// The users `query` selects, a page of them, and how many match in all.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn list_users<'a>(&'a self, query: &'a UserQuery) -> StoreFuture<'a, UserPage>;

    /// The user with this id.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>>;

    /// The user whose email (any case) or phone is `identifier`.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn user_by_identifier<'a>(&'a self, identifier: &'a str) -> StoreFuture<'a, Option<User>>;

    /// Adds a user, keeping its id when given; its email is lower-cased.
    ///
    /// # Errors
    /// [`StoreError::Refused`] without an identifier, for a duplicate identifier or id, or a bad
    /// status.
    fn insert_user<'a>(&'a self, seed: SeedUser) -> StoreFuture<'a, User>;

    /// Imports a user kept elsewhere before (its id, identifiers, status, dates and flags as
    /// given) with its passkeys (devices with their material), all or nothing: a new user is
    /// created with every passkey; a user with this id and the same identifiers (an earlier
    /// import) is left as it is and gains the passkeys it does not hold yet, so importing twice
    /// creates nothing twice. A dry run can tell the outcome beforehand with [`plan_import`].
    ///
    /// # Errors
    /// [`StoreError::Refused`] ([`refusals`]): the id is a user's with other identifiers, an
    /// identifier is another user's, a credential id is another user's.
    fn import_user<'a>(
        &'a self,
        user: User,
        passkeys: Vec<(Device, String)>,
    ) -> StoreFuture<'a, Imported>;

    /// Changes a user's email, phone or metadata.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`]; [`StoreError::Refused`] for another user's identifier.
    fn update_user<'a>(&'a self, id: &'a str, change: Change) -> StoreFuture<'a, User>;

    /// Sets a user's status (`active`, `inactive`, `pending`). Deactivating also revokes their
    /// sessions ([`revoke_sessions`](Self::revoke_sessions)), so activating them again brings
    /// none of them back.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`].
    fn set_status<'a>(&'a self, id: &'a str, status: &'a str) -> StoreFuture<'a, User>;

    /// Removes a user with everything it holds (devices, passkeys, sessions, links).
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`].
    fn delete_user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Records a sign-in: login count, last login, a recent event.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`].
    fn record_login<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()>;

    /// Removes pending users (sign-ups never finished: no passkey, never signed in) created
    /// before `before`, and the oldest beyond the newest `keep` of them (a bound on what
    /// anonymous sign-ups can fill); returns how many.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn expire_pending<'a>(&'a self, before: OffsetDateTime, keep: usize) -> StoreFuture<'a, usize>;

    /// Registers a device with its passkey material (opaque to the store), if `rules` allow it
    /// at that moment.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`]; [`StoreError::Refused`] ([`refusals`]) for a credential id
    /// taken or a user who is not registering; [`StoreError::Limit`] at the most devices.
    fn add_device<'a>(
        &'a self,
        user_id: &'a str,
        device: Device,
        passkey: String,
        rules: DeviceRules,
    ) -> StoreFuture<'a, ()>;

    /// A user's devices with their passkey material (empty for devices without any).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn passkeys<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<(Device, String)>>;

    /// The user, device and passkey material of a credential id (the browser's, base64url).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn find_passkey<'a>(
        &'a self,
        cred_id: &'a str,
    ) -> StoreFuture<'a, Option<(User, Device, String)>>;

    /// Records a use of a device: new passkey material (its counter), usage count, last use.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`], [`StoreError::NoSuchDevice`].
    fn use_device<'a>(
        &'a self,
        user_id: &'a str,
        device_id: &'a str,
        passkey: String,
    ) -> StoreFuture<'a, ()>;

    /// Renames one of a user's devices; returns it as renamed.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`], [`StoreError::NoSuchDevice`].
    fn rename_device<'a>(
        &'a self,
        user_id: &'a str,
        device_id: &'a str,
        name: &'a str,
    ) -> StoreFuture<'a, Device>;

    /// Removes one of a user's devices (and its passkey).
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`], [`StoreError::NoSuchDevice`].
    fn revoke_device<'a>(&'a self, user_id: &'a str, device_id: &'a str) -> StoreFuture<'a, ()>;

    /// Signs a user out everywhere: every session of theirs ends, every refresh token is
    /// removed, and tokens issued until now are refused (`revoked_at`).
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`].
    fn revoke_sessions<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()>;

    /// Keeps a new session and its first refresh token.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`].
    fn start_session<'a>(&'a self, session: Session, token: RefreshToken) -> StoreFuture<'a, ()>;

    /// Keeps a sign-in in one step, under its user's lock (see [`SignIn`]): the user still not
    /// inactive, a pending one activated, the passkey's new material if it is still as it was
    /// read, the login counted, the session and its first refresh token kept.
    ///
    /// # Errors
    /// [`StoreError::NoSuchUser`], [`StoreError::NoSuchDevice`], [`StoreError::Refused`] with
    /// [`refusals::USER_INACTIVE`] or [`refusals::PASSKEY_CHANGED`].
    fn sign_in(&self, sign_in: SignIn) -> StoreFuture<'_, ()>;

    /// The session with this id.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Session>>;

    /// Presents the refresh token `hash` at `now` (unix seconds), to be replaced by `next` (whose
    /// session is filled in): see [`Refresh`]. A token is current once: presented again, it
    /// ends its whole session (OAuth 2.0 reuse detection).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn refresh<'a>(
        &'a self,
        hash: &'a str,
        next: RefreshToken,
        now: i64,
    ) -> StoreFuture<'a, Refresh>;

    /// Signs out the session of the refresh token `hash`: it ends, and its tokens go. Unknown
    /// tokens are ignored.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn end_session<'a>(&'a self, hash: &'a str) -> StoreFuture<'a, ()>;

    /// Removes sessions that ended or expired before `now` (unix seconds), with their tokens;
    /// returns how many.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn purge_sessions<'a>(&'a self, now: i64) -> StoreFuture<'a, usize>;

    /// Keeps a new magic link (its secret only as [`MagicLink::secret_hash`]).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn insert_magic_link<'a>(&'a self, link: MagicLink) -> StoreFuture<'a, ()>;

    /// The magic link with this id (without its secret).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn magic_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MagicLink>>;

    /// Opens the magic link whose secret hashes to `secret_hash`, once, if it has not expired at
    /// `now` and its user is not inactive; verifies the address it was delivered to
    /// ([`User::verify_by_link`]); notes whether it was opened in the browser that asked for it
    /// (`browser`: the hash of the opening browser's id).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn activate_magic_link<'a>(
        &'a self,
        secret_hash: &'a str,
        browser: Option<&'a str>,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, Activation>;

    /// Enters a one-time passcode: the code `id` (a [`MagicLink`] with
    /// [`code`](MagicLink::code) set), if it has not expired at `now`, is unused, and was tried
    /// wrongly fewer than `max_tries` times, is activated when `code_hash` is its hash (as a
    /// link is opened: its address verified) and otherwise counts one more wrong try — in one
    /// atomic step, so guesses sent at once are all counted.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn activate_code<'a>(
        &'a self,
        id: &'a str,
        code_hash: &'a str,
        max_tries: u32,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, CodeActivation>;

    /// Removes magic links and codes that expired before `now` (nothing can use them any more);
    /// returns how many went.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn purge_links<'a>(&'a self, now: OffsetDateTime) -> StoreFuture<'a, usize>;

    /// Hands an activated magic link's sign-in to the page that waited for it: true once, and
    /// only when the link was opened in the browser that asked for it and has not expired.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn collect_magic_link<'a>(&'a self, id: &'a str, now: OffsetDateTime) -> StoreFuture<'a, bool>;

    /// Keeps a WebAuthn handshake; when `capacity` are kept already, expired ones go, then the
    /// oldest: never a refusal (a flood may cut ceremonies short, never lock everyone out). A
    /// database store may make room every few handshakes rather than at each:
    /// it then holds at most a tenth of a percent more, per process.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn put_handshake<'a>(
        &'a self,
        id: &'a str,
        handshake: Handshake,
        capacity: usize,
    ) -> StoreFuture<'a, ()>;

    /// Takes the handshake `id` (it cannot be taken again), if it has not expired at `now`.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn take_handshake<'a>(&'a self, id: &'a str, now: i64) -> StoreFuture<'a, Option<Handshake>>;

    /// How many handshakes have not expired at `now` (for the operator's metrics).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn handshakes_held(&self, now: i64) -> StoreFuture<'_, u64>;

    /// Counts one message to `key` (a hashed address) at `now_ms`, unless `max` were counted
    /// within `window_ms`: then `Some(ms)` until the next may go. At most `capacity` keys are
    /// counted (the stalest go first): never a refusal for room.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn count_send<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
        window_ms: i64,
        max: usize,
        capacity: usize,
    ) -> StoreFuture<'a, Option<i64>>;

    /// The signing keys kept, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn signing_keys<'a>(&'a self) -> StoreFuture<'a, Vec<StoredKey>>;

    /// Keeps a signing key (a kid kept already is left as it is).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn add_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()>;

    /// Keeps `key` only if no signing key is kept yet, and returns the keys kept, oldest first:
    /// of two servers starting at once on an empty database, both end up with the same key.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn first_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, Vec<StoredKey>>;

    /// Replaces the stored form of the key `kid` (to seal it under another key): its material
    /// only, never when it signs from.
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn replace_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()>;

    /// Forgets every user, device, session, link and handshake (not the keys).
    ///
    /// # Errors
    /// [`StoreError::Failed`].
    fn clear<'a>(&'a self) -> StoreFuture<'a, ()>;
}

/// What [`Store::import_user`] would do with `user` and passkeys of these credential ids, read
/// from `store` without changing anything (for a dry run): `Ok(None)` creates it, `Ok(Some(n))`
/// finds it there already and adds `n` passkeys; the refusal it would meet otherwise. The same
/// rule the store applies inside its atomic step (another process may still change the answer
/// between the two).
///
/// # Errors
/// [`StoreError::Refused`] as [`Store::import_user`]; [`StoreError::Failed`].
pub async fn plan_import(
    store: &dyn Store,
    user: &User,
    cred_ids: &[String],
) -> Result<Option<usize>, StoreError> {
    let existing = store.user(&user.id).await?;
    let mut holders = [None, None];
    for (holder, identifier) in holders.iter_mut().zip([&user.email, &user.phone]) {
        if !identifier.is_empty() {
            *holder = store.user_by_identifier(identifier).await?.map(|u| u.id);
        }
    }
    let mut credential_holders = Vec::with_capacity(cred_ids.len());
    for cred_id in cred_ids {
        credential_holders.push(store.find_passkey(cred_id).await?.map(|(u, _, _)| u.id));
    }
    let [email_holder, phone_holder] = holders;
    rules::import(
        user,
        existing.as_ref(),
        email_holder.as_deref(),
        phone_holder.as_deref(),
        &credential_holders,
    )
    .map(|add| add.map(|indices| indices.len()))
}

/// The zero time Passage reports for "never".
#[must_use]
pub fn never() -> OffsetDateTime {
    time::macros::datetime!(0001-01-01 00:00:00 UTC)
}

/// Now, to the microsecond (Passage's precision).
#[must_use]
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    // Microsecond precision, like Passage.
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}
