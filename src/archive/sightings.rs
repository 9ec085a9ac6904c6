//! Which exports contained which entries, without a row per entry per
//! export.
//!
//! Every entry version has a dense number, `entries.seq` (1, 2, 3, ... in
//! the order versions were stored). Each export keeps one row in
//! `export_sightings` (its counts) and two Roaring bitmaps (the portable
//! format, readable by CRoaring, pyroaring and roaring-rs): one of the
//! `seq` of every entry version it contained, whether it added that
//! version or saw it again, and one of the `conversations.id` of every
//! conversation it contained. A weekly complete export sees nearly every
//! version stored before it, so its bitmap is a few long runs: well under
//! a byte per entry.
//!
//! Each bitmap is stored in parts (`sighting_parts`, schema 7), one per
//! range of [`PART_VALUES`] values, so that a reader asking about a few
//! values (`show`) reads a part of at most 128 KiB, not a blob that grows
//! with the archive (SQLite reads a blob at an offset by walking its chain
//! of overflow pages from the start).
//!
//! Invariants (docs/archive-format.md):
//! - every version an export added (`entries.export_id`) is in its bitmap;
//! - every `seq` in a bitmap names a stored version, and every
//!   conversation id a stored conversation;
//! - `entry_count` and `conversation_count` are the bitmaps' cardinalities;
//! - part `p` holds only values from `p × PART_VALUES` to
//!   `(p + 1) × PART_VALUES − 1`, and no part is empty.

use std::collections::{BTreeMap, BTreeSet};

use roaring::RoaringBitmap;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::error::{Error, Result};

/// log2 of the values one stored part covers: 16 Roaring containers, at
/// most 128 KiB serialised.
pub const PART_BITS: u32 = 20;
/// The values one stored part covers.
pub const PART_VALUES: u64 = 1 << PART_BITS;

/// The entries and conversations one export contained.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Seen {
    /// `entries.seq` of every version contained.
    pub entries: RoaringBitmap,
    /// `conversations.id` of every conversation contained.
    pub conversations: RoaringBitmap,
}

/// A `seq` or conversation id as a bitmap member.
pub fn member(n: i64, what: &'static str) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::Damaged {
        what: what.into(),
        detail: format!("{n} is outside 1 to {}", u32::MAX),
    })
}

impl Seen {
    /// Records that the export contained version `seq` of an entry of
    /// conversation `conversation_id`.
    pub fn add(&mut self, seq: i64, conversation_id: i64) -> Result<()> {
        self.entries.insert(member(seq, "entry number (seq)")?);
        self.conversations
            .insert(member(conversation_id, "conversation id")?);
        Ok(())
    }

    /// Stores this as export `export_id`'s sightings: its counts, and each
    /// bitmap in parts (run-compressed).
    pub fn store(&self, conn: &Connection, export_id: i64) -> Result<()> {
        conn.execute(
            "INSERT INTO export_sightings (export_id, entry_count, conversation_count)
             VALUES (?1, ?2, ?3)",
            params![
                export_id,
                self.entries.len() as i64,
                self.conversations.len() as i64
            ],
        )?;
        store_parts(conn, export_id, "entries", &self.entries)?;
        store_parts(conn, export_id, "conversations", &self.conversations)
    }

