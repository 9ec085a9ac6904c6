//! Carrying out a disposition or an erasure: the conversations leave the
//! database, and the stored originals no longer hold them.
//!
//! Order (docs/retention.md, "How removal works"):
//! 1. Every stored original that may carry a removed row is read again
//!    through the readers, as its export was read: the files of every
//!    export whose sightings name a removed conversation, and those of
//!    the removed rows' own provenance. The lines of the rows of removed
//!    conversations (entries, records, quarantined rows) are noted.
//! 2. Each original with such lines gets a derivative, written and
//!    fsynced under `objects/tmp/`: CSV records blanked to their line
//!    ends (every other record keeps its line), JSON members that held
//!    only removed conversations dropped, everything else byte for byte
//!    as it was. An original left with nothing is deleted. A JSON member
//!    mixing removed and kept conversations is refused, before anything
//!    is changed.
//! 3. The certificate and the journal are written and fsynced.
//! 4. One transaction deletes the rows (the full-text index is merged
//!    into one segment, which drops their terms), records the removal as
//!    numbers and hashes,
//!    points `files` and `members` at the derivatives, appends the ledger
//!    record holding the certificate's SHA-256; the derivatives are moved
//!    into the store just before it commits.
//! 5. After the commit the originals are deleted, the journal removed and
//!    the WAL checkpointed and truncated.
//!
//! A kill at any point leaves the archive as before or as after: the
//! journal lets the next writer delete what the other state does not name
//! (`journal::recover`).
//!
//! Invariant checked before the transaction: every removed entry version
//! and record was found on a line that is blanked, or in a member or file
//! that goes whole. Otherwise the removal stops, and nothing is changed.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;

use jiff::Timestamp;
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::{Value, json};

use super::certificate::{self, Certificate};
use super::derive::{self, DerivedMember};
use super::due::Due;
use crate::archive::Archive;
use crate::archive::catalog::MemberRow;
use crate::archive::journal::{self, Journal};
use crate::archive::sightings;
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::ledger;
use crate::profile::Profiles;
use crate::source::records::ObjectRecord;
use crate::source::{self, MemberError, RowSink};

/// Which removal this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Past retention (`convault dispose --execute`).
    Disposition,
    /// A data subject's request (`convault erase --execute`).
    Erasure,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Disposition => super::kind::DISPOSITION,
            Kind::Erasure => super::kind::ERASURE,
        }
    }
}

/// What to remove, and on what authority.
pub struct Removal<'a> {
    pub kind: Kind,
    pub reason: &'a str,
    pub who: &'a str,
    pub now: Timestamp,
    /// The policy or request carried out, for the certificate and record.
    pub basis: Value,
    pub conversations: &'a [Due],
    /// Further records to remove whole, by Id: an erased end user's own
    /// `MessagingEndUser` record.
    pub record_ids: &'a [String],
    pub progress: bool,
}

/// What a removal did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub kind: Kind,
    /// Its ledger record.
    pub record: i64,
    /// Its certificate files, relative to the archive directory.
    pub certificate: String,
    pub certificate_text: String,
    pub certificate_sha256: String,
    pub conversations: u64,
    pub entries: u64,
    pub records: u64,
    pub quarantined_rows: u64,
    /// Originals replaced by a derivative, and deleted.
    pub objects_replaced: u64,
    pub objects_deleted: u64,
    /// Bytes of originals read again, and of derivatives written.
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Seconds spent per step: reading the originals again, writing the
    /// derivatives, the transaction (certificate and journal included),
    /// and rebuilding the database.
    pub seconds: Seconds,
}

/// Where a removal's time went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seconds {
    pub scan: f64,
    pub derive: f64,
    pub transaction: f64,
    pub rebuild: f64,
}

/// What one member holds of the removed conversations.
#[derive(Default)]
struct Found {
    /// Lines on which removed rows start.
    lines: BTreeSet<u64>,
    /// Rows that are removed (entries, records, quarantined rows).
    removed: u64,
}

/// What happens to one member.
enum MemberFate {
    Kept,
    /// CSV records blanked on these lines.
    Blanked(BTreeSet<u64>),
    /// JSON entry objects starting on these lines blanked (`null` in an
    /// array).
    JsonBlanked(BTreeSet<u64>),
    /// Every row of it removed: it goes whole.
    Dropped,
}

/// An affected stored original.
struct FilePlan {
    id: i64,
    export_id: i64,
    path: String,
    sha256: String,
    bytes: u64,
    container: String,
    members: Vec<(MemberRow, MemberFate, u64)>,
}

/// A derivative written, or an original to delete.
struct Replacement {
    plan: FilePlan,
    /// `None`: deleted whole.
    new: Option<Derived>,
}

struct Derived {
    tmp: PathBuf,
    sha256: String,
    bytes: u64,
    /// Rewritten members (for a plain file, its one member).
    members: Vec<DerivedMember>,
}

/// How a quarantined row's raw text is searched for the removed
/// conversations: split into tokens (runs of ASCII letters, digits and
/// hyphens, which is what conversation identifiers and record Ids are
/// made of), each looked up once, so the cost is the text's length
/// whatever the number of conversations removed. A name holding any other
/// character (none of Salesforce's do) is searched for as a substring.
struct Names {
    tokens: HashSet<String>,
    other: Vec<String>,
}

