//! Every store keeps the same rules: the same test runs against the emulator's memory and the
//! server's SQLite file (and against that file again after reopening it).

use passage_server::store::{
    Change, Device, DeviceRules, MagicLink, MemoryStore, RefreshToken, SeedUser, SqliteStore,
    Store, StoreError, StoredKey, now, refusals,
};

use time::Duration;

fn link(id: &str, secret: &str, user_id: &str, minutes: i64) -> MagicLink {
    MagicLink {
        id: id.to_owned(),
        app_id: "app".to_owned(),
        identifier: "ada@example.com".to_owned(),
        redirect_url: "/".to_owned(),
        secret: secret.to_owned(),
        url: format!("http://localhost:3000/?psg_magic_link={secret}"),
        user_id: user_id.to_owned(),
        activated: false,
        ttl: minutes,
        kind: "login".to_owned(),
        expires_at: now() + Duration::minutes(minutes),
        collected: false,
        delivered: true,
    }
}

/// The rules, on any store.
async fn the_rules(store: &dyn Store) {
    let ada = store
        .insert_user(
            SeedUser::email("Ada@Example.com")
                .with_id("user-ada")
                .with_phone("+15555550100"),
        )
        .await
        .unwrap();
    assert_eq!(ada.email, "ada@example.com");
    assert_eq!(
        store
            .insert_user(SeedUser::email("ADA@example.com"))
            .await
            .unwrap_err(),
        StoreError::Refused("a user with this identifier already exists")
    );
    assert!(matches!(
        store
            .insert_user(SeedUser::email("other@example.com").with_id("user-ada"))
            .await,
        Err(StoreError::Refused(_))
    ));
    assert!(matches!(
        store.insert_user(SeedUser::default()).await,
        Err(StoreError::Refused(_))
    ));
    let grace = store
        .insert_user(SeedUser::email("grace@example.com"))
        .await
        .unwrap();

    assert_eq!(
        store
            .user_by_identifier("ADA@EXAMPLE.COM")
            .await
            .unwrap()
            .unwrap()
            .id,
        "user-ada"
    );
    assert_eq!(
        store
            .user_by_identifier("+15555550100")
            .await
            .unwrap()
            .unwrap()
            .id,
        "user-ada"
    );
    assert!(
        store
            .user_by_identifier("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let ids: Vec<String> = store
        .users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(
        ids,
        ["user-ada".to_owned(), grace.id.clone()],
        "oldest first"
    );

    let taken = Change {
        email: Some("Grace@example.com".into()),
        ..Change::default()
    };
    assert!(matches!(
        store.update_user("user-ada", taken).await,
        Err(StoreError::Refused(_))
    ));
    let renamed = Change {
        email: Some("Lovelace@Example.com".into()),
        ..Change::default()
    };
    assert_eq!(
        store.update_user("user-ada", renamed).await.unwrap().email,
        "lovelace@example.com"
    );
    assert_eq!(
        store
            .update_user("nobody", Change::default())
            .await
            .unwrap_err(),
        StoreError::NoSuchUser
    );
    assert_eq!(
        store
            .set_status("user-ada", "inactive")
            .await
            .unwrap()
            .status,
        "inactive"
    );
    store.record_login("user-ada").await.unwrap();
    assert_eq!(
        store.user("user-ada").await.unwrap().unwrap().login_count,
        1
    );

    // Devices and their passkey material.
    let device = Device::passkey("Laptop".into(), "Y3JlZC0x".into(), now());
    let device_id = device.id.clone();
    store
        .add_device(
            "user-ada",
            device,
            "{\"k\":1}".into(),
            DeviceRules::default(),
        )
        .await
        .unwrap();
    let clash = Device::passkey("Twin".into(), "Y3JlZC0x".into(), now());
    assert!(matches!(
        store
            .add_device(&grace.id, clash, String::new(), DeviceRules::default())
            .await,
        Err(StoreError::Refused(refusals::CREDENTIAL_TAKEN))
    ));
    // A registration keeps a passkey only as a pending user's first, checked in the same step
    // as the insert; the per-user limit likewise.
    let pending = store
        .insert_user(SeedUser::email("pending@example.com").with_status("pending"))
        .await
        .unwrap();
    let first = DeviceRules {
        first: true,
        max: 0,
    };
    let key = |n: u32| Device::passkey(format!("Key {n}"), format!("Y3JlZC1w{n}"), now());
    assert_eq!(
        store
            .add_device(&grace.id, key(1), String::new(), first)
            .await,
        Err(StoreError::Refused(refusals::NOT_FIRST)),
        "grace is active: not registering"
    );
    store
        .add_device(&pending.id, key(2), String::new(), first)
        .await
        .unwrap();
    assert_eq!(
        store
            .add_device(&pending.id, key(3), String::new(), first)
            .await,
        Err(StoreError::Refused(refusals::NOT_FIRST)),
        "a second first passkey"
    );
    let at_most_two = DeviceRules {
        first: false,
        max: 2,
    };
    store
        .add_device(&pending.id, key(4), String::new(), at_most_two)
        .await
        .unwrap();
    assert_eq!(
        store
            .add_device(&pending.id, key(5), String::new(), at_most_two)
            .await,
        Err(StoreError::Limit(refusals::TOO_MANY_DEVICES))
    );
    assert_eq!(
        store
            .user(&pending.id)
            .await
            .unwrap()
            .unwrap()
            .webauthn_devices
            .len(),
        2
    );
    store.delete_user(&pending.id).await.unwrap();
    let user = store.user("user-ada").await.unwrap().unwrap();
    assert!(user.webauthn && user.webauthn_types == ["passkey"]);
    let (found, held, material) = store.find_passkey("Y3JlZC0x").await.unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), held.id.as_str(), material.as_str()),
        ("user-ada", device_id.as_str(), "{\"k\":1}")
    );
    store
        .use_device("user-ada", &device_id, "{\"k\":2}".into())
        .await
        .unwrap();
    let (device, material) = &store.passkeys("user-ada").await.unwrap()[0];
    assert_eq!((device.usage_count, material.as_str()), (1, "{\"k\":2}"));
    assert_eq!(
        store.use_device("user-ada", "nope", String::new()).await,
        Err(StoreError::NoSuchDevice)
    );
    assert_eq!(
        store.revoke_device("user-ada", "nope").await,
        Err(StoreError::NoSuchDevice)
    );
    store.revoke_device("user-ada", &device_id).await.unwrap();
    let user = store.user("user-ada").await.unwrap().unwrap();
    assert!(!user.webauthn && user.webauthn_types.is_empty());
    assert!(store.find_passkey("Y3JlZC0x").await.unwrap().is_none());

    // Refresh tokens work once; revoking signs the user out everywhere.
    let token = |hash: &str| RefreshToken {
        hash: hash.to_owned(),
        user_id: "user-ada".to_owned(),
        expires_at: 4_000_000_000,
    };
    store.insert_refresh_token(token("h1")).await.unwrap();
    store.insert_refresh_token(token("h2")).await.unwrap();
    assert_eq!(
        store.take_refresh_token("h1").await.unwrap(),
        Some(token("h1"))
    );
    assert_eq!(
        store.take_refresh_token("h1").await.unwrap(),
        None,
        "used once"
    );
    store.revoke_refresh_tokens("user-ada").await.unwrap();
    assert_eq!(
        store.take_refresh_token("h2").await.unwrap(),
        None,
        "revoked"
    );
    assert_eq!(
        store
            .user("user-ada")
            .await
            .unwrap()
            .unwrap()
            .refresh_token_revocations,
        1
    );

    // Magic links: activated once, not after they expire, collected once; activating one
    // verifies the address it was sent to.
    assert!(
        !store
            .user("user-ada")
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    store
        .insert_magic_link(link("ml1", "s1", "user-ada", 10))
        .await
        .unwrap();
    store
        .insert_magic_link(link("ml2", "s2", "user-ada", -1))
        .await
        .unwrap();
    assert!(
        !store.collect_magic_link("ml1").await.unwrap(),
        "not activated yet"
    );
    assert!(
        store
            .activate_magic_link("s1", now())
            .await
            .unwrap()
            .unwrap()
            .activated
    );
    assert!(
        !store
            .user("user-ada")
            .await
            .unwrap()
            .unwrap()
            .email_verified,
        "the link went to an address ada no longer has"
    );
    let handed_to_the_app = MagicLink {
        identifier: "lovelace@example.com".to_owned(),
        delivered: false,
        ..link("ml4", "s4", "user-ada", 10)
    };
    store.insert_magic_link(handed_to_the_app).await.unwrap();
    store
        .activate_magic_link("s4", now())
        .await
        .unwrap()
        .unwrap();
    assert!(
        !store
            .user("user-ada")
            .await
            .unwrap()
            .unwrap()
            .email_verified,
        "a link the server did not deliver proves nothing"
    );
    let to_lovelace = MagicLink {
        identifier: "lovelace@example.com".to_owned(),
        ..link("ml3", "s3", "user-ada", 10)
    };
    store.insert_magic_link(to_lovelace).await.unwrap();
    store
        .activate_magic_link("s3", now())
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .user("user-ada")
            .await
            .unwrap()
            .unwrap()
            .email_verified,
        "this one went to her email"
    );
    assert!(
        store
            .activate_magic_link("s1", now())
            .await
            .unwrap()
            .is_none(),
        "once"
    );
    assert!(
        store
            .activate_magic_link("s2", now())
            .await
            .unwrap()
            .is_none(),
        "expired"
    );
    assert!(
        store
            .activate_magic_link("nope", now())
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.collect_magic_link("ml1").await.unwrap());
    assert!(
        !store.collect_magic_link("ml1").await.unwrap(),
        "collected once"
    );
    assert!(store.magic_link("ml1").await.unwrap().unwrap().collected);

    // Keys.
    let key = StoredKey {
        kid: "k1".into(),
        pkcs8: vec![1, 2, 3],
    };
    store.add_signing_key(key.clone()).await.unwrap();
    assert!(store.signing_keys().await.unwrap().contains(&key));

    // Deleting a user takes everything it holds.
    store.insert_refresh_token(token("h3")).await.unwrap();
    let device = Device::passkey("Phone".into(), "Y3JlZC0y".into(), now());
    store
        .add_device("user-ada", device, String::new(), DeviceRules::default())
        .await
        .unwrap();
    store.delete_user("user-ada").await.unwrap();
    assert_eq!(
        store.delete_user("user-ada").await,
        Err(StoreError::NoSuchUser)
    );
    assert!(store.user("user-ada").await.unwrap().is_none());
    assert!(store.take_refresh_token("h3").await.unwrap().is_none());
    assert!(store.find_passkey("Y3JlZC0y").await.unwrap().is_none());
    assert!(store.magic_link("ml1").await.unwrap().is_none());
    store.clear().await.unwrap();
    assert!(store.users().await.unwrap().is_empty());
    assert!(
        store.signing_keys().await.unwrap().contains(&key),
        "keys survive a clear"
    );
}

