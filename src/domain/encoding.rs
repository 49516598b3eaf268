//! How text becomes octets on air and how many parts it takes: the alphabet a data_coding
//! implies, text encoded as GSM 03.38 when it fits and UCS-2 otherwise, and the split of a
//! long message into concatenated parts, each with its user data header (TS 23.040
//! §9.2.3.24.1 and .8).
//!
//! One splitter serves every path, so a message is billed for exactly the parts it is sent
//! as: a character never straddles two parts (a GSM escape pair stays whole, a UTF-16
//! surrogate pair stays whole). A PDU that carries its own UDH (esm_class UDHI) is one part
//! of a message its ESME split, and is billed as one.

use super::gsm;

/// data_coding of GSM 03.38 text (the SMSC default alphabet).
pub const DC_GSM7: u8 = 0x00;
/// data_coding of UCS-2 (UTF-16BE in practice: surrogate pairs are sent as they are).
pub const DC_UCS2: u8 = 0x08;
/// esm_class bit: short_message starts with a user data header.
pub const UDHI: u8 = 0x40;
/// The most parts a concatenated message may have (the UDH's count is one octet).
pub const MAX_PARTS: usize = 255;

/// The alphabet a data_coding value implies, for part counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// GSM 03.38 default alphabet, one octet per septet in SMPP: 160 per single part, 153 per part.
    Gsm7,
    /// 8-bit data and Latin-1 transmitted as octets: 140 octets single, 134 per part.
    Octets,
    /// UCS-2: 140 octets (70 characters) single, 134 octets (67 characters) per part.
    Ucs2,
}

impl Alphabet {
    /// Maps an SMPP data_coding octet to the alphabet the SMSC will use on air.
    pub fn from_data_coding(dc: u8) -> Alphabet {
        match dc {
            0x00 | 0x01 => Alphabet::Gsm7,
            0x08 => Alphabet::Ucs2,
            // Latin-1 (0x03) is converted to GSM 7-bit by most SMSCs: bill as GSM.
            0x03 => Alphabet::Gsm7,
            // GSM 03.38 data coding groups: bits 3..2 give the alphabet.
            0xF0..=0xFF => {
                if dc & 0x04 == 0 {
                    Alphabet::Gsm7
                } else {
                    Alphabet::Octets
                }
            }
            0x10..=0x7F => match (dc >> 2) & 0x03 {
                0 => Alphabet::Gsm7,
                2 => Alphabet::Ucs2,
                _ => Alphabet::Octets,
            },
            _ => Alphabet::Octets,
        }
    }

    /// Octets of text (septets for GSM) one part holds: alone, and beside a UDH of
    /// `udh_len` octets. GSM counts the header in septets, rounded up (its fill bits); UCS-2
    /// keeps whole characters.
    fn room(self, udh_len: usize) -> usize {
        match self {
            Alphabet::Gsm7 => 160 - (udh_len * 8).div_ceil(7),
            Alphabet::Octets => 140 - udh_len,
            Alphabet::Ucs2 => (140 - udh_len) & !1,
        }
    }

    /// Octets from `at` that must stay in one part: an escape with its code, a surrogate
    /// pair, else one character.
    fn unit(self, octets: &[u8], at: usize) -> usize {
        let n = match self {
            Alphabet::Gsm7 if octets[at] == gsm::ESCAPE => 2,
            Alphabet::Gsm7 | Alphabet::Octets => 1,
            Alphabet::Ucs2 if (0xD8..=0xDB).contains(&octets[at]) => 4,
            Alphabet::Ucs2 => 2,
        };
        // a broken last character (odd UCS-2, a lone escape) ends with the octets
        n.min(octets.len() - at)
    }
}

/// The reference number all parts of one concatenated message share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// Information element 0x00: an 8-bit reference (the usual one).
    Eight(u8),
    /// Information element 0x08: a 16-bit reference, for senders of many long messages
    /// to one handset at once.
    Sixteen(u16),
}

