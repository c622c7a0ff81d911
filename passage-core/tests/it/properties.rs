//! Property tests of the parsers that face the network: token extraction and shape checks, and
//! the synchronous check on arbitrary credentials. They run in CI with every `cargo test`.

use passage_core::PassageBuilder;
use passage_core::{
    __private::{check_token_shape, find_token},
    AuthError, DEFAULT_MAX_TOKEN_LEN, Invalid, Malformed, Passage, TokenSource,
    adapter::{Admission, Decision, Hooks as _},
};
use proptest::prelude::*;

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

fn segment() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,40}"
}

fn token() -> impl Strategy<Value = String> {
    (segment(), segment(), segment()).prop_map(|(a, b, c)| format!("{a}.{b}.{c}"))
}

fn bearer_scheme() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), 6).prop_map(|upper| {
        "bearer"
            .chars()
            .zip(upper)
            .map(|(c, u)| if u { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the bytes, extraction never panics, and what it returns is a non-empty,
    /// size-bounded base64url string taken from the input.
    #[test]
    fn extraction_returns_only_clean_tokens_from_the_input(
        authorization in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..3),
        cookies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..3),
        max_len in 1usize..300,
    ) {
        let result = find_token(
            TokenSource::default(),
            max_len,
            authorization.iter().map(Vec::as_slice),
            cookies.iter().map(Vec::as_slice),
        );
        if let Ok(token) = result {
            prop_assert!(!token.is_empty() && token.len() <= max_len);
            prop_assert!(token.bytes().all(is_token_byte));
            let inputs = authorization.iter().chain(cookies.iter());
            prop_assert!(inputs.into_iter().any(|input| input.windows(token.len()).any(|w| w == token.as_bytes())));
        }
        if authorization.len() > 1 {
            prop_assert!(
                matches!(result, Err(AuthError::Malformed(Malformed::MultipleAuthorizationHeaders))),
                "two Authorization headers are never accepted: {result:?}"
            );
        }
    }

    /// Any casing of `Bearer`, any run of spaces or tabs: the token comes out unchanged.
    #[test]
    fn bearer_tokens_round_trip(scheme in bearer_scheme(), spaces in "[ \t]{1,4}", token in token(), trailing in "[ ]{0,3}") {
        let header = format!("{scheme}{spaces}{token}{trailing}");
        let found = find_token(TokenSource::default(), DEFAULT_MAX_TOKEN_LEN, [header.as_bytes()], []);
        prop_assert_eq!(found.ok(), Some(token.as_str()));
    }

    /// Among any other cookies, in any Cookie header, `psg_auth_token` is found.
    #[test]
    fn cookie_tokens_are_found_among_others(
        before in proptest::collection::vec(("[a-z]{1,8}", "[A-Za-z0-9]{0,12}"), 0..4),
        after in proptest::collection::vec(("[a-z]{1,8}", "[A-Za-z0-9]{0,12}"), 0..4),
        token in token(),
        split in any::<bool>(),
    ) {
        let pairs = |list: &[(String, String)]| list.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>();
        let mut first = pairs(&before);
        let ours = format!("psg_auth_token={token}");
        let headers = if split {
            vec![first.join("; "), [vec![ours], pairs(&after)].concat().join("; ")]
        } else {
            first.push(ours);
            first.extend(pairs(&after));
            vec![first.join("; ")]
        };
        let found = find_token(TokenSource::default(), DEFAULT_MAX_TOKEN_LEN, [], headers.iter().map(|h| h.as_bytes()));
        prop_assert_eq!(found.ok(), Some(token.as_str()));
    }

    /// The (vectorized) shape check agrees with the obvious definition.
    #[test]
    fn shape_check_matches_its_definition(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let expected = !text.is_empty() && text.len() <= 256 && text.bytes().all(is_token_byte);
        prop_assert_eq!(check_token_shape(&text, 256).is_ok(), expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary credentials never authenticate and never panic; with no keys held, the check
    /// never does I/O (it asks for keys instead).
    #[test]
    fn arbitrary_credentials_never_authenticate(header in proptest::collection::vec(any::<u8>(), 0..400), dots in "[A-Za-z0-9_.-]{0,120}") {
        let passage = Passage::builder("prop_app").auth_url("http://127.0.0.1:9").api_url("http://127.0.0.1:9").build().unwrap();
        for candidate in [header.clone(), format!("Bearer {dots}").into_bytes()] {
            match passage.auth().admit(Admission::required(TokenSource::default()), [candidate.as_slice()], []) {
                Decision::Ready(Ok(claims)) => prop_assert!(false, "authenticated {claims:?}"),
                Decision::Ready(Err(err)) => prop_assert!(matches!(err, AuthError::Malformed(_) | AuthError::Invalid(_) | AuthError::MissingToken), "{err:?}"),
                Decision::Pending(_) => {}
            }
        }
    }
}

/// The verified-token cache is looked up by the credential's raw bytes before any character
/// check. Around a cached token, any one-byte edit of the `Authorization` value (replace, insert,
/// delete, anywhere) authenticates exactly when the token found in the edited value is still
/// the cached token byte for byte (e.g. the scheme's case or the white space changed).
#[test]
fn one_byte_edits_of_a_cached_credential_authenticate_only_as_that_token() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime
        .block_on(
            passage_emulator::Emulator::builder()
                .app_id("prop_app")
                .start(),
        )
        .unwrap();
    let passage = PassageBuilder::from_env_vars(emulator.env_vars())
        .unwrap()
        .build()
        .unwrap();
    let token = emulator.mint_token("user-prop").unwrap();
    runtime
        .block_on(passage.auth().validate_jwt(&token))
        .unwrap();
    let header = format!("Bearer {token}");
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 2048,
        ..ProptestConfig::default()
    });
    let edits = (0..=header.len(), any::<u8>(), 0..3u8);
    runner
        .run(&edits, |(at, byte, kind)| {
            let mut edited = header.clone().into_bytes();
            match kind {
                0 if at < edited.len() => edited[at] = byte,
                1 => edited.insert(at, byte),
                _ if at < edited.len() => {
                    edited.remove(at);
                }
                _ => edited.push(byte),
            }
            let same_token = find_token(
                TokenSource::default(),
                DEFAULT_MAX_TOKEN_LEN,
                [edited.as_slice()],
                [],
            )
            .is_ok_and(|found| found == token);
            let authenticated = match passage.auth().admit(
                Admission::required(TokenSource::default()),
                [edited.as_slice()],
                [],
            ) {
                Decision::Ready(Ok(Some(claims))) => {
                    prop_assert_eq!(claims.user_id(), "user-prop");
                    true
                }
                Decision::Ready(Ok(None) | Err(_)) | Decision::Pending(_) => false,
            };
            prop_assert_eq!(
                authenticated,
                same_token,
                "edit {} at {}: {:?}",
                kind,
                at,
                String::from_utf8_lossy(&edited)
            );
            Ok(())
        })
        .unwrap();
    drop(emulator);
}

