//! `GET /v1/apps/{app_id}/users`: filters with operator prefixes, ordering, pagination, `_links`.

use std::{cmp::Ordering, collections::HashMap, sync::Arc};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use serde_json::{Value, json};
use time::{
    OffsetDateTime, PrimitiveDateTime, format_description::well_known::Rfc3339,
    macros::format_description,
};

use super::{error::ApiError, reply};
use crate::{state::Shared, store::User};

const MAX_LIMIT: usize = 500;
const DEFAULT_LIMIT: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Like,
    NotLike,
}

fn split_op(raw: &str) -> (Op, &str) {
    for (prefix, op) in [
        ("ne:", Op::Ne),
        ("gt:", Op::Gt),
        ("lt:", Op::Lt),
        ("like:", Op::Like),
        ("not_like:", Op::NotLike),
    ] {
        if let Some(rest) = raw.strip_prefix(prefix) {
            return (op, rest);
        }
    }
    (Op::Eq, raw)
}

fn compare<T: Ord>(op: Op, actual: &T, wanted: &T) -> bool {
    match op {
        Op::Eq | Op::Like => actual == wanted,
        Op::Ne | Op::NotLike => actual != wanted,
        Op::Gt => actual > wanted,
        Op::Lt => actual < wanted,
    }
}

fn text_matches(op: Op, actual: &str, wanted: &str) -> bool {
    match op {
        Op::Like => actual.contains(wanted),
        Op::NotLike => !actual.contains(wanted),
        _ => compare(op, &actual, &wanted),
    }
}

/// `2006-01-02T15:04:05.000000Z`, or RFC 3339.
fn parse_time(raw: &str) -> Option<OffsetDateTime> {
    let micro =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    PrimitiveDateTime::parse(raw, micro)
        .map(PrimitiveDateTime::assume_utc)
        .ok()
        .or_else(|| OffsetDateTime::parse(raw, &Rfc3339).ok())
}

type Filter = Box<dyn Fn(&User) -> bool + Send>;

fn filter(name: &str, raw: &str) -> Result<Option<Filter>, ApiError> {
    let (op, value) = split_op(raw);
    let bad = || ApiError::bad_request(format!("{name}: invalid value"));
    let value_owned = value.to_owned();
    let filter: Filter = match name {
        "identifier" => {
            let wanted = value.to_lowercase();
            Box::new(move |u| {
                text_matches(op, &u.email, &wanted) || text_matches(op, &u.phone, &wanted)
            })
        }
        "id" => Box::new(move |u| text_matches(op, &u.id, &value_owned)),
        "status" => {
            // An exact comparison needs a real status; `like:`/`not_like:` take any fragment.
            let fragment = matches!(op, Op::Like | Op::NotLike);
            if !fragment && !matches!(value, "active" | "inactive" | "pending") {
                return Err(bad());
            }
            Box::new(move |u| text_matches(op, &u.status, &value_owned))
        }
        "login_count" => {
            let wanted: i64 = value.parse().map_err(|_| bad())?;
            Box::new(move |u| compare(op, &u.login_count, &wanted))
        }
        "created_at" | "updated_at" | "last_login_at" => {
            let wanted = parse_time(value).ok_or_else(bad)?;
            let field = name.to_owned();
            Box::new(move |u| {
                let actual = match field.as_str() {
                    "created_at" => u.created_at,
                    "updated_at" => u.updated_at,
                    _ => u.last_login_at,
                };
                compare(op, &actual, &wanted)
            })
        }
        _ => return Ok(None),
    };
    Ok(Some(filter))
}

