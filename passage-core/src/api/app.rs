//! `passage.app()`: the app's settings.

use http::Method;
use serde::Deserialize;

use super::Call;
use crate::{Passage, error::Error, models::AppInfo};

/// App information; reached through [`Passage::app`].
#[derive(Debug, Clone, Copy)]
pub struct App<'a> {
    passage: &'a Passage,
}

#[derive(Deserialize)]
struct AppEnvelope {
    app: AppInfo,
}

impl<'a> App<'a> {
    pub(crate) fn new(passage: &'a Passage) -> Self {
        Self { passage }
    }

    /// Gets the app's settings (needs no API key).
    ///
    /// ```no_run
    /// # async fn run(passage: passage_core::Passage) -> Result<(), passage_core::Error> {
    /// let app = passage.app().get().await?;
    /// println!("{} at {}", app.name, app.auth_origin);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// 404 `app_not_found`, and the transport errors of every call.
    pub async fn get(self) -> Result<AppInfo, Error> {
        let envelope: AppEnvelope = self
            .passage
            .call(Call {
                operation: "get_app",
                method: Method::GET,
                path: String::new(),
                query: &[],
                body: None,
                idempotent: true,
                authenticated: false,
                removes: false,
            })
            .await?;
        Ok(envelope.app)
    }
}
