//! Languages: the element's strings for the languages built in (English, German, Spanish,
//! French) and the operator's own (`--locales-dir`), English for the rest; mails and text
//! messages in the language the element sends, when a template exists.

use passage_server::{AuthMethods, ServerError, store::SeedUser};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{Browser, dev};

fn codes() -> AuthMethods {
    AuthMethods {
        passkeys: true,
        otp: true,
        magic_link: false,
    }
}

async fn locale(browser: &Browser, file: &str) -> (StatusCode, Value) {
    let response = browser
        .http
        .get(format!("{}/locales/passage-auth/v2/{file}", browser.root()))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Asks for a code in `language`: the message sent.
async fn code_mail(browser: &Browser, identifier: &str, language: &str) -> passage_server::Mail {
    browser
        .mailed(
            "/login/otp",
            json!({ "identifier": identifier, "language": language }),
        )
        .await
}

#[tokio::test]
async fn the_element_gets_its_strings_in_the_languages_built_in_and_english_otherwise() {
    let browser = Browser::start(dev()).await;
    for (file, continue_label) in [
        ("en.json", "Continue"),
        ("de.json", "Weiter"),
        ("es.json", "Continuar"),
        ("fr.json", "Continuer"),
    ] {
        let (status, strings) = locale(&browser, file).await;
        assert_eq!(status, StatusCode::OK, "{file}");
        assert_eq!(strings["continue"], continue_label, "{file}");
        assert_eq!(strings.as_object().unwrap().len(), 165, "{file}: every key");
    }
    // Unknown languages and regions are 404: the element falls back (en-us → en → default).
    for file in [
        "it.json",
        "en-us.json",
        "de-at.json",
        "DE.json",
        "x.json.json",
        "de",
    ] {
        assert_eq!(
            locale(&browser, file).await.0,
            StatusCode::NOT_FOUND,
            "{file}"
        );
    }
}

#[tokio::test]
async fn the_operators_files_come_first_and_stay_in_their_directory() {
    let dir = tempfile::tempdir().unwrap();
    let locales = dir.path().join("locales");
    std::fs::create_dir(&locales).unwrap();
    std::fs::write(locales.join("it.json"), r#"{"continue": "Continua"}"#).unwrap();
    std::fs::write(locales.join("de.json"), r#"{"continue": "Los"}"#).unwrap();
    std::fs::write(
        locales.join("messages.it.json"),
        r#"{"code_subject": "Il tuo codice per {app}", "code_body": "Codice: {code} ({minutes} minuti)"}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("secret.json"), r#"{"secret": true}"#).unwrap();
    let browser = Browser::start(
        dev()
            .auth_methods(codes())
            .locales_dir(&locales)
            .user(SeedUser::email("ada@example.com")),
    )
    .await;
    assert_eq!(locale(&browser, "it.json").await.1["continue"], "Continua");
    assert_eq!(
        locale(&browser, "de.json").await.1["continue"],
        "Los",
        "before the built-in"
    );
    assert_eq!(locale(&browser, "fr.json").await.1["continue"], "Continuer");
    // Nothing outside the directory, however the name is written.
    for raw in [
        "..%2Fsecret.json",
        "%2E%2E%2Fsecret.json",
        "..%5Csecret.json",
    ] {
        let response = browser
            .http
            .get(format!("{}/locales/passage-auth/v2/{raw}", browser.root()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{raw}");
        assert!(!response.text().await.unwrap().contains("secret\": true"));
    }
    // The operator's message templates, and English for the keys they leave out.
    let mail = code_mail(&browser, "ada@example.com", "it").await;
    assert_eq!(mail.subject, "Il tuo codice per Passage");
    assert!(
        mail.text
            .starts_with(&format!("Codice: {} (5 minuti)", mail.code)),
        "{}",
        mail.text
    );
}

#[tokio::test]
async fn mails_and_texts_go_in_the_users_language_when_a_template_exists() {
    let browser = Browser::start(
        dev()
            .auth_methods(codes())
            .identifiers(passage_server::Identifiers::Both)
            .user(SeedUser::email("ada@example.com"))
            .user(SeedUser::default().with_phone("+14155550100")),
    )
    .await;
    for (language, subject, body) in [
        (
            "de",
            "Dein Anmeldecode für Passage",
            "Er funktioniert einmal, 5 Minuten lang.",
        ),
        (
            "FR",
            "Votre code de connexion à Passage",
            "pendant 5 minutes",
        ),
        (
            "es",
            "Tu código de acceso para Passage",
            "durante 5 minutos",
        ),
        (
            "zz",
            "Your sign-in code for Passage",
            "It works once, for 5 minutes.",
        ),
        (
            "",
            "Your sign-in code for Passage",
            "It works once, for 5 minutes.",
        ),
    ] {
        let mail = code_mail(&browser, "ada@example.com", language).await;
        assert_eq!(mail.subject, subject, "{language:?}");
        assert!(mail.text.contains(body), "{language:?}: {}", mail.text);
        assert!(mail.text.contains(&mail.code));
    }
    // A text message in the development mailbox: the short template.
    let text = code_mail(&browser, "+14155550100", "de").await;
    assert!(
        text.text
            .starts_with(&format!("{} ist dein Anmeldecode für Passage.", text.code)),
        "{}",
        text.text
    );
}

#[tokio::test]
async fn a_template_file_with_an_unknown_key_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("messages.nl.json"),
        r#"{"code_subjekt": "Je code"}"#,
    )
    .unwrap();
    let err = dev().locales_dir(dir.path()).start().await.unwrap_err();
    match err {
        ServerError::Config(message) => {
            assert!(message.contains("code_subjekt"), "{message}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