    /// Stores this as schema 6 did: each bitmap whole in
    /// `export_sightings`. Only schema 6's own migration writes this; the
    /// next migration moves it into parts.
    pub fn store_whole(&mut self, conn: &Connection, export_id: i64) -> Result<()> {
        self.entries.optimize();
        self.conversations.optimize();
        conn.execute(
            "INSERT INTO export_sightings (export_id, entries, conversations, entry_count, conversation_count)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                export_id,
                serialize(&self.entries),
                serialize(&self.conversations),
                self.entries.len() as i64,
                self.conversations.len() as i64
            ],
        )?;
        Ok(())
    }

    /// Export `export_id`'s sightings; `None` when it has none stored.
    pub fn load(conn: &Connection, export_id: i64) -> Result<Option<Seen>> {
        if !in_parts(conn)? {
            return Seen::load_whole(conn, export_id);
        }
        if !has_sightings(conn, export_id)? {
            return Ok(None);
        }
        let mut seen = Seen::default();
        let mut parts = conn.prepare_cached(
            "SELECT bitmap, part, bits FROM sighting_parts WHERE export_id = ?1 ORDER BY bitmap, part",
        )?;
        let mut rows = parts.query([export_id])?;
        while let Some(r) = rows.next()? {
            let column: String = r.get(0)?;
            let part: i64 = r.get(1)?;
            let bits = r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
            let what = format!("{column} part {part}");
            let b = deserialize(bits, export_id, &what)?;
            check_part(&b, part, export_id, &what)?;
            match column.as_str() {
                "entries" => seen.entries |= b,
                "conversations" => seen.conversations |= b,
                _ => {
                    return Err(Error::Damaged {
                        what: format!("sighting_parts of export {export_id}"),
                        detail: format!("a part of an unknown bitmap {column:?}"),
                    });
                }
            }
        }
        Ok(Some(seen))
    }

    /// Export `export_id`'s sightings as schema 6 stored them, whole.
    fn load_whole(conn: &Connection, export_id: i64) -> Result<Option<Seen>> {
        let row: Option<(Vec<u8>, Vec<u8>)> = conn
            .query_row(
                "SELECT entries, conversations FROM export_sightings WHERE export_id = ?1",
                [export_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        row.map(|(e, c)| {
            Ok(Seen {
                entries: deserialize(&e, export_id, "entries")?,
                conversations: deserialize(&c, export_id, "conversations")?,
            })
        })
        .transpose()
    }
}

/// Whether export `export_id` saw any of the conversations `ids`: reads
/// only the parts of its conversations bitmap that could hold them (not
/// its entries bitmap, many times larger), so a removal asks it of every
/// export of a year's archive cheaply. `None` when it has no sightings.
pub fn saw_any_conversation(
    conn: &Connection,
    export_id: i64,
    ids: &BTreeSet<i64>,
) -> Result<Option<bool>> {
    if !in_parts(conn)? {
        return Ok(Seen::load_whole(conn, export_id)?.map(|seen| {
            ids.iter()
                .any(|&id| u32::try_from(id).is_ok_and(|id| seen.conversations.contains(id)))
        }));
    }
    if !has_sightings(conn, export_id)? {
        return Ok(None);
    }
    let mut part_of = conn.prepare_cached(
        "SELECT bits FROM sighting_parts WHERE export_id = ?1 AND bitmap = 'conversations' AND part = ?2",
    )?;
    let mut wanted: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for &id in ids {
        if let Ok(id) = u32::try_from(id) {
            wanted
                .entry(i64::from(id >> PART_BITS))
                .or_default()
                .push(id);
        }
    }
    for (part, ids) in wanted {
        let bits: Option<Vec<u8>> = part_of
            .query_row(params![export_id, part], |r| r.get(0))
            .optional()?;
        let Some(bits) = bits else { continue };
        let what = format!("conversations part {part}");
        let b = deserialize(&bits, export_id, &what)?;
        check_part(&b, part, export_id, &what)?;
        if ids.iter().any(|&id| b.contains(id)) {
            return Ok(Some(true));
        }
    }
    Ok(Some(false))
}

/// Whether sightings are stored in parts (`sighting_parts`, schema 7 on).
/// Schema 6's own migration reads what it has just stored whole.
fn in_parts(conn: &Connection) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'sighting_parts'",
        [],
        |r| r.get(0),
    )?)
}

/// Whether export `export_id` has sightings stored.
pub fn has_sightings(conn: &Connection, export_id: i64) -> Result<bool> {
    let stored: Option<i64> = conn
        .prepare_cached("SELECT export_id FROM export_sightings WHERE export_id = ?1")?
        .query_row([export_id], |r| r.get(0))
        .optional()?;
    Ok(stored.is_some())
}

/// Stores `b` as `column`'s parts of export `export_id`: one row per range
/// of [`PART_VALUES`] values that holds any.
fn store_parts(conn: &Connection, export_id: i64, column: &str, b: &RoaringBitmap) -> Result<()> {
    let (Some(min), Some(max)) = (b.min(), b.max()) else {
        return Ok(());
    };
    let mut insert = conn.prepare_cached(
        "INSERT INTO sighting_parts (export_id, bitmap, part, bits) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for part in (min >> PART_BITS)..=(max >> PART_BITS) {
        let lo = part << PART_BITS;
        let hi = lo | (PART_VALUES as u32 - 1);
        let mut range = RoaringBitmap::new();
        range.insert_range(lo..=hi);
        let mut piece = b & &range;
        if piece.is_empty() {
            continue;
        }
        piece.optimize();
        insert.execute(params![export_id, column, part, serialize(&piece)])?;
    }
    Ok(())
}

