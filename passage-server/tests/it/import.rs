//! Moving from Passage: passkeys made on one server (standing in for Passage) sign in on
//! another after `export` and `import`, by identifier and discoverably; the console's CSV with
//! a credentials file whose passkeys hold Passage's own user handles; dry runs that write
//! nothing; runs that create nothing twice and write each row whole or not at all — on every
//! store.

use std::{path::Path, process::Command};

use aws_lc_rs::{
    encoding::AsDer as _,
    signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _},
};
use base64::{
    Engine as _,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use passage_server::{
    ImportOptions, import_users,
    store::{MemoryStore, SeedUser, SqliteStore, Store, UserQuery},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::{
    authenticator::{Authenticator, b64},
    support::{Browser, ORIGIN, dev, subject},
};

/// Runs the binary: whether it exited 0, its stdout and its stderr.
fn passage_server(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_passage-server"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The report's line for `id` (the first one naming it).
fn line<'a>(report: &'a str, id: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.split_whitespace().any(|word| word == id))
        .unwrap_or_else(|| panic!("no line for {id} in:\n{report}"))
}

/// How many users a SQLite file holds (opened and closed again: one process per file).
async fn users_in(db: &Path) -> usize {
    let store = SqliteStore::open(db).unwrap();
    store.list_users(&UserQuery::default()).await.unwrap().total
}

#[tokio::test]
async fn passkeys_made_on_one_server_sign_in_on_another_after_export_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let (old_db, new_db) = (dir.path().join("old.db"), dir.path().join("new.db"));
    let export_file = dir.path().join("export.json");

    // The old server (standing in for Passage): two users register passkeys, Ada signs in.
    let old = Browser::start(dev().database(&old_db)).await;
    let mut ada_key = Authenticator::new(ORIGIN);
    let ada = subject(&old.register(&mut ada_key, "ada@example.com").await);
    let mut grace_key = Authenticator::new(ORIGIN);
    let grace = subject(&old.register(&mut grace_key, "grace@example.com").await);
    let (status, _) = old.sign_in(&mut ada_key, Some("ada@example.com")).await;
    assert_eq!(status, StatusCode::OK);
    old.stop().await;

    let (ok, exported, stderr) = passage_server(&[
        "export",
        "--database",
        path(&old_db),
        "--auth-origin",
        ORIGIN,
    ]);
    assert!(ok, "{stderr}");
    let mut users: Value = serde_json::from_str(&exported).unwrap();
    let list = users.as_array_mut().unwrap();
    assert_eq!(list.len(), 2);
    let ada_export = list.iter().find(|u| u["id"] == ada.as_str()).unwrap();
    let credential = &ada_export["credentials"][0];
    assert_eq!(credential["credential_id"], b64(&ada_key.credentials[0].id));
    assert_eq!(credential["sign_count"], 1, "the counter after one sign-in");
    assert_eq!(credential["rp_id"], "localhost");
    assert_eq!(
        credential["user_handle"],
        b64(&ada_key.credentials[0].user_handle)
    );
    assert_eq!(credential["backup_eligible"], true);
    for secret in ["refresh", "secret", "pkcs8", "token"] {
        assert!(!exported.contains(secret), "{secret} in the export");
    }
    // Grace's passkey, as the file says, was made for another relying party.
    let grace_export = list.iter_mut().find(|u| u["id"] == grace.as_str()).unwrap();
    grace_export["credentials"][0]["rp_id"] = json!("passage.other.example");
    std::fs::write(&export_file, users.to_string()).unwrap();

    let import = |dry_run: bool| {
        let mut args = vec![
            "import",
            path(&export_file),
            "--database",
            path(&new_db),
            "--auth-origin",
            ORIGIN,
        ];
        if dry_run {
            args.push("--dry-run");
        }
        passage_server(&args)
    };
    // The dry run reports everything and writes nothing; its exit status says a passkey would
    // not be imported.
    let (ok, report, stderr) = import(true);
    assert!(!ok, "{report}");
    assert!(stderr.contains("would not be imported"), "{stderr}");
    assert!(report.contains("dry run: nothing was written"), "{report}");
    assert!(report.contains("relying party: localhost"), "{report}");
    assert!(line(&report, &ada).contains("keeps 1 passkey"), "{report}");
    assert!(
        line(&report, &grace).contains("signs in by link or code first (had a passkey"),
        "{report}"
    );
    assert!(
        report.contains(
            "made for the relying party passage.other.example; this server's is localhost"
        ),
        "{report}"
    );
    assert!(
        report.contains("FAILED: 2 users to create (1 with a passkey, 1 by link or code first)"),
        "{report}"
    );
    assert!(!new_db.exists(), "a dry run creates no database");

    // The real run reports the same, done.
    let (ok, done, _) = import(false);
    assert!(!ok);
    assert_eq!(
        done,
        report
            .replace(" — dry run: nothing was written", "")
            .replace("to create", "created")
            .replace("would gain", "gained")
            .replace("would conflict", "conflicted")
            .replace("would be refused", "refused"),
        "the run does what the dry run said"
    );
    assert_eq!(users_in(&new_db).await, 2);

    // Again: nothing twice.
    let (_, again, _) = import(false);
    assert!(again.contains("0 users created"), "{again}");
    assert!(
        line(&again, &ada).contains("unchanged") && line(&again, &grace).contains("unchanged"),
        "{again}"
    );
    {
        let store = SqliteStore::open(&new_db).unwrap();
        assert_eq!(
            store.list_users(&UserQuery::default()).await.unwrap().total,
            2
        );
        assert_eq!(store.passkeys(&ada).await.unwrap().len(), 1);
        assert!(store.passkeys(&grace).await.unwrap().is_empty());
    }

    // The new server: Ada signs in with the passkey she made on the old one, by identifier and
    // discoverably, as the same user; Grace has no passkey here.
    let new = Browser::start(dev().database(&new_db)).await;
    let (status, by_identifier) = new.sign_in(&mut ada_key, Some("ada@example.com")).await;
    assert_eq!(status, StatusCode::OK, "{by_identifier}");
    assert_eq!(subject(&by_identifier["auth_result"]), ada);
    let (status, discoverable) = new.sign_in(&mut ada_key, None).await;
    assert_eq!(status, StatusCode::OK, "{discoverable}");
    assert_eq!(subject(&discoverable["auth_result"]), ada);
    let (status, body) = new
        .post(
            "/login/webauthn/start",
            json!({ "identifier": "grace@example.com" }),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("no_passkeys"))
    );
    new.stop().await;
}

