//! [`SqliteStore`]: everything in one SQLite file.
//!
//! Why rusqlite (with the bundled SQLite) and not sqlx: it builds in a fraction of the time, needs
//! no system library and no database at build time, and a small server's queries are short
//! enough to run on the request's thread behind one connection (WAL, a busy timeout). Records
//! are kept as the wire's JSON beside the columns that are looked up, filtered, ordered or
//! constrained. One process owns the file: a second is refused at open (an exclusive lock on
//! the file), and the file is readable by its owner only. The schema carries a version
//! (`PRAGMA user_version`); [`migrations`](self) bring older files up to date at open, in one
//! transaction.

use std::{
    fs::File,
    path::Path,
    sync::{Mutex, MutexGuard},
};

use rusqlite::{Connection, OptionalExtension as _, Transaction, params};
use time::OffsetDateTime;

use super::{
    Activation, Change, CodeActivation, Device, DeviceRules, Handshake, Imported, MagicLink,
    Refresh, RefreshToken, SeedUser, Session, SignIn, Store, StoreError, StoreFuture, StoredKey,
    User, UserPage, UserQuery, hash, now,
    query::{Dialect, SqlValue, micros},
    refusals, rules,
};

/// A user's id by email (`?1`, lower case) or phone (`?2`): each through its index.
const USER_BY_IDENTIFIER: &str =
    "SELECT id FROM users WHERE (email != '' AND email = ?1) OR (phone != '' AND phone = ?2)";

/// A passkey by its credential id. The `!= ''` lets SQLite use the partial index on `cred_id`
/// (without it, every sign-in scanned every device).
const PASSKEY_BY_CREDENTIAL: &str =
    "SELECT user_id, record, passkey FROM devices WHERE cred_id != '' AND cred_id = ?1";

impl SqliteStore {
    /// The statements a sign-in reads by, with a name each: a test checks that SQLite's plan for
    /// each searches an index rather than scanning a table.
    #[doc(hidden)]
    pub const SIGN_IN_LOOKUPS: [(&str, &str); 2] = [
        ("a user by identifier", USER_BY_IDENTIFIER),
        ("a passkey by credential id", PASSKEY_BY_CREDENTIAL),
    ];
}

/// The schema's current version.
const VERSION: i64 = 5;

/// Version 4: the number of users, kept by triggers, so the Management API's list need not count
/// every user on each call (its total).
const USER_COUNT: &str = "
CREATE TABLE user_count (n INTEGER NOT NULL);
INSERT INTO user_count SELECT COUNT(*) FROM users;
CREATE TRIGGER users_counted_in AFTER INSERT ON users BEGIN UPDATE user_count SET n = n + 1; END;
CREATE TRIGGER users_counted_out AFTER DELETE ON users BEGIN UPDATE user_count SET n = n - 1; END;
";

const SCHEMA: &str = "
CREATE TABLE users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    status TEXT NOT NULL,
    login_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL DEFAULT 0,
    revocations INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users(email) WHERE email != '';
CREATE UNIQUE INDEX users_phone ON users(phone) WHERE phone != '';
CREATE INDEX users_created ON users(created_at);
CREATE INDEX users_status ON users(status, created_at);
CREATE TABLE devices (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    cred_id TEXT NOT NULL,
    record TEXT NOT NULL,
    passkey TEXT NOT NULL
);
CREATE UNIQUE INDEX devices_cred_id ON devices(cred_id) WHERE cred_id != '';
CREATE INDEX devices_user ON devices(user_id);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    signed_in_at INTEGER NOT NULL,
    refreshed_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
CREATE TABLE magic_links (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    activated INTEGER NOT NULL DEFAULT 0,
    collected INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL,
    record TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0,
    browser TEXT,
    same_browser INTEGER NOT NULL DEFAULT 0,
    code INTEGER NOT NULL DEFAULT 0,
    tries INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX magic_links_expiry ON magic_links(expires_at);
CREATE TABLE handshakes (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id TEXT,
    state TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX handshakes_expiry ON handshakes(expires_at);
CREATE TABLE sends (
    key TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX sends_key ON sends(key, at);
CREATE INDEX sends_at ON sends(at);
CREATE TABLE signing_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kid TEXT NOT NULL UNIQUE,
    pkcs8 BLOB NOT NULL,
    signs_from INTEGER NOT NULL DEFAULT 0
);
";

/// A store in one SQLite file; everything survives a restart.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    room: super::RoomCheck,
    /// Held for the store's life: the exclusive lock that keeps a second process out.
    _lock: File,
}

fn failed(err: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(err.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(failed)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(failed)
}

/// Opens (creating it when missing) `path` for this process alone, readable by its owner only.
fn lock(path: &Path) -> Result<File, StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options
        .open(path)
        .map_err(|err| failed(format!("{}: {err}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = file.metadata()
            && meta.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.permissions().mode() & 0o777),
                "passage-server: the database file is readable by others: it holds your users and sessions (chmod 600 it)"
            );
        }
    }
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse(format!(
            "{} is open in another passage-server process: SQLite serves one process (run one server on it, or use PostgreSQL for several)",
            path.display()
        ))),
        Err(std::fs::TryLockError::Error(err)) => {
            Err(failed(format!("{}: cannot lock: {err}", path.display())))
        }
    }
}

impl SqliteStore {
    /// Opens (or creates) the database at `path`, bringing an older schema up to date.
    ///
    /// # Errors
    /// [`StoreError::InUse`] when another process has it open; [`StoreError::Failed`] when the
    /// file cannot be opened or its schema cannot be created or upgraded.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let lock = lock(path)?;
        let mut conn = Connection::open(path).map_err(failed)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(failed)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(failed)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(failed)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(failed)?;
        migrations::run(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            room: super::RoomCheck::default(),
            _lock: lock,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic inside a transaction rolls it back when the transaction drops; the connection
        // itself stays usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` in one transaction, committed when it returns `Ok`.
    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed)?;
        let value = f(&tx)?;
        tx.commit().map_err(failed)?;
        Ok(value)
    }
}

