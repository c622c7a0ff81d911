//! The harness of the cross-crate suites: start any example server (axum, tower, actix) on
//! loopback in front of a fresh emulator, so one table of cases drives every adapter.

mod layered;

use std::{net::SocketAddr, time::Duration};

pub use layered::{LayeredServer, Layering, start_layered};

use passage_core::{Passage, PassageBuilder};
use passage_emulator::{Emulator, SeedUser};
use tokio::sync::oneshot;

/// The user seeded in every emulator the harness starts.
pub const USER_ID: &str = "user-e2e";
/// That user's email.
pub const USER_EMAIL: &str = "e2e@example.com";

/// An adapter under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adapter {
    /// `example-axum`: the extractor behind an optional layer.
    Axum,
    /// `example-tower`: hyper + the layer.
    Tower,
    /// `example-actix`: the extractor behind optional `PassageAuth` middleware.
    Actix,
}

impl Adapter {
    /// Every adapter.
    pub const ALL: [Self; 3] = [Self::Axum, Self::Tower, Self::Actix];
}

/// A running example server and the emulator behind it. Both stop on drop.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The emulator (JWKS, tokens, Management API, faults).
    pub emulator: Emulator,
    /// The client the server uses.
    pub passage: Passage,
    /// A plain HTTP client for the test.
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Running {
    /// `GET {base}{path}` with the given headers.
    ///
    /// # Errors
    /// When the request fails at the transport level.
    pub async fn get(
        &self,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        request.send().await
    }
}

/// Test-friendly client settings (short backoff and cooldown, no long waits).
pub fn fast(builder: PassageBuilder) -> PassageBuilder {
    builder
        .jwks_retry_backoff(Duration::from_millis(100), Duration::from_millis(200))
        .jwks_refetch_cooldown(Duration::from_millis(200))
        .jwks_fetch_timeout(Duration::from_secs(2))
}

/// Starts `adapter`'s example server on `127.0.0.1:0` in front of a new emulator.
///
/// # Errors
/// When the emulator or the listener cannot start.
pub async fn start(
    adapter: Adapter,
    tune: impl FnOnce(PassageBuilder) -> PassageBuilder,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    let emulator = Emulator::builder()
        .app_id("app_e2e")
        .api_key("e2e_api_key")
        .user(SeedUser::email(USER_EMAIL).with_id(USER_ID))
        .start()
        .await?;
    let passage = tune(PassageBuilder::from_env_vars(emulator.env_vars())?).build()?;
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let server_passage = passage.clone();
    match adapter {
        Adapter::Axum => {
            tokio::spawn(example_axum::serve(listener, server_passage, shutdown));
        }
        Adapter::Tower => {
            tokio::spawn(example_tower::serve(listener, server_passage, shutdown));
        }
        Adapter::Actix => {
            tokio::spawn(example_actix::serve(listener, server_passage, shutdown));
        }
    }
    Ok(Running {
        base,
        emulator,
        passage,
        http: reqwest::Client::new(),
        stop: Some(stop),
    })
}
