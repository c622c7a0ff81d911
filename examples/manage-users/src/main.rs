//! `cargo run -p example-manage-users -- <command>` — every Management API operation from the
//! command line, printing JSON.
//!
//! ```text
//! cargo run -p example-manage-users -- users list --status active
//! cargo run -p example-manage-users -- users get demo-user
//! cargo run -p example-manage-users -- users find Demo@Example.com
//! cargo run -p example-manage-users -- users create --email new@example.com
//! cargo run -p example-manage-users -- magic-link --email demo@example.com
//! cargo run -p example-manage-users -- app
//! ```
//! Configured by `PASSAGE_APP_ID`, `PASSAGE_API_KEY`, `PASSAGE_AUTH_URL`, `PASSAGE_API_URL`;
//! with `REDIS_URL`, `users deactivate`, `users delete` and `users revoke-refresh-tokens` also
//! revoke the user's current tokens on every app replica sharing that Redis, at once;
//! with `PASSAGE_APP_ID` unset it runs against an embedded passage-server (development mode) with seeded users.
//! On failure it prints `{"error": {"status", "code", "message"}}` to stderr and exits 1.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use futures_util::TryStreamExt as _;
use passage_core::{
    ApiError, ConfigError, CreateMagicLink, CreateUser, Passage, PassageBuilder, UpdateUser,
    models::{Channel, Language, MagicLinkType, Metadata, UserStatus},
};
use passage_redis::RedisRevocations;
use passage_server::SeedUser;
use serde::Serialize;
use serde_json::json;

/// Manage Passage users from the command line.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// User operations.
    #[command(subcommand)]
    Users(Users),
    /// Create a magic link.
    MagicLink(MagicLinkArgs),
    /// Show the app's settings.
    App,
}

#[derive(Debug, Subcommand)]
enum Users {
    /// List users (one page, or every page with --all).
    List {
        #[arg(long, value_enum)]
        status: Option<Status>,
        #[arg(long)]
        identifier: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long, default_value_t = 1)]
        page: u32,
        /// Stream every page.
        #[arg(long)]
        all: bool,
    },
    /// Get a user by id.
    Get { id: String },
    /// Find a user by email or phone.
    Find { identifier: String },
    /// Create a user.
    Create {
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// Metadata as a JSON object.
        #[arg(long)]
        metadata: Option<String>,
    },
    /// Update a user.
    Update {
        id: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        metadata: Option<String>,
    },
    /// Delete a user.
    Delete { id: String },
    /// Activate a user.
    Activate { id: String },
    /// Deactivate a user.
    Deactivate { id: String },
    /// List a user's devices.
    Devices { id: String },
    /// Revoke one of a user's devices.
    RevokeDevice { id: String, device_id: String },
    /// Revoke a user's refresh tokens (sign out everywhere).
    SignOut { id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Status {
    Active,
    Inactive,
    Pending,
}

#[derive(Debug, clap::Args)]
struct MagicLinkArgs {
    #[arg(long, conflicts_with_all = ["phone", "user_id"])]
    email: Option<String>,
    #[arg(long, conflicts_with = "user_id")]
    phone: Option<String>,
    #[arg(long, requires = "channel")]
    user_id: Option<String>,
    #[arg(long, value_enum)]
    channel: Option<ChannelArg>,
    /// de, en, es, it, pl, pt or zh.
    #[arg(long)]
    language: Option<String>,
    /// Lifetime in minutes.
    #[arg(long)]
    ttl: Option<u32>,
    #[arg(long)]
    redirect_url: Option<String>,
    #[arg(long)]
    magic_link_path: Option<String>,
    /// Let Passage send the message.
    #[arg(long)]
    send: bool,
    /// An identifier-verification link instead of a login link.
    #[arg(long)]
    verify: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ChannelArg {
    Email,
    Phone,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo server lives as long as this process; keep it.
    // With REDIS_URL, what this command revokes reaches every replica of the app.
    let redis = match std::env::var("REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => match RedisRevocations::new(url.trim()) {
            Ok(redis) => Some(redis),
            Err(err) => return fail(&configuration(passage_core::Report(&err).to_string())),
        },
        _ => None,
    };
    let (passage, _demo) = match PassageBuilder::from_env() {
        Ok(builder) => {
            let builder = match &redis {
                Some(redis) => builder.revocations(redis.clone()),
                None => builder,
            };
            match builder.build() {
                Ok(passage) => (passage, None),
                Err(err) => return fail(&configuration(passage_core::Report(&err).to_string())),
            }
        }
        // No PASSAGE_APP_ID: an embedded passage-server with a few seeded users.
        Err(ConfigError::MissingEnv("PASSAGE_APP_ID")) => match example_support::demo().await {
            Ok((passage, server)) => {
                for seed in [
                    SeedUser::email("ada@example.com")
                        .with_id("user-ada")
                        .with_phone("+14155550100")
                        .with_device("Ada's laptop"),
                    SeedUser::email("grace@example.com").with_id("user-grace"),
                ] {
                    let _ = server.seed_user(seed).await;
                }
                (passage, Some(server))
            }
            Err(err) => return fail(&configuration(format!("{err:?}"))),
        },
        Err(err) => return fail(&configuration(passage_core::Report(&err).to_string())),
    };
    let outcome = run(&passage, cli.command).await;
    // A revocation is written to Redis in the background: wait for it before exiting.
    if let Some(redis) = &redis
        && !redis.flush(std::time::Duration::from_secs(10)).await
    {
        eprintln!("warning: a session revocation could not be written to Redis (REDIS_URL)");
    }
    match outcome {
        Ok(value) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Err(err) => fail(&json!({
            "status": err.status(),
            "code": err.code().map_or_else(|| kind(&err).to_owned(), |c| c.as_str().to_owned()),
            "message": passage_core::Report(&err).to_string(),
        })),
    }
}

/// The error body for a client that could not be configured.
fn configuration(message: String) -> serde_json::Value {
    json!({ "status": null, "code": "configuration", "message": message })
}

fn fail(error: &serde_json::Value) -> ExitCode {
    eprintln!("{}", json!({ "error": error }));
    ExitCode::FAILURE
}

fn kind(err: &ApiError) -> &'static str {
    match err {
        ApiError::MissingApiKey => "missing_api_key",
        ApiError::InvalidArgument { .. } => "invalid_argument",
        ApiError::Timeout => "timeout",
        ApiError::Transport(_) => "transport",
        ApiError::Decode(_) => "unexpected_response",
        _ => "error",
    }
}