/// The SQL of [`UserQuery`] in SQLite's words.
const DIALECT: Dialect = Dialect {
    param: |n| format!("?{n}"),
    contains: |column, param| format!("instr({column}, {param}) > 0"),
    bytewise: |column| column.to_owned(),
};

/// A user row with its devices.
fn load_user(conn: &Connection, id: &str) -> Result<Option<User>, StoreError> {
    let row: Option<(String, u32, i64)> = conn
        .query_row(
            "SELECT record, revocations, revoked_at FROM users WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(failed)?;
    let Some((record, revocations, revoked_at)) = row else {
        return Ok(None);
    };
    let mut user: User = from_json(&record)?;
    user.refresh_token_revocations = revocations;
    user.revoked_at = revoked_at;
    user.set_devices(
        load_devices(conn, id)?
            .into_iter()
            .map(|(d, _)| d)
            .collect(),
    );
    Ok(Some(user))
}

fn load_devices(conn: &Connection, user_id: &str) -> Result<Vec<(Device, String)>, StoreError> {
    let mut statement = conn
        .prepare_cached("SELECT record, passkey FROM devices WHERE user_id = ?1 ORDER BY seq")
        .map_err(failed)?;
    let rows = statement
        .query_map([user_id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))
        .map_err(failed)?;
    let mut devices = Vec::new();
    for row in rows {
        let (record, passkey) = row.map_err(failed)?;
        devices.push((from_json(&record)?, passkey));
    }
    Ok(devices)
}

/// The user's record column: the user without its devices (they have a table of their own).
fn record(user: &User) -> Result<String, StoreError> {
    let mut bare = user.clone();
    bare.set_devices(Vec::new());
    to_json(&bare)
}

fn save_user(tx: &Transaction<'_>, user: &User) -> Result<(), StoreError> {
    let changed = tx
        .execute(
            "UPDATE users SET email = ?2, phone = ?3, status = ?4, login_count = ?5,
                updated_at = ?6, last_login_at = ?7, revoked_at = ?8, revocations = ?9,
                record = ?10
             WHERE id = ?1",
            params![
                user.id,
                user.email,
                user.phone,
                user.status,
                user.login_count,
                micros(user.updated_at),
                micros(user.last_login_at),
                user.revoked_at,
                user.refresh_token_revocations,
                record(user)?
            ],
        )
        .map_err(unique_or_failed)?;
    if changed == 0 {
        return Err(StoreError::NoSuchUser);
    }
    Ok(())
}

/// Inserts a new user's row (its devices go into their own table).
fn insert_user_row(tx: &Transaction<'_>, user: &User) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO users (id, email, phone, status, login_count, created_at,
            updated_at, last_login_at, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            user.id,
            user.email,
            user.phone,
            user.status,
            user.login_count,
            micros(user.created_at),
            micros(user.updated_at),
            micros(user.last_login_at),
            record(user)?
        ],
    )
    .map_err(unique_or_failed)?;
    Ok(())
}

/// The id of the user holding `identifier` as email (`column` = "email") or phone.
fn identifier_holder(
    tx: &Transaction<'_>,
    column: &str,
    identifier: &str,
) -> Result<Option<String>, StoreError> {
    if identifier.is_empty() {
        return Ok(None);
    }
    let sql = if column == "email" {
        "SELECT id FROM users WHERE email = ?1"
    } else {
        "SELECT id FROM users WHERE phone = ?1"
    };
    tx.query_row(sql, [identifier], |r| r.get(0))
        .optional()
        .map_err(failed)
}

/// A unique-index violation is a duplicate identifier; anything else a failure.
fn unique_or_failed(err: rusqlite::Error) -> StoreError {
    match &err {
        rusqlite::Error::SqliteFailure(e, _)
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Refused("a user with this identifier already exists")
        }
        _ => failed(err),
    }
}

/// Records a sign-in on the user: login count, last login, a recent event.
fn record_login(tx: &Transaction<'_>, id: &str) -> Result<(), StoreError> {
    let mut user = the_user(tx, id)?;
    user.record_login(now());
    save_user(tx, &user)
}

/// Records a use of a device: its passkey's new material (`after`), usage count, last use —
/// when `before` is given, only if the material is still that (else
/// [`refusals::PASSKEY_CHANGED`]).
fn use_device(
    tx: &Transaction<'_>,
    user_id: &str,
    device_id: &str,
    before: Option<&str>,
    after: &str,
) -> Result<(), StoreError> {
    let found: Option<(String, String)> = tx
        .query_row(
            "SELECT record, passkey FROM devices WHERE id = ?1 AND user_id = ?2",
            [device_id, user_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(failed)?;
    let Some((record, passkey)) = found else {
        the_user(tx, user_id)?;
        return Err(StoreError::NoSuchDevice);
    };
    if before.is_some_and(|before| before != passkey) {
        return Err(StoreError::Refused(refusals::PASSKEY_CHANGED));
    }
    let mut device: Device = from_json(&record)?;
    rules::device_used(&mut device);
    tx.execute(
        "UPDATE devices SET record = ?2, passkey = ?3 WHERE id = ?1",
        params![device_id, to_json(&device)?, after],
    )
    .map_err(failed)?;
    Ok(())
}

/// Keeps a session and its first refresh token (the user checked by the caller).
fn start_session(
    tx: &Transaction<'_>,
    session: &Session,
    token: &RefreshToken,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO sessions (id, user_id, signed_in_at, refreshed_at, expires_at, ended)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            session.id,
            session.user_id,
            session.signed_in_at,
            session.refreshed_at,
            session.expires_at,
            session.ended
        ],
    )
    .map_err(failed)?;
    tx.execute(
        "INSERT INTO refresh_tokens (hash, session_id, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![token.hash, session.id, session.user_id, token.expires_at],
    )
    .map_err(failed)?;
    Ok(())
}

