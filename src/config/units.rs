//! Human-friendly sizes (`16MiB`, `64KiB`, `512`) and durations (`10s`, `500ms`, `2m`).

use std::time::Duration;

/// Parses a byte size: a plain number of bytes or a number with a unit
/// (`B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`; the decimal and binary forms both
/// mean powers of 1024, as operators expect from a buffer size).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let (number, unit) = split_number(text)
        .ok_or_else(|| format!("invalid size {text:?}: expected e.g. 16MiB, 64KiB or 1024"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("invalid size unit {other:?} in {text:?}")),
    };
    number
        .checked_mul(multiplier)
        .and_then(|bytes| usize::try_from(bytes).ok())
        .ok_or_else(|| format!("size {text:?} is too large"))
}

/// Parses a duration: a number with `ms`, `s`, `m` or `h` (a bare number means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = split_number(text)
        .ok_or_else(|| format!("invalid duration {text:?}: expected e.g. 10s, 500ms or 2m"))?;
    let millis = match unit.trim() {
        "ms" => Some(number),
        "" | "s" => number.checked_mul(1_000),
        "m" => number.checked_mul(60_000),
        "h" => number.checked_mul(3_600_000),
        other => return Err(format!("invalid duration unit {other:?} in {text:?}")),
    };
    millis
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {text:?} is too large"))
}

/// Splits `"16MiB"` into `(16, "MiB")`; `None` without a leading number.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    Some((digits.parse().ok()?, unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_plain_bytes_and_binary_units() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1mb"), Ok(1 << 20));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
    }

    #[test]
    fn sizes_reject_garbage() {
        assert!(parse_size("").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn durations_accept_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("10 fortnights").is_err());
        assert!(parse_duration("s").is_err());
    }
}
