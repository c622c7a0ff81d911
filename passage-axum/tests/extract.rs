//! The extractor through `tower::ServiceExt::oneshot`, with and without the layer, in routers
//! with the client as their state and with a state of their own.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Extension, Router,
    body::Body,
    extract::{FromRef, State},
    routing::get,
};
use http::{Request, StatusCode, header};
use passage_axum::{Passage, PassageLayer, PassageRejection, PassageUser};
use passage_core::PassageBuilder;
use passage_emulator::{Emulator, Fault, Target};
use tower::ServiceExt as _;

async fn me(user: PassageUser) -> String {
    user.user_id().to_owned()
}

async fn maybe(user: Option<PassageUser>) -> String {
    user.map_or_else(|| "anonymous".to_owned(), |u| u.user_id().to_owned())
}

/// `/me` and `/maybe` behind `layer`, or, without one, with the client in an `Extension`.
fn router(passage: &Passage, layer: Option<PassageLayer>) -> Router {
    let routes = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe));
    match layer {
        Some(layer) => routes.layer(layer),
        None => routes.layer(Extension(passage.clone())),
    }
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

/// An application's own state, as every real app has one: the client is one field of it.
#[derive(Clone)]
struct AppState {
    passage: Passage,
    greeting: &'static str,
}

/// Only for the handler that calls the Management API with `State<Passage>`; `PassageUser`
/// needs no such impl.
impl FromRef<AppState> for Passage {
    fn from_ref(state: &AppState) -> Self {
        state.passage.clone()
    }
}

async fn hello(State(state): State<AppState>, user: PassageUser) -> String {
    format!("{} {}", state.greeting, user.user_id())
}

async fn hello_maybe(State(state): State<AppState>, user: Option<PassageUser>) -> String {
    let name = user.map_or_else(|| "stranger".to_owned(), |u| u.user_id().to_owned());
    format!("{} {name}", state.greeting)
}

/// The user's email, through the Management API with the client from the app's state.
async fn email(State(passage): State<Passage>, user: PassageUser) -> String {
    let record = passage.users().get(user.user_id()).await.unwrap();
    record.email
}

/// The app's routes with its own state; `client` adds what gives `PassageUser` its verdict or
/// its client (a layer, an `Extension`), or nothing.
fn own_state_app(
    state: AppState,
    client: impl FnOnce(Router<AppState>) -> Router<AppState>,
) -> Router {
    let routes = Router::new()
        .route("/hello", get(hello))
        .route("/hello-maybe", get(hello_maybe))
        .route("/email", get(email));
    client(routes).with_state(state)
}

