//! cancel_sm and replace_sm: which stored messages an ESME may still change, and the
//! submit_sm a replace_sm makes of the one it replaces. The change itself happens at the
//! message's router shard, which claims the message before any carrier can
//! (`actors/router.rs`).

use rusmpp::CommandStatus;
use rusmpp::pdus::{ReplaceSm, SubmitSm};

use crate::domain::encoding::{UDHI, parts};
use crate::domain::message::MessageState;
use crate::store::messages::MessageRecord;

/// Whether `account` may cancel or replace `rec` (its `source`, when the request names
/// one, must be the message's): its own, not yet handed to a carrier, not a part of a
/// message tern split (the other parts would go on).
pub fn changeable(rec: &MessageRecord, account: &str, source: &str) -> bool {
    rec.meta.account == account
        && (source.is_empty() || source == rec.meta.source)
        && rec.meta.part_of.is_none()
        && rec.state() == MessageState::Accepted
}

/// The submit_sm `old` becomes with `r`'s text (short_message, or message_payload) and
/// sm_default_msg_id. Everything else is kept as first submitted, so the message is
/// charged, routed, timed and receipted as accepted: refused
/// (ESME_RREPLACEFAIL) when the new text would need another number of parts than
/// `charged_parts`.
pub fn replaced(
    old: &SubmitSm,
    r: &ReplaceSm,
    charged_parts: u32,
) -> Result<SubmitSm, CommandStatus> {
    let mut sm = old.clone();
    sm.sm_default_msg_id = r.sm_default_msg_id;
    let has_payload = old
        .tlvs()
        .iter()
        .any(|t| t.tag() == rusmpp::tlvs::TlvTag::MessagePayload);
    let octets: Vec<u8> = match (r.message_payload(), has_payload) {
        (Some(p), true) => {
            let value = p.value.as_ref().to_vec();
            let tlvs =
                super::pdu::request_tlvs(old.tlvs(), &[rusmpp::tlvs::TlvTag::MessagePayload]);
            sm.set_tlvs(tlvs);
            sm.push_tlv(rusmpp::tlvs::MessageSubmissionRequestTlvValue::MessagePayload(p.clone()));
            value
        }
        (None, false) => {
            sm.set_short_message(r.short_message().clone());
            r.short_message().as_ref().to_vec()
        }
        // text moving between short_message and message_payload: not as accepted
        _ => return Err(CommandStatus::EsmeRreplacefail),
    };
    let udh = u8::from(sm.esm_class) & UDHI != 0;
    if parts(&octets, u8::from(sm.data_coding), udh) != charged_parts {
        return Err(CommandStatus::EsmeRreplacefail);
    }
    Ok(sm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::message::{Event, MessageMeta};
    use rusmpp::types::{COctetString, OctetString};

    fn old() -> SubmitSm {
        let mut sm = SubmitSm::builder()
            .source_addr(COctetString::from_string("ACME".into()).unwrap())
            .destination_addr(COctetString::from_string("491701234567".into()).unwrap())
            .build();
        sm.set_short_message(OctetString::from_vec(b"first".to_vec()).unwrap());
        sm
    }

    fn replace(text: &[u8]) -> ReplaceSm {
        let mut r = ReplaceSm::builder().build();
        r.set_short_message(OctetString::from_vec(text.to_vec()).unwrap());
        r
    }

    #[test]
    fn the_new_text_replaces_the_old_and_the_rest_stays() {
        let sm = replaced(&old(), &replace(b"second"), 1).unwrap();
        assert_eq!(sm.short_message().as_ref(), b"second");
        assert_eq!(sm.destination_addr.to_string(), "491701234567");
        // 161 GSM characters need two parts: not what was charged
        assert_eq!(
            replaced(&old(), &replace(&[b'x'; 161]), 1).unwrap_err(),
            CommandStatus::EsmeRreplacefail
        );
    }

    #[test]
    fn only_an_unsent_whole_message_of_ones_own_may_change() {
        let mut rec = MessageRecord {
            meta: MessageMeta::sample(),
            pdu: Vec::new(),
            events: Vec::new(),
        };
        let (account, source) = (rec.meta.account.clone(), rec.meta.source.clone());
        assert!(changeable(&rec, &account, ""));
        assert!(changeable(&rec, &account, &source));
        assert!(!changeable(&rec, "someone else", ""));
        assert!(!changeable(&rec, &account, "OTHER"));
        rec.events.push(Event {
            at_ms: 1,
            state: MessageState::Submitted {
                carrier: "c".into(),
                carrier_id: "1".into(),
            },
        });
        assert!(!changeable(&rec, &account, ""), "a carrier has it");
    }
}
