//! The exports in the order they were generated, never the order they
//! were ingested (docs/archive-format.md, "Time order").
//!
//! Weekly transcript exports may arrive in any order: a backfill of last
//! year's zips, or a week found late in a downloads folder. Each export's
//! place is its generation time (`exports.generated_ms`), ties broken by
//! id. Three things follow from that place, and this module keeps them:
//!
//! - **Versions.** An entry's versions are numbered in the order of the
//!   earliest export that carried each (then by `seq`, the order stored).
//!   Ingested in time order, that is the order they were stored; an export
//!   older than one already archived renumbers the versions it touches
//!   ([`reorder_versions`]), so its text becomes history, not the current
//!   version.
//! - **Deleted at the source.** A complete export is compared with the
//!   export of its kind just before it in time, and the one just after it
//!   is compared again with it ([`neighbours`]).
//! - **The latest export** of a kind is the latest generated, for `show`
//!   and the cadence.
//!
//! Invariant (checked by `verify`, [`misplaced_versions`]): for every
//! entry, sorting its versions by (time rank of the earliest export whose
//! sightings hold it, `seq`) gives versions 1, 2, 3, ...

use std::collections::HashMap;

use roaring::RoaringBitmap;
use rusqlite::{Connection, OptionalExtension, params};

use super::sightings::{self, Seen};
use crate::error::Result;

/// The SQL order of exports in time: by generation time, then by id.
pub const TIME_ORDER: &str = "generated_ms, id";

