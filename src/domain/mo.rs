//! Mobile-originated messages (MO): what a handset sent to a number an account owns.
//!
//! Plain rules with no I/O: the MO route table (longest prefix of the number the handset
//! wrote to → the account), the opt-out keywords, how an MO's concatenation is read (UDH
//! 8- or 16-bit reference, or SAR TLVs), and how its text is decoded for a webhook. The
//! record an MO is stored as is [`Mo`].

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::gsm;

/// One MO route: MO written to numbers starting with `prefix` go to `account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoRoute {
    /// Digits the number written to starts with; `""` matches every number.
    pub prefix: String,
    /// The account (system_id) that owns those numbers.
    pub account: String,
}

/// Why an MO route table was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MoRouteError {
    /// Prefix with something other than digits.
    #[error("MO route prefix {0:?} must be digits")]
    BadPrefix(String),
    /// The same prefix twice.
    #[error("MO route prefix {0:?} appears twice")]
    Duplicate(String),
    /// An account that does not exist.
    #[error("MO route {0:?} names unknown account {1:?}")]
    UnknownAccount(String, String),
}

/// The MO routes, by prefix; longest prefix wins.
#[derive(Debug, Clone, Default)]
pub struct MoRouteTable {
    by_prefix: HashMap<String, String>,
    max_len: usize,
    routes: Vec<MoRoute>,
}

impl MoRouteTable {
    /// Validates `routes` (digits, no prefix twice, accounts that `known_account` knows)
    /// and builds the table.
    pub fn new(
        routes: Vec<MoRoute>,
        known_account: impl Fn(&str) -> bool,
    ) -> Result<Self, MoRouteError> {
        let mut by_prefix = HashMap::new();
        let mut max_len = 0;
        for r in &routes {
            let p = number(&r.prefix);
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(MoRouteError::BadPrefix(r.prefix.clone()));
            }
            if !known_account(&r.account) {
                return Err(MoRouteError::UnknownAccount(
                    r.prefix.clone(),
                    r.account.clone(),
                ));
            }
            if by_prefix.insert(p.to_string(), r.account.clone()).is_some() {
                return Err(MoRouteError::Duplicate(r.prefix.clone()));
            }
            max_len = max_len.max(p.len());
        }
        Ok(MoRouteTable {
            by_prefix,
            max_len,
            routes,
        })
    }

    /// The account owning `to` (the number the handset wrote to), longest prefix first.
    pub fn lookup(&self, to: &str) -> Option<&str> {
        let to = number(to);
        let n = to.len().min(self.max_len);
        (0..=n)
            .rev()
            .find_map(|l| to.get(..l).and_then(|p| self.by_prefix.get(p)))
            .map(String::as_str)
    }

    /// The routes as given.
    pub fn routes(&self) -> &[MoRoute] {
        &self.routes
    }
}

/// A number as suppression entries and MO routes compare it: without a leading `+`.
/// (Sender IDs that are not numbers compare as written.)
pub fn number(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('+').unwrap_or(s)
}

/// What an MO's text asks of the sender that wrote to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptChange {
    /// Stop messages to this handset from this number.
    OptOut,
    /// Messages may come again.
    OptIn,
}

/// Words that opt a handset out by default (the whole text, any case, trimmed).
pub const OPT_OUT_WORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
/// Words that opt it back in by default.
pub const OPT_IN_WORDS: &[&str] = &["START", "UNSTOP", "YES"];

/// The keywords an account honours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keywords {
    opt_out: Vec<String>,
    opt_in: Vec<String>,
}

impl Default for Keywords {
    fn default() -> Self {
        Keywords::new(None, None)
    }
}

