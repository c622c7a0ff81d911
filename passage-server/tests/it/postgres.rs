//! The PostgreSQL store beyond the rules every store keeps (`store.rs`): a database of the first
//! schema upgraded with its rows, two stores on one database racing for the same rule, TLS,
//! the password kept out of every message, and the server and the CLI on a `postgres://` URL.
//! Each test starts its own PostgreSQL (`postgres_server.rs`).

use std::{
    future::Future,
    process::Command,
    time::{Duration, Instant},
};

use passage_server::{
    Server,
    store::{
        Activation, CodeActivation, Device, DeviceRules, Field, Filter, Handshake, MemoryStore, Op,
        PostgresStore, Refresh, SeedUser, Store, StoreError, StoredKey, UserQuery, hash, now,
        refusals,
    },
};

use crate::{
    postgres_server::PostgresServer,
    store::{link, session, token},
};

/// The first schema as a release that knew only version 1 left it (a copy: the store's own
/// steps may change in what they create for new databases, never in what this one holds).
const FIRST_SCHEMA: &str = r#"
CREATE TABLE schema_version (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);
INSERT INTO schema_version VALUES (1, 1700000000);
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

async fn versions(admin: &tokio_postgres::Client) -> Vec<i64> {
    admin
        .query("SELECT version FROM schema_version ORDER BY version", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A database of the first schema, holding a user with a passkey, a session, a magic link and
/// a signing key, is brought up to date at connect, losing nothing; a database of a newer
/// release is refused, and TLS asked of a server without it is refused too.
#[tokio::test]
async fn a_database_of_the_first_schema_is_upgraded_with_its_rows() {
    let server = PostgresServer::start();
    let url = server.database("old").await;
    let admin = server.admin("old").await;
    admin.batch_execute(FIRST_SCHEMA).await.unwrap();
    let memory = MemoryStore::new();
    let ada = memory
        .insert_user(
            SeedUser::email("ada@example.com")
                .with_id("user-ada")
                .with_device("Laptop"),
        )
        .await
        .unwrap();
    let device = &ada.webauthn_devices[0];
    let mut bare = ada.clone();
    bare.webauthn_devices.clear();
    let micros =
        |at: time::OffsetDateTime| i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap();
    admin
        .execute(
            "INSERT INTO users (id, email, phone, status, created_at, updated_at, last_login_at, record)
             VALUES ($1, $2, '', 'active', $3, $3, 0, $4)",
            &[
                &ada.id,
                &ada.email,
                &micros(ada.created_at),
                &serde_json::to_string(&bare).unwrap(),
            ],
        )
        .await
        .unwrap();
    admin
        .execute(
            "INSERT INTO devices (id, user_id, cred_id, record, passkey) VALUES ($1, $2, $3, $4, '{}')",
            &[
                &device.id,
                &ada.id,
                &device.cred_id,
                &serde_json::to_string(device).unwrap(),
            ],
        )
        .await
        .unwrap();
    let t = now().unix_timestamp();
    admin
        .execute(
            "INSERT INTO sessions (id, user_id, signed_in_at, refreshed_at, expires_at)
             VALUES ('s-old', 'user-ada', $1, $1, $2)",
            &[&t, &(t + 1000)],
        )
        .await
        .unwrap();
    admin
        .execute(
            "INSERT INTO refresh_tokens (hash, session_id, user_id, expires_at)
             VALUES ($1, 's-old', 'user-ada', $2)",
            &[&hash("old-refresh"), &(t + 1000)],
        )
        .await
        .unwrap();
    let old_link = link("ml-old", "old-secret", "user-ada", 10).without_secret();
    admin
        .execute(
            "INSERT INTO magic_links (id, secret_hash, user_id, expires_at, record, delivered, browser)
             VALUES ($1, $2, $3, $4, $5, TRUE, $6)",
            &[
                &old_link.id,
                &old_link.secret_hash,
                &old_link.user_id,
                &old_link.expires_at.unix_timestamp(),
                &serde_json::to_string(&old_link).unwrap(),
                &old_link.browser,
            ],
        )
        .await
        .unwrap();
    admin
        .execute(
            "INSERT INTO signing_keys (kid, pkcs8) VALUES ('k1', '\\x01020304')",
            &[],
        )
        .await
        .unwrap();

    // TLS asked of a server that has none: refused, never quietly plain.
    let refused = PostgresStore::connect(&format!("{url}?sslmode=require"))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, StoreError::Failed(m) if m.contains("server does not support TLS")),
        "{refused:?}"
    );
    assert_eq!(
        versions(&admin).await,
        [1],
        "a refused connect migrates nothing"
    );

    let store = PostgresStore::connect(&url).await.unwrap();
    assert_eq!(versions(&admin).await, [1, 2, 3, 4, 5]);
    // The user, listed and filtered by status (version 2's index), with their passkey.
    let active = UserQuery {
        filters: vec![Filter::Text(Field::Status, Op::Eq, "active".into())],
        ..UserQuery::default()
    };
    let page = store.list_users(&active).await.unwrap();
    assert_eq!(page.total, 1);
    // Version 4's count starts from the users already there.
    assert_eq!(
        store.list_users(&UserQuery::default()).await.unwrap().total,
        1
    );
    assert_eq!(page.users[0].webauthn_devices.len(), 1, "the passkey stays");
    assert!(store.find_passkey(&device.cred_id).await.unwrap().is_some());
    // The session's refresh token keeps working.
    let Refresh::Rotated(rotated) = store
        .refresh(
            &hash("old-refresh"),
            token("new-refresh", "", "", t + 1000),
            t,
        )
        .await
        .unwrap()
    else {
        panic!("the old refresh token was lost");
    };
    assert_eq!(
        (rotated.id.as_str(), rotated.user_id.as_str()),
        ("s-old", "user-ada")
    );
    // The link opens by its secret's hash, in the browser that asked.
    let Activation::Activated(opened) = store
        .activate_magic_link(&hash("old-secret"), Some(&hash("browser-a")), now())
        .await
        .unwrap()
    else {
        panic!("the old link was lost");
    };
    assert!(opened.same_browser);
    assert_eq!(
        store.signing_keys().await.unwrap(),
        [StoredKey {
            kid: "k1".into(),
            pkcs8: vec![1, 2, 3, 4],
            signs_from: 0,
        }]
    );
    // Version 2's tables: handshakes and message counts.
    let handshake = Handshake {
        kind: "login".into(),
        user_id: Some("user-ada".into()),
        state: "{}".into(),
        expires_at: t + 900,
    };
    store
        .put_handshake("h1", handshake.clone(), 10)
        .await
        .unwrap();
    assert_eq!(
        store.take_handshake("h1", t).await.unwrap(),
        Some(handshake)
    );
    assert_eq!(store.count_send("k", 1000, 600, 1, 10).await.unwrap(), None);
    assert_eq!(
        store.count_send("k", 1100, 600, 1, 10).await.unwrap(),
        Some(500)
    );
    drop(store);
    PostgresStore::connect(&url)
        .await
        .expect("connects again, already upgraded");
    assert_eq!(versions(&admin).await, [1, 2, 3, 4, 5]);

    // A database a newer release migrated: refused, and left as it is.
    admin
        .execute("INSERT INTO schema_version VALUES (6, 1900000000)", &[])
        .await
        .unwrap();
    let newer = PostgresStore::connect(&url).await.unwrap_err();
    assert_eq!(
        newer,
        StoreError::Failed(format!(
            "PostgreSQL at 127.0.0.1:{}/old (user postgres): the database's schema (version 6) is newer than this passage-server's (5): upgrade passage-server",
            server.port
        ))
    );
    admin
        .execute("DELETE FROM schema_version WHERE version = 6", &[])
        .await
        .unwrap();
    PostgresStore::connect(&url)
        .await
        .expect("the control: version 5 is this release's");
}

