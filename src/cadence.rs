//! The export cadence: Salesforce lets an org run each kind of bulk export
//! only once per interval, and a new Data Export deletes the previous one's
//! files. Everything here is derived from the ledger, in UTC.
//!
//! Rules (docs/commands.md, `status` and `request`):
//! - The last *run* of a kind is the later of its last request and the
//!   generation time of its last ingested export. The next request is
//!   allowed one interval after it: 7 days, or 29 for a monthly Data Export.
//! - A request is *pending* until an export of its kind is ingested after
//!   it; a new request while one is pending would destroy its files.
//! - An export is *due* when a request is allowed and none is pending, and
//!   *overdue* a day after that.
//! - *Gaps* are whole weeks (ISO weeks, Monday to Sunday, UTC) or, for a
//!   monthly Data Export, months, between the first ingested export and the
//!   current period, in which no ingested export was generated.

use std::collections::BTreeSet;
use std::fmt;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp, ToSpan};
use serde::Serialize;
use serde_json::Value;

use crate::clock;
pub use crate::export::ExportKind;
use crate::ledger::{self, Record, kind};

/// How long after a Data Export request its files can be downloaded.
pub const DOWNLOAD_WINDOW: SignedDuration = SignedDuration::from_hours(48);
/// How long an export may stay due before it is overdue.
pub const GRACE: SignedDuration = SignedDuration::from_hours(24);

/// One request or ingest of a kind, as the ledger holds it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub seq: i64,
    pub time: String,
    pub who: String,
    /// For an ingest: the export.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_id: Option<i64>,
    /// For an ingest: when the export was generated, by its own timestamps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<String>,
    /// For a request: a monthly Data Export.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub monthly: bool,
    #[serde(skip)]
    at: Timestamp,
    /// When the export ran: the request, or the export's generation.
    #[serde(skip)]
    ran: Timestamp,
}

/// A request not yet followed by an ingest of its kind.
#[derive(Debug, Clone, Serialize)]
pub struct Pending {
    pub seq: i64,
    pub requested_at: String,
    /// For a Data Export: until when its files can be downloaded.
    pub download_until: Option<String>,
    /// That time has passed.
    pub download_window_closed: bool,
}

/// Periods with no export.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Gap {
    /// First day of the first empty period (UTC).
    pub from: String,
    /// Last day of the last empty period (UTC).
    pub to: String,
    /// How many weeks (or months) in a row.
    pub periods: u32,
}

/// The state of one kind of export at a moment.
#[derive(Debug, Clone, Serialize)]
pub struct KindStatus {
    pub kind: ExportKind,
    pub interval_days: i64,
    pub monthly: bool,
    pub last_request: Option<Event>,
    pub last_ingest: Option<Event>,
    /// When the next request is allowed (UTC); `null` if it never ran.
    pub next_allowed: Option<String>,
    /// The same in the local time zone.
    pub next_allowed_local: Option<String>,
    pub allowed_now: bool,
    pub due: bool,
    pub overdue: bool,
    pub pending: Option<Pending>,
    pub gaps: Vec<Gap>,
    /// This kind appears in the ledger (or is the transcript export, which
    /// convault always tracks).
    pub tracked: bool,
    /// Whether an export would be due if this kind were tracked (what
    /// `status --due --kind KIND` answers).
    #[serde(skip)]
    pub due_if_used: bool,
    #[serde(skip)]
    next_allowed_at: Option<Timestamp>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Refusal {
    /// Less than the interval since the last run.
    TooSoon {
        last_run: String,
        next_allowed: String,
    },
    /// The previous request has not been ingested.
    NotIngested {
        seq: i64,
        requested_at: String,
        download_until: Option<String>,
    },
    /// The clock reads earlier than the newest ledger record.
    ClockWentBack { now: String, newest_record: String },
}

impl Refusal {
    /// The rule's name, as recorded in an override.
    pub fn rule(&self) -> &'static str {
        match self {
            Refusal::TooSoon { .. } => "interval",
            Refusal::NotIngested { .. } => "not-ingested",
            Refusal::ClockWentBack { .. } => "clock",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::TooSoon {
                last_run,
                next_allowed,
            } => write!(
                f,
                "the last export ran at {last_run}; Salesforce allows the next one from {next_allowed} ({})",
                local(next_allowed)
            ),
            Refusal::NotIngested {
                seq,
                requested_at,
                download_until,
            } => {
                write!(
                    f,
                    "the export requested at {requested_at} (ledger record {seq}) has not been ingested yet, and a new export would delete its files; ingest it first"
                )?;
                if let Some(until) = download_until {
                    write!(f, " (its files can be downloaded until {until})")?;
                }
                Ok(())
            }
            Refusal::ClockWentBack { now, newest_record } => write!(
                f,
                "the clock reads {now}, earlier than the newest ledger record ({newest_record}): check the system clock"
            ),
        }
    }
}

