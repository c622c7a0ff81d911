//! One-time passcodes as passage-elements uses them: `/login/otp`, `/register/otp`,
//! `/otp/activate` — single use, a few wrong tries per code, expiry, a limit per normalised
//! address, kept hashed in the store (so another replica checks them), and offered only when
//! the app offers them.

use std::{sync::Arc, time::Duration};

use passage_server::{
    AuthMethods, ServerError,
    store::{MemoryStore, SeedUser, Store, hash},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Browser, dev, subject};

pub(crate) fn with_otp() -> AuthMethods {
    AuthMethods {
        passkeys: true,
        otp: true,
        magic_link: false,
    }
}

/// Asks for a code at `path` for `identifier`: the otp id and the code the mailbox got.
pub(crate) async fn code_for(browser: &Browser, path: &str, identifier: &str) -> (String, String) {
    let before = browser.server.mailbox().len();
    let (status, body) = browser
        .post(path, json!({ "identifier": identifier, "language": "en" }))
        .await;
    assert_eq!(status, StatusCode::OK, "POST {path}: {body}");
    let otp_id = body["otp_id"].as_str().expect("an otp_id").to_owned();
    let mailbox = browser.server.mailbox();
    assert_eq!(mailbox.len(), before + 1, "exactly one message");
    let mail = mailbox.last().unwrap();
    assert_eq!(mail.to, identifier.trim().to_lowercase());
    assert_eq!(mail.code.len(), 6, "six digits: {mail:?}");
    assert!(mail.code.bytes().all(|b| b.is_ascii_digit()));
    assert!(mail.text.contains(&mail.code), "the text carries the code");
    (otp_id, mail.code.clone())
}

pub(crate) async fn activate(browser: &Browser, otp_id: &str, code: &str) -> (StatusCode, Value) {
    browser
        .post("/otp/activate", json!({ "otp": code, "otp_id": otp_id }))
        .await
}

/// A wrong code beside `code` (same length, another value).
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

fn code_of(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

#[tokio::test]
async fn a_code_registers_signs_in_once_and_is_kept_hashed() {
    let browser = Browser::start(dev().auth_methods(with_otp())).await;
    let (otp_id, code) = code_for(&browser, "/register/otp", "Ada@Example.com").await;
    // Only the hash of its id and digits is kept: no digits, no secret.
    let kept = browser
        .server
        .store()
        .magic_link(&otp_id)
        .await
        .unwrap()
        .expect("the code is in the store");
    assert!(kept.code && kept.secret.is_empty() && kept.url.is_empty());
    assert_ne!(kept.secret_hash, hash(&code));
    assert!(!kept.secret_hash.contains(&code));
    assert_eq!(kept.secret_hash, hash(&format!("otp:{otp_id}:{code}")));

    let (status, body) = activate(&browser, &otp_id, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let result = &body["auth_result"];
    assert!(!result["redirect_url"].as_str().unwrap().is_empty());
    let user_id = subject(result);
    assert_eq!(
        browser
            .validate(result["auth_token"].as_str().unwrap())
            .await
            .unwrap(),
        user_id
    );
    let user = browser.stored_user("ada@example.com").await;
    assert_eq!(user.id, user_id);
    assert_eq!(user.status, "active");
    assert!(user.email_verified, "the code proved the address");

    // Single use: the same code again is unknown.
    let (status, body) = activate(&browser, &otp_id, &code).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::NOT_FOUND, Some("otp_not_found"))
    );
    // And the user signs in again with a new code (the login route).
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    let (status, body) = activate(&browser, &otp_id, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(subject(&body["auth_result"]), user_id);
}

#[tokio::test]
async fn a_registration_resent_by_the_login_route_signs_the_pending_user_in() {
    // The element's "Resend code" always calls /login/otp, also in the middle of a sign-up.
    let browser = Browser::start(dev().auth_methods(with_otp())).await;
    let (first_id, _) = code_for(&browser, "/register/otp", "new@example.com").await;
    assert_eq!(
        browser.stored_user("new@example.com").await.status,
        "pending"
    );
    let (otp_id, code) = code_for(&browser, "/login/otp", "new@example.com").await;
    assert_ne!(otp_id, first_id);
    let (status, body) = activate(&browser, &otp_id, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = browser.stored_user("new@example.com").await;
    assert_eq!(
        (user.status.as_str(), user.email_verified),
        ("active", true)
    );
    // A code for nobody is not sent.
    let (status, body) = browser
        .post("/login/otp", json!({ "identifier": "nobody@example.com" }))
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::NOT_FOUND, Some("user_not_found"))
    );
}

