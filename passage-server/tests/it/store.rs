//! Every store keeps the same rules: the same test runs against memory, a SQLite file and a
//! PostgreSQL database (and against the file and the database again after reopening them). A store only keeps records; the rules it must
//! keep inside its atomic steps are checked here, one group at a time.

use passage_server::store::{
    Activation, Change, Device, DeviceRules, Field, Filter, Handshake, MagicLink, MemoryStore, Op,
    PasskeyUse, PostgresStore, Refresh, RefreshToken, SeedUser, Session, SignIn, SqliteStore,
    Store, StoreError, StoredKey, UserQuery, hash, now, refusals,
};
use time::Duration;

pub(crate) fn link(id: &str, secret: &str, user_id: &str, minutes: i64) -> MagicLink {
    MagicLink {
        id: id.to_owned(),
        app_id: "app".to_owned(),
        identifier: "ada.l@example.com".to_owned(),
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
        secret_hash: hash(secret),
        browser: Some(hash("browser-a")),
        same_browser: false,
        code: false,
        tries: 0,
    }
}

pub(crate) fn session(id: &str, user_id: &str, now: i64, lifetime: i64) -> Session {
    Session {
        id: id.to_owned(),
        user_id: user_id.to_owned(),
        signed_in_at: now,
        refreshed_at: now,
        expires_at: now + lifetime,
        ended: false,
    }
}

pub(crate) fn token(hash: &str, session: &str, user: &str, expires_at: i64) -> RefreshToken {
    RefreshToken {
        hash: hash.to_owned(),
        session_id: session.to_owned(),
        user_id: user.to_owned(),
        expires_at,
    }
}

/// Every user's id, in the query's order.
async fn ids(store: &dyn Store, query: &UserQuery) -> (Vec<String>, usize) {
    let page = store.list_users(query).await.unwrap();
    (page.users.into_iter().map(|u| u.id).collect(), page.total)
}

/// The rules, on any store.
pub(crate) async fn the_rules(store: &dyn Store) {
    users(store).await;
    listing(store).await;
    devices(store).await;
    sessions(store).await;
    magic_links(store).await;
    handshakes(store).await;
    counts(store).await;
    keys(store).await;
    pending(store).await;
    sign_ins(store).await;
}

