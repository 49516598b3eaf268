//! Builders for the PDUs tern sends, on top of rusmpp's types.

use rusmpp::command::CommandParts;
use rusmpp::pdus::{DeliverSm, SubmitSm, SubmitSmResp};
use rusmpp::tlvs::MessageDeliveryRequestTlvValue;
use rusmpp::types::{COctetString, OctetString};
use rusmpp::values::{EsmClass, MessageState, Npi, RegisteredDelivery, Ton};
use rusmpp::{Command, CommandId, CommandStatus, Pdu};

use crate::domain::dlr::Stat;

/// A response with an error status and no body (SMPP 3.4 §3.3: bodies are omitted on error).
pub fn error_resp(id: CommandId, status: CommandStatus, seq: u32) -> Command {
    Command::from_parts(CommandParts::new(id, status, seq, None))
}

/// generic_nack with `status`.
pub fn generic_nack(status: CommandStatus, seq: u32) -> Command {
    Command::new(status, seq, Pdu::GenericNack)
}

/// data_sm_resp OK carrying tern's message id.
pub fn data_sm_resp_ok(seq: u32, message_id: &str) -> Command {
    // tern ids are 16 hex digits, always a valid C-string of at most 64 characters.
    let id = COctetString::from_string(message_id.to_string()).unwrap_or_default();
    Command::new(
        CommandStatus::EsmeRok,
        seq,
        rusmpp::pdus::DataSmResp::builder().message_id(id).build(),
    )
}

/// The submit_sm a data_sm amounts to: the same addresses, esm_class,
/// registered_delivery, data_coding and TLVs (its text in message_payload), an empty
/// short_message.
pub fn submit_from_data_sm(d: &rusmpp::pdus::DataSm) -> SubmitSm {
    SubmitSm::builder()
        .service_type(d.service_type.clone())
        .source_addr_ton(d.source_addr_ton)
        .source_addr_npi(d.source_addr_npi)
        .source_addr(d.source_addr.clone())
        .dest_addr_ton(d.dest_addr_ton)
        .dest_addr_npi(d.dest_addr_npi)
        .destination_addr(d.destination_addr.clone())
        .esm_class(d.esm_class)
        .registered_delivery(d.registered_delivery)
        .data_coding(d.data_coding)
        .tlvs(request_tlvs(d.tlvs(), &[]))
        .build()
}

/// submit_sm_resp OK carrying tern's message id.
pub fn submit_sm_resp_ok(seq: u32, message_id: &str) -> Command {
    // tern ids are 16 hex digits, always a valid C-string of at most 64 characters.
    let id = COctetString::from_string(message_id.to_string()).unwrap_or_default();
    Command::new(
        CommandStatus::EsmeRok,
        seq,
        SubmitSmResp::builder().message_id(id).build(),
    )
}

/// An address as a rusmpp C-string, empty if it is not representable.
pub fn c_addr(s: &str) -> COctetString<1, 21> {
    COctetString::from_string(s.to_string()).unwrap_or_default()
}

/// The rusmpp message state for a receipt stat.
pub fn message_state(stat: Stat) -> MessageState {
    MessageState::from(stat.message_state())
}

/// A receipt deliver_sm for an ESME: from the message's destination to its source, esm_class
/// 0x04, Appendix B text, and the receipted_message_id and message_state TLVs.
#[allow(clippy::too_many_arguments)]
pub fn receipt_deliver_sm(
    seq: u32,
    tern_id: &str,
    from: &str,
    to: &str,
    to_ton: u8,
    to_npi: u8,
    stat: Stat,
    text: String,
) -> Command {
    let sm = OctetString::from_vec(text.into_bytes()).unwrap_or_default();
    let mut d = DeliverSm::builder()
        .source_addr_ton(Ton::International)
        .source_addr_npi(Npi::Isdn)
        .source_addr(c_addr(from))
        .dest_addr_ton(Ton::from(to_ton))
        .dest_addr_npi(Npi::from(to_npi))
        .destination_addr(c_addr(to))
        .esm_class(EsmClass::from(0x04u8))
        .registered_delivery(RegisteredDelivery::from(0u8))
        .short_message(sm)
        .build();
    if let Ok(id) = COctetString::from_string(tern_id.to_string()) {
        d.push_tlv(MessageDeliveryRequestTlvValue::ReceiptedMessageId(id));
    }
    d.push_tlv(MessageDeliveryRequestTlvValue::MessageState(message_state(
        stat,
    )));
    Command::new(CommandStatus::EsmeRok, seq, d)
}

