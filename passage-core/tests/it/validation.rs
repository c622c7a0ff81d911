//! passage-core validation over real loopback HTTP: a started passage-emulator serves the JWKS
//! and mints tokens with real RSA keys. One test per rule and per JWKS-policy behaviour.

use std::time::Duration;

use passage_core::{
    AuthError, ConfigError, Invalid, JwksError, Malformed, Passage, PassageBuilder, TokenSource,
};
use passage_emulator::{Emulator, Fault, Signer, Target};
use serde_json::json;

pub(crate) const USER: &str = "user-123";

pub(crate) async fn emulator() -> Emulator {
    Emulator::builder()
        .app_id("app_test")
        .start()
        .await
        .expect("emulator starts")
}

/// A client for `emulator` with test-friendly intervals, adjusted by `tune`.
pub(crate) fn client(
    emulator: &Emulator,
    tune: impl FnOnce(PassageBuilder) -> PassageBuilder,
) -> Passage {
    let builder = PassageBuilder::from_env_vars(emulator.env_vars())
        .unwrap()
        .jwks_refetch_cooldown(Duration::from_millis(200))
        .jwks_retry_backoff(Duration::from_millis(100), Duration::from_millis(400))
        .jwks_fetch_timeout(Duration::from_secs(2));
    tune(builder).build().expect("client builds")
}

/// Makes every fetched key set stale at once: the emulator sends `no-cache` and the client's
/// TTL bounds allow zero.
/// A builder with both hosts on loopback where nothing listens: for settings checked at build,
/// which does no I/O.
pub(crate) fn loopback(app_id: &str) -> PassageBuilder {
    Passage::builder(app_id)
        .auth_url("http://127.0.0.1:9")
        .api_url("http://127.0.0.1:9")
}

pub(crate) fn stale_keys(emu: &Emulator, builder: PassageBuilder) -> PassageBuilder {
    emu.set_jwks_cache_control("no-cache");
    builder.jwks_ttl_bounds(Duration::ZERO, Duration::from_secs(60))
}

/// A request's headers: `Authorization` values, then `Cookie` values.
pub(crate) fn headers(authorization: &[&str], cookies: &[&str]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for value in authorization {
        map.append(http::header::AUTHORIZATION, value.parse().unwrap());
    }
    for value in cookies {
        map.append(http::header::COOKIE, value.parse().unwrap());
    }
    map
}

pub(crate) fn invalid(result: Result<passage_core::PassageClaims, AuthError>) -> Invalid {
    match result {
        Err(AuthError::Invalid(reason)) => reason,
        other => panic!("expected an invalid-token error, got {other:?}"),
    }
}

pub(crate) fn malformed(result: Result<passage_core::PassageClaims, AuthError>) -> Malformed {
    match result {
        Err(AuthError::Malformed(reason)) => reason,
        other => panic!("expected a malformed-token error, got {other:?}"),
    }
}

#[tokio::test]
async fn valid_token_via_header_and_via_cookie() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let token = emu.mint_token(USER).unwrap();

    let claims = passage.auth().validate_jwt(&token).await.unwrap();
    assert_eq!(claims.user_id(), USER);
    assert!(claims.audience().iter().any(|a| a == "app_test"));

    let header = format!("bearer {token}");
    let via_header = passage
        .auth()
        .authenticate(&headers(&[&header], &[]))
        .await
        .unwrap();
    assert_eq!(via_header.user_id(), USER);

    let cookie = format!("theme=dark; psg_auth_token={token}");
    let via_cookie = passage
        .auth()
        .authenticate(&headers(&[], &[&cookie]))
        .await
        .unwrap();
    assert_eq!(via_cookie.user_id(), USER);

    let cookie_only = client(&emu, |b| b.token_source(TokenSource::Cookie));
    let both = headers(&[&header], &[&cookie]);
    assert_eq!(
        cookie_only
            .auth()
            .authenticate(&both)
            .await
            .unwrap()
            .user_id(),
        USER
    );
}

#[tokio::test]
async fn custom_claims_are_available() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let token = emu.token(USER).claim("role", "admin").sign().unwrap();
    let claims = passage.auth().validate_jwt(&token).await.unwrap();
    assert_eq!(claims.get("role"), Some(&json!("admin")));
    #[derive(serde::Deserialize)]
    struct Mine {
        role: String,
        sub: String,
    }
    let mine: Mine = claims.deserialize().unwrap();
    assert_eq!((mine.role.as_str(), mine.sub.as_str()), ("admin", USER));
}

