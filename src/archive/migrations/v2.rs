//! Schema 2's code step, frozen: exports ingested before the ledger
//! existed (schema 1) get one `export-ingested` record each, marked
//! `backfilled`, in export order, dated when each was ingested.
//!
//! Frozen as written for schema 2: the ledger's canonical form and hash
//! (the record's fields but `hash`, as compact JSON with sorted keys,
//! SHA-256), the record's time format (RFC 3339 UTC with milliseconds),
//! and how an export's kind was recognised then (a `WE_*.ZIP` file is a
//! Data Export; a member read as `transcript-csv` makes a transcript
//! export; schema 1 knew no other shapes). `ledger verify` checks these
//! records with today's code: that code must keep accepting them.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::Result;

/// The `prev` of the first record.
const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

pub(in crate::archive) fn backfill_ledger(tx: &Connection) -> Result<()> {
    let exports = tx
        .prepare(
            "SELECT id, ingested_at_ms, entries_read, entries_new, entries_unchanged,
                    entries_changed, conversations_new, quarantined
             FROM exports ORDER BY id",
        )?
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                [
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                    r.get::<_, i64>(7)?,
                ],
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (id, at_ms, c) in exports {
        let at = Timestamp::from_millisecond(at_ms).unwrap_or(Timestamp::UNIX_EPOCH);
        let details = json!({
            "backfilled": true,
            "export_id": id,
            "export_kind": kind_of(tx, id)?,
            "generated_at": Value::Null,
            "files": files_of(tx, id)?,
            "entries_read": c[0],
            "entries_new": c[1],
            "entries_unchanged": c[2],
            "entries_changed": c[3],
            "conversations_new": c[4],
            "quarantined": c[5],
            "warnings": [],
        });
        append(tx, at, &details)?;
    }
    Ok(())
}

/// The export's kind as schema 2 recognised it.
fn kind_of(tx: &Connection, export_id: i64) -> Result<Option<&'static str>> {
    let paths = tx
        .prepare("SELECT path FROM files WHERE export_id = ?1")?
        .query_map([export_id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let data_export = paths.iter().any(|p| {
        let name = p
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(p)
            .to_ascii_uppercase();
        name.starts_with("WE_") && name.ends_with(".ZIP")
    });
    if data_export {
        return Ok(Some("data-export"));
    }
    let transcripts: i64 = tx.query_row(
        "SELECT count(*) FROM members m JOIN files f ON f.id = m.file_id
         WHERE f.export_id = ?1 AND m.shape = 'transcript-csv'",
        [export_id],
        |r| r.get(0),
    )?;
    Ok((transcripts > 0).then_some("transcripts"))
}

/// The export's files as the record lists them.
fn files_of(tx: &Connection, export_id: i64) -> Result<Value> {
    let files = tx
        .prepare("SELECT path, bytes, sha256 FROM files WHERE export_id = ?1 ORDER BY id")?
        .query_map([export_id], |r| {
            Ok(json!({
                "path": r.get::<_, String>(0)?,
                "bytes": r.get::<_, i64>(1)?,
                "sha256": r.get::<_, String>(2)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Value::Array(files))
}

/// Appends one `export-ingested` record by `convault (upgrade)`.
fn append(tx: &Connection, at: Timestamp, details: &Value) -> Result<()> {
    let head: Option<(i64, String)> = tx
        .query_row(
            "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev) = head.map_or((1, GENESIS.to_owned()), |(s, h)| (s + 1, h));
    let time = at.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let (kind, who) = ("export-ingested", "convault (upgrade)");
    // serde_json's maps sort their keys: compact, this is the canonical form.
    let body = json!({
        "seq": seq,
        "time": time,
        "kind": kind,
        "who": who,
        "details": details,
        "prev": prev,
    });
    let hash: String = Sha256::digest(body.to_string().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    tx.execute(
        "INSERT INTO ledger (seq, time, kind, who, details, prev, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![seq, time, kind, who, details.to_string(), prev, hash],
    )?;
    Ok(())
}
