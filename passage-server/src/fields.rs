//! The app's own user fields: what the operator declares (Passage's "user metadata schema") —
//! each field's id, name, label, type, and whether it is asked at registration and editable in
//! the profile — with the layouts passage-elements draws them in, and the rule every value
//! must pass before it is kept.
//!
//! The declaration is a JSON file (`--user-fields`), in the shape Passage's app info had:
//!
//! ```json
//! { "user_metadata_schema": [
//!     { "id": "f1", "field_name": "company", "friendly_name": "Company", "type": "string",
//!       "registration": true, "profile": true } ],
//!   "layouts": { "registration": [ { "id": "f1", "x": 0, "y": 0, "w": 6, "h": 1 } ],
//!                "profile": [] } }
//! ```
//!
//! `id` defaults to the field name; without `layouts`, the fields asked at registration (and
//! those editable in the profile) are laid out one per row, in their order.
//!
//! **What is kept.** From the browser, only declared fields are kept — at registration the
//! fields marked `registration`, in the profile those marked `profile` — each of its type and
//! size; anything else the browser sends is ignored (an app may keep authorization data such as
//! `role` in metadata: a browser never writes it). Through the Management API every key is the
//! app's to set, but a declared field's value must still be of its type.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The most fields an app may declare.
pub const MAX_FIELDS: usize = 50;
/// The longest text value (string, email, phone) kept, in characters.
pub const MAX_TEXT: usize = 256;
/// The largest metadata object kept, serialized.
pub const MAX_METADATA_BYTES: usize = 64 * 1024;

/// A field's type, as Passage named them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text.
    String,
    /// `true` or `false`.
    Boolean,
    /// A whole number.
    Integer,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A phone number (kept in E.164).
    Phone,
    /// An email address (kept normalised).
    Email,
}

/// One declared field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserField {
    /// Its id (the layouts name fields by it); defaults to the field name.
    #[serde(default)]
    pub id: String,
    /// Its key in `user_metadata`.
    pub field_name: String,
    /// Its label.
    pub friendly_name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Whether new users fill it in at registration.
    #[serde(default)]
    pub registration: bool,
    /// Whether users may change it in their profile.
    #[serde(default)]
    pub profile: bool,
}

/// Where a field is drawn on the element's 6-column grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutItem {
    /// The field's id.
    pub id: String,
    /// Column (0–5).
    pub x: u8,
    /// Row.
    pub y: u16,
    /// Width in columns (1–6).
    pub w: u8,
    /// Height in rows (1–4).
    pub h: u8,
}

/// The registration and profile layouts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layouts {
    /// The fields of the registration form.
    #[serde(default)]
    pub registration: Vec<LayoutItem>,
    /// The fields of the profile.
    #[serde(default)]
    pub profile: Vec<LayoutItem>,
}

/// The fields an app declares, with their layouts. Empty by default: no field is asked, and the
/// browser sets no metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFields {
    fields: Vec<UserField>,
    layouts: Layouts,
}

/// Why a declaration or a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FieldError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Declaration {
    user_metadata_schema: Vec<UserField>,
    #[serde(default)]
    layouts: Option<Layouts>,
}

/// Who is writing metadata, which decides what is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "authentication"),
    allow(
        dead_code,
        reason = "the browser writes only through the Authentication API"
    )
)]
pub(crate) enum Writer {
    /// The browser, registering: the fields asked at registration.
    Registration,
    /// The browser, in the profile: the fields users may change.
    Profile,
    /// The app's backend (the Management API): every key, declared ones typed.
    Management,
}

impl UserFields {
    /// Parses and checks a declaration (see the module's docs).
    ///
    /// # Errors
    /// [`FieldError`] for JSON of another shape, a name that is not `[a-z0-9_]`, a duplicate
    /// id or name, more than [`MAX_FIELDS`] fields, or a layout naming an unknown field or
    /// off the grid.
    pub fn from_json(text: &str) -> Result<Self, FieldError> {
        let declaration: Declaration = serde_json::from_str(text)
            .map_err(|err| FieldError(format!("the user fields file: {err}")))?;
        Self::new(declaration.user_metadata_schema, declaration.layouts)
    }