/// A PEM public key of SPKI DER.
fn pem(spki: &[u8]) -> String {
    let body = STANDARD.encode(spki);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        lines.join("\n")
    )
}

/// Signs in discoverably with credential `index` of `key`, presenting `handle` as its user
/// handle: the status and the answer.
async fn discoverable_with(
    browser: &Browser,
    key: &mut Authenticator,
    index: usize,
    handle: &[u8],
) -> (StatusCode, Value) {
    let (_, start) = browser.post("/login/webauthn/start", json!({})).await;
    let kept = std::mem::replace(&mut key.credentials[index].user_handle, handle.to_vec());
    let response = key.assert_with(index, &start["handshake"]["challenge"], true);
    key.credentials[index].user_handle = kept;
    browser
        .post(
            "/login/webauthn/finish",
            json!({ "handshake_id": start["handshake"]["id"], "handshake_response": response }),
        )
        .await
}

#[tokio::test]
async fn a_console_csv_with_passage_passkeys_signs_in_with_their_own_user_handles() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("passage.db");
    // Passkeys as Passage's users hold them: made for this relying party, with Passage's user
    // handles (not the ones this server derives), their public keys delivered as PEM.
    let mut key = Authenticator::new(ORIGIN);
    let passage_handle = b"passage-user-handle-of-ada-0001!".to_vec();
    let (ada_cred, ada_spki) = key.make_credential("localhost", &passage_handle);
    let bob_handle = b"bob's handle at Passage".to_vec();
    let (bob_cred, bob_spki) = key.make_credential("localhost", &bob_handle);
    let csv = format!(
        "\u{feff}ID,Email,Email Verified,Phone,Phone Verified,Status,Created At,Updated At,Last Login At,Login Count,External ID,webauthn,webauthn_types,user_metadata,webauthn_devices,Plan,Favourite Colour\n\
         9DeEXvYBStnzwQcHFd6f558L,Ada@Example.com,true,,false,active,2022-04-29T15:18:14.116026Z,2022-05-01T00:00:00Z,2024-01-02T03:04:05Z,12,,true,passkey,\"{{\"\"team\"\": \"\"core, infra\"\"}}\",\"[{{\"\"cred_id\"\": \"\"{}\"\", \"\"friendly_name\"\": \"\"Ada's MacBook\"\", \"\"usage_count\"\": 11}}]\",pro,green\n\
         BobX0000000000000000000b,bob@example.com,true,,,active,,,0001-01-01T00:00:00Z,3,,true,,,,free,\n\
         CarolX000000000000000000,,,+14155552671,true,active,,,,0,,false,,,,,\n\
         DaveX0000000000000000000,dave@example.com,true,,,active,,,,1,,true,,,,,\n\
         EveX00000000000000000000,eve\u{200b}@example.com,,,,active,,,,,,,,,,,\n",
        b64(&ada_cred)
    );
    let csv_file = dir.path().join("passage-users.csv");
    std::fs::write(&csv_file, csv).unwrap();
    let credentials = json!([
        { "user_id": "9DeEXvYBStnzwQcHFd6f558L", "credential_id": STANDARD.encode(&ada_cred),
          "public_key": pem(&ada_spki), "sign_count": 7, "user_handle": b64(&passage_handle),
          "transports": ["internal", "hybrid"], "backup_eligible": true, "backup_state": true,
          "aaguid": "fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "rp_id": "localhost" },
        // Bob's: no user handle and no backup flags: both are learnt at the first sign-in.
        { "user_id": "BobX0000000000000000000b", "cred_id": b64(&bob_cred),
          "publicKey": STANDARD.encode(&bob_spki), "counter": 7 },
        // Dave's key was mangled on its way: refused, and Dave signs in by link.
        { "user_id": "DaveX0000000000000000000", "credential_id": b64(&[3u8; 16]),
          "public_key": "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----" },
        { "user_id": "NobodyX00000000000000000", "credential_id": b64(&[4u8; 16]),
          "public_key": pem(&ada_spki) },
    ]);
    let credentials_file = dir.path().join("passkeys.json");
    std::fs::write(&credentials_file, credentials.to_string()).unwrap();
    let import = |dry_run: bool| {
        let mut args = vec![
            "import",
            path(&csv_file),
            "--credentials",
            path(&credentials_file),
            "--column",
            "Plan=metadata.plan",
            "--database",
            path(&db),
            "--auth-origin",
            ORIGIN,
        ];
        if dry_run {
            args.push("--dry-run");
        }
        passage_server(&args)
    };
    let (ok, report, _) = import(true);
    assert!(!ok, "Eve's row and two passkeys would fail: {report}");
    assert!(report.starts_with("5 rows (CSV)"), "{report}");
    assert!(
        report.contains(
            "ignored columns (no field; map one with --column 'HEADER=FIELD'): Favourite Colour"
        ),
        "{report}"
    );
    assert!(
        line(&report, "9DeEXvYBStnzwQcHFd6f558L").contains("ada@example.com")
            && line(&report, "9DeEXvYBStnzwQcHFd6f558L").contains("keeps 1 passkey"),
        "{report}"
    );
    assert!(
        line(&report, "BobX0000000000000000000b")
            .contains("keeps 1 passkey (user handle learnt at the first sign-in)"),
        "{report}"
    );
    assert!(
        line(&report, "CarolX000000000000000000").ends_with("signs in by link or code first"),
        "{report}"
    );
    assert!(
        line(&report, "DaveX0000000000000000000").contains("had a passkey at Passage; no key"),
        "{report}"
    );
    assert!(
        line(&report, "EveX00000000000000000000")
            .contains("email: must not contain invisible or formatting characters"),
        "{report}"
    );
    let dave_key = report
        .lines()
        .filter(|l| l.contains("DaveX0000000000000000000"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        dave_key.contains("public_key: the PEM block is not base64"),
        "{report}"
    );
    assert!(
        report.contains("NobodyX00000000000000000")
            && report.contains("no row of the import file has this user_id"),
        "{report}"
    );
    assert_eq!(users_in(&db).await, 0);

    let (ok, done, _) = import(false);
    assert!(!ok);
    assert!(
        done.contains("FAILED: 4 users created (2 with a passkey, 2 by link or code first), 0 imported before (0 gained a passkey), 0 conflicted, 1 row refused, 2 passkeys not imported"),
        "{done}"
    );
    {
        let store = SqliteStore::open(&db).unwrap();
        let ada = store
            .user("9DeEXvYBStnzwQcHFd6f558L")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ada.email, "ada@example.com");
        assert!(ada.email_verified && ada.webauthn);
        assert_eq!(ada.login_count, 12);
        assert_eq!(ada.created_at.unix_timestamp(), 1_651_245_494);
        let metadata = ada.user_metadata.unwrap();
        assert_eq!(
            (metadata["team"].as_str(), metadata["plan"].as_str()),
            (Some("core, infra"), Some("pro"))
        );
        assert_eq!(
            ada.webauthn_devices[0].friendly_name, "Ada's MacBook",
            "the Passage device's name"
        );
        assert_eq!(ada.webauthn_devices[0].usage_count, 11);
        let carol = store
            .user_by_identifier("+14155552671")
            .await
            .unwrap()
            .unwrap();
        assert!(carol.phone_verified && !carol.webauthn);
        assert!(
            store
                .user("EveX00000000000000000000")
                .await
                .unwrap()
                .is_none()
        );
    }

    let browser = Browser::start(dev().database(&db)).await;
    // Ada, discoverably: the credential names her passkey, the handle is Passage's.
    let (status, body) = discoverable_with(&browser, &mut key, 0, &passage_handle).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(subject(&body["auth_result"]), "9DeEXvYBStnzwQcHFd6f558L");
    // The handle this server would have made for her is not the one her passkey holds.
    let derived =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b"9DeEXvYBStnzwQcHFd6f558L");
    let (status, body) = discoverable_with(&browser, &mut key, 0, &derived.as_ref()[..16]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("handshake_mismatch")),
        "{body}"
    );
    // Nor Bob's.
    let (status, body) = discoverable_with(&browser, &mut key, 0, &bob_handle).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("handshake_mismatch")),
        "{body}"
    );
    // By identifier, with her handle: her passkey is allowed and answers.
    let (_, start) = browser
        .post(
            "/login/webauthn/start",
            json!({ "identifier": "ada@example.com" }),
        )
        .await;
    let allowed = start["handshake"]["challenge"]["publicKey"]["allowCredentials"][0]["id"].clone();
    assert_eq!(allowed, json!(b64(&ada_cred)));
    let response = key.assert_with(0, &start["handshake"]["challenge"], true);
    let (status, body) = browser
        .post("/login/webauthn/finish", json!({ "handshake_id": start["handshake"]["id"], "handshake_response": response, "user_id": start["user"]["id"] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Bob: the first sign-in's handle (and backup flag) is kept; then only that handle works.
    let (status, body) = discoverable_with(&browser, &mut key, 1, &bob_handle).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(subject(&body["auth_result"]), "BobX0000000000000000000b");
    let (status, body) = discoverable_with(&browser, &mut key, 1, &passage_handle).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("handshake_mismatch")),
        "{body}"
    );
    let (status, _) = discoverable_with(&browser, &mut key, 1, &bob_handle).await;
    assert_eq!(status, StatusCode::OK);

    // Carol and Dave have no passkey here: a link or a code first.
    for identifier in ["+14155552671", "dave@example.com"] {
        let (status, body) = browser
            .post("/login/webauthn/start", json!({ "identifier": identifier }))
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("no_passkeys")),
            "{identifier}"
        );
    }
    browser.stop().await;
}

