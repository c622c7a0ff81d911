//! How many messages one address may receive: without a limit, anyone who knows an address (or
//! invents one, through sign-up) could flood its inbox through this server. Counted in the
//! store, so the count holds across replicas.

use std::time::Duration;

use super::{AuthApiError, Shared};
use crate::{identifier::Identifier, store::hash};

/// Addresses counted at once, at most: a bound on what anonymous callers can fill. When the
/// count is full, addresses with no message in the window go first, then the stalest — a flood
/// of made-up addresses can thin the counts out, but it can never refuse a message to anyone.
const ADDRESSES: usize = 10_000;

/// Counts a message (a link or a code: they share one count, since both fill the same inbox)
/// to `identifier` now, or refuses it with 429 and how long until the next may go (at most
/// `magic_link_limit` per `magic_link_ttl`; 0: no limit).
pub(crate) async fn count(state: &Shared, identifier: &Identifier) -> Result<(), AuthApiError> {
    let settings = &state.settings;
    let max = usize::try_from(settings.magic_link_limit).unwrap_or(usize::MAX);
    if max == 0 {
        return Ok(());
    }
    let window = i64::try_from(settings.magic_link_ttl.as_millis()).unwrap_or(i64::MAX);
    let now = crate::store::now().unix_timestamp_nanos() / 1_000_000;
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    // The address is kept only as a hash: the count needs to recognise it, not to know it.
    let key = hash(&format!("message:{}", identifier.as_str()));
    match state
        .store
        .count_send(&key, now, window, max, ADDRESSES)
        .await?
    {
        None => Ok(()),
        Some(wait_ms) => {
            tracing::warn!("passage-server: message limit reached for an address; refused");
            Err(AuthApiError::too_many_requests(
                "too many messages were sent to this address; try again later",
                Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)),
            ))
        }
    }
}
