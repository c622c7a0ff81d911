//! One imported passkey: a credential object (id, public key as COSE or SPKI/PEM, sign count,
//! user handle, transports, backup flags, AAGUID, relying party, name, dates) checked and
//! turned into the device and the material the store keeps. Every binary field is base64url
//! (padded or not) or standard base64; a PEM key is its text.

use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use serde_cbor_2::Value as Cbor;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use webauthn_rs::prelude::{
    AttestationFormat, COSEAlgorithm, COSEKey, COSEKeyType, Credential, ParsedAttestation, Passkey,
    Uuid,
};
use webauthn_rs_proto::{AuthenticatorTransport, RegisteredExtensions, UserVerificationPolicy};
use x509_parser::{
    oid_registry::{
        OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_NIST_EC_P384, OID_NIST_EC_P521,
        OID_PKCS1_RSAENCRYPTION, OID_SIG_ED25519,
    },
    prelude::FromDer as _,
    public_key::PublicKey,
    x509::SubjectPublicKeyInfo,
};

use super::values::{self, lookup};
use crate::{
    passkey::Material,
    store::{Device, now},
};

/// The longest credential id WebAuthn allows.
const MAX_CRED_ID: usize = 1023;
/// The longest user handle WebAuthn allows.
const MAX_USER_HANDLE: usize = 64;
/// The longest public key text read (an RSA-4096 key in PEM is under 1 KiB).
const MAX_KEY_TEXT: usize = 8 * 1024;
/// The longest passkey name kept.
const MAX_NAME: usize = 64;

/// A credential ready for the store.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The credential id, base64url (the store's key).
    pub(crate) cred_id: String,
    /// The device as listed.
    pub(crate) device: Device,
    /// The stored material.
    pub(crate) material: String,
    /// Whether the user handle was given (else it is learnt at the first sign-in).
    pub(crate) handle_known: bool,
}

/// Why a credential is not imported.
pub(crate) type Refusal = String;

/// The relying party a credential object names, if it names one.
pub(crate) fn relying_party(object: &Map<String, Value>) -> Option<String> {
    lookup(
        object,
        &[
            "rp_id",
            "rpid",
            "relying_party_id",
            "relying_party_identifier",
            "relying_party",
        ],
    )
    .and_then(Value::as_str)
    .map(|rp| rp.trim().to_lowercase())
    .filter(|rp| !rp.is_empty())
}

