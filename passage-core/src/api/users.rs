//! `passage.users()`: get, find by identifier, create, update, delete, (de)activate, devices,
//! refresh tokens, and listing.

use http::Method;
use serde::{Deserialize, Serialize};

use super::{
    ListUsers,
    error::{ApiError, ErrorCode, ErrorResponse},
    transport::{Call, Transport, json_body, segment},
};
use crate::{
    RevocationList,
    models::{Metadata, User, WebAuthnDevice},
};

/// User management; reached through [`Passage::users`](crate::Passage::users).
#[derive(Debug, Clone, Copy)]
pub struct Users<'a> {
    transport: &'a Transport,
    /// Where deactivations, deletions and refresh-token revocations are recorded.
    revocations: Option<&'a RevocationList>,
}

/// The fields of a new user: at least one of email and phone.
///
/// ```
/// use passage_core::CreateUser;
/// let user = CreateUser::email("ada@example.com").phone("+14155550100");
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[must_use]
pub struct CreateUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_metadata: Option<Metadata>,
}

impl CreateUser {
    /// A user identified by email.
    pub fn email(email: impl Into<String>) -> Self {
        Self {
            email: Some(email.into()),
            ..Self::default()
        }
    }

    /// A user identified by phone (E.164, e.g. `+14155550100`).
    pub fn with_phone(phone: impl Into<String>) -> Self {
        Self {
            phone: Some(phone.into()),
            ..Self::default()
        }
    }

    /// Adds a phone number.
    pub fn phone(mut self, phone: impl Into<String>) -> Self {
        self.phone = Some(phone.into());
        self
    }

    /// Sets custom metadata.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.user_metadata = Some(metadata);
        self
    }
}

/// Changes to a user; fields left unset are not sent.
///
/// ```
/// use passage_core::UpdateUser;
/// let change = UpdateUser::new().email("new@example.com");
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[must_use]
pub struct UpdateUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_metadata: Option<Metadata>,
}

impl UpdateUser {
    /// No changes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the email.
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Sets the phone.
    pub fn phone(mut self, phone: impl Into<String>) -> Self {
        self.phone = Some(phone.into());
        self
    }

    /// Replaces the metadata.
    pub fn metadata(mut self, metadata: Metadata) -> Self {
        self.user_metadata = Some(metadata);
        self
    }
}

/// The operator prefixes of List Users filters.
const FILTER_OPERATORS: [&str; 5] = ["ne:", "gt:", "lt:", "like:", "not_like:"];

#[derive(Deserialize)]
struct UserEnvelope {
    user: User,
}

#[derive(Deserialize)]
struct DevicesEnvelope {
    #[serde(default)]
    devices: Option<Vec<WebAuthnDevice>>,
}

impl<'a> Users<'a> {
    pub(crate) fn new(transport: &'a Transport, revocations: Option<&'a RevocationList>) -> Self {
        Self {
            transport,
            revocations,
        }
    }

    /// After a call that ends a user's sessions succeeded: their current tokens stop working.
    fn revoke_sessions(self, user_id: &str) {
        if let Some(revocations) = self.revocations {
            revocations.revoke(user_id);
        }
    }

    /// Makes a call whose answer is one user.
    async fn user(self, call: Call<'static>) -> Result<User, ApiError> {
        let envelope: UserEnvelope = self.transport.call(call).await?;
        Ok(envelope.user)
    }

