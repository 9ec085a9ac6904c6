//! Checking the ledger's chain, and its extension of a checkpoint.
//!
//! Every failure is reported, not only the first:
//! - `changed`: a record's hash is not the hash of its contents;
//! - `broken-link`: a record's `prev` is not the hash of the record before;
//! - `missing`: sequence numbers absent below the newest record;
//! - `reordered`: records stored out of sequence order;
//! - `truncated`: fewer records than a checkpoint counted;
//! - `diverged`: the record a checkpoint names has another hash (history
//!   rewritten after the checkpoint was taken).
//!
//! A chain alone cannot show that its newest records were deleted, nor
//! that it was rewritten from scratch with fresh hashes: a checkpoint kept
//! outside the archive can.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{GENESIS, Record};
use crate::error::{Error, Result};

/// What `ledger checkpoint` prints and `ledger verify --checkpoint` reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Always [`Checkpoint::FORMAT`].
    pub format: String,
    /// How many records the ledger held (the head's `seq`).
    pub records: i64,
    /// The head record's hash.
    pub head: String,
    /// When the checkpoint was taken (RFC 3339 UTC).
    pub time: String,
}

impl Checkpoint {
    pub const FORMAT: &'static str = "convault-ledger-checkpoint/1";

    /// The checkpoint of `records` (the ledger's head), taken at `time`.
    pub fn of(records: &[Record], time: String) -> Checkpoint {
        let head = records.iter().max_by_key(|r| r.seq);
        Checkpoint {
            format: Self::FORMAT.to_owned(),
            records: head.map_or(0, |r| r.seq),
            head: head.map_or_else(|| GENESIS.to_owned(), |r| r.hash.clone()),
            time,
        }
    }

    /// The largest file read as a checkpoint (one is about 200 bytes): a
    /// larger one, or one that is not a regular file, is refused unread.
    pub const MAX_BYTES: u64 = 64 * 1024;

    /// Reads a checkpoint file.
    pub fn read(path: &Path) -> Result<Checkpoint> {
        use std::io::Read;
        let bad = |why: String| Error::Input {
            path: path.to_owned(),
            reason: format!("not a convault ledger checkpoint ({why})"),
        };
        // Looked at before it is opened: opening a FIFO would wait for a
        // writer, and a device could be read for ever.
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(bad("not a regular file".into()));
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        if meta.len() > Self::MAX_BYTES {
            return Err(bad(format!(
                "{} bytes, where a checkpoint is a few hundred",
                meta.len()
            )));
        }
        let mut bytes = Vec::new();
        file.take(Self::MAX_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, e))?;
        if bytes.len() as u64 > Self::MAX_BYTES {
            return Err(bad("it grew while read".into()));
        }
        let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
        let cp: Checkpoint = serde_json::from_str(text.trim()).map_err(|e| bad(e.to_string()))?;
        if cp.format != Self::FORMAT {
            return Err(bad(format!("format {:?}", cp.format)));
        }
        if cp.records < 0 || cp.head.len() != 64 {
            return Err(bad("records or head out of range".into()));
        }
        Ok(cp)
    }
}

/// One thing wrong with the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// `changed`, `broken-link`, `missing`, `reordered`, `truncated` or `diverged`.
    pub kind: &'static str,
    /// The record concerned (the first of a range for `missing`).
    pub seq: Option<i64>,
    pub expected: String,
    pub found: String,
    /// The failure in words.
    pub detail: String,
}

/// The outcome of [`verify`].
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub ok: bool,
    pub records: usize,
    /// The newest record's hash as stored.
    pub head: Option<String>,
    pub failures: Vec<Failure>,
    /// Not integrity failures, but worth an auditor's eye (a clock that
    /// went backwards between records).
    pub warnings: Vec<String>,
    /// The checkpoint checked against, if any.
    pub checkpoint: Option<Checkpoint>,
}

/// Verifies `records` (in stored order) and, if given, that they extend
/// `checkpoint`.
pub fn verify(records: &[Record], checkpoint: Option<&Checkpoint>) -> Report {
    let mut failures = Vec::new();
    let by_seq: HashMap<i64, &Record> = records.iter().map(|r| (r.seq, r)).collect();
    changed(records, &mut failures);
    let newest = reordered(records, &mut failures);
    missing(&by_seq, newest, &mut failures);
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| r.seq);
    broken_links(&sorted, &by_seq, &mut failures);
    let warnings = clock_warnings(&sorted);
    if let Some(cp) = checkpoint {
        against_checkpoint(cp, &by_seq, newest, &mut failures);
    }
    Report {
        ok: failures.is_empty(),
        records: records.len(),
        head: sorted.last().map(|r| r.hash.clone()),
        failures,
        warnings,
        checkpoint: checkpoint.cloned(),
    }
}