async fn users(store: &dyn Store) {
    let ada = store
        .insert_user(
            SeedUser::email("Ada@Example.com")
                .with_id("user-ada")
                .with_phone("+14155550100"),
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
    assert_eq!(
        store
            .insert_user(SeedUser::email("other@example.com").with_id("user-ada"))
            .await
            .unwrap_err(),
        StoreError::Refused("a user with this id already exists")
    );
    assert_eq!(
        store.insert_user(SeedUser::default()).await.unwrap_err(),
        StoreError::Refused("email or phone is required")
    );
    let grace = store
        .insert_user(SeedUser::email("grace@example.com").with_id("user-grace"))
        .await
        .unwrap();
    for identifier in ["ADA@EXAMPLE.COM", "+14155550100"] {
        assert_eq!(
            store
                .user_by_identifier(identifier)
                .await
                .unwrap()
                .map(|u| u.id),
            Some("user-ada".to_owned()),
            "{identifier}"
        );
    }
    assert!(
        store
            .user_by_identifier("nobody@example.com")
            .await
            .unwrap()
            .is_none()
    );
    let taken = Change {
        email: Some(grace.email.clone()),
        ..Change::default()
    };
    assert_eq!(
        store.update_user("user-ada", taken).await.unwrap_err(),
        StoreError::Refused("a user with this identifier already exists")
    );
    let renamed = Change {
        email: Some("ADA.L@example.com".into()),
        ..Change::default()
    };
    assert_eq!(
        store.update_user("user-ada", renamed).await.unwrap().email,
        "ada.l@example.com"
    );
    assert_eq!(
        store
            .update_user("nobody", Change::default())
            .await
            .unwrap_err(),
        StoreError::NoSuchUser
    );
    store.record_login("user-ada").await.unwrap();
    let ada = store.user("user-ada").await.unwrap().unwrap();
    assert_eq!(ada.login_count, 1);
    assert_eq!(ada.recent_events.len(), 1);
}

async fn listing(store: &dyn Store) {
    // user-ada (1 login) and user-grace from `users`, then three more.
    for (id, email, status) in [
        ("user-c", "c@example.com", "inactive"),
        ("user-d", "d@example.net", "active"),
        ("user-e", "e@example.com", "pending"),
    ] {
        store
            .insert_user(SeedUser::email(email).with_id(id).with_status(status))
            .await
            .unwrap();
    }
    let all = UserQuery::default();
    let (found, total) = ids(store, &all).await;
    assert_eq!(total, 5);
    assert_eq!(
        found,
        ["user-ada", "user-grace", "user-c", "user-d", "user-e"],
        "oldest first; ties in the order they were added"
    );
    let page_two = UserQuery {
        offset: 2,
        limit: 2,
        ..UserQuery::default()
    };
    assert_eq!(
        ids(store, &page_two).await,
        (vec!["user-c".into(), "user-d".into()], 5)
    );
    let newest_first = UserQuery {
        order: vec![(Field::CreatedAt, true), (Field::Id, true)],
        limit: 2,
        ..UserQuery::default()
    };
    assert_eq!(ids(store, &newest_first).await.0, ["user-e", "user-d"]);
    let by_email_desc = UserQuery {
        order: vec![(Field::Email, true)],
        ..UserQuery::default()
    };
    assert_eq!(
        ids(store, &by_email_desc).await.0,
        ["user-grace", "user-e", "user-d", "user-c", "user-ada"]
    );
    let filtered = |filters: Vec<Filter>| UserQuery {
        filters,
        ..UserQuery::default()
    };
    let cases: [(Vec<Filter>, &[&str]); 7] = [
        (
            vec![Filter::Identifier(Op::Like, "example.com".into())],
            &["user-ada", "user-grace", "user-c", "user-e"],
        ),
        (
            vec![Filter::Identifier(Op::Eq, "+14155550100".into())],
            &["user-ada"],
        ),
        (
            vec![Filter::Text(Field::Status, Op::Eq, "active".into())],
            &["user-ada", "user-grace", "user-d"],
        ),
        (
            vec![Filter::Text(Field::Status, Op::NotLike, "act".into())],
            &["user-e"],
        ),
        (
            vec![Filter::Number(Field::LoginCount, Op::Gt, 0)],
            &["user-ada"],
        ),
        (
            vec![
                Filter::Text(Field::Status, Op::Ne, "inactive".into()),
                Filter::Text(Field::Id, Op::Gt, "user-d".into()),
            ],
            &["user-grace", "user-e"],
        ),
        (
            vec![Filter::Text(Field::Id, Op::Like, "nobody".into())],
            &[],
        ),
    ];
    for (filters, expected) in cases {
        let query = filtered(filters.clone());
        assert_eq!(
            ids(store, &query).await,
            (to_vec(expected), expected.len()),
            "{filters:?}"
        );
    }
    let before_all = UserQuery {
        created_before: 0,
        ..UserQuery::default()
    };
    assert_eq!(ids(store, &before_all).await.1, 0);
    for id in ["user-c", "user-d", "user-e"] {
        store.delete_user(id).await.unwrap();
    }
}

fn to_vec(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|&id| id.to_owned()).collect()
}

async fn devices(store: &dyn Store) {
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
    assert_eq!(
        store
            .add_device("user-grace", clash, String::new(), DeviceRules::default())
            .await,
        Err(StoreError::Refused(refusals::CREDENTIAL_TAKEN))
    );
    let user = store.user("user-ada").await.unwrap().unwrap();
    assert!(user.webauthn && user.webauthn_types == ["passkey"]);
    let (owner, found, material) = store.find_passkey("Y3JlZC0x").await.unwrap().unwrap();
    assert_eq!(
        (owner.id.as_str(), found.id.as_str()),
        ("user-ada", device_id.as_str())
    );
    assert_eq!(material, "{\"k\":1}");
    store
        .use_device("user-ada", &device_id, "{\"k\":2}".into())
        .await
        .unwrap();
    let kept = store.passkeys("user-ada").await.unwrap();
    assert_eq!(
        (kept[0].0.usage_count, kept[0].1.as_str()),
        (1, "{\"k\":2}")
    );
    assert_eq!(
        store.use_device("user-ada", "nope", String::new()).await,
        Err(StoreError::NoSuchDevice)
    );

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
            .add_device("user-grace", key(1), String::new(), first)
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
    let held = store.user(&pending.id).await.unwrap().unwrap();
    assert_eq!(held.webauthn_devices.len(), 2);
    store
        .revoke_device(&pending.id, &held.webauthn_devices[0].id)
        .await
        .unwrap();
    assert_eq!(
        store.revoke_device(&pending.id, "nope").await,
        Err(StoreError::NoSuchDevice)
    );
    store.delete_user(&pending.id).await.unwrap();
    assert!(
        store.find_passkey("Y3JlZC1w4").await.unwrap().is_none(),
        "a deleted user's passkeys go with it"
    );
}