/// Every export id, oldest generated first.
pub fn exports_in_order(conn: &Connection) -> Result<Vec<i64>> {
    Ok(conn
        .prepare_cached(&format!("SELECT id FROM exports ORDER BY {TIME_ORDER}"))?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// The exports of `kind`, latest generated first.
pub fn of_kind_newest_first(conn: &Connection, kind: &str) -> Result<Vec<i64>> {
    Ok(conn
        .prepare_cached(
            "SELECT id FROM exports WHERE kind = ?1 ORDER BY generated_ms DESC, id DESC",
        )?
        .query_map([kind], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// The exports of the same kind just before and just after `export_id`
/// in time (`None` at either end, or when it has no kind).
pub fn neighbours(conn: &Connection, export_id: i64) -> Result<(Option<i64>, Option<i64>)> {
    let before = conn
        .prepare_cached(
            "SELECT p.id FROM exports x JOIN exports p ON p.kind = x.kind AND p.id != x.id
             WHERE x.id = ?1 AND (p.generated_ms < x.generated_ms
                                  OR (p.generated_ms = x.generated_ms AND p.id < x.id))
             ORDER BY p.generated_ms DESC, p.id DESC LIMIT 1",
        )?
        .query_row([export_id], |r| r.get(0))
        .optional()?;
    let after = conn
        .prepare_cached(
            "SELECT n.id FROM exports x JOIN exports n ON n.kind = x.kind AND n.id != x.id
             WHERE x.id = ?1 AND (n.generated_ms > x.generated_ms
                                  OR (n.generated_ms = x.generated_ms AND n.id > x.id))
             ORDER BY n.generated_ms, n.id LIMIT 1",
        )?
        .query_row([export_id], |r| r.get(0))
        .optional()?;
    Ok((before, after))
}

/// Whether some export that carried entries was generated after
/// `export_id` (then an ingest of `export_id` is history, not news).
pub fn has_later(conn: &Connection, export_id: i64) -> Result<bool> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM exports x, exports n
             JOIN export_sightings s ON s.export_id = n.id AND s.entry_count > 0
             WHERE x.id = ?1 AND n.id != x.id
             AND (n.generated_ms > x.generated_ms OR (n.generated_ms = x.generated_ms AND n.id > x.id)))",
        [export_id],
        |r| r.get(0),
    )?)
}

/// Another export of the same cadence kind (`transcripts`,
/// `data-export`) as `export_id` generated at the very same millisecond:
/// the two cannot be put in order. Pages `fetch` read (`api`), which two
/// runs may finish in one millisecond, are ordered by id instead: each is
/// what the org answered when read, and neither is complete.
pub fn same_time(conn: &Connection, export_id: i64) -> Result<Option<i64>> {
    let kinds: Vec<&str> = crate::export::ExportKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    Ok(conn
        .query_row(
            "SELECT o.id FROM exports x JOIN exports o
               ON o.kind = x.kind AND o.generated_ms = x.generated_ms AND o.id != x.id
             WHERE x.id = ?1 AND x.kind IN (SELECT value FROM json_each(?2))
             ORDER BY o.id LIMIT 1",
            rusqlite::params![export_id, serde_json::to_string(&kinds).unwrap_or_default()],
            |r| r.get(0),
        )
        .optional()?)
}

/// One stored version: `(id, seq, version, time ms)`. Its text is read
/// only when the entry is renumbered: `verify` asks of every entry with
/// later versions, and holds none of their texts.
type Version = (i64, i64, i64, Option<i64>);

/// An entry, `(conversation_id, identifier)`, and its versions in version
/// order.
type EntryVersions = ((i64, String), Vec<Version>);

/// The versions of every entry that has more than one, those of entries
/// `only` holds a version of when given: `(conversation_id, identifier)`
/// and its versions in version order.
fn multi_version_entries(
    conn: &Connection,
    only: Option<&RoaringBitmap>,
) -> Result<Vec<EntryVersions>> {
    // The partial index `entries_later_versions` lists just these.
    let keys: Vec<(i64, String)> = conn
        .prepare("SELECT DISTINCT conversation_id, identifier FROM entries INDEXED BY entries_later_versions WHERE version > 1")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut versions = conn.prepare_cached(
        "SELECT id, seq, version, coalesce(server_ms, client_ms) FROM entries
         WHERE conversation_id = ?1 AND identifier = ?2 ORDER BY version",
    )?;
    let mut out = Vec::new();
    for key in keys {
        let vs: Vec<Version> = versions
            .query_map(params![key.0, key.1], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let touched = only.is_none_or(|seen| {
            vs.iter()
                .any(|v| u32::try_from(v.1).is_ok_and(|s| seen.contains(s)))
        });
        if touched {
            out.push((key, vs));
        }
    }
    Ok(out)
}

/// For each `seq` in `wanted`, the time rank (0 = oldest) of the earliest
/// generated export whose sightings hold it. Exports are read one at a
/// time, oldest first, and only until every version is placed.
fn first_carriers(conn: &Connection, mut wanted: RoaringBitmap) -> Result<HashMap<u32, usize>> {
    let mut rank = HashMap::new();
    for (i, export) in exports_in_order(conn)?.into_iter().enumerate() {
        if wanted.is_empty() {
            break;
        }
        let Some(seen) = Seen::load(conn, export)? else {
            continue;
        };
        let here = &wanted & &seen.entries;
        for s in &here {
            rank.insert(s, i);
        }
        wanted -= here;
    }
    Ok(rank)
}

/// The versions of one entry in their place in time: by the rank of their
/// earliest carrier, then by `seq`. A version no export holds (which
/// `verify` reports on its own) goes last.
fn in_time(versions: &[Version], rank: &HashMap<u32, usize>) -> Vec<Version> {
    let mut sorted = versions.to_vec();
    sorted.sort_by_key(|v| {
        let r = u32::try_from(v.1)
            .ok()
            .and_then(|s| rank.get(&s).copied())
            .unwrap_or(usize::MAX);
        (r, v.1)
    });
    sorted
}

fn all_seqs<'a>(entries: impl Iterator<Item = &'a Vec<Version>>) -> Result<RoaringBitmap> {
    let mut seqs = RoaringBitmap::new();
    for vs in entries {
        for v in vs {
            seqs.insert(sightings::member(v.1, "entry number (seq)")?);
        }
    }
    Ok(seqs)
}

/// An entry whose versions are not numbered in time order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Misplaced {
    pub conversation_id: i64,
    pub identifier: String,
    /// The stored version numbers, listed in time order.
    pub found: Vec<i64>,
}

/// Every entry whose versions are not numbered in time order (`verify`).
pub fn misplaced_versions(conn: &Connection) -> Result<Vec<Misplaced>> {
    let entries = multi_version_entries(conn, None)?;
    let rank = first_carriers(conn, all_seqs(entries.iter().map(|(_, v)| v))?)?;
    let mut out = Vec::new();
    for ((conversation_id, identifier), vs) in entries {
        let found: Vec<i64> = in_time(&vs, &rank).iter().map(|v| v.2).collect();
        if found.iter().zip(1..).any(|(&v, want)| v != want) {
            out.push(Misplaced {
                conversation_id,
                identifier,
                found,
            });
        }
    }
    Ok(out)
}

