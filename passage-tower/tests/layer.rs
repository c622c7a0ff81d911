//! The layer through `tower::ServiceExt::oneshot`, against a started emulator's JWKS.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::{convert::Infallible, time::Duration};

use http::{Request, Response, StatusCode, header};
use passage_core::PassageBuilder;
use passage_core::{AuthError, Passage, PassageClaims, TokenSource};
use passage_emulator::{Emulator, Fault, Target};
use passage_tower::{OnRejection, PassageLayer};
use tower::{Layer, ServiceExt as _, service_fn};

async fn echo(request: Request<()>) -> Result<Response<String>, Infallible> {
    let user = request
        .extensions()
        .get::<PassageClaims>()
        .map_or("anonymous".to_owned(), |c| c.user_id().to_owned());
    Ok(Response::new(user))
}

async fn setup() -> (Emulator, Passage) {
    let emu = Emulator::builder()
        .app_id("app_tower")
        .start()
        .await
        .unwrap();
    let passage = PassageBuilder::from_env_vars(emu.env_vars())
        .unwrap()
        .jwks_retry_backoff(Duration::from_millis(50), Duration::from_millis(50))
        .build()
        .unwrap();
    (emu, passage)
}

async fn send(layer: &PassageLayer, request: Request<()>) -> Response<String> {
    layer
        .clone()
        .layer(service_fn(echo))
        .oneshot(request)
        .await
        .unwrap()
}

fn get() -> http::request::Builder {
    Request::get("/")
}

/// `GET /` with `Authorization: Bearer <token>`.
fn bearer(token: &str) -> Request<()> {
    get()
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(())
        .unwrap()
}

