//! The example routes (README, "Quick start"), end to end, for every adapter.

use std::time::Duration;

use passage_emulator::{Fault, Target};
use passage_tests::{Adapter, Running, USER_EMAIL, USER_ID, fast, start};
use serde_json::{Value, json};

async fn server(adapter: Adapter) -> Running {
    start(adapter, fast).await.unwrap()
}

async fn answer(
    running: &Running,
    path: &str,
    headers: &[(&str, String)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = running.get(path, headers).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, headers, body)
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

#[tokio::test]
async fn the_routes_answer_as_designed() {
    for adapter in Adapter::ALL {
        let s = server(adapter).await;
        let token = s.emulator.mint_token(USER_ID).unwrap();

        assert_eq!(answer(&s, "/healthz", &[]).await.0, 200, "{adapter:?}");
        assert_eq!(
            answer(&s, "/healthz", &bearer("garbage")).await.0,
            200,
            "{adapter:?}: healthz ignores auth"
        );

        let (status, _, body) = answer(&s, "/me", &bearer(&token)).await;
        assert_eq!(
            (status, body),
            (200, json!({ "user_id": USER_ID })),
            "{adapter:?}"
        );
        let (status, _, body) =
            answer(&s, "/me", &[("authorization", format!("bearer {token}"))]).await;
        assert_eq!(
            (status, body),
            (200, json!({ "user_id": USER_ID })),
            "{adapter:?}"
        );
        let (status, _, body) = answer(
            &s,
            "/me",
            &[("cookie", format!("theme=dark; psg_auth_token={token}"))],
        )
        .await;
        assert_eq!(
            (status, body),
            (200, json!({ "user_id": USER_ID })),
            "{adapter:?}"
        );

        let (status, headers, body) = answer(&s, "/me", &[]).await;
        assert_eq!(status, 401, "{adapter:?}");
        assert_eq!(headers["www-authenticate"], r#"Bearer realm="passage""#);
        assert_eq!(body["code"], "missing_token");

        let (status, _, body) = answer(&s, "/maybe", &[]).await;
        assert_eq!(
            (status, body),
            (200, json!({ "user_id": null })),
            "{adapter:?}"
        );
        let (status, _, body) = answer(&s, "/maybe", &bearer(&token)).await;
        assert_eq!(
            (status, body),
            (200, json!({ "user_id": USER_ID })),
            "{adapter:?}"
        );
        let (status, headers, body) = answer(&s, "/maybe", &bearer("x.y.z")).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("malformed_token")),
            "{adapter:?}: a bad token is not anonymous"
        );
        assert_eq!(
            headers["www-authenticate"],
            r#"Bearer realm="passage", error="invalid_token""#
        );

        let (status, _, body) = answer(&s, "/profile", &bearer(&token)).await;
        assert_eq!(status, 200, "{adapter:?}: {body}");
        assert_eq!(
            (body["email"].as_str(), body["status"].as_str()),
            (Some(USER_EMAIL), Some("active"))
        );
        // The Management API's 404, not a router's (tower's fallback answers 404 `not_found`).
        let stranger = s.emulator.mint_token("no-such-user").unwrap();
        let (status, _, body) = answer(&s, "/profile", &bearer(&stranger)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (404, Some("user_not_found")),
            "{adapter:?}"
        );
        let (status, _, body) = answer(&s, "/profile", &[]).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("missing_token")),
            "{adapter:?}"
        );
    }
}

