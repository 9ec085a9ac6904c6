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

mod known;
mod read;
mod write;

use std::fs::File;
use std::path::PathBuf;
use std::sync::mpsc;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;

use crate::archive::{Archive, db, objects::Staged, timeline};
use crate::error::{Error, Result};
use crate::hashing::HashingReader;
use crate::profile::{LoadedFile, Profiles};
use crate::progress::{ProgressReader, bytes_bar};
use crate::source::{self, Container};
use crate::{cadence, clock, export, ledger};

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
    /// Who is ingesting, for the ledger.
    pub who: String,
    /// The time the ledger records.
    pub now: jiff::Timestamp,
    /// Profile files given with `--profile`, tried before the built-in
    /// profiles and kept in the archive with the export.
    pub profiles: Vec<LoadedFile>,
    /// Set by `fetch`: the pages are an export of kind [`API_KIND`], read
    /// through Salesforce's APIs, and this (the conversations fetched, the
    /// activations spent) goes into its ledger record as `fetch`. Such an
    /// export is outside the cadence rule.
    pub fetch: Option<serde_json::Value>,
    /// When the export was generated, as the user says (`--generated`):
    /// instead of its files' own times.
    pub generated: Option<jiff::Timestamp>,
}

/// The kind of an export `fetch` read through the APIs.
pub const API_KIND: &str = "api";

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
    /// This ingest created the archive (its directory and database).
    pub created_archive: bool,
    pub members_read: u64,
    pub entries_read: u64,
    pub entries_new: u64,
    pub entries_unchanged: u64,
    pub entries_changed: u64,
    pub conversations_new: u64,
    /// Data Export Service rows read, and those not archived before.
    pub records_read: u64,
    pub records_new: u64,
    /// For a complete export (the transcript export holds all of
    /// history): the previous export of the same kind, and the entries and
    /// conversations it held that this one does not (deleted at the
    /// source). `null` for other exports and for the first of a kind.
    pub compared_with_export: Option<i64>,
    pub entries_missing: Option<u64>,
    pub conversations_missing: Option<u64>,
    pub quarantined_total: u64,
    /// The first [`MAX_LISTED_QUARANTINE`] quarantined items.
    pub quarantined: Vec<QuarantineItem>,
    /// Which kind of export this was (`transcripts`, `data-export`), if
    /// recognised.
    pub export_kind: Option<String>,
    /// When the export was generated, by its own timestamps (RFC 3339).
    pub generated_at: Option<String>,
    /// The ledger record of this ingest (`null` for a dry run or when
    /// nothing was new).
    pub ledger_record: Option<i64>,
    /// Things the user should know: a stale lock cleared, an export
    /// generated sooner than the interval allows, a clock gone backwards.
    pub warnings: Vec<String>,
    /// The export of the same kind generated next after this one, when
    /// this one is older than an export already archived (ingested as
    /// history).
    pub generated_before_export: Option<i64>,
    /// That later export compared again, with this one as its previous.
    pub recompared: Option<Recompared>,
    /// Entries whose versions were renumbered in time order because this
    /// export carried an older version than one already archived.
    pub versions_reordered: u64,
    /// The newest entry time read (for the generation time fallback).
    #[serde(skip)]
    pub newest_entry_ms: Option<i64>,
}

/// A later export compared again with an older one ingested after it.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Recompared {
    pub export_id: i64,
    pub compared_with_export: i64,
    pub entries_missing: u64,
    pub conversations_missing: u64,
}

