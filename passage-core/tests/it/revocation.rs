//! Session revocation: a revoked user's tokens issued until then are refused — fresh or cached,
//! by an explicit call or by the Management API calls that end sessions — tokens issued later
//! pass, and a fail-closed client refuses everything while out of sync.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use passage_core::{
    AuthError, ConfigError, Invalid, Revocation, RevocationList, SharedRevocations,
};
use passage_emulator::SeedUser;

use crate::{
    seams::ShiftedClock,
    validation::{USER, client, emulator, invalid},
};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn revoked_sessions_refuse_tokens_issued_until_then_cached_or_not() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let auth = passage.auth();
    let before = emu.token(USER).claim("iat", now() - 5).sign().unwrap();
    let no_iat = emu.token(USER).without_claim("iat").sign().unwrap();
    let other = emu.token("someone-else").sign().unwrap();
    auth.validate_jwt(&before).await.unwrap();
    assert_eq!(auth.cached_tokens(), 1, "cached before the revocation");
    assert!(auth.revocations().is_empty());

    let revocation = auth.revoke_sessions(USER);
    assert_eq!(revocation.user_id(), USER);
    assert_eq!(auth.revocations().len(), 1);
    assert_eq!(
        invalid(auth.validate_jwt(&before).await),
        Invalid::Revoked,
        "a cache hit is refused too"
    );
    assert_eq!(
        invalid(auth.validate_jwt(&no_iat).await),
        Invalid::Revoked,
        "no iat: cannot be after"
    );
    let at_the_same_second = emu
        .token(USER)
        .claim("iat", revocation.revoked_at())
        .sign()
        .unwrap();
    assert_eq!(
        invalid(auth.validate_jwt(&at_the_same_second).await),
        Invalid::Revoked
    );
    auth.validate_jwt(&other)
        .await
        .expect("another user is untouched");

    let after = emu
        .token(USER)
        .claim("iat", revocation.revoked_at() + 1)
        .sign()
        .unwrap();
    let claims = auth
        .validate_jwt(&after)
        .await
        .expect("a token issued later passes");
    assert_eq!(claims.user_id(), USER);

    // What a client sees: 401 invalid_token, never the reason.
    let err = auth.validate_jwt(&before).await.unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (401, "invalid_token"));
}

#[tokio::test]
async fn management_calls_that_end_sessions_revoke_them() {
    let emu = emulator().await;
    for id in ["to-deactivate", "to-delete", "to-sign-out"] {
        emu.seed_user(SeedUser::email(format!("{id}@example.com")).with_id(id))
            .unwrap();
    }
    let passage = client(&emu, |b| b);
    let token = |id: &str| emu.token(id).claim("iat", now() - 5).sign().unwrap();
    let (a, b, c) = (
        token("to-deactivate"),
        token("to-delete"),
        token("to-sign-out"),
    );
    for t in [&a, &b, &c] {
        passage.auth().validate_jwt(t).await.unwrap();
    }
    passage.users().deactivate("to-deactivate").await.unwrap();
    passage.users().delete("to-delete").await.unwrap();
    passage
        .users()
        .revoke_refresh_tokens("to-sign-out")
        .await
        .unwrap();
    for t in [&a, &b, &c] {
        assert_eq!(
            invalid(passage.auth().validate_jwt(t).await),
            Invalid::Revoked
        );
    }
    // A failed call revokes nothing.
    let failed = passage
        .users()
        .deactivate("no-such-user")
        .await
        .unwrap_err();
    assert_eq!(
        (failed.status(), failed.code()),
        (Some(404), Some(&passage_core::ErrorCode::UserNotFound))
    );
    assert_eq!(passage.auth().revocations().len(), 3);

    // Opted out: the API call happens, the tokens keep working.
    emu.seed_user(SeedUser::email("kept@example.com").with_id("kept"))
        .unwrap();
    let opted_out = client(&emu, |b| b.revoke_on_user_changes(false));
    let kept = token("kept");
    opted_out.users().deactivate("kept").await.unwrap();
    opted_out.auth().validate_jwt(&kept).await.unwrap();
    assert!(opted_out.auth().revocations().is_empty());
}

