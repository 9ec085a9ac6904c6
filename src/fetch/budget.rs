//! The activation budget: how many conversations `fetch` may make active
//! through the APIs, and when, so that the org never goes over its limit
//! of simultaneous active conversations.
//!
//! Salesforce's model (docs/fetch.md): an API read of a conversation makes
//! it active for a window (30 minutes), renewed by each read; the org's
//! own conversations in progress (its *load*) count against the same
//! limit. So at every instant `s`, the conversations convault made active
//! in `(s − window, s]`, plus the load at `s`, plus a headroom, must stay
//! within `active_limit`.
//!
//! Invariant kept by [`Budget::admits`]: an activation at `t` stays active
//! until `t + window`, so it is admitted only if, for every instant of
//! `[t, t + window)`, the activations already made that are still active
//! then, plus this one, fit the allowance at that instant (the limit less
//! that instant's load and the headroom). Activations only leave the
//! window as time passes, so it is enough to check the allowance's lowest
//! point over `[t, t + window)` against the count at `t`: the busy hours
//! starting within the next window lower it in advance.
//!
//! A read is free (no activation) when convault read the conversation
//! within the last window (it is active already, and the read renews it:
//! the renewal is recorded as a new activation time for the same
//! conversation, without counting twice), or when the org's data show the
//! conversation ended within the window (it is still active from its own
//! traffic).

use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// When the org is busy: days of the week and a daily span, in a zone.
#[derive(Debug, Clone, PartialEq)]
pub struct BusyHours {
    /// Monday first.
    pub days: [bool; 7],
    pub start: Time,
    pub end: Time,
    pub zone: TimeZone,
}

impl BusyHours {
    /// Parses `Mon-Fri 08:00-18:00 America/New_York`: days (a range or a
    /// comma list: `Mon,Wed,Fri`, `Sat-Sun`, `Mon-Sun`), a span of
    /// `HH:MM` (the end after the start), and an IANA zone.
    pub fn parse(text: &str) -> Result<BusyHours, String> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [days, span, zone] = parts[..] else {
            return Err(format!(
                "{text:?} is not days, hours and a time zone, e.g. \"Mon-Fri 08:00-18:00 America/New_York\""
            ));
        };
        let mut on = [false; 7];
        for item in days.split(',') {
            let (a, b) = item.split_once('-').unwrap_or((item, item));
            let (a, b) = (day(a)?, day(b)?);
            let mut d = a;
            loop {
                on[d] = true;
                if d == b {
                    break;
                }
                d = (d + 1) % 7;
            }
        }
        let (from, to) = span
            .split_once('-')
            .ok_or_else(|| format!("{span:?} is not a span of hours such as 08:00-18:00"))?;
        let time = |s: &str| {
            Time::strptime("%H:%M", s).map_err(|_| format!("{s:?} is not a time such as 08:00"))
        };
        let (start, end) = (time(from)?, time(to)?);
        if end <= start {
            return Err(format!(
                "{span:?}: the busy hours must end after they start on the same day"
            ));
        }
        let zone =
            TimeZone::get(zone).map_err(|e| format!("{zone:?} is not a known time zone ({e})"))?;
        Ok(BusyHours {
            days: on,
            start,
            end,
            zone,
        })
    }

    /// Whether `at` falls in the busy hours.
    pub fn contains(&self, at: Timestamp) -> bool {
        let local = at.to_zoned_datetime(self.zone.clone());
        let day = local.weekday().to_monday_zero_offset() as usize;
        let time = local.time();
        self.days[day] && time >= self.start && time < self.end
    }

    /// The first instant after `at` at which being busy or not changes,
    /// within `horizon` (at most a day and a half of minutes are looked
    /// at, to the minute: busy hours are whole minutes).
    fn next_change(&self, at: Timestamp, horizon: SignedDuration) -> Option<Timestamp> {
        let now = self.contains(at);
        // The next whole minute, then minute by minute.
        let ms = at.as_millisecond();
        let mut t = ms - ms.rem_euclid(60_000) + 60_000;
        let end = at.checked_add(horizon).ok()?.as_millisecond();
        while t <= end {
            let ts = Timestamp::from_millisecond(t).ok()?;
            if self.contains(ts) != now {
                return Some(ts);
            }
            t += 60_000;
        }
        None
    }
}

fn day(name: &str) -> Result<usize, String> {
    let d = match name.to_ascii_lowercase().as_str() {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => return Err(format!("{name:?} is not a day (Mon, Tue, … Sun)")),
    };
    Ok(d.to_monday_zero_offset() as usize)
}

/// The limit, the org's load over the week, the headroom and the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    pub active_limit: u32,
    pub busy_hours: Option<BusyHours>,
    pub busy_load: u32,
    pub quiet_load: u32,
    pub headroom: u32,
    pub window: SignedDuration,
}

