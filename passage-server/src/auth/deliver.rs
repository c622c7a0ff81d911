//! What the server sends to an address — a sign-in link, a one-time passcode, a notice that an
//! identifier changed — written in the user's language when a template exists (English
//! otherwise), and sent the way the address takes: mail for an email address, a text message
//! for a phone number.

use axum::http::StatusCode;

use super::{AuthApiError, Shared, templates};
use crate::{identifier::Identifier, mail::Mail, sms::Purpose};

/// A message to send.
pub(crate) enum Message<'a> {
    /// A sign-in link (or, for `verify`, a link that confirms a new address).
    Link { url: &'a str, verify: bool },
    /// A one-time passcode, valid for `minutes`.
    Code { code: &'a str, minutes: i64 },
    /// To the old address: the account's identifier changed to `new`.
    Changed { new: &'a str },
}

/// Whether the server can send anything to `identifier` (mail set up for an email address, a
/// webhook or the development mailbox for a phone number).
pub(crate) fn reaches(state: &Shared, identifier: &Identifier) -> bool {
    match identifier {
        Identifier::Email(_) => state.mailer.delivers(),
        Identifier::Phone(_) => state.texter.delivers(),
    }
}

/// Sends `message` to `identifier` in `language`; a failure is logged and answered 502 with
/// `code` (the cause never reaches the client).
pub(crate) async fn send(
    state: &Shared,
    identifier: &Identifier,
    language: Option<&str>,
    message: Message<'_>,
    code: &'static str,
) -> Result<(), AuthApiError> {
    let app = &state.settings.app_name;
    let texts = templates::messages(&state.locales, language);
    let sms = !identifier.is_email();
    let (mail, purpose) = match message {
        Message::Link { url, verify } => {
            let (subject, text) = if verify {
                (texts.verify_subject(app), texts.verify_body(app, url, sms))
            } else {
                (texts.link_subject(app), texts.link_body(app, url, sms))
            };
            let mail = Mail {
                to: identifier.as_str().to_owned(),
                subject,
                link: url.to_owned(),
                code: String::new(),
                text,
            };
            (mail, Purpose::Link)
        }
        Message::Code { code, minutes } => {
            let mail = Mail {
                to: identifier.as_str().to_owned(),
                subject: texts.code_subject(app),
                link: String::new(),
                code: code.to_owned(),
                text: texts.code_body(app, code, minutes, sms),
            };
            (mail, Purpose::Code)
        }
        Message::Changed { new } => {
            let mail = Mail {
                to: identifier.as_str().to_owned(),
                subject: texts.changed_subject(app),
                link: String::new(),
                code: String::new(),
                text: texts.changed_body(app, new, sms),
            };
            (mail, Purpose::Notice)
        }
    };
    let sent = match identifier {
        Identifier::Email(_) => state.mailer.send(mail).await,
        Identifier::Phone(_) => {
            // A text message has no subject: its body is all the phone shows.
            state.texter.send(mail, purpose, texts.language()).await
        }
    };
    sent.map_err(|cause| {
        tracing::error!(cause = %cause, "passage-server: a message could not be sent");
        AuthApiError::new(
            StatusCode::BAD_GATEWAY,
            code,
            "the message could not be sent; try again later",
        )
    })
}
