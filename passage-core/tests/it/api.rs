//! The Management API client against a started emulator: every operation, success and errors,
//! pagination, retries, and secrets that never print.

use std::time::Duration;

use futures_util::TryStreamExt as _;
use passage_core::{
    ApiError, CreateMagicLink, CreateUser, ErrorCode, Filter, Order, Passage, UpdateUser,
    models::{
        AppType, Channel, ElementCustomization, Language, MagicLinkType, Technology, ThemeType,
        TtlDisplayUnit, UserStatus, WebAuthnType,
    },
};
use passage_emulator::{Emulator, Fault, SeedUser, Target};
use serde_json::json;

const KEY: &str = "sk_test_very_secret_key";

async fn setup() -> (Emulator, Passage) {
    let emu = Emulator::builder()
        .app_id("app_api")
        .api_key(KEY)
        .user(
            SeedUser::email("ada@example.com")
                .with_id("user-ada")
                .with_phone("+14155550100")
                .with_device("Ada's laptop"),
        )
        .start()
        .await
        .expect("emulator");
    let passage = client(&emu, KEY);
    (emu, passage)
}

fn client(emu: &Emulator, key: &str) -> Passage {
    Passage::builder(emu.app_id())
        .api_key(key)
        .auth_url(emu.auth_url())
        .api_url(emu.api_url())
        .retry_backoff(Duration::from_millis(20), Duration::from_secs(2))
        .build()
        .expect("client")
}

fn code(err: &ApiError) -> &ErrorCode {
    err.code()
        .unwrap_or_else(|| panic!("expected an API error, got {err:?}"))
}

