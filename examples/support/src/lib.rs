//! What the example servers share, and only that: a demo Passage (so every example runs on a
//! fresh machine, without an account), logging, metrics (the Prometheus recorder behind
//! `GET /metrics`), the `BIND` address, the start-up banner, Ctrl-C, and the demo page. The
//! Passage code you would copy — building the client, the layer, the handlers — is in each
//! example itself.

use std::{net::SocketAddr, path::PathBuf, sync::OnceLock};

use http::HeaderValue;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use passage_core::{Passage, PassageBuilder, Report};
use passage_server::{SeedUser, Server};

/// The demo user seeded into the demo server.
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

/// A local Passage — passage-server in development mode, in memory, with the demo user (who
/// has no passkey yet: sign in by magic link, from the dev mailbox) — and a client pointed at
/// it: what the examples run on when `PASSAGE_APP_ID` is unset. Its `auth_origin` is
/// `http://localhost:PORT` with the port of [`bind_addr`], so open the page at `localhost`
/// (passkeys refuse IP addresses). It serves the passage-elements bundle when
/// [`elements_dir`] finds one.
///
/// # Errors
/// When the server cannot start.
pub async fn demo() -> Result<(Passage, Server), StartError> {
    let port = bind_addr()?.port();
    let mut builder = Server::builder()
        .development(true)
        .app_id("demo_app")
        .app_name("Passage for Rust demo")
        .api_key("demo_api_key")
        .auth_origin(format!("http://localhost:{port}"))
        .user(SeedUser::email(DEMO_EMAIL).with_id(DEMO_USER_ID));
    if let Some(dir) = elements_dir() {
        builder = builder.elements_dir(dir);
    }
    let server = builder.start().await?;
    let passage = shared_revocations(PassageBuilder::from_env_vars(server.env_vars())?)?.build()?;
    Ok((passage, server))
}

/// Revocations shared with every replica of the app (and the admin CLI) through Redis, when
/// `REDIS_URL` is set (`redis://127.0.0.1:6379/`): a user deactivated anywhere is refused
/// everywhere at once. Unset: revocations stay in this process. Needs the examples' `redis`
/// feature (`cargo run -p example-axum --features redis`).
///
/// # Errors
/// When `REDIS_URL` is not a Redis URL, or is set in a build without the `redis` feature.
pub fn shared_revocations(builder: PassageBuilder) -> Result<PassageBuilder, StartError> {
    let url = match std::env::var("REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => return Ok(builder),
    };
    #[cfg(feature = "redis")]
    {
        let redis = passage_redis::RedisRevocations::new(url.trim())?;
        tracing::info!("session revocations are shared through Redis (REDIS_URL)");
        Ok(builder.revocations(redis))
    }
    #[cfg(not(feature = "redis"))]
    {
        let _ = (url, builder);
        Err(StartError(
            "REDIS_URL is set, but this build has no Redis support: build it with `--features redis` (e.g. cargo run -p example-axum --features redis)".into(),
        ))
    }
}

/// Where the passage-elements bundle is: `PASSAGE_ELEMENTS_DIR`, else the copy `.ci/run`
/// installs from npm (`tests/browser/node_modules/@passageidentity/passage-elements/dist/package`)
/// when it is there.
#[must_use]
pub fn elements_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("PASSAGE_ELEMENTS_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let installed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/browser/node_modules/@passageidentity/passage-elements/dist/package");
    installed
        .join("passage-auth/index.es.js")
        .is_file()
        .then_some(installed)
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

/// The origins whose pages may call the app with credentials (the `psg_auth_token` cookie):
/// `CORS_ORIGINS`, comma-separated, like `https://app.example.com,http://localhost:5173`. Unset
/// or empty: none, so only the app's own pages (same origin) send cookies to it.
///
/// # Errors
/// When `CORS_ORIGINS` is not Unicode or an entry is not an origin ([`parse_cors_origins`]).
pub fn cors_origins() -> Result<Vec<HeaderValue>, StartError> {
    match std::env::var("CORS_ORIGINS") {
        Ok(raw) => parse_cors_origins(&raw),
        Err(std::env::VarError::NotPresent) => Ok(Vec::new()),
        Err(err) => Err(StartError(format!("CORS_ORIGINS: {err}").into())),
    }
}

