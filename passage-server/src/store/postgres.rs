//! [`PostgresStore`]: everything in PostgreSQL, so several server processes (replicas behind a
//! load balancer) share one Passage.
//!
//! **Driver.** tokio-postgres with a deadpool-postgres pool, rather than sqlx: the build stays
//! lean (no macros, no query checking against a live database at compile time, no second
//! runtime abstraction), it is async on the tokio the server runs on, and the pool hands each
//! operation its own connection, so requests on one replica do not queue behind one another.
//! Statements are prepared once per connection (deadpool's statement cache).
//!
//! **Connecting.** [`PostgresStore::connect`] takes a `postgres://` or `postgresql://` URL, as
//! libpq spells it (`postgres://user:password@host:5432/dbname?sslmode=verify-full`), plus one
//! parameter of its own: `pool_size` (the most connections this process opens; default 16).
//! The URL's password never appears in an error, a log line or `Debug`.
//!
//! **TLS.** `sslmode=require`, `verify-ca` or `verify-full` connect over TLS with rustls
//! (aws-lc-rs, as the rest of the server), and always verify the server's certificate and host
//! name — against the CA in `sslrootcert=FILE` (PEM) when given, else against the system's
//! roots (rustls-platform-verifier): stricter than libpq's `require`, which encrypts without
//! verifying. Without one of those modes (`disable`, `prefer`, or none) the connection is not
//! encrypted: for a database on the same host or a private network. SCRAM channel binding is
//! used when the server offers it over TLS (tokio-postgres-rustls).
//!
//! **Atomic steps.** Every method is one transaction (a read that is one statement runs as
//! its own, without BEGIN and COMMIT round trips). Where a rule depends on the state it
//! reads — who may add a device, what a refresh token presented now does, opening and
//! collecting a magic link, taking a handshake, a status change or a revocation — the rows it
//! reads are locked first (`SELECT … FOR UPDATE`, always the user before their links and the
//! session before its tokens, so two steps never wait on each other in a circle), and the check
//! reads after the lock is held: of two replicas racing, the second sees what the first wrote.
//! Steps that decide over a whole table — keeping the first signing key only when none is kept,
//! making room among the handshakes, counting messages per address — take a transaction-level
//! advisory lock (`pg_advisory_xact_lock`) for that table. Should PostgreSQL still break a
//! deadlock (or a serialization failure) by aborting a step, the step is run again, up to three
//! times.
//!
//! **Schema.** The same columns as [`SqliteStore`](super::SqliteStore)'s (times of users in
//! microseconds, others in unix seconds; records as the wire's JSON beside the columns that are
//! looked up, filtered, ordered or constrained), text compared byte by byte (`COLLATE "C"`) as
//! Rust compares strings. Versioned in `schema_version`: at connect, [`migrations`](self) run
//! in one transaction under an advisory lock, so of two replicas starting at once one migrates
//! and the other finds it done; a database of a newer release is refused.

use std::{fmt, sync::Arc, time::Duration};

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use time::OffsetDateTime;
use tokio_postgres::{Row, error::SqlState, types::ToSql};

use super::{
    Activation, Change, CodeActivation, Device, DeviceRules, Handshake, Imported, MagicLink,
    Refresh, RefreshToken, SeedUser, Session, SignIn, Store, StoreError, StoreFuture, StoredKey,
    User, UserPage, UserQuery, now,
    query::{Dialect, SqlValue, micros},
    refusals, rules,
};

/// The schema's current version.
const VERSION: i64 = 5;

/// Connections per process when the URL does not say (`pool_size`).
const DEFAULT_POOL_SIZE: usize = 16;

/// How often a step PostgreSQL aborted to break a deadlock is run again.
const RETRIES: u32 = 3;

/// Keys of the advisory locks this store takes (`pg_advisory_xact_lock`), all in one range of
/// its own ("PSG" and a number).
mod lock {
    /// Migrating the schema.
    pub(super) const MIGRATE: i64 = 0x5053_4700_0000_0001;
    /// Making room among the handshakes.
    pub(super) const HANDSHAKES: i64 = 0x5053_4700_0000_0002;
    /// Counting messages.
    pub(super) const SENDS: i64 = 0x5053_4700_0000_0003;
    /// Keeping the first signing key.
    pub(super) const KEYS: i64 = 0x5053_4700_0000_0004;
}

/// A store in PostgreSQL, shared by every server process that connects to the same database.
///
/// [`connect`](Self::connect) takes a `postgres://` or `postgresql://` URL as libpq spells it,
/// plus `pool_size` (the most connections this process opens; default 16). `sslmode=require`,
/// `verify-ca` or `verify-full` connect over TLS (rustls) and always verify the server's
/// certificate and name, against `sslrootcert=FILE` (PEM) when given, else the system's roots;
/// otherwise the connection is not encrypted. The schema is created or upgraded at connect (one
/// transaction under an advisory lock; a newer release's schema is refused). Every method is one
/// transaction that locks what its rule reads, so replicas racing cannot both pass a rule. The
/// URL's password is never shown.
pub struct PostgresStore {
    pool: Pool,
    /// Where, for people: host, port, database and user — never the password.
    target: String,
    room: super::RoomCheck,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("pool_size", &self.pool.status().max_size)
            .finish()
    }
}

/// A PostgreSQL URL as a setting: shown without its password (`Debug` and `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL, password included: for connecting only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.0))
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({:?})", redact(&self.0))
    }
}

/// `url` with its password (if any) replaced by `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".to_owned();
    };
    // The authority ends at the first '/', '?' or '#'; its credentials at its last '@'.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split_once(':').map_or(credentials, |(u, _)| u);
            let hidden = if credentials.contains(':') {
                ":***"
            } else {
                ""
            };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// Why a step failed: a store's own answer, or the database's (which may be worth a retry).
#[derive(Debug)]
enum Fail {
    Store(StoreError),
    Db(tokio_postgres::Error),
}

impl From<StoreError> for Fail {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

impl From<tokio_postgres::Error> for Fail {
    fn from(err: tokio_postgres::Error) -> Self {
        match refusal(&err) {
            Some(refused) => Self::Store(refused),
            None => Self::Db(err),
        }
    }
}

impl Fail {
    /// Whether PostgreSQL aborted the step to let another one through: run it again.
    fn retry(&self) -> bool {
        matches!(self, Self::Db(err) if matches!(
            err.code(),
            Some(&SqlState::T_R_DEADLOCK_DETECTED | &SqlState::T_R_SERIALIZATION_FAILURE)
        ))
    }

    fn into_store(self) -> StoreError {
        match self {
            Self::Store(err) => err,
            Self::Db(err) => StoreError::Failed(describe(&err)),
        }
    }
}

/// Inserts `user`'s row (its devices apart).
async fn insert_user_row<C: GenericClient>(c: &C, user: &User) -> Result<(), Fail> {
    execute(
        c,
        "INSERT INTO users (id, email, phone, status, login_count, created_at,
            updated_at, last_login_at, record)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &user.id,
            &user.email,
            &user.phone,
            &user.status,
            &user.login_count,
            &micros(user.created_at),
            &micros(user.updated_at),
            &micros(user.last_login_at),
            &record(user)?,
        ],
    )
    .await?;
    Ok(())
}

/// The id of the user holding `identifier` as email (`column` = "email") or phone.
async fn identifier_holder<C: GenericClient>(
    c: &C,
    column: &str,
    identifier: &str,
) -> Result<Option<String>, Fail> {
    if identifier.is_empty() {
        return Ok(None);
    }
    let sql = if column == "email" {
        "SELECT id FROM users WHERE email = $1"
    } else {
        "SELECT id FROM users WHERE phone = $1"
    };
    row(c, sql, &[&identifier])
        .await?
        .map(|found| get::<String>(&found, 0))
        .transpose()
}

/// Keeps a handshake (replacing one with the same id).
async fn insert_handshake<C: GenericClient>(
    c: &C,
    id: &str,
    handshake: &Handshake,
) -> Result<(), Fail> {
    execute(
        c,
        "INSERT INTO handshakes (id, kind, user_id, state, expires_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind,
            user_id = EXCLUDED.user_id, state = EXCLUDED.state,
            expires_at = EXCLUDED.expires_at",
        &[
            &id,
            &handshake.kind,
            &handshake.user_id,
            &handshake.state,
            &handshake.expires_at,
        ],
    )
    .await?;
    Ok(())
}

