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

/// Checks a number written in E.164 (`+` optional): 8 to 15 digits, the first not 0 (a
/// country code). Returns the digits.
pub fn check_e164(addr: &str) -> Result<&str, &'static str> {
    let digits = addr.strip_prefix('+').unwrap_or(addr);
    if !digits.bytes().all(|b| b.is_ascii_digit()) || digits.is_empty() {
        return Err("not a phone number in E.164 (+ and 8 to 15 digits)");
    }
    if !(8..=15).contains(&digits.len()) {
        return Err("E.164 numbers have 8 to 15 digits");
    }
    if digits.starts_with('0') {
        return Err("E.164 numbers start with a country code, not 0");
    }
    Ok(digits)
}

/// A sender (`from`) as it goes on air: an E.164 number (`+` then digits: TON
/// international), a short code (3 to 8 digits: TON network specific) or an alphanumeric
/// sender ID (1 to 11 GSM letters, digits, spaces and `.-_&`: TON alphanumeric).
/// Returns (address, TON, NPI).
pub fn check_sender(from: &str) -> Result<(&str, u8, u8), &'static str> {
    if let Some(digits) = from.strip_prefix('+') {
        return check_e164(digits).map(|d| (d, 1, 1));
    }
    if !from.is_empty() && from.bytes().all(|b| b.is_ascii_digit()) {
        return match from.len() {
            3..=8 => Ok((from, 3, 0)),
            9..=15 => check_e164(from).map(|d| (d, 1, 1)),
            _ => Err("a numeric sender is a short code of 3 to 8 digits or an E.164 number"),
        };
    }
    if from.is_empty() || from.chars().count() > 11 {
        return Err("an alphanumeric sender has 1 to 11 characters");
    }
    if !from
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" .-_&".contains(&b))
    {
        return Err("an alphanumeric sender has only letters, digits, spaces and . - _ &");
    }
    Ok((from, 5, 0))
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
    fn e164_numbers() {
        assert_eq!(check_e164("+491701234567"), Ok("491701234567"));
        assert_eq!(check_e164("491701234567"), Ok("491701234567"));
        assert!(check_e164("+0491701234").is_err());
        assert!(check_e164("+1234567").is_err(), "7 digits");
        assert!(check_e164("+1234567890123456").is_err(), "16 digits");
        assert!(check_e164("+49 170 1234567").is_err());
        assert!(check_e164("").is_err());
        assert!(check_e164("+").is_err());
    }

    #[test]
    fn senders() {
        assert_eq!(check_sender("ACME"), Ok(("ACME", 5, 0)));
        assert_eq!(check_sender("Acme Shop.1"), Ok(("Acme Shop.1", 5, 0)));
        assert_eq!(check_sender("+491701234567"), Ok(("491701234567", 1, 1)));
        assert_eq!(check_sender("491701234567"), Ok(("491701234567", 1, 1)));
        assert_eq!(check_sender("12345"), Ok(("12345", 3, 0)));
        assert!(check_sender("").is_err());
        assert!(check_sender("TwelveLetter").is_err());
        assert!(check_sender("ACMÉ").is_err());
        assert!(check_sender("12").is_err());
        assert!(check_sender("+12").is_err());
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
