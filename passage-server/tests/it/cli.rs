//! The binary's `import`, then the imported user signing in by a magic link delivered over
//! real SMTP (a minimal SMTP server started by the test).

use std::process::Command;

use passage_server::{
    ImportOptions, SmtpSettings, import_users,
    store::{SqliteStore, Store as _, UserQuery},
};
use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    net::TcpListener,
    sync::mpsc,
};

use crate::support::{Browser, dev, subject};

/// A message the SMTP sink received: the envelope's recipients (`RCPT TO`) and the data.
pub(crate) struct Received {
    recipients: Vec<String>,
    data: String,
}

/// An SMTP server that accepts every message and hands over its recipients and data.
pub(crate) async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sent, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let sent = sent.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
                let mut data: Option<String> = None;
                let mut recipients = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            sent.send(Received {
                                recipients: std::mem::take(&mut recipients),
                                data: data.take().unwrap(),
                            })
                            .unwrap();
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                    if verb == "RCPT" {
                        recipients.push(line[4..].trim().to_owned());
                    }
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250-sink\r\n250 8BITMIME\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go on\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, received)
}

#[tokio::test]
async fn imported_users_keep_their_ids_and_sign_in_by_mailed_link() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("passage.db");
    let export = dir.path().join("users.json");
    let users = json!([
        { "id": "2Jr8aHq5", "email": "Ada@Example.com", "phone": "", "status": "active",
          "user_metadata": { "plan": "pro" }, "webauthn": true, "login_count": 12 },
        { "id": "9Xk2LmPq", "email": "", "phone": "+14155550100", "status": "inactive" },
        // Two rows claiming one address: which is right is the operator's call, so neither.
        { "id": "dupe0001", "email": "carol@example.com" },
        { "id": "dupe0002", "email": "Carol@example.com" },
        // Rows sign-up would refuse are reported and skipped, never stored half-read.
        { "id": "bad00001", "email": "ada\u{7}@example.com" },
        { "id": "bad00002", "email": "Ada <ada2@example.com>" },
        { "id": "bad00003", "email": "+14155550199" },
        { "id": "bad00004", "email": "a@b@example.com" },
        { "id": "", "email": "empty-id@example.com" },
        { "id": "bad00005", "email": "b\u{200b}ob@example.com" },
    ]);
    std::fs::write(&export, users.to_string()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_passage-server"))
        .arg("import")
        .arg(&export)
        .arg("--database")
        .arg(&db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "refused rows make the exit status non-zero: {stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("FAILED: 2 users created (0 with a passkey, 2 by link or code first)"),
        "{stdout}"
    );
    for created in ["2Jr8aHq5", "9Xk2LmPq"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(created) && l.contains("signs in by link or code first")),
            "{created}: {stdout}"
        );
    }
    assert!(
        stdout.contains("had a passkey at Passage; no key in the file"),
        "Ada had a passkey: {stdout}"
    );
    for (dupe, other) in [("dupe0001", 4), ("dupe0002", 3)] {
        assert!(
            stdout.lines().any(|l| l.contains(dupe)
                && l.contains(&format!(
                    "duplicate in the file: the email carol@example.com is also on row {other}"
                ))),
            "{dupe}: {stdout}"
        );
    }
    for refused in ["bad00001", "bad00002", "bad00003", "bad00004", "bad00005"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(refused) && l.contains("email: must")),
            "{refused}: {stdout}"
        );
    }
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("(no id)") && l.contains("the id is empty")),
        "{stdout}"
    );

    let (port, mut mails) = smtp_sink().await;
    let browser = Browser::start(dev().development(false).database(&db).smtp(SmtpSettings {
        url: format!("smtp://127.0.0.1:{port}"),
        from: "Passage <noreply@example.com>".into(),
    }))
    .await;
    let (status, sent) = browser
        .post(
            "/login/magic-link",
            json!({ "identifier": "ada@example.com", "magic_link_path": "/" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let received = mails.recv().await.unwrap();
    assert_eq!(
        received.recipients,
        ["TO:<ada@example.com>"],
        "one envelope recipient: the bare address"
    );
    // Quoted-printable, as a mail client decodes it.
    let message = received.data.replace("=\n", "").replace("=3D", "=");
    assert!(message.contains("To: ada@example.com"), "{message}");
    assert!(
        message.contains("Opening it signs in the browser you open it in"),
        "the mail says what clicking does: {message}"
    );
    let secret = message
        .split("psg_magic_link=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let (status, activated) = browser
        .call(
            Method::PATCH,
            "/magic-link/activate",
            Some(json!({ "magic_link": secret })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{activated}");
    assert_eq!(
        subject(&activated["auth_result"]),
        "2Jr8aHq5",
        "the id apps already reference"
    );
    let user = browser
        .server
        .store()
        .user("2Jr8aHq5")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.user_metadata.unwrap()["plan"], "pro");

    // Importing the same file again into the same database creates nothing twice: every id
    // and identifier is taken, and the signed-in user is unchanged.
    browser.stop().await;
    let output = Command::new(env!("CARGO_BIN_EXE_passage-server"))
        .arg("import")
        .arg(&export)
        .arg("--database")
        .arg(&db)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(
            "FAILED: 0 users created (0 with a passkey, 0 by link or code first), 2 imported before"
        ),
        "{stdout}"
    );
    for id in ["2Jr8aHq5", "9Xk2LmPq"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(id) && l.contains("unchanged")),
            "{id}: {stdout}"
        );
    }
    let store = SqliteStore::open(&db).unwrap();
    assert_eq!(
        store.list_users(&UserQuery::default()).await.unwrap().total,
        2
    );
    assert_eq!(
        store.user("2Jr8aHq5").await.unwrap().unwrap().login_count,
        13,
        "Passage's count (12) and the sign-in here are kept"
    );
    // Into a fresh database, the library call imports the same two.
    let fresh = SqliteStore::open(&dir.path().join("other.db")).unwrap();
    let options = ImportOptions::new(false);
    let report = import_users(&fresh, "users.json", &users.to_string(), &options)
        .await
        .unwrap();
    assert_eq!(
        (
            report.created.len(),
            report.conflicts.len(),
            report.refused.len()
        ),
        (2, 2, 6)
    );
    assert!(
        import_users(&fresh, "users.json", "{\"not\": \"an array\"}", &options)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn one_database_file_one_server_and_a_warning_without_a_sealing_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("passage.db");
    let serve = |port: u16| {
        Command::new(env!("CARGO_BIN_EXE_passage-server"))
            .args(["serve", "--api-key", "a-key-of-some-length"])
            .arg("--database")
            .arg(&db)
            .args(["--auth-bind", &format!("127.0.0.1:{port}")])
            .args(["--api-bind", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Port 0: the system picks a free one at bind (a port picked here and bound later could be
    // taken meanwhile by another test, and the server would stop for that instead).
    let mut first = serve(0);
    // The first is up once it answers on its Authentication API port… wait for its banner.
    let mut banner = String::new();
    let stdout = first.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        if line.contains("Authentication API on") {
            break;
        }
    }
    assert!(banner.contains("Authentication API on"), "{banner}");
    let second = serve(0).wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "a second process on the same file must not start"
    );
    assert!(
        stderr.contains("is open in another passage-server process"),
        "{stderr}"
    );
    assert!(
        banner.contains("NO SEALING KEY"),
        "the warning at start: {banner}"
    );
    let _ = first.kill();
    let _ = first.wait();

    // A sealing key file others can read is used, with a warning.
    let key_file = dir.path().join("sealing.key");
    let key = Command::new(env!("CARGO_BIN_EXE_passage-server"))
        .arg("generate-key")
        .output()
        .unwrap();
    std::fs::write(&key_file, &key.stdout).unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let mut sealed = Command::new(env!("CARGO_BIN_EXE_passage-server"))
        .args(["serve", "--api-key", "a-key-of-some-length", "--key-file"])
        .arg(&key_file)
        .arg("--database")
        .arg(dir.path().join("sealed.db"))
        .args(["--auth-bind", "127.0.0.1:0", "--api-bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut started = String::new();
    let stdout = sealed.stdout.take().unwrap();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
        started.push_str(&line);
        if line.contains("Authentication API on") {
            break;
        }
    }
    let _ = sealed.kill();
    let _ = sealed.wait();
    assert!(
        started.contains("the sealing key file is readable by others")
            && !started.contains("NO SEALING KEY"),
        "{started}"
    );
}

#[tokio::test]
async fn the_binary_exports_ceremonies_messages_and_handshakes_on_the_management_listener() {
    let mut server = Command::new(env!("CARGO_BIN_EXE_passage-server"))
        .args(["serve", "--dev", "--pending-user-ttl-secs", "1"])
        .args(["--auth-bind", "127.0.0.1:0", "--api-bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let banner = std::io::BufRead::lines(std::io::BufReader::new(stdout))
        .map_while(Result::ok)
        .find(|line| line.contains("Authentication API on"))
        .unwrap_or_default();
    let url_after = |label: &str| {
        banner
            .split(label)
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .map(|url| url.trim_end_matches(',').to_owned())
            .unwrap_or_else(|| panic!("no {label} in {banner:?}"))
    };
    let (auth, api) = (
        url_after("Authentication API on "),
        url_after("Management API on "),
    );
    let http = reqwest::Client::new();
    let call = |method: Method, path: &str, body: serde_json::Value| {
        http.request(method, format!("{auth}/v1/apps/passage_app{path}"))
            .header("Passage-Browser", "browser-one")
            .json(&body)
            .send()
    };
    let unknown = call(
        Method::POST,
        "/login/magic-link",
        json!({ "identifier": "nobody@example.com", "magic_link_path": "/" }),
    )
    .await
    .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let sent = call(
        Method::POST,
        "/register/magic-link",
        json!({ "identifier": "ada@example.com", "magic_link_path": "/" }),
    )
    .await
    .unwrap();
    assert_eq!(sent.status(), StatusCode::OK);
    let started = call(
        Method::POST,
        "/register/webauthn/start",
        json!({ "identifier": "grace@example.com" }),
    )
    .await
    .unwrap();
    assert_eq!(started.status(), StatusCode::OK);

    // The handshake gauge follows the upkeep (every second here): wait for it, boundedly.
    let mut text = String::new();
    for _ in 0..100 {
        let scraped = http.get(format!("{api}/metrics")).send().await.unwrap();
        assert_eq!(scraped.status(), StatusCode::OK);
        assert!(
            scraped.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        text = scraped.text().await.unwrap();
        if text.contains("passage_server_handshakes 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = server.kill();
    let _ = server.wait();
    for line in [
        "passage_server_ceremonies_total{kind=\"magic_link_send\",outcome=\"user_not_found\"} 1",
        "passage_server_ceremonies_total{kind=\"magic_link_send\",outcome=\"ok\"} 1",
        "passage_server_ceremonies_total{kind=\"register_passkey_start\",outcome=\"ok\"} 1",
        "passage_server_ceremony_duration_seconds_count{kind=\"magic_link_send\"} 2",
        "passage_server_messages_total{channel=\"email\",result=\"sent\"} 1",
        "passage_server_handshakes 1",
        "# HELP passage_server_ceremonies_total",
    ] {
        assert!(text.contains(line), "{line} missing from:\n{text}");
    }
    assert!(
        !text.contains("example.com") && !text.contains("browser-one"),
        "no label holds what a caller sent:\n{text}"
    );
}

#[tokio::test]
async fn the_sms_webhook_secret_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "s3cret-of-the-webhook-0123456789";
    let secret_file = dir.path().join("sms-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    // A port nobody listens on: every attempt fails, and each failure is logged.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let log = dir.path().join("stderr.log");
    let mut server = Command::new(env!("CARGO_BIN_EXE_passage-server"))
        .args([
            "serve",
            "--dev",
            "--auth-methods",
            "otp",
            "--identifiers",
            "phone",
        ])
        .args(["--auth-bind", "127.0.0.1:0", "--api-bind", "127.0.0.1:0"])
        .arg("--sms-webhook-url")
        .arg(format!(
            "http://127.0.0.1:{port}/sms?token={secret}-in-the-url"
        ))
        .arg("--sms-webhook-secret-file")
        .arg(&secret_file)
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = server.stdout.take().unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
    let banner = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("Authentication API on"))
        .unwrap_or_default();
    // Keep reading (a server whose stdout is closed fails at its next line): the log is there.
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let auth = banner
        .split("Authentication API on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let answer = reqwest::Client::new()
        .post(format!("{auth}/v1/apps/passage_app/register/otp"))
        .json(&json!({ "identifier": "+14155550100" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_GATEWAY);
    let _ = server.kill();
    let _ = server.wait();
    let log = format!(
        "{}\n{}",
        rest.join().unwrap().join("\n"),
        std::fs::read_to_string(&log).unwrap()
    );
    assert!(
        log.contains("the SMS webhook could not be reached"),
        "the failure is logged: {log}"
    );
    assert!(
        !log.contains(secret),
        "the secret (or the URL holding it) in the log:\n{log}"
    );
}

#[tokio::test]
async fn a_mail_server_that_says_nothing_fails_the_link_in_time() {
    // Accepts connections and never greets: the request must not hang with it.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let browser = Browser::start(
        dev()
            .development(false)
            .request_timeout(std::time::Duration::from_secs(2))
            .user(passage_server::SeedUser::email("ada@example.com"))
            .smtp(SmtpSettings {
                url: format!("smtp://127.0.0.1:{port}"),
                from: "Passage <noreply@example.com>".into(),
            }),
    )
    .await;
    let (status, body) = browser
        .post(
            "/login/magic-link",
            json!({ "identifier": "ada@example.com", "magic_link_path": "/" }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "magic_link_not_sent", "{body}");
}