#[tokio::test]
async fn user_lifecycle() {
    let (emu, passage) = setup().await;
    let users = passage.users();

    let created = users
        .create(
            CreateUser::email("Grace@Example.com")
                .metadata(json!({"plan": "pro"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(created.email, "grace@example.com");
    assert_eq!(created.status, UserStatus::Active);
    assert_eq!(created.user_metadata.as_ref().unwrap()["plan"], "pro");
    assert!(created.webauthn_devices.is_empty() && created.recent_events.is_empty());

    let fetched = users.get(&created.id).await.unwrap();
    assert_eq!(fetched, created);

    let updated = users
        .update(&created.id, UpdateUser::new().phone("+14155550199"))
        .await
        .unwrap();
    assert_eq!(updated.phone, "+14155550199");
    assert_eq!(updated.email, "grace@example.com");

    assert_eq!(
        users.deactivate(&created.id).await.unwrap().status,
        UserStatus::Inactive
    );
    assert_eq!(
        users.activate(&created.id).await.unwrap().status,
        UserStatus::Active
    );

    users.delete(&created.id).await.unwrap();
    let gone = users.get(&created.id).await.unwrap_err();
    assert!(gone.is_not_found());
    assert_eq!(code(&gone), &ErrorCode::UserNotFound);
    assert!(users.delete(&created.id).await.unwrap_err().is_not_found());
    drop(emu);
}

#[tokio::test]
async fn get_by_identifier_is_case_insensitive_and_finds_phones() {
    let (_emu, passage) = setup().await;
    let users = passage.users();
    assert_eq!(
        users.get_by_identifier("ADA@example.COM").await.unwrap().id,
        "user-ada"
    );
    assert_eq!(
        users.get_by_identifier("+14155550100").await.unwrap().id,
        "user-ada"
    );
    let missing = users
        .get_by_identifier("nobody@example.com")
        .await
        .unwrap_err();
    assert_eq!(
        (missing.status(), code(&missing)),
        (Some(404), &ErrorCode::UserNotFound)
    );
    assert!(matches!(
        users.get_by_identifier("").await,
        Err(ApiError::InvalidArgument {
            name: "identifier",
            reason: "must not be empty"
        })
    ));
}

#[tokio::test]
async fn devices_and_refresh_tokens() {
    let (emu, passage) = setup().await;
    let users = passage.users();
    let devices = users.list_devices("user-ada").await.unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].friendly_name, "Ada's laptop");
    assert_eq!(devices[0].kind, WebAuthnType::Passkey);

    let unknown = users
        .revoke_device("user-ada", "no-such-device")
        .await
        .unwrap_err();
    assert_eq!(code(&unknown), &ErrorCode::DeviceNotFound);
    users
        .revoke_device("user-ada", &devices[0].id)
        .await
        .unwrap();
    assert!(users.list_devices("user-ada").await.unwrap().is_empty());
    assert!(!users.get("user-ada").await.unwrap().webauthn);

    users.revoke_refresh_tokens("user-ada").await.unwrap();
    #[allow(deprecated)]
    users.sign_out("user-ada").await.unwrap();
    assert_eq!(emu.refresh_token_revocations("user-ada"), Some(2));
    assert!(
        users
            .revoke_refresh_tokens("nobody")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn errors_from_passage_are_typed() {
    let (emu, passage) = setup().await;
    let wrong = client(&emu, "sk_wrong");
    let err = wrong.users().get("user-ada").await.unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(code(&err), &ErrorCode::InvalidAccessToken);

    let bad = passage
        .users()
        .create(CreateUser::email("not-an-email"))
        .await
        .unwrap_err();
    assert!(bad.is_bad_request());
    assert_eq!(code(&bad), &ErrorCode::InvalidRequest);

    let other_app = Passage::builder("other_app")
        .api_key(KEY)
        .auth_url(emu.auth_url())
        .api_url(emu.api_url())
        .build()
        .unwrap();
    let err = other_app.app().get().await.unwrap_err();
    assert_eq!(code(&err), &ErrorCode::AppNotFound);
}

#[tokio::test]
async fn arguments_are_checked_before_any_request() {
    let (emu, passage) = setup().await;
    emu.set_fault(Target::Api, Fault::Unavailable); // any request that got through would see 503
    let users = passage.users();
    assert!(matches!(
        users.get("").await,
        Err(ApiError::InvalidArgument {
            name: "user_id",
            ..
        })
    ));
    assert!(matches!(
        users.get("..").await,
        Err(ApiError::InvalidArgument {
            name: "user_id",
            reason: "must not be a dot segment"
        })
    ));
    assert!(matches!(
        users.create(CreateUser::default()).await,
        Err(ApiError::InvalidArgument { name: "user", .. })
    ));
    assert!(matches!(
        users.list().limit(501).send().await,
        Err(ApiError::InvalidArgument { name: "limit", .. })
    ));
    assert!(matches!(
        users.list().page(0).send().await,
        Err(ApiError::InvalidArgument { name: "page", .. })
    ));
    let links = passage.magic_links();
    assert!(matches!(
        links
            .create(CreateMagicLink::email("a@b.co").ttl_minutes(0))
            .await,
        Err(ApiError::InvalidArgument { name: "ttl", .. })
    ));
    assert!(matches!(
        links
            .create(CreateMagicLink::email("a@b.co").magic_link_path("https://evil"))
            .await,
        Err(ApiError::InvalidArgument {
            name: "magic_link_path",
            ..
        })
    ));
    assert!(matches!(
        "xx".parse::<Language>(),
        Err(ApiError::InvalidArgument {
            name: "language",
            ..
        })
    ));

    let keyless = Passage::builder(emu.app_id())
        .auth_url(emu.auth_url())
        .api_url(emu.api_url())
        .build()
        .unwrap();
    assert!(matches!(
        keyless.users().get("user-ada").await,
        Err(ApiError::MissingApiKey)
    ));
}

#[tokio::test]
async fn ids_cannot_address_another_route() {
    let (_emu, passage) = setup().await;
    for id in ["../user-ada", "user-ada/devices", "user-ada?x=1", "%2E%2E"] {
        let err = passage.users().get(id).await.unwrap_err();
        assert_eq!(code(&err), &ErrorCode::UserNotFound, "{id}");
    }
}

#[tokio::test]
async fn pagination_and_the_stream_cover_every_user() {
    let (emu, passage) = setup().await;
    for i in 0..24 {
        emu.seed_user(SeedUser::email(format!("user{i:02}@example.com")))
            .unwrap();
    }
    let first = passage
        .users()
        .list()
        .limit(10)
        .order_by("email", Order::Asc)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            first.page(),
            first.items().len(),
            first.total(),
            first.has_next()
        ),
        (1, 10, 25, true)
    );
    let links = first.links();
    assert!(
        links.first.as_deref().is_some_and(|l| l.contains("page=1")),
        "{links:?}"
    );
    assert!(
        links.next.as_deref().is_some_and(|l| l.contains("page=2")),
        "{links:?}"
    );
    assert!(
        links.last.as_deref().is_some_and(|l| l.contains("page=3")),
        "{links:?}"
    );
    assert!(
        links.current.is_some() && links.previous.is_none(),
        "{links:?}"
    );
    assert!(first.created_before() > 0);
    let second = first.next_page().await.unwrap().unwrap();
    assert_eq!((second.page(), second.items().len()), (2, 10));
    assert!(second.links().previous.is_some());
    assert_eq!(second.created_before(), first.created_before(), "pinned");
    let third = second.next_page().await.unwrap().unwrap();
    assert_eq!(
        (third.page(), third.items().len(), third.has_next()),
        (3, 5, false)
    );
    assert!(third.next_page().await.unwrap().is_none());
    assert!(first.items()[0].email < second.items()[0].email);

    let all: Vec<_> = passage
        .users()
        .list()
        .limit(7)
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    let mut ids: Vec<_> = all.iter().map(|u| u.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
}

#[tokio::test]
async fn list_filters_reach_the_server() {
    let (emu, passage) = setup().await;
    let bob = emu.seed_user(SeedUser::email("bob@example.com")).unwrap();
    passage.users().deactivate(&bob).await.unwrap();
    let inactive = passage
        .users()
        .list()
        .status(UserStatus::Inactive)
        .send()
        .await
        .unwrap();
    assert_eq!(
        inactive
            .items()
            .iter()
            .map(|u| u.id.as_str())
            .collect::<Vec<_>>(),
        [bob.as_str()]
    );
    let like = passage
        .users()
        .list()
        .identifier(Filter::like("ada"))
        .send()
        .await
        .unwrap();
    assert_eq!(like.items().len(), 1);
    let none = passage
        .users()
        .list()
        .login_count(Filter::gt(0))
        .send()
        .await
        .unwrap();
    assert_eq!(none.total(), 0);
    let recent = passage
        .users()
        .list()
        .created_at(Filter::gt(Filter::time(
            time::OffsetDateTime::now_utc() - time::Duration::hours(1),
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(recent.total(), 2);
}

#[tokio::test]
async fn magic_links_by_email_phone_and_user() {
    let (_emu, passage) = setup().await;
    let links = passage.magic_links();
    let by_email = links
        .create(
            CreateMagicLink::email("ada@example.com")
                .language(Language::De)
                .ttl_minutes(30)
                .magic_link_path("/magic")
                .redirect_url("/home"),
        )
        .await
        .unwrap();
    assert_eq!(by_email.user_id, "user-ada");
    assert_eq!(by_email.ttl, 30);
    assert_eq!(by_email.kind, MagicLinkType::Login);
    assert!(
        by_email.url.expose().contains("/magic?psg_magic_link="),
        "{}",
        by_email.url.expose()
    );
    let by_phone = links
        .create(CreateMagicLink::phone("+14155550100").send(false))
        .await
        .unwrap();
    assert_eq!(by_phone.identifier, "+14155550100");
    let by_user = links
        .create(
            CreateMagicLink::user_id("user-ada", Channel::Email)
                .kind(MagicLinkType::VerifyIdentifier),
        )
        .await
        .unwrap();
    assert_eq!(
        (by_user.identifier.as_str(), by_user.kind),
        ("ada@example.com", MagicLinkType::VerifyIdentifier)
    );
    let unknown = links
        .create(CreateMagicLink::user_id("nobody", Channel::Email))
        .await
        .unwrap_err();
    assert!(unknown.is_not_found());
}

#[tokio::test]
async fn app_info_needs_no_key() {
    let (emu, _) = setup().await;
    let keyless = Passage::builder(emu.app_id())
        .auth_url(emu.auth_url())
        .api_url(emu.api_url())
        .build()
        .unwrap();
    let app = keyless.app().get().await.unwrap();
    assert_eq!(app.id, "app_api");
    assert!(app.auth_methods.passkeys.enabled);
    assert!(app.rsa_public_key.contains("BEGIN PUBLIC KEY"));
    // The official models' enums, typed, every value known.
    assert_eq!(app.kind, AppType::Complete);
    assert_eq!(app.hosted_theme, ThemeType::Auto);
    assert_eq!(
        app.auth_methods.magic_link.ttl_display_unit,
        TtlDisplayUnit::Minutes
    );
    assert!(
        app.technologies
            .iter()
            .all(|t| !matches!(t, Technology::Unknown(_)))
    );
    assert_eq!(app.element_customization, ElementCustomization::default());
}

/// A loopback server that records each request's head and answers 503.
async fn recording() -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (seen, heads) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = seen.send(String::from_utf8_lossy(&head).to_lowercase());
                let _ = stream
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (base, heads)
}

#[tokio::test]
async fn every_request_carries_a_user_agent_even_with_a_client_of_your_own() {
    let (base, mut heads) = recording().await;
    // reqwest's own default client sends no User-Agent.
    let passage = Passage::builder("app_api")
        .api_key(KEY)
        .api_url(&base)
        .auth_url(&base)
        .http_client(reqwest::Client::new())
        .max_retries(0)
        .build()
        .unwrap();
    let _ = passage.users().get("user-ada").await;
    let _ = passage.auth().warm_up().await;
    let ua = format!("user-agent: passage-rust/{}", env!("CARGO_PKG_VERSION"));
    for what in ["the API call", "the JWKS fetch"] {
        let head = heads.recv().await.unwrap();
        assert!(head.contains(&ua), "{what}: {head}");
    }
}

#[tokio::test]
async fn the_status_filter_takes_operators() {
    let (_emu, passage) = setup().await;
    passage
        .users()
        .create(CreateUser::email("bob@example.com"))
        .await
        .unwrap();
    passage.users().deactivate("user-ada").await.unwrap();
    let page = passage
        .users()
        .list()
        .status(Filter::ne(UserStatus::Active))
        .send()
        .await
        .unwrap();
    let ids: Vec<_> = page.items().iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["user-ada"]);
}

#[tokio::test]
async fn idempotent_calls_retry_5xx_then_succeed() {
    let (emu, passage) = setup().await;
    emu.set_fault_times(Target::Api, Fault::Unavailable, 2);
    assert_eq!(
        passage.users().get("user-ada").await.unwrap().id,
        "user-ada"
    );
    emu.set_fault_times(Target::Api, Fault::Close, 1);
    assert_eq!(
        passage.users().get("user-ada").await.unwrap().id,
        "user-ada"
    );
}

#[tokio::test]
async fn a_retried_update_sends_its_body_again_intact() {
    let (emu, passage) = setup().await;
    emu.set_fault_times(Target::Api, Fault::Unavailable, 2);
    let updated = passage
        .users()
        .update("user-ada", UpdateUser::new().email("ada@lovelace.example"))
        .await
        .unwrap();
    assert_eq!(updated.email, "ada@lovelace.example");
    assert_eq!(
        passage.users().get("user-ada").await.unwrap().email,
        "ada@lovelace.example"
    );
}

#[tokio::test]
async fn retries_give_up_with_the_last_error() {
    let (emu, passage) = setup().await;
    emu.set_fault_times(Target::Api, Fault::Status(502), 3); // 1 try + 2 retries
    let err = passage.users().get("user-ada").await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    assert_eq!(
        passage.users().get("user-ada").await.unwrap().id,
        "user-ada"
    );
}

#[tokio::test]
async fn creates_are_never_retried() {
    let (emu, passage) = setup().await;
    emu.set_fault_times(Target::Api, Fault::Unavailable, 1);
    let err = passage
        .users()
        .create(CreateUser::email("once@example.com"))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    let err = passage
        .magic_links()
        .create(CreateMagicLink::email("ada@example.com"));
    emu.set_fault_times(Target::Api, Fault::Unavailable, 1);
    assert_eq!(err.await.unwrap_err().status(), Some(503));
    // The fault was used up by the single attempt; nothing was created.
    assert!(
        passage
            .users()
            .get_by_identifier("once@example.com")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn retry_after_is_honoured_or_ends_the_retries() {
    let (emu, passage) = setup().await;
    emu.set_fault_times(Target::Api, Fault::Status(429), 1); // Retry-After: 1
    assert_eq!(
        passage.users().get("user-ada").await.unwrap().id,
        "user-ada"
    );

    let impatient = Passage::builder(emu.app_id())
        .api_key(KEY)
        .auth_url(emu.auth_url())
        .api_url(emu.api_url())
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(100))
        .build()
        .unwrap();
    emu.set_fault_times(Target::Api, Fault::Status(429), 1);
    assert_eq!(
        impatient
            .users()
            .get("user-ada")
            .await
            .unwrap_err()
            .status(),
        Some(429)
    );
}

#[tokio::test]
async fn timeouts_are_reported_as_such() {
    let (emu, _) = setup().await;
    let quick = Passage::builder(emu.app_id())
        .api_key(KEY)
        .auth_url(emu.auth_url())
        .api_url(emu.api_url())
        .request_timeout(Duration::from_millis(200))
        .max_retries(0)
        .build()
        .unwrap();
    emu.set_fault(Target::Api, Fault::Hang);
    let err = quick.users().get("user-ada").await.unwrap_err();
    assert!(matches!(err, ApiError::Timeout), "{err:?}");
    assert!(err.is_transport());
}

#[tokio::test]
async fn the_api_key_never_prints() {
    let (emu, passage) = setup().await;
    assert!(!format!("{passage:?}").contains(KEY));
    let mut errors = vec![
        client(&emu, KEY).users().get("nobody").await.unwrap_err(),
        client(&emu, "sk_wrong_key")
            .users()
            .get("user-ada")
            .await
            .unwrap_err(),
    ];
    emu.set_fault(Target::Api, Fault::Garbage);
    errors.push(passage.users().get("user-ada").await.unwrap_err());
    for err in errors {
        for text in [
            format!("{err}"),
            format!("{err:?}"),
            passage_core::Report(&err).to_string(),
        ] {
            assert!(
                !text.contains(KEY) && !text.contains("sk_wrong_key"),
                "{text}"
            );
        }
    }
}

/// A loopback HTTP server that answers every request with `respond(path_and_query)`, the whole
/// raw response; for answers no honest server gives.
async fn scripted(respond: impl Fn(&str) -> Vec<u8> + Send + Sync + 'static) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let respond = std::sync::Arc::new(respond);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let respond = std::sync::Arc::clone(&respond);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request);
                let target = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let _ = stream.write_all(&respond(&target)).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    base
}

fn json_response(body: &serde_json::Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn scripted_client(base: &str) -> Passage {
    Passage::builder("app_api")
        .api_key(KEY)
        .auth_url(base)
        .api_url(base)
        .max_retries(0)
        .build()
        .unwrap()
}

fn list_item(id: &str, email: &str) -> serde_json::Value {
    json!({
        "id": id, "email": email, "phone": "", "external_id": "", "email_verified": true,
        "phone_verified": false, "login_count": 0, "status": "active",
        "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
        "last_login_at": "2026-01-01T00:00:00Z", "user_metadata": null
    })
}

#[tokio::test]
async fn an_identifier_with_a_filter_operator_never_selects_somebody_else() {
    let (_emu, passage) = setup().await;
    for hostile in [
        "like:ada",
        "LIKE:ada",
        "ne:nobody@example.com",
        "gt:a",
        "lt:z",
        "not_like:x",
    ] {
        let err = passage
            .users()
            .get_by_identifier(hostile)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ApiError::InvalidArgument {
                    name: "identifier",
                    ..
                }
            ),
            "{hostile}: {err:?}"
        );
    }
    // Found only by an exact email (any case) or phone.
    let users = passage.users();
    assert_eq!(
        users.get_by_identifier("ADA@example.com").await.unwrap().id,
        "user-ada"
    );
    assert_eq!(
        users.get_by_identifier("+14155550100").await.unwrap().id,
        "user-ada"
    );
    assert!(
        users
            .get_by_identifier("ada")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn an_identifier_answered_with_another_user_is_not_found() {
    // A server whose identifier filter is looser than equality answers with somebody else.
    let base = scripted(|target| {
        if target.contains("/users?") {
            json_response(&json!({
                "_links": {}, "created_before": 0, "limit": 1, "page": 1, "total_users": 1,
                "users": [list_item("user-eve", "eve@example.com")]
            }))
        } else {
            panic!("no get may follow: {target}")
        }
    })
    .await;
    let err = scripted_client(&base)
        .users()
        .get_by_identifier("ada@example.com")
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err:?}");
    assert_eq!(err.code(), Some(&ErrorCode::UserNotFound));
}

#[tokio::test]
async fn response_bodies_are_capped() {
    let huge = 17 * 1024 * 1024;
    let declared = scripted(move |_| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {huge}\r\n\r\n{{"
        )
        .into_bytes()
    })
    .await;
    let streamed = scripted(move |_| {
        let mut response =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n"
                .to_vec();
        response.extend(std::iter::repeat_n(b' ', huge));
        response
    })
    .await;
    for base in [declared, streamed] {
        let err = scripted_client(&base)
            .users()
            .get("user-ada")
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::ResponseTooLarge(_)), "{err:?}");
    }
}

#[tokio::test]
async fn a_listing_that_never_advances_ends() {
    for page in [1u32, u32::MAX] {
        // Every request gets the same page, always with a `next` link.
        let base = scripted(move |_| {
            json_response(&json!({
                "_links": {"next": {"href": "/v1/apps/app_api/users?page=2"}},
                "created_before": 1, "limit": 1, "page": page, "total_users": 99,
                "users": [list_item("user-1", "one@example.com")]
            }))
        })
        .await;
        let all: Vec<_> = tokio::time::timeout(
            Duration::from_secs(10),
            scripted_client(&base)
                .users()
                .list()
                .into_stream()
                .try_collect::<Vec<_>>(),
        )
        .await
        .expect("the stream ends")
        .unwrap();
        assert_eq!(all.len(), 1, "page {page}: its items once, then the end");
    }
    // An empty page ends the listing even with a `next` link.
    let base = scripted(|target| {
        let page = if target.contains("page=2") { 2 } else { 1 };
        let users = if page == 1 {
            vec![list_item("user-1", "one@example.com")]
        } else {
            vec![]
        };
        json_response(&json!({
            "_links": {"next": {"href": "/next"}},
            "created_before": 1, "limit": 1, "page": page, "total_users": 99, "users": users
        }))
    })
    .await;
    let all: Vec<_> = scripted_client(&base)
        .users()
        .list()
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
}

#[tokio::test]
async fn a_removal_whose_answer_was_lost_succeeds_on_retry() {
    let (emu, passage) = setup().await;
    let device = passage.users().list_devices("user-ada").await.unwrap()[0]
        .id
        .clone();
    emu.set_fault_times(Target::Api, Fault::LoseResponse, 1);
    passage
        .users()
        .revoke_device("user-ada", &device)
        .await
        .unwrap();
    assert!(
        passage
            .users()
            .list_devices("user-ada")
            .await
            .unwrap()
            .is_empty()
    );

    emu.set_fault_times(Target::Api, Fault::LoseResponse, 1);
    passage.users().delete("user-ada").await.unwrap();
    assert!(
        passage
            .users()
            .get("user-ada")
            .await
            .unwrap_err()
            .is_not_found()
    );
    // Without a lost answer, a missing user is still a 404.
    assert!(
        passage
            .users()
            .delete("user-ada")
            .await
            .unwrap_err()
            .is_not_found()
    );
    emu.set_fault_times(Target::Api, Fault::Unavailable, 1);
    assert!(
        passage
            .users()
            .delete("user-ada")
            .await
            .unwrap_err()
            .is_not_found(),
        "a 503 (before any work) is no proof the user existed"
    );
}

#[tokio::test]
async fn secrets_in_models_never_print() {
    let (_emu, passage) = setup().await;
    let link = passage
        .magic_links()
        .create(CreateMagicLink::email("ada@example.com"))
        .await
        .unwrap();
    let printed = format!("{link:?}");
    assert!(!link.secret.is_empty());
    assert!(!printed.contains(link.secret.expose()), "{printed}");
    assert!(!printed.contains("psg_magic_link"), "{printed}");
    let mut app = serde_json::to_value(passage.app().get().await.unwrap()).unwrap();
    app["secret"] = json!("app_secret_value");
    let app: passage_core::models::AppInfo = serde_json::from_value(app).unwrap();
    assert_eq!(
        app.secret.as_ref().map(passage_core::Secret::expose),
        Some("app_secret_value")
    );
    assert!(!format!("{app:?}").contains("app_secret_value"));
}
