//! Re-derivation: the stored originals, parsed again with today's readers,
//! must give exactly what the database holds: the same members read the
//! same way, the same rows quarantined, and the same entries with the same
//! content hashes, with no entry in the database that no original gives;
//! and each export's originals must give exactly the versions its
//! sightings bitmap says it contained.

use super::kind::FailureKind;
use std::fs::File;
use std::io::{BufReader, Read};

use roaring::RoaringBitmap;
use rusqlite::{Connection, OptionalExtension, Statement};

use super::{Findings, Options, Selection};
use crate::archive::Archive;
use crate::archive::catalog::{export_profiles, member_rows};
use crate::archive::sightings::{Seen, member};
use crate::entry::Entry;
use crate::error::Result;
use crate::profile::Profiles;
use crate::source::records::ObjectRecord;
use crate::source::{self, MemberError, MemberOutcome, RowSink};

/// Checks each entry a member gives against the database as it is read,
/// so memory stays flat whatever the member's size.
struct Check<'a, 'c> {
    conn: &'c Connection,
    find: &'a mut Statement<'c>,
    find_record: &'a mut Statement<'c>,
    /// Versions (`seq`) given by some original.
    seen: &'a mut RoaringBitmap,
    /// The hash of the entry row being parsed, and the statement that
    /// finds what the archive recorded for it.
    row_hash: Option<crate::entry::RowHash>,
    find_row_hash: &'a mut Statement<'c>,
    /// The versions the current export's originals gave, and its stored
    /// bitmap (the version a row is stored as, when it could be several).
    export_seen: &'a mut RoaringBitmap,
    stored_seen: &'a RoaringBitmap,
    f: &'a mut Findings,
    quarantined: u64,
}

impl RowSink for Check<'_, '_> {
    fn known_row(
        &mut self,
        _conversation: Option<&str>,
        row_hash: crate::entry::RowHash,
    ) -> Result<bool> {
        // Always parsed here; the hash only checks `row_hashes`.
        self.row_hash = Some(row_hash);
        Ok(false)
    }

    fn record(&mut self, _line: Option<u64>, r: ObjectRecord) -> Result<()> {
        let stored =
            self.find_record
                .exists(rusqlite::params![r.object, r.record_id, r.content_hash])?;
        if !stored {
            self.f.fail(
                FailureKind::RederiveMissing,
                format!("{} record {}", r.object, r.record_id),
                format!("in the database with content hash {}", r.content_hash),
                "missing",
            );
        }
        Ok(())
    }

    fn entry(&mut self, _line: Option<u64>, entry: Entry) -> Result<()> {
        self.f.checked.rederived_entries += 1;
        if let Some(hash) = self.row_hash.take() {
            self.check_row_hash(&entry, hash)?;
        }
        // An entry named by a Conversation record's Id was filed under the
        // identifier a record gave, or under the Id when none did then.
        let mut candidates = Vec::with_capacity(2);
        if entry.conversation_is_record
            && let Some(identifier) =
                crate::archive::conversation_of_record(self.conn, &entry.conversation)?
        {
            candidates.push(entry.clone().with_conversation(&identifier));
        }
        candidates.push(entry);
        for candidate in &candidates {
            let matches = self.stored_as(candidate)?;
            if let Some(&first) = matches.first() {
                if let Some(&Stored::Row(seq)) =
                    matches.iter().find(|m| matches!(m, Stored::Row(_)))
                {
                    self.seen.insert(seq);
                }
                // The version the export's bitmap holds, if it holds one
                // of those the row can be (as the ingest chose, among the
                // versions there were then), else the first.
                let held = matches
                    .iter()
                    .map(|m| m.seq())
                    .find(|s| self.stored_seen.contains(*s))
                    .unwrap_or(first.seq());
                self.export_seen.insert(held);
                return Ok(());
            }
        }
        let first = &candidates[0];
        self.f.fail(
            FailureKind::RederiveMissing,
            format!("entry {}", first.identifier),
            format!("in the database with content hash {}", first.content_hash),
            "missing",
        );
        Ok(())
    }

    fn quarantine_row(&mut self, _: Option<u64>, _: String, _: Option<String>) -> Result<()> {
        self.row_hash = None;
        self.quarantined += 1;
        Ok(())
    }
}

/// How a re-derived entry stands in the database.
#[derive(Clone, Copy)]
enum Stored {
    /// This version (`seq`) holds it (same content hash).
    Row(u32),
    /// A narrower view of this stored version: at ingest it added no row.
    Covered(u32),
}

