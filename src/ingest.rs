//! One export into the archive: copy and hash its files, read every member,
//! and store entries, conversations and quarantine in one transaction.
//!
//! Invariants:
//! - The archive holds an export wholly or not at all: every row is written
//!   in one SQLite transaction, and objects are renamed into the store just
//!   before it commits (an interrupted ingest leaves at most unreferenced
//!   objects, which a later ingest adopts).
//! - A file whose SHA-256 is already in `files` is not ingested again.
//! - Entries are never overwritten: the same identifier with the same
//!   content hash is a sighting, with a different hash a new version.
//! - A member that cannot be read (failed CRC, broken deflate data)
//!   rejects the whole ingest; a member or row that cannot be recognised is
//!   quarantined and the rest is ingested.

use std::fs::File;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use rusqlite::{OptionalExtension, Statement, Transaction, TransactionBehavior, params};
use serde::Serialize;

use crate::archive::{Archive, db, objects::Staged};
use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::hashing::HashingReader;
use crate::progress::{ProgressReader, bytes_bar};
use crate::source::{self, Container, MemberError, MemberOutcome, RowSink};

/// At most this many quarantined items are listed in a report; the archive
/// keeps all of them and the report says how many there were.
pub const MAX_LISTED_QUARANTINE: usize = 1000;

/// How to ingest.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Read, check and report, writing nothing.
    pub dry_run: bool,
    /// Show progress bars (only ever on a terminal).
    pub progress: bool,
}

/// One input file in a report.
#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// The export that already holds this file, if it was ingested before.
    pub already_in_export: Option<i64>,
}

/// One quarantined member or row.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct QuarantineItem {
    pub file: String,
    pub member: String,
    pub line: Option<u64>,
    pub reason: String,
}

/// What an ingest did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    /// The new export's id; for an already-ingested input, the export that
    /// holds it; `null` for a dry run.
    pub export_id: Option<i64>,
    pub dry_run: bool,
    pub files: Vec<FileReport>,
    /// Every input file was already in the archive: nothing changed.
    pub already_ingested: bool,
    pub members_read: u64,
    pub entries_read: u64,
    pub entries_new: u64,
    pub entries_unchanged: u64,
    pub entries_changed: u64,
    pub conversations_new: u64,
    pub quarantined_total: u64,
    /// The first [`MAX_LISTED_QUARANTINE`] quarantined items.
    pub quarantined: Vec<QuarantineItem>,
}

/// Ingests the export made of `paths` into `archive`.
pub fn ingest(archive: &Archive, paths: &[PathBuf], opts: &Options) -> Result<Report> {
    let inputs = source::collect_inputs(paths)?;
    let mut containers = Vec::with_capacity(inputs.len());
    let mut total = 0u64;
    for path in &inputs {
        containers.push(source::sniff_container(path)?);
        total += std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
    }
    // Open (and lock out other writers) before copying anything: a too-new
    // or busy archive fails fast.
    // A dry run on an archive that does not exist yet must not create it.
    let mut conn = if opts.dry_run && !archive.exists() {
        db::open_in_memory()?
    } else {
        archive.open_for_write()?
    };

    let mut staged = StagedFiles::default();
    let bar = bytes_bar(
        total,
        if opts.dry_run { "hashing" } else { "storing" },
        opts.progress,
    );
    let mut base = 0;
    for (path, container) in inputs.iter().zip(&containers) {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let reader = ProgressReader::new(file, bar.clone(), base);
        let input = if opts.dry_run {
            let (bytes, sha256) = HashingReader::new(reader)
                .finish()
                .map_err(|e| Error::io(path, e))?;
            Input {
                path: path.clone(),
                read_from: path.clone(),
                container: *container,
                bytes,
                sha256,
                stage: None,
            }
        } else {
            let s = archive.objects().stage(path, reader)?;
            Input {
                path: path.clone(),
                read_from: s.tmp.clone(),
                container: *container,
                bytes: s.bytes,
                sha256: s.sha256.clone(),
                stage: Some(s),
            }
        };
        base += input.bytes;
        staged.inputs.push(input);
    }
    bar.finish_and_clear();

    let mut report = Report {
        dry_run: opts.dry_run,
        ..Report::default()
    };
    let mut new_inputs = Vec::new();
    for input in &staged.inputs {
        let earlier = conn
            .query_row(
                "SELECT export_id FROM files WHERE sha256 = ?1",
                [&input.sha256],
                |r| r.get::<_, i64>(0),
            )
            .optional()?;
        let repeated = new_inputs.iter().any(|i: &&Input| i.sha256 == input.sha256);
        report.files.push(FileReport {
            path: input.path.display().to_string(),
            bytes: input.bytes,
            sha256: input.sha256.clone(),
            already_in_export: earlier,
        });
        if earlier.is_none() && !repeated {
            new_inputs.push(input);
        }
    }
    if new_inputs.is_empty() {
        report.already_ingested = true;
        report.export_id = report.files.iter().find_map(|f| f.already_in_export);
        return Ok(report);
    }

    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let export_id = insert_export(&tx)?;
    {
        let mut writer = Writer::new(&tx, export_id, &mut report)?;
        let total_new: u64 = new_inputs.iter().map(|i| i.bytes).sum();
        let bar = bytes_bar(total_new, "reading", opts.progress);
        let mut base = 0;
        for input in &new_inputs {
            read_input(&mut writer, input, &bar, base)?;
            base += input.bytes;
        }
        bar.finish_and_clear();
        writer.finish()?;
    }
    report.export_id = (!opts.dry_run).then_some(export_id);
    if opts.dry_run {
        tx.rollback()?;
        return Ok(report);
    }
    // Objects first: a committed export must never name a missing object.
    let mut added = Vec::new();
    let objects = archive.objects();
    let committed = (|| -> Result<()> {
        for input in &new_inputs {
            if let Some(s) = &input.stage {
                if objects.commit(s)? {
                    added.push(s.sha256.clone());
                }
            }
        }
        tx.commit()?;
        Ok(())
    })();
    if let Err(e) = committed {
        for sha in &added {
            objects.remove(sha);
        }
        return Err(e);
    }
    Ok(report)
}

