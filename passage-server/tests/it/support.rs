//! Talking to a running server as passage-js and an app's backend do.

use passage_server::{Server, ServerBuilder};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::authenticator::Authenticator;

pub(crate) const ORIGIN: &str = "http://localhost:3000";
pub(crate) const API_KEY: &str = "test-api-key";

/// A development server on free loopback ports.
pub(crate) fn dev() -> ServerBuilder {
    Server::builder()
        .api_key(API_KEY)
        .app_id("test_app")
        .auth_origin(ORIGIN)
        .development(true)
}

/// A server, and a browser's view of its Authentication API: it sends its own browser id
/// (`Passage-Browser`) with every call, as `/passage-fetch.js` makes a page do.
pub(crate) struct Browser {
    pub(crate) server: Server,
    pub(crate) http: reqwest::Client,
    base: String,
    /// This browser's id.
    pub(crate) id: String,
}

impl Browser {
    pub(crate) async fn start(builder: ServerBuilder) -> Self {
        let server = builder.start().await.expect("the server starts");
        let base = format!("http://{}/v1/apps/{}", server.auth_addr(), server.app_id());
        Self {
            server,
            http: reqwest::Client::new(),
            base,
            id: format!("browser-{}", passage_server::store::random_id()),
        }
    }

    /// `method path` with `body`, sent from another browser (another browser id).
    pub(crate) async fn call_from(
        &self,
        browser_id: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Passage-Browser", browser_id);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Stops the server and waits until it let go of everything (its database included).
    pub(crate) async fn stop(self) {
        self.server.stop().await;
    }

    /// The Authentication API's URL for `path` (under `/v1/apps/{app_id}`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The Authentication API's root (no app path).
    pub(crate) fn root(&self) -> String {
        format!("http://{}", self.server.auth_addr())
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(method, path, body, None).await
    }

    pub(crate) async fn call_as(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Passage-Version", "@passageidentity/passage-js 4.1.2")
            .header("Passage-Browser", &self.id);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Registers `identifier` with a new passkey on `authenticator`: the auth result.
    pub(crate) async fn register(
        &self,
        authenticator: &mut Authenticator,
        identifier: &str,
    ) -> Value {
        let (status, start) = self
            .post(
                "/register/webauthn/start",
                json!({ "identifier": identifier, "authenticator_attachment": "platform" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{start}");
        let response = authenticator.register(&start["handshake"]["challenge"]);
        let (status, finish) = self
            .post(
                "/register/webauthn/finish",
                json!({
                    "handshake_id": start["handshake"]["id"],
                    "handshake_response": response,
                    "user_id": start["user"]["id"],
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{finish}");
        finish["auth_result"].clone()
    }

    /// Signs in with a passkey: with `identifier`, or discoverable (`None`).
    pub(crate) async fn sign_in(
        &self,
        authenticator: &mut Authenticator,
        identifier: Option<&str>,
    ) -> (StatusCode, Value) {
        let body = identifier.map_or_else(|| json!({}), |i| json!({ "identifier": i }));
        let (status, start) = self.post("/login/webauthn/start", body).await;
        assert_eq!(status, StatusCode::OK, "{start}");
        let response =
            authenticator.sign_in(&start["handshake"]["challenge"], identifier.is_none());
        let mut finish = json!({
            "handshake_id": start["handshake"]["id"],
            "handshake_response": response,
        });
        if identifier.is_some() {
            finish["user_id"] = start["user"]["id"].clone();
        }
        self.post("/login/webauthn/finish", finish).await
    }

    /// Asks for a magic link (`POST path` with `body`): the answer must be 200 and exactly one
    /// new message must arrive; returns it (never an older one).
    pub(crate) async fn mailed(&self, path: &str, body: Value) -> passage_server::Mail {
        let before = self.server.mailbox().len();
        let (status, answer) = self.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "POST {path} {body}: {answer}");
        let mailbox = self.server.mailbox();
        assert_eq!(
            mailbox.len(),
            before + 1,
            "POST {path} {body}: exactly one new message"
        );
        mailbox.into_iter().last().expect("the new message")
    }

    /// The stored user who holds `identifier` (there must be one).
    pub(crate) async fn stored_user(&self, identifier: &str) -> passage_server::store::User {
        self.server
            .store()
            .user_by_identifier(identifier)
            .await
            .expect("the store answers")
            .expect("a user holds the identifier")
    }

    /// Adds a passkey on `authenticator` as the user signed in with `token`: the finish answer.
    pub(crate) async fn add_passkey(
        &self,
        authenticator: &mut Authenticator,
        token: &str,
    ) -> (StatusCode, Value) {
        let (status, start) = self
            .call_as(
                Method::POST,
                "/currentuser/devices/start",
                Some(json!({})),
                Some(token),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{start}");
        let response = authenticator.register(&start["handshake"]["challenge"]);
        self.call_as(
            Method::POST,
            "/currentuser/devices/finish",
            Some(
                json!({ "handshake_id": start["handshake"]["id"], "handshake_response": response }),
            ),
            Some(token),
        )
        .await
    }

    /// A backend's validation of a token: the user id.
    pub(crate) async fn validate(&self, token: &str) -> Result<String, passage_core::AuthError> {
        let passage = passage_core::Passage::builder(self.server.app_id())
            .api_key(self.server.api_key())
            .auth_url(format!("http://{}", self.server.auth_addr()))
            .api_url(self.server.api_url())
            .build()
            .expect("a client");
        passage
            .auth()
            .validate_jwt(token)
            .await
            .map(|c| c.user_id().to_owned())
    }
}

/// The user id an auth token names (read, not validated).
pub(crate) fn subject(auth_result: &Value) -> String {
    let token = auth_result["auth_token"].as_str().expect("an auth token");
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .unwrap(),
    )
    .unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}