/// Parses a comma-separated list of origins (`scheme://host[:port]`, `http` or `https`, no
/// path), lowercased as browsers send them; empty entries are skipped.
///
/// # Errors
/// On the wildcard `*` (a browser sends no cookies to it, and listing every origin with
/// credentials would let any site act as the signed-in user), on `null` (sandboxed and `file:`
/// pages), and on anything that is not an origin, such as `https://app.example.com/` (a path).
pub fn parse_cors_origins(raw: &str) -> Result<Vec<HeaderValue>, StartError> {
    let mut origins = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let refuse = |why: &str| StartError(format!("CORS_ORIGINS: {entry:?} {why}").into());
        if entry == "*" || entry.eq_ignore_ascii_case("null") {
            return Err(refuse(
                "is not allowed with credentials: list each origin, like https://app.example.com",
            ));
        }
        let origin = entry.to_ascii_lowercase();
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .ok_or_else(|| refuse("is not an origin: it starts with https:// or http://"))?;
        // host[:port], where an IPv6 host is in brackets: [::1]:8080.
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((ip, "")) => (ip, None),
                Some((ip, rest)) => match rest.strip_prefix(':') {
                    Some(port) => (ip, Some(port)),
                    None => ("", None), // something else after the brackets
                },
                None => ("", None),
            },
            None => match authority.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            },
        };
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'));
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
        if !host_ok || !port_ok {
            return Err(refuse(
                "is not an origin: scheme://host[:port], without a path (not even a trailing /)",
            ));
        }
        origins.push(HeaderValue::try_from(origin).map_err(|_| refuse("is not a header value"))?);
    }
    Ok(origins)
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

/// Prints where `name` listens and, on the demo server, a token and ready `curl` lines.
pub fn print_banner(name: &str, addr: SocketAddr, passage: &Passage, demo: Option<&Server>) {
    let base = format!("http://{addr}");
    println!("{name} listening on {base}");
    let Some(server) = demo else {
        println!("using Passage app {} (PASSAGE_APP_ID)", passage.app_id());
        println!("Ctrl-C to stop");
        return;
    };
    println!(
        "PASSAGE_APP_ID is unset: using an embedded passage-server (development mode) at {}",
        server.auth_url()
    );
    let page = format!("http://localhost:{}/", addr.port());
    if elements_dir().is_some() {
        println!("open {page} to sign in with a passkey or a magic link");
        println!(
            "  (magic links land in {}/__passage/mailbox)",
            server.auth_url()
        );
    } else {
        println!("open {page} to sign in as the demo user");
        println!(
            "  (for the real <passage-auth> element: npm ci --prefix tests/browser, or set PASSAGE_ELEMENTS_DIR)"
        );
    }
    let vars: Vec<String> = server
        .env_vars()
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    println!(
        "manage its users (with REDIS_URL set here and there, a deactivation takes effect at once):"
    );
    println!(
        "  {} cargo run -p example-manage-users -- users list",
        vars.join(" ")
    );
    match server.mint_token(DEMO_USER_ID) {
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

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (on Unix): what the examples' graceful shutdown waits
/// for.
pub async fn shutdown_signal() {
    passage_server::shutdown_signal().await;
    tracing::info!("shutting down");
}

/// The content type of [`metrics_text`]: the Prometheus text exposition format.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The Prometheus recorder every metric of this process goes to, installed on the first call
/// (passage-core's metrics are described then, and the JWKS fetch latency gets buckets from 5 ms
/// to 10 s); its handle renders them for `GET /metrics`. `None` when another recorder was
/// installed first (then the examples answer `/metrics` with 404).
pub fn metrics() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("passage_jwks_fetch_duration_seconds".to_owned()),
                    &[
                        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    ],
                )
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    passage_core::metrics::describe();
                    Some(handle)
                }
                Err(err) => {
                    tracing::warn!(
                        error = %Report(&err),
                        "no /metrics: the Prometheus recorder was not installed"
                    );
                    None
                }
            }
        })
        .clone()
}