    fn call(
        operation: &'static str,
        method: Method,
        path: String,
        body: Option<bytes::Bytes>,
        idempotent: bool,
    ) -> Call<'static> {
        Call {
            operation,
            method,
            path,
            query: &[],
            body,
            idempotent,
            authenticated: true,
            removes: false,
        }
    }

    /// Gets a user by id.
    ///
    /// ```no_run
    /// # async fn run(passage: passage_core::Passage) -> Result<(), passage_core::ApiError> {
    /// let user = passage.users().get("user-id").await?;
    /// println!("{} {:?}", user.email, user.status);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ApiError::Response`] with 404 `user_not_found`, and the transport errors of every call.
    pub async fn get(self, user_id: &str) -> Result<User, ApiError> {
        let path = format!("/users/{}", segment("user_id", user_id)?);
        self.user(Self::call("get_user", Method::GET, path, None, true))
            .await
    }

    /// Gets a user by email (case-insensitive) or phone, like the other Passage SDKs: a list
    /// lookup, then a get. Only a user whose email or phone equals the identifier is returned;
    /// an identifier that starts with a list-filter operator (`ne:`, `gt:`, `lt:`, `like:`,
    /// `not_like:`) is refused, so it can never select somebody else.
    ///
    /// ```no_run
    /// # async fn run(passage: passage_core::Passage) -> Result<(), passage_core::ApiError> {
    /// let user = passage.users().get_by_identifier("Ada@Example.com").await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ApiError::InvalidArgument`] for an empty identifier or one with an operator prefix; a
    /// synthesized 404 `user_not_found` when no user has the identifier.
    pub async fn get_by_identifier(self, identifier: &str) -> Result<User, ApiError> {
        if identifier.is_empty() {
            return Err(ApiError::InvalidArgument {
                name: "identifier",
                reason: "must not be empty",
            });
        }
        let wanted = identifier.to_lowercase();
        if FILTER_OPERATORS.iter().any(|op| wanted.starts_with(op)) {
            return Err(ApiError::InvalidArgument {
                name: "identifier",
                reason: "must not start with a list-filter operator (ne:, gt:, lt:, like:, not_like:)",
            });
        }
        let page = self
            .list()
            .identifier(wanted.as_str())
            .limit(1)
            .send()
            .await?;
        let is_it = |email: &str, phone: &str| email.to_lowercase() == wanted || phone == wanted;
        let Some(found) = page.items().iter().find(|u| is_it(&u.email, &u.phone)) else {
            return Err(ErrorResponse::new(404, ErrorCode::UserNotFound, "User not found.").into());
        };
        let user = self.get(&found.id).await?;
        if !is_it(&user.email, &user.phone) {
            return Err(ErrorResponse::new(404, ErrorCode::UserNotFound, "User not found.").into());
        }
        Ok(user)
    }

    /// Creates a user (never retried: a create is not idempotent).
    ///
    /// ```no_run
    /// # async fn run(passage: passage_core::Passage) -> Result<(), passage_core::ApiError> {
    /// use passage_core::CreateUser;
    /// let user = passage.users().create(CreateUser::email("ada@example.com")).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ApiError::InvalidArgument`] without email and phone (before any request); 400 from Passage.
    pub async fn create(self, user: CreateUser) -> Result<User, ApiError> {
        let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
        if !has(&user.email) && !has(&user.phone) {
            return Err(ApiError::InvalidArgument {
                name: "user",
                reason: "needs an email or a phone",
            });
        }
        let body = json_body(&user)?;
        self.user(Self::call(
            "create_user",
            Method::POST,
            "/users".to_owned(),
            Some(body),
            false,
        ))
        .await
    }

    /// Updates a user's email, phone or metadata.
    ///
    /// # Errors
    /// 404 for an unknown user; 400 for invalid values.
    pub async fn update(self, user_id: &str, change: UpdateUser) -> Result<User, ApiError> {
        let path = format!("/users/{}", segment("user_id", user_id)?);
        let body = json_body(&change)?;
        self.user(Self::call(
            "update_user",
            Method::PATCH,
            path,
            Some(body),
            true,
        ))
        .await
    }

    /// Deletes a user. A retry whose earlier attempt's answer was lost, and that finds the user
    /// gone, counts as success (the earlier attempt deleted it). Their current tokens are
    /// revoked ([`Auth::revoke_sessions`](crate::Auth::revoke_sessions)) unless the client was
    /// built with `revoke_on_user_changes(false)`.
    ///
    /// # Errors
    /// 404 for an unknown user.
    pub async fn delete(self, user_id: &str) -> Result<(), ApiError> {
        let path = format!("/users/{}", segment("user_id", user_id)?);
        let call = Self::call("delete_user", Method::DELETE, path, None, true);
        self.transport
            .call_empty(Call {
                removes: true,
                ..call
            })
            .await?;
        self.revoke_sessions(user_id);
        Ok(())
    }

    /// Activates a user.
    ///
    /// # Errors
    /// 404 for an unknown user.
    pub async fn activate(self, user_id: &str) -> Result<User, ApiError> {
        let path = format!("/users/{}/activate", segment("user_id", user_id)?);
        self.user(Self::call("activate_user", Method::PATCH, path, None, true))
            .await
    }

    /// Deactivates a user (they can no longer sign in), and revokes their current tokens as
    /// [`delete`](Self::delete) does.
    ///
    /// # Errors
    /// 404 for an unknown user.
    pub async fn deactivate(self, user_id: &str) -> Result<User, ApiError> {
        let path = format!("/users/{}/deactivate", segment("user_id", user_id)?);
        let user = self
            .user(Self::call(
                "deactivate_user",
                Method::PATCH,
                path,
                None,
                true,
            ))
            .await?;
        self.revoke_sessions(user_id);
        Ok(user)
    }

    /// Lists a user's passkeys and security keys.
    ///
    /// # Errors
    /// 404 for an unknown user.
    pub async fn list_devices(self, user_id: &str) -> Result<Vec<WebAuthnDevice>, ApiError> {
        let path = format!("/users/{}/devices", segment("user_id", user_id)?);
        let envelope: DevicesEnvelope = self
            .transport
            .call(Self::call("list_devices", Method::GET, path, None, true))
            .await?;
        Ok(envelope.devices.unwrap_or_default())
    }

    /// Revokes one of a user's devices (a retry that finds the device gone after a lost answer
    /// counts as success, as for [`delete`](Self::delete)).
    ///
    /// # Errors
    /// 404 `user_not_found` or `device_not_found`.
    pub async fn revoke_device(self, user_id: &str, device_id: &str) -> Result<(), ApiError> {
        let path = format!(
            "/users/{}/devices/{}",
            segment("user_id", user_id)?,
            segment("device_id", device_id)?
        );
        let call = Self::call("revoke_device", Method::DELETE, path, None, true);
        self.transport
            .call_empty(Call {
                removes: true,
                ..call
            })
            .await
    }

    /// Revokes all of a user's refresh tokens (signs them out everywhere), and their current
    /// auth tokens as [`delete`](Self::delete) does.
    ///
    /// # Errors
    /// 404 for an unknown user; 403 when not allowed.
    pub async fn revoke_refresh_tokens(self, user_id: &str) -> Result<(), ApiError> {
        let path = format!("/users/{}/tokens", segment("user_id", user_id)?);
        self.transport
            .call_empty(Self::call(
                "revoke_refresh_tokens",
                Method::DELETE,
                path,
                None,
                true,
            ))
            .await?;
        self.revoke_sessions(user_id);
        Ok(())
    }

    /// Starts a paginated listing; see [`ListUsers`].
    pub fn list(self) -> ListUsers {
        ListUsers::new(self.transport.clone())
    }

    /// Former name of [`revoke_refresh_tokens`](Self::revoke_refresh_tokens).
    ///
    /// # Errors
    /// As [`revoke_refresh_tokens`](Self::revoke_refresh_tokens).
    #[deprecated(note = "use `revoke_refresh_tokens`")]
    pub async fn sign_out(self, user_id: &str) -> Result<(), ApiError> {
        self.revoke_refresh_tokens(user_id).await
    }

    /// Former name of [`revoke_device`](Self::revoke_device).
    ///
    /// # Errors
    /// As [`revoke_device`](Self::revoke_device).
    #[deprecated(note = "use `revoke_device`")]
    pub async fn revoke_user_device(self, user_id: &str, device_id: &str) -> Result<(), ApiError> {
        self.revoke_device(user_id, device_id).await
    }

    /// Former name of [`revoke_device`](Self::revoke_device).
    ///
    /// # Errors
    /// As [`revoke_device`](Self::revoke_device).
    #[deprecated(note = "use `revoke_device`")]
    pub async fn delete_user_device(self, user_id: &str, device_id: &str) -> Result<(), ApiError> {
        self.revoke_device(user_id, device_id).await
    }
}