#[tokio::test]
async fn a_present_bad_header_never_falls_back_to_a_good_cookie() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let good = format!("psg_auth_token={}", emu.mint_token(USER).unwrap());
    let bad = emu.token(USER).expires_in_secs(-10).sign().unwrap();
    let header = format!("Bearer {bad}");
    let result = passage
        .auth()
        .authenticate(&headers(&[&header], &[&good]))
        .await;
    assert_eq!(invalid(result), Invalid::Expired);
    let result = passage
        .auth()
        .authenticate(&headers(&["Basic Zm9vOmJhcg=="], &[&good]))
        .await;
    assert_eq!(malformed(result), Malformed::NotBearer);
}

#[tokio::test]
async fn algorithm_attacks_are_refused() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let auth = passage.auth();
    let pem = emu.current_key().public_key_pem();
    let jwk = emu.current_key().jwk().to_string();

    for alg in ["none", "None", "NONE", "nOnE"] {
        let token = emu
            .token(USER)
            .signer(Signer::None)
            .header("alg", alg)
            .sign()
            .unwrap();
        assert_eq!(
            invalid(auth.validate_jwt(&token).await),
            Invalid::Algorithm,
            "alg {alg}"
        );
    }
    // alg none that claims RS256 in the header: an empty signature never verifies.
    let token = emu
        .token(USER)
        .signer(Signer::None)
        .header("alg", "RS256")
        .sign()
        .unwrap();
    assert_eq!(invalid(auth.validate_jwt(&token).await), Invalid::Signature);
    // HS256 keyed with the public key (PEM or JWK): the algorithm never comes from the token.
    for secret in [pem.as_bytes(), jwk.as_bytes()] {
        let token = emu
            .token(USER)
            .signer(Signer::Hs256(secret.to_vec()))
            .sign()
            .unwrap();
        assert_eq!(invalid(auth.validate_jwt(&token).await), Invalid::Algorithm);
        let lying = emu
            .token(USER)
            .signer(Signer::Hs256(secret.to_vec()))
            .header("alg", "RS256")
            .sign()
            .unwrap();
        assert_eq!(invalid(auth.validate_jwt(&lying).await), Invalid::Signature);
    }
    for signer in [
        Signer::Rs384,
        Signer::Rs512,
        Signer::Ps256,
        Signer::Es256,
        Signer::Hs384(pem.clone().into_bytes()),
    ] {
        let token = emu.token(USER).signer(signer.clone()).sign().unwrap();
        assert_eq!(
            invalid(auth.validate_jwt(&token).await),
            Invalid::Algorithm,
            "{signer:?}"
        );
    }
    // RS512 signature presented as RS256 fails the RS256 check.
    let token = emu
        .token(USER)
        .signer(Signer::Rs512)
        .header("alg", "RS256")
        .sign()
        .unwrap();
    assert_eq!(invalid(auth.validate_jwt(&token).await), Invalid::Signature);
}

