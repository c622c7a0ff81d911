//! Where two correct pieces meet: the token cache and a re-keyed JWKS, key rotation and the
//! refetch cooldown, the wall clock and cached entries, configuration and arithmetic. Each test
//! here failed before the fix it guards.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, SystemTime},
};

use passage_core::{AuthError, Clock, ConfigError, Invalid, Malformed, TokenSource};
use passage_emulator::{Fault, Signer, SigningKey, Target};

use crate::validation::{USER, client, emulator, headers, invalid, loopback, stale_keys};

/// The system clock moved by a settable number of seconds: a host that was suspended, or whose
/// clock was corrected.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShiftedClock(Arc<AtomicI64>);

impl ShiftedClock {
    pub(crate) fn shift(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> SystemTime {
        let shift = self.0.load(Ordering::SeqCst);
        let now = SystemTime::now();
        if shift >= 0 {
            now + Duration::from_secs(shift.unsigned_abs())
        } else {
            now - Duration::from_secs(shift.unsigned_abs())
        }
    }
}

/// Polls `check` every 20 ms for up to 2 s; true once it holds.
async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_rekeyed_kid_flushes_cached_tokens() {
    let emu = emulator().await;
    let passage = client(&emu, |b| stale_keys(&emu, b));
    let old = emu.mint_token(USER).unwrap();
    passage.auth().validate_jwt(&old).await.unwrap();
    assert_eq!(passage.auth().cached_tokens(), 1);
    // The JWKS re-publishes the same kid with new key material (a re-key after a compromise).
    let kid = emu.current_key().kid().to_owned();
    assert_eq!(emu.rekey().unwrap().kid(), kid);
    // Only the cached token is presented; the background refresh sees the changed material.
    let refused = eventually(async || passage.auth().validate_jwt(&old).await.is_err()).await;
    assert!(
        refused,
        "a token signed by the replaced material kept authenticating"
    );
    assert_eq!(
        invalid(passage.auth().validate_jwt(&old).await),
        Invalid::Signature
    );
    let new = emu.mint_token(USER).unwrap();
    assert_eq!(
        passage.auth().validate_jwt(&new).await.unwrap().user_id(),
        USER
    );
}

#[tokio::test]
async fn a_kid_listed_twice_with_different_keys_is_unusable() {
    let emu = emulator().await;
    let kid = emu.current_key().kid().to_owned();
    let twin = SigningKey::generate_with_kid(&kid).unwrap();
    emu.add_raw_jwk(twin.jwk());
    let passage = client(&emu, |b| b);
    let ours = emu.mint_token(USER).unwrap();
    let theirs = emu
        .token(USER)
        .signer(Signer::Rs256With(twin.clone()))
        .kid(&kid)
        .sign()
        .unwrap();
    for token in [ours, theirs] {
        assert_eq!(
            invalid(passage.auth().validate_jwt(&token).await),
            Invalid::UnknownKeyId,
            "document order must not pick the key"
        );
    }
    // Another kid in the same document still works.
    emu.rotate_key().unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await; // past the test cooldown
    let other = emu.mint_token(USER).unwrap();
    assert!(passage.auth().validate_jwt(&other).await.is_ok());
}

#[tokio::test]
async fn keys_stop_serving_past_the_staleness_ceiling() {
    let emu = emulator().await; // JWKS max-age=300
    let clock = ShiftedClock::default();
    let passage = client(&emu, |b| {
        b.clock(clock.clone())
            .jwks_max_stale(Some(Duration::from_secs(60)))
    });
    let cached = emu.mint_token(USER).unwrap();
    passage.auth().validate_jwt(&cached).await.unwrap();
    emu.set_fault(Target::Jwks, Fault::Unavailable);

    // Stale, within the ceiling: the held keys (and the cached token) still serve.
    clock.shift(300 + 30);
    assert!(passage.auth().validate_jwt(&cached).await.is_ok());
    let uncached = emu.token(USER).claim("n", 1).sign().unwrap();
    assert!(passage.auth().validate_jwt(&uncached).await.is_ok());

    // Past the ceiling while every refresh fails: 503, for cached tokens too.
    clock.shift(31);
    for token in [&cached, &uncached] {
        let result = passage.auth().validate_jwt(token).await;
        assert!(
            matches!(result, Err(AuthError::KeysUnavailable { .. })),
            "{result:?}"
        );
    }
    // The auth host is back: keys serve again once a refresh lands.
    emu.clear_fault(Target::Jwks);
    let back = eventually(async || passage.auth().validate_jwt(&cached).await.is_ok()).await;
    assert!(
        back,
        "keys did not serve again after the auth host recovered"
    );
}

#[tokio::test]
async fn without_a_ceiling_stale_keys_serve_on() {
    let emu = emulator().await;
    let clock = ShiftedClock::default();
    let passage = client(&emu, |b| b.clock(clock.clone()).jwks_max_stale(None));
    let token = emu.token(USER).expires_in_secs(30 * 86_400).sign().unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    emu.set_fault(Target::Jwks, Fault::Unavailable);
    clock.shift(10 * 86_400);
    assert!(passage.auth().validate_jwt(&token).await.is_ok());
}

#[tokio::test]
async fn a_new_kid_during_a_background_refresh_is_accepted_despite_a_flood() {
    let emu = emulator().await;
    // A long cooldown: the new kid must not depend on it running out.
    let passage = client(&emu, |b| {
        stale_keys(&emu, b)
            .token_cache_capacity(0)
            .jwks_refetch_cooldown(Duration::from_secs(60))
    });
    let old = emu.mint_token(USER).unwrap();
    passage.auth().validate_jwt(&old).await.unwrap();
    assert_eq!(emu.jwks_hits(), 1);
    // The next JWKS answer is made at once (with the old key only) and arrives 600 ms later.
    emu.set_fault_times(Target::Jwks, Fault::Slow(Duration::from_millis(600)), 1);
    passage.auth().validate_jwt(&old).await.unwrap(); // stale: starts the background refresh
    let started = eventually(async || emu.jwks_hits() == 2).await;
    assert!(started, "the background refresh reached the JWKS");
    // The key rotates while that refresh is in flight.
    emu.rotate_key().unwrap();
    let new = emu.mint_token(USER).unwrap();
    let flood: Vec<_> = (0..100)
        .map(|i| {
            let token = emu.token(USER).kid(&format!("random-{i}")).sign().unwrap();
            let passage = passage.clone();
            tokio::spawn(async move { passage.auth().validate_jwt(&token).await })
        })
        .collect();
    let legit = {
        let passage = passage.clone();
        tokio::spawn(async move { passage.auth().validate_jwt(&new).await })
    };
    assert_eq!(legit.await.unwrap().unwrap().user_id(), USER);
    for task in flood {
        assert_eq!(invalid(task.await.unwrap()), Invalid::UnknownKeyId);
    }
}

#[tokio::test]
async fn a_key_published_during_an_unknown_kid_fetch_is_hidden_for_at_most_the_cooldown() {
    let emu = emulator().await;
    let cooldown = Duration::from_millis(1500);
    let passage = client(&emu, |b| b.jwks_refetch_cooldown(cooldown));
    passage
        .auth()
        .validate_jwt(&emu.mint_token(USER).unwrap())
        .await
        .unwrap();
    // An attacker's unknown kid starts a (slow) fetch; its answer is made before the rotation.
    emu.set_fault_times(Target::Jwks, Fault::Slow(Duration::from_millis(400)), 1);
    let random = emu.token(USER).kid("random").sign().unwrap();
    let attacker = {
        let passage = passage.clone();
        tokio::spawn(async move { passage.auth().validate_jwt(&random).await })
    };
    assert!(eventually(async || emu.jwks_hits() == 2).await);
    let attack_started = std::time::Instant::now();
    emu.rotate_key().unwrap();
    let new = emu.mint_token(USER).unwrap();
    // The legitimate request waits for the fetch in flight and uses its answer (which predates
    // the key); the cooldown that fetch started keeps it from fetching again at once.
    assert_eq!(
        invalid(passage.auth().validate_jwt(&new).await),
        Invalid::UnknownKeyId
    );
    assert_eq!(invalid(attacker.await.unwrap()), Invalid::UnknownKeyId);
    assert_eq!(emu.jwks_hits(), 2, "one fetch for both unknown kids");
    // Once the cooldown has run from that fetch's start, the new key is found.
    tokio::time::sleep(cooldown.saturating_sub(attack_started.elapsed())).await;
    assert_eq!(
        passage.auth().validate_jwt(&new).await.unwrap().user_id(),
        USER
    );
}

#[tokio::test]
async fn cached_tokens_expire_on_the_wall_clock() {
    let emu = emulator().await;
    let clock = ShiftedClock::default();
    let passage = client(&emu, |b| b.clock(clock.clone()));
    let token = emu.token(USER).expires_in_secs(600).sign().unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    assert_eq!(passage.auth().cached_tokens(), 1);
    // Suspended for two hours (the monotonic clock stood still), or corrected forward.
    clock.shift(2 * 3600);
    assert_eq!(
        invalid(passage.auth().validate_jwt(&token).await),
        Invalid::Expired
    );
}

#[tokio::test]
async fn cached_tokens_are_not_served_before_nbf_when_the_clock_steps_back() {
    let emu = emulator().await;
    let clock = ShiftedClock::default();
    let passage = client(&emu, |b| b.clock(clock.clone()));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let token = emu.token(USER).claim("nbf", now - 5).sign().unwrap();
    passage.auth().validate_jwt(&token).await.unwrap();
    clock.shift(-60);
    assert_eq!(
        invalid(passage.auth().validate_jwt(&token).await),
        Invalid::NotYetValid
    );
    clock.shift(60);
    assert!(passage.auth().validate_jwt(&token).await.is_ok());
}

#[test]
fn settings_that_cannot_work_are_refused_at_build() {
    use Duration as D;
    let year = D::from_secs(365 * 86_400);
    let cases: Vec<(&str, passage_core::PassageBuilder)> = vec![
        (
            "max_token_len MAX",
            loopback("app").max_token_len(usize::MAX),
        ),
        ("max_token_len 0", loopback("app").max_token_len(0)),
        ("max_token_len 100", loopback("app").max_token_len(100)),
        ("jwks_ttl MAX", loopback("app").jwks_ttl(D::MAX)),
        (
            "jwks_ttl a year and a second",
            loopback("app").jwks_ttl(year + D::from_secs(1)),
        ),
        (
            "jwks_ttl_bounds MAX",
            loopback("app").jwks_ttl_bounds(D::ZERO, D::MAX),
        ),
        (
            "jwks_retry_backoff MAX",
            loopback("app").jwks_retry_backoff(D::ZERO, D::MAX),
        ),
        (
            "jwks_refetch_cooldown MAX",
            loopback("app").jwks_refetch_cooldown(D::MAX),
        ),
        (
            "jwks_fetch_timeout MAX",
            loopback("app").jwks_fetch_timeout(D::MAX),
        ),
        (
            "jwks_fetch_timeout 0",
            loopback("app").jwks_fetch_timeout(D::ZERO),
        ),
        (
            "jwks_max_stale MAX",
            loopback("app").jwks_max_stale(Some(D::MAX)),
        ),
        (
            "request_timeout MAX",
            loopback("app").request_timeout(D::MAX),
        ),
        (
            "retry_backoff MAX",
            loopback("app").retry_backoff(D::ZERO, D::MAX),
        ),
        (
            "retry_backoff reversed",
            loopback("app").retry_backoff(D::from_secs(2), D::from_secs(1)),
        ),
        (
            "leeway over an hour",
            loopback("app").leeway(D::from_secs(3601)),
        ),
    ];
    for (name, builder) in cases {
        assert!(
            matches!(builder.build(), Err(ConfigError::OutOfRange(_))),
            "{name}"
        );
    }
    assert!(loopback("app").jwks_ttl(year).build().is_ok());
}

#[tokio::test]
async fn the_largest_accepted_settings_work() {
    let emu = emulator().await;
    let year = Duration::from_secs(365 * 86_400);
    // A max-age far beyond any bound, clamped to the largest accepted bound: the keys load once
    // and stay fresh (before, `Instant + ttl` could panic inside the fetch: no keys ever loaded).
    emu.set_jwks_cache_control("max-age=18446744073709551615");
    let passage = client(&emu, |b| {
        b.jwks_ttl_bounds(Duration::ZERO, year)
            .jwks_ttl(year)
            .jwks_retry_backoff(year, year)
            .jwks_refetch_cooldown(year)
            .jwks_max_stale(Some(year))
            .max_token_len(1024 * 1024)
            .leeway(Duration::from_secs(3600))
            .token_cache_capacity(u64::MAX)
    });
    let token = emu.mint_token(USER).unwrap();
    assert!(passage.auth().validate_jwt(&token).await.is_ok());
    let other = emu.token(USER).claim("n", 2).sign().unwrap();
    assert!(passage.auth().validate_jwt(&other).await.is_ok());
    assert_eq!(emu.jwks_hits(), 1);
    // A header longer than the largest limit is refused unread, without overflow.
    let huge = format!("Bearer {}", "a".repeat(2 * 1024 * 1024));
    let result = passage.auth().authenticate(&headers(&[&huge], &[])).await;
    assert!(matches!(
        result,
        Err(AuthError::Malformed(Malformed::TooLong))
    ));
    // The JWKS keeps failing for a year of backoff: the arithmetic saturates, nothing panics.
    emu.set_fault(Target::Jwks, Fault::Unavailable);
    emu.rotate_key().unwrap();
    let unknown = emu.mint_token(USER).unwrap();
    // The keys held still serve: the new kid is unknown, twice. The first asks the failing
    // JWKS once; its failure starts a year of backoff, so the second asks nothing.
    for _ in 0..2 {
        assert_eq!(
            invalid(passage.auth().validate_jwt(&unknown).await),
            Invalid::UnknownKeyId
        );
    }
    assert_eq!(emu.jwks_hits(), 2);
}

#[test]
fn plain_http_is_for_loopback_only() {
    for local in [
        "http://127.0.0.1:9",
        "http://127.1.2.3",
        "http://localhost:8080",
        "http://LOCALHOST",
        "http://[::1]:3000",
        "https://auth.example.com",
    ] {
        assert!(
            loopback("app")
                .auth_url(local)
                .api_url(local)
                .build()
                .is_ok(),
            "{local}"
        );
    }
    for remote in [
        "http://auth.example.com",
        "http://10.0.0.1",
        "http://localhost.example.com",
        "http://[::2]",
    ] {
        for builder in [
            loopback("app").auth_url(remote),
            loopback("app").api_url(remote),
        ] {
            assert!(
                matches!(builder.build(), Err(ConfigError::InvalidUrl { .. })),
                "{remote}"
            );
        }
        assert!(
            loopback("app")
                .auth_url(remote)
                .api_url(remote)
                .danger_allow_plain_http()
                .build()
                .is_ok(),
            "{remote} with the explicit opt-in"
        );
    }
}

#[tokio::test]
async fn the_token_source_of_a_client_is_where_it_looks() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b.token_source(TokenSource::Header));
    let cookie = format!("psg_auth_token={}", emu.mint_token(USER).unwrap());
    let result = passage.auth().authenticate(&headers(&[], &[&cookie])).await;
    assert!(matches!(result, Err(AuthError::MissingToken)));
}
