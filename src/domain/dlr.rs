//! Delivery receipt text (SMPP 3.4 Appendix B) and receipt states.
//!
//! Carriers send receipts as text in `short_message`, as the `receipted_message_id` and
//! `message_state` TLVs, or both. [`Receipt::from_parts`] reads whichever is there;
//! [`format_receipt`] writes the text tern sends to ESMEs.

use std::fmt;

/// Final (or intermediate) state of a message as a receipt reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Stat {
    /// Delivered to the handset.
    Delivrd,
    /// Validity period expired.
    Expired,
    /// Deleted by the SMSC.
    Deleted,
    /// Undeliverable.
    Undeliv,
    /// Accepted by the SMSC on behalf of the subscriber (final for billing).
    Acceptd,
    /// Unknown state.
    Unknown,
    /// Rejected.
    Rejectd,
    /// Still en route: not a final receipt.
    Enroute,
}

impl Stat {
    /// The 7-letter text form (`DELIVRD`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Stat::Delivrd => "DELIVRD",
            Stat::Expired => "EXPIRED",
            Stat::Deleted => "DELETED",
            Stat::Undeliv => "UNDELIV",
            Stat::Acceptd => "ACCEPTD",
            Stat::Unknown => "UNKNOWN",
            Stat::Rejectd => "REJECTD",
            Stat::Enroute => "ENROUTE",
        }
    }

    /// Parses the text form, case-insensitively; unknown words are `None`.
    pub fn parse(s: &str) -> Option<Stat> {
        Some(match s.to_ascii_uppercase().as_str() {
            "DELIVRD" | "DELIVERED" => Stat::Delivrd,
            "EXPIRED" => Stat::Expired,
            "DELETED" => Stat::Deleted,
            "UNDELIV" | "UNDELIVERABLE" => Stat::Undeliv,
            "ACCEPTD" | "ACCEPTED" => Stat::Acceptd,
            "UNKNOWN" => Stat::Unknown,
            "REJECTD" | "REJECTED" => Stat::Rejectd,
            "ENROUTE" => Stat::Enroute,
            _ => return None,
        })
    }

    /// The SMPP `message_state` value (SMPP 5.0 §4.7.15).
    pub fn message_state(self) -> u8 {
        match self {
            Stat::Enroute => 1,
            Stat::Delivrd => 2,
            Stat::Expired => 3,
            Stat::Deleted => 4,
            Stat::Undeliv => 5,
            Stat::Acceptd => 6,
            Stat::Unknown => 7,
            Stat::Rejectd => 8,
        }
    }

    /// From an SMPP `message_state` value.
    pub fn from_message_state(v: u8) -> Option<Stat> {
        Some(match v {
            1 => Stat::Enroute,
            2 => Stat::Delivrd,
            3 => Stat::Expired,
            4 => Stat::Deleted,
            5 => Stat::Undeliv,
            6 => Stat::Acceptd,
            7 => Stat::Unknown,
            8 => Stat::Rejectd,
            _ => return None,
        })
    }

    /// True for every state after which nothing more will happen to the message.
    pub fn is_final(self) -> bool {
        !matches!(self, Stat::Enroute)
    }
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A receipt as read from a carrier's deliver_sm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The carrier's message id, exactly as the carrier sent it.
    pub id: String,
    /// Reported state.
    pub stat: Stat,
    /// The `err:` field, if any (network-specific error code text).
    pub err: String,
}

/// Why a deliver_sm could not be read as a receipt.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Neither the text nor the TLVs name the message.
    #[error("receipt has no message id")]
    NoId,
    /// Neither the text nor the TLVs give a state tern understands.
    #[error("receipt has no known state")]
    NoState,
}

/// Reads the `key:value` fields of Appendix B text. Keys may contain a space
/// (`submit date:`); values run to the next space, except `text:` which runs to the end.
fn text_field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let lower = text.to_ascii_lowercase();
    let needle = format!("{key}:");
    let mut from = 0;
    while let Some(pos) = lower[from..].find(&needle) {
        let at = from + pos;
        // must start a field: beginning of text or after a space
        if at == 0 || lower.as_bytes()[at - 1] == b' ' {
            let start = at + needle.len();
            let rest = &text[start..];
            let end = rest.find(' ').unwrap_or(rest.len());
            return Some(&rest[..end]);
        }
        from = at + needle.len();
    }
    None
}

impl Receipt {
    /// Builds a receipt from a deliver_sm's text and TLVs. TLVs win where both are present,
    /// because they are typed; text fills what the TLVs lack.
    pub fn from_parts(
        text: &[u8],
        tlv_id: Option<&str>,
        tlv_state: Option<u8>,
    ) -> Result<Receipt, ReceiptError> {
        let text = String::from_utf8_lossy(text);
        let id = match tlv_id {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => text_field(&text, "id")
                .filter(|s| !s.is_empty())
                .ok_or(ReceiptError::NoId)?
                .to_string(),
        };
        let stat = tlv_state
            .and_then(Stat::from_message_state)
            .or_else(|| text_field(&text, "stat").and_then(Stat::parse))
            .ok_or(ReceiptError::NoState)?;
        let err = text_field(&text, "err").unwrap_or("000").to_string();
        Ok(Receipt { id, stat, err })
    }
}

