//! Differential fuzzing against jsonwebtoken: arbitrary header and claims JSON (the input, split
//! at its first newline; no newline: a standard header and the whole input as claims), signed
//! with a real RS256 key, validated by passage-core and by `jsonwebtoken::decode` under the
//! equivalent `Validation`. passage-core may refuse more (the README's "What is refused" lists
//! why); it must never accept a token jsonwebtoken refuses, and when both accept, the claims
//! must be identical.

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::{KeyPair, KeySize},
    signature::{KeyPair as _, RSA_PKCS1_SHA256},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use passage_core::__private::OfflineAuth;
use serde_json::{Map, Value};

const APP: &str = "fuzz_app";
const KID: &str = "fuzz-kid";

struct Setup {
    pair: KeyPair,
    ours: OfflineAuth,
    theirs: DecodingKey,
    validation: Validation,
}

fn setup() -> Option<Setup> {
    let pair = KeyPair::generate(KeySize::Rsa2048).ok()?;
    let components = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    let n = URL_SAFE_NO_PAD.encode(&components.n);
    let e = URL_SAFE_NO_PAD.encode(&components.e);
    let jwks = serde_json::json!({"keys": [{"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig", "n": n, "e": e}]});
    let ours = OfflineAuth::new(APP, jwks.to_string().as_bytes()).ok()?;
    let theirs = DecodingKey::from_rsa_components(&n, &e).ok()?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[APP]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    validation.leeway = 0;
    validation.validate_nbf = true;
    Some(Setup {
        pair,
        ours,
        theirs,
        validation,
    })
}

fn sign(pair: &KeyPair, header: &[u8], claims: &[u8]) -> Option<String> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut signature)
        .ok()?;
    Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn main() {
    let Some(setup) = setup() else {
        return;
    };
    let default_header = format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{KID}"}}"#);
    // A panic aborts the run (that is the finding); no state needs to survive it.
    let setup = std::panic::AssertUnwindSafe(setup);
    afl::fuzz!(|data: &[u8]| {
        let (header, claims) = match data.iter().position(|b| *b == b'\n') {
            Some(at) => (&data[..at], &data[at + 1..]),
            None => (default_header.as_bytes(), data),
        };
        let Some(token) = sign(&setup.pair, header, claims) else {
            return;
        };
        let Ok(ours) = setup.ours.validate(&token) else {
            return;
        };
        match jsonwebtoken::decode::<Map<String, Value>>(&token, &setup.theirs, &setup.validation) {
            Ok(theirs) => assert_eq!(ours.all(), &theirs.claims, "claims differ: {token}"),
            Err(refused) => panic!("accepted what jsonwebtoken refuses ({refused:?}): {token}"),
        }
    });
}