impl Names {
    /// The removed conversations' identifiers and `Conversation` record Ids.
    fn new<'a>(names: impl IntoIterator<Item = &'a String>) -> Names {
        let (mut tokens, mut other) = (HashSet::new(), Vec::new());
        for n in names {
            if !n.is_empty() && n.bytes().all(is_token_byte) {
                tokens.insert(n.clone());
            } else if !n.is_empty() {
                other.push(n.clone());
            }
        }
        Names { tokens, other }
    }

    /// Whether `text` names one of them.
    fn in_text(&self, text: &str) -> bool {
        text.split(|c: char| !c.is_ascii() || !is_token_byte(c as u8))
            .any(|t| self.tokens.contains(t))
            || self.other.iter().any(|n| text.contains(n.as_str()))
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

/// What a removal looks for in the originals.
struct Targets {
    /// The removed conversations' identifiers.
    identifiers: HashSet<String>,
    /// Their `Conversation` record Ids.
    refs: HashSet<String>,
    /// Both, for quarantined rows' raw text.
    names: Names,
    /// Other records removed whole.
    record_ids: HashSet<String>,
}

/// Finds the rows of removed conversations in one member.
struct Finder<'a> {
    targets: &'a Targets,
    found: Found,
    /// A removed row with no line: it cannot be blanked.
    lineless: u64,
}

impl Finder<'_> {
    fn removes(&self, conversation: &str) -> bool {
        let t = self.targets;
        t.identifiers.contains(conversation) || t.refs.contains(conversation)
    }

    fn note(&mut self, line: Option<u64>) {
        self.found.removed += 1;
        match line {
            Some(l) => {
                self.found.lines.insert(l);
            }
            None => self.lineless += 1,
        }
    }
}

impl RowSink for Finder<'_> {
    fn known_row(&mut self, conversation: Option<&str>, _: crate::entry::RowHash) -> Result<bool> {
        // A row of a conversation that stays is not parsed.
        Ok(conversation.is_some_and(|c| !self.removes(c)))
    }

    fn entry(&mut self, line: Option<u64>, entry: Entry) -> Result<()> {
        if self.removes(&entry.conversation) {
            self.note(line);
        }
        Ok(())
    }

    fn record(&mut self, line: Option<u64>, r: ObjectRecord) -> Result<()> {
        let t = self.targets;
        let removed = t.record_ids.contains(&r.record_id)
            || r.conversation_identifier
                .as_deref()
                .is_some_and(|c| t.identifiers.contains(c))
            || r.conversation_ref
                .as_deref()
                .is_some_and(|c| t.refs.contains(c));
        if removed {
            self.note(line);
        }
        Ok(())
    }

    fn quarantine_row(&mut self, line: Option<u64>, _: String, raw: Option<String>) -> Result<()> {
        // A row that could not be read names its conversation somewhere
        // in its raw fields, if anywhere.
        let named = raw
            .as_deref()
            .is_some_and(|raw| self.targets.names.in_text(raw));
        if named {
            self.note(line);
        }
        Ok(())
    }
}

/// Carries out `removal`. The caller holds the writer lock and has run
/// [`journal::recover`]; `conn` is the archive's write connection.
pub fn execute(archive: &Archive, conn: &mut Connection, removal: &Removal) -> Result<Outcome> {
    let ids: BTreeSet<i64> = removal.conversations.iter().map(|d| d.id).collect();
    let identifiers: HashSet<String> = removal
        .conversations
        .iter()
        .map(|d| d.conversation.clone())
        .collect();
    stage_selection(conn, removal.conversations, removal.record_ids)?;
    let refs: HashSet<String> = conn
        .prepare("SELECT record_id FROM temp.removal_refs")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let targets = Targets {
        names: Names::new(identifiers.iter().chain(&refs)),
        identifiers,
        refs,
        record_ids: removal.record_ids.iter().cloned().collect(),
    };

    // 1. What each affected original holds of them.
    let mut seconds = Seconds::default();
    let started = std::time::Instant::now();
    let spin = crate::progress::spinner("reading the stored originals again", removal.progress);
    let mut plans = Vec::new();
    let mut bytes_read = 0;
    for file_id in affected_files(conn, &ids, &targets.names)? {
        let mut plan = file_plan(conn, file_id)?;
        bytes_read += plan.bytes;
        let found = scan(archive, conn, &plan, &targets)?;
        if decide(&mut plan, found)? {
            plans.push(plan);
        }
    }
    spin.finish_and_clear();
    note_lines(conn, &plans)?;
    seconds.scan = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    check_all_found(conn)?;

    // 2. Derivatives, written and fsynced under objects/tmp/.
    let mut replacements = Vec::new();
    let written = (|| -> Result<()> {
        for plan in plans {
            let new = derivative(archive, &plan)?;
            replacements.push(Replacement { plan, new });
        }
        Ok(())
    })();
    let discard = |replacements: &[Replacement]| {
        for r in replacements {
            if let Some(d) = &r.new {
                let _ = std::fs::remove_file(&d.tmp);
            }
        }
    };
    if let Err(e) = written {
        discard(&replacements);
        return Err(e);
    }
    seconds.derive = started.elapsed().as_secs_f64();
    let result = commit(archive, conn, removal, &replacements, (bytes_read, seconds));
    match &result {
        // Committed: the journal is left for the next writer to finish.
        Err(Error::RemovalUnfinished { .. }) | Ok(_) => {}
        Err(_) => {
            discard(&replacements);
            // Undo whatever the journal lists that the database does not name.
            let _ = journal::recover(archive, conn);
        }
    }
    result
}

