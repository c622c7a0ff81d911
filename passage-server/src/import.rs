//! Bringing users over from Passage: a JSON array of Management API user objects (what
//! `users list` returned), keeping their ids so references in apps stay valid.

use crate::{
    identifier::Identifier,
    store::{SeedUser, Store, StoreError},
};
use serde::Deserialize;
use serde_json::{Map, Value};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Users added.
    pub imported: usize,
    /// Users skipped — an id or identifier taken already, or a row that is not a user (no id,
    /// an identifier sign-up would refuse) — with the reason.
    pub skipped: Vec<(String, String)>,
}

/// A Management API user object, as far as an import reads it.
#[derive(Deserialize)]
struct Exported {
    id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    user_metadata: Option<Map<String, Value>>,
}

/// Imports users from `json` (an array of Management API user objects) into `store`.
///
/// Users keep their ids, identifiers, status and metadata; passkeys cannot come along (Passage
/// never exported their public keys), so imported users sign in by magic link and register a new
/// passkey. A user whose id or identifier is taken is skipped and reported.
///
/// # Errors
/// [`StoreError::Refused`] when `json` is not such an array; [`StoreError::Failed`] when the
/// store fails.
pub async fn import_users(store: &dyn Store, json: &str) -> Result<ImportReport, StoreError> {
    let users: Vec<Exported> = serde_json::from_str(json)
        .map_err(|_| StoreError::Refused("not a JSON array of Passage user objects"))?;
    let mut report = ImportReport::default();
    for user in users {
        let id = user.id.trim().to_owned();
        let valid_id = !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !valid_id {
            report.skipped.push((
                user.id,
                "the id is empty or not plain letters and digits".into(),
            ));
            continue;
        }
        // Identifiers are parsed exactly as sign-up parses them.
        let email = match user.email.trim() {
            "" => None,
            raw => match Identifier::email(raw) {
                Ok(email) => Some(email.as_str().to_owned()),
                Err(err) => {
                    report.skipped.push((id, format!("email: {err}")));
                    continue;
                }
            },
        };
        let phone = match user.phone.trim() {
            "" => None,
            raw => match Identifier::phone(raw) {
                Ok(phone) => Some(phone.as_str().to_owned()),
                Err(err) => {
                    report.skipped.push((id, format!("phone: {err}")));
                    continue;
                }
            },
        };
        let seed = SeedUser {
            id: Some(id.clone()),
            email,
            phone,
            status: user.status,
            user_metadata: user.user_metadata,
            ..SeedUser::default()
        };
        match store.insert_user(seed).await {
            Ok(_) => report.imported += 1,
            Err(StoreError::Refused(reason)) => report.skipped.push((id, reason.to_owned())),
            Err(err) => return Err(err),
        }
    }
    Ok(report)
}
