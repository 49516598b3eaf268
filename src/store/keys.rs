//! The on-disk layout: one sled tree, keys prefixed by what they hold, and the small
//! records some of them hold. How a message's record is written and read back through its
//! life is [`super::messages`].
//!
//! | key | value | written by |
//! |---|---|---|
//! | `m/<id>` | [`MessageMeta`](crate::domain::message::MessageMeta), then each [`Event`](crate::domain::message::Event) after acceptance, appended; the last is the state (binary: [`super::record`]) | Ledger, with the charge; then Correlator / Router |
//! | `p/<id>` | the message is not final; until a carrier takes it, the ESME's submit_sm PDU as received (resumed on start) | Ledger / Correlator |
//! | `b/<account>` | balance, i64 big-endian micro-units | Ledger, with each charge |
//! | `c/<carrier>/<carrier id>` | tern id, while the message waits for its receipt | DlrCorrelator |
//! | `e/<carrier>/<carrier id>` | an early receipt waiting for its submit_sm_resp | DlrCorrelator |
//! | `o/<account>/<id>` | a receipt waiting for the ESME ([`OutboxReceipt`], binary: [`super::record`]) | DlrCorrelator / Router |
//! | `a/<account>` | the account's settings ([`StoredAccount`](crate::registry::StoredAccount), JSON; kept with `deleted_ms` once deleted) | Registry |
//! | `t/routes` | the route table (JSON list of routes) | Registry |
//! | `k/<carrier>` | the carrier's settings (JSON, as in the config file) | Registry |
//! | `k/<carrier>/stopped` | an operator stopped the carrier (it stays stopped across restarts) | Registry |
//! | `l/<account>/<seq>` | one balance change ([`LedgerEntry`](crate::domain::ledger_entry::LedgerEntry), JSON), or the charges an account took in a row (binary, [`encode_charges`](crate::domain::ledger_entry::encode_charges)); `seq` 16 hex digits, in order | Ledger (charges, refunds, credits), Registry (opening) |
//! | `u/<seq>` | one admin change ([`AuditEntry`](crate::domain::audit::AuditEntry), JSON) | Registry, Ledger |
//! | `y/<key_id>` | a customer API key ([`ApiKey`](crate::api_keys::ApiKey), JSON: the secret's hash, never the secret; kept with `revoked_ms` once revoked) | Registry |
//! | `x/<id>` | a message sent over the customer API ([`ApiMessage`], JSON): its key, parts, callback | customer API, with the charge |
//! | `w/<message>/<part>` | the part ended: its message's webhook is due (value: the account) | Correlator / Router with the end; removed by Webhooks once delivered or given up |
//! | `n/<id>` | an MO a carrier sent ([`Mo`](crate::domain::mo::Mo), JSON: its deliver_sm as received, its account, its state) | MoRouter; Delivery / Webhooks with its end |
//! | `o/<account>/<id>` (MO) | an MO waiting for its account's receiver bind or webhook ([`MO_FORMAT`](super::record::MO_FORMAT), then the [`Mo`](crate::domain::mo::Mo) as JSON) | MoRouter |
//! | `z/<account>/<handset>/<number>` | the handset opted out of messages from that number ([`Suppression`], JSON) | MoRouter (keywords), Registry (operators) |
//! | `t/mo-routes` | the MO route table (JSON list) | Registry |
//! | `s/seeded` | the config file's entities were written to the store (first start) | Registry |
//! | `s/carriers-seeded` | the config file's carriers were written to the store | Registry |
//! | `s/ready` | the time of the last readiness probe's write | `/health/ready` |
//!
//! Charge and message go in one batch, so after any crash balances and messages agree.
//!
//! Every key that reaches sled is paid for (a log record, a leaf copy), so a message touches
//! as few as tern can make it: acceptance is implied by `m/` (no `Accepted` event is stored),
//! later events are appended to `m/` itself ([`Op::Append`](super::kv::Op::Append)) rather
//! than kept under keys of their own, and the engine's checkpoints coalesce the rest. A
//! message whose receipt comes within a few seconds reaches sled as `m/` only: its PDU
//! (needed only until it is final) under `p/`, its carrier id mapping under `c/` and its
//! receipt under `o/` are removed again before the engine would write them.

use serde::{Deserialize, Serialize};

use crate::domain::dlr::Stat;

use super::kv::StoreError;