impl Reference {
    /// The UDH length in octets, its length octet included.
    fn udh_len(self) -> usize {
        match self {
            Reference::Eight(_) => 6,
            Reference::Sixteen(_) => 7,
        }
    }

    /// The UDH of part `seq` of `total` (rusmpp's concatenation header), its length octet
    /// first; `None` unless 1 ≤ `seq` ≤ `total`.
    pub fn udh(self, total: u8, seq: u8) -> Option<Vec<u8>> {
        use rusmpp::encode::{Encode, Length};
        use rusmpp::udhs::Udh;
        use rusmpp::udhs::concatenation::{
            ConcatenatedShortMessage8Bit, ConcatenatedShortMessage16Bit,
        };
        let udh = match self {
            Reference::Eight(r) => Udh::new(ConcatenatedShortMessage8Bit::new(r, total, seq).ok()?),
            Reference::Sixteen(r) => {
                Udh::new(ConcatenatedShortMessage16Bit::new(r, total, seq).ok()?)
            }
        };
        // Length::length: the whole header, its length octet included
        let mut out = vec![0; Length::length(&udh)];
        udh.encode(&mut out);
        Some(out)
    }
}

/// Whether `len` octets of a part (unpacked septets for GSM) fit one SMS beside the
/// concatenation header of `reference`.
pub fn fits_with_udh(len: usize, data_coding: u8, reference: Reference) -> bool {
    len <= Alphabet::from_data_coding(data_coding).room(reference.udh_len())
}

/// Text as SMPP carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// [`DC_GSM7`] or [`DC_UCS2`].
    pub data_coding: u8,
    /// Unpacked septets, or UTF-16BE.
    pub octets: Vec<u8>,
}

/// Encodes text as GSM 03.38 when every character is in the alphabet, else as UCS-2.
pub fn encode_text(text: &str) -> Encoded {
    match gsm::encode(text) {
        Some(octets) => Encoded {
            data_coding: DC_GSM7,
            octets,
        },
        None => Encoded {
            data_coding: DC_UCS2,
            octets: text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        },
    }
}

/// The message needs more than [`MAX_PARTS`] parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the message needs {0} parts; at most 255 can be joined")]
pub struct TooLong(pub usize);

/// The ranges of `octets` each part carries: one range when it fits a single part.
fn chunks(octets: &[u8], alphabet: Alphabet, udh_len: usize) -> Vec<std::ops::Range<usize>> {
    if octets.len() <= alphabet.room(0) {
        return std::iter::once(0..octets.len()).collect();
    }
    let room = alphabet.room(udh_len);
    let mut out = Vec::with_capacity(octets.len().div_ceil(room));
    let (mut start, mut at) = (0, 0);
    while at < octets.len() {
        let unit = alphabet.unit(octets, at);
        if at + unit - start > room {
            out.push(start..at);
            start = at;
        }
        at += unit;
    }
    out.push(start..at);
    out
}

/// The short_messages of a message: the octets alone when they fit one part, else each
/// part with its UDH (send those with esm_class [`UDHI`]).
pub fn split(
    octets: &[u8],
    data_coding: u8,
    reference: Reference,
) -> Result<Vec<Vec<u8>>, TooLong> {
    let alphabet = Alphabet::from_data_coding(data_coding);
    let ranges = chunks(octets, alphabet, reference.udh_len());
    if ranges.len() == 1 {
        return Ok(vec![octets.to_vec()]);
    }
    let total = u8::try_from(ranges.len()).map_err(|_| TooLong(ranges.len()))?;
    ranges
        .into_iter()
        .zip(1..=total)
        .map(|(r, seq)| {
            // 1 ≤ seq ≤ total by the zip, so a header is always made
            let mut sm = reference.udh(total, seq).ok_or(TooLong(0))?;
            sm.extend_from_slice(&octets[r]);
            Ok(sm)
        })
        .collect()
}

