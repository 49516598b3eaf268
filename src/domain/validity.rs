//! SMPP 3.4 times (§7.1.1) as an ESME writes them in `validity_period`: absolute
//! `YYMMDDhhmmsstnnp` (local time `nn` quarter-hours ahead of UTC for `p` = `+`, behind for
//! `-`) or relative `YYMMDDhhmmss000R` (years, months, days… from now). tern ends a message
//! EXPIRED once its validity is over, whichever comes first of it and `message_ttl_s`.

/// A validity_period that is not an SMPP time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("validity_period {0:?} is not an SMPP time (YYMMDDhhmmsstnnp or YYMMDDhhmmss000R)")]
pub struct BadTime(pub String);

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A relative SMPP time (`YYMMDDhhmmss000R`) of `secs` from now, in days, hours, minutes
/// and seconds (never months or years, which SMSCs count differently).
pub fn relative(secs: u64) -> String {
    let days = (secs / 86_400).min(99);
    let rest = secs - days * 86_400;
    let (h, m, s) = ((rest / 3600).min(99), rest % 3600 / 60, rest % 60);
    format!("0000{days:02}{h:02}{m:02}{s:02}000R")
}

/// When a message with this `validity_period` stops being valid, in Unix milliseconds;
/// `None` when the ESME left it empty. `now_ms` anchors relative times.
pub fn expiry_ms(s: &str, now_ms: u64) -> Result<Option<u64>, BadTime> {
    if s.is_empty() {
        return Ok(None);
    }
    let bad = || BadTime(s.to_string());
    let b = s.as_bytes();
    if b.len() != 16 || !b[..15].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let n = |i: usize| i64::from(b[i] - b'0') * 10 + i64::from(b[i + 1] - b'0');
    let (yy, mo, dd, hh, mi, ss) = (n(0), n(2), n(4), n(6), n(8), n(10));
    let tenths = i64::from(b[12] - b'0');
    let quarters = n(13);
    let now = now_ms as i64;
    let at = match b[15] {
        b'R' => {
            // relative: a year is 365 days and a month 30, as SMSCs count them
            let secs = ((yy * 365 + mo * 30 + dd) * 24 + hh) * 3600 + mi * 60 + ss;
            now + secs * 1000
        }
        p @ (b'+' | b'-') => {
            if !(1..=12).contains(&mo)
                || dd < 1
                || dd > days_in_month(2000 + yy, mo)
                || hh > 23
                || mi > 59
                || ss > 59
                || quarters > 48
            {
                return Err(bad());
            }
            let local = ((days_from_civil(2000 + yy, mo, dd) * 24 + hh) * 60 + mi) * 60 + ss;
            let offset = quarters * 15 * 60;
            let utc = if p == b'+' {
                local - offset
            } else {
                local + offset
            };
            utc * 1000 + tenths * 100
        }
        _ => return Err(bad()),
    };
    Ok(Some(at.max(0) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-02T10:00:00Z
    const NOW: u64 = 1_796_205_600_000;

    #[test]
    fn relative_times_are_written_as_they_are_read() {
        assert_eq!(relative(3600), "000000010000000R");
        assert_eq!(relative(90_061), "000001010101000R");
        for secs in [60, 3_599, 86_400, 172_799, 604_800] {
            assert_eq!(
                expiry_ms(&relative(secs), 1_000),
                Ok(Some(1_000 + secs * 1000))
            );
        }
    }

    #[test]
    fn empty_means_the_default() {
        assert_eq!(expiry_ms("", NOW), Ok(None));
    }

    #[test]
    fn relative_times_count_from_now() {
        assert_eq!(expiry_ms("000000000030000R", NOW), Ok(Some(NOW + 30_000)));
        assert_eq!(
            expiry_ms("000001020304000R", NOW),
            Ok(Some(NOW + ((24 + 2) * 3600 + 3 * 60 + 4) * 1000))
        );
        assert_eq!(
            expiry_ms("010100000000000R", NOW),
            Ok(Some(NOW + 395 * 86_400_000)),
            "a year is 365 days, a month 30"
        );
    }

    #[test]
    fn absolute_times_are_local_with_an_offset_in_quarter_hours() {
        // 11:00 local, one hour (4 quarters) ahead of UTC: 10:00Z
        assert_eq!(expiry_ms("261202110000004+", NOW), Ok(Some(NOW)));
        // 05:30 local, 4.5 hours behind UTC: 10:00Z; 7 tenths
        assert_eq!(expiry_ms("261202053000718-", NOW), Ok(Some(NOW + 700)));
        assert_eq!(
            expiry_ms("240229000000000+", NOW),
            Ok(Some(1_709_164_800_000)),
            "a leap day"
        );
    }

    #[test]
    fn what_is_not_an_smpp_time_is_refused() {
        for bad in [
            "1",
            "261202110000004",
            "261202110000004X",
            "2612021100000a4+",
            "261302110000004+",
            "250229000000000+",
            "261202250000004+",
            "261202110000049+",
        ] {
            assert_eq!(expiry_ms(bad, NOW), Err(BadTime(bad.into())), "{bad}");
        }
    }
}
