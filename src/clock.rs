//! What time it is, and who is acting: the two facts every ledger record
//! takes from the environment.
//!
//! `CONVAULT_NOW` (an RFC 3339 instant) replaces the system clock in test
//! builds only (`CLOCK_OVERRIDABLE`): tests run the cadence and retention
//! rules at chosen moments; a release build refuses it. The ledger still
//! notices a clock that goes backwards, whichever clock it is.

use jiff::Timestamp;

use crate::error::{Error, Result};

/// The environment variable that overrides the system clock.
pub const NOW_VAR: &str = "CONVAULT_NOW";

/// Whether this build honours [`NOW_VAR`]: test builds only (debug
/// assertions, as `cargo test` builds, or the `test-clock` feature, as the
/// benchmarks ask). A release build never lets a variable move its clock:
/// a retention period or an erasure's minimum would pass in an instant,
/// and every ledger record could be backdated.
pub const CLOCK_OVERRIDABLE: bool = cfg!(any(debug_assertions, feature = "test-clock"));

/// The current time: the system clock, or `CONVAULT_NOW` in a test build
/// ([`CLOCK_OVERRIDABLE`]). A release build given `CONVAULT_NOW` refuses
/// to run (exit 2) rather than act at a time it was not asked to.
pub fn now() -> Result<Timestamp> {
    now_given(CLOCK_OVERRIDABLE, std::env::var_os(NOW_VAR))
}

/// [`now`] for a build that does or does not honour the override, given
/// the variable's value.
fn now_given(overridable: bool, value: Option<std::ffi::OsString>) -> Result<Timestamp> {
    let Some(value) = value else {
        return Ok(Timestamp::now());
    };
    if !overridable {
        return Err(Error::Usage(format!(
            "{NOW_VAR} is set, but this is a release build, which always uses the system clock (a moved clock could pass a retention period or backdate the ledger): unset {NOW_VAR}"
        )));
    }
    let s = value.to_string_lossy();
    s.trim().parse::<Timestamp>().map_err(|e| {
        Error::Usage(format!(
            "{NOW_VAR}={s:?} is not an RFC 3339 time such as 2026-11-24T09:00:00Z ({e})"
        ))
    })
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

    /// A release build never lets the variable move its clock, so no
    /// retention period passes and no ledger record is dated by it.
    #[test]
    fn only_a_test_build_lets_the_variable_move_the_clock() {
        let later = Some("2040-01-01T00:00:00Z".into());
        let e = now_given(false, later.clone()).unwrap_err();
        assert!(matches!(e, Error::Usage(_)), "{e}");
        assert!(e.to_string().contains("release build"), "{e}");
        let t = now_given(true, later).unwrap();
        assert_eq!(rfc3339_ms(t), "2040-01-01T00:00:00.000Z");
        // Unset: the system clock, in either build.
        let before = Timestamp::now();
        assert!(now_given(false, None).unwrap() >= before);
        assert!(now_given(true, Some("soon".into())).is_err());
    }

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