/// Records whose contents no longer give their hash.
fn changed(records: &[Record], failures: &mut Vec<Failure>) {
    for r in records {
        let computed = r.compute_hash();
        if computed != r.hash {
            failures.push(Failure {
                kind: "changed",
                seq: Some(r.seq),
                expected: r.hash.clone(),
                found: computed,
                detail: format!(
                    "record {}: its contents no longer match its hash: it was changed after it was written",
                    r.seq
                ),
            });
        }
    }
}

/// Records stored after a later one; the newest `seq`.
fn reordered(records: &[Record], failures: &mut Vec<Failure>) -> i64 {
    let mut newest = 0;
    for r in records {
        if r.seq < newest {
            failures.push(Failure {
                kind: "reordered",
                seq: Some(r.seq),
                expected: format!("a record after {newest}"),
                found: r.seq.to_string(),
                detail: format!("record {} is stored after record {newest}", r.seq),
            });
        }
        newest = newest.max(r.seq);
    }
    newest
}

/// Runs of numbers up to the newest that no record has.
fn missing(by_seq: &HashMap<i64, &Record>, newest: i64, failures: &mut Vec<Failure>) {
    let mut s = 1;
    while s <= newest {
        if by_seq.contains_key(&s) {
            s += 1;
            continue;
        }
        let first = s;
        while s <= newest && !by_seq.contains_key(&s) {
            s += 1;
        }
        let last = s - 1;
        failures.push(Failure {
            kind: "missing",
            seq: Some(first),
            expected: format!("records {first} to {last}"),
            found: "none".into(),
            detail: if first == last {
                format!("record {first} is missing")
            } else {
                format!("records {first} to {last} are missing")
            },
        });
    }
}

/// Records whose `prev` is not the hash of the record before.
fn broken_links(sorted: &[&Record], by_seq: &HashMap<i64, &Record>, failures: &mut Vec<Failure>) {
    for r in sorted {
        let expected = if r.seq == 1 {
            Some(GENESIS)
        } else {
            by_seq.get(&(r.seq - 1)).map(|p| p.hash.as_str())
        };
        if let Some(expected) = expected
            && expected != r.prev
        {
            failures.push(Failure {
                kind: "broken-link",
                seq: Some(r.seq),
                expected: expected.to_owned(),
                found: r.prev.clone(),
                detail: format!(
                    "record {}: its link to the record before does not match that record's hash",
                    r.seq
                ),
            });
        }
    }
}

/// Records dated before the one before them: not a failure, but worth an
/// auditor's eye.
fn clock_warnings(sorted: &[&Record]) -> Vec<String> {
    let mut warnings = Vec::new();
    for pair in sorted.windows(2) {
        if let (Some(a), Some(b)) = (pair[0].timestamp(), pair[1].timestamp())
            && b < a
        {
            warnings.push(format!(
                "record {} ({}) is dated before record {} ({}): the clock went backwards",
                pair[1].seq, pair[1].time, pair[0].seq, pair[0].time
            ));
        }
    }
    warnings
}