    /// Checks `fields` and `layouts` (derived from the fields' flags when `None`).
    ///
    /// # Errors
    /// As [`from_json`](Self::from_json).
    pub fn new(mut fields: Vec<UserField>, layouts: Option<Layouts>) -> Result<Self, FieldError> {
        if fields.len() > MAX_FIELDS {
            return Err(FieldError(format!("at most {MAX_FIELDS} user fields")));
        }
        for field in &mut fields {
            if field.id.is_empty() {
                field.id.clone_from(&field.field_name);
            }
            let plain = |s: &str| {
                !s.is_empty()
                    && s.len() <= 64
                    && s.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    })
            };
            if !plain(&field.field_name) || !plain(&field.id) {
                return Err(FieldError(format!(
                    "user field {:?}: field_name and id must be 1–64 of a-z, 0-9, _ and -",
                    field.field_name
                )));
            }
            if field.friendly_name.trim().is_empty()
                || field.friendly_name.chars().count() > 128
                || field.friendly_name.chars().any(char::is_control)
            {
                return Err(FieldError(format!(
                    "user field {:?}: friendly_name must be 1–128 characters, no control characters",
                    field.field_name
                )));
            }
        }
        for (i, field) in fields.iter().enumerate() {
            if fields[..i]
                .iter()
                .any(|f| f.id == field.id || f.field_name == field.field_name)
            {
                return Err(FieldError(format!(
                    "user field {:?} is declared twice",
                    field.field_name
                )));
            }
        }
        let layouts = layouts.unwrap_or_else(|| Layouts {
            registration: stacked(fields.iter().filter(|f| f.registration)),
            profile: stacked(fields.iter().filter(|f| f.profile)),
        });
        for item in layouts.registration.iter().chain(&layouts.profile) {
            if !fields.iter().any(|f| f.id == item.id) {
                return Err(FieldError(format!(
                    "a layout names the unknown field id {:?}",
                    item.id
                )));
            }
            if item.x > 5
                || !(1..=6).contains(&item.w)
                || item.x + item.w > 6
                || !(1..=4).contains(&item.h)
            {
                return Err(FieldError(format!(
                    "the layout of field {:?} is off the 6-column grid",
                    item.id
                )));
            }
        }
        Ok(Self { fields, layouts })
    }

    /// The declared fields.
    #[must_use]
    pub fn fields(&self) -> &[UserField] {
        &self.fields
    }

    /// App info's `user_metadata_schema`.
    #[must_use]
    pub fn schema_json(&self) -> Value {
        json!(self.fields)
    }

    /// App info's `layouts`.
    #[must_use]
    pub fn layouts_json(&self) -> Value {
        json!(self.layouts)
    }

    /// The metadata to keep when `writer` sends `incoming` for a user who holds `existing`
    /// (see the module's docs): declared values checked and normalised; from the browser, the
    /// fields it may not write kept as they were.
    pub(crate) fn check(
        &self,
        incoming: &Map<String, Value>,
        existing: Option<&Map<String, Value>>,
        writer: Writer,
    ) -> Result<Map<String, Value>, FieldError> {
        let mut kept = match writer {
            Writer::Management => Map::new(),
            Writer::Registration | Writer::Profile => existing.cloned().unwrap_or_default(),
        };
        for (key, value) in incoming {
            let field = self.fields.iter().find(|f| &f.field_name == key);
            let writable = match (writer, field) {
                (Writer::Management, _) => true,
                (Writer::Registration, Some(field)) => field.registration,
                (Writer::Profile, Some(field)) => field.profile,
                (_, None) => false,
            };
            if !writable {
                continue;
            }
            match field {
                Some(field) if !value.is_null() => {
                    kept.insert(key.clone(), typed(field, value)?);
                }
                // A declared field emptied (or any key, from the app's backend).
                Some(_) if writer != Writer::Management => {
                    kept.remove(key);
                }
                _ => {
                    kept.insert(key.clone(), value.clone());
                }
            }
        }
        let size = serde_json::to_string(&kept).map_or(usize::MAX, |s| s.len());
        if size > MAX_METADATA_BYTES {
            return Err(FieldError(format!(
                "user_metadata: at most {MAX_METADATA_BYTES} bytes"
            )));
        }
        Ok(kept)
    }
}

/// One field per row, full width, in order.
fn stacked<'a>(fields: impl Iterator<Item = &'a UserField>) -> Vec<LayoutItem> {
    fields
        .enumerate()
        .map(|(row, field)| LayoutItem {
            id: field.id.clone(),
            x: 0,
            y: u16::try_from(row).unwrap_or(u16::MAX),
            w: 6,
            h: 1,
        })
        .collect()
}

