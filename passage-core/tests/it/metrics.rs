//! The metrics passage-core emits, read from a `DebuggingRecorder` installed for this thread only
//! (tokio's current-thread test runtime runs the client, its background tasks and the emulator on
//! the test's thread, so concurrent tests never mix their numbers). Each snapshot holds what
//! happened since the previous one.

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use passage_core::{ApiError, AuthError, Invalid};
use passage_emulator::{Fault, SeedUser, Target};

use crate::validation::{USER, client, emulator, headers, invalid};

/// One snapshot: every metric by name and sorted labels.
struct Recorded(HashMap<(String, Vec<(String, String)>), DebugValue>);

impl Recorded {
    fn take(snapshotter: &Snapshotter) -> Self {
        let mut all = HashMap::new();
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            all.insert((key.name().to_owned(), labels), value);
        }
        Self(all)
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        labels.sort();
        self.0.get(&(name.to_owned(), labels))
    }

    /// A counter's increase since the last snapshot (0 when it never moved).
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.get(name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            None => 0,
            Some(other) => panic!("{name} is not a counter: {other:?}"),
        }
    }

    fn gauge(&self, name: &str) -> Option<f64> {
        match self.get(name, &[]) {
            Some(DebugValue::Gauge(v)) => Some(v.into_inner()),
            None => None,
            Some(other) => panic!("{name} is not a gauge: {other:?}"),
        }
    }

    fn histogram(&self, name: &str) -> Vec<f64> {
        match self.get(name, &[]) {
            Some(DebugValue::Histogram(values)) => values.iter().map(|v| v.into_inner()).collect(),
            None => Vec::new(),
            Some(other) => panic!("{name} is not a histogram: {other:?}"),
        }
    }

    /// Every `passage_validations_total` outcome that moved, with its count.
    fn outcomes(&self) -> Vec<(String, u64)> {
        let mut moved: Vec<(String, u64)> = self
            .0
            .iter()
            .filter(|((name, _), _)| name == "passage_validations_total")
            .filter_map(|((_, labels), value)| match value {
                DebugValue::Counter(n) if *n > 0 => Some((labels[0].1.clone(), *n)),
                _ => None,
            })
            .collect();
        moved.sort();
        moved
    }

    /// No label of any metric holds `text`.
    fn no_label_holds(&self, text: &str) -> bool {
        self.0
            .keys()
            .all(|(_, labels)| labels.iter().all(|(_, v)| !v.contains(text)))
    }
}

fn outcome(name: &str, n: u64) -> Vec<(String, u64)> {
    vec![(name.to_owned(), n)]
}

#[tokio::test]
async fn validations_are_counted_by_outcome() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);

    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let auth = passage.auth();
    let token = emu.mint_token(USER).unwrap();
    let bearer = format!("Bearer {token}");
    Recorded::take(&snapshotter); // the client's construction

    // No keys yet: the request waits for the first fetch, and is counted once.
    auth.authenticate(&headers(&[&bearer], &[])).await.unwrap();
    let first = Recorded::take(&snapshotter);
    assert_eq!(first.outcomes(), outcome("ok", 1));
    assert_eq!(
        first.counter(
            "passage_jwks_fetches_total",
            &[("result", "ok"), ("cause", "load")]
        ),
        1
    );
    assert_eq!(
        first.histogram("passage_jwks_fetch_duration_seconds").len(),
        1
    );
    assert_eq!(first.gauge("passage_jwks_age_seconds"), Some(0.0));
    assert_eq!(first.gauge("passage_token_cache_entries"), Some(1.0));

    // The same token again: the verified-token cache answers.
    auth.authenticate(&headers(&[&bearer], &[])).await.unwrap();
    let second = Recorded::take(&snapshotter);
    assert_eq!(second.outcomes(), outcome("cached", 1));
    assert_eq!(second.counter("passage_token_cache_hits_total", &[]), 1);
    assert_eq!(second.counter("passage_token_cache_misses_total", &[]), 0);
    assert_eq!(
        second.counter(
            "passage_jwks_fetches_total",
            &[("result", "ok"), ("cause", "load")]
        ),
        0
    );

    // Refused: an expired token (a cache miss, then the claims fail), no token, a malformed one.
    let expired = emu.token(USER).expires_in_secs(-10).sign().unwrap();
    invalid(auth.validate_jwt(&expired).await);
    let refused = Recorded::take(&snapshotter);
    assert_eq!(refused.outcomes(), outcome("invalid", 1));
    assert_eq!(refused.counter("passage_token_cache_misses_total", &[]), 1);

    let missing = auth.authenticate(&headers(&[], &[])).await;
    assert!(matches!(missing, Err(AuthError::MissingToken)));
    assert_eq!(
        Recorded::take(&snapshotter).outcomes(),
        outcome("missing", 1)
    );
    // Optional admission lets an anonymous request through, and still counts it as missing.
    assert!(
        auth.authenticate_optional(&headers(&[], &[]))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        Recorded::take(&snapshotter).outcomes(),
        outcome("missing", 1)
    );

    let basic = auth.authenticate(&headers(&["Basic dXNlcg=="], &[])).await;
    assert!(matches!(basic, Err(AuthError::Malformed(_))));
    assert_eq!(
        Recorded::take(&snapshotter).outcomes(),
        outcome("malformed", 1)
    );

    // Revoked sessions: the cached token is refused, and the held revocations are reported.
    auth.revoke_sessions(USER);
    assert_eq!(invalid(auth.validate_jwt(&token).await), Invalid::Revoked);
    let revoked = Recorded::take(&snapshotter);
    assert_eq!(revoked.outcomes(), outcome("revoked", 1));
    assert_eq!(revoked.gauge("passage_revocations"), Some(1.0));
    assert_eq!(revoked.gauge("passage_revocations_in_sync"), Some(1.0));
    assert!(revoked.no_label_holds(USER), "no user id as a label");
    assert!(first.no_label_holds(USER) && second.no_label_holds(&token[..20]));
}