#[tokio::test]
async fn the_memory_store_keeps_the_rules() {
    the_rules(&MemoryStore::new()).await;
}

#[tokio::test]
async fn the_sqlite_store_keeps_the_rules_and_everything_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passage.db");
    the_rules(&SqliteStore::open(&path).unwrap()).await;
    let store = SqliteStore::open(&path).unwrap();
    let ada = store
        .insert_user(
            SeedUser::email("ada@example.com")
                .with_id("ada")
                .with_device("Laptop"),
        )
        .await
        .unwrap();
    let device = ada.webauthn_devices[0].clone();
    store
        .insert_refresh_token(RefreshToken {
            hash: "h".into(),
            user_id: "ada".into(),
            expires_at: 1,
        })
        .await
        .unwrap();
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    let again = reopened.user("ada").await.unwrap().unwrap();
    assert_eq!(again.webauthn_devices[0].id, device.id);
    assert_eq!(again.created_at, ada.created_at);
    assert!(reopened.take_refresh_token("h").await.unwrap().is_some());
    assert_eq!(reopened.signing_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_database_file_from_before_delivered_links_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // A user and a link as the first passage-server release kept them: no `delivered` column.
    let old = rusqlite::Connection::open(&path).unwrap();
    old.execute_batch(
        "CREATE TABLE users (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            email TEXT NOT NULL,
            phone TEXT NOT NULL,
            revocations INTEGER NOT NULL DEFAULT 0,
            record TEXT NOT NULL
        );
        CREATE TABLE magic_links (
            id TEXT PRIMARY KEY,
            secret TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            activated INTEGER NOT NULL DEFAULT 0,
            collected INTEGER NOT NULL DEFAULT 0,
            expires_at INTEGER NOT NULL,
            record TEXT NOT NULL
        );",
    )
    .unwrap();
    let memory = MemoryStore::new();
    let ada = memory
        .insert_user(SeedUser::email("ada@example.com").with_id("user-ada"))
        .await
        .unwrap();
    let old_link = link("ml-old", "s-old", "user-ada", 10);
    old.execute(
        "INSERT INTO users (id, email, phone, record) VALUES (?1, ?2, '', ?3)",
        rusqlite::params![ada.id, ada.email, serde_json::to_string(&ada).unwrap()],
    )
    .unwrap();
    old.execute(
        "INSERT INTO magic_links (id, secret, user_id, expires_at, record) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            old_link.id,
            old_link.secret,
            old_link.user_id,
            old_link.expires_at.unix_timestamp(),
            serde_json::to_string(&old_link).unwrap()
        ],
    )
    .unwrap();
    drop(old);

    let store = SqliteStore::open(&path).unwrap();
    let activated = store
        .activate_magic_link("s-old", now())
        .await
        .unwrap()
        .expect("the old link still works");
    assert!(!activated.delivered, "an old link counts as not delivered");
    assert!(
        !store
            .user("user-ada")
            .await
            .unwrap()
            .unwrap()
            .email_verified,
        "so opening it verifies nothing"
    );
    // A link made after the upgrade, delivered by the server, verifies the address.
    store
        .insert_magic_link(link("ml-new", "s-new", "user-ada", 10))
        .await
        .unwrap();
    assert!(
        store
            .activate_magic_link("s-new", now())
            .await
            .unwrap()
            .unwrap()
            .delivered
    );
    assert!(
        store
            .user("user-ada")
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    drop(store);
    SqliteStore::open(&path).expect("opens again, already upgraded");
}
