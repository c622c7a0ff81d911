//! `GET /v1/apps/{app_id}/users`: filters with operator prefixes, ordering, pagination, `_links`.
//! The parameters become a [`UserQuery`]; the store cuts the page where it keeps the users.

use std::{collections::HashMap, sync::Arc};

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
use crate::{
    state::Shared,
    store::{Field, Filter, Op, User, UserQuery, query::micros},
};

const MAX_LIMIT: usize = 500;
const DEFAULT_LIMIT: usize = 20;
/// The highest page number accepted: more than any list holds, far below an overflow.
const MAX_PAGE: usize = 1_000_000_000;

/// `2006-01-02T15:04:05.000000Z`, or RFC 3339.
fn parse_time(raw: &str) -> Option<OffsetDateTime> {
    let micro =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    PrimitiveDateTime::parse(raw, micro)
        .map(PrimitiveDateTime::assume_utc)
        .ok()
        .or_else(|| OffsetDateTime::parse(raw, &Rfc3339).ok())
}

/// The list's parameters: paging, order, and the filters.
const KNOWN: [&str; 11] = [
    "page",
    "limit",
    "created_before",
    "order_by",
    "identifier",
    "id",
    "status",
    "login_count",
    "created_at",
    "updated_at",
    "last_login_at",
];

/// The filter a query parameter names, if it names one.
fn filter(name: &str, raw: &str) -> Result<Option<Filter>, ApiError> {
    let (op, value) = Op::split(raw);
    let bad = || ApiError::bad_request(format!("{name}: invalid value"));
    let Some(field) = Field::named(name).or((name == "identifier").then_some(Field::Email)) else {
        return Ok(None);
    };
    Ok(Some(match name {
        "identifier" => Filter::Identifier(op, value.to_lowercase()),
        "status" => {
            // An exact comparison needs a real status; `like:`/`not_like:` take any fragment.
            let fragment = matches!(op, Op::Like | Op::NotLike);
            if !fragment && !matches!(value, "active" | "inactive" | "pending") {
                return Err(bad());
            }
            Filter::Text(field, op, value.to_owned())
        }
        "id" => Filter::Text(field, op, value.to_owned()),
        "login_count" => Filter::Number(field, op, value.parse().map_err(|_| bad())?),
        "created_at" | "updated_at" | "last_login_at" => {
            Filter::Number(field, op, micros(parse_time(value).ok_or_else(bad)?))
        }
        // email and phone are ordered by, not filtered by (use `identifier`).
        _ => return Ok(None),
    }))
}

fn order(order_by: &str) -> Result<Vec<(Field, bool)>, ApiError> {
    let mut keys = Vec::new();
    for part in order_by.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, dir) = part.split_once(':').unwrap_or((part, "ASC"));
        let descending = match dir.to_ascii_uppercase().as_str() {
            "ASC" => false,
            "DESC" => true,
            _ => {
                return Err(ApiError::bad_request(
                    "order_by: direction must be ASC or DESC",
                ));
            }
        };
        let field = Field::named(name)
            .ok_or_else(|| ApiError::bad_request(format!("order_by: cannot order by {name}")))?;
        keys.push((field, descending));
    }
    Ok(keys)
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
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ApiError::bad_request(format!(
            "page: must be between 1 and {MAX_PAGE}"
        )));
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
        // An unknown parameter is refused, not ignored: `?email=…` listing everyone would hand
        // a backend that takes the first result the wrong user.
        if !KNOWN.contains(&name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "{name}: not a parameter of this list (filter by identifier, id, status, login_count, created_at, updated_at or last_login_at)"
            )));
        }
        filters.extend(filter(name, value)?);
    }
    let query = UserQuery {
        filters,
        created_before,
        order: order(
            params
                .get("order_by")
                .map_or("created_at:ASC", String::as_str),
        )?,
        offset: (page - 1).saturating_mul(limit),
        limit,
    };
    let found = shared.store.list_users(&query).await?;
    let total = found.total;
    let items: Vec<Value> = found.users.iter().map(list_item).collect();

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
        assert_eq!(Op::split("gt:5"), (Op::Gt, "5"));
        assert_eq!(Op::split("not_like:x"), (Op::NotLike, "x"));
        assert_eq!(Op::split("plain"), (Op::Eq, "plain"));
    }
}