/// The submit_sm tern forwards to a carrier: the ESME's PDU unchanged (TLVs, data_coding,
/// esm_class, UDH) except registered_delivery, which always asks for a receipt.
pub fn forward_submit_sm(mut sm: SubmitSm, seq: u32) -> Command {
    let rd = u8::from(sm.registered_delivery);
    sm.registered_delivery = RegisteredDelivery::from((rd & !0x03) | 0x01);
    Command::new(CommandStatus::EsmeRok, seq, sm)
}

/// A submit_sm tern makes for one part of a message it was given as text (customer API):
/// `short_message` as split (with its UDH when `esm_class` has UDHI), a relative
/// `validity` (`YYMMDDhhmmss000R`) when the client gave one, a receipt asked for.
/// `None` when a field cannot be an SMPP field (checked before: addresses of at most 15
/// characters, at most 140 octets of short_message).
pub fn text_submit_sm(
    source: (&str, u8, u8),
    dest: &str,
    data_coding: u8,
    esm_class: u8,
    short_message: Vec<u8>,
    validity: Option<&str>,
) -> Option<SubmitSm> {
    let mut sm = SubmitSm::builder()
        .source_addr_ton(Ton::from(source.1))
        .source_addr_npi(Npi::from(source.2))
        .source_addr(COctetString::from_string(source.0.to_string()).ok()?)
        .dest_addr_ton(Ton::International)
        .dest_addr_npi(Npi::Isdn)
        .destination_addr(COctetString::from_string(dest.to_string()).ok()?)
        .esm_class(EsmClass::from(esm_class))
        .registered_delivery(RegisteredDelivery::from(0x01u8))
        .data_coding(rusmpp::values::DataCoding::from(data_coding))
        .short_message(OctetString::from_vec(short_message).ok()?)
        .build();
    if let Some(v) = validity {
        sm.validity_period =
            rusmpp::types::EmptyOrFullCOctetString::from_vec(format!("{v}\0").into_bytes()).ok()?;
    }
    Some(sm)
}

/// query_sm_resp OK: the message's state, the time it ended (an absolute SMPP time, empty
/// while it has not) and its error code.
pub fn query_sm_resp(
    seq: u32,
    message_id: &str,
    message_state: u8,
    final_ms: Option<u64>,
    error_code: u8,
) -> Command {
    let final_date = final_ms
        .map(crate::domain::validity::absolute)
        .and_then(|t| {
            rusmpp::types::EmptyOrFullCOctetString::from_vec(format!("{t}\0").into_bytes()).ok()
        })
        .unwrap_or_default();
    let resp = rusmpp::pdus::QuerySmResp::builder()
        // the id the ESME asked about, which it sent as a valid C-string
        .message_id(COctetString::from_string(message_id.to_string()).unwrap_or_default())
        .final_date(final_date)
        .message_state(MessageState::from(message_state))
        .error_code(error_code)
        .build();
    Command::new(CommandStatus::EsmeRok, seq, resp)
}

