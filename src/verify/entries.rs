//! Entries, conversations and exports: content hashes and extracted text
//! recomputed from the stored fields, every export's counts reconciled with
//! its rows, nothing orphaned, and every export matched by its ledger
//! record.

use super::kind::FailureKind;
use std::collections::{HashMap, HashSet};

use rusqlite::Connection;
use serde_json::Value;

use super::{Findings, Level, Options, Selection};
use crate::archive::sightings::Seen;
use crate::archive::{ENTRY_COLUMNS, RELATED_COLUMN, entry_from_row};
use crate::entry::normalize_entry_type;
use crate::error::Result;
use crate::ledger::{Record, kind};
use crate::progress::count_bar;
use crate::text;

pub(super) fn check(
    conn: &Connection,
    opts: &Options,
    sel: &Selection,
    f: &mut Findings,
) -> Result<()> {
    counts(conn, sel, f)?;
    orphans(conn, f)?;
    if opts.level >= Level::Full {
        contents(conn, opts, sel, f)?;
        if sel.sampled.is_none() {
            versions(conn, sel, f)?;
            if sel.export.is_none() {
                versions_in_time(conn, f)?;
            }
            missing_counts(conn, sel, f)?;
            related(conn, f)?;
            row_hashes(conn, f)?;
        }
    } else {
        f.checked.entries += count(
            conn,
            &format!(
                "SELECT count(*) FROM entries e WHERE {}",
                sel.entries_where()
            ),
        )?;
    }
    Ok(())
}

fn count(conn: &Connection, sql: &str) -> Result<u64> {
    Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64)
}

