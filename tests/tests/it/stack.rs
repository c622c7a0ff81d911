//! The production stack of `example-axum` and `example-tower` (tower-http around the layer):
//! nothing that logs sees a token, and CORS lets only the configured front-ends read answers.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use http::HeaderValue;
use passage_tests::{Adapter, Options, Running, USER_ID, fast, start_with};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

/// Log lines written into a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// `RUST_LOG=trace` into `capture`: every event and every span's opening and closing, with
/// their fields, without colours.
fn trace_into(capture: &Capture) -> tracing::Dispatch {
    let capture = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
        .with_ansi(false)
        .with_writer(move || capture.clone())
        .finish();
    tracing::Dispatch::new(subscriber)
}

async fn send(
    server: &Running,
    path: &str,
    headers: &[(header::HeaderName, String)],
) -> (StatusCode, Value) {
    let mut request = server.http.get(format!("{}{path}", server.base));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

/// The parts of a token that identify it: the whole, the claims and the signature.
fn secrets(token: &str) -> Vec<String> {
    let mut parts: Vec<String> = token.split('.').skip(1).map(str::to_owned).collect();
    parts.push(token.to_owned());
    parts
}

#[tokio::test]
async fn no_token_or_cookie_value_reaches_the_log_at_trace_level() {
    // Both captures exist before either server runs. `tracing` caches whether a call site is
    // wanted when the site is first reached; while only one scoped subscriber exists, a site
    // first reached on another thread (another test) asks only that thread's subscriber (none)
    // and is cached as unwanted. With two, every live subscriber is asked.
    let captures: Vec<_> = [Adapter::Axum, Adapter::Tower]
        .into_iter()
        .map(|adapter| {
            let capture = Capture::default();
            let dispatch = trace_into(&capture);
            (adapter, capture, dispatch)
        })
        .collect();
    for (adapter, capture, dispatch) in captures {
        let options = Options {
            log: Some(dispatch),
            ..Options::default()
        };
        let server = start_with(adapter, fast, options).await.unwrap();
        let emu = &server.emulator;
        let header_token = emu.mint_token(USER_ID).unwrap();
        let cookie_token = emu.token(USER_ID).claim("via", "cookie").sign().unwrap();
        let query_token = emu.token(USER_ID).claim("via", "query").sign().unwrap();
        let forged = {
            let token = emu.token(USER_ID).claim("via", "forged").sign().unwrap();
            let at = token.len() - 10;
            let swap = if &token[at..=at] == "A" { "B" } else { "A" };
            format!("{}{swap}{}", &token[..at], &token[at + 1..])
        };

        // The header wins; the cookie rides along unread.
        let (status, body) = send(
            &server,
            "/me",
            &[
                (header::AUTHORIZATION, format!("Bearer {header_token}")),
                (
                    header::COOKIE,
                    format!("theme=dark; psg_auth_token={cookie_token}"),
                ),
            ],
        )
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({ "user_id": USER_ID })),
            "{adapter:?}"
        );
        // The cookie alone.
        let (status, body) = send(
            &server,
            "/profile",
            &[(header::COOKIE, format!("psg_auth_token={cookie_token}"))],
        )
        .await;
        assert_eq!(
            (status, &body["user_id"]),
            (StatusCode::OK, &json!(USER_ID))
        );
        // A refused token, with another in the query string (where no token belongs, but where
        // a careless client puts one).
        let (status, _) = send(
            &server,
            &format!("/maybe?access_token={query_token}"),
            &[(header::AUTHORIZATION, format!("Bearer {forged}"))],
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{adapter:?}");
        // Last: once its answer is in, the events of the requests before it are written.
        assert_eq!(send(&server, "/healthz", &[]).await.0, StatusCode::OK);

        let log = capture.text();
        assert!(
            log.contains("path=/me") && log.contains("path=/profile"),
            "{adapter:?}: the request spans are in the log:\n{log}"
        );
        assert!(
            log.contains("path=/healthz") && log.contains("status=200"),
            "{adapter:?}: the log has the last request and its answer:\n{log}"
        );
        assert!(
            log.contains("passage_core"),
            "{adapter:?}: passage-core's own events are in the log:\n{log}"
        );
        for secret in [&header_token, &cookie_token, &query_token, &forged]
            .into_iter()
            .flat_map(|token| secrets(token))
        {
            assert!(
                !log.contains(&secret),
                "{adapter:?}: a token (or a part of one) is in the log:\n{log}"
            );
        }
        assert!(
            !log.contains("access_token"),
            "{adapter:?}: a query string is in the log"
        );
    }
}