/// The status of every kind at `now`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub now: String,
    pub now_local: String,
    pub kinds: Vec<KindStatus>,
    pub warnings: Vec<String>,
}

impl Status {
    pub fn kind(&self, kind: ExportKind) -> Option<&KindStatus> {
        self.kinds.iter().find(|k| k.kind == kind)
    }
}

/// The status of every kind of export at `now`, from the ledger.
pub fn status(records: &[Record], now: Timestamp) -> Status {
    let mut warnings = Vec::new();
    if let Some(newest) = ledger::clock_went_back(records, now) {
        warnings.push(format!(
            "the clock reads {}, earlier than the newest ledger record ({}): the clock has gone backwards; requests are refused until it is right",
            clock::rfc3339_ms(now),
            clock::rfc3339_ms(newest)
        ));
    }
    let kinds = ExportKind::ALL
        .into_iter()
        .map(|k| kind_status(records, k, now, false))
        .collect::<Vec<_>>();
    for k in &kinds {
        // A generation time in the future: a clock behind, or an export's
        // times forged or wrong. The cadence counts from it all the same,
        // so say so rather than believe it silently.
        // (Without a generation time of its own, an export is placed at
        // its ingest: a clock gone back, warned of above.)
        if let Some(last) = &k.last_ingest
            && last.generated_at.is_some()
            && last.ran > now
        {
            warnings.push(format!(
                "the latest {} export (export {}) says it was generated at {}, later than the clock ({}): either the clock is behind or the export's times are wrong, and the next export is counted from that time",
                k.kind,
                last.export_id.map_or("?".to_owned(), |e| e.to_string()),
                clock::rfc3339_ms(last.ran),
                clock::rfc3339_ms(now)
            ));
        }
        if let Some(p) = &k.pending
            && p.download_window_closed
        {
            warnings.push(format!(
                "the {} export requested at {} was not ingested before its files expired ({}): ingest what was downloaded, or request a new export with --override",
                k.kind,
                p.requested_at,
                p.download_until.as_deref().unwrap_or("?")
            ));
        }
    }
    Status {
        now: clock::rfc3339_ms(now),
        now_local: local(&clock::rfc3339_ms(now)),
        kinds,
        warnings,
    }
}

/// Why a request of `kind` at `now` would be refused (empty: allowed).
pub fn refusals(
    records: &[Record],
    kind: ExportKind,
    monthly: bool,
    now: Timestamp,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    if let Some(newest) = ledger::clock_went_back(records, now) {
        out.push(Refusal::ClockWentBack {
            now: clock::rfc3339_ms(now),
            newest_record: clock::rfc3339_ms(newest),
        });
    }
    let s = kind_status(records, kind, now, monthly);
    if let Some(p) = &s.pending {
        out.push(Refusal::NotIngested {
            seq: p.seq,
            requested_at: p.requested_at.clone(),
            download_until: p.download_until.clone(),
        });
    }
    if let Some(next) = s.next_allowed_at
        && now < next
    {
        let last_run = next.checked_sub(s.interval()).unwrap_or(next);
        out.push(Refusal::TooSoon {
            last_run: clock::rfc3339_ms(last_run),
            next_allowed: clock::rfc3339_ms(next),
        });
    }
    out
}

/// A warning when an export of `kind` generated at `generated` came less
/// than the interval after the previous ingested one of its kind.
pub fn generated_too_soon(
    records: &[Record],
    kind: ExportKind,
    generated: Timestamp,
) -> Option<String> {
    let s = kind_status(records, kind, generated, false);
    let previous = s.last_ingest.as_ref()?;
    let interval = s.interval();
    (generated < plus(previous.ran, interval) && generated >= previous.ran).then(|| {
        format!(
            "this {kind} export was generated at {}, less than {} days after the previous one ({}, export {}): Salesforce allows one per {} days, so check that it is a new export",
            clock::rfc3339_ms(generated),
            s.interval_days,
            clock::rfc3339_ms(previous.ran),
            previous.export_id.map_or_else(|| "?".into(), |id| id.to_string()),
            s.interval_days,
        )
    })
}