/// A part's values must lie in its range.
fn check_part(b: &RoaringBitmap, part: i64, export_id: i64, what: &str) -> Result<()> {
    let lo = part.checked_mul(PART_VALUES as i64);
    let inside =
        |v: u32| lo.is_some_and(|lo| (lo..lo + PART_VALUES as i64).contains(&i64::from(v)));
    match (b.min(), b.max()) {
        (Some(min), Some(max)) if inside(min) && inside(max) => Ok(()),
        _ => Err(Error::Damaged {
            what: format!("sighting_parts.{what} of export {export_id}"),
            detail: format!(
                "a part must hold values from {} to {} and hold at least one",
                part.saturating_mul(PART_VALUES as i64),
                part.saturating_add(1).saturating_mul(PART_VALUES as i64) - 1
            ),
        }),
    }
}

/// Schema 7's data step: each export's whole bitmaps (schema 6) become
/// parts, and the whole ones are dropped.
pub(crate) fn split_into_parts(tx: &Connection) -> Result<()> {
    let exports: Vec<(i64, Vec<u8>, Vec<u8>)> = tx
        .prepare(
            "SELECT export_id, entries, conversations FROM export_sightings ORDER BY export_id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (export_id, entries, conversations) in exports {
        store_parts(
            tx,
            export_id,
            "entries",
            &deserialize(&entries, export_id, "entries")?,
        )?;
        store_parts(
            tx,
            export_id,
            "conversations",
            &deserialize(&conversations, export_id, "conversations")?,
        )?;
    }
    tx.execute_batch(
        "ALTER TABLE export_sightings DROP COLUMN entries;
         ALTER TABLE export_sightings DROP COLUMN conversations;",
    )?;
    Ok(())
}

fn serialize(b: &RoaringBitmap) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.serialized_size());
    // Writing into a Vec cannot fail.
    let _ = b.serialize_into(&mut out);
    out
}

/// Reads a stored bitmap; `column` names it in the error.
pub fn deserialize(bytes: &[u8], export_id: i64, column: &str) -> Result<RoaringBitmap> {
    RoaringBitmap::deserialize_from(bytes).map_err(|e| Error::Damaged {
        what: format!("sightings ({column}) of export {export_id}"),
        detail: e.to_string(),
    })
}

/// What a complete export lacked that the previous export of its kind held.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Missing {
    /// The previous export of the same kind, compared against.
    pub previous_export: i64,
    /// Entries (identifiers) the previous export held, of which this one
    /// holds no version: deleted at the source.
    pub entries: u64,
    /// Conversations the previous export held and this one does not.
    pub conversations: u64,
}

/// Compares `this` with export `previous`'s sightings. An entry the
/// previous export held in one version and this one in another (an edit
/// or redaction) is not missing.
pub fn missing(conn: &Connection, previous: i64, this: &Seen) -> Result<Missing> {
    let Some(prev) = Seen::load(conn, previous)? else {
        return Ok(Missing {
            previous_export: previous,
            ..Missing::default()
        });
    };
    Ok(Missing {
        previous_export: previous,
        ..missing_between(conn, &prev, this)?
    })
}

/// What `prev` held and `this` lacks (`previous_export` left 0).
///
/// Entries are identified by `(conversation_id, identifier)`: all the
/// versions of one entry belong to one conversation. So an entry of a
/// conversation `this` does not hold at all has no version in `this`:
/// such conversations (all of them, when an org deletes in bulk or an
/// export holds only new conversations) are counted with one ordered pass
/// over each one's entries, not two look-ups per version. Only the versions
/// left, of conversations `this` still holds, are looked up one by one.
fn missing_between(conn: &Connection, prev: &Seen, this: &Seen) -> Result<Missing> {
    let gone = &prev.entries - &this.entries;
    let gone_conversations = &prev.conversations - &this.conversations;
    let mut entries = 0u64;
    let mut left = gone.clone();
    if !gone.is_empty() {
        // Removed versions count as what they were (docs/retention.md).
        let mut of_conversation = conn.prepare_cached(&with_removed(
            conn,
            "SELECT identifier, seq, version FROM {} WHERE conversation_id = ?1 ORDER BY 1, 3",
        )?)?;
        for conversation in &gone_conversations {
            let mut rows = of_conversation.query([conversation])?;
            let mut last: Option<String> = None;
            while let Some(r) = rows.next()? {
                let seq = member(r.get(1)?, "entry number (seq)")?;
                if !left.remove(seq) {
                    continue; // a version the previous export did not hold
                }
                let identifier: String = r.get(0)?;
                if last.as_ref() != Some(&identifier) {
                    entries += 1;
                    last = Some(identifier);
                }
            }
        }
    }
    entries += missing_one_by_one(conn, this, &gone, &left)?;
    Ok(Missing {
        previous_export: 0,
        entries,
        conversations: gone_conversations.len(),
    })
}

