//! `passage-server`: a self-hosted Passage.
//!
//! ```text
//! passage-server serve --database passage.db --api-key KEY --auth-origin https://app.example.com \
//!     --public-url https://auth.example.com --smtp-url smtps://user:pass@smtp.example.com \
//!     --mail-from 'Example <noreply@example.com>'
//! passage-server serve --dev                      # in memory, development conveniences on
//! passage-server import export.csv --credentials passkeys.json --auth-origin https://app.example.com \
//!     --database passage.db --dry-run
//! passage-server export --database passage.db --auth-origin https://app.example.com > users.json
//! passage-server serve --database postgres://passage:PASSWORD@db.internal/passage …   # replicas
//! ```
//!
//! `--database`: a file path is a SQLite database (one server process); a `postgres://` or
//! `postgresql://` URL is a PostgreSQL database (as many server processes as you run).

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use passage_server::{
    AuthMethods, Format, Identifiers, ImportOptions, SealingKey, SeedUser, Server, SmsWebhook,
    SmtpSettings, export_users, import_users, relying_party_of,
    store::{MemoryStore, PostgresStore, SqliteStore, Store},
};

/// `println!` for a running server: a closed stdout (a supervisor that stopped reading) must not
/// stop the server, so what cannot be written is dropped.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// A self-hostable, Passage-compatible server: passkeys and magic links for passage-elements,
/// the Management API for backends, persistent in SQLite or PostgreSQL.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serves the Authentication API (for the browser) and the Management API (for backends).
    Serve(Box<Serve>),
    /// Prints a new sealing key (32 random bytes, base64) for --key-file.
    GenerateKey,
    /// Stores a new signing key that every server on the database serves from its next key
    /// reload and signs with from --signs-in-secs on; the key before it stays served while
    /// tokens it signed may be valid. (A SQLite file: with its server stopped.)
    RotateKey {
        /// The database: a SQLite file or a PostgreSQL URL.
        #[arg(long, env = "PASSAGE_SERVER_DATABASE", hide_env_values = true)]
        database: PathBuf,
        /// The sealing key the servers run with (required when the stored keys are sealed).
        #[arg(long, env = "PASSAGE_SERVER_KEY_FILE")]
        key_file: Option<PathBuf>,
        /// Seconds until the new key signs: longer than the servers' --key-reload-secs, and than
        /// the JWKS's cache lifetime (5 minutes) for validators that do not fetch it again on
        /// an unknown key id.
        #[arg(long, default_value_t = 600)]
        signs_in_secs: u64,
    },
    /// Loads users exported from Passage — the console's CSV or JSON export, or Management API
    /// user objects — keeping their ids, with their passkeys when the file (or --credentials)
    /// holds their public keys. Prints what it did (with --dry-run: what it would do, writing
    /// nothing); exits non-zero when any row or passkey was not imported.
    Import(Box<Import>),
    /// Prints every user with their passkeys' public keys as JSON that `import` reads (to move
    /// to another database). No session, token, link or signing key leaves.
    Export {
        /// The database: a SQLite file or a PostgreSQL URL.
        #[arg(long, env = "PASSAGE_SERVER_DATABASE", hide_env_values = true)]
        database: PathBuf,
        /// The server's auth origin: its host is written as each passkey's rp_id.
        #[arg(long, env = "PASSAGE_SERVER_AUTH_ORIGIN")]
        auth_origin: Option<String>,
    },
}

#[derive(Debug, Parser)]
struct Import {
    /// The export: .csv or .json (otherwise told by its content).
    file: PathBuf,
    /// Where to load them: a SQLite file (created when missing) or a PostgreSQL URL
    /// (postgres://user:password@host/database).
    #[arg(long, env = "PASSAGE_SERVER_DATABASE", hide_env_values = true)]
    database: PathBuf,
    /// Read everything and report what would be done, without writing.
    #[arg(long)]
    dry_run: bool,
    /// The origin the server serves (--auth-origin of `serve`): passkeys must be for its host.
    /// Required when the file holds passkeys.
    #[arg(long, env = "PASSAGE_SERVER_AUTH_ORIGIN")]
    auth_origin: Option<String>,
    /// Passkeys in a file of their own: a JSON array of credential objects, each with its
    /// user_id.
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// A CSV column's meaning, HEADER=FIELD (FIELD: id, email, phone, status, …, or
    /// metadata.KEY; empty to ignore the column). Repeat for each column.
    #[arg(long = "column", value_name = "HEADER=FIELD")]
    columns: Vec<String>,
    /// The file's format, when its name does not say.
    #[arg(long, value_parser = ["json", "csv"])]
    format: Option<String>,
}