impl KindStatus {
    fn interval(&self) -> SignedDuration {
        self.kind.interval(self.monthly)
    }
}

fn details_kind(r: &Record) -> Option<ExportKind> {
    r.details
        .get("export_kind")
        .and_then(Value::as_str)
        .and_then(ExportKind::parse)
}

fn kind_status(
    records: &[Record],
    kind: ExportKind,
    now: Timestamp,
    monthly_flag: bool,
) -> KindStatus {
    let mut last_request: Option<Event> = None;
    let mut last_ingest: Option<Event> = None;
    // When the last ingest ran: a request is pending until an ingest
    // follows it.
    let mut last_ingest_at: Option<Timestamp> = None;
    let mut covered = BTreeSet::new();
    let mut tracked = kind == ExportKind::Transcripts;
    for r in records {
        if details_kind(r) != Some(kind) {
            continue;
        }
        tracked = true;
        let Some(at) = r.timestamp() else { continue };
        match r.kind.as_str() {
            kind::EXPORT_REQUESTED => {
                last_request = Some(Event {
                    seq: r.seq,
                    time: r.time.clone(),
                    who: r.who.clone(),
                    export_id: None,
                    generated_at: None,
                    monthly: r.details.get("monthly").and_then(Value::as_bool) == Some(true),
                    at,
                    ran: at,
                });
            }
            kind::EXPORT_INGESTED => {
                let generated = r
                    .details
                    .get("generated_at")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<Timestamp>().ok());
                // Without its own timestamps, an export that answers a
                // pending request ran when it was requested; otherwise the
                // ingest is the latest it can have run.
                let answered = last_request
                    .as_ref()
                    .filter(|req| last_ingest_at.is_none_or(|ing| ing < req.at))
                    .map(|req| req.ran);
                let ran = generated.or(answered).unwrap_or(at);
                covered.insert(ran);
                last_ingest_at = Some(at);
                // The latest export is the latest generated, whatever the
                // order they were ingested in (a backfill of old weeks).
                if last_ingest.as_ref().is_some_and(|l| l.ran > ran) {
                    continue;
                }
                last_ingest = Some(Event {
                    seq: r.seq,
                    time: r.time.clone(),
                    who: r.who.clone(),
                    export_id: r.details.get("export_id").and_then(Value::as_i64),
                    generated_at: generated.map(clock::rfc3339_ms),
                    monthly: false,
                    at,
                    ran,
                });
            }
            _ => {}
        }
    }
    let monthly = monthly_flag || last_request.as_ref().is_some_and(|r| r.monthly);
    let interval = kind.interval(monthly);
    let last_run = [&last_request, &last_ingest]
        .into_iter()
        .flatten()
        .map(|e| e.ran)
        .max();
    let next_allowed_at = last_run.map(|t| plus(t, interval));
    let pending = last_request
        .as_ref()
        .filter(|req| last_ingest_at.is_none_or(|ing| ing < req.at))
        .map(|req| {
            let until = (kind == ExportKind::DataExport).then(|| plus(req.at, DOWNLOAD_WINDOW));
            Pending {
                seq: req.seq,
                requested_at: req.time.clone(),
                download_until: until.map(clock::rfc3339_ms),
                download_window_closed: until.is_some_and(|u| now > u),
            }
        });
    let allowed_now = next_allowed_at.is_none_or(|n| now >= n);
    let due = tracked && allowed_now && pending.is_none();
    let due_if_used = allowed_now && pending.is_none();
    let overdue = due && next_allowed_at.is_some_and(|n| now >= plus(n, GRACE));
    KindStatus {
        kind,
        interval_days: interval.as_hours() / 24,
        monthly,
        last_request,
        last_ingest,
        next_allowed: next_allowed_at.map(clock::rfc3339_ms),
        next_allowed_local: next_allowed_at.map(|t| local(&clock::rfc3339_ms(t))),
        allowed_now,
        due,
        overdue,
        pending,
        gaps: gaps(&covered, now, monthly),
        tracked,
        due_if_used,
        next_allowed_at,
    }
}

/// `t + d`, saturating at the end of time (a ledger may hold any date).
fn plus(t: Timestamp, d: SignedDuration) -> Timestamp {
    t.checked_add(d).unwrap_or(Timestamp::MAX)
}

