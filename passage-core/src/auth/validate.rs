//! The rules a Passage token must pass, in order: shape, header (RS256, `kid`, no `crit`, no key
//! references or unsupported parameters), signature under the JWKS key, then claims (`exp`,
//! `nbf`, `iat` numeric; `aud` contains an accepted audience; non-empty `sub`). The algorithm
//! never comes from the token, and header URLs and embedded keys (`jku`, `x5u`, `jwk`, `x5c`) are
//! never read: a token that carries one is refused.

use std::{
    borrow::Cow,
    sync::{Arc, OnceLock},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer, de::IgnoredAny};
use serde_json::{Map, Value};

use super::error::{AuthError, Invalid, Malformed};
use super::{
    cache::TokenCache,
    claims::{Authority, Verified},
    clock::WallClock,
    jwks::{Key, KeyStore},
    revocation::RevocationList,
    token::{RawToken, check_token_shape},
};
use crate::{
    PassageClaims,
    metrics::{Outcome, RequestMetrics},
};

/// Latest date accepted in a numeric date claim: 9999-12-31T23:59:59Z.
const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// An RSA-8192 signature is 1024 bytes; nothing longer can verify.
const MAX_SIGNATURE_B64: usize = 1366;

#[derive(Debug)]
pub(crate) struct Validator {
    pub(crate) app_id: Arc<str>,
    /// `aud` must contain one of these (by default, the app id alone).
    pub(crate) audiences: Arc<[String]>,
    pub(crate) authority: Authority,
    pub(crate) keys: Arc<KeyStore>,
    pub(crate) cache: Option<TokenCache>,
    pub(crate) leeway: u64,
    pub(crate) max_len: usize,
    pub(crate) clock: WallClock,
    pub(crate) revocations: RevocationList,
    /// Registered at the first request (see [`RequestMetrics`]).
    pub(crate) metrics: OnceLock<RequestMetrics>,
}

/// The JOSE header, as far as the rules read it.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(default, borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    /// Parameters that name or carry a key, or change how the token is read: never honoured, so
    /// a token that sets one is refused rather than read differently than its sender meant.
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
    #[serde(default, deserialize_with = "present")]
    b64: bool,
    #[serde(default, deserialize_with = "present")]
    enc: bool,
    #[serde(default, deserialize_with = "present")]
    zip: bool,
    /// Registered parameters that are strings when present (checked, not used).
    #[serde(default, rename = "typ", borrow)]
    _typ: Option<Cow<'a, str>>,
    #[serde(default, rename = "cty", borrow)]
    _cty: Option<Cow<'a, str>>,
    #[serde(default, rename = "x5t", borrow)]
    _x5t: Option<Cow<'a, str>>,
    #[serde(default, rename = "x5t#S256", borrow)]
    _x5t_s256: Option<Cow<'a, str>>,
    #[serde(default, rename = "url", borrow)]
    _url: Option<Cow<'a, str>>,
    #[serde(default, rename = "nonce", borrow)]
    _nonce: Option<Cow<'a, str>>,
}

impl Header<'_> {
    /// The first parameter this validator refuses to honour, if any.
    fn unsupported(&self) -> Option<&'static str> {
        [
            (self.jku, "jku"),
            (self.jwk, "jwk"),
            (self.x5u, "x5u"),
            (self.x5c, "x5c"),
            (self.b64, "b64"),
            (self.enc, "enc"),
            (self.zip, "zip"),
        ]
        .into_iter()
        .find_map(|(set, name)| set.then_some(name))
    }
}

/// True for any value, `null` included: the parameter's presence is what matters.
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

/// How far [`Validator::validate_now`] got without waiting.
pub(crate) enum Now<'t> {
    /// Decided.
    Done(Result<PassageClaims, AuthError>),
    /// The token's key is not held (or may not serve): finishing needs the JWKS.
    NeedsKeys(&'t str),
}

/// A token that passed every check that needs no key.
enum Prepared<'t> {
    /// Verified before and still trusted.
    Cached(PassageClaims),
    /// Ready for the signature check under its `kid`.
    Unverified(Unverified<'t>),
}

/// A token's parts, ready for the signature check.
struct Unverified<'t> {
    token: &'t str,
    kid: String,
    signing_input: &'t str,
    payload: &'t str,
    signature: Vec<u8>,
}

impl Validator {
    /// The request-path metrics, registered with the current recorder on first use.
    #[inline]
    pub(crate) fn metrics(&self) -> &RequestMetrics {
        self.metrics.get_or_init(RequestMetrics::register)
    }

