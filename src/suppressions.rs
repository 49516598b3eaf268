//! The suppression list: (handset, number) pairs an account may not send to, because the
//! handset opted out by keyword (STOP…) or an operator put it there.
//!
//! The entries live in the store (`z/<account>/<handset>/<number>`, written in the batch
//! that stores the MO asking for it, or the operator's audited change); this is the copy
//! every submit checks, in memory so the check costs one hash lookup. It is changed only
//! after the store has the change, so a submit refused here is refused by a durable entry.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use crate::domain::mo::{OptChange, number};
use crate::store::keys::{self, Suppression};
use crate::store::kv::Kv;

/// The suppressed pairs: account → handset → numbers it opted out of. Nested so a submit's
/// check looks up borrowed strings and allocates nothing.
#[derive(Debug, Default)]
pub struct Suppressions {
    by_account: RwLock<HashMap<String, HashMap<String, HashSet<String>>>>,
}

impl Suppressions {
    /// The list as stored.
    pub fn load(kv: &dyn Kv) -> Result<Suppressions, String> {
        let s = Suppressions::default();
        for row in kv.scan_prefix(keys::SUPPRESSION_PREFIX) {
            let (_, v) = row.map_err(|e| e.to_string())?;
            let e: Suppression = keys::decode(&v).map_err(|e| e.to_string())?;
            s.apply(&e.account, &e.handset, &e.number, OptChange::OptOut);
        }
        Ok(s)
    }

    /// Whether `account` may not send to `handset` from `number`.
    pub fn contains(&self, account: &str, handset: &str, number_from: &str) -> bool {
        let map = self.by_account.read().unwrap_or_else(|e| e.into_inner());
        map.get(account)
            .and_then(|h| h.get(number(handset)))
            .is_some_and(|n| n.contains(number(number_from)))
    }

    /// Adds (opt-out) or removes (opt-in) a pair; call once the store has the change.
    pub fn apply(&self, account: &str, handset: &str, number_to: &str, change: OptChange) {
        let mut map = self.by_account.write().unwrap_or_else(|e| e.into_inner());
        let (handset, number_to) = (number(handset), number(number_to));
        match change {
            OptChange::OptOut => {
                map.entry(account.to_string())
                    .or_default()
                    .entry(handset.to_string())
                    .or_default()
                    .insert(number_to.to_string());
            }
            OptChange::OptIn => {
                let Some(handsets) = map.get_mut(account) else {
                    return;
                };
                if let Some(numbers) = handsets.get_mut(handset) {
                    numbers.remove(number_to);
                    if numbers.is_empty() {
                        handsets.remove(handset);
                    }
                }
                if handsets.is_empty() {
                    map.remove(account);
                }
            }
        }
    }

    /// Sets a pair as the store has it now. Changes from a handset's keyword and from an
    /// operator commit independently; each reads back after its own commit, so whichever
    /// reads last sees both and the list ends as the store does. A store that cannot be
    /// read leaves the pair as it was.
    pub fn refresh(&self, kv: &dyn Kv, account: &str, handset: &str, number_to: &str) {
        let change = match kv.get(&key(account, handset, number_to)) {
            Ok(Some(_)) => OptChange::OptOut,
            Ok(None) => OptChange::OptIn,
            Err(e) => {
                tracing::error!(error = %e, "suppression entry unreadable; the list keeps its last state until the next start");
                return;
            }
        };
        self.apply(account, handset, number_to, change);
    }
}

/// Whether `n` can name a handset or number in an entry: 1 to 20 characters, no `/`, no
/// control characters.
pub fn valid_number(n: &str) -> bool {
    let n = number(n);
    !n.is_empty() && n.chars().count() <= 20 && !n.contains('/') && !n.chars().any(char::is_control)
}

/// The store key of an entry, its numbers written as compared (no `+`).
pub fn key(account: &str, handset: &str, number_to: &str) -> Vec<u8> {
    keys::suppression(account, number(handset), number(number_to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_suppressed_for_its_account_only_until_it_opts_in() {
        let s = Suppressions::default();
        s.apply("a", "+447700900123", "4478", OptChange::OptOut);
        assert!(s.contains("a", "447700900123", "+4478"));
        assert!(!s.contains("b", "447700900123", "4478"));
        assert!(!s.contains("a", "447700900124", "4478"));
        assert!(!s.contains("a", "447700900123", "ACME"));
        s.apply("a", "447700900123", "4478", OptChange::OptIn);
        assert!(!s.contains("a", "447700900123", "4478"));
    }

    #[test]
    fn an_entry_names_numbers_or_sender_ids_a_key_can_hold() {
        for ok in ["+447700900123", "ACME", "12345678901234567890"] {
            assert!(valid_number(ok), "{ok}");
        }
        for bad in ["", "+", "a/b", "123456789012345678901", "x\ny"] {
            assert!(!valid_number(bad), "{bad:?}");
        }
    }
}
