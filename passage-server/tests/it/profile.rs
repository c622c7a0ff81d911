//! What `<passage-profile>` changes, and the app's declared user fields: every change needs a
//! recent sign-in; a new email or phone takes effect only once its link is opened, and the old
//! address is told; metadata is typed, size-limited and limited to declared fields from the
//! browser, and checked on the Management API too; passkeys are renamed.

use std::time::Duration;

use passage_server::{AuthMethods, Identifiers, UserFields, store::SeedUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    authenticator::Authenticator,
    otp::{activate, code_for},
    support::{API_KEY, Browser, ORIGIN, dev},
};

fn codes() -> AuthMethods {
    AuthMethods {
        passkeys: true,
        otp: true,
        magic_link: false,
    }
}

fn fields() -> UserFields {
    UserFields::from_json(
        r#"{"user_metadata_schema": [
            {"id": "f-company", "field_name": "company", "friendly_name": "Company", "type": "string", "registration": true, "profile": true},
            {"id": "f-news", "field_name": "newsletter", "friendly_name": "Newsletter", "type": "boolean", "registration": true},
            {"id": "f-seats", "field_name": "seats", "friendly_name": "Seats", "type": "integer", "profile": true},
            {"id": "f-born", "field_name": "born", "friendly_name": "Born", "type": "date", "profile": true}
        ]}"#,
    )
    .unwrap()
}