/// Message record key.
pub fn message(id: &str) -> Vec<u8> {
    format!("m/{id}").into_bytes()
}
/// Pending marker key.
pub fn pending(id: &str) -> Vec<u8> {
    format!("p/{id}").into_bytes()
}
/// Prefix of every pending marker.
pub const PENDING_PREFIX: &[u8] = b"p/";
/// Balance key.
pub fn balance(account: &str) -> Vec<u8> {
    format!("b/{account}").into_bytes()
}
/// An account's settings.
pub fn account(system_id: &str) -> Vec<u8> {
    format!("a/{system_id}").into_bytes()
}
/// Prefix of every account's settings.
pub const ACCOUNT_PREFIX: &[u8] = b"a/";
/// A message sent over the customer API (its id is its first part's).
pub fn api_message(id: &str) -> Vec<u8> {
    format!("x/{id}").into_bytes()
}

/// What the customer API keeps of a message beside its parts' records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessage {
    /// The API key it was sent with (its secret signs the webhooks).
    pub key_id: String,
    /// Where its receipt goes, if not the account's webhook_url.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// The client's own reference, echoed back.
    #[serde(default)]
    pub client_ref: Option<String>,
    /// The ids of its parts, in order (the first is the message's).
    pub parts: Vec<String>,
    /// The destination as the client wrote it.
    pub to: String,
    /// The sender as the client wrote it.
    pub from: String,
    /// data_coding it is sent with (0 GSM 03.38, 8 UCS-2).
    pub data_coding: u8,
    /// For a message an ESME submitted in one submit_sm that tern split for a carrier: the
    /// registered_delivery it asked with. It gets one receipt for the message (when its
    /// parts have all ended), not a webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esme_receipt: Option<u8>,
}

/// The answer an account's `Idempotency-Key` got (kept 24 h).
pub fn idempotency(account: &str, key: &str) -> Vec<u8> {
    format!("i/{account}/{key}").into_bytes()
}
/// Prefix of every remembered `Idempotency-Key`.
pub const IDEMPOTENCY_PREFIX: &[u8] = b"i/";

/// What a request with an `Idempotency-Key` was answered: stored in the batch that stores
/// its message, so the answer exists exactly when the message does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotentAnswer {
    /// SHA-256 of the request's body, hex: the same key with another body is refused.
    pub body_sha256: String,
    /// The message's id.
    pub id: String,
    /// Its parts.
    pub parts: u32,
    /// What it was charged.
    pub price: crate::domain::money::Micros,
    /// When it was stored, Unix ms.
    pub created_ms: u64,
}

/// A part of a message sent over the customer API ended: its message's webhook is due
/// (the value: the account). Removed once the webhook is delivered or given up.
pub fn webhook_due(message: &str, part: &str) -> Vec<u8> {
    format!("w/{message}/{part}").into_bytes()
}
/// Prefix of the webhook markers of one message.
pub fn webhook_due_prefix(message: &str) -> Vec<u8> {
    format!("w/{message}/").into_bytes()
}
/// Prefix of every webhook marker.
pub const WEBHOOK_DUE_PREFIX: &[u8] = b"w/";

/// A customer API key.
pub fn api_key(key_id: &str) -> Vec<u8> {
    format!("y/{key_id}").into_bytes()
}
/// Prefix of every API key.
pub const API_KEY_PREFIX: &[u8] = b"y/";
/// The route table.
pub const ROUTES: &[u8] = b"t/routes";
/// The MO route table.
pub const MO_ROUTES: &[u8] = b"t/mo-routes";
/// An MO's record.
pub fn mo(id: &str) -> Vec<u8> {
    format!("n/{id}").into_bytes()
}
/// Prefix of every MO record.
pub const MO_PREFIX: &[u8] = b"n/";
/// A suppression entry: `handset` opted out of `account`'s messages from `number`.
pub fn suppression(account: &str, handset: &str, number: &str) -> Vec<u8> {
    format!("z/{account}/{handset}/{number}").into_bytes()
}
/// Prefix of every suppression entry.
pub const SUPPRESSION_PREFIX: &[u8] = b"z/";