/// A P-256 credential object for `user_id` (a fresh key; `cred`: its id bytes).
fn credential(cred: u8) -> Value {
    let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).unwrap();
    json!({
        "credential_id": URL_SAFE_NO_PAD.encode([cred; 16]),
        "public_key": STANDARD.encode(key.public_key().as_der().unwrap().as_ref()),
        "user_handle": URL_SAFE_NO_PAD.encode([cred; 8]),
        "backup_eligible": true,
    })
}

/// What an import into `store` does: dry runs write nothing and say what the run does;
/// conflicts with the database and inside the file; each row whole or not at all; a second
/// run creates nothing; passkeys added to a user imported before.
pub(crate) async fn the_import_rules(store: &dyn Store) {
    store
        .insert_user(SeedUser::email("taken@example.com").with_id("existing1"))
        .await
        .unwrap();
    let file = json!([
        { "id": "u1", "email": "one@example.com", "credentials": [credential(1)] },
        { "id": "u2", "email": "Taken@Example.com" },
        { "id": "existing1", "email": "someone-else@example.com" },
        // Its user is new, but its credential is u1's: the row is refused whole.
        { "id": "u4", "email": "four@example.com", "credentials": [credential(1)] },
        { "id": "u6", "email": "six@example.com" },
        { "id": "u6", "email": "six-again@example.com" },
        { "id": "u7", "phone": "+14155550107" },
        { "id": "u8", "phone": "+14155550107" },
        { "id": "u9", "email": "nine@example.com", "status": "pending" },
    ])
    .to_string();
    let options = ImportOptions::new(true).relying_party("localhost");
    let planned = import_users(store, "users.json", &file, &options)
        .await
        .unwrap();
    assert_eq!(
        store.list_users(&UserQuery::default()).await.unwrap().total,
        1,
        "a dry run writes nothing"
    );
    let created: Vec<&str> = planned.created.iter().map(|u| u.id.as_str()).collect();
    // u1 and u4 claim one credential: both keep their users, neither the passkey.
    assert_eq!(created, ["u1", "u4", "u9"]);
    let conflicts: Vec<(&str, &str)> = planned
        .conflicts
        .iter()
        .map(|c| (c.id.as_str(), c.reason.as_str()))
        .collect();
    assert_eq!(
        conflicts,
        [
            ("u6", "duplicate in the file: the id u6 is also on row 6"),
            ("u6", "duplicate in the file: the id u6 is also on row 5"),
            (
                "u7",
                "duplicate in the file: the phone +14155550107 is also on row 8"
            ),
            (
                "u8",
                "duplicate in the file: the phone +14155550107 is also on row 7"
            ),
            (
                "u2",
                "the email or phone is another user's (in the database)"
            ),
            (
                "existing1",
                "the id is taken by a user with other identifiers (in the database)"
            ),
        ]
    );
    assert_eq!(planned.passkeys_refused.len(), 2, "{planned}");
    assert!(planned.failed());

    let done = import_users(
        store,
        "users.json",
        &file,
        &ImportOptions::new(false).relying_party("localhost"),
    )
    .await
    .unwrap();
    assert_eq!(
        (
            &done.created,
            &done.existing,
            &done.conflicts,
            &done.refused,
            &done.passkeys_refused
        ),
        (
            &planned.created,
            &planned.existing,
            &planned.conflicts,
            &planned.refused,
            &planned.passkeys_refused
        ),
        "the run does what the dry run said"
    );
    assert_eq!(
        store.list_users(&UserQuery::default()).await.unwrap().total,
        4
    );
    assert_eq!(
        store.user("existing1").await.unwrap().unwrap().email,
        "taken@example.com"
    );

    // Passkeys added to a user imported before; a new user claiming one of them is refused
    // whole.
    let file = json!([
        { "id": "u1", "email": "one@example.com", "credentials": [credential(1), credential(2)] },
    ])
    .to_string();
    let claim = json!([
        { "id": "u10", "email": "ten@example.com", "credentials": [credential(1)] },
    ])
    .to_string();
    for dry_run in [true, false] {
        let options = ImportOptions::new(dry_run).relying_party("localhost");
        let report = import_users(store, "users.json", &file, &options)
            .await
            .unwrap();
        assert!(report.created.is_empty() && !report.failed(), "{report}");
        assert_eq!(report.existing[0].passkeys, 2, "u1 gains both: {report}");
    }
    for dry_run in [true, false] {
        let options = ImportOptions::new(dry_run).relying_party("localhost");
        let report = import_users(store, "claim.json", &claim, &options)
            .await
            .unwrap();
        assert_eq!(
            (
                report.conflicts[0].id.as_str(),
                report.conflicts[0].reason.as_str()
            ),
            (
                "u10",
                "this credential is already registered (in the database)"
            ),
            "{report}"
        );
    }
    assert!(
        store.user("u10").await.unwrap().is_none(),
        "nothing of a refused row is kept"
    );
    assert_eq!(store.passkeys("u1").await.unwrap().len(), 2);
    // Once more: nothing twice, and nothing to fail.
    let options = ImportOptions::new(false).relying_party("localhost");
    let file = json!([{ "id": "u1", "email": "one@example.com", "credentials": [credential(1), credential(2)] }]).to_string();
    let report = import_users(store, "users.json", &file, &options)
        .await
        .unwrap();
    assert!(!report.failed(), "{report}");
    assert_eq!((report.created.len(), report.existing[0].passkeys), (0, 0));
    assert_eq!(store.passkeys("u1").await.unwrap().len(), 2);
    assert_eq!(
        store.list_users(&UserQuery::default()).await.unwrap().total,
        4
    );
}

