//! What every example server shares, so the examples differ only in their framework code:
//! configuration from `PASSAGE_*` (or an embedded emulator when `PASSAGE_APP_ID` is unset),
//! `BIND`, the start-up banner with a ready `curl` line, Ctrl-C shutdown, and the JSON answers
//! of the example routes.

use std::net::SocketAddr;

use passage_core::{Error, Passage, PassageClaims};
use passage_emulator::{Emulator, SeedUser};
use serde_json::{Value, json};

/// The demo user seeded into the embedded emulator.
pub const DEMO_USER_ID: &str = "demo-user";
/// The demo user's email.
pub const DEMO_EMAIL: &str = "demo@example.com";

/// A configured client, and the emulator behind it when running offline.
#[derive(Debug)]
pub struct Setup {
    /// The client.
    pub passage: Passage,
    /// The embedded emulator, when `PASSAGE_APP_ID` is unset (keep it alive).
    pub emulator: Option<Emulator>,
}

/// Why an example could not start.
#[derive(Debug)]
pub struct StartError(String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl Setup {
    /// `PASSAGE_APP_ID` set: a client from the `PASSAGE_*` variables. Unset: an embedded
    /// emulator with a demo user, and a client pointed at it.
    ///
    /// # Errors
    /// When the variables are invalid or the emulator cannot start.
    pub async fn from_env() -> Result<Self, StartError> {
        let app_id_set = std::env::var_os("PASSAGE_APP_ID").is_some_and(|v| !v.is_empty());
        if app_id_set {
            let passage = Passage::from_env()
                .map_err(|e| StartError(passage_core::Report(&e).to_string()))?;
            return Ok(Self {
                passage,
                emulator: None,
            });
        }
        Self::emulated().await
    }

    /// An embedded emulator with the demo user, and a client for it.
    ///
    /// # Errors
    /// When the emulator cannot start.
    pub async fn emulated() -> Result<Self, StartError> {
        let emulator = Emulator::builder()
            .app_id("demo_app")
            .app_name("Passage for Rust demo")
            .user(
                SeedUser::email(DEMO_EMAIL)
                    .with_id(DEMO_USER_ID)
                    .with_device("Demo passkey"),
            )
            .start()
            .await
            .map_err(|e| StartError(format!("could not start the embedded emulator: {e}")))?;
        let passage = Passage::builder(emulator.app_id())
            .api_key(emulator.api_key())
            .auth_url(emulator.auth_url())
            .api_url(emulator.api_url())
            .build()
            .map_err(|e| StartError(e.to_string()))?;
        Ok(Self {
            passage,
            emulator: Some(emulator),
        })
    }

    /// Prints where the server listens and, on the emulator, a token and ready `curl` lines.
    pub fn print_banner(&self, name: &str, addr: SocketAddr) {
        let base = format!("http://{addr}");
        println!("{name} listening on {base}");
        match &self.emulator {
            None => println!(
                "using Passage app {} (PASSAGE_APP_ID)",
                self.passage.app_id()
            ),
            Some(emulator) => {
                println!(
                    "PASSAGE_APP_ID is unset: using the embedded Passage emulator at {}",
                    emulator.url()
                );
                match emulator.mint_token(DEMO_USER_ID) {
                    Ok(token) => {
                        println!("demo user {DEMO_USER_ID} <{DEMO_EMAIL}>; try:");
                        println!("  curl -H 'Authorization: Bearer {token}' {base}/me");
                        println!("  curl -H 'Authorization: Bearer {token}' {base}/profile");
                        println!("  curl {base}/maybe");
                    }
                    Err(err) => println!("could not mint a demo token: {err}"),
                }
            }
        }
        println!("Ctrl-C to stop");
    }
}

/// The listen address: `BIND`, default `127.0.0.1:3000`.
///
/// # Errors
/// When `BIND` is not a socket address.
pub fn bind_addr() -> Result<SocketAddr, StartError> {
    let raw = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    raw.parse()
        .map_err(|_| StartError(format!("BIND={raw} is not an address like 127.0.0.1:3000")))
}

/// Logs to stderr; `RUST_LOG` filters (default: info, and debug for passage).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,passage_core=debug"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Resolves on Ctrl-C (or SIGTERM on Unix).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

/// `GET /healthz`.
#[must_use]
pub fn health() -> Value {
    json!({ "status": "ok" })
}

/// `GET /me` and `GET /maybe`: `{"user_id": …}` (null when anonymous).
#[must_use]
pub fn user_id(claims: Option<&PassageClaims>) -> Value {
    json!({ "user_id": claims.map(PassageClaims::user_id) })
}

/// `GET /profile`: the user from the Management API, as `(status, body)`.
pub async fn profile(passage: &Passage, user_id: &str) -> (u16, Value) {
    match passage.users().get(user_id).await {
        Ok(user) => (
            200,
            json!({
                "user_id": user.id,
                "email": user.email,
                "phone": user.phone,
                "status": user.status.as_str(),
            }),
        ),
        Err(err) if err.is_not_found() => (
            404,
            json!({ "code": "user_not_found", "message": "No such Passage user." }),
        ),
        Err(Error::MissingApiKey) => {
            tracing::error!("/profile needs PASSAGE_API_KEY");
            (
                500,
                json!({ "code": "api_key_missing", "message": "The server has no Passage API key." }),
            )
        }
        Err(err) => {
            tracing::warn!(error = %passage_core::Report(&err), "/profile: Management API call failed");
            (
                502,
                json!({ "code": "upstream_error", "message": "Passage could not be reached." }),
            )
        }
    }
}

/// The demo page (`GET /`). On the embedded emulator it offers "Sign in as demo user" (the
/// emulator's dev sign-in sets the `psg_auth_token` cookie for this host and sends the browser
/// back) and "Sign out"; with a real Passage app it loads Passage's `<passage-auth>` element.
/// Either way it then shows what `/me` and `/profile` answer.
///
/// `host` is the request's `Host` header; anything but a plain host\[:port\] is ignored.
#[must_use]
pub fn demo_page(passage: &Passage, host: Option<&str>) -> String {
    let host = host.filter(|h| {
        !h.is_empty()
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
    });
    let back = host.map_or_else(|| "/".to_owned(), |h| format!("http://{h}/"));
    let auth_url = passage.auth_url();
    let on_emulator = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|local| auth_url.starts_with(local));
    let sign_in = if on_emulator {
        let enc = |s: &str| {
            s.replace('%', "%25")
                .replace('&', "%26")
                .replace('?', "%3F")
                .replace('#', "%23")
        };
        format!(
            r#"<p>Running on the embedded Passage emulator.</p>
<p><a id="sign-in" href="{a}/__emulator/sign-in?redirect={r}">Sign in as demo user</a>
 · <a id="sign-out" href="{a}/__emulator/sign-out?redirect={r}">Sign out</a></p>"#,
            a = html(auth_url),
            r = html(&enc(&back)),
        )
    } else {
        format!(
            r#"<script src="https://psg.so/web.js"></script>
<passage-auth app-id="{}"></passage-auth>"#,
            html(passage.app_id())
        )
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Passage for Rust — demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}}pre{{background:#f4f4f4;padding:.5rem;white-space:pre-wrap;word-break:break-all}}</style></head>
<body>
<h1>Passage for Rust</h1>
{sign_in}
<h2>GET /me</h2><pre id="me">…</pre>
<h2>GET /profile</h2><pre id="profile">…</pre>
<script>
for (const [id, path] of [["me", "/me"], ["profile", "/profile"]]) {{
  fetch(path, {{ credentials: "same-origin" }})
    .then(async (r) => {{ document.getElementById(id).textContent = r.status + " " + (await r.text()); }})
    .catch((e) => {{ document.getElementById(id).textContent = "error " + e; }});
}}
</script>
</body></html>
"#
    )
}

/// Escapes text for HTML attributes and content.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The whole `main` of an example server: tracing, configuration, listener on `BIND`, banner,
/// then `serve` until Ctrl-C. Exits non-zero with a readable message on any start-up failure.
pub async fn run_server<F, Fut>(name: &str, serve: F) -> std::process::ExitCode
where
    F: FnOnce(
        tokio::net::TcpListener,
        Passage,
        std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Fut,
    Fut: Future<Output = std::io::Result<()>>,
{
    init_tracing();
    let started = async {
        let setup = Setup::from_env().await?;
        let addr = bind_addr()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| StartError(format!("cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| StartError(e.to_string()))?;
        setup.print_banner(name, local);
        Ok::<_, StartError>((setup, listener))
    };
    let result = match started.await {
        Ok((setup, listener)) => {
            serve(listener, setup.passage.clone(), Box::pin(shutdown_signal()))
                .await
                .map_err(|e| StartError(e.to_string()))
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{name}: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
