//! Dates as Exchange sends them and as the CSV files carry them.
//!
//! The export reads and writes three dates per mailbox. Exchange sends them
//! in one form (`2022-10-31T01:01:36Z`, perhaps with a fraction), which is
//! read and written here digit by digit; anything else goes through
//! chrono's general RFC 3339 parser and formatter. Both paths give the same
//! results (see the tests), the first at a fraction of the cost in wasm,
//! where chrono's arithmetic is made of library calls.

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Timelike, Utc,
};

/// A date as the server sent it (RFC 3339 with `Z` or an offset; a form
/// without an offset is taken as UTC, as Exchange's `*UTC` properties are).
pub fn parse_date_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Some(utc) = parse_utc(text) {
        return Some(utc);
    }
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Some(with_offset.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|naive| naive.and_utc())
}

/// ISO 8601 UTC: `2022-10-31T01:01:36Z`; a fraction only when not zero, in
/// milli-, micro- or nanoseconds.
pub fn format_date_time(utc: &DateTime<Utc>) -> String {
    let mut out = String::with_capacity(30);
    write_date_time(&mut out, utc);
    out
}

/// Appends [`format_date_time`]'s text.
pub fn write_date_time(out: &mut String, utc: &DateTime<Utc>) {
    // Read from the naive value: each accessor of a DateTime first adds
    // its zone's offset (seven times per date, library calls in wasm).
    let naive = utc.naive_utc();
    let year = naive.year();
    let nanos = naive.nanosecond();
    // Years of five digits and leap seconds are chrono's to write.
    let Ok(year) = u32::try_from(year) else {
        out.push_str(&utc.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        return;
    };
    if year > 9999 || nanos >= 1_000_000_000 {
        out.push_str(&utc.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        return;
    }
    push_digits(out, year, 4);
    out.push('-');
    push_digits(out, naive.month(), 2);
    out.push('-');
    push_digits(out, naive.day(), 2);
    out.push('T');
    push_digits(out, naive.hour(), 2);
    out.push(':');
    push_digits(out, naive.minute(), 2);
    out.push(':');
    push_digits(out, naive.second(), 2);
    if nanos != 0 {
        out.push('.');
        if nanos.is_multiple_of(1_000_000) {
            push_digits(out, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            push_digits(out, nanos / 1_000, 6);
        } else {
            push_digits(out, nanos, 9);
        }
    }
    out.push('Z');
}

/// `value` in exactly `width` decimal digits (it has no more).
fn push_digits(out: &mut String, value: u32, width: u32) {
    let mut divisor = 10u32.pow(width.saturating_sub(1));
    while divisor > 0 {
        out.push(char::from(b'0' + ((value / divisor) % 10) as u8));
        divisor /= 10;
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.F{1,9}]Z`, or `None` for any other form.
fn parse_utc(text: &str) -> Option<DateTime<Utc>> {
    let bytes = text.as_bytes();
    let (&b'Z', bytes) = bytes.split_last()? else {
        return None;
    };
    if bytes.len() < 19 {
        return None;
    }
    let (fixed, fraction) = bytes.split_at(19);
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, byte)| fixed[at] != byte) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| digits(&fixed[range]);
    let nanos = match fraction {
        [] => 0,
        [b'.', figures @ ..] if (1..=9).contains(&figures.len()) => {
            digits(figures)? * 10u32.pow(9 - figures.len() as u32)
        }
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(number(0..4)?).ok()?,
        number(5..7)?,
        number(8..10)?,
    )?;
    let time =
        NaiveTime::from_hms_nano_opt(number(11..13)?, number(14..16)?, number(17..19)?, nanos)?;
    Some(date.and_time(time).and_utc())
}

/// The value of ASCII decimal digits (at most nine), or `None`.
fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn chrono_parse(text: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }

    /// Dates over the whole four-digit range with every kind of fraction,
    /// from a fixed pseudo-random sequence.
    fn samples() -> Vec<DateTime<Utc>> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let mut out = Vec::new();
        for i in 0..20_000u64 {
            let year = next(10_000) as i32;
            let month = next(12) as u32 + 1;
            let day = next(31) as u32 + 1;
            let nanos = match i % 5 {
                0 => 0,
                1 => next(1000) as u32 * 1_000_000,
                2 => next(1_000_000) as u32 * 1_000,
                3 => next(1_000_000_000) as u32,
                _ => next(10) as u32 * 100,
            };
            let (h, m, s) = (next(24) as u32, next(60) as u32, next(60) as u32);
            if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
                if let Some(time) = NaiveTime::from_hms_nano_opt(h, m, s, nanos) {
                    out.push(Utc.from_utc_datetime(&date.and_time(time)));
                }
            }
        }
        out
    }

    #[test]
    fn writing_matches_chrono_to_the_byte() {
        for utc in samples() {
            assert_eq!(
                format_date_time(&utc),
                utc.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                "{utc:?}"
            );
        }
    }

    #[test]
    fn reading_matches_chrono_on_every_form_exchange_sends() {
        for utc in samples() {
            for text in [
                utc.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                utc.to_rfc3339_opts(SecondsFormat::Secs, true),
                utc.to_rfc3339_opts(SecondsFormat::Nanos, true),
                // .NET's seven digits.
                format!(
                    "{}.{:07}Z",
                    utc.format("%Y-%m-%dT%H:%M:%S"),
                    utc.nanosecond() / 100
                ),
            ] {
                assert!(parse_utc(&text).is_some(), "{text}");
                assert_eq!(parse_date_time(&text), chrono_parse(&text), "{text}");
            }
        }
    }

    #[test]
    fn other_forms_go_to_chrono_and_nonsense_is_refused() {
        for (text, expected) in [
            ("2022-10-31T02:01:36+01:00", Some("2022-10-31T01:01:36Z")),
            ("2022-10-31t01:01:36z", Some("2022-10-31T01:01:36Z")),
            ("2022-10-31T01:01:36", Some("2022-10-31T01:01:36Z")),
            ("  2022-10-31T01:01:36Z ", Some("2022-10-31T01:01:36Z")),
            ("2016-12-31T23:59:60Z", Some("2016-12-31T23:59:60Z")),
            ("2022-02-30T01:01:36Z", None),
            ("2022-10-31T24:00:00Z", None),
            ("2022-10-31T01:01:36.Z", None),
            // More than nine digits: chrono's reading, which drops the rest.
            (
                "2022-10-31T01:01:36.1234567890Z",
                Some("2022-10-31T01:01:36.123456789Z"),
            ),
            ("2022-1a-31T01:01:36Z", None),
            ("yesterday", None),
            ("", None),
            ("Z", None),
            ("é022-10-31T01:01:36Z", None),
        ] {
            assert_eq!(
                parse_date_time(text)
                    .map(|d| format_date_time(&d))
                    .as_deref(),
                expected,
                "{text:?}"
            );
        }
        assert_eq!(parse_utc("2022-10-31T01:01:36+00:00"), None);
    }
}