fn to_json(value: impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Encode(std::sync::Arc::new(e)))
}

fn metadata(raw: Option<String>) -> Result<Option<Metadata>, ApiError> {
    raw.map(|raw| {
        serde_json::from_str::<Metadata>(&raw).map_err(|_| ApiError::InvalidArgument {
            name: "metadata",
            reason: "must be a JSON object",
        })
    })
    .transpose()
}

async fn run(passage: &Passage, command: Command) -> Result<serde_json::Value, ApiError> {
    let users = passage.users();
    match command {
        Command::Users(Users::List {
            status,
            identifier,
            limit,
            page,
            all,
        }) => {
            let mut query = users.list().limit(limit).page(page);
            if let Some(status) = status {
                query = query.status(match status {
                    Status::Active => UserStatus::Active,
                    Status::Inactive => UserStatus::Inactive,
                    Status::Pending => UserStatus::Pending,
                });
            }
            if let Some(identifier) = identifier {
                query = query.identifier(identifier.to_lowercase());
            }
            if all {
                let every: Vec<_> = query.into_stream().try_collect().await?;
                to_json(json!({ "total": every.len(), "users": every }))
            } else {
                let page = query.send().await?;
                to_json(json!({
                    "page": page.page(),
                    "limit": page.limit(),
                    "total": page.total(),
                    "has_next": page.has_next(),
                    "users": page.items(),
                }))
            }
        }
        Command::Users(Users::Get { id }) => to_json(users.get(&id).await?),
        Command::Users(Users::Find { identifier }) => {
            to_json(users.get_by_identifier(&identifier).await?)
        }
        Command::Users(Users::Create {
            email,
            phone,
            metadata: raw,
        }) => {
            let mut user = CreateUser::default();
            if let Some(email) = email {
                user = CreateUser::email(email);
            }
            if let Some(phone) = phone {
                user = user.phone(phone);
            }
            if let Some(metadata) = metadata(raw)? {
                user = user.metadata(metadata);
            }
            to_json(users.create(user).await?)
        }
        Command::Users(Users::Update {
            id,
            email,
            phone,
            metadata: raw,
        }) => {
            let mut change = UpdateUser::new();
            if let Some(email) = email {
                change = change.email(email);
            }
            if let Some(phone) = phone {
                change = change.phone(phone);
            }
            if let Some(metadata) = metadata(raw)? {
                change = change.metadata(metadata);
            }
            to_json(users.update(&id, change).await?)
        }
        Command::Users(Users::Delete { id }) => {
            users.delete(&id).await?;
            Ok(json!({ "deleted": id }))
        }
        Command::Users(Users::Activate { id }) => to_json(users.activate(&id).await?),
        Command::Users(Users::Deactivate { id }) => to_json(users.deactivate(&id).await?),
        Command::Users(Users::Devices { id }) => to_json(users.list_devices(&id).await?),
        Command::Users(Users::RevokeDevice { id, device_id }) => {
            users.revoke_device(&id, &device_id).await?;
            Ok(json!({ "revoked_device": device_id }))
        }
        Command::Users(Users::SignOut { id }) => {
            users.revoke_refresh_tokens(&id).await?;
            Ok(json!({ "signed_out": id }))
        }
        Command::MagicLink(args) => to_json(passage.magic_links().create(magic_link(args)?).await?),
        Command::App => to_json(passage.app().get().await?),
    }
}

fn magic_link(args: MagicLinkArgs) -> Result<CreateMagicLink, ApiError> {
    let mut link = match (args.email, args.phone, args.user_id, args.channel) {
        (Some(email), None, None, _) => CreateMagicLink::email(email),
        (None, Some(phone), None, _) => CreateMagicLink::phone(phone),
        (None, None, Some(id), Some(channel)) => CreateMagicLink::user_id(
            id,
            match channel {
                ChannelArg::Email => Channel::Email,
                ChannelArg::Phone => Channel::Phone,
            },
        ),
        _ => {
            return Err(ApiError::InvalidArgument {
                name: "magic-link",
                reason: "give --email, --phone, or --user-id with --channel",
            });
        }
    };
    if let Some(language) = args.language {
        link = link.language(language.parse::<Language>()?);
    }
    if let Some(ttl) = args.ttl {
        link = link.ttl_minutes(ttl);
    }
    if let Some(url) = args.redirect_url {
        link = link.redirect_url(url);
    }
    if let Some(path) = args.magic_link_path {
        link = link.magic_link_path(path);
    }
    if args.send {
        link = link.send(true);
    }
    if args.verify {
        link = link.kind(MagicLinkType::VerifyIdentifier);
    }
    Ok(link)
}
