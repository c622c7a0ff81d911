//! Fuzzes token extraction: the input is split on `0xFF` into Authorization values (first
//! part) and Cookie values (the rest). Invariants are asserted; a violation is a crash.

use passage_core::{TokenSource, find_token};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let mut parts = data.split(|b| *b == 0xFF);
        let authorization: Vec<&[u8]> = parts.next().into_iter().filter(|p| !p.is_empty()).collect();
        let cookies: Vec<&[u8]> = parts.collect();
        for source in [TokenSource::HeaderThenCookie, TokenSource::Header, TokenSource::Cookie] {
            if let Ok(token) = find_token(source, 512, authorization.iter().copied(), cookies.iter().copied()) {
                assert!(!token.is_empty() && token.len() <= 512);
                assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
            }
        }
    });
}