/// Fills the temporary tables the statements below read: the removed
/// conversations, and the `Conversation` records naming them.
fn stage_selection(conn: &Connection, conversations: &[Due], record_ids: &[String]) -> Result<()> {
    conn.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS removal_conversations (
             id INTEGER PRIMARY KEY, identifier TEXT NOT NULL UNIQUE);
         CREATE TEMP TABLE IF NOT EXISTS removal_refs (record_id TEXT PRIMARY KEY) WITHOUT ROWID;
         CREATE TEMP TABLE IF NOT EXISTS removal_lines (
             member_id INTEGER NOT NULL, line INTEGER NOT NULL,
             PRIMARY KEY (member_id, line)) WITHOUT ROWID;
         CREATE TEMP TABLE IF NOT EXISTS removal_members (member_id INTEGER PRIMARY KEY);
         CREATE TEMP TABLE IF NOT EXISTS removal_record_ids (record_id TEXT PRIMARY KEY) WITHOUT ROWID;
         DELETE FROM temp.removal_conversations; DELETE FROM temp.removal_refs;
         DELETE FROM temp.removal_record_ids;
         DELETE FROM temp.removal_lines; DELETE FROM temp.removal_members;",
    )?;
    let mut insert =
        conn.prepare("INSERT INTO temp.removal_conversations (id, identifier) VALUES (?1, ?2)")?;
    for d in conversations {
        insert.execute(params![d.id, d.conversation])?;
    }
    let mut insert =
        conn.prepare("INSERT OR IGNORE INTO temp.removal_record_ids (record_id) VALUES (?1)")?;
    for id in record_ids {
        insert.execute([id])?;
    }
    conn.execute(
        "INSERT OR IGNORE INTO temp.removal_refs (record_id)
         SELECT record_id FROM records WHERE object = 'Conversation'
           AND conversation_identifier IN (SELECT identifier FROM temp.removal_conversations)",
        [],
    )?;
    Ok(())
}

/// The records removed with the conversations: those naming one by
/// identifier or by `Conversation` record Id, and those removed by Id.
const REMOVED_RECORDS: &str = "SELECT id FROM records
    WHERE conversation_identifier IN (SELECT identifier FROM temp.removal_conversations)
       OR conversation_ref IN (SELECT record_id FROM temp.removal_refs)
       OR record_id IN (SELECT record_id FROM temp.removal_record_ids)";

/// The stored originals that may carry a row of a removed conversation:
/// the files of every export whose sightings name one, and of the
/// members the removed versions and records were read from.
fn affected_files(conn: &Connection, ids: &BTreeSet<i64>, names: &Names) -> Result<BTreeSet<i64>> {
    let mut files = BTreeSet::new();
    let exports: Vec<i64> = conn
        .prepare("SELECT id FROM exports ORDER BY id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut of_export = conn.prepare("SELECT id FROM files WHERE export_id = ?1")?;
    for export in exports {
        if sightings::saw_any_conversation(conn, export, ids)? == Some(true) {
            for f in of_export.query_map([export], |r| r.get::<_, i64>(0))? {
                files.insert(f?);
            }
        }
    }
    // Records are stored once however many exports repeat them: every
    // original read as records may hold a removed one again. (Members
    // read as entries are named by the sightings above.)
    let records_removed: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM temp.removal_refs)
             OR EXISTS (SELECT 1 FROM temp.removal_record_ids)
             OR EXISTS (SELECT 1 FROM records
                        WHERE conversation_identifier IN (SELECT identifier FROM temp.removal_conversations))",
        [],
        |r| r.get(0),
    )?;
    let record_members = if records_removed {
        format!(
            "SELECT DISTINCT file_id FROM members WHERE status = 'read'
               AND shape NOT IN ('{}', '{}', '{}')",
            source::csv_member::SHAPE,
            source::api_json::SHAPE_PAGE,
            source::api_json::SHAPE_LINES
        )
    } else {
        "SELECT NULL WHERE 0".to_owned()
    };
    // A row quarantined in an export that otherwise lacks the
    // conversation: its raw fields name it (as the finder reads them).
    let mut quarantined = conn.prepare(
        "SELECT m.file_id, q.raw FROM quarantine q JOIN members m ON m.id = q.member_id
         WHERE q.raw IS NOT NULL",
    )?;
    let mut rows = quarantined.query([])?;
    while let Some(r) = rows.next()? {
        let file: i64 = r.get(0)?;
        let raw = r.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
        if !files.contains(&file) && names.in_text(raw) {
            files.insert(file);
        }
    }
    for sql in [
        record_members,
        "SELECT DISTINCT m.file_id FROM entries e JOIN members m ON m.id = e.member_id
         WHERE e.conversation_id IN (SELECT id FROM temp.removal_conversations)"
            .to_owned(),
        format!(
            "SELECT DISTINCT m.file_id FROM records r JOIN members m ON m.id = r.member_id
             WHERE r.id IN ({REMOVED_RECORDS})"
        ),
    ] {
        for f in conn.prepare(&sql)?.query_map([], |r| r.get::<_, i64>(0))? {
            files.insert(f?);
        }
    }
    Ok(files)
}

