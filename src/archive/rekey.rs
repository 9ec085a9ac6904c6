//! Entry ids that follow time, and the move of an older archive's rows to
//! them (schema 6).
//!
//! An entry version's `id` (its rowid, and so its full-text index rowid)
//! is its time, `coalesce(server_ms, client_ms)`, shifted left by
//! [`TIME_SHIFT`] bits, plus the order of storing among the versions of
//! the same millisecond. So `ORDER BY rowid DESC` is newest first, and a
//! time range is a rowid range, in the entries table and in the index
//! alike. Versions without a time get negative ids from [`NO_TIME_BASE`]
//! up, in the order they are stored: below every timed entry, and among
//! themselves like entries of one millisecond (the later stored, the
//! higher).
//!
//! Invariant: a version with time `t` (clamped to `0..=MAX_KEY_MS`) has an
//! id in `[key(t), key(t + 1))`, unless more than 2^16 versions share that
//! millisecond (timestamps given in whole seconds put a busy org's second
//! into one millisecond); then it takes the next millisecond with room, up
//! to [`SPILL_MS`] later, and past that an id after every entry stored so
//! far (a fixed order still, only no longer by time).
//!
//! Why 16 bits: the index stores each document's rowid as a varint delta
//! from the previous one, so every bit of headroom per millisecond costs
//! index bytes (docs/performance-history.md).

use rusqlite::{Connection, OptionalExtension, params};

use super::sightings::Seen;
use crate::error::Result;

/// Bits of an id below its millisecond.
pub const TIME_SHIFT: u32 = 16;

/// The first id of versions without a time.
pub const NO_TIME_BASE: i64 = -(1 << 62);

/// How many later milliseconds a full one spills into.
pub const SPILL_MS: i64 = 1_000;

/// The latest millisecond a key can hold (about the year 6400); later
/// times share it.
pub const MAX_KEY_MS: i64 = (1 << (63 - TIME_SHIFT)) - 1;

/// The first id of millisecond `ms`.
pub fn key(ms: i64) -> i64 {
    ms.clamp(0, MAX_KEY_MS) << TIME_SHIFT
}

/// Ids for the versions one writer stores ([`next_id`]'s), without its
/// look-up when a version's millisecond is later than every id stored so
/// far: then nothing can be stored in it yet, and its first id is free.
/// A week's new entries are the newest of the archive, and an export lists
/// a conversation's entries in time order, so most new versions take it.
pub struct TimeKeys {
    /// The largest id stored (`i64::MIN`: none).
    max: i64,
}

impl TimeKeys {
    pub fn new(conn: &Connection) -> Result<Self> {
        let max: Option<i64> = conn
            .prepare_cached("SELECT max(id) FROM entries")?
            .query_row([], |r| r.get(0))?;
        Ok(TimeKeys {
            max: max.unwrap_or(i64::MIN),
        })
    }

    /// The id for a new version of time `ms`, as [`next_id`] gives it.
    pub fn next(&self, conn: &Connection, ms: Option<i64>) -> Result<i64> {
        match ms {
            Some(ms) if key(ms) > self.max => Ok(key(ms)),
            _ => next_id(conn, ms),
        }
    }

    /// Records that `id` was stored.
    pub fn stored(&mut self, id: i64) {
        self.max = self.max.max(id);
    }
}

/// The id for a new version of time `ms` (None: no time).
pub fn next_id(conn: &Connection, ms: Option<i64>) -> Result<i64> {
    let mut last_in = conn.prepare_cached(
        "SELECT id FROM entries WHERE id BETWEEN ?1 AND ?2 ORDER BY id DESC LIMIT 1",
    )?;
    let Some(ms) = ms else {
        let last: Option<i64> = last_in
            .query_row(params![NO_TIME_BASE, -1], |r| r.get(0))
            .optional()?;
        return Ok(last.map_or(NO_TIME_BASE, |l| l + 1));
    };
    let first = ms.clamp(0, MAX_KEY_MS);
    for t in first..=first.saturating_add(SPILL_MS).min(MAX_KEY_MS) {
        let lo = key(t);
        let hi = lo + ((1 << TIME_SHIFT) - 1);
        let last: Option<i64> = last_in
            .query_row(params![lo, hi], |r| r.get(0))
            .optional()?;
        match last {
            None => return Ok(lo),
            Some(l) if l < hi => return Ok(l + 1),
            Some(_) => {}
        }
    }
    // Every millisecond within reach is full: after everything.
    let max: i64 = conn
        .prepare_cached("SELECT max(id) FROM entries")?
        .query_row([], |r| r.get(0))?;
    Ok(max.saturating_add(1))
}

