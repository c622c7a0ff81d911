//! The emulator over real HTTP with plain reqwest (none of its own types): every route's status,
//! shape (field by field, against docs/wire-format.md), and error bodies.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use passage_emulator::{Emulator, SeedUser};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "wire_key";

struct Wire {
    emu: Emulator,
    http: Client,
}

impl Wire {
    async fn new() -> Self {
        let emu = Emulator::builder()
            .app_id("wire_app")
            .api_key(KEY)
            .user(
                SeedUser::email("Ada@Example.com")
                    .with_id("user-ada")
                    .with_phone("+14155550100")
                    .with_device("laptop"),
            )
            .start()
            .await
            .unwrap();
        Self {
            emu,
            http: Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/apps/wire_app{path}", self.emu.url())
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.send_with_key(method, path, body, Some(KEY)).await
    }

    async fn send_with_key(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            content_type.as_deref(),
            Some("application/json"),
            "{status} always JSON"
        );
        (
            status,
            serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
        )
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn assert_error(status: StatusCode, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(keys(body), ["code", "error"]);
    assert_eq!(body["code"], code);
    assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()));
}

const USER_FIELDS: [&str; 18] = [
    "created_at",
    "email",
    "email_verified",
    "external_id",
    "id",
    "last_login_at",
    "login_count",
    "phone",
    "phone_verified",
    "recent_events",
    "social_connections",
    "status",
    "updated_at",
    "user_metadata",
    "webauthn",
    "webauthn_devices",
    "webauthn_types",
    "webauthn_types",
];

fn assert_user_shape(user: &Value) {
    let mut expected: Vec<&str> = USER_FIELDS.to_vec();
    expected.dedup();
    assert_eq!(keys(user), expected);
    for field in [
        "id",
        "email",
        "phone",
        "external_id",
        "status",
        "created_at",
        "updated_at",
        "last_login_at",
    ] {
        assert!(user[field].is_string(), "{field}");
    }
    for field in ["email_verified", "phone_verified", "webauthn"] {
        assert!(user[field].is_boolean(), "{field}");
    }
    assert!(user["login_count"].is_i64());
    assert!(user["user_metadata"].is_null() || user["user_metadata"].is_object());
    for field in ["recent_events", "webauthn_devices", "webauthn_types"] {
        assert!(user[field].is_array(), "{field} is never null");
    }
    assert!(user["social_connections"].is_object());
    for field in ["created_at", "updated_at", "last_login_at"] {
        let text = user[field].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{field}: {text}"
        );
    }
}

