//! Phone numbers and text messages: identifiers checked with libphonenumber's rules and kept in
//! E.164, codes and links to phones through the signed SMS webhook (tested against a receiver
//! started here, which checks every signature itself), its retries, timeouts and refusals, and
//! a secret that never prints.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode as AxumStatus},
    routing::post,
};
use passage_server::{AuthMethods, Identifiers, SmsWebhook, store::SeedUser};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Browser, dev, subject};

const SECRET: &str = "a-webhook-secret-of-32-characters";

/// What the receiver answers, in turn (the last one repeats).
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Never answers.
    Hang,
}

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct Receiver {
    answers: Mutex<VecDeque<Answer>>,
    received: Mutex<Vec<Received>>,
}

/// Starts a receiver answering `answers` in turn: its URL and what it got.
async fn receiver(answers: &[Answer]) -> (String, Arc<Receiver>) {
    let state = Arc::new(Receiver {
        answers: Mutex::new(answers.iter().copied().collect()),
        received: Mutex::default(),
    });
    async fn handle(
        State(state): State<Arc<Receiver>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> AxumStatus {
        state.received.lock().unwrap().push(Received {
            headers,
            body: body.to_vec(),
        });
        let answer = {
            let mut answers = state.answers.lock().unwrap();
            if answers.len() > 1 {
                answers.pop_front().unwrap()
            } else {
                *answers.front().unwrap()
            }
        };
        match answer {
            Answer::Status(code) => AxumStatus::from_u16(code).unwrap(),
            Answer::Hang => std::future::pending().await,
        }
    }
    let router = Router::new()
        .route("/sms", post(handle))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (format!("http://{addr}/sms"), state)
}

/// Checks a request's `Passage-Signature` as a receiver must: HMAC-SHA256 under the shared
/// secret of `{t}.{body}`, compared in constant time, `t` recent. Written here, apart from the
/// server's code, so a wrong signer cannot pass by agreeing with itself.
fn verified(received: &Received, secret: &str) -> bool {
    let header = received.headers["passage-signature"].to_str().unwrap();
    let Some((t, v1)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let t: i64 = t.parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{t}.").into_bytes();
    signed.extend_from_slice(&received.body);
    let expected: String = aws_lc_rs::hmac::sign(&key, &signed)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (now - t).abs() < 300
        && aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), v1.as_bytes())
            .is_ok()
}

fn with_codes() -> AuthMethods {
    AuthMethods {
        passkeys: true,
        otp: true,
        magic_link: false,
    }
}

fn webhook(url: &str) -> SmsWebhook {
    SmsWebhook::new(url, SECRET)
        .backoff(Duration::from_millis(20))
        .timeout(Duration::from_millis(500))
}