#[tokio::test]
async fn claim_rules_are_enforced() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let auth = passage.auth();
    let check = |token: String| async move { auth.validate_jwt(&token).await };

    assert_eq!(
        invalid(check(emu.token(USER).expires_in_secs(-1).sign().unwrap()).await),
        Invalid::Expired
    );
    let nbf_ahead = emu
        .token(USER)
        .claim("nbf", passage_now() + 120)
        .sign()
        .unwrap();
    assert_eq!(invalid(check(nbf_ahead).await), Invalid::NotYetValid);
    assert_eq!(
        invalid(check(emu.token(USER).claim("aud", "other_app").sign().unwrap()).await),
        Invalid::Audience
    );
    assert_eq!(
        invalid(
            check(
                emu.token(USER)
                    .claim("aud", ["https://x", "app_tes"])
                    .sign()
                    .unwrap()
            )
            .await
        ),
        Invalid::Audience
    );
    assert_eq!(
        invalid(check(emu.token(USER).without_claim("aud").sign().unwrap()).await),
        Invalid::Audience
    );
    assert_eq!(
        invalid(check(emu.token(USER).without_claim("sub").sign().unwrap()).await),
        Invalid::MissingSubject
    );
    assert_eq!(
        invalid(check(emu.token("").sign().unwrap()).await),
        Invalid::MissingSubject
    );
    assert_eq!(
        invalid(check(emu.token(USER).without_claim("exp").sign().unwrap()).await),
        Invalid::MissingExpiry
    );
    let string_exp = emu
        .token(USER)
        .claim("exp", (passage_now() + 600).to_string())
        .sign()
        .unwrap();
    assert_eq!(invalid(check(string_exp).await), Invalid::ClaimType("exp"));
    let string_nbf = emu.token(USER).claim("nbf", "0").sign().unwrap();
    assert_eq!(invalid(check(string_nbf).await), Invalid::ClaimType("nbf"));
    // aud as a plain string equal to the app id is fine.
    assert!(
        check(emu.token(USER).claim("aud", "app_test").sign().unwrap())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn leeway_is_configurable() {
    let emu = emulator().await;
    let strict = client(&emu, |b| b);
    let lenient = client(&emu, |b| b.leeway(Duration::from_secs(60)));
    let token = emu.token(USER).expires_in_secs(-5).sign().unwrap();
    assert_eq!(
        invalid(strict.auth().validate_jwt(&token).await),
        Invalid::Expired
    );
    assert!(lenient.auth().validate_jwt(&token).await.is_ok());
}

#[tokio::test]
async fn header_rules_are_enforced() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let auth = passage.auth();
    let no_kid = emu.token(USER).without_header("kid").sign().unwrap();
    assert_eq!(
        invalid(auth.validate_jwt(&no_kid).await),
        Invalid::MissingKeyId
    );
    let empty_kid = emu.token(USER).kid("").sign().unwrap();
    assert_eq!(
        invalid(auth.validate_jwt(&empty_kid).await),
        Invalid::MissingKeyId
    );
    let crit = emu.token(USER).header("crit", ["exp"]).sign().unwrap();
    assert_eq!(
        invalid(auth.validate_jwt(&crit).await),
        Invalid::CriticalHeader
    );
    let unknown = emu.token(USER).kid("no-such-kid").sign().unwrap();
    assert_eq!(
        invalid(auth.validate_jwt(&unknown).await),
        Invalid::UnknownKeyId
    );
}

#[tokio::test]
async fn tampering_and_foreign_keys_fail_the_signature() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let auth = passage.auth();
    let token = emu.mint_token(USER).unwrap();

    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged_claims = emu.token("admin").sign().unwrap();
    parts[1] = forged_claims.split('.').nth(1).unwrap().to_owned();
    assert_eq!(
        invalid(auth.validate_jwt(&parts.join(".")).await),
        Invalid::Signature
    );

    let foreign = passage_emulator::SigningKey::generate().unwrap();
    let wrong_key = emu
        .token(USER)
        .signer(Signer::Rs256With(foreign))
        .kid(emu.current_key().kid())
        .sign()
        .unwrap();
    assert_eq!(
        invalid(auth.validate_jwt(&wrong_key).await),
        Invalid::Signature
    );
}

#[tokio::test]
async fn structural_garbage_is_refused_before_crypto() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let auth = passage.auth();
    let token = emu.mint_token(USER).unwrap();
    let (head, rest) = token.split_once('.').unwrap();
    let cases = [
        ("".to_owned(), Malformed::Empty),
        ("a.b".to_owned(), Malformed::Segments),
        (format!("{token}.x"), Malformed::Segments),
        (format!("{token}="), Malformed::Characters),
        (format!("{head} .{rest}"), Malformed::Characters),
        ("a".repeat(9000), Malformed::TooLong),
        (format!("{head}x.{rest}"), Malformed::Base64),
        (format!("e30.{rest}"), Malformed::HeaderJson),
    ];
    for (token, expected) in cases {
        assert_eq!(
            malformed(auth.validate_jwt(&token).await),
            expected,
            "{token:.40}"
        );
    }
    assert_eq!(emu.jwks_hits(), 0, "nothing here needs a key");
}

