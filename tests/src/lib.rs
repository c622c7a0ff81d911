//! The harness of the cross-crate suites: start any example server (axum, tower, actix, and the
//! tonic gRPC service) on loopback in front of a fresh emulator, so one table of cases drives
//! every adapter.

mod layered;

/// The workspace README: each of its Rust blocks compiles (and runs, unless `no_run`) as a
/// doctest of this crate, with this crate's dependencies — so the README's code cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadme;

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

/// How [`start_with`] runs a server, beyond the defaults of [`start`].
#[derive(Debug, Default)]
pub struct Options {
    /// The CORS origins of `example-axum` and `example-tower` (`CORS_ORIGINS`); none by default.
    /// `example-actix` has no CORS layer: origins are refused there.
    pub cors_origins: Vec<http::HeaderValue>,
    /// When set, the server runs on a thread of its own (a current-thread runtime) with this as
    /// its default subscriber: everything the server logs goes there, and nothing the test, its
    /// client or the emulator log does.
    pub log: Option<tracing::Dispatch>,
}

/// Starts `adapter`'s example server on `127.0.0.1:0` in front of a new emulator.
///
/// # Errors
/// When the emulator or the listener cannot start.
pub async fn start(
    adapter: Adapter,
    tune: impl FnOnce(PassageBuilder) -> PassageBuilder,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    start_with(adapter, tune, Options::default()).await
}

/// [`start`] with [`Options`].
///
/// # Errors
/// When the emulator or the listener cannot start, or `options` do not fit the adapter.
pub async fn start_with(
    adapter: Adapter,
    tune: impl FnOnce(PassageBuilder) -> PassageBuilder,
    options: Options,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    if adapter == Adapter::Actix && !options.cors_origins.is_empty() {
        return Err("example-actix has no CORS layer".into());
    }
    let cors = options.cors_origins;
    launch(
        tune,
        options.log,
        move |listener, passage, dev_api_url, shutdown| {
            Box::pin(async move {
                match adapter {
                    Adapter::Axum => {
                        // The emulator is a development server this harness started.
                        let page = example_support::DemoPage::development(
                            passage.app_id(),
                            passage.auth_url(),
                            &dev_api_url,
                            false,
                        );
                        let app = example_axum::app(passage, cors, page);
                        example_axum::serve(listener, app, shutdown).await?;
                    }
                    Adapter::Tower => {
                        let app = example_tower::app(passage, cors);
                        example_tower::serve(listener, app, shutdown).await?;
                    }
                    Adapter::Actix => example_actix::serve(listener, passage, shutdown).await?,
                }
                Ok(())
            })
        },
    )
    .await
}

/// Starts `example-tonic` (the `WhoAmI` gRPC service) on `127.0.0.1:0` in front of a new
/// emulator; connect a tonic client to [`Running::base`].
///
/// # Errors
/// When the emulator or the listener cannot start.
pub async fn start_tonic(
    tune: impl FnOnce(PassageBuilder) -> PassageBuilder,
) -> Result<Running, Box<dyn std::error::Error + Send + Sync>> {
    launch(tune, None, |listener, passage, _, shutdown| {
        Box::pin(async move {
            example_tonic::serve(listener, passage, shutdown).await?;
            Ok(())
        })
    })
    .await
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type Shutdown = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
type Serving = std::pin::Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// Starts an emulator, a client tuned by `tune`, and the server `serve` makes, on a free
/// loopback port: on the test's runtime, or with `log` on a thread of its own.
async fn launch(
    tune: impl FnOnce(PassageBuilder) -> PassageBuilder,
    log: Option<tracing::Dispatch>,
    serve: impl FnOnce(tokio::net::TcpListener, Passage, String, Shutdown) -> Serving + Send + 'static,
) -> Result<Running, BoxError> {
    let emulator = Emulator::builder()
        .app_id("app_e2e")
        .api_key("e2e_api_key")
        .user(SeedUser::email(USER_EMAIL).with_id(USER_ID))
        .start()
        .await?;
    let passage = tune(PassageBuilder::from_env_vars(emulator.env_vars())?).build()?;
    // A std listener: it becomes a tokio one on the runtime that serves it.
    let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    listener.set_nonblocking(true)?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown: Shutdown = Box::pin(async move {
        let _ = stopped.await;
    });
    let server_passage = passage.clone();
    let dev_api_url = emulator.api_url().to_owned();
    let server = async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        serve(listener, server_passage, dev_api_url, shutdown).await
    };
    match log {
        None => {
            tokio::spawn(server);
        }
        Some(dispatch) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::spawn(move || {
                let _default = tracing::dispatcher::set_default(&dispatch);
                runtime.block_on(server)
            });
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