/// Runs `a` and `b` at once, both held at a gate: the tables named are locked against writes
/// (`LOCK TABLE … IN EXCLUSIVE MODE`; plain reads go through) until both steps are seen waiting
/// on a lock. Whatever each read before it waited, each then decides after the other may have
/// written: the race is run every time, not most of the time. A step that read, decided and
/// then wrote without a lock would pass its check in both.
async fn race<A: Future, B: Future>(
    admin: &mut tokio_postgres::Client,
    tables: &str,
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let gate = admin.transaction().await.unwrap();
    gate.batch_execute(&format!("LOCK TABLE {tables} IN EXCLUSIVE MODE"))
        .await
        .unwrap();
    let open = async move {
        // Far beyond the milliseconds this takes; only a hang reaches it.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let waiting: i64 = gate
                .query_one(
                    "SELECT COUNT(DISTINCT pid) FROM pg_locks WHERE NOT granted",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting >= 2 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "both steps should wait at the gate ({tables}); {waiting} do"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        gate.commit().await.unwrap();
    };
    let (a, b, ()) = tokio::join!(a, b, open);
    (a, b)
}

/// How many times each race is run.
const ROUNDS: usize = 10;

/// Two stores (two replicas' pools) on one database, racing for the same rule: exactly one
/// wins, every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_database_never_both_pass_a_rule() {
    let server = PostgresServer::start();
    // Two replicas starting at once on an empty database: one migrates, the other waits and
    // finds it done.
    for round in 0..5 {
        let url = server.database(&format!("start{round}")).await;
        let (a, b) = tokio::join!(PostgresStore::connect(&url), PostgresStore::connect(&url));
        a.unwrap();
        b.unwrap();
        let admin = server.admin(&format!("start{round}")).await;
        assert_eq!(versions(&admin).await, [1, 2, 3, 4, 5]);
    }

    let url = server.database("races").await;
    let a = PostgresStore::connect(&url).await.unwrap();
    let b = PostgresStore::connect(&url).await.unwrap();
    let mut admin = server.admin("races").await;
    for round in 0..ROUNDS {
        let t = now().unix_timestamp();
        let user = a
            .insert_user(SeedUser::email(format!("r{round}@example.com")).with_status("pending"))
            .await
            .unwrap();
        let id = user.id.as_str();

        // A registration's first passkey, twice at once: one is kept.
        let first = DeviceRules {
            first: true,
            max: 0,
        };
        let key = |side: &str| Device::passkey("Key".into(), format!("cred-{round}-{side}"), now());
        let (ra, rb) = race(
            &mut admin,
            "users, devices",
            a.add_device(id, key("a"), String::new(), first),
            b.add_device(id, key("b"), String::new(), first),
        )
        .await;
        let mut added = [ra, rb];
        added.sort_by_key(Result::is_err);
        assert_eq!(
            added,
            [Ok(()), Err(StoreError::Refused(refusals::NOT_FIRST))],
            "round {round}"
        );
        assert_eq!(a.passkeys(id).await.unwrap().len(), 1, "round {round}");

        // One refresh token presented twice at once: one rotation, and the other is a reuse.
        let (sid, held) = (format!("s{round}"), format!("r{round}"));
        a.start_session(session(&sid, id, t, 1000), token(&held, &sid, id, t + 100))
            .await
            .unwrap();
        let (ra, rb) = race(
            &mut admin,
            "sessions, refresh_tokens",
            a.refresh(&held, token(&format!("{held}-a"), "", "", t + 100), t),
            b.refresh(&held, token(&format!("{held}-b"), "", "", t + 100), t),
        )
        .await;
        let outcomes = [ra.unwrap(), rb.unwrap()];
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| matches!(o, Refresh::Rotated(_)))
                .count(),
            1,
            "round {round}: {outcomes:?}"
        );
        assert!(
            outcomes.contains(&Refresh::Reused),
            "round {round}: {outcomes:?}"
        );
        assert!(
            a.session(&sid).await.unwrap().unwrap().ended,
            "round {round}"
        );

        // Two replicas starting on a database without keys, each with a key of its own: both
        // keep the same one.
        admin
            .batch_execute("DELETE FROM signing_keys")
            .await
            .unwrap();
        let stored = |side: &str| StoredKey {
            kid: format!("kid-{round}-{side}"),
            pkcs8: side.as_bytes().to_vec(),
            signs_from: 0,
        };
        let (ra, rb) = race(
            &mut admin,
            "signing_keys",
            a.first_signing_key(stored("a")),
            b.first_signing_key(stored("b")),
        )
        .await;
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra, rb, "round {round}");
        assert!(
            ra == [stored("a")] || ra == [stored("b")],
            "round {round}: {ra:?}"
        );
        assert_eq!(a.signing_keys().await.unwrap(), ra);

        // A handshake taken twice at once: once.
        let handshake = Handshake {
            kind: "register".into(),
            user_id: Some(user.id.clone()),
            state: "{}".into(),
            expires_at: t + 900,
        };
        let hid = format!("h{round}");
        a.put_handshake(&hid, handshake.clone(), 100).await.unwrap();
        let (ra, rb) = race(
            &mut admin,
            "handshakes",
            a.take_handshake(&hid, t),
            b.take_handshake(&hid, t),
        )
        .await;
        let mut taken = [ra.unwrap(), rb.unwrap()];
        taken.sort_by_key(Option::is_none);
        assert_eq!(taken, [Some(handshake), None], "round {round}");

        // Full: each replica makes room for its own, and the table holds no more than allowed.
        admin.batch_execute("DELETE FROM handshakes").await.unwrap();
        let held_handshake = |expires_at: i64| Handshake {
            kind: "login".into(),
            user_id: None,
            state: "{}".into(),
            expires_at,
        };
        a.put_handshake("oldest", held_handshake(t + 100), 2)
            .await
            .unwrap();
        let (ra, rb) = race(
            &mut admin,
            "handshakes",
            a.put_handshake("from-a", held_handshake(t + 200), 2),
            b.put_handshake("from-b", held_handshake(t + 300), 2),
        )
        .await;
        ra.unwrap();
        rb.unwrap();
        let kept: Vec<String> = admin
            .query("SELECT id FROM handshakes ORDER BY id", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(kept, ["from-a", "from-b"], "round {round}");

        // The last message allowed to an address, asked for twice at once: one goes.
        let address = format!("address-{round}");
        let (ra, rb) = race(
            &mut admin,
            "sends",
            a.count_send(&address, t * 1000, 60_000, 1, 100),
            b.count_send(&address, t * 1000, 60_000, 1, 100),
        )
        .await;
        let counted = [ra.unwrap(), rb.unwrap()];
        assert_eq!(
            counted.iter().filter(|c| c.is_none()).count(),
            1,
            "round {round}: {counted:?}"
        );
        assert!(
            counted.contains(&Some(60_000)),
            "round {round}: {counted:?}"
        );

        // A magic link opened twice at once: one sign-in; collected twice at once: once.
        let (lid, secret) = (format!("ml{round}"), format!("secret-{round}"));
        a.insert_magic_link(link(&lid, &secret, id, 10))
            .await
            .unwrap();
        let browser = hash("browser-a");
        let (ra, rb) = race(
            &mut admin,
            "users, magic_links",
            a.activate_magic_link(&hash(&secret), Some(&browser), now()),
            b.activate_magic_link(&hash(&secret), Some(&browser), now()),
        )
        .await;
        let opened = [ra.unwrap(), rb.unwrap()];
        assert_eq!(
            opened
                .iter()
                .filter(|o| matches!(o, Activation::Activated(_)))
                .count(),
            1,
            "round {round}: {opened:?}"
        );
        assert!(
            opened.iter().any(|o| matches!(o, Activation::Unknown)),
            "round {round}: {opened:?}"
        );
        let (ra, rb) = race(
            &mut admin,
            "magic_links",
            a.collect_magic_link(&lid, now()),
            b.collect_magic_link(&lid, now()),
        )
        .await;
        let mut collected = [ra.unwrap(), rb.unwrap()];
        collected.sort_unstable();
        assert_eq!(collected, [false, true], "round {round}");
    }
}

