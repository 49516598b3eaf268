//! SMPP framing that survives bad input.
//!
//! rusmpp's `CommandCodec` ends the stream on the first PDU it cannot decode, and some PDU
//! bodies are decoded without regard to command_length, so trailing bytes desync it
//! (shared/notes/crates.md §2). [`SmppCodec`] cuts exactly one frame by its command_length
//! first and decodes only that frame: a bad body becomes a [`BadPdu`] the session answers,
//! and only a bad command_length (which loses the framing itself) is fatal.

use bytes::BytesMut;
use rusmpp::fields::SmppField;
use rusmpp::tokio_codec::{CommandCodec, DecodeError, EncodeError};
use rusmpp::{Command, CommandId, CommandStatus};
use tokio_util::codec::{Decoder, Encoder};

/// Largest PDU tern reads (DESIGN.md: a PDU over 64 KiB closes the session).
pub const MAX_PDU: usize = 64 * 1024;

/// A frame whose header was readable but whose body was not.
#[derive(Debug)]
pub struct BadPdu {
    /// command_id from the header.
    pub command_id: u32,
    /// command_status from the header (a response's answer, readable even when its
    /// body is not).
    pub command_status: u32,
    /// sequence_number from the header, so the answer can be matched.
    pub sequence_number: u32,
    /// What rusmpp said.
    pub error: rusmpp::decode::DecodeError,
}

impl BadPdu {
    /// The field that failed to decode, if rusmpp named one (innermost wins).
    pub fn field(&self) -> Option<SmppField> {
        let mut field = None;
        let mut e = &self.error;
        while let Some(src) = e.source() {
            field = Some(src.field());
            e = src.error();
        }
        field
    }

    /// The status to answer this bad PDU with.
    pub fn status(&self) -> CommandStatus {
        let id = CommandId::from(self.command_id);
        match (id, self.field()) {
            (
                CommandId::BindTransmitter | CommandId::BindReceiver | CommandId::BindTransceiver,
                _,
            ) => {
                // an over-long system_id or password is simply a failed login: no enumeration
                CommandStatus::EsmeRinvpaswd
            }
            (_, Some(SmppField::destination_addr)) => CommandStatus::EsmeRinvdstadr,
            (_, Some(SmppField::source_addr)) => CommandStatus::EsmeRinvsrcadr,
            (_, Some(SmppField::short_message | SmppField::sm_length)) => {
                CommandStatus::EsmeRinvmsglen
            }
            (_, Some(SmppField::service_type)) => CommandStatus::EsmeRinvsertyp,
            (_, Some(SmppField::schedule_delivery_time)) => CommandStatus::EsmeRinvsched,
            (_, Some(SmppField::validity_period)) => CommandStatus::EsmeRinvexpiry,
            (_, Some(SmppField::tlvs)) => CommandStatus::EsmeRinvtlvstream,
            _ => CommandStatus::EsmeRinvcmdlen,
        }
    }
}

/// What one read from an SMPP socket yields: a command, or a frame that did not decode.
pub type Frame = Result<Command, BadPdu>;

/// Frames exactly one PDU by command_length, then decodes it with rusmpp.
#[derive(Debug)]
pub struct SmppCodec {
    inner: CommandCodec,
    max_len: usize,
}

impl Default for SmppCodec {
    fn default() -> Self {
        SmppCodec::new(MAX_PDU)
    }
}