#[derive(Debug, Parser)]
struct Serve {
    /// Development mode: in memory unless --database is given, token minting and faults under
    /// /__emulator, magic links in a mailbox (/__passage/mailbox). Never in production.
    #[arg(long)]
    dev: bool,
    /// Where everything is kept: a SQLite file (created when missing; one server process) or a
    /// PostgreSQL URL (postgres://user:password@host/database[?sslmode=verify-full]; several
    /// server processes may share it). Required outside development mode.
    #[arg(long, env = "PASSAGE_SERVER_DATABASE", hide_env_values = true)]
    database: Option<PathBuf>,
    /// The app id, as the element's app-id attribute and PASSAGE_APP_ID say.
    #[arg(long, env = "PASSAGE_APP_ID", default_value = "passage_app")]
    app_id: String,
    /// The app's name, shown in passkey prompts and emails.
    #[arg(long, env = "PASSAGE_SERVER_APP_NAME", default_value = "Passage")]
    app_name: String,
    /// The Management API key. Required outside development mode.
    #[arg(long, env = "PASSAGE_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The origin of the app's pages (the passkeys' relying party).
    #[arg(
        long,
        env = "PASSAGE_SERVER_AUTH_ORIGIN",
        default_value = "http://localhost:3000"
    )]
    auth_origin: String,
    /// Where the element sends users after signing in.
    #[arg(long, env = "PASSAGE_SERVER_REDIRECT_URL", default_value = "/")]
    redirect_url: String,
    /// The Authentication API's listen address.
    #[arg(
        long,
        env = "PASSAGE_SERVER_AUTH_BIND",
        default_value = "127.0.0.1:8788"
    )]
    auth_bind: SocketAddr,
    /// The Management API's listen address.
    #[arg(
        long,
        env = "PASSAGE_SERVER_API_BIND",
        default_value = "127.0.0.1:8787"
    )]
    api_bind: SocketAddr,
    /// The Authentication API's URL as browsers reach it (e.g. behind a TLS proxy).
    #[arg(long, env = "PASSAGE_SERVER_PUBLIC_URL")]
    public_url: Option<String>,
    /// Sends magic links by SMTP: smtp://host:port, smtp://user:pass@host:587?tls=required, smtps://…
    #[arg(long, env = "PASSAGE_SERVER_SMTP_URL", hide_env_values = true)]
    smtp_url: Option<String>,
    /// The sender of magic links.
    #[arg(
        long,
        env = "PASSAGE_SERVER_MAIL_FROM",
        default_value = "Passage <noreply@localhost>"
    )]
    mail_from: String,
    /// Auth token lifetime, in seconds.
    #[arg(long, env = "PASSAGE_SERVER_SESSION_SECS", default_value_t = 3600)]
    session_secs: u64,
    /// How long a session may be refreshed from its sign-in, in seconds.
    #[arg(long, env = "PASSAGE_SERVER_REFRESH_ABSOLUTE_SECS", default_value_t = 30 * 24 * 3600)]
    refresh_absolute_secs: u64,
    /// How long a refresh token works unused, in seconds.
    #[arg(long, env = "PASSAGE_SERVER_REFRESH_INACTIVITY_SECS", default_value_t = 5 * 24 * 3600)]
    refresh_inactivity_secs: u64,
    /// How recent a sign-in must be to change the account (add a passkey, …), in seconds.
    #[arg(
        long,
        env = "PASSAGE_SERVER_RECENT_SIGN_IN_SECS",
        default_value_t = 600
    )]
    recent_sign_in_secs: u64,
    /// How long an unfinished sign-up (a pending user) is kept, in seconds.
    #[arg(
        long,
        env = "PASSAGE_SERVER_PENDING_USER_TTL_SECS",
        default_value_t = 3600
    )]
    pending_user_ttl_secs: u64,
    /// At most this many unfinished sign-ups are kept; beyond, the oldest go.
    #[arg(
        long,
        env = "PASSAGE_SERVER_MAX_PENDING_USERS",
        default_value_t = 10_000
    )]
    max_pending_users: usize,
    /// The file with the key that seals the signing keys at rest (32 random bytes in base64:
    /// `passage-server generate-key > key`, chmod 600). Without it the private signing key is
    /// kept unsealed in the database.
    #[arg(long, env = "PASSAGE_SERVER_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// The previous sealing key, while rotating: keys sealed under it are sealed again under
    /// --key-file at start.
    #[arg(long, env = "PASSAGE_SERVER_PREVIOUS_KEY_FILE")]
    previous_key_file: Option<PathBuf>,
    /// Publishes session revocations to this Redis as passage-redis does, so every backend
    /// replica refuses the same tokens at once (REDIS_URL is read too).
    #[arg(long, env = "PASSAGE_SERVER_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// The passage-redis namespace the backends use.
    #[arg(
        long,
        env = "PASSAGE_SERVER_REDIS_NAMESPACE",
        default_value = "passage"
    )]
    redis_namespace: String,
    /// Seconds between two readings of the signing keys from the database (a key rotated by
    /// `passage-server rotate-key` is served, then signs, from the next one).
    #[arg(long, env = "PASSAGE_SERVER_KEY_RELOAD_SECS", default_value_t = 30)]
    key_reload_secs: u64,
    /// Serves the passage-elements bundle (npm @passageidentity/passage-elements, its
    /// dist/package directory) under /elements/.
    #[arg(long, env = "PASSAGE_ELEMENTS_DIR")]
    elements_dir: Option<PathBuf>,
    /// Users to add at start (a JSON array of {id, email, phone, status, user_metadata,
    /// devices}), skipped when their identifier is taken already.
    #[arg(long)]
    users: Option<PathBuf>,
    /// New users verify their email by magic link before adding a passkey.
    #[arg(long)]
    require_verification: bool,
    /// Refuse sign-ups of new users.
    #[arg(long)]
    no_public_signup: bool,
    /// The most passkeys one user may hold (0: no limit).
    #[arg(long, env = "PASSAGE_SERVER_MAX_PASSKEYS", default_value_t = 20)]
    max_passkeys: usize,
    /// The most connections each listener holds at once (default: a share of the process's
    /// open-file limit, `ulimit -n`: three quarters for the Authentication API, a quarter for
    /// the Management API).
    #[arg(long, env = "PASSAGE_SERVER_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Seconds a client may take to send a request's headers.
    #[arg(long, default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds a connection may stay silent (keep-alive included) before it is closed.
    #[arg(long, default_value_t = 60)]
    idle_timeout_secs: u64,
    /// Seconds to read a request's body and answer it (then 408).
    #[arg(long, default_value_t = 30)]
    request_timeout_secs: u64,
    /// At most this many messages (magic links and codes) to one address per 15 minutes (0:
    /// no limit).
    #[arg(long, env = "PASSAGE_SERVER_MAGIC_LINK_LIMIT", default_value_t = 5)]
    magic_link_limit: u32,
    /// The sign-in methods offered, comma-separated: passkeys, otp, magic_link (as Passage's
    /// console named them; the element uses codes whenever otp is offered). Default: passkeys,
    /// and magic links when they can be sent.
    #[arg(long, env = "PASSAGE_SERVER_AUTH_METHODS")]
    auth_methods: Option<AuthMethods>,
    /// How long a one-time passcode works, in seconds.
    #[arg(long, env = "PASSAGE_SERVER_OTP_TTL_SECS", default_value_t = 300)]
    otp_ttl_secs: u64,
    /// Which identifiers users sign in with: email, phone or both.
    #[arg(long, env = "PASSAGE_SERVER_IDENTIFIERS", default_value = "email")]
    identifiers: Identifiers,
    /// The app's sign-in page (a path on --auth-origin with <passage-auth>): where links that
    /// confirm a new email address or phone number lead.
    #[arg(long, env = "PASSAGE_SERVER_LOGIN_URL", default_value = "/")]
    login_url: String,
    /// Sends text messages (codes and links to phone numbers) as signed JSON POSTs to this URL
    /// (your SMS provider, or a relay of yours); needs --sms-webhook-secret-file.
    #[arg(long, env = "PASSAGE_SERVER_SMS_WEBHOOK_URL", hide_env_values = true)]
    sms_webhook_url: Option<String>,
    /// The file holding the SMS webhook's signing secret (at least 16 bytes).
    #[arg(long, env = "PASSAGE_SERVER_SMS_WEBHOOK_SECRET_FILE")]
    sms_webhook_secret_file: Option<PathBuf>,
    /// The app's own user fields: a JSON file {"user_metadata_schema": [{id, field_name,
    /// friendly_name, type, registration, profile}], "layouts"?: {registration, profile}}, as
    /// Passage's app info had it (type: string, boolean, integer, date, phone or email).
    #[arg(long, env = "PASSAGE_SERVER_USER_FIELDS")]
    user_fields: Option<PathBuf>,
    /// The operator's element strings ({lang}.json) and message templates
    /// (messages.{lang}.json), served before the built-in ones.
    #[arg(long, env = "PASSAGE_SERVER_LOCALES_DIR")]
    locales_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,webauthn_rs_core=warn")
            }),
        )
        .init();
    let result = match Cli::parse().command {
        Command::Serve(serve) => run(*serve).await,
        Command::Import(options) => import(*options).await,
        Command::Export {
            database,
            auth_origin,
        } => export(&database, auth_origin.as_deref()).await,
        Command::RotateKey {
            database,
            key_file,
            signs_in_secs,
        } => rotate_key(&database, key_file.as_deref(), signs_in_secs).await,
        Command::GenerateKey => passage_server::SealingKey::generate()
            .map(|key| println!("{}", key.to_text()))
            .map_err(|err| err.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("passage-server: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the Prometheus recorder and serves it at `GET /metrics` on the Management listener.
fn with_metrics(
    builder: passage_server::ServerBuilder,
) -> Result<passage_server::ServerBuilder, String> {
    use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(passage_server::metrics::CEREMONY_DURATION_METRIC.to_owned()),
            &[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ],
        )
        .and_then(PrometheusBuilder::install_recorder)
        .map_err(|err| format!("the metrics recorder could not be installed: {err}"))?;
    passage_server::metrics::describe();
    passage_core::metrics::describe();
    Ok(builder.metrics(move || {
        handle.run_upkeep();
        handle.render()
    }))
}

async fn run(serve: Serve) -> Result<(), String> {
    if !serve.dev && serve.database.is_none() {
        return Err("--database is required outside development mode (--dev)".into());
    }
    let api_key = match (serve.api_key, serve.dev) {
        (Some(key), _) => key,
        (None, true) => "passage_dev_api_key".to_owned(),
        (None, false) => return Err("--api-key (or PASSAGE_API_KEY) is required".into()),
    };
    let mut builder = Server::builder()
        .development(serve.dev)
        .app_id(serve.app_id)
        .app_name(serve.app_name)
        .api_key(api_key)
        .auth_origin(serve.auth_origin)
        .redirect_url(serve.redirect_url)
        .auth_bind(serve.auth_bind)
        .api_bind(serve.api_bind)
        .session_length(Duration::from_secs(serve.session_secs))
        .public_signup(!serve.no_public_signup)
        .refresh_absolute_lifetime(Duration::from_secs(serve.refresh_absolute_secs))
        .refresh_inactivity_lifetime(Duration::from_secs(serve.refresh_inactivity_secs))
        .recent_sign_in(Duration::from_secs(serve.recent_sign_in_secs))
        .pending_user_ttl(Duration::from_secs(serve.pending_user_ttl_secs))
        .max_pending_users(serve.max_pending_users)
        .key_reload_interval(Duration::from_secs(serve.key_reload_secs.max(1)))
        .magic_link_limit(serve.magic_link_limit)
        .max_passkeys(serve.max_passkeys)
        .header_timeout(Duration::from_secs(serve.header_timeout_secs.max(1)))
        .idle_timeout(Duration::from_secs(serve.idle_timeout_secs.max(1)))
        .request_timeout(Duration::from_secs(serve.request_timeout_secs.max(1)))
        .require_identifier_verification(serve.require_verification)
        .otp_ttl(Duration::from_secs(serve.otp_ttl_secs))
        .identifiers(serve.identifiers)
        .login_url(serve.login_url);
    if let Some(methods) = serve.auth_methods {
        builder = builder.auth_methods(methods);
    }
    match (serve.sms_webhook_url, &serve.sms_webhook_secret_file) {
        (Some(url), Some(path)) => {
            let secret = std::fs::read_to_string(path)
                .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
            builder = builder.sms_webhook(SmsWebhook::new(url, secret.trim()));
        }
        (Some(_), None) => {
            return Err("--sms-webhook-url needs --sms-webhook-secret-file".into());
        }
        (None, Some(_)) => {
            return Err("--sms-webhook-secret-file needs --sms-webhook-url".into());
        }
        (None, None) => {}
    }
    if let Some(dir) = serve.locales_dir {
        builder = builder.locales_dir(dir);
    }
    if let Some(path) = &serve.user_fields {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let fields = passage_server::UserFields::from_json(&text)
            .map_err(|err| format!("{}: {err}", path.display()))?;
        builder = builder.user_fields(fields);
    }
    if let Some(max) = serve.max_connections {
        builder = builder.max_connections(max);
    }
    if let Some(database) = serve.database {
        builder = match postgres_url(&database) {
            Some(url) => builder.database_url(url),
            None => builder.database(database),
        };
    }
    if let Some(path) = &serve.users {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let users: Vec<SeedUser> =
            serde_json::from_str(&text).map_err(|err| format!("{}: {err}", path.display()))?;
        for user in users {
            builder = builder.user(user);
        }
    }
    if let Some(path) = &serve.key_file {
        builder = builder.sealing_key(SealingKey::from_file(path).map_err(|err| err.to_string())?);
    }
    if let Some(path) = &serve.previous_key_file {
        builder = builder
            .previous_sealing_key(SealingKey::from_file(path).map_err(|err| err.to_string())?);
    }
    let redis_url = serve
        .redis_url
        .clone()
        .or_else(|| std::env::var("REDIS_URL").ok())
        .filter(|url| !url.trim().is_empty());
    if let Some(url) = redis_url {
        builder = builder.redis(url.trim(), serve.redis_namespace.clone());
    }
    if let Some(dir) = serve.elements_dir {
        builder = builder.elements_dir(dir);
    }
    if let Some(url) = serve.public_url {
        builder = builder.public_auth_url(url);
    }
    if let Some(url) = serve.smtp_url {
        builder = builder.smtp(SmtpSettings {
            url,
            from: serve.mail_from,
        });
    }
    builder = with_metrics(builder)?;
    let server = builder.start().await.map_err(|err| report(&err))?;
    say!(
        "# passage-server: Authentication API on {} (for passage-elements), Management API on {}",
        server.auth_url(),
        server.api_url()
    );
    say!("# In the app's page, before the element's module script:");
    say!(
        "#   <script src=\"{}/passage-fetch.js\"></script>",
        server.auth_url()
    );
    say!("# The app's backend:");
    for (name, value) in server.env_vars() {
        if name == "PASSAGE_API_KEY" && !serve.dev {
            say!("export {name}=…   # the key you passed");
        } else {
            say!("export {name}={value}");
        }
    }
    if serve.dev {
        say!("# Development mode:");
        say!(
            "#   a token for a user:  curl -s -X POST {}/__emulator/token -d '{{\"user_id\":\"USER_ID\"}}'",
            server.api_url()
        );
        say!(
            "#   magic links sent:    {}/__passage/mailbox",
            server.auth_url()
        );
    }
    passage_server::shutdown_signal().await;
    say!("# shutting down: finishing the requests in flight");
    server.stop().await;
    Ok(())
}

/// Reads a file the import takes, refusing one over the import's limit unread.
fn read_limited(path: &std::path::Path) -> Result<String, String> {
    let size = std::fs::metadata(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?
        .len();
    if size > u64::try_from(passage_server::MAX_FILE_BYTES).unwrap_or(u64::MAX) {
        return Err(format!(
            "{} is over {} MiB: split it (a CSV keeps its header row in every part)",
            path.display(),
            passage_server::MAX_FILE_BYTES / 1024 / 1024
        ));
    }
    std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))
}

async fn import(import: Import) -> Result<(), String> {
    let text = read_limited(&import.file)?;
    let mut options = ImportOptions::new(import.dry_run);
    if let Some(origin) = &import.auth_origin {
        options = options.relying_party(relying_party_of(origin)?);
    }
    if let Some(path) = &import.credentials {
        options = options.credentials(read_limited(path)?);
    }
    for column in import.columns {
        options = options.column(column);
    }
    match import.format.as_deref() {
        Some("json") => options = options.format(Format::Json),
        Some("csv") => options = options.format(Format::Csv),
        _ => {}
    }
    // A dry run against a SQLite file that does not exist yet plans against an empty store: it
    // creates no file.
    let store: Box<dyn Store> = if import.dry_run
        && postgres_url(&import.database).is_none()
        && !import.database.exists()
    {
        Box::new(MemoryStore::new())
    } else {
        open(&import.database).await?
    };
    let name = import.file.to_string_lossy();
    let result = import_users(store.as_ref(), &name, &text, &options)
        .await
        .map_err(|err| format!("import: {err}"))?;
    print!("{result}");
    if result.failed() {
        return Err(if import.dry_run {
            "the dry run found rows or passkeys that would not be imported (above)".into()
        } else {
            "some rows or passkeys were not imported (above); fix them and run the import again: it creates nothing twice".into()
        });
    }
    Ok(())
}

async fn export(database: &std::path::Path, auth_origin: Option<&str>) -> Result<(), String> {
    let relying_party = auth_origin.map(relying_party_of).transpose()?;
    let store = open(database).await?;
    let users = export_users(store.as_ref(), relying_party.as_deref())
        .await
        .map_err(|err| format!("export: {err}"))?;
    let text = serde_json::to_string_pretty(&users).map_err(|err| err.to_string())?;
    println!("{text}");
    Ok(())
}

async fn rotate_key(
    database: &std::path::Path,
    key_file: Option<&std::path::Path>,
    signs_in_secs: u64,
) -> Result<(), String> {
    let sealing = key_file
        .map(SealingKey::from_file)
        .transpose()
        .map_err(|err| err.to_string())?;
    let store = open(database).await?;
    let rotation = passage_server::rotate_signing_key(
        store.as_ref(),
        sealing,
        Duration::from_secs(signs_in_secs),
    )
    .await
    .map_err(|err| report(&err))?;
    println!(
        "new signing key {}: served by every server from its next key reload, signing from {} (unix time; in {signs_in_secs} s)",
        rotation.kid, rotation.signs_from
    );
    Ok(())
}

/// The store `--database` names: PostgreSQL for a URL, else a SQLite file.
async fn open(database: &std::path::Path) -> Result<Box<dyn Store>, String> {
    Ok(match postgres_url(database) {
        Some(url) => Box::new(
            PostgresStore::connect(url)
                .await
                .map_err(|err| report(&err))?,
        ),
        None => Box::new(SqliteStore::open(database).map_err(|err| report(&err))?),
    })
}

/// `--database` as a PostgreSQL URL, when it is one (else it is a SQLite file's path).
fn postgres_url(database: &std::path::Path) -> Option<&str> {
    database.to_str().filter(|text| PostgresStore::is_url(text))
}

/// An error and its causes, on one line.
fn report(err: &(dyn std::error::Error + 'static)) -> String {
    passage_core::Report(err).to_string()
}
