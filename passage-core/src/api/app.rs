//! `passage.app()`: the app's settings.

use http::Method;
use serde::Deserialize;

use super::error::ApiError;
use super::transport::{Call, Transport};
use crate::models::AppInfo;

/// App information; reached through [`Passage::app`](crate::Passage::app).
#[derive(Debug, Clone, Copy)]
pub struct App<'a> {
    transport: &'a Transport,
}

#[derive(Deserialize)]
struct AppEnvelope {
    app: AppInfo,
}

impl<'a> App<'a> {
    pub(crate) fn new(transport: &'a Transport) -> Self {
        Self { transport }
    }

    /// Gets the app's settings (needs no API key).
    ///
    /// ```no_run
    /// # async fn run(passage: passage_core::Passage) -> Result<(), passage_core::ApiError> {
    /// let app = passage.app().get().await?;
    /// println!("{} at {}", app.name, app.auth_origin);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// 404 `app_not_found`, and the transport errors of every call.
    pub async fn get(self) -> Result<AppInfo, ApiError> {
        let envelope: AppEnvelope = self
            .transport
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
