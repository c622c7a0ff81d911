//! Finding the token in a request: the `Authorization: Bearer` header, then the
//! `psg_auth_token` cookie. Plain inputs (header value bytes), so every adapter — http 1 or
//! actix's http 0.2 — makes the same decision.

use cookie::Cookie;

use super::error::{AuthError, Malformed};

/// The cookie Passage's front-end elements set.
pub const AUTH_COOKIE: &str = "psg_auth_token";

/// The default limit on a token's length, in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// Where to look for the token.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer` first; the `psg_auth_token` cookie only when there is no
    /// `Authorization` header at all. A present header that fails never falls back.
    #[default]
    HeaderThenCookie,
    /// Only the `Authorization: Bearer` header.
    Header,
    /// Only the `psg_auth_token` cookie.
    Cookie,
}

impl TokenSource {
    fn header(self) -> bool {
        matches!(self, Self::HeaderThenCookie | Self::Header)
    }

    fn cookie(self) -> bool {
        matches!(self, Self::HeaderThenCookie | Self::Cookie)
    }
}

/// Finds the token among a request's `Authorization` and `Cookie` header values.
///
/// Checks size and characters before anything else; the returned token has only base64url
/// characters and dots and is at most `max_len` bytes.
///
/// ```
/// use passage_core::{TokenSource, DEFAULT_MAX_TOKEN_LEN, __private::find_token};
///
/// let token = find_token(
///     TokenSource::default(),
///     DEFAULT_MAX_TOKEN_LEN,
///     [b"bearer abc.def.ghi".as_slice()],
///     [],
/// );
/// assert_eq!(token.unwrap(), "abc.def.ghi");
///
/// let from_cookie = find_token(
///     TokenSource::default(),
///     DEFAULT_MAX_TOKEN_LEN,
///     [],
///     [b"theme=dark; psg_auth_token=abc.def.ghi".as_slice()],
/// );
/// assert_eq!(from_cookie.unwrap(), "abc.def.ghi");
/// ```
///
/// # Errors
/// [`AuthError::MissingToken`] when no credential is present where `source` looks;
/// [`AuthError::Malformed`] when one is present but unusable.
pub fn find_token<'a, A, C>(
    source: TokenSource,
    max_len: usize,
    authorization: A,
    cookies: C,
) -> Result<&'a str, AuthError>
where
    A: IntoIterator<Item = &'a [u8]>,
    C: IntoIterator<Item = &'a [u8]>,
{
    let token = locate_token(source, max_len, authorization, cookies)?.to_str()?;
    check_token_shape(token, max_len)?;
    Ok(token)
}

/// A credential as found in the request, before its characters are checked.
///
/// Validation looks it up in the verified-token cache as raw bytes first: a hit compares every
/// byte with a token that passed every check, so the hot path needs no UTF-8 or character scan;
/// a miss checks the characters ([`to_str`](Self::to_str), then [`check_token_shape`]) before
/// any parsing.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawToken<'a> {
    bytes: &'a [u8],
    /// From an `Authorization` header, whose bytes beyond ASCII are a header-encoding error.
    in_header: bool,
}

impl<'a> RawToken<'a> {
    /// A token given as text (by a caller of `validate_jwt`, or from a cookie).
    pub(crate) fn text(token: &'a str) -> Self {
        Self {
            bytes: token.as_bytes(),
            in_header: false,
        }
    }

    pub(crate) fn as_bytes(self) -> &'a [u8] {
        self.bytes
    }

    /// The token as text; its characters are then checked by [`check_token_shape`].
    ///
    /// # Errors
    /// [`Malformed::HeaderEncoding`] for header bytes outside ASCII.
    pub(crate) fn to_str(self) -> Result<&'a str, AuthError> {
        match std::str::from_utf8(self.bytes) {
            Ok(text) if !self.in_header || text.is_ascii() => Ok(text),
            _ => Err(malformed(Malformed::HeaderEncoding)),
        }
    }
}

/// [`find_token`] without the character check, for callers that validate next.
pub(crate) fn locate_token<'a, A, C>(
    source: TokenSource,
    max_len: usize,
    authorization: A,
    cookies: C,
) -> Result<RawToken<'a>, AuthError>
where
    A: IntoIterator<Item = &'a [u8]>,
    C: IntoIterator<Item = &'a [u8]>,
{
    if source.header() {
        let mut headers = authorization.into_iter();
        if let Some(value) = headers.next() {
            if headers.next().is_some() {
                return Err(malformed(Malformed::MultipleAuthorizationHeaders));
            }
            return parse_bearer(value, max_len).map(|bytes| RawToken {
                bytes,
                in_header: true,
            });
        }
    }
    if source.cookie()
        && let Some(token) = find_cookie(cookies)?
    {
        if token.len() > max_len {
            return Err(malformed(Malformed::TooLong));
        }
        return Ok(RawToken::text(token));
    }
    Err(AuthError::MissingToken)
}

