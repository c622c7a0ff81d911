//! Development mode: the conveniences under `/__emulator` (mint tokens, sign a browser in with a
//! cookie, seed and reset users, rotate keys, set faults, read counters) and fault injection.
//! Only a server started in development mode serves them; no real Passage route lives here.

pub(crate) mod faults;

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

use self::faults::{Fault, Target};
use crate::{
    keys::SigningKey,
    management::{body, error::ApiError, reply},
    state::{Shared, lock},
    store::{SeedUser, UserQuery},
    token::TokenBuilder,
};

/// Paths under this prefix are development mode's own, never Passage's.
pub(crate) const PREFIX: &str = "/__emulator";

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/token", post(token))
        .route("/sign-in", get(sign_in))
        .route("/sign-out", get(sign_out))
        .route("/users", post(seed).get(users))
        .route("/reset", post(reset))
        .route("/rotate-key", post(rotate_key))
        .route("/faults", post(set_fault))
        .route("/stats", get(stats))
}

#[derive(Deserialize)]
struct TokenRequest {
    user_id: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

fn mint(shared: &Arc<Shared>, user_id: &str, expires_in: Option<i64>) -> Result<String, ApiError> {
    let mut builder = TokenBuilder::new(Arc::clone(shared), user_id);
    if let Some(secs) = expires_in {
        builder = builder.expires_in_secs(secs);
    }
    builder.sign().map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            e.to_string(),
        )
    })
}

async fn token(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Result<Response, ApiError> {
    let request: TokenRequest = body(&bytes)?;
    let token = mint(&shared, &request.user_id, request.expires_in)?;
    Ok(reply(StatusCode::OK, json!({ "token": token })))
}

#[derive(Deserialize)]
struct SignIn {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    redirect: Option<String>,
}

/// Signs a browser in: sets `psg_auth_token` for the first user (or `user_id`) and redirects.
async fn sign_in(
    State(shared): State<Arc<Shared>>,
    Query(query): Query<SignIn>,
) -> Result<Response, ApiError> {
    let user = match query.user_id {
        Some(id) => shared.store.user(&id).await?,
        None => {
            let first = UserQuery {
                limit: 1,
                ..UserQuery::default()
            };
            shared
                .store
                .list_users(&first)
                .await?
                .users
                .into_iter()
                .next()
        }
    };
    let user_id = user.ok_or_else(ApiError::user_not_found)?.id;
    let token = mint(&shared, &user_id, None)?;
    shared.store.record_login(&user_id).await?;
    let cookie = format!(
        "psg_auth_token={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        shared.token_ttl_secs
    );
    Ok(redirect(query.redirect, cookie))
}

async fn sign_out(Query(query): Query<SignIn>) -> Response {
    redirect(
        query.redirect,
        "psg_auth_token=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0".to_owned(),
    )
}

fn redirect(to: Option<String>, cookie: String) -> Response {
    let to = to
        .filter(|t| safe_redirect(t))
        .unwrap_or_else(|| "/".to_owned());
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, to), (header::SET_COOKIE, cookie)],
    )
        .into_response()
}

/// Relative paths, or absolute `http` URLs on this machine (the app being developed on another
/// local port): never an open redirect to another site.
fn safe_redirect(to: &str) -> bool {
    if to.starts_with('/') {
        return !to.starts_with("//") && !to.starts_with("/\\");
    }
    let Some(rest) = to.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

async fn seed(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Result<Response, ApiError> {
    let seed: SeedUser = body(&bytes)?;
    let user = shared.store.insert_user(seed).await?;
    Ok(reply(StatusCode::CREATED, json!({ "user": user })))
}

async fn users(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let all = UserQuery {
        limit: usize::MAX,
        ..UserQuery::default()
    };
    let users = shared.store.list_users(&all).await?.users;
    Ok(reply(StatusCode::OK, json!({ "users": users })))
}

async fn reset(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    shared.store.clear().await?;
    *lock(&shared.faults) = faults::Faults::default();
    Ok(reply(StatusCode::OK, json!({})))
}

#[derive(Deserialize, Default)]
struct Rotate {
    #[serde(default)]
    retire_old: bool,
}

async fn rotate_key(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Result<Response, ApiError> {
    let request: Rotate = if bytes.is_empty() {
        Rotate::default()
    } else {
        body(&bytes)?
    };
    let key = SigningKey::generate().map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            e.to_string(),
        )
    })?;
    lock(&shared.keys).rotate(key.clone(), request.retire_old);
    Ok(reply(StatusCode::OK, json!({ "kid": key.kid() })))
}

#[derive(Deserialize)]
struct FaultRequest {
    target: String,
    /// `unavailable`, `hang`, `garbage`, `close`, `lose-response`, `slow:<ms>`, a status code,
    /// or `none`.
    fault: String,
    #[serde(default)]
    times: Option<u32>,
}

async fn set_fault(State(shared): State<Arc<Shared>>, bytes: Bytes) -> Result<Response, ApiError> {
    let request: FaultRequest = body(&bytes)?;
    let target = match request.target.as_str() {
        "jwks" => Target::Jwks,
        "api" => Target::Api,
        _ => return Err(ApiError::bad_request("target: must be jwks or api")),
    };
    let fault = match request.fault.as_str() {
        "none" => None,
        "unavailable" => Some(Fault::Unavailable),
        "hang" => Some(Fault::Hang),
        "garbage" => Some(Fault::Garbage),
        "close" => Some(Fault::Close),
        "lose-response" => Some(Fault::LoseResponse),
        other if other.starts_with("slow:") => Some(Fault::Slow(Duration::from_millis(
            other
                .trim_start_matches("slow:")
                .parse()
                .map_err(|_| ApiError::bad_request("fault: slow:<milliseconds>"))?,
        ))),
        code => Some(Fault::Status(
            code.parse()
                .ok()
                .filter(|c| (400..600).contains(c))
                .ok_or_else(|| ApiError::bad_request("fault: unknown"))?,
        )),
    };
    lock(&shared.faults).set(target, fault, request.times);
    Ok(reply(StatusCode::OK, json!({})))
}

async fn stats(State(shared): State<Arc<Shared>>) -> Result<Response, ApiError> {
    let users = shared
        .store
        .list_users(&UserQuery {
            limit: 0,
            ..UserQuery::default()
        })
        .await?
        .total;
    Ok(reply(
        StatusCode::OK,
        json!({ "jwks_hits": shared.jwks_hits.load(Ordering::Relaxed), "users": users }),
    ))
}

#[cfg(test)]
mod tests {
    use super::safe_redirect;

    #[test]
    fn redirects_stay_on_this_machine() {
        for ok in [
            "/",
            "/home?x=1",
            "http://127.0.0.1:3000/",
            "http://localhost:8080/me",
            "http://[::1]:3000/",
        ] {
            assert!(safe_redirect(ok), "{ok}");
        }
        for bad in [
            "//evil.example",
            "https://evil.example",
            "http://evil.example/",
            "http://127.0.0.1.evil.example/",
            "http://localhost@evil.example/",
            "javascript:alert(1)",
            "/\\evil.example",
        ] {
            assert!(!safe_redirect(bad), "{bad}");
        }
    }
}
