//! Two `passage-server` processes on one PostgreSQL, as replicas behind a load balancer: every
//! ceremony may start on one and finish on the other, a token from one is good at the other,
//! limits count across both, a key rotated by a third process is served and used by both, and a
//! replica killed mid-ceremony loses nothing its peer needs.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    authenticator::Authenticator,
    cli::smtp_sink,
    postgres_server::PostgresServer,
    support::{ORIGIN, subject},
};

const API_KEY: &str = "replica-api-key-0123456789";
const APP: &str = "passage_app";

/// One server process and its two URLs.
struct Replica {
    child: Child,
    auth: String,
    api: String,
    http: reqwest::Client,
}

impl Replica {
    /// `passage-server serve` on `database`, sealing with `key_file`, mailing through `smtp`.
    fn start(database: &str, key_file: &std::path::Path, smtp: u16) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_passage-server"))
            .args(["serve", "--database", database, "--auth-origin", ORIGIN])
            .args(["--auth-bind", "127.0.0.1:0", "--api-bind", "127.0.0.1:0"])
            .args(["--key-reload-secs", "1", "--magic-link-limit", "2"])
            .arg("--key-file")
            .arg(key_file)
            .args(["--smtp-url", &format!("smtp://127.0.0.1:{smtp}")])
            .args(["--mail-from", "Passage <noreply@example.com>"])
            .env("PASSAGE_API_KEY", API_KEY)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let banner = std::io::BufRead::lines(std::io::BufReader::new(stdout))
            .map_while(Result::ok)
            .find(|line| line.contains("Authentication API on"))
            .unwrap_or_default();
        let url_after = |label: &str| {
            banner
                .split(label)
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .map(|url| url.trim_end_matches(',').to_owned())
                .unwrap_or_else(|| panic!("no {label} in {banner:?}"))
        };
        Self {
            auth: url_after("Authentication API on "),
            api: url_after("Management API on "),
            child,
            http: reqwest::Client::new(),
        }
    }

    /// An Authentication API call, from browser `browser`, with `token` when given.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/v1/apps/{APP}{path}", self.auth))
            .header("Passage-Browser", "the-one-browser");
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body), None).await
    }

    /// The JWKS, as the Management listener serves it.
    async fn jwks(&self) -> Value {
        self.http
            .get(format!("{}/v1/apps/{APP}/.well-known/jwks.json", self.api))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Killed at once (SIGKILL): no graceful anything.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kids(jwks: &Value) -> Vec<String> {
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

/// The `kid` a token was signed under.
fn kid(auth_result: &Value) -> String {
    let token = auth_result["auth_token"].as_str().unwrap();
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header).unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// Signs in with a passkey: the login starts at `start`, finishes at `finish`.
async fn sign_in(
    start: &Replica,
    finish: &Replica,
    key: &mut Authenticator,
    identifier: &str,
) -> Value {
    let (status, started) = start
        .post("/login/webauthn/start", json!({ "identifier": identifier }))
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let response = key.sign_in(&started["handshake"]["challenge"], false);
    let (status, finished) = finish
        .post(
            "/login/webauthn/finish",
            json!({
                "handshake_id": started["handshake"]["id"],
                "handshake_response": response,
                "user_id": started["user"]["id"],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{finished}");
    finished["auth_result"].clone()
}

/// Polls `check` every 100 ms, for at most `limit`: whether it came true.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn two_replicas_on_one_postgres_are_one_passage() {
    let postgres = PostgresServer::start();
    let database = postgres.database("replicas").await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("sealing.key");
    let generated = Command::new(env!("CARGO_BIN_EXE_passage-server"))
        .arg("generate-key")
        .output()
        .unwrap();
    std::fs::write(&key_file, &generated.stdout).unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let (smtp, mut mails) = smtp_sink().await;
    // Started at once on an empty database: one key set between them.
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| Replica::start(&database, &key_file, smtp));
        let b = scope.spawn(|| Replica::start(&database, &key_file, smtp));
        (a.join().unwrap(), b.join().unwrap())
    });
    let first_keys = a.jwks().await;
    assert_eq!(kids(&first_keys).len(), 1, "{first_keys}");
    assert_eq!(first_keys, b.jwks().await, "both replicas serve one JWKS");

    // A registration started on A finishes on B.
    let mut key = Authenticator::new(ORIGIN);
    let (status, started) = a
        .post(
            "/register/webauthn/start",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let response = key.register(&started["handshake"]["challenge"]);
    let (status, registered) = b
        .post(
            "/register/webauthn/finish",
            json!({
                "handshake_id": started["handshake"]["id"],
                "handshake_response": response,
                "user_id": started["user"]["id"],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{registered}");
    let ada = subject(&registered["auth_result"]);

    // A sign-in started on B finishes on A; A's token is good at B, and B's refresh at A.
    let signed_in = sign_in(&b, &a, &mut key, "ada@example.com").await;
    assert_eq!(subject(&signed_in), ada);
    let token = signed_in["auth_token"].as_str().unwrap();
    let (status, current) = b.call(Method::GET, "/currentuser", None, Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{current}");
    assert_eq!(current["user"]["id"], ada.as_str(), "{current}");
    let (status, refreshed) = a
        .post(
            "/tokens",
            json!({ "refresh_token": signed_in["refresh_token"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    // The rotated refresh token is spent on both: presenting it again at B ends the session.
    let (status, _) = b
        .post(
            "/tokens",
            json!({ "refresh_token": signed_in["refresh_token"] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The per-address limit (2 here) counts across both replicas.
    let link = json!({ "identifier": "ada@example.com", "magic_link_path": "/" });
    assert_eq!(
        a.post("/login/magic-link", link.clone()).await.0,
        StatusCode::OK
    );
    assert_eq!(
        b.post("/login/magic-link", link.clone()).await.0,
        StatusCode::OK
    );
    let (status, refused) = a.post("/login/magic-link", link.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{refused}");
    for _ in 0..2 {
        mails.recv().await.unwrap();
    }

    // A replica killed mid-ceremony: the sign-in it started finishes on its peer.
    let (status, started) = a
        .post(
            "/login/webauthn/start",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    a.kill();
    let response = key.sign_in(&started["handshake"]["challenge"], false);
    let (status, finished) = b
        .post(
            "/login/webauthn/finish",
            json!({
                "handshake_id": started["handshake"]["id"],
                "handshake_response": response,
                "user_id": started["user"]["id"],
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{finished}");
    let a = Replica::start(&database, &key_file, smtp);
    assert_eq!(
        a.jwks().await,
        b.jwks().await,
        "a restarted replica serves the same keys"
    );

    // A key rotated by a third process: announced by both within a reload, signing from
    // 8 s on, at both; the key before stays served for the tokens it signed.
    let old_kid = kids(&first_keys)[0].clone();
    let rotated = Command::new(env!("CARGO_BIN_EXE_passage-server"))
        .args([
            "rotate-key",
            "--database",
            &database,
            "--signs-in-secs",
            "8",
        ])
        .arg("--key-file")
        .arg(&key_file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&rotated.stdout);
    assert!(
        rotated.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let new_kid = said
        .split("new signing key ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap()
        .to_owned();
    let both = {
        let mut both = vec![old_kid.clone(), new_kid.clone()];
        both.sort();
        both
    };
    assert!(
        eventually(Duration::from_secs(6), || async {
            kids(&a.jwks().await) == both && kids(&b.jwks().await) == both
        })
        .await,
        "both replicas announce the new key"
    );
    let before = sign_in(&a, &b, &mut key, "ada@example.com").await;
    assert_eq!(kid(&before), old_kid, "announced, not yet signing");
    // B signs with the rotated key once its time came (8 s; the replicas read keys every 1 s).
    let mut after = Value::Null;
    for _ in 0..40 {
        after = sign_in(&b, &a, &mut key, "ada@example.com").await;
        if kid(&after) == new_kid {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        kid(&after),
        new_kid,
        "the rotated key signs once its time came"
    );
    let token = after["auth_token"].as_str().unwrap();
    assert_eq!(
        a.call(Method::GET, "/currentuser", None, Some(token))
            .await
            .0,
        StatusCode::OK,
        "a token under the new key is good at the other replica"
    );
    let token = before["auth_token"].as_str().unwrap();
    assert_eq!(
        b.call(Method::GET, "/currentuser", None, Some(token))
            .await
            .0,
        StatusCode::OK,
        "a token under the old key is still good"
    );
    assert_eq!(a.jwks().await, b.jwks().await);
}
