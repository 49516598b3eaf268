//! Which carrier message ids still wait for their final receipt, and which have had it: a
//! bounded cache in front of the store, so the usual receipt (one that comes soon after its
//! submit_sm_resp) ends its message without a store read, and a duplicate of a receipt just
//! handled is recognised without one.
//!
//! At most `max_waiting` ids wait and `max_remembered` are remembered at all, oldest first
//! out; ended ids do not count against the waiting ones, so a burst of receipts never
//! crowds out the messages still waiting. What the cache forgot is asked of the store.

use std::collections::VecDeque;
use std::hash::Hash;

use crate::actors::FastMap;

/// What the cache holds for one id.
enum Entry<V> {
    /// Registered; its final receipt has not come yet.
    Waiting(V),
    /// Its message has ended: another final receipt for it is a duplicate.
    Ended,
}

/// What [`Awaiting::receipt`] knew of an id.
#[derive(Debug, PartialEq, Eq)]
pub enum Known<V> {
    /// Waiting for this receipt (now marked ended).
    Waiting(V),
    /// Its message has already ended.
    Ended,
    /// Not in memory: ask the store.
    Unknown,
}

/// The most recently registered or ended ids, oldest first out.
pub struct Awaiting<K, V> {
    /// Each entry with the generation it was first remembered under.
    by_id: FastMap<K, (u64, Entry<V>)>,
    /// Keys in the order they were first remembered, with that generation: a key forgotten
    /// and remembered again is evicted by its new place in the order, not its old one.
    order: VecDeque<(K, u64)>,
    next_gen: u64,
    /// Entries of `by_id` that are [`Entry::Waiting`].
    waiting: usize,
    max_waiting: usize,
    max_remembered: usize,
}

impl<K: Hash + Eq + Clone, V> Awaiting<K, V> {
    /// At most `max_waiting` waiting ids and `max_remembered` ids in all.
    pub fn new(max_waiting: usize, max_remembered: usize) -> Self {
        Awaiting {
            by_id: FastMap::default(),
            order: VecDeque::new(),
            next_gen: 0,
            waiting: 0,
            max_waiting,
            max_remembered: max_remembered.max(max_waiting),
        }
    }

    fn put(&mut self, key: K, entry: Entry<V>) {
        self.waiting += usize::from(matches!(entry, Entry::Waiting(_)));
        match self.by_id.get_mut(&key) {
            Some((_, old)) => {
                if let Entry::Waiting(_) = std::mem::replace(old, entry) {
                    self.waiting -= 1;
                }
            }
            None => {
                let generation = self.next_gen;
                self.next_gen += 1;
                self.by_id.insert(key.clone(), (generation, entry));
                self.order.push_back((key, generation));
            }
        }
        while self.waiting > self.max_waiting || self.order.len() > self.max_remembered {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self.by_id.get(&old).is_some_and(|(g, _)| *g == generation)
                && let Some((_, Entry::Waiting(_))) = self.by_id.remove(&old)
            {
                self.waiting -= 1;
            }
        }
    }

    /// Remembers a message handed to its carrier under `key`.
    pub fn insert(&mut self, key: K, value: V) {
        self.put(key, Entry::Waiting(value));
    }

    /// A final receipt for `key` came: what was known of it; from now on it counts as ended.
    pub fn receipt(&mut self, key: &K) -> Known<V> {
        match self.by_id.get_mut(key) {
            None => Known::Unknown,
            Some((_, e)) => match std::mem::replace(e, Entry::Ended) {
                Entry::Waiting(v) => {
                    self.waiting -= 1;
                    Known::Waiting(v)
                }
                Entry::Ended => Known::Ended,
            },
        }
    }

    /// `key`'s message has ended.
    pub fn ended(&mut self, key: K) {
        self.put(key, Entry::Ended);
    }

    /// Forgets `key` (its end could not be stored: the store decides next time).
    pub fn forget(&mut self, key: &K) {
        if let Some((_, Entry::Waiting(_))) = self.by_id.remove(key) {
            self.waiting -= 1;
        }
    }

    /// Whether `key` is remembered at all.
    pub fn knows(&self, key: &K) -> bool {
        self.by_id.contains_key(key)
    }

    /// Ids waiting for their receipt.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Ids remembered, waiting or ended.
    pub fn remembered(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: usize = 100;

    fn cache() -> Awaiting<u32, u32> {
        Awaiting::new(W, 2 * W)
    }

    #[test]
    fn ended_ids_catch_duplicates_without_crowding_out_waiting_ones() {
        let mut a = cache();
        a.insert(0, 0);
        assert_eq!(a.receipt(&0), Known::Waiting(0));
        assert_eq!(a.receipt(&0), Known::Ended, "a duplicate");
        // more messages than may wait come and end: one still waiting stays, since ended
        // ones do not count against the waiting ones
        a.insert(1, 1);
        for i in 2..W as u32 + 10 {
            a.insert(i, i);
            assert_eq!(a.receipt(&i), Known::Waiting(i));
        }
        assert_eq!(a.waiting(), 1);
        assert!(a.knows(&0), "and duplicates are still caught");
        // what is remembered at all is bounded: the oldest ids go, waiting or not
        for i in W as u32 + 10..2 * W as u32 + 10 {
            a.insert(i, i);
            assert_eq!(a.receipt(&i), Known::Waiting(i));
        }
        assert!(a.remembered() <= 2 * W);
        assert!(!a.knows(&0), "the oldest ended id is forgotten");
        assert_eq!(a.receipt(&1), Known::Unknown, "1 is asked of the store");
        assert_eq!(a.waiting(), 0);
    }

    #[test]
    fn at_most_max_waiting_wait_in_memory() {
        let mut a = cache();
        for i in 0..W as u32 + 5 {
            a.insert(i, i);
        }
        assert_eq!(a.waiting(), W);
        assert_eq!(a.receipt(&0), Known::Unknown, "oldest: ask the store");
        assert_eq!(a.receipt(&(W as u32 + 4)), Known::Waiting(W as u32 + 4));
        assert_eq!(a.waiting(), W - 1);
        a.forget(&(W as u32 + 4));
        a.forget(&(W as u32 + 3));
        assert_eq!(a.waiting(), W - 2);
    }

    #[test]
    fn registering_an_id_again_replaces_it() {
        let mut a = cache();
        a.insert(7, 1);
        a.insert(7, 2);
        assert_eq!(a.waiting(), 1);
        assert_eq!(a.receipt(&7), Known::Waiting(2));
        a.insert(7, 3);
        assert_eq!(a.receipt(&7), Known::Waiting(3), "a reused id waits again");
    }

    #[test]
    fn an_id_forgotten_and_remembered_again_keeps_its_new_place() {
        let mut a = cache();
        a.insert(0, 0);
        a.forget(&0);
        for i in 1..W as u32 {
            a.insert(i, i);
        }
        a.insert(0, 10);
        // one more evicts the oldest place in the order: 0's old, stale one
        a.insert(W as u32, 0);
        assert_eq!(
            a.receipt(&0),
            Known::Waiting(10),
            "evicted by its stale place"
        );
    }
}
