//! Which users the Management API's list asks for ([`UserQuery`]): filters with Passage's
//! operator prefixes, an order, a page. One meaning, two forms: [`UserQuery::matches`] and
//! [`UserQuery::compare`] for a store that holds users in memory, [`UserQuery::sql`] for a
//! database, so the page is cut where the users are kept and listing does not slow with their
//! number.

use std::cmp::Ordering;

use time::OffsetDateTime;

use super::User;

/// A filter's operator (`ne:`, `gt:`, `lt:`, `like:`, `not_like:` prefixes; none is equality).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Greater than.
    Gt,
    /// Less than.
    Lt,
    /// Contains (text); equal (numbers and times).
    Like,
    /// Does not contain (text); not equal (numbers and times).
    NotLike,
}

impl Op {
    /// Splits `ne:5` into (`Ne`, `5`).
    #[must_use]
    pub fn split(raw: &str) -> (Self, &str) {
        for (prefix, op) in [
            ("ne:", Self::Ne),
            ("gt:", Self::Gt),
            ("lt:", Self::Lt),
            ("like:", Self::Like),
            ("not_like:", Self::NotLike),
        ] {
            if let Some(rest) = raw.strip_prefix(prefix) {
                return (op, rest);
            }
        }
        (Self::Eq, raw)
    }

    fn compare<T: Ord>(self, actual: &T, wanted: &T) -> bool {
        match self {
            Self::Eq | Self::Like => actual == wanted,
            Self::Ne | Self::NotLike => actual != wanted,
            Self::Gt => actual > wanted,
            Self::Lt => actual < wanted,
        }
    }

    fn text(self, actual: &str, wanted: &str) -> bool {
        match self {
            Self::Like => actual.contains(wanted),
            Self::NotLike => !actual.contains(wanted),
            _ => self.compare(&actual, &wanted),
        }
    }
}

/// A field users are filtered or ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `id`.
    Id,
    /// `email`.
    Email,
    /// `phone`.
    Phone,
    /// `status`.
    Status,
    /// `login_count`.
    LoginCount,
    /// `created_at`.
    CreatedAt,
    /// `updated_at`.
    UpdatedAt,
    /// `last_login_at`.
    LastLoginAt,
}

impl Field {
    /// The field named `name` on the wire.
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        Some(match name {
            "id" => Self::Id,
            "email" => Self::Email,
            "phone" => Self::Phone,
            "status" => Self::Status,
            "login_count" => Self::LoginCount,
            "created_at" => Self::CreatedAt,
            "updated_at" => Self::UpdatedAt,
            "last_login_at" => Self::LastLoginAt,
            _ => return None,
        })
    }

    /// Its column in a database's `users` table.
    #[must_use]
    pub fn column(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Status => "status",
            Self::LoginCount => "login_count",
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::LastLoginAt => "last_login_at",
        }
    }

    fn is_text(self) -> bool {
        matches!(self, Self::Id | Self::Email | Self::Phone | Self::Status)
    }

    fn text(self, user: &User) -> &str {
        match self {
            Self::Id => &user.id,
            Self::Email => &user.email,
            Self::Phone => &user.phone,
            _ => &user.status,
        }
    }

    fn number(self, user: &User) -> i64 {
        match self {
            Self::LoginCount => user.login_count,
            Self::CreatedAt => micros(user.created_at),
            Self::UpdatedAt => micros(user.updated_at),
            Self::LastLoginAt => micros(user.last_login_at),
            _ => 0,
        }
    }

    fn compare(self, a: &User, b: &User) -> Ordering {
        if self.is_text() {
            self.text(a).cmp(self.text(b))
        } else {
            self.number(a).cmp(&self.number(b))
        }
    }
}

/// A time as a database column keeps it: microseconds since the epoch.
#[must_use]
pub(crate) fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MIN)
}

/// One condition on users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The email or the phone (text; the wanted value lower-cased).
    Identifier(Op, String),
    /// A text field.
    Text(Field, Op, String),
    /// A number or a time (microseconds since the epoch).
    Number(Field, Op, i64),
}

