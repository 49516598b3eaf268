//! How many billable parts a message has, from its length and data_coding.
//!
//! tern forwards `short_message` bytes unchanged; it only needs to count parts to rate the
//! message. A PDU that carries its own UDH (esm_class UDHI) is one part of a concatenated
//! message and is billed as one part.

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

    fn limits(self) -> (usize, usize) {
        match self {
            Alphabet::Gsm7 => (160, 153),
            Alphabet::Octets | Alphabet::Ucs2 => (140, 134),
        }
    }
}

/// Number of parts a message of `len` octets needs on air. `has_udh`: the ESME already split
/// it (esm_class bit 0x40), so this PDU is exactly one part.
pub fn parts(len: usize, data_coding: u8, has_udh: bool) -> u32 {
    if has_udh {
        return 1;
    }
    let (single, multi) = Alphabet::from_data_coding(data_coding).limits();
    if len <= single {
        1
    } else {
        len.div_ceil(multi) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_boundaries() {
        assert_eq!(parts(0, 0, false), 1);
        assert_eq!(parts(160, 0, false), 1);
        assert_eq!(parts(161, 0, false), 2);
        assert_eq!(parts(306, 0, false), 2);
        assert_eq!(parts(307, 0, false), 3);
    }

    #[test]
    fn ucs2_and_binary_boundaries() {
        assert_eq!(parts(140, 0x08, false), 1);
        assert_eq!(parts(141, 0x08, false), 2);
        assert_eq!(parts(268, 0x08, false), 2);
        assert_eq!(parts(269, 0x08, false), 3);
        assert_eq!(parts(141, 0x04, false), 2);
    }

    #[test]
    fn udh_part_counts_once() {
        assert_eq!(parts(140, 0x08, true), 1);
        assert_eq!(parts(0, 0, true), 1);
    }

    #[test]
    fn coding_groups() {
        assert_eq!(Alphabet::from_data_coding(0xF0), Alphabet::Gsm7);
        assert_eq!(Alphabet::from_data_coding(0xF4), Alphabet::Octets);
        assert_eq!(Alphabet::from_data_coding(0x18), Alphabet::Ucs2);
        assert_eq!(Alphabet::from_data_coding(0x03), Alphabet::Gsm7);
    }
}
