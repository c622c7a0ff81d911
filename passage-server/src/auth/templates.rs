//! The texts of what the server sends (mails and text messages), per language: the ones built
//! in, and the operator's own from `--locales-dir` (`messages.{lang}.json`, the same keys as
//! [`EN`]; a key left out falls back to English). A template names its values with `{app}`,
//! `{link}`, `{code}`, `{minutes}`, `{new}`.

use std::{collections::HashMap, path::Path};

use crate::ServerError;

/// Every key a message template file holds, with its English text.
pub(crate) const EN: &[(&str, &str)] = &[
    ("link_subject", "Your sign-in link for {app}"),
    (
        "link_body",
        "Open this link to sign in to {app}:\n\n{link}\n\nOpening it signs in the browser you open it in. If you asked for it on another device or browser, that one is not signed in: open the link there, or sign in here.\n\nIt works once, and only for a short while. If you did not ask for it, ignore this message: nobody can sign in without it.\n",
    ),
    (
        "link_sms",
        "Sign in to {app}: {link} (works once; if you did not ask for it, ignore this message)",
    ),
    (
        "verify_subject",
        "Confirm your new sign-in address for {app}",
    ),
    (
        "verify_body",
        "Open this link to make this address the one you sign in to {app} with:\n\n{link}\n\nNothing changes until you do. It works once, and only for a short while. If you did not ask for this, ignore this message.\n",
    ),
    (
        "verify_sms",
        "Confirm this number for your {app} account: {link} (if you did not ask for this, ignore this message)",
    ),
    ("code_subject", "Your sign-in code for {app}"),
    (
        "code_body",
        "Your sign-in code for {app}:\n\n{code}\n\nIt works once, for {minutes} minutes. Never tell it to anyone: {app} will never ask you for it. If you did not ask for it, ignore this message: nobody can sign in without it.\n",
    ),
    (
        "code_sms",
        "{code} is your {app} sign-in code. It works once, for {minutes} minutes. Never share it.",
    ),
    (
        "changed_subject",
        "The sign-in address of your {app} account changed",
    ),
    (
        "changed_body",
        "The sign-in address of your {app} account is now {new}; this address no longer signs in to it.\n\nIf you did not make this change, tell {app} at once.\n",
    ),
    (
        "changed_sms",
        "Your {app} account now signs in with {new}, not this number. If this was not you, tell {app} at once.",
    ),
];

/// Message templates built in beside English, by language (the first subtag, lower case):
/// JSON objects of the keys of [`EN`], written for this server.
const BUILT_IN: &[(&str, &str)] = &[
    ("de", include_str!("../../assets/messages.de.json")),
    ("es", include_str!("../../assets/messages.es.json")),
    ("fr", include_str!("../../assets/messages.fr.json")),
];

/// The message templates of one language (every key present: missing ones are English).
#[derive(Debug, Clone)]
pub(crate) struct Texts {
    language: String,
    texts: HashMap<&'static str, String>,
}

impl Texts {
    fn english() -> Self {
        Self {
            language: "en".to_owned(),
            texts: EN.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        }
    }

    /// `english` with `overrides` (only known keys) in `language`.
    fn with(language: &str, overrides: &[(&str, String)]) -> Self {
        let mut texts = Self::english();
        texts.language = language.to_owned();
        for (key, value) in overrides {
            if let Some((known, _)) = EN.iter().find(|(k, _)| k == key) {
                texts.texts.insert(known, value.clone());
            }
        }
        texts
    }

    /// The language these texts are in.
    pub(crate) fn language(&self) -> &str {
        &self.language
    }

    fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut text = self.texts.get(key).cloned().unwrap_or_default();
        for (name, value) in values {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }

    pub(crate) fn link_subject(&self, app: &str) -> String {
        self.fill("link_subject", &[("app", app)])
    }

    pub(crate) fn link_body(&self, app: &str, link: &str, sms: bool) -> String {
        let key = if sms { "link_sms" } else { "link_body" };
        self.fill(key, &[("app", app), ("link", link)])
    }

    pub(crate) fn verify_subject(&self, app: &str) -> String {
        self.fill("verify_subject", &[("app", app)])
    }

    pub(crate) fn verify_body(&self, app: &str, link: &str, sms: bool) -> String {
        let key = if sms { "verify_sms" } else { "verify_body" };
        self.fill(key, &[("app", app), ("link", link)])
    }

    pub(crate) fn code_subject(&self, app: &str) -> String {
        self.fill("code_subject", &[("app", app)])
    }

    pub(crate) fn code_body(&self, app: &str, code: &str, minutes: i64, sms: bool) -> String {
        let key = if sms { "code_sms" } else { "code_body" };
        let minutes = minutes.to_string();
        self.fill(key, &[("app", app), ("code", code), ("minutes", &minutes)])
    }

