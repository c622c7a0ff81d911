//! A software passkey authenticator and client, enough to run real WebAuthn ceremonies against
//! the server: P-256 keys (aws-lc), `none` attestation, discoverable credentials with a user
//! handle, a sign counter — and knobs to misbehave (another origin, no user verification).

use aws_lc_rs::{
    digest,
    rand::{SecureRandom as _, SystemRandom},
    signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _},
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// A credential the authenticator holds.
pub(crate) struct Credential {
    pub(crate) id: Vec<u8>,
    key: EcdsaKeyPair,
    pub(crate) user_handle: Vec<u8>,
    rp_id: String,
    counter: u32,
}

/// The authenticator, as a browser at `origin` drives it.
pub(crate) struct Authenticator {
    pub(crate) origin: String,
    pub(crate) credentials: Vec<Credential>,
    /// Whether it reports user verification (required by the server).
    pub(crate) verifies_user: bool,
    /// How long the credential ids it makes are (16 bytes; a hostile client may send others).
    pub(crate) id_len: usize,
}

pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .expect("base64url")
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
}

/// A CBOR byte string header for `len` bytes.
fn cbor_bytes(len: usize) -> Vec<u8> {
    match len {
        0..=23 => vec![0x40 | u8::try_from(len).unwrap()],
        24..=255 => vec![0x58, u8::try_from(len).unwrap()],
        _ => {
            let [hi, lo] = u16::try_from(len).unwrap().to_be_bytes();
            vec![0x59, hi, lo]
        }
    }
}

fn cbor_text(text: &str) -> Vec<u8> {
    let mut out = vec![0x60 | u8::try_from(text.len()).unwrap()];
    out.extend_from_slice(text.as_bytes());
    out
}

impl Authenticator {
    pub(crate) fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            credentials: Vec::new(),
            verifies_user: true,
            id_len: 16,
        }
    }

    fn flags(&self, extra: u8) -> u8 {
        // UP, UV when verifying, backup eligible and backed up (a synced passkey).
        0x01 | 0x08 | 0x10 | if self.verifies_user { 0x04 } else { 0 } | extra
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// `navigator.credentials.create` with a handshake's challenge (`{publicKey}`); the
    /// response as passage-js sends it (`transports` at the top level).
    pub(crate) fn register(&mut self, challenge: &Value) -> Value {
        let options = &challenge["publicKey"];
        let rp_id = options["rp"]["id"].as_str().expect("rp.id").to_owned();
        assert!(options["rp"]["name"].is_string(), "rp.name is required");
        assert!(options["user"]["name"].is_string() && options["user"]["displayName"].is_string());
        let user_handle = unb64(options["user"]["id"].as_str().expect("user.id"));
        let excluded: Vec<Vec<u8>> = options["excludeCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| unb64(c["id"].as_str().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            !self.credentials.iter().any(|c| excluded.contains(&c.id)),
            "InvalidStateError: this authenticator already holds an excluded credential"
        );
        let rng = SystemRandom::new();
        let mut id = vec![0u8; self.id_len];
        rng.fill(&mut id).unwrap();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let point = key.public_key().as_ref().to_vec(); // 0x04 | x | y
        let mut cose = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
        cose.extend_from_slice(&point[1..33]);
        cose.extend_from_slice(&[0x22, 0x58, 0x20]);
        cose.extend_from_slice(&point[33..65]);
        let mut auth_data = sha256(rp_id.as_bytes());
        auth_data.push(self.flags(0x40));
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]); // AAGUID
        auth_data.extend_from_slice(&u16::try_from(id.len()).unwrap().to_be_bytes());
        auth_data.extend_from_slice(&id);
        auth_data.extend_from_slice(&cose);
        let mut attestation = vec![0xa3];
        attestation.extend(cbor_text("fmt"));
        attestation.extend(cbor_text("none"));
        attestation.extend(cbor_text("attStmt"));
        attestation.push(0xa0);
        attestation.extend(cbor_text("authData"));
        attestation.extend(cbor_bytes(auth_data.len()));
        attestation.extend_from_slice(&auth_data);
        let client_data =
            self.client_data("webauthn.create", options["challenge"].as_str().unwrap());
        let response = json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(&client_data),
            },
            "transports": ["internal"],
        });
        self.credentials.push(Credential {
            id,
            key,
            user_handle,
            rp_id,
            counter: 0,
        });
        response
    }

    /// A credential made outside any ceremony here, as another server's users hold theirs:
    /// for `rp_id`, with the user handle that server gave; returns its id and its public key
    /// as SubjectPublicKeyInfo DER (what a key export would hold).
    pub(crate) fn make_credential(
        &mut self,
        rp_id: &str,
        user_handle: &[u8],
    ) -> (Vec<u8>, Vec<u8>) {
        use aws_lc_rs::encoding::AsDer as _;
        let rng = SystemRandom::new();
        let mut id = vec![0u8; 32];
        rng.fill(&mut id).unwrap();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        let spki = key.public_key().as_der().unwrap().as_ref().to_vec();
        self.credentials.push(Credential {
            id: id.clone(),
            key,
            user_handle: user_handle.to_vec(),
            rp_id: rp_id.to_owned(),
            counter: 7,
        });
        (id, spki)
    }

    /// `navigator.credentials.get` with a handshake's challenge: the first allowed credential,
    /// or (none listed: discoverable) the newest one held; `userHandle` `""` when `with_handle`
    /// is false, as passage-js sends it.
    pub(crate) fn sign_in(&mut self, challenge: &Value, with_handle: bool) -> Value {
        let options = &challenge["publicKey"];
        let allowed: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| unb64(c["id"].as_str().unwrap()))
                    .collect()
            })
            .unwrap_or_default();
        let index = if allowed.is_empty() {
            self.credentials.len().checked_sub(1).expect("a credential")
        } else {
            self.credentials
                .iter()
                .position(|c| allowed.contains(&c.id))
                .expect("NotAllowedError: no allowed credential here")
        };
        self.assert_with(index, challenge, with_handle)
    }

    /// An assertion by credential `index` for `challenge`, whatever the options allow.
    pub(crate) fn assert_with(
        &mut self,
        index: usize,
        challenge: &Value,
        with_handle: bool,
    ) -> Value {
        let options = &challenge["publicKey"];
        let flags = self.flags(0);
        let client_data = self.client_data("webauthn.get", options["challenge"].as_str().unwrap());
        let credential = &mut self.credentials[index];
        if let Some(rp_id) = options["rpId"].as_str() {
            assert_eq!(
                rp_id, credential.rp_id,
                "the RP id a credential was made for"
            );
        }
        credential.counter += 1;
        let mut auth_data = sha256(credential.rp_id.as_bytes());
        auth_data.push(flags);
        auth_data.extend_from_slice(&credential.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(sha256(&client_data));
        let signature = credential.key.sign(&SystemRandom::new(), &signed).unwrap();
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()),
                "userHandle": if with_handle { b64(&credential.user_handle) } else { String::new() },
            },
        })
    }
}
