//! The message as tern stores it, and its life: accepted → submitted → final.

use serde::{Deserialize, Serialize};

use super::dlr::Stat;
use super::money::Micros;

/// tern's message id: 16 lowercase hex digits of a crash-safe monotonic counter.
pub fn format_id(n: u64) -> String {
    format!("{n:016x}")
}

/// What is known about a message when it is accepted. Immutable afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MessageMeta {
    /// tern's id, as given in submit_sm_resp.
    pub id: String,
    /// The account (system_id) that submitted it.
    pub account: String,
    /// Source address as submitted.
    pub source: String,
    /// Source TON.
    pub source_ton: u8,
    /// Source NPI.
    pub source_npi: u8,
    /// Destination, digits without `+`.
    pub dest: String,
    /// The ESME's registered_delivery: bit 0 set → it wants a receipt.
    pub registered_delivery: u8,
    /// Billable parts.
    pub parts: u32,
    /// Amount charged at acceptance.
    pub charged: Micros,
    /// Unix milliseconds at acceptance.
    pub accepted_ms: u64,
    /// Unix milliseconds when the ESME's validity_period ends (none: `message_ttl_s` alone).
    #[serde(default)]
    pub expires_ms: Option<u64>,
    /// Set when tern split the message: this record is one part of it.
    #[serde(default)]
    pub part_of: Option<PartOf>,
}

/// The message a part belongs to, for every message sent over the customer API: tern splits
/// it into parts (one, when it fits), each routed, sent, billed and receipted as a message
/// of its own; its outcome goes to the client by webhook once every part has ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartOf {
    /// The message's id: its first part's.
    pub message: String,
    /// This part's number, from 1.
    pub seq: u8,
    /// How many parts the message has.
    pub total: u8,
}

impl MessageMeta {
    /// When the message must be EXPIRED if no carrier has taken it: the end of its validity
    /// or `ttl_ms` after acceptance, whichever is first.
    pub fn deadline_ms(&self, ttl_ms: u64) -> u64 {
        let ttl = self.accepted_ms.saturating_add(ttl_ms);
        self.expires_ms.map_or(ttl, |v| v.min(ttl))
    }

    /// The id a weighted route draws its carrier by: the whole message's, so every part
    /// of a message tern split goes the same way (a handset joins parts that came over
    /// one carrier, with one sender and one reference).
    pub fn draw_id(&self) -> &str {
        self.part_of.as_ref().map_or(&self.id, |p| &p.message)
    }

    /// Does the ESME want a delivery receipt for this message?
    pub fn wants_receipt(&self) -> bool {
        // SMPP 3.4 §5.2.17: bits 1..0 = 01 (success or failure) or 10 (failure only)
        matches!(self.registered_delivery & 0x03, 0x01 | 0x02)
    }
}

/// Where a message is in its life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageState {
    /// Durable and charged; waiting for a carrier to take it.
    Accepted,
    /// A carrier took it (submit_sm_resp OK with its id); waiting for the receipt.
    Submitted {
        /// Carrier id (config).
        carrier: String,
        /// The carrier's message id.
        carrier_id: String,
    },
    /// Nothing more will happen.
    Final {
        /// Final state reported to the ESME.
        stat: Stat,
        /// Error code text (`err:`).
        err: String,
    },
}

impl MessageState {
    /// True once nothing more will happen to the message.
    pub fn is_final(&self) -> bool {
        matches!(self, MessageState::Final { .. })
    }
}

/// The state of a message tern split, from its parts' states: DELIVRD once every part
/// is; the first part's failure (UNDELIV, REJECTD, EXPIRED...) as soon as one fails;
/// else submitted once any part is, else accepted.
pub fn combined_state(parts: &[MessageState]) -> MessageState {
    if let Some(failed) = parts.iter().find(
        |s| matches!(s, MessageState::Final { stat, .. } if *stat != super::dlr::Stat::Delivrd),
    ) {
        return failed.clone();
    }
    if !parts.is_empty() && parts.iter().all(MessageState::is_final) {
        return parts[0].clone();
    }
    // on its way once any part is with a carrier (a part delivered while another waits
    // for a carrier counts as waiting)
    parts
        .iter()
        .find(|s| matches!(s, MessageState::Submitted { .. }))
        .cloned()
        .unwrap_or(MessageState::Accepted)
}