/// A unique index that says which rule a change broke.
fn refusal(err: &tokio_postgres::Error) -> Option<StoreError> {
    let db = err.as_db_error()?;
    if *db.code() != SqlState::UNIQUE_VIOLATION {
        return None;
    }
    Some(match db.constraint()? {
        "users_id" => StoreError::Refused("a user with this id already exists"),
        "users_email" | "users_phone" => {
            StoreError::Refused("a user with this identifier already exists")
        }
        "devices_cred_id" => StoreError::Refused(refusals::CREDENTIAL_TAKEN),
        _ => return None,
    })
}

/// An error with its causes, on one line: the driver's and the pool's own text names only the
/// kind of failure ("db error", "error performing TLS handshake"), their causes say which.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

fn failed(err: impl fmt::Display) -> StoreError {
    StoreError::Failed(err.to_string())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, Fail> {
    serde_json::to_string(value).map_err(|err| Fail::Store(failed(err)))
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, Fail> {
    serde_json::from_str(text).map_err(|err| Fail::Store(failed(err)))
}

/// A count or size as PostgreSQL's `bigint`.
fn int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Runs `$work` (an expression that awaits to `Result<_, Fail>`, using the transaction `$tx`) in
/// one transaction on a pooled connection: committed when it succeeds, rolled back otherwise,
/// and run again when PostgreSQL aborted it to break a deadlock. `read` starts a read-only
/// snapshot (repeatable read), for reads of several statements that must agree.
macro_rules! transaction {
    ($store:expr, $tx:ident => $work:expr) => {
        transaction!(@run $store, false, $tx => $work)
    };
    (read $store:expr, $tx:ident => $work:expr) => {
        transaction!(@run $store, true, $tx => $work)
    };
    (@run $store:expr, $read:expr, $tx:ident => $work:expr) => {{
        let mut attempt = 0;
        loop {
            let mut client = $store.client().await?;
            let outcome = async {
                let $tx = if $read {
                    client
                        .build_transaction()
                        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()
                        .await?
                } else {
                    client.transaction().await?
                };
                match $work.await {
                    Ok(value) => {
                        $tx.commit().await?;
                        Ok::<_, Fail>(value)
                    }
                    Err(fail) => {
                        // Dropped, it would roll back too; awaited, the connection goes back
                        // to the pool clean. A failure here changes nothing: the step failed.
                        let _ = $tx.rollback().await;
                        Err(fail)
                    }
                }
            }
            .await;
            match outcome {
                Ok(value) => break Ok(value),
                Err(fail) if fail.retry() && attempt < RETRIES => attempt += 1,
                Err(fail) => break Err(fail.into_store()),
            }
        }
    }};
}

impl PostgresStore {
    /// Whether `text` is a PostgreSQL URL (`postgres://…` or `postgresql://…`) rather than,
    /// say, a SQLite file's path.
    #[must_use]
    pub fn is_url(text: &str) -> bool {
        text.starts_with("postgres://") || text.starts_with("postgresql://")
    }

    /// Connects to the database at `url` (see [`PostgresStore`] for TLS and `pool_size`),
    /// bringing its schema up to date (creating it in an empty database).
    ///
    /// # Errors
    /// [`StoreError::Failed`] for a URL that cannot work, a database that cannot be reached or
    /// refuses the login, or a schema of a newer release; never with the URL's password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let settings = Settings::parse(url)?;
        let target = settings.describe();
        let tls = tokio_postgres_rustls::MakeRustlsConnect::new(settings.tls_config()?);
        let manager = Manager::from_config(
            settings.config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(10)))
            .wait_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|err| failed(format!("PostgreSQL at {target}: {err}")))?;
        let store = Self {
            pool,
            target,
            room: super::RoomCheck::default(),
        };
        let mut client = store.client().await?;
        migrations::run(&mut client)
            .await
            .map_err(|fail| match fail.into_store() {
                StoreError::Failed(message) => {
                    failed(format!("PostgreSQL at {}: {message}", store.target))
                }
                other => other,
            })?;
        drop(client);
        Ok(store)
    }

    /// A connection from the pool.
    async fn client(&self) -> Result<deadpool_postgres::Client, StoreError> {
        self.pool.get().await.map_err(|err| {
            // The pool's error names the driver's, which never holds the password.
            failed(format!("PostgreSQL at {}: {}", self.target, describe(&err)))
        })
    }
}

/// What a URL asks for, parsed.
struct Settings {
    config: tokio_postgres::Config,
    /// Whether to connect over TLS (verifying the server).
    tls: bool,
    /// The CA file to verify the server against (`sslrootcert`), instead of the system's roots.
    root_cert: Option<std::path::PathBuf>,
    pool_size: usize,
}

impl Settings {
    fn parse(url: &str) -> Result<Self, StoreError> {
        if !PostgresStore::is_url(url) {
            return Err(failed(format!(
                "not a PostgreSQL URL (postgres://user:password@host/database): {}",
                redact(url)
            )));
        }
        // This store's own parameters, and the TLS ones it handles itself, are taken out; the
        // rest is the driver's to read.
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut tls = false;
        let mut root_cert = None;
        let mut pool_size = DEFAULT_POOL_SIZE;
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| failed(format!("the PostgreSQL URL's {key} is not UTF-8")))?;
            match key {
                "sslmode" => {
                    tls = match decoded.as_ref() {
                        "disable" | "allow" | "prefer" => false,
                        "require" | "verify-ca" | "verify-full" => true,
                        _ => {
                            return Err(failed(
                                "the PostgreSQL URL's sslmode must be disable, prefer, require, verify-ca or verify-full",
                            ));
                        }
                    };
                }
                "sslrootcert" => root_cert = Some(std::path::PathBuf::from(decoded.as_ref())),
                "pool_size" => {
                    pool_size = decoded
                        .parse::<usize>()
                        .ok()
                        .filter(|size| (1..=1000).contains(size))
                        .ok_or_else(|| {
                            failed("the PostgreSQL URL's pool_size must be a number from 1 to 1000")
                        })?;
                }
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: tokio_postgres::Config = rest.parse().map_err(|err| {
            // The driver's parse errors name the option, never its value.
            failed(format!(
                "the PostgreSQL URL {}: {}",
                redact(url),
                describe(&err)
            ))
        })?;
        config.ssl_mode(if tls {
            tokio_postgres::config::SslMode::Require
        } else {
            tokio_postgres::config::SslMode::Disable
        });
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("passage-server");
        }
        Ok(Self {
            config,
            tls,
            root_cert,
            pool_size,
        })
    }

    /// Host, port, database and user, for messages.
    fn describe(&self) -> String {
        let ports = self.config.get_ports();
        let hosts: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                (
                    host,
                    ports
                        .get(i)
                        .or_else(|| ports.first())
                        .copied()
                        .unwrap_or(5432),
                )
            })
            .map(|(host, port)| match host {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => format!("{}:{port}", path.display()),
            })
            .collect();
        format!(
            "{}/{} (user {})",
            if hosts.is_empty() {
                "localhost:5432".to_owned()
            } else {
                hosts.join(",")
            },
            self.config.get_dbname().unwrap_or("(the user's)"),
            self.config.get_user().unwrap_or("(the process's)")
        )
    }

    /// The TLS settings: verifying against `sslrootcert` or the system's roots; none at all
    /// (never used) without TLS.
    fn tls_config(&self) -> Result<rustls::ClientConfig, StoreError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| failed(format!("TLS: {err}")))?;
        if !self.tls {
            return Ok(builder
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth());
        }
        match &self.root_cert {
            Some(path) => {
                use rustls::pki_types::{CertificateDer, pem::PemObject as _};
                let mut roots = rustls::RootCertStore::empty();
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|err| failed(format!("sslrootcert {}: {err}", path.display())))?;
                for cert in certs {
                    let cert = cert
                        .map_err(|err| failed(format!("sslrootcert {}: {err}", path.display())))?;
                    roots
                        .add(cert)
                        .map_err(|err| failed(format!("sslrootcert {}: {err}", path.display())))?;
                }
                if roots.is_empty() {
                    return Err(failed(format!(
                        "sslrootcert {}: no certificate in it",
                        path.display()
                    )));
                }
                Ok(builder.with_root_certificates(roots).with_no_client_auth())
            }
            None => {
                use rustls_platform_verifier::BuilderVerifierExt as _;
                Ok(builder
                    .with_platform_verifier()
                    .map_err(|err| failed(format!("TLS: the system's roots: {err}")))?
                    .with_no_client_auth())
            }
        }
    }
}

