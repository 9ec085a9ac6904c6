//! `verify`: proving the archive is intact, or listing exactly what is not.
//!
//! Checks, by level (docs/commands.md, `verify`):
//! - objects: every stored input file present, its size, and (`full`) its
//!   SHA-256; files in the store that no export recorded;
//! - members (`full`): every zip member re-read, CRC and SHA-256 against the
//!   recorded values, none missing or added;
//! - entries: each export's counts reconciled with its rows, no orphans;
//!   (`full`) every content hash and extracted text recomputed;
//! - index (`full`): the FTS index holds exactly the entries' tokens, and
//!   SQLite's `integrity_check` passes;
//! - ledger: the chain verifies, and every export has its record;
//! - removals: every disposition and erasure has its ledger record and its
//!   certificate, unchanged;
//! - re-derivation (`rederive`): the stored originals, parsed again, give
//!   exactly the entries the database holds.
//!
//! Every failure is collected, never only the first. A run holds the writer
//! lock (it appends its own ledger record), reads one consistent snapshot,
//! and records its result in the ledger.

mod entries;
mod index;
mod kind;
mod objects;
mod rederive;
mod removals;
mod sample;

use std::collections::BTreeMap;
use std::time::Instant;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::ledger;

pub use kind::FailureKind;
pub use sample::Selection;

/// How much to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Sizes, counts and the ledger: seconds on any archive.
    Fast,
    /// Everything but re-derivation.
    Full,
    /// Everything, and the originals parsed again.
    Rederive,
}

/// How to verify.
#[derive(Debug, Clone)]
pub struct Options {
    pub level: Level,
    /// Check this share (0 < p ≤ 100) of the objects and entries, going on
    /// from where the last sampled run stopped.
    pub sample_percent: Option<f64>,
    /// Check only this export.
    pub export: Option<i64>,
    pub progress: bool,
    pub who: String,
    pub now: Timestamp,
}

/// Failures kept per kind; beyond it they are counted, not listed.
pub const MAX_LISTED_PER_KIND: usize = 10_000;

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What kind of check failed (docs/commands.md lists them).
    pub kind: FailureKind,
    /// What it concerns: an object, a member, an entry, a ledger record.
    pub item: String,
    pub expected: String,
    pub found: String,
}

/// What was checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Checked {
    pub exports: u64,
    pub objects: u64,
    pub object_bytes: u64,
    pub members: u64,
    pub member_bytes: u64,
    pub entries: u64,
    pub conversations: u64,
    pub index_documents: u64,
    pub ledger_records: u64,
    pub rederived_entries: u64,
}

/// SHA-256 work on the stored objects: bytes and the time spent hashing
/// them (reading from disk included), for the benchmark.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Hashing {
    pub object_bytes: u64,
    pub object_seconds: f64,
    pub object_mib_per_second: f64,
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub level: Level,
    pub sample_percent: Option<f64>,
    pub export: Option<i64>,
    pub checked: Checked,
    /// Every failure (at most [`MAX_LISTED_PER_KIND`] of each kind; the
    /// counts in `failure_counts` are complete).
    pub failures: Vec<Failure>,
    pub failure_counts: BTreeMap<String, u64>,
    pub warnings: Vec<String>,
    pub hashing: Hashing,
    pub duration_ms: u64,
    /// The ledger record of this run (`null` if it could not be written).
    pub ledger_record: Option<i64>,
}

/// Collects failures and counts.
#[derive(Default)]
pub(crate) struct Findings {
    failures: Vec<Failure>,
    counts: BTreeMap<String, u64>,
    warnings: Vec<String>,
    checked: Checked,
    hashing: Hashing,
}

impl Findings {
    pub(crate) fn fail(
        &mut self,
        kind: FailureKind,
        item: impl Into<String>,
        expected: impl ToString,
        found: impl ToString,
    ) {
        let n = self.counts.entry(kind.as_str().to_owned()).or_insert(0);
        *n += 1;
        if *n as usize <= MAX_LISTED_PER_KIND {
            self.failures.push(Failure {
                kind,
                item: item.into(),
                expected: expected.to_string(),
                found: found.to_string(),
            });
        }
    }

    pub(crate) fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }
}