impl Stored {
    fn seq(self) -> u32 {
        match self {
            Stored::Row(s) | Stored::Covered(s) => s,
        }
    }
}

impl Check<'_, '_> {
    /// What `row_hashes` says this row is must be the version whose content
    /// hash it has (a row the archive knows is never parsed again at
    /// ingest, so a wrong record there would hide an edit).
    fn check_row_hash(&mut self, entry: &Entry, hash: crate::entry::RowHash) -> Result<()> {
        if entry.conversation_is_record {
            return Ok(());
        }
        let recorded: Option<i64> = self
            .find_row_hash
            .query_row(rusqlite::params![entry.conversation, &hash[..]], |r| {
                r.get(0)
            })
            .optional()?;
        let Some(recorded) = recorded else {
            return Ok(());
        };
        let exact = self.stored_as(entry)?.into_iter().find_map(|s| match s {
            Stored::Row(seq) => Some(i64::from(seq)),
            Stored::Covered(_) => None,
        });
        if exact != Some(recorded) {
            let name = |seq: i64| {
                self.conn
                    .query_row(
                        "SELECT 'version ' || version FROM entries WHERE seq = ?1",
                        [seq],
                        |r| r.get::<_, String>(0),
                    )
                    .unwrap_or_else(|_| format!("entry number {seq} (no such version)"))
            };
            self.f.fail(
                FailureKind::RederiveRowHash,
                format!("entry {} (known row)", entry.identifier),
                match exact {
                    Some(seq) => {
                        format!("known as {}, the version with its content hash", name(seq))
                    }
                    None => "not known: no version has its content hash".to_owned(),
                },
                format!("known as {}", name(recorded)),
            );
        }
        Ok(())
    }

    /// Every version the entry can be, in the ingest's order of
    /// preference: the same content hash, a text-only view, a narrower
    /// view. Empty when it is none of them.
    fn stored_as(&mut self, entry: &Entry) -> Result<Vec<Stored>> {
        let mut exact = Vec::new();
        let mut views = Vec::new();
        let mut others = Vec::new();
        let mut rows = self
            .find
            .query(rusqlite::params![entry.conversation, entry.identifier])?;
        while let Some(r) = rows.next()? {
            let (id, seq): (i64, i64) = (r.get(0)?, r.get(3)?);
            let seq = member(seq, "entry number (seq)")?;
            if r.get::<_, String>(1)? == entry.content_hash {
                exact.push(Stored::Row(seq));
            } else if entry.is_text_view_of(r.get::<_, Option<String>>(2)?.as_deref()) {
                // A text-only view adds no row of its own (as at ingest).
                views.push(Stored::Covered(seq));
            } else {
                others.push((id, seq));
            }
        }
        drop(rows);
        for (id, seq) in others {
            if crate::archive::stored_entry(self.conn, id)?
                .is_some_and(|stored| entry.is_narrower_view_of(&stored))
            {
                views.push(Stored::Covered(seq));
            }
        }
        exact.extend(views);
        Ok(exact)
    }
}

