//! What the server reports to an operator, through the [`metrics`](https://docs.rs/metrics)
//! facade: every number is emitted here, one function per event, and nowhere else.
//!
//! Nothing is recorded until the process installs a recorder: the `passage-server` binary
//! installs the Prometheus one and answers `GET /metrics` on the Management listener with it; an
//! application embedding a [`Server`](crate::Server) installs its own and hands its renderer to
//! [`ServerBuilder::metrics`](crate::ServerBuilder::metrics). **No label holds an identifier, a
//! user id or anything else a caller chooses**: every label value comes from a fixed set (the
//! error codes are the API's own `&'static str`s).
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `passage_server_ceremonies_total` | counter | `kind` (see [`ceremony_kind`]), `outcome`: `ok` or the refusal's `code` (`invalid_webauthn_response`, `too_many_requests`, …) |
//! | `passage_server_ceremony_duration_seconds` | histogram | `kind` |
//! | `passage_server_messages_total` | counter | `channel`: `email`; `result`: `sent`, `failed` |
//! | `passage_server_store_errors_total` | counter | `api`: `authentication`, `management`, `upkeep` |
//! | `passage_server_handshakes` | gauge | (ceremonies started and not yet finished or expired, as the last upkeep counted them) |

use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

const CEREMONIES: &str = "passage_server_ceremonies_total";
const CEREMONY_DURATION: &str = "passage_server_ceremony_duration_seconds";
const MESSAGES: &str = "passage_server_messages_total";
const STORE_ERRORS: &str = "passage_server_store_errors_total";
const HANDSHAKES: &str = "passage_server_handshakes";

/// The name of the ceremony-latency histogram, to give it buckets in the exporter.
pub const CEREMONY_DURATION_METRIC: &str = CEREMONY_DURATION;

/// Registers every metric's description and unit with the installed recorder (Prometheus
/// `# HELP` lines). Call it once, after installing the recorder.
///
/// ```
/// // With metrics-exporter-prometheus:
/// // let handle = PrometheusBuilder::new().install_recorder()?;
/// passage_server::metrics::describe();
/// ```
pub fn describe() {
    describe_counter!(
        CEREMONIES,
        Unit::Count,
        "Authentication API ceremonies answered, by kind and outcome (ok, or the refusal's code)."
    );
    describe_histogram!(
        CEREMONY_DURATION,
        Unit::Seconds,
        "How long the server took to answer a ceremony, by kind."
    );
    describe_counter!(
        MESSAGES,
        Unit::Count,
        "Magic links and codes handed to the mail server or the SMS webhook (sent) or refused by it (failed), by channel (email, sms)."
    );
    describe_counter!(
        STORE_ERRORS,
        Unit::Count,
        "Store operations that failed (the database, not a rule), by the API that asked."
    );
    describe_gauge!(
        HANDSHAKES,
        Unit::Count,
        "WebAuthn ceremonies started and neither finished nor expired."
    );
}

/// The `kind` label of an Authentication API route (the path after `/v1/apps/{app_id}`), or
/// `None` for a route that is not a ceremony (the app, the JWKS, the user lookup, assets).
#[must_use]
pub fn ceremony_kind(method: &axum::http::Method, route: &str) -> Option<&'static str> {
    let kind = match (method.as_str(), route) {
        ("POST", "/register/webauthn/start") => "register_passkey_start",
        ("POST", "/register/webauthn/finish") => "register_passkey_finish",
        ("POST", "/login/webauthn/start") => "login_passkey_start",
        ("POST", "/login/webauthn/finish") => "login_passkey_finish",
        ("POST", "/currentuser/devices/start") => "add_passkey_start",
        ("POST", "/currentuser/devices/finish") => "add_passkey_finish",
        ("POST", "/login/magic-link" | "/register/magic-link") => "magic_link_send",
        ("PATCH", "/magic-link/activate") => "magic_link_activate",
        ("POST", "/login/otp" | "/register/otp") => "otp_send",
        ("POST", "/otp/activate") => "otp_activate",
        ("POST", "/tokens") => "refresh",
        ("DELETE", "/tokens") => "sign_out",
        ("DELETE", "/currentuser/devices/{device_id}") => "revoke_passkey",
        ("PATCH", "/currentuser/devices/{device_id}") => "rename_passkey",
        ("PATCH", "/currentuser/email" | "/currentuser/phone") => "change_identifier",
        ("PATCH", "/currentuser/user-metadata") => "change_metadata",
        _ => return None,
    };
    Some(kind)
}

/// A ceremony was answered: `outcome` is `ok` or the refusal's code.
#[cfg_attr(not(feature = "authentication"), allow(dead_code))] // called by the Authentication API
pub(crate) fn ceremony(kind: &'static str, outcome: &'static str, took: Duration) {
    counter!(CEREMONIES, "kind" => kind, "outcome" => outcome).increment(1);
    histogram!(CEREMONY_DURATION, "kind" => kind).record(took.as_secs_f64());
}

/// A message was handed to the mail server, or refused.
#[cfg_attr(not(feature = "authentication"), allow(dead_code))] // called by the Authentication API
pub(crate) fn message(channel: &'static str, sent: bool) {
    let result = if sent { "sent" } else { "failed" };
    counter!(MESSAGES, "channel" => channel, "result" => result).increment(1);
}

/// A store operation failed, on behalf of `api`.
pub(crate) fn store_error(api: &'static str) {
    counter!(STORE_ERRORS, "api" => api).increment(1);
}

/// How many handshakes the store holds.
#[cfg_attr(not(feature = "authentication"), allow(dead_code))] // called by the Authentication API
pub(crate) fn handshakes(held: u64) {
    #[allow(clippy::cast_precision_loss)] // a count far below 2^52
    gauge!(HANDSHAKES).set(held as f64);
}
