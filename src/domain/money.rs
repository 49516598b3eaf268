//! Money as integer micro-units of the account currency.
//!
//! Balances and prices travel as decimal strings in the config file and the API
//! (`"1000.00"`, `"0.0100"`) and as `i64` micro-units everywhere else, so no float
//! ever touches a balance.

use std::fmt;

/// Micro-units per currency unit.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// An amount of money in micro-units (1 unit = 1,000,000 micros).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Micros(pub i64);

/// Why a decimal money string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    /// Not a plain decimal like `12.50`.
    #[error("not a decimal amount: {0:?}")]
    NotDecimal(String),
    /// More than six digits after the point.
    #[error("more than 6 decimal places: {0:?}")]
    TooPrecise(String),
    /// Does not fit in 64-bit micro-units.
    #[error("amount too large: {0:?}")]
    TooLarge(String),
}

impl Micros {
    /// Parses a decimal string (`"1000"`, `"0.0100"`, `"-2.5"`) exactly.
    pub fn parse(s: &str) -> Result<Micros, MoneyError> {
        let t = s.trim();
        let (neg, body) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return Err(MoneyError::NotDecimal(s.to_string()));
        }
        if frac.len() > 6 {
            return Err(MoneyError::TooPrecise(s.to_string()));
        }
        let too_large = || MoneyError::TooLarge(s.to_string());
        let int_v: i64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| too_large())?
        };
        let mut frac_v: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            frac_v += i64::from(b - b'0') * 10i64.pow(5 - i as u32);
        }
        let v = int_v
            .checked_mul(MICROS_PER_UNIT)
            .and_then(|v| v.checked_add(frac_v))
            .ok_or_else(too_large)?;
        Ok(Micros(if neg { -v } else { v }))
    }

    /// `self × n`, or `None` on overflow.
    pub fn times(self, n: u32) -> Option<Micros> {
        self.0.checked_mul(i64::from(n)).map(Micros)
    }
}

impl fmt::Display for Micros {
    /// Renders with six decimals, e.g. `999.990000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        let unit = MICROS_PER_UNIT as u64;
        write!(f, "{sign}{}.{:06}", a / unit, a % unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_config_amounts_exactly() {
        assert_eq!(Micros::parse("1000.00"), Ok(Micros(1_000_000_000)));
        assert_eq!(Micros::parse("0.0100"), Ok(Micros(10_000)));
        assert_eq!(Micros::parse("0.000001"), Ok(Micros(1)));
        assert_eq!(Micros::parse("7"), Ok(Micros(7_000_000)));
        assert_eq!(Micros::parse(".5"), Ok(Micros(500_000)));
        assert_eq!(Micros::parse("-2.5"), Ok(Micros(-2_500_000)));
    }

    #[test]
    fn refuses_floats_in_disguise() {
        assert!(matches!(
            Micros::parse("1e3"),
            Err(MoneyError::NotDecimal(_))
        ));
        assert!(matches!(Micros::parse(""), Err(MoneyError::NotDecimal(_))));
        assert!(matches!(Micros::parse("."), Err(MoneyError::NotDecimal(_))));
        assert!(matches!(
            Micros::parse("1.2.3"),
            Err(MoneyError::NotDecimal(_))
        ));
        assert!(matches!(
            Micros::parse("0.0000001"),
            Err(MoneyError::TooPrecise(_))
        ));
        assert!(matches!(
            Micros::parse("99999999999999999"),
            Err(MoneyError::TooLarge(_))
        ));
    }

    #[test]
    fn renders_six_decimals_and_round_trips() {
        assert_eq!(Micros(999_990_000).to_string(), "999.990000");
        assert_eq!(Micros(-1).to_string(), "-0.000001");
        for v in [0, 1, 10_000, 123_456_789, -5_000_001] {
            assert_eq!(Micros::parse(&Micros(v).to_string()), Ok(Micros(v)));
        }
    }

    #[test]
    fn price_times_parts_checks_overflow() {
        assert_eq!(Micros(10_000).times(3), Some(Micros(30_000)));
        assert_eq!(Micros(i64::MAX).times(2), None);
    }
}
