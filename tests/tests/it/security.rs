//! One table of hostile requests, sent byte for byte over raw TCP to every adapter's example
//! server, and the JWKS faults an auth library must survive. The same rows drive axum, tower and
//! actix, so the three can never drift apart, and the tonic gRPC service (the rows' headers as
//! metadata, through a real tonic client).

use std::{net::SocketAddr, time::Duration};

use passage_emulator::{Emulator, Fault, Signer, SigningKey, Target};
use passage_tests::{Adapter, Running, USER_ID, fast, start, start_tonic};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

/// What a row expects. Every expectation names one answer; a timeout, a closed connection, a
/// failed connect or an answer of another kind never matches any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Authenticated as the seeded user: 200 `{"user_id": USER_ID}` (gRPC: OK, that user).
    User,
    /// Refused by Passage: 401 with this `code` in the JSON body (gRPC: `UNAUTHENTICATED`,
    /// with the code as its message).
    Refused(&'static str),
    /// Refused by the HTTP/1 parser before any handler runs: an answer with this status and no
    /// Passage body, from every adapter; over gRPC as the [`Grpc`] says.
    Parser(u16, Grpc),
}

/// How the tonic client and server treat a row the HTTP/1 parsers refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grpc {
    /// The client cannot send it: the value is not valid HTTP/2 metadata (`MetadataValue`
    /// refuses it), so there is nothing for the server to refuse.
    Unsendable,
    /// The HTTP/2 server hangs up the connection: a GOAWAY with `ENHANCE_YOUR_CALM` and this
    /// debug data, which tonic reports as `RESOURCE_EXHAUSTED`, the error received from the
    /// server (not made by the client) last in its source chain.
    GoAway(&'static str),
}

struct Row {
    name: String,
    headers: Vec<String>,
    expect: Expect,
}

fn row(name: impl Into<String>, headers: Vec<String>, expect: Expect) -> Row {
    Row {
        name: name.into(),
        headers,
        expect,
    }
}

fn bearer(token: &str) -> Vec<String> {
    vec![format!("Authorization: Bearer {token}")]
}

/// What one raw exchange came to.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// A complete HTTP/1 answer: its status and its body as JSON (`None`: empty, or not JSON).
    Answer(u16, Option<Value>),
    /// The connection closed (or was reset) before a complete answer: a panicking handler, a
    /// crashed server, a parser that hangs up. `received` is what came before.
    Closed { received: String },
    /// The connection could not be made.
    ConnectFailed(String),
    /// No complete answer within [`EXCHANGE_LIMIT`].
    TimedOut,
    /// Bytes that are not an HTTP/1 answer.
    Garbled(String),
}

/// How long one exchange may take before it counts as hung: far beyond any loopback answer
/// (milliseconds), and short enough that a hanging row fails the test instead of the CI job.
const EXCHANGE_LIMIT: Duration = Duration::from_secs(10);

impl Expect {
    fn http_matches(self, outcome: &Outcome) -> bool {
        match (self, outcome) {
            (Self::User, Outcome::Answer(200, Some(body))) => {
                *body == json!({ "user_id": USER_ID })
            }
            (Self::Refused(code), Outcome::Answer(401, Some(body))) => body["code"] == code,
            // The parser's own answer: never a Passage body.
            (Self::Parser(status, _), Outcome::Answer(got, body)) => {
                *got == status && body.as_ref().is_none_or(|b| b.get("code").is_none())
            }
            _ => false,
        }
    }
}

