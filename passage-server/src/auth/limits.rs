//! How many magic links one address may receive: without a limit, anyone who knows an address
//! (or invents one, through sign-up) could flood its inbox through this server.

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{Duration, Instant},
};

use super::bounded::Bounded;

/// Addresses counted at once, at most: a bound on memory. When the map is full, addresses with
/// no send in the window are forgotten (at most once a second), and if it is still full an
/// arbitrary address is — a flood of made-up addresses can thin the counts out, but it can never
/// refuse a link to anyone.
const ADDRESSES: usize = 10_000;

/// At most `max` magic links to one address in any `window` (`max` 0: no limit).
#[derive(Debug)]
pub(crate) struct SendLimit {
    max: usize,
    window: Duration,
    /// Send times within the window, by address.
    counts: Mutex<Bounded<VecDeque<Instant>>>,
}

impl SendLimit {
    pub(crate) fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            counts: Mutex::new(Bounded::default()),
        }
    }

    /// Counts a link to `address` now, or answers how long until the next one may go.
    pub(crate) fn try_send(&self, address: &str) -> Result<(), Duration> {
        self.try_send_at(address, Instant::now(), ADDRESSES)
    }

    fn try_send_at(&self, address: &str, now: Instant, capacity: usize) -> Result<(), Duration> {
        if self.max == 0 {
            return Ok(());
        }
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !counts.map.contains_key(address) {
            counts.make_room(now, capacity, |times| {
                times
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < self.window)
            });
        }
        let times = counts.map.entry(address.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|first| now.duration_since(*first) >= self.window)
        {
            times.pop_front();
        }
        if let Some(first) = times.front()
            && times.len() >= self.max
        {
            return Err(self.window.saturating_sub(now.duration_since(*first)));
        }
        times.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_within_the_window() {
        let limit = SendLimit::new(2, Duration::from_secs(600));
        assert!(limit.try_send("ada@example.com").is_ok());
        assert!(limit.try_send("ada@example.com").is_ok());
        let wait = limit.try_send("ada@example.com").unwrap_err();
        assert!(wait > Duration::from_secs(590) && wait <= Duration::from_secs(600));
        assert!(limit.try_send("grace@example.com").is_ok(), "per address");

        let start = Instant::now();
        let short = SendLimit::new(1, Duration::from_secs(60));
        assert!(short.try_send_at("ada@example.com", start, 10).is_ok());
        assert!(short.try_send_at("ada@example.com", start, 10).is_err());
        let later = start + Duration::from_secs(61);
        assert!(
            short.try_send_at("ada@example.com", later, 10).is_ok(),
            "the window passed"
        );

        let off = SendLimit::new(0, Duration::from_secs(600));
        assert!((0..100).all(|_| off.try_send("ada@example.com").is_ok()));
    }

    #[test]
    fn the_number_of_addresses_is_bounded() {
        let limit = SendLimit::new(5, Duration::from_secs(60));
        let start = Instant::now();
        for n in 0..3 {
            assert!(
                limit
                    .try_send_at(&format!("{n}@example.com"), start, 3)
                    .is_ok()
            );
        }
        assert!(
            limit.try_send_at("new@example.com", start, 3).is_ok(),
            "full: a new address is never refused"
        );
        assert_eq!(
            limit.counts.lock().unwrap().map.len(),
            3,
            "one was forgotten"
        );
        let later = start + Duration::from_secs(61);
        assert!(limit.try_send_at("newer@example.com", later, 3).is_ok());
        assert_eq!(
            limit.counts.lock().unwrap().map.len(),
            1,
            "the ones past the window aged out together"
        );
    }
}
