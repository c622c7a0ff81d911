//! How many magic links one address may receive: without a limit, anyone who knows an address
//! (or invents one, through sign-up) could flood its inbox through this server.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Addresses remembered at most; past it, addresses with no send in the window are forgotten.
const ADDRESSES: usize = 10_000;

/// At most `max` magic links to one address in any `window` (`max` 0: no limit).
#[derive(Debug)]
pub(crate) struct SendLimit {
    max: usize,
    window: Duration,
    sent: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl SendLimit {
    pub(crate) fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            sent: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a link to `address` now, or answers how long until the next one may go.
    pub(crate) fn try_send(&self, address: &str) -> Result<(), Duration> {
        if self.max == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut sent = self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sent.len() >= ADDRESSES && !sent.contains_key(address) {
            sent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < self.window)
            });
        }
        let times = sent.entry(address.to_owned()).or_default();
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

        let short = SendLimit::new(1, Duration::from_millis(1));
        assert!(short.try_send("ada@example.com").is_ok());
        std::thread::sleep(Duration::from_millis(5));
        assert!(
            short.try_send("ada@example.com").is_ok(),
            "the window passed"
        );

        let off = SendLimit::new(0, Duration::from_secs(600));
        assert!((0..100).all(|_| off.try_send("ada@example.com").is_ok()));
    }
}