    pub(crate) async fn validate(&self, token: RawToken<'_>) -> Result<PassageClaims, AuthError> {
        let (result, cached) = match self.prepare(token, self.clock.now()) {
            Ok(Prepared::Cached(claims)) => (Ok(claims), true),
            Ok(Prepared::Unverified(unverified)) => {
                let result = match self.keys.key(&unverified.kid).await {
                    Ok((key, epoch)) => self.finish(&unverified, &key, epoch, self.clock.now()),
                    Err(err) => Err(err),
                };
                (result, false)
            }
            Err(err) => (Err(err), false),
        };
        self.metrics().validation(Outcome::of(&result, cached));
        result
    }

    /// Everything that needs no I/O: all rules, when the key is held (the usual case).
    pub(crate) fn validate_now<'t>(&self, token: RawToken<'t>) -> Now<'t> {
        let now = self.clock.now();
        let (result, cached) = match self.prepare(token, now) {
            Ok(Prepared::Cached(claims)) => (Ok(claims), true),
            Ok(Prepared::Unverified(unverified)) => match self.keys.key_now(&unverified.kid, now) {
                Some((key, epoch)) => (self.finish(&unverified, &key, epoch, now), false),
                // Decided (and counted) once the keys are there.
                None => return Now::NeedsKeys(unverified.token),
            },
            Err(err) => (Err(err), false),
        };
        self.metrics().validation(Outcome::of(&result, cached));
        Now::Done(result)
    }

    /// Size, cache, characters, shape, segments, header rules, signature decoding.
    fn prepare<'t>(&self, raw: RawToken<'t>, now: Duration) -> Result<Prepared<'t>, AuthError> {
        if raw.as_bytes().len() > self.max_len {
            return Err(AuthError::Malformed(Malformed::TooLong));
        }
        // One clock reading serves the key set's staleness and the cached entry's window.
        if let Some(epoch) = self.keys.epoch(now)
            && let Some(cache) = &self.cache
        {
            let cached = cache.get(raw.as_bytes(), epoch, now.as_secs());
            self.metrics().token_cache_lookup(cached.is_some());
            if let Some(claims) = cached {
                self.revocations.check(&claims)?;
                return Ok(Prepared::Cached(claims));
            }
        }
        let token = raw.to_str()?;
        check_token_shape(token, self.max_len)?;
        let (signing_input, signature) = token
            .rsplit_once('.')
            .ok_or(AuthError::Malformed(Malformed::Segments))?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(AuthError::Malformed(Malformed::Segments))?;
        if payload.contains('.') {
            return Err(AuthError::Malformed(Malformed::Segments));
        }
        let header_json = decode_segment(header)?;
        // UTF-8 first: members the rules do not read are skipped unparsed, and JSON text must be
        // UTF-8 throughout (RFC 8259 §8.1) — found by the jsonwebtoken oracle's fuzz target.
        let header_text = std::str::from_utf8(&header_json)
            .map_err(|_| AuthError::Malformed(Malformed::HeaderJson))?;
        let header: Header<'_> = serde_json::from_str(header_text)
            .map_err(|_| AuthError::Malformed(Malformed::HeaderJson))?;
        if header.alg != "RS256" {
            return Err(AuthError::Invalid(Invalid::Algorithm));
        }
        if header.crit {
            return Err(AuthError::Invalid(Invalid::CriticalHeader));
        }
        if let Some(name) = header.unsupported() {
            return Err(AuthError::Invalid(Invalid::UnsupportedHeader(name)));
        }
        let kid = header
            .kid
            .filter(|kid| !kid.is_empty())
            .ok_or(AuthError::Invalid(Invalid::MissingKeyId))?;
        if signature.len() > MAX_SIGNATURE_B64 {
            return Err(AuthError::Invalid(Invalid::Signature));
        }
        let signature = decode_segment(signature)?;
        Ok(Prepared::Unverified(Unverified {
            token,
            // The header was decoded into a local buffer; keep only an owned kid past it.
            kid: kid.into_owned(),
            signing_input,
            payload,
            signature,
        }))
    }

    /// Signature, then claims; caches the result under the epoch of the set `key` came from.
    fn finish(
        &self,
        unverified: &Unverified<'_>,
        key: &Key,
        epoch: u64,
        now: Duration,
    ) -> Result<PassageClaims, AuthError> {
        if !key.verify(unverified.signing_input.as_bytes(), &unverified.signature) {
            return Err(AuthError::Invalid(Invalid::Signature));
        }
        let claims_json = decode_segment(unverified.payload)?;
        let claims = serde_json::from_slice::<UniqueKeys>(&claims_json)
            .map_err(|_| AuthError::Malformed(Malformed::ClaimsJson))?
            .0;
        let now = now.as_secs();
        let claims = check_claims(
            claims,
            &self.audiences,
            now,
            self.leeway,
            self.authority.clone(),
        )?;
        if let Some(cache) = &self.cache {
            cache.insert(unverified.token, claims.clone(), epoch, now, self.leeway);
        }
        self.revocations.check(&claims)?;
        Ok(claims)
    }
}