impl SmppCodec {
    /// A codec refusing frames longer than `max_len`.
    pub fn new(max_len: usize) -> Self {
        SmppCodec {
            inner: CommandCodec::new().with_max_length(max_len),
            max_len,
        }
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl Decoder for SmppCodec {
    type Item = Frame;
    type Error = DecodeError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        if src.len() < 16 {
            return Ok(None);
        }
        let len = be_u32(src, 0) as usize;
        if len < 16 {
            return Err(DecodeError::MinLength {
                actual: len,
                min: 16,
            });
        }
        if len > self.max_len {
            return Err(DecodeError::MaxLength {
                actual: len,
                max: self.max_len,
            });
        }
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        let mut frame = src.split_to(len);
        let command_id = be_u32(&frame, 4);
        let command_status = be_u32(&frame, 8);
        let sequence_number = be_u32(&frame, 12);
        match self.inner.decode(&mut frame) {
            Ok(Some(cmd)) => Ok(Some(Ok(cmd))),
            // The frame is complete, so the inner codec cannot ask for more; if it ever
            // does, treat the frame as malformed rather than trusting it.
            Ok(None) => Ok(Some(Err(BadPdu {
                command_id,
                command_status,
                sequence_number,
                error: rusmpp::decode::DecodeError::unexpected_eof(),
            }))),
            Err(DecodeError::Decode(error)) => Ok(Some(Err(BadPdu {
                command_id,
                command_status,
                sequence_number,
                error,
            }))),
            Err(_) => Ok(Some(Err(BadPdu {
                command_id,
                command_status,
                sequence_number,
                error: rusmpp::decode::DecodeError::unexpected_eof(),
            }))),
        }
    }
}

impl Encoder<Command> for SmppCodec {
    type Error = EncodeError;

    fn encode(&mut self, c: Command, dst: &mut BytesMut) -> Result<(), EncodeError> {
        self.inner.encode(&c, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    fn raw(id: u32, seq: u32, body: &[u8]) -> BytesMut {
        let mut b = BytesMut::new();
        b.put_u32(16 + body.len() as u32);
        b.put_u32(id);
        b.put_u32(0);
        b.put_u32(seq);
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn bad_body_does_not_end_the_stream() {
        let mut c = SmppCodec::default();
        // submit_sm whose destination is 30 digits (max 20)
        let mut body = vec![0u8, 1, 1, b'A', 0, 1, 1];
        body.extend_from_slice(&[b'9'; 30]);
        body.push(0);
        let mut buf = raw(0x04, 21, &body);
        buf.extend_from_slice(&raw(0x15, 22, &[]));
        let bad = c.decode(&mut buf).unwrap().unwrap().unwrap_err();
        assert_eq!(bad.sequence_number, 21);
        assert_eq!(bad.status(), CommandStatus::EsmeRinvdstadr);
        let ok = c.decode(&mut buf).unwrap().unwrap().unwrap();
        assert_eq!(ok.id(), CommandId::EnquireLink);
        assert_eq!(ok.sequence_number(), 22);
        assert!(buf.is_empty());
    }

    #[test]
    fn trailing_bytes_inside_a_frame_do_not_desync() {
        let mut c = SmppCodec::default();
        let mut body = b"sys\0pw\0\0\x34\x00\x00\0".to_vec();
        body.extend_from_slice(&[0xde, 0xad, 0xbe]);
        let mut buf = raw(0x02, 1, &body);
        buf.extend_from_slice(&raw(0x15, 2, &[]));
        let _first = c.decode(&mut buf).unwrap().unwrap();
        let second = c.decode(&mut buf).unwrap().unwrap().unwrap();
        assert_eq!(second.id(), CommandId::EnquireLink);
    }

    #[test]
    fn partial_frames_wait_and_bad_lengths_are_fatal() {
        let mut c = SmppCodec::default();
        let full = raw(0x15, 9, &[]);
        let mut part = BytesMut::from(&full[..10]);
        assert!(c.decode(&mut part).unwrap().is_none());
        part.extend_from_slice(&full[10..]);
        assert!(c.decode(&mut part).unwrap().unwrap().is_ok());

        let mut tiny = BytesMut::from(&[0u8, 0, 0, 8, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1][..]);
        assert!(c.decode(&mut tiny).is_err());
        let mut huge = BytesMut::new();
        huge.put_u32(MAX_PDU as u32 + 1);
        huge.extend_from_slice(&[0; 12]);
        assert!(c.decode(&mut huge).is_err());
    }

    #[test]
    fn bad_bind_answers_invalid_password() {
        let mut c = SmppCodec::default();
        let mut body = vec![b'x'; 40]; // system_id far over 15
        body.extend_from_slice(&[0, 0, 0, 0x34, 0, 0, 0]);
        let mut buf = raw(0x09, 3, &body);
        let bad = c.decode(&mut buf).unwrap().unwrap().unwrap_err();
        assert_eq!(bad.status(), CommandStatus::EsmeRinvpaswd);
    }
}
