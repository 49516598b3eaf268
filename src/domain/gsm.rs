//! The GSM 03.38 default alphabet and its extension table (3GPP TS 23.038 §6.2.1).
//!
//! SMPP carries GSM text unpacked, one septet per octet (data_coding 0x00); the SMSC packs it
//! for the air. A character of the extension table (`€ [ ] { } \ ~ ^ |` and form feed) is two
//! septets: the escape 0x1B, then its code. Text with any other character cannot be sent as
//! GSM and goes as UCS-2 instead.

/// The escape septet that introduces a character of the extension table.
pub const ESCAPE: u8 = 0x1B;

/// The default alphabet, indexed by septet. 0x1B is the escape, never a character.
const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: (septet after the escape, character).
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'),
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// The septets of one character: one, two (escape + code), or none when it is not in the
/// alphabet.
pub fn septets(c: char) -> Option<Septets> {
    if c != '\u{1B}'
        && let Some(i) = BASIC.iter().position(|&b| b == c)
    {
        // i < 128: BASIC has 128 entries
        return Some(Septets::One(i as u8));
    }
    EXTENSION
        .iter()
        .find(|&&(_, e)| e == c)
        .map(|&(code, _)| Septets::Two(code))
}

/// A character's encoding in the default alphabet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Septets {
    /// A character of the basic table.
    One(u8),
    /// A character of the extension table: [`ESCAPE`] then this code.
    Two(u8),
}

/// The text as unpacked septets, or `None` when a character is outside the alphabet.
pub fn encode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match septets(c)? {
            Septets::One(s) => out.push(s),
            Septets::Two(s) => out.extend_from_slice(&[ESCAPE, s]),
        }
    }
    Some(out)
}

/// Unpacked septets as text. An escape before a code the extension table lacks reads as
/// the basic character (23.038: the receiving entity shows the default table's character);
/// an octet over 0x7F is taken modulo 128.
pub fn decode(septets: &[u8]) -> String {
    let mut out = String::with_capacity(septets.len());
    let mut it = septets.iter().map(|s| s & 0x7F);
    while let Some(s) = it.next() {
        if s != ESCAPE {
            out.push(BASIC[usize::from(s)]);
            continue;
        }
        // a lone escape at the end has nothing to show
        if let Some(code) = it.next() {
            match EXTENSION.iter().find(|&&(c, _)| c == code) {
                Some(&(_, e)) => out.push(e),
                None => out.push(BASIC[usize::from(code)]),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_basic_table_round_trips() {
        let all: String = BASIC.iter().filter(|&&c| c != '\u{1B}').collect();
        let enc = encode(&all).expect("every basic character is GSM");
        assert_eq!(enc.len(), 127);
        assert_eq!(decode(&enc), all);
    }

    #[test]
    fn extension_characters_take_two_septets() {
        for c in ['€', '[', ']', '{', '}', '\\', '~', '^', '|', '\u{0C}'] {
            let enc = encode(&c.to_string()).expect("an extension character is GSM");
            assert_eq!(enc.len(), 2, "{c:?}");
            assert_eq!(enc[0], ESCAPE);
            assert_eq!(decode(&enc), c.to_string());
        }
        assert_eq!(encode("€"), Some(vec![0x1B, 0x65]));
        assert_eq!(
            encode("a{b}"),
            Some(vec![0x61, 0x1B, 0x28, 0x62, 0x1B, 0x29])
        );
    }

    #[test]
    fn known_codes() {
        assert_eq!(encode("@"), Some(vec![0x00]));
        assert_eq!(encode("Hello"), Some(vec![0x48, 0x65, 0x6C, 0x6C, 0x6F]));
        assert_eq!(encode("£¥§¿à"), Some(vec![0x01, 0x03, 0x5F, 0x60, 0x7F]));
        assert_eq!(encode("ΔΩ"), Some(vec![0x10, 0x15]));
    }

    #[test]
    fn characters_outside_the_alphabet_are_not_gsm() {
        for t in ["`", "ç", "Привет", "😀", "\u{1B}", "á", "\t"] {
            assert_eq!(encode(t), None, "{t:?}");
        }
    }

    #[test]
    fn decoding_odd_input_never_fails() {
        assert_eq!(decode(&[0x1B]), "");
        assert_eq!(decode(&[0x1B, 0x41]), "A");
        assert_eq!(decode(&[0xC1]), "A");
    }
}