fn decode_segment(segment: &str) -> Result<Vec<u8>, AuthError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| AuthError::Malformed(Malformed::Base64))
}

/// A claims object whose top-level member names are unique. serde_json's `Map` keeps the last
/// of duplicate names; parsers disagree on that, so a claim set with duplicates is refused
/// (RFC 7515 §5.2 allows it) rather than read one way here and another elsewhere.
struct UniqueKeys(Map<String, Value>);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object with unique member names")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut access: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom("duplicate claim"));
                    }
                    map.insert(key, value);
                }
                Ok(UniqueKeys(map))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// Applies the claim rules to a verified claim set.
pub(crate) fn check_claims(
    all: Map<String, Value>,
    audiences: &[String],
    now: u64,
    leeway: u64,
    authority: Authority,
) -> Result<PassageClaims, AuthError> {
    let invalid = AuthError::Invalid;
    let exp = numeric_date(&all, "exp", Round::Down)?.ok_or(invalid(Invalid::MissingExpiry))?;
    // `nbf` rounds up: a fraction of a second before it is still before it.
    let nbf = numeric_date(&all, "nbf", Round::Up)?;
    let iat = numeric_date(&all, "iat", Round::Down)?;
    if now >= exp.saturating_add(leeway) {
        return Err(invalid(Invalid::Expired));
    }
    if nbf.is_some_and(|nbf| now.saturating_add(leeway) < nbf) {
        return Err(invalid(Invalid::NotYetValid));
    }
    let aud = match all.get("aud") {
        None => return Err(invalid(Invalid::Audience)),
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(invalid(Invalid::ClaimType("aud")))?,
        Some(_) => return Err(invalid(Invalid::ClaimType("aud"))),
    };
    if !aud.iter().any(|a| audiences.contains(a)) {
        return Err(invalid(Invalid::Audience));
    }
    let sub = match all.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
        Some(Value::String(_)) | None => return Err(invalid(Invalid::MissingSubject)),
        Some(_) => return Err(invalid(Invalid::ClaimType("sub"))),
    };
    let iss = match all.get("iss") {
        None => None,
        Some(Value::String(iss)) => Some(iss.clone()),
        Some(_) => return Err(invalid(Invalid::ClaimType("iss"))),
    };
    Ok(PassageClaims::new(Verified {
        sub,
        exp,
        iat,
        nbf,
        iss,
        aud,
        all,
        authority,
    }))
}

/// How a fractional NumericDate becomes whole seconds: always towards the stricter answer.
#[derive(Clone, Copy)]
enum Round {
    Down,
    Up,
}

