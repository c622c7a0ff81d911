//! [`SqliteStore`]: users, devices and their passkeys, refresh tokens, magic links and signing
//! keys in one SQLite file.
//!
//! Why rusqlite (with the bundled SQLite) and not sqlx: it builds in a fraction of the time, needs
//! no system library and no database at build time, and a small server's queries are short
//! enough to run on the request's thread behind one connection (WAL, a busy timeout). Records
//! are kept as the wire's JSON beside the columns that are looked up or constrained, so the
//! schema does not have to follow every field of the models.

use std::{
    path::Path,
    sync::{Mutex, MutexGuard},
};

use super::{
    Change, Device, DeviceRules, MagicLink, RefreshToken, SeedUser, Store, StoreError, StoreFuture,
    StoredKey, User, now,
};
use rusqlite::{Connection, OptionalExtension as _, Transaction, params};
use time::OffsetDateTime;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    phone TEXT NOT NULL,
    revocations INTEGER NOT NULL DEFAULT 0,
    record TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users(email) WHERE email != '';
CREATE UNIQUE INDEX IF NOT EXISTS users_phone ON users(phone) WHERE phone != '';
CREATE TABLE IF NOT EXISTS devices (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    cred_id TEXT NOT NULL,
    record TEXT NOT NULL,
    passkey TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS devices_cred_id ON devices(cred_id) WHERE cred_id != '';
CREATE TABLE IF NOT EXISTS refresh_tokens (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS magic_links (
    id TEXT PRIMARY KEY,
    secret TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    activated INTEGER NOT NULL DEFAULT 0,
    collected INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL,
    record TEXT NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS signing_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kid TEXT NOT NULL UNIQUE,
    pkcs8 BLOB NOT NULL
);
";

/// A store in one SQLite file; everything survives a restart.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
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

impl SqliteStore {
    /// Opens (or creates) the database at `path`.
    ///
    /// # Errors
    /// [`StoreError::Failed`] when the file cannot be opened or its schema cannot be created.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(failed)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(failed)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(failed)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(failed)?;
        conn.execute_batch(SCHEMA).map_err(failed)?;
        // Files made before `magic_links.delivered` existed: add it (links in them count as not
        // delivered, so opening one verifies nothing).
        if conn
            .prepare("SELECT delivered FROM magic_links LIMIT 0")
            .is_err()
        {
            conn.execute_batch(
                "ALTER TABLE magic_links ADD COLUMN delivered INTEGER NOT NULL DEFAULT 0",
            )
            .map_err(failed)?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
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
        let tx = conn.transaction().map_err(failed)?;
        let value = f(&tx)?;
        tx.commit().map_err(failed)?;
        Ok(value)
    }
}

/// A user row with its devices.
fn load_user(conn: &Connection, id: &str) -> Result<Option<User>, StoreError> {
    let row: Option<(String, u32)> = conn
        .query_row(
            "SELECT record, revocations FROM users WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(failed)?;
    let Some((record, revocations)) = row else {
        return Ok(None);
    };
    let mut user: User = from_json(&record)?;
    user.refresh_token_revocations = revocations;
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
        .prepare("SELECT record, passkey FROM devices WHERE user_id = ?1 ORDER BY seq")
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
            "UPDATE users SET email = ?2, phone = ?3, record = ?4 WHERE id = ?1",
            params![user.id, user.email, user.phone, record(user)?],
        )
        .map_err(unique_or_failed)?;
    if changed == 0 {
        return Err(StoreError::NoSuchUser);
    }
    Ok(())
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

fn user_id_of(tx: &Transaction<'_>, id: &str) -> Result<User, StoreError> {
    load_user(tx, id)?.ok_or(StoreError::NoSuchUser)
}

impl Store for SqliteStore {
    fn users<'a>(&'a self) -> StoreFuture<'a, Vec<User>> {
        Box::pin(async move {
            let conn = self.conn();
            let ids: Vec<String> = {
                let mut statement = conn
                    .prepare("SELECT id FROM users ORDER BY seq")
                    .map_err(failed)?;
                statement
                    .query_map([], |r| r.get(0))
                    .map_err(failed)?
                    .collect::<Result<_, _>>()
                    .map_err(failed)?
            };
            let mut users = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(user) = load_user(&conn, &id)? {
                    users.push(user);
                }
            }
            Ok(users)
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
                .query_row(
                    "SELECT id FROM users WHERE (email != '' AND email = ?1) OR (phone != '' AND phone = ?2)",
                    params![lower, identifier],
                    |r| r.get(0),
                )
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
            let (mut user, devices) = User::from_seed(seed)?;
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
                tx.execute(
                    "INSERT INTO users (id, email, phone, record) VALUES (?1, ?2, ?3, ?4)",
                    params![user.id, user.email, user.phone, record(&user)?],
                )
                .map_err(unique_or_failed)?;
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

    fn update_user<'a>(&'a self, id: &'a str, change: Change) -> StoreFuture<'a, User> {
        Box::pin(async move {
            self.write(|tx| {
                let mut user = user_id_of(tx, id)?;
                user.apply(change);
                save_user(tx, &user)?;
                Ok(user)
            })
        })
    }

    fn set_status<'a>(&'a self, id: &'a str, status: &'a str) -> StoreFuture<'a, User> {
        Box::pin(async move {
            self.write(|tx| {
                let mut user = user_id_of(tx, id)?;
                status.clone_into(&mut user.status);
                user.updated_at = now();
                save_user(tx, &user)?;
                Ok(user)
            })
        })
    }

    fn delete_user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                // Devices, refresh tokens and magic links go with it (ON DELETE CASCADE).
                let removed = tx
                    .execute("DELETE FROM users WHERE id = ?1", [id])
                    .map_err(failed)?;
                if removed == 0 {
                    return Err(StoreError::NoSuchUser);
                }
                Ok(())
            })
        })
    }

    fn record_login<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                let mut user = user_id_of(tx, id)?;
                user.record_login(now());
                save_user(tx, &user)
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
                let user = user_id_of(tx, user_id)?;
                super::memory::check_rules(&user.status, user.webauthn_devices.len(), rules)?;
                tx.execute(
                    "INSERT INTO devices (id, user_id, cred_id, record, passkey) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![device.id, user_id, device.cred_id, to_json(&device)?, passkey],
                )
                .map_err(|err| match unique_or_failed(err) {
                    StoreError::Refused(_) => StoreError::Refused(super::refusals::CREDENTIAL_TAKEN),
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
                .query_row(
                    "SELECT user_id, record, passkey FROM devices WHERE cred_id = ?1",
                    [cred_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
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
        Box::pin(async move {
            self.write(|tx| {
                user_id_of(tx, user_id)?;
                let record: Option<String> = tx
                    .query_row(
                        "SELECT record FROM devices WHERE id = ?1 AND user_id = ?2",
                        [device_id, user_id],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(failed)?;
                let mut device: Device = from_json(&record.ok_or(StoreError::NoSuchDevice)?)?;
                let at = now();
                device.usage_count += 1;
                device.last_login_at = at;
                device.updated_at = at;
                tx.execute(
                    "UPDATE devices SET record = ?2, passkey = ?3 WHERE id = ?1",
                    params![device_id, to_json(&device)?, passkey],
                )
                .map_err(failed)?;
                Ok(())
            })
        })
    }

    fn revoke_device<'a>(&'a self, user_id: &'a str, device_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                user_id_of(tx, user_id)?;
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

    fn revoke_refresh_tokens<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                let bumped = tx
                    .execute(
                        "UPDATE users SET revocations = revocations + 1 WHERE id = ?1",
                        [user_id],
                    )
                    .map_err(failed)?;
                if bumped == 0 {
                    return Err(StoreError::NoSuchUser);
                }
                tx.execute("DELETE FROM refresh_tokens WHERE user_id = ?1", [user_id])
                    .map_err(failed)?;
                Ok(())
            })
        })
    }

    fn insert_refresh_token<'a>(&'a self, token: RefreshToken) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                tx.execute(
                    "INSERT INTO refresh_tokens (hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                    params![token.hash, token.user_id, token.expires_at],
                )
                .map_err(failed)?;
                Ok(())
            })
        })
    }

    fn take_refresh_token<'a>(&'a self, hash: &'a str) -> StoreFuture<'a, Option<RefreshToken>> {
        Box::pin(async move {
            self.write(|tx| {
                let token = tx
                    .query_row(
                        "DELETE FROM refresh_tokens WHERE hash = ?1 RETURNING user_id, expires_at",
                        [hash],
                        |r| {
                            Ok(RefreshToken {
                                hash: hash.to_owned(),
                                user_id: r.get(0)?,
                                expires_at: r.get(1)?,
                            })
                        },
                    )
                    .optional()
                    .map_err(failed)?;
                Ok(token)
            })
        })
    }

    fn insert_magic_link<'a>(&'a self, link: MagicLink) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                tx.execute(
                    "INSERT INTO magic_links (id, secret, user_id, activated, collected, expires_at, record, delivered) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                    params![
                        link.id,
                        link.secret,
                        link.user_id,
                        link.activated,
                        link.collected,
                        link.expires_at.unix_timestamp(),
                        to_json(&link)?,
                        link.delivered
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
        secret: &'a str,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, Option<MagicLink>> {
        Box::pin(async move {
            self.write(|tx| {
                let activated = tx
                    .execute(
                        "UPDATE magic_links SET activated = 1 WHERE secret = ?1 AND activated = 0 AND expires_at > ?2",
                        params![secret, now.unix_timestamp()],
                    )
                    .map_err(failed)?;
                if activated == 0 {
                    return Ok(None);
                }
                let Some(link) = load_link(tx, "secret", secret)? else {
                    return Ok(None);
                };
                let mut user = user_id_of(tx, &link.user_id)?;
                user.verify_by_link(&link);
                save_user(tx, &user)?;
                Ok(Some(link))
            })
        })
    }

    fn collect_magic_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.write(|tx| {
                let collected = tx
                    .execute(
                        "UPDATE magic_links SET collected = 1 WHERE id = ?1 AND activated = 1 AND collected = 0",
                        [id],
                    )
                    .map_err(failed)?;
                Ok(collected == 1)
            })
        })
    }

    fn signing_keys<'a>(&'a self) -> StoreFuture<'a, Vec<StoredKey>> {
        Box::pin(async move {
            let conn = self.conn();
            let mut statement = conn
                .prepare("SELECT kid, pkcs8 FROM signing_keys ORDER BY seq")
                .map_err(failed)?;
            let keys = statement
                .query_map([], |r| {
                    Ok(StoredKey {
                        kid: r.get(0)?,
                        pkcs8: r.get(1)?,
                    })
                })
                .map_err(failed)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(failed)?;
            Ok(keys)
        })
    }

    fn add_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.write(|tx| {
                tx.execute(
                    "INSERT OR IGNORE INTO signing_keys (kid, pkcs8) VALUES (?1, ?2)",
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
                    "DELETE FROM refresh_tokens; DELETE FROM magic_links; DELETE FROM devices; DELETE FROM users;",
                )
                .map_err(failed)
            })
        })
    }
}

/// A magic link by `column` (`id` or `secret`), with its state columns.
fn load_link(
    conn: &Connection,
    column: &str,
    value: &str,
) -> Result<Option<MagicLink>, StoreError> {
    let sql = match column {
        "secret" => {
            "SELECT record, activated, collected, expires_at, delivered FROM magic_links WHERE secret = ?1"
        }
        _ => {
            "SELECT record, activated, collected, expires_at, delivered FROM magic_links WHERE id = ?1"
        }
    };
    let row: Option<(String, bool, bool, i64, bool)> = conn
        .query_row(sql, [value], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()
        .map_err(failed)?;
    let Some((record, activated, collected, expires_at, delivered)) = row else {
        return Ok(None);
    };
    let mut link: MagicLink = from_json(&record)?;
    link.activated = activated;
    link.collected = collected;
    link.delivered = delivered;
    link.expires_at = OffsetDateTime::from_unix_timestamp(expires_at).map_err(failed)?;
    Ok(Some(link))
}