#[tokio::test]
async fn jwks_is_served_with_cache_control_and_counts_hits() {
    let wire = Wire::new().await;
    let response = wire.http.get(wire.emu.jwks_url()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(keys(key), ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(
        (
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert_eq!(wire.emu.jwks_hits(), 1);
    let other = wire
        .http
        .get(format!(
            "{}/v1/apps/nope/.well-known/jwks.json",
            wire.emu.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn minted_tokens_validate_with_plain_jsonwebtoken() {
    let wire = Wire::new().await;
    let token = wire.emu.mint_token("user-ada").unwrap();
    let body = wire
        .http
        .get(wire.emu.jwks_url())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_slice(&body).unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["wire_app"]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
    assert_eq!(data.claims["sub"], "user-ada");
    assert_eq!(
        data.claims["aud"],
        json!(["http://localhost:3000", "wire_app"])
    );
    for claim in ["exp", "iat", "iss"] {
        assert!(data.claims.get(claim).is_some(), "{claim}");
    }
}

#[tokio::test]
async fn app_info_has_every_field() {
    let wire = Wire::new().await;
    let response = wire.http.get(wire.url("")).send().await.unwrap(); // no API key needed
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let app = &body["app"];
    for field in [
        "id",
        "name",
        "auth_origin",
        "redirect_url",
        "login_url",
        "hosted_subdomain",
        "hosted_theme",
        "role",
        "rsa_public_key",
        "allowed_identifier",
        "required_identifier",
        "application_login_uri",
        "auth_fallback_method",
        "default_language",
        "created_at",
        "type",
    ] {
        assert!(app[field].is_string(), "{field}");
    }
    for field in [
        "additional_auth_origins",
        "allowed_callback_urls",
        "allowed_logout_urls",
        "user_metadata_schema",
        "technologies",
    ] {
        assert!(app[field].is_array(), "{field}");
    }
    for field in [
        "auth_fallback_method_ttl",
        "refresh_absolute_lifetime",
        "refresh_inactivity_lifetime",
        "session_timeout_length",
    ] {
        assert!(app[field].is_i64(), "{field}");
    }
    for field in [
        "hosted",
        "auto_theme_enabled",
        "passage_branding",
        "profile_management",
        "public_signup",
        "refresh_enabled",
        "require_email_verification",
        "require_identifier_verification",
    ] {
        assert!(app[field].is_boolean(), "{field}");
    }
    assert!(app["auth_methods"]["passkeys"]["enabled"].is_boolean());
    for method in ["otp", "magic_link"] {
        assert!(
            app["auth_methods"][method]["ttl"]
                .as_i64()
                .is_some_and(|t| t >= 60)
        );
        assert!(app["auth_methods"][method]["ttl_display_unit"].is_string());
    }
    assert!(app["layouts"]["profile"].is_array() && app["layouts"]["registration"].is_array());
    assert!(
        app["element_customization"].is_object() && app["element_customization_dark"].is_object()
    );
    // Enum-typed fields carry only values the official SDKs' models accept.
    let allowed = |field: &str, value: &Value, set: &[&str]| {
        assert!(
            value.as_str().is_some_and(|v| set.contains(&v)),
            "{field}: {value}"
        );
    };
    allowed("type", &app["type"], &["complete", "flex"]);
    allowed(
        "hosted_theme",
        &app["hosted_theme"],
        &["auto", "light", "dark"],
    );
    let technologies = [
        "react",
        "go",
        "vue",
        "angular",
        "python",
        "javascript",
        "ios",
        "android",
    ];
    for technology in app["technologies"].as_array().unwrap() {
        allowed("technologies", technology, &technologies);
    }
    for method in ["otp", "magic_link"] {
        allowed(
            "ttl_display_unit",
            &app["auth_methods"][method]["ttl_display_unit"],
            &["s", "m", "h", "d"],
        );
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_with_official_codes() {
    let wire = Wire::new().await;
    let (status, body) = wire
        .send_with_key(Method::GET, "/no-such-route", None, None)
        .await;
    assert_error(status, &body, 404, "app_not_found");
    let response = wire
        .http
        .get(format!("{}/apps/wire_app/users", wire.emu.url())) // the base URL without /v1
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_error(status, &body, 404, "app_not_found");
    assert!(body["error"].as_str().unwrap().contains("/v1/apps/"));
    let (status, body) = wire.send(Method::PUT, "/users/user-ada", None).await;
    assert_error(status, &body, 405, "invalid_request");
}

#[tokio::test]
async fn status_faults_use_the_matching_passage_code() {
    use passage_emulator::{Fault, Target};
    let wire = Wire::new().await;
    for (status, code) in [
        (400, "invalid_request"),
        (401, "invalid_access_token"),
        (403, "operation_not_allowed"),
        (404, "user_not_found"),
        (409, "invalid_request"),
        (500, "internal_server_error"),
        (502, "internal_server_error"),
    ] {
        wire.emu
            .set_fault_times(Target::Api, Fault::Status(status), 1);
        let (got, body) = wire.send(Method::GET, "/users/user-ada", None).await;
        assert_error(got, &body, status, code);
    }
}

#[tokio::test]
async fn users_crud_with_exact_shapes() {
    let wire = Wire::new().await;
    let (status, body) = wire
        .send(
            Method::POST,
            "/users",
            Some(json!({"email": "Grace@Example.com"})),
        )
        .await;
    assert_eq!(status, 201);
    let user = &body["user"];
    assert_user_shape(user);
    assert_eq!(user["email"], "grace@example.com");
    assert_eq!(user["user_metadata"], Value::Null, "null when unset");
    let id = user["id"].as_str().unwrap().to_owned();

    let (status, body) = wire.send(Method::GET, &format!("/users/{id}"), None).await;
    assert_eq!(status, 200);
    assert_user_shape(&body["user"]);

    let (status, body) = wire
        .send(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({"user_metadata": {"plan": "pro"}})),
        )
        .await;
    assert_eq!(
        (status.as_u16(), &body["user"]["user_metadata"]["plan"]),
        (200, &json!("pro"))
    );

    let (status, body) = wire
        .send(Method::PATCH, &format!("/users/{id}/deactivate"), None)
        .await;
    assert_eq!(
        (status.as_u16(), body["user"]["status"].as_str()),
        (200, Some("inactive"))
    );
    let (status, body) = wire
        .send(Method::PATCH, &format!("/users/{id}/activate"), None)
        .await;
    assert_eq!(
        (status.as_u16(), body["user"]["status"].as_str()),
        (200, Some("active"))
    );

    let (status, _) = wire
        .send(Method::DELETE, &format!("/users/{id}"), None)
        .await;
    assert_eq!(status, 200);
    let (status, body) = wire.send(Method::GET, &format!("/users/{id}"), None).await;
    assert_error(status, &body, 404, "user_not_found");
}

#[tokio::test]
async fn devices_and_tokens() {
    let wire = Wire::new().await;
    let (status, body) = wire
        .send(Method::GET, "/users/user-ada/devices", None)
        .await;
    assert_eq!(status, 200);
    let device = &body["devices"][0];
    assert_eq!(
        keys(device),
        [
            "created_at",
            "cred_id",
            "friendly_name",
            "icons",
            "id",
            "last_login_at",
            "type",
            "updated_at",
            "usage_count"
        ]
    );
    assert_eq!(keys(&device["icons"]), ["dark", "light"]);
    assert!(device["icons"]["light"].is_null());
    let (status, body) = wire
        .send(Method::DELETE, "/users/user-ada/devices/nope", None)
        .await;
    assert_error(status, &body, 404, "device_not_found");
    let path = format!("/users/user-ada/devices/{}", device["id"].as_str().unwrap());
    assert_eq!(wire.send(Method::DELETE, &path, None).await.0, 200);
    assert_eq!(
        wire.send(Method::DELETE, "/users/user-ada/tokens", None)
            .await
            .0,
        200
    );
    let (status, body) = wire
        .send(Method::DELETE, "/users/nobody/tokens", None)
        .await;
    assert_error(status, &body, 404, "user_not_found");
}

#[tokio::test]
async fn api_key_app_and_body_errors() {
    let wire = Wire::new().await;
    let (status, body) = wire
        .send_with_key(Method::GET, "/users/user-ada", None, None)
        .await;
    assert_error(status, &body, 401, "invalid_access_token");
    let (status, body) = wire
        .send_with_key(Method::GET, "/users/user-ada", None, Some("wrong"))
        .await;
    assert_error(status, &body, 401, "invalid_access_token");
    let response = wire
        .http
        .get(format!("{}/v1/apps/nope/users", wire.emu.url()))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_error(status, &body, 404, "app_not_found");
    for bad in [
        json!("not an object"),
        json!({"email": "no-at-sign"}),
        json!({"phone": "555"}),
        json!({}),
        json!({"email": "a@b.co", "extra": 1}),
    ] {
        let (status, body) = wire.send(Method::POST, "/users", Some(bad.clone())).await;
        assert_error(status, &body, 400, "invalid_request");
    }
    let raw = wire
        .http
        .post(wire.url("/users"))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
}

#[tokio::test]
async fn the_status_filter_takes_operators() {
    let wire = Wire::new().await;
    let (status, _) = wire
        .send(
            Method::POST,
            "/users",
            Some(json!({"email": "bob@example.com"})),
        )
        .await;
    assert_eq!(status, 201);
    wire.send(Method::PATCH, "/users/user-ada/deactivate", None)
        .await;
    let ids = |body: &Value| -> Vec<String> {
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect()
    };
    for (filter, expected) in [
        ("active", vec!["bob@example.com"]),
        ("ne:active", vec!["ada@example.com"]),
        ("like:in", vec!["ada@example.com"]),
        ("not_like:in", vec!["bob@example.com"]),
    ] {
        let (status, body) = wire
            .send(
                Method::GET,
                &format!("/users?status={filter}&order_by=email:ASC"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{filter}");
        assert_eq!(ids(&body), expected, "{filter}");
    }
    let (status, body) = wire
        .send(Method::GET, "/users?status=ne:sleeping", None)
        .await;
    assert_error(status, &body, 400, "invalid_request");
}

#[tokio::test]
async fn listing_paginates_filters_and_lowercases_identifiers() {
    let wire = Wire::new().await;
    for i in 0..11 {
        wire.send(
            Method::POST,
            "/users",
            Some(json!({"email": format!("u{i:02}@example.com")})),
        )
        .await;
    }
    let (status, page) = wire
        .send(
            Method::GET,
            "/users?limit=5&page=2&order_by=email:ASC",
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        keys(&page),
        [
            "_links",
            "created_before",
            "limit",
            "page",
            "total_users",
            "users"
        ]
    );
    assert_eq!(
        keys(&page["_links"]),
        ["first", "last", "next", "previous", "self"]
    );
    assert_eq!(
        (
            page["limit"].as_i64(),
            page["page"].as_i64(),
            page["total_users"].as_i64()
        ),
        (Some(5), Some(2), Some(12))
    );
    assert!(
        page["_links"]["next"]["href"]
            .as_str()
            .unwrap()
            .contains("page=3")
    );
    assert!(
        page["_links"]["previous"]["href"]
            .as_str()
            .unwrap()
            .contains("page=1")
    );
    assert!(
        page["_links"]["last"]["href"]
            .as_str()
            .unwrap()
            .contains("page=3")
    );
    let item = &page["users"][0];
    assert_eq!(
        keys(item),
        [
            "created_at",
            "email",
            "email_verified",
            "external_id",
            "id",
            "last_login_at",
            "login_count",
            "phone",
            "phone_verified",
            "status",
            "updated_at",
            "user_metadata"
        ]
    );
    assert_eq!(item["email"], "u04@example.com");
    let (_, last) = wire.send(Method::GET, "/users?limit=5&page=3", None).await;
    assert_eq!(last["users"].as_array().unwrap().len(), 2);
    assert_eq!(last["_links"]["next"]["href"], "");

    let (_, found) = wire
        .send(
            Method::GET,
            "/users?limit=1&identifier=ada@example.com",
            None,
        )
        .await;
    assert_eq!(found["users"][0]["id"], "user-ada");
    let (_, by_phone) = wire
        .send(
            Method::GET,
            "/users?limit=1&identifier=%2B14155550100",
            None,
        )
        .await;
    assert_eq!(by_phone["users"][0]["id"], "user-ada");
    let (_, like) = wire
        .send(Method::GET, "/users?identifier=like:u0", None)
        .await;
    assert_eq!(like["total_users"], 10);
    let (_, counted) = wire
        .send(Method::GET, "/users?login_count=gt:0", None)
        .await;
    assert_eq!(counted["total_users"], 0);
    for bad in [
        "limit=0",
        "limit=501",
        "page=0",
        "status=weird",
        "login_count=x",
        "order_by=email:SIDEWAYS",
        "created_at=yesterday",
    ] {
        let (status, body) = wire.send(Method::GET, &format!("/users?{bad}"), None).await;
        assert_error(status, &body, 400, "invalid_request");
    }
}

#[tokio::test]
async fn parallel_creates_lose_nothing() {
    let wire = Wire::new().await;
    let creates = (0..100).map(|i| {
        wire.send(
            Method::POST,
            "/users",
            Some(json!({"email": format!("p{i}@example.com")})),
        )
    });
    for (status, _) in futures_util::future::join_all(creates).await {
        assert_eq!(status, 201);
    }
    let (_, page) = wire.send(Method::GET, "/users?limit=500", None).await;
    assert_eq!(page["total_users"], 101);
}

#[tokio::test]
async fn magic_links_validate_their_input() {
    let wire = Wire::new().await;
    let (status, body) = wire
        .send(
            Method::POST,
            "/magic-links",
            Some(
                json!({"email": "ada@example.com", "channel": "email", "language": "de", "ttl": 5}),
            ),
        )
        .await;
    assert_eq!(status, 201);
    let link = &body["magic_link"];
    assert_eq!(
        keys(link),
        [
            "activated",
            "app_id",
            "id",
            "identifier",
            "redirect_url",
            "secret",
            "ttl",
            "type",
            "url",
            "user_id"
        ]
    );
    assert_eq!(
        (
            link["type"].as_str(),
            link["ttl"].as_i64(),
            link["user_id"].as_str()
        ),
        (Some("login"), Some(5), Some("user-ada"))
    );
    for bad in [
        json!({"email": "ada@example.com", "language": "fr"}),
        json!({"email": "ada@example.com", "ttl": 0}),
        json!({"email": "ada@example.com", "type": "other"}),
        json!({"user_id": "user-ada"}),
        json!({"email": "ada@example.com", "phone": "+14155550100"}),
        json!({"email": "ada@example.com", "magic_link_path": "https://evil.example"}),
    ] {
        let (status, body) = wire.send(Method::POST, "/magic-links", Some(bad)).await;
        assert_error(status, &body, 400, "invalid_request");
    }
    let (status, body) = wire
        .send(
            Method::POST,
            "/magic-links",
            Some(json!({"user_id": "nobody", "channel": "email"})),
        )
        .await;
    assert_error(status, &body, 404, "user_not_found");
}

#[tokio::test]
async fn dev_endpoints_mint_sign_in_seed_and_fault() {
    let wire = Wire::new().await;
    let dev = |path: &str| format!("{}/__emulator{path}", wire.emu.url());
    let token: Value = serde_json::from_slice(
        &wire
            .http
            .post(dev("/token"))
            .body(r#"{"user_id":"user-ada"}"#)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(token["token"].as_str().unwrap().split('.').count(), 3);

    let no_redirects = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = no_redirects
        .get(dev("/sign-in?redirect=/home"))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/home");
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("psg_auth_token=ey") && cookie.contains("HttpOnly"));
    let open_redirect = no_redirects
        .get(dev("/sign-in?redirect=//evil.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(open_redirect.headers()["location"], "/");
    let (_, user) = wire.send(Method::GET, "/users/user-ada", None).await;
    assert_eq!(
        user["user"]["login_count"], 2,
        "each dev sign-in counts as a login"
    );
    assert_eq!(user["user"]["recent_events"][0]["action"], "login");

    let seeded = wire
        .http
        .post(dev("/users"))
        .body(r#"{"email":"seed@example.com","id":"seeded"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(seeded.status(), 201);
    let fault = wire
        .http
        .post(dev("/faults"))
        .body(r#"{"target":"jwks","fault":"unavailable","times":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(fault.status(), 200);
    assert_eq!(
        wire.http
            .get(wire.emu.jwks_url())
            .send()
            .await
            .unwrap()
            .status(),
        503
    );
    assert_eq!(
        wire.http
            .get(wire.emu.jwks_url())
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let stats: Value = serde_json::from_slice(
        &wire
            .http
            .get(dev("/stats"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stats, json!({"jwks_hits": 2, "users": 2}));
    assert_eq!(
        wire.http.post(dev("/reset")).send().await.unwrap().status(),
        200
    );
    let (status, _) = wire.send(Method::GET, "/users/user-ada", None).await;
    assert_eq!(status, 404);
}
