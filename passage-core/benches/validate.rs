//! Validation speed, as ratios measured in one run (absolute times on a noisy machine mean little).
//!
//! ```text
//! cargo bench -p passage-core --bench validate
//! ```
//! Benchmarks, same token and key throughout:
//! - `jsonwebtoken_decode` — the baseline: `jsonwebtoken::decode` (aws_lc_rs backend) with a
//!   `DecodingKey` built once, RS256 + audience validation, claims into `serde_json::Value`;
//! - `rsa_verify_floor` — a bare RS256 verify on a pre-parsed key (no parsing at all);
//! - `passage_full` — `validate_jwt` with the verified-token cache off (every rule, every time);
//! - `passage_cached` — `validate_jwt` with the cache on (a repeat token);
//! - `passage_cached_10k_revoked` — the same, with 10 000 other users' sessions revoked (the
//!   revocation check is a hash lookup instead of one atomic load);
//! - `request_check_cached` — what an adapter does per request on a repeat token, and
//!   `request_check_cached_recorded` the same with a metrics recorder (metrics-util's
//!   `DebuggingRecorder`: atomic counters, as Prometheus's) receiving the request's metrics.
//!
//! Targets (ARCHITECTURE.md, "Performance budget"): full ≤ 1.0× baseline; cached ≥ 50× faster
//! than full.

#![allow(
    clippy::expect_used,
    reason = "a benchmark has nothing to do but stop when its setup fails"
)]

use std::{
    future::Future,
    hint::black_box,
    path::PathBuf,
    pin::pin,
    task::{Context, Poll, Waker},
    time::Duration,
};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use criterion::Criterion;
use passage_core::{
    PassageBuilder,
    adapter::{Admission, Decision, Hooks as _},
};
use passage_emulator::Emulator;

const GROUP: &str = "validate";

/// Polls a future that never waits (keys are warm) to completion, without a runtime in the loop.
fn run_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let emulator = runtime
        .block_on(Emulator::builder().app_id("bench_app").start())
        .expect("emulator");
    let token = emulator.mint_token("user-bench").expect("token");
    let client = |cache: u64| {
        PassageBuilder::from_env_vars(emulator.env_vars())
            .expect("emulator variables")
            .token_cache_capacity(cache)
            .build()
            .expect("client")
    };
    let full = client(0);
    let cached = client(10_000);
    let revoked = client(10_000);
    // Its first request registers its metrics with this recorder.
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let recorded = client(10_000);
    for i in 0..10_000 {
        revoked.auth().revoke_sessions(&format!("revoked-user-{i}"));
    }
    runtime.block_on(async {
        full.auth().validate_jwt(&token).await.expect("valid");
        cached.auth().validate_jwt(&token).await.expect("valid");
        revoked.auth().validate_jwt(&token).await.expect("valid");
    });
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(recorded.auth().validate_jwt(&token))
    })
    .expect("valid");

    let jwk = emulator.current_key().jwk();
    let (n, e) = (jwk["n"].as_str().expect("n"), jwk["e"].as_str().expect("e"));
    let decoding_key = jsonwebtoken::DecodingKey::from_rsa_components(n, e).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["bench_app"]);

    let parsed = RsaPublicKeyComponents {
        n: URL_SAFE_NO_PAD.decode(n).expect("n"),
        e: URL_SAFE_NO_PAD.decode(e).expect("e"),
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .expect("parsed");
    let (signing_input, signature) = token.rsplit_once('.').expect("token");
    let signature = URL_SAFE_NO_PAD.decode(signature).expect("sig");

    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    let mut criterion = Criterion::default()
        .output_directory(&out)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut group = criterion.benchmark_group(GROUP);
        group.bench_function("jsonwebtoken_decode", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<serde_json::Value>(
                    black_box(&token),
                    &decoding_key,
                    &validation,
                )
                .expect("valid")
            });
        });
        group.bench_function("rsa_verify_floor", |b| {
            b.iter(|| {
                parsed
                    .verify_sig(black_box(signing_input.as_bytes()), black_box(&signature))
                    .expect("valid")
            });
        });
        group.bench_function("passage_full", |b| {
            b.iter(|| run_ready(full.auth().validate_jwt(black_box(&token))).expect("valid"));
        });
        group.bench_function("passage_cached", |b| {
            b.iter(|| run_ready(cached.auth().validate_jwt(black_box(&token))).expect("valid"));
        });
        group.bench_function("passage_cached_10k_revoked", |b| {
            b.iter(|| run_ready(revoked.auth().validate_jwt(black_box(&token))).expect("valid"));
        });
        // What an adapter does per request on a repeat token: find it in the header, then check.
        let header = format!("Bearer {token}");
        let check = |client: &passage_core::Passage| match client.auth().admit(
            Admission::required(passage_core::TokenSource::default()),
            [black_box(header.as_bytes())],
            std::iter::empty(),
        ) {
            Decision::Ready(result) => result.expect("valid"),
            Decision::Pending(_) => unreachable!("keys are warm"),
        };
        group.bench_function("request_check_cached", |b| {
            b.iter(|| check(&cached));
        });
        group.bench_function("request_check_cached_recorded", |b| {
            metrics::with_local_recorder(&recorder, || b.iter(|| check(&recorded)));
        });
        group.finish();
    }
    criterion.final_summary();
    print_ratios(&out);
    drop(emulator);
}

fn mean_ns(out: &std::path::Path, name: &str) -> Option<f64> {
    let path = out.join(GROUP).join(name).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["mean"]["point_estimate"].as_f64()
}

fn print_ratios(out: &std::path::Path) {
    let names = [
        "jsonwebtoken_decode",
        "rsa_verify_floor",
        "passage_full",
        "passage_cached",
    ];
    let means: Vec<Option<f64>> = names.iter().map(|n| mean_ns(out, n)).collect();
    let [Some(baseline), Some(floor), Some(full), Some(cached)] = means[..] else {
        println!("ratios: run all four benchmarks (no filter) to print them");
        return;
    };
    println!("\n== passage-core validation, ratios from this run ==");
    println!(
        "mean ns: baseline {baseline:.0}, floor {floor:.0}, full {full:.0}, cached {cached:.0}"
    );
    println!(
        "full / jsonwebtoken::decode = {:.3}  (target <= 1.00)",
        full / baseline
    );
    println!(
        "full / bare RSA verify      = {:.3}  (stretch <= 1.15)",
        full / floor
    );
    println!(
        "full / cached               = {:.1}x (target >= 50x)",
        full / cached
    );
    if let Some(revoked) = mean_ns(out, "passage_cached_10k_revoked") {
        println!(
            "cached, 10k users revoked / cached, none = {:.2}  ({revoked:.0} ns vs {cached:.0} ns)",
            revoked / cached
        );
    }
    if let (Some(plain), Some(recorded)) = (
        mean_ns(out, "request_check_cached"),
        mean_ns(out, "request_check_cached_recorded"),
    ) {
        println!(
            "cached request, metrics recorded / none = {:.2}  ({recorded:.0} ns vs {plain:.0} ns)",
            recorded / plain
        );
    }
}
