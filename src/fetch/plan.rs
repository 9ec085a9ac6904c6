//! `fetch --plan`: what a fetch would spend and when it would finish,
//! worked out without reading any conversation.
//!
//! The plan replays the run's own rule ([`decide`]) on a copy of the
//! shared record's last window, with the clock advanced by the request
//! pace and by each wait for the budget; so it predicts the run's
//! activations, free reads and waits exactly when nothing else draws on
//! the budget meanwhile. Requests are a floor: a conversation of more
//! than one page (over 1,000 entries) takes one more request per page.

use std::collections::HashMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::activations::{Recent, Reservation, decide};
use super::budget::Budget;
use crate::error::Result;

/// What a fetch would do.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Plan {
    pub conversations: u64,
    /// Reads that would count against the budget, and reads that would be
    /// free (read within the window, or ended within it).
    pub activations: u64,
    pub free_reads: u64,
    /// Times the run would wait for the window to free, and the windows
    /// it spans (one more than the waits).
    pub waits: u64,
    pub windows: u64,
    /// Requests at least: the token, the query's pages, one page per
    /// conversation.
    pub requests: u64,
    /// Conversations convault keeps active now, and how many the budget
    /// allows now.
    pub active_now: u64,
    pub allowance_now: u32,
    pub starts_at: String,
    /// When the last read would end; `null` when the budget allows no
    /// read for a whole day (`blocked` says from which conversation on).
    pub finishes_at: Option<String>,
    pub blocked: Option<u64>,
}

/// What the plan starts from.
pub struct Start<'a> {
    pub budget: &'a Budget,
    /// The shared record's reads within the window before `now`.
    pub recent: Vec<Recent>,
    pub now: Timestamp,
    /// The least time between two requests.
    pub interval: Duration,
    /// Requests made before the first conversation (token, query pages).
    pub requests_before: u64,
}

/// Plans reading `conversations` in order; `ended` gives the org's end
/// time of a conversation, when known.
pub fn plan(
    start: Start<'_>,
    conversations: &[String],
    ended: &dyn Fn(&str) -> Option<Timestamp>,
) -> Result<Plan> {
    let Start {
        budget,
        recent,
        now,
        interval,
        requests_before,
    } = start;
    let step = SignedDuration::try_from(interval).unwrap_or(SignedDuration::ZERO);
    // Each conversation's latest read, and whether it holds a slot.
    let mut reads: HashMap<String, (Timestamp, bool)> = recent
        .into_iter()
        .map(|r| (r.conversation, (r.last_read, r.activated)))
        .collect();
    let made_at = |reads: &HashMap<String, (Timestamp, bool)>| -> Vec<Timestamp> {
        reads
            .values()
            .filter(|(_, activated)| *activated)
            .map(|(t, _)| *t)
            .collect()
    };
    let active_now = budget.active_at(now, &made_at(&reads)) as u64;
    let mut p = Plan {
        conversations: conversations.len() as u64,
        activations: 0,
        free_reads: 0,
        waits: 0,
        windows: 1,
        requests: requests_before + conversations.len() as u64,
        active_now,
        allowance_now: budget.allowance(now),
        starts_at: crate::clock::rfc3339_ms(now),
        finishes_at: None,
        blocked: None,
    };
    // Request k goes out at `now + k × interval`, the first at once; a
    // one-page read ends about when it goes out (the org answers in
    // milliseconds, the pace is hundreds of them).
    let mut t = advance(now, step, requests_before);
    let mut last = now;
    for (i, conversation) in conversations.iter().enumerate() {
        let activated = loop {
            let last = reads.get(conversation.as_str()).map(|(t, _)| *t);
            match decide(budget, t, last, ended(conversation), || Ok(made_at(&reads)))? {
                Reservation::Free => {
                    p.free_reads += 1;
                    break None;
                }
                Reservation::Activated => {
                    p.activations += 1;
                    break Some(true);
                }
                Reservation::WaitUntil(Some(at)) => {
                    p.waits += 1;
                    t = at.max(t);
                }
                Reservation::WaitUntil(None) => {
                    p.blocked = Some(i as u64);
                    p.windows = p.waits + 1;
                    return Ok(p);
                }
            }
        };
        last = t;
        // As the run's `read_done`: the read's time is when it ended.
        let held = activated.unwrap_or(false)
            || reads
                .get(conversation.as_str())
                .is_some_and(|(_, held)| *held);
        reads.insert(conversation.clone(), (t, held));
        t = advance(t, step, 1);
    }
    p.windows = p.waits + 1;
    p.finishes_at = Some(crate::clock::rfc3339_ms(last));
    Ok(p)
}

fn advance(t: Timestamp, step: SignedDuration, times: u64) -> Timestamp {
    let by = step
        .checked_mul(i32::try_from(times).unwrap_or(i32::MAX))
        .unwrap_or(SignedDuration::MAX);
    t.checked_add(by).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::budget::tests_support::{at, budget};

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn twenty_on_a_budget_of_five_span_four_windows() {
        let b = budget(5, 60);
        let p = plan(
            Start {
                budget: &b,
                recent: Vec::new(),
                now: at(0),
                interval: Duration::from_secs(1),
                requests_before: 1,
            },
            &ids(20),
            &|_| None,
        )
        .unwrap();
        assert_eq!((p.activations, p.free_reads), (20, 0));
        assert_eq!((p.waits, p.windows), (3, 4));
        assert_eq!(p.requests, 21);
        // One request a second, the token at 0 s: the first five reads at
        // 1..5 s; the sixth waits for the first to leave the window (61
        // s), the group's reads at 61..65 s; then 121..125 s, 181..185 s.
        assert_eq!(p.finishes_at, Some(crate::clock::rfc3339_ms(at(185))));
    }

    #[test]
    fn recent_reads_and_ended_conversations_are_free_and_held_slots_count() {
        let b = budget(3, 60);
        let recent = vec![
            Recent {
                conversation: "c0".into(),
                last_read: at(-10),
                activated: true,
            },
            Recent {
                conversation: "old".into(),
                last_read: at(-30),
                activated: true,
            },
        ];
        let p = plan(
            Start {
                budget: &b,
                recent,
                now: at(0),
                interval: Duration::ZERO,
                requests_before: 0,
            },
            &ids(4),
            &|c| (c == "c1").then(|| at(-5)),
        )
        .unwrap();
        // c0 read 10 s ago and c1 ended 5 s ago: free. c2 takes the last
        // slot; c3 waits for "old" to leave the window (at 30 s).
        assert_eq!((p.free_reads, p.activations), (2, 2));
        assert_eq!(p.active_now, 2);
        assert_eq!(p.waits, 1);
        assert_eq!(p.finishes_at, Some(crate::clock::rfc3339_ms(at(30))));
    }

    #[test]
    fn a_budget_of_nothing_is_blocked_not_endless() {
        let b = budget(0, 60);
        let p = plan(
            Start {
                budget: &b,
                recent: Vec::new(),
                now: at(0),
                interval: Duration::ZERO,
                requests_before: 0,
            },
            &ids(2),
            &|_| None,
        )
        .unwrap();
        assert_eq!((p.blocked, p.finishes_at), (Some(0), None));
    }
}
