//! The journal's record decoding: any bytes in a segment (last or not) give batches, a torn
//! tail or an error naming the damage; never a panic. A batch read back encodes to bytes
//! that read back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern::store::journal::{decode_batch, encode_batch, read_segment};

fuzz_target!(|data: &[u8]| {
    for last in [true, false] {
        if let Ok((batches, _torn)) = read_segment(data, last, "fuzz") {
            for b in batches {
                let mut out = Vec::new();
                encode_batch(&b, &mut out);
                let again = decode_batch(&out).expect("own encoding");
                assert_eq!(format!("{:?}", again.ops), format!("{:?}", b.ops));
            }
        }
    }
    let _ = decode_batch(data);
});