#[tokio::test]
async fn every_outcome() {
    let (emu, passage) = setup().await;
    let layer = PassageLayer::new(passage.clone());
    let token = emu.mint_token("user-1").unwrap();

    // First request: keys not held yet, so the slow (fetching) path runs.
    let response = send(&layer, bearer(&token)).await;
    assert_eq!(
        (response.status(), response.body().as_str()),
        (StatusCode::OK, "user-1")
    );
    // Then the synchronous path.
    let response = send(
        &layer,
        get()
            .header(header::AUTHORIZATION, format!("bearer {token}"))
            .body(())
            .unwrap(),
    )
    .await;
    assert_eq!(response.body(), "user-1");
    let response = send(
        &layer,
        get()
            .header(header::COOKIE, format!("a=b; psg_auth_token={token}"))
            .body(())
            .unwrap(),
    )
    .await;
    assert_eq!(response.body(), "user-1");

    let missing = send(&layer, get().body(()).unwrap()).await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer realm="passage""#
    );
    assert!(missing.body().contains(r#""code":"missing_token""#));

    let expired = emu.token("user-1").expires_in_secs(-5).sign().unwrap();
    let wrong_aud = emu
        .token("user-1")
        .claim("aud", "someone_else")
        .sign()
        .unwrap();
    for (authorization, code) in [
        ("Bearer abc".to_owned(), "malformed_token"),
        ("Basic dXNlcjpwYXNz".to_owned(), "malformed_token"),
        (format!("Bearer {expired}"), "invalid_token"),
        (format!("Bearer {wrong_aud}"), "invalid_token"),
    ] {
        let response = send(
            &layer,
            get()
                .header(header::AUTHORIZATION, authorization)
                .body(())
                .unwrap(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{code}");
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="passage", error="invalid_token""#
        );
        assert!(response.body().contains(code), "{}", response.body());
    }
}

#[tokio::test]
async fn keys_unavailable_is_503_with_retry_after_then_recovers() {
    let (emu, passage) = setup().await;
    let layer = PassageLayer::new(passage);
    let token = emu.mint_token("user-1").unwrap();
    emu.set_fault(Target::Jwks, Fault::Unavailable);
    let response = send(&layer, bearer(&token)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    assert!(response.body().contains("keys_unavailable"));
    emu.clear_fault(Target::Jwks);
    tokio::time::sleep(Duration::from_millis(60)).await;
    let response = send(&layer, bearer(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn optional_mode_lets_anonymous_through_but_not_bad_tokens() {
    let (emu, passage) = setup().await;
    let layer = PassageLayer::new(passage).optional();
    let anonymous = send(&layer, get().body(()).unwrap()).await;
    assert_eq!(
        (anonymous.status(), anonymous.body().as_str()),
        (StatusCode::OK, "anonymous")
    );
    let bad = send(&layer, bearer("x.y.z")).await;
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert!(
        bad.body().contains(r#""code":"malformed_token""#),
        "{}",
        bad.body()
    );
    let token = emu.mint_token("user-2").unwrap();
    let good = send(&layer, bearer(&token)).await;
    assert_eq!(good.body(), "user-2");
}

#[tokio::test]
async fn token_source_is_respected() {
    let (emu, passage) = setup().await;
    let token = emu.mint_token("user-3").unwrap();
    let header_only = PassageLayer::new(passage).token_source(TokenSource::Header);
    let response = send(
        &header_only,
        get()
            .header(header::COOKIE, format!("psg_auth_token={token}"))
            .body(())
            .unwrap(),
    )
    .await;
    // The cookie is not looked at: no token at all, not a refused one.
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.body().contains(r#""code":"missing_token""#),
        "{}",
        response.body()
    );
    // Control: the same token in the header.
    let response = send(&header_only, bearer(&token)).await;
    assert_eq!(
        (response.status(), response.body().as_str()),
        (StatusCode::OK, "user-3")
    );
}

#[tokio::test]
async fn grpc_requests_get_grpc_statuses() {
    let (emu, passage) = setup().await;
    let layer = PassageLayer::new(passage);
    let grpc = || get().header(header::CONTENT_TYPE, "application/grpc");
    let response = send(&layer, grpc().body(()).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "16");
    assert_eq!(response.headers()["grpc-message"], "missing_token");
    assert!(response.body().is_empty());
    emu.set_fault(Target::Jwks, Fault::Unavailable);
    let token = emu.mint_token("user-1").unwrap();
    let response = send(
        &layer,
        grpc()
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .unwrap(),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["grpc-status"], "14");
    assert_eq!(response.headers()["grpc-message"], "keys_unavailable");
}

#[derive(Clone)]
struct Teapot;

impl OnRejection<String> for Teapot {
    fn reject(&self, error: &AuthError, _grpc: bool) -> Response<String> {
        let mut response = Response::new(format!("custom {}", error.code()));
        *response.status_mut() = StatusCode::IM_A_TEAPOT;
        response
    }
}

#[tokio::test]
async fn custom_rejections_replace_the_default() {
    let (_emu, passage) = setup().await;
    let service = PassageLayer::new(passage)
        .on_rejection(Teapot)
        .layer(service_fn(echo));
    let response = service.oneshot(get().body(()).unwrap()).await.unwrap();
    assert_eq!(
        (response.status(), response.body().as_str()),
        (StatusCode::IM_A_TEAPOT, "custom missing_token")
    );
}

/// Answers with whether every `Authorization` and `Cookie` value it received was marked
/// sensitive ("sensitive"), and how many there were.
async fn sensitivity(request: Request<()>) -> Result<Response<String>, Infallible> {
    let headers = request.headers();
    let values: Vec<_> = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .chain(headers.get_all(header::COOKIE).iter())
        .collect();
    let all = values.iter().all(|value| value.is_sensitive());
    let debug = format!("{headers:?}");
    Ok(Response::new(format!(
        "{} {} {}",
        values.len(),
        if all { "sensitive" } else { "plain" },
        debug.contains("psg_auth_token") || debug.contains("Bearer")
    )))
}

#[tokio::test]
async fn the_layer_marks_authorization_and_cookie_values_sensitive() {
    let (emu, passage) = setup().await;
    let token = emu.mint_token("user-4").unwrap();
    let request = || {
        get()
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::COOKIE, "theme=dark")
            .header(header::COOKIE, format!("psg_auth_token={token}"))
            .header(header::ACCEPT, "*/*")
            .body(())
            .unwrap()
    };
    for (mode, layer) in [
        ("required", PassageLayer::new(passage.clone())),
        ("optional", PassageLayer::new(passage.clone()).optional()),
    ] {
        // The first request of a fresh client fetches keys (the boxed path); the second is
        // decided in `call`.
        for path in ["fetching", "ready"] {
            let response = layer
                .clone()
                .layer(service_fn(sensitivity))
                .oneshot(request())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{mode} {path}");
            assert_eq!(
                response.body(),
                "3 sensitive false",
                "{mode} {path}: every credential value is sensitive, and `Debug` hides them"
            );
        }
    }
    // Anonymous requests in optional mode: the cookies that carried no token are marked too.
    let anonymous = PassageLayer::new(passage)
        .optional()
        .layer(service_fn(sensitivity))
        .oneshot(get().header(header::COOKIE, "theme=dark").body(()).unwrap())
        .await
        .unwrap();
    assert_eq!(anonymous.body(), "1 sensitive false");
}

/// A response body with no `From<&str>` (as tonic's).
#[derive(Debug, Default, PartialEq)]
struct Opaque;

async fn opaque(_request: Request<()>) -> Result<Response<Opaque>, Infallible> {
    Ok(Response::new(Opaque))
}

#[tokio::test]
async fn empty_body_rejections_keep_the_default_statuses_and_headers() {
    let (emu, passage) = setup().await;
    let layer = PassageLayer::new(passage).on_rejection(passage_tower::EmptyBodyRejection);
    let send = |request: Request<()>| layer.clone().layer(service_fn(opaque)).oneshot(request);

    let missing = send(get().body(()).unwrap()).await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer realm="passage""#
    );
    assert!(!missing.headers().contains_key(header::CONTENT_TYPE));

    let grpc = send(
        get()
            .header(header::CONTENT_TYPE, "application/grpc")
            .header(header::AUTHORIZATION, "Bearer x.y.z")
            .body(())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(grpc.status(), StatusCode::OK);
    assert_eq!(grpc.headers()["grpc-status"], "16");
    assert_eq!(grpc.headers()["grpc-message"], "malformed_token");
    assert_eq!(grpc.headers()[header::CONTENT_TYPE], "application/grpc");

    let token = emu.mint_token("user-5").unwrap();
    let admitted = send(bearer(&token)).await.unwrap();
    assert_eq!(
        (admitted.status(), admitted.body()),
        (StatusCode::OK, &Opaque)
    );

    emu.set_fault(Target::Jwks, Fault::Unavailable);
    let fresh = PassageBuilder::from_env_vars(emu.env_vars())
        .unwrap()
        .build()
        .unwrap();
    let unavailable = PassageLayer::new(fresh)
        .on_rejection(passage_tower::EmptyBodyRejection)
        .layer(service_fn(opaque))
        .oneshot(bearer(&token))
        .await
        .unwrap();
    assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(unavailable.headers().contains_key(header::RETRY_AFTER));
}
