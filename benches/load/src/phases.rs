//! The measured phases, in order: passkey sign-ups, a list at a few users, user creation up to
//! `--users`, a list at that many, memory, then sign-ins and refreshes for `--seconds` each.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    Options,
    authenticator::Authenticator,
    floor::Floor,
    server::{API_KEY, ORIGIN, Server},
};

const APP: &str = "passage_app";

/// Where the calls go.
#[derive(Clone)]
struct Target {
    http: reqwest::Client,
    auth: String,
    api: String,
}

impl Target {
    /// `POST` to the Authentication API: the JSON answer, or what went wrong.
    async fn auth_post(&self, path: &str, body: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(format!("{}/v1/apps/{APP}{path}", self.auth))
            .header("Passage-Browser", "bench-load")
            .json(&body)
            .send()
            .await
            .map_err(|err| format!("{path}: {err}"))?;
        answer(path, response).await
    }
}

async fn answer(path: &str, response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|err| format!("{path}: {err}"))?;
    if !status.is_success() {
        return Err(format!("{path}: {status} {text}"));
    }
    serde_json::from_str(&text).map_err(|err| format!("{path}: {err}: {text}"))
}

/// A user who signs in with a passkey.
struct Holder {
    identifier: String,
    authenticator: Authenticator,
    refresh_token: String,
}

/// Registers `identifier` with a new passkey.
async fn register(target: &Target, identifier: String) -> Result<Holder, String> {
    let mut authenticator = Authenticator::new(ORIGIN);
    let start = target
        .auth_post(
            "/register/webauthn/start",
            json!({ "identifier": identifier }),
        )
        .await?;
    let response = authenticator.register(&start["handshake"]["challenge"]);
    let finish = target
        .auth_post(
            "/register/webauthn/finish",
            json!({
                "handshake_id": start["handshake"]["id"],
                "handshake_response": response,
                "user_id": start["user"]["id"],
            }),
        )
        .await?;
    Ok(Holder {
        identifier,
        authenticator,
        refresh_token: refresh_token(&finish)?,
    })
}

fn refresh_token(answer: &Value) -> Result<String, String> {
    answer["auth_result"]["refresh_token"]
        .as_str()
        .filter(|token| !token.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| format!("no refresh token in {answer}"))
}

/// One passkey sign-in by identifier: login start, the authenticator, login finish.
async fn sign_in(target: &Target, holder: &mut Holder) -> Result<(), String> {
    let start = target
        .auth_post(
            "/login/webauthn/start",
            json!({ "identifier": holder.identifier }),
        )
        .await?;
    let response = holder
        .authenticator
        .sign_in(&start["handshake"]["challenge"], false);
    let finish = target
        .auth_post(
            "/login/webauthn/finish",
            json!({
                "handshake_id": start["handshake"]["id"],
                "handshake_response": response,
                "user_id": start["user"]["id"],
            }),
        )
        .await?;
    if finish["auth_result"]["auth_token"].as_str().is_none() {
        return Err(format!("no token in {finish}"));
    }
    holder.refresh_token = refresh_token(&finish)?;
    Ok(())
}

/// One refresh: the holder's refresh token for a new token and a new refresh token.
async fn refresh(target: &Target, holder: &mut Holder) -> Result<(), String> {
    let answer = target
        .auth_post("/tokens", json!({ "refresh_token": holder.refresh_token }))
        .await?;
    holder.refresh_token = refresh_token(&answer)?;
    Ok(())
}

/// Runs `op` on each task's state in a loop until `deadline` (one task per state): every
/// call's latency. Any failure stops the bench with its cause (a refusal is not throughput).
async fn drive<S, F, Fut>(
    target: &Target,
    states: Vec<S>,
    deadline: Instant,
    op: F,
) -> (Vec<S>, Vec<Duration>)
where
    S: Send + 'static,
    F: Fn(Target, S) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = (S, Result<(), String>)> + Send,
{
    let tasks: Vec<_> = states
        .into_iter()
        .map(|mut state| {
            let (target, op) = (target.clone(), op.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let (next, result) = op(target.clone(), state).await;
                    state = next;
                    if let Err(err) = result {
                        panic!("bench-load: a call failed under load: {err}");
                    }
                    latencies.push(started.elapsed());
                }
                (state, latencies)
            })
        })
        .collect();
    let mut states = Vec::new();
    let mut latencies = Vec::new();
    for task in tasks {
        let (state, mut taken) = task.await.expect("a load task panicked");
        states.push(state);
        latencies.append(&mut taken);
    }
    (states, latencies)
}

/// Latency percentiles of a phase.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Spread {
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
}

fn spread(mut latencies: Vec<Duration>) -> Spread {
    latencies.sort_unstable();
    let at = |q: f64| {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let index = ((latencies.len().saturating_sub(1)) as f64 * q).round() as usize;
        latencies.get(index).copied().unwrap_or_default()
    };
    Spread {
        p50: at(0.50),
        p99: at(0.99),
    }
}

