//! What the example servers share, and only that: a demo emulator (so every example runs on a
//! fresh machine, without a Passage account), logging, the `BIND` address, the start-up
//! banner, Ctrl-C, and the demo page. The Passage code you would copy — building the client,
//! the layer, the handlers — is in each example itself.

use std::net::SocketAddr;

use passage_core::{Passage, PassageBuilder, Report};
use passage_emulator::{Emulator, SeedUser};

/// The demo user seeded into the demo emulator.
pub const DEMO_USER_ID: &str = "demo-user";
/// The demo user's email.
pub const DEMO_EMAIL: &str = "demo@example.com";

/// Why an example could not start: printed as one line with its causes.
pub struct StartError(Box<dyn std::error::Error + Send + Sync>);

impl<E: std::error::Error + Send + Sync + 'static> From<E> for StartError {
    fn from(err: E) -> Self {
        Self(Box::new(err))
    }
}

impl std::fmt::Debug for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `main` returning `Err` prints this: the error and its causes, readable.
        write!(f, "{}", Report(self.0.as_ref()))
    }
}

/// A local Passage emulator with the demo user (and a passkey), and a client pointed at it:
/// what the examples run on when `PASSAGE_APP_ID` is unset.
///
/// # Errors
/// When the emulator cannot start.
pub async fn demo() -> Result<(Passage, Emulator), StartError> {
    let emulator = Emulator::builder()
        .app_id("demo_app")
        .app_name("Passage for Rust demo")
        .user(
            SeedUser::email(DEMO_EMAIL)
                .with_id(DEMO_USER_ID)
                .with_device("Demo passkey"),
        )
        .start()
        .await?;
    let passage = PassageBuilder::from_env_vars(emulator.env_vars())?.build()?;
    Ok((passage, emulator))
}

/// The listen address: `BIND`, default `127.0.0.1:3000`.
///
/// # Errors
/// When `BIND` is not a socket address.
pub fn bind_addr() -> Result<SocketAddr, StartError> {
    let raw = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    raw.parse()
        .map_err(|_| StartError(format!("BIND={raw} is not an address like 127.0.0.1:3000").into()))
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

/// Prints where `name` listens and, on the demo emulator, a token and ready `curl` lines.
pub fn print_banner(name: &str, addr: SocketAddr, passage: &Passage, demo: Option<&Emulator>) {
    let base = format!("http://{addr}");
    println!("{name} listening on {base}");
    let Some(emulator) = demo else {
        println!("using Passage app {} (PASSAGE_APP_ID)", passage.app_id());
        println!("Ctrl-C to stop");
        return;
    };
    println!(
        "PASSAGE_APP_ID is unset: using an embedded Passage emulator at {}",
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
    println!("Ctrl-C to stop");
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