#[tokio::test]
async fn the_import_keeps_its_rules_in_memory() {
    the_import_rules(&MemoryStore::new()).await;
}

#[tokio::test]
async fn the_import_keeps_its_rules_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    the_import_rules(&SqliteStore::open(&dir.path().join("passage.db")).unwrap()).await;
}

#[tokio::test]
async fn files_that_cannot_be_read_whole_are_refused_before_anything_is_written() {
    let store = MemoryStore::new();
    let options = ImportOptions::new(false);
    let passkey_row =
        json!([{ "id": "u1", "email": "a@example.com", "credentials": [credential(1)] }])
            .to_string();
    for (name, text, says) in [
        (
            "users.json",
            "{\"not\": \"an array\"}".to_owned(),
            "a JSON array, or an object with a \"users\" array",
        ),
        ("users.json", "[{\"id\": ".to_owned(), "not JSON"),
        (
            "users.csv",
            "email\na@example.com\n".to_owned(),
            "no id column among the CSV headers (email)",
        ),
        (
            "users.csv",
            "id,email\nu1,a@example.com,surplus\n".to_owned(),
            "CSV",
        ),
        ("users.json", passkey_row, "give the server's --auth-origin"),
        (
            "users.json",
            format!("[{}]", vec!["{}"; passage_server::MAX_ROWS + 1].join(",")),
            "over 200000 users",
        ),
        (
            "users.json",
            " ".repeat(passage_server::MAX_FILE_BYTES + 1),
            "over 64 MiB",
        ),
    ] {
        let err = import_users(&store, name, &text, &options)
            .await
            .unwrap_err();
        assert!(err.to_string().contains(says), "{says}: {err}");
    }
    let err = import_users(
        &store,
        "users.csv",
        "id\n",
        &ImportOptions::new(false).column("broken"),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("write HEADER=FIELD"), "{err}");
    assert_eq!(
        store.list_users(&UserQuery::default()).await.unwrap().total,
        0
    );
    // The control: the same shapes, well-formed, import.
    let report = import_users(
        &store,
        "users.csv",
        "User ID,E-mail Address\nu1,a@example.com\n",
        &ImportOptions::new(false),
    )
    .await
    .unwrap();
    assert_eq!(report.created.len(), 1, "{report}");
}