pub(super) fn check(
    archive: &Archive,
    conn: &Connection,
    _opts: &Options,
    sel: &Selection,
    f: &mut Findings,
) -> Result<()> {
    if sel.sampled.is_some() {
        f.warn("re-derivation is not part of a sampled run".into());
        return Ok(());
    }
    // Versions given by some original, to find the ones none gives.
    let mut seen = RoaringBitmap::new();
    // Removed versions: the bitmaps keep their numbers, the originals
    // (derivatives now) no longer give them.
    let disposed = disposed_versions(conn)?;
    // The export whose files are being read, what they gave, and its bitmap.
    let mut current: Option<(i64, RoaringBitmap, RoaringBitmap)> = None;
    let files: Vec<(i64, String, String, String, i64)> = conn
        .prepare(&format!(
            "SELECT f.id, f.sha256, f.container, f.path, f.export_id FROM files f WHERE {} ORDER BY f.id",
            sel.files_where()
        ))?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut find =
        conn.prepare(
            "SELECT e.id, e.content_hash, e.text, e.seq FROM conversations c
             JOIN entries e ON e.conversation_id = c.id WHERE c.identifier = ?1 AND e.identifier = ?2",
        )?;
    let mut find_row_hash = conn.prepare(
        "SELECT h.seq FROM conversations c JOIN row_hashes h ON h.conversation_id = c.id
         WHERE c.identifier = ?1 AND h.row_hash = ?2",
    )?;
    let mut find_record = conn.prepare(
        "SELECT 1 FROM records WHERE object = ?1 AND record_id = ?2 AND content_hash = ?3",
    )?;
    for (file_id, sha, container, path, export_id) in files {
        if current.as_ref().is_none_or(|c| c.0 != export_id) {
            if let Some((id, given, stored)) = current.take() {
                compare_sightings(conn, id, &given, &stored, f)?;
            }
            let stored = match Seen::load(conn, export_id) {
                Ok(s) => s.map(|s| s.entries - &disposed).unwrap_or_default(),
                Err(e) => {
                    f.fail(
                        FailureKind::RederiveSightings,
                        format!("export {export_id}"),
                        "a readable sightings bitmap",
                        e,
                    );
                    RoaringBitmap::new()
                }
            };
            current = Some((export_id, RoaringBitmap::new(), stored));
        }
        let Some((_, export_seen, stored_seen)) = current.as_mut() else {
            continue;
        };
        let object = archive.objects().path_of(&sha);
        let members = member_rows(conn, file_id)?;
        let item = format!("object {sha} ({path})");
        // Per member, in order: how it was read and how many rows it
        // quarantined (`None`: not readable, as at ingest).
        let profiles = match export_profiles(conn, export_id) {
            Ok(p) => p,
            Err(why) => {
                f.fail(
                    FailureKind::RederiveUnreadable,
                    &item,
                    "the profiles its export was read with",
                    why,
                );
                continue;
            }
        };
        let mut check = Check {
            conn,
            find: &mut find,
            find_record: &mut find_record,
            seen: &mut seen,
            row_hash: None,
            find_row_hash: &mut find_row_hash,
            export_seen,
            stored_seen,
            f,
            quarantined: 0,
        };
        let read = read_original(&object, &container, &members, &profiles, &mut check);
        let outcomes = match read {
            Ok(o) => o,
            Err(e) => {
                f.fail(
                    FailureKind::RederiveUnreadable,
                    &item,
                    "an original that can be parsed",
                    e,
                );
                continue;
            }
        };
        compare_members(conn, &item, &members, outcomes, f)?;
    }
    if let Some((id, given, stored)) = current.take() {
        compare_sightings(conn, id, &given, &stored, f)?;
    }
    entries_none_gives(conn, sel, &seen, f)
}

/// The versions removals took: the bitmaps keep their numbers, the
/// originals (derivatives now) no longer give them.
fn disposed_versions(conn: &Connection) -> Result<RoaringBitmap> {
    let mut disposed = RoaringBitmap::new();
    for seq in conn
        .prepare("SELECT seq FROM disposed_versions")?
        .query_map([], |r| r.get::<_, i64>(0))?
    {
        disposed.insert(member(seq?, "removed entry number (seq)")?);
    }
    Ok(disposed)
}

/// Reads one stored original again, member by member: per member, in
/// order, how it was read and how many rows it quarantined (`None`: not
/// readable, as at ingest).
fn read_original(
    object: &std::path::Path,
    container: &str,
    members: &[crate::archive::catalog::MemberRow],
    profiles: &Profiles,
    check: &mut Check<'_, '_>,
) -> std::result::Result<Vec<Option<(MemberOutcome, u64)>>, String> {
    let mut outcomes = Vec::new();
    let file = File::open(object).map_err(|e| e.to_string())?;
    if container != "zip" {
        let name = members.first().map_or("", |m| m.name.as_str());
        outcomes.push(Some(read_one(file, name, profiles, check)?));
        return Ok(outcomes);
    }
    let mut zip = zip::ZipArchive::new(BufReader::with_capacity(256 * 1024, file))
        .map_err(|e| e.to_string())?;
    for i in 0..zip.len() {
        match zip.by_index(i) {
            Ok(m) if m.is_dir() => outcomes.push(None),
            Ok(m)
                if !matches!(
                    m.compression(),
                    zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
                ) =>
            {
                outcomes.push(None)
            }
            Ok(m) => {
                let name = String::from_utf8_lossy(m.name_raw()).into_owned();
                outcomes.push(Some(read_one(m, &name, profiles, check)?))
            }
            Err(_) => outcomes.push(None),
        }
    }
    Ok(outcomes)
}

