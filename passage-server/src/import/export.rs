//! The other way: every user of a store, with its passkeys' public keys, in the form `import`
//! reads — to move a passage-server to another database (SQLite to PostgreSQL), or to keep a
//! copy. Only public material leaves: no session, token, link or signing key.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::credential::cose_bytes;
use crate::{
    passkey::Material,
    store::{Store, StoreError, UserQuery},
};

/// A time as RFC 3339 text.
fn rfc3339(at: time::OffsetDateTime) -> Value {
    at.format(&time::format_description::well_known::Rfc3339)
        .map_or(Value::Null, Value::String)
}

/// Users per page read from the store.
const PAGE: usize = 500;

/// Every user of `store` as a JSON array of Passage user objects, each with a `credentials`
/// array (credential id, COSE public key, sign count, user handle, transports, backup flags,
/// AAGUID, name, dates; `rp_id` when `relying_party` is given) that [`import_users`](super::import_users)
/// reads back.
///
/// # Errors
/// [`StoreError::Failed`] when the store fails.
pub async fn export_users(
    store: &dyn Store,
    relying_party: Option<&str>,
) -> Result<Value, StoreError> {
    let mut users = Vec::new();
    let mut query = UserQuery {
        limit: PAGE,
        ..UserQuery::default()
    };
    loop {
        let page = store.list_users(&query).await?;
        let count = page.users.len();
        for user in page.users {
            let mut credentials = Vec::new();
            for (device, material) in store.passkeys(&user.id).await? {
                let Ok(material) = Material::parse(&material) else {
                    // A seeded device (a name, no key) or material that does not read.
                    continue;
                };
                let Some(cose) = cose_bytes(material.passkey.get_public_key()) else {
                    continue;
                };
                let stored = serde_json::to_value(&material.passkey)
                    .ok()
                    .and_then(|mut v| v.get_mut("cred").map(Value::take))
                    .unwrap_or(Value::Null);
                let mut credential = json!({
                    "credential_id": device.cred_id,
                    "public_key": URL_SAFE_NO_PAD.encode(cose),
                    "sign_count": material.sign_count(),
                    "transports": stored.get("transports").cloned().unwrap_or(Value::Null),
                    "backup_state": stored.get("backup_state").cloned().unwrap_or(Value::Null),
                    "user_verified": stored.get("user_verified").cloned().unwrap_or(Value::Null),
                    "name": device.friendly_name,
                    "type": device.kind,
                    "created_at": rfc3339(device.created_at),
                    "last_used_at": rfc3339(device.last_login_at),
                    "usage_count": device.usage_count,
                });
                if !material.backup_eligible_unknown {
                    credential["backup_eligible"] = stored
                        .get("backup_eligible")
                        .cloned()
                        .unwrap_or(Value::Null);
                }
                if !material.user_handle_unknown {
                    credential["user_handle"] =
                        json!(URL_SAFE_NO_PAD.encode(material.user_handle(&user.id)));
                }
                if let Some(aaguid) = material.aaguid {
                    credential["aaguid"] = json!(aaguid.to_string());
                }
                if let Some(rp) = relying_party {
                    credential["rp_id"] = json!(rp);
                }
                credentials.push(credential);
            }
            let mut object = serde_json::to_value(&user)
                .map_err(|err| StoreError::Failed(format!("a user does not serialize: {err}")))?;
            object["credentials"] = Value::Array(credentials);
            users.push(object);
        }
        if count < PAGE {
            break;
        }
        query.offset += count;
    }
    Ok(Value::Array(users))
}
