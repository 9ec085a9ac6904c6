//! A retention period: a whole number of years, months or days (`7y`,
//! `84m`, `2555d`), applied in calendar arithmetic in UTC.

use std::fmt;
use std::str::FromStr;

use jiff::{Span, Timestamp, tz::TimeZone};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The longest period accepted, in years: beyond it the cutoff would fall
/// before any record could exist, which is surely a typing mistake.
const MAX_YEARS: u32 = 200;

/// A retention period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Period {
    pub count: u32,
    pub unit: Unit,
}

/// A period's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Years,
    Months,
    Days,
}

impl Period {
    /// The instant a period before `now`: what lies before it is past the
    /// period.
    pub fn cutoff(&self, now: Timestamp) -> Result<Timestamp> {
        let n = i64::from(self.count);
        let span = match self.unit {
            Unit::Years => Span::new().years(n),
            Unit::Months => Span::new().months(n),
            Unit::Days => Span::new().days(n),
        };
        now.to_zoned_datetime(TimeZone::UTC)
            .checked_sub(span)
            .map(|z| z.timestamp())
            .map_err(|e| Error::Usage(format!("the period {self} cannot be applied: {e}")))
    }

    /// Whether this period, applied at `now`, keeps for less time than
    /// `other`: its cutoff is later.
    pub fn is_shorter_than(&self, other: &Period, now: Timestamp) -> Result<bool> {
        Ok(self.cutoff(now)? > other.cutoff(now)?)
    }
}

impl FromStr for Period {
    type Err = Error;

    fn from_str(s: &str) -> Result<Period> {
        let bad = |why: &str| {
            Error::Usage(format!(
                "{s:?} is not a retention period ({why}): give a whole number and a unit, y (years), m (months) or d (days), e.g. 7y or 2555d"
            ))
        };
        let t = s.trim();
        let Some(last) = t.chars().last() else {
            return Err(bad("it is empty"));
        };
        let unit = match last.to_ascii_lowercase() {
            'y' => Unit::Years,
            'm' => Unit::Months,
            'd' => Unit::Days,
            c if c.is_ascii_digit() => return Err(bad("no unit")),
            'w' => {
                return Err(bad(
                    "w is not a unit here: give weeks as days, e.g. 14d for 2w",
                ));
            }
            _ => return Err(bad(&format!("{last:?} is not a unit"))),
        };
        let digits = &t[..t.len() - last.len_utf8()];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("not a whole number"));
        }
        let count: u32 = digits.parse().map_err(|_| bad("too large"))?;
        if count == 0 {
            return Err(bad("it must be at least 1"));
        }
        let years = match unit {
            Unit::Years => count,
            Unit::Months => count / 12,
            Unit::Days => count / 365,
        };
        if years > MAX_YEARS {
            return Err(bad("longer than 200 years"));
        }
        Ok(Period { count, unit })
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            Unit::Years => 'y',
            Unit::Months => 'm',
            Unit::Days => 'd',
        };
        write!(f, "{}{unit}", self.count)
    }
}

impl From<Period> for String {
    fn from(p: Period) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for Period {
    type Error = Error;
    fn try_from(s: String) -> Result<Period> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn periods_parse_and_print_back() {
        for s in ["7y", "84m", "2555d", "1d"] {
            assert_eq!(s.parse::<Period>().unwrap().to_string(), s);
        }
        assert_eq!("7Y".parse::<Period>().unwrap().to_string(), "7y");
        for bad in [
            "",
            "7",
            "y",
            "0y",
            "-1y",
            "7w",
            "1.5y",
            "201y",
            "99999999999d",
            "7 y",
        ] {
            let e = bad.parse::<Period>().unwrap_err();
            assert!(matches!(e, Error::Usage(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn cutoffs_are_calendar_arithmetic_in_utc() {
        let now: Timestamp = "2026-03-01T12:00:00Z".parse().unwrap();
        let p: Period = "1y".parse().unwrap();
        assert_eq!(p.cutoff(now).unwrap().to_string(), "2025-03-01T12:00:00Z");
        let p: Period = "1m".parse().unwrap();
        assert_eq!(p.cutoff(now).unwrap().to_string(), "2026-02-01T12:00:00Z");
        let p: Period = "365d".parse().unwrap();
        assert_eq!(p.cutoff(now).unwrap().to_string(), "2025-03-01T12:00:00Z");
        // 2555 days is not 7 years: 7 years from 2026-03-01 hold two leap days.
        let (y7, d2555): (Period, Period) = ("7y".parse().unwrap(), "2555d".parse().unwrap());
        assert!(d2555.is_shorter_than(&y7, now).unwrap());
        assert!(!y7.is_shorter_than(&d2555, now).unwrap());
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_a_usage_error(s in "\\PC{0,12}") {
            match s.parse::<Period>() {
                Ok(p) => prop_assert_eq!(p.to_string().parse::<Period>().unwrap(), p),
                Err(e) => prop_assert!(matches!(e, Error::Usage(_))),
            }
        }
    }
}