fn the_user(tx: &Transaction<'_>, id: &str) -> Result<User, StoreError> {
    load_user(tx, id)?.ok_or(StoreError::NoSuchUser)
}

/// Ends every session of `user_id` and removes their refresh tokens.
fn end_sessions(tx: &Transaction<'_>, user_id: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE sessions SET ended = 1 WHERE user_id = ?1",
        [user_id],
    )
    .map_err(failed)?;
    tx.execute("DELETE FROM refresh_tokens WHERE user_id = ?1", [user_id])
        .map_err(failed)?;
    Ok(())
}

fn end_session(tx: &Transaction<'_>, session_id: &str) -> Result<(), StoreError> {
    tx.execute("UPDATE sessions SET ended = 1 WHERE id = ?1", [session_id])
        .map_err(failed)?;
    tx.execute(
        "DELETE FROM refresh_tokens WHERE session_id = ?1",
        [session_id],
    )
    .map_err(failed)?;
    Ok(())
}

fn load_session(conn: &Connection, id: &str) -> Result<Option<Session>, StoreError> {
    conn.query_row(
        "SELECT user_id, signed_in_at, refreshed_at, expires_at, ended FROM sessions WHERE id = ?1",
        [id],
        |r| {
            Ok(Session {
                id: id.to_owned(),
                user_id: r.get(0)?,
                signed_in_at: r.get(1)?,
                refreshed_at: r.get(2)?,
                expires_at: r.get(3)?,
                ended: r.get(4)?,
            })
        },
    )
    .optional()
    .map_err(failed)
}

/// The magic link whose `column` (`id` or `secret_hash`) is `value`, with its state columns.
fn load_link(
    conn: &Connection,
    column: &str,
    value: &str,
) -> Result<Option<MagicLink>, StoreError> {
    let sql = format!(
        "SELECT record, activated, collected, expires_at, delivered, secret_hash, browser, same_browser,
            code, tries
         FROM magic_links WHERE {} = ?1",
        if column == "secret_hash" {
            "secret_hash"
        } else {
            "id"
        }
    );
    let row = conn
        .query_row(&sql, [value], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, bool>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, bool>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, bool>(7)?,
                r.get::<_, bool>(8)?,
                r.get::<_, u32>(9)?,
            ))
        })
        .optional()
        .map_err(failed)?;
    let Some((
        record,
        activated,
        collected,
        expires_at,
        delivered,
        secret_hash,
        browser,
        same,
        code,
        tries,
    )) = row
    else {
        return Ok(None);
    };
    let mut link: MagicLink = from_json(&record)?;
    link.activated = activated;
    link.collected = collected;
    link.delivered = delivered;
    link.secret_hash = secret_hash;
    link.browser = browser;
    link.same_browser = same;
    link.code = code;
    link.tries = tries;
    link.expires_at = OffsetDateTime::from_unix_timestamp(expires_at).map_err(failed)?;
    Ok(Some(link))
}

fn bind(values: &[SqlValue]) -> Vec<&dyn rusqlite::ToSql> {
    values
        .iter()
        .map(|value| match value {
            SqlValue::Text(text) => text as &dyn rusqlite::ToSql,
            SqlValue::Int(int) => int as &dyn rusqlite::ToSql,
        })
        .collect()
}

impl Store for SqliteStore {
    fn list_users<'a>(&'a self, query: &'a UserQuery) -> StoreFuture<'a, UserPage> {
        Box::pin(async move {
            let conn = self.conn();
            let (condition, order, values) = query.sql(DIALECT);
            let params = bind(&values);
            let total: i64 = if query.filters.is_empty() {
                // Every user but those created since `created_before` (a page's first call
                // sets it to now: a few, found by the index).
                conn.query_row(
                    "SELECT (SELECT n FROM user_count)
                        - (SELECT COUNT(*) FROM users WHERE created_at >= ?1)",
                    [query.created_before.saturating_mul(1_000_000)],
                    |r| r.get(0),
                )
                .map_err(failed)?
            } else {
                conn.query_row(
                    &format!("SELECT COUNT(*) FROM users WHERE {condition}"),
                    params.as_slice(),
                    |r| r.get(0),
                )
                .map_err(failed)?
            };
            let mut statement = conn
                .prepare(&format!(
                    "SELECT id FROM users WHERE {condition} ORDER BY {order} LIMIT {} OFFSET {}",
                    i64::try_from(query.limit).unwrap_or(i64::MAX),
                    i64::try_from(query.offset).unwrap_or(i64::MAX),
                ))
                .map_err(failed)?;
            let ids = statement
                .query_map(params.as_slice(), |r| r.get::<_, String>(0))
                .map_err(failed)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(failed)?;
            let mut users = Vec::with_capacity(ids.len());
            for id in ids {
                users.extend(load_user(&conn, &id)?);
            }
            Ok(UserPage {
                users,
                total: usize::try_from(total).unwrap_or(0),
            })
        })
    }

