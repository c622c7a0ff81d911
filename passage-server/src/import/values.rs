//! Reading one value of a row, whether JSON gave it typed or CSV gave it as text: booleans,
//! counts, times, objects, and keys found under any of their names.

use serde_json::{Map, Value};
use time::{OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339};

use crate::store::never;

/// The value under the first of `names` `object` holds, keys compared as the import compares
/// names (any case; `_`, `-`, `.` and spaces alike).
pub(crate) fn lookup<'a>(object: &'a Map<String, Value>, names: &[&str]) -> Option<&'a Value> {
    let squash = |name: &str| -> String {
        name.chars()
            .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
            .flat_map(char::to_lowercase)
            .collect()
    };
    names.iter().find_map(|name| {
        let wanted = squash(name);
        object
            .iter()
            .find(|(key, _)| squash(key) == wanted)
            .map(|(_, value)| value)
    })
}

/// A boolean: JSON's, or `true/false/1/0/yes/no/t/f/y/n` in any case; empty text is false.
pub(crate) fn boolean(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Null => Ok(false),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::String(text) => match text.trim().to_lowercase().as_str() {
            "true" | "1" | "yes" | "t" | "y" => Ok(true),
            "false" | "0" | "no" | "f" | "n" | "" => Ok(false),
            _ => Err(format!("{text:?} is not true or false")),
        },
        other => Err(format!("{other} is not true or false")),
    }
}

/// A non-negative whole number (empty text: 0).
pub(crate) fn count(value: &Value) -> Result<u64, String> {
    match value {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| format!("{n} is not a whole number of 0 or more")),
        Value::String(text) if text.trim().is_empty() => Ok(0),
        Value::String(text) => text
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not a whole number of 0 or more")),
        other => Err(format!("{other} is not a whole number")),
    }
}

/// A time: RFC 3339 (`2024-05-01T10:00:00.123456Z`), `2024-05-01 10:00:00` (UTC), or Unix
/// seconds; Passage's zero time (`0001-01-01T00:00:00Z`) and empty text are "never" (`None`).
pub(crate) fn time(value: &Value) -> Result<Option<OffsetDateTime>, String> {
    let text = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => {
            let seconds = n.as_i64().ok_or_else(|| format!("{n} is not a time"))?;
            return OffsetDateTime::from_unix_timestamp(seconds)
                .map(Some)
                .map_err(|_| format!("{n} is not a time"));
        }
        Value::String(text) => text.trim(),
        other => return Err(format!("{other} is not a time")),
    };
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = OffsetDateTime::parse(text, &Rfc3339)
        .or_else(|_| {
            let format = time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
            );
            PrimitiveDateTime::parse(text, &format).map(PrimitiveDateTime::assume_utc)
        })
        .ok()
        .or_else(|| {
            text.parse::<i64>()
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        })
        .ok_or_else(|| {
            format!("{text:?} is not a time (RFC 3339, YYYY-MM-DD HH:MM:SS or Unix seconds)")
        })?;
    Ok((parsed > never()).then_some(parsed))
}

/// A JSON object: JSON's, or JSON text of one (CSV); empty text and null are `None`.
pub(crate) fn object(value: &Value) -> Result<Option<Map<String, Value>>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map.clone())),
        Value::String(text) if text.trim().is_empty() => Ok(None),
        Value::String(text) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(Some(map)),
            Ok(Value::Null) => Ok(None),
            _ => Err("is not a JSON object".into()),
        },
        _ => Err("is not a JSON object".into()),
    }
}

/// A JSON array of objects: JSON's, or JSON text of one (CSV); empty text and null are empty.
pub(crate) fn objects(value: &Value) -> Result<Vec<Map<String, Value>>, String> {
    let list = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) => list.clone(),
        Value::String(text) if text.trim().is_empty() => return Ok(Vec::new()),
        Value::String(text) => match serde_json::from_str(text) {
            Ok(Value::Array(list)) => list,
            Ok(Value::Null) => return Ok(Vec::new()),
            _ => return Err("is not a JSON array".into()),
        },
        _ => return Err("is not a JSON array".into()),
    };
    list.into_iter()
        .map(|item| match item {
            Value::Object(map) => Ok(map),
            _ => Err("holds something other than objects".to_owned()),
        })
        .collect()
}

/// Text: JSON's string, or a number or boolean written out; null is empty.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.trim().to_owned(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_read_the_same_from_json_and_csv() {
        assert_eq!(boolean(&json!(true)), Ok(true));
        assert_eq!(boolean(&json!("Yes")), Ok(true));
        assert_eq!(boolean(&json!("")), Ok(false));
        assert!(boolean(&json!("maybe")).is_err());
        assert_eq!(count(&json!("12")), Ok(12));
        assert!(count(&json!(-1)).is_err());
        assert!(count(&json!("1.5")).is_err());
        assert_eq!(time(&json!("0001-01-01T00:00:00Z")), Ok(None));
        assert_eq!(time(&json!("")), Ok(None));
        let at = time(&json!("2022-04-29T15:18:14.116026Z"))
            .unwrap()
            .unwrap();
        assert_eq!(at.unix_timestamp(), 1_651_245_494);
        assert_eq!(
            time(&json!("2022-04-29 15:18:14"))
                .unwrap()
                .unwrap()
                .unix_timestamp(),
            1_651_245_494
        );
        assert_eq!(
            time(&json!(1_651_245_494))
                .unwrap()
                .unwrap()
                .unix_timestamp(),
            1_651_245_494
        );
        assert!(time(&json!("Apr 29, 2022")).is_err());
        assert_eq!(
            object(&json!("{\"plan\":\"pro\"}")).unwrap().unwrap()["plan"],
            "pro"
        );
        assert!(object(&json!("[1]")).is_err());
        assert_eq!(objects(&json!("[{\"a\":1}]")).unwrap().len(), 1);
        assert!(objects(&json!("[1]")).is_err());
        let map = json!({ "Cred-ID": "x" });
        assert_eq!(
            lookup(map.as_object().unwrap(), &["cred_id"]),
            Some(&json!("x"))
        );
    }
}