#[tokio::test]
async fn header_urls_are_never_followed() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    // A server that records every connection made to it.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let watched_addr = listener.local_addr().unwrap();
    let watched = format!("http://{watched_addr}/jwks.json");
    let (tell, mut accepted) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(async move {
        while let Ok((_, peer)) = listener.accept().await {
            let _ = tell.send(peer);
        }
    });
    let attacker = passage_emulator::SigningKey::generate().unwrap();
    for (name, value) in [
        ("jku", json!(watched)),
        ("x5u", json!(watched)),
        ("jwk", attacker.jwk()),
    ] {
        let token = emu
            .token(USER)
            .signer(Signer::Rs256With(attacker.clone()))
            .header(name, value)
            .kid(attacker.kid())
            .sign()
            .unwrap();
        let result = passage.auth().validate_jwt(&token).await;
        assert_eq!(invalid(result), Invalid::UnsupportedHeader(name));
        // On a token signed by our own key too: a token that names a key any other way than by
        // kid is refused, never read with a key it did not name.
        let honest = emu.token(USER).header(name, json!(watched)).sign().unwrap();
        assert_eq!(
            invalid(passage.auth().validate_jwt(&honest).await),
            Invalid::UnsupportedHeader(name)
        );
    }
    for (name, value) in [
        ("x5c", json!(["MIIB"])),
        ("b64", json!(false)),
        ("enc", json!("A128GCM")),
        ("zip", json!("DEF")),
    ] {
        let token = emu.token(USER).header(name, value).sign().unwrap();
        assert_eq!(
            invalid(passage.auth().validate_jwt(&token).await),
            Invalid::UnsupportedHeader(name)
        );
    }
    // No waiting for stragglers: the test connects once itself, and the listener accepts in
    // the order connections were made, so any connection made during the validations above is
    // accepted before the test's own.
    let probe = tokio::net::TcpStream::connect(watched_addr).await.unwrap();
    let own = probe.local_addr().unwrap();
    let mut contacts = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(peer) = accepted.recv().await {
            if peer == own {
                return;
            }
            contacts.push(peer);
        }
    })
    .await
    .expect("the watched server accepted the test's own connection");
    assert_eq!(contacts, [], "the watched server was contacted");
    watcher.abort();
}

#[tokio::test]
async fn rotated_key_is_accepted_on_first_use() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    assert!(
        passage
            .auth()
            .validate_jwt(&emu.mint_token(USER).unwrap())
            .await
            .is_ok()
    );
    tokio::time::sleep(Duration::from_millis(250)).await; // past the refetch cooldown
    emu.rotate_key().unwrap();
    let token = emu.mint_token(USER).unwrap();
    assert!(passage.auth().validate_jwt(&token).await.is_ok());
    assert_eq!(emu.jwks_hits(), 2);
}

#[tokio::test]
async fn jwks_down_at_cold_start_is_unavailable_then_recovers() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let token = emu.mint_token(USER).unwrap();
    emu.set_fault(Target::Jwks, Fault::Unavailable);
    let err = passage.auth().validate_jwt(&token).await.unwrap_err();
    assert!(err.is_keys_unavailable(), "{err:?}");
    assert_eq!(err.status(), 503);
    assert_eq!(err.code(), "keys_unavailable");
    assert!(err.retry_after_secs().is_some_and(|s| s >= 1));
    assert!(matches!(
        err,
        AuthError::KeysUnavailable {
            source: JwksError::Status(503),
            ..
        }
    ));
    // Within the backoff, no new fetch is made.
    let hits = emu.jwks_hits();
    assert!(
        passage
            .auth()
            .validate_jwt(&token)
            .await
            .unwrap_err()
            .is_keys_unavailable()
    );
    assert_eq!(emu.jwks_hits(), hits);

    emu.clear_fault(Target::Jwks);
    tokio::time::sleep(Duration::from_millis(150)).await; // past the first backoff
    assert_eq!(
        passage.auth().validate_jwt(&token).await.unwrap().user_id(),
        USER
    );
}

#[tokio::test]
async fn garbage_and_closed_connections_at_cold_start_are_unavailable() {
    let emu = emulator().await;
    let token = emu.mint_token(USER).unwrap();
    for fault in [Fault::Garbage, Fault::Close, Fault::Status(404)] {
        let passage = client(&emu, |b| b);
        emu.set_fault(Target::Jwks, fault);
        let err = passage.auth().validate_jwt(&token).await.unwrap_err();
        // Each fault is reported as what it is.
        let source = match &err {
            AuthError::KeysUnavailable { source, .. } => source,
            other => panic!("{fault:?}: {other:?}"),
        };
        let as_expected = match fault {
            Fault::Garbage => matches!(source, JwksError::Parse(_)),
            Fault::Close => matches!(source, JwksError::Transport(_)),
            _ => matches!(source, JwksError::Status(404)),
        };
        assert!(as_expected, "{fault:?}: {err:?}");
    }
}

