//! Timestamps as exports write them, to UTC epoch milliseconds.
//!
//! Salesforce writes the same instant three ways: integer epoch
//! milliseconds on the wire, epoch seconds in one documented example, and
//! ISO-8601 in DMO and Data Export CSVs. A bare number below 10^11 is taken
//! as seconds (10^11 seconds is the year 5138; 10^11 ms is March 1973).

use jiff::Timestamp;

/// Numbers below this are epoch seconds, at or above it epoch milliseconds.
const SECONDS_LIMIT: f64 = 1e11;

/// Parses `raw` as epoch ms, epoch seconds (integer or decimal) or ISO-8601.
///
/// Empty text is `Ok(None)`. ISO-8601 without an offset is taken as UTC.
/// The error says what was found, for the quarantine reason.
pub fn parse_millis(raw: &str) -> Result<Option<i64>, String> {
    let s = raw.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("null") {
        return Ok(None);
    }
    if let Ok(n) = s.parse::<i64>() {
        let ms = if (n.unsigned_abs() as f64) < SECONDS_LIMIT {
            n.checked_mul(1000)
        } else {
            Some(n)
        };
        return ms
            .filter(|ms| Timestamp::from_millisecond(*ms).is_ok())
            .map(Some)
            .ok_or_else(|| format!("timestamp {s:?} is out of range"));
    }
    if s.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        if let Ok(f) = s.parse::<f64>() {
            let ms = if f.abs() < SECONDS_LIMIT {
                f * 1000.0
            } else {
                f
            };
            let ms = ms.round();
            if ms.is_finite() && Timestamp::from_millisecond(ms as i64).is_ok() {
                return Ok(Some(ms as i64));
            }
        }
        return Err(format!("timestamp {s:?} is not a valid number"));
    }
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(Some(ts.as_millisecond()));
    }
    // Some CSV writers drop the offset or use a space: read those as UTC.
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>()
        && let Ok(ts) = jiff::tz::TimeZone::UTC.to_timestamp(dt)
    {
        return Ok(Some(ts.as_millisecond()));
    }
    Err(format!(
        "timestamp {s:?} is neither epoch milliseconds, epoch seconds nor ISO-8601"
    ))
}

/// RFC 3339 UTC text of `ms`, with milliseconds (`2026-11-16T09:14:03.000Z`).
pub fn rfc3339(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => format!("@{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn three_forms_agree() {
        let ms = Some(1_736_508_081_000);
        assert_eq!(parse_millis("1736508081000"), Ok(ms));
        assert_eq!(parse_millis("1736508081"), Ok(ms));
        assert_eq!(parse_millis("2025-01-10T11:21:21Z"), Ok(ms));
        assert_eq!(parse_millis("2025-01-10T11:21:21.000+00:00"), Ok(ms));
        assert_eq!(parse_millis("2025-01-10T12:21:21+01:00"), Ok(ms));
        assert_eq!(parse_millis("2025-01-10 11:21:21"), Ok(ms));
        assert_eq!(parse_millis("1736508081.5"), Ok(Some(1_736_508_081_500)));
    }

    #[test]
    fn empty_is_none_and_junk_is_an_error() {
        assert_eq!(parse_millis(""), Ok(None));
        assert_eq!(parse_millis("  "), Ok(None));
        assert!(parse_millis("yesterday").unwrap_err().contains("yesterday"));
        assert!(parse_millis("1.2.3").is_err());
        assert!(parse_millis("99999999999999999").is_err());
    }

    #[test]
    fn rfc3339_has_millis_and_z() {
        assert_eq!(rfc3339(1_736_508_081_161), "2025-01-10T11:21:21.161Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }

    proptest! {
        #[test]
        fn millis_round_trip_through_every_form(ms in 100_000_000_000i64..4_000_000_000_000i64) {
            prop_assert_eq!(parse_millis(&ms.to_string()), Ok(Some(ms)));
            prop_assert_eq!(parse_millis(&rfc3339(ms)), Ok(Some(ms)));
            let secs = ms / 1000;
            prop_assert_eq!(parse_millis(&secs.to_string()), Ok(Some(secs * 1000)));
        }

        #[test]
        fn never_panics(s in "\\PC*") {
            let _ = parse_millis(&s);
        }
    }
}