#[tokio::test]
async fn wrong_tries_kill_the_code_even_for_the_right_digits() {
    let browser = Browser::start(
        dev()
            .auth_methods(with_otp())
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    for _ in 0..4 {
        let (status, body) = activate(&browser, &otp_id, &wrong(&code)).await;
        assert_eq!(
            (status, code_of(&body)),
            (StatusCode::BAD_REQUEST, Some("invalid_otp"))
        );
    }
    // The fifth wrong try kills it: 401, which the element shows as "too many attempts".
    let (status, body) = activate(&browser, &otp_id, &wrong(&code)).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::UNAUTHORIZED, Some("otp_attempts_exceeded"))
    );
    let (status, body) = activate(&browser, &otp_id, &code).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::UNAUTHORIZED, Some("otp_attempts_exceeded")),
        "dead, even for the right code"
    );
    // The control: a new code, right the first time, signs in.
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    let (status, body) = activate(&browser, &otp_id, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Malformed codes are refused before the store, and count for nothing.
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    for malformed in ["12345", "1234567", "12345a", ""] {
        let (status, body) = activate(&browser, &otp_id, malformed).await;
        assert_eq!(
            (status, code_of(&body)),
            (StatusCode::BAD_REQUEST, Some("invalid_request"))
        );
    }
    assert_eq!(activate(&browser, &otp_id, &code).await.0, StatusCode::OK);
}