/// The credential id a credential object names, base64url, if it parses (for duplicate checks
/// before the rest is read).
pub(crate) fn credential_id(object: &Map<String, Value>) -> Result<String, Refusal> {
    let text = lookup(
        object,
        &[
            "credential_id",
            "cred_id",
            "credentialid",
            "id",
            "rawid",
            "key_id",
            "keyid",
        ],
    )
    .and_then(Value::as_str)
    .ok_or("no credential_id")?;
    let bytes = binary(text, "credential_id")?;
    if bytes.is_empty() || bytes.len() > MAX_CRED_ID {
        return Err(format!(
            "credential_id: {} bytes (1 to {MAX_CRED_ID})",
            bytes.len()
        ));
    }
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// base64url (padded or not) or standard base64.
pub(crate) fn binary(text: &str, what: &str) -> Result<Vec<u8>, Refusal> {
    let text = text.trim();
    let unpadded = text.trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(unpadded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(unpadded))
        .map_err(|_| format!("{what} is not base64url or base64"))
}

/// Reads a credential object of `user_id`'s (`devices`: the user's Passage devices, for names
/// and dates by credential id).
pub(crate) fn prepare(
    object: &Map<String, Value>,
    devices: &[Map<String, Value>],
) -> Result<Prepared, Refusal> {
    let cred_id = credential_id(object)?;
    let cred_bytes = URL_SAFE_NO_PAD
        .decode(&cred_id)
        .map_err(|_| "credential_id".to_owned())?;
    let key_text = lookup(
        object,
        &[
            "public_key",
            "publickey",
            "credential_public_key",
            "credentialpublickey",
            "cose_key",
            "public_key_pem",
            "public_key_spki",
        ],
    )
    .and_then(Value::as_str)
    .ok_or("no public_key")?;
    let alg = match lookup(object, &["alg", "algorithm"]) {
        None | Some(Value::Null) => None,
        Some(value) => Some(algorithm(value)?),
    };
    let cose = public_key(key_text, alg)?;
    let flag = |names: &[&str]| -> Result<Option<bool>, Refusal> {
        match lookup(object, names) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => values::boolean(value)
                .map(Some)
                .map_err(|err| format!("{}: {err}", names[0])),
        }
    };
    let device_type = lookup(object, &["credential_device_type", "device_type"])
        .and_then(Value::as_str)
        .map(|t| t.to_lowercase().replace(['-', '_'], ""));
    let mut backup_eligible = flag(&["backup_eligible", "be", "backupeligible"])?;
    if backup_eligible.is_none() {
        backup_eligible = match device_type.as_deref() {
            Some("multidevice") => Some(true),
            Some("singledevice") => Some(false),
            _ => None,
        };
    }
    let backup_state = flag(&[
        "backup_state",
        "bs",
        "backupstate",
        "backed_up",
        "backedup",
        "credential_backed_up",
    ])?;
    // Backed up implies eligible.
    if backup_state == Some(true) {
        backup_eligible = Some(true);
    }
    let user_verified = flag(&["user_verified", "uv_initialized", "uvinitialized"])?;
    let counter = match lookup(
        object,
        &["sign_count", "signcount", "counter", "signature_counter"],
    ) {
        None | Some(Value::Null) => 0,
        Some(value) => u32::try_from(values::count(value).map_err(|e| format!("sign_count: {e}"))?)
            .map_err(|_| "sign_count: over 2^32".to_owned())?,
    };
    let user_handle = match lookup(object, &["user_handle", "userhandle"]) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => {
            let handle = binary(text, "user_handle")?;
            if handle.is_empty() || handle.len() > MAX_USER_HANDLE {
                return Err(format!(
                    "user_handle: {} bytes (1 to {MAX_USER_HANDLE})",
                    handle.len()
                ));
            }
            Some(handle)
        }
        Some(_) => return Err("user_handle is not a string".into()),
    };
    let aaguid = match lookup(object, &["aaguid"]) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.trim().is_empty() => None,
        Some(Value::String(text)) => Some(aaguid(text)?),
        Some(_) => return Err("aaguid is not a string".into()),
    };
    let transports = transports(lookup(object, &["transports", "transport"]));
    let credential = Credential {
        cred_id: cred_bytes,
        cred: cose,
        counter,
        transports,
        user_verified: user_verified.unwrap_or(true),
        backup_eligible: backup_eligible.unwrap_or(false),
        backup_state: backup_state.unwrap_or(false),
        registration_policy: UserVerificationPolicy::Required,
        extensions: RegisteredExtensions::none(),
        attestation: ParsedAttestation::default(),
        attestation_format: AttestationFormat::None,
    };
    let material = Material {
        passkey: Passkey::from(credential),
        user_handle: user_handle.clone(),
        user_handle_unknown: user_handle.is_none(),
        backup_eligible_unknown: backup_eligible.is_none(),
        aaguid,
    };
    let material = material
        .to_text()
        .map_err(|_| "the passkey does not serialize".to_owned())?;
    // Names and dates: the credential's own, else its Passage device's (by credential id).
    let passage = devices.iter().find(|device| {
        lookup(device, &["cred_id", "credential_id", "credentialid"])
            .and_then(Value::as_str)
            .and_then(|id| binary(id, "cred_id").ok())
            .is_some_and(|id| URL_SAFE_NO_PAD.encode(id) == cred_id)
    });
    let either = |names: &[&str]| {
        lookup(object, names).or_else(|| passage.and_then(|device| lookup(device, names)))
    };
    let name = either(&[
        "name",
        "friendly_name",
        "friendlyname",
        "display_name",
        "label",
    ])
    .and_then(Value::as_str)
    .map(|name| {
        name.chars()
            .filter(|c| !c.is_control())
            .take(MAX_NAME)
            .collect::<String>()
            .trim()
            .to_owned()
    })
    .filter(|name| !name.is_empty())
    .unwrap_or_else(|| "Passkey".to_owned());
    let time = |names: &[&str]| -> Result<Option<OffsetDateTime>, Refusal> {
        match either(names) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => values::time(value).map_err(|e| format!("{}: {e}", names[0])),
        }
    };
    let at = now();
    let mut device = Device::passkey(name, cred_id.clone(), at);
    if let Some(created) = time(&["created_at", "added_at", "createdat"])? {
        device.created_at = created;
    }
    device.updated_at = time(&["updated_at", "updatedat"])?.unwrap_or(device.created_at);
    device.last_login_at =
        time(&["last_used_at", "last_login_at", "lastusedat"])?.unwrap_or(crate::store::never());
    if let Some(count) = either(&["usage_count", "usagecount", "use_count"]) {
        device.usage_count =
            i64::try_from(values::count(count).map_err(|e| format!("usage_count: {e}"))?)
                .unwrap_or(i64::MAX);
    }
    if let Some(kind) = either(&["type"]).and_then(Value::as_str)
        && matches!(kind, "passkey" | "platform" | "security_key")
    {
        kind.clone_into(&mut device.kind);
    }
    Ok(Prepared {
        cred_id,
        device,
        material,
        handle_known: user_handle.is_some(),
    })
}

