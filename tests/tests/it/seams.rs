//! Where two correct pieces meet, on every adapter over real loopback HTTP: a layer's verdict
//! against the extractors behind it, the token cache against a re-keyed JWKS, and key rotation
//! against the refetch cooldown.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, SystemTime},
};

use passage_core::PassageBuilder;
use passage_core::{Clock, Passage, TokenSource};
use passage_emulator::{Emulator, Fault, Signer, SigningKey, Target};
use passage_tests::{Adapter, Layering, USER_ID, fast, start, start_layered};
use serde_json::{Value, json};

async fn emulator(app_id: &str) -> Emulator {
    Emulator::builder().app_id(app_id).start().await.unwrap()
}

fn client(emu: &Emulator) -> Passage {
    fast(PassageBuilder::from_env_vars(emu.env_vars()).unwrap())
        .build()
        .unwrap()
}

async fn get(base: &str, path: &str, header: Option<(&str, String)>) -> (u16, Value) {
    get_with(&reqwest::Client::new(), base, path, header).await
}

/// [`get`] with a given client. Building a client is slow, blocking work (its TLS roots): a test
/// that sends many requests at once shares one, or the building stalls the test's runtime —
/// the server's and the emulator's too, and with them the server's fetch timeouts.
async fn get_with(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    header: Option<(&str, String)>,
) -> (u16, Value) {
    let mut request = http.get(format!("{base}{path}"));
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

/// The status and the JSON `code` of an answer (`Null` when it has none).
fn refusal((status, body): (u16, Value)) -> (u16, Value) {
    (status, body["code"].clone())
}

fn bearer(token: &str) -> Option<(&'static str, String)> {
    Some(("authorization", format!("Bearer {token}")))
}

fn cookie(token: &str) -> Option<(&'static str, String)> {
    Some(("cookie", format!("psg_auth_token={token}")))
}

#[tokio::test]
async fn a_layers_token_source_is_final_for_its_request() {
    let emu = emulator("app_a").await;
    let passage = client(&emu);
    let token = emu.mint_token(USER_ID).unwrap();
    let user = json!({ "user_id": USER_ID });
    let anonymous = json!({ "user_id": null });
    for adapter in Adapter::ALL {
        // A header-only optional layer, and extractors bound to the same client, whose own
        // default (header, then cookie) would accept the cookie.
        let layering = |source| Layering {
            layer: passage.clone(),
            source,
            extractor: passage.clone(),
        };
        let server = start_layered(adapter, layering(TokenSource::Header))
            .await
            .unwrap();
        let base = &server.base;
        assert_eq!(
            get(base, "/maybe", cookie(&token)).await,
            (200, anonymous.clone()),
            "{adapter:?}: header-only layer, cookie-only request, /maybe"
        );
        assert_eq!(
            refusal(get(base, "/me", cookie(&token)).await),
            (401, json!("missing_token")),
            "{adapter:?}: header-only layer, cookie-only request, /me"
        );
        assert_eq!(
            get(base, "/me", bearer(&token)).await,
            (200, user.clone()),
            "{adapter:?}: control"
        );

        let server = start_layered(adapter, layering(TokenSource::Cookie))
            .await
            .unwrap();
        let base = &server.base;
        assert_eq!(
            get(base, "/maybe", bearer(&token)).await,
            (200, anonymous.clone()),
            "{adapter:?}: cookie-only layer, header-only request, /maybe"
        );
        assert_eq!(
            refusal(get(base, "/me", bearer(&token)).await),
            (401, json!("missing_token")),
            "{adapter:?}: cookie-only layer, header-only request, /me"
        );
        assert_eq!(
            get(base, "/me", cookie(&token)).await,
            (200, user.clone()),
            "{adapter:?}: control"
        );
    }
}

#[tokio::test]
async fn a_verdict_of_another_apps_layer_is_not_trusted() {
    let emu_a = emulator("app_a").await;
    let emu_b = emulator("app_b").await;
    let (a, b) = (client(&emu_a), client(&emu_b));
    let token_a = emu_a.mint_token(USER_ID).unwrap();
    let token_b = emu_b.mint_token("user-of-b").unwrap();
    // tower has no extractor bound to a client: its handlers read the layer's verdict.
    for adapter in [Adapter::Axum, Adapter::Actix] {
        let server = start_layered(
            adapter,
            Layering {
                layer: a.clone(),
                source: TokenSource::default(),
                extractor: b.clone(),
            },
        )
        .await
        .unwrap();
        let base = &server.base;
        // App A's layer authenticates A's user; B's extractors decide for themselves.
        let invalid = (401, json!("invalid_token"));
        assert_eq!(
            refusal(get(base, "/me", bearer(&token_a)).await),
            invalid,
            "{adapter:?}: B's extractor trusted A's claims"
        );
        assert_eq!(
            refusal(get(base, "/maybe", bearer(&token_a)).await),
            invalid,
            "{adapter:?}: a token B cannot verify is refused"
        );
        assert_eq!(
            get(base, "/maybe", None).await,
            (200, json!({ "user_id": null })),
            "{adapter:?}: anonymous for A's layer, and for B"
        );
        // B's own token is refused by A's layer before any extractor runs.
        assert_eq!(
            refusal(get(base, "/me", bearer(&token_b)).await),
            invalid,
            "{adapter:?}"
        );
    }
}

async fn me(base: &str, token: &str) -> u16 {
    get(base, "/me", bearer(token)).await.0
}

/// Polls `/me` with `token` every 20 ms for up to 2 s until it answers `status`.
async fn until_status(base: &str, token: &str, status: u16) -> u16 {
    let mut last = 0;
    for _ in 0..100 {
        last = me(base, token).await;
        if last == status {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    last
}

fn stale_keys(builder: passage_core::PassageBuilder) -> passage_core::PassageBuilder {
    fast(builder).jwks_ttl_bounds(Duration::ZERO, Duration::from_secs(60))
}

#[tokio::test]
async fn a_rekeyed_kid_is_refused_even_for_cached_tokens() {
    for adapter in Adapter::ALL {
        let server = start(adapter, stale_keys).await.unwrap();
        server.emulator.set_jwks_cache_control("no-cache");
        let old = server.emulator.mint_token(USER_ID).unwrap();
        assert_eq!(me(&server.base, &old).await, 200);
        assert_eq!(me(&server.base, &old).await, 200, "now cached");
        server.emulator.rekey().unwrap();
        assert_eq!(
            until_status(&server.base, &old, 401).await,
            401,
            "{adapter:?}: a token of the replaced key material kept authenticating"
        );
        let new = server.emulator.mint_token(USER_ID).unwrap();
        assert_eq!(me(&server.base, &new).await, 200, "{adapter:?}");
    }
}

/// A kid the JWKS lists twice, with two different keys, names no key: a token under it is
/// refused whichever of the two signed it (document order must not pick one). A third key of the
/// same document still authenticates, so the refusals are about the kid, not a server that
/// refuses everything.
#[tokio::test]
async fn a_kid_listed_twice_with_different_keys_is_refused() {
    for adapter in Adapter::ALL {
        let server = start(adapter, fast).await.unwrap();
        let emu = &server.emulator;
        let kid = emu.current_key().kid().to_owned();
        let twin = SigningKey::generate_with_kid(&kid).unwrap();
        emu.add_raw_jwk(twin.jwk());
        let ours = emu.mint_token(USER_ID).unwrap();
        let theirs = emu
            .token(USER_ID)
            .signer(Signer::Rs256With(twin))
            .kid(&kid)
            .sign()
            .unwrap();
        // Published before the server's first fetch, beside the two under `kid`.
        let other_kid = emu.rotate_key().unwrap().kid().to_owned();
        assert_ne!(other_kid, kid);
        let other = emu.mint_token(USER_ID).unwrap();
        let refused = (401, json!("invalid_token"));
        for (name, token) in [("ours", &ours), ("theirs", &theirs)] {
            let (status, body) = get(&server.base, "/me", bearer(token)).await;
            assert_eq!(
                (status, body["code"].clone()),
                refused,
                "{adapter:?}: {name}"
            );
        }
        assert_eq!(
            get(&server.base, "/me", bearer(&other)).await,
            (200, json!({ "user_id": USER_ID })),
            "{adapter:?}: a token under the document's other kid"
        );
    }
}

/// The system clock moved by a settable number of seconds.
#[derive(Debug, Clone, Default)]
struct ShiftedClock(Arc<AtomicI64>);

impl Clock for ShiftedClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.0.load(Ordering::SeqCst).unsigned_abs())
    }
}