#[tokio::test]
async fn revocations_are_kept_for_the_retention_and_no_longer() {
    let emu = emulator().await;
    let passage = client(&emu, |b| b.revocation_retention(Duration::from_secs(3600)));
    let list = passage.auth().revocations();
    assert_eq!(list.retention(), Duration::from_secs(3600));
    assert!(
        !list.apply(&Revocation::new("old", now() - 3601)),
        "past the retention: ignored"
    );
    assert!(list.apply(&Revocation::new("recent", now() - 3000)));
    assert!(
        !list.apply(&Revocation::new("recent", now() - 3500)),
        "an earlier one changes nothing"
    );
    assert!(
        list.apply(&Revocation::new("recent", now() - 10)),
        "a later one moves it forward"
    );
    assert_eq!(list.current(), vec![Revocation::new("recent", now() - 10)]);
    assert!(list.is_revoked("recent", Some(now() - 11)));
    assert!(!list.is_revoked("recent", Some(now())));

    // Past its retention an entry is dropped (at the next change), not only hidden.
    let clock = ShiftedClock::default();
    let timed = client(&emu, |b| {
        b.clock(clock.clone())
            .revocation_retention(Duration::from_secs(3600))
    });
    let list = timed.auth().revocations();
    let t = now();
    assert!(list.apply(&Revocation::new("early", t)));
    clock.shift(3601);
    assert!(list.apply(&Revocation::new("late", t + 3601)));
    assert_eq!(list.current(), vec![Revocation::new("late", t + 3601)]);
    assert_eq!(list.len(), 1, "the expired entry is gone");

    for retention in [
        Duration::from_secs(59),
        Duration::from_secs(400 * 24 * 3600),
    ] {
        let refused = crate::validation::loopback("app")
            .revocation_retention(retention)
            .build();
        assert!(
            matches!(
                refused,
                Err(ConfigError::OutOfRange("revocation_retention"))
            ),
            "{retention:?}"
        );
    }
}

/// A shared backend that syncs when told to, and records what it was asked to publish.
#[derive(Debug, Default, Clone)]
struct Backend {
    attached: Arc<Mutex<Option<RevocationList>>>,
    published: Arc<Mutex<Vec<Revocation>>>,
}

impl SharedRevocations for Backend {
    fn attach(&self, local: RevocationList) {
        *self.attached.lock().unwrap() = Some(local);
    }

    fn publish(&self, revocation: &Revocation) {
        self.published.lock().unwrap().push(revocation.clone());
    }
}

#[tokio::test]
async fn a_shared_backend_is_told_and_fail_closed_refuses_while_out_of_sync() {
    let emu = emulator().await;
    let token = emu.mint_token(USER).unwrap();

    let open = Backend::default();
    let passage = client(&emu, |b| b.revocations(open.clone()));
    let local = open
        .attached
        .lock()
        .unwrap()
        .clone()
        .expect("attached at build");
    assert!(
        !local.is_synced(),
        "out of sync until the backend has loaded"
    );
    passage
        .auth()
        .validate_jwt(&token)
        .await
        .expect("fail-open keeps serving");
    passage.auth().revoke_sessions("elsewhere");
    assert_eq!(open.published.lock().unwrap()[0].user_id(), "elsewhere");
    // A revocation arriving from another replica applies here, and is not published again.
    local.apply(&Revocation::new(USER, now()));
    assert_eq!(
        invalid(passage.auth().validate_jwt(&token).await),
        Invalid::Revoked
    );
    assert_eq!(open.published.lock().unwrap().len(), 1);

    let closed = Backend::default();
    let passage = client(&emu, |b| {
        b.revocations(closed.clone()).revocations_fail_closed(true)
    });
    let local = closed.attached.lock().unwrap().clone().unwrap();
    let err = passage.auth().validate_jwt(&token).await.unwrap_err();
    assert!(matches!(err, AuthError::RevocationsUnavailable), "{err:?}");
    assert_eq!(
        (err.status().as_u16(), err.code(), err.retry_after_secs()),
        (503, "revocations_unavailable", Some(1))
    );
    local.set_synced(true);
    passage
        .auth()
        .validate_jwt(&token)
        .await
        .expect("in sync: served");
    local.set_synced(false);
    let again = passage.auth().validate_jwt(&token).await;
    assert!(
        matches!(again, Err(AuthError::RevocationsUnavailable)),
        "out of sync again: refused again, {again:?}"
    );
}
