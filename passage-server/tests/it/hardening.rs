//! What an attacker holding a token, a copy of the database, or only the public API could try —
//! each refused, beside a control that shows the same request succeeds when it should.

use std::time::Duration;

use passage_server::{SealingKey, Server, store::SeedUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    authenticator::Authenticator,
    support::{API_KEY, Browser, ORIGIN, dev, subject},
};

/// `GET /currentuser` with `token`: the status and the error code, if any.
async fn current(browser: &Browser, token: &str) -> (StatusCode, Option<String>) {
    let (status, body) = browser
        .call_as(Method::GET, "/currentuser", None, Some(token))
        .await;
    (status, body["code"].as_str().map(str::to_owned))
}

fn token(auth_result: &Value) -> String {
    auth_result["auth_token"].as_str().unwrap().to_owned()
}

/// A Management API call (with the API key): the status.
async fn manage(browser: &Browser, method: Method, path: &str) -> StatusCode {
    browser
        .http
        .request(
            method,
            format!(
                "{}/v1/apps/{}{path}",
                browser.server.api_url(),
                browser.server.app_id()
            ),
        )
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
        .status()
}

/// Waits for the start of the next second: what follows within milliseconds happens in one
/// second (a revocation and a sign-in right after it, as a user who signs in again at once).
async fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(
        Duration::from_millis(1_050) - Duration::from_nanos(u64::from(now.subsec_nanos())),
    )
    .await;
}

