//! The writing half of an ingest: turns the reader's [`Event`]s into rows
//! of one export inside the ingest transaction, and counts what it did.
//!
//! Versioning rule (docs/archive-format.md): an entry whose identifier is
//! new is version 1; one whose identifier exists with the same content hash
//! is unchanged; one with a different hash becomes the next version beside
//! the old ones. Whatever the case, the version the export contained goes
//! into the export's sightings bitmap ([`Seen`]), stored once at the end.
//! A new version gets the next `seq` and an id keyed by its time
//! ([`rekey`]). Nothing is ever updated in place but the member and export
//! summaries.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};

use rusqlite::{Statement, Transaction, params};

use super::read::{Event, Row};
use super::{MAX_LISTED_QUARANTINE, QuarantineItem, Report};
use crate::archive::in_place::InPlace;
use crate::archive::rekey;
use crate::archive::sightings::Seen;
use crate::entry::{Entry, RowHash};
use crate::error::{Error, Result};
use crate::source::MemberOutcome;
use crate::source::records::ObjectRecord;

/// Writes one export's rows inside the ingest transaction.
pub(super) struct Writer<'t, 'r> {
    tx: &'t Transaction<'t>,
    export_id: i64,
    report: &'r mut Report,
    /// `files.id` and path of each input being read, by the reader's index.
    files: Vec<(i64, String)>,
    file: Option<usize>,
    member: Option<(i64, String)>,
    /// Binds the entry's texts in place (`archive::in_place`): the
    /// writer's hottest statement.
    insert_entry: InPlace<'t>,
    find_versions: Statement<'t>,
    insert_related: Statement<'t>,
    insert_row_hash: Statement<'t>,
    insert_conversation: Statement<'t>,
    find_conversation: Statement<'t>,
    insert_quarantine: Statement<'t>,
    insert_record: Statement<'t>,
    /// The last conversation looked up: entries come grouped by
    /// conversation, so one slot saves most look-ups without growing.
    last_conversation: Option<(String, i64)>,
    /// The last `Conversation` record Id resolved, and its identifier.
    last_resolved: Option<(String, String)>,
    /// Entries waiting for a `Conversation` record to name their
    /// conversation.
    pending: Pending,
    /// The `seq` the next stored version gets.
    next_seq: i64,
    /// The id the next stored version gets, by its time.
    keys: rekey::TimeKeys,
    /// The versions and conversations this export contained.
    seen: Seen,
    /// The last related record indexed for a conversation: a
    /// conversation's entries mostly name the same session.
    last_related: Option<(String, i64)>,
}

