//! Flow control from carriers back to ESMEs: how deep each carrier's queue is, and when
//! that is deep enough that ESME sessions should take submits for it more slowly.
//!
//! An ESME is acknowledged once its message is durable, not once a carrier has it, so
//! nothing else stops ESMEs that submit faster than a carrier takes messages: the carrier's
//! queue grows, receipts fall behind, memory and the work per message grow with them, and
//! the switch gets slower the more it is asked to do. A [`Backlog`] per carrier lets the
//! ESME sessions hold back, briefly, the submits routed to a carrier whose queue is past its
//! high-water mark, which slows those ESMEs down through their own window instead.
//!
//! Messages whose every carrier failed wait in the router for another pass; those count
//! against the backlog of the carrier they go to first. Past [`Backlog::max_waiting`] the
//! ESME sessions refuse new submits for that carrier's routes (ESME_RMSGQFUL, uncharged):
//! a dead route cannot fill memory, and the messages already waiting are kept.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::route::RouteEntry;

/// Messages waiting for a retry per carrier, at most (the carrier's queue holds as many).
pub const MAX_WAITING: usize = 100_000;

/// One carrier's queue depth (written by its `Carrier` actor) and its high-water mark, and
/// how many messages wait for a retry with this carrier as their first choice.
#[derive(Debug)]
pub struct Backlog {
    depth: AtomicUsize,
    high_water: usize,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl Backlog {
    /// A carrier with `binds` binds of `window` submits each. Its queue needs only a
    /// couple of windows to keep every bind busy; the mark is eight, so that the stalls of
    /// a busy switch (a checkpoint, a burst of receipts) do not set it off, and between 256
    /// and 25,000 (a quarter of the queue's hard limit).
    pub fn for_carrier(binds: u32, window: usize) -> Backlog {
        let room = binds as usize * window;
        Backlog {
            depth: AtomicUsize::new(0),
            high_water: (8 * room).clamp(256, 25_000),
            waiting: AtomicUsize::new(0),
            max_waiting: (64 * room).clamp(1_000, MAX_WAITING),
        }
    }

    /// A message begins waiting for a retry; it counts until the returned guard is dropped.
    pub fn begin_wait(self: &Arc<Self>) -> WaitingRetry {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        WaitingRetry(self.clone())
    }

    /// Whether so many messages wait for a retry that new ones must be refused.
    pub fn full(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) >= self.max_waiting
    }

    /// How many messages may wait for a retry: 64 windows of every bind, between 1,000
    /// and [`MAX_WAITING`].
    pub fn max_waiting(&self) -> usize {
        self.max_waiting
    }

    /// The carrier's queue now holds `n` messages.
    pub fn set(&self, n: usize) {
        self.depth.store(n, Ordering::Relaxed);
    }

    /// Whether submits for this carrier should be held back.
    pub fn over(&self) -> bool {
        self.depth.load(Ordering::Relaxed) > self.high_water
    }

    /// The mark past which submits are held back.
    pub fn high_water(&self) -> usize {
        self.high_water
    }
}

/// One message counted as waiting for a retry in its carrier's [`Backlog`] while alive.
#[derive(Debug)]
pub struct WaitingRetry(Arc<Backlog>);

impl Drop for WaitingRetry {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Every carrier's [`Backlog`], by carrier id (carriers come and go live).
#[derive(Debug, Default, Clone)]
pub struct Backlogs(Arc<std::sync::RwLock<HashMap<String, Arc<Backlog>>>>);

impl Backlogs {
    /// The backlogs of these carriers.
    pub fn new(carriers: impl IntoIterator<Item = (String, Arc<Backlog>)>) -> Backlogs {
        Backlogs(Arc::new(std::sync::RwLock::new(
            carriers.into_iter().collect(),
        )))
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Backlog>>> {
        // a writer only inserts or removes one entry: a map it panicked in is still whole
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Carrier `id` now has `backlog` (added or replaced).
    pub fn set(&self, id: &str, backlog: Arc<Backlog>) {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id.to_string(), backlog);
    }

    /// Carrier `id` is gone.
    pub fn remove(&self, id: &str) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// Whether a message routed over `route` should be held back: the carriers it goes to
    /// first unless they fail (the first one; with weights, every one with a share) are all
    /// past their high-water mark.
    pub fn over(&self, route: &RouteEntry) -> bool {
        self.all_first(route, Backlog::over)
    }

    /// Whether a message routed over `route` must be refused: every carrier it goes to
    /// first has as many messages waiting for a retry as it may.
    pub fn full(&self, route: &RouteEntry) -> bool {
        self.all_first(route, Backlog::full)
    }

    /// The backlog of carrier `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Backlog>> {
        self.read().get(id).cloned()
    }

