//! Random identifiers in Passage's style.

/// A random id of 24 alphanumeric characters; `prefix` only seeds nothing, it documents the kind.
pub(crate) fn random_id(_kind: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..24)
        .map(|_| char::from(ALPHABET[fastrand::usize(..ALPHABET.len())]))
        .collect()
}
