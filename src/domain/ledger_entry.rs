//! One change of an account's balance. Every change is one entry, written in the same
//! store batch as the balance it leaves, so an account's balance is always the sum of its
//! entries: the opening balance, less each charge, plus each refund and operator credit.
//!
//! Charges come by the thousand per second, so the charges an account takes in a row
//! (between two of its other entries, within one store batch) are stored as one compact
//! record, [`encode_charges`], and read back as one entry per message; other entries are
//! JSON, one record each. A key per message cost a fifth more CPU per message.

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

/// First byte of a record of charges (a JSON entry starts with `{`).
const CHARGES: u8 = 1;

/// The record of charges taken in a row: `items` are (message number, price) in order,
/// `balance` is the balance after the last; the record's key carries the first number.
pub fn encode_charges(at_ms: u64, balance: Micros, items: &[(u64, Micros)]) -> Vec<u8> {
    let mut v = Vec::with_capacity(21 + 16 * items.len());
    v.push(CHARGES);
    v.extend_from_slice(&at_ms.to_be_bytes());
    v.extend_from_slice(&balance.0.to_be_bytes());
    v.extend_from_slice(&(items.len() as u32).to_be_bytes());
    for (n, price) in items {
        v.extend_from_slice(&n.to_be_bytes());
        v.extend_from_slice(&price.0.to_be_bytes());
    }
    v
}

/// The entries of one stored record: a JSON entry, or one charge per message of a
/// record of charges (each with its message id and the balance after it).
pub fn decode_record(v: &[u8]) -> Result<Vec<LedgerEntry>, String> {
    if v.first() != Some(&CHARGES) {
        return serde_json::from_slice(v)
            .map(|e| vec![e])
            .map_err(|e| e.to_string());
    }
    let short = || "ledger record of charges cut short".to_string();
    let u64_at = |i: usize| -> Result<u64, String> {
        let b: [u8; 8] = v
            .get(i..i + 8)
            .ok_or_else(short)?
            .try_into()
            .map_err(|_| short())?;
        Ok(u64::from_be_bytes(b))
    };
    let at_ms = u64_at(1)?;
    let last_balance = u64_at(9)? as i64;
    let count = u32::from_be_bytes(
        v.get(17..21)
            .ok_or_else(short)?
            .try_into()
            .map_err(|_| short())?,
    ) as usize;
    if v.len() != 21 + 16 * count {
        return Err(short());
    }
    let items: Vec<(u64, i64)> = (0..count)
        .map(|i| Ok((u64_at(21 + 16 * i)?, u64_at(29 + 16 * i)? as i64)))
        .collect::<Result<_, String>>()?;
    // the balance after each charge, from the balance after the last one
    let mut after = last_balance;
    let mut out: Vec<LedgerEntry> = items
        .iter()
        .rev()
        .map(|&(n, price)| {
            let e = LedgerEntry {
                seq: n,
                at_ms,
                kind: EntryKind::Charge,
                amount: Micros(-price),
                balance: Micros(after),
                message_id: Some(super::message::format_id(n)),
                reason: None,
                operator: None,
            };
            after = after.saturating_add(price);
            e
        })
        .collect();
    out.reverse();
    Ok(out)
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
