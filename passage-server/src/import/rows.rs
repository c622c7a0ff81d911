//! Reading an import file into rows of named fields: a JSON array of user objects (or
//! `{"users": [...]}`), or a CSV file with a header row whose column names are matched to the
//! fields loosely (any case, spaces, `-` and `.` as `_`, Passage's console labels and other
//! exporters' names as aliases), or as the operator maps them.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::{Format, ImportError, MAX_FILE_BYTES, MAX_ROWS};

/// The fields a user row may hold, by canonical name, with the other names that mean them
/// (already normalised: lower case, `_` for spaces, `-` and `.`).
const FIELDS: &[(&str, &[&str])] = &[
    (
        "id",
        &["user_id", "passage_id", "passage_user_id", "userid"],
    ),
    (
        "email",
        &["email_address", "e_mail", "e_mail_address", "mail"],
    ),
    ("email_verified", &["verified_email", "email_is_verified"]),
    ("phone", &["phone_number", "mobile", "phonenumber"]),
    ("phone_verified", &["verified_phone", "phone_is_verified"]),
    ("status", &["user_status", "state"]),
    ("created_at", &["created", "createdat", "created_on"]),
    ("updated_at", &["updated", "updatedat", "modified_at"]),
    (
        "last_login_at",
        &[
            "last_login",
            "last_sign_in_at",
            "last_signin",
            "lastloginat",
        ],
    ),
    ("login_count", &["logins", "logincount", "sign_in_count"]),
    ("external_id", &["externalid"]),
    ("webauthn", &["has_passkey", "passkeys_enabled"]),
    ("webauthn_types", &["webauthntypes"]),
    (
        "user_metadata",
        &["metadata", "usermetadata", "custom_fields"],
    ),
    ("webauthn_devices", &["devices", "webauthndevices"]),
    (
        "credentials",
        &["passkeys", "webauthn_credentials", "passkey_credentials"],
    ),
];

/// Fields Passage's user objects carry that an import has no use for: not reported.
const PASSAGE_ONLY: &[&str] = &["recent_events", "social_connections", "app_id", "name"];

/// One row: its number in the file (1-based: the CSV record after the header, or the array
/// element) and its fields by canonical name; metadata columns (`metadata.KEY`) gathered apart.
#[derive(Debug, Default)]
pub(crate) struct Row {
    pub(crate) number: usize,
    pub(crate) fields: HashMap<&'static str, Value>,
    pub(crate) metadata: Map<String, Value>,
}

/// What a column or key is: a field, a metadata key, or nothing the import reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Field(&'static str),
    Metadata(String),
    Ignored,
    Unknown,
}

/// A name as the import compares it: trimmed, without a byte-order mark, lower case, with
/// spaces, `-` and `.` as `_`.
fn normalise(name: &str) -> String {
    name.trim_start_matches('\u{feff}')
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if matches!(c, ' ' | '-' | '.') { '_' } else { c })
        .collect()
}

/// The canonical field `name` (normalised) means, if any.
fn field(name: &str) -> Option<&'static str> {
    FIELDS
        .iter()
        .find(|(canonical, aliases)| *canonical == name || aliases.contains(&name))
        .map(|(canonical, _)| *canonical)
}

