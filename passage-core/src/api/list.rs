//! `passage.users().list()`: every filter of the List Users operation, and pagination.

use std::fmt::Display;

use futures_util::{Stream, TryStreamExt as _, stream};
use http::Method;
use serde::Deserialize;
use time::{OffsetDateTime, macros::format_description};

use super::{
    error::ApiError,
    transport::{Call, Transport},
};
use crate::models::{UserListItem, UserStatus};

/// A filter value, optionally with an operator (`ne:`, `gt:`, `lt:`, `like:`, `not_like:`).
///
/// ```
/// use passage_core::Filter;
/// assert_eq!(Filter::gt(5).as_str(), "gt:5");
/// assert_eq!(Filter::from("ada@example.com").as_str(), "ada@example.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(String);

impl Filter {
    /// Equal to `value`.
    pub fn eq(value: impl Display) -> Self {
        Self(value.to_string())
    }
    /// Not equal to `value`.
    pub fn ne(value: impl Display) -> Self {
        Self(format!("ne:{value}"))
    }
    /// Greater than `value`.
    pub fn gt(value: impl Display) -> Self {
        Self(format!("gt:{value}"))
    }
    /// Less than `value`.
    pub fn lt(value: impl Display) -> Self {
        Self(format!("lt:{value}"))
    }
    /// Contains `value`.
    pub fn like(value: impl Display) -> Self {
        Self(format!("like:{value}"))
    }
    /// Does not contain `value`.
    pub fn not_like(value: impl Display) -> Self {
        Self(format!("not_like:{value}"))
    }
    /// A date-time in Passage's filter format (`2006-01-02T15:04:05.000000Z`), for use with the
    /// operators: `Filter::gt(Filter::time(t))`.
    #[must_use]
    pub fn time(at: OffsetDateTime) -> String {
        let format = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        );
        at.to_offset(time::UtcOffset::UTC)
            .format(format)
            .unwrap_or_default()
    }
    /// The wire value.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Filter {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl From<String> for Filter {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<i64> for Filter {
    fn from(value: i64) -> Self {
        Self(value.to_string())
    }
}

impl From<UserStatus> for Filter {
    fn from(status: UserStatus) -> Self {
        Self(status.as_str().to_owned())
    }
}

impl From<OffsetDateTime> for Filter {
    fn from(at: OffsetDateTime) -> Self {
        Self(Self::time(at))
    }
}

/// Sort direction for [`ListUsers::order_by`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// A List Users query. Send it for one [`Page`], or stream every user.
///
/// ```no_run
/// # async fn run(passage: passage_core::Passage) -> Result<(), passage_core::ApiError> {
/// use futures_util::TryStreamExt as _;
/// use passage_core::{Filter, Order, models::UserStatus};
///
/// let page = passage
///     .users()
///     .list()
///     .status(UserStatus::Active)
///     .login_count(Filter::gt(0))
///     .order_by("created_at", Order::Desc)
///     .limit(100)
///     .send()
///     .await?;
/// println!("{} of {} users", page.items().len(), page.total());
///
/// let everyone: Vec<_> = passage.users().list().into_stream().try_collect().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ListUsers {
    transport: Transport,
    params: Vec<(&'static str, String)>,
    invalid: Option<(&'static str, &'static str)>,
}

impl ListUsers {
    pub(crate) fn new(transport: Transport) -> Self {
        Self {
            transport,
            params: Vec::new(),
            invalid: None,
        }
    }

