//! The extractor and middleware through `actix_web::test`, against a started emulator's JWKS.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::time::Duration;

use actix_web::{App, HttpResponse, test, web};
use passage_actix::{OptionalPassageUser, Passage, PassageAuth, PassageUser};
use passage_core::PassageBuilder;
use passage_emulator::{Emulator, Fault, Target};

async fn me(user: PassageUser) -> HttpResponse {
    HttpResponse::Ok().body(user.user_id().to_owned())
}

async fn maybe(user: OptionalPassageUser) -> HttpResponse {
    HttpResponse::Ok().body(
        user.as_ref()
            .map_or("anonymous".to_owned(), |u| u.user_id().to_owned()),
    )
}

async fn behind_middleware(user: Option<PassageUser>) -> HttpResponse {
    HttpResponse::Ok().body(user.map_or("anonymous".to_owned(), |u| u.user_id().to_owned()))
}

async fn setup() -> (Emulator, Passage) {
    let emu = Emulator::builder()
        .app_id("app_actix")
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

macro_rules! app {
    ($passage:expr) => {
        test::init_service(
            App::new()
                .app_data(web::Data::new($passage.clone()))
                .route("/me", web::get().to(me))
                .route("/maybe", web::get().to(maybe))
                .service(
                    web::scope("/mw")
                        .wrap(PassageAuth::new($passage.clone()).optional())
                        .route("/me", web::get().to(me))
                        .route("/maybe", web::get().to(behind_middleware)),
                ),
        )
        .await
    };
}

async fn get<B: actix_web::body::MessageBody>(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<B>,
        Error = actix_web::Error,
    >,
    path: &str,
    header: Option<(&str, String)>,
) -> (u16, Option<String>, String) {
    let mut request = test::TestRequest::get().uri(path);
    if let Some(header) = header {
        request = request.insert_header(header);
    }
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    (status, challenge, body)
}

#[tokio::test]
async fn every_outcome_with_and_without_the_middleware() {
    let (emu, passage) = setup().await;
    let app = app!(passage);
    let token = emu.mint_token("user-9").unwrap();
    let expired = emu.token("user-9").expires_in_secs(-5).sign().unwrap();
    let wrong_aud = emu
        .token("user-9")
        .claim("aud", "another_app")
        .sign()
        .unwrap();

    for prefix in ["", "/mw"] {
        let me = format!("{prefix}/me");
        let maybe = format!("{prefix}/maybe");
        assert_eq!(
            get(
                &app,
                &me,
                Some(("authorization", format!("Bearer {token}")))
            )
            .await
            .2,
            "user-9"
        );
        assert_eq!(
            get(
                &app,
                &me,
                Some(("authorization", format!("bearer {token}")))
            )
            .await
            .2,
            "user-9"
        );
        assert_eq!(
            get(
                &app,
                &me,
                Some(("cookie", format!("x=1; psg_auth_token={token}")))
            )
            .await
            .2,
            "user-9"
        );

        let (status, challenge, body) = get(&app, &me, None).await;
        assert_eq!(
            (status, challenge.as_deref()),
            (401, Some(r#"Bearer realm="passage""#)),
            "{prefix}"
        );
        assert!(body.contains("missing_token"));

        // Each refusal says which kind of check refused it.
        for (bad, code) in [
            ("Bearer nope".to_owned(), "malformed_token"),
            (format!("Bearer {expired}"), "invalid_token"),
            (format!("Bearer {wrong_aud}"), "invalid_token"),
        ] {
            let code = format!(r#""code":"{code}""#);
            let (status, challenge, body) =
                get(&app, &me, Some(("authorization", bad.clone()))).await;
            assert_eq!(
                (status, challenge.as_deref()),
                (
                    401,
                    Some(r#"Bearer realm="passage", error="invalid_token""#)
                ),
                "{prefix} {bad:.20}"
            );
            assert!(body.contains(&code), "{prefix} {code}: {body}");
            let (status, _, body) = get(&app, &maybe, Some(("authorization", bad))).await;
            assert_eq!(status, 401, "{prefix}: a bad token is not anonymous");
            assert!(body.contains(&code), "{prefix} {code}: {body}");
        }
        assert_eq!(
            get(&app, &maybe, None).await,
            (200, None, "anonymous".to_owned()),
            "{prefix}"
        );
        assert_eq!(
            get(
                &app,
                &maybe,
                Some(("authorization", format!("Bearer {token}")))
            )
            .await
            .2,
            "user-9"
        );
    }
}

#[tokio::test]
async fn the_middleware_fetches_keys_on_first_use_and_after_rotation() {
    let (emu, _) = setup().await;
    // No unknown-kid cooldown, so the rotated key is fetched at once.
    let passage = PassageBuilder::from_env_vars(emu.env_vars())
        .unwrap()
        .jwks_refetch_cooldown(Duration::ZERO)
        .build()
        .unwrap();
    let app = app!(passage);
    let bearer = |token: String| Some(("authorization", format!("Bearer {token}")));
    // No keys held yet: the middleware's only path that waits (and allocates) fetches them.
    let first = emu.mint_token("user-9").unwrap();
    assert_eq!(
        get(&app, "/mw/me", bearer(first)).await,
        (200, None, "user-9".to_owned())
    );
    assert_eq!(emu.jwks_hits(), 1);
    // A new signing key is unknown until fetched again.
    emu.rotate_key().unwrap();
    let rotated = emu.mint_token("user-10").unwrap();
    assert_eq!(
        get(&app, "/mw/me", bearer(rotated)).await,
        (200, None, "user-10".to_owned())
    );
    assert_eq!(emu.jwks_hits(), 2);
}

#[tokio::test]
async fn keys_unavailable_is_503_with_retry_after() {
    let (emu, passage) = setup().await;
    emu.set_fault(Target::Jwks, Fault::Unavailable);
    let app = app!(passage);
    let token = emu.mint_token("user-9").unwrap();
    for path in ["/me", "/mw/me"] {
        let request = test::TestRequest::get()
            .uri(path)
            .insert_header(("authorization", format!("Bearer {token}")))
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), 503, "{path}");
        assert!(response.headers().contains_key("retry-after"));
        assert!(
            String::from_utf8_lossy(&test::read_body(response).await).contains("keys_unavailable")
        );
    }
}

#[tokio::test]
async fn a_missing_client_is_a_clear_500() {
    let app = test::init_service(App::new().route("/me", web::get().to(me))).await;
    let (status, _, body) = get(
        &app,
        "/me",
        Some(("authorization", "Bearer a.b.c".to_owned())),
    )
    .await;
    assert_eq!(status, 500);
    assert!(body.contains("passage_not_configured"));
    let wrapped = test::init_service(
        App::new()
            .wrap(PassageAuth::from_app_data())
            .route("/me", web::get().to(me)),
    )
    .await;
    let (status, _, body) = get(&wrapped, "/me", None).await;
    assert_eq!(status, 500);
    assert!(body.contains("passage_not_configured"), "{body}");
}

#[tokio::test]
async fn a_plain_passage_in_app_data_works_too() {
    let (emu, passage) = setup().await;
    let app = test::init_service(
        App::new()
            .app_data(passage.clone())
            .route("/me", web::get().to(me)),
    )
    .await;
    let token = emu.mint_token("user-10").unwrap();
    assert_eq!(
        get(
            &app,
            "/me",
            Some(("authorization", format!("Bearer {token}")))
        )
        .await
        .2,
        "user-10"
    );
}

#[tokio::test]
async fn behind_a_middleware_with_its_own_client_extractors_need_no_app_data() {
    let (emu, passage) = setup().await;
    let app = test::init_service(
        App::new()
            .wrap(PassageAuth::new(passage.clone()).optional())
            .route("/me", web::get().to(me))
            .route("/maybe", web::get().to(maybe)),
    )
    .await;
    let token = emu.mint_token("user-11").unwrap();
    let bearer = Some(("authorization", format!("Bearer {token}")));
    assert_eq!(get(&app, "/me", bearer.clone()).await.2, "user-11");
    assert_eq!(get(&app, "/maybe", bearer).await.2, "user-11");
    // The middleware's anonymous verdict is used as it is (before: a 500, "not configured").
    assert_eq!(
        get(&app, "/maybe", None).await,
        (200, None, "anonymous".to_owned())
    );
    let (status, challenge, _) = get(&app, "/me", None).await;
    assert_eq!(
        (status, challenge.as_deref()),
        (401, Some(r#"Bearer realm="passage""#))
    );
}
