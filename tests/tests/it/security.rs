//! One table of hostile requests, sent byte for byte over raw TCP to every adapter's example
//! server, and the JWKS faults an auth library must survive. The same rows drive axum, tower and
//! actix, so the three can never drift apart, and the tonic gRPC service (the rows' headers as
//! metadata, through a real tonic client).

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use passage_emulator::{Emulator, Fault, Signer, SigningKey, Target};
use passage_tests::{Adapter, Running, USER_ID, fast, start, start_tonic};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
};

/// What a row expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Status(u16),
    /// Refused before the app: 400/431, or the connection closed; never 2xx.
    Refused,
}

struct Row {
    name: String,
    headers: Vec<String>,
    expect: Expect,
}

fn row(name: impl Into<String>, headers: Vec<String>, expect: Expect) -> Row {
    Row {
        name: name.into(),
        headers,
        expect,
    }
}

fn bearer(token: &str) -> Vec<String> {
    vec![format!("Authorization: Bearer {token}")]
}

/// Sends `GET /me` with exactly these header lines; returns the status (0: connection closed).
async fn raw_get(base: &str, headers: &[String]) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut request = format!("GET /me HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for line in headers {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let _ = stream.write_all(request.as_bytes()).await;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        let text = String::from_utf8_lossy(&response);
        text.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

fn claims_json(emu: &Emulator, extra: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        r#"{{"sub":"{USER_ID}","aud":["http://localhost:3000","{}"],"iat":{now},"exp":{}{extra}}}"#,
        emu.app_id(),
        now + 600
    )
}