    fn set(mut self, name: &'static str, value: String) -> Self {
        self.params.retain(|(n, _)| *n != name);
        self.params.push((name, value));
        self
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Page number, from 1.
    pub fn page(mut self, page: u32) -> Self {
        if page == 0 {
            self.invalid = Some(("page", "must be at least 1"));
        }
        self.set("page", page.to_string())
    }

    /// Users per page, 1 to 500.
    pub fn limit(mut self, limit: u32) -> Self {
        if !(1..=500).contains(&limit) {
            self.invalid = Some(("limit", "must be between 1 and 500"));
        }
        self.set("limit", limit.to_string())
    }

    /// Only users created before this Unix time (keeps pages stable while users are added).
    pub fn created_before(self, unix_seconds: i64) -> Self {
        self.set("created_before", unix_seconds.to_string())
    }

    /// Adds a sort key (`created_at`, `updated_at`, `last_login_at`, `login_count`, `email`, …).
    pub fn order_by(self, field: &str, order: Order) -> Self {
        let key = format!(
            "{field}:{}",
            if order == Order::Asc { "ASC" } else { "DESC" }
        );
        let value = match self.get("order_by") {
            Some(existing) => format!("{existing},{key}"),
            None => key,
        };
        self.set("order_by", value)
    }

    /// Email or phone (lowercase it for exact matches).
    pub fn identifier(self, filter: impl Into<Filter>) -> Self {
        self.set("identifier", filter.into().0)
    }

    /// User id.
    pub fn id(self, filter: impl Into<Filter>) -> Self {
        self.set("id", filter.into().0)
    }

    /// Account status: `UserStatus::Active`, or with an operator, `Filter::ne(UserStatus::Active)`.
    pub fn status(self, filter: impl Into<Filter>) -> Self {
        self.set("status", filter.into().0)
    }

    /// Number of sign-ins, e.g. `Filter::gt(3)`.
    pub fn login_count(self, filter: impl Into<Filter>) -> Self {
        self.set("login_count", filter.into().0)
    }

    /// Creation time, e.g. `Filter::gt(Filter::time(t))`.
    pub fn created_at(self, filter: impl Into<Filter>) -> Self {
        self.set("created_at", filter.into().0)
    }

    /// Last update time.
    pub fn updated_at(self, filter: impl Into<Filter>) -> Self {
        self.set("updated_at", filter.into().0)
    }

    /// Last sign-in time.
    pub fn last_login_at(self, filter: impl Into<Filter>) -> Self {
        self.set("last_login_at", filter.into().0)
    }

    /// Fetches one page.
    ///
    /// # Errors
    /// [`ApiError::InvalidArgument`] for a bad page or limit (before sending), else as any call.
    pub async fn send(self) -> Result<Page<UserListItem>, ApiError> {
        if let Some((name, reason)) = self.invalid {
            return Err(ApiError::InvalidArgument { name, reason });
        }
        let response: ListResponse = self
            .transport
            .call(Call {
                operation: "list_users",
                method: Method::GET,
                path: "/users".to_owned(),
                query: &self.params,
                body: None,
                idempotent: true,
                authenticated: true,
                removes: false,
            })
            .await?;
        let links = PageLinks::from(response.links);
        Ok(Page {
            items: response.users.unwrap_or_default(),
            page: response.page,
            limit: response.limit,
            total: response.total_users,
            created_before: response.created_before,
            has_next: links.next.is_some(),
            links,
            query: self,
        })
    }

    /// Every matching user, page after page (pages pinned to the first page's `created_before`).
    ///
    /// The stream ends after the last page, on an empty page, or on a page that does not
    /// advance (a server answering the same page again, or an earlier one, would otherwise be
    /// paged forever; such a page's items are not repeated).
    pub fn into_stream(
        self,
    ) -> impl Stream<Item = Result<UserListItem, ApiError>> + Send + 'static {
        stream::try_unfold((Some(self), None::<u32>), |(query, last)| async move {
            let Some(query) = query else {
                return Ok::<_, ApiError>(None);
            };
            let page = query.send().await?;
            if last.is_some_and(|last| page.page <= last) {
                tracing::debug!(
                    page = page.page,
                    "passage: the listing did not advance; stopping"
                );
                return Ok(None);
            }
            let next = if page.items.is_empty() {
                None
            } else {
                page.next_query()
            };
            let items = stream::iter(page.items.into_iter().map(Ok));
            Ok(Some((items, (next, Some(page.page)))))
        })
        .try_flatten()
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page<T> {
    items: Vec<T>,
    page: u32,
    limit: u32,
    total: u64,
    created_before: i64,
    has_next: bool,
    links: PageLinks,
    query: ListUsers,
}

/// Where the other pages of a listing are (the response's `_links`), as Passage sent them;
/// a link Passage left out or sent empty is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PageLinks {
    /// The first page.
    pub first: Option<String>,
    /// The page before this one.
    pub previous: Option<String>,
    /// The page after this one.
    pub next: Option<String>,
    /// The last page.
    pub last: Option<String>,
    /// This page (`self` on the wire).
    pub current: Option<String>,
}

impl From<Links> for PageLinks {
    fn from(links: Links) -> Self {
        let href = |link: Option<Href>| link.map(|l| l.href).filter(|h| !h.is_empty());
        Self {
            first: href(links.first),
            previous: href(links.previous),
            next: href(links.next),
            last: href(links.last),
            current: href(links.current),
        }
    }
}

impl<T> Page<T> {
    /// The items of this page.
    #[must_use]
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// The items, owned.
    #[must_use]
    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    /// This page's number.
    #[must_use]
    pub fn page(&self) -> u32 {
        self.page
    }

    /// Items per page.
    #[must_use]
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Matching users across all pages.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether another page follows.
    #[must_use]
    pub fn has_next(&self) -> bool {
        self.has_next
    }

    /// The links to the other pages.
    #[must_use]
    pub fn links(&self) -> &PageLinks {
        &self.links
    }

    /// The Unix time the listing is pinned to: users created later do not shift its pages.
    #[must_use]
    pub fn created_before(&self) -> i64 {
        self.created_before
    }

    fn next_query(&self) -> Option<ListUsers> {
        let next = self.page.checked_add(1).filter(|_| self.has_next)?;
        Some(
            self.query
                .clone()
                .set("page", next.to_string())
                .set("limit", self.limit.max(1).to_string())
                .created_before(self.created_before),
        )
    }
}

impl Page<UserListItem> {
    /// Fetches the next page, `None` after the last.
    ///
    /// # Errors
    /// As [`ListUsers::send`].
    pub async fn next_page(&self) -> Result<Option<Self>, ApiError> {
        match self.next_query() {
            Some(query) => query.send().await.map(Some),
            None => Ok(None),
        }
    }
}

#[derive(Deserialize)]
struct ListResponse {
    #[serde(rename = "_links", default)]
    links: Links,
    #[serde(default)]
    created_before: i64,
    #[serde(default)]
    limit: u32,
    #[serde(default)]
    page: u32,
    #[serde(default)]
    total_users: u64,
    #[serde(default)]
    users: Option<Vec<UserListItem>>,
}

#[derive(Deserialize, Default)]
struct Links {
    #[serde(default)]
    first: Option<Href>,
    #[serde(default)]
    previous: Option<Href>,
    #[serde(default)]
    next: Option<Href>,
    #[serde(default)]
    last: Option<Href>,
    #[serde(default, rename = "self")]
    current: Option<Href>,
}

#[derive(Deserialize)]
struct Href {
    #[serde(default)]
    href: String,
}
