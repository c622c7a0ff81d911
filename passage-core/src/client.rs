//! [`Passage`], the client: the two parts it holds — token validation ([`Auth`]) and the
//! Management API's transport — and the handles that reach them.

use std::{fmt, sync::Arc};

use crate::{
    Auth, PassageBuilder,
    api::{App, MagicLinks, Users, transport::Transport},
};

/// The Passage client for one app: token validation ([`auth`](Self::auth)) and the Management API.
///
/// Cheap to clone (one `Arc`); build it once and share it. Building does no network I/O: call
/// [`auth().warm_up()`](Auth::warm_up) at start to fail at boot, not at the first request, when
/// the server cannot be reached.
///
/// ```
/// use passage_core::Passage;
///
/// let passage = Passage::builder("my-app-id")
///     .api_key("my-api-key")
///     .auth_url("https://auth.example.com") // your passage-server's Authentication API
///     .api_url("https://passage-api.internal:8787") // and its Management API
///     .build()?;
/// assert_eq!(passage.app_id(), "my-app-id");
/// // The API key never prints.
/// assert!(!format!("{passage:?}").contains("my-api-key"));
/// # Ok::<(), passage_core::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Passage {
    inner: Arc<Inner>,
}

struct Inner {
    app_id: Arc<str>,
    auth_url: String,
    api_url: String,
    auth: Auth,
    api: Transport,
}

impl fmt::Debug for Passage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passage")
            .field("app_id", &self.inner.app_id)
            .field("auth_url", &self.inner.auth_url)
            .field("api_url", &self.inner.api_url)
            .field("api", &self.inner.api)
            .finish_non_exhaustive()
    }
}

impl Passage {
    /// Assembles a client from its parts (the builder's last step).
    pub(crate) fn from_parts(
        app_id: Arc<str>,
        auth_url: String,
        api_url: String,
        auth: Auth,
        api: Transport,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                app_id,
                auth_url,
                api_url,
                auth,
                api,
            }),
        }
    }

    /// A builder for every setting; the auth and API hosts have no default (see
    /// [`PassageBuilder`]).
    pub fn builder(app_id: impl Into<String>) -> PassageBuilder {
        PassageBuilder::new(app_id)
    }

    /// A client configured by `PASSAGE_APP_ID`, `PASSAGE_AUTH_URL`, `PASSAGE_API_URL` (all
    /// three required) and `PASSAGE_API_KEY`; see [`PassageBuilder::from_env`].
    ///
    /// # Errors
    /// [`ConfigError::MissingEnv`](crate::ConfigError::MissingEnv) when `PASSAGE_APP_ID` is
    /// unset, [`ConfigError::MissingServer`](crate::ConfigError::MissingServer) when
    /// `PASSAGE_AUTH_URL` or `PASSAGE_API_URL` is (the hosted Passage they once defaulted to was
    /// retired on 2026-01-16), or any build error.
    pub fn from_env() -> Result<Self, crate::ConfigError> {
        PassageBuilder::from_env()?.build()
    }

    /// The app id.
    #[must_use]
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The auth host (without a trailing slash).
    #[must_use]
    pub fn auth_url(&self) -> &str {
        &self.inner.auth_url
    }

    /// The API host (without a trailing slash).
    #[must_use]
    pub fn api_url(&self) -> &str {
        &self.inner.api_url
    }

    /// Token validation.
    #[must_use]
    pub fn auth(&self) -> &Auth {
        &self.inner.auth
    }

    /// User management.
    #[must_use]
    pub fn users(&self) -> Users<'_> {
        Users::new(
            &self.inner.api,
            self.inner.auth.revocations_for_user_changes(),
        )
    }

    /// Magic links.
    #[must_use]
    pub fn magic_links(&self) -> MagicLinks<'_> {
        MagicLinks::new(&self.inner.api)
    }

    /// App information.
    #[must_use]
    pub fn app(&self) -> App<'_> {
        App::new(&self.inner.api)
    }
}