/// Ingests the export made of `paths` into `archive`.
///
/// A real ingest holds the archive's writer lock throughout. A first ingest
/// creates the archive; if it fails, the directory it created is removed
/// again, so a rejected export leaves nothing behind.
pub fn ingest(archive: &Archive, paths: &[PathBuf], opts: &Options) -> Result<Report> {
    // Checked before anything is created: a bad profile leaves no trace.
    profiles_of(&opts.profiles)?;
    if opts.dry_run {
        // A dry run writes nothing, so it is a reader: no lock.
        let (inputs, containers, skipped) = inspect(paths)?;
        return ingest_into(archive, &inputs, &containers, opts, skipped);
    }
    let (inputs, containers, skipped) = inspect(paths)?;
    let fresh = !archive.root().exists();
    let new_archive = !archive.exists();
    let result = (|| {
        // The writer session: the lock, and whatever a killed run left
        // finished or undone before this export is read (writer::Session).
        let mut warnings = skipped;
        let lock =
            crate::writer::Session::begin_ingest(archive, &opts.who, opts.now, &mut warnings)?;
        let mut report = ingest_into(archive, &inputs, &containers, opts, warnings)?;
        report.created_archive = new_archive && archive.exists();
        // What a removal took must not come back with a later export. The
        // export is committed by now: a failure here is not the ingest's
        // (and must never remove a new archive), it is left to the next
        // writer, and `verify` warns meanwhile.
        let reapplied = archive.open_for_write().and_then(|mut conn| {
            crate::retention::remove::reapply(
                archive,
                &mut conn,
                &opts.who,
                opts.now,
                opts.progress,
            )
        });
        match reapplied {
            Ok((_, messages)) => report.warnings.extend(messages),
            Err(e) => report.warnings.push(format!(
                "the export was ingested, but removing again the conversations it brought back failed ({e}); the next ingest, `dispose --execute` or `erase --execute` tries again"
            )),
        }
        drop(lock);
        Ok(report)
    })();
    if result.is_err() && fresh {
        // Everything under a directory this run created is this run's own.
        let _ = std::fs::remove_dir_all(archive.root());
    }
    // Stopped by a signal: whatever the read failed with, that is why
    // (a committed ingest stays a success; exports committed before this
    // one were reported as they were).
    match result {
        Err(_) if crate::interrupt::requested() => Err(Error::Interrupted {
            removed: fresh.then(|| archive.root().to_owned()),
        }),
        other => other,
    }
}

/// Inputs generated within this much of each other are parts of one
/// export (a multi-part Data Export is made in one run); further apart,
/// separate exports. Salesforce allows one export of a kind per 7 days.
pub const ONE_EXPORT_WITHIN: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

/// Ingests `paths`, which may hold several exports: each path given is
/// placed by its own generation time (a directory as a whole, by its
/// newest file), and paths generated more than [`ONE_EXPORT_WITHIN`] apart
/// are separate exports, ingested one after another in time order, each
/// its own transaction and ledger record (a `~/Downloads/*.zip` backfill).
/// `--generated` or a fetch makes them one export. `done` is given each
/// export's report as it is committed, so that what was ingested before a
/// later failure is still told.
pub fn ingest_each(
    archive: &Archive,
    paths: &[PathBuf],
    opts: &Options,
    done: &mut dyn FnMut(Report),
) -> Result<()> {
    for group in exports_of(paths, opts)? {
        done(ingest(archive, &group, opts)?);
    }
    Ok(())
}

