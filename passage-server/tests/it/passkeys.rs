//! Passkeys end to end with a software authenticator: registration, sign-in with and without
//! an identifier, adding a passkey, and every hostile variation refused with nothing changed.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    authenticator::{Authenticator, b64},
    support::{Browser, ORIGIN, dev, subject},
};

#[tokio::test]
async fn register_then_sign_in_with_and_without_identifier() {
    let browser = Browser::start(dev()).await;
    let mut phone = Authenticator::new(ORIGIN);

    let (_, lookup) = browser
        .call(Method::GET, "/users?identifier=ada%40example.com", None)
        .await;
    assert_eq!(
        lookup,
        json!({ "user": null }),
        "an unknown user is null, not an error"
    );

    let registered = browser.register(&mut phone, "Ada@Example.com").await;
    let user_id = subject(&registered);
    assert!(
        registered["refresh_token"]
            .as_str()
            .is_some_and(|t| t.len() >= 40)
    );
    assert_eq!(registered["redirect_url"], "/");
    assert_eq!(
        browser
            .validate(registered["auth_token"].as_str().unwrap())
            .await
            .unwrap(),
        user_id
    );

    let (status, lookup) = browser
        .call(Method::GET, "/users?identifier=ada%40example.com", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lookup["user"]["id"], user_id.as_str());
    assert_eq!(lookup["user"]["status"], "active");
    assert_eq!(
        lookup["user"]["webauthn_types"],
        json!(["passkey", "security_key"])
    );

    let token = registered["auth_token"].as_str().unwrap();
    let (status, current) = browser
        .call_as(Method::GET, "/currentuser", None, Some(token))
        .await;
    assert_eq!(status, StatusCode::OK, "{current}");
    let devices = current["user"]["webauthn_devices"].as_array().unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(
        devices[0]["cred_id"],
        b64(&phone.credentials[0].id),
        "the browser's credential id"
    );
    assert!(current["user"]["webauthn_types"].is_array());

    let (status, by_identifier) = browser.sign_in(&mut phone, Some("ada@example.com")).await;
    assert_eq!(status, StatusCode::OK, "{by_identifier}");
    assert_eq!(subject(&by_identifier["auth_result"]), user_id);

    let (status, discoverable) = browser.sign_in(&mut phone, None).await;
    assert_eq!(status, StatusCode::OK, "{discoverable}");
    assert_eq!(subject(&discoverable["auth_result"]), user_id);

    // The Management API sees the same user, with its sign-ins and its passkey's use.
    let user = browser
        .server
        .store()
        .user(&user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.login_count, 3);
    assert_eq!(user.webauthn_devices[0].usage_count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_refused_for_an_account_that_exists() {
    let browser = Browser::start(dev()).await;
    let mut owner = Authenticator::new(ORIGIN);
    browser.register(&mut owner, "ada@example.com").await;
    let (status, body) = browser
        .post(
            "/register/webauthn/start",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "identifier_already_exists");
    assert!(body["error"].is_string());

    // Two registrations started for one new identifier: the second to finish is refused.
    let mut first = Authenticator::new(ORIGIN);
    let mut second = Authenticator::new(ORIGIN);
    let start = |_: ()| {
        browser.post(
            "/register/webauthn/start",
            json!({ "identifier": "bob@example.com" }),
        )
    };
    let (_, a) = start(()).await;
    let (_, b) = start(()).await;
    let a_response = first.register(&a["handshake"]["challenge"]);
    let b_response = second.register(&b["handshake"]["challenge"]);
    let (status, _) = browser
        .post(
            "/register/webauthn/finish",
            json!({ "handshake_id": a["handshake"]["id"], "handshake_response": a_response }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = browser
        .post(
            "/register/webauthn/finish",
            json!({ "handshake_id": b["handshake"]["id"], "handshake_response": b_response }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let bob = browser.stored_user("bob@example.com").await;
    assert_eq!(
        bob.webauthn_devices.len(),
        1,
        "only the first passkey was kept"
    );

    // The same, finished at the same moment (on a multi-threaded runtime): still one passkey.
    for n in 0..8 {
        let identifier = format!("carol{n}@example.com");
        let (_, a) = browser
            .post(
                "/register/webauthn/start",
                json!({ "identifier": identifier }),
            )
            .await;
        let (_, b) = browser
            .post(
                "/register/webauthn/start",
                json!({ "identifier": identifier }),
            )
            .await;
        let a_response = first.register(&a["handshake"]["challenge"]);
        let b_response = second.register(&b["handshake"]["challenge"]);
        let finish = |handshake: &Value, response: Value| {
            browser.post(
                "/register/webauthn/finish",
                json!({ "handshake_id": handshake["handshake"]["id"], "handshake_response": response }),
            )
        };
        let ((a_status, _), (b_status, _)) =
            tokio::join!(finish(&a, a_response), finish(&b, b_response));
        let mut statuses = [a_status, b_status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "{identifier}"
        );
        let carol = browser.stored_user(&identifier).await;
        assert_eq!(carol.webauthn_devices.len(), 1, "{identifier}");
    }
}

/// A credential id no authenticator makes (empty) is refused at registration: the stores find
/// passkeys only by ids that are not empty, so it could never sign in, and several users could
/// hold it.
#[tokio::test]
async fn a_registration_with_an_empty_credential_id_is_refused() {
    let browser = Browser::start(dev()).await;
    let mut key = Authenticator::new(ORIGIN);
    key.id_len = 0;
    let (status, start) = browser
        .post(
            "/register/webauthn/start",
            json!({ "identifier": "empty@example.com", "authenticator_attachment": "platform" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{start}");
    let response = key.register(&start["handshake"]["challenge"]);
    let (status, body) = browser
        .post(
            "/register/webauthn/finish",
            json!({
                "handshake_id": start["handshake"]["id"],
                "handshake_response": response,
                "user_id": start["user"]["id"],
            }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_webauthn_response")),
        "{body}"
    );
    let user = browser.stored_user("empty@example.com").await;
    assert!(user.webauthn_devices.is_empty(), "{user:?}");
    assert_eq!(user.status, "pending");

    // The control: the same, with an id of the usual length, registers.
    key.id_len = 16;
    browser.register(&mut key, "empty@example.com").await;
    let user = browser.stored_user("empty@example.com").await;
    assert_eq!(user.webauthn_devices.len(), 1);
}

#[tokio::test]
async fn hostile_webauthn_responses_are_refused_and_change_nothing() {
    let browser = Browser::start(dev()).await;
    let mut ada_key = Authenticator::new(ORIGIN);
    let mut bob_key = Authenticator::new(ORIGIN);
    let ada = subject(&browser.register(&mut ada_key, "ada@example.com").await);
    browser.register(&mut bob_key, "bob@example.com").await;
    let store = browser.server.store();
    let ada_before = store.user(&ada).await.unwrap().unwrap();

    // A finished handshake used again.
    let (_, start) = browser
        .post(
            "/login/webauthn/start",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    let response = ada_key.sign_in(&start["handshake"]["challenge"], false);
    let finish = json!({ "handshake_id": start["handshake"]["id"], "handshake_response": response, "user_id": ada });
    assert_eq!(
        browser
            .post("/login/webauthn/finish", finish.clone())
            .await
            .0,
        StatusCode::OK
    );
    let (status, body) = browser.post("/login/webauthn/finish", finish).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("handshake_not_found"))
    );

    // A replayed response against a new handshake: the challenge does not match.
    let (_, start) = browser
        .post(
            "/login/webauthn/start",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    let (status, body) = browser
        .post("/login/webauthn/finish", json!({ "handshake_id": start["handshake"]["id"], "handshake_response": response, "user_id": ada }))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_webauthn_response"))
    );

    // Bob's passkey answering a handshake started for Ada.
    let (_, start) = browser
        .post(
            "/login/webauthn/start",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    let bob_response = bob_key.assert_with(0, &start["handshake"]["challenge"], false);
    let (status, _) = browser
        .post("/login/webauthn/finish", json!({ "handshake_id": start["handshake"]["id"], "handshake_response": bob_response, "user_id": ada }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A discoverable sign-in with Bob's credential claiming Ada's user handle.
    let (_, start) = browser.post("/login/webauthn/start", json!({})).await;
    bob_key.credentials[0].user_handle = ada_key.credentials[0].user_handle.clone();
    let forged = bob_key.assert_with(0, &start["handshake"]["challenge"], true);
    let (status, body) = browser
        .post(
            "/login/webauthn/finish",
            json!({ "handshake_id": start["handshake"]["id"], "handshake_response": forged }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("handshake_mismatch")),
        "{body}"
    );

    // A response made for another origin, and one without user verification.
    for misbehave in [
        |a: &mut Authenticator| a.origin = "http://localhost:4000".to_owned(),
        |a: &mut Authenticator| a.verifies_user = false,
    ] {
        let mut key = Authenticator::new(ORIGIN);
        key.credentials = std::mem::take(&mut ada_key.credentials);
        misbehave(&mut key);
        let (_, start) = browser
            .post(
                "/login/webauthn/start",
                json!({ "identifier": "ada@example.com" }),
            )
            .await;
        let response = key.sign_in(&start["handshake"]["challenge"], false);
        let (status, _) = browser
            .post(
                "/login/webauthn/finish",
                json!({ "handshake_id": start["handshake"]["id"], "handshake_response": response }),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        ada_key.credentials = key.credentials;
    }

    // A registration handshake finished as a sign-in, and garbage.
    let (_, start) = browser
        .post(
            "/register/webauthn/start",
            json!({ "identifier": "eve@example.com" }),
        )
        .await;
    let (status, _) = browser
        .post(
            "/login/webauthn/finish",
            json!({ "handshake_id": start["handshake"]["id"], "handshake_response": {"id": "x"} }),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = browser
        .post("/login/webauthn/finish", json!({ "handshake_id": 7 }))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    let ada_after = store.user(&ada).await.unwrap().unwrap();
    assert_eq!(
        ada_after.login_count,
        ada_before.login_count + 1,
        "only the one good sign-in counted"
    );
    assert_eq!(ada_after.webauthn_devices.len(), 1);
}

#[tokio::test]
async fn a_cloned_authenticator_is_caught_by_the_sign_counter() {
    let browser = Browser::start(dev()).await;
    let mut key = Authenticator::new(ORIGIN);
    browser.register(&mut key, "ada@example.com").await;
    let (_, start) = browser
        .post(
            "/login/webauthn/start",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    let early = key.sign_in(&start["handshake"]["challenge"], false);
    // The same credential used twice more elsewhere (counter 2, 3) before this one (counter 1).
    let (status, _) = browser.sign_in(&mut key, Some("ada@example.com")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = browser
        .post(
            "/login/webauthn/finish",
            json!({ "handshake_id": start["handshake"]["id"], "handshake_response": early }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a counter that went back is refused"
    );
}

#[tokio::test]
async fn a_signed_in_user_adds_and_removes_a_passkey() {
    let browser = Browser::start(dev()).await;
    let mut laptop = Authenticator::new(ORIGIN);
    let result = browser.register(&mut laptop, "ada@example.com").await;
    let token = result["auth_token"].as_str().unwrap();

    let (status, _) = browser
        .call_as(
            Method::POST,
            "/currentuser/devices/start",
            Some(json!({})),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "adding a passkey needs a token"
    );

    let (status, start) = browser
        .call_as(
            Method::POST,
            "/currentuser/devices/start",
            Some(json!({ "authenticator_attachment": "platform" })),
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{start}");
    let excluded = start["handshake"]["challenge"]["publicKey"]["excludeCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(excluded.len(), 1, "the passkey the user has is excluded");
    let mut phone = Authenticator::new(ORIGIN);
    let response = phone.register(&start["handshake"]["challenge"]);
    let (status, added) = browser
        .call_as(
            Method::POST,
            "/currentuser/devices/finish",
            Some(
                json!({ "handshake_id": start["handshake"]["id"], "handshake_response": response }),
            ),
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["device"]["cred_id"], b64(&phone.credentials[0].id));
    assert_eq!(added["device"]["user_id"], subject(&result).as_str());

    let (status, _) = browser.sign_in(&mut phone, None).await;
    assert_eq!(status, StatusCode::OK, "the new passkey signs in");

    let device_id = added["device"]["id"].as_str().unwrap();
    let (status, _) = browser
        .call_as(
            Method::DELETE,
            &format!("/currentuser/devices/{device_id}"),
            None,
            Some(token),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, start) = browser.post("/login/webauthn/start", json!({})).await;
    let response = phone.sign_in(&start["handshake"]["challenge"], true);
    let (status, _) = browser
        .post(
            "/login/webauthn/finish",
            json!({ "handshake_id": start["handshake"]["id"], "handshake_response": response }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a removed passkey no longer signs in"
    );
}

#[tokio::test]
async fn a_deactivated_user_cannot_sign_in() {
    let browser = Browser::start(dev()).await;
    let mut key = Authenticator::new(ORIGIN);
    let user_id = subject(&browser.register(&mut key, "ada@example.com").await);
    browser
        .server
        .store()
        .set_status(&user_id, "inactive")
        .await
        .unwrap();
    let (status, body) = browser
        .post(
            "/login/webauthn/start",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("user_inactive"))
    );
    let (_, start) = browser.post("/login/webauthn/start", json!({})).await;
    let response = key.sign_in(&start["handshake"]["challenge"], true);
    let (status, _) = browser
        .post(
            "/login/webauthn/finish",
            json!({ "handshake_id": start["handshake"]["id"], "handshake_response": response }),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