fn file_plan(conn: &Connection, file_id: i64) -> Result<FilePlan> {
    let (export_id, path, sha256, bytes, container) = conn.query_row(
        "SELECT export_id, path, sha256, bytes, container FROM files WHERE id = ?1",
        [file_id],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        },
    )?;
    let members = crate::archive::catalog::member_rows(conn, file_id)?
        .into_iter()
        .map(|m| (m, MemberFate::Kept, 0))
        .collect();
    Ok(FilePlan {
        id: file_id,
        export_id,
        path,
        sha256,
        bytes: bytes.max(0) as u64,
        container,
        members,
    })
}

/// Reads `plan`'s original as its export was read; per member (in the
/// order of `plan.members`), what it holds of the removed conversations.
fn scan(
    archive: &Archive,
    conn: &Connection,
    plan: &FilePlan,
    targets: &Targets,
) -> Result<Vec<Found>> {
    let what = format!("stored original {} ({})", plan.sha256, plan.path);
    let profiles: Profiles = crate::archive::catalog::export_profiles(conn, plan.export_id)
        .map_err(|reason| Error::CannotDerive {
            what: what.clone(),
            reason,
        })?;
    let object = archive.objects().path_of(&plan.sha256);
    let file = File::open(&object).map_err(|e| Error::io(&object, e))?;
    let mut out = Vec::new();
    let read = |reader: &mut dyn Read, name: &str| -> Result<Found> {
        let mut finder = Finder {
            targets,
            found: Found::default(),
            lineless: 0,
        };
        match source::read_member(reader, name, &profiles, &mut finder, None) {
            Ok(_) => {}
            Err(MemberError::Read(e)) => return Err(Error::io(&object, e)),
            Err(MemberError::Sink(e)) => return Err(e),
        }
        if finder.lineless > 0 {
            return Err(Error::CannotDerive {
                what: format!("{what}: member {name}"),
                reason: format!("{} removed rows have no line to blank", finder.lineless),
            });
        }
        Ok(finder.found)
    };
    if plan.container != "zip" {
        let name = plan.members.first().map_or("", |m| m.0.name.as_str());
        out.push(read(&mut BufReader::new(file), name)?);
        return Ok(out);
    }
    let mut zip =
        zip::ZipArchive::new(BufReader::with_capacity(256 * 1024, file)).map_err(|e| {
            Error::CannotDerive {
                what: what.clone(),
                reason: format!("the zip cannot be read: {e}"),
            }
        })?;
    for (i, (m, _, _)) in plan.members.iter().enumerate() {
        if m.status != "read" {
            out.push(Found::default());
            continue;
        }
        let mut member = zip.by_index(i).map_err(|e| Error::CannotDerive {
            what: format!("{what}: member {}", m.name),
            reason: e.to_string(),
        })?;
        out.push(read(&mut member, &m.name)?);
    }
    Ok(out)
}

/// Decides each member's fate; false when the original holds nothing
/// removed.
fn decide(plan: &mut FilePlan, found: Vec<Found>) -> Result<bool> {
    if found.iter().all(|f| f.removed == 0) {
        return Ok(false);
    }
    if found.len() != plan.members.len() {
        return Err(Error::CannotDerive {
            what: format!("stored original {} ({})", plan.sha256, plan.path),
            reason: format!(
                "it holds {} members where the archive records {}",
                found.len(),
                plan.members.len()
            ),
        });
    }
    for ((m, fate, removed), f) in plan.members.iter_mut().zip(found) {
        *removed = f.removed;
        if f.removed == 0 {
            continue;
        }
        let json = matches!(
            m.shape.as_deref(),
            Some(source::api_json::SHAPE_PAGE | source::api_json::SHAPE_LINES)
        );
        *fate = if json && (f.removed as i64) < m.rows {
            MemberFate::JsonBlanked(f.lines)
        } else if json {
            MemberFate::Dropped
        } else {
            MemberFate::Blanked(f.lines)
        };
    }
    Ok(true)
}

/// Whether every member of `plan` is left with nothing.
fn left_with_nothing(plan: &FilePlan) -> bool {
    plan.members
        .iter()
        .all(|(m, fate, removed)| match (m.status.as_str(), fate) {
            ("directory", _) | (_, MemberFate::Dropped) => true,
            // The export's description is kept with what is left.
            ("read", _) if m.shape.as_deref() == Some(crate::source::description::SHAPE) => false,
            ("read", _) => m.rows - *removed as i64 <= 0,
            _ => false,
        })
}

/// Notes the lines to blank and the members that go whole, for the
/// statements of the transaction.
fn note_lines(conn: &Connection, plans: &[FilePlan]) -> Result<()> {
    let mut line = conn.prepare("INSERT OR IGNORE INTO temp.removal_lines VALUES (?1, ?2)")?;
    let mut whole = conn.prepare("INSERT OR IGNORE INTO temp.removal_members VALUES (?1)")?;
    for plan in plans {
        let all = left_with_nothing(plan);
        for (m, fate, _) in &plan.members {
            match fate {
                MemberFate::Kept if all => {
                    whole.execute([m.id])?;
                }
                MemberFate::Kept => {}
                MemberFate::Blanked(lines) | MemberFate::JsonBlanked(lines) => {
                    for l in lines {
                        line.execute(params![m.id, *l as i64])?;
                    }
                    if all {
                        whole.execute([m.id])?;
                    }
                }
                MemberFate::Dropped => {
                    whole.execute([m.id])?;
                }
            }
        }
    }
    Ok(())
}