const FRONT_END: &str = "https://app.example.com";

/// Sends `method path` from a page at `origin`, with `headers`.
async fn from_origin(
    server: &Running,
    method: Method,
    path: &str,
    origin: &str,
    headers: &[(header::HeaderName, String)],
) -> reqwest::Response {
    let mut request = server
        .http
        .request(method, format!("{}{path}", server.base))
        .header(header::ORIGIN, origin);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.unwrap()
}

fn header_of(response: &reqwest::Response, name: header::HeaderName) -> Option<&str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn preflight() -> Vec<(header::HeaderName, String)> {
    vec![
        (header::ACCESS_CONTROL_REQUEST_METHOD, "GET".into()),
        (
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization".into(),
        ),
    ]
}

#[tokio::test]
async fn cors_lets_only_the_configured_front_ends_read_answers_with_credentials() {
    for adapter in [Adapter::Axum, Adapter::Tower] {
        let options = Options {
            cors_origins: vec![HeaderValue::from_static(FRONT_END)],
            ..Options::default()
        };
        let server = start_with(adapter, fast, options).await.unwrap();
        let token = server.emulator.mint_token(USER_ID).unwrap();

        // The preflight is answered in front of the Passage layer (it carries no token).
        let response = from_origin(&server, Method::OPTIONS, "/me", FRONT_END, &preflight()).await;
        assert!(response.status().is_success(), "{adapter:?}");
        assert_eq!(
            header_of(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some(FRONT_END),
            "{adapter:?}"
        );
        assert_eq!(
            header_of(&response, header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
            Some("true")
        );
        let allowed = header_of(&response, header::ACCESS_CONTROL_ALLOW_HEADERS).unwrap_or("");
        assert!(allowed.contains("authorization"), "{adapter:?}: {allowed}");

        // The cookie authenticates a cross-origin request, and the page may read the answer.
        let response = from_origin(
            &server,
            Method::GET,
            "/me",
            FRONT_END,
            &[(header::COOKIE, format!("psg_auth_token={token}"))],
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{adapter:?}");
        assert_eq!(
            header_of(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some(FRONT_END)
        );
        assert_eq!(
            header_of(&response, header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
            Some("true")
        );
        assert!(
            header_of(&response, header::VARY).is_some_and(|v| v.contains("origin")),
            "{adapter:?}: caches keep answers per origin"
        );
        let body: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(body, json!({ "user_id": USER_ID }));

        // A refusal carries the headers too, so the page can read the 401 and its challenge.
        let response = from_origin(&server, Method::GET, "/me", FRONT_END, &[]).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{adapter:?}");
        assert_eq!(
            header_of(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some(FRONT_END)
        );
        let exposed = header_of(&response, header::ACCESS_CONTROL_EXPOSE_HEADERS).unwrap_or("");
        assert!(
            exposed.contains("www-authenticate"),
            "{adapter:?}: {exposed}"
        );

        // Any other origin: no CORS header, so a browser lets that page read nothing (the
        // server still answers; CORS is the browser's rule).
        for origin in [
            "https://evil.example",
            "https://app.example.com.evil.example",
            "null",
        ] {
            for (method, headers) in [
                (Method::OPTIONS, preflight()),
                (
                    Method::GET,
                    vec![(header::COOKIE, format!("psg_auth_token={token}"))],
                ),
            ] {
                let response = from_origin(&server, method.clone(), "/me", origin, &headers).await;
                // (`Access-Control-Allow-Credentials` may still be there: without an allowed
                // origin a browser ignores it.)
                assert_eq!(
                    header_of(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN),
                    None,
                    "{adapter:?} {method} from {origin}"
                );
            }
        }
    }
}

#[tokio::test]
async fn without_configured_origins_no_other_origin_is_allowed() {
    for adapter in [Adapter::Axum, Adapter::Tower] {
        let server = start_with(adapter, fast, Options::default()).await.unwrap();
        let response = from_origin(&server, Method::OPTIONS, "/me", FRONT_END, &preflight()).await;
        assert_eq!(
            header_of(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            None,
            "{adapter:?}"
        );
        // Same-origin and non-browser clients are unaffected.
        let token = server.emulator.mint_token(USER_ID).unwrap();
        let (status, body) = send(
            &server,
            "/me",
            &[(header::AUTHORIZATION, format!("Bearer {token}"))],
        )
        .await;
        assert_eq!(
            (status, body),
            (StatusCode::OK, json!({ "user_id": USER_ID })),
            "{adapter:?}"
        );
    }
}