/// A COSE algorithm: its number or its name.
fn algorithm(value: &Value) -> Result<COSEAlgorithm, Refusal> {
    let number = match value {
        Value::Number(n) => n.as_i64(),
        Value::String(name) => match name.trim().to_uppercase().as_str() {
            "ES256" => Some(-7),
            "ES384" => Some(-35),
            "ES512" | "ES521" => Some(-36),
            "RS256" => Some(-257),
            other => other.parse().ok(),
        },
        _ => None,
    };
    number
        .and_then(|n| COSEAlgorithm::try_from(i128::from(n)).ok())
        .filter(|alg| {
            matches!(
                alg,
                COSEAlgorithm::ES256
                    | COSEAlgorithm::ES384
                    | COSEAlgorithm::ES521
                    | COSEAlgorithm::RS256
            )
        })
        .ok_or_else(|| {
            format!("alg {value}: not one of ES256 (-7), ES384 (-35), ES512 (-36), RS256 (-257)")
        })
}

/// An AAGUID: a UUID, or 16 bytes in base64.
fn aaguid(text: &str) -> Result<Uuid, Refusal> {
    Uuid::parse_str(text.trim())
        .ok()
        .or_else(|| {
            binary(text, "aaguid")
                .ok()
                .and_then(|b| Uuid::from_slice(&b).ok())
        })
        .ok_or_else(|| "aaguid is not a UUID".to_owned())
}

/// Transports as a list or a comma-separated text; unknown names are left out.
fn transports(value: Option<&Value>) -> Option<Vec<AuthenticatorTransport>> {
    let names: Vec<String> = match value? {
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Value::String(text) => text
            .split([',', ';', '|', ' '])
            .map(str::to_owned)
            .collect(),
        _ => return None,
    };
    let known: Vec<AuthenticatorTransport> = names
        .iter()
        .take(8)
        .filter_map(|name| match name.trim().to_lowercase().as_str() {
            "usb" => Some(AuthenticatorTransport::Usb),
            "nfc" => Some(AuthenticatorTransport::Nfc),
            "ble" => Some(AuthenticatorTransport::Ble),
            "internal" => Some(AuthenticatorTransport::Internal),
            "hybrid" => Some(AuthenticatorTransport::Hybrid),
            _ => None,
        })
        .collect();
    (!known.is_empty()).then_some(known)
}

/// The COSE key in `text`: PEM (`-----BEGIN PUBLIC KEY-----`), or base64 of COSE or of SPKI
/// DER. An SPKI key takes `alg` (default: ES256 for P-256, RS256 for RSA; Ed25519 keys are
/// read, and refused by webauthn-rs, which verifies no EdDSA signature);
/// a COSE key names its own, which `alg` must then agree with.
pub(crate) fn public_key(text: &str, alg: Option<COSEAlgorithm>) -> Result<COSEKey, Refusal> {
    if text.len() > MAX_KEY_TEXT {
        return Err(format!("public_key is over {MAX_KEY_TEXT} characters"));
    }
    let text = text.trim();
    let bytes = if text.starts_with("-----BEGIN") {
        pem(text)?
    } else {
        binary(text, "public_key")?
    };
    let cose = match bytes.first() {
        Some(0xa0..=0xbf) => bytes,
        Some(0x30) => spki_to_cose(&bytes, alg)?,
        _ => {
            return Err(
                "public_key is neither a COSE key nor an SPKI (DER or PEM) public key".into(),
            );
        }
    };
    let value: Cbor = serde_cbor_2::from_slice(&cose)
        .map_err(|_| "public_key: the COSE key is not well-formed CBOR".to_owned())?;
    let key = COSEKey::try_from(&value)
        .map_err(|err| format!("public_key: not a usable COSE key ({err})"))?;
    if let Some(alg) = alg
        && alg != key.type_
    {
        return Err(format!(
            "alg {alg:?} does not match the key's own ({:?})",
            key.type_
        ));
    }
    Ok(key)
}