/// `value` as `field` keeps it, or why not.
fn typed(field: &UserField, value: &Value) -> Result<Value, FieldError> {
    let name = &field.field_name;
    let refuse = |what: &str| FieldError(format!("user_metadata.{name}: must be {what}"));
    let text = |value: &Value| -> Result<String, FieldError> {
        let text = value.as_str().ok_or_else(|| refuse("a string"))?;
        if text.chars().count() > MAX_TEXT || text.chars().any(char::is_control) {
            return Err(refuse(&format!(
                "at most {MAX_TEXT} characters, without control characters"
            )));
        }
        Ok(text.to_owned())
    };
    Ok(match field.kind {
        FieldType::String => Value::String(text(value)?),
        FieldType::Boolean => Value::Bool(value.as_bool().ok_or_else(|| refuse("true or false"))?),
        FieldType::Integer => {
            json!(value.as_i64().ok_or_else(|| refuse("a whole number"))?)
        }
        FieldType::Date => {
            let text = text(value)?;
            let format = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(&text, &format).map_err(|_| refuse("a date, YYYY-MM-DD"))?;
            Value::String(text)
        }
        FieldType::Phone => {
            let text = text(value)?;
            let phone = crate::identifier::Identifier::phone(&text)
                .map_err(|_| refuse("a phone number in E.164"))?;
            Value::String(phone.as_str().to_owned())
        }
        FieldType::Email => {
            let text = text(value)?;
            let email = crate::identifier::Identifier::email(&text)
                .map_err(|_| refuse("an email address"))?;
            Value::String(email.as_str().to_owned())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> UserFields {
        UserFields::from_json(
            r#"{"user_metadata_schema": [
                {"field_name": "company", "friendly_name": "Company", "type": "string", "registration": true, "profile": true},
                {"field_name": "newsletter", "friendly_name": "News", "type": "boolean", "registration": true},
                {"field_name": "seats", "friendly_name": "Seats", "type": "integer", "profile": true},
                {"field_name": "born", "friendly_name": "Born", "type": "date", "profile": true},
                {"field_name": "mobile", "friendly_name": "Mobile", "type": "phone", "profile": true},
                {"field_name": "work", "friendly_name": "Work mail", "type": "email", "profile": true}
            ]}"#,
        )
        .unwrap_or_default()
    }

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn layouts_follow_the_flags_when_not_given() {
        let fields = fields();
        assert_eq!(fields.fields().len(), 6);
        assert_eq!(
            fields.layouts_json()["registration"],
            json!([
                {"id": "company", "x": 0, "y": 0, "w": 6, "h": 1},
                {"id": "newsletter", "x": 0, "y": 1, "w": 6, "h": 1}
            ])
        );
    }

    #[test]
    fn values_are_typed_and_only_declared_ones_come_from_the_browser() {
        let fields = fields();
        let kept = fields.check(
            &map(json!({"company": "ACME", "newsletter": false, "role": "admin", "seats": 3})),
            None,
            Writer::Registration,
        );
        assert_eq!(
            kept,
            Ok(map(json!({"company": "ACME", "newsletter": false})))
        );
        let existing = map(json!({"company": "ACME", "role": "member"}));
        let kept = fields.check(
            &map(
                json!({"company": "ACME 2", "role": "admin", "seats": 4, "born": "1990-02-28",
                        "mobile": "+1 415 555 0100", "work": "Ada@Example.COM"}),
            ),
            Some(&existing),
            Writer::Profile,
        );
        assert_eq!(
            kept,
            Ok(map(
                json!({"company": "ACME 2", "role": "member", "seats": 4, "born": "1990-02-28",
                          "mobile": "+14155550100", "work": "ada@example.com"})
            ))
        );
        for (bad, why) in [
            (json!({"seats": 1.5}), "a whole number"),
            (json!({"seats": "3"}), "a whole number"),
            (json!({"born": "1990-02-30"}), "a date"),
            (json!({"mobile": "+15555550100"}), "a phone number"),
            (json!({"work": "not an address"}), "an email address"),
            (json!({"company": "x".repeat(MAX_TEXT + 1)}), "at most"),
            (json!({"company": 7}), "a string"),
        ] {
            let refused = fields.check(&map(bad.clone()), None, Writer::Profile);
            assert!(
                refused.as_ref().is_err_and(|e| e.0.contains(why)),
                "{bad}: {refused:?}"
            );
        }
        // The backend sets any key; a declared one must still be of its type.
        let kept = fields.check(
            &map(json!({"role": "admin", "seats": 2})),
            None,
            Writer::Management,
        );
        assert_eq!(kept, Ok(map(json!({"role": "admin", "seats": 2}))));
        assert!(
            fields
                .check(&map(json!({"seats": "two"})), None, Writer::Management)
                .is_err()
        );
    }

    #[test]
    fn declarations_that_cannot_work_are_refused() {
        for bad in [
            r#"{"user_metadata_schema": [{"field_name": "A b", "friendly_name": "x", "type": "string"}]}"#,
            r#"{"user_metadata_schema": [{"field_name": "a", "friendly_name": "x", "type": "float"}]}"#,
            r#"{"user_metadata_schema": [{"field_name": "a", "friendly_name": "x", "type": "string"},
                                         {"field_name": "a", "friendly_name": "y", "type": "string"}]}"#,
            r#"{"user_metadata_schema": [{"field_name": "a", "friendly_name": "x", "type": "string"}],
                "layouts": {"registration": [{"id": "b", "x": 0, "y": 0, "w": 6, "h": 1}]}}"#,
            r#"{"user_metadata_schema": [{"field_name": "a", "friendly_name": "x", "type": "string"}],
                "layouts": {"profile": [{"id": "a", "x": 3, "y": 0, "w": 6, "h": 1}]}}"#,
        ] {
            assert!(UserFields::from_json(bad).is_err(), "{bad}");
        }
    }
}