/// Any combination of builder values: `build()` refuses it, or the client it builds validates a
/// good token and refuses a bad one — never a panic, never a storm of fetches.
#[test]
fn any_builder_values_build_a_working_client_or_a_config_error() {
    use std::time::Duration as D;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator = runtime
        .block_on(
            passage_emulator::Emulator::builder()
                .app_id("prop_builder")
                .start(),
        )
        .unwrap();
    let good = emulator.mint_token("user-prop").unwrap();
    // One signature character changed, well inside the segment: it decodes, and fails to verify.
    let bad = {
        let at = good.len() - 10;
        let swap = if &good[at..=at] == "A" { "B" } else { "A" };
        format!("{}{swap}{}", &good[..at], &good[at + 1..])
    };
    let year = D::from_secs(365 * 86_400);
    // Mostly values that can work (so many clients get built), and the edges around them.
    let durations = || {
        prop_oneof![
            9 => proptest::sample::select(vec![D::ZERO, D::from_millis(1), D::from_secs(1), D::from_secs(3600), year]),
            1 => proptest::sample::select(vec![year + D::from_secs(1), D::MAX]),
        ]
    };
    let timeouts = || {
        prop_oneof![
            9 => proptest::sample::select(vec![D::from_secs(2), D::from_secs(30), year]),
            1 => proptest::sample::select(vec![D::ZERO, year + D::from_secs(1), D::MAX]),
        ]
    };
    // (min, max) pairs, in order nine times out of ten.
    let pairs = || {
        (durations(), durations(), 0..5u8)
            .prop_map(|(a, b, k)| if k > 0 { (a.min(b), a.max(b)) } else { (a, b) })
    };
    let values = (
        (durations(), pairs(), durations()),
        (timeouts(), pairs(), proptest::option::of(durations())),
        (
            prop_oneof![
                9 => proptest::sample::select(vec![1024usize, 8192, 1 << 20]),
                1 => proptest::sample::select(vec![0usize, 1, 1023, (1 << 20) + 1, usize::MAX]),
            ],
            proptest::sample::select(vec![0u64, 1, 10_000, u64::MAX]),
            prop_oneof![
                9 => proptest::sample::select(vec![D::ZERO, D::from_secs(60), D::from_secs(3600)]),
                1 => proptest::sample::select(vec![D::from_secs(3601), D::MAX]),
            ],
        ),
    );
    let built_clients = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &values,
            |(
                (ttl, (min, max), cooldown),
                (timeout, (backoff_min, backoff_max), max_stale),
                (len, capacity, leeway),
            )| {
                let built = PassageBuilder::from_env_vars(emulator.env_vars())
                    .unwrap()
                    .jwks_ttl(ttl)
                    .jwks_ttl_bounds(min, max)
                    .jwks_refetch_cooldown(cooldown)
                    .jwks_fetch_timeout(timeout)
                    .jwks_retry_backoff(backoff_min, backoff_max)
                    .jwks_max_stale(max_stale)
                    .max_token_len(len)
                    .token_cache_capacity(capacity)
                    .leeway(leeway)
                    .build();
                let Ok(passage) = built else {
                    return Ok(());
                };
                built_clients.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // A client of an earlier case may still be finishing a background refresh; its
                // fetch must not be counted as this client's.
                runtime.block_on(async {
                    let mut seen = emulator.jwks_hits();
                    loop {
                        tokio::time::sleep(D::from_millis(20)).await;
                        let now = emulator.jwks_hits();
                        if now == seen {
                            break;
                        }
                        seen = now;
                    }
                });
                let hits = emulator.jwks_hits();
                let accepted = runtime.block_on(passage.auth().validate_jwt(&good));
                prop_assert!(accepted.is_ok(), "{accepted:?}");
                let again = runtime.block_on(passage.auth().validate_jwt(&good));
                prop_assert!(again.is_ok(), "{again:?}");
                let refused = runtime.block_on(passage.auth().validate_jwt(&bad));
                prop_assert!(
                    matches!(refused, Err(AuthError::Invalid(Invalid::Signature))),
                    "{refused:?}"
                );
                // One load, and a key set stale at once (a zero TTL) may start one background
                // refresh per validation — one at a time, never more: no storm.
                let validations = 3;
                prop_assert!(
                    emulator.jwks_hits() - hits <= 1 + validations,
                    "{} fetches",
                    emulator.jwks_hits() - hits
                );
                Ok(())
            },
        )
        .unwrap();
    let built = built_clients.into_inner();
    // About a third build; far fewer would mean the generator no longer tests working clients.
    assert!(built >= 40, "only {built} of 256 value sets built a client");
}