    fn user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move { load_user(&self.conn(), id) })
    }

    fn user_by_identifier<'a>(&'a self, identifier: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let conn = self.conn();
            let lower = identifier.to_lowercase();
            let id: Option<String> = conn
                .query_row(USER_BY_IDENTIFIER, params![lower, identifier], |r| r.get(0))
                .optional()
                .map_err(failed)?;
            match id {
                Some(id) => load_user(&conn, &id),
                None => Ok(None),
            }
        })
    }

    fn insert_user<'a>(&'a self, seed: SeedUser) -> StoreFuture<'a, User> {
        Box::pin(async move {
            let (mut user, devices) = rules::new_user(seed)?;
            self.write(|tx| {
                let taken: bool = tx
                    .query_row(
                        "SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1)",
                        [&user.id],
                        |r| r.get(0),
                    )
                    .map_err(failed)?;
                if taken {
                    return Err(StoreError::Refused("a user with this id already exists"));
                }
                insert_user_row(tx, &user)?;
                for device in &devices {
                    tx.execute(
                        "INSERT INTO devices (id, user_id, cred_id, record, passkey) VALUES (?1, ?2, ?3, ?4, '')",
                        params![device.id, user.id, device.cred_id, to_json(device)?],
                    )
                    .map_err(failed)?;
                }
                Ok(())
            })?;
            user.set_devices(devices);
            Ok(user)
        })
    }

    fn import_user<'a>(
        &'a self,
        user: User,
        passkeys: Vec<(Device, String)>,
    ) -> StoreFuture<'a, Imported> {
        Box::pin(async move {
            self.write(|tx| {
                let existing = load_user(tx, &user.id)?;
                let email_holder = identifier_holder(tx, "email", &user.email)?;
                let phone_holder = identifier_holder(tx, "phone", &user.phone)?;
                let mut credential_holders = Vec::with_capacity(passkeys.len());
                for (device, _) in &passkeys {
                    credential_holders.push(
                        tx.query_row(
                            "SELECT user_id FROM devices WHERE cred_id != '' AND cred_id = ?1",
                            [&device.cred_id],
                            |r| r.get::<_, String>(0),
                        )
                        .optional()
                        .map_err(failed)?,
                    );
                }
                let step = rules::import(
                    &user,
                    existing.as_ref(),
                    email_holder.as_deref(),
                    phone_holder.as_deref(),
                    &credential_holders,
                )?;
                let (add, outcome) = match step {
                    None => {
                        insert_user_row(tx, &user)?;
                        ((0..passkeys.len()).collect(), Imported::Created)
                    }
                    Some(add) => {
                        let added = add.len();
                        (add, Imported::Existing { added })
                    }
                };
                for index in add {
                    let Some((device, material)) = passkeys.get(index) else {
                        continue;
                    };
                    tx.execute(
                        "INSERT INTO devices (id, user_id, cred_id, record, passkey) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![device.id, user.id, device.cred_id, to_json(device)?, material],
                    )
                    .map_err(|err| match unique_or_failed(err) {
                        StoreError::Refused(_) => StoreError::Refused(refusals::CREDENTIAL_TAKEN),
                        other => other,
                    })?;
                }
                Ok(outcome)
            })
        })
    }

    fn update_user<'a>(&'a self, id: &'a str, change: Change) -> StoreFuture<'a, User> {
        Box::pin(async move {
            self.write(|tx| {
                let mut user = the_user(tx, id)?;
                user.apply(change);
                save_user(tx, &user)?;
                Ok(user)
            })
        })
    }

    fn set_status<'a>(&'a self, id: &'a str, status: &'a str) -> StoreFuture<'a, User> {
        Box::pin(async move {
            self.write(|tx| {
                let mut user = the_user(tx, id)?;
                if rules::set_status(&mut user, status) {
                    end_sessions(tx, id)?;
                }
                save_user(tx, &user)?;
                Ok(user)
            })
        })
    }

    fn delete_user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                // Devices, sessions, refresh tokens and magic links go with it (ON DELETE
                // CASCADE); handshakes for it are of no use any more.
                let removed = tx
                    .execute("DELETE FROM users WHERE id = ?1", [id])
                    .map_err(failed)?;
                if removed == 0 {
                    return Err(StoreError::NoSuchUser);
                }
                tx.execute("DELETE FROM handshakes WHERE user_id = ?1", [id])
                    .map_err(failed)?;
                Ok(())
            })
        })
    }

    fn record_login<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.write(|tx| record_login(tx, id)) })
    }

    fn expire_pending<'a>(&'a self, before: OffsetDateTime, keep: usize) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            self.write(|tx| {
                let removed = tx
                    .execute(
                        "DELETE FROM users WHERE id IN (
                            SELECT id FROM users WHERE status = 'pending' AND login_count = 0
                                AND NOT EXISTS (SELECT 1 FROM devices WHERE devices.user_id = users.id)
                            ORDER BY created_at DESC LIMIT -1 OFFSET ?2)
                         OR (status = 'pending' AND created_at < ?1 AND login_count = 0
                            AND NOT EXISTS (SELECT 1 FROM devices WHERE devices.user_id = users.id))",
                        params![micros(before), i64::try_from(keep).unwrap_or(i64::MAX)],
                    )
                    .map_err(failed)?;
                Ok(removed)
            })
        })
    }

    fn add_device<'a>(
        &'a self,
        user_id: &'a str,
        device: Device,
        passkey: String,
        rules: DeviceRules,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                let user = the_user(tx, user_id)?;
                rules::check_rules(&user.status, user.webauthn_devices.len(), rules)?;
                tx.execute(
                    "INSERT INTO devices (id, user_id, cred_id, record, passkey) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![device.id, user_id, device.cred_id, to_json(&device)?, passkey],
                )
                .map_err(|err| match unique_or_failed(err) {
                    StoreError::Refused(_) => StoreError::Refused(refusals::CREDENTIAL_TAKEN),
                    other => other,
                })?;
                Ok(())
            })
        })
    }

    fn passkeys<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<(Device, String)>> {
        Box::pin(async move { load_devices(&self.conn(), user_id) })
    }

    fn find_passkey<'a>(
        &'a self,
        cred_id: &'a str,
    ) -> StoreFuture<'a, Option<(User, Device, String)>> {
        Box::pin(async move {
            let conn = self.conn();
            let row: Option<(String, String, String)> = conn
                .query_row(PASSKEY_BY_CREDENTIAL, [cred_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .map_err(failed)?;
            let Some((user_id, record, passkey)) = row else {
                return Ok(None);
            };
            let Some(user) = load_user(&conn, &user_id)? else {
                return Ok(None);
            };
            Ok(Some((user, from_json(&record)?, passkey)))
        })
    }

    fn use_device<'a>(
        &'a self,
        user_id: &'a str,
        device_id: &'a str,
        passkey: String,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.write(|tx| use_device(tx, user_id, device_id, None, &passkey)) })
    }

    fn rename_device<'a>(
        &'a self,
        user_id: &'a str,
        device_id: &'a str,
        name: &'a str,
    ) -> StoreFuture<'a, Device> {
        Box::pin(async move {
            self.write(|tx| {
                let record: Option<String> = tx
                    .query_row(
                        "SELECT record FROM devices WHERE id = ?1 AND user_id = ?2",
                        [device_id, user_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(failed)?;
                let Some(record) = record else {
                    the_user(tx, user_id)?;
                    return Err(StoreError::NoSuchDevice);
                };
                let mut device: Device = from_json(&record)?;
                name.clone_into(&mut device.friendly_name);
                device.updated_at = now();
                tx.execute(
                    "UPDATE devices SET record = ?2 WHERE id = ?1",
                    params![device_id, to_json(&device)?],
                )
                .map_err(failed)?;
                Ok(device)
            })
        })
    }

    fn revoke_device<'a>(&'a self, user_id: &'a str, device_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                the_user(tx, user_id)?;
                let removed = tx
                    .execute(
                        "DELETE FROM devices WHERE id = ?1 AND user_id = ?2",
                        [device_id, user_id],
                    )
                    .map_err(failed)?;
                if removed == 0 {
                    return Err(StoreError::NoSuchDevice);
                }
                Ok(())
            })
        })
    }

    fn revoke_sessions<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                let mut user = the_user(tx, user_id)?;
                rules::revoke(&mut user);
                user.refresh_token_revocations = user.refresh_token_revocations.saturating_add(1);
                save_user(tx, &user)?;
                end_sessions(tx, user_id)
            })
        })
    }

    fn start_session<'a>(&'a self, session: Session, token: RefreshToken) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                the_user(tx, &session.user_id)?;
                start_session(tx, &session, &token)
            })
        })
    }

    fn sign_in(&self, sign_in: SignIn) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            self.write(|tx| {
                let SignIn {
                    passkey,
                    record_login: record,
                    session,
                    token,
                } = &sign_in;
                let mut user = the_user(tx, &session.user_id)?;
                let changed = rules::sign_in(&mut user, *record)?;
                if let Some(used) = passkey {
                    use_device(
                        tx,
                        &session.user_id,
                        &used.device_id,
                        Some(&used.before),
                        &used.after,
                    )?;
                }
                if changed {
                    save_user(tx, &user)?;
                }
                start_session(tx, session, token)
            })
        })
    }

    fn session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async move { load_session(&self.conn(), id) })
    }

    fn refresh<'a>(
        &'a self,
        hash: &'a str,
        next: RefreshToken,
        now: i64,
    ) -> StoreFuture<'a, Refresh> {
        Box::pin(async move {
            self.write(|tx| {
                let token: Option<(String, i64, bool)> = tx
                    .query_row(
                        "SELECT session_id, expires_at, used FROM refresh_tokens WHERE hash = ?1",
                        [hash],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(failed)?;
                let Some((session_id, expires_at, used)) = token else {
                    return Ok(Refresh::Unknown);
                };
                let session = load_session(tx, &session_id)?;
                let outcome = rules::refresh(expires_at, used, session.as_ref(), now);
                match &outcome {
                    Refresh::Rotated(session) => {
                        tx.execute("UPDATE refresh_tokens SET used = 1 WHERE hash = ?1", [hash])
                            .map_err(failed)?;
                        tx.execute(
                            "UPDATE sessions SET refreshed_at = ?2 WHERE id = ?1",
                            params![session.id, now],
                        )
                        .map_err(failed)?;
                        tx.execute(
                            "INSERT INTO refresh_tokens (hash, session_id, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                            params![
                                next.hash,
                                session.id,
                                session.user_id,
                                next.expires_at.min(session.expires_at)
                            ],
                        )
                        .map_err(failed)?;
                    }
                    Refresh::Reused | Refresh::Ended => end_session(tx, &session_id)?,
                    Refresh::Unknown => {}
                }
                Ok(outcome)
            })
        })
    }

    fn end_session<'a>(&'a self, hash: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                let session: Option<String> = tx
                    .query_row(
                        "SELECT session_id FROM refresh_tokens WHERE hash = ?1",
                        [hash],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(failed)?;
                match session {
                    Some(session) => end_session(tx, &session),
                    None => Ok(()),
                }
            })
        })
    }

    fn purge_sessions<'a>(&'a self, now: i64) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            self.write(|tx| {
                // Their refresh tokens go with them (ON DELETE CASCADE).
                let removed = tx
                    .execute(
                        "DELETE FROM sessions WHERE ended = 1 OR expires_at <= ?1",
                        [now],
                    )
                    .map_err(failed)?;
                tx.execute("DELETE FROM refresh_tokens WHERE expires_at <= ?1", [now])
                    .map_err(failed)?;
                Ok(removed)
            })
        })
    }

    fn insert_magic_link<'a>(&'a self, link: MagicLink) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                tx.execute(
                    "INSERT INTO magic_links (id, secret_hash, user_id, activated, collected,
                        expires_at, record, delivered, browser, same_browser, code, tries)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                    params![
                        link.id,
                        link.secret_hash,
                        link.user_id,
                        link.activated,
                        link.collected,
                        link.expires_at.unix_timestamp(),
                        to_json(&link.without_secret())?,
                        link.delivered,
                        link.browser,
                        link.same_browser,
                        link.code,
                        link.tries
                    ],
                )
                .map_err(failed)?;
                Ok(())
            })
        })
    }

    fn magic_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MagicLink>> {
        Box::pin(async move { load_link(&self.conn(), "id", id) })
    }

    fn activate_magic_link<'a>(
        &'a self,
        secret_hash: &'a str,
        browser: Option<&'a str>,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, Activation> {
        Box::pin(async move {
            self.write(|tx| {
                let Some(mut link) = load_link(tx, "secret_hash", secret_hash)? else {
                    return Ok(Activation::Unknown);
                };
                let mut user = the_user(tx, &link.user_id)?;
                match rules::activate(&mut link, &mut user, browser, now) {
                    None => Ok(Activation::Unknown),
                    Some(false) => Ok(Activation::Inactive),
                    Some(true) => {
                        // A new identifier another user holds breaks the unique index: the
                        // transaction is refused whole, and the link stays unused.
                        let previous = rules::apply_change(&mut user, &link);
                        tx.execute(
                            "UPDATE magic_links SET activated = 1, same_browser = ?2 WHERE id = ?1",
                            params![link.id, link.same_browser],
                        )
                        .map_err(failed)?;
                        save_user(tx, &user)?;
                        Ok(Activation::done(link, previous))
                    }
                }
            })
        })
    }

    fn activate_code<'a>(
        &'a self,
        id: &'a str,
        code_hash: &'a str,
        max_tries: u32,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, CodeActivation> {
        Box::pin(async move {
            self.write(|tx| {
                let Some(mut link) = load_link(tx, "id", id)? else {
                    return Ok(CodeActivation::Unknown);
                };
                let mut user = the_user(tx, &link.user_id)?;
                let outcome = rules::enter_code(&mut link, &mut user, code_hash, max_tries, now);
                match &outcome {
                    CodeActivation::Activated(_) => {
                        tx.execute(
                            "UPDATE magic_links SET activated = 1 WHERE id = ?1",
                            [&link.id],
                        )
                        .map_err(failed)?;
                        save_user(tx, &user)?;
                    }
                    CodeActivation::Wrong { .. } | CodeActivation::Exhausted => {
                        tx.execute(
                            "UPDATE magic_links SET tries = ?2 WHERE id = ?1",
                            params![link.id, link.tries],
                        )
                        .map_err(failed)?;
                    }
                    _ => {}
                }
                Ok(outcome)
            })
        })
    }

    fn purge_links<'a>(&'a self, now: OffsetDateTime) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            self.write(|tx| {
                tx.execute(
                    "DELETE FROM magic_links WHERE expires_at <= ?1",
                    [now.unix_timestamp()],
                )
                .map_err(failed)
            })
        })
    }

    fn collect_magic_link<'a>(&'a self, id: &'a str, now: OffsetDateTime) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.write(|tx| {
                let Some(link) = load_link(tx, "id", id)? else {
                    return Ok(false);
                };
                if !rules::collectable(&link, now) {
                    return Ok(false);
                }
                tx.execute("UPDATE magic_links SET collected = 1 WHERE id = ?1", [id])
                    .map_err(failed)?;
                Ok(true)
            })
        })
    }

    fn put_handshake<'a>(
        &'a self,
        id: &'a str,
        handshake: Handshake,
        capacity: usize,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let now = now().unix_timestamp();
            let make_room = self.room.due(capacity);
            self.write(|tx| {
                let held: i64 = if make_room {
                    tx.execute("DELETE FROM handshakes WHERE expires_at <= ?1", [now])
                        .map_err(failed)?;
                    tx.query_row("SELECT COUNT(*) FROM handshakes", [], |r| r.get(0))
                        .map_err(failed)?
                } else {
                    0
                };
                let excess = usize::try_from(held).unwrap_or(0) + 1;
                if excess > capacity.max(1) {
                    tx.execute(
                        "DELETE FROM handshakes WHERE id IN
                            (SELECT id FROM handshakes ORDER BY expires_at LIMIT ?1)",
                        [i64::try_from(excess - capacity.max(1)).unwrap_or(1)],
                    )
                    .map_err(failed)?;
                }
                tx.execute(
                    "INSERT OR REPLACE INTO handshakes (id, kind, user_id, state, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        id,
                        handshake.kind,
                        handshake.user_id,
                        handshake.state,
                        handshake.expires_at
                    ],
                )
                .map_err(failed)?;
                Ok(())
            })
        })
    }

    fn take_handshake<'a>(&'a self, id: &'a str, now: i64) -> StoreFuture<'a, Option<Handshake>> {
        Box::pin(async move {
            self.write(|tx| {
                let handshake = tx
                    .query_row(
                        "DELETE FROM handshakes WHERE id = ?1 RETURNING kind, user_id, state, expires_at",
                        [id],
                        |r| {
                            Ok(Handshake {
                                kind: r.get(0)?,
                                user_id: r.get(1)?,
                                state: r.get(2)?,
                                expires_at: r.get(3)?,
                            })
                        },
                    )
                    .optional()
                    .map_err(failed)?;
                Ok(handshake.filter(|h| now < h.expires_at))
            })
        })
    }

    fn handshakes_held(&self, now: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let held: i64 = self
                .conn()
                .query_row(
                    "SELECT COUNT(*) FROM handshakes WHERE expires_at > ?1",
                    [now],
                    |r| r.get(0),
                )
                .map_err(failed)?;
            Ok(u64::try_from(held).unwrap_or(0))
        })
    }

    fn count_send<'a>(
        &'a self,
        key: &'a str,
        now_ms: i64,
        window_ms: i64,
        max: usize,
        capacity: usize,
    ) -> StoreFuture<'a, Option<i64>> {
        Box::pin(async move {
            self.write(|tx| {
                let since = now_ms.saturating_sub(window_ms);
                tx.execute("DELETE FROM sends WHERE at <= ?1", [since])
                    .map_err(failed)?;
                let (count, first): (i64, Option<i64>) = tx
                    .query_row(
                        "SELECT COUNT(*), MIN(at) FROM sends WHERE key = ?1",
                        [key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .map_err(failed)?;
                if let Some(first) = first
                    && usize::try_from(count).unwrap_or(usize::MAX) >= max
                {
                    return Ok(Some(window_ms - (now_ms - first)));
                }
                if count == 0 {
                    let keys: i64 = tx
                        .query_row("SELECT COUNT(DISTINCT key) FROM sends", [], |r| r.get(0))
                        .map_err(failed)?;
                    let excess = usize::try_from(keys).unwrap_or(0) + 1;
                    if excess > capacity.max(1) {
                        tx.execute(
                            "DELETE FROM sends WHERE key IN
                                (SELECT key FROM sends GROUP BY key ORDER BY MAX(at) LIMIT ?1)",
                            [i64::try_from(excess - capacity.max(1)).unwrap_or(1)],
                        )
                        .map_err(failed)?;
                    }
                }
                tx.execute(
                    "INSERT INTO sends (key, at) VALUES (?1, ?2)",
                    params![key, now_ms],
                )
                .map_err(failed)?;
                Ok(None)
            })
        })
    }

    fn signing_keys<'a>(&'a self) -> StoreFuture<'a, Vec<StoredKey>> {
        Box::pin(async move { load_keys(&self.conn()) })
    }

    fn add_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                tx.execute(
                    "INSERT OR IGNORE INTO signing_keys (kid, pkcs8, signs_from) VALUES (?1, ?2, ?3)",
                    params![key.kid, key.pkcs8, key.signs_from],
                )
                .map_err(failed)?;
                Ok(())
            })
        })
    }

    fn first_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, Vec<StoredKey>> {
        Box::pin(async move {
            self.write(|tx| {
                tx.execute(
                    "INSERT INTO signing_keys (kid, pkcs8, signs_from)
                     SELECT ?1, ?2, ?3 WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
                    params![key.kid, key.pkcs8, key.signs_from],
                )
                .map_err(failed)?;
                load_keys(tx)
            })
        })
    }

    fn replace_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                tx.execute(
                    "UPDATE signing_keys SET pkcs8 = ?2 WHERE kid = ?1",
                    params![key.kid, key.pkcs8],
                )
                .map_err(failed)?;
                Ok(())
            })
        })
    }

    fn clear<'a>(&'a self) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                tx.execute_batch(
                    "DELETE FROM refresh_tokens; DELETE FROM sessions; DELETE FROM magic_links;
                     DELETE FROM devices; DELETE FROM handshakes; DELETE FROM sends;
                     DELETE FROM users;",
                )
                .map_err(failed)
            })
        })
    }
}

