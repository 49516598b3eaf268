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

/// An absolute SMPP time in UTC (`YYMMDDhhmmsst00+`) for Unix milliseconds `ms` (years
/// 2000 to 2099). Absolute, so a part sent again after a retry or a restart keeps the end
/// its client asked for, where a relative time would start again at each send.
pub fn absolute(ms: u64) -> String {
    // "2026-12-02T14:33:00.250Z"
    let t = super::clock::rfc3339(ms);
    let d: Vec<u8> = t.bytes().filter(u8::is_ascii_digit).collect();
    // YYYY MM DD hh mm ss fff: 17 digits; the first two are the century
    match d.get(2..15) {
        Some(f) if d.len() >= 15 => format!("{}00+", String::from_utf8_lossy(f)),
        _ => String::new(),
    }
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
    fn absolute_times_are_written_as_they_are_read() {
        // 2026-12-02T14:33:00.250Z
        let ms = 1_796_221_980_250;
        assert_eq!(absolute(ms), format!("{}200+", "261202143300"));
        assert_eq!(expiry_ms(&absolute(ms), 0), Ok(Some(ms - 50)));
        for ms in [946_684_800_000, 1_700_000_000_900, 4_102_444_799_000] {
            assert_eq!(expiry_ms(&absolute(ms), 0), Ok(Some(ms / 100 * 100)));
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
