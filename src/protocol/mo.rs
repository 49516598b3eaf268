//! MO on the wire: reading a carrier's deliver_sm that is not a receipt, keeping it as
//! received, and the deliver_sm an ESME gets for it (the carrier's, with tern's sequence
//! number, esm_class 0x00 but its UDHI, no receipt asked for; data_coding, UDH and TLVs
//! unchanged). Also the MO the simulator sends, whole or in concatenated parts.

use bytes::BytesMut;
use rusmpp::pdus::DeliverSm;
use rusmpp::tlvs::{MessageDeliveryRequestTlvValue, TlvValue};
use rusmpp::tokio_codec::CommandCodec;
use rusmpp::types::OctetString;
use rusmpp::values::{EsmClass, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandStatus, Pdu};
use tokio_util::codec::Decoder;

use crate::domain::encoding::{Reference, UDHI};
use crate::domain::mo::{Concat, decode_text, read_udh};

use super::pdu::c_addr;

/// What tern reads of an MO's deliver_sm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoFields {
    /// The handset (source_addr).
    pub from: String,
    /// The number it wrote to (destination_addr).
    pub to: String,
    /// data_coding.
    pub data_coding: u8,
    /// Its place in a longer MO: from its UDH, else its SAR TLVs.
    pub concat: Option<Concat>,
    /// Its text's octets (without the UDH), as data_coding has them.
    pub octets: Vec<u8>,
    /// Its text, decoded.
    pub text: String,
}

/// Reads an MO's fields. Its text is short_message without the UDH, or message_payload
/// when short_message is empty.
pub fn read(d: &DeliverSm) -> MoFields {
    let dc = u8::from(d.data_coding);
    let mut short = d.short_message().as_ref();
    let mut concat = None;
    if u8::from(d.esm_class) & UDHI != 0 {
        match read_udh(short) {
            Some((c, len)) => {
                concat = c;
                short = &short[len.min(short.len())..];
            }
            None => short = &[],
        }
    }
    let (mut reference, mut total, mut seq) = (None, None, None);
    let mut payload = None;
    for t in d.tlvs() {
        match t.value() {
            Some(TlvValue::SarMsgRefNum(v)) => reference = Some(*v),
            Some(TlvValue::SarTotalSegments(v)) => total = Some(*v),
            Some(TlvValue::SarSegmentSeqnum(v)) => seq = Some(*v),
            Some(TlvValue::MessagePayload(p)) => payload = Some(p.value.as_ref()),
            _ => {}
        }
    }
    if concat.is_none()
        && let (Some(reference), Some(total), Some(seq)) = (reference, total, seq)
    {
        concat = Some(Concat {
            reference,
            total,
            seq,
        });
    }
    let octets = match payload {
        Some(p) if short.is_empty() => p,
        _ => short,
    };
    MoFields {
        from: d.source_addr.to_string(),
        to: d.destination_addr.to_string(),
        data_coding: dc,
        concat,
        text: decode_text(dc, octets),
        octets: octets.to_vec(),
    }
}

/// Reads a stored MO's deliver_sm (`pdu` as [`super::pdu::encode`] kept it).
pub fn read_stored(pdu: &[u8]) -> Option<MoFields> {
    match to_esme(pdu, 0)?.pdu() {
        Some(Pdu::DeliverSm(d)) => Some(read(d)),
        _ => None,
    }
}

/// The deliver_sm an ESME gets for a stored MO (`pdu` as [`super::pdu::encode`] kept it), sent as
/// sequence number `seq`. `None` if the stored bytes are not a deliver_sm.
pub fn to_esme(pdu: &[u8], seq: u32) -> Option<Command> {
    let mut raw = BytesMut::from(pdu);
    let cmd = CommandCodec::new()
        .with_max_length(super::codec::MAX_PDU)
        .decode(&mut raw)
        .ok()??;
    let Some(Pdu::DeliverSm(d)) = cmd.pdu() else {
        return None;
    };
    let mut d = d.clone();
    // a plain message (not a receipt); its UDH stays, so does its indicator
    d.esm_class = EsmClass::from(u8::from(d.esm_class) & UDHI);
    d.registered_delivery = RegisteredDelivery::from(0u8);
    Some(Command::new(CommandStatus::EsmeRok, seq, d))
}