impl Keywords {
    /// The account's own lists where it has them, else the defaults.
    pub fn new(opt_out: Option<&[String]>, opt_in: Option<&[String]>) -> Keywords {
        let upper = |w: &[String]| w.iter().map(|s| s.trim().to_uppercase()).collect();
        let default = |w: &[&str]| w.iter().map(|s| (*s).to_string()).collect();
        Keywords {
            opt_out: opt_out.map_or_else(|| default(OPT_OUT_WORDS), upper),
            opt_in: opt_in.map_or_else(|| default(OPT_IN_WORDS), upper),
        }
    }

    /// Checks an account's own lists (empty: the defaults): each keyword 1 to 20
    /// characters, at most 50 in a list, and none in both lists as they take effect.
    pub fn check(opt_out: &[String], opt_in: &[String]) -> Result<(), (&'static str, String)> {
        for (field, list) in [("opt_out_keywords", opt_out), ("opt_in_keywords", opt_in)] {
            if list.len() > 50 {
                return Err((field, "at most 50 keywords".into()));
            }
            if let Some(w) = list
                .iter()
                .find(|w| w.trim().is_empty() || w.trim().chars().count() > 20)
            {
                return Err((field, format!("{w:?}: keywords are 1 to 20 characters")));
            }
        }
        let k = Keywords::new(
            (!opt_out.is_empty()).then_some(opt_out),
            (!opt_in.is_empty()).then_some(opt_in),
        );
        if let Some(w) = k.opt_in.iter().find(|w| k.opt_out.contains(w)) {
            let field = if opt_in.is_empty() {
                "opt_out_keywords"
            } else {
                "opt_in_keywords"
            };
            return Err((field, format!("{w:?} would both opt out and opt in")));
        }
        Ok(())
    }

    /// What `text` asks, if it is one of the keywords: the whole text, trimmed, in any case.
    pub fn classify(&self, text: &str) -> Option<OptChange> {
        let t = text.trim().to_uppercase();
        if self.opt_out.contains(&t) {
            Some(OptChange::OptOut)
        } else if self.opt_in.contains(&t) {
            Some(OptChange::OptIn)
        } else {
            None
        }
    }
}

/// Where a part of a concatenated MO belongs: its message's reference, how many parts it
/// has, and which one it is (1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concat {
    /// The reference shared by the parts (8- or 16-bit).
    pub reference: u16,
    /// Parts in all.
    pub total: u8,
    /// This part, from 1.
    pub seq: u8,
}

/// Reads the UDH at the start of `short_message` (esm_class UDHI set): the `Concat` its
/// concatenation element names and the length of the whole UDH, so the text is what
/// follows it. `None` when the UDH is not readable; `Some((None, len))` for a UDH without
/// concatenation. (rusmpp's `Udh` holds one information element; a handset's UDH may
/// carry several, port addressing beside concatenation, so this walks them all.)
pub fn read_udh(short_message: &[u8]) -> Option<(Option<Concat>, usize)> {
    let (&udhl, rest) = short_message.split_first()?;
    let udh = rest.get(..usize::from(udhl))?;
    let mut concat = None;
    let mut i = 0;
    while i + 2 <= udh.len() {
        let (iei, len) = (udh[i], usize::from(udh[i + 1]));
        let v = udh.get(i + 2..i + 2 + len)?;
        match (iei, v) {
            (0x00, &[r, total, seq]) => {
                concat = Some(Concat {
                    reference: u16::from(r),
                    total,
                    seq,
                })
            }
            (0x08, &[hi, lo, total, seq]) => {
                concat = Some(Concat {
                    reference: u16::from_be_bytes([hi, lo]),
                    total,
                    seq,
                })
            }
            _ => {}
        }
        i += 2 + len;
    }
    Some((concat, 1 + usize::from(udhl)))
}