/// What `GET /metrics` answers: every metric in the Prometheus text format (after the
/// recorder's upkeep), or `None` without the recorder ([`metrics`]).
#[must_use]
pub fn metrics_text() -> Option<String> {
    metrics().map(|handle| {
        handle.run_upkeep();
        handle.render()
    })
}

/// The demo page (`GET /`) of an example, for the Passage it runs against. What the page offers
/// follows from who started that Passage, never from its address:
///
/// - [`embedded`](Self::embedded) — the development server this example started itself: the
///   real `<passage-auth>` element when the passage-elements bundle is on disk (else how to get
///   it), and the development shortcut "Sign in as demo user";
/// - [`deployed`](Self::deployed) — a passage-server the app was configured for
///   (`PASSAGE_APP_ID`, …): the element, loaded from that server's `/elements/` (and, when the
///   server does not serve the bundle, what to do about it); no development routes.
///
/// Either way the page shows what `/me` and `/profile` answer; signed in, it shows who and a
/// "Sign out" that revokes the session and stays on the page.
#[derive(Debug, Clone)]
pub struct DemoPage {
    auth_url: String,
    app_id: String,
    /// The Management API of a development server this process started (its `/__emulator`
    /// routes), if it started one.
    development: Option<String>,
    /// Whether the element is on the page (a deployed server, or a development one that has the
    /// bundle).
    element: bool,
}

impl DemoPage {
    /// The page for the embedded development `server` this example started.
    #[must_use]
    pub fn embedded(server: &Server) -> Self {
        Self::development(
            server.app_id(),
            server.auth_url(),
            server.api_url(),
            elements_dir().is_some(),
        )
    }

    /// The page for a development server (with the `/__emulator` routes at `api_url`) that the
    /// caller started, e.g. a test's emulator; `element`: whether it serves the bundle.
    #[must_use]
    pub fn development(app_id: &str, auth_url: &str, api_url: &str, element: bool) -> Self {
        Self {
            auth_url: auth_url.trim_end_matches('/').to_owned(),
            app_id: app_id.to_owned(),
            development: Some(api_url.trim_end_matches('/').to_owned()),
            element,
        }
    }

    /// The page for the passage-server `passage` is configured for.
    #[must_use]
    pub fn deployed(passage: &Passage) -> Self {
        Self {
            auth_url: passage.auth_url().trim_end_matches('/').to_owned(),
            app_id: passage.app_id().to_owned(),
            development: None,
            element: true,
        }
    }