/// The second half of migration 6: every version moves from `entries_v5`
/// to its time key (its old id becomes its `seq`), sightings become one
/// bitmap per export, and the full-text index and the related-records
/// index are built anew.
pub(super) fn to_v6(tx: &Connection) -> Result<()> {
    {
        let mut old =
            tx.prepare("SELECT id, coalesce(server_ms, client_ms) FROM entries_v5 ORDER BY id")?;
        let mut copy = tx.prepare(
            "INSERT INTO entries (id, seq, identifier, version, conversation_id, entry_type,
                entry_type_raw, is_message, sender_role, sender_app_type, sender_subject, client_ms,
                server_ms, related_records, payload, message_text, text, content_hash, export_id,
                member_id, line)
             SELECT ?1, id, identifier, version, conversation_id, entry_type, entry_type_raw,
                is_message, sender_role, sender_app_type, sender_subject, client_ms, server_ms,
                related_records, payload, message_text, text, content_hash, export_id, member_id, line
             FROM entries_v5 WHERE id = ?2",
        )?;
        let mut rows = old.query([])?;
        while let Some(r) = rows.next()? {
            let (old_id, ms): (i64, Option<i64>) = (r.get(0)?, r.get(1)?);
            copy.execute(params![next_id(tx, ms)?, old_id])?;
        }
    }
    // Each export contained the versions it added and those it saw again.
    let exports: Vec<i64> = tx
        .prepare("SELECT id FROM exports ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    {
        let mut contained = tx.prepare(
            "SELECT id, conversation_id FROM entries_v5 WHERE export_id = ?1
             UNION ALL
             SELECT e.id, e.conversation_id FROM entry_sightings s
             JOIN entries_v5 e ON e.id = s.entry_id WHERE s.export_id = ?1",
        )?;
        for &export in &exports {
            let mut seen = Seen::default();
            let mut rows = contained.query([export])?;
            while let Some(r) = rows.next()? {
                seen.add(r.get(0)?, r.get(1)?)?;
            }
            drop(rows);
            seen.store_whole(tx, export)?;
        }
    }
    tx.execute_batch(FINISH_V6)?;
    // Each export's kind, as its ledger record gives it, then what each
    // complete export lacked of the one before it.
    tx.execute_batch(
        "UPDATE exports SET kind = (
             SELECT json_extract(l.details, '$.export_kind') FROM ledger l
             WHERE l.kind = 'export-ingested' AND json_extract(l.details, '$.export_id') = exports.id
             ORDER BY l.seq DESC LIMIT 1);",
    )?;
    // As schema 6 compared exports: with the previous one of the same
    // kind by id (schema 11 has no generation times yet to order by). Kept
    // here, apart from the live `record_missing`, so this migration does
    // what it did when it shipped.
    for export in exports {
        let previous: Option<i64> = tx.query_row(
            "SELECT max(p.id) FROM exports x JOIN exports p ON p.kind = x.kind
             WHERE x.id = ?1 AND x.kind = 'transcripts' AND p.id < x.id",
            [export],
            |r| r.get(0),
        )?;
        let (Some(previous), Some(this)) = (previous, super::sightings::Seen::load(tx, export)?)
        else {
            continue;
        };
        let m = super::sightings::missing(tx, previous, &this)?;
        tx.execute(
            "UPDATE exports SET previous_export_id = ?2, entries_missing = ?3, conversations_missing = ?4
             WHERE id = ?1",
            rusqlite::params![export, previous, m.entries as i64, m.conversations as i64],
        )?;
    }
    Ok(())
}