/// One step in a message's history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// Unix milliseconds.
    pub at_ms: u64,
    /// The state entered.
    pub state: MessageState,
}

/// Milliseconds since the Unix epoch, now.
pub use super::clock::now_ms;

#[cfg(test)]
impl MessageMeta {
    /// A typical accepted message, for tests across the crate.
    pub fn sample() -> MessageMeta {
        MessageMeta {
            id: "00000000000000ff".into(),
            account: "demo".into(),
            source: "ACME".into(),
            source_ton: 5,
            source_npi: 0,
            dest: "491701234567".into(),
            registered_delivery: 1,
            parts: 2,
            charged: Micros(20_000),
            accepted_ms: 1_700_000_000_000,
            expires_ms: None,
            part_of: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_like_their_counter() {
        assert_eq!(format_id(255), "00000000000000ff");
        assert!(format_id(9) < format_id(10));
        assert!(format_id(u64::MAX).len() <= 64);
    }

    #[test]
    fn the_deadline_is_the_validity_or_the_ttl_whichever_is_first() {
        let mut m = MessageMeta::sample();
        let t0 = m.accepted_ms;
        assert_eq!(m.deadline_ms(60_000), t0 + 60_000);
        m.expires_ms = Some(t0 + 5_000);
        assert_eq!(m.deadline_ms(60_000), t0 + 5_000);
        m.expires_ms = Some(t0 + 90_000);
        assert_eq!(m.deadline_ms(60_000), t0 + 60_000);
    }

    #[test]
    fn a_split_message_is_delivered_when_every_part_is_and_failed_when_one_fails() {
        let sub = MessageState::Submitted {
            carrier: "c".into(),
            carrier_id: "1".into(),
        };
        let fin = |stat| MessageState::Final {
            stat,
            err: "000".into(),
        };
        let acc = MessageState::Accepted;
        assert_eq!(combined_state(&[acc.clone(), acc.clone()]), acc);
        assert_eq!(combined_state(&[sub.clone(), acc.clone()]), sub);
        assert_eq!(combined_state(&[fin(Stat::Delivrd), sub.clone()]), sub);
        assert_eq!(
            combined_state(&[fin(Stat::Delivrd), fin(Stat::Delivrd)]),
            fin(Stat::Delivrd)
        );
        assert_eq!(
            combined_state(&[sub.clone(), fin(Stat::Undeliv), acc.clone()]),
            fin(Stat::Undeliv)
        );
        assert_eq!(
            combined_state(&[fin(Stat::Delivrd), fin(Stat::Expired)]),
            fin(Stat::Expired)
        );
        // delivered and accepted (the other part not yet taken): not final
        assert_eq!(combined_state(&[fin(Stat::Delivrd), acc.clone()]), acc);
    }

    #[test]
    fn the_parts_of_a_message_draw_their_carrier_together() {
        let mut m = MessageMeta::sample();
        assert_eq!(m.draw_id(), m.id);
        m.part_of = Some(PartOf {
            message: "0000000000000001".into(),
            seq: 2,
            total: 3,
        });
        assert_eq!(m.draw_id(), "0000000000000001");
    }

    #[test]
    fn receipt_request_bits() {
        let mut m = MessageMeta {
            id: String::new(),
            account: String::new(),
            source: String::new(),
            source_ton: 0,
            source_npi: 0,
            dest: String::new(),
            registered_delivery: 0,
            parts: 1,
            charged: Micros(0),
            accepted_ms: 0,
            expires_ms: None,
            part_of: None,
        };
        assert!(!m.wants_receipt());
        m.registered_delivery = 1;
        assert!(m.wants_receipt());
        m.registered_delivery = 0x11; // SME ack bits plus receipt
        assert!(m.wants_receipt());
        m.registered_delivery = 0x10;
        assert!(!m.wants_receipt());
    }
}
