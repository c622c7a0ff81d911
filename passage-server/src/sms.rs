//! Text messages (SMS): sign-in codes and links to phone numbers, through a webhook the
//! operator points at their SMS provider (or at a small relay of their own), or — in
//! development mode — into the development mailbox.
//!
//! **The webhook.** Each message is one `POST` of a JSON body
//! `{"id", "type", "to", "text", "language", "app_id", "code"?, "link"?}` with the headers
//! `Passage-Webhook-Id: <id>` and `Passage-Signature: t=<unix seconds>,v1=<hex>`, where `<hex>`
//! is HMAC-SHA256 under the shared secret of `<t>.<body>` (the timestamp, a dot, and the body's
//! exact bytes). A receiver recomputes it, compares in constant time and refuses a timestamp
//! more than a few minutes old (a replayed request). A 2xx answer means delivered; connection
//! failures, timeouts, 429 and 5xx are retried with exponential backoff (each attempt signed
//! anew, with the same id, so a receiver can drop duplicates); other answers are final.
//! The secret never appears in `Debug`, logs or errors.

use std::time::Duration;

use aws_lc_rs::hmac;

use crate::mail::{Mail, Mailbox};

/// Where text messages go: an HTTPS endpoint of the operator's, and the secret that signs
/// every request to it.
#[derive(Clone)]
#[non_exhaustive]
pub struct SmsWebhook {
    /// The URL each message is posted to: `https://`, or `http://` to this machine only (codes
    /// and links travel in the body).
    pub url: String,
    /// The shared secret of the `Passage-Signature` header (at least 16 bytes; never printed).
    pub secret: String,
    /// How long one attempt may take (default 5 s).
    pub timeout: Duration,
    /// How many times a failed attempt is retried (default 3).
    pub retries: u32,
    /// The wait before the first retry, doubled before each next one (default 500 ms).
    pub backoff: Duration,
}

impl SmsWebhook {
    /// A webhook at `url`, signed with `secret`, with the default timeout, retries and backoff.
    #[must_use]
    pub fn new(url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            secret: secret.into(),
            timeout: Duration::from_secs(5),
            retries: 3,
            backoff: Duration::from_millis(500),
        }
    }

    /// Sets the time one attempt may take.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets how many times a failed attempt is retried.
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Sets the wait before the first retry (doubled before each next one).
    #[must_use]
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }
}

impl std::fmt::Debug for SmsWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Neither the secret nor the URL (which may carry a token of the provider's) prints.
        f.debug_struct("SmsWebhook")
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

/// The signature header's value for `body` sent at `timestamp` (unix seconds).
#[must_use]
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    let tag = context.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// What a text message is for (the webhook body's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Code,
    Link,
    Notice,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Code => "one_time_passcode",
            Self::Link => "magic_link",
            Self::Notice => "notice",
        }
    }
}

/// How this server sends text messages.
#[derive(Debug)]
pub(crate) enum Texter {
    Webhook {
        settings: SmsWebhook,
        http: reqwest::Client,
        app_id: String,
        sent: Mailbox,
    },
    /// Development: into the mailbox (`/__passage/mailbox`), printed.
    Mailbox(Mailbox),
    /// No way to send: phone numbers get no codes or links.
    None,
}

/// Why a webhook could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error("the SMS webhook secret must be at least 16 bytes")]
    ShortSecret,
    #[error(
        "the SMS webhook URL must be https:// (plain http:// only to this machine: 127.0.0.1, ::1, localhost)"
    )]
    Url,
    #[error("the SMS webhook's HTTP client cannot be built: {0}")]
    Client(String),
}

