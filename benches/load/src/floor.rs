//! The crypto floor of a sign-in: one ES256 verification (the passkey's assertion) and one
//! RS256 signature (the token), timed here with the same library the server uses (aws-lc), on
//! one thread, so a sign-in's server CPU time can be stated as a ratio to it.

use std::time::{Duration, Instant};

use aws_lc_rs::{
    rand::SystemRandom,
    rsa::{KeyPair, KeySize},
    signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _,
        RSA_PKCS1_SHA256, UnparsedPublicKey,
    },
};

/// The floor, in seconds of CPU per sign-in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Floor {
    pub(crate) es256_verify: f64,
    pub(crate) rs256_sign: f64,
    /// The ES256 verification as webauthn-rs does it (RustCrypto's p256), for comparison.
    pub(crate) es256_verify_webauthn_rs: f64,
}

impl Floor {
    pub(crate) fn per_sign_in(self) -> f64 {
        self.es256_verify + self.rs256_sign
    }
}

/// Times each operation for about `budget`.
pub(crate) fn measure(budget: Duration) -> Floor {
    let rng = SystemRandom::new();
    let message = [7u8; 300]; // about what a token's header and claims weigh
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
    let assertion = ec.sign(&rng, &message).unwrap();
    let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, ec.public_key().as_ref().to_vec());
    let es256_verify = per_op(budget, || {
        public.verify(&message, assertion.as_ref()).unwrap();
    });
    let es256_verify_webauthn_rs = {
        use p256::ecdsa::{DerSignature, VerifyingKey, signature::Verifier as _};
        let key = VerifyingKey::from_sec1_bytes(ec.public_key().as_ref()).unwrap();
        let signature = DerSignature::from_bytes(assertion.as_ref()).unwrap();
        let signature = p256::ecdsa::Signature::try_from(signature).unwrap();
        per_op(budget, || {
            key.verify(&message, &signature).unwrap();
        })
    };
    let rsa = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let mut out = vec![0; rsa.public_modulus_len()];
    let rs256_sign = per_op(budget, || {
        rsa.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut out)
            .unwrap();
    });
    Floor {
        es256_verify,
        rs256_sign,
        es256_verify_webauthn_rs,
    }
}

/// Seconds per call of `op`, run for about `budget` after a short warm-up.
fn per_op(budget: Duration, mut op: impl FnMut()) -> f64 {
    for _ in 0..20 {
        op();
    }
    let started = Instant::now();
    let mut done = 0u32;
    while started.elapsed() < budget {
        for _ in 0..20 {
            op();
        }
        done += 20;
    }
    started.elapsed().as_secs_f64() / f64::from(done)
}