impl Budget {
    /// How many conversations convault may keep active at `at`: the limit
    /// less the org's load then and the headroom (never below zero).
    pub fn allowance(&self, at: Timestamp) -> u32 {
        let load = match &self.busy_hours {
            Some(b) if b.contains(at) => self.busy_load,
            _ => self.quiet_load,
        };
        self.active_limit
            .saturating_sub(load)
            .saturating_sub(self.headroom)
    }

    /// The lowest allowance over `[at, at + window)`.
    pub fn lowest_allowance(&self, at: Timestamp) -> u32 {
        let mut lowest = self.allowance(at);
        if let Some(b) = &self.busy_hours {
            let mut t = at;
            while let Some(next) = b.next_change(t, self.window) {
                if next.duration_since(at) >= self.window {
                    break;
                }
                lowest = lowest.min(self.allowance(next));
                t = next;
            }
        }
        lowest
    }

    /// Whether one more activation at `at` keeps every instant within its
    /// allowance, given when each conversation convault made active was
    /// last read (`made`, any order; a conversation stays active a window
    /// after its last read; older ones are ignored).
    ///
    /// Activations made after `at` (another run's clock a little ahead)
    /// count too: each is active somewhere in `[at, at + window)`.
    pub fn admits(&self, at: Timestamp, made: &[Timestamp]) -> bool {
        let active = made
            .iter()
            .filter(|m| **m > at || at.duration_since(**m) < self.window)
            .count();
        active < self.lowest_allowance(at) as usize
    }

    /// Activations of `made` still active at `at`: made in `(at − window, at]`.
    pub fn active_at(&self, at: Timestamp, made: &[Timestamp]) -> usize {
        made.iter()
            .filter(|m| **m <= at && at.duration_since(**m) < self.window)
            .count()
    }

    /// The earliest instant from `at` on at which [`Budget::admits`] holds,
    /// looking at most a day ahead; `None` if the allowance is zero all
    /// that time.
    pub fn next_admitted(&self, at: Timestamp, made: &[Timestamp]) -> Option<Timestamp> {
        if self.admits(at, made) {
            return Some(at);
        }
        // Candidates: each moment an activation leaves the window, and
        // each minute (busy hours change on minutes).
        let horizon = at.checked_add(SignedDuration::from_hours(24)).ok()?;
        let mut candidates: Vec<Timestamp> = made
            .iter()
            .filter_map(|m| m.checked_add(self.window).ok())
            .filter(|t| *t > at && *t <= horizon)
            .collect();
        let ms = at.as_millisecond();
        let mut t = ms - ms.rem_euclid(60_000) + 60_000;
        while t <= horizon.as_millisecond() {
            if let Ok(ts) = Timestamp::from_millisecond(t) {
                candidates.push(ts);
            }
            t += 60_000;
        }
        candidates.sort();
        candidates.into_iter().find(|c| self.admits(*c, made))
    }
}

/// Whether reading a conversation at `at` activates it: not when convault
/// read it within the last window (`last_read`), nor when the org's data
/// say it ended within the window (`ended`).
pub fn costs(
    at: Timestamp,
    window: SignedDuration,
    last_read: Option<Timestamp>,
    ended: Option<Timestamp>,
) -> bool {
    let recent = |t: Option<Timestamp>| t.is_some_and(|t| t <= at && at.duration_since(t) < window);
    !(recent(last_read) || recent(ended))
}

/// A flat budget and a clock for the tests of the modules that use it.
#[cfg(test)]
pub mod tests_support {
    use super::*;

    /// `limit` activations a window of `window_s` seconds, no load.
    pub fn budget(limit: u32, window_s: i64) -> Budget {
        Budget {
            active_limit: limit,
            busy_hours: None,
            busy_load: 0,
            quiet_load: 0,
            headroom: 0,
            window: SignedDuration::from_secs(window_s),
        }
    }