/// The sample in `passage-server/examples/import/` (the README shows its dry run) reads as the
/// README says: two passkeys kept (one EC, one RSA, both PEM), one for another relying party
/// refused, duplicates and a mailbox-syntax address reported, nothing written.
#[tokio::test]
async fn the_sample_export_dry_runs_as_the_readme_shows() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("passage.db");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/import");
    let (ok, report, stderr) = passage_server(&[
        "import",
        path(&sample.join("passage-users.csv")),
        "--credentials",
        path(&sample.join("passkeys.json")),
        "--column",
        "Plan=metadata.plan",
        "--auth-origin",
        "https://app.example.com",
        "--database",
        path(&db),
        "--dry-run",
    ]);
    assert!(!ok && stderr.contains("would not be imported"), "{stderr}");
    for expected in [
        "8 rows (CSV) — dry run: nothing was written",
        "ignored columns (no field; map one with --column 'HEADER=FIELD'): Favourite Colour",
        "made for the relying party auth.passage.id; this server's is app.example.com",
        "duplicate in the file: the email edsger@example.com is also on row 7",
        "email: must be an email address or an E.164 phone number",
        "FAILED: 5 users to create (2 with a passkey, 3 by link or code first), 0 imported before (0 would gain a passkey), 2 would conflict, 1 row would be refused, 1 passkey not imported",
    ] {
        assert!(report.contains(expected), "{expected}:\n{report}");
    }
    assert!(
        line(&report, "Gr4ceH0pp3rX00000000000b").contains("keeps 1 passkey"),
        "{report}"
    );
    assert!(
        line(&report, "M4rgaretX000000000000000").contains("pending: removed"),
        "{report}"
    );
    assert!(!db.exists(), "a dry run creates no database");
}