/// The DER inside a `PUBLIC KEY` PEM block.
fn pem(text: &str) -> Result<Vec<u8>, Refusal> {
    let body = text
        .strip_prefix("-----BEGIN PUBLIC KEY-----")
        .and_then(|rest| rest.trim_end().strip_suffix("-----END PUBLIC KEY-----"))
        .ok_or("public_key: a PEM key must be one -----BEGIN PUBLIC KEY----- block")?;
    let body: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD
        .decode(body)
        .map_err(|_| "public_key: the PEM block is not base64".into())
}

fn int(n: i64) -> Cbor {
    Cbor::Integer(i128::from(n))
}

/// A COSE key (CBOR) from a DER SubjectPublicKeyInfo: EC P-256/384/521, RSA, Ed25519.
fn spki_to_cose(der: &[u8], alg: Option<COSEAlgorithm>) -> Result<Vec<u8>, Refusal> {
    let (rest, spki) = SubjectPublicKeyInfo::from_der(der)
        .map_err(|_| "public_key: not a DER SubjectPublicKeyInfo".to_owned())?;
    if !rest.is_empty() {
        return Err("public_key: bytes after the SubjectPublicKeyInfo".into());
    }
    let algorithm = &spki.algorithm.algorithm;
    let mut map = std::collections::BTreeMap::new();
    if *algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .ok_or("public_key: an EC key without its curve")?;
        let (crv, size, default) = if curve == OID_EC_P256 {
            (1, 32, COSEAlgorithm::ES256)
        } else if curve == OID_NIST_EC_P384 {
            (2, 48, COSEAlgorithm::ES384)
        } else if curve == OID_NIST_EC_P521 {
            (3, 66, COSEAlgorithm::ES521)
        } else {
            return Err(format!("public_key: EC curve {curve} is not supported"));
        };
        let point = spki.subject_public_key.data.as_ref();
        if point.len() != 1 + 2 * size || point[0] != 0x04 {
            return Err("public_key: the EC point is not uncompressed (0x04, x, y)".into());
        }
        map.insert(int(1), int(2));
        map.insert(int(3), int(alg.unwrap_or(default) as i64));
        map.insert(int(-1), int(crv));
        map.insert(int(-2), Cbor::Bytes(point[1..=size].to_vec()));
        map.insert(int(-3), Cbor::Bytes(point[1 + size..].to_vec()));
    } else if *algorithm == OID_PKCS1_RSAENCRYPTION {
        let Ok(PublicKey::RSA(rsa)) = spki.parsed() else {
            return Err("public_key: the RSA key does not parse".into());
        };
        let strip = |b: &[u8]| {
            b.iter()
                .skip_while(|&&x| x == 0)
                .copied()
                .collect::<Vec<u8>>()
        };
        let n = strip(rsa.modulus);
        let e = strip(rsa.exponent);
        if n.len() != 256 {
            return Err(format!(
                "public_key: an RSA key of {} bits (WebAuthn keys here are 2048)",
                n.len() * 8
            ));
        }
        if e.is_empty() || e.len() > 3 {
            return Err("public_key: the RSA exponent is not 1 to 3 bytes".into());
        }
        let mut e3 = vec![0u8; 3 - e.len()];
        e3.extend_from_slice(&e);
        map.insert(int(1), int(3));
        map.insert(int(3), int(alg.unwrap_or(COSEAlgorithm::RS256) as i64));
        map.insert(int(-1), Cbor::Bytes(n));
        map.insert(int(-2), Cbor::Bytes(e3));
    } else if *algorithm == OID_SIG_ED25519 {
        let x = spki.subject_public_key.data.as_ref();
        if x.len() != 32 {
            return Err("public_key: an Ed25519 key is 32 bytes".into());
        }
        map.insert(int(1), int(1));
        map.insert(int(3), int(alg.unwrap_or(COSEAlgorithm::EDDSA) as i64));
        map.insert(int(-1), int(6));
        map.insert(int(-2), Cbor::Bytes(x.to_vec()));
    } else {
        return Err(format!(
            "public_key: key type {algorithm} is not supported (EC P-256/384/521, RSA, Ed25519)"
        ));
    }
    serde_cbor_2::to_vec(&Cbor::Map(map)).map_err(|_| "public_key: CBOR".to_owned())
}