/// One input file, copied (or for a dry run, only hashed).
struct Input {
    path: PathBuf,
    /// The staged copy (so what is parsed is what is stored), or for a dry
    /// run the original.
    read_from: PathBuf,
    container: Container,
    bytes: u64,
    sha256: String,
    stage: Option<Staged>,
}

/// Removes staged copies that did not make it into the store.
#[derive(Default)]
struct StagedFiles {
    inputs: Vec<Input>,
}

impl Drop for StagedFiles {
    fn drop(&mut self) {
        for input in &self.inputs {
            if let Some(s) = &input.stage {
                s.discard();
            }
        }
    }
}

fn insert_export(tx: &Transaction<'_>) -> Result<i64> {
    let now = jiff::Timestamp::now().as_millisecond();
    tx.execute(
        "INSERT INTO exports (ingested_at_ms, convault_version) VALUES (?1, ?2)",
        params![now, env!("CARGO_PKG_VERSION")],
    )?;
    Ok(tx.last_insert_rowid())
}

fn read_input(
    writer: &mut Writer<'_, '_>,
    input: &Input,
    bar: &ProgressBar,
    base: u64,
) -> Result<()> {
    let file_id = writer.insert_file(input)?;
    let file = File::open(&input.read_from).map_err(|e| Error::io(&input.read_from, e))?;
    let reader = ProgressReader::new(file, bar.clone(), base);
    match input.container {
        Container::Plain => {
            let name = input
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| input.path.display().to_string());
            let member_id = writer.insert_member(file_id, &name, None)?;
            let mut hashing = HashingReader::new(reader);
            let outcome = read_one(writer, member_id, &input.path, &name, &mut hashing, false)?;
            let (bytes, sha256) = hashing.finish().map_err(|e| Error::io(&input.path, e))?;
            writer.finish_member(member_id, &name, bytes, &sha256, outcome)?;
        }
        Container::Zip => {
            let mut zip =
                zip::ZipArchive::new(std::io::BufReader::with_capacity(256 * 1024, reader))
                    .map_err(|e| Error::Rejected {
                        path: input.path.clone(),
                        reason: format!("not a readable zip archive ({e})"),
                    })?;
            for i in 0..zip.len() {
                read_zip_member(writer, file_id, &input.path, &mut zip, i)?;
            }
        }
    }
    Ok(())
}

fn read_zip_member<R: std::io::Read + std::io::Seek>(
    writer: &mut Writer<'_, '_>,
    file_id: i64,
    path: &Path,
    zip: &mut zip::ZipArchive<R>,
    index: usize,
) -> Result<()> {
    let name = zip
        .name_for_index(index)
        .map(|n| n.map(|n| n.into_owned()))
        .transpose()
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("#{index}"));
    let mut member = match zip.by_index(index) {
        Ok(m) => m,
        Err(zip::result::ZipError::UnsupportedArchive(why)) => {
            // Encrypted or compressed with a method we do not read: keep it
            // aside (the original is archived), do not fail the export.
            let member_id = writer.insert_member(file_id, &name, None)?;
            let reason = format!("cannot read this member: {why}");
            writer.quarantine(member_id, &name, None, reason.clone(), None)?;
            writer.set_member(member_id, None, None, "quarantined", None, Some(&reason), 0)?;
            return Ok(());
        }
        Err(e) => {
            return Err(Error::Rejected {
                path: path.to_owned(),
                reason: format!("member {name}: {e}"),
            });
        }
    };
    let name = String::from_utf8_lossy(member.name_raw()).into_owned();
    if member.is_dir() {
        let member_id = writer.insert_member(file_id, &name, Some(member.crc32()))?;
        writer.set_member(member_id, Some(0), None, "directory", None, None, 0)?;
        return Ok(());
    }
    let member_id = writer.insert_member(file_id, &name, Some(member.crc32()))?;
    let mut hashing = HashingReader::new(&mut member);
    let outcome = read_one(writer, member_id, path, &name, &mut hashing, true)?;
    let (bytes, sha256) = hashing.finish().map_err(|e| damaged(path, &name, e))?;
    writer.finish_member(member_id, &name, bytes, &sha256, outcome)
}