/// The first day of the period (ISO week, or month) holding `t`, in UTC.
fn period_start(t: Timestamp, monthly: bool) -> Date {
    let date = t.to_zoned_datetime(TimeZone::UTC).date();
    if monthly {
        date.first_of_month()
    } else {
        date.checked_sub(i64::from(date.weekday().to_monday_zero_offset()).days())
            .unwrap_or(date)
    }
}

fn next_period(d: Date, monthly: bool) -> Option<Date> {
    if monthly {
        d.checked_add(1.month()).ok()
    } else {
        d.checked_add(7.days()).ok()
    }
}

/// Runs of periods without an export, from the first export's period up to
/// (not including) the current one.
fn gaps(covered: &BTreeSet<Timestamp>, now: Timestamp, monthly: bool) -> Vec<Gap> {
    let Some(&first) = covered.first() else {
        return Vec::new();
    };
    let have: BTreeSet<Date> = covered.iter().map(|&t| period_start(t, monthly)).collect();
    let current = period_start(now, monthly);
    let mut out: Vec<Gap> = Vec::new();
    let mut open: Option<(Date, Date, u32)> = None;
    let mut d = period_start(first, monthly);
    while d < current {
        let Some(next) = next_period(d, monthly) else {
            break;
        };
        if have.contains(&d) {
            if let Some((from, to, n)) = open.take() {
                out.push(gap(from, to, n));
            }
        } else {
            let last_day = next.yesterday().unwrap_or(d);
            open = Some(match open {
                Some((from, _, n)) => (from, last_day, n + 1),
                None => (d, last_day, 1),
            });
        }
        d = next;
    }
    if let Some((from, to, n)) = open {
        out.push(gap(from, to, n));
    }
    out
}

fn gap(from: Date, to: Date, periods: u32) -> Gap {
    Gap {
        from: from.to_string(),
        to: to.to_string(),
        periods,
    }
}