/// Renumbers, after export `export_id` was written, the versions of every
/// entry it carried whose versions are no longer in time order: those an
/// export generated before one already archived brings or sees. Returns
/// how many entries were renumbered. Nothing to do (one query) when no
/// export was generated after this one, the usual weekly case.
///
/// Within one entry, versions of the same time share one millisecond of
/// time keys: their ids are handed out again in version order, so that
/// newest-first search lists the later version first whatever the order
/// of ingest. Each moved id's full-text row moves with it, and the
/// entry's `entry_repeats` rows are computed again.
pub fn reorder_versions(conn: &Connection, export_id: i64) -> Result<u64> {
    if !has_later(conn, export_id)? {
        return Ok(0);
    }
    let Some(seen) = Seen::load(conn, export_id)? else {
        return Ok(0);
    };
    let entries = multi_version_entries(conn, Some(&seen.entries))?;
    let rank = first_carriers(conn, all_seqs(entries.iter().map(|(_, v)| v))?)?;
    let mut renumbered = 0;
    for (_, vs) in entries {
        let sorted = in_time(&vs, &rank);
        if sorted.iter().zip(1..).all(|(v, want)| v.2 == want) {
            continue;
        }
        renumber(conn, &vs, &sorted)?;
        renumbered += 1;
    }
    Ok(renumbered)
}

/// Far above any real version number: versions pass through it so that
/// the unique `(conversation_id, identifier, version)` never sees two
/// rows with one number.
const VERSION_PARKING: i64 = 1 << 40;

/// Gives the versions of one entry (`stored`, in version order) the
/// numbers of their place in `sorted`, and their ids too when they share
/// one time.
fn renumber(conn: &Connection, stored: &[Version], sorted: &[Version]) -> Result<()> {
    let same_time = stored.windows(2).all(|w| w[0].3 == w[1].3);
    let mut ids: Vec<i64> = stored.iter().map(|v| v.0).collect();
    ids.sort_unstable();
    let mut text_of = conn.prepare_cached("SELECT text FROM entries WHERE id = ?1")?;
    let mut texts = Vec::with_capacity(sorted.len());
    for v in sorted {
        texts.push(text_of.query_row([v.0], |r| r.get::<_, Option<String>>(0))?);
    }
    // (old id, new id, new version, text)
    let moves: Vec<(i64, i64, i64, &Option<String>)> = sorted
        .iter()
        .zip(1..)
        .map(|(v, version)| {
            let id = if same_time {
                ids[version as usize - 1]
            } else {
                v.0
            };
            (v.0, id, version, &texts[version as usize - 1])
        })
        .collect();
    let mut park = conn.prepare_cached("UPDATE entries SET version = ?2 + ?3 WHERE id = ?1")?;
    for (old, _, version, _) in &moves {
        park.execute(params![old, version, VERSION_PARKING])?;
    }
    // The repeats of this entry are computed again below; forgotten first,
    // as they name the ids about to move.
    let mut forget = conn.prepare_cached("DELETE FROM entry_repeats WHERE entry_id = ?1")?;
    for (old, _, _, _) in &moves {
        forget.execute([old])?;
    }
    let ids_move = moves.iter().any(|(old, new, _, _)| old != new);
    if ids_move {
        let mut fts_delete = conn.prepare_cached(
            "INSERT INTO entries_fts (entries_fts, rowid, text) VALUES ('delete', ?1, ?2)",
        )?;
        let mut move_id = conn.prepare_cached("UPDATE entries SET id = ?2 WHERE id = ?1")?;
        for (i, (old, _, _, text)) in moves.iter().enumerate() {
            if text.is_some() {
                fts_delete.execute(params![old, text])?;
            }
            // Below every real key (untimed ids start at -(2^62)).
            move_id.execute(params![old, i64::MIN + i as i64])?;
        }
        let mut fts_insert =
            conn.prepare_cached("INSERT INTO entries_fts (rowid, text) VALUES (?1, ?2)")?;
        for (i, (_, new, _, text)) in moves.iter().enumerate() {
            move_id.execute(params![i64::MIN + i as i64, new])?;
            if text.is_some() {
                fts_insert.execute(params![new, text])?;
            }
        }
    }
    let mut unpark =
        conn.prepare_cached("UPDATE entries SET version = version - ?2 WHERE id = ?1")?;
    for (_, new, _, _) in &moves {
        unpark.execute(params![new, VERSION_PARKING])?;
    }
    // The repeats of this entry, as migration 9 defines them: a version
    // whose text a later version repeats.
    let mut repeat =
        conn.prepare_cached("INSERT OR IGNORE INTO entry_repeats (entry_id) VALUES (?1)")?;
    for (i, (_, id, _, text)) in moves.iter().enumerate() {
        if moves[i + 1..].iter().any(|later| later.3 == *text) {
            repeat.execute([id])?;
        }
    }
    Ok(())
}
