//! Random identifiers in Passage's style.

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};

/// A random id of 24 alphanumeric characters, like Passage's, from the system's secure random
/// source: ids double as secrets (magic links, handshakes), so they must not be guessable.
#[must_use]
pub fn random_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // 248 = 4 × 62: bytes at or above it are dropped, so every character is equally likely.
    const LIMIT: u8 = 248;
    let rng = SystemRandom::new();
    let mut id = String::with_capacity(24);
    let mut bytes = [0u8; 32];
    while id.len() < 24 {
        if rng.fill(&mut bytes).is_err() {
            // The system source does not fail on supported platforms; fall back rather than panic.
            fastrand::fill(&mut bytes);
        }
        for byte in bytes.iter().filter(|b| **b < LIMIT) {
            if id.len() == 24 {
                break;
            }
            id.push(char::from(ALPHABET[usize::from(*byte % 62)]));
        }
    }
    id
}