/// Old rows gone; the indexes, the full-text table (declared as Datasette
/// expects: `content="entries"`) and its triggers made anew.
const FINISH_V6: &str = r#"
DROP TABLE entry_sightings;
DROP TABLE entries_v5;
CREATE VIRTUAL TABLE entries_fts USING fts5(
    text,
    content="entries",
    content_rowid="id",
    tokenize='unicode61 remove_diacritics 2',
    columnsize=0
);
INSERT INTO entries_fts (entries_fts, rank) VALUES ('hashsize', 8388608);
INSERT INTO entries_fts (entries_fts) VALUES ('rebuild');
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts(entries_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER entries_fts_update AFTER UPDATE OF text ON entries BEGIN
    INSERT INTO entries_fts(entries_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO entries_fts(rowid, text) VALUES (new.id, new.text);
END;
INSERT INTO entry_related (record_id, conversation_id)
    SELECT DISTINCT j.value, e.conversation_id FROM entries e, json_each(e.related_records) j
    WHERE j.type = 'text';
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_time_and_break_ties_in_storing_order() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE entries (id INTEGER PRIMARY KEY)")
            .unwrap();
        let put = |ms| {
            let id = next_id(&conn, ms).unwrap();
            conn.execute("INSERT INTO entries (id) VALUES (?1)", [id])
                .unwrap();
            id
        };
        let a = put(Some(1_000));
        let b = put(Some(1_000));
        let c = put(Some(999));
        let d = put(Some(1_001));
        assert_eq!(a, key(1_000));
        assert_eq!(b, a + 1);
        assert!(c < a && d > b);
        // No time: below every timed entry, in the order stored.
        let n1 = put(None);
        let n2 = put(None);
        assert_eq!((n1, n2), (NO_TIME_BASE, NO_TIME_BASE + 1));
        // Times out of range are clamped, never wrap.
        assert_eq!(key(-5), 0);
        assert_eq!(key(i64::MAX), MAX_KEY_MS << TIME_SHIFT);
        assert!(put(Some(i64::MAX)) > 0);
    }

    proptest::proptest! {
        /// The writer's keys are `next_id`'s, whatever order the times
        /// come in (in order, repeated, older, none), after what was
        /// stored before.
        #[test]
        fn time_keys_are_next_ids(
            before in proptest::collection::vec(proptest::option::of(-2i64..40), 0..8),
            times in proptest::collection::vec(proptest::option::of(-2i64..40), 1..40),
        ) {
            let conn = Connection::open_in_memory().unwrap();
            conn.execute_batch("CREATE TABLE entries (id INTEGER PRIMARY KEY)").unwrap();
            let put = |id: i64| {
                conn.execute("INSERT INTO entries (id) VALUES (?1)", [id]).unwrap();
            };
            for ms in before {
                put(next_id(&conn, ms).unwrap());
            }
            let mut keys = TimeKeys::new(&conn).unwrap();
            for ms in times {
                let id = keys.next(&conn, ms).unwrap();
                proptest::prop_assert_eq!(id, next_id(&conn, ms).unwrap());
                put(id);
                keys.stored(id);
            }
        }
    }

    #[test]
    fn a_full_millisecond_spills_into_the_next_then_after_everything() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE entries (id INTEGER PRIMARY KEY)")
            .unwrap();
        let last_of = |ms: i64| key(ms) + (1 << TIME_SHIFT) - 1;
        conn.execute("INSERT INTO entries (id) VALUES (?1)", [last_of(5)])
            .unwrap();
        conn.execute("INSERT INTO entries (id) VALUES (?1)", [key(6)])
            .unwrap();
        // Millisecond 5 is full: the next free id of millisecond 6.
        assert_eq!(next_id(&conn, Some(5)).unwrap(), key(6) + 1);
        // Every millisecond within reach full: after everything.
        for t in 5..=5 + SPILL_MS {
            conn.execute(
                "INSERT OR IGNORE INTO entries (id) VALUES (?1)",
                [last_of(t)],
            )
            .unwrap();
        }
        conn.execute("INSERT INTO entries (id) VALUES (?1)", [key(99_999)])
            .unwrap();
        assert_eq!(next_id(&conn, Some(5)).unwrap(), key(99_999) + 1);
    }
}