/// A part an ESME sent with SAR TLVs (sar_msg_ref_num, sar_total_segments,
/// sar_segment_seqnum), made into the same part joined by a UDH instead, for a carrier
/// that reassembles by UDH only (`concatenation = "udh"`): the header (8-bit reference
/// when the SAR reference fits a byte, else 16-bit, so every part of one message gets the
/// same kind) goes in front of short_message, esm_class gains UDHI, the SAR TLVs go and
/// every other TLV stays. `None` when the PDU is not such a part, already has a UDH,
/// carries its text in message_payload, its SAR numbers do not make sense, or the part
/// with its header would not fit one SMS: it is then sent as the ESME sent it.
pub fn sar_to_udh(sm: &SubmitSm) -> Option<SubmitSm> {
    use rusmpp::tlvs::{TlvTag, TlvValue};
    let (mut reference, mut total, mut seq) = (None, None, None);
    for t in sm.tlvs() {
        match t.value() {
            Some(TlvValue::SarMsgRefNum(v)) => reference = Some(*v),
            Some(TlvValue::SarTotalSegments(v)) => total = Some(*v),
            Some(TlvValue::SarSegmentSeqnum(v)) => seq = Some(*v),
            // short_message and message_payload are never both set (SMPP 3.4 §5.3.2.32)
            Some(TlvValue::MessagePayload(_)) => return None,
            _ => {}
        }
    }
    let (reference, total, seq) = (reference?, total?, seq?);
    let esm_class = u8::from(sm.esm_class);
    if esm_class & crate::domain::encoding::UDHI != 0 {
        return None;
    }
    let kind = match u8::try_from(reference) {
        Ok(r) => crate::domain::encoding::Reference::Eight(r),
        Err(_) => crate::domain::encoding::Reference::Sixteen(reference),
    };
    let text = sm.short_message().as_ref();
    if !crate::domain::encoding::fits_with_udh(text.len(), u8::from(sm.data_coding), kind) {
        return None;
    }
    let mut short = kind.udh(total, seq)?;
    short.extend_from_slice(text);
    let mut out = sm.clone();
    out.set_short_message(OctetString::from_vec(short).ok()?);
    out.esm_class = EsmClass::from(esm_class | crate::domain::encoding::UDHI);
    let sar = [
        TlvTag::SarMsgRefNum,
        TlvTag::SarTotalSegments,
        TlvTag::SarSegmentSeqnum,
    ];
    out.set_tlvs(tlvs_without(sm, &sar));
    Some(out)
}

/// The submit_sm a carrier that reads short_message and UDH only
/// (`concatenation = "udh"`) gets for `sm`: a SAR part with a UDH instead ([`sar_to_udh`]),
/// or text in message_payload that fits one SMS moved to short_message. `None`: `sm` goes
/// as it is.
pub fn for_udh_carrier(sm: &SubmitSm) -> Option<SubmitSm> {
    sar_to_udh(sm).or_else(|| payload_to_short_message(sm))
}

/// The UDH parts of a submit_sm whose text is in message_payload and needs more than one
/// SMS, for a carrier that joins parts by UDH only: each is `sm` with one part (and its
/// header, all with `reference`) in short_message, esm_class UDHI and every TLV but the
/// payload. `None` when `sm` has no payload, has a UDH of its own, or fits one SMS.
pub fn payload_parts(
    sm: &SubmitSm,
    reference: crate::domain::encoding::Reference,
) -> Option<Vec<SubmitSm>> {
    use rusmpp::tlvs::{TlvTag, TlvValue};
    let payload = sm.tlvs().iter().find_map(|t| match t.value() {
        Some(TlvValue::MessagePayload(p)) => Some(p.value.as_ref()),
        _ => None,
    })?;
    let esm_class = u8::from(sm.esm_class);
    if esm_class & crate::domain::encoding::UDHI != 0 || has_sar(sm) {
        return None;
    }
    let parts =
        crate::domain::encoding::split(payload, u8::from(sm.data_coding), reference).ok()?;
    if parts.len() < 2 {
        return None;
    }
    let tlvs = tlvs_without(sm, &[TlvTag::MessagePayload]);
    parts
        .into_iter()
        .map(|short| {
            let mut part = sm.clone();
            part.set_short_message(OctetString::from_vec(short).ok()?);
            part.esm_class = EsmClass::from(esm_class | crate::domain::encoding::UDHI);
            // each part is its own message at the SMSC: none may replace another
            part.replace_if_present_flag = rusmpp::values::ReplaceIfPresentFlag::DoNotReplace;
            part.set_tlvs(tlvs.clone());
            Some(part)
        })
        .collect()
}

/// `sm` with the text of its message_payload in short_message, when it has no UDH and the
/// text fits one SMS; every other TLV kept.
fn payload_to_short_message(sm: &SubmitSm) -> Option<SubmitSm> {
    use rusmpp::tlvs::{TlvTag, TlvValue};
    let payload = sm.tlvs().iter().find_map(|t| match t.value() {
        Some(TlvValue::MessagePayload(p)) => Some(p.value.as_ref()),
        _ => None,
    })?;
    let esm_class = u8::from(sm.esm_class);
    let single = crate::domain::encoding::parts(payload, u8::from(sm.data_coding), false) == 1;
    if esm_class & crate::domain::encoding::UDHI != 0 || !single || has_sar(sm) {
        return None;
    }
    let mut out = sm.clone();
    out.set_short_message(OctetString::from_vec(payload.to_vec()).ok()?);
    out.set_tlvs(tlvs_without(sm, &[TlvTag::MessagePayload]));
    Some(out)
}

