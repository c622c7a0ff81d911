//! A map that anonymous callers can fill, bounded without ever refusing: the handshakes in
//! progress and the magic-link counts both keep one.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// Entries by key, at most a capacity of them once [`make_room`](Self::make_room) ran.
#[derive(Debug)]
pub(crate) struct Bounded<V> {
    pub(crate) map: HashMap<String, V>,
    pruned_at: Option<Instant>,
}

impl<V> Default for Bounded<V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            pruned_at: None,
        }
    }
}

impl<V> Bounded<V> {
    /// Makes room for one more entry when the map holds `capacity`: drops the entries that are
    /// no longer `fresh` (at most once a second, since that scans the whole map), then, if it is
    /// still full, an arbitrary one. Refusing instead would let a flood lock everyone out.
    /// True when a fresh entry had to go.
    pub(crate) fn make_room(
        &mut self,
        now: Instant,
        capacity: usize,
        fresh: impl Fn(&V) -> bool,
    ) -> bool {
        if self.map.len() < capacity {
            return false;
        }
        if self
            .pruned_at
            .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(1))
        {
            self.pruned_at = Some(now);
            self.map.retain(|_, value| fresh(value));
        }
        if self.map.len() < capacity {
            return false;
        }
        match self.map.keys().next().cloned() {
            Some(dropped) => self.map.remove(&dropped).is_some(),
            None => false,
        }
    }
}
