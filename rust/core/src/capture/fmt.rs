//! Text forms of DBN values: decimal prices and ISO 8601 timestamps, without allocation per call.

use std::fmt::Write;

use dbn::FIXED_PRICE_SCALE;

/// Append a 1e-9 fixed-point price as a plain decimal string ("65.43", "-0.5", "100").
pub fn write_price(out: &mut String, price: i64) {
    let negative = price < 0;
    let magnitude = price.unsigned_abs();
    let scale = FIXED_PRICE_SCALE as u64;
    let (whole, mut frac) = (magnitude / scale, magnitude % scale);
    if negative {
        out.push('-');
    }
    let _ = write!(out, "{whole}");
    if frac != 0 {
        let mut digits = 9;
        while frac % 10 == 0 {
            frac /= 10;
            digits -= 1;
        }
        let _ = write!(out, ".{frac:0digits$}");
    }
}

pub fn price_string(price: i64) -> String {
    let mut out = String::with_capacity(24);
    write_price(&mut out, price);
    out
}

/// Append nanoseconds since the UNIX epoch as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (UTC).
pub fn write_iso_nanos(out: &mut String, ts: u64) {
    let secs = ts / 1_000_000_000;
    let nanos = ts % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    );
}

pub fn iso_nanos(ts: u64) -> String {
    let mut out = String::with_capacity(32);
    write_iso_nanos(&mut out, ts);
    out
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices() {
        assert_eq!(price_string(65_430_000_000), "65.43");
        assert_eq!(price_string(100_000_000_000), "100");
        assert_eq!(price_string(-500_000_000), "-0.5");
        assert_eq!(price_string(1), "0.000000001");
        assert_eq!(price_string(0), "0");
    }

    #[test]
    fn timestamps() {
        assert_eq!(iso_nanos(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            iso_nanos(1_703_462_400_123_456_789),
            "2023-12-25T00:00:00.123456789Z"
        );
        assert_eq!(
            iso_nanos(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }
}
