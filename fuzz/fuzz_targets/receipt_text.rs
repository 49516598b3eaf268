//! The receipt parser: any deliver_sm text and TLVs give a receipt or an error, never a
//! panic; and a receipt tern writes reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern::domain::dlr::{Receipt, Stat, format_receipt};

fuzz_target!(|input: (&[u8], Option<&str>, Option<u8>, &str, u8)| {
    let (text, tlv_id, tlv_state, id, stat) = input;
    let _ = Receipt::from_parts(text, tlv_id, tlv_state);
    // the round trip: an id as tern writes them (no spaces, not empty)
    let stat = Stat::from_message_state(stat % 9).unwrap_or(Stat::Delivrd);
    if !id.is_empty() && !id.contains(char::is_whitespace) && !id.contains(':') {
        let written = format_receipt(id, stat, "000", 0, 0);
        let back = Receipt::from_parts(written.as_bytes(), None, None).expect("own receipt");
        assert_eq!(back.id, id);
        assert_eq!(back.stat, stat);
    }
});