#[tokio::test]
async fn a_signed_out_session_changes_nothing_and_reads_nothing() {
    let browser = Browser::start(dev()).await;
    let mut key = Authenticator::new(ORIGIN);
    let signed_in = browser.register(&mut key, "ada@example.com").await;
    let access = token(&signed_in);
    assert_eq!(
        current(&browser, &access).await.0,
        StatusCode::OK,
        "control"
    );
    let refresh = signed_in["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = browser
        .call(
            Method::DELETE,
            &format!("/tokens?refresh_token={refresh}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The stolen one-hour token: no reads, and above all no passkey of the thief's.
    assert_eq!(
        current(&browser, &access).await,
        (
            StatusCode::UNAUTHORIZED,
            Some("invalid_access_token".into())
        )
    );
    let (status, body) = browser
        .call_as(
            Method::POST,
            "/currentuser/devices/start",
            Some(json!({})),
            Some(&access),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_access_token"))
    );
    // Backends validate it until it expires (a signed-out session is the server's to know).
    assert!(browser.validate(&access).await.is_ok());
}

#[tokio::test]
async fn signing_out_everywhere_deactivating_or_deleting_ends_every_token() {
    let browser = Browser::start(dev()).await;
    let mut key = Authenticator::new(ORIGIN);
    let first = browser.register(&mut key, "ada@example.com").await;
    let user_id = subject(&first);
    let (_, second) = browser.sign_in(&mut key, Some("ada@example.com")).await;
    let second = &second["auth_result"];
    assert_eq!(current(&browser, &token(second)).await.0, StatusCode::OK);

    // "Sign out everywhere" (the Management API).
    next_second().await;
    assert_eq!(
        manage(
            &browser,
            Method::DELETE,
            &format!("/users/{user_id}/tokens")
        )
        .await,
        StatusCode::OK
    );
    for auth_result in [&first, second] {
        assert_eq!(
            current(&browser, &token(auth_result)).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, _) = browser
            .post(
                "/tokens",
                json!({ "refresh_token": auth_result["refresh_token"] }),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }

    // A new sign-in works again, in the very second of the revocation (its token is issued
    // after it); then deactivating and activating brings nothing back.
    let (status, third) = browser.sign_in(&mut key, Some("ada@example.com")).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let third = &third["auth_result"];
    assert_eq!(
        current(&browser, &token(third)).await.0,
        StatusCode::OK,
        "control"
    );
    next_second().await;
    assert_eq!(
        manage(
            &browser,
            Method::PATCH,
            &format!("/users/{user_id}/deactivate")
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        manage(
            &browser,
            Method::PATCH,
            &format!("/users/{user_id}/activate")
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        current(&browser, &token(third)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = browser
        .post(
            "/tokens",
            json!({ "refresh_token": third["refresh_token"] }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the refresh token went with the deactivation"
    );

    // Deleting: the token's user no longer exists.
    let (_, fourth) = browser.sign_in(&mut key, Some("ada@example.com")).await;
    let fourth = &fourth["auth_result"];
    assert_eq!(
        current(&browser, &token(fourth)).await.0,
        StatusCode::OK,
        "control"
    );
    assert_eq!(
        manage(&browser, Method::DELETE, &format!("/users/{user_id}")).await,
        StatusCode::OK
    );
    assert_eq!(
        current(&browser, &token(fourth)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_refresh_token_used_twice_ends_its_session() {
    let browser = Browser::start(dev()).await;
    let mut key = Authenticator::new(ORIGIN);
    let signed_in = browser.register(&mut key, "ada@example.com").await;
    let stolen = signed_in["refresh_token"].clone();
    let (status, rotated) = browser
        .post("/tokens", json!({ "refresh_token": stolen }))
        .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let rotated = &rotated["auth_result"];
    assert_eq!(current(&browser, &token(rotated)).await.0, StatusCode::OK);
    // The thief replays the old one: refused, and the legitimate holder's session ends with it.
    let (status, _) = browser
        .post("/tokens", json!({ "refresh_token": stolen }))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = browser
        .post(
            "/tokens",
            json!({ "refresh_token": rotated["refresh_token"] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the whole family");
    assert_eq!(
        current(&browser, &token(rotated)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refreshing_has_an_end() {
    // Lifetimes are kept in whole seconds: every wait below leaves a second's margin.
    let browser = Browser::start(
        dev()
            .refresh_absolute_lifetime(Duration::from_secs(6))
            .refresh_inactivity_lifetime(Duration::from_secs(3)),
    )
    .await;
    let (_, app) = browser.call(Method::GET, "", None).await;
    assert_eq!(app["app"]["refresh_absolute_lifetime"], 6);
    assert_eq!(app["app"]["refresh_inactivity_lifetime"], 3);
    let mut key = Authenticator::new(ORIGIN);
    let signed_in = browser.register(&mut key, "ada@example.com").await;
    let started = std::time::Instant::now();
    let (_, idle) = browser.sign_in(&mut key, Some("ada@example.com")).await;
    let refresh_at = |secs: f64| async move {
        let wait = Duration::from_secs_f64(secs).saturating_sub(started.elapsed());
        tokio::time::sleep(wait).await;
    };
    // Refreshed every 1.5 s, within the inactivity lifetime: the session lives on…
    let mut refresh = signed_in["refresh_token"].clone();
    for at in [1.5, 3.0, 4.5] {
        refresh_at(at).await;
        let (status, next) = browser
            .post("/tokens", json!({ "refresh_token": refresh }))
            .await;
        assert_eq!(status, StatusCode::OK, "at {at} s: {next}");
        refresh = next["auth_result"]["refresh_token"].clone();
    }
    // …while the session left alone since its sign-in is over (inactivity)…
    let (status, _) = browser
        .post(
            "/tokens",
            json!({ "refresh_token": idle["auth_result"]["refresh_token"] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "unused for 4.5 s of 3");
    // …and the refreshed one ends at its absolute lifetime, however often it was refreshed.
    refresh_at(7.1).await;
    let (status, _) = browser
        .post("/tokens", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "past 6 s since the sign-in"
    );
}

#[tokio::test]
async fn changing_the_account_needs_a_recent_sign_in() {
    let browser = Browser::start(dev().recent_sign_in(Duration::from_secs(1))).await;
    let mut key = Authenticator::new(ORIGIN);
    let signed_in = browser.register(&mut key, "ada@example.com").await;
    let access = token(&signed_in);
    let mut second_key = Authenticator::new(ORIGIN);
    let (status, added) = browser.add_passkey(&mut second_key, &access).await;
    assert_eq!(status, StatusCode::OK, "control: just signed in: {added}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        current(&browser, &access).await.0,
        StatusCode::OK,
        "reads still work"
    );
    let (status, body) = browser
        .call_as(
            Method::POST,
            "/currentuser/devices/start",
            Some(json!({})),
            Some(&access),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("recent_sign_in_required"))
    );
    // A refresh is not a sign-in.
    let (_, refreshed) = browser
        .post(
            "/tokens",
            json!({ "refresh_token": signed_in["refresh_token"] }),
        )
        .await;
    let (status, _) = browser
        .call_as(
            Method::POST,
            "/currentuser/devices/start",
            Some(json!({})),
            Some(&token(&refreshed["auth_result"])),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_magic_link_signs_in_the_waiting_page_only_in_the_browser_that_asked() {
    let browser =
        Browser::start(dev().user(SeedUser::email("victim@example.com").with_id("victim"))).await;
    // The attacker's page asks for the victim's link and waits.
    let attacker = "attacker-browser-0123456789";
    let (status, asked) = browser
        .call_from(
            attacker,
            Method::POST,
            "/login/magic-link",
            Some(json!({ "identifier": "victim@example.com" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{asked}");
    let link_id = asked["magic_link"]["id"].as_str().unwrap().to_owned();
    let mail = browser.server.mailbox().pop().unwrap();
    assert!(
        mail.to == "victim@example.com",
        "the link goes to the victim's mailbox"
    );
    let secret = reqwest::Url::parse(&mail.link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "psg_magic_link")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    // The victim opens it in their own browser: that browser is signed in…
    let (status, opened) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    assert_eq!(subject(&opened["auth_result"]), "victim");
    // …and the attacker's waiting page gets nothing.
    let (status, body) = browser
        .call_from(
            attacker,
            Method::POST,
            "/magic-link/status",
            Some(json!({ "id": link_id })),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("magic_link_not_activated"))
    );

    // The control: asked and opened in one browser, the waiting page is signed in.
    let (status, asked) = browser
        .post(
            "/login/magic-link",
            json!({ "identifier": "victim@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let own = browser.server.mailbox().pop().unwrap();
    let secret = reqwest::Url::parse(&own.link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "psg_magic_link")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let (status, _) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, waited) = browser
        .post(
            "/magic-link/status",
            json!({ "id": asked["magic_link"]["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{waited}");
    assert_eq!(subject(&waited["auth_result"]), "victim");
}

#[tokio::test]
async fn one_mailbox_is_one_identifier_and_one_count() {
    let browser = Browser::start(dev().magic_link_limit(2)).await;
    for variant in ["ada@example.com", "ＡＤＡ@ｅｘａｍｐｌｅ.ｃｏｍ"] {
        let mail = browser
            .mailed("/register/magic-link", json!({ "identifier": variant }))
            .await;
        assert_eq!(mail.to, "ada@example.com", "{variant}");
    }
    let (status, _) = browser
        .post(
            "/register/magic-link",
            json!({ "identifier": "Ada@Example.COM" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "counted on the normalised address"
    );
    for invisible in [
        "a\u{00AD}da@example.com",
        "a\u{200B}da@example.com",
        "ada\u{FE0F}@example.com",
    ] {
        let (status, body) = browser
            .post("/register/magic-link", json!({ "identifier": invisible }))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_identifier")),
            "{invisible:?}"
        );
    }
    // The Management API parses identifiers the same way.
    let create = |email: &str| {
        browser
            .http
            .post(format!(
                "{}/v1/apps/{}/users",
                browser.server.api_url(),
                browser.server.app_id()
            ))
            .bearer_auth(API_KEY)
            .json(&json!({ "email": email }))
            .send()
    };
    for bad in [
        "a@b@example.com",
        "ada\u{0007}@example.com",
        "Ada <ada@example.com>",
    ] {
        let response = create(bad).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    let response = create("ＧＲＡＣＥ@example.com").await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["user"]["email"], "grace@example.com");
}

#[tokio::test]
async fn unfinished_sign_ups_expire() {
    let browser = Browser::start(dev().pending_user_ttl(Duration::from_secs(1))).await;
    let (status, _) = browser
        .post("/users", json!({ "identifier": "squatter@example.com" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        browser.stored_user("squatter@example.com").await.status,
        "pending"
    );
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if browser
            .server
            .store()
            .user_by_identifier("squatter@example.com")
            .await
            .unwrap()
            .is_none()
        {
            gone = true;
            break;
        }
    }
    assert!(gone, "the pending user was still there after 5 s");
    // The address is free for the app's own backend again.
    assert_eq!(
        browser
            .http
            .post(format!(
                "{}/v1/apps/{}/users",
                browser.server.api_url(),
                browser.server.app_id()
            ))
            .bearer_auth(API_KEY)
            .json(&json!({ "email": "squatter@example.com" }))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn unfinished_sign_ups_stay_within_their_bound() {
    use passage_server::store::UserQuery;
    let browser = Browser::start(dev().max_pending_users(20)).await;
    for n in 0..60 {
        let (status, _) = browser
            .post(
                "/register/webauthn/start",
                json!({ "identifier": format!("flood-{n}@example.com") }),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let held = browser
        .server
        .store()
        .list_users(&UserQuery::default())
        .await
        .unwrap()
        .total;
    // The bound, plus at most a tenth of it started since the last trim.
    assert!((20..=22).contains(&held), "{held} unfinished sign-ups held");
    // The newest are the ones kept: someone signing up now is not the one removed.
    assert_eq!(
        browser.stored_user("flood-59@example.com").await.status,
        "pending"
    );
    assert!(
        browser
            .server
            .store()
            .user_by_identifier("flood-0@example.com")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn handshakes_do_not_grow_with_the_users_passkeys() {
    let browser = Browser::start(dev().max_passkeys(20)).await;
    let mut key = Authenticator::new(ORIGIN);
    let many = browser.register(&mut key, "many@example.com").await;
    for _ in 1..20 {
        let mut another = Authenticator::new(ORIGIN);
        let (status, body) = browser.add_passkey(&mut another, &token(&many)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let mut one_more = Authenticator::new(ORIGIN);
    let (status, body) = browser
        .call_as(
            Method::POST,
            "/currentuser/devices/start",
            Some(json!({})),
            Some(&token(&many)),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("limit_reached")),
        "the per-user limit"
    );
    let _ = &mut one_more;
    let mut few_key = Authenticator::new(ORIGIN);
    browser.register(&mut few_key, "few@example.com").await;
    // The state a sign-in keeps, for a user with 20 passkeys and for one with 1.
    let mut sizes = Vec::new();
    for identifier in [
        json!("many@example.com"),
        json!("few@example.com"),
        Value::Null,
    ] {
        let body = if identifier.is_null() {
            json!({})
        } else {
            json!({ "identifier": identifier })
        };
        let (status, start) = browser.post("/login/webauthn/start", body).await;
        assert_eq!(status, StatusCode::OK, "{start}");
        let id = start["handshake"]["id"].as_str().unwrap();
        let kept = browser
            .server
            .store()
            .take_handshake(id, 0)
            .await
            .unwrap()
            .expect("kept");
        sizes.push(kept.state.len());
        if identifier == json!("many@example.com") {
            assert_eq!(
                start["handshake"]["challenge"]["publicKey"]["allowCredentials"]
                    .as_array()
                    .map(Vec::len),
                Some(20),
                "the browser is offered all 20"
            );
        }
    }
    assert_eq!(sizes[0], sizes[1], "20 passkeys or 1: the same state");
    assert!(sizes.iter().all(|&s| s <= 2048), "{sizes:?}");
    // The bound in bytes: at most 50 000 handshakes of at most 16 KiB each (an anonymous one
    // is about 1 KiB: ~50 MB in all).
    println!("handshake state sizes: {sizes:?} bytes");
}

#[tokio::test]
async fn the_authentication_api_reads_only_json_bodies() {
    let browser = Browser::start(dev()).await;
    let url = browser.url("/register/magic-link");
    // What any web page can make a visitor's browser send without asking: refused unread.
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let response = browser
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(r#"{"identifier":"victim@example.com"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unsupported_media_type");
    }
    assert!(browser.server.mailbox().is_empty(), "nothing was sent");
    let huge = browser
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(format!(r#"{{"identifier":"{}"}}"#, "a".repeat(100_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = huge.json().await.unwrap();
    assert_eq!(body["code"], "payload_too_large");
}

#[tokio::test]
async fn out_of_range_values_are_refused_not_panicked_on() {
    let browser = Browser::start(dev().user(SeedUser::email("ada@example.com"))).await;
    let api = |path: &str| {
        format!(
            "{}/v1/apps/{}{path}",
            browser.server.api_url(),
            browser.server.app_id()
        )
    };
    // Unknown filters are refused too: `?email=` listing everyone would hand a backend that
    // takes the first result the wrong user.
    for query in [
        "page=18446744073709551615",
        "page=0",
        "limit=100000000",
        "email=nobody@example.com",
        "phone=%2B14155550100",
        "user_id=x",
    ] {
        let response = browser
            .http
            .get(api(&format!("/users?{query}")))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
    }
    for ttl in [i64::MAX, 10_081, 0] {
        let response = browser
            .http
            .post(api("/magic-links"))
            .bearer_auth(API_KEY)
            .json(&json!({ "email": "ada@example.com", "ttl": ttl }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "ttl {ttl}");
    }
    let big = browser
        .http
        .post(api("/users"))
        .bearer_auth(API_KEY)
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = big.json().await.unwrap();
    assert!(body["code"].is_string(), "JSON, as every refusal");
    // The server is still there.
    let response = browser
        .http
        .get(api("/users?page=1"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn signing_keys_are_sealed_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("passage.db");
    let sealing = SealingKey::generate().unwrap();
    let start = |key: Option<SealingKey>, previous: Option<SealingKey>| {
        let mut builder = Server::builder()
            .api_key(API_KEY)
            .database(&db)
            .authentication_api(false);
        if let Some(key) = key {
            builder = builder.sealing_key(key);
        }
        if let Some(previous) = previous {
            builder = builder.previous_sealing_key(previous);
        }
        builder.start()
    };
    let server = start(Some(sealing.clone()), None).await.unwrap();
    let token = server.mint_token("ada").unwrap();
    server.stop().await;
    let stored: Vec<u8> = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT pkcs8 FROM signing_keys", [], |r| r.get(0))
        .unwrap();
    assert!(stored.starts_with(b"psk1"), "sealed");
    assert!(
        passage_server::SigningKey::from_pkcs8("k", &stored).is_err(),
        "no usable key in the file"
    );
    // Without the sealing key: no start (and no new key made behind the operator's back).
    let refused = start(None, None).await.unwrap_err();
    assert!(
        matches!(refused, passage_server::ServerError::Seal(_)),
        "{refused:?}"
    );
    // With it: the same keys, so tokens signed before still validate.
    let server = start(Some(sealing.clone()), None).await.unwrap();
    let jwks = server.jwks();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    assert!(token.contains('.') && server.current_key().kid() == kid);
    server.stop().await;
    // Rotation: the new key, with the old one as previous, seals everything again.
    let rotated = SealingKey::generate().unwrap();
    let server = start(Some(rotated.clone()), Some(sealing.clone()))
        .await
        .unwrap();
    server.stop().await;
    let server = start(Some(rotated), None)
        .await
        .expect("sealed under the new key");
    assert_eq!(server.current_key().kid(), kid);
    server.stop().await;
    assert!(
        start(Some(sealing), None).await.is_err(),
        "the old key no longer opens them"
    );
}

/// Reads from `stream` until the server closes it (or `limit` passes): what it sent.
async fn until_closed(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<String> {
    use tokio::io::AsyncReadExt as _;
    let mut received = Vec::new();
    let closed = tokio::time::timeout(limit, async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    closed
        .ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn no_client_holds_a_connection_or_the_other_listener() {
    use tokio::{io::AsyncWriteExt as _, net::TcpStream};
    let browser = Browser::start(
        dev()
            .header_timeout(Duration::from_secs(1))
            .idle_timeout(Duration::from_secs(2))
            .request_timeout(Duration::from_secs(1)),
    )
    .await;
    let auth = browser.server.auth_addr();
    // Headers that never end: closed after the header timeout, not held for ever.
    let mut slow_headers = TcpStream::connect(auth).await.unwrap();
    slow_headers
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        until_closed(&mut slow_headers, Duration::from_secs(20))
            .await
            .is_some(),
        "half-sent headers hold the connection"
    );
    // A connection that says nothing at all: closed once idle too long.
    let mut silent = TcpStream::connect(auth).await.unwrap();
    assert!(
        until_closed(&mut silent, Duration::from_secs(20))
            .await
            .is_some(),
        "a silent connection stays open"
    );
    // A body that never arrives: 408, as JSON.
    let mut slow_body = TcpStream::connect(auth).await.unwrap();
    slow_body
        .write_all(
            b"POST /v1/apps/test_app/login/magic-link HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut slow_body, Duration::from_secs(20))
        .await
        .expect("the server answers a body that never comes");
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("\"code\":\"request_timeout\""),
        "{answer}"
    );

    // With room for four connections, four held (within the default timeouts): the fifth
    // waits, and the Management API still answers — a flood of one listener never takes the
    // other's connections.
    let browser = Browser::start(dev().max_connections(4)).await;
    let auth = browser.server.auth_addr();
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(auth).await.unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let fifth = tokio::spawn({
        let http = browser.http.clone();
        let url = format!("http://{auth}/v1/apps/test_app");
        async move { http.get(url).send().await.map(|r| r.status()) }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !fifth.is_finished(),
        "a fifth connection was served beside four held ones"
    );
    assert_eq!(
        manage(&browser, Method::GET, "/users").await,
        StatusCode::OK,
        "the Management API answers while the Authentication API is full"
    );
    drop(held);
    let status = tokio::time::timeout(Duration::from_secs(20), fifth)
        .await
        .expect("the fifth is served once the others close")
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);

    // Every refusal is JSON, a method a route does not answer included.
    let (status, body) = browser.call(Method::PUT, "/tokens", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["code"], "method_not_allowed", "{body}");
}

#[tokio::test]
async fn a_mailed_link_carries_only_its_own_secret() {
    let browser = Browser::start(dev().user(SeedUser::email("victim@example.com"))).await;
    // The attacker's own link secret, slipped into the path of a link mailed to the victim:
    // the element reads the first `psg_magic_link`, which would sign the victim in to the
    // attacker's account.
    let attacker = browser
        .mailed(
            "/register/magic-link",
            json!({ "identifier": "attacker@example.com", "magic_link_path": "/" }),
        )
        .await;
    let secret = attacker.link.split("psg_magic_link=").nth(1).unwrap();
    for path in [
        format!("/?psg_magic_link={secret}"),
        format!("/welcome?psg%5Fmagic%5Flink={secret}&next=%2Fhome"),
    ] {
        let mail = browser
            .mailed(
                "/login/magic-link",
                json!({ "identifier": "victim@example.com", "magic_link_path": path }),
            )
            .await;
        assert_eq!(
            mail.link.matches("psg_magic_link").count(),
            1,
            "{}",
            mail.link
        );
        assert!(!mail.link.contains(secret), "{}", mail.link);
    }
}
