//! What time it is, and who is acting: the two facts every ledger record
//! takes from the environment.
//!
//! `CONVAULT_NOW` (an RFC 3339 instant) replaces the system clock. It exists
//! so that tests and drills can run the cadence rule at chosen moments; the
//! ledger still notices a clock that goes backwards, whichever clock it is.

use jiff::Timestamp;

use crate::error::{Error, Result};

/// The environment variable that overrides the system clock.
pub const NOW_VAR: &str = "CONVAULT_NOW";

/// The current time, from `CONVAULT_NOW` when set, else the system clock.
pub fn now() -> Result<Timestamp> {
    match std::env::var(NOW_VAR) {
        Ok(s) => s.trim().parse::<Timestamp>().map_err(|e| {
            Error::Usage(format!(
                "{NOW_VAR}={s:?} is not an RFC 3339 time such as 2026-11-24T09:00:00Z ({e})"
            ))
        }),
        Err(_) => Ok(Timestamp::now()),
    }
}

/// Formats `t` as RFC 3339 in UTC with milliseconds: `2026-11-24T09:00:00.000Z`.
///
/// The ledger hashes this exact text, so its form never changes.
pub fn rfc3339_ms(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Formats epoch milliseconds as [`rfc3339_ms`] does; `None` if out of range.
pub fn rfc3339_from_ms(ms: i64) -> Option<String> {
    Timestamp::from_millisecond(ms).ok().map(rfc3339_ms)
}

/// The name recorded as who acted when `--by` is not given: the login name
/// from the environment, else the numeric user id.
pub fn default_actor() -> String {
    for var in ["USER", "LOGNAME", "USERNAME"] {
        if let Ok(name) = std::env::var(var)
            && !name.trim().is_empty()
        {
            return name.trim().to_owned();
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(meta) = std::fs::metadata("/proc/self") {
            return format!("uid {}", meta.uid());
        }
    }
    "unknown".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_has_fixed_millisecond_form() {
        let t: Timestamp = "2026-11-24T09:00:00Z".parse().unwrap();
        assert_eq!(rfc3339_ms(t), "2026-11-24T09:00:00.000Z");
        assert_eq!(
            rfc3339_from_ms(t.as_millisecond() + 7).as_deref(),
            Some("2026-11-24T09:00:00.007Z")
        );
    }
}