#[tokio::test]
async fn a_jwks_fault_is_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);

    let emu = emulator().await;
    let passage = client(&emu, |b| b);
    let token = emu.mint_token(USER).unwrap();
    emu.set_fault(Target::Jwks, Fault::Unavailable);
    Recorded::take(&snapshotter);

    let result = passage.auth().validate_jwt(&token).await;
    assert!(
        matches!(result, Err(AuthError::KeysUnavailable { .. })),
        "{result:?}"
    );
    let failed = Recorded::take(&snapshotter);
    assert_eq!(failed.outcomes(), outcome("keys_unavailable", 1));
    assert_eq!(
        failed.counter(
            "passage_jwks_fetches_total",
            &[("result", "status"), ("cause", "load")]
        ),
        1
    );
    assert_eq!(
        failed
            .histogram("passage_jwks_fetch_duration_seconds")
            .len(),
        1
    );
    assert_eq!(
        failed.gauge("passage_jwks_age_seconds"),
        None,
        "no key set was ever fetched: no age"
    );
}

#[tokio::test]
async fn management_api_calls_are_counted_by_operation_and_status() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _local = metrics::set_default_local_recorder(&recorder);

    let emu = passage_emulator::Emulator::builder()
        .app_id("app_metrics")
        .api_key("sk_metrics")
        .user(SeedUser::email("ada@example.com").with_id("user-ada"))
        .start()
        .await
        .unwrap();
    let passage = passage_core::Passage::builder(emu.app_id())
        .api_key("sk_metrics")
        .auth_url(emu.auth_url())
        .api_url(emu.api_url())
        .retry_backoff(
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(5),
        )
        .build()
        .unwrap();
    let users = passage.users();
    let requests = |recorded: &Recorded, operation, class, status| {
        recorded.counter(
            "passage_api_requests_total",
            &[
                ("operation", operation),
                ("class", class),
                ("status", status),
            ],
        )
    };

    users.get("user-ada").await.unwrap();
    let err = users.get("user-nobody").await.unwrap_err();
    assert!(err.is_not_found());
    let recorded = Recorded::take(&snapshotter);
    assert_eq!(requests(&recorded, "get_user", "2xx", "200"), 1);
    assert_eq!(requests(&recorded, "get_user", "4xx", "404"), 1);
    assert_eq!(
        recorded.counter("passage_api_retries_total", &[("operation", "get_user")]),
        0
    );
    assert!(recorded.no_label_holds("user-ada") && recorded.no_label_holds("user-nobody"));

    // One 503, then a retry that succeeds: one call, one retry, counted with its final status.
    emu.set_fault_times(Target::Api, Fault::Unavailable, 1);
    users.get("user-ada").await.unwrap();
    let recorded = Recorded::take(&snapshotter);
    assert_eq!(requests(&recorded, "get_user", "2xx", "200"), 1);
    assert_eq!(requests(&recorded, "get_user", "5xx", "503"), 0);
    assert_eq!(
        recorded.counter("passage_api_retries_total", &[("operation", "get_user")]),
        1
    );

    // A call that never gets an answer: no status, the kind of failure instead.
    emu.set_fault(Target::Api, Fault::Close);
    let err = users.deactivate("user-ada").await.unwrap_err();
    assert!(matches!(err, ApiError::Transport(_)), "{err:?}");
    let recorded = Recorded::take(&snapshotter);
    assert_eq!(
        requests(&recorded, "deactivate_user", "error", "transport"),
        1
    );
    assert_eq!(
        recorded.counter(
            "passage_api_retries_total",
            &[("operation", "deactivate_user")]
        ),
        2,
        "the default two retries"
    );
}
