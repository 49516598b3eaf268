//! What a correlator shard knows of its early receipts: receipts that came before the
//! submit_sm_resp that names their carrier id, held in the store (`e/` keys) until the
//! registration comes. Plain bookkeeping, no I/O; the correlator stages the writes.
//!
//! Invariants: a key in `pending` has `writes` store writes staged or in flight, and each
//! carrier copy of the receipt is answered by its own write's outcome; a key in `stored`
//! may be in the store (a superset: a lookup that finds nothing drops it), so the usual
//! receipt (none came early) costs no store read.

use crate::store::keys::EarlyReceipt;

use super::{FastMap, FastSet};

/// A carrier and its message id.
pub type CarrierKey = (String, String);

/// An early receipt whose writes are staged or being stored.
struct Held {
    receipt: EarlyReceipt,
    /// Writes not yet settled.
    writes: u32,
    /// One of them was stored.
    stored: bool,
}

/// Early receipts of one shard: being written, or maybe in the store.
#[derive(Default)]
pub struct EarlyReceipts {
    pending: FastMap<CarrierKey, Held>,
    stored: FastSet<CarrierKey>,
}

impl EarlyReceipts {
    /// The receipt for `key` whose write is staged or in flight.
    pub fn pending(&self, key: &CarrierKey) -> Option<&EarlyReceipt> {
        self.pending.get(key).map(|h| &h.receipt)
    }

    /// Whether the store may hold a receipt for `key` (worth a read).
    pub fn maybe_stored(&self, key: &CarrierKey) -> bool {
        self.stored.contains(key)
    }

    /// The store may hold receipts for these (found at start, or written back after an
    /// end that took one failed).
    pub fn may_be_stored(&mut self, keys: impl IntoIterator<Item = CarrierKey>) {
        self.stored.extend(keys);
    }

    /// The store holds none for `key` (it was read, deleted, or swept).
    pub fn not_stored(&mut self, key: &CarrierKey) {
        self.stored.remove(key);
    }

    /// One more write of a receipt for `key` is staged; returns what to write: the first
    /// copy's receipt when one is already being written, else `e`.
    pub fn hold(&mut self, key: CarrierKey, e: EarlyReceipt) -> EarlyReceipt {
        let h = self.pending.entry(key).or_insert(Held {
            receipt: e,
            writes: 0,
            stored: false,
        });
        h.writes += 1;
        h.receipt.clone()
    }

    /// One write for `key` settled. Once all have, the receipt is known stored (if one of
    /// them was) or gone. A key a registration took meanwhile is not touched.
    pub fn settled(&mut self, key: &CarrierKey, stored: bool) {
        let Some(h) = self.pending.get_mut(key) else {
            return;
        };
        h.writes -= 1;
        h.stored |= stored;
        if h.writes == 0 {
            let was_stored = h.stored;
            self.pending.remove(key);
            if was_stored {
                self.stored.insert(key.clone());
            }
        }
    }

    /// A registration takes the receipt for `key`: its end deletes it from the store.
    pub fn take(&mut self, key: &CarrierKey) {
        self.pending.remove(key);
        self.stored.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::dlr::Stat;

    fn key() -> CarrierKey {
        ("sim".into(), "a1".into())
    }

    fn receipt(at_ms: u64) -> EarlyReceipt {
        EarlyReceipt {
            stat: Stat::Delivrd,
            err: "000".into(),
            at_ms,
        }
    }

    #[test]
    fn a_copy_written_while_the_first_is_in_flight_keeps_the_first_receipt() {
        let mut e = EarlyReceipts::default();
        assert_eq!(e.hold(key(), receipt(1)).at_ms, 1);
        assert_eq!(
            e.hold(key(), receipt(2)).at_ms,
            1,
            "the first copy's receipt"
        );
        // the first write fails, the second is stored: known stored once both settled
        e.settled(&key(), false);
        assert!(e.pending(&key()).is_some(), "one write still in flight");
        e.settled(&key(), true);
        assert!(e.pending(&key()).is_none());
        assert!(e.maybe_stored(&key()));
    }

    #[test]
    fn writes_that_all_fail_leave_nothing() {
        let mut e = EarlyReceipts::default();
        e.hold(key(), receipt(1));
        e.settled(&key(), false);
        assert!(e.pending(&key()).is_none() && !e.maybe_stored(&key()));
    }

    #[test]
    fn a_receipt_taken_by_its_registration_is_not_marked_stored_by_a_late_write() {
        let mut e = EarlyReceipts::default();
        e.hold(key(), receipt(1));
        e.take(&key());
        e.settled(&key(), true);
        assert!(e.pending(&key()).is_none() && !e.maybe_stored(&key()));
        // should the end that took it fail, it may be in the store again
        e.may_be_stored([key()]);
        assert!(e.maybe_stored(&key()));
        e.not_stored(&key());
        assert!(!e.maybe_stored(&key()));
    }
}
