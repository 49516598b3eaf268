//! Writes an actor gathers while its mailbox drains, committed to the store as one batch.
//!
//! The ledger, the correlator and delivery each take many messages in a row whose writes
//! must be durable before they are answered. One store commit per message would make each
//! wait for its own fsync; instead the first write after a commit makes the actor send
//! itself a commit message, which runs after everything already in its mailbox, so one
//! batch carries all of them and each is answered when that batch is stored.

use crate::store::kv::WriteBatch;

/// The writes staged since the last commit, and what each asker is owed once they are
/// stored (`T`), in the order they happened.
pub struct Staged<T> {
    batch: WriteBatch,
    items: Vec<T>,
}

impl<T> Default for Staged<T> {
    fn default() -> Self {
        Staged {
            batch: WriteBatch::default(),
            items: Vec::new(),
        }
    }
}

impl<T> Staged<T> {
    /// Adds `ops` and `item`. True when nothing was staged before: the caller then sends
    /// itself its commit message (`ctx.notify`), once per drain.
    #[must_use = "the first staged write must schedule the commit"]
    pub fn add(&mut self, ops: WriteBatch, item: Option<T>) -> bool {
        let first = self.is_empty();
        self.batch.ops.extend(ops.ops);
        self.items.extend(item);
        first
    }

    /// Nothing staged.
    pub fn is_empty(&self) -> bool {
        self.batch.is_empty() && self.items.is_empty()
    }

    /// Items staged.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// The items staged so far (to look at them before the commit).
    pub fn items(&self) -> &[T] {
        &self.items
    }

    /// Takes everything staged, for one commit; `None` when nothing is.
    pub fn take(&mut self) -> Option<(WriteBatch, Vec<T>)> {
        if self.is_empty() {
            return None;
        }
        Some((
            std::mem::take(&mut self.batch),
            std::mem::take(&mut self.items),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ops(k: &[u8]) -> WriteBatch {
        let mut b = WriteBatch::default();
        b.put(k.to_vec(), b"v".to_vec());
        b
    }

    #[test]
    fn only_the_first_write_after_a_commit_schedules_one() {
        let mut s = Staged::default();
        assert!(s.take().is_none());
        assert!(s.add(ops(b"a"), Some(1)));
        assert!(!s.add(ops(b"b"), Some(2)));
        assert!(
            !s.add(WriteBatch::default(), Some(3)),
            "an item without writes"
        );
        let (b, items) = s.take().unwrap();
        assert_eq!(b.ops.len(), 2);
        assert_eq!(items, vec![1, 2, 3], "in the order they came");
        assert!(s.is_empty());
        assert!(
            s.add(WriteBatch::default(), Some(4)),
            "first again after a take"
        );
    }
}