fn rows(emu: &Emulator, watched: &str, attacker: &SigningKey) -> Vec<Row> {
    use Expect::{Refused, Status};
    let kid = emu.current_key().kid().to_owned();
    let pem = emu.current_key().public_key_pem().into_bytes();
    let jwk = emu.current_key().jwk().to_string().into_bytes();
    let valid = emu.mint_token(USER_ID).unwrap();
    let signed = |b: passage_emulator::TokenBuilder| b.sign().unwrap();
    let mut rows = vec![
        row(
            "valid token (the suite can tell a pass)",
            bearer(&valid),
            Status(200),
        ),
        row(
            "valid token, lowercase scheme",
            vec![format!("Authorization: bearer {valid}")],
            Status(200),
        ),
        row(
            "valid token, extra spaces",
            vec![format!("Authorization: Bearer    {valid}")],
            Status(200),
        ),
        row(
            "valid cookie in a second Cookie header",
            vec![
                "Cookie: a=1".into(),
                format!("Cookie: psg_auth_token={valid}"),
            ],
            Status(200),
        ),
    ];
    // Algorithm attacks.
    for alg in ["none", "None", "NONE", "nOnE"] {
        rows.push(row(
            format!("alg {alg}"),
            bearer(&signed(
                emu.token(USER_ID).signer(Signer::None).header("alg", alg),
            )),
            Status(401),
        ));
    }
    rows.push(row(
        "empty signature claiming RS256",
        bearer(&signed(
            emu.token(USER_ID)
                .signer(Signer::None)
                .header("alg", "RS256"),
        )),
        Status(401),
    ));
    for (name, signer) in [
        ("HS256 keyed with the PEM", Signer::Hs256(pem.clone())),
        ("HS256 keyed with the JWK", Signer::Hs256(jwk.clone())),
        ("HS384 keyed with the PEM", Signer::Hs384(pem.clone())),
        ("RS384", Signer::Rs384),
        ("RS512", Signer::Rs512),
        ("PS256", Signer::Ps256),
        ("ES256", Signer::Es256),
    ] {
        rows.push(row(
            name,
            bearer(&signed(emu.token(USER_ID).signer(signer.clone()))),
            Status(401),
        ));
        rows.push(row(
            format!("{name} claiming RS256"),
            bearer(&signed(
                emu.token(USER_ID).signer(signer).header("alg", "RS256"),
            )),
            Status(401),
        ));
    }
    let forged = || {
        emu.token(USER_ID)
            .signer(Signer::Rs256With(attacker.clone()))
            .kid(attacker.kid())
    };
    rows.push(row(
        "embedded jwk",
        bearer(&signed(forged().header("jwk", attacker.jwk()))),
        Status(401),
    ));
    rows.push(row(
        "jku to a watched server",
        bearer(&signed(forged().header("jku", watched))),
        Status(401),
    ));
    rows.push(row(
        "x5u to a watched server",
        bearer(&signed(forged().header("x5u", watched))),
        Status(401),
    ));
    rows.push(row(
        "attacker key under our kid",
        bearer(&signed(forged().kid(&kid))),
        Status(401),
    ));
    for injected in [
        "../../../../etc/passwd",
        "' OR '1'='1",
        "kid\u{0}",
        "%00",
        "{{7*7}}",
        &"k".repeat(2000),
    ] {
        rows.push(row(
            format!("kid injection {:.20}", injected.escape_debug()),
            bearer(&signed(emu.token(USER_ID).kid(injected))),
            Status(401),
        ));
    }
    rows.push(row(
        "crit",
        bearer(&signed(emu.token(USER_ID).header("crit", ["exp"]))),
        Status(401),
    ));
    let crit_null = emu
        .sign_raw(
            format!(r#"{{"alg":"RS256","kid":"{kid}","crit":null}}"#),
            claims_json(emu, ""),
        )
        .unwrap();
    rows.push(row("crit null", bearer(&crit_null), Status(401)));
    // Claim abuse.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (name, builder) in [
        ("expired", emu.token(USER_ID).expires_in_secs(-1)),
        ("nbf ahead", emu.token(USER_ID).claim("nbf", now + 300)),
        (
            "exp as a string",
            emu.token(USER_ID).claim("exp", (now + 300).to_string()),
        ),
        (
            "exp as a float out of range",
            emu.token(USER_ID).claim("exp", 1e300),
        ),
        ("exp negative", emu.token(USER_ID).claim("exp", -1)),
        ("nbf as a string", emu.token(USER_ID).claim("nbf", "0")),
        ("no exp", emu.token(USER_ID).without_claim("exp")),
        ("no sub", emu.token(USER_ID).without_claim("sub")),
        ("empty sub", emu.token("")),
        ("sub a number", emu.token(USER_ID).claim("sub", 42)),
        (
            "aud of another app",
            emu.token(USER_ID).claim("aud", "other_app"),
        ),
        (
            "aud a prefix of our app id",
            emu.token(USER_ID)
                .claim("aud", [&emu.app_id()[..emu.app_id().len() - 1]]),
        ),
        (
            "aud our app id plus more",
            emu.token(USER_ID)
                .claim("aud", format!("{}x", emu.app_id())),
        ),
        ("no aud", emu.token(USER_ID).without_claim("aud")),
    ] {
        rows.push(row(name, bearer(&signed(builder)), Status(401)));
    }
    let big = "x".repeat(5_000);
    rows.push(row(
        "large claim set under the limit",
        bearer(&signed(emu.token(USER_ID).claim("pad", big))),
        Status(200),
    ));
    let huge = "x".repeat(10_000);
    rows.push(row(
        "claim set over the 8 KiB limit",
        bearer(&signed(emu.token(USER_ID).claim("pad", huge))),
        Status(401),
    ));
    let dup_header = emu
        .sign_raw(
            format!(r#"{{"alg":"RS256","alg":"none","kid":"{kid}"}}"#),
            claims_json(emu, ""),
        )
        .unwrap();
    rows.push(row(
        "duplicate alg in the header",
        bearer(&dup_header),
        Status(401),
    ));
    let dup_aud = emu
        .sign_raw(
            format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#),
            claims_json(emu, r#","aud":"other_app""#),
        )
        .unwrap();
    rows.push(row(
        "duplicate aud in the claims",
        bearer(&dup_aud),
        Status(401),
    ));
    let mut not_utf8 = format!(r#"{{"alg":"RS256","kid":"{kid}","x":""#).into_bytes();
    not_utf8.extend_from_slice(b"\xff\"}");
    rows.push(row(
        "a header member that is not UTF-8",
        bearer(&emu.sign_raw(&not_utf8, claims_json(emu, "")).unwrap()),
        Status(401),
    ));
    // Structural garbage.
    let (head, rest) = valid.split_once('.').unwrap();
    for (name, token) in [
        (
            "two segments",
            format!("{head}.{}", rest.split('.').next().unwrap()),
        ),
        ("four segments", format!("{valid}.x")),
        ("bad base64", format!("{head}!.{rest}")),
        ("base64 padding", format!("{valid}==")),
        (
            "standard base64 alphabet",
            valid.replacen('-', "+", 1).replacen('_', "/", 1),
        ),
        ("whitespace inside", format!("{head}\t.{rest}")),
        ("empty", String::new()),
    ] {
        rows.push(row(name, bearer(&token), Status(401)));
    }
    rows.push(row(
        "control character inside",
        vec![format!("Authorization: Bearer {head}\u{1}.{rest}")],
        Refused,
    ));
    rows.push(row("1 MB token", bearer(&"a".repeat(1 << 20)), Refused));
    // Near misses of the verified token, which the first row put into the token cache: a cache
    // lookup compares raw bytes, so each must miss and then fail the full checks.
    for (name, token) in [
        (
            "cached token plus a non-ASCII byte",
            format!("{valid}\u{e9}"),
        ),
        ("cached token minus its last byte", {
            let mut cut = valid.clone();
            cut.pop();
            cut
        }),
        ("cached token with one signature byte changed", {
            let at = valid.len() - 10;
            let swap = if &valid[at..=at] == "A" { "B" } else { "A" };
            format!("{}{swap}{}", &valid[..at], &valid[at + 1..])
        }),
    ] {
        rows.push(row(name, bearer(&token), Status(401)));
    }
    rows.push(row(
        "cached token plus a DEL (refused by the HTTP parser)",
        bearer(&format!("{valid}\u{7f}")),
        Refused,
    ));
    rows.push(row(
        "cached token then a tab (optional white space)",
        vec![format!("Authorization: Bearer {valid}\t")],
        Status(200),
    ));
    // Credential placement.
    rows.push(row(
        "two Authorization headers",
        vec![bearer(&valid)[0].clone(), bearer(&valid)[0].clone()],
        Status(401),
    ));
    rows.push(row(
        "two different psg_auth_token cookies",
        vec![format!(
            "Cookie: psg_auth_token={valid}; psg_auth_token=x.y.z"
        )],
        Status(401),
    ));
    rows.push(row(
        "two equal psg_auth_token cookies",
        vec![
            format!("Cookie: psg_auth_token={valid}"),
            format!("Cookie: psg_auth_token={valid}"),
        ],
        Status(200),
    ));
    let expired = signed(emu.token(USER_ID).expires_in_secs(-5));
    rows.push(row(
        "bad header beside a good cookie",
        vec![
            bearer(&expired)[0].clone(),
            format!("Cookie: psg_auth_token={valid}"),
        ],
        Status(401),
    ));
    rows.push(row(
        "Bearer without a token",
        vec!["Authorization: Bearer".into()],
        Status(401),
    ));
    rows.push(row(
        "Basic credentials",
        vec!["Authorization: Basic dXNlcjpwYXNz".into()],
        Status(401),
    ));
    rows.push(row(
        "token without a scheme",
        vec![format!("Authorization: {valid}")],
        Status(401),
    ));
    rows
}

/// A server that counts every connection made to it; it must stay at zero.
async fn watched_server() -> (String, Arc<AtomicUsize>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/keys.json", listener.local_addr().unwrap());
    let contacts = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&contacts);
    let task = tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (url, contacts, task)
}

#[tokio::test]
async fn hostile_requests_are_refused_by_every_adapter() {
    let (watched, contacts, watcher) = watched_server().await;
    let attacker = SigningKey::generate().unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for adapter in Adapter::ALL {
        let server = start(adapter, fast).await.unwrap();
        for row in rows(&server.emulator, &watched, &attacker) {
            count += 1;
            let status = raw_get(&server.base, &row.headers).await;
            let ok = match row.expect {
                Expect::Status(expected) => status == expected,
                Expect::Refused => matches!(status, 0 | 400 | 401 | 431),
            };
            if !ok {
                failures.push(format!(
                    "{adapter:?} / {}: got {status}, expected {:?}",
                    row.name, row.expect
                ));
            }
        }
    }
    assert!(count > 150, "{count} rows ran");
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        contacts.load(Ordering::SeqCst),
        0,
        "a header URL was followed"
    );
    watcher.abort();
}

/// Calls the tonic service's `WhoAmI` on a new connection with these header lines as metadata,
/// their values trimmed of spaces and tabs as an HTTP/1 parser trims them; returns the status
/// an HTTP server would have answered: 200 (the row's user), 401 (`UNAUTHENTICATED`), 503
/// (`UNAVAILABLE`), or 0: refused before the service (by the client, which sends no invalid
/// metadata, or by the HTTP/2 server, as with a header list over its limit).
async fn grpc_get(base: &str, headers: &[String]) -> u16 {
    use example_tonic::{WhoAmIRequest, who_am_i_client::WhoAmIClient};
    use tonic::{Code, metadata::MetadataValue};

    let mut request = tonic::Request::new(WhoAmIRequest {});
    for line in headers {
        let Some((name, value)) = line.split_once(':') else {
            return 0;
        };
        let name = name.to_ascii_lowercase();
        let Ok(value) = MetadataValue::try_from(value.trim_matches([' ', '\t'])) else {
            return 0;
        };
        let Ok(name) = tonic::metadata::AsciiMetadataKey::from_bytes(name.as_bytes()) else {
            return 0;
        };
        request.metadata_mut().append(name, value);
    }
    let exchange = async {
        let channel = tonic::transport::Endpoint::from_shared(base.to_owned())
            .unwrap()
            .connect()
            .await
            .unwrap();
        match WhoAmIClient::new(channel).who_am_i(request).await {
            Ok(reply) if reply.get_ref().user_id == USER_ID => 200,
            Ok(_) => 299,
            Err(status) => match status.code() {
                Code::Unauthenticated => 401,
                Code::Unavailable => 503,
                _ => 0,
            },
        }
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .unwrap_or(0)
}

#[tokio::test]
async fn hostile_requests_are_refused_by_the_tonic_service() {
    let (watched, contacts, watcher) = watched_server().await;
    let attacker = SigningKey::generate().unwrap();
    let server = start_tonic(fast).await.unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for row in rows(&server.emulator, &watched, &attacker) {
        count += 1;
        let status = grpc_get(&server.base, &row.headers).await;
        let ok = match row.expect {
            Expect::Status(expected) => status == expected,
            Expect::Refused => matches!(status, 0 | 401),
        };
        if !ok {
            failures.push(format!(
                "tonic / {}: got {status}, expected {:?}",
                row.name, row.expect
            ));
        }
    }
    assert!(count > 50, "{count} rows ran");
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        contacts.load(Ordering::SeqCst),
        0,
        "a header URL was followed"
    );
    watcher.abort();
}

/// Test-friendly settings, and key sets that may go stale at once (with `no-cache` from the
/// emulator), so refreshes happen during the test.
fn stale_keys(builder: passage_core::PassageBuilder) -> passage_core::PassageBuilder {
    fast(builder).jwks_ttl_bounds(Duration::ZERO, Duration::from_secs(60))
}

async fn me(server: &Running, token: &str) -> u16 {
    server
        .get("/me", &[("authorization", format!("Bearer {token}"))])
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_hanging_jwks_is_503_in_time_and_the_app_still_answers() {
    for adapter in Adapter::ALL {
        let server = start(adapter, |b| {
            fast(b).jwks_fetch_timeout(Duration::from_millis(300))
        })
        .await
        .unwrap();
        server.emulator.set_fault(Target::Jwks, Fault::Hang);
        let token = server.emulator.mint_token(USER_ID).unwrap();
        let (status, health) = tokio::join!(me(&server, &token), async {
            server.get("/healthz", &[]).await.unwrap().status().as_u16()
        });
        assert_eq!((status, health), (503, 200), "{adapter:?}");
    }
}

#[tokio::test]
async fn cached_keys_serve_through_garbage_and_outages_after_warm_up() {
    for adapter in Adapter::ALL {
        let server = start(adapter, |b| stale_keys(b).token_cache_capacity(0))
            .await
            .unwrap();
        server.emulator.set_jwks_cache_control("no-cache");
        let token = server.emulator.mint_token(USER_ID).unwrap();
        assert_eq!(me(&server, &token).await, 200);
        for fault in [Fault::Garbage, Fault::Unavailable, Fault::Close] {
            server.emulator.set_fault(Target::Jwks, fault);
            let hits = server.emulator.jwks_hits();
            for _ in 0..3 {
                assert_eq!(me(&server, &token).await, 200, "{adapter:?} {fault:?}");
                tokio::time::sleep(Duration::from_millis(120)).await; // past the backoff
            }
            assert!(
                server.emulator.jwks_hits() > hits,
                "{adapter:?} {fault:?}: refreshes were attempted"
            );
        }
    }
}

#[tokio::test]
async fn rotation_is_accepted_and_removal_is_enforced_even_for_cached_tokens() {
    for adapter in Adapter::ALL {
        let server = start(adapter, stale_keys).await.unwrap();
        server.emulator.set_jwks_cache_control("no-cache");
        let old_kid = server.emulator.current_key().kid().to_owned();
        let old = server.emulator.mint_token(USER_ID).unwrap();
        assert_eq!(me(&server, &old).await, 200);
        assert_eq!(
            me(&server, &old).await,
            200,
            "now in the verified-token cache"
        );
        tokio::time::sleep(Duration::from_millis(250)).await; // past the refetch cooldown
        server.emulator.rotate_key().unwrap();
        let new = server.emulator.mint_token(USER_ID).unwrap();
        assert_eq!(
            me(&server, &new).await,
            200,
            "{adapter:?}: new kid accepted on first use"
        );
        server.emulator.retire_key(&old_kid);
        // The stale set refreshes in the background; wait until the removal is seen.
        let mut status = 200;
        for _ in 0..50 {
            status = me(&server, &old).await;
            if status == 401 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            status, 401,
            "{adapter:?}: a token under a removed key is refused"
        );
        assert_eq!(me(&server, &new).await, 200);
    }
}

#[tokio::test]
async fn unknown_kid_floods_cause_bounded_fetches() {
    for adapter in Adapter::ALL {
        let server = start(adapter, |b| {
            fast(b).jwks_refetch_cooldown(Duration::from_secs(60))
        })
        .await
        .unwrap();
        assert_eq!(
            me(&server, &server.emulator.mint_token(USER_ID).unwrap()).await,
            200
        );
        let tokens: Vec<String> = (0..100)
            .map(|i| {
                server
                    .emulator
                    .token(USER_ID)
                    .kid(&format!("flood-{i}"))
                    .sign()
                    .unwrap()
            })
            .collect();
        let statuses = futures_util::future::join_all(tokens.iter().map(|t| me(&server, t))).await;
        assert!(statuses.iter().all(|s| *s == 401), "{adapter:?}");
        assert_eq!(
            server.emulator.jwks_hits(),
            2,
            "{adapter:?}: one fetch for the whole flood (the cooldown)"
        );
    }
}
