//! Flow control from carriers back to ESMEs: how deep each carrier's queue is, and when
//! that is deep enough that ESME sessions should take submits for it more slowly.
//!
//! An ESME is acknowledged once its message is durable, not once a carrier has it, so
//! nothing else stops ESMEs that submit faster than a carrier takes messages: the carrier's
//! queue grows, receipts fall behind, memory and the work per message grow with them, and
//! the switch gets slower the more it is asked to do. A [`Backlog`] per carrier lets the
//! ESME sessions hold back, briefly, the submits routed to a carrier whose queue is past its
//! high-water mark, which slows those ESMEs down through their own window instead.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::route::RouteEntry;

/// One carrier's queue depth (written by its `Carrier` actor) and its high-water mark.
#[derive(Debug)]
pub struct Backlog {
    depth: AtomicUsize,
    high_water: usize,
}

impl Backlog {
    /// A carrier with `binds` binds of `window` submits each. Its queue needs only a
    /// couple of windows to keep every bind busy; the mark is eight, so that the stalls of
    /// a busy switch (a checkpoint, a burst of receipts) do not set it off, and between 256
    /// and 25,000 (a quarter of the queue's hard limit).
    pub fn for_carrier(binds: u32, window: usize) -> Backlog {
        Backlog {
            depth: AtomicUsize::new(0),
            high_water: (8 * binds as usize * window).clamp(256, 25_000),
        }
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

/// Every carrier's [`Backlog`], by carrier id.
#[derive(Debug, Default, Clone)]
pub struct Backlogs(Arc<HashMap<String, Arc<Backlog>>>);

impl Backlogs {
    /// The backlogs of these carriers.
    pub fn new(carriers: impl IntoIterator<Item = (String, Arc<Backlog>)>) -> Backlogs {
        Backlogs(Arc::new(carriers.into_iter().collect()))
    }

    /// Whether a message routed over `route` should be held back: the carriers it goes to
    /// first unless they fail (the first one; with weights, every one with a share) are all
    /// past their high-water mark.
    pub fn over(&self, route: &RouteEntry) -> bool {
        let mut firsts = route.first_choices().peekable();
        firsts.peek().is_some() && firsts.all(|c| self.0.get(c).is_some_and(|b| b.over()))
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
}
