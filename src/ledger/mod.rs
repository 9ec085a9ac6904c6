//! The ledger: an append-only, hash-chained record of everything done to
//! the archive that an auditor may ask about (exports requested and
//! ingested, overrides, trigger failures, verification runs).
//!
//! A record is `seq`, `time`, `kind`, `who`, `details`, `prev` and `hash`.
//! Its hash is the SHA-256 (lowercase hex) of its canonical form: the JSON
//! object of every field but `hash`, keys sorted, no whitespace, strings as
//! UTF-8 with only `"`, `\` and control characters escaped (what Python's
//! `json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`
//! writes). `prev` is the previous record's hash, or 64 zeros for the first.
//! `docs/archive-format.md` shows how to recompute it with ordinary tools.
//!
//! Invariants:
//! - Records are only ever appended, with `seq` one more than the last and
//!   `prev` the last one's hash, inside the caller's transaction (so an
//!   ingest's record commits with its data or not at all).
//! - `time` is RFC 3339 UTC with milliseconds; it is never earlier than the
//!   previous record's without a warning in the record's details.

pub mod verify;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock;
use crate::error::{Error, Result};
use crate::hashing::HashWriter;

/// The `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Record kinds written by convault. Later versions may add kinds; readers
/// keep and show records of kinds they do not know.
pub mod kind {
    /// An export was requested (`convault request`).
    pub const EXPORT_REQUESTED: &str = "export-requested";
    /// An export was ingested (`convault ingest`).
    pub const EXPORT_INGESTED: &str = "export-ingested";
    /// A cadence refusal was overridden, with the reason given.
    pub const OVERRIDE: &str = "override";
    /// The configured trigger command failed: no export was requested.
    pub const TRIGGER_FAILED: &str = "trigger-failed";
    /// A `convault verify` run and its result.
    pub const VERIFICATION: &str = "verification";
    /// An evidence package was produced (`convault produce`).
    pub const PRODUCTION: &str = "production";
}

/// One ledger record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub seq: i64,
    /// RFC 3339 UTC with milliseconds.
    pub time: String,
    pub kind: String,
    pub who: String,
    pub details: Value,
    pub prev: String,
    pub hash: String,
}

impl Record {
    /// The hash of this record's canonical form (its stored `hash` is not
    /// part of it).
    pub fn compute_hash(&self) -> String {
        let mut w = HashWriter::default();
        // Writing a Value into a hasher cannot fail.
        let _ = serde_json::to_writer(&mut w, &self.canonical_body());
        w.finish_hex()
    }

    /// The canonical form the hash covers (docs/archive-format.md).
    pub fn canonical_form(&self) -> String {
        self.canonical_body().to_string()
    }

    /// Every field but `hash` as one JSON value. serde_json's maps are
    /// sorted by key, so this written compactly is the canonical form.
    fn canonical_body(&self) -> Value {
        json!({
            "seq": self.seq,
            "time": self.time,
            "kind": self.kind,
            "who": self.who,
            "details": self.details,
            "prev": self.prev,
        })
    }

    /// The record's time, if it parses.
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.time.parse().ok()
    }
}

/// The highest `seq` and its hash: what the next record extends. By
/// number, not position, so that a tampered (reordered) ledger still gets
/// a fresh number rather than refusing the record.
/// The newest record's hash (the head of the chain), if any.
pub fn head_hash(conn: &Connection) -> Result<Option<String>> {
    Ok(head(conn)?.map(|(_, hash)| hash))
}