async fn sessions(store: &dyn Store) {
    let t = now().unix_timestamp();
    store
        .start_session(
            session("s1", "user-ada", t, 1000),
            token("r1", "s1", "user-ada", t + 100),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .start_session(
                session("s0", "nobody", t, 1000),
                token("r0", "s0", "nobody", t + 100)
            )
            .await,
        Err(StoreError::NoSuchUser)
    );
    // A refresh rotates: the new token joins the session, at most until the session's end.
    let next = token("r2", "", "", t + 5000);
    let Refresh::Rotated(rotated) = store.refresh("r1", next, t + 1).await.unwrap() else {
        panic!("r1 was current");
    };
    assert_eq!((rotated.id.as_str(), rotated.refreshed_at), ("s1", t + 1));
    // r1 again: someone holds a copy. The whole session ends, r2 with it.
    assert_eq!(
        store
            .refresh("r1", token("r3", "", "", t + 100), t + 2)
            .await
            .unwrap(),
        Refresh::Reused
    );
    assert!(store.session("s1").await.unwrap().unwrap().ended);
    assert!(matches!(
        store
            .refresh("r2", token("r4", "", "", t + 100), t + 3)
            .await
            .unwrap(),
        Refresh::Unknown | Refresh::Ended
    ));
    assert_eq!(
        store
            .refresh("never", token("r5", "", "", t + 100), t)
            .await
            .unwrap(),
        Refresh::Unknown
    );

    // Inactivity: a token unused past its own end. Absolute: past the session's end.
    store
        .start_session(
            session("s2", "user-ada", t, 1000),
            token("r6", "s2", "user-ada", t + 10),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .refresh("r6", token("r7", "", "", t + 100), t + 10)
            .await
            .unwrap(),
        Refresh::Ended
    );
    store
        .start_session(
            session("s3", "user-ada", t, 20),
            token("r8", "s3", "user-ada", t + 100),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .refresh("r8", token("r9", "", "", t + 100), t + 20)
            .await
            .unwrap(),
        Refresh::Ended
    );

    // Signing out ends the session of the token presented, and only that one.
    store
        .start_session(
            session("s4", "user-ada", t, 1000),
            token("r10", "s4", "user-ada", t + 100),
        )
        .await
        .unwrap();
    store
        .start_session(
            session("s5", "user-ada", t, 1000),
            token("r11", "s5", "user-ada", t + 100),
        )
        .await
        .unwrap();
    store.end_session("r10").await.unwrap();
    store.end_session("unknown").await.unwrap();
    assert!(store.session("s4").await.unwrap().unwrap().ended);
    assert!(store.session("s5").await.unwrap().unwrap().is_live(t));

    // Revoking ends every session, records when, and counts; tokens issued before are done.
    let before = store.user("user-ada").await.unwrap().unwrap();
    store.revoke_sessions("user-ada").await.unwrap();
    let after = store.user("user-ada").await.unwrap().unwrap();
    assert!(after.revoked_at >= t);
    assert_eq!(
        after.refresh_token_revocations,
        before.refresh_token_revocations + 1
    );
    assert!(store.session("s5").await.unwrap().unwrap().ended);
    assert_eq!(
        store
            .refresh("r11", token("r12", "", "", t + 100), t + 1)
            .await
            .unwrap(),
        Refresh::Unknown
    );
    assert_eq!(
        store.revoke_sessions("nobody").await,
        Err(StoreError::NoSuchUser)
    );

    // Deactivating revokes too; activating again brings nothing back.
    store
        .start_session(
            session("s6", "user-grace", t, 1000),
            token("r13", "s6", "user-grace", t + 100),
        )
        .await
        .unwrap();
    let inactive = store.set_status("user-grace", "inactive").await.unwrap();
    assert!(inactive.revoked_at >= t);
    store.set_status("user-grace", "active").await.unwrap();
    assert!(store.session("s6").await.unwrap().unwrap().ended);
    assert_eq!(
        store
            .refresh("r13", token("r14", "", "", t + 100), t + 1)
            .await
            .unwrap(),
        Refresh::Unknown
    );

    // Ended and expired sessions are purged.
    assert!(store.purge_sessions(t + 1).await.unwrap() >= 5);
    assert!(store.session("s4").await.unwrap().is_none());
}