fn load_keys(conn: &Connection) -> Result<Vec<StoredKey>, StoreError> {
    let mut statement = conn
        .prepare("SELECT kid, pkcs8, signs_from FROM signing_keys ORDER BY seq")
        .map_err(failed)?;
    let keys = statement
        .query_map([], |r| {
            Ok(StoredKey {
                kid: r.get(0)?,
                pkcs8: r.get(1)?,
                signs_from: r.get(2)?,
            })
        })
        .map_err(failed)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(failed)?;
    Ok(keys)
}

/// Bringing a file of an older release up to date: each step runs once, in order, in the same
/// transaction as the version it sets.
mod migrations {
    use super::{Connection, StoreError, VERSION, failed, from_json, hash, micros, to_json};
    use crate::store::{MagicLink, User};

    pub(super) fn run(conn: &mut Connection) -> Result<(), StoreError> {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(failed)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(failed)?;
        let has_users: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'users')",
                [],
                |r| r.get(0),
            )
            .map_err(failed)?;
        if version > VERSION {
            return Err(StoreError::Failed(format!(
                "the database's schema (version {version}) is newer than this passage-server's ({VERSION}): upgrade passage-server"
            )));
        }
        if !has_users {
            tx.execute_batch(super::SCHEMA).map_err(failed)?;
            tx.execute_batch(super::USER_COUNT).map_err(failed)?;
        } else {
            if version < 2 {
                // Version 0: the first release's files (with or without
                // `magic_links.delivered`).
                to_2(&tx)?;
            }
            if version < 3 {
                // Version 3: when each signing key starts signing (a rotation announces a key
                // before it signs).
                tx.execute_batch(
                    "ALTER TABLE signing_keys ADD COLUMN signs_from INTEGER NOT NULL DEFAULT 0",
                )
                .map_err(failed)?;
            }
            if version < 4 {
                tx.execute_batch(super::USER_COUNT).map_err(failed)?;
            }
            if version < 5 {
                to_5(&tx)?;
            }
        }
        tx.pragma_update(None, "user_version", VERSION)
            .map_err(failed)?;
        tx.commit().map_err(failed)
    }

    fn columns(tx: &rusqlite::Transaction<'_>, table: &str) -> Result<Vec<String>, StoreError> {
        let mut statement = tx
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(failed)?;
        let names = statement
            .query_map([], |r| r.get::<_, String>(1))
            .map_err(failed)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(failed)?;
        Ok(names)
    }

    /// Version 5: one-time passcodes beside magic links (whether a row is a code, its wrong
    /// tries), and an index to purge expired ones.
    fn to_5(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
        tx.execute_batch(
            "ALTER TABLE magic_links ADD COLUMN code INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE magic_links ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;
             CREATE INDEX IF NOT EXISTS magic_links_expiry ON magic_links(expires_at);",
        )
        .map_err(failed)
    }

    /// Version 2: users' lookup columns, sessions (each old refresh token keeps working in a
    /// session of its own), magic links kept by the hash of their secret (the secret and the
    /// URL leave the file), handshakes and message counts in the database.
    fn to_2(tx: &rusqlite::Transaction<'_>) -> Result<(), StoreError> {
        let has = |table: &str, column: &str| -> Result<bool, StoreError> {
            Ok(columns(tx, table)?.iter().any(|c| c == column))
        };
        // Users: the columns the list filters and orders by, filled from each record.
        for (column, kind) in [
            ("status", "TEXT NOT NULL DEFAULT 'active'"),
            ("login_count", "INTEGER NOT NULL DEFAULT 0"),
            ("created_at", "INTEGER NOT NULL DEFAULT 0"),
            ("updated_at", "INTEGER NOT NULL DEFAULT 0"),
            ("last_login_at", "INTEGER NOT NULL DEFAULT 0"),
            ("revoked_at", "INTEGER NOT NULL DEFAULT 0"),
            ("revocations", "INTEGER NOT NULL DEFAULT 0"),
        ] {
            if !has("users", column)? {
                tx.execute_batch(&format!("ALTER TABLE users ADD COLUMN {column} {kind}"))
                    .map_err(failed)?;
            }
        }
        let users: Vec<(String, String)> = {
            let mut statement = tx.prepare("SELECT id, record FROM users").map_err(failed)?;
            statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(failed)?
                .collect::<Result<_, _>>()
                .map_err(failed)?
        };
        for (id, record) in users {
            let user: User = from_json(&record)?;
            tx.execute(
                "UPDATE users SET status = ?2, login_count = ?3, created_at = ?4, updated_at = ?5,
                    last_login_at = ?6 WHERE id = ?1",
                rusqlite::params![
                    id,
                    user.status,
                    user.login_count,
                    micros(user.created_at),
                    micros(user.updated_at),
                    micros(user.last_login_at)
                ],
            )
            .map_err(failed)?;
        }
        tx.execute_batch(
            "CREATE INDEX IF NOT EXISTS users_created ON users(created_at);
             CREATE INDEX IF NOT EXISTS users_status ON users(status, created_at);
             CREATE INDEX IF NOT EXISTS devices_user ON devices(user_id);",
        )
        .map_err(failed)?;

        // Sessions, and refresh tokens that belong to one.
        let now = crate::store::now().unix_timestamp();
        tx.execute_batch(
            "CREATE TABLE sessions (
                id TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                signed_in_at INTEGER NOT NULL,
                refreshed_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL,
                ended INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX sessions_user ON sessions(user_id);
            ALTER TABLE refresh_tokens RENAME TO refresh_tokens_1;
            CREATE TABLE refresh_tokens (
                hash TEXT PRIMARY KEY,
                session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                expires_at INTEGER NOT NULL,
                used INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);",
        )
        .map_err(failed)?;
        let tokens: Vec<(String, String, i64)> = {
            let mut statement = tx
                .prepare("SELECT hash, user_id, expires_at FROM refresh_tokens_1")
                .map_err(failed)?;
            statement
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(failed)?
                .collect::<Result<_, _>>()
                .map_err(failed)?
        };
        for (token_hash, user_id, expires_at) in tokens {
            let session = crate::ids::random_id();
            tx.execute(
                "INSERT INTO sessions (id, user_id, signed_in_at, refreshed_at, expires_at)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
                rusqlite::params![session, user_id, now, expires_at],
            )
            .map_err(failed)?;
            tx.execute(
                "INSERT INTO refresh_tokens (hash, session_id, user_id, expires_at) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![token_hash, session, user_id, expires_at],
            )
            .map_err(failed)?;
        }
        tx.execute_batch("DROP TABLE refresh_tokens_1")
            .map_err(failed)?;

        // Magic links: the hash of the secret instead of the secret.
        let delivered = has("magic_links", "delivered")?;
        tx.execute_batch(
            "ALTER TABLE magic_links RENAME TO magic_links_1;
             CREATE TABLE magic_links (
                id TEXT PRIMARY KEY,
                secret_hash TEXT NOT NULL UNIQUE,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                activated INTEGER NOT NULL DEFAULT 0,
                collected INTEGER NOT NULL DEFAULT 0,
                expires_at INTEGER NOT NULL,
                record TEXT NOT NULL,
                delivered INTEGER NOT NULL DEFAULT 0,
                browser TEXT,
                same_browser INTEGER NOT NULL DEFAULT 0
            );",
        )
        .map_err(failed)?;
        /// A link as the first release kept it.
        struct OldLink {
            id: String,
            secret: String,
            user_id: String,
            activated: bool,
            collected: bool,
            expires_at: i64,
            record: String,
            delivered: bool,
        }
        let links: Vec<OldLink> = {
            let sql = format!(
                "SELECT id, secret, user_id, activated, collected, expires_at, record, {}
                 FROM magic_links_1",
                if delivered { "delivered" } else { "0" }
            );
            let mut statement = tx.prepare(&sql).map_err(failed)?;
            statement
                .query_map([], |r| {
                    Ok(OldLink {
                        id: r.get(0)?,
                        secret: r.get(1)?,
                        user_id: r.get(2)?,
                        activated: r.get(3)?,
                        collected: r.get(4)?,
                        expires_at: r.get(5)?,
                        record: r.get(6)?,
                        delivered: r.get(7)?,
                    })
                })
                .map_err(failed)?
                .collect::<Result<_, _>>()
                .map_err(failed)?
        };
        for old in links {
            let link: MagicLink = from_json(&old.record)?;
            tx.execute(
                "INSERT INTO magic_links (id, secret_hash, user_id, activated, collected,
                    expires_at, record, delivered)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![
                    old.id,
                    hash(&old.secret),
                    old.user_id,
                    old.activated,
                    old.collected,
                    old.expires_at,
                    to_json(&link.without_secret())?,
                    old.delivered
                ],
            )
            .map_err(failed)?;
        }
        tx.execute_batch(
            "DROP TABLE magic_links_1;
             CREATE TABLE handshakes (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                user_id TEXT,
                state TEXT NOT NULL,
                expires_at INTEGER NOT NULL
            );
            CREATE INDEX handshakes_expiry ON handshakes(expires_at);
            CREATE TABLE sends (
                key TEXT NOT NULL,
                at INTEGER NOT NULL
            );
            CREATE INDEX sends_key ON sends(key, at);
            CREATE INDEX sends_at ON sends(at);",
        )
        .map_err(failed)?;
        Ok(())
    }
}