    pub(crate) fn changed_subject(&self, app: &str) -> String {
        self.fill("changed_subject", &[("app", app)])
    }

    pub(crate) fn changed_body(&self, app: &str, new: &str, sms: bool) -> String {
        let key = if sms { "changed_sms" } else { "changed_body" };
        self.fill(key, &[("app", app), ("new", new)])
    }
}

/// The message templates of every language the server knows, and where the operator's element
/// strings are (`--locales-dir`).
#[derive(Debug, Clone)]
pub(crate) struct Locales {
    /// The operator's directory of `{lang}.json` element strings and `messages.{lang}.json`.
    pub(crate) dir: Option<std::path::PathBuf>,
    messages: HashMap<String, Texts>,
    english: Texts,
}

impl Locales {
    /// The built-in templates, then the operator's `messages.{lang}.json` from `dir`.
    pub(crate) fn load(dir: Option<&Path>) -> Result<Self, ServerError> {
        let mut messages = HashMap::new();
        for (language, json) in BUILT_IN {
            messages.insert((*language).to_owned(), parse(language, json, language)?);
        }
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir).map_err(|err| {
                ServerError::Config(format!("--locales-dir {}: {err}", dir.display()))
            })?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(language) = name
                    .strip_prefix("messages.")
                    .and_then(|rest| rest.strip_suffix(".json"))
                else {
                    continue;
                };
                let language = language.to_ascii_lowercase();
                let text = std::fs::read_to_string(entry.path()).map_err(|err| {
                    ServerError::Config(format!("{}: {err}", entry.path().display()))
                })?;
                let texts = parse(&language, &text, &entry.path().display().to_string())?;
                messages.insert(language, texts);
            }
        }
        Ok(Self {
            dir: dir.map(Path::to_path_buf),
            messages,
            english: Texts::english(),
        })
    }
}

/// The element's UI strings built in, by language (passage-elements fetches
/// `{lang}.json` at run time; its npm package holds none, and the files it fetched went with
/// the hosted service): English, German, Spanish and French, written for this server.
const ELEMENT_STRINGS: &[(&str, &str)] = &[
    ("en", include_str!("../../assets/en.json")),
    ("de", include_str!("../../assets/de.json")),
    ("es", include_str!("../../assets/es.json")),
    ("fr", include_str!("../../assets/fr.json")),
];

/// The built-in element strings for `language` (a lower-case tag), if any.
pub(crate) fn element_strings(language: &str) -> Option<&'static str> {
    ELEMENT_STRINGS
        .iter()
        .find(|(tag, _)| *tag == language)
        .map(|(_, text)| *text)
}

/// The templates of `language` from a JSON object of [`EN`]'s keys (`source` names it in
/// errors): an unknown key is refused, a missing one is English.
fn parse(language: &str, json: &str, source: &str) -> Result<Texts, ServerError> {
    let map: HashMap<String, String> = serde_json::from_str(json).map_err(|err| {
        ServerError::Config(format!("{source}: not a JSON object of strings: {err}"))
    })?;
    if let Some(unknown) = map.keys().find(|k| !EN.iter().any(|(e, _)| e == k)) {
        return Err(ServerError::Config(format!(
            "{source}: unknown key {unknown:?}"
        )));
    }
    let overrides: Vec<(&str, String)> = map.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    Ok(Texts::with(language, &overrides))
}

/// The message templates for `language` (as the element sends it: a first subtag, any case):
/// that language's when the server has them, else English.
pub(crate) fn messages<'a>(locales: &'a Locales, language: Option<&str>) -> &'a Texts {
    language
        .map(|l| {
            l.split(['-', '_'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase()
        })
        .and_then(|l| locales.messages.get(&l))
        .unwrap_or(&locales.english)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_language_has_every_key() {
        let english: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(ELEMENT_STRINGS[0].1).unwrap_or_default();
        assert_eq!(english.len(), 165);
        for (language, text) in ELEMENT_STRINGS {
            let strings: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).unwrap_or_default();
            let keys: Vec<&String> = strings.keys().collect();
            assert_eq!(keys, english.keys().collect::<Vec<_>>(), "{language}");
        }
        for (language, json) in BUILT_IN {
            let map: HashMap<String, String> = serde_json::from_str(json).unwrap_or_default();
            assert_eq!(map.len(), EN.len(), "{language}: every message key");
            assert!(parse(language, json, language).is_ok(), "{language}");
        }
        let locales = Locales::load(None).ok();
        let german = locales.as_ref().map(|l| messages(l, Some("DE")).language());
        assert_eq!(german, Some("de"));
        let unknown = locales.as_ref().map(|l| messages(l, Some("xx")).language());
        assert_eq!(unknown, Some("en"));
    }
}