/// Renders a receipt's Appendix B text: `id:… sub:001 dlvrd:001 submit date:YYMMDDhhmm
/// done date:YYMMDDhhmm stat:… err:… text:` (the first 20 characters of the message text are
/// not echoed: tern never copies message text into receipts or logs).
pub fn format_receipt(id: &str, stat: Stat, err: &str, submit_ms: u64, done_ms: u64) -> String {
    use std::fmt::Write;
    // one buffer, written in place: this runs for every receipt tern sends
    let mut t = String::with_capacity(96 + id.len() + err.len());
    let dlvrd = if stat == Stat::Delivrd { "001" } else { "000" };
    t.push_str("id:");
    t.push_str(id);
    t.push_str(" sub:001 dlvrd:");
    t.push_str(dlvrd);
    t.push_str(" submit date:");
    write_smpp_date(&mut t, submit_ms);
    t.push_str(" done date:");
    write_smpp_date(&mut t, done_ms);
    // writing to a String cannot fail
    let _ = write!(t, " stat:{stat} err:{err:0>3} text:");
    t
}

/// `YYMMDDhhmm` in UTC for a Unix time in milliseconds.
pub fn smpp_date(unix_ms: u64) -> String {
    let mut s = String::with_capacity(10);
    write_smpp_date(&mut s, unix_ms);
    s
}

/// Appends [`smpp_date`]'s `YYMMDDhhmm` to `out`.
fn write_smpp_date(out: &mut String, unix_ms: u64) {
    let secs = unix_ms / 1000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    for v in [
        y.rem_euclid(100) as u64,
        u64::from(m),
        u64::from(d),
        sod / 3600,
        (sod % 3600) / 60,
    ] {
        // every field is below 100: two digits
        out.push(char::from(b'0' + (v / 10 % 10) as u8));
        out.push(char::from(b'0' + (v % 10) as u8));
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Converts a carrier's hex message id to the decimal form some carriers put in receipts
/// (the "decimal receipt ids" quirk). `None` if the id is not hex or too long for u128.
pub fn hex_id_as_decimal(hex: &str) -> Option<String> {
    if hex.is_empty() || hex.len() > 32 {
        return None;
    }
    u128::from_str_radix(hex, 16).ok().map(|v| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_appendix_b_text() {
        let t = b"id:0f3a9c sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 text:hello there";
        let r = Receipt::from_parts(t, None, None).unwrap();
        assert_eq!(
            r,
            Receipt {
                id: "0f3a9c".into(),
                stat: Stat::Delivrd,
                err: "000".into()
            }
        );
    }

    #[test]
    fn ids_are_exact_not_numeric() {
        let r = Receipt::from_parts(b"id:000123 stat:UNDELIV err:001", None, None).unwrap();
        assert_eq!(r.id, "000123");
        assert_eq!(r.stat, Stat::Undeliv);
        assert_eq!(r.err, "001");
    }

    #[test]
    fn tlvs_win_over_text() {
        let r = Receipt::from_parts(b"id:AAA stat:DELIVRD", Some("BBB"), Some(5)).unwrap();
        assert_eq!(r.id, "BBB");
        assert_eq!(r.stat, Stat::Undeliv);
        let r = Receipt::from_parts(b"", Some("X1"), Some(2)).unwrap();
        assert_eq!((r.id.as_str(), r.stat), ("X1", Stat::Delivrd));
    }

    #[test]
    fn text_key_must_start_a_field() {
        // "sid:" must not be read as "id:"
        let r = Receipt::from_parts(b"sid:999 id:42 stat:EXPIRED", None, None).unwrap();
        assert_eq!(r.id, "42");
        assert_eq!(r.stat, Stat::Expired);
    }

    #[test]
    fn missing_fields_are_errors() {
        assert_eq!(
            Receipt::from_parts(b"stat:DELIVRD", None, None),
            Err(ReceiptError::NoId)
        );
        assert_eq!(
            Receipt::from_parts(b"id:1 stat:WHAT", None, None),
            Err(ReceiptError::NoState)
        );
        assert_eq!(
            Receipt::from_parts(&[0xff, 0xfe], None, None),
            Err(ReceiptError::NoId)
        );
    }

    #[test]
    fn formats_what_it_reads() {
        let ms = 1_767_268_800_000; // 2026-01-01 12:00:00 UTC
        let t = format_receipt("00000000000000ff", Stat::Delivrd, "0", ms, ms + 60_000);
        assert_eq!(
            t,
            "id:00000000000000ff sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 stat:DELIVRD err:000 text:"
        );
        let r = Receipt::from_parts(t.as_bytes(), None, None).unwrap();
        assert_eq!((r.id.as_str(), r.stat), ("00000000000000ff", Stat::Delivrd));
    }

    #[test]
    fn message_state_round_trip() {
        for v in 1..=8 {
            assert_eq!(Stat::from_message_state(v).unwrap().message_state(), v);
        }
        assert_eq!(Stat::from_message_state(0), None);
        assert!(!Stat::Enroute.is_final());
    }

    #[test]
    fn decimal_quirk() {
        assert_eq!(hex_id_as_decimal("ff").as_deref(), Some("255"));
        assert_eq!(hex_id_as_decimal("0A").as_deref(), Some("10"));
        assert_eq!(hex_id_as_decimal("xyz"), None);
    }
}