/// The SQL of [`UserQuery`] in PostgreSQL's words.
const DIALECT: Dialect = Dialect {
    param: |n| format!("${n}"),
    contains: |column, param| format!("strpos({column}, {param}) > 0"),
    bytewise: |column| format!("{column} COLLATE \"C\""),
};

type Param<'p> = &'p (dyn ToSql + Sync);

async fn rows<C: GenericClient>(c: &C, sql: &str, params: &[Param<'_>]) -> Result<Vec<Row>, Fail> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

async fn row<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[Param<'_>],
) -> Result<Option<Row>, Fail> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

async fn execute<C: GenericClient>(c: &C, sql: &str, params: &[Param<'_>]) -> Result<u64, Fail> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

/// Waits for the advisory lock `key` until the transaction ends.
async fn advisory_lock<C: GenericClient>(c: &C, key: i64) -> Result<(), Fail> {
    execute(c, "SELECT pg_advisory_xact_lock($1)", &[&key]).await?;
    Ok(())
}

fn get<'r, T: tokio_postgres::types::FromSql<'r>>(row: &'r Row, index: usize) -> Result<T, Fail> {
    Ok(row.try_get(index)?)
}

/// The user `id` with their devices; locked until the transaction ends when `lock`.
async fn load_user<C: GenericClient>(c: &C, id: &str, lock: bool) -> Result<Option<User>, Fail> {
    if !lock {
        // One statement (one snapshot, one round trip): the user with its devices.
        return row(c, USER_BY_ID, &[&id])
            .await?
            .map(|found| user_with_devices(&found, 0))
            .transpose();
    }
    let sql = "SELECT record, revocations, revoked_at FROM users WHERE id = $1 FOR UPDATE";
    let Some(found) = row(c, sql, &[&id]).await? else {
        return Ok(None);
    };
    let mut user = user_from(&found)?;
    user.set_devices(
        load_devices(c, id)
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .collect(),
    );
    Ok(Some(user))
}

/// The columns of a user `u` with its devices, read by [`user_with_devices`]: `record`,
/// `revocations`, `revoked_at`, and the devices' records as one JSON array (in the order they
/// were added), so a user is one statement and one round trip.
macro_rules! user_columns {
    () => {
        "u.record, u.revocations, u.revoked_at, \
         COALESCE((SELECT json_agg(d.record::json ORDER BY d.seq) FROM devices d \
                   WHERE d.user_id = u.id)::text, '[]')"
    };
}

/// A user with its devices, by id (one statement).
const USER_BY_ID: &str = concat!("SELECT ", user_columns!(), " FROM users u WHERE u.id = $1");

/// A user with its devices, by email (`$1`, lower case) or phone (`$2`). Each identifier has its
/// own branch, so each uses its index: written as one `OR` under `LIMIT 1`, the prepared
/// statement's generic plan scanned the table, and a sign-in's cost grew with the users.
const USER_BY_IDENTIFIER: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users u WHERE u.id = (
         SELECT id FROM users WHERE email <> '' AND email = $1
         UNION ALL
         SELECT id FROM users WHERE phone <> '' AND phone = $2
         LIMIT 1)"
);

/// A passkey (`record`, `passkey`) by its credential id, with its user and their devices. The
/// `<> ''` lets a generic plan use the partial index on `cred_id` (without it, the statement
/// scanned every device).
const PASSKEY_BY_CREDENTIAL: &str = concat!(
    "SELECT d.record, d.passkey, ",
    user_columns!(),
    " FROM devices d JOIN users u ON u.id = d.user_id WHERE d.cred_id <> '' AND d.cred_id = $1"
);

impl PostgresStore {
    /// The statements a sign-in reads by, with a name each: a test checks on a filled database
    /// that their generic plans (what a prepared statement runs after its first few) use the
    /// indexes.
    #[doc(hidden)]
    pub const SIGN_IN_LOOKUPS: [(&str, &str); 3] = [
        ("a user by id", USER_BY_ID),
        ("a user by identifier", USER_BY_IDENTIFIER),
        ("a passkey by credential id", PASSKEY_BY_CREDENTIAL),
    ];
}

/// A user with its devices from the [`user_columns`] starting at column `at`.
fn user_with_devices(found: &Row, at: usize) -> Result<User, Fail> {
    let mut user: User = from_json(&get::<String>(found, at)?)?;
    user.refresh_token_revocations = u32::try_from(get::<i64>(found, at + 1)?).unwrap_or(u32::MAX);
    user.revoked_at = get(found, at + 2)?;
    let devices: Vec<Device> = from_json(&get::<String>(found, at + 3)?)?;
    user.set_devices(devices);
    Ok(user)
}

/// A user from a row of `record, revocations, revoked_at` (without their devices).
fn user_from(found: &Row) -> Result<User, Fail> {
    let mut user: User = from_json(&get::<String>(found, 0)?)?;
    user.refresh_token_revocations = u32::try_from(get::<i64>(found, 1)?).unwrap_or(u32::MAX);
    user.revoked_at = get(found, 2)?;
    Ok(user)
}

/// Records a sign-in on the user (its row locked): login count, last login, a recent event.
/// The devices are not read: the user's row keeps none of them.
async fn record_login<C: GenericClient>(c: &C, id: &str) -> Result<(), Fail> {
    let sql = "SELECT record, revocations, revoked_at FROM users WHERE id = $1 FOR UPDATE";
    let found = row(c, sql, &[&id]).await?.ok_or(StoreError::NoSuchUser)?;
    let mut user = user_from(&found)?;
    user.record_login(now());
    save_user(c, &user).await
}

/// Records a use of a device (its row locked): its passkey's new material, usage count, last use.
async fn use_device<C: GenericClient>(
    c: &C,
    user_id: &str,
    device_id: &str,
    passkey: &str,
) -> Result<(), Fail> {
    let record = used_device_record(c, user_id, device_id, None).await?;
    execute(c, UPDATE_DEVICE, &[&device_id, &record, &passkey]).await?;
    Ok(())
}

/// A device's use (its row locked here; in a sign-in, after the user): its record with its
/// usage counted, for the caller to write ([`UPDATE_DEVICE`]) with the new material — when
/// `before` is given, only if the material is still that (else
/// [`refusals::PASSKEY_CHANGED`]).
async fn used_device_record<C: GenericClient>(
    c: &C,
    user_id: &str,
    device_id: &str,
    before: Option<&str>,
) -> Result<String, Fail> {
    let Some(found) = row(
        c,
        "SELECT record, passkey FROM devices WHERE id = $1 AND user_id = $2 FOR UPDATE",
        &[&device_id, &user_id],
    )
    .await?
    else {
        if row(c, "SELECT 1 FROM users WHERE id = $1", &[&user_id])
            .await?
            .is_none()
        {
            return Err(StoreError::NoSuchUser.into());
        }
        return Err(StoreError::NoSuchDevice.into());
    };
    if let Some(before) = before
        && get::<String>(&found, 1)? != before
    {
        return Err(StoreError::Refused(refusals::PASSKEY_CHANGED).into());
    }
    let mut device: Device = from_json(&get::<String>(&found, 0)?)?;
    rules::device_used(&mut device);
    to_json(&device)
}

/// A device's record and passkey material (`$1` its id, `$2` the record, `$3` the material).
const UPDATE_DEVICE: &str = "UPDATE devices SET record = $2, passkey = $3 WHERE id = $1";

/// A new session.
const INSERT_SESSION: &str =
    "INSERT INTO sessions (id, user_id, signed_in_at, refreshed_at, expires_at, ended)
     VALUES ($1, $2, $3, $4, $5, $6)";

/// A new session's first refresh token.
const INSERT_REFRESH_TOKEN: &str =
    "INSERT INTO refresh_tokens (hash, session_id, user_id, expires_at)
     VALUES ($1, $2, $3, $4)";

/// Prepares `statements` on this connection (a no-op for those prepared before): a statement
/// prepared is sent when its future is first polled, so futures joined after this are sent in
/// the order they are polled — one round trip for them all, in order (pipelining).
async fn prepare_all<C: GenericClient>(c: &C, statements: &[&str]) -> Result<(), Fail> {
    for sql in statements {
        c.prepare_cached(sql).await?;
    }
    Ok(())
}

/// Keeps a session and its first refresh token (the user checked and locked by the caller).
async fn start_session<C: GenericClient>(
    c: &C,
    session: &Session,
    token: &RefreshToken,
) -> Result<(), Fail> {
    prepare_all(c, &[INSERT_SESSION, INSERT_REFRESH_TOKEN]).await?;
    let session_row: [Param<'_>; 6] = [
        &session.id,
        &session.user_id,
        &session.signed_in_at,
        &session.refreshed_at,
        &session.expires_at,
        &session.ended,
    ];
    let token_row: [Param<'_>; 4] = [
        &token.hash,
        &session.id,
        &session.user_id,
        &token.expires_at,
    ];
    // Sent together, run in this order (the token refers to the session).
    tokio::try_join!(
        execute(c, INSERT_SESSION, &session_row),
        execute(c, INSERT_REFRESH_TOKEN, &token_row),
    )?;
    Ok(())
}

async fn the_user<C: GenericClient>(c: &C, id: &str) -> Result<User, Fail> {
    Ok(load_user(c, id, true)
        .await?
        .ok_or(StoreError::NoSuchUser)?)
}

async fn load_devices<C: GenericClient>(
    c: &C,
    user_id: &str,
) -> Result<Vec<(Device, String)>, Fail> {
    rows(
        c,
        "SELECT record, passkey FROM devices WHERE user_id = $1 ORDER BY seq",
        &[&user_id],
    )
    .await?
    .iter()
    .map(|r| Ok((from_json(&get::<String>(r, 0)?)?, get(r, 1)?)))
    .collect()
}

/// The user's record column: the user without its devices (they have a table of their own).
fn record(user: &User) -> Result<String, Fail> {
    let mut bare = user.clone();
    bare.set_devices(Vec::new());
    to_json(&bare)
}

/// A user's row, as [`save_user`] writes it.
const SAVE_USER: &str = "UPDATE users SET email = $2, phone = $3, status = $4, login_count = $5,
     updated_at = $6, last_login_at = $7, revoked_at = $8, revocations = $9, record = $10
     WHERE id = $1";

async fn save_user<C: GenericClient>(c: &C, user: &User) -> Result<(), Fail> {
    let changed = execute(
        c,
        SAVE_USER,
        &[
            &user.id,
            &user.email,
            &user.phone,
            &user.status,
            &user.login_count,
            &micros(user.updated_at),
            &micros(user.last_login_at),
            &user.revoked_at,
            &i64::from(user.refresh_token_revocations),
            &record(user)?,
        ],
    )
    .await?;
    if changed == 0 {
        return Err(StoreError::NoSuchUser.into());
    }
    Ok(())
}

/// Ends every session of `user_id` and removes their refresh tokens (sessions first, then
/// tokens: the order every step locks them in).
async fn end_sessions<C: GenericClient>(c: &C, user_id: &str) -> Result<(), Fail> {
    execute(
        c,
        "UPDATE sessions SET ended = TRUE WHERE user_id = $1",
        &[&user_id],
    )
    .await?;
    execute(
        c,
        "DELETE FROM refresh_tokens WHERE user_id = $1",
        &[&user_id],
    )
    .await?;
    Ok(())
}

async fn end_session<C: GenericClient>(c: &C, session_id: &str) -> Result<(), Fail> {
    execute(
        c,
        "UPDATE sessions SET ended = TRUE WHERE id = $1",
        &[&session_id],
    )
    .await?;
    execute(
        c,
        "DELETE FROM refresh_tokens WHERE session_id = $1",
        &[&session_id],
    )
    .await?;
    Ok(())
}

async fn load_session<C: GenericClient>(
    c: &C,
    id: &str,
    lock: bool,
) -> Result<Option<Session>, Fail> {
    let sql = if lock {
        "SELECT user_id, signed_in_at, refreshed_at, expires_at, ended FROM sessions WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT user_id, signed_in_at, refreshed_at, expires_at, ended FROM sessions WHERE id = $1"
    };
    row(c, sql, &[&id])
        .await?
        .map(|r| {
            Ok(Session {
                id: id.to_owned(),
                user_id: get(&r, 0)?,
                signed_in_at: get(&r, 1)?,
                refreshed_at: get(&r, 2)?,
                expires_at: get(&r, 3)?,
                ended: get(&r, 4)?,
            })
        })
        .transpose()
}

/// Which column finds a magic link.
#[derive(Clone, Copy)]
enum LinkBy {
    Id,
    SecretHash,
}

/// The magic link found by `by`, with its state columns; locked when `lock`.
async fn load_link<C: GenericClient>(
    c: &C,
    by: LinkBy,
    value: &str,
    lock: bool,
) -> Result<Option<MagicLink>, Fail> {
    let sql = match (by, lock) {
        (LinkBy::Id, false) => {
            "SELECT record, activated, collected, expires_at, delivered, secret_hash, browser, same_browser,
                code, tries
             FROM magic_links WHERE id = $1"
        }
        (LinkBy::Id, true) => {
            "SELECT record, activated, collected, expires_at, delivered, secret_hash, browser, same_browser,
                code, tries
             FROM magic_links WHERE id = $1 FOR UPDATE"
        }
        (LinkBy::SecretHash, _) => {
            "SELECT record, activated, collected, expires_at, delivered, secret_hash, browser, same_browser,
                code, tries
             FROM magic_links WHERE secret_hash = $1"
        }
    };
    let Some(r) = row(c, sql, &[&value]).await? else {
        return Ok(None);
    };
    let mut link: MagicLink = from_json(&get::<String>(&r, 0)?)?;
    link.activated = get(&r, 1)?;
    link.collected = get(&r, 2)?;
    link.expires_at =
        OffsetDateTime::from_unix_timestamp(get(&r, 3)?).map_err(|err| Fail::Store(failed(err)))?;
    link.delivered = get(&r, 4)?;
    link.secret_hash = get(&r, 5)?;
    link.browser = get(&r, 6)?;
    link.same_browser = get(&r, 7)?;
    link.code = get(&r, 8)?;
    link.tries = u32::try_from(get::<i64>(&r, 9)?).unwrap_or(u32::MAX);
    Ok(Some(link))
}

async fn load_keys<C: GenericClient>(c: &C) -> Result<Vec<StoredKey>, Fail> {
    rows(
        c,
        "SELECT kid, pkcs8, signs_from FROM signing_keys ORDER BY seq",
        &[],
    )
    .await?
    .iter()
    .map(|r| {
        Ok(StoredKey {
            kid: get(r, 0)?,
            pkcs8: get(r, 1)?,
            signs_from: get(r, 2)?,
        })
    })
    .collect()
}

/// [`Store::list_users`]: the count and the page in one snapshot, the page's devices in one
/// query.
async fn list_users<C: GenericClient>(c: &C, query: &UserQuery) -> Result<UserPage, Fail> {
    let (condition, order, values) = query.sql(DIALECT);
    let params: Vec<Param<'_>> = values
        .iter()
        .map(|value| match value {
            SqlValue::Text(text) => text as Param<'_>,
            SqlValue::Int(int) => int as Param<'_>,
        })
        .collect();
    // The query's text varies with its filters: prepared unnamed, not cached.
    let total: i64 = if query.filters.is_empty() {
        // Every user but those created since `created_before` (a page's first call sets it to
        // now: a few, found by the index).
        get(
            &c.query_one(
                "SELECT (SELECT SUM(n) FROM user_counts)::bigint
                    - (SELECT COUNT(*) FROM users WHERE created_at >= $1)",
                &[&query.created_before.saturating_mul(1_000_000)],
            )
            .await?,
            0,
        )?
    } else {
        get(
            &c.query_one(
                format!("SELECT COUNT(*) FROM users WHERE {condition}").as_str(),
                &params,
            )
            .await?,
            0,
        )?
    };
    let found = c
        .query(
            format!(
                "SELECT record, revocations, revoked_at, id FROM users WHERE {condition}
                 ORDER BY {order} LIMIT {} OFFSET {}",
                int(query.limit),
                int(query.offset)
            )
            .as_str(),
            &params,
        )
        .await?;
    let mut users = found.iter().map(user_from).collect::<Result<Vec<_>, _>>()?;
    let ids = found
        .iter()
        .map(|r| get::<String>(r, 3))
        .collect::<Result<Vec<_>, _>>()?;
    let mut devices: std::collections::HashMap<String, Vec<Device>> =
        std::collections::HashMap::new();
    for r in rows(
        c,
        "SELECT user_id, record FROM devices WHERE user_id = ANY($1) ORDER BY seq",
        &[&ids],
    )
    .await?
    {
        devices
            .entry(get(&r, 0)?)
            .or_default()
            .push(from_json(&get::<String>(&r, 1)?)?);
    }
    for (user, id) in users.iter_mut().zip(&ids) {
        user.set_devices(devices.remove(id).unwrap_or_default());
    }
    Ok(UserPage {
        users,
        total: usize::try_from(total).unwrap_or(0),
    })
}

impl Store for PostgresStore {
    fn list_users<'a>(&'a self, query: &'a UserQuery) -> StoreFuture<'a, UserPage> {
        Box::pin(async move { transaction!(read self, tx => list_users(&tx, query)) })
    }

    fn user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            // One statement: one snapshot, and no BEGIN and COMMIT round trips.
            let client = self.client().await?;
            load_user(&client, id, false)
                .await
                .map_err(Fail::into_store)
        })
    }

    fn user_by_identifier<'a>(&'a self, identifier: &'a str) -> StoreFuture<'a, Option<User>> {
        Box::pin(async move {
            let lower = identifier.to_lowercase();
            // One statement: one snapshot, and no BEGIN and COMMIT round trips.
            let client = self.client().await?;
            let found = row(&client, USER_BY_IDENTIFIER, &[&lower, &identifier])
                .await
                .map_err(Fail::into_store)?;
            found
                .map(|found| user_with_devices(&found, 0))
                .transpose()
                .map_err(Fail::into_store)
        })
    }

    fn insert_user<'a>(&'a self, seed: SeedUser) -> StoreFuture<'a, User> {
        Box::pin(async move {
            let (mut user, devices) = rules::new_user(seed)?;
            transaction!(self, tx => async {
                // A duplicate id or identifier is refused by the unique indexes (see
                // `refusal`), so two processes inserting at once cannot both succeed.
                let taken = row(&tx, "SELECT 1 FROM users WHERE id = $1", &[&user.id]).await?;
                if taken.is_some() {
                    return Err(StoreError::Refused("a user with this id already exists").into());
                }
                insert_user_row(&tx, &user).await?;
                for device in &devices {
                    execute(
                        &tx,
                        "INSERT INTO devices (id, user_id, cred_id, record, passkey)
                         VALUES ($1, $2, $3, $4, '')",
                        &[&device.id, &user.id, &device.cred_id, &to_json(device)?],
                    )
                    .await?;
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
            transaction!(self, tx => async {
                // The user's row is locked (when it exists) before the rules read it; a new id
                // or identifier taken at the same moment is refused by the unique indexes.
                let existing = load_user(&tx, &user.id, true).await?;
                let email_holder = identifier_holder(&tx, "email", &user.email).await?;
                let phone_holder = identifier_holder(&tx, "phone", &user.phone).await?;
                let mut credential_holders = Vec::with_capacity(passkeys.len());
                for (device, _) in &passkeys {
                    let holder = row(
                        &tx,
                        "SELECT user_id FROM devices WHERE cred_id <> '' AND cred_id = $1",
                        &[&device.cred_id],
                    )
                    .await?
                    .map(|found| get::<String>(&found, 0))
                    .transpose()?;
                    credential_holders.push(holder);
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
                        insert_user_row(&tx, &user).await?;
                        ((0..passkeys.len()).collect::<Vec<_>>(), Imported::Created)
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
                    execute(
                        &tx,
                        "INSERT INTO devices (id, user_id, cred_id, record, passkey)
                         VALUES ($1, $2, $3, $4, $5)",
                        &[&device.id, &user.id, &device.cred_id, &to_json(device)?, material],
                    )
                    .await?;
                }
                Ok(outcome)
            })
        })
    }

    fn update_user<'a>(&'a self, id: &'a str, change: Change) -> StoreFuture<'a, User> {
        Box::pin(async move {
            transaction!(self, tx => async {
                let mut user = the_user(&tx, id).await?;
                user.apply(change.clone());
                save_user(&tx, &user).await?;
                Ok(user)
            })
        })
    }

    fn set_status<'a>(&'a self, id: &'a str, status: &'a str) -> StoreFuture<'a, User> {
        Box::pin(async move {
            transaction!(self, tx => async {
                let mut user = the_user(&tx, id).await?;
                if rules::set_status(&mut user, status) {
                    end_sessions(&tx, id).await?;
                }
                save_user(&tx, &user).await?;
                Ok(user)
            })
        })
    }

    fn delete_user<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            transaction!(self, tx => async {
                // Devices, sessions, refresh tokens and magic links go with it (ON DELETE
                // CASCADE); handshakes for it are of no use any more.
                if execute(&tx, "DELETE FROM users WHERE id = $1", &[&id]).await? == 0 {
                    return Err(StoreError::NoSuchUser.into());
                }
                execute(&tx, "DELETE FROM handshakes WHERE user_id = $1", &[&id]).await?;
                Ok(())
            })
        })
    }

    fn record_login<'a>(&'a self, id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move { transaction!(self, tx => record_login(&tx, id)) })
    }

    fn expire_pending<'a>(&'a self, before: OffsetDateTime, keep: usize) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            transaction!(self, tx => async {
                // Lock the candidates first (skipping any a registration holds), then delete
                // those that still qualify, read after the locks: a passkey added a moment
                // ago keeps its user.
                let candidates = rows(
                    &tx,
                    "SELECT id FROM users WHERE status = 'pending' AND login_count = 0
                        AND (created_at < $1 OR id IN (
                            SELECT id FROM users WHERE status = 'pending' AND login_count = 0
                                AND NOT EXISTS (SELECT 1 FROM devices WHERE devices.user_id = users.id)
                            ORDER BY created_at DESC OFFSET $2))
                     FOR UPDATE SKIP LOCKED",
                    &[&micros(before), &int(keep)],
                )
                .await?
                .iter()
                .map(|r| get::<String>(r, 0))
                .collect::<Result<Vec<_>, _>>()?;
                if candidates.is_empty() {
                    return Ok(0);
                }
                let removed = rows(
                    &tx,
                    "DELETE FROM users WHERE id = ANY($1) AND status = 'pending'
                        AND login_count = 0
                        AND NOT EXISTS (SELECT 1 FROM devices WHERE devices.user_id = users.id)
                     RETURNING id",
                    &[&candidates],
                )
                .await?
                .iter()
                .map(|r| get::<String>(r, 0))
                .collect::<Result<Vec<_>, _>>()?;
                execute(
                    &tx,
                    "DELETE FROM handshakes WHERE user_id = ANY($1)",
                    &[&removed],
                )
                .await?;
                Ok(removed.len())
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
            transaction!(self, tx => async {
                // The user's row is locked before their devices are counted: of two
                // registrations at once, the second counts the first's passkey.
                let user = the_user(&tx, user_id).await?;
                rules::check_rules(&user.status, user.webauthn_devices.len(), rules)?;
                execute(
                    &tx,
                    "INSERT INTO devices (id, user_id, cred_id, record, passkey)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&device.id, &user_id, &device.cred_id, &to_json(&device)?, &passkey],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn passkeys<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, Vec<(Device, String)>> {
        Box::pin(async move {
            let client = self.client().await?;
            load_devices(&client, user_id)
                .await
                .map_err(Fail::into_store)
        })
    }

    fn find_passkey<'a>(
        &'a self,
        cred_id: &'a str,
    ) -> StoreFuture<'a, Option<(User, Device, String)>> {
        Box::pin(async move {
            // One statement: one snapshot, and no BEGIN and COMMIT round trips.
            let client = self.client().await?;
            let found = row(&client, PASSKEY_BY_CREDENTIAL, &[&cred_id])
                .await
                .map_err(Fail::into_store)?;
            let Some(found) = found else {
                return Ok(None);
            };
            let read = || -> Result<(User, Device, String), Fail> {
                Ok((
                    user_with_devices(&found, 2)?,
                    from_json(&get::<String>(&found, 0)?)?,
                    get(&found, 1)?,
                ))
            };
            read().map(Some).map_err(Fail::into_store)
        })
    }

    fn use_device<'a>(
        &'a self,
        user_id: &'a str,
        device_id: &'a str,
        passkey: String,
    ) -> StoreFuture<'a, ()> {
        Box::pin(
            async move { transaction!(self, tx => use_device(&tx, user_id, device_id, &passkey)) },
        )
    }

    fn rename_device<'a>(
        &'a self,
        user_id: &'a str,
        device_id: &'a str,
        name: &'a str,
    ) -> StoreFuture<'a, Device> {
        Box::pin(async move {
            transaction!(self, tx => async {
                let found = row(
                    &tx,
                    "SELECT record FROM devices WHERE id = $1 AND user_id = $2 FOR UPDATE",
                    &[&device_id, &user_id],
                )
                .await?;
                let Some(found) = found else {
                    if row(&tx, "SELECT 1 FROM users WHERE id = $1", &[&user_id])
                        .await?
                        .is_none()
                    {
                        return Err(StoreError::NoSuchUser.into());
                    }
                    return Err(StoreError::NoSuchDevice.into());
                };
                let mut device: Device = from_json(&get::<String>(&found, 0)?)?;
                name.clone_into(&mut device.friendly_name);
                device.updated_at = now();
                execute(
                    &tx,
                    "UPDATE devices SET record = $2 WHERE id = $1",
                    &[&device_id, &to_json(&device)?],
                )
                .await?;
                Ok(device)
            })
        })
    }

    fn revoke_device<'a>(&'a self, user_id: &'a str, device_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            transaction!(self, tx => async {
                if row(&tx, "SELECT 1 FROM users WHERE id = $1", &[&user_id])
                    .await?
                    .is_none()
                {
                    return Err(StoreError::NoSuchUser.into());
                }
                let removed = execute(
                    &tx,
                    "DELETE FROM devices WHERE id = $1 AND user_id = $2",
                    &[&device_id, &user_id],
                )
                .await?;
                if removed == 0 {
                    return Err(StoreError::NoSuchDevice.into());
                }
                Ok(())
            })
        })
    }

    fn revoke_sessions<'a>(&'a self, user_id: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            transaction!(self, tx => async {
                let mut user = the_user(&tx, user_id).await?;
                rules::revoke(&mut user);
                user.refresh_token_revocations = user.refresh_token_revocations.saturating_add(1);
                save_user(&tx, &user).await?;
                end_sessions(&tx, user_id).await
            })
        })
    }

    fn start_session<'a>(&'a self, session: Session, token: RefreshToken) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            transaction!(self, tx => async {
                // Held until the end: the user cannot be deleted between this and the insert.
                if row(
                    &tx,
                    "SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE",
                    &[&session.user_id],
                )
                .await?
                .is_none()
                {
                    return Err(StoreError::NoSuchUser.into());
                }
                start_session(&tx, &session, &token).await
            })
        })
    }

    fn sign_in(&self, sign_in: SignIn) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let SignIn {
                passkey,
                record_login: record,
                session,
                token,
            } = &sign_in;
            transaction!(self, tx => async {
                // The user first, as every step locks (before their devices, links and
                // sessions), and for no key update: what only references the user (a session,
                // a link) is not held up.
                let found = row(
                    &tx,
                    "SELECT record, revocations, revoked_at FROM users WHERE id = $1 FOR NO KEY UPDATE",
                    &[&session.user_id],
                )
                .await?
                .ok_or(StoreError::NoSuchUser)?;
                let mut user = user_from(&found)?;
                let changed = rules::sign_in(&mut user, *record)?;
                let device = match passkey {
                    Some(used) => {
                        let record = used_device_record(
                            &tx,
                            &session.user_id,
                            &used.device_id,
                            Some(&used.before),
                        )
                        .await?;
                        Some((used, record))
                    }
                    None => None,
                };
                // Every check passed and every lock is held: the writes are sent together
                // (pipelined: one round trip, run in this order).
                prepare_all(&tx, &[UPDATE_DEVICE, SAVE_USER, INSERT_SESSION, INSERT_REFRESH_TOKEN])
                    .await?;
                tokio::try_join!(
                    async {
                        if let Some((used, record)) = &device {
                            execute(&tx, UPDATE_DEVICE, &[&used.device_id, record, &used.after])
                                .await?;
                        }
                        Ok::<_, Fail>(())
                    },
                    async {
                        if changed {
                            save_user(&tx, &user).await?;
                        }
                        Ok(())
                    },
                    start_session(&tx, session, token),
                )?;
                Ok(())
            })
        })
    }

    fn session<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Session>> {
        Box::pin(async move {
            let client = self.client().await?;
            load_session(&client, id, false)
                .await
                .map_err(Fail::into_store)
        })
    }

    fn refresh<'a>(
        &'a self,
        hash: &'a str,
        next: RefreshToken,
        now: i64,
    ) -> StoreFuture<'a, Refresh> {
        Box::pin(async move {
            transaction!(self, tx => async {
                let Some(found) = row(
                    &tx,
                    "SELECT session_id FROM refresh_tokens WHERE hash = $1",
                    &[&hash],
                )
                .await?
                else {
                    return Ok(Refresh::Unknown);
                };
                let session_id: String = get(&found, 0)?;
                // The session, then the token, locked and read again: of two presentations
                // at once, the second sees the token the first used.
                let session = load_session(&tx, &session_id, true).await?;
                let Some(token) = row(
                    &tx,
                    "SELECT expires_at, used FROM refresh_tokens WHERE hash = $1 FOR UPDATE",
                    &[&hash],
                )
                .await?
                else {
                    return Ok(Refresh::Unknown);
                };
                let outcome = rules::refresh(get(&token, 0)?, get(&token, 1)?, session.as_ref(), now);
                match &outcome {
                    Refresh::Rotated(session) => {
                        execute(
                            &tx,
                            "UPDATE refresh_tokens SET used = TRUE WHERE hash = $1",
                            &[&hash],
                        )
                        .await?;
                        execute(
                            &tx,
                            "UPDATE sessions SET refreshed_at = $2 WHERE id = $1",
                            &[&session.id, &now],
                        )
                        .await?;
                        execute(
                            &tx,
                            "INSERT INTO refresh_tokens (hash, session_id, user_id, expires_at)
                             VALUES ($1, $2, $3, $4)",
                            &[
                                &next.hash,
                                &session.id,
                                &session.user_id,
                                &next.expires_at.min(session.expires_at),
                            ],
                        )
                        .await?;
                    }
                    Refresh::Reused | Refresh::Ended => end_session(&tx, &session_id).await?,
                    Refresh::Unknown => {}
                }
                Ok(outcome)
            })
        })
    }

    fn end_session<'a>(&'a self, hash: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            transaction!(self, tx => async {
                let found = row(
                    &tx,
                    "SELECT session_id FROM refresh_tokens WHERE hash = $1",
                    &[&hash],
                )
                .await?;
                match found {
                    Some(r) => end_session(&tx, &get::<String>(&r, 0)?).await,
                    None => Ok(()),
                }
            })
        })
    }

    fn purge_sessions<'a>(&'a self, now: i64) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            transaction!(self, tx => async {
                // Their refresh tokens go with them (ON DELETE CASCADE).
                let removed = execute(
                    &tx,
                    "DELETE FROM sessions WHERE ended OR expires_at <= $1",
                    &[&now],
                )
                .await?;
                execute(
                    &tx,
                    "DELETE FROM refresh_tokens WHERE expires_at <= $1",
                    &[&now],
                )
                .await?;
                Ok(usize::try_from(removed).unwrap_or(usize::MAX))
            })
        })
    }

    fn insert_magic_link<'a>(&'a self, link: MagicLink) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let kept = link.without_secret();
            transaction!(self, tx => async {
                execute(
                    &tx,
                    "INSERT INTO magic_links (id, secret_hash, user_id, activated, collected,
                        expires_at, record, delivered, browser, same_browser, code, tries)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    &[
                        &kept.id,
                        &kept.secret_hash,
                        &kept.user_id,
                        &kept.activated,
                        &kept.collected,
                        &kept.expires_at.unix_timestamp(),
                        &to_json(&kept)?,
                        &kept.delivered,
                        &kept.browser,
                        &kept.same_browser,
                        &kept.code,
                        &i64::from(kept.tries),
                    ],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn magic_link<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<MagicLink>> {
        Box::pin(async move {
            let client = self.client().await?;
            load_link(&client, LinkBy::Id, id, false)
                .await
                .map_err(Fail::into_store)
        })
    }

    fn activate_magic_link<'a>(
        &'a self,
        secret_hash: &'a str,
        browser: Option<&'a str>,
        now: OffsetDateTime,
    ) -> StoreFuture<'a, Activation> {
        Box::pin(async move {
            transaction!(self, tx => async {
                let Some(found) = load_link(&tx, LinkBy::SecretHash, secret_hash, false).await?
                else {
                    return Ok(Activation::Unknown);
                };
                // The user, then the link, locked; the link read again under its lock: of two
                // openings at once, the second finds it activated.
                let mut user = the_user(&tx, &found.user_id).await?;
                let Some(mut link) = load_link(&tx, LinkBy::Id, &found.id, true).await? else {
                    return Ok(Activation::Unknown);
                };
                match rules::activate(&mut link, &mut user, browser, now) {
                    None => Ok(Activation::Unknown),
                    Some(false) => Ok(Activation::Inactive),
                    Some(true) => {
                        // A new identifier another user holds breaks the unique index: the step
                        // is refused whole, and the link stays unused.
                        let previous = rules::apply_change(&mut user, &link);
                        execute(
                            &tx,
                            "UPDATE magic_links SET activated = TRUE, same_browser = $2 WHERE id = $1",
                            &[&link.id, &link.same_browser],
                        )
                        .await?;
                        save_user(&tx, &user).await?;
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
            transaction!(self, tx => async {
                let Some(found) = load_link(&tx, LinkBy::Id, id, false).await? else {
                    return Ok(CodeActivation::Unknown);
                };
                // The user, then the code, locked (the order every step locks them in); the
                // code read again under its lock: guesses at once are counted one after the
                // other, each seeing the tries before it.
                let mut user = the_user(&tx, &found.user_id).await?;
                let Some(mut link) = load_link(&tx, LinkBy::Id, id, true).await? else {
                    return Ok(CodeActivation::Unknown);
                };
                let outcome = rules::enter_code(&mut link, &mut user, code_hash, max_tries, now);
                match &outcome {
                    CodeActivation::Activated(_) => {
                        execute(
                            &tx,
                            "UPDATE magic_links SET activated = TRUE WHERE id = $1",
                            &[&link.id],
                        )
                        .await?;
                        save_user(&tx, &user).await?;
                    }
                    CodeActivation::Wrong { .. } | CodeActivation::Exhausted => {
                        execute(
                            &tx,
                            "UPDATE magic_links SET tries = $2 WHERE id = $1",
                            &[&link.id, &i64::from(link.tries)],
                        )
                        .await?;
                    }
                    _ => {}
                }
                Ok(outcome)
            })
        })
    }

    fn purge_links<'a>(&'a self, now: OffsetDateTime) -> StoreFuture<'a, usize> {
        Box::pin(async move {
            transaction!(self, tx => async {
                let removed = execute(
                    &tx,
                    "DELETE FROM magic_links WHERE expires_at <= $1",
                    &[&now.unix_timestamp()],
                )
                .await?;
                Ok(usize::try_from(removed).unwrap_or(usize::MAX))
            })
        })
    }

    fn collect_magic_link<'a>(&'a self, id: &'a str, now: OffsetDateTime) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            transaction!(self, tx => async {
                let Some(link) = load_link(&tx, LinkBy::Id, id, true).await? else {
                    return Ok(false);
                };
                if !rules::collectable(&link, now) {
                    return Ok(false);
                }
                execute(
                    &tx,
                    "UPDATE magic_links SET collected = TRUE WHERE id = $1",
                    &[&id],
                )
                .await?;
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
            let capacity = capacity.max(1);
            let make_room = self.room.due(capacity);
            if !make_room {
                // Between two checks, a put is one statement, its own transaction.
                let client = self.client().await?;
                insert_handshake(&client, id, &handshake)
                    .await
                    .map_err(Fail::into_store)?;
                return Ok(());
            }
            transaction!(self, tx => async {
                // When room is made, one replica at a time counts and makes it; between two
                // checks, a put is one insert, waiting on nobody.
                let held: i64 = if make_room {
                    advisory_lock(&tx, lock::HANDSHAKES).await?;
                    execute(&tx, "DELETE FROM handshakes WHERE expires_at <= $1", &[&now]).await?;
                    get(
                        &tx.query_one("SELECT COUNT(*) FROM handshakes WHERE id <> $1", &[&id])
                            .await?,
                        0,
                    )?
                } else {
                    0
                };
                let excess = held.saturating_add(1).saturating_sub(int(capacity));
                if excess > 0 {
                    execute(
                        &tx,
                        "DELETE FROM handshakes WHERE id IN
                            (SELECT id FROM handshakes WHERE id <> $2
                             ORDER BY expires_at LIMIT $1)",
                        &[&excess, &id],
                    )
                    .await?;
                }
                insert_handshake(&tx, id, &handshake).await?;
                Ok(())
            })
        })
    }

    fn take_handshake<'a>(&'a self, id: &'a str, now: i64) -> StoreFuture<'a, Option<Handshake>> {
        Box::pin(async move {
            // One statement, its own transaction (no BEGIN and COMMIT round trips): of two
            // takers at once, the second finds nothing to delete.
            let client = self.client().await?;
            let taken = async {
                row(
                    &client,
                    "DELETE FROM handshakes WHERE id = $1
                     RETURNING kind, user_id, state, expires_at",
                    &[&id],
                )
                .await?
                .map(|r| {
                    Ok::<_, Fail>(Handshake {
                        kind: get(&r, 0)?,
                        user_id: get(&r, 1)?,
                        state: get(&r, 2)?,
                        expires_at: get(&r, 3)?,
                    })
                })
                .transpose()
            }
            .await
            .map_err(Fail::into_store)?;
            Ok(taken.filter(|h| now < h.expires_at))
        })
    }

    fn handshakes_held(&self, now: i64) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let client = self.client().await?;
            let held: i64 = row(
                &client,
                "SELECT COUNT(*) FROM handshakes WHERE expires_at > $1",
                &[&now],
            )
            .await
            .and_then(|r| r.map_or(Ok(0), |r| get(&r, 0)))
            .map_err(Fail::into_store)?;
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
            transaction!(self, tx => async {
                // One count at a time: two replicas cannot both send the last one allowed.
                advisory_lock(&tx, lock::SENDS).await?;
                let since = now_ms.saturating_sub(window_ms);
                execute(&tx, "DELETE FROM sends WHERE at <= $1", &[&since]).await?;
                let counted = tx
                    .query_one("SELECT COUNT(*), MIN(at) FROM sends WHERE key = $1", &[&key])
                    .await?;
                let count: i64 = get(&counted, 0)?;
                let first: Option<i64> = get(&counted, 1)?;
                if let Some(first) = first
                    && count >= int(max)
                {
                    return Ok(Some(window_ms - (now_ms - first)));
                }
                if count == 0 {
                    let keys: i64 = get(
                        &tx.query_one("SELECT COUNT(DISTINCT key) FROM sends", &[]).await?,
                        0,
                    )?;
                    let excess = keys.saturating_add(1).saturating_sub(int(capacity.max(1)));
                    if excess > 0 {
                        execute(
                            &tx,
                            "DELETE FROM sends WHERE key IN
                                (SELECT key FROM sends GROUP BY key ORDER BY MAX(at) LIMIT $1)",
                            &[&excess],
                        )
                        .await?;
                    }
                }
                execute(
                    &tx,
                    "INSERT INTO sends (key, at) VALUES ($1, $2)",
                    &[&key, &now_ms],
                )
                .await?;
                Ok(None)
            })
        })
    }

    fn signing_keys<'a>(&'a self) -> StoreFuture<'a, Vec<StoredKey>> {
        Box::pin(async move {
            let client = self.client().await?;
            load_keys(&client).await.map_err(Fail::into_store)
        })
    }

    fn add_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            transaction!(self, tx => async {
                execute(
                    &tx,
                    "INSERT INTO signing_keys (kid, pkcs8, signs_from) VALUES ($1, $2, $3)
                     ON CONFLICT (kid) DO NOTHING",
                    &[&key.kid, &key.pkcs8, &key.signs_from],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn first_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, Vec<StoredKey>> {
        Box::pin(async move {
            transaction!(self, tx => async {
                // "Insert if none is kept" for one replica at a time; the next one's insert
                // runs after the lock, and sees the key kept.
                advisory_lock(&tx, lock::KEYS).await?;
                execute(
                    &tx,
                    "INSERT INTO signing_keys (kid, pkcs8, signs_from)
                     SELECT $1::text, $2::bytea, $3::bigint
                     WHERE NOT EXISTS (SELECT 1 FROM signing_keys)
                     ON CONFLICT (kid) DO NOTHING",
                    &[&key.kid, &key.pkcs8, &key.signs_from],
                )
                .await?;
                load_keys(&tx).await
            })
        })
    }

    fn replace_signing_key<'a>(&'a self, key: StoredKey) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            transaction!(self, tx => async {
                execute(
                    &tx,
                    "UPDATE signing_keys SET pkcs8 = $2 WHERE kid = $1",
                    &[&key.kid, &key.pkcs8],
                )
                .await?;
                Ok(())
            })
        })
    }

    fn clear<'a>(&'a self) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            transaction!(self, tx => async {
                tx.batch_execute(
                    "DELETE FROM refresh_tokens; DELETE FROM sessions; DELETE FROM magic_links;
                     DELETE FROM devices; DELETE FROM handshakes; DELETE FROM sends;
                     DELETE FROM users;",
                )
                .await?;
                Ok(())
            })
        })
    }
}