/// Signs `identifier` in with a code: the auth token.
async fn signed_in(browser: &Browser, identifier: &str) -> String {
    let (otp_id, code) = code_for(browser, "/login/otp", identifier).await;
    let (status, body) = activate(browser, &otp_id, &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["auth_result"]["auth_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn as_user(
    browser: &Browser,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    browser.call_as(method, path, body, Some(token)).await
}

fn code_of(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

/// A Management API call with the API key.
async fn manage(browser: &Browser, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let response = browser
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
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_new_email_takes_effect_only_once_its_link_is_opened_and_the_old_one_is_told() {
    let browser = Browser::start(
        dev()
            .auth_methods(codes())
            .login_url("/sign-in")
            .user(SeedUser::email("ada@example.com"))
            .user(SeedUser::email("grace@example.com")),
    )
    .await;
    let token = signed_in(&browser, "ada@example.com").await;
    let user_id = browser.stored_user("ada@example.com").await.id;

    // Another account's address is refused (the element asks GET /users first, the server
    // checks itself).
    let (status, body) = as_user(
        &browser,
        &token,
        Method::PATCH,
        "/currentuser/email",
        Some(json!({ "new_email": "grace@example.com" })),
    )
    .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::CONFLICT, Some("identifier_already_exists"))
    );

    let before = browser.server.mailbox().len();
    let (status, body) = as_user(
        &browser,
        &token,
        Method::PATCH,
        "/currentuser/email",
        Some(json!({ "new_email": " Ada.New@Example.com " })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["magic_link"]["id"].is_string());
    // Nothing changed yet.
    assert_eq!(browser.stored_user("ada@example.com").await.id, user_id);
    let mailbox = browser.server.mailbox();
    assert_eq!(mailbox.len(), before + 1);
    let mail = mailbox.last().unwrap().clone();
    assert_eq!(mail.to, "ada.new@example.com");
    assert!(
        mail.link
            .starts_with(&format!("{ORIGIN}/sign-in?psg_verify_link=ml")),
        "to the app's login_url, as a verify link: {}",
        mail.link
    );
    let secret = mail.link.split("psg_verify_link=").nth(1).unwrap();
    let (status, body) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["auth_result"]["auth_token"].is_string(), "signed in");
    let user = browser.stored_user("ada.new@example.com").await;
    assert_eq!(user.id, user_id);
    assert!(user.email_verified);
    let (_, lookup) = browser
        .call(Method::GET, "/users?identifier=ada%40example.com", None)
        .await;
    assert_eq!(
        lookup["user"],
        Value::Null,
        "the old address signs in no more"
    );
    let told = browser.server.mailbox().last().unwrap().clone();
    assert_eq!(told.to, "ada@example.com", "the old address is told");
    assert!(told.text.contains("ada.new@example.com"), "{}", told.text);
    // Single use.
    let (status, _) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_address_taken_before_the_link_is_opened_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for database in [None, Some(dir.path().join("p.db"))] {
        let mut builder = dev()
            .auth_methods(codes())
            .user(SeedUser::email("ada@example.com"));
        if let Some(db) = &database {
            builder = builder.database(db);
        }
        let browser = Browser::start(builder).await;
        let token = signed_in(&browser, "ada@example.com").await;
        let (status, _) = as_user(
            &browser,
            &token,
            Method::PATCH,
            "/currentuser/email",
            Some(json!({ "new_email": "new@example.com" })),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let link = browser.server.mailbox().last().unwrap().link.clone();
        // Someone signs up with the address in between.
        let (status, _) = browser
            .post("/users", json!({ "identifier": "new@example.com" }))
            .await;
        assert_eq!(status, StatusCode::OK);
        let secret = link.split("psg_verify_link=").nth(1).unwrap();
        let (status, body) = browser
            .call(
                Method::PATCH,
                "/magic-link/activate",
                Some(json!({ "magic_link": secret })),
            )
            .await;
        assert_eq!(
            (status, code_of(&body)),
            (StatusCode::CONFLICT, Some("conflict")),
            "{database:?}"
        );
        let user = browser.stored_user("ada@example.com").await;
        assert_eq!(user.email, "ada@example.com", "{database:?}: unchanged");
        browser.stop().await;
    }
}

#[tokio::test]
async fn phones_change_by_text_message_and_an_identifier_goes_only_when_another_stays() {
    let browser = Browser::start(
        dev()
            .auth_methods(codes())
            .identifiers(Identifiers::Both)
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let token = signed_in(&browser, "ada@example.com").await;
    // Removing the only identifier is refused.
    let (status, body) = as_user(
        &browser,
        &token,
        Method::PATCH,
        "/currentuser/email",
        Some(json!({ "new_email": "" })),
    )
    .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, Some("identifier_required"))
    );
    let (status, body) = as_user(
        &browser,
        &token,
        Method::PATCH,
        "/currentuser/phone",
        Some(json!({ "new_phone": "+1 415 555 0101" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = browser.server.mailbox().last().unwrap().clone();
    assert_eq!(
        text.to, "+14155550101",
        "a text message (the development mailbox)"
    );
    let secret = text.link.split("psg_verify_link=").nth(1).unwrap();
    let (status, _) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let user = browser.stored_user("+14155550101").await;
    assert!(user.phone_verified && user.email == "ada@example.com");
    // Now the email may go: at once, and the removed address is told.
    let (status, body) = as_user(
        &browser,
        &token,
        Method::PATCH,
        "/currentuser/email",
        Some(json!({ "new_email": "" })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = browser.stored_user("+14155550101").await;
    assert_eq!(user.email, "");
    assert_eq!(
        browser.server.mailbox().last().unwrap().to,
        "ada@example.com"
    );
    // And the phone may not, now.
    let (status, body) = as_user(
        &browser,
        &token,
        Method::PATCH,
        "/currentuser/phone",
        Some(json!({ "new_phone": "" })),
    )
    .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, Some("identifier_required"))
    );
}

#[tokio::test]
async fn every_change_needs_a_recent_sign_in_and_a_refresh_is_not_one() {
    let browser = Browser::start(
        dev()
            .auth_methods(codes())
            .user_fields(fields())
            .recent_sign_in(Duration::from_secs(1))
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    let (otp_id, code) = code_for(&browser, "/login/otp", "ada@example.com").await;
    let (_, body) = activate(&browser, &otp_id, &code).await;
    let token = body["auth_result"]["auth_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh = body["auth_result"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let changes = [
        (
            "/currentuser/user-metadata",
            json!({ "user_metadata": { "company": "ACME" } }),
        ),
        (
            "/currentuser/email",
            json!({ "new_email": "new@example.com" }),
        ),
        ("/currentuser/devices/nope", json!({ "friendly_name": "x" })),
    ];
    // The control, while the sign-in is recent: the metadata change passes.
    let (status, body) = as_user(
        &browser,
        &token,
        Method::PATCH,
        changes[0].0,
        Some(changes[0].1.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Past the window (whole seconds: two of them), even with a refreshed token.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, refreshed) = browser
        .post("/tokens", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let refreshed = refreshed["auth_result"]["auth_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mails = browser.server.mailbox().len();
    for token in [&token, &refreshed] {
        for (path, body) in &changes {
            let (status, answer) =
                as_user(&browser, token, Method::PATCH, path, Some(body.clone())).await;
            assert_eq!(
                (status, code_of(&answer)),
                (StatusCode::FORBIDDEN, Some("recent_sign_in_required")),
                "{path}"
            );
        }
    }
    assert_eq!(browser.server.mailbox().len(), mails, "no link was sent");
    // Reading needs no recent sign-in.
    let (status, body) = as_user(
        &browser,
        &refreshed,
        Method::GET,
        "/currentuser/user-metadata",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user_metadata"], json!({ "company": "ACME" }));
    let (status, body) = as_user(
        &browser,
        &refreshed,
        Method::GET,
        "/currentuser/social-connections",
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "social_connections": {} }))
    );
    let (status, body) = browser
        .call(Method::GET, "/currentuser/user-metadata", None)
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::UNAUTHORIZED, Some("invalid_access_token")),
        "reading needs a token"
    );
}

#[tokio::test]
async fn metadata_is_typed_limited_and_declared_from_the_browser() {
    let browser = Browser::start(dev().auth_methods(codes()).user_fields(fields())).await;
    // App info serves the schema with its layouts (derived from the flags).
    let (_, app) = browser.call(Method::GET, "", None).await;
    assert_eq!(
        app["app"]["user_metadata_schema"][0]["field_name"],
        "company"
    );
    assert_eq!(
        app["app"]["layouts"]["registration"],
        json!([
            {"id": "f-company", "x": 0, "y": 0, "w": 6, "h": 1},
            {"id": "f-news", "x": 0, "y": 1, "w": 6, "h": 1}
        ])
    );
    // Registration: the fields asked at registration, typed; the rest ignored.
    let (status, body) = browser
        .post(
            "/users",
            json!({ "identifier": "ada@example.com",
                    "user_metadata": { "company": 7, "newsletter": true } }),
        )
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, Some("invalid_user_metadata"))
    );
    let (status, body) = browser
        .post(
            "/users",
            json!({ "identifier": "ada@example.com",
                    "user_metadata": { "company": "ACME", "newsletter": true,
                                       "role": "admin", "seats": 99 } }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["user"]["user_metadata"],
        json!({ "company": "ACME", "newsletter": true })
    );
    // The app's backend sets its own key.
    let user_id = body["user"]["id"].as_str().unwrap().to_owned();
    let (status, body) = manage(
        &browser,
        Method::PATCH,
        &format!("/users/{user_id}"),
        json!({ "user_metadata": { "company": "ACME", "newsletter": true, "role": "member" } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let token = signed_in(&browser, "ada@example.com").await;
    for (bad, why) in [
        (json!({ "seats": "99" }), "whole number"),
        (json!({ "seats": 1.5 }), "whole number"),
        (json!({ "born": "1990-13-01" }), "date"),
        (json!({ "company": "x".repeat(257) }), "at most 256"),
        (json!({ "company": "a\u{0007}b" }), "control"),
    ] {
        let (status, body) = as_user(
            &browser,
            &token,
            Method::PATCH,
            "/currentuser/user-metadata",
            Some(json!({ "user_metadata": bad })),
        )
        .await;
        assert_eq!(
            (status, code_of(&body)),
            (StatusCode::BAD_REQUEST, Some("invalid_user_metadata")),
            "{bad}"
        );
        assert!(body["error"].as_str().unwrap().contains(why), "{body}");
    }
    // The element sends the whole object back, edited: only the profile's fields change.
    let (status, body) = as_user(
        &browser,
        &token,
        Method::PATCH,
        "/currentuser/user-metadata",
        Some(json!({ "user_metadata": {
            "company": "ACME 2", "newsletter": false, "role": "admin", "seats": 3,
            "born": "1990-02-28", "injected": "x" } })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["user"]["webauthn_devices"].is_array(),
        "the whole user"
    );
    assert_eq!(
        body["user"]["user_metadata"],
        json!({ "company": "ACME 2", "newsletter": true, "role": "member", "seats": 3,
                "born": "1990-02-28" })
    );
    // An oversized body is refused before anything is read.
    let (status, _) = as_user(
        &browser,
        &token,
        Method::PATCH,
        "/currentuser/user-metadata",
        Some(json!({ "user_metadata": { "company": "x".repeat(70 * 1024) } })),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn the_management_api_checks_declared_fields_and_keeps_the_apps_own() {
    let browser = Browser::start(dev().user_fields(fields())).await;
    let (status, body) = manage(
        &browser,
        Method::POST,
        "/users",
        json!({ "email": "ada@example.com", "user_metadata": { "seats": "two" } }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "invalid_request", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("user_metadata.seats"),
        "{body}"
    );
    let (status, body) = manage(
        &browser,
        Method::POST,
        "/users",
        json!({ "email": "ada@example.com",
                "user_metadata": { "seats": 2, "plan": "pro", "tags": ["a"] } }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["user"]["user_metadata"],
        json!({ "seats": 2, "plan": "pro", "tags": ["a"] })
    );
    let (status, app) = manage(&browser, Method::GET, "", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app["app"]["user_metadata_schema"].as_array().unwrap().len(),
        4
    );
    assert!(app["app"]["layouts"]["profile"].is_array());
}

#[tokio::test]
async fn passkeys_are_renamed_by_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let browser = Browser::start(dev().database(&db)).await;
    let mut key = Authenticator::new(ORIGIN);
    let ada = browser.register(&mut key, "ada@example.com").await;
    let token = ada["auth_token"].as_str().unwrap().to_owned();
    let mut other = Authenticator::new(ORIGIN);
    let grace = browser.register(&mut other, "grace@example.com").await;
    let grace_device = browser
        .stored_user("grace@example.com")
        .await
        .webauthn_devices[0]
        .id
        .clone();
    let device = browser
        .stored_user("ada@example.com")
        .await
        .webauthn_devices[0]
        .id
        .clone();
    for bad in [json!(""), json!("x".repeat(65)), json!("a\nb")] {
        let (status, body) = as_user(
            &browser,
            &token,
            Method::PATCH,
            &format!("/currentuser/devices/{device}"),
            Some(json!({ "friendly_name": bad })),
        )
        .await;
        assert_eq!(
            (status, code_of(&body)),
            (StatusCode::BAD_REQUEST, Some("invalid_request"))
        );
    }
    let (status, body) = as_user(
        &browser,
        &token,
        Method::PATCH,
        &format!("/currentuser/devices/{grace_device}"),
        Some(json!({ "friendly_name": "mine now" })),
    )
    .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::NOT_FOUND, Some("device_not_found"))
    );
    let (status, body) = as_user(
        &browser,
        &token,
        Method::PATCH,
        &format!("/currentuser/devices/{device}"),
        Some(json!({ "friendly_name": " Work laptop " })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["device"]["friendly_name"], "Work laptop");
    assert_eq!(body["device"]["id"], device.as_str());
    let _ = grace;
    browser.stop().await;
    let browser = Browser::start(dev().database(&db)).await;
    let user = browser.stored_user("ada@example.com").await;
    assert_eq!(
        user.webauthn_devices[0].friendly_name, "Work laptop",
        "kept"
    );
    assert_ne!(
        browser
            .stored_user("grace@example.com")
            .await
            .webauthn_devices[0]
            .friendly_name,
        "mine now"
    );
}