    fn all_first(&self, route: &RouteEntry, test: fn(&Backlog) -> bool) -> bool {
        let map = self.read();
        let mut firsts = route.first_choices().peekable();
        firsts.peek().is_some() && firsts.all(|c| map.get(c).is_some_and(|b| test(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::route::{Route, RouteTable};

    fn route(carriers: &[&str], weights: Option<Vec<u32>>) -> Arc<RouteEntry> {
        let r = Route {
            prefix: String::new(),
            carriers: carriers.iter().map(|c| c.to_string()).collect(),
            weights,
        };
        let t = RouteTable::new(vec![r], |_| true).expect("valid route");
        t.lookup("1").expect("matches all")
    }

    #[test]
    fn a_route_is_held_back_only_while_its_first_carrier_is_past_the_mark() {
        let a = Arc::new(Backlog::for_carrier(2, 100));
        let b = Arc::new(Backlog::for_carrier(1, 10));
        assert_eq!(
            (a.high_water(), b.high_water()),
            (1600, 256),
            "at least 256"
        );
        assert_eq!(
            Backlog::for_carrier(8, 1000).high_water(),
            25_000,
            "at most 25,000"
        );
        let all = Backlogs::new([("a".to_string(), a.clone()), ("b".to_string(), b.clone())]);
        let ab = route(&["a", "b"], None);
        assert!(!all.over(&ab));
        a.set(1600);
        assert!(!all.over(&ab), "at the mark is not past it");
        a.set(1601);
        assert!(all.over(&ab));
        assert!(!all.over(&route(&["b", "a"], None)), "b is not backlogged");
        assert!(!all.over(&route(&["unknown"], None)));
        // weighted: held back only while every carrier with a share is backlogged
        assert!(!all.over(&route(&["a", "b"], Some(vec![1, 1]))));
        assert!(all.over(&route(&["a", "b"], Some(vec![1, 0]))));
        b.set(257);
        assert!(all.over(&route(&["a", "b"], Some(vec![1, 1]))));
        a.set(0);
        assert!(!all.over(&ab), "drained");
    }

    #[test]
    fn a_route_is_full_while_its_first_carrier_has_its_most_retries_waiting() {
        let a = Arc::new(Backlog::for_carrier(1, 10));
        assert_eq!(a.max_waiting(), 1_000, "at least 1,000");
        assert_eq!(Backlog::for_carrier(8, 1000).max_waiting(), MAX_WAITING);
        let b = Arc::new(Backlog::for_carrier(1, 10));
        let all = Backlogs::new([("a".to_string(), a.clone()), ("b".to_string(), b.clone())]);
        let mut waiting: Vec<WaitingRetry> = (0..999).map(|_| a.begin_wait()).collect();
        assert!(!all.full(&route(&["a", "b"], None)));
        waiting.push(a.begin_wait());
        assert!(all.full(&route(&["a", "b"], None)));
        assert!(!all.full(&route(&["b", "a"], None)), "b has none waiting");
        assert!(
            !all.full(&route(&["a", "b"], Some(vec![1, 1]))),
            "b takes a share"
        );
        waiting.pop();
        assert!(
            !all.full(&route(&["a", "b"], None)),
            "a dropped guard stops counting"
        );
        waiting.clear();
        assert_eq!(a.waiting.load(Ordering::Relaxed), 0);
    }
}