impl<'t, 'r> Writer<'t, 'r> {
    pub(super) fn new(
        tx: &'t Transaction<'t>,
        export_id: i64,
        files: Vec<(i64, String)>,
        report: &'r mut Report,
    ) -> Result<Self> {
        Ok(Writer {
            tx,
            export_id,
            report,
            files,
            file: None,
            member: None,
            insert_entry: InPlace::prepare(
                tx,
                "INSERT INTO entries (identifier, version, conversation_id, entry_type, entry_type_raw,
                    is_message, sender_role, sender_app_type, sender_subject, client_ms, server_ms,
                    related_records, payload, message_text, text, content_hash, export_id, member_id, line,
                    id, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                    ?20, ?21)
                 ON CONFLICT (conversation_id, identifier, version) DO NOTHING",
            )?,
            find_versions: tx.prepare(
                "SELECT id, version, content_hash, seq, text FROM entries
                 WHERE conversation_id = ?1 AND identifier = ?2",
            )?,
            insert_row_hash: tx.prepare(
                "INSERT INTO row_hashes (conversation_id, row_hash, seq) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?,
            insert_related: tx.prepare(
                "INSERT INTO entry_related (record_id, conversation_id) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )?,
            // The id is given: SQLite's own choice (the largest plus one)
            // would give a removed conversation's number, which the
            // sightings bitmaps still hold, to a new one.
            insert_conversation: tx.prepare(
                "INSERT INTO conversations (id, identifier, first_export_id)
                 VALUES (max((SELECT coalesce(max(id), 0) FROM conversations),
                             (SELECT coalesce(max(conversation_id), 0) FROM disposed_conversations)) + 1,
                         ?1, ?2)
                 ON CONFLICT (identifier) DO NOTHING",
            )?,
            find_conversation: tx.prepare("SELECT id FROM conversations WHERE identifier = ?1")?,
            insert_quarantine: tx.prepare(
                "INSERT INTO quarantine (export_id, member_id, line, reason, raw)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?,
            insert_record: tx.prepare(
                "INSERT INTO records (object, record_id, conversation_ref, conversation_identifier,
                    fields, content_hash, export_id, member_id, line, mapped)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (object, record_id, content_hash) DO NOTHING",
            )?,
            last_conversation: None,
            last_resolved: None,
            pending: Pending::default(),
            next_seq: crate::archive::next_seq(tx)?,
            keys: rekey::TimeKeys::new(tx)?,
            seen: Seen::default(),
            last_related: None,
        })
    }

    /// Applies one event from the reader.
    pub(super) fn apply(&mut self, event: Event) -> Result<()> {
        match event {
            Event::File(index) => {
                self.file = Some(index);
                Ok(())
            }
            Event::MemberStart {
                name,
                crc32,
                modified_ms,
            } => self.start_member(name, crc32, modified_ms),
            Event::Later(rows, held) => {
                let rows = rows
                    .recv()
                    .map_err(|_| Error::Internal("a row worker stopped unexpectedly"))??;
                let applied = self.apply(Event::Rows(rows));
                // Their room is given back only now that they are gone.
                drop(held);
                applied
            }
            Event::Rows(rows) => {
                for row in rows {
                    match row {
                        Row::Entry {
                            line,
                            entry,
                            related_json,
                            row_hash,
                        } => {
                            let member_id = self.member_id()?;
                            self.entry(member_id, line, *entry, &related_json, row_hash)?
                        }
                        Row::Seen {
                            seq,
                            conversation_id,
                        } => {
                            self.report.entries_read += 1;
                            self.report.entries_unchanged += 1;
                            self.seen.add(seq, conversation_id)?
                        }
                        Row::Quarantined { line, reason, raw } => {
                            self.quarantine(line, reason, raw)?
                        }
                        Row::Record { line, record } => self.record(line, &record)?,
                    }
                }
                Ok(())
            }
            Event::MemberEnd {
                bytes,
                sha256,
                outcome,
            } => self.end_member(bytes, &sha256, outcome),
            Event::MemberUnreadable { reason } => {
                self.report.members_read += 1;
                self.quarantine(None, reason.clone(), None)?;
                self.set_member(None, None, "quarantined", None, Some(&reason), 0)
            }
            Event::Directory => self.set_member(Some(0), None, "directory", None, None, 0),
            Event::Member(events) => {
                for event in events {
                    self.apply(event?)?;
                }
                Ok(())
            }
        }
    }

    fn file_path(&self) -> String {
        self.file
            .and_then(|i| self.files.get(i))
            .map(|f| f.1.clone())
            .unwrap_or_default()
    }

    fn start_member(
        &mut self,
        name: String,
        crc32: Option<u32>,
        modified_ms: Option<i64>,
    ) -> Result<()> {
        let file_id = self
            .file
            .and_then(|i| self.files.get(i))
            .map(|f| f.0)
            .ok_or(Error::Internal("a member arrived before its file"))?;
        self.tx.execute(
            "INSERT INTO members (file_id, name, crc32, status, modified_ms)
             VALUES (?1, ?2, ?3, 'read', ?4)",
            params![file_id, name, crc32, modified_ms],
        )?;
        self.member = Some((self.tx.last_insert_rowid(), name));
        Ok(())
    }

    fn member_id(&self) -> Result<i64> {
        self.member
            .as_ref()
            .map(|m| m.0)
            .ok_or(Error::Internal("a row arrived outside a member"))
    }

    fn set_member(
        &mut self,
        bytes: Option<u64>,
        sha256: Option<&str>,
        status: &str,
        shape: Option<&str>,
        reason: Option<&str>,
        rows: u64,
    ) -> Result<()> {
        self.tx.execute(
            "UPDATE members SET bytes = ?2, sha256 = ?3, status = ?4, shape = ?5, reason = ?6, rows = ?7
             WHERE id = ?1",
            params![
                self.member_id()?,
                bytes.map(|b| b as i64),
                sha256,
                status,
                shape,
                reason,
                rows as i64
            ],
        )?;
        Ok(())
    }

    fn end_member(&mut self, bytes: u64, sha256: &str, outcome: MemberOutcome) -> Result<()> {
        self.report.members_read += 1;
        match outcome {
            MemberOutcome::Read { shape, rows } => {
                self.set_member(Some(bytes), Some(sha256), "read", Some(&shape), None, rows)
            }
            MemberOutcome::Quarantined { reason } => {
                self.quarantine(None, reason.clone(), None)?;
                self.set_member(
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

    fn quarantine(&mut self, line: Option<u64>, reason: String, raw: Option<String>) -> Result<()> {
        let member_id = self.member_id()?;
        self.insert_quarantine.execute(params![
            self.export_id,
            member_id,
            line.map(|l| l as i64),
            reason,
            raw
        ])?;
        self.report.quarantined_total += 1;
        if self.report.quarantined.len() < MAX_LISTED_QUARANTINE {
            let file = self.file_path();
            let member = self
                .member
                .as_ref()
                .map(|m| m.1.clone())
                .unwrap_or_default();
            self.report.quarantined.push(QuarantineItem {
                file,
                member,
                line,
                reason,
            });
        }
        Ok(())
    }

    fn conversation_id(&mut self, identifier: &str) -> Result<i64> {
        if let Some((ident, id)) = &self.last_conversation
            && ident == identifier
        {
            return Ok(*id);
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

    /// Stores entry `e` read at `line` of member `member_id`. One named by
    /// a `Conversation` record's Id is filed under the identifier that
    /// record gives; while no record gives one, it waits (in a temporary
    /// file) for the rest of the export ([`Writer::resolve_pending`]).
    fn entry(
        &mut self,
        member_id: i64,
        line: Option<u64>,
        e: Entry,
        related: &str,
        row_hash: Option<RowHash>,
    ) -> Result<()> {
        let e = if e.conversation_is_record {
            match self.resolve(&e.conversation)? {
                Some(identifier) => e.with_conversation(&identifier),
                None => return self.pending.push(member_id, line, &e, related),
            }
        } else {
            e
        };
        let stored = self.store_entry(member_id, line, &e, related)?;
        // Known next time: only a version decided by this row's own hash.
        if let (Some(hash), Some((seq, conversation_id))) = (row_hash, stored) {
            self.insert_row_hash
                .execute(params![conversation_id, &hash[..], seq])?;
        }
        Ok(())
    }

    /// The conversation identifier `Conversation` record `record_id`
    /// gives, if any record in the archive (this export's included) does.
    fn resolve(&mut self, record_id: &str) -> Result<Option<String>> {
        if let Some((id, ident)) = &self.last_resolved
            && id == record_id
        {
            return Ok(Some(ident.clone()));
        }
        let found = crate::archive::conversation_of_record(self.tx, record_id)?;
        if let Some(ident) = &found {
            self.last_resolved = Some((record_id.to_owned(), ident.clone()));
        }
        Ok(found)
    }

    /// Files the entries that waited for their conversation, now that every
    /// record of the export is in. One that no record resolves is kept
    /// under the record Id it names, and the report says so.
    pub(super) fn resolve_pending(&mut self) -> Result<()> {
        let mut unresolved: Vec<String> = Vec::new();
        let mut count = 0u64;
        for item in self.pending.drain()? {
            let (member_id, line, mut e, related) = item?;
            match self.resolve(&e.conversation)? {
                Some(identifier) => e = e.with_conversation(&identifier),
                None => {
                    count += 1;
                    if !unresolved.contains(&e.conversation) && unresolved.len() < 3 {
                        unresolved.push(e.conversation.clone());
                    }
                }
            }
            self.store_entry(member_id, line, &e, &related)?;
        }
        if count > 0 {
            self.report.warnings.push(format!(
                "{count} entries name their conversation by a Conversation record Id that no Conversation record in the archive maps to a conversation identifier ({}); they are filed under that Id. Ingest the Conversation DMO or the Data Export Service's Conversation.csv with them to join them to their conversation",
                unresolved.join(", ")
            ));
        }
        Ok(())
    }

    fn store_entry(
        &mut self,
        member_id: i64,
        line: Option<u64>,
        e: &Entry,
        related: &str,
    ) -> Result<Option<(i64, i64)>> {
        self.report.entries_read += 1;
        if let Some(t) = e.server_ms.or(e.client_ms) {
            self.report.newest_entry_ms = Some(self.report.newest_entry_ms.map_or(t, |n| n.max(t)));
        }
        let conversation_id = self.conversation_id(&e.conversation)?;
        let line = line.map(|l| l as i64);
        // A new identifier (most rows that reach the writer: the reader
        // skipped the known ones) costs one statement, the insert of
        // version 1, which the unique index makes a no-op when the
        // identifier is already archived.
        if let Some(seq) = self.insert_version(e, related, 1, conversation_id, member_id, line)? {
            self.report.entries_new += 1;
            return Ok(Some((seq, conversation_id)));
        }
        let mut max_version = 0i64;
        // The version this entry is (exact hash, or a text-only view), and
        // the others, as (id, seq); whether `same` is its own hash.
        let mut same: Option<i64> = None;
        let mut exact = false;
        let mut others: Vec<(i64, i64)> = Vec::new();
        // Stored versions with this entry's text: a new version repeats
        // them (archive::schema, migration 9).
        let mut same_text: Vec<i64> = Vec::new();
        {
            let mut rows = self
                .find_versions
                .query(params![conversation_id, &e.identifier])?;
            while let Some(row) = rows.next()? {
                let version: i64 = row.get(1)?;
                max_version = max_version.max(version);
                let hash: String = row.get(2)?;
                let (id, seq): (i64, i64) = (row.get(0)?, row.get(3)?);
                let text: Option<String> = row.get(4)?;
                if text == e.text {
                    same_text.push(id);
                }
                if hash == e.content_hash {
                    same = Some(seq);
                    exact = true;
                } else if same.is_none() && e.is_text_view_of(text.as_deref()) {
                    same = Some(seq);
                } else {
                    others.push((id, seq));
                }
            }
        }
        // A source with fewer columns sees the same entry: no new version.
        if same.is_none() {
            for (id, seq) in others {
                if crate::archive::stored_entry(self.tx, id)?
                    .is_some_and(|stored| e.is_narrower_view_of(&stored))
                {
                    same = Some(seq);
                    break;
                }
            }
        }
        if let Some(seq) = same {
            self.report.entries_unchanged += 1;
            self.seen.add(seq, conversation_id)?;
            return Ok(exact.then_some((seq, conversation_id)));
        }
        self.report.entries_changed += 1;
        // Only a concurrent writer could have taken this version, and the
        // transaction holds the write lock: never silently drop it.
        let seq = self
            .insert_version(
                e,
                related,
                max_version + 1,
                conversation_id,
                member_id,
                line,
            )?
            .ok_or(Error::Internal("a new entry version was already taken"))?;
        // Earlier versions whose text this one repeats are searched as
        // one hit, at this version (archive::schema, migration 9). Known
        // from the versions just read: an edit, the usual change, costs
        // no statement here.
        for id in same_text {
            self.tx
                .prepare_cached("INSERT OR IGNORE INTO entry_repeats (entry_id) VALUES (?1)")?
                .execute([id])?;
        }
        Ok(Some((seq, conversation_id)))
    }

    /// Stores a Data Export Service row; the same row (same content) seen
    /// again in a later export is not stored twice.
    fn record(&mut self, line: Option<u64>, r: &ObjectRecord) -> Result<()> {
        self.report.records_read += 1;
        let member_id = self.member_id()?;
        let n = self.insert_record.execute(params![
            r.object,
            r.record_id,
            r.conversation_ref,
            r.conversation_identifier,
            r.fields,
            r.content_hash,
            self.export_id,
            member_id,
            line.map(|l| l as i64),
            r.mapped,
        ])?;
        self.report.records_new += n as u64;
        Ok(())
    }

    /// Inserts `e` as `version`, with the next `seq` and an id keyed by
    /// its time, and indexes its related records; its `seq`, or `None`
    /// when that version already exists.
    #[allow(clippy::too_many_arguments)]
    fn insert_version(
        &mut self,
        e: &Entry,
        related: &str,
        version: i64,
        conversation_id: i64,
        member_id: i64,
        line: Option<i64>,
    ) -> Result<Option<i64>> {
        let id = self.keys.next(self.tx, e.server_ms.or(e.client_ms))?;
        let seq = self.next_seq;
        let inserted = self.insert_entry.execute(&[
            (&e.identifier).into(),
            version.into(),
            conversation_id.into(),
            (&e.entry_type).into(),
            (&e.entry_type_raw).into(),
            e.is_message.into(),
            (&e.sender_role).into(),
            (&e.sender_app_type).into(),
            (&e.sender_subject).into(),
            e.client_ms.into(),
            e.server_ms.into(),
            related.into(),
            (&e.payload).into(),
            (&e.message_text).into(),
            (&e.text).into(),
            (&e.content_hash).into(),
            self.export_id.into(),
            member_id.into(),
            line.into(),
            id.into(),
            seq.into(),
        ])?;
        if inserted == 0 {
            return Ok(None);
        }
        self.next_seq += 1;
        self.keys.stored(id);
        self.seen.add(seq, conversation_id)?;
        for record in &e.related_records {
            if self
                .last_related
                .as_ref()
                .is_some_and(|(r, c)| r == record && *c == conversation_id)
            {
                continue;
            }
            self.insert_related
                .execute(params![record, conversation_id])?;
            self.last_related = Some((record.clone(), conversation_id));
        }
        Ok(Some(seq))
    }

    /// Records the export's counts and what it contained.
    pub(super) fn finish(&mut self) -> Result<()> {
        self.seen.store(self.tx, self.export_id)?;
        let r = &self.report;
        self.tx.execute(
            "UPDATE exports SET entries_read = ?2, entries_new = ?3, entries_unchanged = ?4,
                entries_changed = ?5, conversations_new = ?6, quarantined = ?7,
                records_read = ?8, records_new = ?9 WHERE id = ?1",
            params![
                self.export_id,
                r.entries_read as i64,
                r.entries_new as i64,
                r.entries_unchanged as i64,
                r.entries_changed as i64,
                r.conversations_new as i64,
                r.quarantined_total as i64,
                r.records_read as i64,
                r.records_new as i64
            ],
        )?;
        Ok(())
    }
}

/// Entries waiting for their conversation, one JSON value per line in a
/// temporary file: an export's worth of them never sits in memory.
#[derive(Default)]
struct Pending {
    file: Option<BufWriter<File>>,
}

type PendingItem = (i64, Option<u64>, Entry, String);

fn spool_error(e: impl std::fmt::Display) -> Error {
    Error::io(
        std::env::temp_dir(),
        std::io::Error::other(format!(
            "the temporary file of entries waiting for their conversation: {e}"
        )),
    )
}

impl Pending {
    fn push(&mut self, member_id: i64, line: Option<u64>, e: &Entry, related: &str) -> Result<()> {
        if self.file.is_none() {
            let f = tempfile::tempfile().map_err(spool_error)?;
            self.file = Some(BufWriter::new(f));
        }
        if let Some(w) = self.file.as_mut() {
            serde_json::to_writer(&mut *w, &(member_id, line, e, related)).map_err(spool_error)?;
            w.write_all(b"\n").map_err(spool_error)?;
        }
        Ok(())
    }

    /// Everything pushed, in order; the file is gone afterwards.
    fn drain(&mut self) -> Result<impl Iterator<Item = Result<PendingItem>> + use<>> {
        let file = match self.file.take() {
            Some(w) => {
                let mut f = w.into_inner().map_err(|e| spool_error(e.error()))?;
                f.seek(SeekFrom::Start(0)).map_err(spool_error)?;
                Some(BufReader::new(f))
            }
            None => None,
        };
        Ok(file.into_iter().flat_map(|r| r.lines()).map(|line| {
            let line = line.map_err(spool_error)?;
            serde_json::from_str::<PendingItem>(&line).map_err(spool_error)
        }))
    }
}