/// A NumericDate claim: a JSON number (integer or fraction) from 0 to year 9999.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
    round: Round,
) -> Result<Option<u64>, AuthError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let wrong = AuthError::Invalid(Invalid::ClaimType(name));
    let Value::Number(number) = value else {
        return Err(wrong);
    };
    if let Some(secs) = number.as_u64() {
        return if secs as f64 <= MAX_NUMERIC_DATE {
            Ok(Some(secs))
        } else {
            Err(wrong)
        };
    }
    match number.as_f64() {
        Some(secs) if secs.is_finite() && (0.0..=MAX_NUMERIC_DATE).contains(&secs) => {
            let whole = match round {
                Round::Down => secs.floor(),
                Round::Up => secs.ceil(),
            };
            Ok(Some(whole as u64))
        }
        _ => Err(wrong),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn check(claims: Value) -> Result<PassageClaims, AuthError> {
        let Value::Object(map) = claims else {
            unreachable!()
        };
        check_claims(map, &["app".to_owned()], NOW, 0, "test".into())
    }

    fn reason(result: Result<PassageClaims, AuthError>) -> Invalid {
        match result {
            Err(AuthError::Invalid(reason)) => reason,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_claim_set_passes() {
        let claims = check(
            json!({"sub": "u1", "exp": NOW + 60, "iat": NOW, "aud": ["https://x", "app"], "iss": "i", "role": "admin"}),
        );
        let claims = claims.unwrap();
        assert_eq!(claims.user_id(), "u1");
        assert_eq!(claims.audience(), ["https://x", "app"]);
        assert_eq!(claims.get("role"), Some(&json!("admin")));
        assert!(check(json!({"sub": "u1", "exp": (NOW + 60) as f64 + 0.5, "aud": "app"})).is_ok());
    }

    #[test]
    fn each_claim_rule_rejects() {
        assert_eq!(
            reason(check(json!({"sub": "u", "aud": "app"}))),
            Invalid::MissingExpiry
        );
        assert_eq!(
            reason(check(json!({"sub": "u", "exp": NOW, "aud": "app"}))),
            Invalid::Expired
        );
        assert_eq!(
            reason(check(
                json!({"sub": "u", "exp": NOW + 9, "nbf": NOW + 5, "aud": "app"})
            )),
            Invalid::NotYetValid
        );
        assert_eq!(
            reason(check(
                json!({"sub": "u", "exp": (NOW + 9).to_string(), "aud": "app"})
            )),
            Invalid::ClaimType("exp")
        );
        assert_eq!(
            reason(check(json!({"sub": "u", "exp": 1e300, "aud": "app"}))),
            Invalid::ClaimType("exp")
        );
        assert_eq!(
            reason(check(json!({"sub": "u", "exp": -1, "aud": "app"}))),
            Invalid::ClaimType("exp")
        );
        assert_eq!(
            reason(check(
                json!({"sub": "u", "exp": NOW + 9, "nbf": "0", "aud": "app"})
            )),
            Invalid::ClaimType("nbf")
        );
        assert_eq!(
            reason(check(
                json!({"sub": "u", "exp": NOW + 9, "iat": null, "aud": "app"})
            )),
            Invalid::ClaimType("iat")
        );
        assert_eq!(
            reason(check(json!({"sub": "u", "exp": NOW + 9}))),
            Invalid::Audience
        );
        assert_eq!(
            reason(check(json!({"sub": "u", "exp": NOW + 9, "aud": "other"}))),
            Invalid::Audience
        );
        assert_eq!(
            reason(check(json!({"sub": "u", "exp": NOW + 9, "aud": "ap"}))),
            Invalid::Audience
        );
        assert_eq!(
            reason(check(
                json!({"sub": "u", "exp": NOW + 9, "aud": ["app2", "x"]})
            )),
            Invalid::Audience
        );
        assert_eq!(
            reason(check(
                json!({"sub": "u", "exp": NOW + 9, "aud": ["app", 1]})
            )),
            Invalid::ClaimType("aud")
        );
        assert_eq!(
            reason(check(json!({"sub": "", "exp": NOW + 9, "aud": "app"}))),
            Invalid::MissingSubject
        );
        assert_eq!(
            reason(check(json!({"exp": NOW + 9, "aud": "app"}))),
            Invalid::MissingSubject
        );
        assert_eq!(
            reason(check(json!({"sub": 7, "exp": NOW + 9, "aud": "app"}))),
            Invalid::ClaimType("sub")
        );
        assert_eq!(
            reason(check(
                json!({"sub": "u", "exp": NOW + 9, "aud": "app", "iss": 1})
            )),
            Invalid::ClaimType("iss")
        );
    }

    #[test]
    fn leeway_applies_to_exp_and_nbf() {
        let Value::Object(expired) = json!({"sub": "u", "exp": NOW - 5, "aud": "app"}) else {
            unreachable!()
        };
        assert!(check_claims(expired.clone(), &["app".to_owned()], NOW, 10, "t".into()).is_ok());
        assert!(check_claims(expired, &["app".to_owned()], NOW, 5, "t".into()).is_err());
        let Value::Object(early) =
            json!({"sub": "u", "exp": NOW + 60, "nbf": NOW + 5, "aud": "app"})
        else {
            unreachable!()
        };
        assert!(check_claims(early, &["app".to_owned()], NOW, 5, "t".into()).is_ok());
    }

    #[test]
    fn fractional_dates_round_towards_refusal() {
        // exp rounds down: 0.5 s before exp is already exp.
        let exp = (NOW + 1) as f64 - 0.5;
        assert_eq!(
            reason(check(json!({"sub": "u", "exp": exp, "aud": "app"}))),
            Invalid::Expired
        );
        // nbf rounds up: 0.5 s before nbf is not yet valid.
        let nbf = NOW as f64 + 0.5;
        assert_eq!(
            reason(check(
                json!({"sub": "u", "exp": NOW + 60, "nbf": nbf, "aud": "app"})
            )),
            Invalid::NotYetValid
        );
        assert!(
            check(json!({"sub": "u", "exp": NOW + 60, "nbf": NOW as f64 - 0.5, "aud": "app"}))
                .is_ok()
        );
    }
}
