//! Delivering magic links: by SMTP when configured (feature `smtp`), else into a mailbox
//! (development mode: the server exposes it and prints each message; production: magic links
//! are not offered).

use std::sync::{Arc, Mutex};

#[cfg(feature = "smtp")]
use lettre::{
    AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor, message::header::ContentType,
};

#[cfg(feature = "smtp")]
use crate::ServerError;

/// Where to send mail, as an SMTP URL: `smtp://user:pass@host:587?tls=required` (STARTTLS),
/// `smtps://…` (TLS), or `smtp://127.0.0.1:2525` (plain, for a local relay or a test).
#[cfg(feature = "smtp")]
#[derive(Clone)]
pub struct SmtpSettings {
    /// The SMTP URL (holds the password: never printed).
    pub url: String,
    /// The sender, e.g. `Passage <noreply@example.com>`.
    pub from: String,
}

#[cfg(feature = "smtp")]
impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// A message the server sent.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mail {
    /// The recipient.
    pub to: String,
    /// The subject.
    pub subject: String,
    /// The magic link it carries (a credential: never printed by `Debug`).
    pub link: String,
}

impl std::fmt::Debug for Mail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mail")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Messages kept in memory (development mode).
#[derive(Debug, Clone, Default)]
pub(crate) struct Mailbox(Arc<Mutex<Vec<Mail>>>);

impl Mailbox {
    pub(crate) fn messages(&self) -> Vec<Mail> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn push(&self, mail: Mail) {
        let mut messages = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        messages.push(mail);
        // A mailbox for development: the last messages are what matters.
        let excess = messages.len().saturating_sub(100);
        messages.drain(..excess);
    }
}

/// How this server delivers mail.
#[derive(Debug)]
pub(crate) enum Mailer {
    #[cfg(feature = "smtp")]
    Smtp {
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        from: lettre::message::Mailbox,
        sent: Mailbox,
        /// How long one message may take, the conversation included (lettre bounds only the
        /// connection).
        timeout: std::time::Duration,
    },
    /// Development: kept, printed, and served at `/__passage/mailbox`.
    Mailbox(Mailbox),
    /// Production without SMTP: magic links are not offered.
    None(Mailbox),
}

impl Mailer {
    /// The development mailbox, or nothing (production without SMTP).
    #[cfg(not(feature = "smtp"))]
    pub(crate) fn new(development: bool) -> Self {
        if development {
            Self::Mailbox(Mailbox::default())
        } else {
            Self::None(Mailbox::default())
        }
    }

    /// SMTP when configured; else the development mailbox, or nothing (production).
    #[cfg(feature = "smtp")]
    /// A mailer for `smtp`; a mail server that does not answer within `timeout` fails the
    /// message (the request that sends it must be answered in time).
    pub(crate) fn new(
        smtp: Option<SmtpSettings>,
        development: bool,
        timeout: std::time::Duration,
    ) -> Result<Self, ServerError> {
        let Some(smtp) = smtp else {
            return Ok(if development {
                Self::Mailbox(Mailbox::default())
            } else {
                Self::None(Mailbox::default())
            });
        };
        let transport = Box::new(
            AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp.url)
                .map_err(|_| ServerError::Config("the SMTP URL does not parse".into()))?
                .timeout(Some(timeout))
                .build(),
        );
        let from = smtp
            .from
            .parse()
            .map_err(|_| ServerError::Config(format!("{} is not a sender address", smtp.from)))?;
        Ok(Self::Smtp {
            transport,
            from,
            sent: Mailbox::default(),
            timeout,
        })
    }

    /// Whether magic links can be delivered.
    pub(crate) fn delivers(&self) -> bool {
        !matches!(self, Self::None(_))
    }

    pub(crate) fn mailbox(&self) -> Mailbox {
        match self {
            #[cfg(feature = "smtp")]
            Self::Smtp { sent, .. } => sent.clone(),
            Self::Mailbox(sent) | Self::None(sent) => sent.clone(),
        }
    }

    /// Sends a magic link to `to`.
    pub(crate) async fn send_link(
        &self,
        app_name: &str,
        to: &str,
        link: &str,
    ) -> Result<(), String> {
        let subject = format!("Your sign-in link for {app_name}");
        let mail = Mail {
            to: to.to_owned(),
            subject: subject.clone(),
            link: link.to_owned(),
        };
        match self {
            #[cfg(feature = "smtp")]
            Self::Smtp {
                transport,
                from,
                sent,
                timeout,
            } => {
                // A bare address, never a mailbox with a display name: `a <victim@…>` must not
                // reach the victim under another identifier.
                let to_address: lettre::Address =
                    to.parse().map_err(|_| format!("{to} is not an address"))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(lettre::message::Mailbox::new(None, to_address))
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(format!(
                        "Open this link to sign in to {app_name}:\n\n{link}\n\nOpening it signs in the browser you open it in. If you asked for it on another device or browser, that one is not signed in: open the link there, or sign in here.\n\nIt works once, and only for a short while. If you did not ask for it, ignore this message: nobody can sign in without it.\n"
                    ))
                    .map_err(|e| e.to_string())?;
                let sent_now = match tokio::time::timeout(*timeout, transport.send(message)).await {
                    Ok(sent_now) => sent_now.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("the mail server did not answer within {timeout:?}")),
                };
                crate::metrics::message("email", sent_now.is_ok());
                sent_now?;
                tracing::info!(to, "passage-server: magic link sent");
                sent.push(mail);
                Ok(())
            }
            Self::Mailbox(mailbox) => {
                // Development mode only: the link is printed on purpose.
                tracing::info!(to, link, "passage-server: magic link (development mailbox)");
                crate::metrics::message("email", true);
                mailbox.push(mail);
                Ok(())
            }
            Self::None(_) => Err("magic links need SMTP outside development mode".into()),
        }
    }
}