/// A handset's opt-out of one account's messages from one number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppression {
    /// The account.
    pub account: String,
    /// The handset (no `+`).
    pub handset: String,
    /// The number (or sender ID) it wrote to and will hear no more from.
    pub number: String,
    /// Since, Unix ms.
    pub since_ms: u64,
    /// `mo` (the handset's keyword) or `operator` (the admin API).
    pub source: String,
}
/// A carrier's settings ([`CarrierConfig`](crate::config::CarrierConfig), JSON).
pub fn carrier(id: &str) -> Vec<u8> {
    format!("k/{id}").into_bytes()
}
/// Prefix of every carrier's keys (settings at `k/<id>`, more under `k/<id>/`).
pub const CARRIER_PREFIX: &[u8] = b"k/";
/// Set once the config file's carriers were written to the store.
pub const CARRIERS_SEEDED: &[u8] = b"s/carriers-seeded";
/// Present while an operator has the carrier stopped.
pub fn carrier_stopped(id: &str) -> Vec<u8> {
    format!("k/{id}/stopped").into_bytes()
}
/// Written by each readiness probe (`/health/ready`): the store takes writes.
pub const READY_PROBE: &[u8] = b"s/ready";
/// Set once the config file has seeded the store.
pub const SEEDED: &[u8] = b"s/seeded";
/// One ledger entry of an account; `seq` orders them.
pub fn ledger_entry(account: &str, seq: u64) -> Vec<u8> {
    format!("l/{account}/{seq:016x}").into_bytes()
}
/// Prefix of an account's ledger entries.
pub fn ledger_prefix(account: &str) -> Vec<u8> {
    format!("l/{account}/").into_bytes()
}
/// One audit entry; `seq` orders them.
pub fn audit(seq: u64) -> Vec<u8> {
    format!("u/{seq:016x}").into_bytes()
}
/// Prefix of every audit entry.
pub const AUDIT_PREFIX: &[u8] = b"u/";
/// Carrier id → tern id key: written when the carrier accepts the message, removed when
/// its final receipt comes (duplicates of that receipt are caught in memory by the
/// correlator, and a later one is held as an unmatched receipt and dropped in time).
/// A carrier id names one message (SMPP requires it); a carrier that gives an id again while
/// the correlator no longer remembers the first message, which still waits for its
/// receipt, leaves the two ambiguous: after the second ends, a receipt with that id may
/// end the first.
pub fn correlation(carrier: &str, carrier_id: &str) -> Vec<u8> {
    format!("c/{carrier}/{carrier_id}").into_bytes()
}
/// Early receipt key.
pub fn early(carrier: &str, carrier_id: &str) -> Vec<u8> {
    format!("e/{carrier}/{carrier_id}").into_bytes()
}
/// Prefix of every early receipt.
pub const EARLY_PREFIX: &[u8] = b"e/";
/// Outbox key.
pub fn outbox(account: &str, id: &str) -> Vec<u8> {
    format!("o/{account}/{id}").into_bytes()
}
/// Prefix of an account's outbox.
pub fn outbox_prefix(account: &str) -> Vec<u8> {
    format!("o/{account}/").into_bytes()
}
/// Key ranges whose new, young keys the engine's checkpoints keep out of sled (held
/// in a memtable of their own, for at most a few seconds): carrier id mappings, pending
/// markers, outbox receipts and webhook markers, which are removed soon, usually before
/// they would have been worth a write and a removal.
/// Message records are not held: they are the bulk of what is written, and most are final
/// before their first checkpoint anyway.
/// In key order.
pub const HELD_PREFIXES: &[&[u8]] = &[b"c/", b"o/", PENDING_PREFIX, WEBHOOK_DUE_PREFIX];

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    // Serialising these plain structs (strings, integers, enums) to JSON cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

/// A receipt on its way to the ESME, kept until an RX/TRX bind takes it or it expires.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutboxReceipt {
    /// tern's message id.
    pub id: String,
    /// The account to deliver to.
    pub account: String,
    /// The message's destination (the receipt's source).
    pub from: String,
    /// The message's source (the receipt's destination).
    pub to: String,
    /// Its TON.
    pub to_ton: u8,
    /// Its NPI.
    pub to_npi: u8,
    /// Final state.
    pub stat: Stat,
    /// Error code.
    pub err: String,
    /// Acceptance time, Unix ms.
    pub submit_ms: u64,
    /// Final time, Unix ms.
    pub done_ms: u64,
    /// Dropped after this, Unix ms.
    pub expires_ms: u64,
}

/// An early receipt: arrived before the carrier's submit_sm_resp told tern its id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EarlyReceipt {
    /// Reported state.
    pub stat: Stat,
    /// Error code.
    pub err: String,
    /// Arrival, Unix ms.
    pub at_ms: u64,
}

/// What waits in an account's outbox: a receipt for a message it sent, or an MO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A delivery receipt.
    Receipt(OutboxReceipt),
    /// A handset's message.
    Mo(Box<crate::domain::mo::Mo>),
}

impl Outgoing {
    /// tern's id of the receipt's message, or of the MO.
    pub fn id(&self) -> &str {
        match self {
            Outgoing::Receipt(r) => &r.id,
            Outgoing::Mo(m) => &m.id,
        }
    }
    /// The account it goes to.
    pub fn account(&self) -> &str {
        match self {
            Outgoing::Receipt(r) => &r.account,
            Outgoing::Mo(m) => m.account.as_deref().unwrap_or_default(),
        }
    }
    /// Dropped after this, Unix ms.
    pub fn expires_ms(&self) -> u64 {
        match self {
            Outgoing::Receipt(r) => r.expires_ms,
            Outgoing::Mo(m) => m.expires_ms,
        }
    }
}

/// Encodes any record as JSON.
pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    json(v)
}

/// Decodes any JSON record.
pub fn decode<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::new(e.to_string()))
}