/// The ledger still extends `cp`: as long, and the same record at its head.
fn against_checkpoint(
    cp: &Checkpoint,
    by_seq: &HashMap<i64, &Record>,
    newest: i64,
    failures: &mut Vec<Failure>,
) {
    match by_seq.get(&cp.records) {
        _ if cp.records > newest => failures.push(Failure {
            kind: "truncated",
            seq: Some(cp.records),
            expected: format!("{} records", cp.records),
            found: format!("{newest} records"),
            detail: format!(
                "the checkpoint of {} counted {} records; the ledger now ends at record {newest}: records were deleted",
                cp.time, cp.records
            ),
        }),
        Some(r) if r.hash != cp.head => failures.push(Failure {
            kind: "diverged",
            seq: Some(cp.records),
            expected: cp.head.clone(),
            found: r.hash.clone(),
            detail: format!(
                "record {} is not the record the checkpoint of {} recorded: the history was rewritten",
                cp.records, cp.time
            ),
        }),
        // Record 0 (an empty ledger's checkpoint) or a matching head;
        // a missing record was reported above.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIFO, a device or a large file given as a checkpoint is refused
    /// at once, unread: opening a FIFO would wait for a writer for ever.
    #[test]
    fn a_checkpoint_that_is_no_file_or_too_large_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs (coreutils)");
        assert!(made.success());
        for (path, why) in [
            (fifo.as_path(), "not a regular file"),
            (std::path::Path::new("/dev/zero"), "not a regular file"),
        ] {
            let e = Checkpoint::read(path).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        let big = dir.path().join("big.json");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(Checkpoint::MAX_BYTES + 1)
            .unwrap();
        let e = Checkpoint::read(&big).unwrap_err().to_string();
        assert!(e.contains("where a checkpoint is a few hundred"), "{e}");
    }
    use serde_json::json;

    /// A valid chain of `n` records, one hour apart.
    fn chain(n: i64) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        for seq in 1..=n {
            let mut r = Record {
                seq,
                time: format!("2026-11-24T{:02}:00:00.000Z", seq),
                kind: "export-ingested".into(),
                who: "alice".into(),
                details: json!({"n": seq}),
                prev: out.last().map_or(GENESIS.to_owned(), |p| p.hash.clone()),
                hash: String::new(),
            };
            r.hash = r.compute_hash();
            out.push(r);
        }
        out
    }

    fn kinds(report: &Report) -> Vec<(&'static str, Option<i64>)> {
        report.failures.iter().map(|f| (f.kind, f.seq)).collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let records = chain(5);
        let cp = Checkpoint::of(&records[..3], "t".into());
        let report = verify(&records, Some(&cp));
        assert!(report.ok, "{:?}", report.failures);
        assert!(verify(&[], None).ok);
    }

    #[test]
    fn an_edited_record_is_changed() {
        let mut records = chain(4);
        records[1].details = json!({"n": 99});
        assert_eq!(kinds(&verify(&records, None)), [("changed", Some(2))]);
    }

    #[test]
    fn an_edited_record_with_a_fresh_hash_breaks_the_next_link() {
        let mut records = chain(4);
        records[1].who = "mallory".into();
        records[1].hash = records[1].compute_hash();
        assert_eq!(kinds(&verify(&records, None)), [("broken-link", Some(3))]);
    }

    #[test]
    fn deleted_records_are_missing() {
        let mut records = chain(6);
        records.remove(3);
        records.remove(1);
        assert_eq!(
            kinds(&verify(&records, None)),
            [("missing", Some(2)), ("missing", Some(4))]
        );
        let mut records = chain(6);
        records.drain(1..3);
        let report = verify(&records, None);
        assert_eq!(kinds(&report), [("missing", Some(2))]);
        assert!(report.failures[0].detail.contains("2 to 3"));
    }

    #[test]
    fn swapped_records_are_reordered() {
        let mut records = chain(4);
        records.swap(1, 2);
        assert_eq!(kinds(&verify(&records, None)), [("reordered", Some(2))]);
    }

    #[test]
    fn truncation_and_rewrites_show_against_a_checkpoint() {
        let records = chain(5);
        let cp = Checkpoint::of(&records, "t".into());
        assert_eq!(
            kinds(&verify(&records[..3], Some(&cp))),
            [("truncated", Some(5))]
        );
        // Rewritten from record 4 on, every hash recomputed: the chain
        // alone verifies, the checkpoint does not.
        let mut rewritten = chain(5);
        for i in 3..5 {
            rewritten[i].who = "mallory".into();
            rewritten[i].prev = rewritten[i - 1].hash.clone();
            rewritten[i].hash = rewritten[i].compute_hash();
        }
        assert!(verify(&rewritten, None).ok);
        assert_eq!(
            kinds(&verify(&rewritten, Some(&cp))),
            [("diverged", Some(5))]
        );
    }

    #[test]
    fn every_failure_is_listed_at_once() {
        let mut records = chain(8);
        records[0].who = "x".into(); // changed 1
        records.remove(4); // missing 5
        records.swap(5, 6); // reordered
        let report = verify(&records, None);
        let k: Vec<_> = report.failures.iter().map(|f| f.kind).collect();
        assert!(k.contains(&"changed") && k.contains(&"missing") && k.contains(&"reordered"));
    }

    #[test]
    fn a_clock_going_backwards_is_a_warning() {
        let mut records = chain(3);
        records[2].time = "2026-11-24T00:30:00.000Z".into();
        records[2].hash = records[2].compute_hash();
        let report = verify(&records, None);
        assert!(report.ok);
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    }
}
