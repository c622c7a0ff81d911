//! The extractor and middleware through `actix_web::test`, against a started emulator's JWKS.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

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

/// What the code under test logs, as text.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Log {
    type Writer = Self;

    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

/// An application's own app data: the client is one field of it, which the extractors do not
/// look into.
#[derive(Clone)]
struct AppState {
    passage: Passage,
    greeting: &'static str,
}

async fn greet(state: web::Data<AppState>, user: PassageUser) -> HttpResponse {
    HttpResponse::Ok().body(format!("{} {}", state.greeting, user.user_id()))
}

async fn greet_maybe(state: web::Data<AppState>, user: Option<PassageUser>) -> HttpResponse {
    let name = user.map_or_else(|| "stranger".to_owned(), |u| u.user_id().to_owned());
    HttpResponse::Ok().body(format!("{} {name}", state.greeting))
}

#[tokio::test]
async fn an_app_with_its_own_app_data_works_behind_the_middleware() {
    let (emu, passage) = setup().await;
    let state = AppState {
        passage: passage.clone(),
        greeting: "hello",
    };
    let token = emu.mint_token("user-12").unwrap();
    let bearer = || Some(("authorization", format!("Bearer {token}")));
    // The client is only in the app's own state and in the middleware.
    let optional = test::init_service(
        App::new()
            .app_data(web::Data::new(state.clone()))
            .wrap(PassageAuth::new(state.passage.clone()).optional())
            .route("/greet", web::get().to(greet))
            .route("/greet-maybe", web::get().to(greet_maybe)),
    )
    .await;
    assert_eq!(get(&optional, "/greet", bearer()).await.2, "hello user-12");
    assert_eq!(
        get(&optional, "/greet-maybe", bearer()).await.2,
        "hello user-12"
    );
    assert_eq!(
        get(&optional, "/greet-maybe", None).await.2,
        "hello stranger"
    );
    assert_eq!(get(&optional, "/greet", None).await.0, 401);
    // Behind a required middleware, `Option<PassageUser>` never sees an anonymous request.
    let required = test::init_service(
        App::new()
            .app_data(web::Data::new(state))
            .wrap(PassageAuth::new(passage))
            .route("/greet-maybe", web::get().to(greet_maybe)),
    )
    .await;
    assert_eq!(
        get(&required, "/greet-maybe", bearer()).await.2,
        "hello user-12"
    );
    assert_eq!(get(&required, "/greet-maybe", None).await.0, 401);
}

#[tokio::test]
async fn a_missing_client_is_a_clear_500() {
    let (emu, passage) = setup().await;
    let log = Log::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .finish();
    // The test runs on one thread (tokio's current-thread runtime), and so does the extractor.
    let _log = tracing::subscriber::set_default(subscriber);
    let token = emu.mint_token("user-13").unwrap();
    // The client only inside the app's own state: the extractors do not look there.
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(AppState {
                passage,
                greeting: "hello",
            }))
            .route("/me", web::get().to(me))
            .route("/maybe", web::get().to(maybe)),
    )
    .await;
    for path in ["/me", "/maybe"] {
        for header in [Some(("authorization", format!("Bearer {token}"))), None] {
            let (status, challenge, body) = get(&app, path, header).await;
            assert_eq!((status, challenge), (500, None), "{path}");
            assert_eq!(
                body,
                r#"{"code":"passage_not_configured","message":"Authentication is not configured on this server."}"#,
                "{path}: a stable code, and nothing about the request"
            );
        }
    }
    let logged = log.text();
    assert!(logged.contains("ERROR"), "{logged}");
    assert!(
        logged.contains("PassageUser found neither a PassageAuth verdict nor a Passage client"),
        "{logged}"
    );
    assert!(
        logged.contains("web::Data::new(passage)"),
        "the fix is in the log: {logged}"
    );
    assert!(!logged.contains(&token), "no token in the log");
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
