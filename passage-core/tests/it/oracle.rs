//! jsonwebtoken as a reference oracle for the hand-written validator.
//!
//! Tokens are generated from parts (valid ones, and ones with odd headers, claims, encodings and
//! signatures; signed by the emulator's key or another one), then validated by passage-core and
//! by `jsonwebtoken::decode` under the equivalent `Validation` (RS256 only, `aud` required and
//! containing the app id, `exp` required, `nbf` checked, no leeway). The rules:
//!
//! - passage-core accepts ⇒ jsonwebtoken accepts, with identical claims;
//! - passage-core refuses while jsonwebtoken accepts ⇒ the token is in [`Strictness`], the one
//!   documented list of deliberate strictness (the README's "What is refused" repeats it), and
//!   the refusal is the error that strictness names: a token that is, say, missing its kid and
//!   refused for its signature is a finding, not an excuse.

use std::{
    collections::BTreeSet,
    sync::Mutex,
    time::{SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use passage_core::{AuthError, Invalid, Malformed, Passage};
use passage_emulator::{Emulator, SigningKey};
use proptest::{prelude::*, sample::select, test_runner::TestRunner};
use serde_json::{Map, Value, json};

const APP: &str = "app_oracle";

/// Every way passage-core is deliberately stricter than jsonwebtoken, with the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Strictness {
    /// A token must name its key: without a kid there is nothing to look up in the JWKS.
    KidMissing,
    /// The kid must name a key of the JWKS (jsonwebtoken is handed the key and never reads it).
    KidNotInJwks,
    /// `crit` names extensions a validator must understand; none are supported (RFC 7515 §4.1.11).
    Crit,
    /// `jku`, `jwk`, `x5u`, `x5c` name or carry a key other than by kid; `b64`, `enc`, `zip`
    /// change how a token is read. A Passage token has none; one that does is refused.
    UnsupportedHeader,
    /// A parameter or claim named twice: parsers disagree on which one counts.
    DuplicateNames,
    /// `sub` is the user id: it must be a non-empty string.
    Subject,
    /// `iss` must be a string when present.
    IssuerType,
    /// `iat`, `nbf` (and `exp`) must be JSON numbers from 0 to year 9999 when present (`null`
    /// included: jsonwebtoken reads `"nbf": null` as absent).
    DateType,
    /// RFC 7519 §4.1.4: a token must not be accepted on or after `exp` (jsonwebtoken accepts
    /// it during the second of `exp` itself).
    ExpiresNow,
    /// Fractional dates round towards refusal (`exp` down, `nbf` up); jsonwebtoken rounds both
    /// to the nearest second.
    FractionalDate,
}

#[derive(Debug, Clone, Copy)]
enum Alg {
    Rs256,
    Rs384,
    Hs256,
    None,
    Lowercase,
}

#[derive(Debug, Clone, Copy)]
enum Kid {
    Ours,
    Missing,
    Empty,
    Null,
    Number,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Date {
    Missing,
    Null,
    Text,
    /// Seconds from now.
    At(i64),
    /// Seconds from now, fractional.
    Frac(f64),
    AfterYear9999,
    Negative,
}

#[derive(Debug, Clone, Copy)]
enum Sub {
    User,
    Missing,
    Empty,
    Number,
    Null,
}

#[derive(Debug, Clone, Copy)]
enum Aud {
    App,
    AppInArray,
    OtherThenApp,
    Other,
    EmptyArray,
    AppAndNumber,
    Missing,
    Number,
    Uppercase,
    Escaped,
}

#[derive(Debug, Clone, Copy)]
enum Iss {
    Missing,
    Text,
    Number,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dup {
    None,
    Sub,
    Custom,
    Exp,
    Alg,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Signer {
    Ours,
    Theirs,
}

/// A byte that is not UTF-8, inside a member no rule reads.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Utf8 {
    Valid,
    HeaderBroken,
    ClaimsBroken,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mutation {
    None,
    FlipSignature,
    DropSignature,
    Padding,
    StandardAlphabet,
    FourSegments,
    FlipPayload,
}

/// An extra header parameter, or none.
type Param = Option<(&'static str, Value)>;

#[derive(Debug, Clone)]
struct Case {
    alg: Alg,
    kid: Kid,
    param: Param,
    sub: Sub,
    aud: Aud,
    exp: Date,
    nbf: Date,
    iat: Date,
    iss: Iss,
    dup: Dup,
    signer: Signer,
    utf8: Utf8,
    mutation: Mutation,
}

/// Dates around now: whole and fractional seconds on both sides, and values of the wrong kind.
fn dates() -> impl Strategy<Value = Date> {
    prop_oneof![
        2 => (-3i64..4).prop_map(Date::At),
        2 => select(vec![-1.6, -1.5, -0.6, -0.5, -0.4, 0.4, 0.5, 0.6, 1.4, 1.5]).prop_map(Date::Frac),
        1 => select(vec![Date::Missing, Date::Null, Date::Text, Date::AfterYear9999, Date::Negative]),
    ]
}

fn cases() -> impl Strategy<Value = Case> {
    let params: Vec<Param> = vec![
        None,
        Some(("typ", json!("JWT"))),
        Some(("typ", json!(7))),
        Some(("typ", Value::Null)),
        Some(("cty", json!("JWT"))),
        Some(("x5t", json!(5))),
        Some(("nonce", json!("n"))),
        Some(("custom", json!({"a": 1}))),
        Some(("jku", json!("http://127.0.0.1:9/keys"))),
        Some(("x5u", json!("http://127.0.0.1:9/cert"))),
        Some(("jwk", json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}))),
        Some(("jwk", json!("garbage"))),
        Some(("x5c", json!(["MIIB"]))),
        Some(("crit", json!(["exp"]))),
        Some(("crit", json!(["b64"]))),
        Some(("crit", json!([]))),
        Some(("b64", json!(true))),
        Some(("b64", json!(false))),
        Some(("enc", json!("A128GCM"))),
        Some(("zip", json!("DEF"))),
    ];
    let header = (
        prop_oneof![6 => Just(Alg::Rs256), 1 => select(vec![Alg::Rs384, Alg::Hs256, Alg::None, Alg::Lowercase])],
        prop_oneof![6 => Just(Kid::Ours), 1 => select(vec![Kid::Missing, Kid::Empty, Kid::Null, Kid::Number, Kid::Other])],
        prop_oneof![4 => Just(None), 3 => select(params)],
    );
    let claims = (
        prop_oneof![6 => Just(Sub::User), 1 => select(vec![Sub::Missing, Sub::Empty, Sub::Number, Sub::Null])],
        prop_oneof![3 => select(vec![Aud::App, Aud::AppInArray, Aud::OtherThenApp, Aud::Escaped]), 1 => select(vec![Aud::Other, Aud::EmptyArray, Aud::AppAndNumber, Aud::Missing, Aud::Number, Aud::Uppercase])],
        prop_oneof![3 => (1i64..600).prop_map(Date::At), 1 => dates()],
        prop_oneof![2 => Just(Date::Missing), 1 => (-600i64..0).prop_map(Date::At), 2 => dates()],
        prop_oneof![3 => Just(Date::At(0)), 1 => dates()],
        select(vec![Iss::Missing, Iss::Text, Iss::Number]),
        prop_oneof![6 => Just(Dup::None), 1 => select(vec![Dup::Sub, Dup::Custom, Dup::Exp, Dup::Alg])],
    );
    let token = (
        prop_oneof![6 => Just(Signer::Ours), 1 => Just(Signer::Theirs)],
        prop_oneof![8 => Just(Utf8::Valid), 1 => Just(Utf8::HeaderBroken), 1 => Just(Utf8::ClaimsBroken)],
        prop_oneof![6 => Just(Mutation::None), 1 => select(vec![Mutation::FlipSignature, Mutation::DropSignature, Mutation::Padding, Mutation::StandardAlphabet, Mutation::FourSegments, Mutation::FlipPayload])],
    );
    (header, claims, token).prop_map(
        |((alg, kid, param), (sub, aud, exp, nbf, iat, iss, dup), (signer, utf8, mutation))| Case {
            alg,
            kid,
            param,
            sub,
            aud,
            exp,
            nbf,
            iat,
            iss,
            dup,
            signer,
            utf8,
            mutation,
        },
    )
}

fn member(name: &str, value: &Value) -> String {
    format!("{}:{value}", Value::from(name))
}

fn date(name: &str, date: Date, now: i64) -> Option<String> {
    let value = match date {
        Date::Missing => return None,
        Date::Null => Value::Null,
        Date::Text => json!((now + 60).to_string()),
        Date::At(offset) => json!(now + offset),
        Date::Frac(offset) => json!(now as f64 + offset),
        Date::AfterYear9999 => json!(253_402_300_800u64),
        Date::Negative => json!(-5),
    };
    Some(member(name, &value))
}

/// The header and claims JSON of `case`, written member by member (duplicates and all), with a
/// byte that is not UTF-8 where the case asks for one.
fn render(case: &Case, kid: &str, now: i64) -> (Vec<u8>, Vec<u8>) {
    let (header, claims) = render_text(case, kid, now);
    let broken = |json: String| {
        let mut bytes = json.into_bytes();
        bytes.pop();
        bytes.extend_from_slice(b",\"x\":\"\xff\"}");
        bytes
    };
    match case.utf8 {
        Utf8::Valid => (header.into_bytes(), claims.into_bytes()),
        Utf8::HeaderBroken => (broken(header), claims.into_bytes()),
        Utf8::ClaimsBroken => (header.into_bytes(), broken(claims)),
    }
}

fn render_text(case: &Case, kid: &str, now: i64) -> (String, String) {
    let alg = match case.alg {
        Alg::Rs256 => "RS256",
        Alg::Rs384 => "RS384",
        Alg::Hs256 => "HS256",
        Alg::None => "none",
        Alg::Lowercase => "rs256",
    };
    let mut header = vec![member("alg", &json!(alg))];
    if case.dup == Dup::Alg {
        header.push(member("alg", &json!("RS256")));
    }
    match case.kid {
        Kid::Ours => header.push(member("kid", &json!(kid))),
        Kid::Missing => {}
        Kid::Empty => header.push(member("kid", &json!(""))),
        Kid::Null => header.push(member("kid", &Value::Null)),
        Kid::Number => header.push(member("kid", &json!(7))),
        Kid::Other => header.push(member("kid", &json!("not-in-the-jwks"))),
    }
    if let Some((name, value)) = &case.param {
        header.push(member(name, value));
    }
    let mut claims = Vec::new();
    match case.sub {
        Sub::User => claims.push(member("sub", &json!("user-oracle"))),
        Sub::Missing => {}
        Sub::Empty => claims.push(member("sub", &json!(""))),
        Sub::Number => claims.push(member("sub", &json!(42))),
        Sub::Null => claims.push(member("sub", &Value::Null)),
    }
    let aud = match case.aud {
        Aud::App => Some(json!(APP).to_string()),
        Aud::AppInArray => Some(json!([APP]).to_string()),
        Aud::OtherThenApp => Some(json!(["http://localhost:3000", APP]).to_string()),
        Aud::Other => Some(json!("other_app").to_string()),
        Aud::EmptyArray => Some("[]".to_owned()),
        Aud::AppAndNumber => Some(json!([APP, 5]).to_string()),
        Aud::Missing => None,
        Aud::Number => Some("5".to_owned()),
        Aud::Uppercase => Some(json!(APP.to_uppercase()).to_string()),
        // The same string with an escape: both parsers must read it as the app id.
        Aud::Escaped => Some(r#""app\u005foracle""#.to_owned()),
    };
    if let Some(aud) = aud {
        claims.push(format!("\"aud\":{aud}"));
    }
    claims.extend(date("exp", case.exp, now));
    claims.extend(date("nbf", case.nbf, now));
    claims.extend(date("iat", case.iat, now));
    match case.iss {
        Iss::Missing => {}
        Iss::Text => claims.push(member("iss", &json!("https://auth.example"))),
        Iss::Number => claims.push(member("iss", &json!(1))),
    }
    claims.push(member("role", &json!("admin")));
    match case.dup {
        Dup::Sub => claims.push(member("sub", &json!("someone-else"))),
        Dup::Custom => claims.push(member("role", &json!("root"))),
        Dup::Exp => claims.push(member("exp", &json!(now + 900))),
        Dup::None | Dup::Alg => {}
    }
    (
        format!("{{{}}}", header.join(",")),
        format!("{{{}}}", claims.join(",")),
    )
}

fn mutate(token: &str, mutation: Mutation) -> String {
    let swap = |c: char| if c == 'A' { 'B' } else { 'A' };
    match mutation {
        Mutation::None => token.to_owned(),
        Mutation::FlipSignature => {
            let mut chars: Vec<char> = token.chars().collect();
            let at = chars.len() - 5;
            chars[at] = swap(chars[at]);
            chars.into_iter().collect()
        }
        Mutation::DropSignature => token[..=token.rfind('.').unwrap_or(0)].to_owned(),
        Mutation::Padding => format!("{token}=="),
        Mutation::StandardAlphabet => token.replace('-', "+").replace('_', "/"),
        Mutation::FourSegments => format!("{token}.e30"),
        Mutation::FlipPayload => {
            let dot = token.find('.').unwrap_or(0);
            let mut chars: Vec<char> = token.chars().collect();
            chars[dot + 2] = swap(chars[dot + 2]);
            chars.into_iter().collect()
        }
    }
}

/// The deliberate strictness `case` falls under, if any (judged on the case as built at `now`),
/// each with the refusal it causes.
fn deliberate(case: &Case) -> Vec<(Strictness, AuthError)> {
    use AuthError::{Invalid as I, Malformed as M};
    let mut why = Vec::new();
    match case.kid {
        Kid::Missing | Kid::Empty | Kid::Null => {
            why.push((Strictness::KidMissing, I(Invalid::MissingKeyId)));
        }
        Kid::Other => why.push((Strictness::KidNotInJwks, I(Invalid::UnknownKeyId))),
        Kid::Ours | Kid::Number => {}
    }
    match case.param.as_ref().map(|(name, _)| *name) {
        Some("crit") => why.push((Strictness::Crit, I(Invalid::CriticalHeader))),
        Some(name @ ("jku" | "jwk" | "x5u" | "x5c" | "b64" | "enc" | "zip")) => {
            why.push((
                Strictness::UnsupportedHeader,
                I(Invalid::UnsupportedHeader(name)),
            ));
        }
        _ => {}
    }
    match case.dup {
        // Header parameters are read into a struct that refuses a name twice; claims into a
        // map that does.
        Dup::Alg => why.push((Strictness::DuplicateNames, M(Malformed::HeaderJson))),
        Dup::Sub | Dup::Custom | Dup::Exp => {
            why.push((Strictness::DuplicateNames, M(Malformed::ClaimsJson)));
        }
        Dup::None => {}
    }
    match case.sub {
        Sub::User => {}
        Sub::Missing | Sub::Empty => why.push((Strictness::Subject, I(Invalid::MissingSubject))),
        Sub::Number | Sub::Null => why.push((Strictness::Subject, I(Invalid::ClaimType("sub")))),
    }
    if matches!(case.iss, Iss::Number) {
        why.push((Strictness::IssuerType, I(Invalid::ClaimType("iss"))));
    }
    let odd = |d: Date| {
        matches!(
            d,
            Date::Null | Date::Text | Date::AfterYear9999 | Date::Negative
        )
    };
    for (name, date) in [("exp", case.exp), ("nbf", case.nbf), ("iat", case.iat)] {
        if odd(date) {
            why.push((Strictness::DateType, I(Invalid::ClaimType(name))));
        }
    }
    if case.exp == Date::At(0) {
        why.push((Strictness::ExpiresNow, I(Invalid::Expired)));
    }
    if matches!(case.exp, Date::Frac(_)) {
        why.push((Strictness::FractionalDate, I(Invalid::Expired)));
    }
    if matches!(case.nbf, Date::Frac(_)) {
        why.push((Strictness::FractionalDate, I(Invalid::NotYetValid)));
    }
    why
}

/// The same refusal: the same kind, for the same reason.
fn same_refusal(a: &AuthError, b: &AuthError) -> bool {
    match (a, b) {
        (AuthError::Invalid(a), AuthError::Invalid(b)) => a == b,
        (AuthError::Malformed(a), AuthError::Malformed(b)) => a == b,
        _ => false,
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[test]
fn jsonwebtoken_accepts_everything_passage_accepts_with_the_same_claims() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let emulator: Emulator = runtime
        .block_on(Emulator::builder().app_id(APP).start())
        .unwrap();
    let passage = Passage::builder(APP)
        .auth_url(emulator.auth_url())
        .api_url(emulator.api_url())
        .token_cache_capacity(0)
        .build()
        .unwrap();
    let ours = emulator.current_key();
    let theirs = SigningKey::generate().unwrap();
    let jwk = ours.jwk();
    let key =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[APP]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    validation.leeway = 0;
    validation.validate_nbf = true;

    let both_accepted = Mutex::new(0usize);
    let seen: Mutex<BTreeSet<Strictness>> = Mutex::new(BTreeSet::new());
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 4096,
        ..ProptestConfig::default()
    });
    runner
        .run(&cases(), |case| {
            let now = now_secs();
            let (header, claims) = render(&case, ours.kid(), now);
            let signer = match case.signer {
                Signer::Ours => &ours,
                Signer::Theirs => &theirs,
            };
            let token = mutate(&signer.sign_raw(&header, &claims).unwrap(), case.mutation);
            let mine = runtime.block_on(passage.auth().validate_jwt(&token));
            let reference = jsonwebtoken::decode::<Map<String, Value>>(&token, &key, &validation);
            // A second boundary crossed while validating: the two saw different clocks.
            prop_assume!(now_secs() == now);
            match (mine, reference) {
                (Ok(mine), Ok(reference)) => {
                    prop_assert_eq!(mine.all(), &reference.claims);
                    prop_assert_eq!(Some(&json!(mine.user_id())), reference.claims.get("sub"));
                    *both_accepted.lock().unwrap() += 1;
                }
                (Ok(mine), Err(refused)) => prop_assert!(
                    false,
                    "accepted what jsonwebtoken refuses ({refused:?}): {} {} {mine:?}",
                    String::from_utf8_lossy(&header),
                    String::from_utf8_lossy(&claims)
                ),
                (Err(refused), Ok(_)) => {
                    let why = deliberate(&case);
                    let excused: Vec<Strictness> = why
                        .iter()
                        .filter(|(_, expected)| same_refusal(&refused, expected))
                        .map(|(strictness, _)| *strictness)
                        .collect();
                    prop_assert!(
                        !excused.is_empty(),
                        "refused ({refused:?}) outside the deliberate list (this case expects one of {:?}): {} {} {case:?}",
                        why,
                        String::from_utf8_lossy(&header),
                        String::from_utf8_lossy(&claims)
                    );
                    seen.lock().unwrap().extend(excused);
                }
                (Err(_), Err(_)) => {}
            }
            Ok(())
        })
        .unwrap();
    let both = *both_accepted.lock().unwrap();
    eprintln!(
        "oracle: {both} accepted by both; deliberate strictness seen: {:?}",
        seen.lock().unwrap()
    );
    assert!(
        both > 50,
        "only {both} tokens accepted by both: the generator is off"
    );
    let seen = seen.lock().unwrap();
    for expected in [
        Strictness::KidMissing,
        Strictness::Subject,
        Strictness::DuplicateNames,
    ] {
        assert!(
            seen.contains(&expected),
            "{expected:?} never came up: {seen:?}"
        );
    }
}
