// tests/auth.rs of an actix-web app: its routes against a local Passage (passage-emulator, a
// dev-dependency), called in process with actix-web's `test` module.
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, http::StatusCode, http::header, test, web};
use passage_actix::{Passage, PassageAuth, PassageBuilder, PassageUser};
use passage_emulator::{Emulator, Fault, SeedUser, Target};

type Error = Box<dyn std::error::Error>;

// The app's routes, as its `main` registers them (there with `Passage::from_env()`).
async fn me(user: PassageUser) -> HttpResponse {
    HttpResponse::Ok().body(user.user_id().to_owned())
}

async fn email(passage: web::Data<Passage>, user: PassageUser) -> HttpResponse {
    match passage.users().get(user.user_id()).await {
        Ok(user) => HttpResponse::Ok().body(user.email),
        Err(_) => HttpResponse::BadGateway().finish(),
    }
}

fn routes(passage: Passage) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        config.app_data(web::Data::new(passage.clone())).service(
            web::scope("")
                .wrap(PassageAuth::new(passage))
                .route("/me", web::get().to(me))
                .route("/email", web::get().to(email)),
        );
    }
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

fn get_as(path: &str, token: &str) -> test::TestRequest {
    let request = test::TestRequest::get().uri(path);
    if token.is_empty() {
        return request;
    }
    request.insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
}

#[tokio::test]
async fn signed_in_users_reach_their_routes() -> Result<(), Error> {
    let (emulator, passage) = local_passage().await?;
    let app = test::init_service(App::new().configure(routes(passage))).await;
    let token = emulator.mint_token("user-ada")?;
    let response = test::call_service(&app, get_as("/me", &token).to_request()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(test::read_body(response).await, "user-ada");
    let response = test::call_service(&app, get_as("/email", &token).to_request()).await;
    assert_eq!(test::read_body(response).await, "ada@example.com");
    let response = test::call_service(&app, get_as("/me", "").to_request()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let expired = emulator.token("user-ada").expires_in_secs(-5).sign()?;
    let response = test::call_service(&app, get_as("/me", &expired).to_request()).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    Ok(())
}

#[tokio::test]
async fn a_hanging_jwks_is_a_503_after_the_fetch_timeout() -> Result<(), Error> {
    let (emulator, passage) = local_passage().await?;
    let app = test::init_service(App::new().configure(routes(passage))).await;
    emulator.set_fault(Target::Jwks, Fault::Hang);
    let token = emulator.mint_token("user-ada")?;
    let started = Instant::now();
    let response = test::call_service(&app, get_as("/me", &token).to_request()).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    // The 300 ms timeout, not the default 5 s.
    assert!(started.elapsed() < Duration::from_secs(5));
    Ok(())
}