#[tokio::test]
async fn past_the_staleness_ceiling_requests_get_503() {
    for adapter in Adapter::ALL {
        let clock = ShiftedClock::default();
        let server = start(adapter, |b| {
            fast(b)
                .clock(clock.clone())
                .jwks_max_stale(Some(Duration::from_secs(60)))
        })
        .await
        .unwrap();
        let token = server.emulator.mint_token(USER_ID).unwrap();
        assert_eq!(me(&server.base, &token).await, 200);
        server.emulator.set_fault(Target::Jwks, Fault::Unavailable);
        clock.0.store(300 + 30, Ordering::SeqCst); // stale (max-age 300), within the ceiling
        assert_eq!(me(&server.base, &token).await, 200, "{adapter:?}");
        clock.0.store(300 + 61, Ordering::SeqCst);
        assert_eq!(
            me(&server.base, &token).await,
            503,
            "{adapter:?}: keys past the ceiling must not serve, cached tokens included"
        );
        server.emulator.clear_fault(Target::Jwks);
        assert_eq!(
            until_status(&server.base, &token, 200).await,
            200,
            "{adapter:?}"
        );
    }
}

#[tokio::test]
async fn a_new_kid_during_a_background_refresh_is_accepted_despite_a_flood() {
    for adapter in Adapter::ALL {
        let server = start(adapter, |b| {
            stale_keys(b)
                .token_cache_capacity(0)
                .jwks_refetch_cooldown(Duration::from_secs(60))
        })
        .await
        .unwrap();
        let emu = &server.emulator;
        emu.set_jwks_cache_control("no-cache");
        let old = emu.mint_token(USER_ID).unwrap();
        assert_eq!(me(&server.base, &old).await, 200);
        let hits = emu.jwks_hits();
        emu.set_fault_times(Target::Jwks, Fault::Slow(Duration::from_millis(600)), 1);
        assert_eq!(
            me(&server.base, &old).await,
            200,
            "starts a background refresh"
        );
        // The refresh runs in the background: wait (up to 1 s) until its fetch reached the
        // JWKS, and fail if it never did — the rest of the test is about that refresh.
        let mut started = false;
        for _ in 0..100 {
            if emu.jwks_hits() > hits {
                started = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            started,
            "{adapter:?}: a stale key set did not start a background refresh"
        );
        emu.rotate_key().unwrap();
        let new = emu.mint_token(USER_ID).unwrap();
        let flood: Vec<String> = (0..50)
            .map(|i| {
                emu.token(USER_ID)
                    .kid(&format!("flood-{i}"))
                    .sign()
                    .unwrap()
            })
            .collect();
        let http = reqwest::Client::new();
        let me = |token: &str| {
            let request = get_with(&http, &server.base, "/me", bearer(token));
            async move { request.await.0 }
        };
        let (legit, flooded) = tokio::join!(
            me(&new),
            futures_util::future::join_all(flood.iter().map(|t| me(t)))
        );
        assert_eq!(legit, 200, "{adapter:?}: the rotated key was refused");
        assert!(flooded.iter().all(|s| *s == 401), "{adapter:?}");
    }
}