/// The Management API's first page of users, `times` calls one after another.
async fn list_latency(target: &Target, times: usize) -> Spread {
    let url = format!("{}/v1/apps/{APP}/users?limit=20", target.api);
    let mut latencies = Vec::with_capacity(times);
    for round in 0..times + 10 {
        let started = Instant::now();
        let response = target
            .http
            .get(&url)
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap();
        let page = answer("/users", response).await.unwrap();
        let expected = page["total_users"].as_u64().unwrap_or(0).min(20);
        assert_eq!(
            page["users"].as_array().map(|users| users.len() as u64),
            Some(expected),
            "{page}"
        );
        if round >= 10 {
            latencies.push(started.elapsed());
        }
    }
    spread(latencies)
}

/// What one database measured.
#[derive(Debug)]
pub(crate) struct Report {
    label: String,
    options: Options,
    floor: Floor,
    passkey_users: usize,
    sign_ins_per_sec: f64,
    sign_in: Spread,
    cpu_per_sign_in: f64,
    refreshes_per_sec: f64,
    refresh: Spread,
    creations_per_sec: f64,
    rss_at_users: u64,
    rss_after: u64,
    list_few: Spread,
    list_many: Spread,
}

#[allow(clippy::cast_precision_loss)]
fn per_sec(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

/// Runs every phase against a server on `database`.
pub(crate) async fn run(options: &Options, database: &str, floor: Floor) -> Report {
    let label = if database.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    };
    eprintln!("bench-load: {label}: starting passage-server");
    let dir = std::env::temp_dir().join(format!("bench-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server::start(&options.server, database, &dir).await;
    let target = Target {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(options.concurrency * 2)
            .build()
            .unwrap(),
        auth: server.auth_url.clone(),
        api: server.api_url.clone(),
    };
    let deadline = |secs: u64| Instant::now() + Duration::from_secs(secs);

    // Passkey users: each caller registers its share, one after another.
    eprintln!(
        "bench-load: {label}: {} passkey sign-ups",
        options.passkey_users
    );
    let per_task = options.passkey_users.div_ceil(options.concurrency);
    let mut sign_ups = Vec::new();
    for task in 0..options.concurrency {
        let target = target.clone();
        sign_ups.push(tokio::spawn(async move {
            let mut holders = Vec::new();
            for n in 0..per_task {
                let identifier = format!("passkey-{task}-{n}@example.com");
                holders.push(register(&target, identifier).await.unwrap());
            }
            holders
        }));
    }
    let mut shares = Vec::new();
    for sign_up in sign_ups {
        shares.push(sign_up.await.expect("a sign-up task panicked"));
    }
    let passkey_users = shares.iter().map(Vec::len).sum::<usize>();
    let list_few = list_latency(&target, 100).await;

    // Users up to `--users`, through the Management API.
    let wanted = options.users.saturating_sub(passkey_users);
    eprintln!("bench-load: {label}: creating {wanted} users");
    let started = Instant::now();
    let per_task = wanted.div_ceil(options.concurrency);
    let mut creators = Vec::new();
    for task in 0..options.concurrency {
        let target = target.clone();
        let count = per_task.min(wanted.saturating_sub(task * per_task));
        creators.push(tokio::spawn(async move {
            let url = format!("{}/v1/apps/{APP}/users", target.api);
            for n in 0..count {
                let response = target
                    .http
                    .post(&url)
                    .bearer_auth(API_KEY)
                    .json(&json!({ "email": format!("user-{task}-{n}@example.com") }))
                    .send()
                    .await
                    .unwrap();
                answer("/users", response).await.unwrap();
            }
        }));
    }
    for creator in creators {
        creator.await.expect("a creating task panicked");
    }
    let creations_per_sec = per_sec(wanted, started.elapsed());
    let list_many = list_latency(&target, 100).await;
    let rss_at_users = server.rss();

    eprintln!("bench-load: {label}: sign-ins for {} s", options.seconds);
    let holders: Vec<Holder> = shares.into_iter().flatten().collect();
    let mut groups: Vec<Vec<Holder>> = (0..options.concurrency).map(|_| Vec::new()).collect();
    for (n, holder) in holders.into_iter().enumerate() {
        groups[n % options.concurrency].push(holder);
    }
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    let (groups, latencies) = drive(
        &target,
        groups.into_iter().map(|group| (group, 0usize)).collect(),
        deadline(options.seconds),
        |target, (mut group, next): (Vec<Holder>, usize)| async move {
            let at = next % group.len();
            let result = sign_in(&target, &mut group[at]).await;
            ((group, next + 1), result)
        },
    )
    .await;
    let took = started.elapsed();
    let cpu = server.cpu_seconds() - cpu_before;
    let sign_ins = latencies.len();
    let sign_ins_per_sec = per_sec(sign_ins, took);
    #[allow(clippy::cast_precision_loss)]
    let cpu_per_sign_in = cpu / sign_ins.max(1) as f64;
    let sign_in = spread(latencies);

    eprintln!("bench-load: {label}: refreshes for {} s", options.seconds);
    let started = Instant::now();
    let (_, latencies) = drive(
        &target,
        groups,
        deadline(options.seconds),
        |target, (mut group, next): (Vec<Holder>, usize)| async move {
            let at = next % group.len();
            let result = refresh(&target, &mut group[at]).await;
            ((group, next + 1), result)
        },
    )
    .await;
    let refreshes_per_sec = per_sec(latencies.len(), started.elapsed());
    let refresh = spread(latencies);
    let rss_after = server.rss();
    server.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Report {
        label: label.to_owned(),
        options: options.clone(),
        floor,
        passkey_users,
        sign_ins_per_sec,
        sign_in,
        cpu_per_sign_in,
        refreshes_per_sec,
        refresh,
        creations_per_sec,
        rss_at_users,
        rss_after,
        list_few,
        list_many,
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

fn us(seconds: f64) -> String {
    format!("{:.0} µs", seconds * 1e6)
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

impl Report {
    /// Prints the table of this database.
    pub(crate) fn print(&self) {
        let o = &self.options;
        #[allow(clippy::cast_precision_loss)]
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let floor = self.floor.per_sign_in();
        let ratio = self.cpu_per_sign_in / floor;
        let list_ratio =
            self.list_many.p50.as_secs_f64() / self.list_few.p50.as_secs_f64().max(1e-9);
        println!();
        println!(
            "### {} — {} users ({} with passkeys), {} concurrent, {} s per phase",
            self.label, o.users, self.passkey_users, o.concurrency, o.seconds
        );
        println!();
        println!("| measure | result | target | |");
        println!("|---|---|---|---|");
        println!(
            "| passkey sign-ins/s (login start + finish) | {:.0} | ≥ 800 | {} |",
            self.sign_ins_per_sec,
            verdict(self.sign_ins_per_sec >= 800.0)
        );
        println!(
            "| sign-in latency p50 / p99 | {} / {} | p99 ≤ 50 ms | {} |",
            ms(self.sign_in.p50),
            ms(self.sign_in.p99),
            verdict(self.sign_in.p99 <= Duration::from_millis(50))
        );
        println!(
            "| token refreshes/s | {:.0} | ≥ 1 500 | {} |",
            self.refreshes_per_sec,
            verdict(self.refreshes_per_sec >= 1500.0)
        );
        println!(
            "| refresh latency p50 / p99 | {} / {} | p99 ≤ 50 ms | {} |",
            ms(self.refresh.p50),
            ms(self.refresh.p99),
            verdict(self.refresh.p99 <= Duration::from_millis(50))
        );
        println!(
            "| server CPU per sign-in | {} = {:.2}× the floor ({} ES256 verify + {} RS256 sign) | ≤ 2.5× | {} |",
            us(self.cpu_per_sign_in),
            ratio,
            us(self.floor.es256_verify),
            us(self.floor.rs256_sign),
            verdict(ratio <= 2.5)
        );
        let own_floor = self.floor.es256_verify_webauthn_rs + self.floor.rs256_sign;
        println!(
            "| … against the floor as the server's libraries reach it (webauthn-rs verifies with RustCrypto's P-256: {}) | {:.2}× | | |",
            us(self.floor.es256_verify_webauthn_rs),
            self.cpu_per_sign_in / own_floor
        );
        println!(
            "| server RSS at {} users / after the load | {:.1} MiB / {:.1} MiB | ≤ 100 MiB | {} |",
            o.users,
            mib(self.rss_at_users),
            mib(self.rss_after),
            verdict(self.rss_at_users.max(self.rss_after) <= 100 * 1024 * 1024)
        );
        println!(
            "| users list, first page, p50 at {} / at {} users | {} / {} ({:.2}×) | flat | {} |",
            self.passkey_users,
            o.users,
            ms(self.list_few.p50),
            ms(self.list_many.p50),
            list_ratio,
            verdict(list_ratio <= 1.5)
        );
        println!(
            "| users created/s (Management API) | {:.0} | | |",
            self.creations_per_sec
        );
    }
}

/// Prints how each database compares with the first (PostgreSQL within 2× of SQLite).
pub(crate) fn compare(reports: &[Report]) {
    let Some((first, others)) = reports.split_first() else {
        return;
    };
    for other in others {
        let sign_ins = first.sign_ins_per_sec / other.sign_ins_per_sec.max(1e-9);
        let refreshes = first.refreshes_per_sec / other.refreshes_per_sec.max(1e-9);
        println!();
        println!(
            "{} takes {:.2}× as long as {} per sign-in and {:.2}× per refresh (target: within 2×): {}",
            other.label,
            sign_ins,
            first.label,
            refreshes,
            verdict(sign_ins <= 2.0 && refreshes <= 2.0)
        );
    }
}