/// Parses `--column` mappings: `HEADER=FIELD`, where FIELD is a field's name (or alias),
/// `metadata.KEY`, or empty (the column is ignored).
///
/// # Errors
/// [`ImportError::Mapping`] for a mapping without `=` or to no field.
pub(crate) fn mappings(specs: &[String]) -> Result<HashMap<String, Target>, ImportError> {
    let mut map = HashMap::new();
    for spec in specs {
        let Some((header, target)) = spec.rsplit_once('=') else {
            return Err(ImportError::Mapping(format!(
                "{spec:?}: write HEADER=FIELD (FIELD empty to ignore the column)"
            )));
        };
        let target = target.trim();
        let resolved = if target.is_empty() {
            Target::Ignored
        } else if let Some(key) = metadata_key(target) {
            Target::Metadata(key)
        } else if let Some(field) = field(&normalise(target)) {
            Target::Field(field)
        } else {
            return Err(ImportError::Mapping(format!(
                "{spec:?}: {target:?} is not a field ({})",
                FIELDS
                    .iter()
                    .map(|(name, _)| *name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        map.insert(normalise(header), resolved);
    }
    Ok(map)
}

/// `metadata.KEY` / `user_metadata.KEY` (as written, the key's case kept).
fn metadata_key(name: &str) -> Option<String> {
    let name = name.trim();
    let lower = name.to_lowercase();
    ["user_metadata.", "metadata."]
        .iter()
        .find(|prefix| lower.starts_with(**prefix))
        .map(|prefix| name[prefix.len()..].to_owned())
        .filter(|key| !key.is_empty())
}

/// What a column or key named `name` is, mappings first.
fn target(name: &str, mapped: &HashMap<String, Target>) -> Target {
    let normalised = normalise(name);
    if let Some(target) = mapped.get(&normalised) {
        return target.clone();
    }
    if let Some(key) = metadata_key(name) {
        return Target::Metadata(key);
    }
    if let Some(field) = field(&normalised) {
        return Target::Field(field);
    }
    if PASSAGE_ONLY.contains(&normalised.as_str()) {
        return Target::Ignored;
    }
    Target::Unknown
}

/// Which format `text` is in: by the file name's extension, else by its first character (`[`
/// or `{`: JSON).
pub(crate) fn detect(name: &str, text: &str) -> Format {
    let lower = name.to_lowercase();
    if lower.ends_with(".csv") {
        return Format::Csv;
    }
    if lower.ends_with(".json") {
        return Format::Json;
    }
    match text
        .trim_start_matches('\u{feff}')
        .trim_start()
        .chars()
        .next()
    {
        Some('[' | '{') => Format::Json,
        _ => Format::Csv,
    }
}

/// The rows of `text`, and the columns no field took (CSV only).
///
/// # Errors
/// [`ImportError`] when the file is too large, not JSON (or CSV) as said, or has too many rows.
pub(crate) fn read(
    text: &str,
    format: Format,
    mapped: &HashMap<String, Target>,
) -> Result<(Vec<Row>, Vec<String>), ImportError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge);
    }
    match format {
        Format::Json => json(text, mapped).map(|rows| (rows, Vec::new())),
        Format::Csv => csv(text, mapped),
    }
}

/// The elements of a JSON array (or of an object's `key` array).
///
/// # Errors
/// [`ImportError::Malformed`] when `text` is neither.
pub(crate) fn json_array(text: &str, key: &str) -> Result<Vec<Value>, ImportError> {
    let value: Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
        .map_err(|err| ImportError::Malformed(format!("not JSON: {err}")))?;
    let list = match value {
        Value::Array(list) => list,
        Value::Object(mut object) => match object.remove(key) {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(ImportError::Malformed(format!(
                    "a JSON array, or an object with a {key:?} array, was expected"
                )));
            }
        },
        _ => {
            return Err(ImportError::Malformed(format!(
                "a JSON array, or an object with a {key:?} array, was expected"
            )));
        }
    };
    if list.len() > MAX_ROWS {
        return Err(ImportError::TooManyRows);
    }
    Ok(list)
}

fn json(text: &str, mapped: &HashMap<String, Target>) -> Result<Vec<Row>, ImportError> {
    let list = json_array(text, "users")?;
    let mut rows = Vec::with_capacity(list.len());
    for (index, element) in list.into_iter().enumerate() {
        let mut row = Row {
            number: index + 1,
            ..Row::default()
        };
        // A row that is not an object has no fields: it is refused for want of an id.
        if let Value::Object(object) = element {
            for (key, value) in object {
                match target(&key, mapped) {
                    Target::Field(name) => {
                        row.fields.insert(name, value);
                    }
                    Target::Metadata(key) => {
                        row.metadata.insert(key, value);
                    }
                    Target::Ignored | Target::Unknown => {}
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

fn csv(
    text: &str,
    mapped: &HashMap<String, Target>,
) -> Result<(Vec<Row>, Vec<String>), ImportError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(::csv::Trim::Headers)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader
        .headers()
        .map_err(|err| ImportError::Malformed(format!("CSV header: {err}")))?
        .clone();
    let targets: Vec<Target> = headers.iter().map(|h| target(h, mapped)).collect();
    let unknown: Vec<String> = headers
        .iter()
        .zip(&targets)
        .filter(|(_, t)| **t == Target::Unknown)
        .map(|(h, _)| h.to_owned())
        .collect();
    if !targets.contains(&Target::Field("id")) {
        return Err(ImportError::Malformed(format!(
            "no id column among the CSV headers ({}): map one with --column 'HEADER=id'",
            headers.iter().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|err| ImportError::Malformed(format!("CSV: {err}")))?;
        if rows.len() >= MAX_ROWS {
            return Err(ImportError::TooManyRows);
        }
        let mut row = Row {
            number: index + 1,
            ..Row::default()
        };
        for (value, target) in record.iter().zip(&targets) {
            match target {
                Target::Field(name) => {
                    row.fields.insert(name, Value::String(value.to_owned()));
                }
                Target::Metadata(key) if !value.trim().is_empty() => {
                    row.metadata
                        .insert(key.clone(), Value::String(value.to_owned()));
                }
                _ => {}
            }
        }
        rows.push(row);
    }
    Ok((rows, unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_labels_and_other_names_find_their_fields() {
        for (header, field) in [
            ("User ID", Some("id")),
            ("\u{feff}id", Some("id")),
            ("Email Verified", Some("email_verified")),
            ("Phone-Number", Some("phone")),
            ("Last Login At", Some("last_login_at")),
            ("Created At", Some("created_at")),
            ("webauthn_devices", Some("webauthn_devices")),
            ("favourite colour", None),
        ] {
            assert_eq!(super::field(&normalise(header)), field, "{header}");
        }
        let mapped = mappings(&["E-Mail Adresse=email".into(), "Kundennummer=".into()]).unwrap();
        assert_eq!(target("e-mail adresse", &mapped), Target::Field("email"));
        assert_eq!(target("Kundennummer", &mapped), Target::Ignored);
        assert_eq!(
            target("metadata.Plan", &mapped),
            Target::Metadata("Plan".into())
        );
        assert!(mappings(&["no equals sign".into()]).is_err());
        assert!(mappings(&["x=not_a_field".into()]).is_err());
    }

    #[test]
    fn quoted_csv_fields_keep_commas_quotes_and_newlines() {
        let text = "id,email,user_metadata,Shoe Size\r\nu1,a@example.com,\"{\"\"plan\"\": \"\"pro, yearly\"\",\n\"\"n\"\": 1}\",42\n";
        let (rows, unknown) = read(text, Format::Csv, &HashMap::new()).unwrap();
        assert_eq!(unknown, ["Shoe Size"]);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].fields["user_metadata"],
            Value::String("{\"plan\": \"pro, yearly\",\n\"n\": 1}".into())
        );
    }

    #[test]
    fn formats_are_told_by_extension_then_content() {
        assert_eq!(detect("users.CSV", "[]"), Format::Csv);
        assert_eq!(detect("users.json", "id,email"), Format::Json);
        assert_eq!(detect("export", "  [{}]"), Format::Json);
        assert_eq!(detect("export", "id,email\n"), Format::Csv);
        assert!(matches!(
            read("id,email\n", Format::Json, &HashMap::new()),
            Err(ImportError::Malformed(_))
        ));
        assert!(matches!(
            read("email\nx@example.com\n", Format::Csv, &HashMap::new()),
            Err(ImportError::Malformed(_))
        ));
        assert!(matches!(
            read(
                "id,email\nu1,a@example.com,extra\n",
                Format::Csv,
                &HashMap::new()
            ),
            Err(ImportError::Malformed(_))
        ));
    }
}
