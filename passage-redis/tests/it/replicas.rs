//! Replicas — separate clients, as separate processes would have — sharing one Redis.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use passage_core::{AuthError, Invalid, Passage, PassageBuilder};
use passage_emulator::{Emulator, SeedUser};
use passage_redis::RedisRevocations;

use crate::redis_server::RedisServer;

/// Polls `check` every 20 ms for up to 10 s; true once it holds.
async fn eventually(mut check: impl AsyncFnMut() -> bool) -> bool {
    for _ in 0..500 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

async fn emulator() -> Emulator {
    let emu = Emulator::builder()
        .app_id("redis_app")
        .start()
        .await
        .unwrap();
    for id in ["ada", "bob", "cy"] {
        emu.seed_user(SeedUser::email(format!("{id}@example.com")).with_id(id))
            .unwrap();
    }
    emu
}

/// A replica: its own client, sharing revocations through `redis`.
fn replica(
    emu: &Emulator,
    redis: &RedisServer,
    tune: impl FnOnce(PassageBuilder) -> PassageBuilder,
) -> (Passage, RedisRevocations) {
    let shared = RedisRevocations::new(&redis.url())
        .unwrap()
        .namespace("redis_app");
    let builder = PassageBuilder::from_env_vars(emu.env_vars())
        .unwrap()
        .revocations(shared.clone());
    (tune(builder).build().unwrap(), shared)
}

async fn synced(passage: &Passage) -> bool {
    eventually(async || passage.auth().revocations().is_synced()).await
}

async fn refuses(passage: &Passage, token: &str) -> bool {
    eventually(async || {
        matches!(
            passage.auth().validate_jwt(token).await,
            Err(AuthError::Invalid(Invalid::Revoked))
        )
    })
    .await
}

/// A token issued a few seconds ago (so a revocation made now covers it).
fn earlier_token(emu: &Emulator, user: &str) -> String {
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 5;
    emu.token(user).claim("iat", iat).sign().unwrap()
}

/// A token issued after every revocation made so far (the next second).
async fn later_token(emu: &Emulator, user: &str) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    tokio::time::sleep(
        Duration::from_millis(1_050) - Duration::from_nanos(u64::from(now.subsec_nanos())),
    )
    .await;
    emu.mint_token(user).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_on_one_replica_is_refused_on_all() {
    let redis = RedisServer::start();
    let emu = emulator().await;
    let (a, _) = replica(&emu, &redis, |b| b);
    let (b, _) = replica(&emu, &redis, |b| b);
    assert!(
        synced(&a).await && synced(&b).await,
        "both replicas sync at start"
    );
    let token = earlier_token(&emu, "ada");
    b.auth().validate_jwt(&token).await.expect("valid before");

    a.users().deactivate("ada").await.unwrap();
    assert!(
        matches!(
            a.auth().validate_jwt(&token).await,
            Err(AuthError::Invalid(Invalid::Revoked))
        ),
        "at once on A"
    );
    assert!(refuses(&b, &token).await, "and on B, through Redis");

    a.users().activate("ada").await.unwrap();
    let fresh = later_token(&emu, "ada").await;
    a.auth()
        .validate_jwt(&fresh)
        .await
        .expect("a token issued after passes on A");
    b.auth().validate_jwt(&fresh).await.expect("and on B");

    let (c, _) = replica(&emu, &redis, |b| b);
    assert!(synced(&c).await);
    assert!(
        matches!(
            c.auth().validate_jwt(&token).await,
            Err(AuthError::Invalid(Invalid::Revoked))
        ),
        "a replica started later loads it"
    );
    c.auth().validate_jwt(&fresh).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_made_while_redis_is_down_lands_when_it_is_back() {
    let mut redis = RedisServer::start();
    let emu = emulator().await;
    let (a, a_shared) = replica(&emu, &redis, |b| b);
    let (b, _) = replica(&emu, &redis, |b| b);
    assert!(synced(&a).await && synced(&b).await);
    let token = earlier_token(&emu, "bob");

    redis.kill();
    assert!(
        eventually(
            async || !a.auth().revocations().is_synced() && !b.auth().revocations().is_synced()
        )
        .await,
        "both notice"
    );
    a.auth().revoke_sessions("bob");
    assert!(
        matches!(
            a.auth().validate_jwt(&token).await,
            Err(AuthError::Invalid(Invalid::Revoked))
        ),
        "applied locally at once"
    );
    b.auth()
        .validate_jwt(&token)
        .await
        .expect("fail-open B keeps serving what it knows");
    assert_eq!(a_shared.unwritten(), 1, "queued, not lost");

    redis.restart();
    assert!(refuses(&b, &token).await, "B refuses once A's write lands");
    assert!(a_shared.flush(Duration::from_secs(10)).await);
    drop(b);
    let (b_again, _) = replica(&emu, &redis, |b| b);
    assert!(synced(&b_again).await);
    assert!(
        matches!(
            b_again.auth().validate_jwt(&token).await,
            Err(AuthError::Invalid(Invalid::Revoked))
        ),
        "a restarted B still refuses"
    );

    // Redis restarted empty (its data lost): the replicas still hold the revocation, and write
    // it back when they reconnect, so a replica started afterwards refuses too.
    redis.kill_and_wipe();
    redis.restart();
    assert!(synced(&a).await);
    assert!(matches!(
        a.auth().validate_jwt(&token).await,
        Err(AuthError::Invalid(Invalid::Revoked))
    ));
    let (late, _) = replica(&emu, &redis, |b| b);
    assert!(
        refuses(&late, &token).await,
        "repaired from the replicas' lists"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_refuses_while_out_of_sync() {
    let mut redis = RedisServer::start();
    let emu = emulator().await;
    let token = emu.mint_token("cy").unwrap();
    let (closed, _) = replica(&emu, &redis, |b| b.revocations_fail_closed(true));
    assert!(synced(&closed).await);
    closed
        .auth()
        .validate_jwt(&token)
        .await
        .expect("in sync: served");

    redis.kill();
    let refused = eventually(async || {
        matches!(
            closed.auth().validate_jwt(&token).await,
            Err(AuthError::RevocationsUnavailable)
        )
    })
    .await;
    assert!(refused, "out of sync: 503 revocations_unavailable");
    redis.restart();
    assert!(synced(&closed).await);
    closed
        .auth()
        .validate_jwt(&token)
        .await
        .expect("back in sync: served again");
}