/// Sends `GET /me` with exactly these header lines, byte for byte, and reads the whole answer
/// (`Connection: close`). The request is written while the answer is read, so an early refusal
/// (e.g. of a 1 MB header) is read even if the server stops reading the request.
async fn raw_get(base: &str, headers: &[String]) -> Outcome {
    let addr = base.trim_start_matches("http://");
    let mut request = format!("GET /me HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for line in headers {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(err) => return Outcome::ConnectFailed(err.to_string()),
    };
    let (mut reader, mut writer) = stream.into_split();
    let write = tokio::spawn(async move {
        // A server that answers before reading everything may reset the connection under us.
        let _ = writer.write_all(request.as_bytes()).await;
        // Kept open (in the task's output) until the answer is read: dropping it would
        // half-close the connection, which a server may take for a client that left.
        writer
    });
    let mut received = Vec::new();
    let read = tokio::time::timeout(EXCHANGE_LIMIT, async {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    write.abort();
    if read.is_err() {
        return Outcome::TimedOut;
    }
    match parse_answer(&received) {
        Ok((status, body)) => Outcome::Answer(status, serde_json::from_slice(&body).ok()),
        Err(Incomplete) => Outcome::Closed {
            received: String::from_utf8_lossy(&received[..received.len().min(200)]).into(),
        },
        Err(Garbled(why)) => Outcome::Garbled(why),
    }
}

enum ParseError {
    /// A prefix of an answer, or nothing.
    Incomplete,
    Garbled(String),
}
use ParseError::{Garbled, Incomplete};

/// An HTTP/1 answer read until the connection closed: its status and its body (by
/// `Content-Length`, chunked, or up to the close).
fn parse_answer(bytes: &[u8]) -> Result<(u16, Vec<u8>), ParseError> {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Err(
            if bytes.starts_with(b"HTTP/1.") || b"HTTP/1.".starts_with(bytes) {
                Incomplete
            } else {
                Garbled(String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into())
            },
        );
    };
    let head = String::from_utf8_lossy(&bytes[..end]);
    let rest = &bytes[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = match status_line.split(' ').collect::<Vec<_>>().as_slice() {
        [version, code, ..] if version.starts_with("HTTP/1.") && code.len() == 3 => code
            .parse::<u16>()
            .map_err(|_| Garbled(status_line.to_owned()))?,
        _ => return Err(Garbled(status_line.to_owned())),
    };
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name)
                .then(|| v.trim().to_ascii_lowercase())
        })
    };
    if header("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        let mut body = Vec::new();
        let mut at = rest;
        loop {
            let Some(line_end) = at.windows(2).position(|w| w == b"\r\n") else {
                return Err(Incomplete);
            };
            let size = std::str::from_utf8(&at[..line_end])
                .ok()
                .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
                .ok_or_else(|| Garbled("a bad chunk size".into()))?;
            at = &at[line_end + 2..];
            if size == 0 {
                return Ok((status, body));
            }
            if at.len() < size + 2 {
                return Err(Incomplete);
            }
            body.extend_from_slice(&at[..size]);
            at = &at[size + 2..];
        }
    }
    match header("content-length") {
        Some(length) => {
            let length: usize = length
                .parse()
                .map_err(|_| Garbled(format!("content-length {length}")))?;
            if rest.len() < length {
                return Err(Incomplete);
            }
            Ok((status, rest[..length].to_vec()))
        }
        None => Ok((status, rest.to_vec())),
    }
}

fn claims_json(emu: &Emulator, extra: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        r#"{{"sub":"{USER_ID}","aud":["http://localhost:3000","{}"],"iat":{now},"exp":{}{extra}}}"#,
        emu.app_id(),
        now + 600
    )
}