/// Every removed version and record must have been found where the
/// archive says it was read: else an original would keep it.
fn check_all_found(conn: &Connection) -> Result<()> {
    let missing: Option<(String, String, i64)> = conn
        .query_row(
            &format!(
                "SELECT 'entry ' || e.identifier || ' version ' || e.version, m.name, coalesce(e.line, 0)
                 FROM entries e JOIN members m ON m.id = e.member_id
                 WHERE e.conversation_id IN (SELECT id FROM temp.removal_conversations)
                   AND e.member_id NOT IN (SELECT member_id FROM temp.removal_members)
                   AND NOT EXISTS (SELECT 1 FROM temp.removal_lines l
                                   WHERE l.member_id = e.member_id AND l.line = e.line)
                 UNION ALL
                 SELECT r.object || ' record ' || r.record_id, m.name, coalesce(r.line, 0)
                 FROM records r JOIN members m ON m.id = r.member_id
                 WHERE r.id IN ({REMOVED_RECORDS})
                   AND r.member_id NOT IN (SELECT member_id FROM temp.removal_members)
                   AND NOT EXISTS (SELECT 1 FROM temp.removal_lines l
                                   WHERE l.member_id = r.member_id AND l.line = r.line)
                 LIMIT 1"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })?;
    match missing {
        None => Ok(()),
        Some((what, member, line)) => Err(Error::CannotDerive {
            what: format!("{what} (member {member}, line {line})"),
            reason: "its row was not found where the archive says it was read, so its original cannot be rewritten without it; run `convault verify --rederive`".into(),
        }),
    }
}

/// Writes `plan`'s derivative under `objects/tmp/` (fsynced), or nothing
/// when the original goes whole.
fn derivative(archive: &Archive, plan: &FilePlan) -> Result<Option<Derived>> {
    if left_with_nothing(plan) {
        return Ok(None);
    }
    let src = archive.objects().path_of(&plan.sha256);
    let tmp = archive.objects().new_staging_path()?;
    let what = |e: derive::DeriveError| Error::CannotDerive {
        what: format!("stored original {} ({})", plan.sha256, plan.path),
        reason: e.to_string(),
    };
    if plan.container == "zip" {
        let mut remove = BTreeMap::new();
        let mut drop = BTreeSet::new();
        let mut json = BTreeSet::new();
        for (m, fate, _) in &plan.members {
            match fate {
                MemberFate::Kept => {}
                MemberFate::Blanked(lines) => {
                    remove.insert(m.name.clone(), lines.clone());
                }
                MemberFate::JsonBlanked(lines) => {
                    remove.insert(m.name.clone(), lines.clone());
                    json.insert(m.name.clone());
                }
                MemberFate::Dropped => {
                    drop.insert(m.name.clone());
                }
            }
        }
        let d = derive::zip_without_json(&src, &tmp, &remove, &drop, &json).map_err(what)?;
        return Ok(Some(Derived {
            tmp,
            sha256: d.sha256,
            bytes: d.bytes,
            members: d.members,
        }));
    }
    let (m, lines, json) = match plan.members.first() {
        Some((m, MemberFate::Blanked(lines), _)) => (m, lines, false),
        Some((m, MemberFate::JsonBlanked(lines), _)) => (m, lines, true),
        _ => {
            return Err(Error::Internal(
                "a plain file to derive without a blanked member",
            ));
        }
    };
    let d = derive::file_without(&src, &tmp, lines, json).map_err(what)?;
    Ok(Some(Derived {
        tmp,
        members: vec![DerivedMember {
            name: m.name.clone(),
            sha256: d.sha256.clone(),
            crc32: 0,
            bytes: d.bytes,
            blanked: d.blanked,
        }],
        sha256: d.sha256,
        bytes: d.bytes,
    }))
}

/// Steps 3 to 5 of the module doc.
fn commit(
    archive: &Archive,
    conn: &mut Connection,
    removal: &Removal,
    replacements: &[Replacement],
    (bytes_read, mut seconds): (u64, Seconds),
) -> Result<Outcome> {
    let started = std::time::Instant::now();
    let record = ledger::next_seq(conn)?;
    let prev = ledger::head_hash(conn)?.unwrap_or_else(|| ledger::GENESIS.to_owned());
    let kind = removal.kind.as_str();
    let per_export = rows_per_export(conn)?;
    let quarantined_rows: i64 = per_export.iter().map(|x| x.1).sum();
    let records: i64 = per_export.iter().map(|x| x.2).sum();
    let entries: u64 = removal.conversations.iter().map(|d| d.entries).sum();
    let cert = certificate_head(
        removal,
        (record, prev),
        (records, quarantined_rows),
        replacements,
    );
    let (cert_json, cert_text) = Archive::certificate_names(kind, record);
    crate::failpoint::hit("removal-derivatives-written");
    journal::write(
        archive,
        &Journal {
            record,
            new_objects: replacements
                .iter()
                .filter_map(|r| r.new.as_ref().map(|d| d.sha256.clone()))
                .collect(),
            old_objects: replacements.iter().map(|r| r.plan.sha256.clone()).collect(),
            certificates: vec![cert_json.clone(), cert_text.clone()],
        },
    )?;
    crate::failpoint::hit("removal-journal-written");
    let written = write_certificate(archive, conn, &cert, removal)?;
    let cert_sha = written.json_sha256;
    crate::failpoint::hit("removal-certificate-written");
    let replaced = replacements.iter().filter(|r| r.new.is_some()).count() as u64;
    let deleted = replacements.len() as u64 - replaced;
    let bytes_written = replacements
        .iter()
        .filter_map(|r| r.new.as_ref().map(|d| d.bytes))
        .sum();

    // 4. One transaction.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO disposals (ledger_seq, kind, at_ms, certificate_sha256) VALUES (?1, ?2, ?3, ?4)",
        params![record, kind, removal.now.as_millisecond(), cert_sha],
    )?;
    let disposal = tx.last_insert_rowid();
    record_and_delete(&tx, disposal, &per_export)?;
    replace_files(&tx, disposal, replacements)?;
    let details = json!({
        "certificate": cert_json,
        "certificate_sha256": cert_sha,
        "certificate_text_sha256": written.text_sha256,
        "reason": removal.reason,
        "basis": removal.basis,
        "conversations": removal.conversations.len(),
        "entries": entries,
        "records": records,
        "quarantined_rows": quarantined_rows,
        "objects_replaced": replaced,
        "objects_deleted": deleted,
    });
    let appended = ledger::append(&tx, removal.now, kind, removal.who, details)?;
    if appended.seq != record {
        return Err(Error::Internal("the ledger moved during a removal"));
    }
    for r in replacements {
        if let Some(d) = &r.new {
            archive.objects().adopt(&d.tmp, &d.sha256)?;
        }
    }
    crate::failpoint::hit("removal-before-commit");
    tx.commit()?;
    crate::failpoint::hit("removal-committed");

    // 5. The originals go; the database is rebuilt without a trace.
    seconds.transaction = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    if let Err(e) = remove_originals_and_rebuild(archive, conn, removal, replacements) {
        return Err(Error::RemovalUnfinished {
            kind: kind.to_owned(),
            record,
            certificate: cert_json,
            detail: e.to_string(),
        });
    }
    seconds.rebuild = started.elapsed().as_secs_f64();
    Ok(Outcome {
        kind: removal.kind,
        record,
        certificate: cert_json,
        certificate_text: cert_text,
        certificate_sha256: cert_sha,
        conversations: removal.conversations.len() as u64,
        entries,
        records: records as u64,
        quarantined_rows: quarantined_rows as u64,
        objects_replaced: replaced,
        objects_deleted: deleted,
        bytes_read,
        bytes_written,
        seconds,
    })
}

/// Per export, the quarantined rows and records a removal takes.
fn rows_per_export(conn: &Connection) -> Result<Vec<(i64, i64, i64)>> {
    let per_export: Vec<(i64, i64, i64)> = conn
        .prepare(&format!(
            "SELECT export_id, sum(q), sum(r) FROM (
                 SELECT q.export_id, 1 AS q, 0 AS r FROM quarantine q
                 JOIN temp.removal_lines l ON l.member_id = q.member_id AND l.line = q.line
                 UNION ALL
                 SELECT q.export_id, 1, 0 FROM quarantine q
                 WHERE q.member_id IN (SELECT member_id FROM temp.removal_members)
                   AND NOT EXISTS (SELECT 1 FROM temp.removal_lines l
                                   WHERE l.member_id = q.member_id AND l.line = q.line)
                 UNION ALL
                 SELECT export_id, 0, 1 FROM records WHERE id IN ({REMOVED_RECORDS}))
             GROUP BY export_id"
        ))?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(per_export)
}

