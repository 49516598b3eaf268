//! Framing and PDU decoding: any bytes from the network become frames, bad PDUs (answered
//! with the SMPP error for them) or a framing error; never a panic. Every decoded command
//! encodes again, and what a bad PDU is answered with is built without a panic.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tern::protocol::codec::SmppCodec;
use tokio_util::codec::{Decoder, Encoder};

fuzz_target!(|data: &[u8]| {
    let mut codec = SmppCodec::default();
    let mut buf = BytesMut::from(data);
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(Ok(cmd))) => {
                let mut out = BytesMut::new();
                let _ = codec.encode(cmd, &mut out);
            }
            Ok(Some(Err(bad))) => {
                use tern::protocol::malformed::{BindView, answer};
                for view in [BindView::Unbound, BindView::Receiver, BindView::Sender] {
                    let _ = answer(&bad, view);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
});