#[tokio::test]
async fn cached_keys_keep_serving_when_the_jwks_fails_after_warm_up() {
    let emu = emulator().await;
    for fault in [
        Fault::Unavailable,
        Fault::Garbage,
        Fault::Close,
        Fault::Hang,
    ] {
        // No token cache, and keys stale at once: every validation wants a refresh.
        let passage = client(&emu, |b| {
            stale_keys(&emu, b)
                .token_cache_capacity(0)
                .jwks_fetch_timeout(Duration::from_millis(300))
        });
        let token = emu.mint_token(USER).unwrap();
        passage.auth().validate_jwt(&token).await.unwrap();
        emu.set_fault(Target::Jwks, fault);
        let hits = emu.jwks_hits();
        for _ in 0..3 {
            assert_eq!(
                passage.auth().validate_jwt(&token).await.unwrap().user_id(),
                USER,
                "{fault:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            emu.jwks_hits() > hits,
            "{fault:?}: refreshes were attempted and failed"
        );
        emu.clear_fault(Target::Jwks);
    }
}

#[tokio::test]
async fn a_hanging_jwks_fails_within_the_fetch_timeout() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b.jwks_fetch_timeout(Duration::from_millis(300)));
    let token = emu.mint_token(USER).unwrap();
    emu.set_fault(Target::Jwks, Fault::Hang);
    // The client's other timeout is the 2 s of `client`: ended before that, the wait was ended
    // by the configured 300 ms (more than six times as long, so a loaded machine does not fail
    // this) — and a client that ignored both would wait the 5 s default, or hang, instead of
    // failing here.
    let result = tokio::time::timeout(Duration::from_secs(2), passage.auth().validate_jwt(&token))
        .await
        .expect("no answer within 2 s: the 300 ms fetch timeout was not applied");
    assert!(
        matches!(
            result,
            Err(AuthError::KeysUnavailable {
                source: JwksError::Timeout,
                ..
            })
        ),
        "{result:?}"
    );
}

#[tokio::test]
async fn concurrent_cold_validations_share_one_fetch() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b.token_cache_capacity(0));
    let token = emu.mint_token(USER).unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let passage = passage.clone();
            let token = token.clone();
            tokio::spawn(async move {
                passage
                    .auth()
                    .validate_jwt(&token)
                    .await
                    .map(|c| c.user_id().to_owned())
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), USER);
    }
    assert_eq!(emu.jwks_hits(), 1);
}

#[tokio::test]
async fn unknown_kid_floods_fetch_at_most_once_per_cooldown() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b.jwks_refetch_cooldown(Duration::from_secs(60)));
    passage
        .auth()
        .validate_jwt(&emu.mint_token(USER).unwrap())
        .await
        .unwrap();
    assert_eq!(emu.jwks_hits(), 1);
    let flood: Vec<_> = (0..300)
        .map(|i| {
            let token = emu.token(USER).kid(&format!("kid-{i}")).sign().unwrap();
            let passage = passage.clone();
            tokio::spawn(async move { passage.auth().validate_jwt(&token).await })
        })
        .collect();
    for task in flood {
        assert_eq!(invalid(task.await.unwrap()), Invalid::UnknownKeyId);
    }
    assert_eq!(
        emu.jwks_hits(),
        2,
        "the first unknown kid fetches once; that fetch starts the cooldown for the rest"
    );
}

#[tokio::test]
async fn unknown_kid_refetches_once_after_the_cooldown() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    passage
        .auth()
        .validate_jwt(&emu.mint_token(USER).unwrap())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let token = emu.token(USER).kid(&format!("kid-{i}")).sign().unwrap();
            let passage = passage.clone();
            tokio::spawn(async move { passage.auth().validate_jwt(&token).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(invalid(task.await.unwrap()), Invalid::UnknownKeyId);
    }
    assert_eq!(emu.jwks_hits(), 2);
}

#[tokio::test]
async fn cache_control_max_age_sets_the_refresh() {
    let emu = emulator().await;
    emu.set_jwks_cache_control("public, max-age=1");
    let passage = client(&emu, |b| {
        b.token_cache_capacity(0)
            .jwks_ttl_bounds(Duration::ZERO, Duration::from_secs(3600))
    });
    let token = emu.mint_token(USER).unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    assert_eq!(emu.jwks_hits(), 1, "fresh keys are not refetched");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    passage.auth().validate_jwt(&token).await.unwrap(); // served from stale keys, refresh spawned
    for _ in 0..50 {
        if emu.jwks_hits() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        emu.jwks_hits(),
        2,
        "a stale set is refreshed in the background"
    );
}

