// tests/auth.rs of an axum app: its routes against a local Passage (passage-emulator, a
// dev-dependency), called in process with `oneshot` (tower, feature `util`).
use std::time::{Duration, Instant};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::State,
    http::{Request, StatusCode, header},
    routing::get,
};
use passage_axum::{Passage, PassageBuilder, PassageLayer, PassageUser};
use passage_emulator::{Emulator, Fault, SeedUser, Target};
use tower::ServiceExt as _;

type Error = Box<dyn std::error::Error + Send + Sync>;

// The app, as its `main` builds it (there with `Passage::from_env()`).
#[derive(Clone)]
struct AppState {
    passage: Passage,
}

async fn me(user: PassageUser) -> String {
    user.user_id().to_owned()
}

async fn email(State(state): State<AppState>, user: PassageUser) -> Result<String, StatusCode> {
    let record = state.passage.users().get(user.user_id()).await;
    record
        .map(|user| user.email)
        .map_err(|_| StatusCode::BAD_GATEWAY)
}

fn app(passage: Passage) -> Router {
    Router::new()
        .route("/me", get(me))
        .route("/email", get(email))
        .layer(PassageLayer::new(passage.clone()))
        .with_state(AppState { passage })
}

// A local Passage with one user, and a client for it. The short JWKS fetch timeout makes a test
// of a hanging JWKS wait 300 ms instead of the default 5 s.
async fn local_passage() -> Result<(Emulator, Passage), Error> {
    let emulator = Emulator::builder()
        .user(SeedUser::email("ada@example.com").with_id("user-ada"))
        .start()
        .await?;
    let passage = PassageBuilder::from_env_vars(emulator.env_vars())?
        .jwks_fetch_timeout(Duration::from_millis(300))
        .build()?;
    Ok((emulator, passage))
}

async fn get_as(app: &Router, path: &str, token: &str) -> Result<(StatusCode, String), Error> {
    let mut request = Request::get(path);
    if !token.is_empty() {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = app.clone().oneshot(request.body(Body::empty())?).await?;
    let status = response.status();
    let body = to_bytes(response.into_body(), 64 * 1024).await?;
    Ok((status, String::from_utf8(body.to_vec())?))
}

#[tokio::test]
async fn signed_in_users_reach_their_routes() -> Result<(), Error> {
    let (emulator, passage) = local_passage().await?;
    let app = app(passage);
    let token = emulator.mint_token("user-ada")?;
    assert_eq!(
        get_as(&app, "/me", &token).await?,
        (StatusCode::OK, "user-ada".into())
    );
    let email = get_as(&app, "/email", &token).await?;
    assert_eq!(email, (StatusCode::OK, "ada@example.com".into()));
    assert_eq!(get_as(&app, "/me", "").await?.0, StatusCode::UNAUTHORIZED);
    let expired = emulator.token("user-ada").expires_in_secs(-5).sign()?;
    assert_eq!(
        get_as(&app, "/me", &expired).await?.0,
        StatusCode::UNAUTHORIZED
    );
    Ok(())
}

#[tokio::test]
async fn a_hanging_jwks_is_a_503_after_the_fetch_timeout() -> Result<(), Error> {
    let (emulator, passage) = local_passage().await?;
    let app = app(passage);
    emulator.set_fault(Target::Jwks, Fault::Hang);
    let token = emulator.mint_token("user-ada")?;
    let started = Instant::now();
    let (status, body) = get_as(&app, "/me", &token).await?;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("keys_unavailable"), "{body}");
    // The 300 ms timeout, not the default 5 s.
    assert!(started.elapsed() < Duration::from_secs(5));
    Ok(())
}