    /// `s` seconds after a fixed instant (2026-11-07).
    pub fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_794_000_000 + s).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// Salesforce's example: 11,000 allowed, 8,000 in progress in business
    /// hours, so 3,000 (here less 500 headroom: 2,500) while busy, 10,500
    /// at night.
    fn example() -> Budget {
        Budget {
            active_limit: 11_000,
            busy_hours: Some(BusyHours::parse("Mon-Fri 08:00-18:00 America/New_York").unwrap()),
            busy_load: 8_000,
            quiet_load: 0,
            headroom: 500,
            window: SignedDuration::from_mins(30),
        }
    }

    #[test]
    fn busy_hours_parse_and_apply_in_their_zone() {
        let b = BusyHours::parse("Mon-Fri 08:00-18:00 America/New_York").unwrap();
        // Thursday 2026-11-26 13:00 UTC is 08:00 in New York (EST).
        assert!(b.contains(ts("2026-11-26T13:00:00Z")));
        assert!(!b.contains(ts("2026-11-26T12:59:59Z")));
        assert!(!b.contains(ts("2026-11-26T23:00:00Z")));
        // Saturday.
        assert!(!b.contains(ts("2026-11-28T15:00:00Z")));
        let w = BusyHours::parse("Sat-Sun,Wed 00:00-23:59 UTC").unwrap();
        assert_eq!(w.days, [false, false, true, false, false, true, true]);
        let wrap = BusyHours::parse("Fri-Mon 09:00-17:00 UTC").unwrap();
        assert_eq!(wrap.days, [true, false, false, false, true, true, true]);
        for bad in [
            "Mon-Fri 08:00-18:00",
            "Mon-Fry 08:00-18:00 UTC",
            "Mon-Fri 8-18 UTC",
            "Mon-Fri 18:00-08:00 UTC",
            "Mon-Fri 08:00-18:00 Mars/Olympus",
        ] {
            assert!(BusyHours::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_allowance_follows_the_load_and_drops_before_busy_hours() {
        let b = example();
        assert_eq!(b.allowance(ts("2026-11-26T12:00:00Z")), 10_500);
        assert_eq!(b.allowance(ts("2026-11-26T14:00:00Z")), 2_500);
        // 07:45 in New York: the busy hours start within the window.
        assert_eq!(b.lowest_allowance(ts("2026-11-26T12:45:00Z")), 2_500);
        assert_eq!(b.lowest_allowance(ts("2026-11-26T12:29:00Z")), 10_500);
        // A load above the limit leaves nothing, never an underflow.
        let full = Budget {
            busy_load: 20_000,
            ..example()
        };
        assert_eq!(full.allowance(ts("2026-11-26T14:00:00Z")), 0);
        assert_eq!(
            full.next_admitted(ts("2026-11-26T14:00:00Z"), &[])
                .map(|t| t.to_string()),
            Some("2026-11-26T23:00:00Z".into())
        );
    }

    #[test]
    fn reads_within_the_window_are_free() {
        let w = SignedDuration::from_mins(30);
        let at = ts("2026-11-26T12:00:00Z");
        assert!(costs(at, w, None, None));
        assert!(!costs(at, w, Some(ts("2026-11-26T11:31:00Z")), None));
        assert!(costs(at, w, Some(ts("2026-11-26T11:30:00Z")), None));
        assert!(!costs(at, w, None, Some(ts("2026-11-26T11:59:00Z"))));
        assert!(costs(at, w, None, Some(ts("2026-11-26T10:00:00Z"))));
    }

    #[test]
    fn waiting_gives_the_moment_an_activation_leaves_the_window() {
        let b = Budget {
            active_limit: 5,
            busy_hours: None,
            busy_load: 0,
            quiet_load: 0,
            headroom: 0,
            window: SignedDuration::from_secs(10),
        };
        let t0 = ts("2026-11-26T12:00:00Z");
        let made: Vec<Timestamp> = (0..5).map(|i| t0 + SignedDuration::from_secs(i)).collect();
        let at = t0 + SignedDuration::from_secs(5);
        assert!(!b.admits(at, &made));
        assert_eq!(
            b.next_admitted(at, &made),
            Some(t0 + SignedDuration::from_secs(10))
        );
    }

    proptest! {
        /// Admitting greedily at random moments never puts more than the
        /// allowance active at any instant, busy hours included.
        #[test]
        fn admitted_activations_never_exceed_the_allowance(
            steps in proptest::collection::vec(0u64..400, 1..200),
        ) {
            let b = Budget {
                active_limit: 12,
                busy_hours: Some(BusyHours::parse("Mon-Sun 12:10-12:20 UTC").unwrap()),
                busy_load: 8,
                quiet_load: 1,
                headroom: 1,
                window: SignedDuration::from_secs(120),
            };
            let mut at = ts("2026-11-26T12:00:00Z");
            let mut made = Vec::new();
            for s in steps {
                at += SignedDuration::from_secs(s as i64);
                if b.admits(at, &made) {
                    made.push(at);
                }
            }
            // Every instant at which the count can peak: each activation.
            // And every change of the load: the minutes.
            let mut checks = made.clone();
            let start = ts("2026-11-26T12:00:00Z").as_millisecond();
            for m in 0..200 {
                checks.push(Timestamp::from_millisecond(start + m * 60_000).unwrap());
            }
            for c in checks {
                prop_assert!(b.active_at(c, &made) <= b.allowance(c) as usize, "at {c}");
            }
        }
    }
}