/// The text of `octets` in `data_coding`: GSM 03.38 (one septet per octet, as SMPP
/// carries it), UCS-2 (UTF-16 BE, lone surrogates shown as U+FFFD), Latin-1 or, for 8-bit
/// data, the octets as Latin-1 too.
pub fn decode_text(data_coding: u8, octets: &[u8]) -> String {
    match super::encoding::Alphabet::from_data_coding(data_coding) {
        super::encoding::Alphabet::Ucs2 => {
            let units: Vec<u16> = octets
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        super::encoding::Alphabet::Gsm7 if data_coding != 0x03 => gsm::decode(octets),
        _ => octets.iter().map(|&b| char::from(b)).collect(),
    }
}

/// What the parts of one concatenated MO share: its account, handset, number, reference
/// and part count.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartsKey {
    /// The account.
    pub account: String,
    /// The handset.
    pub from: String,
    /// The number written to.
    pub to: String,
    /// The concatenation reference.
    pub reference: u16,
    /// Parts in all.
    pub total: u8,
}

/// A concatenated MO whose parts have all come: the parts in order, then any part that
/// came twice (to be removed with them).
#[derive(Debug, PartialEq, Eq)]
pub struct Whole<T> {
    /// One per part, in order.
    pub parts: Vec<T>,
    /// Parts that came again.
    pub repeats: Vec<T>,
}

#[derive(Debug)]
struct Group<T> {
    oldest_ms: u64,
    parts: BTreeMap<u8, T>,
    repeats: Vec<T>,
}

/// The parts of concatenated MO waiting for the rest of their message, to be joined into
/// one (a webhook gets one text), or given up on after a while (and sent as parts).
#[derive(Debug)]
pub struct Reassembly<T> {
    groups: HashMap<PartsKey, Group<T>>,
}

impl<T> Default for Reassembly<T> {
    fn default() -> Self {
        Reassembly {
            groups: HashMap::new(),
        }
    }
}

impl<T> Reassembly<T> {
    /// Adds part `seq` (1 to `key.total`) received at `received_ms`: the whole message once
    /// every part has come, else `None`.
    pub fn add(&mut self, key: PartsKey, seq: u8, received_ms: u64, item: T) -> Option<Whole<T>> {
        let total = usize::from(key.total);
        let g = self.groups.entry(key.clone()).or_insert_with(|| Group {
            oldest_ms: received_ms,
            parts: BTreeMap::new(),
            repeats: Vec::new(),
        });
        g.oldest_ms = g.oldest_ms.min(received_ms);
        match g.parts.entry(seq) {
            std::collections::btree_map::Entry::Occupied(_) => g.repeats.push(item),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(item);
            }
        }
        if g.parts.len() < total {
            return None;
        }
        let g = self.groups.remove(&key)?;
        Some(Whole {
            parts: g.parts.into_values().collect(),
            repeats: g.repeats,
        })
    }

    /// Takes the parts of every message whose oldest part came more than `wait_ms` before
    /// `now_ms`: they go on as parts.
    pub fn overdue(&mut self, now_ms: u64, wait_ms: u64) -> Vec<T> {
        let late: Vec<PartsKey> = self
            .groups
            .iter()
            .filter(|(_, g)| g.oldest_ms.saturating_add(wait_ms) < now_ms)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for k in late {
            if let Some(g) = self.groups.remove(&k) {
                out.extend(g.parts.into_values());
                out.extend(g.repeats);
            }
        }
        out
    }

    /// Takes the parts of every message whose key is `pred`.
    pub fn take_where(&mut self, pred: impl Fn(&PartsKey) -> bool) -> Vec<T> {
        let keys: Vec<PartsKey> = self.groups.keys().filter(|k| pred(k)).cloned().collect();
        let mut out = Vec::new();
        for k in keys {
            if let Some(g) = self.groups.remove(&k) {
                out.extend(g.parts.into_values());
                out.extend(g.repeats);
            }
        }
        out
    }

    /// Parts waiting.
    pub fn len(&self) -> usize {
        self.groups
            .values()
            .map(|g| g.parts.len() + g.repeats.len())
            .sum()
    }

    /// Nothing waits.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// Where an MO is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoState {
    /// No MO route matched its number: kept for the operator.
    Unrouted,
    /// Waiting for one of its account's receiver binds (or its webhook).
    Queued,
    /// Taken by a receiver bind (deliver_sm_resp OK) or the webhook (2xx).
    Delivered,
    /// Not taken within receipt_ttl_s, or refused by the ESME every time.
    Expired,
}