/// Whether `sm` carries SAR TLVs (a part the ESME joined itself): such a PDU is never
/// split again or given a payload's text.
fn has_sar(sm: &SubmitSm) -> bool {
    sm.tlvs()
        .iter()
        .any(|t| t.tag() == rusmpp::tlvs::TlvTag::SarMsgRefNum)
}

/// `sm`'s TLVs but those tagged `drop`, each as its tag and encoded value (rusmpp writes
/// them back as they came).
fn tlvs_without(
    sm: &SubmitSm,
    drop: &[rusmpp::tlvs::TlvTag],
) -> Vec<rusmpp::tlvs::MessageSubmissionRequestTlvValue> {
    request_tlvs(sm.tlvs(), drop)
}

/// `tlvs` but those tagged `drop`, as a submission's TLVs (each its tag and encoded value).
pub(crate) fn request_tlvs(
    tlvs: &[rusmpp::tlvs::Tlv],
    drop: &[rusmpp::tlvs::TlvTag],
) -> Vec<rusmpp::tlvs::MessageSubmissionRequestTlvValue> {
    use rusmpp::encode::{Encode, Length};
    tlvs.iter()
        .filter(|t| !drop.contains(&t.tag()))
        .map(|t| {
            let value = match t.value() {
                Some(v) => {
                    let mut out = vec![0; v.length()];
                    v.encode(&mut out);
                    out
                }
                None => Vec::new(),
            };
            rusmpp::tlvs::MessageSubmissionRequestTlvValue::Other {
                tag: t.tag(),
                value: rusmpp::types::AnyOctetString::from_vec(value),
            }
        })
        .collect()
}

/// A command as bytes, as the codec writes it (what the store keeps of a PDU); `None` if
/// it cannot be encoded.
pub fn encode(cmd: &Command) -> Option<Vec<u8>> {
    let mut raw = bytes::BytesMut::new();
    tokio_util::codec::Encoder::encode(
        &mut rusmpp::tokio_codec::CommandCodec::new(),
        cmd,
        &mut raw,
    )
    .ok()?;
    Some(raw.to_vec())
}