#[tokio::test]
async fn guesses_sent_at_once_are_all_counted() {
    let browser = Browser::start(
        dev()
            .auth_methods(with_otp())
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    // Twenty different wrong codes at once: the store counts each in its own atomic step, so
    // exactly four are "wrong" and the rest find the code dead, whatever their order.
    let guesses: Vec<String> = (1..=20)
        .map(|i| format!("{:06}", (code.parse::<u32>().unwrap() + i) % 1_000_000))
        .collect();
    let answers = futures_util::future::join_all(
        guesses
            .iter()
            .map(|guess| activate(&browser, &otp_id, guess)),
    )
    .await;
    let wrong = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::BAD_REQUEST && code_of(b) == Some("invalid_otp"))
        .count();
    let dead = answers
        .iter()
        .filter(|(s, b)| {
            *s == StatusCode::UNAUTHORIZED && code_of(b) == Some("otp_attempts_exceeded")
        })
        .count();
    assert_eq!((wrong, dead), (4, 16), "{answers:?}");
    assert_eq!(
        activate(&browser, &otp_id, &code).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_code_expires() {
    let browser = Browser::start(
        dev()
            .auth_methods(with_otp())
            .otp_ttl(Duration::from_secs(1))
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let (_, app) = browser.call(Method::GET, "", None).await;
    assert_eq!(app["app"]["auth_methods"]["otp"]["ttl"], 1);
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (status, body) = activate(&browser, &otp_id, &code).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::NOT_FOUND, Some("otp_not_found"))
    );
    // The control: a code used within its lifetime.
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    assert_eq!(activate(&browser, &otp_id, &code).await.0, StatusCode::OK);
}

#[tokio::test]
async fn codes_and_links_to_one_normalised_address_share_a_limit() {
    let browser = Browser::start(
        dev()
            .auth_methods(AuthMethods {
                passkeys: true,
                otp: true,
                magic_link: true,
            })
            .magic_link_limit(3)
            .user(SeedUser::email("ada@example.com"))
            .user(SeedUser::email("grace@example.com")),
    )
    .await;
    // One mailbox written three ways (case, white space, fullwidth letters): one count.
    code_for(&browser, "/login/otp", "Ada@Example.com").await;
    code_for(&browser, "/login/otp", " ada@example.COM ").await;
    browser
        .mailed(
            "/login/magic-link",
            json!({ "identifier": "ａｄａ@example.com" }),
        )
        .await;
    let refused = browser
        .http
        .post(browser.url("/login/otp"))
        .json(&json!({ "identifier": "ada@example.com", "language": "en" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "too_many_requests");
    assert_eq!(browser.server.mailbox().len(), 3, "the fourth was not sent");
    // The control: another address is not held back.
    code_for(&browser, "/login/otp", "grace@example.com").await;
}

#[tokio::test]
async fn a_code_is_never_opened_as_a_link() {
    let browser = Browser::start(
        dev()
            .auth_methods(with_otp())
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    // The record's hash is that of `otp:{id}:{code}`: presented as a link's secret, it would
    // match — and a guesser would get unlimited tries. It must be refused as unknown.
    for guess in [wrong(&code), code.clone()] {
        let (status, body) = browser
            .call(
                Method::PATCH,
                "/magic-link/activate",
                Some(json!({ "magic_link": format!("mlotp:{otp_id}:{guess}") })),
            )
            .await;
        assert_eq!(
            (status, code_of(&body)),
            (StatusCode::NOT_FOUND, Some("magic_link_not_found"))
        );
    }
    // Nothing was spent: the code still signs in.
    assert_eq!(activate(&browser, &otp_id, &code).await.0, StatusCode::OK);
}

#[tokio::test]
async fn another_replica_checks_the_code_and_counts_the_same_tries() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let one = Browser::start(
        dev()
            .store(Arc::clone(&store))
            .auth_methods(with_otp())
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let two = Browser::start(dev().store(Arc::clone(&store)).auth_methods(with_otp())).await;
    let (otp_id, code) = code_for(&one, "/login/otp", "ada@example.com").await;
    for browser in [&one, &two, &one, &two] {
        assert_eq!(
            activate(browser, &otp_id, &wrong(&code)).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    assert_eq!(
        activate(&two, &otp_id, &wrong(&code)).await.0,
        StatusCode::UNAUTHORIZED,
        "the fifth wrong try, wherever it lands"
    );
    let (otp_id, code) = code_for(&one, "/login/otp", "ada@example.com").await;
    assert_eq!(activate(&two, &otp_id, &code).await.0, StatusCode::OK);
}

#[tokio::test]
async fn sqlite_keeps_codes_and_their_tries_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let browser = Browser::start(
        dev()
            .database(&db)
            .auth_methods(with_otp())
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    let (second_id, second) = code_for(&browser, "/login/otp", "ada@example.com").await;
    for _ in 0..3 {
        assert_eq!(
            activate(&browser, &otp_id, &wrong(&code)).await.0,
            StatusCode::BAD_REQUEST
        );
    }
    browser.stop().await;
    let browser = Browser::start(dev().database(&db).auth_methods(with_otp())).await;
    assert_eq!(
        activate(&browser, &otp_id, &wrong(&code)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        activate(&browser, &otp_id, &wrong(&code)).await.0,
        StatusCode::UNAUTHORIZED,
        "three tries before the restart, two after"
    );
    assert_eq!(
        activate(&browser, &second_id, &second).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_inactive_users_code_changes_nothing() {
    let browser = Browser::start(
        dev()
            .auth_methods(with_otp())
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    let user = browser.stored_user("ada@example.com").await;
    browser
        .server
        .store()
        .set_status(&user.id, "inactive")
        .await
        .unwrap();
    let (status, body) = activate(&browser, &otp_id, &code).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::FORBIDDEN, Some("user_inactive"))
    );
    let (status, body) = browser
        .post("/login/otp", json!({ "identifier": "ada@example.com" }))
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::FORBIDDEN, Some("user_inactive"))
    );
    browser
        .server
        .store()
        .set_status(&user.id, "active")
        .await
        .unwrap();
    assert_eq!(
        activate(&browser, &otp_id, &code).await.0,
        StatusCode::OK,
        "the refused try was not counted or spent"
    );
}

#[tokio::test]
async fn app_info_offers_what_the_server_does_and_nothing_else() {
    // The default: passkeys and magic links, no codes.
    let browser = Browser::start(dev().user(SeedUser::email("ada@example.com"))).await;
    let (_, app) = browser.call(Method::GET, "", None).await;
    let methods = &app["app"]["auth_methods"];
    assert!(methods["passkeys"].is_object() && methods["magic_link"].is_object());
    assert!(methods.get("otp").is_none(), "{methods}");
    assert_eq!(app["app"]["auth_fallback_method"], "magic_link");
    let (status, body) = browser
        .post("/login/otp", json!({ "identifier": "ada@example.com" }))
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, Some("otp_unavailable"))
    );
    let (status, body) = activate(&browser, "x", "123456").await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, Some("otp_unavailable"))
    );
    assert!(browser.server.mailbox().is_empty());

    // Codes only: no passkey ceremony, no link.
    let browser = Browser::start(
        dev()
            .auth_methods("otp".parse().unwrap())
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let (_, app) = browser.call(Method::GET, "", None).await;
    let methods = &app["app"]["auth_methods"];
    assert_eq!(
        methods,
        &json!({ "otp": { "ttl": 300, "ttl_display_unit": "s" } })
    );
    assert_eq!(app["app"]["auth_fallback_method"], "otp");
    // The Management API's app info says the same, in its own shape.
    let managed: Value = browser
        .http
        .get(format!(
            "{}/v1/apps/{}",
            browser.server.api_url(),
            browser.server.app_id()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        managed["app"]["auth_methods"],
        json!({
            "passkeys": { "enabled": false },
            "otp": { "enabled": true, "ttl": 300, "ttl_display_unit": "s" },
            "magic_link": { "enabled": false, "ttl": 900, "ttl_display_unit": "s" },
        })
    );
    assert_eq!(managed["app"]["auth_fallback_method"], "otp");
    assert_eq!(managed["app"]["allowed_identifier"], "email");
    let (status, body) = browser
        .post(
            "/register/webauthn/start",
            json!({ "identifier": "new@example.com" }),
        )
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, Some("passkeys_unavailable"))
    );
    let (status, body) = browser.post("/login/webauthn/start", json!({})).await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, Some("passkeys_unavailable"))
    );
    let (status, body) = browser
        .post(
            "/login/magic-link",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, Some("magic_link_unavailable"))
    );
    code_for(&browser, "/login/otp", "ada@example.com").await;
}

#[tokio::test]
async fn codes_that_cannot_be_sent_are_a_configuration_error() {
    // Production without SMTP cannot send codes by mail: refused at start, not at sign-in.
    let err = dev()
        .development(false)
        .auth_methods(with_otp())
        .start()
        .await
        .unwrap_err();
    match err {
        ServerError::Config(message) => assert!(message.contains("SMTP"), "{message}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
    // The control: passkeys alone need nothing sent.
    let server = dev()
        .development(false)
        .auth_methods("passkeys".parse().unwrap())
        .start()
        .await;
    assert!(server.is_ok());
}
