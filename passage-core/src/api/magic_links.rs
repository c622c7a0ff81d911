//! `passage.magic_links()`: create a magic link by email, phone or user id.

use http::Method;
use serde::{Deserialize, Serialize};

use super::{
    error::ApiError,
    transport::{Call, Transport, json_body},
};
use crate::models::{Channel, Language, MagicLink, MagicLinkType};

/// Magic links; reached through [`Passage::magic_links`](crate::Passage::magic_links).
#[derive(Debug, Clone, Copy)]
pub struct MagicLinks<'a> {
    transport: &'a Transport,
}

/// A magic link to create: to an email, to a phone, or to a user over a channel.
///
/// ```
/// use passage_core::{CreateMagicLink, models::{Channel, Language}};
///
/// let by_email = CreateMagicLink::email("ada@example.com")
///     .language(Language::De)
///     .ttl_minutes(30)
///     .send(true);
/// let by_user = CreateMagicLink::user_id("user-id", Channel::Phone);
/// ```
#[derive(Debug, Clone, Serialize)]
#[must_use]
pub struct CreateMagicLink {
    channel: Option<Channel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    redirect_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    magic_link_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<Language>,
    #[serde(skip_serializing_if = "Option::is_none")]
    send: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<MagicLinkType>,
}

impl CreateMagicLink {
    fn base(channel: Channel) -> Self {
        Self {
            channel: Some(channel),
            email: None,
            phone: None,
            user_id: None,
            redirect_url: None,
            magic_link_path: None,
            language: None,
            send: None,
            ttl: None,
            kind: None,
        }
    }

    /// A link for this email address, delivered by email.
    pub fn email(email: impl Into<String>) -> Self {
        Self {
            email: Some(email.into()),
            ..Self::base(Channel::Email)
        }
    }

    /// A link for this phone number (E.164), delivered by text message.
    pub fn phone(phone: impl Into<String>) -> Self {
        Self {
            phone: Some(phone.into()),
            ..Self::base(Channel::Phone)
        }
    }

    /// A link for this user, delivered over `channel`.
    pub fn user_id(user_id: impl Into<String>, channel: Channel) -> Self {
        Self {
            user_id: Some(user_id.into()),
            ..Self::base(channel)
        }
    }

    /// Where the user lands after the link signs them in.
    pub fn redirect_url(mut self, url: impl Into<String>) -> Self {
        self.redirect_url = Some(url.into());
        self
    }

    /// The path of your page that handles the link (relative, e.g. `/magic`).
    pub fn magic_link_path(mut self, path: impl Into<String>) -> Self {
        self.magic_link_path = Some(path.into());
        self
    }

    /// The language of the message.
    pub fn language(mut self, language: Language) -> Self {
        self.language = Some(language);
        self
    }

    /// Whether Passage sends the message (otherwise you deliver the URL yourself).
    pub fn send(mut self, send: bool) -> Self {
        self.send = Some(send);
        self
    }

    /// Lifetime in minutes (at least 1).
    pub fn ttl_minutes(mut self, minutes: u32) -> Self {
        self.ttl = Some(minutes);
        self
    }

    /// Login (default) or identifier verification.
    pub fn kind(mut self, kind: MagicLinkType) -> Self {
        self.kind = Some(kind);
        self
    }

    fn check(&self) -> Result<(), ApiError> {
        let invalid = |name, reason| Err(ApiError::InvalidArgument { name, reason });
        let empty = |v: &Option<String>| v.as_deref().is_some_and(str::is_empty);
        if empty(&self.email) || empty(&self.phone) || empty(&self.user_id) {
            return invalid("identifier", "must not be empty");
        }
        if self.ttl == Some(0) {
            return invalid("ttl", "must be at least 1 minute");
        }
        if self
            .magic_link_path
            .as_deref()
            .is_some_and(|p| !p.starts_with('/') || p.starts_with("//"))
        {
            return invalid("magic_link_path", "must be a relative path starting with /");
        }
        if self.kind == Some(MagicLinkType::Unknown) {
            return invalid("kind", "must be login or verify_identifier");
        }
        Ok(())
    }
}

#[derive(Deserialize)]
struct MagicLinkEnvelope {
    magic_link: MagicLink,
}

impl<'a> MagicLinks<'a> {
    pub(crate) fn new(transport: &'a Transport) -> Self {
        Self { transport }
    }

    /// Creates a magic link (never retried).
    ///
    /// ```no_run
    /// # async fn run(passage: passage_core::Passage) -> Result<(), passage_core::ApiError> {
    /// use passage_core::CreateMagicLink;
    /// let link = passage.magic_links().create(CreateMagicLink::email("ada@example.com")).await?;
    /// println!("{}", link.url.expose());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ApiError::InvalidArgument`] before sending; 400/404 from Passage.
    pub async fn create(self, link: CreateMagicLink) -> Result<MagicLink, ApiError> {
        link.check()?;
        let body = json_body(&link)?;
        let envelope: MagicLinkEnvelope = self
            .transport
            .call(Call {
                operation: "create_magic_link",
                method: Method::POST,
                path: "/magic-links".to_owned(),
                query: &[],
                body: Some(body),
                idempotent: false,
                authenticated: true,
                removes: false,
            })
            .await?;
        Ok(envelope.magic_link)
    }
}