fn rows(emu: &Emulator, watched: &str, attacker: &SigningKey) -> Vec<Row> {
    use Expect::{Parser, Refused, User};
    const INVALID: Expect = Refused("invalid_token");
    const MALFORMED: Expect = Refused("malformed_token");
    let kid = emu.current_key().kid().to_owned();
    let pem = emu.current_key().public_key_pem().into_bytes();
    let jwk = emu.current_key().jwk().to_string().into_bytes();
    let valid = emu.mint_token(USER_ID).unwrap();
    let signed = |b: passage_emulator::TokenBuilder| b.sign().unwrap();
    let mut rows = vec![
        row(
            "valid token (the suite can tell a pass)",
            bearer(&valid),
            User,
        ),
        row(
            "valid token, lowercase scheme",
            vec![format!("Authorization: bearer {valid}")],
            User,
        ),
        row(
            "valid token, extra spaces",
            vec![format!("Authorization: Bearer    {valid}")],
            User,
        ),
        row(
            "valid cookie in a second Cookie header",
            vec![
                "Cookie: a=1".into(),
                format!("Cookie: psg_auth_token={valid}"),
            ],
            User,
        ),
    ];
    // Algorithm attacks.
    for alg in ["none", "None", "NONE", "nOnE"] {
        rows.push(row(
            format!("alg {alg}"),
            bearer(&signed(
                emu.token(USER_ID).signer(Signer::None).header("alg", alg),
            )),
            INVALID,
        ));
    }
    rows.push(row(
        "empty signature claiming RS256",
        bearer(&signed(
            emu.token(USER_ID)
                .signer(Signer::None)
                .header("alg", "RS256"),
        )),
        INVALID,
    ));
    for (name, signer) in [
        ("HS256 keyed with the PEM", Signer::Hs256(pem.clone())),
        ("HS256 keyed with the JWK", Signer::Hs256(jwk.clone())),
        ("HS384 keyed with the PEM", Signer::Hs384(pem.clone())),
        ("RS384", Signer::Rs384),
        ("RS512", Signer::Rs512),
        ("PS256", Signer::Ps256),
        ("ES256", Signer::Es256),
    ] {
        rows.push(row(
            name,
            bearer(&signed(emu.token(USER_ID).signer(signer.clone()))),
            INVALID,
        ));
        rows.push(row(
            format!("{name} claiming RS256"),
            bearer(&signed(
                emu.token(USER_ID).signer(signer).header("alg", "RS256"),
            )),
            INVALID,
        ));
    }
    let forged = || {
        emu.token(USER_ID)
            .signer(Signer::Rs256With(attacker.clone()))
            .kid(attacker.kid())
    };
    rows.push(row(
        "embedded jwk",
        bearer(&signed(forged().header("jwk", attacker.jwk()))),
        INVALID,
    ));
    rows.push(row(
        "jku to a watched server",
        bearer(&signed(forged().header("jku", watched))),
        INVALID,
    ));
    rows.push(row(
        "x5u to a watched server",
        bearer(&signed(forged().header("x5u", watched))),
        INVALID,
    ));
    rows.push(row(
        "attacker key under our kid",
        bearer(&signed(forged().kid(&kid))),
        INVALID,
    ));
    for injected in [
        "../../../../etc/passwd",
        "' OR '1'='1",
        "kid\u{0}",
        "%00",
        "{{7*7}}",
        &"k".repeat(2000),
    ] {
        rows.push(row(
            format!("kid injection {:.20}", injected.escape_debug()),
            bearer(&signed(emu.token(USER_ID).kid(injected))),
            INVALID,
        ));
    }
    rows.push(row(
        "crit",
        bearer(&signed(emu.token(USER_ID).header("crit", ["exp"]))),
        INVALID,
    ));
    let crit_null = emu
        .sign_raw(
            format!(r#"{{"alg":"RS256","kid":"{kid}","crit":null}}"#),
            claims_json(emu, ""),
        )
        .unwrap();
    rows.push(row("crit null", bearer(&crit_null), INVALID));
    // Claim abuse.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for (name, builder) in [
        ("expired", emu.token(USER_ID).expires_in_secs(-1)),
        ("nbf ahead", emu.token(USER_ID).claim("nbf", now + 300)),
        (
            "exp as a string",
            emu.token(USER_ID).claim("exp", (now + 300).to_string()),
        ),
        (
            "exp as a float out of range",
            emu.token(USER_ID).claim("exp", 1e300),
        ),
        ("exp negative", emu.token(USER_ID).claim("exp", -1)),
        ("nbf as a string", emu.token(USER_ID).claim("nbf", "0")),
        ("no exp", emu.token(USER_ID).without_claim("exp")),
        ("no sub", emu.token(USER_ID).without_claim("sub")),
        ("empty sub", emu.token("")),
        ("sub a number", emu.token(USER_ID).claim("sub", 42)),
        (
            "aud of another app",
            emu.token(USER_ID).claim("aud", "other_app"),
        ),
        (
            "aud a prefix of our app id",
            emu.token(USER_ID)
                .claim("aud", [&emu.app_id()[..emu.app_id().len() - 1]]),
        ),
        (
            "aud our app id plus more",
            emu.token(USER_ID)
                .claim("aud", format!("{}x", emu.app_id())),
        ),
        ("no aud", emu.token(USER_ID).without_claim("aud")),
    ] {
        rows.push(row(name, bearer(&signed(builder)), INVALID));
    }
    let big = "x".repeat(5_000);
    rows.push(row(
        "large claim set under the limit",
        bearer(&signed(emu.token(USER_ID).claim("pad", big))),
        User,
    ));
    let huge = "x".repeat(10_000);
    rows.push(row(
        "claim set over the 8 KiB limit",
        bearer(&signed(emu.token(USER_ID).claim("pad", huge))),
        MALFORMED,
    ));
    let dup_header = emu
        .sign_raw(
            format!(r#"{{"alg":"RS256","alg":"none","kid":"{kid}"}}"#),
            claims_json(emu, ""),
        )
        .unwrap();
    rows.push(row(
        "duplicate alg in the header",
        bearer(&dup_header),
        MALFORMED,
    ));
    let dup_aud = emu
        .sign_raw(
            format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#),
            claims_json(emu, r#","aud":"other_app""#),
        )
        .unwrap();
    rows.push(row(
        "duplicate aud in the claims",
        bearer(&dup_aud),
        MALFORMED,
    ));
    let mut not_utf8 = format!(r#"{{"alg":"RS256","kid":"{kid}","x":""#).into_bytes();
    not_utf8.extend_from_slice(b"\xff\"}");
    rows.push(row(
        "a header member that is not UTF-8",
        bearer(&emu.sign_raw(&not_utf8, claims_json(emu, "")).unwrap()),
        MALFORMED,
    ));
    // Structural garbage.
    let (head, rest) = valid.split_once('.').unwrap();
    for (name, token) in [
        (
            "two segments",
            format!("{head}.{}", rest.split('.').next().unwrap()),
        ),
        ("four segments", format!("{valid}.x")),
        ("bad base64", format!("{head}!.{rest}")),
        ("base64 padding", format!("{valid}==")),
        (
            "standard base64 alphabet",
            valid.replacen('-', "+", 1).replacen('_', "/", 1),
        ),
        ("whitespace inside", format!("{head}\t.{rest}")),
        ("empty", String::new()),
    ] {
        rows.push(row(name, bearer(&token), MALFORMED));
    }
    // Refused by the HTTP layer before any handler, each with its own answer: a control
    // character (and DEL, below) is not a field-value byte (RFC 9110 §5.5), 400; a 1 MB header
    // is over every server's header limit, 431. Over HTTP/2 the client cannot send the first
    // two, and the server hangs up on the third.
    rows.push(row(
        "control character inside",
        vec![format!("Authorization: Bearer {head}\u{1}.{rest}")],
        Parser(400, Grpc::Unsendable),
    ));
    rows.push(row(
        "1 MB token",
        bearer(&"a".repeat(1 << 20)),
        Parser(431, Grpc::GoAway("too_many_continuations")),
    ));
    // Near misses of the verified token, which the first row put into the token cache: a cache
    // lookup compares raw bytes, so each must miss and then fail the full checks.
    for (name, token, expect) in [
        (
            "cached token plus a non-ASCII byte",
            format!("{valid}\u{e9}"),
            MALFORMED,
        ),
        (
            "cached token minus its last byte",
            {
                let mut cut = valid.clone();
                cut.pop();
                cut
            },
            MALFORMED,
        ),
        (
            "cached token with one signature byte changed",
            {
                let at = valid.len() - 10;
                let swap = if &valid[at..=at] == "A" { "B" } else { "A" };
                format!("{}{swap}{}", &valid[..at], &valid[at + 1..])
            },
            INVALID,
        ),
    ] {
        rows.push(row(name, bearer(&token), expect));
    }
    rows.push(row(
        "cached token plus a DEL (refused by the HTTP parser)",
        bearer(&format!("{valid}\u{7f}")),
        Parser(400, Grpc::Unsendable),
    ));
    rows.push(row(
        "cached token then a tab (optional white space)",
        vec![format!("Authorization: Bearer {valid}\t")],
        User,
    ));
    // Credential placement.
    rows.push(row(
        "two Authorization headers",
        vec![bearer(&valid)[0].clone(), bearer(&valid)[0].clone()],
        MALFORMED,
    ));
    rows.push(row(
        "two different psg_auth_token cookies",
        vec![format!(
            "Cookie: psg_auth_token={valid}; psg_auth_token=x.y.z"
        )],
        MALFORMED,
    ));
    rows.push(row(
        "two equal psg_auth_token cookies",
        vec![
            format!("Cookie: psg_auth_token={valid}"),
            format!("Cookie: psg_auth_token={valid}"),
        ],
        User,
    ));
    let expired = signed(emu.token(USER_ID).expires_in_secs(-5));
    rows.push(row(
        "bad header beside a good cookie",
        vec![
            bearer(&expired)[0].clone(),
            format!("Cookie: psg_auth_token={valid}"),
        ],
        INVALID,
    ));
    rows.push(row(
        "Bearer without a token",
        vec!["Authorization: Bearer".into()],
        MALFORMED,
    ));
    rows.push(row(
        "Basic credentials",
        vec!["Authorization: Basic dXNlcjpwYXNz".into()],
        MALFORMED,
    ));
    rows.push(row(
        "token without a scheme",
        vec![format!("Authorization: {valid}")],
        MALFORMED,
    ));
    rows
}

/// A server that records every connection made to it; none may come but the test's own.
struct Watched {
    url: String,
    addr: SocketAddr,
    accepted: mpsc::UnboundedReceiver<SocketAddr>,
    task: tokio::task::JoinHandle<()>,
}

impl Watched {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tell, accepted) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((_, peer)) = listener.accept().await {
                let _ = tell.send(peer);
            }
        });
        Self {
            url: format!("http://{addr}/keys.json"),
            addr,
            accepted,
            task,
        }
    }

    /// The peers of every connection made before this call. Instead of waiting a while for a
    /// straggler, the test connects once itself and reads the accepted peers up to its own:
    /// the listener accepts in the order connections were made, so any connection made while
    /// a row was answered is read before the test's own.
    async fn contacts(mut self) -> Vec<SocketAddr> {
        let probe = TcpStream::connect(self.addr).await.unwrap();
        let own = probe.local_addr().unwrap();
        let mut others = Vec::new();
        tokio::time::timeout(EXCHANGE_LIMIT, async {
            while let Some(peer) = self.accepted.recv().await {
                if peer == own {
                    return;
                }
                others.push(peer);
            }
        })
        .await
        .expect("the watched server accepted the test's own connection");
        self.task.abort();
        others
    }
}