/// Parses `Bearer <token>` (scheme case-insensitive, RFC 6750 §2.1), over bytes: the token's
/// characters are checked later, and only on a cache miss.
fn parse_bearer(value: &[u8], max_len: usize) -> Result<&[u8], AuthError> {
    // "Bearer " plus the token plus a little white space; anything longer is refused unread.
    if value.len() > max_len.saturating_add(16) {
        return Err(malformed(Malformed::TooLong));
    }
    let value = trim_start_ows(trim_end_ows(value));
    let space = value
        .iter()
        .position(|&b| is_ows(b))
        .ok_or(malformed(Malformed::NotBearer))?;
    let (scheme, rest) = value.split_at(space);
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(malformed(Malformed::NotBearer));
    }
    let token = trim_start_ows(rest);
    if token.is_empty() {
        return Err(malformed(Malformed::Empty));
    }
    Ok(token)
}

/// HTTP's optional white space: space and horizontal tab.
fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_start_ows(mut value: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = value
        && is_ows(*first)
    {
        value = rest;
    }
    value
}

fn trim_end_ows(mut value: &[u8]) -> &[u8] {
    while let [rest @ .., last] = value
        && is_ows(*last)
    {
        value = rest;
    }
    value
}

/// Finds `psg_auth_token` among any number of `Cookie` headers.
///
/// Cookies of other names that do not parse are skipped (they are not ours to judge). Several
/// `psg_auth_token` cookies with one value are fine; with different values the request is
/// ambiguous and refused.
fn find_cookie<'a, C>(cookies: C) -> Result<Option<&'a str>, AuthError>
where
    C: IntoIterator<Item = &'a [u8]>,
{
    let mut found: Option<&'a str> = None;
    for header in cookies {
        let Ok(header) = std::str::from_utf8(header) else {
            tracing::trace!("skipping a Cookie header that is not UTF-8");
            continue;
        };
        if !header.contains(AUTH_COOKIE) {
            continue;
        }
        for cookie in Cookie::split_parse(header).flatten() {
            if cookie.name() != AUTH_COOKIE {
                continue;
            }
            // Parsed from a borrowed string, so the raw value is always there.
            let Some(value) = cookie.value_raw().map(strip_quotes) else {
                continue;
            };
            match found {
                Some(previous) if previous != value => {
                    return Err(malformed(Malformed::ConflictingCookies));
                }
                _ => found = Some(value),
            }
        }
    }
    Ok(found)
}

