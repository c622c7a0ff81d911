//! Memory bounds of the verified-token cache: validates N distinct valid tokens and N garbage
//! tokens (default 100 000 each) against a client with a 10 000-entry cache, and prints the
//! cache size and the process RSS before and after.
//!
//! ```text
//! cargo run --release -p passage-tests --bin memory            # N = 100000
//! TOKENS=20000 cargo run --release -p passage-tests --bin memory
//! ```

use std::time::Instant;

use passage_core::PassageBuilder;
use passage_emulator::Emulator;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("TOKENS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let capacity = 10_000;
    let emulator = Emulator::builder().app_id("memory_app").start().await?;
    let passage = PassageBuilder::from_env_vars(emulator.env_vars())?
        .token_cache_capacity(capacity)
        .build()?;
    passage.auth().warm_up().await?;
    // Mint first, so the RSS we compare is the client's, not the token list's.
    let started = Instant::now();
    let tokens: Vec<String> = (0..n)
        .map(|i| emulator.mint_token(&format!("user-{i}")))
        .collect::<Result<_, _>>()?;
    let valid = tokens.first().cloned().unwrap_or_default();
    let (head, rest) = valid.split_once('.').unwrap_or_default();
    println!("minted {n} tokens in {:.1?}", started.elapsed());
    let before = rss_kib();
    let mut accepted = 0usize;
    let mut full = before;
    for (i, token) in tokens.iter().enumerate() {
        accepted += usize::from(passage.auth().validate_jwt(token).await.is_ok());
        if i + 1 == capacity as usize {
            full = rss_kib();
        }
    }
    let after_valid = rss_kib();
    let mut refused = 0usize;
    for i in 0..n {
        let garbage = format!("{head}.{i:x}{}", &rest[..rest.len().min(40)]);
        refused += usize::from(passage.auth().validate_jwt(&garbage).await.is_err());
    }
    let after_garbage = rss_kib();
    println!("valid tokens accepted: {accepted}/{n}; garbage refused: {refused}/{n}");
    println!(
        "cache entries: {} (capacity {capacity})",
        passage.auth().cached_tokens()
    );
    println!(
        "RSS KiB: before {before}; cache full ({capacity} valid) {full} (+{}); after all {n} valid {after_valid} (+{} since full); after {n} garbage {after_garbage} (+{})",
        full.saturating_sub(before),
        after_valid.saturating_sub(full),
        after_garbage.saturating_sub(after_valid)
    );
    if accepted != n || refused != n || passage.auth().cached_tokens() > capacity {
        return Err("memory bound or validation check failed".into());
    }
    Ok(())
}
