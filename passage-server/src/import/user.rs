//! One row read as a user to import: its id kept as it was (apps reference it: it is the
//! tokens' `sub`), its identifiers parsed exactly as sign-up parses them, its status, flags,
//! dates, metadata and Passage devices, and the credential objects it carries.

use serde_json::{Map, Value};

use super::{MAX_CREDENTIALS, MAX_DEVICES, MAX_METADATA_BYTES, MAX_TEXT, rows::Row, values};
use crate::{
    identifier::Identifier,
    store::{SeedUser, User},
};

/// A row that reads as a user.
#[derive(Debug)]
pub(crate) struct Candidate {
    /// The row's number in the file.
    pub(crate) row: usize,
    /// The user as it will be stored.
    pub(crate) user: User,
    /// Whether Passage said the user had a passkey (`webauthn`, or devices listed).
    pub(crate) had_passkey: bool,
    /// The user's Passage devices (names and dates, by credential id).
    pub(crate) devices: Vec<Map<String, Value>>,
    /// The credential objects the row carries.
    pub(crate) credentials: Vec<Map<String, Value>>,
}

/// A field of `row`, if present and not null.
fn get<'a>(row: &'a Row, name: &str) -> Option<&'a Value> {
    row.fields.get(name).filter(|v| !v.is_null())
}

/// Reads `row` as a user: `Err` says why it is refused, with the id when it has one.
pub(crate) fn read(row: &Row) -> Result<Candidate, (String, String)> {
    let raw_id = get(row, "id").map(values::text).unwrap_or_default();
    let refuse = |reason: String| (raw_id.clone(), reason);
    for (name, value) in &row.fields {
        if let Value::String(text) = value
            && text.len() > MAX_TEXT
            && !matches!(*name, "credentials" | "webauthn_devices" | "user_metadata")
        {
            return Err(refuse(format!("{name}: over {MAX_TEXT} bytes")));
        }
    }
    let id = raw_id.clone();
    let valid_id = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
    if !valid_id {
        return Err(refuse(
            "the id is empty or not plain letters, digits, - and _ (at most 128)".into(),
        ));
    }
    // Identifiers are parsed exactly as sign-up parses them.
    let email = match get(row, "email").map(values::text).unwrap_or_default() {
        raw if raw.is_empty() => None,
        raw => Some(
            Identifier::email(&raw)
                .map_err(|err| refuse(format!("email: {err}")))?
                .as_str()
                .to_owned(),
        ),
    };
    let phone = match get(row, "phone").map(values::text).unwrap_or_default() {
        raw if raw.is_empty() => None,
        raw => Some(
            Identifier::phone(&raw)
                .map_err(|err| refuse(format!("phone: {err}")))?
                .as_str()
                .to_owned(),
        ),
    };
    if email.is_none() && phone.is_none() {
        return Err(refuse("neither an email nor a phone".into()));
    }
    let status = match get(row, "status").map(values::text).unwrap_or_default() {
        raw if raw.is_empty() => "active".to_owned(),
        raw => match raw.to_lowercase().as_str() {
            status @ ("active" | "inactive" | "pending") => status.to_owned(),
            _ => {
                return Err(refuse(format!(
                    "status: {raw:?} is not active, inactive or pending"
                )));
            }
        },
    };
    let flag = |name: &str| -> Result<bool, (String, String)> {
        get(row, name).map_or(Ok(false), |value| {
            values::boolean(value).map_err(|err| refuse(format!("{name}: {err}")))
        })
    };
    let time = |name: &str| {
        get(row, name).map_or(Ok(None), |value| {
            values::time(value).map_err(|err| refuse(format!("{name}: {err}")))
        })
    };
    let mut metadata = match get(row, "user_metadata") {
        Some(value) => {
            values::object(value).map_err(|err| refuse(format!("user_metadata {err}")))?
        }
        None => None,
    };
    if !row.metadata.is_empty() {
        metadata
            .get_or_insert_with(Map::new)
            .extend(row.metadata.clone());
    }
    if let Some(metadata) = &metadata
        && serde_json::to_string(metadata).map_or(0, |text| text.len()) > MAX_METADATA_BYTES
    {
        return Err(refuse(format!(
            "user_metadata: over {MAX_METADATA_BYTES} bytes"
        )));
    }
    let devices = match get(row, "webauthn_devices") {
        Some(value) => {
            values::objects(value).map_err(|err| refuse(format!("webauthn_devices {err}")))?
        }
        None => Vec::new(),
    };
    let credentials = match get(row, "credentials") {
        Some(value) => {
            values::objects(value).map_err(|err| refuse(format!("credentials {err}")))?
        }
        None => Vec::new(),
    };
    if devices.len() > MAX_DEVICES {
        return Err(refuse(format!("over {MAX_DEVICES} webauthn_devices")));
    }
    if credentials.len() > MAX_CREDENTIALS {
        return Err(refuse(format!("over {MAX_CREDENTIALS} credentials")));
    }
    let login_count = match get(row, "login_count") {
        Some(value) => values::count(value).map_err(|err| refuse(format!("login_count: {err}")))?,
        None => 0,
    };
    let external_id = get(row, "external_id")
        .map(values::text)
        .unwrap_or_default();
    let seed = SeedUser {
        id: Some(id),
        email,
        phone,
        status: Some(status),
        user_metadata: metadata,
        ..SeedUser::default()
    };
    let (mut user, _) = User::from_seed(seed).map_err(|err| refuse(err.to_string()))?;
    user.email_verified = flag("email_verified")?;
    user.phone_verified = flag("phone_verified")?;
    user.login_count = i64::try_from(login_count).unwrap_or(i64::MAX);
    user.external_id = external_id;
    if let Some(created) = time("created_at")? {
        user.created_at = created;
    }
    user.updated_at = time("updated_at")?.unwrap_or(user.created_at);
    if let Some(last) = time("last_login_at")? {
        user.last_login_at = last;
    }
    let had_passkey = flag("webauthn")? || !devices.is_empty() || !credentials.is_empty();
    Ok(Candidate {
        row: row.number,
        user,
        had_passkey,
        devices,
        credentials,
    })
}