#[tokio::test]
async fn hostile_requests_are_refused_by_every_adapter() {
    let watched = Watched::start().await;
    let attacker = SigningKey::generate().unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for adapter in Adapter::ALL {
        let server = start(adapter, fast).await.unwrap();
        for row in rows(&server.emulator, &watched.url, &attacker) {
            count += 1;
            let outcome = raw_get(&server.base, &row.headers).await;
            if !row.expect.http_matches(&outcome) {
                failures.push(format!(
                    "{adapter:?} / {}: got {outcome:?}, expected {:?}",
                    row.name, row.expect
                ));
            }
        }
    }
    assert!(count > 150, "{count} rows ran");
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(watched.contacts().await, [], "a header URL was followed");
}

/// What one gRPC call came to.
#[derive(Debug, Clone, PartialEq)]
enum GrpcOutcome {
    /// The client refused to put a value into the metadata (not valid for HTTP/2).
    Unsendable,
    /// The call's answer: the user id, or the status code and its message (then the source
    /// chain of the status, each after a " / ").
    Answer(Result<String, (tonic::Code, String)>),
    /// The channel could not connect.
    ConnectFailed(String),
    /// No answer within [`EXCHANGE_LIMIT`].
    TimedOut,
}

impl Expect {
    fn grpc_matches(self, outcome: &GrpcOutcome) -> bool {
        use tonic::Code;
        match (self, outcome) {
            (Self::User, GrpcOutcome::Answer(Ok(user))) => user == USER_ID,
            (Self::Refused(code), GrpcOutcome::Answer(Err((Code::Unauthenticated, message)))) => {
                message == code
            }
            (Self::Parser(_, Grpc::Unsendable), GrpcOutcome::Unsendable) => true,
            (
                Self::Parser(_, Grpc::GoAway(data)),
                GrpcOutcome::Answer(Err((Code::ResourceExhausted, message))),
            ) => message.ends_with(&format!(
                " / connection error received: detected excessive load generating behavior (b{data:?})"
            )),
            _ => false,
        }
    }
}