/// Reads a C-string field as text (rusmpp only admits ASCII, so this never loses data).
pub fn text(s: &[u8]) -> String {
    String::from_utf8_lossy(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rusmpp::tokio_codec::CommandCodec;
    use tokio_util::codec::{Decoder, Encoder};

    fn round_trip(c: &Command) -> Command {
        let mut codec = CommandCodec::new();
        let mut b = BytesMut::new();
        codec.encode(c, &mut b).unwrap();
        codec.decode(&mut b).unwrap().unwrap()
    }

    #[test]
    fn error_resp_has_no_body() {
        let c = error_resp(CommandId::SubmitSmResp, CommandStatus::EsmeRthrottled, 7);
        let mut b = BytesMut::new();
        CommandCodec::new().encode(&c, &mut b).unwrap();
        assert_eq!(b.len(), 16);
        assert_eq!(&b[4..8], &0x8000_0004u32.to_be_bytes());
        assert_eq!(&b[8..12], &0x58u32.to_be_bytes());
    }

    #[test]
    fn forwarding_keeps_everything_but_asks_for_a_receipt() {
        let sm = SubmitSm::builder()
            .source_addr(c_addr("ACME"))
            .destination_addr(c_addr("491701234567"))
            .esm_class(EsmClass::from(0x40u8))
            .data_coding(rusmpp::values::DataCoding::from(0x08u8))
            .registered_delivery(RegisteredDelivery::from(0x10u8))
            .short_message(OctetString::from_vec(vec![5, 0, 3, 1, 2, 1, 0, 0x41]).unwrap())
            .build();
        let c = round_trip(&forward_submit_sm(sm.clone(), 3));
        let Some(Pdu::SubmitSm(f)) = c.pdu() else {
            panic!()
        };
        assert_eq!(u8::from(f.registered_delivery), 0x11);
        assert_eq!(u8::from(f.esm_class), 0x40);
        assert_eq!(u8::from(f.data_coding), 0x08);
        assert_eq!(f.short_message().as_ref(), sm.short_message().as_ref());
    }

    fn sar_part(reference: u16, total: u8, seq: u8) -> SubmitSm {
        use rusmpp::tlvs::MessageSubmissionRequestTlvValue as T;
        SubmitSm::builder()
            .source_addr(c_addr("ACME"))
            .destination_addr(c_addr("491701234567"))
            .short_message(OctetString::from_vec(b"part text".to_vec()).unwrap())
            .push_tlv(T::SourcePort(9200))
            .push_tlv(T::SarMsgRefNum(reference))
            .push_tlv(T::SarTotalSegments(total))
            .push_tlv(T::SarSegmentSeqnum(seq))
            .push_tlv(T::UserMessageReference(
                rusmpp::values::UserMessageReference::new(77),
            ))
            .build()
    }

    #[test]
    fn sar_parts_become_udh_parts_and_keep_their_other_tlvs() {
        use rusmpp::tlvs::{TlvTag, TlvValue};
        let u = sar_to_udh(&sar_part(0x42, 3, 2)).expect("a SAR part");
        let c = round_trip(&forward_submit_sm(u, 1));
        let Some(Pdu::SubmitSm(f)) = c.pdu() else {
            panic!()
        };
        assert_eq!(u8::from(f.esm_class) & 0x40, 0x40, "UDHI");
        assert_eq!(
            f.short_message().as_ref(),
            b"\x05\x00\x03\x42\x03\x02part text",
            "an 8-bit reference UDH in front of the text"
        );
        let tags: Vec<TlvTag> = f.tlvs().iter().map(|t| t.tag()).collect();
        assert_eq!(
            tags,
            [TlvTag::SourcePort, TlvTag::UserMessageReference],
            "the SAR TLVs go, the others stay in order"
        );
        assert!(
            matches!(f.tlvs()[0].value(), Some(TlvValue::SourcePort(9200))),
            "{:?}",
            f.tlvs()[0]
        );

        // a reference past 255: a 16-bit reference UDH
        let u = sar_to_udh(&sar_part(300, 2, 1)).expect("a SAR part");
        assert_eq!(
            &u.short_message().as_ref()[..7],
            &[0x06, 0x08, 0x04, 0x01, 0x2C, 0x02, 0x01]
        );
    }

    #[test]
    fn only_sane_sar_parts_are_changed() {
        assert!(sar_to_udh(&sar_part(1, 2, 3)).is_none(), "seq past total");
        assert!(sar_to_udh(&sar_part(1, 2, 0)).is_none(), "seq 0");
        let plain = SubmitSm::builder()
            .source_addr(c_addr("ACME"))
            .destination_addr(c_addr("491701234567"))
            .build();
        assert!(sar_to_udh(&plain).is_none(), "no SAR TLVs");
        let mut udh = sar_part(1, 2, 1);
        udh.esm_class = EsmClass::from(0x40u8);
        assert!(sar_to_udh(&udh).is_none(), "already has a UDH");
        let mut long = sar_part(1, 2, 1);
        long.set_short_message(OctetString::from_vec(vec![b'a'; 154]).unwrap());
        assert!(
            sar_to_udh(&long).is_none(),
            "154 GSM septets and a 7-septet header are more than 160"
        );
        long.set_short_message(OctetString::from_vec(vec![b'a'; 153]).unwrap());
        assert!(sar_to_udh(&long).is_some(), "153 and the header fit");
        let mut payload = sar_part(1, 2, 1);
        payload.push_tlv(
            rusmpp::tlvs::MessageSubmissionRequestTlvValue::MessagePayload(
                rusmpp::values::MessagePayload::new(rusmpp::types::AnyOctetString::from_vec(
                    b"text".to_vec(),
                )),
            ),
        );
        assert!(sar_to_udh(&payload).is_none(), "text in message_payload");
    }

    fn payload_sm(text: &[u8], esm_class: u8) -> SubmitSm {
        use rusmpp::tlvs::MessageSubmissionRequestTlvValue as T;
        SubmitSm::builder()
            .source_addr(c_addr("ACME"))
            .destination_addr(c_addr("491701234567"))
            .esm_class(EsmClass::from(esm_class))
            .push_tlv(T::SourcePort(9200))
            .push_tlv(T::MessagePayload(rusmpp::values::MessagePayload::new(
                rusmpp::types::AnyOctetString::from_vec(text.to_vec()),
            )))
            .build()
    }

    #[test]
    fn a_long_payload_becomes_udh_parts_with_its_other_tlvs() {
        use crate::domain::encoding::Reference;
        use rusmpp::tlvs::TlvTag;
        let parts = payload_parts(&payload_sm(&[b'a'; 400], 0), Reference::Eight(7))
            .expect("three SMS of text");
        assert_eq!(parts.len(), 3, "153 + 153 + 94 septets");
        for (i, p) in parts.iter().enumerate() {
            let c = round_trip(&forward_submit_sm(p.clone(), 1));
            let Some(Pdu::SubmitSm(f)) = c.pdu() else {
                panic!()
            };
            assert_eq!(u8::from(f.esm_class) & 0x40, 0x40);
            assert_eq!(
                &f.short_message().as_ref()[..6],
                &[0x05, 0x00, 0x03, 7, 3, i as u8 + 1]
            );
            let tags: Vec<TlvTag> = f.tlvs().iter().map(|t| t.tag()).collect();
            assert_eq!(tags, [TlvTag::SourcePort]);
        }
        let text: Vec<u8> = parts
            .iter()
            .flat_map(|p| p.short_message().as_ref()[6..].to_vec())
            .collect();
        assert_eq!(text, vec![b'a'; 400], "the parts hold the text, in order");
        assert!(payload_parts(&payload_sm(&[b'a'; 160], 0), Reference::Eight(7)).is_none());
        let mut sar = payload_sm(&[b'a'; 400], 0);
        sar.push_tlv(rusmpp::tlvs::MessageSubmissionRequestTlvValue::SarMsgRefNum(1));
        assert!(
            payload_parts(&sar, Reference::Eight(7)).is_none(),
            "a part the ESME joined itself is not split again"
        );
        let mut replace = payload_sm(&[b'a'; 400], 0);
        replace.replace_if_present_flag = rusmpp::values::ReplaceIfPresentFlag::Replace;
        let parts = payload_parts(&replace, Reference::Eight(7)).expect("parts");
        assert!(
            parts
                .iter()
                .all(|p| p.replace_if_present_flag
                    == rusmpp::values::ReplaceIfPresentFlag::DoNotReplace),
            "no part replaces another"
        );
    }

    #[test]
    fn a_udh_only_carrier_gets_one_sms_of_payload_in_short_message() {
        use rusmpp::tlvs::TlvTag;
        let moved = for_udh_carrier(&payload_sm(&[b'a'; 160], 0)).expect("fits one SMS");
        let c = round_trip(&forward_submit_sm(moved, 1));
        let Some(Pdu::SubmitSm(f)) = c.pdu() else {
            panic!()
        };
        assert_eq!(f.short_message().as_ref(), &[b'a'; 160][..]);
        let tags: Vec<TlvTag> = f.tlvs().iter().map(|t| t.tag()).collect();
        assert_eq!(
            tags,
            [TlvTag::SourcePort],
            "the payload TLV goes, the rest stays"
        );
        assert!(
            for_udh_carrier(&payload_sm(&[b'a'; 161], 0)).is_none(),
            "two SMS of payload go as sent (not split here)"
        );
        assert!(
            for_udh_carrier(&payload_sm(b"\x05\x00\x03\x01\x02\x01hi", 0x40)).is_none(),
            "a payload with its own UDH goes as sent"
        );
    }

    #[test]
    fn receipt_carries_id_in_text_and_tlvs() {
        let c = round_trip(&receipt_deliver_sm(
            1,
            "00000000000000ff",
            "4917",
            "ACME",
            5,
            0,
            Stat::Delivrd,
            "id:00000000000000ff stat:DELIVRD".to_string(),
        ));
        let Some(Pdu::DeliverSm(d)) = c.pdu() else {
            panic!()
        };
        assert_eq!(u8::from(d.esm_class), 0x04);
        let mut id = None;
        let mut st = None;
        for t in d.tlvs() {
            match t.value() {
                Some(rusmpp::tlvs::TlvValue::ReceiptedMessageId(v)) => id = Some(v.to_string()),
                Some(rusmpp::tlvs::TlvValue::MessageState(s)) => st = Some(u8::from(*s)),
                _ => {}
            }
        }
        assert_eq!(id.as_deref(), Some("00000000000000ff"));
        assert_eq!(st, Some(2));
    }
}
