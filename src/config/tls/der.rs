//! Just enough DER to read a certificate's serial number and validity,
//! which the relay checks at start and logs (rustls does not expose them).

/// What the relay reports about a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The serial number in hexadecimal (as `openssl x509 -serial` prints it).
    pub serial: String,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
}

/// Reads the serial number and validity of a DER certificate; `None` if it
/// is not shaped like an X.509 certificate.
pub fn certificate_info(der: &[u8]) -> Option<CertificateInfo> {
    let (certificate, _) = expect(der, SEQUENCE)?;
    let (mut tbs, _) = expect(certificate, SEQUENCE)?;
    if tbs.first() == Some(&EXPLICIT_VERSION) {
        tbs = tlv(tbs)?.2;
    }
    let (serial, rest) = expect(tbs, INTEGER)?;
    let (_signature, rest) = expect(rest, SEQUENCE)?;
    let (_issuer, rest) = expect(rest, SEQUENCE)?;
    let (validity, _) = expect(rest, SEQUENCE)?;
    let (not_before, rest) = time(validity)?;
    let (not_after, _) = time(rest)?;
    let significant = match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    let serial = significant.iter().map(|b| format!("{b:02X}")).collect();
    Some(CertificateInfo {
        serial,
        not_before,
        not_after,
    })
}

const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
const EXPLICIT_VERSION: u8 = 0xA0;

/// One tag-length-value: (tag, contents, what follows).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let length = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, after) = rest.split_at(count);
        rest = after;
        bytes.iter().fold(0usize, |n, &b| n << 8 | usize::from(b))
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// The contents of a TLV with `tag`, and what follows it.
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (found, contents, rest) = tlv(input)?;
    (found == tag).then_some((contents, rest))
}

/// A UTCTime or GeneralizedTime in UTC (`...Z`), as Unix seconds.
fn time(input: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, contents, rest) = tlv(input)?;
    let text = std::str::from_utf8(contents).ok()?.strip_suffix('Z')?;
    let (year, rest_digits) = match tag {
        UTC_TIME if text.len() == 12 => {
            let yy: i64 = text[..2].parse().ok()?;
            // RFC 5280 section 4.1.2.5.1: 50..99 are 19xx.
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 14 => (text[..4].parse().ok()?, &text[4..]),
        _ => return None,
    };
    let field = |at: usize| -> Option<i64> { rest_digits.get(at..at + 2)?.parse().ok() };
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3600 + minute * 60 + second, rest))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`, for messages.
pub fn format_utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let era = (days + 719_468).div_euclid(146_097);
    let day_of_era = days + 719_468 - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
        assert_eq!(format_utc(4_102_444_799), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn both_time_forms_are_read() {
        let utc = [&[UTC_TIME, 13][..], b"491231235959Z"].concat();
        let end_of_2049 = days_from_civil(2049, 12, 31) * 86_400 + 86_399;
        assert_eq!(time(&utc).unwrap().0, end_of_2049);
        let utc_old = [&[UTC_TIME, 13][..], b"500101000000Z"].concat();
        assert_eq!(
            format_utc(time(&utc_old).unwrap().0),
            "1950-01-01 00:00:00 UTC"
        );
        let generalized = [&[GENERALIZED_TIME, 15][..], b"20500101000000Z"].concat();
        assert_eq!(
            format_utc(time(&generalized).unwrap().0),
            "2050-01-01 00:00:00 UTC"
        );
        assert!(time(&[UTC_TIME, 3, b'1', b'2', b'Z']).is_none());
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(certificate_info(b"").is_none());
        assert!(certificate_info(&[0x30, 0x82, 0xFF]).is_none());
        assert!(certificate_info(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_none());
    }
}