#[tokio::test]
async fn an_app_with_its_own_state_works_behind_the_layer() {
    let emu = Emulator::builder()
        .app_id("app_axum")
        .user(passage_emulator::SeedUser::email("ada@example.com").with_id("user-ada"))
        .start()
        .await
        .unwrap();
    let passage = PassageBuilder::from_env_vars(emu.env_vars())
        .unwrap()
        .build()
        .unwrap();
    let state = AppState {
        passage: passage.clone(),
        greeting: "hello",
    };
    let token = emu.mint_token("user-ada").unwrap();
    let bearer = vec![(header::AUTHORIZATION, format!("Bearer {token}"))];

    let optional = own_state_app(state.clone(), |routes| {
        routes.layer(PassageLayer::new(passage.clone()).optional())
    });
    assert_eq!(call(&optional, "/hello", &bearer).await.2, "hello user-ada");
    assert_eq!(
        call(&optional, "/hello-maybe", &bearer).await.2,
        "hello user-ada"
    );
    assert_eq!(
        call(&optional, "/hello-maybe", &[]).await.2,
        "hello stranger"
    );
    assert_eq!(
        call(&optional, "/email", &bearer).await.2,
        "ada@example.com"
    );
    let (status, headers, body) = call(&optional, "/hello", &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        headers[header::WWW_AUTHENTICATE],
        r#"Bearer realm="passage""#
    );
    assert!(body.contains("missing_token"), "{body}");

    // Behind a required layer, `Option<PassageUser>` never sees an anonymous request: the layer
    // refuses it first.
    let required = own_state_app(state, |routes| {
        routes.layer(PassageLayer::new(passage.clone()))
    });
    assert_eq!(
        call(&required, "/hello-maybe", &bearer).await.2,
        "hello user-ada"
    );
    assert_eq!(
        call(&required, "/hello-maybe", &[]).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn without_a_layer_the_client_comes_from_an_extension() {
    let (emu, passage) = setup().await;
    let state = AppState {
        passage: passage.clone(),
        greeting: "hi",
    };
    let app = own_state_app(state, |routes| routes.layer(Extension(passage.clone())));
    let token = emu.mint_token("user-7").unwrap();
    let expired = emu.token("user-7").expires_in_secs(-5).sign().unwrap();
    let bearer = |t: &str| vec![(header::AUTHORIZATION, format!("Bearer {t}"))];
    assert_eq!(call(&app, "/hello", &bearer(&token)).await.2, "hi user-7");
    assert_eq!(call(&app, "/hello-maybe", &[]).await.2, "hi stranger");
    assert_eq!(
        call(&app, "/hello", &bearer(&expired)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, "/hello-maybe", &bearer(&expired)).await.0,
        StatusCode::UNAUTHORIZED,
        "a bad token is not anonymous"
    );
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

#[tokio::test]
async fn without_a_layer_and_without_a_client_is_a_clear_500() {
    let (emu, passage) = setup().await;
    let log = Log::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(log.clone())
        .with_ansi(false)
        .finish();
    // The test runs on one thread (tokio's current-thread runtime), and so does the extractor.
    let _log = tracing::subscriber::set_default(subscriber);
    let token = emu.mint_token("user-7").unwrap();
    let bearer = [(header::AUTHORIZATION, format!("Bearer {token}"))];

    let state = AppState {
        passage: passage.clone(),
        greeting: "hi",
    };
    // The client is in the state, but the extractor reads the request: nothing gives it a
    // verdict or a client. So is a router whose state is the bare client.
    let own_state = own_state_app(state, |routes| routes);
    let client_as_state = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .with_state(passage);
    for (app, paths) in [
        (own_state, ["/hello", "/hello-maybe"]),
        (client_as_state, ["/me", "/maybe"]),
    ] {
        for path in paths {
            for headers in [&bearer[..], &[]] {
                let (status, response_headers, body) = call(&app, path, headers).await;
                assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}");
                assert_eq!(
                    body,
                    r#"{"code":"passage_not_configured","message":"Authentication is not configured on this server."}"#,
                    "{path}: a stable code, and nothing about the request"
                );
                assert_eq!(response_headers[header::CONTENT_TYPE], "application/json");
            }
        }
    }
    let logged = log.text();
    assert!(logged.contains("ERROR"), "{logged}");
    assert!(
        logged.contains("PassageUser found neither a PassageLayer's verdict nor a Passage client"),
        "{logged}"
    );
    assert!(
        logged.contains("Extension(passage)"),
        "the fix is in the log: {logged}"
    );
    assert!(!logged.contains(&token), "no token in the log");
}

#[tokio::test]
async fn the_rejection_says_what_went_wrong() {
    let (emu, passage) = setup().await;
    async fn status(user: Result<PassageUser, PassageRejection>) -> String {
        match user {
            Ok(user) => user.user_id().to_owned(),
            Err(rejection) => format!("{} {}", rejection.status().as_u16(), rejection.code()),
        }
    }
    let configured = Router::new()
        .route("/status", get(status))
        .layer(Extension(passage));
    let unconfigured = Router::new().route("/status", get(status));
    let token = emu.mint_token("user-7").unwrap();
    let bearer = vec![(header::AUTHORIZATION, format!("Bearer {token}"))];
    assert_eq!(call(&configured, "/status", &bearer).await.2, "user-7");
    assert_eq!(
        call(&configured, "/status", &[]).await.2,
        "401 missing_token"
    );
    assert_eq!(
        call(&unconfigured, "/status", &bearer).await.2,
        "500 passage_not_configured"
    );
}

#[tokio::test]
async fn a_layer_of_another_app_is_not_trusted_by_the_extension_s_client() {
    let (emu_a, a) = setup().await;
    let emu_b = Emulator::builder()
        .app_id("app_other")
        .start()
        .await
        .unwrap();
    let b = PassageBuilder::from_env_vars(emu_b.env_vars())
        .unwrap()
        .build()
        .unwrap();
    // A's layer authenticates A's user; the extractor's own client is B's.
    let app = Router::new()
        .route("/me", get(me))
        .route("/maybe", get(maybe))
        .layer(PassageLayer::new(a).optional())
        .layer(Extension(b));
    let token_a = emu_a.mint_token("user-a").unwrap();
    let token_b = emu_b.mint_token("user-b").unwrap();
    let bearer = |t: &str| vec![(header::AUTHORIZATION, format!("Bearer {t}"))];
    assert_eq!(
        call(&app, "/me", &bearer(&token_a)).await.0,
        StatusCode::UNAUTHORIZED,
        "B's extractor trusted A's claims"
    );
    assert_eq!(call(&app, "/maybe", &[]).await.2, "anonymous");
    // B's own token is refused by A's layer before the extractor runs.
    assert_eq!(
        call(&app, "/me", &bearer(&token_b)).await.0,
        StatusCode::UNAUTHORIZED
    );
}
