//! The extractor through `tower::ServiceExt::oneshot`, with and without the layer.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::Duration;

use axum::{Router, body::Body, routing::get};
use http::{Request, StatusCode, header};
use passage_axum::{Passage, PassageLayer, PassageUser};
use passage_core::PassageBuilder;
use passage_emulator::{Emulator, Fault, Target};
use tower::ServiceExt as _;

async fn me(user: PassageUser) -> String {
    user.user_id().to_owned()
}

async fn maybe(user: Option<PassageUser>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| u.user_id().to_owned())
}

fn router(passage: &Passage, layer: Option<PassageLayer>) -> Router {
    let routes = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe));
    let routes = match layer {
        Some(layer) => routes.layer(layer),
        None => routes,
    };
    routes.with_state(passage.clone())
}

async fn setup() -> (Emulator, Passage) {
    let emu = Emulator::builder()
        .app_id("app_axum")
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

async fn call(
    app: &Router,
    path: &str,
    headers: &[(header::HeaderName, String)],
) -> (StatusCode, http::HeaderMap, String) {
    let mut request = Request::get(path);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 16).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn every_outcome_with_and_without_the_layer() {
    let (emu, passage) = setup().await;
    let token = emu.mint_token("user-7").unwrap();
    let expired = emu.token("user-7").expires_in_secs(-5).sign().unwrap();
    let wrong_aud = emu
        .token("user-7")
        .claim("aud", ["elsewhere"])
        .sign()
        .unwrap();
    let bearer = |t: &str| vec![(header::AUTHORIZATION, format!("Bearer {t}"))];

    for app in [
        router(&passage, None),
        router(
            &passage,
            Some(PassageLayer::new(passage.clone()).optional()),
        ),
    ] {
        assert_eq!(call(&app, "/me", &bearer(&token)).await.2, "user-7");
        assert_eq!(
            call(
                &app,
                "/me",
                &[(header::AUTHORIZATION, format!("bearer {token}"))]
            )
            .await
            .2,
            "user-7"
        );
        assert_eq!(
            call(
                &app,
                "/me",
                &[(header::COOKIE, format!("psg_auth_token={token}"))]
            )
            .await
            .2,
            "user-7"
        );

        let (status, headers, body) = call(&app, "/me", &[]).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            headers[header::WWW_AUTHENTICATE],
            r#"Bearer realm="passage""#
        );
        assert!(body.contains("missing_token"));

        // Each refusal says which kind of check refused it.
        for (bad, code) in [
            (bearer("not-a-jwt"), "malformed_token"),
            (bearer(&expired), "invalid_token"),
            (bearer(&wrong_aud), "invalid_token"),
        ] {
            let code = format!(r#""code":"{code}""#);
            let (status, headers, body) = call(&app, "/me", &bad).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(
                headers[header::WWW_AUTHENTICATE],
                r#"Bearer realm="passage", error="invalid_token""#
            );
            assert!(body.contains(&code), "{code}: {body}");
            let (status, _, body) = call(&app, "/maybe", &bad).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "a bad token is not anonymous"
            );
            assert!(body.contains(&code), "{code}: {body}");
        }
        assert_eq!(call(&app, "/maybe", &[]).await.2, "anonymous");
        assert_eq!(call(&app, "/maybe", &bearer(&token)).await.2, "user-7");
    }
}

#[tokio::test]
async fn keys_unavailable_is_503() {
    let (emu, passage) = setup().await;
    emu.set_fault(Target::Jwks, Fault::Unavailable);
    let token = emu.mint_token("user-7").unwrap();
    for app in [
        router(&passage, None),
        router(&passage, Some(PassageLayer::new(passage.clone()))),
    ] {
        let (status, headers, body) = call(
            &app,
            "/me",
            &[(header::AUTHORIZATION, format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(headers.contains_key(header::RETRY_AFTER));
        assert!(body.contains("keys_unavailable"));
    }
}

#[tokio::test]
async fn the_layer_validates_once_for_the_extractor() {
    let (emu, passage) = setup().await;
    let app = router(&passage, Some(PassageLayer::new(passage.clone())));
    let token = emu.mint_token("user-8").unwrap();
    assert_eq!(
        call(
            &app,
            "/me",
            &[(header::AUTHORIZATION, format!("Bearer {token}"))]
        )
        .await
        .2,
        "user-8"
    );
    // Required layer: the extractor never even runs without a token.
    assert_eq!(call(&app, "/maybe", &[]).await.0, StatusCode::UNAUTHORIZED);
}