async fn magic_links(store: &dyn Store) {
    store
        .insert_magic_link(link("ml1", "s1", "user-ada", 10))
        .await
        .unwrap();
    let kept = store.magic_link("ml1").await.unwrap().unwrap();
    assert_eq!(
        (kept.secret.as_str(), kept.url.as_str()),
        ("", ""),
        "only the hash is kept"
    );
    assert_eq!(kept.secret_hash, hash("s1"));
    assert!(
        !store.collect_magic_link("ml1", now()).await.unwrap(),
        "not opened yet"
    );
    // Opened in the browser that asked: the waiting page may collect it, once.
    let Activation::Activated(opened) = store
        .activate_magic_link(&hash("s1"), Some(&hash("browser-a")), now())
        .await
        .unwrap()
    else {
        panic!("an unused link");
    };
    assert!(opened.activated && opened.same_browser);
    assert!(
        store
            .user("user-ada")
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    assert!(matches!(
        store
            .activate_magic_link(&hash("s1"), None, now())
            .await
            .unwrap(),
        Activation::Unknown
    ));
    assert!(store.collect_magic_link("ml1", now()).await.unwrap());
    assert!(
        !store.collect_magic_link("ml1", now()).await.unwrap(),
        "once"
    );

    // Opened in another browser: that browser signs in, the waiting page never does.
    store
        .insert_magic_link(link("ml2", "s2", "user-ada", 10))
        .await
        .unwrap();
    let Activation::Activated(elsewhere) = store
        .activate_magic_link(&hash("s2"), Some(&hash("browser-b")), now())
        .await
        .unwrap()
    else {
        panic!("an unused link");
    };
    assert!(!elsewhere.same_browser);
    assert!(!store.collect_magic_link("ml2", now()).await.unwrap());

    // Expired: neither opened nor collected.
    store
        .insert_magic_link(link("ml3", "s3", "user-ada", 10))
        .await
        .unwrap();
    let later = now() + Duration::minutes(11);
    assert!(matches!(
        store
            .activate_magic_link(&hash("s3"), Some(&hash("browser-a")), later)
            .await
            .unwrap(),
        Activation::Unknown
    ));
    store
        .activate_magic_link(&hash("s3"), Some(&hash("browser-a")), now())
        .await
        .unwrap();
    assert!(
        !store.collect_magic_link("ml3", later).await.unwrap(),
        "expired"
    );

    // An inactive user's link stays unused (and pays nothing out after reactivation).
    store
        .insert_magic_link(link("ml4", "s4", "user-grace", 10))
        .await
        .unwrap();
    store.set_status("user-grace", "inactive").await.unwrap();
    assert!(matches!(
        store
            .activate_magic_link(&hash("s4"), Some(&hash("browser-a")), now())
            .await
            .unwrap(),
        Activation::Inactive
    ));
    store.set_status("user-grace", "active").await.unwrap();
    assert!(!store.collect_magic_link("ml4", now()).await.unwrap());
    assert!(!store.magic_link("ml4").await.unwrap().unwrap().activated);

    // Only a link the server delivered verifies its address.
    store
        .insert_user(SeedUser::email("hopper@example.com").with_id("user-hopper"))
        .await
        .unwrap();
    let mut handed = link("ml5", "s5", "user-hopper", 10);
    handed.identifier = "hopper@example.com".into();
    handed.delivered = false;
    store.insert_magic_link(handed).await.unwrap();
    store
        .activate_magic_link(&hash("s5"), None, now())
        .await
        .unwrap();
    assert!(
        !store
            .user("user-hopper")
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    store.delete_user("user-hopper").await.unwrap();
    assert!(
        store.magic_link("ml5").await.unwrap().is_none(),
        "links go with their user"
    );
}

async fn handshakes(store: &dyn Store) {
    let t = now().unix_timestamp();
    let handshake = |expires_at: i64| Handshake {
        kind: "discoverable".into(),
        user_id: None,
        state: "{}".into(),
        expires_at,
    };
    store
        .put_handshake("h1", handshake(t + 900), 3)
        .await
        .unwrap();
    assert_eq!(
        store.take_handshake("h1", t).await.unwrap(),
        Some(handshake(t + 900))
    );
    assert_eq!(store.take_handshake("h1", t).await.unwrap(), None, "once");
    store
        .put_handshake("h2", handshake(t + 900), 3)
        .await
        .unwrap();
    assert_eq!(
        store.take_handshake("h2", t + 900).await.unwrap(),
        None,
        "expired"
    );
    // Full: the oldest goes, never the new one.
    for (id, ends) in [
        ("a", t + 100),
        ("b", t + 200),
        ("c", t + 300),
        ("d", t + 400),
    ] {
        store.put_handshake(id, handshake(ends), 3).await.unwrap();
    }
    assert_eq!(store.handshakes_held(t).await.unwrap(), 3);
    assert_eq!(
        store.handshakes_held(t + 300).await.unwrap(),
        1,
        "only those not expired"
    );
    assert_eq!(
        store.take_handshake("a", t).await.unwrap(),
        None,
        "made room"
    );
    for id in ["b", "c", "d"] {
        assert!(store.take_handshake(id, t).await.unwrap().is_some(), "{id}");
    }
}

async fn counts(store: &dyn Store) {
    let t = 1_000_000;
    assert_eq!(store.count_send("k1", t, 600, 2, 10).await.unwrap(), None);
    assert_eq!(
        store.count_send("k1", t + 100, 600, 2, 10).await.unwrap(),
        None
    );
    assert_eq!(
        store.count_send("k1", t + 200, 600, 2, 10).await.unwrap(),
        Some(400),
        "until the first leaves the window"
    );
    assert_eq!(
        store.count_send("k2", t + 200, 600, 2, 10).await.unwrap(),
        None,
        "per key"
    );
    assert_eq!(
        store.count_send("k1", t + 600, 600, 2, 10).await.unwrap(),
        None,
        "the window moved on"
    );
    // Full of keys: a new one is still counted (the stalest goes).
    for (n, key) in ["x1", "x2", "x3"].into_iter().enumerate() {
        let at = t + 700 + i64::try_from(n).unwrap();
        assert_eq!(store.count_send(key, at, 600, 1, 3).await.unwrap(), None);
    }
    assert_eq!(
        store.count_send("x4", t + 710, 600, 1, 3).await.unwrap(),
        None
    );
}

async fn keys(store: &dyn Store) {
    let key = |kid: &str, byte: u8| StoredKey {
        kid: kid.to_owned(),
        pkcs8: vec![byte; 4],
        signs_from: i64::from(byte),
    };
    assert_eq!(
        store.first_signing_key(key("k1", 1)).await.unwrap(),
        [key("k1", 1)]
    );
    assert_eq!(
        store.first_signing_key(key("k2", 2)).await.unwrap(),
        [key("k1", 1)],
        "a second first key is not kept"
    );
    store.add_signing_key(key("k3", 3)).await.unwrap();
    store.add_signing_key(key("k3", 9)).await.unwrap();
    store.replace_signing_key(key("k1", 7)).await.unwrap();
    // Replacing keeps when the key signs from; only its material changes (sealed again).
    assert_eq!(
        store.signing_keys().await.unwrap(),
        [
            StoredKey {
                signs_from: 1,
                ..key("k1", 7)
            },
            key("k3", 3)
        ]
    );
}

async fn pending(store: &dyn Store) {
    for (id, email, status) in [
        ("p-old", "p-old@example.com", "pending"),
        ("p-keyed", "p-keyed@example.com", "pending"),
        ("a-old", "a-old@example.com", "active"),
    ] {
        store
            .insert_user(SeedUser::email(email).with_id(id).with_status(status))
            .await
            .unwrap();
    }
    store
        .add_device(
            "p-keyed",
            Device::passkey("Key".into(), "Y3JlZC1rZXllZA".into(), now()),
            String::new(),
            DeviceRules::default(),
        )
        .await
        .unwrap();
    // Beyond the newest `keep` unfinished sign-ups, the oldest go even when young.
    for n in 0..3 {
        store
            .insert_user(
                SeedUser::email(format!("young-{n}@example.com"))
                    .with_id(format!("young-{n}"))
                    .with_status("pending"),
            )
            .await
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let long_ago = now() - Duration::days(1);
    assert_eq!(store.expire_pending(long_ago, 2).await.unwrap(), 2);
    for gone in ["p-old", "young-0"] {
        assert!(store.user(gone).await.unwrap().is_none(), "{gone}");
    }
    for kept in ["young-1", "young-2", "p-keyed", "a-old", "user-ada"] {
        assert!(store.user(kept).await.unwrap().is_some(), "{kept}");
    }
    let cutoff = now() + Duration::seconds(1);
    assert_eq!(store.expire_pending(cutoff, 100).await.unwrap(), 2);
    for kept in ["p-keyed", "a-old", "user-ada"] {
        assert!(store.user(kept).await.unwrap().is_some(), "{kept}");
    }
}

/// A sign-in is one step under its user's lock: the checks (the user not inactive, the passkey
/// still as it was read) before any change, then the passkey's new material, the login, a
/// pending user's activation and the session together, or nothing.
async fn sign_ins(store: &dyn Store) {
    let t = now().unix_timestamp();
    store
        .insert_user(
            SeedUser::email("signin@example.com")
                .with_id("user-signin")
                .with_status("pending"),
        )
        .await
        .unwrap();
    let device = Device::passkey("Key".into(), "c2lnbi1pbg".into(), now());
    let device_id = device.id.clone();
    store
        .add_device(
            "user-signin",
            device,
            "{\"k\":1}".into(),
            DeviceRules::default(),
        )
        .await
        .unwrap();
    let used = |before: &str, after: &str| PasskeyUse {
        device_id: device_id.clone(),
        before: before.into(),
        after: after.into(),
    };
    let sign_in = |n: u32, passkey: Option<PasskeyUse>, record_login: bool| SignIn {
        passkey,
        record_login,
        session: session(&format!("si{n}"), "user-signin", t, 1000),
        token: token(&format!("ri{n}"), &format!("si{n}"), "user-signin", t + 100),
    };
    // Nothing kept: no session, no login, the passkey and the status as they were.
    async fn nothing_kept(store: &dyn Store, n: u32, logins: i64, material: &str, status: &str) {
        assert_eq!(store.session(&format!("si{n}")).await.unwrap(), None);
        let user = store.user("user-signin").await.unwrap().unwrap();
        assert_eq!((user.login_count, user.status.as_str()), (logins, status));
        let kept = store.passkeys("user-signin").await.unwrap();
        assert_eq!(kept[0].1, material);
    }

    // An unknown device.
    let unknown = PasskeyUse {
        device_id: "nope".into(),
        ..used("{\"k\":1}", "{\"k\":9}")
    };
    assert_eq!(
        store.sign_in(sign_in(0, Some(unknown), true)).await,
        Err(StoreError::NoSuchDevice)
    );
    nothing_kept(store, 0, 0, "{\"k\":1}", "pending").await;
    // An assertion checked against material another sign-in has replaced since.
    assert_eq!(
        store
            .sign_in(sign_in(1, Some(used("{\"k\":0}", "{\"k\":2}")), true))
            .await,
        Err(StoreError::Refused(refusals::PASSKEY_CHANGED))
    );
    nothing_kept(store, 1, 0, "{\"k\":1}", "pending").await;

    // With the passkey as read: its material, the login, the activation and the session.
    store
        .sign_in(sign_in(2, Some(used("{\"k\":1}", "{\"k\":2}")), true))
        .await
        .unwrap();
    let kept = store.passkeys("user-signin").await.unwrap();
    assert_eq!(
        (kept[0].0.usage_count, kept[0].1.as_str()),
        (1, "{\"k\":2}")
    );
    let user = store.user("user-signin").await.unwrap().unwrap();
    assert_eq!((user.login_count, user.status.as_str()), (1, "active"));
    assert_eq!(
        store.session("si2").await.unwrap(),
        Some(session("si2", "user-signin", t, 1000))
    );
    assert!(matches!(
        store
            .refresh("ri2", token("ri2b", "", "", t + 100), t + 1)
            .await
            .unwrap(),
        Refresh::Rotated(_)
    ));
    // A second assertion checked against the same material (two at once, or a clone): refused.
    assert_eq!(
        store
            .sign_in(sign_in(3, Some(used("{\"k\":1}", "{\"k\":3}")), true))
            .await,
        Err(StoreError::Refused(refusals::PASSKEY_CHANGED))
    );
    nothing_kept(store, 3, 1, "{\"k\":2}", "active").await;

    // A second session that is not a login (the page that waited for a link).
    store.sign_in(sign_in(4, None, false)).await.unwrap();
    let user = store.user("user-signin").await.unwrap().unwrap();
    assert_eq!(user.login_count, 1);
    assert!(store.session("si4").await.unwrap().is_some());

    // Deactivated since the caller read the user: refused, nothing kept.
    store.set_status("user-signin", "inactive").await.unwrap();
    for (n, passkey) in [(5, Some(used("{\"k\":2}", "{\"k\":5}"))), (6, None)] {
        assert_eq!(
            store.sign_in(sign_in(n, passkey, true)).await,
            Err(StoreError::Refused(refusals::USER_INACTIVE))
        );
        nothing_kept(store, n, 1, "{\"k\":2}", "inactive").await;
    }

    // No such user, with or without a login to record.
    for record_login in [true, false] {
        assert_eq!(
            store
                .sign_in(SignIn {
                    passkey: None,
                    record_login,
                    session: session("si7", "nobody", t, 1000),
                    token: token("ri7", "si7", "nobody", t + 100),
                })
                .await,
            Err(StoreError::NoSuchUser)
        );
    }
    assert_eq!(store.session("si7").await.unwrap(), None);
    store.delete_user("user-signin").await.unwrap();
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
    let reopened = SqliteStore::open(&path).unwrap();
    let ada = reopened.user("user-ada").await.unwrap().unwrap();
    assert_eq!(ada.webauthn_devices.len(), 1);
    assert!(ada.email_verified && ada.revoked_at > 0);
    assert_eq!(reopened.signing_keys().await.unwrap().len(), 2);

    // The statements a sign-in reads by search an index; none scans a table (its cost would
    // grow with the users and their passkeys).
    let raw = rusqlite::Connection::open(&path).unwrap();
    let plan = |sql: &str| -> Vec<String> {
        let mut explain = raw.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let params = (1..=9).filter(|n| sql.contains(&format!("?{n}"))).count();
        let values = vec!["x"; params];
        explain
            .query_map(rusqlite::params_from_iter(values), |r| {
                r.get::<_, String>(3)
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    for (name, sql) in SqliteStore::SIGN_IN_LOOKUPS {
        let steps = plan(sql);
        assert!(
            steps.iter().all(|step| !step.starts_with("SCAN")),
            "{name}: {steps:?}"
        );
    }
    // The control: the passkey lookup as it was scans every device.
    let steps = plan("SELECT user_id, record, passkey FROM devices WHERE cred_id = ?1");
    assert_eq!(steps, ["SCAN devices"]);
}

#[tokio::test]
async fn the_postgres_store_keeps_the_rules_and_everything_across_a_reconnect() {
    let server = crate::postgres_server::PostgresServer::start();
    let url = server.database("rules").await;
    the_rules(&PostgresStore::connect(&url).await.unwrap()).await;
    let reconnected = PostgresStore::connect(&url).await.unwrap();
    let ada = reconnected.user("user-ada").await.unwrap().unwrap();
    assert_eq!(ada.webauthn_devices.len(), 1);
    assert!(ada.email_verified && ada.revoked_at > 0);
    assert_eq!(ada.login_count, 1);
    assert_eq!(reconnected.signing_keys().await.unwrap().len(), 2);
    assert_eq!(
        reconnected
            .list_users(&UserQuery::default())
            .await
            .unwrap()
            .total,
        4
    );
    // The import's rules too, on a database of their own (one PostgreSQL for both: initdb
    // takes a while).
    let import = server.database("import").await;
    crate::import::the_import_rules(&PostgresStore::connect(&import).await.unwrap()).await;

    // The statements a sign-in reads by use the indexes in the generic plans prepared
    // statements end up with, on a filled database, before its statistics are gathered (as
    // right after an import; autovacuum held off so that stays so) and after: a plan that scans
    // a table makes every sign-in cost more as users sign up.
    let plans = server.database("plans").await;
    PostgresStore::connect(&plans).await.unwrap();
    let admin = server.admin("plans").await;
    admin
        .batch_execute(
            "ALTER TABLE users SET (autovacuum_enabled = false);
             ALTER TABLE devices SET (autovacuum_enabled = false);
             INSERT INTO users (id, email, phone, status, created_at, updated_at, last_login_at, record)
                 SELECT 'user-' || g, 'user' || g || '@example.com', '', 'active', g, g, 0, '{}'
                 FROM generate_series(1, 20000) g;
             INSERT INTO devices (id, user_id, cred_id, record, passkey)
                 SELECT 'device-' || g, 'user-' || g, 'cred-' || g, '{}', ''
                 FROM generate_series(1, 20000) g;
             SET plan_cache_mode = force_generic_plan;",
        )
        .await
        .unwrap();
    // The control: the lookup by identifier as it was (one OR under LIMIT 1) scans the users.
    let before = "SELECT id FROM users
                  WHERE (email <> '' AND email = $1) OR (phone <> '' AND phone = $2) LIMIT 1";
    let plan = generic_plan(&admin, before).await;
    assert!(plan.contains("Seq Scan on users"), "{plan}");
    for analyzed in [false, true] {
        if analyzed {
            admin
                .batch_execute("ANALYZE users; ANALYZE devices")
                .await
                .unwrap();
        }
        for (name, sql) in PostgresStore::SIGN_IN_LOOKUPS {
            let plan = generic_plan(&admin, sql).await;
            assert!(
                !plan.contains("Seq Scan"),
                "{name} (analyzed: {analyzed}):\n{plan}"
            );
        }
    }
}

/// The plan PostgreSQL runs `sql` by once it is prepared and its plan generic (the session's
/// `plan_cache_mode` forces it), with each parameter `'x'`.
async fn generic_plan(admin: &tokio_postgres::Client, sql: &str) -> String {
    let params = (1..=9).filter(|n| sql.contains(&format!("${n}"))).count();
    let name = format!("plan_{}", hash(sql));
    admin
        .batch_execute(&format!("DEALLOCATE ALL; PREPARE {name} AS {sql}"))
        .await
        .unwrap();
    let values = vec!["'x'"; params].join(", ");
    let lines = admin
        .query(&format!("EXPLAIN EXECUTE {name}({values})"), &[])
        .await
        .unwrap();
    lines
        .iter()
        .map(|line| line.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_sqlite_file_is_for_one_process_and_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("passage.db");
    let first = SqliteStore::open(&path).unwrap();
    assert!(
        matches!(SqliteStore::open(&path), Err(StoreError::InUse(message)) if message.contains("another passage-server process")),
        "a second opener is refused"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        first
            .insert_user(SeedUser::email("ada@example.com"))
            .await
            .unwrap();
        for file in ["passage.db", "passage.db-wal", "passage.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
    }
    drop(first);
    SqliteStore::open(&path).expect("free again once the first is closed");
}

/// A file as the first passage-server release made it: its tables, a user with a passkey, a
/// refresh token, a magic link (its secret in the clear, no `delivered` column) and a signing
/// key — brought up to date at open, losing nothing and keeping no secret in the clear.
#[tokio::test]
async fn a_database_file_from_the_first_release_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
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
        CREATE UNIQUE INDEX users_email ON users(email) WHERE email != '';
        CREATE UNIQUE INDEX users_phone ON users(phone) WHERE phone != '';
        CREATE TABLE devices (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            id TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            cred_id TEXT NOT NULL,
            record TEXT NOT NULL,
            passkey TEXT NOT NULL
        );
        CREATE UNIQUE INDEX devices_cred_id ON devices(cred_id) WHERE cred_id != '';
        CREATE TABLE refresh_tokens (
            hash TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            expires_at INTEGER NOT NULL
        );
        CREATE TABLE magic_links (
            id TEXT PRIMARY KEY,
            secret TEXT NOT NULL UNIQUE,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            activated INTEGER NOT NULL DEFAULT 0,
            collected INTEGER NOT NULL DEFAULT 0,
            expires_at INTEGER NOT NULL,
            record TEXT NOT NULL
        );
        CREATE TABLE signing_keys (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            kid TEXT NOT NULL UNIQUE,
            pkcs8 BLOB NOT NULL
        );",
    )
    .unwrap();
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
    old.execute(
        "INSERT INTO users (id, email, phone, record) VALUES (?1, ?2, '', ?3)",
        rusqlite::params![ada.id, ada.email, serde_json::to_string(&bare).unwrap()],
    )
    .unwrap();
    old.execute(
        "INSERT INTO devices (id, user_id, cred_id, record, passkey) VALUES (?1, ?2, ?3, ?4, '{}')",
        rusqlite::params![
            device.id,
            ada.id,
            device.cred_id,
            serde_json::to_string(device).unwrap()
        ],
    )
    .unwrap();
    let t = now().unix_timestamp();
    old.execute(
        "INSERT INTO refresh_tokens (hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
        rusqlite::params![hash("old-refresh"), ada.id, t + 1000],
    )
    .unwrap();
    let mut old_link = link("ml-old", "old-secret", "user-ada", 10);
    // Sent to the user's address: only not being delivered keeps it from verifying it.
    old_link.identifier = "ada@example.com".into();
    old.execute(
        "INSERT INTO magic_links (id, secret, user_id, expires_at, record) VALUES (?1, ?2, ?3, ?4, ?5)",
        rusqlite::params![
            old_link.id,
            "old-secret",
            old_link.user_id,
            old_link.expires_at.unix_timestamp(),
            serde_json::to_string(&old_link).unwrap()
        ],
    )
    .unwrap();
    old.execute(
        "INSERT INTO signing_keys (kid, pkcs8) VALUES ('k1', x'01020304')",
        [],
    )
    .unwrap();
    drop(old);

    let store = SqliteStore::open(&path).unwrap();
    // The user, listed and filtered by the columns the upgrade filled from the record.
    let active = UserQuery {
        filters: vec![Filter::Text(Field::Status, Op::Eq, "active".into())],
        ..UserQuery::default()
    };
    let page = store.list_users(&active).await.unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.users[0].webauthn_devices.len(), 1, "the passkey stays");
    // The old refresh token keeps working, in a session of its own.
    let Refresh::Rotated(session) = store
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
    assert_eq!(session.user_id, "user-ada");
    // The old link opens by its secret's hash, counts as not delivered (it verifies nothing),
    // and no secret is left in the clear.
    let Activation::Activated(opened) = store
        .activate_magic_link(&hash("old-secret"), None, now())
        .await
        .unwrap()
    else {
        panic!("the old link was lost");
    };
    assert!(!opened.delivered);
    assert!(
        !store
            .user("user-ada")
            .await
            .unwrap()
            .unwrap()
            .email_verified
    );
    assert_eq!(
        store.signing_keys().await.unwrap(),
        [StoredKey {
            kid: "k1".into(),
            pkcs8: vec![1, 2, 3, 4],
            signs_from: 0,
        }]
    );
    drop(store);
    let raw = rusqlite::Connection::open(&path).unwrap();
    let records: Vec<String> = raw
        .prepare("SELECT record FROM magic_links")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        records.iter().all(|r| !r.contains("old-secret")),
        "{records:?}"
    );
    let columns: Vec<String> = raw
        .prepare("PRAGMA table_info(magic_links)")
        .unwrap()
        .query_map([], |r| r.get(1))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!columns.iter().any(|c| c == "secret"), "{columns:?}");
    assert!(
        columns.iter().any(|c| c == "code") && columns.iter().any(|c| c == "tries"),
        "one-time passcodes beside the links (version 5): {columns:?}"
    );
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 5);
    drop(raw);
    let reopened = SqliteStore::open(&path).expect("opens again, already upgraded");
    // Version 4's count starts from the users already there.
    assert_eq!(
        reopened
            .list_users(&UserQuery::default())
            .await
            .unwrap()
            .total,
        1
    );
}