/// The browser demo of example-axum, walked as a browser would (without one): the page links to
/// the development sign-in, which sets the cookie for this host and sends us back; the cookie
/// then authenticates; the development sign-out clears it.
#[tokio::test]
async fn the_demo_page_signs_in_and_out() {
    let s = server(Adapter::Axum).await;
    let page = s.http.get(format!("{}/", s.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Sign in as demo user"));
    let link = |id: &str| {
        let pattern = format!(r#"id="{id}" href=""#);
        let start = html.find(&pattern).unwrap() + pattern.len();
        html[start..]
            .split('"')
            .next()
            .unwrap()
            .replace("&amp;", "&")
    };
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = no_redirects.get(link("sign-in")).send().await.unwrap();
    assert_eq!(signed_in.status(), 303);
    let back = signed_in.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        back.trim_end_matches('/'),
        s.base
            .trim_start_matches("http://")
            .split('/')
            .next()
            .map(|h| format!("http://{h}"))
            .unwrap()
    );
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("psg_auth_token="));
    let (status, _, body) = answer(&s, "/me", &[("cookie", cookie.clone())]).await;
    assert_eq!((status, body), (200, json!({ "user_id": USER_ID })));
    let (status, _, body) = answer(&s, "/profile", &[("cookie", cookie)]).await;
    assert_eq!((status, body["email"].as_str()), (200, Some(USER_EMAIL)));
    // The page's sign-out button ends at the development sign-out, which clears the cookie.
    let dev_sign_out = html
        .split(r#""devSignOut":""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(html.contains(r#"<button id="sign-out">"#));
    let signed_out = no_redirects.get(dev_sign_out).send().await.unwrap();
    assert!(
        signed_out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

/// `GET /` with this `Host` header, sent byte for byte (a client library may set or check the
/// header itself): the status and the page.
async fn page_for_host(base: &str, host: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .expect("the page answered within 10 s")
        .unwrap();
    let response = String::from_utf8(response).unwrap();
    let (head, page) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, page.to_owned())
}

/// The demo page builds its sign-in link back to the host it was opened with; a `Host` header
/// that is not a plain host\[:port\] is ignored, never written into the page.
#[tokio::test]
async fn a_hostile_host_header_never_reaches_the_demo_page() {
    let s = server(Adapter::Axum).await;
    let port = s.emulator.addr().port();
    // Control: a plain host name is used, for the Management API's link and the way back.
    let (status, page) = page_for_host(&s.base, "demo.test:8080").await;
    assert_eq!(status, 200);
    let reflected = format!(
        r#"id="sign-in" href="http://demo.test:{port}/__emulator/sign-in?redirect=http://demo.test:8080/""#
    );
    assert!(page.contains(&reflected), "{page}");

    for hostile in [
        r#"x"><script>"#,
        r#"x"><img src=x onerror=alert(1)>"#,
        "x'onmouseover='alert(1)",
        "x/\"></a><script>alert(1)</script>",
    ] {
        let (status, page) = page_for_host(&s.base, hostile).await;
        assert_eq!(status, 200, "{hostile}");
        assert!(!page.contains(hostile), "{hostile} is in the page:\n{page}");
        // Ignored, not escaped: the links are those of a request without a usable Host.
        let fallback = format!(
            r#"id="sign-in" href="{}/__emulator/sign-in?redirect=/""#,
            s.emulator.url()
        );
        assert!(page.contains(&fallback), "{hostile}:\n{page}");
        assert!(
            !page.contains("x&quot;") && !page.contains("x\\\""),
            "{hostile}:\n{page}"
        );
    }
}

#[tokio::test]
async fn a_bad_header_never_falls_back_to_a_good_cookie() {
    for adapter in Adapter::ALL {
        let s = server(adapter).await;
        let good = s.emulator.mint_token(USER_ID).unwrap();
        let expired = s
            .emulator
            .token(USER_ID)
            .expires_in_secs(-10)
            .sign()
            .unwrap();
        let mut headers = bearer(&expired);
        headers.push(("cookie", format!("psg_auth_token={good}")));
        let (status, _, body) = answer(&s, "/me", &headers).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_token")),
            "{adapter:?}"
        );
    }
}

#[tokio::test]
async fn jwks_down_at_cold_start_is_503_then_recovers() {
    for adapter in Adapter::ALL {
        let s = server(adapter).await;
        let token = s.emulator.mint_token(USER_ID).unwrap();
        s.emulator.set_fault(Target::Jwks, Fault::Unavailable);
        let (status, headers, body) = answer(&s, "/me", &bearer(&token)).await;
        assert_eq!(status, 503, "{adapter:?}");
        assert!(headers.contains_key("retry-after"), "{adapter:?}");
        assert_eq!(body["code"], "keys_unavailable");
        // The rest of the app still answers.
        assert_eq!(answer(&s, "/healthz", &[]).await.0, 200);
        s.emulator.clear_fault(Target::Jwks);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(
            answer(&s, "/me", &bearer(&token)).await.0,
            200,
            "{adapter:?}"
        );
    }
}

#[tokio::test]
async fn concurrent_first_requests_fetch_the_jwks_once() {
    for adapter in Adapter::ALL {
        let s = server(adapter).await;
        let token = s.emulator.mint_token(USER_ID).unwrap();
        let headers = bearer(&token);
        let requests = (0..200).map(|_| s.get("/me", &headers));
        let responses = futures_util::future::join_all(requests).await;
        for response in responses {
            assert_eq!(response.unwrap().status(), 200, "{adapter:?}");
        }
        assert_eq!(s.emulator.jwks_hits(), 1, "{adapter:?}");
    }
}

/// `GET /metrics` answers without a token (it is outside the Passage layer) in the Prometheus
/// text format, and counts the request just made; no label holds a user id or a token.
#[tokio::test]
async fn metrics_are_scraped_without_a_token() {
    for adapter in Adapter::ALL {
        let s = server(adapter).await;
        let token = s.emulator.mint_token(USER_ID).unwrap();
        assert_eq!(
            answer(&s, "/me", &bearer(&token)).await.0,
            200,
            "{adapter:?}"
        );

        for headers in [vec![], bearer("garbage")] {
            let response = s.get("/metrics", &headers).await.unwrap();
            assert_eq!(response.status(), 200, "{adapter:?}");
            assert!(
                response.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/plain; version=0.0.4"),
                "{adapter:?}"
            );
            let text = response.text().await.unwrap();
            assert!(
                text.contains(r#"passage_validations_total{outcome="ok"}"#),
                "{adapter:?}: {text}"
            );
            assert!(text.contains("# TYPE passage_validations_total counter"));
            assert!(!text.contains(USER_ID) && !text.contains(&token[token.len() - 20..]));
        }
    }
}