/// The schema, one version at a time: each step runs once, in order, in the transaction that
/// records it in `schema_version`, under an advisory lock (of two processes starting at once on
/// an empty database, the second waits, then finds every step done).
mod migrations {
    use super::{Fail, GenericClient, StoreError, VERSION, advisory_lock, execute, get, lock};

    /// Each version's step. Never change a step once released: add one.
    pub(super) const STEPS: [(i64, &str); 5] = [(1, V1), (2, V2), (3, V3), (4, V4), (5, V5)];

    /// Version 1: the records that outlive a process — users and their passkeys, sessions and
    /// refresh tokens, magic links, signing keys.
    const V1: &str = r#"
CREATE TABLE users (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT COLLATE "C" NOT NULL CONSTRAINT users_id UNIQUE,
    email TEXT COLLATE "C" NOT NULL,
    phone TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    login_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT NOT NULL,
    revoked_at BIGINT NOT NULL DEFAULT 0,
    revocations BIGINT NOT NULL DEFAULT 0,
    record TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email) WHERE email <> '';
CREATE UNIQUE INDEX users_phone ON users (phone) WHERE phone <> '';
CREATE INDEX users_created ON users (created_at, seq);
CREATE TABLE devices (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cred_id TEXT NOT NULL,
    record TEXT NOT NULL,
    passkey TEXT NOT NULL
);
CREATE UNIQUE INDEX devices_cred_id ON devices (cred_id) WHERE cred_id <> '';
CREATE INDEX devices_user ON devices (user_id);
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    signed_in_at BIGINT NOT NULL,
    refreshed_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE TABLE magic_links (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    activated BOOLEAN NOT NULL DEFAULT FALSE,
    collected BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at BIGINT NOT NULL,
    record TEXT NOT NULL,
    delivered BOOLEAN NOT NULL DEFAULT FALSE,
    browser TEXT,
    same_browser BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX magic_links_user ON magic_links (user_id);
CREATE TABLE signing_keys (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kid TEXT NOT NULL UNIQUE,
    pkcs8 BYTEA NOT NULL
);
"#;

    /// Version 2: what one process used to keep in its memory, in the database so every
    /// replica shares it — WebAuthn handshakes (a ceremony started on one replica finishes on
    /// another) and the messages sent per address (the limit counts across replicas); and the
    /// index the Management API's list filters by status with.
    const V2: &str = "
CREATE TABLE handshakes (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    user_id TEXT,
    state TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX handshakes_expiry ON handshakes (expires_at);
CREATE INDEX handshakes_user ON handshakes (user_id);
CREATE TABLE sends (
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX sends_key ON sends (key, at);
CREATE INDEX sends_at ON sends (at);
CREATE INDEX users_status ON users (status, created_at);
";

    /// Version 3: when each signing key starts signing, so a key rotated by one replica is
    /// served by every replica before any signs with it.
    const V3: &str = "ALTER TABLE signing_keys ADD COLUMN signs_from BIGINT NOT NULL DEFAULT 0;";

    /// Version 4: the number of users, kept by a trigger in 16 rows (a row each insert or
    /// delete picks at random, so replicas adding users at once seldom wait on one another), so
    /// the Management API's list need not count every user on each call (its total).
    const V4: &str = "
CREATE TABLE user_counts (shard INT PRIMARY KEY, n BIGINT NOT NULL);
INSERT INTO user_counts SELECT g, 0 FROM generate_series(0, 15) g;
UPDATE user_counts SET n = (SELECT COUNT(*) FROM users) WHERE shard = 0;
CREATE FUNCTION passage_count_users() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    -- Drawn once: random() in the WHERE clause would be drawn again for every row it tests.
    picked INT := floor(random() * 16)::int;
BEGIN
    UPDATE user_counts SET n = n + CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END
        WHERE shard = picked;
    RETURN NULL;
END $$;
CREATE TRIGGER users_counted AFTER INSERT OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION passage_count_users();
";

    /// Version 5: one-time passcodes beside magic links (whether a row is a code, its wrong
    /// tries), and an index to purge expired ones.
    const V5: &str = "
ALTER TABLE magic_links ADD COLUMN code BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE magic_links ADD COLUMN tries BIGINT NOT NULL DEFAULT 0;
CREATE INDEX magic_links_expiry ON magic_links (expires_at);
";

    pub(super) async fn run(client: &mut deadpool_postgres::Client) -> Result<(), Fail> {
        let tx = client.transaction().await?;
        advisory_lock(&tx, lock::MIGRATE).await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                version BIGINT PRIMARY KEY,
                applied_at BIGINT NOT NULL
            )",
        )
        .await?;
        let current: i64 = get(
            &tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
                .await?,
            0,
        )?;
        if current > VERSION {
            return Err(StoreError::Failed(format!(
                "the database's schema (version {current}) is newer than this passage-server's ({VERSION}): upgrade passage-server"
            ))
            .into());
        }
        for (version, step) in STEPS.iter().filter(|(version, _)| *version > current) {
            tx.batch_execute(step).await?;
            execute(
                &tx,
                "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                &[version, &crate::store::now().unix_timestamp()],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_steps_are_numbered_in_order_up_to_the_current_version() {
            let versions: Vec<i64> = super::STEPS.iter().map(|(v, _)| *v).collect();
            assert_eq!(versions, (1..=super::VERSION).collect::<Vec<_>>());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{DatabaseUrl, redact};

    #[test]
    fn a_url_is_shown_without_its_password() {
        for (url, shown) in [
            (
                "postgres://ada:s3cret@db.example.com:5432/passage?sslmode=require",
                "postgres://ada:***@db.example.com:5432/passage?sslmode=require",
            ),
            (
                "postgresql://ada:p%40ss@db/passage",
                "postgresql://ada:***@db/passage",
            ),
            ("postgres://ada@db/passage", "postgres://ada@db/passage"),
            ("postgres://db/passage", "postgres://db/passage"),
            (
                "postgres://ada:a@b@db/passage",
                "postgres://ada:***@db/passage",
            ),
        ] {
            assert_eq!(redact(url), shown, "{url}");
            let setting = DatabaseUrl::from(url);
            assert_eq!(setting.to_string(), shown);
            assert!(!format!("{setting:?}").contains("s3cret"));
            assert_eq!(setting.expose(), url, "connecting uses the whole URL");
        }
    }
}