impl Texter {
    /// The webhook when configured; else the development mailbox (development mode), or none.
    pub(crate) fn new(
        webhook: Option<SmsWebhook>,
        development: bool,
        mailbox: &Mailbox,
        app_id: &str,
    ) -> Result<Self, SetupError> {
        let Some(settings) = webhook else {
            return Ok(if development {
                Self::Mailbox(mailbox.clone())
            } else {
                Self::None
            });
        };
        if settings.secret.len() < 16 {
            return Err(SetupError::ShortSecret);
        }
        // Codes and links travel in the body: never in the clear across a network.
        let url = url::Url::parse(&settings.url).map_err(|_| SetupError::Url)?;
        let local = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        if !(url.scheme() == "https" || (url.scheme() == "http" && local)) {
            return Err(SetupError::Url);
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("passage-server/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| SetupError::Client(err.to_string()))?;
        Ok(Self::Webhook {
            settings,
            http,
            app_id: app_id.to_owned(),
            sent: mailbox.clone(),
        })
    }

    /// Whether text messages can be sent.
    pub(crate) fn delivers(&self) -> bool {
        !matches!(self, Self::None)
    }

    /// Sends `mail` (its `to` a phone number) as a text message in `language`.
    pub(crate) async fn send(
        &self,
        mail: Mail,
        purpose: Purpose,
        language: &str,
    ) -> Result<(), String> {
        match self {
            Self::Webhook {
                settings,
                http,
                app_id,
                sent,
            } => {
                let result = post(settings, http, app_id, &mail, purpose, language).await;
                crate::metrics::message("sms", result.is_ok());
                result?;
                tracing::info!(to = %mail.to, "passage-server: text message handed to the SMS webhook");
                sent.push(mail);
                Ok(())
            }
            Self::Mailbox(mailbox) => {
                // Development mode only: the link or code is printed on purpose.
                tracing::info!(to = %mail.to, link = %mail.link, code = %mail.code, "passage-server: text message (development mailbox)");
                crate::metrics::message("sms", true);
                mailbox.push(mail);
                Ok(())
            }
            Self::None => Err("no SMS webhook is configured".into()),
        }
    }
}

/// Posts one message to the webhook, retrying what may succeed later.
async fn post(
    settings: &SmsWebhook,
    http: &reqwest::Client,
    app_id: &str,
    mail: &Mail,
    purpose: Purpose,
    language: &str,
) -> Result<(), String> {
    let id = crate::ids::random_id();
    let mut body = serde_json::json!({
        "id": id,
        "type": purpose.as_str(),
        "to": mail.to,
        "text": mail.text,
        "language": language,
        "app_id": app_id,
    });
    if !mail.code.is_empty() {
        body["code"] = mail.code.clone().into();
    }
    if !mail.link.is_empty() {
        body["link"] = mail.link.clone().into();
    }
    let body = body.to_string();
    let mut wait = settings.backoff;
    let mut last = String::new();
    for attempt in 0..=settings.retries {
        if attempt > 0 {
            // Full jitter: somewhere up to the doubled wait, so replicas do not retry in step.
            let jittered = wait.mul_f64(0.5 + fastrand::f64() / 2.0);
            tokio::time::sleep(jittered).await;
            wait = wait.saturating_mul(2);
        }
        let timestamp = crate::store::now().unix_timestamp();
        let sent = http
            .post(&settings.url)
            .header("content-type", "application/json")
            .header("passage-webhook-id", &id)
            .header(
                "passage-signature",
                signature(settings.secret.as_bytes(), timestamp, body.as_bytes()),
            )
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                last = format!("the SMS webhook answered {status}");
                let again = status.is_server_error() || status.as_u16() == 429;
                tracing::warn!(attempt, %status, retry = again, "passage-server: the SMS webhook refused a message");
                if !again {
                    break;
                }
            }
            Err(err) => {
                // reqwest's error names the URL; the URL may carry a token, so only the kind.
                last = if err.is_timeout() {
                    "the SMS webhook did not answer in time".to_owned()
                } else {
                    "the SMS webhook could not be reached".to_owned()
                };
                tracing::warn!(attempt, cause = %last, "passage-server: a text message failed");
            }
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_time_and_body() {
        let one = signature(b"0123456789abcdef", 1_700_000_000, b"{}");
        assert!(one.starts_with("t=1700000000,v1="));
        assert_eq!(one.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(one, signature(b"0123456789abcdef", 1_700_000_001, b"{}"));
        assert_ne!(one, signature(b"0123456789abcdef", 1_700_000_000, b"{ }"));
        assert_ne!(one, signature(b"0123456789abcdeF", 1_700_000_000, b"{}"));
    }
}