impl MoState {
    /// The name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            MoState::Unrouted => "unrouted",
            MoState::Queued => "queued",
            MoState::Delivered => "delivered",
            MoState::Expired => "expired",
        }
    }
}

/// A stored MO: what the carrier sent (its deliver_sm as received, so data_coding, UDH and
/// TLVs go on unchanged) and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mo {
    /// tern's id for it (from the store's id sequence, like a message's).
    pub id: String,
    /// The carrier it came from.
    pub carrier: String,
    /// The account its number routes to; `None`: unrouted.
    pub account: Option<String>,
    /// The handset.
    pub from: String,
    /// The number it wrote to.
    pub to: String,
    /// data_coding as the carrier sent it.
    pub data_coding: u8,
    /// Where it belongs when it is a part of a longer MO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concat: Option<Concat>,
    /// The opt-out (or opt-in) its text asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt: Option<OptChange>,
    /// The carrier's deliver_sm PDU as received (header and body).
    #[serde(with = "b64")]
    pub pdu: Vec<u8>,
    /// Received (and stored), Unix ms.
    pub received_ms: u64,
    /// Given up on after this, Unix ms.
    pub expires_ms: u64,
    /// Where it is now.
    pub state: MoState,
}

/// Bytes as base64 in the JSON record.
mod b64 {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        STANDARD.decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, account: &str) -> MoRoute {
        MoRoute {
            prefix: prefix.into(),
            account: account.into(),
        }
    }

    #[test]
    fn the_longest_prefix_owns_the_number() {
        let t = MoRouteTable::new(
            vec![route("44", "a"), route("4478", "b"), route("", "c")],
            |_| true,
        )
        .unwrap();
        assert_eq!(t.lookup("447812345678"), Some("b"));
        assert_eq!(t.lookup("+447912345678"), Some("a"));
        assert_eq!(t.lookup("12345"), Some("c"));
        let t = MoRouteTable::new(vec![route("4478", "b")], |_| true).unwrap();
        assert_eq!(t.lookup("4479"), None);
    }

    #[test]
    fn a_bad_table_is_refused_with_the_route_it_is_about() {
        let known = |a: &str| a == "a";
        assert_eq!(
            MoRouteTable::new(vec![route("44x", "a")], known).unwrap_err(),
            MoRouteError::BadPrefix("44x".into())
        );
        assert_eq!(
            MoRouteTable::new(vec![route("44", "a"), route("+44", "a")], known).unwrap_err(),
            MoRouteError::Duplicate("+44".into())
        );
        assert_eq!(
            MoRouteTable::new(vec![route("44", "b")], known).unwrap_err(),
            MoRouteError::UnknownAccount("44".into(), "b".into())
        );
    }

    #[test]
    fn keywords_are_the_whole_text_in_any_case() {
        let k = Keywords::default();
        for w in ["STOP", " stop ", "Unsubscribe", "quit\n", "StopAll"] {
            assert_eq!(k.classify(w), Some(OptChange::OptOut), "{w:?}");
        }
        for w in ["start", "UNSTOP", " Yes"] {
            assert_eq!(k.classify(w), Some(OptChange::OptIn), "{w:?}");
        }
        for w in ["please stop", "STOP!", "", "stopp", "yes please"] {
            assert_eq!(k.classify(w), None, "{w:?}");
        }
        assert!(Keywords::check(&["halt".into()], &["go".into()]).is_ok());
        assert_eq!(
            Keywords::check(&["HALT".into()], &["halt".into()])
                .unwrap_err()
                .0,
            "opt_in_keywords"
        );
        assert_eq!(
            Keywords::check(&[" ".into()], &[]).unwrap_err().0,
            "opt_out_keywords"
        );
        let own = Keywords::new(Some(&["halt".to_string()]), None);
        assert_eq!(own.classify("HALT"), Some(OptChange::OptOut));
        assert_eq!(own.classify("STOP"), None);
        assert_eq!(own.classify("start"), Some(OptChange::OptIn));
    }

    #[test]
    fn concatenation_is_read_from_8_and_16_bit_udh() {
        let (c, len) = read_udh(&[5, 0, 3, 0x2A, 3, 2, b'h', b'i']).unwrap();
        assert_eq!(
            c,
            Some(Concat {
                reference: 0x2A,
                total: 3,
                seq: 2
            })
        );
        assert_eq!(len, 6);
        let (c, len) = read_udh(&[6, 8, 4, 0x12, 0x34, 2, 1, b'x']).unwrap();
        assert_eq!(
            c,
            Some(Concat {
                reference: 0x1234,
                total: 2,
                seq: 1
            })
        );
        assert_eq!(len, 7);
        // a UDH with another element only, and one that claims more than is there
        assert_eq!(read_udh(&[3, 0x24, 1, 0, b'a']), Some((None, 4)));
        assert_eq!(read_udh(&[9, 0, 3, 1]), None);
        assert_eq!(read_udh(&[]), None);
    }

    #[test]
    fn text_is_decoded_by_its_data_coding() {
        assert_eq!(decode_text(0, &[0x48, 0x69, 0x1B, 0x65]), "Hi€");
        assert_eq!(decode_text(8, &[0x04, 0x1F, 0xD8, 0x3D, 0xDE, 0x00]), "П😀");
        assert_eq!(decode_text(3, &[0xE9]), "é");
        // an odd UCS-2 length does not panic
        assert_eq!(decode_text(8, &[0x00]).chars().count(), 1);
    }

    fn key(reference: u16) -> PartsKey {
        PartsKey {
            account: "a".into(),
            from: "1".into(),
            to: "2".into(),
            reference,
            total: 3,
        }
    }

    #[test]
    fn parts_in_any_order_make_one_whole_in_order() {
        let mut r = Reassembly::default();
        assert_eq!(r.add(key(7), 3, 10, "c"), None);
        assert_eq!(r.add(key(8), 1, 10, "other"), None, "another message");
        assert_eq!(r.add(key(7), 1, 11, "a"), None);
        assert_eq!(
            r.add(key(7), 1, 12, "a again"),
            None,
            "a repeat completes nothing"
        );
        let whole = r.add(key(7), 2, 13, "b").expect("complete");
        assert_eq!(whole.parts, vec!["a", "b", "c"]);
        assert_eq!(whole.repeats, vec!["a again"]);
        assert_eq!(r.len(), 1, "the other message still waits");
    }

    #[test]
    fn parts_waiting_too_long_go_on_as_parts() {
        let mut r = Reassembly::default();
        r.add(key(1), 2, 1_000, "b");
        r.add(key(2), 1, 5_000, "x");
        assert!(r.overdue(3_000, 2_000).is_empty(), "not yet");
        assert_eq!(r.overdue(3_001, 2_000), vec!["b"]);
        assert_eq!(r.len(), 1);
        assert_eq!(r.overdue(7_001, 2_000), vec!["x"]);
        assert!(r.is_empty());
    }

    #[test]
    fn the_record_round_trips_through_json() {
        let mo = Mo {
            id: "1".into(),
            carrier: "sim".into(),
            account: Some("demo".into()),
            from: "447700900123".into(),
            to: "4478".into(),
            data_coding: 0,
            concat: None,
            opt: Some(OptChange::OptOut),
            pdu: vec![0, 1, 255],
            received_ms: 5,
            expires_ms: 6,
            state: MoState::Queued,
        };
        let v = serde_json::to_vec(&mo).unwrap();
        assert_eq!(serde_json::from_slice::<Mo>(&v).unwrap(), mo);
    }
}