/// A COSE key as CBOR bytes (for an export).
pub(crate) fn cose_bytes(key: &COSEKey) -> Option<Vec<u8>> {
    let mut map = std::collections::BTreeMap::new();
    map.insert(int(3), int(key.type_ as i64));
    match &key.key {
        COSEKeyType::EC_EC2(ec) => {
            map.insert(int(1), int(2));
            map.insert(int(-1), int(ec.curve.clone() as i64));
            map.insert(int(-2), Cbor::Bytes(ec.x.clone()));
            map.insert(int(-3), Cbor::Bytes(ec.y.clone()));
        }
        COSEKeyType::RSA(rsa) => {
            map.insert(int(1), int(3));
            map.insert(int(-1), Cbor::Bytes(rsa.n.clone()));
            map.insert(int(-2), Cbor::Bytes(rsa.e.to_vec()));
        }
        COSEKeyType::EC_OKP(okp) => {
            map.insert(int(1), int(1));
            map.insert(int(-1), int(okp.curve.clone() as i64));
            map.insert(int(-2), Cbor::Bytes(okp.x.clone()));
        }
    }
    serde_cbor_2::to_vec(&Cbor::Map(map)).ok()
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::{
        encoding::AsDer as _,
        rand::SystemRandom,
        rsa::KeySize,
        signature::{
            ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
            RSA_PKCS1_SHA256, RsaKeyPair,
        },
    };
    use serde_json::json;

    use super::*;

    const MESSAGE: &[u8] = b"authenticator data and client data hash";

    fn pem_of(der: &[u8]) -> String {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// Each SPKI key type becomes a COSE key that verifies what the private key signed: the
    /// conversion keeps the key, not only its shape.
    #[test]
    fn spki_keys_become_cose_keys_that_verify_their_signatures() {
        let rng = SystemRandom::new();
        let p256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let rsa = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let ed = Ed25519KeyPair::generate().unwrap();
        let cases: Vec<(Vec<u8>, Vec<u8>, COSEAlgorithm)> = vec![
            (
                p256.public_key().as_der().unwrap().as_ref().to_vec(),
                p256.sign(&rng, MESSAGE).unwrap().as_ref().to_vec(),
                COSEAlgorithm::ES256,
            ),
            (
                rsa.public_key().as_der().unwrap().as_ref().to_vec(),
                {
                    let mut signature = vec![0; rsa.public_modulus_len()];
                    rsa.sign(&RSA_PKCS1_SHA256, &rng, MESSAGE, &mut signature)
                        .unwrap();
                    signature
                },
                COSEAlgorithm::RS256,
            ),
        ];
        // webauthn-rs 0.6 verifies no Ed25519 signature: such a key is refused, and says why.
        let ed = STANDARD.encode(ed.public_key().as_der().unwrap().as_ref());
        let err = public_key(&ed, None).unwrap_err();
        assert!(err.contains("ED25519"), "{err}");
        for (der, signature, alg) in cases {
            for text in [
                pem_of(&der),
                STANDARD.encode(&der),
                URL_SAFE_NO_PAD.encode(&der),
            ] {
                let key = public_key(&text, None).unwrap();
                assert_eq!(key.type_, alg);
                assert_eq!(
                    key.verify_signature(&signature, MESSAGE),
                    Ok(true),
                    "{alg:?}"
                );
                let mut other = MESSAGE.to_vec();
                other[0] ^= 1;
                assert_eq!(
                    key.verify_signature(&signature, &other),
                    Ok(false),
                    "{alg:?}"
                );
                // Back to COSE and in again (the export's form): the same key.
                let cose = URL_SAFE_NO_PAD.encode(cose_bytes(&key).unwrap());
                assert_eq!(public_key(&cose, Some(alg)).unwrap(), key);
            }
        }
    }

    #[test]
    fn malformed_keys_are_refused_with_a_reason() {
        let p256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let der = p256.public_key().as_der().unwrap().as_ref().to_vec();
        let mut off_curve = der.clone();
        let last = off_curve.len() - 1;
        off_curve[last] ^= 1;
        let mut trailing = der.clone();
        trailing.push(0);
        let cose = cose_bytes(&public_key(&STANDARD.encode(&der), None).unwrap()).unwrap();
        for (text, alg, says) in [
            (String::new(), None, "neither a COSE key nor an SPKI"),
            ("not base64!".to_owned(), None, "not base64url or base64"),
            (STANDARD.encode(&off_curve), None, "not a usable COSE key"),
            (
                STANDARD.encode(&trailing),
                None,
                "bytes after the SubjectPublicKeyInfo",
            ),
            (
                STANDARD.encode(&der[..40]),
                None,
                "not a DER SubjectPublicKeyInfo",
            ),
            (
                STANDARD.encode(&cose[..cose.len() - 3]),
                None,
                "not well-formed CBOR",
            ),
            (
                STANDARD.encode(&cose),
                Some(COSEAlgorithm::RS256),
                "does not match the key's own",
            ),
            (
                "-----BEGIN PUBLIC KEY-----\n%%%\n-----END PUBLIC KEY-----".to_owned(),
                None,
                "not base64",
            ),
            (
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----".to_owned(),
                None,
                "one -----BEGIN PUBLIC KEY----- block",
            ),
            ("A".repeat(MAX_KEY_TEXT + 1), None, "over 8192 characters"),
        ] {
            let err = public_key(&text, alg).unwrap_err();
            assert!(err.contains(says), "{says}: {err}");
        }
    }

    #[test]
    fn credential_objects_read_their_fields_under_any_name() {
        let p256 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
        let der = p256.public_key().as_der().unwrap().as_ref().to_vec();
        let object = json!({
            "credentialId": STANDARD.encode([7u8; 20]),
            "publicKey": pem_of(&der),
            "signCount": "41",
            "userHandle": URL_SAFE_NO_PAD.encode([9u8; 32]),
            "transports": "internal, hybrid, warp-drive",
            "credential_device_type": "multi_device",
            "aaguid": "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
        });
        let devices = vec![
            json!({ "cred_id": URL_SAFE_NO_PAD.encode([7u8; 20]), "friendly_name": "Ada's iPhone\u{7}", "usage_count": 3 })
                .as_object()
                .unwrap()
                .clone(),
        ];
        let prepared = prepare(object.as_object().unwrap(), &devices).unwrap();
        assert_eq!(prepared.cred_id, URL_SAFE_NO_PAD.encode([7u8; 20]));
        assert_eq!(prepared.device.friendly_name, "Ada's iPhone");
        assert_eq!(prepared.device.usage_count, 3);
        assert!(prepared.handle_known);
        let material = Material::parse(&prepared.material).unwrap();
        assert_eq!(material.sign_count(), 41);
        assert_eq!(material.user_handle("any"), vec![9u8; 32]);
        assert!(!material.backup_eligible_unknown && !material.user_handle_unknown);
        let stored = serde_json::to_value(&material.passkey).unwrap();
        assert_eq!(stored["cred"]["backup_eligible"], true);
        assert_eq!(stored["cred"]["transports"], json!(["internal", "hybrid"]));
        assert_eq!(
            material.aaguid.unwrap().to_string(),
            "fbfc3007-154e-4ecc-8c0b-6e020557d7bd"
        );
        for (field, value, says) in [
            ("credentialId", json!(""), "credential_id: 0 bytes"),
            (
                "credentialId",
                json!("A".repeat(1400)),
                "credential_id: 1050 bytes",
            ),
            (
                "userHandle",
                json!(URL_SAFE_NO_PAD.encode([1u8; 65])),
                "user_handle: 65 bytes",
            ),
            ("signCount", json!(-1), "sign_count"),
            ("signCount", json!(5_000_000_000u64), "over 2^32"),
            ("alg", json!("PS256"), "alg"),
            ("aaguid", json!("not-a-uuid"), "aaguid is not a UUID"),
            ("be", json!("perhaps"), "backup_eligible"),
        ] {
            let mut broken = object.clone();
            broken[field] = value;
            let err = prepare(broken.as_object().unwrap(), &[]).unwrap_err();
            assert!(err.contains(says), "{field}: {says}: {err}");
        }
    }
}