/// Calls the tonic service's `WhoAmI` on a new connection with these header lines as metadata,
/// their values trimmed of spaces and tabs as an HTTP/1 parser trims them.
async fn grpc_get(base: &str, headers: &[String]) -> GrpcOutcome {
    use example_tonic::{WhoAmIRequest, who_am_i_client::WhoAmIClient};
    use tonic::metadata::{AsciiMetadataKey, MetadataValue};

    let mut request = tonic::Request::new(WhoAmIRequest {});
    for line in headers {
        let (name, value) = line.split_once(':').expect("a header line of the table");
        let name = AsciiMetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
            .expect("a header name of the table");
        let Ok(value) = MetadataValue::try_from(value.trim_matches([' ', '\t'])) else {
            return GrpcOutcome::Unsendable;
        };
        request.metadata_mut().append(name, value);
    }
    let exchange = async {
        let channel = match tonic::transport::Endpoint::from_shared(base.to_owned())
            .unwrap()
            .connect()
            .await
        {
            Ok(channel) => channel,
            Err(err) => return GrpcOutcome::ConnectFailed(err.to_string()),
        };
        let answer = WhoAmIClient::new(channel).who_am_i(request).await;
        GrpcOutcome::Answer(
            answer
                .map(|reply| reply.into_inner().user_id)
                .map_err(|status| {
                    let mut chain = status.message().to_owned();
                    let mut source = std::error::Error::source(&status);
                    while let Some(err) = source {
                        chain.push_str(&format!(" / {err}"));
                        source = err.source();
                    }
                    (status.code(), chain)
                }),
        )
    };
    tokio::time::timeout(EXCHANGE_LIMIT, exchange)
        .await
        .unwrap_or(GrpcOutcome::TimedOut)
}