    /// The page's HTML. `host` is the request's `Host` header; anything but a plain
    /// host\[:port\] is ignored.
    #[must_use]
    pub fn render(&self, host: Option<&str>) -> String {
        let host = host.filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".:-[]".contains(&b))
        });
        let auth = html(&self.auth_url);
        let mut sign_in = String::new();
        if self.element {
            let missing = if self.development.is_some() {
                "The development server does not serve the passage-elements bundle."
            } else {
                "This Passage server does not serve the passage-elements bundle at /elements/: start passage-server with <code>--elements-dir</code> (the <code>dist/package</code> directory of npm's <code>@passageidentity/passage-elements</code>), or load the element from your own bundle."
            };
            sign_in.push_str(&format!(
                r#"<script src="{auth}/passage-fetch.js"></script>
<script type="module" src="{auth}/elements/passage-auth/index.es.js" onerror="document.getElementById('no-element').hidden = false"></script>
<passage-auth app-id="{app}" lang="en"></passage-auth>
<p id="no-element" hidden>{missing}</p>
"#,
                app = html(&self.app_id),
            ));
        } else {
            sign_in.push_str(
                r#"<p id="no-element">The sign-in element (<code>&lt;passage-auth&gt;</code>) needs the passage-elements bundle: run <code>npm ci --prefix tests/browser</code> (or set <code>PASSAGE_ELEMENTS_DIR</code> to its <code>dist/package</code> directory) and start the example again.</p>
"#,
            );
        }
        let mut dev_sign_out = String::new();
        if let Some(api_url) = &self.development {
            // The shortcut's cookie is set by the Management API's host for that host name
            // (cookies ignore ports): reach it by the name this page was opened with.
            let back = host.map_or_else(|| "/".to_owned(), |h| format!("http://{h}/"));
            let api_url = browser_host(api_url, host);
            let enc = |s: &str| {
                s.replace('%', "%25")
                    .replace('&', "%26")
                    .replace('?', "%3F")
                    .replace('#', "%23")
            };
            dev_sign_out = format!("{api_url}/__emulator/sign-out?redirect={}", enc(&back));
            sign_in.push_str(&format!(
                r#"<p>Development shortcut: <a id="sign-in" href="{a}/__emulator/sign-in?redirect={r}">Sign in as demo user</a></p>
"#,
                a = html(&api_url),
                r = html(&enc(&back)),
            ));
        }
        let config = serde_json::json!({
            "auth": self.auth_url,
            "app": self.app_id,
            "devSignOut": dev_sign_out,
        });
        format!(
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Passage for Rust — demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto}}pre{{background:#f4f4f4;padding:.5rem;white-space:pre-wrap;word-break:break-all}}</style></head>
<body data-auth-url="{auth}">
<h1>Passage for Rust</h1>
<div id="sign-in-area">
{sign_in}</div>
<section id="signed-in" hidden><p>Signed in as <b id="who"></b>.</p><p><button id="sign-out">Sign out</button></p></section>
<h2>GET /me</h2><pre id="me">…</pre>
<h2>GET /profile</h2><pre id="profile">…</pre>
<script>
const config = {config};
const area = document.getElementById("sign-in-area");
// Signed in: who, and the sign-out; signed out: the element (the page decides from /me).
async function show() {{
  let who = null;
  for (const [id, path] of [["me", "/me"], ["profile", "/profile"]]) {{
    await fetch(path, {{ credentials: "same-origin" }})
      .then(async (r) => {{
        const text = await r.text();
        document.getElementById(id).textContent = r.status + " " + text;
        if (id === "me" && r.status === 200) who = JSON.parse(text).user_id;
      }})
      .catch((e) => {{ document.getElementById(id).textContent = "error " + e; }});
  }}
  document.getElementById("who").textContent = who ?? "";
  document.getElementById("signed-in").hidden = who === null;
  area.hidden = who !== null;
}}
// The element keeps the tokens (cookie and localStorage) and calls this when a sign-in (or a
// passkey added after one) is done; the page then shows the signed-in state.
function wire() {{
  const element = document.querySelector("passage-auth");
  if (element) element.onSuccess = () => show();
}}
// A fresh element, at its first screen, for the next sign-in.
function resetElement() {{
  const old = document.querySelector("passage-auth");
  if (!old) return;
  const fresh = document.createElement("passage-auth");
  for (const attribute of old.attributes) fresh.setAttribute(attribute.name, attribute.value);
  old.replaceWith(fresh);
  wire();
}}
document.getElementById("sign-out").onclick = async () => {{
  const refresh = localStorage.getItem("psg_refresh_token");
  if (refresh) {{
    const url = config.auth + "/v1/apps/" + encodeURIComponent(config.app) + "/tokens?refresh_token=" + encodeURIComponent(refresh);
    await fetch(url, {{ method: "DELETE" }}).catch(() => {{}});
  }}
  localStorage.removeItem("psg_auth_token");
  localStorage.removeItem("psg_refresh_token");
  document.cookie = "psg_auth_token=; path=/; max-age=0";
  // The development shortcut's cookie is HttpOnly: its own sign-out clears it (and comes back).
  if (config.devSignOut) {{ location.href = config.devSignOut; return; }}
  resetElement();
  show();
}};
wire();
show();
</script>
</body></html>
"#,
            config = config.to_string().replace("</", "<\\/"),
        )
    }
}