fn damaged(path: &Path, member: &str, e: std::io::Error) -> Error {
    Error::DamagedMember {
        path: path.to_owned(),
        member: member.to_owned(),
        detail: e.to_string(),
    }
}

fn read_one(
    writer: &mut Writer<'_, '_>,
    member_id: i64,
    path: &Path,
    name: &str,
    reader: impl std::io::Read,
    in_zip: bool,
) -> Result<MemberOutcome> {
    let mut sink = MemberSink {
        writer,
        member_id,
        member: name,
    };
    match source::read_member(reader, &mut sink) {
        Ok(outcome) => Ok(outcome),
        Err(MemberError::Sink(e)) => Err(e),
        Err(MemberError::Read(e)) if in_zip => Err(damaged(path, name, e)),
        Err(MemberError::Read(e)) => Err(Error::io(path, e)),
    }
}

/// Writes one export's rows inside the ingest transaction.
struct Writer<'t, 'r> {
    tx: &'t Transaction<'t>,
    export_id: i64,
    report: &'r mut Report,
    find_versions: Statement<'t>,
    insert_entry: Statement<'t>,
    insert_sighting: Statement<'t>,
    insert_conversation: Statement<'t>,
    find_conversation: Statement<'t>,
    insert_quarantine: Statement<'t>,
    /// The last conversation looked up: entries come grouped by
    /// conversation, so one slot saves most look-ups without growing.
    last_conversation: Option<(String, i64)>,
    file_path: String,
}

impl<'t, 'r> Writer<'t, 'r> {
    fn new(tx: &'t Transaction<'t>, export_id: i64, report: &'r mut Report) -> Result<Self> {
        Ok(Writer {
            tx,
            export_id,
            report,
            find_versions: tx.prepare(
                "SELECT id, version, content_hash, export_id FROM entries WHERE identifier = ?1",
            )?,
            insert_entry: tx.prepare(
                "INSERT INTO entries (identifier, version, conversation_id, entry_type, entry_type_raw,
                    is_message, sender_role, sender_app_type, sender_subject, client_ms, server_ms,
                    related_records, payload, message_text, text, content_hash, export_id, member_id, line)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            )?,
            insert_sighting: tx.prepare(
                "INSERT OR IGNORE INTO entry_sightings (entry_id, export_id, member_id, line) VALUES (?1, ?2, ?3, ?4)",
            )?,
            insert_conversation: tx.prepare(
                "INSERT INTO conversations (identifier, first_export_id) VALUES (?1, ?2)
                 ON CONFLICT (identifier) DO NOTHING",
            )?,
            find_conversation: tx.prepare("SELECT id FROM conversations WHERE identifier = ?1")?,
            insert_quarantine: tx.prepare(
                "INSERT INTO quarantine (export_id, member_id, line, reason, raw) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            last_conversation: None,
            file_path: String::new(),
        })
    }