fn order(users: &mut [&User], order_by: &str) -> Result<(), ApiError> {
    let mut keys = Vec::new();
    for part in order_by.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (field, dir) = part.split_once(':').unwrap_or((part, "ASC"));
        let descending = match dir.to_ascii_uppercase().as_str() {
            "ASC" => false,
            "DESC" => true,
            _ => {
                return Err(ApiError::bad_request(
                    "order_by: direction must be ASC or DESC",
                ));
            }
        };
        if !matches!(
            field,
            "created_at"
                | "updated_at"
                | "last_login_at"
                | "login_count"
                | "email"
                | "phone"
                | "id"
                | "status"
        ) {
            return Err(ApiError::bad_request(format!(
                "order_by: cannot order by {field}"
            )));
        }
        keys.push((field.to_owned(), descending));
    }
    users.sort_by(|a, b| {
        for (field, descending) in &keys {
            let ordering = match field.as_str() {
                "created_at" => a.created_at.cmp(&b.created_at),
                "updated_at" => a.updated_at.cmp(&b.updated_at),
                "last_login_at" => a.last_login_at.cmp(&b.last_login_at),
                "login_count" => a.login_count.cmp(&b.login_count),
                "email" => a.email.cmp(&b.email),
                "phone" => a.phone.cmp(&b.phone),
                "status" => a.status.cmp(&b.status),
                _ => a.id.cmp(&b.id),
            };
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

fn list_item(user: &User) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "phone": user.phone,
        "external_id": user.external_id,
        "email_verified": user.email_verified,
        "phone_verified": user.phone_verified,
        "login_count": user.login_count,
        "status": user.status,
        "created_at": user.created_at.format(&Rfc3339).unwrap_or_default(),
        "updated_at": user.updated_at.format(&Rfc3339).unwrap_or_default(),
        "last_login_at": user.last_login_at.format(&Rfc3339).unwrap_or_default(),
        "user_metadata": user.user_metadata,
    })
}

pub(super) async fn list_users(
    State(shared): State<Arc<Shared>>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let number = |name: &str, default: usize| -> Result<usize, ApiError> {
        params.get(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| ApiError::bad_request(format!("{name}: must be a positive integer")))
        })
    };
    let page = number("page", 1)?;
    let limit = number("limit", DEFAULT_LIMIT)?;
    if page < 1 {
        return Err(ApiError::bad_request("page: must be at least 1"));
    }
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let created_before: i64 = params.get("created_before").map_or(Ok(now + 1), |v| {
        v.parse()
            .map_err(|_| ApiError::bad_request("created_before: must be a unix timestamp"))
    })?;
    let mut filters = Vec::new();
    for (name, value) in &params {
        if let Some(f) = filter(name, value)? {
            filters.push(f);
        }
    }

    let all = shared.store.users().await?;
    let mut users: Vec<&User> = all
        .iter()
        .filter(|u| u.created_at.unix_timestamp() < created_before)
        .filter(|u| filters.iter().all(|f| f(u)))
        .collect();
    order(
        &mut users,
        params
            .get("order_by")
            .map_or("created_at:ASC", String::as_str),
    )?;
    let total = users.len();
    let items: Vec<Value> = users
        .iter()
        .skip((page - 1).saturating_mul(limit))
        .take(limit)
        .map(|u| list_item(u))
        .collect();

    let last_page = total.div_ceil(limit).max(1);
    let extra: String = params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "page" | "limit" | "created_before"))
        .map(|(k, v)| format!("&{}={}", encode(k), encode(v)))
        .collect();
    let href = |p: usize| {
        format!(
            "/v1/apps/{}/users?page={p}&limit={limit}&created_before={created_before}{extra}",
            shared.app_id
        )
    };
    let link = |p: Option<usize>| json!({ "href": p.map(href).unwrap_or_default() });
    Ok(reply(
        StatusCode::OK,
        json!({
            "_links": {
                "first": link(Some(1)),
                "last": link(Some(last_page)),
                "next": link((page < last_page).then_some(page + 1)),
                "previous": link((page > 1).then(|| (page - 1).min(last_page))),
                "self": link(Some(page)),
            },
            "created_before": created_before,
            "limit": limit,
            "page": page,
            "total_users": total,
            "users": items,
        }),
    ))
}

fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_encode_what_a_query_needs() {
        assert_eq!(encode("+1 a"), "%2B1%20a");
    }

    #[test]
    fn operators_are_split() {
        assert_eq!(split_op("gt:5"), (Op::Gt, "5"));
        assert_eq!(split_op("not_like:x"), (Op::NotLike, "x"));
        assert_eq!(split_op("plain"), (Op::Eq, "plain"));
    }
}