#[tokio::test]
async fn non_rsa_keys_in_the_jwks_are_skipped() {
    let emu = emulator().await;
    emu.add_raw_jwk(json!({"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}));
    emu.add_raw_jwk(json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}));
    emu.add_raw_jwk(json!({"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"}));
    let passage = client(&emu, |b| b);
    assert!(
        passage
            .auth()
            .validate_jwt(&emu.mint_token(USER).unwrap())
            .await
            .is_ok()
    );
    let hmac_kid = emu
        .token(USER)
        .signer(Signer::Hs256(b"secret".to_vec()))
        .header("alg", "RS256")
        .kid("hmac")
        .sign()
        .unwrap();
    assert_eq!(
        invalid(passage.auth().validate_jwt(&hmac_kid).await),
        Invalid::UnknownKeyId
    );
}

#[tokio::test]
async fn token_cache_serves_repeats_and_forgets_removed_keys() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let old_kid = emu.current_key().kid().to_owned();
    let token = emu.mint_token(USER).unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    assert_eq!(passage.auth().cached_tokens(), 1);
    passage.auth().validate_jwt(&token).await.unwrap();
    assert_eq!(passage.auth().cached_tokens(), 1);

    // Rotate and retire the old key; a refresh sees it gone.
    emu.rotate_key().unwrap();
    emu.retire_key(&old_kid);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let fresh = emu.mint_token(USER).unwrap();
    passage.auth().validate_jwt(&fresh).await.unwrap(); // unknown kid → refetch
    assert_eq!(
        invalid(passage.auth().validate_jwt(&token).await),
        Invalid::UnknownKeyId
    );
}

#[tokio::test]
async fn cache_hits_alone_notice_a_removed_key() {
    let emu = emulator().await;
    let passage = client(&emu, |b| stale_keys(&emu, b));
    let old_kid = emu.current_key().kid().to_owned();
    let token = emu.mint_token(USER).unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    emu.rotate_key().unwrap();
    emu.retire_key(&old_kid);
    // Only the cached token is presented: the stale key set must still get refreshed.
    let mut result = passage.auth().validate_jwt(&token).await;
    for _ in 0..50 {
        if result.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        result = passage.auth().validate_jwt(&token).await;
    }
    assert_eq!(invalid(result), Invalid::UnknownKeyId);
}

#[tokio::test]
async fn cache_entries_never_outlive_exp() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let token = emu.token(USER).expires_in_secs(1).sign().unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        invalid(passage.auth().validate_jwt(&token).await),
        Invalid::Expired
    );
}

#[tokio::test]
async fn token_cache_can_be_turned_off() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b.token_cache_capacity(0));
    let token = emu.mint_token(USER).unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    assert_eq!(passage.auth().cached_tokens(), 0);
}

#[tokio::test]
async fn optional_authentication_distinguishes_missing_from_bad() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    assert!(
        passage
            .auth()
            .authenticate_optional(&headers(&[], &[]))
            .await
            .unwrap()
            .is_none()
    );
    assert!(matches!(
        passage
            .auth()
            .authenticate_optional(&headers(&["Bearer not-a-token"], &[]))
            .await,
        Err(AuthError::Malformed(Malformed::Segments))
    ));
    let good = format!("Bearer {}", emu.mint_token(USER).unwrap());
    let claims = passage
        .auth()
        .authenticate_optional(&headers(&[&good], &[]))
        .await
        .unwrap();
    assert_eq!(claims.unwrap().user_id(), USER);
}

#[tokio::test]
async fn warm_up_fetches_once_and_reports_unavailability() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    passage.auth().warm_up().await.unwrap();
    passage.auth().warm_up().await.unwrap();
    assert_eq!(emu.jwks_hits(), 1);
    let down = client(&emu, |b| b);
    emu.set_fault(Target::Jwks, Fault::Unavailable);
    assert!(
        down.auth()
            .warm_up()
            .await
            .unwrap_err()
            .is_keys_unavailable()
    );
}

