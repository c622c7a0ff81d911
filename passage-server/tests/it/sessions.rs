//! Magic links through the development mailbox, refresh and sign-out, the production
//! switch, CORS, body limits and a restart on SQLite.

use std::time::Duration;

use passage_server::store::{SeedUser, UserQuery};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    authenticator::Authenticator,
    support::{API_KEY, Browser, ORIGIN, dev, subject},
};

/// The secret of a mailed link, as the element reads it from the page URL.
fn link_secret(mail: &passage_server::Mail) -> String {
    reqwest::Url::parse(&mail.link)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == "psg_magic_link")
        .map(|(_, v)| v.into_owned())
        .expect("psg_magic_link")
}

#[tokio::test]
async fn magic_link_sign_in_then_a_passkey() {
    let browser =
        Browser::start(dev().user(SeedUser::email("ada@example.com").with_id("imported-ada")))
            .await;
    let (_, app) = browser.call(Method::GET, "", None).await;
    assert_eq!(
        app["app"]["auth_methods"]["magic_link"]["ttl_display_unit"],
        "s"
    );
    assert!(
        app["app"]["auth_methods"].get("otp").is_none(),
        "no otp: the element would prefer it"
    );

    let before = browser.server.mailbox().len();
    let (status, sent) = browser
        .post("/login/magic-link", json!({ "identifier": "ADA@example.com", "language": "en", "magic_link_path": "/login?next=%2Fme#top" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let link_id = sent["magic_link"]["id"].as_str().unwrap().to_owned();
    let mailbox = browser.server.mailbox();
    assert_eq!(mailbox.len(), before + 1, "one message");
    let mail = mailbox.last().unwrap().clone();
    assert_eq!(mail.to, "ada@example.com");
    assert!(
        mail.link
            .starts_with("http://localhost:3000/login?next=%2Fme&psg_magic_link=ml"),
        "{}",
        mail.link
    );
    assert!(mail.link.ends_with("#top"));
    let secret = link_secret(&mail);

    let (status, _) = browser
        .post("/magic-link/status", json!({ "id": link_id }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not activated yet");

    let (status, activated) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{activated}");
    assert_eq!(subject(&activated["auth_result"]), "imported-ada");
    let (status, body) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("magic_link_not_found")),
        "a link works once"
    );

    let (status, waited) = browser
        .post("/magic-link/status", json!({ "id": link_id }))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the page that sent the link is signed in"
    );
    assert_eq!(subject(&waited["auth_result"]), "imported-ada");
    let (status, _) = browser
        .post("/magic-link/status", json!({ "id": link_id }))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "and only that one page");
    let ada = browser
        .server
        .store()
        .user("imported-ada")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ada.login_count, 1,
        "one link, one sign-in (the waiting page shares it)"
    );
    assert!(ada.email_verified, "opening the link verified her email");

    // An imported user without passkeys adds one after the magic link, then signs in with it.
    let token = activated["auth_result"]["auth_token"].as_str().unwrap();
    let mut key = Authenticator::new(ORIGIN);
    let (status, _) = browser.add_passkey(&mut key, token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, signed_in) = browser.sign_in(&mut key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(subject(&signed_in["auth_result"]), "imported-ada");
}

#[tokio::test]
async fn magic_links_refuse_what_they_should() {
    let browser = Browser::start(dev().magic_link_ttl(Duration::from_secs(1))).await;
    let (status, body) = browser
        .post(
            "/login/magic-link",
            json!({ "identifier": "nobody@example.com" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("user_not_found"))
    );
    let (status, _) = browser
        .post("/login/magic-link", json!({ "identifier": "+14155550100" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no text messages");
    assert!(browser.server.mailbox().is_empty());

    // Registering by link creates a pending user; a path off the origin is ignored.
    let mail = browser
        .mailed(
            "/register/magic-link",
            json!({ "identifier": "new@example.com", "magic_link_path": "//evil.example/x" }),
        )
        .await;
    assert!(
        mail.link
            .starts_with("http://localhost:3000/?psg_magic_link="),
        "{}",
        mail.link
    );
    let (_, lookup) = browser
        .call(Method::GET, "/users?identifier=new%40example.com", None)
        .await;
    assert_eq!(lookup["user"]["status"], "pending");
    // Nor can a path carry text into the mail, or lead off the origin once a browser strips a tab.
    for path in [
        "/\n\nURGENT: confirm at https://evil.example/\n",
        "/\t/evil.example/x",
        "/ok?x=1 y",
    ] {
        let mail = browser
            .mailed(
                "/login/magic-link",
                json!({ "identifier": "new@example.com", "magic_link_path": path }),
            )
            .await;
        assert!(
            mail.link
                .starts_with("http://localhost:3000/?psg_magic_link="),
            "{path:?} -> {}",
            mail.link
        );
    }

    // An expired link.
    let mail = browser
        .mailed(
            "/register/magic-link",
            json!({ "identifier": "new@example.com" }),
        )
        .await;
    let secret = link_secret(&mail);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an expired link is refused");
    let (_, lookup) = browser
        .call(Method::GET, "/users?identifier=new%40example.com", None)
        .await;
    assert_eq!(lookup["user"]["status"], "pending", "and changes nothing");
}

#[tokio::test]
async fn magic_links_to_one_address_are_limited() {
    let browser = Browser::start(
        dev()
            .magic_link_limit(2)
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let send = |path: &'static str, identifier: &'static str| {
        browser
            .http
            .post(browser.url(path))
            .json(&json!({ "identifier": identifier }))
            .send()
    };
    for identifier in ["ada@example.com", "ADA@Example.com"] {
        let response = send("/login/magic-link", identifier).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = send("/login/magic-link", "ada@example.com").await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=900).contains(&wait),
        "within the link lifetime: {wait}"
    );
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "too_many_requests");
    assert_eq!(browser.server.mailbox().len(), 2, "the third was not sent");
    let (status, _) = browser
        .post(
            "/login/magic-link",
            json!({ "identifier": "grace@example.com" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another address has its own count"
    );

    // A link to an address with no user is not counted (nothing was sent); a sign-up is, before
    // anything is stored: a refused one creates no user.
    for _ in 0..3 {
        let (status, _) = browser
            .post(
                "/login/magic-link",
                json!({ "identifier": "grace@example.com" }),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = browser
        .post(
            "/register/magic-link",
            json!({ "identifier": "grace@example.com" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "grace's failed logins were not counted"
    );
    browser
        .server
        .store()
        .delete_user(&browser.stored_user("grace@example.com").await.id)
        .await
        .unwrap();
    let (status, _) = browser
        .post(
            "/register/magic-link",
            json!({ "identifier": "grace@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let refused = send("/register/magic-link", "grace@example.com")
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(browser.server.mailbox().len(), 4);
    assert_eq!(
        browser
            .server
            .store()
            .list_users(&UserQuery::default())
            .await
            .unwrap()
            .total,
        2,
        "ada, and grace's one pending user: the refused sign-up stored nothing"
    );

    // Mailbox syntax cannot pass one address off as many.
    for disguised in [
        "a<ada@example.com>",
        "\"Team\"<ada@example.com>",
        "ada@example.com,x@y.z",
    ] {
        let (status, body) = browser
            .post("/register/magic-link", json!({ "identifier": disguised }))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_identifier")),
            "{disguised}"
        );
    }
}

#[tokio::test]
async fn tokens_are_checked_against_the_listener_itself_not_a_guessed_loopback_port() {
    // Bound to 127.0.0.2, the server must not fetch its keys from 127.0.0.1 on the same port,
    // where any local process could serve keys of its own and forge tokens.
    let browser = Browser::start(
        dev()
            .auth_bind("127.0.0.2:0".parse().unwrap())
            .user(SeedUser::email("victim@example.com").with_id("victim")),
    )
    .await;
    let port = browser.server.auth_addr().port();
    let forger = passage_server::Server::builder()
        .app_id(browser.server.app_id())
        .api_key("forger")
        .authentication_api(false)
        .api_bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .start()
        .await
        .expect("the squatting port is free");
    let forged = forger.mint_token("victim").unwrap();
    let (status, _) = browser
        .call_as(Method::GET, "/currentuser", None, Some(&forged))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a forged token is refused"
    );

    // The control: a token this server issued (a magic-link sign-in) passes.
    let mail = browser
        .mailed(
            "/login/magic-link",
            json!({ "identifier": "victim@example.com" }),
        )
        .await;
    let (status, signed_in) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": link_secret(&mail) })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");
    let genuine = signed_in["auth_result"]["auth_token"].as_str().unwrap();
    let (status, user) = browser
        .call_as(Method::GET, "/currentuser", None, Some(genuine))
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["user"]["id"], "victim");
}

#[tokio::test]
async fn refresh_rotates_and_sign_out_revokes() {
    let browser = Browser::start(dev()).await;
    let mut key = Authenticator::new(ORIGIN);
    let first = browser.register(&mut key, "ada@example.com").await;
    let refresh = |token: &Value| browser.post("/tokens", json!({ "refresh_token": token }));

    let (status, second) = refresh(&first["refresh_token"]).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(
        second["auth_result"]["refresh_token"], first["refresh_token"],
        "rotated"
    );
    assert_eq!(subject(&second["auth_result"]), subject(&first));
    let (status, body) = refresh(&first["refresh_token"]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_access_token")),
        "a refresh token works once"
    );

    let current = &second["auth_result"]["refresh_token"];
    let (status, _) = browser
        .call(
            Method::DELETE,
            &format!("/tokens?refresh_token={}", current.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        refresh(current).await.0,
        StatusCode::UNAUTHORIZED,
        "signed out"
    );
    let (status, _) = browser
        .call(Method::DELETE, "/tokens?refresh_token=unknown", None)
        .await;
    assert_eq!(status, StatusCode::OK, "signing out twice is fine");

    // The Management API's "revoke refresh tokens" reaches them too.
    let third = browser.sign_in(&mut key, None).await.1;
    let user_id = subject(&third["auth_result"]);
    browser
        .server
        .store()
        .revoke_sessions(&user_id)
        .await
        .unwrap();
    assert_eq!(
        refresh(&third["auth_result"]["refresh_token"]).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_element_gets_what_it_dereferences() {
    let browser = Browser::start(dev()).await;
    let (status, body) = browser.call(Method::GET, "", None).await;
    assert_eq!(status, StatusCode::OK);
    let app = &body["app"];
    assert_eq!(app["auth_origin"], ORIGIN);
    for array in [
        "/user_metadata_schema",
        "/layouts/registration",
        "/layouts/profile",
    ] {
        assert!(app.pointer(array).is_some_and(Value::is_array), "{array}");
    }
    assert_eq!(app["default_language"], "en");
    assert!(app["auth_methods"]["passkeys"].is_object());
    assert!(app["social_connections"].is_object());
    for theme in ["element_customization", "element_customization_dark"] {
        assert_eq!(
            app[theme].as_object().unwrap().len(),
            20,
            "{theme}: every field"
        );
    }
    let (status, _) = browser.call(Method::GET, "/../other_app", None).await;
    assert_ne!(status, StatusCode::OK);
    let other = format!("{}/v1/apps/other_app", browser.root());
    let response = browser.http.get(other).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "another app id is not found"
    );

    let locale = browser
        .http
        .get(format!(
            "{}/locales/passage-auth/v2/en.json",
            browser.root()
        ))
        .send()
        .await
        .unwrap();
    let strings: Value = locale.json().await.unwrap();
    assert!(strings["login-title"].is_string() || strings.as_object().unwrap().len() > 100);
    let script = browser
        .http
        .get(format!("{}/passage-fetch.js", browser.root()))
        .send()
        .await
        .unwrap();
    let script = script.text().await.unwrap();
    assert!(
        script.contains(browser.server.auth_url()) && script.contains("https://auth.passage.id/")
    );

    let (status, jwks) = browser
        .call(Method::GET, "/.well-known/jwks.json", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(jwks["keys"][0]["kid"].is_string());
}

#[tokio::test]
async fn cors_answers_the_app_origin_only() {
    let browser = Browser::start(dev()).await;
    let preflight = |origin: &'static str| {
        browser
            .http
            .request(
                Method::OPTIONS,
                format!("{}/v1/apps/test_app/login/webauthn/start", browser.root()),
            )
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "content-type,passage-version,passage-element-version",
            )
            .send()
    };
    let allowed = preflight(ORIGIN).await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], ORIGIN);
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        headers.contains("passage-element-version") && headers.contains("authorization"),
        "{headers}"
    );
    assert!(
        allowed.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PATCH")
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_and_change_nothing() {
    let browser = Browser::start(dev()).await;
    let huge =
        json!({ "identifier": "ada@example.com", "user_metadata": { "x": "y".repeat(100_000) } });
    let (status, _) = browser.post("/register/webauthn/start", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (_, lookup) = browser
        .call(Method::GET, "/users?identifier=ada%40example.com", None)
        .await;
    assert_eq!(lookup["user"], Value::Null);
    let (status, body) = browser
        .post("/users", json!({ "identifier": "not an email" }))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_identifier"))
    );

    // Metadata from a browser is ignored: the app declares no fields, and an app may keep
    // authorization data there.
    for path in ["/users", "/register/webauthn/start", "/register/magic-link"] {
        let identifier = format!("mallory{}@example.com", path.len());
        let (status, body) = browser
            .post(
                path,
                json!({ "identifier": identifier, "user_metadata": { "role": "admin" } }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let mallory = browser.stored_user(&identifier).await;
        assert!(
            mallory.user_metadata.as_ref().is_none_or(|m| m.is_empty()),
            "{path}: {:?}",
            mallory.user_metadata
        );
    }
}

#[tokio::test]
async fn production_has_no_development_routes_and_no_mailbox_links() {
    let dir = tempfile::tempdir().unwrap();
    let browser = Browser::start(dev().development(false).database(dir.path().join("p.db"))).await;
    let api = browser.server.api_url().to_owned();
    for path in [
        "/__emulator/token",
        "/__emulator/users",
        "/__emulator/faults",
    ] {
        let response = browser
            .http
            .post(format!("{api}{path}"))
            .json(&json!({"user_id": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let response = browser
        .http
        .get(format!("{}/__passage/mailbox", browser.root()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let (_, app) = browser.call(Method::GET, "", None).await;
    assert!(
        app["app"]["auth_methods"].get("magic_link").is_none(),
        "no SMTP, no magic links"
    );
    let (status, _) = browser
        .post(
            "/register/magic-link",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The Management API works, with the key.
    let users = browser
        .http
        .get(format!("{api}/v1/apps/test_app/users"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_restart_keeps_users_passkeys_keys_and_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("passage.db");
    let mut key = Authenticator::new(ORIGIN);
    let (user_id, token, refresh) = {
        let browser = Browser::start(dev().development(false).database(&db)).await;
        let result = browser.register(&mut key, "ada@example.com").await;
        browser.server.shutdown();
        (
            subject(&result),
            result["auth_token"].as_str().unwrap().to_owned(),
            result["refresh_token"].clone(),
        )
    };
    let browser = Browser::start(dev().development(false).database(&db)).await;
    assert_eq!(
        browser.validate(&token).await.unwrap(),
        user_id,
        "a token from before the restart validates"
    );
    let (status, again) = browser.sign_in(&mut key, None).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(
        subject(&again["auth_result"]),
        user_id,
        "the same user, by the same passkey"
    );
    let (status, refreshed) = browser
        .post("/tokens", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
}

/// Sends `GET {target}` as raw bytes (no client normalises the path) and reads the answer:
/// the status and the JSON body's `code`, if any.
async fn raw_get(addr: std::net::SocketAddr, target: &str) -> (u16, Option<String>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {answer:?}"));
    let code = answer
        .split("\r\n\r\n")
        .nth(1)
        .and_then(|body| serde_json::from_str::<Value>(body).ok())
        .and_then(|body| body["code"].as_str().map(str::to_owned));
    (status, code)
}

#[tokio::test]
async fn the_elements_bundle_is_served_and_nothing_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    // The layout npm makes: the bundle, and intl-tel-input beside it in node_modules.
    let modules = dir.path().join("node_modules");
    let bundle = modules.join("@passageidentity/passage-elements/dist/package");
    let vendor = modules.join("intl-tel-input/build");
    std::fs::create_dir_all(bundle.join("passage-auth")).unwrap();
    std::fs::create_dir_all(vendor.join("css")).unwrap();
    std::fs::write(
        bundle.join("passage-auth/index.es.js"),
        r#"link.href = "https://cdn.jsdelivr.net/npm/intl-tel-input@24.3.4/build/css/intlTelInput.css";"#,
    )
    .unwrap();
    std::fs::write(vendor.join("css/intlTelInput.css"), ".iti{}").unwrap();
    // What a path that climbs out of the bundle or the vendor directory would reach.
    std::fs::write(bundle.join("secret.js"), "secret").unwrap();
    for above in [bundle.parent().unwrap(), &modules] {
        std::fs::write(above.join("secret.js"), "secret").unwrap();
    }
    std::fs::write(bundle.join("notes.txt"), "text").unwrap();
    let browser = Browser::start(dev().elements_dir(&bundle)).await;
    let get = |path: &str| {
        browser
            .http
            .get(format!("{}{path}", browser.root()))
            .header("Origin", ORIGIN)
            .send()
    };
    let script = get("/elements/passage-auth/index.es.js").await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(
        script.headers()["access-control-allow-origin"],
        ORIGIN,
        "module scripts load in CORS mode"
    );
    assert_eq!(
        script.text().await.unwrap(),
        format!(
            r#"link.href = "{}/vendor/intl-tel-input/css/intlTelInput.css";"#,
            browser.server.auth_url()
        ),
        "the phone input's files come from this server, not a CDN"
    );
    let css = get("/vendor/intl-tel-input/css/intlTelInput.css")
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(css.text().await.unwrap(), ".iti{}");

    // The handlers' own refusal (`file_not_found`), reached with the raw paths: a client would
    // normalise `..` away and hit the router's fallback (`not_found`) instead.
    let addr = browser.server.auth_addr();
    assert_eq!(
        raw_get(addr, "/elements/secret.js").await,
        (200, None),
        "the control: a file in the bundle"
    );
    for target in [
        "/elements/../secret.js",
        "/elements/%2e%2e/secret.js",
        "/elements/passage-auth/../../secret.js",
        "/elements/passage-auth/..%2f..%2fsecret.js",
        "/elements/./secret.js",
        "/elements//secret.js",
        "/elements/passage-auth\\..\\..\\secret.js",
        "/elements/notes.txt",
        "/elements/missing.js",
        "/vendor/intl-tel-input/../../secret.js",
        "/vendor/intl-tel-input/css/../../../secret.js",
    ] {
        assert_eq!(
            raw_get(addr, target).await,
            (404, Some("file_not_found".to_owned())),
            "{target}"
        );
    }
    assert_eq!(
        raw_get(addr, "/nothing-here").await,
        (404, Some("not_found".to_owned())),
        "the router's fallback is told apart"
    );
}

#[tokio::test]
async fn with_verification_required_sign_up_is_by_magic_link_then_a_passkey() {
    let refused = passage_server::Server::builder()
        .api_key(API_KEY)
        .require_identifier_verification(true)
        .start()
        .await;
    assert!(
        refused.is_err(),
        "no SMTP, no development mode: nothing could verify"
    );

    let browser = Browser::start(dev().require_identifier_verification(true)).await;
    let (_, app) = browser.call(Method::GET, "", None).await;
    assert_eq!(app["app"]["require_identifier_verification"], true);
    let (status, body) = browser
        .post(
            "/register/webauthn/start",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (
            StatusCode::FORBIDDEN,
            Some("identifier_verification_required")
        )
    );

    let mail = browser
        .mailed(
            "/register/magic-link",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    let secret = link_secret(&mail);
    let (_, activated) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    let token = activated["auth_result"]["auth_token"].as_str().unwrap();
    let mut key = Authenticator::new(ORIGIN);
    let (status, _) = browser.add_passkey(&mut key, token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, signed_in) = browser.sign_in(&mut key, Some("ada@example.com")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        subject(&signed_in["auth_result"]),
        subject(&activated["auth_result"])
    );
}
