//! One change of an account's balance. Every change is one entry, written in the same
//! store batch as the balance it leaves, so an account's balance is always the sum of its
//! entries: the opening balance, less each charge, plus each refund and operator credit.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::money::Micros;

/// Why the balance changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The balance the account was created with.
    Opening,
    /// A message accepted (price × parts).
    Charge,
    /// A charge given back: the message was never handed to a carrier, or was refused by
    /// one and the account is refunded for that.
    Refund,
    /// An operator added money.
    Credit,
    /// An operator took money away.
    Debit,
}

/// One balance change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Orders the account's entries (also the key's suffix).
    pub seq: u64,
    /// When, Unix ms.
    pub at_ms: u64,
    /// Why.
    pub kind: EntryKind,
    /// Signed change: negative for charges and debits.
    pub amount: Micros,
    /// The balance after it.
    pub balance: Micros,
    /// The message it is for (charges, refunds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// The operator's reason (credits, debits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Where the operator's request came from (credits, debits, opening).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
}

impl LedgerEntry {
    /// The entry as the admin API shows it: money as decimal strings, time as RFC 3339.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "seq": self.seq,
            "at": super::clock::rfc3339(self.at_ms),
            "kind": self.kind,
            "amount": self.amount.to_string(),
            "balance": self.balance.to_string(),
            "message_id": self.message_id,
            "reason": self.reason,
            "operator": self.operator,
        })
    }
}

/// The sum of `entries`' amounts; equals the balance after the last when none is missing.
pub fn sum(entries: &[LedgerEntry]) -> Option<Micros> {
    entries
        .iter()
        .try_fold(0i64, |acc, e| acc.checked_add(e.amount.0))
        .map(Micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_and_shows_decimal_money_and_rfc3339_time() {
        let e = LedgerEntry {
            seq: 7,
            at_ms: 1_767_225_600_250,
            kind: EntryKind::Charge,
            amount: Micros(-10_000),
            balance: Micros(99_990_000),
            message_id: Some("0000000000000007".into()),
            reason: None,
            operator: None,
        };
        let back: LedgerEntry =
            serde_json::from_slice(&serde_json::to_vec(&e).expect("encodes")).expect("decodes");
        assert_eq!(back, e);
        let j = e.to_json();
        assert_eq!(j["kind"], "charge");
        assert_eq!(j["amount"], "-0.010000");
        assert_eq!(j["balance"], "99.990000");
        assert_eq!(j["at"], "2026-01-01T00:00:00.250Z");
        assert_eq!(
            sum(&[
                e.clone(),
                LedgerEntry {
                    amount: Micros(30),
                    ..e
                }
            ]),
            Some(Micros(-9_970))
        );
    }
}