#[tokio::test]
async fn hostile_requests_are_refused_by_the_tonic_service() {
    let watched = Watched::start().await;
    let attacker = SigningKey::generate().unwrap();
    let server = start_tonic(fast).await.unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for row in rows(&server.emulator, &watched.url, &attacker) {
        count += 1;
        let outcome = grpc_get(&server.base, &row.headers).await;
        if !row.expect.grpc_matches(&outcome) {
            failures.push(format!(
                "tonic / {}: got {outcome:?}, expected {:?}",
                row.name, row.expect
            ));
        }
    }
    assert!(count > 50, "{count} rows ran");
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(watched.contacts().await, [], "a header URL was followed");
}

/// Test-friendly settings, and key sets that may go stale at once (with `no-cache` from the
/// emulator), so refreshes happen during the test.
fn stale_keys(builder: passage_core::PassageBuilder) -> passage_core::PassageBuilder {
    fast(builder).jwks_ttl_bounds(Duration::ZERO, Duration::from_secs(60))
}

async fn me(server: &Running, token: &str) -> u16 {
    server
        .get("/me", &[("authorization", format!("Bearer {token}"))])
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// With a JWKS that never answers, a request is refused with 503 once the configured fetch
/// timeout (300 ms) runs out — not after the 2 s of the `fast` settings it replaces, nor the 5 s
/// default — and the rest of the app answers meanwhile. The bound is the 2 s a client ignoring
/// the setting would wait at least: more than six times the configured timeout, so a loaded
/// machine does not fail it, and a hang fails it instead of the CI job.
#[tokio::test]
async fn a_hanging_jwks_is_503_in_time_and_the_app_still_answers() {
    let timeout = Duration::from_millis(300);
    let ignored = Duration::from_secs(2);
    for adapter in Adapter::ALL {
        let server = start(adapter, |b| fast(b).jwks_fetch_timeout(timeout))
            .await
            .unwrap();
        server.emulator.set_fault(Target::Jwks, Fault::Hang);
        let token = server.emulator.mint_token(USER_ID).unwrap();
        let authorization = [("authorization", format!("Bearer {token}"))];
        let started = std::time::Instant::now();
        let answers = tokio::time::timeout(ignored, async {
            tokio::join!(
                server.get("/me", &authorization),
                server.get("/healthz", &[])
            )
        })
        .await;
        let elapsed = started.elapsed();
        let Ok((me, health)) = answers else {
            panic!(
                "{adapter:?}: no answer within {ignored:?}: the {timeout:?} fetch timeout was not applied"
            );
        };
        let (me, health) = (me.unwrap(), health.unwrap());
        assert_eq!(
            (me.status().as_u16(), health.status().as_u16()),
            (503, 200),
            "{adapter:?}"
        );
        assert!(me.headers().contains_key("retry-after"), "{adapter:?}");
        let body: Value = serde_json::from_slice(&me.bytes().await.unwrap()).unwrap();
        assert_eq!(body["code"], "keys_unavailable", "{adapter:?}");
        assert!(
            elapsed >= timeout,
            "{adapter:?}: 503 after {elapsed:?}, before the fetch could time out"
        );
    }
}

#[tokio::test]
async fn cached_keys_serve_through_garbage_and_outages_after_warm_up() {
    for adapter in Adapter::ALL {
        let server = start(adapter, |b| stale_keys(b).token_cache_capacity(0))
            .await
            .unwrap();
        server.emulator.set_jwks_cache_control("no-cache");
        let token = server.emulator.mint_token(USER_ID).unwrap();
        assert_eq!(me(&server, &token).await, 200);
        for fault in [Fault::Garbage, Fault::Unavailable, Fault::Close] {
            server.emulator.set_fault(Target::Jwks, fault);
            let hits = server.emulator.jwks_hits();
            for _ in 0..3 {
                assert_eq!(me(&server, &token).await, 200, "{adapter:?} {fault:?}");
                tokio::time::sleep(Duration::from_millis(120)).await; // past the backoff
            }
            assert!(
                server.emulator.jwks_hits() > hits,
                "{adapter:?} {fault:?}: refreshes were attempted"
            );
        }
    }
}

#[tokio::test]
async fn rotation_is_accepted_and_removal_is_enforced_even_for_cached_tokens() {
    for adapter in Adapter::ALL {
        let server = start(adapter, stale_keys).await.unwrap();
        server.emulator.set_jwks_cache_control("no-cache");
        let old_kid = server.emulator.current_key().kid().to_owned();
        let old = server.emulator.mint_token(USER_ID).unwrap();
        assert_eq!(me(&server, &old).await, 200);
        assert_eq!(
            me(&server, &old).await,
            200,
            "now in the verified-token cache"
        );
        tokio::time::sleep(Duration::from_millis(250)).await; // past the refetch cooldown
        server.emulator.rotate_key().unwrap();
        let new = server.emulator.mint_token(USER_ID).unwrap();
        assert_eq!(
            me(&server, &new).await,
            200,
            "{adapter:?}: new kid accepted on first use"
        );
        server.emulator.retire_key(&old_kid);
        // The stale set refreshes in the background; wait until the removal is seen.
        let mut status = 200;
        for _ in 0..50 {
            status = me(&server, &old).await;
            if status == 401 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            status, 401,
            "{adapter:?}: a token under a removed key is refused"
        );
        assert_eq!(me(&server, &new).await, 200);
    }
}

#[tokio::test]
async fn unknown_kid_floods_cause_bounded_fetches() {
    for adapter in Adapter::ALL {
        let server = start(adapter, |b| {
            fast(b).jwks_refetch_cooldown(Duration::from_secs(60))
        })
        .await
        .unwrap();
        assert_eq!(
            me(&server, &server.emulator.mint_token(USER_ID).unwrap()).await,
            200
        );
        let tokens: Vec<String> = (0..100)
            .map(|i| {
                server
                    .emulator
                    .token(USER_ID)
                    .kid(&format!("flood-{i}"))
                    .sign()
                    .unwrap()
            })
            .collect();
        let statuses = futures_util::future::join_all(tokens.iter().map(|t| me(&server, t))).await;
        assert!(statuses.iter().all(|s| *s == 401), "{adapter:?}");
        assert_eq!(
            server.emulator.jwks_hits(),
            2,
            "{adapter:?}: one fetch for the whole flood (the cooldown)"
        );
    }
}