/// Each member read again against its recorded row: status, shape, rows
/// and quarantined rows.
fn compare_members(
    conn: &Connection,
    item: &str,
    members: &[crate::archive::catalog::MemberRow],
    outcomes: Vec<Option<(MemberOutcome, u64)>>,
    f: &mut Findings,
) -> Result<()> {
    if outcomes.len() != members.len() {
        f.fail(
            FailureKind::RederiveMember,
            item,
            format!("{} members", members.len()),
            format!("{} members", outcomes.len()),
        );
    }
    for (m, got) in members.iter().zip(outcomes) {
        let mitem = format!("{item}: member {}", m.name);
        let Some((outcome, quarantined_rows)) = got else {
            continue;
        };
        let (status, shape, rows) = match &outcome {
            MemberOutcome::Read { shape, rows } => ("read", Some(shape.as_str()), *rows as i64),
            MemberOutcome::Quarantined { .. } => ("quarantined", None, 0),
        };
        // An export's description, quarantined by a convault that did
        // not know it yet: the same bytes, read better now.
        let described_now =
            m.status == "quarantined" && shape == Some(crate::source::description::SHAPE);
        if !described_now && (status != m.status || shape != m.shape.as_deref() || rows != m.rows) {
            f.fail(
                FailureKind::RederiveMember,
                &mitem,
                format!(
                    "{} as {} with {} rows",
                    m.status,
                    m.shape.as_deref().unwrap_or("-"),
                    m.rows
                ),
                format!("{status} as {} with {rows} rows", shape.unwrap_or("-")),
            );
        }
        let quarantined: i64 = conn.query_row(
            "SELECT count(*) FROM quarantine WHERE member_id = ?1 AND line IS NOT NULL",
            [m.id],
            |r| r.get(0),
        )?;
        if quarantined != quarantined_rows as i64 {
            f.fail(
                FailureKind::RederiveMember,
                &mitem,
                format!("{quarantined} quarantined rows"),
                format!("{quarantined_rows} quarantined rows"),
            );
        }
    }
    Ok(())
}

/// Entries that the checked originals should have given but did not.
fn entries_none_gives(
    conn: &Connection,
    sel: &Selection,
    seen: &RoaringBitmap,
    f: &mut Findings,
) -> Result<()> {
    // Entries that the checked originals should have given but did not.
    let mut stmt = conn.prepare(&format!(
        "SELECT e.seq, e.identifier, e.version FROM entries e WHERE {} ORDER BY e.seq",
        sel.entries_where()
    ))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let given = u32::try_from(seq).is_ok_and(|s| seen.contains(s));
        if !given {
            f.fail(
                FailureKind::RederiveExtra,
                format!(
                    "entry {} version {}",
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?
                ),
                "given by a stored original",
                "given by none",
            );
        }
    }
    Ok(())
}

/// Export `export_id`'s stored sightings against the versions its
/// originals gave: each version in one and not the other is a failure
/// (the first few named, the rest counted).
fn compare_sightings(
    conn: &Connection,
    export_id: i64,
    given: &RoaringBitmap,
    stored: &RoaringBitmap,
    f: &mut Findings,
) -> Result<()> {
    const NAMED: usize = 20;
    let mut name = conn.prepare_cached(
        "SELECT 'entry ' || identifier || ' version ' || version FROM entries WHERE seq = ?1",
    )?;
    for (set, expected, found) in [
        (
            stored - given,
            "given by one of the export's originals, as its sightings say",
            "given by none",
        ),
        (
            given - stored,
            "in the export's sightings, as its originals give it",
            "missing from its sightings",
        ),
    ] {
        for seq in set.iter().take(NAMED) {
            let entry: String = name
                .query_row([seq], |r| r.get(0))
                .unwrap_or_else(|_| format!("entry number {seq} (no such version)"));
            f.fail(
                FailureKind::RederiveSightings,
                format!("export {export_id}: {entry}"),
                expected,
                found,
            );
        }
        if set.len() > NAMED as u64 {
            f.fail(
                FailureKind::RederiveSightings,
                format!("export {export_id}"),
                expected,
                format!("{} more versions: {found}", set.len() - NAMED as u64),
            );
        }
    }
    Ok(())
}

/// Parses one member as the ingest does, checking its entries on the way;
/// returns how it was read and how many rows it quarantined.
fn read_one(
    reader: impl Read,
    name: &str,
    profiles: &Profiles,
    check: &mut Check<'_, '_>,
) -> std::result::Result<(MemberOutcome, u64), String> {
    check.quarantined = 0;
    match source::read_member(reader, name, profiles, check, None) {
        Ok(outcome) => Ok((outcome, check.quarantined)),
        Err(MemberError::Read(e)) => Err(e.to_string()),
        Err(MemberError::Sink(e)) => Err(e.to_string()),
    }
}
