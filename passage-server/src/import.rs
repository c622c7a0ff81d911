//! Bringing users over from Passage: a JSON array of Management API user objects (what
//! `users list` returned), keeping their ids so references in apps stay valid.

use crate::store::{SeedUser, Store, StoreError};
use serde::Deserialize;
use serde_json::{Map, Value};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Users added.
    pub imported: usize,
    /// Users skipped because their id or identifier is already taken, with the reason.
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
        let seed = SeedUser {
            id: Some(user.id.clone()),
            email: Some(user.email).filter(|e| !e.is_empty()),
            phone: Some(user.phone).filter(|p| !p.is_empty()),
            status: user.status,
            user_metadata: user.user_metadata,
            ..SeedUser::default()
        };
        match store.insert_user(seed).await {
            Ok(_) => report.imported += 1,
            Err(StoreError::Refused(reason)) => report.skipped.push((user.id, reason.to_owned())),
            Err(err) => return Err(err),
        }
    }
    Ok(report)
}