#[tokio::test]
async fn errors_say_little_to_clients() {
    let err = AuthError::Invalid(Invalid::Signature);
    assert_eq!((err.status().as_u16(), err.code()), (401, "invalid_token"));
    assert_eq!(
        err.www_authenticate(),
        Some(r#"Bearer realm="passage", error="invalid_token""#)
    );
    assert!(!err.body().contains("signature"));
    let missing = AuthError::MissingToken;
    assert_eq!(
        missing.www_authenticate(),
        Some(r#"Bearer realm="passage""#)
    );
    assert_eq!(
        passage_core::Report(&err).to_string(),
        "invalid token: the signature does not verify"
    );
}

fn passage_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_refresh_cut_short_by_its_runtime_does_not_stop_later_ones() {
    let emu = emulator().await;
    let passage = client(&emu, |b| stale_keys(&emu, b));
    let token = emu.mint_token(USER).unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    // On a runtime of its own, a cached-token request starts a background refresh that hangs;
    // then that runtime shuts down, dropping the refresh mid-fetch.
    emu.set_fault(Target::Jwks, Fault::Hang);
    let (other, cached) = (passage.clone(), token.clone());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            other.auth().validate_jwt(&cached).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
        });
    })
    .join()
    .unwrap();
    emu.clear_fault(Target::Jwks);
    let before = emu.jwks_hits();
    // Cached-token traffic here must still refresh the stale keys.
    for _ in 0..50 {
        passage.auth().validate_jwt(&token).await.unwrap();
        if emu.jwks_hits() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        emu.jwks_hits() > before,
        "no background refresh after the first one was dropped with its runtime"
    );
}

#[tokio::test]
async fn the_accepted_audiences_are_configurable() {
    let emu = emulator().await;
    // passage-python 2.x's rule for non-hosted apps: `aud` is the app's auth origin alone.
    let origin_only = emu
        .token(USER)
        .claim("aud", ["http://localhost:3000"])
        .sign()
        .unwrap();
    let by_default = client(&emu, |b| b);
    assert_eq!(
        invalid(by_default.auth().validate_jwt(&origin_only).await),
        Invalid::Audience
    );
    let both = client(&emu, |b| {
        b.accepted_audiences([emu.app_id(), "http://localhost:3000"])
    });
    assert!(both.auth().validate_jwt(&origin_only).await.is_ok());
    assert!(
        both.auth()
            .validate_jwt(&emu.mint_token(USER).unwrap())
            .await
            .is_ok()
    );
    let other = emu
        .token(USER)
        .claim("aud", ["https://elsewhere"])
        .sign()
        .unwrap();
    assert_eq!(
        invalid(both.auth().validate_jwt(&other).await),
        Invalid::Audience
    );
    for empty in [vec![], vec![String::new()]] {
        assert!(
            matches!(
                loopback("app").accepted_audiences(empty).build(),
                Err(ConfigError::OutOfRange("accepted_audiences"))
            ),
            "an empty audience list cannot work"
        );
    }
}

#[tokio::test]
async fn json_that_is_not_utf8_is_malformed_even_where_the_rules_do_not_read() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let kid = emu.current_key().kid().to_owned();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = format!(r#"{{"sub":"{USER}","aud":"app_test","exp":{}}}"#, now + 60);
    // A member no rule reads, holding a byte that is not UTF-8 (found by the fuzz_oracle target).
    let mut header = format!(r#"{{"alg":"RS256","kid":"{kid}","x":{{""#).into_bytes();
    header.extend_from_slice(b"\x99\":[1]}}");
    let token = emu.sign_raw(&header, &claims).unwrap();
    assert_eq!(
        malformed(passage.auth().validate_jwt(&token).await),
        Malformed::HeaderJson
    );
    let mut bad_claims = claims.clone().into_bytes();
    bad_claims.pop();
    bad_claims.extend_from_slice(b",\"x\":\"\xff\"}");
    let token = emu
        .sign_raw(format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#), &bad_claims)
        .unwrap();
    assert_eq!(
        malformed(passage.auth().validate_jwt(&token).await),
        Malformed::ClaimsJson
    );
    let fine = emu
        .sign_raw(
            format!(r#"{{"alg":"RS256","kid":"{kid}","x":{{"y":[1]}}}}"#),
            &claims,
        )
        .unwrap();
    assert!(passage.auth().validate_jwt(&fine).await.is_ok());
}
