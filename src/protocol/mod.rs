//! SMPP over rusmpp: framing that survives bad PDUs, a bounded writer, and PDU builders.

pub mod change;
pub mod codec;
pub mod deliver_window;
pub mod malformed;
pub mod mo;
pub mod multi;
pub mod pdu;
pub mod status;
pub mod tls;
pub mod writer;
