//! Every store keeps the same rules: the same test runs against the emulator's memory and the
//! server's SQLite file (and against that file again after reopening it).

use passage_emulator::store::{
    Change, Device, MagicLink, MemoryStore, RefreshToken, SeedUser, Store, StoreError, StoredKey,
    now,
};
use passage_server::SqliteStore;
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
fn the_rules(store: &dyn Store) {
    let ada = store
        .insert_user(
            SeedUser::email("Ada@Example.com")
                .with_id("user-ada")
                .with_phone("+15555550100"),
        )
        .unwrap();
    assert_eq!(ada.email, "ada@example.com");
    assert_eq!(
        store
            .insert_user(SeedUser::email("ADA@example.com"))
            .unwrap_err(),
        StoreError::Refused("a user with this identifier already exists")
    );
    assert!(matches!(
        store.insert_user(SeedUser::email("other@example.com").with_id("user-ada")),
        Err(StoreError::Refused(_))
    ));
    assert!(matches!(
        store.insert_user(SeedUser::default()),
        Err(StoreError::Refused(_))
    ));
    let grace = store
        .insert_user(SeedUser::email("grace@example.com"))
        .unwrap();

    assert_eq!(
        store
            .user_by_identifier("ADA@EXAMPLE.COM")
            .unwrap()
            .unwrap()
            .id,
        "user-ada"
    );
    assert_eq!(
        store
            .user_by_identifier("+15555550100")
            .unwrap()
            .unwrap()
            .id,
        "user-ada"
    );
    assert!(
        store
            .user_by_identifier("nobody@example.com")
            .unwrap()
            .is_none()
    );
    let ids: Vec<String> = store.users().unwrap().into_iter().map(|u| u.id).collect();
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
        store.update_user("user-ada", taken),
        Err(StoreError::Refused(_))
    ));
    let renamed = Change {
        email: Some("Lovelace@Example.com".into()),
        ..Change::default()
    };
    assert_eq!(
        store.update_user("user-ada", renamed).unwrap().email,
        "lovelace@example.com"
    );
    assert_eq!(
        store.update_user("nobody", Change::default()).unwrap_err(),
        StoreError::NoSuchUser
    );
    assert_eq!(
        store.set_status("user-ada", "inactive").unwrap().status,
        "inactive"
    );
    store.record_login("user-ada").unwrap();
    assert_eq!(store.user("user-ada").unwrap().unwrap().login_count, 1);

    // Devices and their passkey material.
    let device = Device::passkey("Laptop".into(), "Y3JlZC0x".into(), now());
    let device_id = device.id.clone();
    store
        .add_device("user-ada", device, "{\"k\":1}".into())
        .unwrap();
    let clash = Device::passkey("Twin".into(), "Y3JlZC0x".into(), now());
    assert!(matches!(
        store.add_device(&grace.id, clash, String::new()),
        Err(StoreError::Refused(_))
    ));
    let user = store.user("user-ada").unwrap().unwrap();
    assert!(user.webauthn && user.webauthn_types == ["passkey"]);
    let (found, held, material) = store.find_passkey("Y3JlZC0x").unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), held.id.as_str(), material.as_str()),
        ("user-ada", device_id.as_str(), "{\"k\":1}")
    );
    store
        .use_device("user-ada", &device_id, "{\"k\":2}".into())
        .unwrap();
    let (device, material) = &store.passkeys("user-ada").unwrap()[0];
    assert_eq!((device.usage_count, material.as_str()), (1, "{\"k\":2}"));
    assert_eq!(
        store.use_device("user-ada", "nope", String::new()),
        Err(StoreError::NoSuchDevice)
    );
    assert_eq!(
        store.revoke_device("user-ada", "nope"),
        Err(StoreError::NoSuchDevice)
    );
    store.revoke_device("user-ada", &device_id).unwrap();
    let user = store.user("user-ada").unwrap().unwrap();
    assert!(!user.webauthn && user.webauthn_types.is_empty());
    assert!(store.find_passkey("Y3JlZC0x").unwrap().is_none());

    // Refresh tokens work once; revoking signs the user out everywhere.
    let token = |hash: &str| RefreshToken {
        hash: hash.to_owned(),
        user_id: "user-ada".to_owned(),
        expires_at: 4_000_000_000,
    };
    store.insert_refresh_token(token("h1")).unwrap();
    store.insert_refresh_token(token("h2")).unwrap();
    assert_eq!(store.take_refresh_token("h1").unwrap(), Some(token("h1")));
    assert_eq!(store.take_refresh_token("h1").unwrap(), None, "used once");
    store.revoke_refresh_tokens("user-ada").unwrap();
    assert_eq!(store.take_refresh_token("h2").unwrap(), None, "revoked");
    assert_eq!(
        store
            .user("user-ada")
            .unwrap()
            .unwrap()
            .refresh_token_revocations,
        1
    );

    // Magic links: activated once, not after they expire, collected once; activating one
    // verifies the address it was sent to.
    assert!(!store.user("user-ada").unwrap().unwrap().email_verified);
    store
        .insert_magic_link(link("ml1", "s1", "user-ada", 10))
        .unwrap();
    store
        .insert_magic_link(link("ml2", "s2", "user-ada", -1))
        .unwrap();
    assert!(
        !store.collect_magic_link("ml1").unwrap(),
        "not activated yet"
    );
    assert!(
        store
            .activate_magic_link("s1", now())
            .unwrap()
            .unwrap()
            .activated
    );
    assert!(
        !store.user("user-ada").unwrap().unwrap().email_verified,
        "the link went to an address ada no longer has"
    );
    let handed_to_the_app = MagicLink {
        identifier: "lovelace@example.com".to_owned(),
        delivered: false,
        ..link("ml4", "s4", "user-ada", 10)
    };
    store.insert_magic_link(handed_to_the_app).unwrap();
    store.activate_magic_link("s4", now()).unwrap().unwrap();
    assert!(
        !store.user("user-ada").unwrap().unwrap().email_verified,
        "a link the server did not deliver proves nothing"
    );
    let to_lovelace = MagicLink {
        identifier: "lovelace@example.com".to_owned(),
        ..link("ml3", "s3", "user-ada", 10)
    };
    store.insert_magic_link(to_lovelace).unwrap();
    store.activate_magic_link("s3", now()).unwrap().unwrap();
    assert!(
        store.user("user-ada").unwrap().unwrap().email_verified,
        "this one went to her email"
    );
    assert!(
        store.activate_magic_link("s1", now()).unwrap().is_none(),
        "once"
    );
    assert!(
        store.activate_magic_link("s2", now()).unwrap().is_none(),
        "expired"
    );
    assert!(store.activate_magic_link("nope", now()).unwrap().is_none());
    assert!(store.collect_magic_link("ml1").unwrap());
    assert!(!store.collect_magic_link("ml1").unwrap(), "collected once");
    assert!(store.magic_link("ml1").unwrap().unwrap().collected);

    // Keys.
    let key = StoredKey {
        kid: "k1".into(),
        pkcs8: vec![1, 2, 3],
    };
    store.add_signing_key(key.clone()).unwrap();
    assert!(store.signing_keys().unwrap().contains(&key));

    // Deleting a user takes everything it holds.
    store.insert_refresh_token(token("h3")).unwrap();
    let device = Device::passkey("Phone".into(), "Y3JlZC0y".into(), now());
    store.add_device("user-ada", device, String::new()).unwrap();
    store.delete_user("user-ada").unwrap();
    assert_eq!(store.delete_user("user-ada"), Err(StoreError::NoSuchUser));
    assert!(store.user("user-ada").unwrap().is_none());
    assert!(store.take_refresh_token("h3").unwrap().is_none());
    assert!(store.find_passkey("Y3JlZC0y").unwrap().is_none());
    assert!(store.magic_link("ml1").unwrap().is_none());
    store.clear().unwrap();
    assert!(store.users().unwrap().is_empty());
    assert!(
        store.signing_keys().unwrap().contains(&key),
        "keys survive a clear"
    );
}

