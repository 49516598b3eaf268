//! Messages waiting for another pass over their route, held per destination in the order
//! they came. A destination waits as a whole: a message for it that comes while others
//! wait queues behind them, so a later message never overtakes an earlier one to the same
//! handset, and when the first one's wait is over all of them go, in order. One ordered
//! index of due times replaces a timer per message: the cost of a wait does not grow with
//! how many wait.
//!
//! The messages themselves are durable in the store (accepted, not yet submitted): after a
//! restart they are resumed from there, so this is the in-memory schedule, not the record.

use std::collections::{BTreeMap, HashMap, VecDeque};

/// One destination's waiting messages.
struct Waiting<T> {
    items: VecDeque<(T, u32)>,
    /// Its entry in the due index.
    key: (u64, u64),
}

/// Waiting messages by destination, with their due times.
pub struct Retries<T> {
    by_dest: HashMap<String, Waiting<T>>,
    /// (due Unix ms, arrival) → destination.
    due: BTreeMap<(u64, u64), String>,
    next: u64,
    len: usize,
}

impl<T> Default for Retries<T> {
    fn default() -> Self {
        Retries {
            by_dest: HashMap::new(),
            due: BTreeMap::new(),
            next: 0,
            len: 0,
        }
    }
}

impl<T> Retries<T> {
    /// Whether messages to `dest` wait: a new one for it must wait behind them.
    pub fn holds(&self, dest: &str) -> bool {
        self.by_dest.contains_key(dest)
    }

    /// `item` (on its `attempt`th pass) waits for `dest`: behind the others for it if some
    /// wait already (their due time stands), else until `due_ms`.
    pub fn wait(&mut self, dest: &str, item: T, attempt: u32, due_ms: u64) {
        self.len += 1;
        if let Some(w) = self.by_dest.get_mut(dest) {
            w.items.push_back((item, attempt));
            return;
        }
        let key = (due_ms, self.next);
        self.next += 1;
        self.due.insert(key, dest.to_string());
        self.by_dest.insert(
            dest.to_string(),
            Waiting {
                items: VecDeque::from([(item, attempt)]),
                key,
            },
        );
    }

    /// Every message whose destination's wait is over at `now_ms`, in the order each
    /// destination's came, with its pass.
    pub fn take_due(&mut self, now_ms: u64) -> Vec<(T, u32)> {
        let mut out = Vec::new();
        while let Some(entry) = self.due.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            let dest = entry.remove();
            if let Some(w) = self.by_dest.remove(&dest) {
                self.len -= w.items.len();
                out.extend(w.items);
            }
        }
        out
    }

    /// Takes the waiting messages to `dest` that are `pred` (a cancelled one); when none
    /// is left the destination waits no more.
    pub fn remove_where(&mut self, dest: &str, pred: impl Fn(&T) -> bool) -> Vec<T> {
        let Some(w) = self.by_dest.get_mut(dest) else {
            return Vec::new();
        };
        let (gone, kept): (VecDeque<_>, VecDeque<_>) =
            w.items.drain(..).partition(|(t, _)| pred(t));
        w.items = kept;
        self.len -= gone.len();
        if w.items.is_empty() {
            let key = w.key;
            self.by_dest.remove(dest);
            self.due.remove(&key);
        }
        gone.into_iter().map(|(t, _)| t).collect()
    }

    /// Messages waiting in all.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_message_leaves_the_rest_waiting_and_an_emptied_destination_free() {
        let mut r = Retries::default();
        r.wait("a", 1, 0, 100);
        r.wait("a", 2, 0, 0);
        r.wait("b", 3, 0, 50);
        assert_eq!(r.remove_where("a", |&t| t == 1), vec![1]);
        assert_eq!(r.len(), 2);
        assert!(r.holds("a"), "2 still waits for a");
        assert_eq!(r.remove_where("b", |_| true), vec![3]);
        assert!(!r.holds("b"), "nothing waits for b any more");
        assert_eq!(r.take_due(1_000), vec![(2, 0)]);
        assert!(r.is_empty());
    }

    #[test]
    fn a_destination_waits_as_a_whole_and_keeps_its_order() {
        let mut r = Retries::default();
        r.wait("4917", "a", 1, 1_000);
        assert!(r.holds("4917") && !r.holds("4916"));
        // a later message to the same handset waits behind, whatever its own due time
        r.wait("4917", "b", 0, 0);
        r.wait("4916", "x", 2, 500);
        assert_eq!(r.len(), 3);
        assert_eq!(r.take_due(499), []);
        assert_eq!(r.take_due(500), [("x", 2)]);
        assert_eq!(r.take_due(999), []);
        assert_eq!(r.take_due(1_000), [("a", 1), ("b", 0)]);
        assert!(r.is_empty() && !r.holds("4917"));
    }

    #[test]
    fn destinations_due_together_come_in_the_order_they_began_waiting() {
        let mut r = Retries::default();
        r.wait("2", 2, 0, 100);
        r.wait("1", 1, 0, 100);
        r.wait("0", 0, 0, 50);
        assert_eq!(r.take_due(100), [(0, 0), (2, 0), (1, 0)]);
    }
}
