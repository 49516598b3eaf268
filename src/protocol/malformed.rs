//! How an SMSC answers a PDU from an ESME that did not decode: the status says what was
//! wrong with it (its field, from [`BadPdu::status`]) unless the bind state makes it wrong
//! anyway, and the answer is the response the ESME waits for, so its window moves on.

use rusmpp::{CommandId, CommandStatus};

use super::codec::BadPdu;

/// The ESME's bind, as far as answering a malformed PDU goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindView {
    /// Not bound yet.
    Unbound,
    /// Bound as a receiver: it may not submit.
    Receiver,
    /// Bound as a transmitter or transceiver.
    Sender,
}

/// What to do with a malformed PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// A deliver_sm_resp that did not decode: the receipt counts as not taken.
    FailedDeliverSmResp,
    /// Another response: nothing to answer.
    Ignore,
    /// generic_nack with this status (a command_id SMPP does not have).
    GenericNack(CommandStatus),
    /// A submit_sm refused with this status, as any refused submit is.
    RefuseSubmit(CommandStatus),
    /// The operation's own response, with this status.
    ErrorResp(CommandId, CommandStatus),
}

fn is_bind(id: CommandId) -> bool {
    matches!(
        id,
        CommandId::BindTransmitter | CommandId::BindReceiver | CommandId::BindTransceiver
    )
}

/// The answer to `bad` from an ESME whose bind is `bind`.
pub fn answer(bad: &BadPdu, bind: BindView) -> Malformed {
    let id = CommandId::from(bad.command_id);
    if id.is_response() {
        return if id == CommandId::DeliverSmResp {
            Malformed::FailedDeliverSmResp
        } else {
            Malformed::Ignore
        };
    }
    if matches!(id, CommandId::Other(_)) {
        return Malformed::GenericNack(CommandStatus::EsmeRinvcmdid);
    }
    let status = match bind {
        BindView::Unbound if !is_bind(id) => CommandStatus::EsmeRinvbndsts,
        BindView::Receiver | BindView::Sender if is_bind(id) => CommandStatus::EsmeRalybnd,
        BindView::Receiver if id == CommandId::SubmitSm => CommandStatus::EsmeRinvbndsts,
        _ => bad.status(),
    };
    if id == CommandId::SubmitSm && bind != BindView::Unbound {
        return Malformed::RefuseSubmit(status);
    }
    Malformed::ErrorResp(id.matching_response(), status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::codec::SmppCodec;
    use tokio_util::codec::Decoder;

    /// A submit_sm whose destination_addr is 30 digits (at most 21 bytes in SMPP 3.4).
    fn bad_submit() -> BadPdu {
        let mut body = Vec::new();
        body.extend_from_slice(b"\0"); // service_type
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(b"ACME\0");
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(&[b'4'; 30]);
        body.push(0);
        body.extend_from_slice(&[0, 0, 0]);
        body.extend_from_slice(b"\0\0");
        body.extend_from_slice(&[1, 0, 0, 0, 1, b'x']);
        let mut pdu = Vec::new();
        pdu.extend_from_slice(&((16 + body.len()) as u32).to_be_bytes());
        pdu.extend_from_slice(&0x0000_0004u32.to_be_bytes());
        pdu.extend_from_slice(&0u32.to_be_bytes());
        pdu.extend_from_slice(&7u32.to_be_bytes());
        pdu.extend_from_slice(&body);
        let mut buf = bytes::BytesMut::from(&pdu[..]);
        match SmppCodec::default().decode(&mut buf) {
            Ok(Some(Err(bad))) => bad,
            other => panic!("expected a malformed submit_sm, got {other:?}"),
        }
    }

    #[test]
    fn a_bad_submit_is_refused_by_what_was_wrong_or_by_the_bind() {
        let bad = bad_submit();
        assert_eq!(
            answer(&bad, BindView::Sender),
            Malformed::RefuseSubmit(CommandStatus::EsmeRinvdstadr)
        );
        assert_eq!(
            answer(&bad, BindView::Receiver),
            Malformed::RefuseSubmit(CommandStatus::EsmeRinvbndsts)
        );
        assert_eq!(
            answer(&bad, BindView::Unbound),
            Malformed::ErrorResp(CommandId::SubmitSmResp, CommandStatus::EsmeRinvbndsts)
        );
    }

    #[test]
    fn unknown_commands_are_nacked_and_responses_not_answered() {
        let mut bad = bad_submit();
        bad.command_id = 0x0000_0666;
        assert_eq!(
            answer(&bad, BindView::Sender),
            Malformed::GenericNack(CommandStatus::EsmeRinvcmdid)
        );
        bad.command_id = 0x8000_0005;
        assert_eq!(
            answer(&bad, BindView::Sender),
            Malformed::FailedDeliverSmResp
        );
        bad.command_id = 0x8000_0015;
        assert_eq!(answer(&bad, BindView::Sender), Malformed::Ignore);
        bad.command_id = 0x0000_0009;
        assert_eq!(
            answer(&bad, BindView::Sender),
            Malformed::ErrorResp(CommandId::BindTransceiverResp, CommandStatus::EsmeRalybnd)
        );
    }
}