#[test]
fn the_memory_store_keeps_the_rules() {
    the_rules(&MemoryStore::new());
}

#[test]
fn the_sqlite_store_keeps_the_rules_and_everything_across_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passage.db");
    the_rules(&SqliteStore::open(&path).unwrap());
    let store = SqliteStore::open(&path).unwrap();
    let ada = store
        .insert_user(
            SeedUser::email("ada@example.com")
                .with_id("ada")
                .with_device("Laptop"),
        )
        .unwrap();
    let device = ada.webauthn_devices[0].clone();
    store
        .insert_refresh_token(RefreshToken {
            hash: "h".into(),
            user_id: "ada".into(),
            expires_at: 1,
        })
        .unwrap();
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    let again = reopened.user("ada").unwrap().unwrap();
    assert_eq!(again.webauthn_devices[0].id, device.id);
    assert_eq!(again.created_at, ada.created_at);
    assert!(reopened.take_refresh_token("h").unwrap().is_some());
    assert_eq!(reopened.signing_keys().unwrap().len(), 1);
}

#[test]
fn a_database_file_from_before_delivered_links_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    // The magic_links table as the first passage-server release made it.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE magic_links (
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
    let store = SqliteStore::open(&path).unwrap();
    store
        .insert_user(SeedUser::email("ada@example.com").with_id("user-ada"))
        .unwrap();
    store
        .insert_magic_link(link("ml1", "s1", "user-ada", 10))
        .unwrap();
    assert!(
        store
            .activate_magic_link("s1", now())
            .unwrap()
            .unwrap()
            .delivered
    );
    assert!(store.user("user-ada").unwrap().unwrap().email_verified);
    drop(store);
    SqliteStore::open(&path).expect("opens again, already upgraded");
}