    fn insert_file(&mut self, input: &Input) -> Result<i64> {
        self.file_path = input.path.display().to_string();
        self.tx.execute(
            "INSERT INTO files (export_id, path, bytes, sha256, container) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![self.export_id, self.file_path, input.bytes as i64, input.sha256, input.container.as_str()],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    fn insert_member(&mut self, file_id: i64, name: &str, crc32: Option<u32>) -> Result<i64> {
        self.tx.execute(
            "INSERT INTO members (file_id, name, crc32, status) VALUES (?1, ?2, ?3, 'read')",
            params![file_id, name, crc32],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    #[allow(clippy::too_many_arguments)]
    fn set_member(
        &mut self,
        member_id: i64,
        bytes: Option<u64>,
        sha256: Option<&str>,
        status: &str,
        shape: Option<&str>,
        reason: Option<&str>,
        rows: u64,
    ) -> Result<()> {
        self.tx.execute(
            "UPDATE members SET bytes = ?2, sha256 = ?3, status = ?4, shape = ?5, reason = ?6, rows = ?7 WHERE id = ?1",
            params![member_id, bytes.map(|b| b as i64), sha256, status, shape, reason, rows as i64],
        )?;
        Ok(())
    }

    fn finish_member(
        &mut self,
        member_id: i64,
        name: &str,
        bytes: u64,
        sha256: &str,
        outcome: MemberOutcome,
    ) -> Result<()> {
        self.report.members_read += 1;
        match outcome {
            MemberOutcome::Read { shape, rows } => self.set_member(
                member_id,
                Some(bytes),
                Some(sha256),
                "read",
                Some(shape),
                None,
                rows,
            ),
            MemberOutcome::Quarantined { reason } => {
                self.quarantine(member_id, name, None, reason.clone(), None)?;
                self.set_member(
                    member_id,
                    Some(bytes),
                    Some(sha256),
                    "quarantined",
                    None,
                    Some(&reason),
                    0,
                )
            }
        }
    }

    fn quarantine(
        &mut self,
        member_id: i64,
        member: &str,
        line: Option<u64>,
        reason: String,
        raw: Option<String>,
    ) -> Result<()> {
        self.insert_quarantine.execute(params![
            self.export_id,
            member_id,
            line.map(|l| l as i64),
            reason,
            raw
        ])?;
        self.report.quarantined_total += 1;
        if self.report.quarantined.len() < MAX_LISTED_QUARANTINE {
            self.report.quarantined.push(QuarantineItem {
                file: self.file_path.clone(),
                member: member.to_owned(),
                line,
                reason,
            });
        }
        Ok(())
    }

    fn conversation_id(&mut self, identifier: &str) -> Result<i64> {
        if let Some((ident, id)) = &self.last_conversation {
            if ident == identifier {
                return Ok(*id);
            }
        }
        let id = if self
            .insert_conversation
            .execute(params![identifier, self.export_id])?
            == 1
        {
            self.report.conversations_new += 1;
            self.tx.last_insert_rowid()
        } else {
            self.find_conversation
                .query_row([identifier], |r| r.get(0))?
        };
        self.last_conversation = Some((identifier.to_owned(), id));
        Ok(id)
    }

    fn entry(&mut self, member_id: i64, line: Option<u64>, e: Entry) -> Result<()> {
        self.report.entries_read += 1;
        let conversation_id = self.conversation_id(&e.conversation)?;
        let mut max_version = 0i64;
        let mut same: Option<(i64, i64)> = None;
        {
            let mut rows = self.find_versions.query([&e.identifier])?;
            while let Some(row) = rows.next()? {
                let version: i64 = row.get(1)?;
                max_version = max_version.max(version);
                let hash: String = row.get(2)?;
                if hash == e.content_hash {
                    same = Some((row.get(0)?, row.get(3)?));
                }
            }
        }
        let line = line.map(|l| l as i64);
        if let Some((entry_id, first_export)) = same {
            self.report.entries_unchanged += 1;
            if first_export != self.export_id {
                self.insert_sighting
                    .execute(params![entry_id, self.export_id, member_id, line])?;
            }
            return Ok(());
        }
        if max_version == 0 {
            self.report.entries_new += 1;
        } else {
            self.report.entries_changed += 1;
        }
        let related = serde_json::to_string(&e.related_records).unwrap_or_else(|_| "[]".into());
        self.insert_entry.execute(params![
            e.identifier,
            max_version + 1,
            conversation_id,
            e.entry_type,
            e.entry_type_raw,
            e.is_message,
            e.sender_role,
            e.sender_app_type,
            e.sender_subject,
            e.client_ms,
            e.server_ms,
            related,
            e.payload,
            e.message_text,
            e.text,
            e.content_hash,
            self.export_id,
            member_id,
            line,
        ])?;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let r = &self.report;
        self.tx.execute(
            "UPDATE exports SET entries_read = ?2, entries_new = ?3, entries_unchanged = ?4,
                entries_changed = ?5, conversations_new = ?6, quarantined = ?7 WHERE id = ?1",
            params![
                self.export_id,
                r.entries_read as i64,
                r.entries_new as i64,
                r.entries_unchanged as i64,
                r.entries_changed as i64,
                r.conversations_new as i64,
                r.quarantined_total as i64
            ],
        )?;
        Ok(())
    }
}

/// Hands a member's rows to the writer, tagged with the member.
struct MemberSink<'w, 't, 'r> {
    writer: &'w mut Writer<'t, 'r>,
    member_id: i64,
    member: &'w str,
}

impl RowSink for MemberSink<'_, '_, '_> {
    fn entry(&mut self, line: Option<u64>, entry: Entry) -> Result<()> {
        self.writer.entry(self.member_id, line, entry)
    }

    fn quarantine_row(
        &mut self,
        line: Option<u64>,
        reason: String,
        raw: Option<String>,
    ) -> Result<()> {
        self.writer
            .quarantine(self.member_id, self.member, line, reason, raw)
    }
}