/// An RFC 3339 UTC time shown in the system's local time zone.
pub fn local(rfc3339: &str) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(t) => t
            .to_zoned_datetime(TimeZone::system())
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::GENESIS;
    use serde_json::json;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn rec(seq: i64, time: &str, kind: &str, details: Value) -> Record {
        Record {
            seq,
            time: clock::rfc3339_ms(t(time)),
            kind: kind.into(),
            who: "alice".into(),
            details,
            prev: GENESIS.into(),
            hash: String::new(),
        }
    }

    fn requested(seq: i64, time: &str, k: &str) -> Record {
        rec(seq, time, kind::EXPORT_REQUESTED, json!({"export_kind": k}))
    }

    fn ingested(seq: i64, time: &str, k: &str, generated: Option<&str>) -> Record {
        rec(
            seq,
            time,
            kind::EXPORT_INGESTED,
            json!({"export_kind": k, "export_id": seq, "generated_at": generated}),
        )
    }

    #[test]
    fn seven_days_to_the_millisecond() {
        let records = vec![
            requested(1, "2026-11-01T09:00:00Z", "transcripts"),
            ingested(2, "2026-11-01T12:00:00Z", "transcripts", None),
        ];
        let almost = t("2026-11-08T08:59:59.999Z");
        let r = refusals(&records, ExportKind::Transcripts, false, almost);
        assert!(
            matches!(&r[..], [Refusal::TooSoon { next_allowed, .. }] if next_allowed == "2026-11-08T09:00:00.000Z"),
            "{r:?}"
        );
        // 6 days 23:59 after the request: refused; 7 days: allowed.
        let r = refusals(
            &records,
            ExportKind::Transcripts,
            false,
            t("2026-11-08T08:59:00Z"),
        );
        assert_eq!(r.len(), 1);
        assert!(
            refusals(
                &records,
                ExportKind::Transcripts,
                false,
                t("2026-11-08T09:00:00Z")
            )
            .is_empty()
        );
        let s = status(&records, t("2026-11-08T09:00:00Z"));
        let k = s.kind(ExportKind::Transcripts).unwrap();
        assert!(k.due && !k.overdue && k.allowed_now);
        let s = status(&records, t("2026-11-09T09:00:00Z"));
        assert!(s.kind(ExportKind::Transcripts).unwrap().overdue);
        let s = status(&records, t("2026-11-08T08:59:00Z"));
        assert!(!s.kind(ExportKind::Transcripts).unwrap().due);
    }

    #[test]
    fn the_export_generation_time_counts_when_it_is_later() {
        // Ingested without a request; generated at 10:00 on the 2nd.
        let records = vec![ingested(
            1,
            "2026-11-03T00:00:00Z",
            "transcripts",
            Some("2026-11-02T10:00:00Z"),
        )];
        assert_eq!(
            refusals(
                &records,
                ExportKind::Transcripts,
                false,
                t("2026-11-09T09:59:59Z")
            )
            .len(),
            1
        );
        assert!(
            refusals(
                &records,
                ExportKind::Transcripts,
                false,
                t("2026-11-09T10:00:00Z")
            )
            .is_empty()
        );
    }

    #[test]
    fn monthly_data_exports_wait_29_days_and_pending_ones_expire_after_48_hours() {
        let records = vec![rec(
            1,
            "2026-11-01T00:00:00Z",
            kind::EXPORT_REQUESTED,
            json!({"export_kind": "data-export", "monthly": true}),
        )];
        let s = status(&records, t("2026-11-02T00:00:00Z"));
        let k = s.kind(ExportKind::DataExport).unwrap();
        assert_eq!(k.interval_days, 29);
        assert_eq!(k.next_allowed.as_deref(), Some("2026-11-30T00:00:00.000Z"));
        let p = k.pending.as_ref().unwrap();
        assert_eq!(
            p.download_until.as_deref(),
            Some("2026-11-03T00:00:00.000Z")
        );
        assert!(!p.download_window_closed);
        let s = status(&records, t("2026-11-03T00:00:01Z"));
        assert!(
            s.kind(ExportKind::DataExport)
                .unwrap()
                .pending
                .as_ref()
                .unwrap()
                .download_window_closed
        );
        assert_eq!(s.warnings.len(), 1);
        // The transcripts kind is unaffected.
        assert!(s.kind(ExportKind::Transcripts).unwrap().due);
    }

    #[test]
    fn a_pending_request_refuses_the_next_until_ingested() {
        let mut records = vec![requested(1, "2026-11-01T00:00:00Z", "transcripts")];
        let later = t("2026-11-20T00:00:00Z");
        let r = refusals(&records, ExportKind::Transcripts, false, later);
        assert!(
            matches!(&r[..], [Refusal::NotIngested { seq: 1, .. }]),
            "{r:?}"
        );
        assert!(
            !status(&records, later)
                .kind(ExportKind::Transcripts)
                .unwrap()
                .due
        );
        records.push(ingested(2, "2026-11-02T00:00:00Z", "transcripts", None));
        assert!(refusals(&records, ExportKind::Transcripts, false, later).is_empty());
    }

    #[test]
    fn a_clock_behind_the_ledger_refuses() {
        let records = vec![ingested(1, "2026-11-10T00:00:00Z", "transcripts", None)];
        let r = refusals(
            &records,
            ExportKind::Transcripts,
            false,
            t("2026-11-09T00:00:00Z"),
        );
        assert!(
            r.iter().any(|r| matches!(r, Refusal::ClockWentBack { .. })),
            "{r:?}"
        );
        assert_eq!(
            status(&records, t("2026-11-09T00:00:00Z")).warnings.len(),
            1
        );
    }

    #[test]
    fn gaps_are_whole_weeks_without_an_export() {
        // Weeks starting Mon 2 Nov, 9 Nov, 16 Nov, 23 Nov, 30 Nov 2026.
        let records = vec![
            ingested(1, "2026-11-03T00:00:00Z", "transcripts", None),
            ingested(2, "2026-11-25T00:00:00Z", "transcripts", None),
        ];
        let s = status(&records, t("2026-12-10T00:00:00Z"));
        assert_eq!(
            s.kind(ExportKind::Transcripts).unwrap().gaps,
            vec![
                Gap {
                    from: "2026-11-09".into(),
                    to: "2026-11-22".into(),
                    periods: 2
                },
                Gap {
                    from: "2026-11-30".into(),
                    to: "2026-12-06".into(),
                    periods: 1
                },
            ]
        );
        // The current week is not a gap yet.
        let s = status(&records, t("2026-11-26T00:00:00Z"));
        assert_eq!(s.kind(ExportKind::Transcripts).unwrap().gaps.len(), 1);
    }

    #[test]
    fn untracked_kinds_are_never_due() {
        let s = status(&[], t("2026-11-26T00:00:00Z"));
        assert!(s.kind(ExportKind::Transcripts).unwrap().due);
        assert!(!s.kind(ExportKind::DataExport).unwrap().due);
        assert!(s.kind(ExportKind::DataExport).unwrap().allowed_now);
    }
}