/// The paths given, split into exports by generation time, oldest first.
fn exports_of(paths: &[PathBuf], opts: &Options) -> Result<Vec<Vec<PathBuf>>> {
    if paths.len() < 2 || opts.generated.is_some() || opts.fetch.is_some() {
        return Ok(vec![paths.to_vec()]);
    }
    let mut timed: Vec<(i64, usize)> = Vec::new();
    let mut untimed: Vec<usize> = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let mut newest = None;
        for file in source::collect_inputs(std::slice::from_ref(path))?.files {
            let container = source::sniff_container(&file)?;
            newest = newest.max(source::file_time(&file, container)?);
        }
        match newest {
            Some(t) => timed.push((t, i)),
            None => untimed.push(i),
        }
    }
    timed.sort_by_key(|(t, _)| *t);
    let mut groups: Vec<(i64, Vec<usize>)> = Vec::new();
    for (t, path) in timed {
        match groups.last_mut() {
            Some((last, group)) if t - *last <= ONE_EXPORT_WITHIN.as_millis() as i64 => {
                *last = t;
                group.push(path);
            }
            _ => groups.push((t, vec![path])),
        }
    }
    if groups.len() > 1 && !untimed.is_empty() {
        return Err(Error::Indistinct(format!(
            "the paths given hold {} exports generated at different times, and {} carries no time of its own, so it cannot be told which export it belongs to; nothing was ingested. Ingest it on its own, with --generated TIME if its time is known",
            groups.len(),
            untimed
                .iter()
                .map(
                    |&i| crate::sanitize::for_terminal(&paths[i].display().to_string())
                        .into_owned()
                )
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut out: Vec<Vec<usize>> = groups.into_iter().map(|(_, g)| g).collect();
    match out.first_mut() {
        Some(first) => first.extend(untimed),
        None => out.push(untimed),
    }
    // The parts of one export keep the order they were given in.
    Ok(out
        .into_iter()
        .map(|mut group| {
            group.sort_unstable();
            group.into_iter().map(|i| paths[i].clone()).collect()
        })
        .collect())
}

/// The profiles an ingest reads with: the given files' (in order), then
/// the built-in ones.
fn profiles_of(files: &[LoadedFile]) -> Result<Profiles> {
    let mut given = Vec::new();
    for f in files {
        given.extend(f.profiles.iter().cloned());
        Profiles::with(given.clone()).map_err(|reason| Error::Profile {
            path: f.path.clone(),
            reason,
        })?;
    }
    Profiles::with(given).map_err(Error::Usage)
}

/// The input files `paths` name, and what each is: checked before anything
/// is created, so a bad path leaves no trace.
fn inspect(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<Container>, Vec<String>)> {
    let inputs = source::collect_inputs(paths)?;
    let containers = inputs
        .files
        .iter()
        .map(|path| source::sniff_container(path))
        .collect::<Result<_>>()?;
    // What a directory walk passed over is told, with the export's other
    // warnings.
    let skipped = inputs
        .skipped
        .into_iter()
        .map(|s| format!("skipped {s}"))
        .collect();
    Ok((inputs.files, containers, skipped))
}

fn ingest_into(
    archive: &Archive,
    inputs: &[PathBuf],
    containers: &[Container],
    opts: &Options,
    warnings: Vec<String>,
) -> Result<Report> {
    // Open before copying anything: a too-new archive fails fast. A dry run
    // never creates or migrates an archive: on a new one it rehearses in
    // memory, on an existing one inside a transaction it rolls back. A new
    // archive's database is built under another name and takes its own
    // when complete (`db::Mode::Build`); the writer lock is held, so no
    // other writer can create it meanwhile.
    let exists = archive.exists();
    let building = (!opts.dry_run && !exists).then(|| Building(archive.building_path()));
    let mut conn = match (opts.dry_run, exists) {
        (true, false) => db::open_in_memory()?,
        (true, true) => archive.open_for_rehearsal()?,
        (false, false) => archive.open_for_build()?,
        (false, true) => archive.open_for_write()?,
    };
    let staged = stage(archive, inputs, containers, opts)?;
    let mut report = Report {
        dry_run: opts.dry_run,
        warnings,
        ..Report::default()
    };
    let new_inputs = select_new(&conn, &staged.inputs, &mut report)?;
    if new_inputs.is_empty() {
        report.already_ingested = true;
        report.export_id = report.files.iter().find_map(|f| f.already_in_export);
        return Ok(report);
    }

    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // A new archive (built, or rehearsed in memory) has nothing to look up.
    let db_path = exists.then(|| archive.db_path());
    let export_id = write_export(&tx, &new_inputs, &mut report, opts, db_path.as_deref())?;
    refuse_unrecognised(&tx, export_id, &report, opts.fetch.is_some())?;
    record(&tx, export_id, &mut report, opts)?;
    if opts.dry_run {
        report.ledger_record = None;
        tx.rollback()?;
        return Ok(report);
    }
    report.export_id = Some(export_id);
    match &building {
        None => commit(archive, &new_inputs, || Ok(tx.commit()?))?,
        Some(building) => {
            // Written and synced under the building name first, so that
            // the stored copies take their names just before the database
            // takes its own, as they do just before a commit otherwise.
            tx.commit()?;
            db::sync(&building.0)?;
            commit(archive, &new_inputs, || {
                db::finish_build(conn, &building.0, &archive.db_path())
            })?;
            // After the rename: the export is committed whatever happens
            // here, so its objects stay.
            db::sync(archive.root())?;
        }
    }
    Ok(report)
}

/// A new archive's database being built: deleted if the ingest ends
/// without renaming it into place (after the rename there is nothing
/// left to delete).
struct Building(PathBuf);

impl Drop for Building {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Copies every input into the store's staging area, hashing it on the way
/// (a dry run only hashes it).
fn stage(
    archive: &Archive,
    inputs: &[PathBuf],
    containers: &[Container],
    opts: &Options,
) -> Result<StagedFiles> {
    let mut total = 0u64;
    for path in inputs {
        total += std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
    }
    let mut staged = StagedFiles::default();
    let bar = bytes_bar(
        total,
        if opts.dry_run { "hashing" } else { "storing" },
        opts.progress,
    );
    let mut base = 0;
    for (path, container) in inputs.iter().zip(containers) {
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
    Ok(staged)
}

/// Lists every input in the report and returns those not archived yet
/// (each file once, however often it was given).
fn select_new<'i>(
    conn: &rusqlite::Connection,
    inputs: &'i [Input],
    report: &mut Report,
) -> Result<Vec<&'i Input>> {
    let mut new_inputs: Vec<&Input> = Vec::new();
    for input in inputs {
        let earlier = conn
            .query_row(
                "SELECT export_id FROM files WHERE sha256 = ?1",
                [&input.sha256],
                |r| r.get::<_, i64>(0),
            )
            .optional()?;
        // An original a removal replaced was ingested: taking it again
        // would bring back what was removed.
        let replaced = match earlier {
            Some(_) => None,
            None => conn
                .query_row(
                    "SELECT d.export_id, x.ledger_seq FROM derivatives d
                     JOIN disposals x ON x.id = d.disposal_id
                     WHERE d.old_sha256 = ?1 ORDER BY d.id LIMIT 1",
                    [&input.sha256],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                )
                .optional()?,
        };
        if let Some((export, record)) = replaced {
            report.warnings.push(format!(
                "{} was ingested as part of export {export}, then replaced by a derivative without the conversations removed by ledger record {record}: it is not ingested again",
                crate::sanitize::for_terminal(&input.path.display().to_string())
            ));
        }
        let earlier = earlier.or(replaced.map(|(export, _)| export));
        let repeated = new_inputs.iter().any(|i| i.sha256 == input.sha256);
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
    Ok(new_inputs)
}

/// Writes the export, its files and everything read from them, and indexes
/// the new entries, inside `tx`. Returns the export's id.
fn write_export(
    tx: &Transaction<'_>,
    new_inputs: &[&Input],
    report: &mut Report,
    opts: &Options,
    db_path: Option<&std::path::Path>,
) -> Result<i64> {
    let export_id = insert_export(tx, opts.now)?;
    let profiles = profiles_of(&opts.profiles)?;
    keep_profiles(tx, export_id, &opts.profiles)?;
    let first_seq = crate::archive::next_seq(tx)?;
    let mut files = Vec::with_capacity(new_inputs.len());
    for input in new_inputs {
        files.push((
            insert_file(tx, export_id, input)?,
            input.path.display().to_string(),
        ));
    }
    let total: u64 = new_inputs.iter().map(|i| i.bytes).sum();
    let bar = bytes_bar(total, "reading", opts.progress);
    let mut writer = write::Writer::new(tx, export_id, files, report)?;
    // Rows already archived are recognised from the last committed state,
    // by each row worker through its own connection.
    let known = (0..read::row_workers())
        .map(|_| match db_path {
            Some(path) => known::Known::open(path),
            None => Ok(known::Known::nothing()),
        })
        .collect::<Result<Vec<_>>>()?;
    // Reading runs on its own thread; the bounded channel keeps memory
    // flat. If the writer fails, dropping the receiver stops the reader.
    std::thread::scope(|scope| -> Result<()> {
        let (sender, receiver) = mpsc::sync_channel(read::CHANNEL_DEPTH);
        let bar = &bar;
        let profiles = &profiles;
        let reader = scope.spawn(move || read::read_all(new_inputs, profiles, known, bar, &sender));
        for event in receiver {
            writer.apply(event?)?;
        }
        // The channel also closes if the reader panicked: only a reader
        // that finished means the export was read to its end.
        reader
            .join()
            .map_err(|_| Error::Internal("the reader stopped unexpectedly"))
    })?;
    writer.resolve_pending()?;
    writer.finish()?;
    bar.finish_and_clear();
    crate::archive::index_new_entries(tx, first_seq)?;
    Ok(export_id)
}

/// Recognises the export's kind and generation time, checks them against
/// the cadence, and appends the ingest's ledger record inside `tx`.
fn record(tx: &Transaction<'_>, export_id: i64, report: &mut Report, opts: &Options) -> Result<()> {
    let records = ledger::read_all(tx)?;
    let profiles = profiles_of(&opts.profiles)?;
    // Pages `fetch` read are of kind `api`, whatever their shape.
    let kind = match opts.fetch {
        Some(_) => None,
        None => export::recognise_export(tx, export_id, |k| profiles.shapes_of(k))?,
    };
    let generated = match opts.generated {
        Some(at) => Some((at, GIVEN)),
        None => export::generated_at(tx, export_id, report.newest_entry_ms)?,
    };
    if let Some(back) = ledger::clock_went_back(&records, opts.now) {
        report.warnings.push(format!(
            "the clock reads {}, earlier than the newest ledger record ({}): check the system clock; this ingest is recorded with the clock's time",
            clock::rfc3339_ms(opts.now),
            clock::rfc3339_ms(back)
        ));
    }
    if let (Some(kind), Some((at, _))) = (kind, generated)
        && let Some(warning) = cadence::generated_too_soon(&records, kind, at)
    {
        report.warnings.push(warning);
    }
    report.export_kind = match opts.fetch {
        Some(_) => Some(API_KIND.to_owned()),
        None => kind.map(|k| k.as_str().to_owned()),
    };
    report.generated_at = generated.map(|(t, _)| clock::rfc3339_ms(t));
    if let Some((at, _)) = generated
        && at > opts.now
    {
        report.warnings.push(format!(
            "this export says it was generated at {}, later than the clock ({}): either the clock is behind or the file's times are wrong; it is placed by the time it gives, check both",
            clock::rfc3339_ms(at),
            clock::rfc3339_ms(opts.now)
        ));
    }
    // An export's place in time is its generation time, else when it was
    // ingested (archive::timeline).
    let place_ms = generated.map_or(opts.now, |(t, _)| t).as_millisecond();
    tx.execute(
        "UPDATE exports SET kind = ?2, generated_ms = ?3 WHERE id = ?1",
        params![export_id, report.export_kind, place_ms],
    )?;
    place_in_time(tx, export_id, report, opts)?;
    let mut details = serde_json::json!({
        "export_id": export_id,
        "export_kind": report.export_kind,
        "generated_at": report.generated_at,
        "generated_from": generated.map(|(_, from)| from),
        "files": export::export_files_json(tx, export_id)?,
        "members_read": report.members_read,
        "entries_read": report.entries_read,
        "entries_new": report.entries_new,
        "entries_unchanged": report.entries_unchanged,
        "entries_changed": report.entries_changed,
        "conversations_new": report.conversations_new,
        "records_read": report.records_read,
        "records_new": report.records_new,
        "compared_with_export": report.compared_with_export,
        "entries_missing": report.entries_missing,
        "conversations_missing": report.conversations_missing,
        "quarantined": report.quarantined_total,
        "warnings": report.warnings,
    });
    if let Some(fetch) = &opts.fetch {
        details["fetch"] = fetch.clone();
    }
    // Only an export older than one archived says where it went.
    if let Some(next) = report.generated_before_export {
        details["generated_before_export"] = next.into();
        details["recompared"] = serde_json::to_value(report.recompared).unwrap_or_default();
        details["versions_reordered"] = report.versions_reordered.into();
    }
    let rec = ledger::append(
        tx,
        opts.now,
        ledger::kind::EXPORT_INGESTED,
        &opts.who,
        details,
    )?;
    report.ledger_record = Some(rec.seq);
    Ok(())
}

/// Refuses an export of which no member was recognised (every one
/// quarantined, or only a description): the caller's transaction then
/// rolls back, so no export, ledger record or object is left. An export
/// of which anything was read keeps its quarantined members, as always.
fn refuse_unrecognised(
    tx: &Transaction<'_>,
    export_id: i64,
    report: &Report,
    opts_fetch: bool,
) -> Result<()> {
    // Anything read counts; so does a CSV whose header a profile fits,
    // with no rows: an empty export is still one. JSON counts by its
    // entries: any text starting with `[` or `{` is read as JSON, so
    // JSON with none (a TOML file, a broken page) is not recognised.
    // Pages `fetch` read are what the org answered, entries or not.
    let recognised = opts_fetch
        || report.entries_read + report.records_read > 0
        || tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM members m JOIN files f ON f.id = m.file_id
                            WHERE f.export_id = ?1 AND m.status = 'read' AND m.shape NOT IN (?2, ?3, ?4))",
            params![
                export_id,
                source::description::SHAPE,
                source::api_json::SHAPE_LINES,
                source::api_json::SHAPE_PAGE
            ],
            |r| r.get(0),
        )?;
    if recognised {
        return Ok(());
    }
    const LISTED: usize = 5;
    let mut reasons: Vec<String> = report
        .quarantined
        .iter()
        .take(LISTED)
        .map(|q| {
            // A plain file is its own member: named once.
            let at = if q.file.ends_with(&q.member) {
                q.file.clone()
            } else {
                format!("{}: {}", q.file, q.member)
            };
            let line = q.line.map(|l| format!(" line {l}")).unwrap_or_default();
            crate::sanitize::for_terminal(&format!("{at}{line}: {}", q.reason)).into_owned()
        })
        .collect();
    if report.quarantined_total > LISTED as u64 {
        reasons.push(format!(
            "and {} more",
            report.quarantined_total - LISTED as u64
        ));
    }
    if reasons.is_empty() {
        reasons.push("no entry or record was read".into());
    }
    Err(Error::NothingRecognised {
        files: report
            .files
            .iter()
            .filter(|f| f.already_in_export.is_none())
            .map(|f| crate::sanitize::for_terminal(&f.path).into_owned())
            .collect(),
        reasons,
    })
}

/// How the ledger names a generation time given with `--generated`.
pub const GIVEN: &str = "given";

/// Puts export `export_id` in its place in time (archive::timeline): it is
/// refused when another export of its kind was generated at the same
/// instant (the two cannot be ordered), compared with the export of its
/// kind just before it, and, when it is older than one already archived,
/// the export just after it is compared with it again and the versions it
/// carried are renumbered in time order.
fn place_in_time(
    tx: &Transaction<'_>,
    export_id: i64,
    report: &mut Report,
    opts: &Options,
) -> Result<()> {
    if let Some(other) = timeline::same_time(tx, export_id)? {
        // The first file names an export; more are counted.
        let files = |id: i64| -> Result<String> {
            let paths: Vec<String> = tx
                .prepare("SELECT path FROM files WHERE export_id = ?1 ORDER BY id")?
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let more = match paths.len() {
                0 | 1 => String::new(),
                n => format!(" and {} more", n - 1),
            };
            let first = paths.first().map_or("", String::as_str);
            Ok(format!("{}{more}", crate::sanitize::for_terminal(first)))
        };
        return Err(Error::Indistinct(format!(
            "{} was generated at {}, the same time as export {other} ({}), by {}: the two cannot be put in order, so nothing was ingested. If it is a different export, say when it was generated with --generated TIME (RFC 3339)",
            files(export_id)?,
            report.generated_at.as_deref().unwrap_or("an unknown time"),
            files(other)?,
            if opts.generated.is_some() {
                "the time given"
            } else {
                "their own times"
            },
        )));
    }
    if let Some(m) = crate::archive::record_missing(tx, export_id)? {
        report.compared_with_export = Some(m.previous_export);
        report.entries_missing = Some(m.entries);
        report.conversations_missing = Some(m.conversations);
    }
    if !timeline::has_later(tx, export_id)? {
        return Ok(());
    }
    let (_, next) = timeline::neighbours(tx, export_id)?;
    report.generated_before_export = next;
    if let Some(next) = next
        && let Some(m) = crate::archive::record_missing(tx, next)?
    {
        report.recompared = Some(Recompared {
            export_id: next,
            compared_with_export: m.previous_export,
            entries_missing: m.entries,
            conversations_missing: m.conversations,
        });
    }
    report.versions_reordered = timeline::reorder_versions(tx, export_id)?;
    Ok(())
}

/// Moves the staged objects into the store, then commits the database
/// (`commit_database`: the transaction, or a new archive's rename). Objects
/// first: a committed export must never name a missing object; if the
/// commit fails, the objects this run added are removed again.
fn commit(
    archive: &Archive,
    new_inputs: &[&Input],
    commit_database: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let mut added = Vec::new();
    let objects = archive.objects();
    // Listed before any is moved: a kill before the commit leaves objects
    // no export records, which the next writer then deletes (rather than
    // `verify` reporting them as unrecorded).
    let listed: Vec<String> = new_inputs
        .iter()
        .filter_map(|i| i.stage.as_ref().map(|s| s.sha256.clone()))
        .collect();
    crate::archive::journal::write_ingest(archive, &listed)?;
    let committed = (|| -> Result<()> {
        for input in new_inputs {
            if let Some(s) = &input.stage
                && objects.commit(s)?
            {
                added.push(s.sha256.clone());
            }
        }
        crate::failpoint::hit("ingest-objects-stored");
        commit_database()
    })();
    if committed.is_err() {
        for sha in &added {
            objects.remove(sha);
        }
        let _ = crate::archive::journal::remove_ingest(archive);
    }
    committed?;
    crate::failpoint::hit("ingest-committed");
    crate::archive::journal::remove_ingest(archive)
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

/// Stores the profile files given to export `export_id`, each file once
/// however many exports it read.
fn keep_profiles(tx: &Transaction<'_>, export_id: i64, files: &[LoadedFile]) -> Result<()> {
    for (position, f) in files.iter().enumerate() {
        let sha256 = crate::hashing::sha256_hex(f.text.as_bytes());
        let name = f.path.file_name().map_or_else(
            || f.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        tx.execute(
            "INSERT INTO profiles (sha256, name, body) VALUES (?1, ?2, ?3)
             ON CONFLICT (sha256) DO NOTHING",
            params![sha256, name, f.text],
        )?;
        tx.execute(
            "INSERT INTO export_profiles (export_id, profile_id, position)
             SELECT ?1, id, ?3 FROM profiles WHERE sha256 = ?2",
            params![export_id, sha256, position as i64],
        )?;
    }
    Ok(())
}

fn insert_export(tx: &Transaction<'_>, now: jiff::Timestamp) -> Result<i64> {
    tx.execute(
        "INSERT INTO exports (ingested_at_ms, convault_version) VALUES (?1, ?2)",
        params![now.as_millisecond(), env!("CARGO_PKG_VERSION")],
    )?;
    Ok(tx.last_insert_rowid())
}

fn insert_file(tx: &Transaction<'_>, export_id: i64, input: &Input) -> Result<i64> {
    tx.execute(
        "INSERT INTO files (export_id, path, bytes, sha256, container) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            export_id,
            input.path.display().to_string(),
            input.bytes as i64,
            input.sha256,
            input.container.as_str()
        ],
    )?;
    Ok(tx.last_insert_rowid())
}