/// Number of parts a message of these octets needs on air (split with an 8-bit reference,
/// as tern and most SMSCs do). `has_udh`: the ESME already split it (esm_class bit 0x40), so
/// this PDU is exactly one part.
pub fn parts(octets: &[u8], data_coding: u8, has_udh: bool) -> u32 {
    if has_udh {
        return 1;
    }
    let alphabet = Alphabet::from_data_coding(data_coding);
    // at most 64 KiB of message_payload: the count fits
    chunks(octets, alphabet, Reference::Eight(0).udh_len()).len() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("test vector is hex"))
            .collect()
    }

    fn split_text(text: &str, r: Reference) -> (u8, Vec<Vec<u8>>) {
        let e = encode_text(text);
        (
            e.data_coding,
            split(&e.octets, e.data_coding, r).expect("fits"),
        )
    }

    /// Vectors from python smpplib 2.2's `gsm.make_parts` (reference fixed at 0x42), an
    /// independent splitter: where no character straddles a boundary, ours must agree.
    #[test]
    fn parts_match_smpplib_where_it_splits_correctly() {
        let cases: [(&str, u8, &[&str]); 5] = [
            (
                &("The quick brown fox jumps over the lazy dog. ".repeat(5))[..200],
                DC_GSM7,
                &[
                    "05000342020154686520717569636b2062726f776e20666f78206a756d7073206f76657220746865206c617a7920646f672e2054686520717569636b2062726f776e20666f78206a756d7073206f76657220746865206c617a7920646f672e2054686520717569636b2062726f776e20666f78206a756d7073206f76657220746865206c617a7920646f672e2054686520717569636b2062726f776e20666f",
                    "05000342020278206a756d7073206f76657220746865206c617a7920646f672e2054686520717569636b2062726f776e20666f7820",
                ],
            ),
            (
                &"Привет, мир! "
                    .repeat(8)
                    .chars()
                    .take(100)
                    .collect::<String>(),
                DC_UCS2,
                &[
                    "050003420201041f04400438043204350442002c0020043c0438044000210020041f04400438043204350442002c0020043c0438044000210020041f04400438043204350442002c0020043c0438044000210020041f04400438043204350442002c0020043c0438044000210020041f04400438043204350442002c0020043c0438044000210020041f0440",
                    "0500034202020438043204350442002c0020043c0438044000210020041f04400438043204350442002c0020043c0438044000210020041f04400438043204350442002c0020043c",
                ],
            ),
            (
                &"Price: 10€ each, {ok} "
                    .repeat(8)
                    .chars()
                    .take(170)
                    .collect::<String>(),
                DC_GSM7,
                &[
                    "05000342020150726963653a2031301b6520656163682c201b286f6b1b292050726963653a2031301b6520656163682c201b286f6b1b292050726963653a2031301b6520656163682c201b286f6b1b292050726963653a2031301b6520656163682c201b286f6b1b292050726963653a2031301b6520656163682c201b286f6b1b292050726963653a2031301b6520656163682c201b286f6b1b2920507269",
                    "05000342020263653a2031301b6520656163682c201b286f6b1b292050726963653a2031301b6520656163682c",
                ],
            ),
            (
                "Hello €uro [1]",
                DC_GSM7,
                &["48656c6c6f201b6575726f201b3c311b3e"],
            ),
            (
                &"Ж".repeat(71),
                DC_UCS2,
                &[
                    "0500034202010416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416041604160416",
                    "0500034202020416041604160416",
                ],
            ),
        ];
        for (text, dc, want) in cases {
            let (got_dc, got) = split_text(text, Reference::Eight(0x42));
            assert_eq!(got_dc, dc, "{text:?}");
            let want: Vec<Vec<u8>> = want.iter().map(|h| hex(h)).collect();
            assert_eq!(got, want, "{text:?}");
            assert_eq!(
                parts(&encode_text(text).octets, dc, false) as usize,
                want.len()
            );
        }
    }

    #[test]
    fn single_part_limits_are_160_gsm_and_70_ucs2() {
        assert_eq!(split_text(&"a".repeat(160), Reference::Eight(1)).1.len(), 1);
        assert_eq!(split_text(&"a".repeat(161), Reference::Eight(1)).1.len(), 2);
        assert_eq!(split_text(&"Ж".repeat(70), Reference::Eight(1)).1.len(), 1);
        assert_eq!(split_text(&"Ж".repeat(71), Reference::Eight(1)).1.len(), 2);
        // 80 euros are 160 septets: one part; 81 are two
        assert_eq!(split_text(&"€".repeat(80), Reference::Eight(1)).1.len(), 1);
        assert_eq!(split_text(&"€".repeat(81), Reference::Eight(1)).1.len(), 2);
    }

    #[test]
    fn concatenated_parts_hold_153_gsm_and_67_ucs2() {
        let (_, p) = split_text(&"a".repeat(306), Reference::Eight(1));
        assert_eq!(
            p.iter().map(|p| p.len() - 6).collect::<Vec<_>>(),
            [153, 153]
        );
        assert_eq!(split_text(&"a".repeat(307), Reference::Eight(1)).1.len(), 3);
        let (_, p) = split_text(&"Ж".repeat(134), Reference::Eight(1));
        assert_eq!(
            p.iter().map(|p| (p.len() - 6) / 2).collect::<Vec<_>>(),
            [67, 67]
        );
        // the seed's longest text: 1,530 GSM characters are ten parts
        assert_eq!(
            split_text(&"a".repeat(1530), Reference::Eight(1)).1.len(),
            10
        );
    }

    #[test]
    fn an_escape_pair_never_straddles_two_parts() {
        // 152 plain septets then a euro: the pair would be septets 153 and 154
        let text = format!("{}€{}", "a".repeat(152), "b".repeat(20));
        let (dc, p) = split_text(&text, Reference::Eight(7));
        assert_eq!(dc, DC_GSM7);
        assert_eq!(p[0].len() - 6, 152, "the euro moves to the next part whole");
        assert_eq!(&p[1][6..8], &[gsm::ESCAPE, 0x65]);
        let joined: Vec<u8> = p.iter().flat_map(|p| p[6..].to_vec()).collect();
        assert_eq!(gsm::decode(&joined), text);
    }

    #[test]
    fn a_surrogate_pair_never_straddles_two_parts() {
        // 66 UCS-2 units then an emoji (two units): it would be units 67 and 68
        let text = format!("{}😀{}", "Ж".repeat(66), "Ж".repeat(10));
        let (dc, p) = split_text(&text, Reference::Eight(7));
        assert_eq!(dc, DC_UCS2);
        assert_eq!(
            p[0].len() - 6,
            132,
            "the emoji moves to the next part whole"
        );
        for part in &p {
            let units: Vec<u16> = part[6..]
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).expect("each part is whole UTF-16 on its own");
        }
    }

    #[test]
    fn a_sixteen_bit_reference_makes_a_longer_header_and_smaller_parts() {
        let (_, p) = split_text(&"a".repeat(200), Reference::Sixteen(0xBEEF));
        assert_eq!(&p[0][..7], &[0x06, 0x08, 0x04, 0xBE, 0xEF, 0x02, 0x01]);
        assert_eq!(p[0].len() - 7, 152);
        assert_eq!(&p[1][..7], &[0x06, 0x08, 0x04, 0xBE, 0xEF, 0x02, 0x02]);
        let (_, p) = split_text(&"Ж".repeat(100), Reference::Sixteen(1));
        assert_eq!(p[0].len() - 7, 132, "UCS-2 parts keep whole characters");
    }

    #[test]
    fn more_than_255_parts_is_too_long() {
        let octets = vec![b'a'; 153 * 255];
        assert_eq!(
            split(&octets, DC_GSM7, Reference::Eight(1)).map(|p| p.len()),
            Ok(255)
        );
        let octets = vec![b'a'; 153 * 255 + 1];
        assert_eq!(
            split(&octets, DC_GSM7, Reference::Eight(1)),
            Err(TooLong(256))
        );
    }

    #[test]
    fn binary_octets_split_anywhere() {
        let octets = vec![0xD8; 141];
        let p = split(&octets, 0x04, Reference::Eight(1)).expect("fits");
        assert_eq!(p.iter().map(|p| p.len() - 6).collect::<Vec<_>>(), [134, 7]);
    }

    #[test]
    fn part_counts() {
        assert_eq!(parts(&[], 0, false), 1);
        assert_eq!(parts(&[b'a'; 160], 0, false), 1);
        assert_eq!(parts(&[b'a'; 161], 0, false), 2);
        assert_eq!(parts(&[b'a'; 306], 0, false), 2);
        assert_eq!(parts(&[b'a'; 307], 0, false), 3);
        assert_eq!(parts(&[0; 140], 0x08, false), 1);
        assert_eq!(parts(&[0; 141], 0x08, false), 2);
        assert_eq!(parts(&[0; 268], 0x08, false), 2);
        assert_eq!(parts(&[0; 269], 0x08, false), 3);
        assert_eq!(parts(&[0; 141], 0x04, false), 2);
        assert_eq!(parts(&[0; 140], 0x08, true), 1);
        assert_eq!(parts(&[], 0, true), 1);
        // an odd UCS-2 length or a lone escape at the end still counts, never panics
        assert_eq!(parts(&[0; 3], 0x08, false), 1);
        assert_eq!(parts(&[gsm::ESCAPE], 0, false), 1);
    }

    proptest::proptest! {
        /// Any text: the parts joined are the text, each part fits on air, none ends inside
        /// a character, and the bill counts exactly the parts sent.
        #[test]
        fn any_text_splits_into_whole_parts_that_fit(
            text in "(\\PC|[€\\[\\]{}~^|\\\\]|😀){0,400}",
            sixteen in proptest::bool::ANY,
        ) {
            let r = if sixteen { Reference::Sixteen(0x1234) } else { Reference::Eight(0x12) };
            let e = encode_text(&text);
            let p = split(&e.octets, e.data_coding, r).expect("400 characters fit");
            let udh = if p.len() == 1 { 0 } else { r.udh_len() };
            let mut joined = Vec::new();
            for part in &p {
                let body = &part[udh..];
                if e.data_coding == DC_GSM7 {
                    proptest::prop_assert!(body.len() + (udh * 8).div_ceil(7) <= 160);
                    proptest::prop_assert_ne!(body.last(), Some(&gsm::ESCAPE));
                } else {
                    proptest::prop_assert!(part.len() <= 140);
                    let units: Vec<u16> =
                        body.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                    proptest::prop_assert!(String::from_utf16(&units).is_ok());
                }
                joined.extend_from_slice(body);
            }
            proptest::prop_assert_eq!(&joined, &e.octets);
            let back = if e.data_coding == DC_GSM7 {
                gsm::decode(&joined)
            } else {
                let units: Vec<u16> =
                    joined.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
                String::from_utf16(&units).expect("whole")
            };
            proptest::prop_assert_eq!(back, text);
            if !sixteen {
                proptest::prop_assert_eq!(parts(&e.octets, e.data_coding, false) as usize, p.len());
            }
        }
    }

    #[test]
    fn coding_groups() {
        assert_eq!(Alphabet::from_data_coding(0xF0), Alphabet::Gsm7);
        assert_eq!(Alphabet::from_data_coding(0xF4), Alphabet::Octets);
        assert_eq!(Alphabet::from_data_coding(0x18), Alphabet::Ucs2);
        assert_eq!(Alphabet::from_data_coding(0x03), Alphabet::Gsm7);
    }
}
