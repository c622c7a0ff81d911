//! What authentication adds to one request inside the framework, without sockets: the axum and
//! actix apps `bench-http` serves (its library), called in process, on a repeat token.
//!
//! ```text
//! cargo bench -p bench-http --bench stack
//! ```
//!
//! The variants of one framework take turns in short slices (round-robin, `ROUNDS` rounds), so a
//! slow spell of this shared machine hits all of them alike; each prints its median ns/request
//! and the median of its per-round ratio to the app without authentication.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a benchmark has nothing to do but stop when its setup fails"
)]

use std::{hint::black_box, time::Instant};

use actix_web::{App, test as actix_test};
use axum::body::Body;
use bench_http::{Mode, actix_app, axum_app};
use http::Request;
use passage_axum::Passage;
use passage_core::PassageBuilder;
use passage_emulator::Emulator;
use tower::ServiceExt as _;

/// A named app and how to send it one request.
type Variant<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Requests per variant per round.
const SLICE: u32 = 20_000;

fn rounds() -> usize {
    std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(15)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (emulator, passage, token) = runtime.block_on(async {
        let emulator = Emulator::builder()
            .app_id("bench_app")
            .start()
            .await
            .unwrap();
        let passage = PassageBuilder::from_env_vars(emulator.env_vars())
            .expect("emulator variables")
            .build()
            .unwrap();
        passage.auth().warm_up().await.unwrap();
        let token = emulator.mint_token("bench-user").unwrap();
        (emulator, passage, token)
    });
    let bearer = format!("Bearer {token}");
    axum_stack(&runtime, &passage, &bearer);
    actix_stack(&passage, &bearer);
    drop(emulator);
}

fn axum_stack(runtime: &tokio::runtime::Runtime, passage: &Passage, bearer: &str) {
    let authorization = http::HeaderValue::try_from(bearer).unwrap();
    let request = || {
        Request::get("/me")
            .header(http::header::HOST, "127.0.0.1")
            .header(http::header::AUTHORIZATION, authorization.clone())
            .body(Body::empty())
            .unwrap()
    };
    let request = &request;
    let mut timed: Vec<Variant<'_>> = [
        ("none", Mode::None),
        ("identity layer", Mode::NoopLayer),
        ("PassageLayer + PassageUser", Mode::Auth),
        ("PassageUser alone", Mode::Extractor),
    ]
    .into_iter()
    .map(|(name, mode)| {
        let router = axum_app(mode, passage);
        let response = runtime.block_on(router.clone().oneshot(request())).unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let run: Box<dyn FnMut() + '_> = Box::new(move || {
            black_box(runtime.block_on(router.clone().oneshot(request())).unwrap());
        });
        (name, run)
    })
    .collect();
    report("axum 0.8, Router::oneshot", &mut timed);
}

fn actix_stack(passage: &Passage, bearer: &str) {
    let system = actix_web::rt::System::new();
    let app = |mode| {
        system.block_on(actix_test::init_service(
            App::new().configure(actix_app(mode, passage.clone())),
        ))
    };
    let (none, middleware, extractor) = (app(Mode::None), app(Mode::Auth), app(Mode::Extractor));
    let request = || {
        actix_test::TestRequest::get()
            .uri("/me")
            .insert_header(("authorization", bearer))
            .to_request()
    };
    macro_rules! variant {
        ($name:expr, $app:expr) => {{
            let status = system
                .block_on(actix_test::call_service(&$app, request()))
                .status();
            assert_eq!(status, 200, "{}", $name);
            let run: Box<dyn FnMut() + '_> = Box::new(|| {
                black_box(system.block_on(actix_test::call_service(&$app, request())));
            });
            ($name, run)
        }};
    }
    let mut timed: Vec<Variant<'_>> = vec![
        variant!("none", none),
        variant!("PassageAuth + PassageUser", middleware),
        variant!("PassageUser alone", extractor),
    ];
    report("actix-web 4, call_service", &mut timed);
}

/// Runs the variants round-robin and prints medians; the first variant is the baseline.
fn report(title: &str, variants: &mut [Variant<'_>]) {
    let rounds = rounds();
    let mut ns: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); variants.len()];
    for (_, run) in variants.iter_mut() {
        for _ in 0..SLICE / 4 {
            run();
        }
    }
    for _ in 0..rounds {
        for (i, (_, run)) in variants.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..SLICE {
                run();
            }
            ns[i].push(start.elapsed().as_nanos() as f64 / f64::from(SLICE));
        }
    }
    println!("\n== {title}: {rounds} rounds of {SLICE} requests per variant ==");
    println!(
        "{:<28} {:>10} {:>12} {:>14}",
        "variant", "ns/request", "ratio", "added ns"
    );
    for (i, (name, _)) in variants.iter().enumerate() {
        let ratios: Vec<f64> = ns[i].iter().zip(&ns[0]).map(|(v, b)| v / b).collect();
        let added: Vec<f64> = ns[i].iter().zip(&ns[0]).map(|(v, b)| v - b).collect();
        println!(
            "{name:<28} {:>10.0} {:>12.3} {:>14.0}",
            median(&ns[i]),
            median(&ratios),
            median(&added)
        );
    }
    println!("ratio = time per request / time without authentication (median of per-round ratios)");
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}