/// How the simulator joins the parts of a long MO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Joined {
    /// UDH with an 8-bit reference.
    Udh8,
    /// UDH with a 16-bit reference.
    Udh16,
    /// SAR TLVs.
    Sar,
}

/// The deliver_sm a handset's MO arrives in from a carrier: one, or one per part of `text`
/// (GSM 03.38 when it fits, else UCS-2) joined as `joined` says with `reference`.
pub fn from_handset(
    from: &str,
    to: &str,
    text: &str,
    joined: Joined,
    reference: u16,
) -> Option<Vec<DeliverSm>> {
    let enc = crate::domain::encoding::encode_text(text);
    let kind = match joined {
        Joined::Udh16 => Reference::Sixteen(reference),
        _ => Reference::Eight(reference as u8),
    };
    let parts = crate::domain::encoding::split(&enc.octets, enc.data_coding, kind).ok()?;
    let total = u8::try_from(parts.len()).ok()?;
    let mut out = Vec::with_capacity(parts.len());
    for (part, seq) in parts.into_iter().zip(1..=total) {
        let (short, esm, sar) = match joined {
            _ if total == 1 => (part, 0, false),
            Joined::Sar => {
                // the same split, its header taken off again: SAR numbers carry the place
                let len = read_udh(&part).map_or(0, |(_, l)| l);
                (part[len..].to_vec(), 0, true)
            }
            _ => (part, UDHI, false),
        };
        let mut d = DeliverSm::builder()
            .source_addr_ton(Ton::International)
            .source_addr_npi(Npi::Isdn)
            .source_addr(c_addr(from))
            .dest_addr_ton(Ton::International)
            .dest_addr_npi(Npi::Isdn)
            .destination_addr(c_addr(to))
            .esm_class(EsmClass::from(esm))
            .data_coding(rusmpp::values::DataCoding::from(enc.data_coding))
            .short_message(OctetString::from_vec(short).ok()?)
            .build();
        if sar {
            d.push_tlv(MessageDeliveryRequestTlvValue::SarMsgRefNum(reference));
            d.push_tlv(MessageDeliveryRequestTlvValue::SarTotalSegments(total));
            d.push_tlv(MessageDeliveryRequestTlvValue::SarSegmentSeqnum(seq));
        }
        out.push(d);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(d: DeliverSm) -> (MoFields, Command) {
        let raw =
            crate::protocol::pdu::encode(&Command::new(CommandStatus::EsmeRok, 7, d)).unwrap();
        let out = to_esme(&raw, 42).unwrap();
        let Some(Pdu::DeliverSm(d)) = out.pdu() else {
            panic!("not a deliver_sm")
        };
        (read(d), out)
    }

    #[test]
    fn an_mo_reaches_the_esme_as_the_carrier_sent_it() {
        let d = from_handset("447700900123", "4478", "Hello", Joined::Udh8, 1)
            .unwrap()
            .remove(0);
        let (f, out) = round_trip(d);
        assert_eq!(out.sequence_number(), 42);
        assert_eq!(f.from, "447700900123");
        assert_eq!(f.to, "4478");
        assert_eq!(f.text, "Hello");
        assert_eq!(f.concat, None);
    }

    #[test]
    fn every_kind_of_concatenation_is_read_back_with_its_text() {
        let text = "x".repeat(200) + "€";
        for joined in [Joined::Udh8, Joined::Udh16, Joined::Sar] {
            let parts = from_handset("1", "2", &text, joined, 0x0102).unwrap();
            assert_eq!(parts.len(), 2, "{joined:?}");
            let mut got = String::new();
            for (i, d) in parts.into_iter().enumerate() {
                let (f, out) = round_trip(d);
                let c = f.concat.unwrap();
                assert_eq!((c.total, c.seq), (2, i as u8 + 1), "{joined:?}");
                let want_ref = if joined == Joined::Udh8 { 0x02 } else { 0x0102 };
                assert_eq!(c.reference, want_ref, "{joined:?}");
                let Some(Pdu::DeliverSm(d)) = out.pdu() else {
                    panic!()
                };
                let esm = u8::from(d.esm_class);
                assert_eq!(esm & !UDHI, 0, "a plain message to the ESME");
                assert_eq!(esm & UDHI != 0, joined != Joined::Sar);
                got.push_str(&f.text);
            }
            assert_eq!(got, text, "{joined:?}");
        }
    }

    #[test]
    fn text_in_message_payload_is_read() {
        let mut d = DeliverSm::builder()
            .source_addr(c_addr("1"))
            .destination_addr(c_addr("2"))
            .data_coding(rusmpp::values::DataCoding::from(8u8))
            .build();
        d.push_tlv(MessageDeliveryRequestTlvValue::MessagePayload(
            rusmpp::values::MessagePayload::new(rusmpp::types::AnyOctetString::from_vec(vec![
                0x00, 0x53, 0x00, 0x54, 0x00, 0x4F, 0x00, 0x50,
            ])),
        ));
        let (f, _) = round_trip(d);
        assert_eq!(f.text, "STOP");
    }

    #[test]
    fn stored_bytes_that_are_not_a_deliver_sm_give_nothing() {
        assert!(to_esme(b"\x00\x00\x00\x10garbage!", 1).is_none());
        let other = crate::protocol::pdu::encode(&Command::new(
            CommandStatus::EsmeRok,
            1,
            Pdu::EnquireLink,
        ))
        .unwrap();
        assert!(to_esme(&other, 1).is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(500))]
        /// Whatever a carrier sends as an MO, tern reads it without a panic, and the
        /// deliver_sm an ESME gets for it keeps its bytes.
        #[test]
        fn any_mo_is_read_and_passed_on(
            short in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..255),
            esm in proptest::prelude::any::<u8>(),
            dc in proptest::prelude::any::<u8>(),
            sar in proptest::option::of(proptest::prelude::any::<(u16, u8, u8)>()),
            payload in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)),
        ) {
            let mut d = DeliverSm::builder()
                .source_addr(c_addr("447700900123"))
                .destination_addr(c_addr("4478"))
                .esm_class(EsmClass::from(esm))
                .data_coding(rusmpp::values::DataCoding::from(dc))
                .short_message(OctetString::from_vec(short.clone()).unwrap())
                .build();
            if let Some((r, n, q)) = sar {
                d.push_tlv(MessageDeliveryRequestTlvValue::SarMsgRefNum(r));
                d.push_tlv(MessageDeliveryRequestTlvValue::SarTotalSegments(n));
                d.push_tlv(MessageDeliveryRequestTlvValue::SarSegmentSeqnum(q));
            }
            if let Some(p) = payload {
                d.push_tlv(MessageDeliveryRequestTlvValue::MessagePayload(
                    rusmpp::values::MessagePayload::new(rusmpp::types::AnyOctetString::from_vec(p)),
                ));
            }
            let _ = read(&d);
            let _ = read_udh(&short);
            let raw = crate::protocol::pdu::encode(&Command::new(CommandStatus::EsmeRok, 3, d)).unwrap();
            let out = to_esme(&raw, 9).unwrap();
            let Some(Pdu::DeliverSm(got)) = out.pdu() else { panic!("not a deliver_sm") };
            proptest::prop_assert_eq!(got.short_message().as_ref(), &short[..]);
            proptest::prop_assert_eq!(u8::from(got.esm_class), esm & UDHI);
            proptest::prop_assert_eq!(u8::from(got.data_coding), dc);
        }
    }
}