impl Filter {
    fn matches(&self, user: &User) -> bool {
        match self {
            Self::Identifier(op, wanted) => {
                op.text(&user.email, wanted) || op.text(&user.phone, wanted)
            }
            Self::Text(field, op, wanted) => op.text(field.text(user), wanted),
            Self::Number(field, op, wanted) => op.compare(&field.number(user), wanted),
        }
    }
}

/// Which users, in which order, which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserQuery {
    /// Every condition must hold.
    pub filters: Vec<Filter>,
    /// Only users created before this (unix seconds).
    pub created_before: i64,
    /// The order: fields, each descending or not; ties keep the order users were added in.
    pub order: Vec<(Field, bool)>,
    /// How many users to skip.
    pub offset: usize,
    /// How many to return.
    pub limit: usize,
}

impl Default for UserQuery {
    fn default() -> Self {
        Self {
            filters: Vec::new(),
            created_before: i64::MAX,
            order: vec![(Field::CreatedAt, false)],
            offset: 0,
            limit: 20,
        }
    }
}

/// A value bound to a database query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlValue {
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
}

/// How a database spells what [`UserQuery::sql`] needs.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// The `n`-th parameter (1-based): `?1` or `$1`.
    pub param: fn(usize) -> String,
    /// Whether text column `a` contains text `b`.
    pub contains: fn(&str, &str) -> String,
    /// A text column compared and ordered byte by byte (as Rust compares strings).
    pub bytewise: fn(&str) -> String,
}

impl UserQuery {
    /// Whether `user` is selected.
    #[must_use]
    pub fn matches(&self, user: &User) -> bool {
        user.created_at.unix_timestamp() < self.created_before
            && self.filters.iter().all(|filter| filter.matches(user))
    }

    /// The query's order between two users (equal ones keep their order: sort stably).
    #[must_use]
    pub fn compare(&self, a: &User, b: &User) -> Ordering {
        for (field, descending) in &self.order {
            let ordering = field.compare(a, b);
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
    }

    /// The `WHERE` condition and `ORDER BY` list over the `users` table (with its columns named
    /// as [`Field::column`], times in microseconds, and `seq` in insertion order), and the
    /// values to bind, in order.
    #[must_use]
    pub fn sql(&self, dialect: Dialect) -> (String, String, Vec<SqlValue>) {
        let mut values = Vec::new();
        let mut bind = |value: SqlValue| {
            values.push(value);
            (dialect.param)(values.len())
        };
        let mut conditions = vec![format!(
            "created_at < {}",
            bind(SqlValue::Int(self.created_before.saturating_mul(1_000_000)))
        )];
        let text = |column: &str, op: Op, param: &str| match op {
            Op::Like => (dialect.contains)(column, param),
            Op::NotLike => format!("NOT {}", (dialect.contains)(column, param)),
            Op::Eq => format!("{} = {param}", (dialect.bytewise)(column)),
            Op::Ne => format!("{} <> {param}", (dialect.bytewise)(column)),
            Op::Gt => format!("{} > {param}", (dialect.bytewise)(column)),
            Op::Lt => format!("{} < {param}", (dialect.bytewise)(column)),
        };
        for filter in &self.filters {
            conditions.push(match filter {
                Filter::Identifier(op, wanted) => {
                    let param = bind(SqlValue::Text(wanted.clone()));
                    format!(
                        "({} OR {})",
                        text("email", *op, &param),
                        text("phone", *op, &param)
                    )
                }
                Filter::Text(field, op, wanted) => {
                    let param = bind(SqlValue::Text(wanted.clone()));
                    text(field.column(), *op, &param)
                }
                Filter::Number(field, op, wanted) => {
                    let param = bind(SqlValue::Int(*wanted));
                    let sign = match op {
                        Op::Eq | Op::Like => "=",
                        Op::Ne | Op::NotLike => "<>",
                        Op::Gt => ">",
                        Op::Lt => "<",
                    };
                    format!("{} {sign} {param}", field.column())
                }
            });
        }
        let mut order: Vec<String> = self
            .order
            .iter()
            .map(|(field, descending)| {
                let column = if field.is_text() {
                    (dialect.bytewise)(field.column())
                } else {
                    field.column().to_owned()
                };
                format!("{column} {}", if *descending { "DESC" } else { "ASC" })
            })
            .collect();
        order.push("seq ASC".to_owned());
        (conditions.join(" AND "), order.join(", "), values)
    }
}