/// Strips the optional surrounding double quotes of an RFC 6265 cookie value.
fn strip_quotes(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Size and character checks done before any parsing: non-empty, at most `max_len` bytes, only
/// base64url characters and `.`.
///
/// # Errors
/// [`AuthError::Malformed`] with [`Malformed::Empty`], [`Malformed::TooLong`] or
/// [`Malformed::Characters`].
pub fn check_token_shape(token: &str, max_len: usize) -> Result<(), AuthError> {
    if token.is_empty() {
        return Err(malformed(Malformed::Empty));
    }
    if token.len() > max_len {
        return Err(malformed(Malformed::TooLong));
    }
    // Branchless over every byte (no early exit), so the loop vectorizes: tokens are ~1 KB
    // and this runs on every request.
    if !token.bytes().fold(true, |ok, b| ok & is_token_byte(b)) {
        return Err(malformed(Malformed::Characters));
    }
    Ok(())
}

/// `A-Z a-z 0-9 - _ .`
#[inline]
fn is_token_byte(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter | digit | (b == b'-') | (b == b'_') | (b == b'.')
}

fn malformed(reason: Malformed) -> AuthError {
    AuthError::Malformed(reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = DEFAULT_MAX_TOKEN_LEN;

    fn find(
        source: TokenSource,
        auth: &[&'static str],
        cookies: &[&'static str],
    ) -> Result<&'static str, AuthError> {
        find_token(
            source,
            MAX,
            auth.iter().map(|s| s.as_bytes()),
            cookies.iter().map(|s| s.as_bytes()),
        )
    }

    fn reason(result: Result<&str, AuthError>) -> Malformed {
        match result {
            Err(AuthError::Malformed(m)) => m,
            other => panic!("expected malformed, got {other:?}"),
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for header in [
            "Bearer a.b.c",
            "bearer a.b.c",
            "BEARER   a.b.c  ",
            "BeArEr\ta.b.c",
        ] {
            assert_eq!(
                find(TokenSource::default(), &[header], &[]).ok(),
                Some("a.b.c")
            );
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_malformed() {
        let d = TokenSource::default();
        assert_eq!(
            reason(find(d, &["Basic dXNlcjpwdw=="], &[])),
            Malformed::NotBearer
        );
        assert_eq!(reason(find(d, &["Bearer"], &[])), Malformed::NotBearer);
        assert_eq!(reason(find(d, &["Bearer    "], &[])), Malformed::NotBearer);
        assert_eq!(
            reason(find(d, &["Bearerx a.b.c"], &[])),
            Malformed::NotBearer
        );
        assert_eq!(
            reason(find(d, &["Bearer a.b c"], &[])),
            Malformed::Characters
        );
        assert_eq!(
            reason(find(d, &["Bearer a.b.c\u{7f}"], &[])),
            Malformed::Characters
        );
        assert_eq!(
            reason(find(d, &["Bearer a.b.c\u{e9}"], &[])),
            Malformed::HeaderEncoding
        );
        assert_eq!(
            reason(find(d, &["Bearer a.b\u{0}.c"], &[])),
            Malformed::Characters
        );
        assert_eq!(
            reason(find(d, &["Bearer a+b/c="], &[])),
            Malformed::Characters
        );
    }

    #[test]
    fn present_bad_header_never_falls_back_to_cookie() {
        let result = find(
            TokenSource::default(),
            &["Bearer"],
            &["psg_auth_token=a.b.c"],
        );
        assert_eq!(reason(result), Malformed::NotBearer);
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let result = find(
            TokenSource::default(),
            &["Bearer a.b.c", "Bearer a.b.c"],
            &[],
        );
        assert_eq!(reason(result), Malformed::MultipleAuthorizationHeaders);
    }

    #[test]
    fn cookie_found_among_several_headers_and_cookies() {
        let cookies = ["theme=dark; lang=en", "x=1; psg_auth_token=a.b.c; y=2"];
        assert_eq!(
            find(TokenSource::default(), &[], &cookies).ok(),
            Some("a.b.c")
        );
        let quoted = ["psg_auth_token=\"a.b.c\""];
        assert_eq!(
            find(TokenSource::default(), &[], &quoted).ok(),
            Some("a.b.c")
        );
        let prefix = ["xpsg_auth_token=z.z.z; psg_auth_token_2=q.q.q"];
        assert!(
            find(TokenSource::default(), &[], &prefix)
                .unwrap_err()
                .is_missing_token()
        );
    }

    #[test]
    fn duplicate_cookies_agree_or_are_refused() {
        let same = ["psg_auth_token=a.b.c", "psg_auth_token=a.b.c"];
        assert_eq!(find(TokenSource::default(), &[], &same).ok(), Some("a.b.c"));
        let different = ["psg_auth_token=a.b.c; psg_auth_token=d.e.f"];
        assert_eq!(
            reason(find(TokenSource::default(), &[], &different)),
            Malformed::ConflictingCookies
        );
    }

    #[test]
    fn strategies_look_only_where_told() {
        let auth = ["Bearer h.h.h"];
        let cookie = ["psg_auth_token=c.c.c"];
        assert_eq!(
            find(TokenSource::Header, &auth, &cookie).ok(),
            Some("h.h.h")
        );
        assert!(
            find(TokenSource::Header, &[], &cookie)
                .unwrap_err()
                .is_missing_token()
        );
        assert_eq!(
            find(TokenSource::Cookie, &auth, &cookie).ok(),
            Some("c.c.c")
        );
        assert!(
            find(TokenSource::Cookie, &auth, &[])
                .unwrap_err()
                .is_missing_token()
        );
    }

    #[test]
    fn oversized_credentials_are_refused_before_parsing() {
        let big = format!("Bearer {}", "a".repeat(MAX + 1));
        let result = find_token(TokenSource::default(), MAX, [big.as_bytes()], []);
        assert!(matches!(
            result,
            Err(AuthError::Malformed(Malformed::TooLong))
        ));
        let cookie = format!("psg_auth_token={}", "a".repeat(MAX + 1));
        let result = find_token(TokenSource::default(), MAX, [], [cookie.as_bytes()]);
        assert!(matches!(
            result,
            Err(AuthError::Malformed(Malformed::TooLong))
        ));
    }

    #[test]
    fn token_bytes_are_exactly_base64url_and_dot() {
        for b in 0..=255u8 {
            let expected = b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
            assert_eq!(is_token_byte(b), expected, "byte {b:#x}");
        }
    }

    #[test]
    fn non_utf8_cookie_headers_are_skipped() {
        let bad: &[u8] = b"\xff\xfe=1";
        let good: &[u8] = b"psg_auth_token=a.b.c";
        let result = find_token(TokenSource::default(), MAX, [], [bad, good]);
        assert_eq!(result.ok(), Some("a.b.c"));
    }
}