/// `sslmode=verify-full` with the server's CA: the store's connections are encrypted. Without
/// the CA (the system's roots do not know it), refused. Without `sslmode`, plain.
#[tokio::test]
async fn tls_verifies_the_server_against_the_ca_it_is_given() {
    let server = PostgresServer::start_with_tls();
    let ca = server.ca.clone().unwrap();
    let base = format!("postgres://postgres@localhost:{}/postgres", server.port);
    let verified = PostgresStore::connect(&format!(
        "{base}?sslmode=verify-full&sslrootcert={}&application_name=tls-verified",
        ca.display()
    ))
    .await
    .unwrap();
    verified
        .insert_user(SeedUser::email("tls@example.com"))
        .await
        .unwrap();
    let plain = PostgresStore::connect(&format!("{base}?application_name=plain"))
        .await
        .unwrap();
    assert!(
        plain
            .user_by_identifier("tls@example.com")
            .await
            .unwrap()
            .is_some()
    );
    let admin = server.admin("postgres").await;
    let encrypted = |name: &'static str| {
        let admin = &admin;
        async move {
            admin
                .query(
                    "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
                     WHERE a.application_name = $1",
                    &[&name],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, bool>(0))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(encrypted("tls-verified").await, [true]);
    assert_eq!(encrypted("plain").await, [false]);

    let unverified = PostgresStore::connect(&format!("{base}?sslmode=require"))
        .await
        .unwrap_err();
    assert!(
        matches!(&unverified, StoreError::Failed(m) if m.contains("invalid peer certificate: UnknownIssuer")),
        "{unverified:?}"
    );
    let elsewhere = std::env::temp_dir().join(format!("no-such-ca-{}.pem", std::process::id()));
    let missing = PostgresStore::connect(&format!(
        "{base}?sslmode=verify-full&sslrootcert={}",
        elsewhere.display()
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(&missing, StoreError::Failed(m) if m.starts_with(&format!("sslrootcert {}:", elsewhere.display()))),
        "{missing:?}"
    );
}

/// The URL's password appears in no error, no `Debug` and no server error; the bad settings
/// are named.
#[tokio::test]
async fn a_database_password_is_never_shown() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://ada:s3cret-pw@127.0.0.1:{port}/passage");
    let cases = [
        (url.clone(), format!("PostgreSQL at 127.0.0.1:{port}/passage (user ada): ")),
        (
            format!("{url}?pool_size=0"),
            "the PostgreSQL URL's pool_size must be a number from 1 to 1000".to_owned(),
        ),
        (
            format!("{url}?sslmode=sometimes"),
            "the PostgreSQL URL's sslmode must be".to_owned(),
        ),
        (
            format!("{url}?connect_timeout=soon"),
            format!("the PostgreSQL URL postgres://ada:***@127.0.0.1:{port}/passage?connect_timeout=soon: invalid connection string: invalid value for option `connect_timeout`"),
        ),
        (
            "mysql://ada:s3cret-pw@db/passage".to_owned(),
            "not a PostgreSQL URL (postgres://user:password@host/database): mysql://ada:***@db/passage"
                .to_owned(),
        ),
    ];
    for (url, starts) in cases {
        let err = PostgresStore::connect(&url).await.unwrap_err();
        let StoreError::Failed(message) = &err else {
            panic!("{url}: {err:?}");
        };
        assert!(message.starts_with(&starts), "{url}: {message}");
        assert!(
            !message.contains("s3cret") && !format!("{err:?}").contains("s3cret"),
            "{message}"
        );
    }
    let builder = Server::builder().api_key("a-key").database_url(&url);
    let shown = format!("{builder:?}");
    assert!(!shown.contains("s3cret"), "{shown}");
    let err = builder.start().await.unwrap_err();
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        chain.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    assert!(
        chain.contains("Connection refused")
            && !chain.contains("s3cret")
            && !format!("{err:?}").contains("s3cret"),
        "{chain}"
    );
}

/// Two servers starting at once on one empty database keep one signing key (the same JWKS) and
/// see each other's users; `passage-server import --database postgres://…` loads into it.
#[tokio::test]
async fn servers_and_the_cli_on_one_postgres_database() {
    let server = PostgresServer::start();
    let url = server.database("served").await;
    let start = || {
        Server::builder()
            .api_key("a-key-of-some-length")
            .database_url(url.clone())
            .start()
    };
    let (first, second) = tokio::join!(start(), start());
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(first.jwks(), second.jwks());
    assert_eq!(first.jwks()["keys"].as_array().unwrap().len(), 1);
    first
        .store()
        .insert_user(SeedUser::email("ada@example.com").with_id("user-ada"))
        .await
        .unwrap();
    assert_eq!(
        second
            .store()
            .user_by_identifier("ada@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some("user-ada".to_owned())
    );
    first.stop().await;
    second.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("users.json");
    std::fs::write(
        &export,
        serde_json::json!([
            { "id": "grace001", "email": "Grace@Example.com", "status": "active" },
            { "id": "dupe0001", "email": "ada@example.com" },
        ])
        .to_string(),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_passage-server"))
        .arg("import")
        .arg(&export)
        .args(["--database", &url])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    // A row that conflicts with the database is reported, and the exit status says so.
    assert!(
        !output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 user created")
            && stdout.contains("dupe0001")
            && stdout.contains("another user's (in the database)"),
        "{stdout}"
    );
    let store = PostgresStore::connect(&url).await.unwrap();
    assert_eq!(
        store
            .user_by_identifier("grace@example.com")
            .await
            .unwrap()
            .map(|u| u.id),
        Some("grace001".to_owned())
    );
}

/// One-time passcodes and identifier changes on PostgreSQL, raced by two stores: two wrong
/// codes at once on a code's last try are both counted (one "wrong", one "dead"), and two
/// links confirming one new address for two users at once change exactly one account.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codes_and_identifier_changes_hold_between_two_stores() {
    let server = PostgresServer::start();
    let url = server.database("codes").await;
    let a = PostgresStore::connect(&url).await.unwrap();
    let b = PostgresStore::connect(&url).await.unwrap();
    let mut admin = server.admin("codes").await;
    for round in 0..ROUNDS {
        let user = a
            .insert_user(SeedUser::email(format!("c{round}@example.com")))
            .await
            .unwrap();
        let id = format!("code-{round}");
        let mut code = link(&id, "unused", &user.id, 10);
        code.code = true;
        code.tries = 3;
        code.secret_hash = hash(&format!("otp:{id}:123456"));
        a.insert_magic_link(code).await.unwrap();
        let (ra, rb) = race(
            &mut admin,
            "users, magic_links",
            a.activate_code(&id, &hash(&format!("otp:{id}:000001")), 5, now()),
            b.activate_code(&id, &hash(&format!("otp:{id}:000002")), 5, now()),
        )
        .await;
        let outcomes = [ra.unwrap(), rb.unwrap()];
        let wrong = outcomes
            .iter()
            .filter(|o| matches!(o, CodeActivation::Wrong { left: 1 }))
            .count();
        let dead = outcomes
            .iter()
            .filter(|o| matches!(o, CodeActivation::Exhausted))
            .count();
        assert_eq!((wrong, dead), (1, 1), "round {round}: {outcomes:?}");
        assert!(
            matches!(
                b.activate_code(&id, &hash(&format!("otp:{id}:123456")), 5, now())
                    .await
                    .unwrap(),
                CodeActivation::Exhausted
            ),
            "round {round}: the right digits of a dead code"
        );
        // Never as a link, whatever its secret.
        assert!(matches!(
            a.activate_magic_link(&hash(&format!("otp:{id}:123456")), None, now())
                .await
                .unwrap(),
            Activation::Unknown
        ));

        // Two accounts confirming one new address at once: one gets it.
        let other = a
            .insert_user(SeedUser::email(format!("d{round}@example.com")))
            .await
            .unwrap();
        let new = format!("new{round}@example.com");
        for (who, secret) in [(&user.id, "change-a"), (&other.id, "change-b")] {
            let mut change = link(
                &format!("{secret}-{round}"),
                &format!("{secret}-{round}"),
                who,
                10,
            );
            change.kind = "change_email".into();
            change.identifier.clone_from(&new);
            a.insert_magic_link(change).await.unwrap();
        }
        let (ra, rb) = race(
            &mut admin,
            "users, magic_links",
            a.activate_magic_link(&hash(&format!("change-a-{round}")), None, now()),
            b.activate_magic_link(&hash(&format!("change-b-{round}")), None, now()),
        )
        .await;
        let changed = [&ra, &rb]
            .iter()
            .filter(|r| matches!(r, Ok(Activation::Changed { .. })))
            .count();
        let refused = [&ra, &rb]
            .iter()
            .filter(|r| {
                matches!(
                    r,
                    Err(StoreError::Refused(
                        "a user with this identifier already exists"
                    ))
                )
            })
            .count();
        assert_eq!((changed, refused), (1, 1), "round {round}: {ra:?} {rb:?}");
        let holder = a.user_by_identifier(&new).await.unwrap().unwrap();
        let loser = if holder.id == user.id { &other } else { &user };
        assert_eq!(
            a.user(&loser.id).await.unwrap().unwrap().email,
            loser.email,
            "round {round}: the other account is unchanged"
        );
    }
    // Renamed passkeys and purged links are the store's too.
    let user = a
        .insert_user(SeedUser::email("named@example.com").with_device("Laptop"))
        .await
        .unwrap();
    let device = &user.webauthn_devices[0];
    let renamed = b
        .rename_device(&user.id, &device.id, "Work laptop")
        .await
        .unwrap();
    assert_eq!(renamed.friendly_name, "Work laptop");
    assert_eq!(
        a.user(&user.id).await.unwrap().unwrap().webauthn_devices[0].friendly_name,
        "Work laptop"
    );
    assert_eq!(
        a.rename_device(&user.id, "nope", "x").await.unwrap_err(),
        StoreError::NoSuchDevice
    );
    a.insert_magic_link(link("old-link", "old-secret", &user.id, -1))
        .await
        .unwrap();
    assert!(a.purge_links(now()).await.unwrap() >= 1);
    assert!(a.magic_link("old-link").await.unwrap().is_none());
}