fn code_of(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

#[tokio::test]
async fn a_code_to_a_phone_goes_through_the_signed_webhook() {
    let (url, receiver) = receiver(&[Answer::Status(200)]).await;
    let browser = Browser::start(
        dev()
            .auth_methods(with_codes())
            .identifiers(Identifiers::Both)
            .sms_webhook(webhook(&url)),
    )
    .await;
    // Typed with separators: one number, kept in E.164.
    let (status, body) = browser
        .post(
            "/register/otp",
            json!({ "identifier": "+1 (415) 555-0100", "language": "en" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let otp_id = body["otp_id"].as_str().unwrap();
    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert!(verified(request, SECRET), "the signature verifies");
    assert!(
        !verified(request, "another-secret-of-32-characters!!"),
        "and only under the shared secret"
    );
    let mut tampered = request.clone();
    tampered.body.push(b' ');
    assert!(!verified(&tampered, SECRET), "and only for this body");
    assert_eq!(request.headers["content-type"], "application/json");
    let sent = request.json();
    assert_eq!(
        request.headers["passage-webhook-id"],
        sent["id"].as_str().unwrap()
    );
    assert_eq!(sent["type"], "one_time_passcode");
    assert_eq!(sent["to"], "+14155550100");
    assert_eq!(sent["language"], "en");
    assert_eq!(sent["app_id"], "test_app");
    let code = sent["code"].as_str().unwrap();
    assert!(code.len() == 6 && sent["text"].as_str().unwrap().contains(code));

    let (status, body) = browser
        .post("/otp/activate", json!({ "otp": code, "otp_id": otp_id }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let user = browser.stored_user("+14155550100").await;
    assert_eq!(user.id, subject(&body["auth_result"]));
    assert!(user.phone_verified && user.email.is_empty());
}

#[tokio::test]
async fn failures_are_retried_with_backoff_under_the_same_id_signed_anew() {
    let (url, receiver) = receiver(&[
        Answer::Status(503),
        Answer::Status(429),
        Answer::Status(200),
    ])
    .await;
    let browser = Browser::start(
        dev()
            .auth_methods(with_codes())
            .identifiers(Identifiers::Phone)
            .sms_webhook(webhook(&url).retries(3)),
    )
    .await;
    let (status, body) = browser
        .post("/register/otp", json!({ "identifier": "+14155550100" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 3, "two failures, then delivered");
    let ids: Vec<&str> = received
        .iter()
        .map(|r| r.headers["passage-webhook-id"].to_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one message: {ids:?}");
    assert!(received.iter().all(|r| verified(r, SECRET)));
    assert!(received.iter().all(|r| r.body == received[0].body));
}

#[tokio::test]
async fn a_refusal_is_final_and_the_element_is_told() {
    let (url, receiver) = receiver(&[Answer::Status(400)]).await;
    let browser = Browser::start(
        dev()
            .auth_methods(with_codes())
            .identifiers(Identifiers::Phone)
            .sms_webhook(webhook(&url).retries(3)),
    )
    .await;
    let (status, body) = browser
        .post("/register/otp", json!({ "identifier": "+14155550100" }))
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_GATEWAY, Some("otp_not_sent"))
    );
    assert_eq!(
        receiver.received.lock().unwrap().len(),
        1,
        "no retry of a 400"
    );
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no webhook detail in the answer: {body}"
    );
}

#[tokio::test]
async fn failures_past_the_retries_and_hangs_past_the_timeout_are_a_502() {
    for answer in [Answer::Status(500), Answer::Hang] {
        let (url, receiver) = receiver(&[answer]).await;
        let browser = Browser::start(
            dev()
                .auth_methods(with_codes())
                .identifiers(Identifiers::Phone)
                .sms_webhook(webhook(&url).retries(2).timeout(Duration::from_millis(200))),
        )
        .await;
        let (status, body) = browser
            .post("/register/otp", json!({ "identifier": "+14155550100" }))
            .await;
        assert_eq!(
            (status, code_of(&body)),
            (StatusCode::BAD_GATEWAY, Some("otp_not_sent")),
            "{answer:?}"
        );
        assert_eq!(
            receiver.received.lock().unwrap().len(),
            3,
            "{answer:?}: the first attempt and two retries"
        );
    }
}

#[tokio::test]
async fn magic_links_by_text_message() {
    let (url, receiver) = receiver(&[Answer::Status(204)]).await;
    let browser = Browser::start(
        dev()
            .identifiers(Identifiers::Both)
            .sms_webhook(webhook(&url))
            .user(SeedUser::default().with_phone("+14155550100")),
    )
    .await;
    let (status, body) = browser
        .post(
            "/login/magic-link",
            json!({ "identifier": "+14155550100", "magic_link_path": "/" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let received = receiver.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    assert!(verified(&received[0], SECRET));
    let sent = received[0].json();
    assert_eq!(sent["type"], "magic_link");
    let link = sent["link"].as_str().unwrap();
    assert!(sent["text"].as_str().unwrap().contains(link));
    let secret = link.split("psg_magic_link=").nth(1).unwrap();
    let (status, body) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(browser.stored_user("+14155550100").await.phone_verified);
}

#[tokio::test]
async fn phone_numbers_are_checked_and_kinds_the_app_refuses_are_refused() {
    let browser = Browser::start(dev().identifiers(Identifiers::Both)).await;
    for invalid in [
        "+15555550100",
        "+1415555010",
        "+999123456789",
        "+1 415 555 0100 x12",
    ] {
        let (status, body) = browser
            .post("/users", json!({ "identifier": invalid }))
            .await;
        assert_eq!(
            (status, code_of(&body)),
            (StatusCode::BAD_REQUEST, Some("invalid_identifier")),
            "{invalid}"
        );
    }
    let (status, body) = browser
        .post("/users", json!({ "identifier": "+1 415 555 0100" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["phone"], "+14155550100");
    let (_, lookup) = browser
        .call(
            Method::GET,
            "/users?identifier=%2B1%20415%20555%200100",
            None,
        )
        .await;
    assert_eq!(
        lookup["user"]["id"], body["user"]["id"],
        "one number, one user"
    );

    // An app of email addresses refuses phone numbers, and the other way round.
    let email_only = Browser::start(dev()).await;
    let (status, body) = email_only
        .post("/users", json!({ "identifier": "+14155550100" }))
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, Some("identifier_not_allowed"))
    );
    let (_, app) = email_only.call(Method::GET, "", None).await;
    assert_eq!(app["app"]["allowed_identifier"], "email");
    let phone_only = Browser::start(dev().identifiers(Identifiers::Phone)).await;
    let (status, body) = phone_only
        .post("/users", json!({ "identifier": "ada@example.com" }))
        .await;
    assert_eq!(
        (status, code_of(&body)),
        (StatusCode::BAD_REQUEST, Some("identifier_not_allowed"))
    );
    let (_, app) = phone_only.call(Method::GET, "", None).await;
    assert_eq!(app["app"]["allowed_identifier"], "phone");
    assert_eq!(app["app"]["required_identifier"], "phone");
}

#[tokio::test]
async fn the_webhook_secret_never_prints() {
    let settings = SmsWebhook::new("https://sms.example/hook?token=provider-token", SECRET);
    let debug = format!("{settings:?}");
    assert!(
        !debug.contains(SECRET) && !debug.contains("provider-token"),
        "{debug}"
    );
    let builder = dev().sms_webhook(settings);
    let debug = format!("{builder:?}");
    assert!(
        !debug.contains(SECRET) && !debug.contains("provider-token"),
        "{debug}"
    );
    // A short secret is refused at start.
    let err = dev()
        .sms_webhook(SmsWebhook::new("http://127.0.0.1:9/sms", "short"))
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least 16 bytes"), "{err}");
    // Codes travel in the body: plain http only to this machine.
    for url in ["http://sms.example/hook", "ftp://127.0.0.1/x", "not a url"] {
        let err = dev()
            .sms_webhook(SmsWebhook::new(url, SECRET))
            .start()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("must be https://"), "{url}: {err}");
    }
    for url in [
        "https://sms.example/hook",
        "http://localhost:9/sms",
        "http://[::1]:9/sms",
    ] {
        assert!(
            dev()
                .sms_webhook(SmsWebhook::new(url, SECRET))
                .start()
                .await
                .is_ok(),
            "{url}"
        );
    }
}
