//! The CLI as a user runs it: the built binary on its embedded passage-server (no PASSAGE_APP_ID).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::process::{Command, Output};

use serde_json::Value;

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_example-manage-users"))
        .args(args)
        .env_remove("PASSAGE_APP_ID")
        .env("RUST_LOG", "off")
        .output()
        .unwrap()
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn lists_gets_and_finds_users() {
    let list = stdout_json(&cli(&["users", "list", "--status", "active"]));
    assert_eq!(list["total"], 3);
    let every = stdout_json(&cli(&["users", "list", "--limit", "1", "--all"]));
    assert_eq!(every["users"].as_array().unwrap().len(), 3);
    let user = stdout_json(&cli(&["users", "get", "user-ada"]));
    assert_eq!(user["email"], "ada@example.com");
    let found = stdout_json(&cli(&["users", "find", "ADA@example.com"]));
    assert_eq!(found["id"], "user-ada");
    let devices = stdout_json(&cli(&["users", "devices", "user-ada"]));
    assert_eq!(devices[0]["friendly_name"], "Ada's laptop");
    let none = stdout_json(&cli(&["users", "devices", "demo-user"]));
    assert_eq!(
        none,
        serde_json::json!([]),
        "the demo user signs in by magic link first"
    );
}

#[test]
fn creates_links_and_reads_the_app() {
    let created = stdout_json(&cli(&[
        "users",
        "create",
        "--email",
        "new@example.com",
        "--metadata",
        r#"{"plan":"pro"}"#,
    ]));
    assert_eq!(created["user_metadata"]["plan"], "pro");
    let link = stdout_json(&cli(&[
        "magic-link",
        "--email",
        "ada@example.com",
        "--language",
        "de",
        "--ttl",
        "10",
    ]));
    assert_eq!(link["ttl"], 10);
    let app = stdout_json(&cli(&["app"]));
    assert_eq!(app["id"], "demo_app");
}

#[test]
fn failures_exit_non_zero_with_the_passage_code() {
    let missing = cli(&["users", "get", "nobody"]);
    assert!(!missing.status.success());
    let error: Value = serde_json::from_slice(&missing.stderr).unwrap();
    assert_eq!(
        (
            error["error"]["status"].as_u64(),
            error["error"]["code"].as_str()
        ),
        (Some(404), Some("user_not_found"))
    );
    // Refused before any request, each naming the argument at fault.
    let invalid = cli(&["users", "create"]);
    assert!(!invalid.status.success());
    let error: Value = serde_json::from_slice(&invalid.stderr).unwrap();
    assert_eq!(error["error"]["code"], "invalid_argument");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("`user`"), "{message}");
    let bad_language = cli(&[
        "magic-link",
        "--email",
        "ada@example.com",
        "--language",
        "fr",
    ]);
    assert!(!bad_language.status.success());
    let error: Value = serde_json::from_slice(&bad_language.stderr).unwrap();
    assert_eq!(error["error"]["code"], "invalid_argument");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("`language`"), "{message}");
}
