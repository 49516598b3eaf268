//! Address rules: which destinations tern accepts and how numbers appear in logs.

/// Why a destination address was refused (answered with ESME_RINVDSTADR).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Empty, or only a `+`.
    #[error("empty destination")]
    Empty,
    /// Something other than digits after an optional leading `+`.
    #[error("destination must be digits")]
    NotDigits,
    /// More than 15 digits (E.164 maximum).
    #[error("destination longer than 15 digits")]
    TooLong,
    /// TON/NPI that make no sense for a phone number (e.g. alphanumeric).
    #[error("destination TON/NPI not a phone number")]
    BadTonNpi,
}

/// Checks an MT destination and returns it normalised (without the `+`).
///
/// Accepts 1–15 digits after an optional `+`, with TON unknown (0), international (1),
/// national (2), network specific (3) or subscriber (4), and NPI unknown (0), ISDN/E.164 (1)
/// or national (8).
pub fn check_destination(addr: &str, ton: u8, npi: u8) -> Result<&str, AddressError> {
    if !matches!(ton, 0..=4) || !matches!(npi, 0 | 1 | 8) {
        return Err(AddressError::BadTonNpi);
    }
    let digits = addr.strip_prefix('+').unwrap_or(addr);
    if digits.is_empty() {
        return Err(AddressError::Empty);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::NotDigits);
    }
    if digits.len() > 15 {
        return Err(AddressError::TooLong);
    }
    Ok(digits)
}

/// A phone number as it may appear in logs: country code (up to 3 leading digits for
/// long numbers, 2 for short ones) and the last 2 digits, the rest masked.
/// Alphanumeric sender ids are not personal data and pass unchanged.
pub fn redact(addr: &str) -> String {
    let digits = addr.strip_prefix('+').unwrap_or(addr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return addr.to_string();
    }
    let n = digits.len();
    if n <= 4 {
        return "*".repeat(n);
    }
    let head = if n >= 11 { 3 } else { 2 }.min(n - 2);
    format!(
        "{}{}{}",
        &digits[..head],
        "*".repeat(n - head - 2),
        &digits[n - 2..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_e164_with_or_without_plus() {
        assert_eq!(check_destination("491701234567", 1, 1), Ok("491701234567"));
        assert_eq!(check_destination("+491701234567", 1, 1), Ok("491701234567"));
        assert_eq!(check_destination("1", 0, 0), Ok("1"));
        assert_eq!(
            check_destination("123456789012345", 1, 1),
            Ok("123456789012345")
        );
    }

    #[test]
    fn refuses_what_no_carrier_can_deliver() {
        assert_eq!(check_destination("", 1, 1), Err(AddressError::Empty));
        assert_eq!(check_destination("+", 1, 1), Err(AddressError::Empty));
        assert_eq!(
            check_destination("49 170", 1, 1),
            Err(AddressError::NotDigits)
        );
        assert_eq!(
            check_destination("ACME", 1, 1),
            Err(AddressError::NotDigits)
        );
        assert_eq!(
            check_destination("1234567890123456", 1, 1),
            Err(AddressError::TooLong)
        );
        assert_eq!(
            check_destination("4917", 5, 0),
            Err(AddressError::BadTonNpi)
        );
        assert_eq!(
            check_destination("4917", 1, 9),
            Err(AddressError::BadTonNpi)
        );
    }

    #[test]
    fn redaction_keeps_country_code_and_last_two() {
        assert_eq!(redact("491701234567"), "491*******67");
        assert_eq!(redact("+447700900123"), "447*******23");
        assert_eq!(redact("3312345678"), "33******78");
        assert_eq!(redact("1234"), "****");
        assert_eq!(redact("ACME"), "ACME");
    }
}