/// `sql` with `{}` reading the stored versions and the removed ones
/// (schema 10). An archive being upgraded from before schema 10 has
/// removed none.
fn with_removed(conn: &Connection, sql: &str) -> Result<String> {
    let removals: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'disposed_versions'",
        [],
        |r| r.get(0),
    )?;
    let source = if removals {
        "(SELECT seq, conversation_id, identifier, version FROM entries
          UNION ALL SELECT seq, conversation_id, identifier, version FROM disposed_versions)"
    } else {
        "entries"
    };
    Ok(sql.replace("{}", source))
}

/// Counts the entries of `versions` (some of `gone`: the versions the
/// previous export held and `this` lacks) of which `this` holds no
/// version, once per entry.
fn missing_one_by_one(
    conn: &Connection,
    this: &Seen,
    gone: &RoaringBitmap,
    versions: &RoaringBitmap,
) -> Result<u64> {
    let mut identifier_of = conn.prepare_cached(&with_removed(
        conn,
        "SELECT conversation_id, identifier FROM {} WHERE seq = ?1",
    )?)?;
    let mut versions_of = conn.prepare_cached(&with_removed(
        conn,
        "SELECT seq FROM {} WHERE conversation_id = ?1 AND identifier = ?2",
    )?)?;
    let mut entries = 0u64;
    for seq in versions {
        let (conversation, identifier): (i64, String) =
            identifier_of.query_row([seq], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut held_now = false;
        // Counted once per identifier: at the lowest of its versions that
        // the previous export held and this one lacks.
        let mut first_gone = true;
        let mut rows = versions_of.query(rusqlite::params![conversation, &identifier])?;
        while let Some(r) = rows.next()? {
            let other = member(r.get(0)?, "entry number (seq)")?;
            held_now |= this.entries.contains(other);
            first_gone &= !(other < seq && gone.contains(other));
        }
        if !held_now && first_gone {
            entries += 1;
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bitmap_survives_storage_and_stays_small_for_runs() {
        let mut s = Seen::default();
        for seq in 1..=100_000 {
            s.add(seq, seq / 24 + 1).unwrap();
        }
        let bytes = serialize(&{
            let mut b = s.entries.clone();
            b.optimize();
            b
        });
        // One run: a handful of bytes for 100,000 entries.
        assert!(bytes.len() < 64, "{} bytes", bytes.len());
        let back = deserialize(&bytes, 1, "entries").unwrap();
        assert_eq!(back, s.entries);
        assert!(matches!(
            deserialize(&bytes[..bytes.len() - 1], 1, "entries"),
            Err(Error::Damaged { .. })
        ));
    }

    /// A removal asks each export whether it saw a conversation: only the
    /// parts that could hold one are read, and the answer is the bitmap's.
    #[test]
    fn saw_any_conversation_reads_the_parts_that_could_hold_them() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE export_sightings (export_id INTEGER PRIMARY KEY,
                 entry_count INTEGER, conversation_count INTEGER);
             CREATE TABLE sighting_parts (export_id INTEGER, bitmap TEXT, part INTEGER,
                 bits BLOB, UNIQUE (export_id, bitmap, part));",
        )
        .unwrap();
        let far = (1_i64 << PART_BITS) + 7;
        let mut s = Seen::default();
        s.add(1, 5).unwrap();
        s.add(2, far).unwrap();
        s.store(&conn, 1).unwrap();
        let ask = |ids: &[i64]| saw_any_conversation(&conn, 1, &ids.iter().copied().collect());
        assert_eq!(ask(&[5]).unwrap(), Some(true));
        assert_eq!(ask(&[far]).unwrap(), Some(true));
        assert_eq!(ask(&[6, far + 1, -1]).unwrap(), Some(false));
        assert_eq!(ask(&[]).unwrap(), Some(false));
        assert_eq!(saw_any_conversation(&conn, 2, &[5].into()).unwrap(), None);
        // A part holding values outside its range is damage, not an answer.
        conn.execute(
            "UPDATE sighting_parts SET part = 3 WHERE bitmap = 'conversations' AND part = 1",
            [],
        )
        .unwrap();
        assert!(matches!(
            saw_any_conversation(&conn, 1, &[(3 << PART_BITS) + 1].into()),
            Err(Error::Damaged { .. })
        ));
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        let mut s = Seen::default();
        assert!(s.add(-1, 1).is_err());
        assert!(s.add(1, i64::from(u32::MAX) + 1).is_err());
    }

    /// A tiny archive of the versions `order` picks among `versions[c][i]`
    /// versions of entry `i` of conversation `c + 1`, numbered by `seq` in
    /// the order picked (so an edit may come after other entries); and
    /// each stored version's conversation and seq.
    fn tiny_archive(versions: &[Vec<u8>], order: &[usize]) -> (Connection, Vec<(i64, u32)>) {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE entries (seq INTEGER UNIQUE, conversation_id INTEGER,
                 identifier TEXT, version INTEGER,
                 UNIQUE (conversation_id, identifier, version));
             CREATE TABLE disposed_versions (seq INTEGER PRIMARY KEY, conversation_id INTEGER,
                 identifier TEXT, version INTEGER);",
        )
        .unwrap();
        let mut all = Vec::new();
        for (c, entries) in versions.iter().enumerate() {
            for (i, &n) in entries.iter().enumerate() {
                for v in 1..=i64::from(n) {
                    all.push((c as i64 + 1, format!("e{i}"), v));
                }
            }
        }
        let mut picked = std::collections::HashSet::new();
        let mut seqs = Vec::new();
        for &at in order {
            if at >= all.len() || !picked.insert(at) {
                continue;
            }
            let (c, ref id, v) = all[at];
            let seq = seqs.len() as u32 + 1;
            conn.execute(
                "INSERT INTO entries VALUES (?1, ?2, ?3, ?4)",
                params![seq, c, id, v],
            )
            .unwrap();
            seqs.push((c, seq));
        }
        (conn, seqs)
    }

    fn seen_of(seqs: &[(i64, u32)], pick: &[bool]) -> Seen {
        let mut s = Seen::default();
        for (&(c, seq), _) in seqs.iter().zip(pick).filter(|(_, p)| **p) {
            s.add(i64::from(seq), c).unwrap();
        }
        s
    }

    #[test]
    fn a_conversation_gone_whole_counts_each_entry_once() {
        // Conversation 1: entries e0 (2 versions) and e1; conversation 2: e0.
        let (conn, seqs) = tiny_archive(&[vec![2, 1], vec![1]], &[0, 1, 2, 3]);
        let prev = seen_of(&seqs, &[true, true, true, true]);
        // This export holds conversation 2 only.
        let this = seen_of(&seqs, &[false, false, false, true]);
        let m = missing_between(&conn, &prev, &this).unwrap();
        assert_eq!((m.entries, m.conversations), (2, 1));
        // Held in its second version only: e0 is not missing; e1 is.
        let this = seen_of(&seqs, &[false, true, false, true]);
        let m = missing_between(&conn, &prev, &this).unwrap();
        assert_eq!((m.entries, m.conversations), (1, 0));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        /// The pass over whole conversations counts what looking up every
        /// version one by one counts.
        #[test]
        fn missing_counts_as_one_by_one(
            versions in proptest::collection::vec(proptest::collection::vec(1u8..4, 1..4), 1..5),
            order in proptest::collection::vec(0usize..40, 0..40),
            prev_pick in proptest::collection::vec(proptest::bool::ANY, 40),
            this_pick in proptest::collection::vec(proptest::bool::ANY, 40),
            removed in proptest::collection::vec(1u8..5, 0..3),
        ) {
            let (conn, seqs) = tiny_archive(&versions, &order);
            let (prev, this) = (seen_of(&seqs, &prev_pick), seen_of(&seqs, &this_pick));
            let gone = &prev.entries - &this.entries;
            let fast = missing_between(&conn, &prev, &this).unwrap();
            let slow = missing_one_by_one(&conn, &this, &gone, &gone).unwrap();
            proptest::prop_assert_eq!(fast.entries, slow);
            proptest::prop_assert_eq!(
                fast.conversations,
                (&prev.conversations - &this.conversations).len()
            );
            // Conversations removed later count as they did before.
            for c in removed {
                conn.execute_batch(&format!(
                    "INSERT OR IGNORE INTO disposed_versions
                         SELECT seq, conversation_id, identifier, version FROM entries WHERE conversation_id = {c};
                     DELETE FROM entries WHERE conversation_id = {c};"
                )).unwrap();
            }
            let after = missing_between(&conn, &prev, &this).unwrap();
            proptest::prop_assert_eq!(after.entries, fast.entries);
            proptest::prop_assert_eq!(missing_one_by_one(&conn, &this, &gone, &gone).unwrap(), slow);
        }
    }
}