/// Each export's recorded counts against its rows.
#[allow(
    clippy::too_many_lines,
    reason = "every export count checked in one grouped pass per table (the history: 28.5 s to 21.3 s)"
)]
fn counts(conn: &Connection, sel: &Selection, f: &mut Findings) -> Result<()> {
    let only = sel
        .export
        .map_or_else(|| "1".into(), |id| format!("x.id = {id}"));
    // One grouped pass over each table: there is no index on export_id.
    let per_export = |sql: &str| -> Result<HashMap<i64, Vec<i64>>> {
        let mut stmt = conn.prepare(sql)?;
        let width = stmt.column_count();
        let rows = stmt.query_map([], |r| {
            let mut v = Vec::with_capacity(width - 1);
            for i in 1..width {
                v.push(r.get::<_, i64>(i)?);
            }
            Ok((r.get::<_, i64>(0)?, v))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    };
    // What an export added is what is stored plus what removals took
    // (docs/retention.md): counts are facts of the ingest, and stay.
    let entries = per_export(
        "SELECT export_id, sum(version = 1), sum(version > 1), min(seq), max(seq), count(*)
         FROM (SELECT export_id, version, seq FROM entries
               UNION ALL SELECT export_id, version, seq FROM disposed_versions)
         GROUP BY export_id",
    )?;
    // An entry's version 1 is the one stored first, unless an older
    // export ingested later renumbered its versions in time order
    // (archive::timeline): an export's new entries are the versions it
    // stored first, so only entries with later versions (listed by a
    // partial index) are asked again.
    let renumbered = per_export(
        "SELECT v.export_id,
                sum(v.seq = (SELECT min(o.seq) FROM entries o
                             WHERE o.conversation_id = v.conversation_id AND o.identifier = v.identifier))
                - sum(v.version = 1)
         FROM (SELECT DISTINCT conversation_id, identifier FROM entries INDEXED BY entries_later_versions WHERE version > 1) t
         JOIN entries v ON v.conversation_id = t.conversation_id AND v.identifier = t.identifier
         GROUP BY v.export_id",
    )?;
    let conversations = per_export(
        "SELECT first_export_id, count(*)
         FROM (SELECT first_export_id FROM conversations
               UNION ALL SELECT first_export_id FROM disposed_conversations)
         GROUP BY first_export_id",
    )?;
    let quarantine = per_export(
        "SELECT export_id, sum(n) FROM (SELECT export_id, 1 AS n FROM quarantine
               UNION ALL SELECT export_id, quarantined FROM disposed_rows)
         GROUP BY export_id",
    )?;
    let files = per_export(
        "SELECT export_id, sum(n) FROM (SELECT export_id, 1 AS n FROM files
               UNION ALL SELECT export_id, 1 FROM derivatives WHERE new_sha256 IS NULL)
         GROUP BY export_id",
    )?;
    let records = per_export(
        "SELECT export_id, sum(n) FROM (SELECT export_id, 1 AS n FROM records
               UNION ALL SELECT export_id, records FROM disposed_rows)
         GROUP BY export_id",
    )?;
    // What every bitmap's numbers must fall within, from the same passes.
    let (conversations_stored, top_conversation): (i64, i64) = conn.query_row(
        "SELECT count(*), coalesce(max(id), 0)
         FROM (SELECT id FROM conversations UNION ALL SELECT conversation_id FROM disposed_conversations)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let totals = Totals {
        versions: entries.values().map(|v| v[4]).sum(),
        top_seq: entries.values().map(|v| v[3]).max().unwrap_or(0),
        conversations: conversations_stored,
        top_conversation,
    };
    let get = |m: &HashMap<i64, Vec<i64>>, id: i64, i: usize| {
        m.get(&id).and_then(|v| v.get(i)).copied().unwrap_or(0)
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT x.id, x.entries_read, x.entries_new, x.entries_unchanged, x.entries_changed,
                x.conversations_new, x.quarantined, x.records_new
         FROM exports x WHERE {only} ORDER BY x.id"
    ))?;
    let rows = stmt
        .query_map([], |r| {
            let mut v = [0i64; 8];
            for (i, slot) in v.iter_mut().enumerate() {
                *slot = r.get(i)?;
            }
            Ok(v)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for [
        id,
        read,
        new,
        unchanged,
        changed,
        conv_new,
        quarantined,
        records_new,
    ] in rows
    {
        let first = get(&renumbered, id, 0);
        let (v1, vn) = (get(&entries, id, 0) + first, get(&entries, id, 1) - first);
        let added = (
            get(&entries, id, 2),
            get(&entries, id, 3),
            get(&entries, id, 4),
        );
        let convs = get(&conversations, id, 0);
        let (q, files) = (get(&quarantine, id, 0), get(&files, id, 0));
        f.checked.exports += 1;
        let item = format!("export {id}");
        let mut same = |what: &str, recorded: i64, found: i64| {
            if recorded != found {
                f.fail(
                    FailureKind::ExportCounts,
                    &item,
                    format!("{what} {recorded} (as recorded)"),
                    format!("{what} {found} (in the database)"),
                );
            }
        };
        same("entries_new", new, v1);
        same("entries_changed", changed, vn);
        same("conversations_new", conv_new, convs);
        same("quarantined", quarantined, q);
        same("records_new", records_new, get(&records, id, 0));
        same("entries_read", read, new + unchanged + changed);
        same_sightings(conn, id, added, new + changed, unchanged, &totals, f)?;
        if files == 0 {
            f.fail(
                FailureKind::ExportCounts,
                &item,
                "at least 1 file",
                "0 files",
            );
        }
    }
    Ok(())
}

/// How many versions and conversations are stored, and their highest
/// numbers: a bitmap may name none beyond them.
#[derive(Clone, Copy)]
struct Totals {
    versions: i64,
    top_seq: i64,
    conversations: i64,
    top_conversation: i64,
}

/// Export `id`'s sightings bitmap against its rows: it holds every version
/// the export added (those have consecutive `seq`, one writer at a time),
/// its counts are its cardinalities, and beyond what it added it holds at
/// most the entries it counted unchanged.
fn same_sightings(
    conn: &Connection,
    id: i64,
    (min_seq, max_seq, added): (i64, i64, i64),
    stored: i64,
    unchanged: i64,
    totals: &Totals,
    f: &mut Findings,
) -> Result<()> {
    let item = format!("export {id}");
    let seen = match Seen::load(conn, id) {
        Ok(Some(s)) => s,
        Ok(None) => {
            f.fail(
                FailureKind::Sightings,
                &item,
                "its sightings bitmap",
                "none",
            );
            return Ok(());
        }
        Err(e) => {
            f.fail(
                FailureKind::Sightings,
                &item,
                "a readable sightings bitmap",
                e,
            );
            return Ok(());
        }
    };
    let (recorded_entries, recorded_conversations): (i64, i64) = conn.query_row(
        "SELECT entry_count, conversation_count FROM export_sightings WHERE export_id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if recorded_entries != seen.entries.len() as i64
        || recorded_conversations != seen.conversations.len() as i64
    {
        f.fail(
            FailureKind::Sightings,
            &item,
            format!(
                "{recorded_entries} entries, {recorded_conversations} conversations (as recorded)"
            ),
            format!(
                "{} entries, {} conversations in the bitmaps",
                seen.entries.len(),
                seen.conversations.len()
            ),
        );
    }
    if added > 0 {
        let range = u32::try_from(min_seq).unwrap_or(0)..=u32::try_from(max_seq).unwrap_or(0);
        let held = seen.entries.range_cardinality(range) as i64;
        if added != max_seq - min_seq + 1 || held != added || added != stored {
            f.fail(
                FailureKind::Sightings,
                &item,
                format!("the {stored} versions it added, with consecutive seq, all in its bitmap"),
                format!(
                    "{added} versions, seq {min_seq} to {max_seq}, {held} of them in its bitmap"
                ),
            );
        }
    }
    let again = seen.entries.len() as i64 - added;
    if again > unchanged {
        f.fail(
            FailureKind::Sightings,
            &item,
            format!("at most {unchanged} versions seen again (entries_unchanged)"),
            format!("{again} versions seen again"),
        );
    }
    let Totals {
        versions,
        top_seq,
        conversations,
        top_conversation,
    } = *totals;
    // Every number names a stored version (seq are 1..n) or conversation.
    let beyond = |b: &roaring::RoaringBitmap, top: i64, all: i64| {
        b.max().is_some_and(|m| i64::from(m) > top) || b.min() == Some(0) || top != all
    };
    if beyond(&seen.entries, top_seq, versions)
        || beyond(&seen.conversations, top_conversation, conversations)
    {
        f.fail(
            FailureKind::Sightings,
            &item,
            format!("entry numbers within 1 to {versions}, conversations within 1 to {conversations}"),
            format!(
                "entry numbers {:?} to {:?} (highest stored {top_seq}), conversations {:?} to {:?} (highest stored {top_conversation})",
                seen.entries.min(),
                seen.entries.max(),
                seen.conversations.min(),
                seen.conversations.max()
            ),
        );
    }
    Ok(())
}

/// Every entry's versions are numbered in time order: by the generation
/// time of the earliest export that carried each (archive::timeline).
fn versions_in_time(conn: &Connection, f: &mut Findings) -> Result<()> {
    // Damaged sightings are reported where they are read (`sightings`);
    // here they only mean the order could not be checked.
    let misplaced = match crate::archive::timeline::misplaced_versions(conn) {
        Ok(m) => m,
        Err(e) => {
            f.fail(
                FailureKind::VersionOrder,
                "every entry with more than one version",
                "versions checked against the exports' sightings",
                e,
            );
            return Ok(());
        }
    };
    for m in misplaced {
        let conversation: String = conn.query_row(
            "SELECT identifier FROM conversations WHERE id = ?1",
            [m.conversation_id],
            |r| r.get(0),
        )?;
        f.fail(
            FailureKind::VersionOrder,
            format!("entry {} of conversation {conversation}", m.identifier),
            "versions numbered in the order of the exports that carried them (generation time)",
            format!(
                "versions {} in that order",
                m.found
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    Ok(())
}

/// Every complete export is compared with the export of its kind generated
/// just before it (so every "deleted at the source" claim is judged
/// against its true neighbour in time), and its recorded
/// `entries_missing` and `conversations_missing` are computed again from
/// the bitmaps.
fn missing_counts(conn: &Connection, sel: &Selection, f: &mut Findings) -> Result<()> {
    let complete: Vec<String> = crate::export::ExportKind::ALL
        .into_iter()
        .filter(|k| k.is_complete())
        .map(|k| k.as_str().to_owned())
        .collect();
    let placed: Vec<(i64, Option<i64>)> = conn
        .prepare(
            "SELECT id, previous_export_id FROM exports
             WHERE kind IN (SELECT value FROM json_each(?1)) ORDER BY id",
        )?
        .query_map(
            [serde_json::to_string(&complete).unwrap_or_default()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .collect::<rusqlite::Result<_>>()?;
    for (id, recorded) in placed {
        if sel.export.is_some_and(|x| x != id) {
            continue;
        }
        let (before, _) = crate::archive::timeline::neighbours(conn, id)?;
        if before != recorded {
            let name = |e: Option<i64>| e.map_or("none".to_owned(), |e| format!("export {e}"));
            f.fail(
                FailureKind::ExportOrder,
                format!("export {id}"),
                format!(
                    "compared with the export of its kind generated just before it ({})",
                    name(before)
                ),
                format!("compared with {}", name(recorded)),
            );
        }
    }
    // (export, the export compared against, entries and conversations
    // missing as recorded)
    type Row = (i64, Option<i64>, Option<i64>, Option<i64>);
    let rows: Vec<Row> = conn
        .prepare(
            "SELECT id, previous_export_id, entries_missing, conversations_missing FROM exports
             WHERE previous_export_id IS NOT NULL ORDER BY id",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, previous, entries, conversations) in rows {
        if sel.export.is_some_and(|x| x != id) {
            continue;
        }
        let item = format!("export {id}");
        let (Some(previous), Ok(Some(this))) = (previous, Seen::load(conn, id)) else {
            continue;
        };
        match crate::archive::sightings::missing(conn, previous, &this) {
            Ok(m) => {
                let found = (Some(m.entries as i64), Some(m.conversations as i64));
                if found != (entries, conversations) {
                    f.fail(
                        FailureKind::ExportCounts,
                        &item,
                        format!(
                            "entries_missing {entries:?}, conversations_missing {conversations:?} (as recorded, against export {previous})"
                        ),
                        format!("{}, {} from the sightings", m.entries, m.conversations),
                    );
                }
            }
            Err(e) => f.fail(FailureKind::Sightings, &item, "readable sightings", e),
        }
    }
    Ok(())
}

/// The related-records index holds exactly each entry's related records,
/// by conversation.
fn related(conn: &Connection, f: &mut Findings) -> Result<()> {
    let checks: [(&str, &str); 2] = [
        (
            "SELECT DISTINCT 'record ' || j.value || ' of conversation ' || c.identifier
             FROM entries e JOIN conversations c ON c.id = e.conversation_id, json_each(e.related_records) j
             WHERE j.type = 'text' AND NOT EXISTS (
                 SELECT 1 FROM entry_related r WHERE r.record_id = j.value AND r.conversation_id = e.conversation_id)",
            "missing from entry_related",
        ),
        (
            "SELECT 'record ' || r.record_id || ' of conversation ' || r.conversation_id FROM entry_related r
             WHERE NOT EXISTS (
                 SELECT 1 FROM entries e, json_each(e.related_records) j
                 WHERE e.conversation_id = r.conversation_id AND j.type = 'text' AND j.value = r.record_id)",
            "in entry_related, named by no entry",
        ),
    ];
    for (sql, found) in checks {
        let items = conn
            .prepare(sql)?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for item in items {
            f.fail(
                FailureKind::RelatedIndex,
                item,
                "indexed as the entries name it",
                found,
            );
        }
    }
    Ok(())
}

/// Every known row names a stored version of its own conversation (a
/// wrong one would let a later ingest take a changed row for an old one;
/// `--rederive` checks each against its original row).
fn row_hashes(conn: &Connection, f: &mut Findings) -> Result<()> {
    let mut stmt = conn.prepare(
        "SELECT h.conversation_id, hex(h.row_hash), h.seq, e.conversation_id FROM row_hashes h
         LEFT JOIN entries e ON e.seq = h.seq
         WHERE e.seq IS NULL OR e.conversation_id != h.conversation_id",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (conversation, hash, seq, found) in rows {
        f.fail(
            FailureKind::RowHash,
            format!("known row {hash} of conversation row {conversation}"),
            format!("entry number {seq}, a version of that conversation"),
            match found {
                None => "no such version".to_owned(),
                Some(c) => format!("a version of conversation row {c}"),
            },
        );
    }
    Ok(())
}

/// Rows whose parent is gone, and conversations without entries.
fn orphans(conn: &Connection, f: &mut Findings) -> Result<()> {
    let checks: [(FailureKind, &str, &str); 7] = [
        (
            FailureKind::EntryOrphan,
            "SELECT 'entry ' || e.identifier || ' version ' || e.version FROM entries e
             WHERE NOT EXISTS (SELECT 1 FROM exports x WHERE x.id = e.export_id)",
            "an export",
        ),
        (
            FailureKind::EntryOrphan,
            "SELECT 'entry ' || e.identifier || ' version ' || e.version FROM entries e
             WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = e.conversation_id)",
            "a conversation",
        ),
        (
            FailureKind::ConversationEmpty,
            "SELECT 'conversation ' || c.identifier FROM conversations c
             WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.conversation_id = c.id)",
            "at least one entry",
        ),
        (
            FailureKind::SightingOrphan,
            "SELECT 'sightings of export ' || s.export_id FROM export_sightings s
             WHERE NOT EXISTS (SELECT 1 FROM exports x WHERE x.id = s.export_id)",
            "its export",
        ),
        (
            FailureKind::SightingOrphan,
            "SELECT 'sightings part ' || p.part || ' (' || p.bitmap || ') of export ' || p.export_id
             FROM sighting_parts p
             WHERE NOT EXISTS (SELECT 1 FROM export_sightings s WHERE s.export_id = p.export_id)",
            "its export's sightings",
        ),
        (
            FailureKind::FileOrphan,
            "SELECT 'file ' || fl.path FROM files fl
             WHERE NOT EXISTS (SELECT 1 FROM exports x WHERE x.id = fl.export_id)",
            "an export",
        ),
        (
            FailureKind::MemberOrphan,
            "SELECT 'member ' || m.name FROM members m
             WHERE NOT EXISTS (SELECT 1 FROM files fl WHERE fl.id = m.file_id)",
            "a file",
        ),
    ];
    for (kind, sql, expected) in checks {
        let items = conn
            .prepare(sql)?
            .query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        for item in items {
            f.fail(kind, item, expected, "none");
        }
    }
    f.checked.conversations = count(conn, "SELECT count(*) FROM conversations")?;
    Ok(())
}

/// Every selected entry's content hash, type and extracted text, recomputed
/// from its stored fields.
fn contents(conn: &Connection, opts: &Options, sel: &Selection, f: &mut Findings) -> Result<()> {
    let total = count(
        conn,
        &format!(
            "SELECT count(*) FROM entries e WHERE {}",
            sel.entries_where()
        ),
    )?;
    let bar = count_bar(total, "entries", opts.progress);
    let mut stmt = conn.prepare(&format!(
        "SELECT {ENTRY_COLUMNS}
         FROM entries e LEFT JOIN conversations c ON c.id = e.conversation_id
         WHERE {} ORDER BY e.id",
        sel.entries_where()
    ))?;
    let mut rows = stmt.query([])?;
    let mut n = 0u64;
    while let Some(r) = rows.next()? {
        n += 1;
        if n.is_multiple_of(4096) {
            bar.set_position(n);
        }
        let identifier: String = r.get(0)?;
        let version: i64 = r.get(1)?;
        let item = format!("entry {identifier} version {version}");
        let related_text: String = r.get(RELATED_COLUMN)?;
        let related: Vec<String> = match serde_json::from_str(&related_text) {
            Ok(v) => v,
            Err(e) => {
                f.fail(
                    FailureKind::EntryHash,
                    &item,
                    "related_records as a JSON array",
                    e,
                );
                continue;
            }
        };
        let entry = entry_from_row(r, related)?;
        let payload_json = match entry.payload.as_deref().map(serde_json::from_str::<Value>) {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                f.fail(FailureKind::EntryHash, &item, "payload as JSON", e);
                continue;
            }
        };
        let hash = entry.canonical_hash(payload_json.as_ref());
        if hash != entry.content_hash {
            f.fail(FailureKind::EntryHash, &item, &entry.content_hash, hash);
        }
        let normal = normalize_entry_type(&entry.entry_type_raw);
        if normal != entry.entry_type {
            f.fail(FailureKind::EntryType, &item, normal, &entry.entry_type);
        }
        let extracted = text::extract(
            &entry.entry_type,
            payload_json.as_ref(),
            entry.message_text.as_deref(),
        );
        if extracted.text != entry.text || extracted.is_message != entry.is_message {
            f.fail(
                FailureKind::EntryText,
                &item,
                format!("{:?}", extracted.text.unwrap_or_default()),
                format!("{:?}", entry.text.unwrap_or_default()),
            );
        }
    }
    f.checked.entries += n;
    bar.finish_and_clear();
    Ok(())
}

/// Versions of one identifier are 1..n without gaps.
fn versions(conn: &Connection, sel: &Selection, f: &mut Findings) -> Result<()> {
    let only = match sel.export {
        None => String::new(),
        Some(_) => format!(
            "WHERE (e.conversation_id, e.identifier) IN (SELECT e.conversation_id, e.identifier FROM entries e WHERE {})",
            sel.entries_where()
        ),
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT e.identifier, count(*), max(e.version) FROM entries e {only}
         GROUP BY e.conversation_id, e.identifier HAVING count(*) != max(e.version)"
    ))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (identifier, n, max) in rows {
        f.fail(
            FailureKind::EntryVersions,
            format!("entry {identifier}"),
            format!("versions 1 to {max}"),
            format!("{n} versions"),
        );
    }
    Ok(())
}

/// Every export has exactly one `export-ingested` record naming its files,
/// and every such record's export is still in the archive.
#[allow(
    clippy::too_many_lines,
    reason = "each export matched with its ledger record, replacements by removals followed"
)]
pub(super) fn check_exports_against_ledger(
    conn: &Connection,
    records: &[Record],
    opts: &Options,
    f: &mut Findings,
) -> Result<()> {
    let mut by_export: HashMap<i64, Vec<&Record>> = HashMap::new();
    for r in records.iter().filter(|r| r.kind == kind::EXPORT_INGESTED) {
        if let Some(id) = r.details.get("export_id").and_then(Value::as_i64) {
            by_export.entry(id).or_default().push(r);
        }
    }
    let mut stmt = conn.prepare("SELECT export_id, sha256 FROM files ORDER BY export_id")?;
    let mut files: HashMap<i64, HashSet<String>> = HashMap::new();
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
        let (id, sha) = row?;
        files.entry(id).or_default().insert(sha);
    }
    // Originals a removal replaced or deleted, in order, per export.
    let mut replaced: HashMap<i64, Vec<(String, Option<String>)>> = HashMap::new();
    let mut stmt =
        conn.prepare("SELECT export_id, old_sha256, new_sha256 FROM derivatives ORDER BY id")?;
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)))? {
        let (id, old, new) = row?;
        replaced.entry(id).or_default().push((old, new));
    }
    let exports: Vec<i64> = conn
        .prepare("SELECT id FROM exports ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let kinds: HashMap<i64, Option<String>> = conn
        .prepare("SELECT id, kind FROM exports")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let wanted = |id: i64| opts.export.is_none_or(|x| x == id);
    for &id in exports.iter().filter(|&&id| wanted(id)) {
        let item = format!("export {id}");
        let recs = by_export.get(&id).map(Vec::as_slice).unwrap_or(&[]);
        match recs {
            [] => f.fail(
                FailureKind::LedgerExport,
                item,
                "an export-ingested ledger record",
                "none",
            ),
            [r] => {
                let in_ledger_kind = r.details.get("export_kind").and_then(Value::as_str);
                let kind = kinds.get(&id).cloned().flatten();
                if in_ledger_kind != kind.as_deref() {
                    f.fail(
                        FailureKind::LedgerExport,
                        &item,
                        format!("kind {in_ledger_kind:?}, as ledger record {} says", r.seq),
                        format!("kind {kind:?} in the database"),
                    );
                }
                let mut in_ledger: HashSet<String> = r
                    .details
                    .get("files")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.get("sha256").and_then(Value::as_str))
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                // As later removals replaced them (each on its own record).
                for (old, new) in replaced.get(&id).map(Vec::as_slice).unwrap_or(&[]) {
                    if in_ledger.remove(old)
                        && let Some(new) = new
                    {
                        in_ledger.insert(new.clone());
                    }
                }
                let in_db = files.get(&id).cloned().unwrap_or_default();
                if in_ledger != in_db {
                    f.fail(
                        FailureKind::LedgerExport,
                        item,
                        format!(
                            "the files of ledger record {}: {}",
                            r.seq,
                            sorted(&in_ledger)
                        ),
                        format!("files in the database: {}", sorted(&in_db)),
                    );
                }
            }
            many => f.fail(
                FailureKind::LedgerExport,
                item,
                "one export-ingested ledger record",
                format!(
                    "{} (records {})",
                    many.len(),
                    many.iter()
                        .map(|r| r.seq.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        }
    }
    let known: HashSet<i64> = exports.into_iter().collect();
    for (id, recs) in &by_export {
        if !known.contains(id) && wanted(*id) {
            for r in recs {
                f.fail(
                    FailureKind::ExportMissing,
                    format!("export {id} (ledger record {})", r.seq),
                    "in the archive",
                    "missing from the database",
                );
            }
        }
    }
    Ok(())
}

fn sorted(set: &HashSet<String>) -> String {
    let mut v: Vec<&str> = set.iter().map(String::as_str).collect();
    v.sort_unstable();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}