/// The certificate of `removal`, its conversations left to be streamed
/// (`certificate::write`).
fn certificate_head(
    removal: &Removal,
    (record, prev): (i64, String),
    (records, quarantined_rows): (i64, i64),
    replacements: &[Replacement],
) -> Certificate {
    let kind = removal.kind.as_str();
    let entries: u64 = removal.conversations.iter().map(|d| d.entries).sum();
    let objects: Vec<certificate::Object> = replacements
        .iter()
        .map(|r| certificate::Object {
            export_id: r.plan.export_id,
            path: r.plan.path.clone(),
            old_sha256: r.plan.sha256.clone(),
            old_bytes: r.plan.bytes,
            new_sha256: r.new.as_ref().map(|d| d.sha256.clone()),
            new_bytes: r.new.as_ref().map(|d| d.bytes),
        })
        .collect();
    Certificate {
        format: certificate::FORMAT.into(),
        kind: kind.into(),
        ledger_record: record,
        ledger_prev: prev,
        at: crate::clock::rfc3339_ms(removal.now),
        by: removal.who.into(),
        reason: removal.reason.into(),
        basis: removal.basis.clone(),
        conversations: Vec::new(),
        entries,
        records: records as u64,
        quarantined_rows: quarantined_rows as u64,
        objects,
        convault_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// Writes the certificate, its conversations with their versions'
/// content hashes one at a time: never all of them in memory.
fn write_certificate(
    archive: &Archive,
    conn: &Connection,
    cert: &Certificate,
    removal: &Removal,
) -> Result<certificate::Written> {
    let mut hashes =
        conn.prepare("SELECT content_hash FROM entries WHERE conversation_id = ?1 ORDER BY seq")?;
    let mut listed = removal.conversations.iter();
    let written = certificate::write(archive, cert, removal.conversations.len(), || {
        let Some(d) = listed.next() else {
            return Ok(None);
        };
        let content_hashes: Vec<String> = hashes
            .query_map([d.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if content_hashes.len() as u64 != d.entries {
            return Err(Error::Internal(
                "a removed conversation's versions changed under the lock",
            ));
        }
        Ok(Some(certificate::Conversation {
            identifier: d.conversation.clone(),
            entries: d.entries,
            content_hashes,
        }))
    })?;
    drop(hashes);
    Ok(written)
}

/// Records what the removal takes (`disposed_*`) and deletes it, with its
/// terms from the full-text index.
fn record_and_delete(
    tx: &rusqlite::Transaction<'_>,
    disposal: i64,
    per_export: &[(i64, i64, i64)],
) -> Result<()> {
    tx.execute(
        "INSERT INTO disposed_conversations (conversation_id, identifier, first_export_id, disposal_id, entries)
         SELECT c.id, c.identifier, c.first_export_id, ?1,
                (SELECT count(*) FROM entries e WHERE e.conversation_id = c.id)
         FROM conversations c WHERE c.id IN (SELECT id FROM temp.removal_conversations)",
        [disposal],
    )?;
    tx.execute(
        "INSERT INTO disposed_versions (seq, export_id, conversation_id, identifier, version, disposal_id)
         SELECT seq, export_id, conversation_id, identifier, version, ?1 FROM entries
         WHERE conversation_id IN (SELECT id FROM temp.removal_conversations)",
        [disposal],
    )?;
    for (export, q, r) in per_export {
        tx.execute(
            "INSERT INTO disposed_rows (disposal_id, export_id, quarantined, records) VALUES (?1, ?2, ?3, ?4)",
            params![disposal, export, q, r],
        )?;
    }
    tx.execute_batch(&format!(
        "DELETE FROM entry_repeats WHERE entry_id IN (SELECT id FROM entries
             WHERE conversation_id IN (SELECT id FROM temp.removal_conversations));
         DELETE FROM row_hashes WHERE conversation_id IN (SELECT id FROM temp.removal_conversations);
         DELETE FROM entry_related WHERE conversation_id IN (SELECT id FROM temp.removal_conversations);
         DELETE FROM entries WHERE conversation_id IN (SELECT id FROM temp.removal_conversations);
         DELETE FROM conversations WHERE id IN (SELECT id FROM temp.removal_conversations);
         DELETE FROM quarantine WHERE member_id IN (SELECT member_id FROM temp.removal_members)
             OR EXISTS (SELECT 1 FROM temp.removal_lines l
                        WHERE l.member_id = quarantine.member_id AND l.line = quarantine.line);
         DELETE FROM records WHERE id IN ({REMOVED_RECORDS});"
    ))?;
    // The delete trigger only masks the removed versions' terms in the
    // full-text index; merging every segment into one drops them.
    // Measured at 1M versions, 100,000 removed: this transaction took
    // 7.1 s, 35.9 s with FTS5's `secure-delete` option instead
    // (docs/performance-history.md).
    tx.execute(
        "INSERT INTO entries_fts (entries_fts) VALUES ('optimize')",
        [],
    )?;
    Ok(())
}

/// Each original replaced by its derivative (or deleted) in `files` and
/// `members`, and recorded in `derivatives`.
fn replace_files(
    tx: &rusqlite::Transaction<'_>,
    disposal: i64,
    replacements: &[Replacement],
) -> Result<()> {
    {
        let mut derivative_row = tx.prepare(
            "INSERT INTO derivatives (disposal_id, export_id, path, old_sha256, old_bytes, new_sha256, new_bytes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut taken = tx.prepare("SELECT 1 FROM files WHERE sha256 = ?1")?;
        for r in replacements {
            let p = &r.plan;
            derivative_row.execute(params![
                disposal,
                p.export_id,
                p.path,
                p.sha256,
                p.bytes as i64,
                r.new.as_ref().map(|d| d.sha256.as_str()),
                r.new.as_ref().map(|d| d.bytes as i64),
            ])?;
            let Some(d) = &r.new else {
                tx.execute("DELETE FROM members WHERE file_id = ?1", [p.id])?;
                tx.execute("DELETE FROM files WHERE id = ?1", [p.id])?;
                continue;
            };
            if taken.exists([&d.sha256])? {
                return Err(Error::CannotDerive {
                    what: format!("stored original {} ({})", p.sha256, p.path),
                    reason: format!(
                        "its derivative {} is the same file as another stored original",
                        d.sha256
                    ),
                });
            }
            tx.execute(
                "UPDATE files SET sha256 = ?2, bytes = ?3 WHERE id = ?1",
                params![p.id, d.sha256, d.bytes as i64],
            )?;
            for (m, fate, removed) in &p.members {
                match fate {
                    MemberFate::Kept => {}
                    MemberFate::Dropped => {
                        tx.execute("DELETE FROM members WHERE id = ?1", [m.id])?;
                    }
                    MemberFate::Blanked(_) | MemberFate::JsonBlanked(_) => {
                        let Some(dm) = d.members.iter().find(|x| x.name == m.name) else {
                            return Err(Error::Internal(
                                "a blanked member missing from its derivative",
                            ));
                        };
                        let crc = (p.container == "zip").then_some(i64::from(dm.crc32));
                        tx.execute(
                            "UPDATE members SET sha256 = ?2, bytes = ?3, crc32 = coalesce(?4, crc32),
                                 rows = rows - ?5 WHERE id = ?1",
                            params![m.id, dm.sha256, dm.bytes as i64, crc, *removed as i64],
                        )?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// Step 5: the originals go, and the database is rebuilt without a
/// trace of what was removed.
fn remove_originals_and_rebuild(
    archive: &Archive,
    conn: &Connection,
    removal: &Removal,
    replacements: &[Replacement],
) -> Result<()> {
    for (i, r) in replacements.iter().enumerate() {
        archive.objects().delete(&r.plan.sha256)?;
        if i == 0 {
            crate::failpoint::hit("removal-first-original-deleted");
        }
    }
    let spin = crate::progress::spinner(
        "rebuilding the database so that no removed text remains in it",
        removal.progress,
    );
    crate::archive::db::rebuild(conn)?;
    spin.finish_and_clear();
    journal::remove(archive)
}

/// Removes again the conversations a later export brought back after a
/// removal (a complete weekly export holds them until Salesforce deletes
/// them): each is removed by a new removal of the kind that first removed
/// it, naming that removal's record, so the archive never holds again what
/// it removed. A conversation a hold in force now holds is kept, and
/// named in the returned messages. The caller holds the writer lock.
pub fn reapply(
    archive: &Archive,
    conn: &mut Connection,
    who: &str,
    now: Timestamp,
    progress: bool,
) -> Result<(Vec<Outcome>, Vec<String>)> {
    // (conversation row, identifier, kind and record of its last removal)
    let returned: Vec<(i64, String, String, i64)> = conn
        .prepare(
            // Driven by the removed conversations (CROSS JOIN keeps that
            // order): every ingest asks, and they are far fewer.
            "SELECT c.id, c.identifier, x.kind, x.ledger_seq FROM disposed_conversations d
             CROSS JOIN conversations c ON c.identifier = d.identifier
             JOIN disposals x ON x.id = d.disposal_id
             WHERE d.disposal_id = (SELECT max(d2.disposal_id) FROM disposed_conversations d2
                                    WHERE d2.identifier = d.identifier)
             ORDER BY c.identifier",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut messages = Vec::new();
    if returned.is_empty() {
        return Ok((Vec::new(), messages));
    }
    let records = ledger::read_all(conn)?;
    let mut held = BTreeSet::new();
    for h in super::hold::active(&records)? {
        for id in super::hold::held(conn, &h)? {
            if returned.iter().any(|r| r.0 == id) && held.insert(id) {
                messages.push(format!(
                    "conversation {} was removed (ledger record {}) and an export brought it again; hold {:?} (ledger record {}) holds it now, so it is kept",
                    returned.iter().find(|r| r.0 == id).map_or("", |r| r.1.as_str()),
                    returned.iter().find(|r| r.0 == id).map_or(0, |r| r.3),
                    h.name,
                    h.placed_record
                ));
            }
        }
    }
    let mut outcomes = Vec::new();
    for kind in [Kind::Disposition, Kind::Erasure] {
        let picked: Vec<&(i64, String, String, i64)> = returned
            .iter()
            .filter(|r| r.2 == kind.as_str() && !held.contains(&r.0))
            .collect();
        if picked.is_empty() {
            continue;
        }
        let mut count = conn.prepare(
            "SELECT count(*), max(coalesce(server_ms, client_ms)) FROM entries WHERE conversation_id = ?1",
        )?;
        let mut due = Vec::with_capacity(picked.len());
        for (id, identifier, _, _) in &picked {
            let (entries, last): (i64, Option<i64>) =
                count.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            due.push(Due {
                conversation: identifier.clone(),
                id: *id,
                last_entry: last.map(crate::timestamp::rfc3339).unwrap_or_default(),
                last_entry_ms: last.unwrap_or(i64::MIN),
                entries: entries.max(0) as u64,
            });
        }
        drop(count);
        let mut earlier: Vec<i64> = picked.iter().map(|r| r.3).collect();
        earlier.sort_unstable();
        earlier.dedup();
        let outcome = execute(
            archive,
            conn,
            &Removal {
                kind,
                reason: "removed earlier; a later export brought it again",
                who,
                now,
                basis: json!({ "reapplies": earlier }),
                conversations: &due,
                record_ids: &[],
                progress,
            },
        )?;
        messages.push(format!(
            "{} conversations removed earlier (ledger records {}) came back in an export and were removed again: ledger record {}, certificate {}",
            outcome.conversations,
            earlier
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            outcome.record,
            outcome.certificate
        ));
        outcomes.push(outcome);
    }
    Ok((outcomes, messages))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Quarantined rows are searched by whole tokens (one look-up each),
    /// and by substring for a name no token can be.
    #[test]
    fn names_are_found_as_tokens_in_raw_text() {
        let conversation = "4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6c".to_owned();
        let record = "0dwSY0000001AbC".to_owned();
        let odd = "conv_1".to_owned();
        let names = Names::new([&conversation, &record, &odd, &String::new()]);
        assert_eq!(names.tokens.len(), 2);
        for (text, named) in [
            (
                r#"["z1","4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6c","{\"oops"]"#,
                true,
            ),
            ("é4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6c\u{fffd}", true),
            (r#"{"conversationRef":"0dwSY0000001AbC"}"#, true),
            ("a conv_1 b", true),
            ("4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6", false),
            ("x4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6c", false),
            ("0dwSY0000001AbCD", false),
            ("", false),
        ] {
            assert_eq!(names.in_text(text), named, "{text:?}");
        }
    }
}