/// `url` (`http://HOST:PORT`) with the host name of `page_host` (`name[:port]`), if there is one.
fn browser_host(url: &str, page_host: Option<&str>) -> String {
    let name = page_host.map(|h| {
        if h.starts_with('[') {
            h.split_inclusive(']').next().unwrap_or(h)
        } else {
            h.split(':').next().unwrap_or(h)
        }
    });
    let (Some(name), Some(rest)) = (name, url.strip_prefix("http://")) else {
        return url.to_owned();
    };
    let port = rest.rsplit_once(':').map_or("", |(_, port)| port);
    if port.is_empty() {
        format!("http://{name}")
    } else {
        format!("http://{name}:{port}")
    }
}

/// Escapes text for HTML attributes and content.
fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::{DemoPage, parse_cors_origins};

    #[test]
    fn the_demo_page_offers_development_shortcuts_only_on_a_development_server() {
        let deployed = DemoPage {
            auth_url: "https://auth.example.com".into(),
            app_id: "my_app".into(),
            development: None,
            element: true,
        }
        .render(Some("localhost:3000"));
        assert!(deployed.contains(
            r#"<script type="module" src="https://auth.example.com/elements/passage-auth/index.es.js""#
        ));
        assert!(deployed.contains(r#"<script src="https://auth.example.com/passage-fetch.js">"#));
        assert!(deployed.contains(r#"<passage-auth app-id="my_app""#));
        assert!(
            deployed.contains(r#""devSignOut":"""#),
            "sign-out stays on the app"
        );
        for dev in ["__emulator", r#"id="sign-in""#, "Development shortcut"] {
            assert!(!deployed.contains(dev), "{dev} on a deployed server's page");
        }

        let development = DemoPage::development(
            "demo_app",
            "http://localhost:8788",
            "http://127.0.0.1:8787",
            false,
        )
        .render(Some("localhost:3000"));
        assert!(development.contains(
            r#"<a id="sign-in" href="http://localhost:8787/__emulator/sign-in?redirect=http://localhost:3000/">"#
        ));
        assert!(development.contains(
            r#""devSignOut":"http://localhost:8787/__emulator/sign-out?redirect=http://localhost:3000/""#
        ));
        assert!(
            !development.contains("<passage-auth"),
            "no bundle: no element that cannot load"
        );
        assert!(development.contains("npm ci --prefix tests/browser"));
    }

    #[test]
    fn cors_origins_are_exact_origins() {
        let parsed = parse_cors_origins(
            " https://App.Example.com, http://localhost:5173,,http://[::1]:8080,http://127.0.0.1 ",
        )
        .unwrap();
        let parsed: Vec<_> = parsed.iter().map(|v| v.to_str().unwrap()).collect();
        assert_eq!(
            parsed,
            [
                "https://app.example.com",
                "http://localhost:5173",
                "http://[::1]:8080",
                "http://127.0.0.1"
            ]
        );
        assert!(parse_cors_origins("").unwrap().is_empty());
        assert!(parse_cors_origins(" , ").unwrap().is_empty());
    }

    #[test]
    fn cors_origins_refuse_wildcards_and_non_origins() {
        for bad in [
            "*",
            "null",
            "https://*.example.com",
            "app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://app.example.com?x=1",
            "https://user@app.example.com",
            "https://",
            "https://app.example.com:",
            "https://app.example.com:99999",
            "https://app.example.com:80:80",
            "http://[::1]8080",
            "http://[::1",
            "https://app.example.com, *",
        ] {
            assert!(parse_cors_origins(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