fn head(conn: &Connection) -> Result<Option<(i64, String)>> {
    Ok(conn
        .query_row(
            "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?)
}

/// When `now` reads earlier than the newest of `records`: that record's
/// time (the clock has gone backwards since it was written).
pub fn clock_went_back(records: &[Record], now: Timestamp) -> Option<Timestamp> {
    records
        .iter()
        .filter_map(Record::timestamp)
        .max()
        .filter(|&newest| now < newest)
}

/// The `seq` the next appended record will have.
pub fn next_seq(conn: &Connection) -> Result<i64> {
    Ok(head(conn)?.map_or(1, |(seq, _)| seq + 1))
}

/// Appends a record inside the caller's transaction and returns it.
///
/// The caller holds the writer lock, so the head read here is the head the
/// record extends.
pub fn append(
    conn: &Connection,
    now: Timestamp,
    kind: &str,
    who: &str,
    details: Value,
) -> Result<Record> {
    let (seq, prev) = match head(conn)? {
        Some((seq, hash)) => (seq + 1, hash),
        None => (1, GENESIS.to_owned()),
    };
    let mut record = Record {
        seq,
        time: clock::rfc3339_ms(now),
        kind: kind.to_owned(),
        who: who.to_owned(),
        details,
        prev,
        hash: String::new(),
    };
    record.hash = record.compute_hash();
    let details_text =
        serde_json::to_string(&record.details).map_err(|_| Error::Internal("ledger details"))?;
    conn.execute(
        "INSERT INTO ledger (seq, time, kind, who, details, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            record.seq,
            record.time,
            record.kind,
            record.who,
            details_text,
            record.prev,
            record.hash
        ],
    )?;
    Ok(record)
}

/// Every record in stored order. A record whose details are not JSON is
/// kept, its details as a string (verification then reports it changed).
pub fn read_all(conn: &Connection) -> Result<Vec<Record>> {
    let mut stmt =
        conn.prepare("SELECT seq, time, kind, who, details, prev, hash FROM ledger ORDER BY id")?;
    let rows = stmt.query_map([], |r| {
        let details: String = r.get(4)?;
        Ok(Record {
            seq: r.get(0)?,
            time: r.get(1)?,
            kind: r.get(2)?,
            who: r.get(3)?,
            details: serde_json::from_str(&details).unwrap_or(Value::String(details)),
            prev: r.get(5)?,
            hash: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger_db() -> Connection {
        crate::archive::db::open_in_memory().unwrap()
    }

    #[test]
    fn appended_records_chain_and_verify() {
        let conn = ledger_db();
        let t: Timestamp = "2026-11-24T09:00:00Z".parse().unwrap();
        let a = append(
            &conn,
            t,
            kind::EXPORT_REQUESTED,
            "alice",
            json!({"b": 1, "a": "x"}),
        )
        .unwrap();
        let b = append(&conn, t, kind::EXPORT_INGESTED, "bob", json!({})).unwrap();
        assert_eq!((a.seq, a.prev.as_str()), (1, GENESIS));
        assert_eq!((b.seq, b.prev.as_str()), (2, a.hash.as_str()));
        let all = read_all(&conn).unwrap();
        assert_eq!(all, vec![a.clone(), b]);
        assert_eq!(a.compute_hash(), a.hash);
    }

    #[test]
    fn the_canonical_form_is_documented_json() {
        // Recomputed by hand: the compact, key-sorted JSON documented in
        // docs/archive-format.md, hashed with SHA-256.
        let r = Record {
            seq: 1,
            time: "2026-11-24T09:00:00.000Z".into(),
            kind: "export-requested".into(),
            who: "zoë".into(),
            details: json!({"note": "a\n\"b\"", "export_kind": "transcripts"}),
            prev: GENESIS.into(),
            hash: String::new(),
        };
        let text = format!(
            r#"{{"details":{{"export_kind":"transcripts","note":"a\n\"b\""}},"kind":"export-requested","prev":"{GENESIS}","seq":1,"time":"2026-11-24T09:00:00.000Z","who":"zoë"}}"#
        );
        assert_eq!(
            r.compute_hash(),
            crate::hashing::sha256_hex(text.as_bytes())
        );
    }

    #[test]
    fn the_ledger_refuses_updates_and_deletes() {
        let conn = ledger_db();
        let t = Timestamp::UNIX_EPOCH;
        append(&conn, t, kind::OVERRIDE, "a", json!({})).unwrap();
        for sql in ["UPDATE ledger SET who = 'x'", "DELETE FROM ledger"] {
            let err = conn.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
    }
}