/// Verifies `archive` (see the module doc) and records the run.
pub fn verify(archive: &Archive, opts: &Options) -> Result<Report> {
    let started = Instant::now();
    // What a killed run left would read as damage; it is not: the session
    // finishes or undoes it first, and removes again what an interrupted
    // ingest brought back (writer::Session). Told as warnings.
    let mut warned = Vec::new();
    let session =
        crate::writer::Session::begin(archive, "verify", &opts.who, opts.now, &mut warned)?;
    let mut conn = session.conn;
    // The index check builds a temporary index as large as the real one:
    // on disk, not in memory, so memory stays flat whatever the archive.
    conn.pragma_update(None, "temp_store", "FILE")?;
    if let Some(id) = opts.export {
        let known: Option<i64> = conn
            .query_row("SELECT id FROM exports WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        if known.is_none() {
            return Err(Error::UnknownExport(id));
        }
    }
    let mut f = Findings::default();
    for w in warned {
        f.warn(w);
    }
    // One snapshot for every check; rolled back, then the record is
    // written in a transaction of its own.
    let tx = conn.transaction()?;
    let selection = sample::select(&tx, opts)?;
    objects::check(archive, &tx, opts, &selection, &mut f)?;
    entries::check(&tx, opts, &selection, &mut f)?;
    if opts.level >= Level::Full && selection.is_whole_index() {
        let spin = crate::progress::spinner("checking the full-text index", opts.progress);
        index::check(&tx, opts, &mut f)?;
        spin.set_message("running SQLite's integrity check");
        integrity(&tx, &mut f)?;
        spin.finish_and_clear();
    } else if opts.level >= Level::Full {
        f.warn(
            "the full-text index and SQLite's integrity check are not part of a sampled run".into(),
        );
    }
    check_ledger(archive, &tx, opts, &mut f)?;
    if opts.level >= Level::Rederive {
        rederive::check(archive, &tx, opts, &selection, &mut f)?;
    }
    tx.rollback()?;

    let mut report = Report {
        ok: f.counts.is_empty(),
        level: opts.level,
        sample_percent: opts.sample_percent,
        export: opts.export,
        checked: f.checked,
        failures: f.failures,
        failure_counts: f.counts,
        warnings: f.warnings,
        hashing: f.hashing,
        duration_ms: started.elapsed().as_millis().try_into().unwrap_or(u64::MAX),
        ledger_record: None,
    };
    match record(&mut conn, opts, &selection, &report) {
        Ok(seq) => report.ledger_record = Some(seq),
        // A damaged database may refuse the record; the report still
        // stands and says so.
        Err(e) => report
            .warnings
            .push(format!("this run could not be recorded in the ledger: {e}")),
    }
    Ok(report)
}

/// Appends the run's `verification` record and moves the sample cursors.
fn record(
    conn: &mut Connection,
    opts: &Options,
    selection: &Selection,
    report: &Report,
) -> Result<i64> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    sample::save(&tx, selection)?;
    let details = json!({
        "level": report.level,
        "sample_percent": report.sample_percent,
        "export": report.export,
        "ok": report.ok,
        "checked": report.checked,
        "failure_counts": report.failure_counts,
        "first_failures": report.failures.iter().take(20).collect::<Vec<_>>(),
        "duration_ms": report.duration_ms,
    });
    let rec = ledger::append(
        &tx,
        opts.now,
        ledger::kind::VERIFICATION,
        &opts.who,
        details,
    )?;
    tx.commit()?;
    Ok(rec.seq)
}

/// SQLite's own structural check of every table and index.
fn integrity(conn: &Connection, f: &mut Findings) -> Result<()> {
    let mut stmt = conn.prepare("PRAGMA integrity_check")?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for row in rows.iter().filter(|r| r.as_str() != "ok") {
        f.fail(FailureKind::SqliteIntegrity, "archive.sqlite", "ok", row);
    }
    Ok(())
}

/// The ledger's chain, and every export's `export-ingested` record.
fn check_ledger(
    archive: &Archive,
    conn: &Connection,
    opts: &Options,
    f: &mut Findings,
) -> Result<()> {
    let records = ledger::read_all(conn)?;
    f.checked.ledger_records = records.len() as u64;
    let report = ledger::verify::verify(&records, None);
    for fail in report.failures {
        let item = fail
            .seq
            .map_or_else(|| "ledger".to_owned(), |s| format!("ledger record {s}"));
        f.fail(
            FailureKind::of_ledger(fail.kind),
            item,
            fail.expected,
            format!("{} ({})", fail.found, fail.detail),
        );
    }
    for w in report.warnings {
        f.warn(w);
    }
    removals::check(archive, conn, &records, f)?;
    entries::check_exports_against_ledger(conn, &records, opts, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_count_every_failure_but_list_a_bounded_number() {
        let mut f = Findings::default();
        for i in 0..MAX_LISTED_PER_KIND + 5 {
            f.fail(FailureKind::EntryHash, format!("entry {i}"), "a", "b");
        }
        f.fail(FailureKind::ObjectMissing, "x", "present", "missing");
        assert_eq!(f.counts["entry-hash"], MAX_LISTED_PER_KIND as u64 + 5);
        assert_eq!(f.failures.len(), MAX_LISTED_PER_KIND + 1);
    }
}
