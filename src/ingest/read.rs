//! The reading half of an ingest: opens each new input file, walks its zip
//! members, recognises and parses them, and sends what it finds to the
//! writer as a stream of [`Event`]s.
//!
//! It runs on its own thread so that decompressing, CSV and JSON parsing
//! and hashing overlap with the database writes. That thread only
//! inflates, hashes and splits CSV members into rows; batches of rows go to
//! a pool of row workers (one per core, each with its own [`Known`]), which
//! recognise known rows and parse the others. The writer receives each
//! batch's result in the order the rows were read ([`Event::Later`]).
//!
//! Memory stays bounded whatever the export's size: the event channel and
//! the pool's queue are bounded, so at most a few thousand rows are in
//! flight. Events arrive in input order; a member's `MemberStart` always
//! comes before its rows and its `MemberEnd` after them.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use indicatif::ProgressBar;

use super::Input;
use super::known::Known;
use crate::entry::{Entry, RowHash};
use crate::error::{Error, Result};
use crate::hashing::HashingReader;
use crate::profile::Profiles;
use crate::progress::ProgressReader;
use crate::source::csv_member::{CsvMember, Handoff, RawRows};
use crate::source::csv_split::RowParser;
use crate::source::records::ObjectRecord;
use crate::source::{self, Container, MemberError, MemberOutcome, RowSink};

/// Rows sent to the writer in one message.
const BATCH: usize = 512;
/// Batches waiting in the channel at most.
pub(super) const CHANNEL_DEPTH: usize = 8;

/// What the reader found, in order.
pub(super) enum Event {
    /// The next input file starts (index into the inputs being read).
    File(usize),
    /// A member starts. `crc32` is the zip's recorded CRC-32;
    /// `modified_ms` its own modification time, when it has one.
    MemberStart {
        name: String,
        crc32: Option<u32>,
        modified_ms: Option<i64>,
    },
    /// Parsed rows of the current member.
    Rows(Vec<Row>),
    /// Rows of the current member that a row worker is processing: the
    /// writer waits for them here, which keeps them in order.
    Later(Receiver<Result<Vec<Row>>>),
    /// The current member was read to its end (its CRC checked).
    MemberEnd {
        bytes: u64,
        sha256: String,
        outcome: MemberOutcome,
    },
    /// The current member could not be opened (encrypted, unsupported
    /// compression): kept aside, the original stays in the store.
    MemberUnreadable { reason: String },
    /// The current member is a directory entry.
    Directory,
}

/// One data row of a member.
pub(super) enum Row {
    /// An entry read from `line`, with its related records already
    /// serialised (done here, off the writer's thread, which is the
    /// bottleneck).
    Entry {
        line: Option<u64>,
        entry: Box<Entry>,
        related_json: String,
        /// The hash of its raw fields, when read from a CSV row: recorded
        /// with the version it is stored as, so that it is known next time.
        row_hash: Option<RowHash>,
    },
    /// An entry row the archive holds unchanged ([`Known`]), not parsed:
    /// version `seq` of conversation `conversation_id`.
    Seen { seq: i64, conversation_id: i64 },
    Quarantined {
        line: Option<u64>,
        reason: String,
        raw: Option<String>,
    },
    /// A row of a Data Export Service object.
    Record {
        line: Option<u64>,
        record: Box<ObjectRecord>,
    },
}

/// Row workers an ingest starts: one per core (at most four; the writer
/// needs one too, and more than that only adds connections).
pub(super) fn row_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4))
}

/// A batch of a CSV member's rows for a row worker, and where its result
/// goes.
struct Job<'p> {
    member: Arc<CsvMember<'p>>,
    rows: RawRows,
    reply: SyncSender<Result<Vec<Row>>>,
}

/// Reads every input in order and sends its events; an error is sent as
/// the last message. Returns early, quietly, when the writer has gone.
/// Starts one row worker for each of `known`.
pub(super) fn read_all(
    inputs: &[&Input],
    profiles: &Profiles,
    known: Vec<Known>,
    bar: &ProgressBar,
    out: &SyncSender<Result<Event>>,
) {
    let (jobs, queue) = mpsc::sync_channel::<Job<'_>>(known.len().max(1));
    let queue = Mutex::new(queue);
    let spares = Arc::new(Spares::default());
    std::thread::scope(|scope| {
        for k in known {
            let (queue, spares) = (&queue, Arc::clone(&spares));
            scope.spawn(move || work(queue, k, &spares));
        }
        // `jobs` is dropped when reading ends, which stops the workers.
        let mut ctx = Ctx {
            profiles,
            jobs,
            spares,
        };
        let ctx = &mut ctx;
        let mut base = 0;
        for (index, input) in inputs.iter().enumerate() {
            if out.send(Ok(Event::File(index))).is_err() {
                return;
            }
            match read_input(input, ctx, bar, base, out) {
                Ok(()) => {}
                Err(Stop::WriterGone) => return,
                Err(Stop::Failed(e)) => {
                    let _ = out.send(Err(e));
                    return;
                }
            }
            base += input.bytes;
        }
    });
}

/// A row worker: processes batches until reading ends. Each batch's rows
/// go back through its own reply channel (which the writer waits on, in
/// order), or the error that stopped them.
fn work(queue: &Mutex<Receiver<Job<'_>>>, mut known: Known, spares: &Spares) {
    let mut parser = RowParser::default();
    loop {
        // The lock is held only while waiting for the next job.
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let mut rows = RowBuf {
            rows: Vec::with_capacity(job.rows.len()),
            known: Some(&mut known),
            row_hash: None,
        };
        let result = job
            .rows
            .iter()
            .try_for_each(|(bytes, line)| job.member.process(bytes, line, &mut parser, &mut rows))
            .map(|()| rows.rows)
            .map_err(|e| match e {
                MemberError::Sink(e) => e,
                // Processing reads nothing: only the sink can fail.
                MemberError::Read(_) => Error::Internal("a row worker read from the member"),
            });
        spares.put(job.rows);
        // The writer may have gone: then nobody waits for this.
        let _ = job.reply.send(result);
    }
}

/// Batches of raw rows the workers are done with, for the reader to fill
/// again: a batch allocated on the reading thread and freed on a worker's
/// is memory mimalloc keeps for longer (measured: a tenth less peak memory
/// when re-reading a weekly export, docs/performance.md).
#[derive(Default)]
pub(super) struct Spares(Mutex<Vec<RawRows>>);

impl Spares {
    /// Batches kept at most: about as many as can be in flight.
    const KEEP: usize = 16;

    fn put(&self, mut rows: RawRows) {
        rows.clear();
        if let Ok(mut spares) = self.0.lock()
            && spares.len() < Self::KEEP
        {
            spares.push(rows);
        }
    }

    fn take(&self) -> RawRows {
        self.0
            .lock()
            .ok()
            .and_then(|mut spares| spares.pop())
            .unwrap_or_default()
    }
}

/// Why reading stopped early.
enum Stop {
    /// The input is damaged or unreadable.
    Failed(Error),
    /// The writer stopped (it failed and will report why).
    WriterGone,
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

fn send(out: &SyncSender<Result<Event>>, event: Event) -> Result<(), Stop> {
    out.send(Ok(event)).map_err(|_| Stop::WriterGone)
}

fn read_input(
    input: &Input,
    ctx: &mut Ctx<'_>,
    bar: &ProgressBar,
    base: u64,
    out: &SyncSender<Result<Event>>,
) -> Result<(), Stop> {
    let file = File::open(&input.read_from).map_err(|e| Error::io(&input.read_from, e))?;
    let reader = ProgressReader::new(file, bar.clone(), base);
    match input.container {
        Container::Plain => {
            let name = input
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| input.path.display().to_string());
            // The original's time (the staged copy's is now): an
            // extracted export keeps its zip's times.
            let modified_ms = std::fs::metadata(&input.path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| jiff::Timestamp::try_from(t).ok())
                .map(|t| t.as_millisecond());
            send(
                out,
                Event::MemberStart {
                    name,
                    crc32: None,
                    modified_ms,
                },
            )?;
            read_one(reader, ctx, out, &input.path, None)
        }
        Container::Zip => {
            let mut zip = zip::ZipArchive::new(BufReader::with_capacity(256 * 1024, reader))
                .map_err(|e| Error::Rejected {
                    path: input.path.clone(),
                    reason: format!("not a readable zip archive ({e})"),
                })?;
            for i in 0..zip.len() {
                read_zip_member(&mut zip, i, ctx, &input.path, out)?;
            }
            Ok(())
        }
    }
}

fn read_zip_member<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    index: usize,
    ctx: &mut Ctx<'_>,
    path: &Path,
    out: &SyncSender<Result<Event>>,
) -> Result<(), Stop> {
    let fallback_name = zip
        .name_for_index(index)
        .map(|n| n.map(|n| n.into_owned()))
        .transpose()
        .ok()
        .flatten()
        .unwrap_or_else(|| format!("#{index}"));
    let mut member = match zip.by_index(index) {
        Ok(m) => m,
        Err(zip::result::ZipError::UnsupportedArchive(why)) => {
            // Encrypted (the zip reader refuses it before any byte is read):
            // keep it aside (the original is archived), do not fail the export.
            send(
                out,
                Event::MemberStart {
                    name: fallback_name,
                    crc32: None,
                    modified_ms: None,
                },
            )?;
            return send(
                out,
                Event::MemberUnreadable {
                    reason: format!("cannot read this member: {why}"),
                },
            );
        }
        Err(e) => {
            return Err(Stop::Failed(Error::Rejected {
                path: path.to_owned(),
                reason: format!("member {fallback_name}: {e}"),
            }));
        }
    };
    let name = String::from_utf8_lossy(member.name_raw()).into_owned();
    let crc32 = Some(member.crc32());
    let modified_ms = modified_ms(&member);
    send(
        out,
        Event::MemberStart {
            name: name.clone(),
            crc32,
            modified_ms,
        },
    )?;
    if member.is_dir() {
        return send(out, Event::Directory);
    }
    let method = member.compression();
    if !matches!(
        method,
        zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
    ) {
        // Not damage: a method this build cannot inflate (bzip2, Deflate64,
        // ...). Kept aside; the original zip is in the store.
        return send(
            out,
            Event::MemberUnreadable {
                reason: format!(
                    "compressed with {method}, which this convault cannot read; the original is kept in the archive"
                ),
            },
        );
    }
    read_one(&mut member, ctx, out, path, Some(&name))
}

/// A member's modification time in epoch milliseconds: the extended
/// timestamp (UTC) when the zip has one, else the MS-DOS time read as UTC.
/// The MS-DOS epoch (1980-01-01 00:00), which zip writers put when they
/// have no time, counts as none.
fn modified_ms<R: Read>(member: &zip::read::ZipFile<'_, R>) -> Option<i64> {
    for field in member.extra_data_fields() {
        if let zip::extra_fields::ExtraField::ExtendedTimestamp(ts) = field
            && let Some(secs) = ts.mod_time()
        {
            return Some(i64::from(secs) * 1000);
        }
    }
    let dt = member.last_modified()?;
    if (dt.year(), dt.month(), dt.day(), dt.hour(), dt.minute()) == (1980, 1, 1, 0, 0) {
        return None;
    }
    let civil = jiff::civil::DateTime::new(
        dt.year() as i16,
        dt.month() as i8,
        dt.day() as i8,
        dt.hour() as i8,
        dt.minute() as i8,
        dt.second() as i8,
        0,
    )
    .ok()?;
    jiff::tz::TimeZone::UTC
        .to_timestamp(civil)
        .ok()
        .map(|t| t.as_millisecond())
}

fn damaged(path: &Path, member: &str, e: std::io::Error) -> Error {
    Error::DamagedMember {
        path: path.to_owned(),
        member: member.to_owned(),
        detail: e.to_string(),
    }
}

/// Reads one member (`zip_member` names it inside a zip) to its end,
/// hashing it, and sends its rows and its `MemberEnd`. A read error is the
/// member's damage (for a zip: failed CRC or broken compressed data).
fn read_one(
    reader: impl Read,
    ctx: &mut Ctx<'_>,
    out: &SyncSender<Result<Event>>,
    path: &Path,
    zip_member: Option<&str>,
) -> Result<(), Stop> {
    let read_error = |e| match zip_member {
        Some(name) => damaged(path, name, e),
        None => Error::io(path, e),
    };
    // API pages come here; a CSV member's rows all go to the pool.
    let mut sink = BatchSink {
        out,
        rows: RowBuf::default(),
        gone: false,
    };
    let mut pool = Pool {
        out,
        jobs: &ctx.jobs,
        spares: &ctx.spares,
        gone: false,
    };
    let mut hashing = HashingReader::new(reader);
    let name = match zip_member {
        Some(name) => name.to_owned(),
        None => path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    };
    let result = source::read_member(
        &mut hashing,
        &name,
        ctx.profiles,
        &mut sink,
        Some(&mut pool),
    );
    if sink.gone || pool.gone {
        return Err(Stop::WriterGone);
    }
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(MemberError::Sink(e)) => return Err(Stop::Failed(e)),
        Err(MemberError::Read(e)) => return Err(Stop::Failed(read_error(e))),
    };
    sink.flush()?;
    let (bytes, sha256) = hashing.finish().map_err(read_error)?;
    send(
        out,
        Event::MemberEnd {
            bytes,
            sha256,
            outcome,
        },
    )
}

/// What every member of an ingest is read with.
pub(super) struct Ctx<'p> {
    profiles: &'p Profiles,
    /// The row workers' queue.
    jobs: SyncSender<Job<'p>>,
    /// Batches to fill again.
    spares: Arc<Spares>,
}

/// Hands a CSV member's batches of rows to the row workers, and tells the
/// writer where each batch's result will come from.
struct Pool<'a, 'p> {
    out: &'a SyncSender<Result<Event>>,
    jobs: &'a SyncSender<Job<'p>>,
    spares: &'a Spares,
    /// The writer (or every worker) has gone: stop reading.
    gone: bool,
}

impl<'p> Handoff<'p> for Pool<'_, 'p> {
    fn rows(&mut self, member: &Arc<CsvMember<'p>>, rows: RawRows) -> Result<RawRows, MemberError> {
        let (reply, result) = mpsc::sync_channel(1);
        let job = Job {
            member: Arc::clone(member),
            rows,
            reply,
        };
        if self.jobs.send(job).is_err() || self.out.send(Ok(Event::Later(result))).is_err() {
            self.gone = true;
            return Err(MemberError::Sink(Error::Stopped));
        }
        Ok(self.spares.take())
    }
}

/// Rows as a sink makes them: with a [`Known`], rows the archive holds
/// unchanged become [`Row::Seen`] without being parsed.
#[derive(Default)]
struct RowBuf<'k> {
    rows: Vec<Row>,
    known: Option<&'k mut Known>,
    /// The hash of the entry row being parsed (offered to `seen_raw`).
    row_hash: Option<RowHash>,
}

impl RowSink for RowBuf<'_> {
    fn known_row(&mut self, conversation: Option<&str>, hash: RowHash) -> Result<bool> {
        let found = match (self.known.as_deref_mut(), conversation) {
            (Some(known), Some(conversation)) => known.lookup(conversation, &hash)?,
            _ => None,
        };
        match found {
            Some((seq, conversation_id)) => {
                self.row_hash = None;
                self.rows.push(Row::Seen {
                    seq,
                    conversation_id,
                });
                Ok(true)
            }
            None => {
                self.row_hash = Some(hash);
                Ok(false)
            }
        }
    }

    fn record(&mut self, line: Option<u64>, record: ObjectRecord) -> Result<()> {
        self.rows.push(Row::Record {
            line,
            record: Box::new(record),
        });
        Ok(())
    }

    fn entry(&mut self, line: Option<u64>, entry: Entry) -> Result<()> {
        // A Vec of strings always serialises.
        let related_json =
            serde_json::to_string(&entry.related_records).unwrap_or_else(|_| "[]".into());
        let row_hash = self.row_hash.take();
        self.rows.push(Row::Entry {
            line,
            entry: Box::new(entry),
            related_json,
            row_hash,
        });
        Ok(())
    }

    fn quarantine_row(
        &mut self,
        line: Option<u64>,
        reason: String,
        raw: Option<String>,
    ) -> Result<()> {
        self.row_hash = None;
        self.rows.push(Row::Quarantined { line, reason, raw });
        Ok(())
    }
}

/// Collects the rows read on the reading thread into batches for the
/// channel.
struct BatchSink<'a> {
    out: &'a SyncSender<Result<Event>>,
    rows: RowBuf<'static>,
    /// The writer has gone: stop reading.
    gone: bool,
}

impl BatchSink<'_> {
    fn full(&mut self) -> Result<()> {
        if self.rows.rows.len() >= BATCH {
            self.flush().map_err(|_| Error::Stopped)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if self.rows.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::replace(&mut self.rows.rows, Vec::with_capacity(BATCH));
        if self.out.send(Ok(Event::Rows(rows))).is_err() {
            self.gone = true;
            return Err(Stop::WriterGone);
        }
        Ok(())
    }
}

impl RowSink for BatchSink<'_> {
    fn record(&mut self, line: Option<u64>, record: ObjectRecord) -> Result<()> {
        self.rows.record(line, record)?;
        self.full()
    }

    fn entry(&mut self, line: Option<u64>, entry: Entry) -> Result<()> {
        self.rows.entry(line, entry)?;
        self.full()
    }

    fn quarantine_row(
        &mut self,
        line: Option<u64>,
        reason: String,
        raw: Option<String>,
    ) -> Result<()> {
        self.rows.quarantine_row(line, reason, raw)?;
        self.full()
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::archive::{Mode, db};

    fn transcript(dir: &Path, rows: usize) -> PathBuf {
        let mut csv = String::from("identifier,conversation_identifier,entry_type,entry_payload\n");
        for i in 0..rows {
            csv.push_str(&format!(
                "e{i},c{},Message,\"{{\"\"text\"\": \"\"hello {i}\"\"}}\"\n",
                i / 24
            ));
        }
        let path = dir.join("entries.csv");
        std::fs::write(&path, csv).unwrap();
        path
    }

    fn input(path: PathBuf) -> Input {
        Input {
            read_from: path.clone(),
            path,
            container: Container::Plain,
            bytes: 0,
            sha256: String::new(),
            stage: None,
        }
    }

    /// Reads `input` with `known` (one row worker each) and returns every
    /// event as the writer sees it: each `Later` resolved in its place.
    fn events(input: &Input, known: Vec<Known>) -> Vec<Result<Event>> {
        let profiles = Profiles::builtin().unwrap();
        let (out, events) = mpsc::sync_channel(CHANNEL_DEPTH);
        std::thread::scope(|s| {
            let profiles = &profiles;
            s.spawn(move || read_all(&[input], profiles, known, &ProgressBar::hidden(), &out));
            events
                .into_iter()
                .map(|e| match e {
                    Ok(Event::Later(rows)) => rows.recv().unwrap().map(Event::Rows),
                    other => other,
                })
                .collect()
        })
    }

    /// With several row workers, the writer still sees every row in the
    /// order read, and the member's end after its last row.
    #[test]
    fn rows_reach_the_writer_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let input = input(transcript(dir.path(), 2000));
        let known = (0..3).map(|_| Known::nothing()).collect();
        let mut identifiers = Vec::new();
        let mut ended_after = None;
        for event in events(&input, known) {
            match event.unwrap() {
                Event::Rows(rows) => {
                    for row in rows {
                        match row {
                            Row::Entry { entry, line, .. } => {
                                assert_eq!(line, Some(identifiers.len() as u64 + 2));
                                identifiers.push(entry.identifier);
                            }
                            _ => panic!("only entries were written"),
                        }
                    }
                }
                Event::MemberEnd { .. } => ended_after = Some(identifiers.len()),
                _ => {}
            }
        }
        let expected: Vec<String> = (0..2000).map(|i| format!("e{i}")).collect();
        assert_eq!(identifiers, expected);
        assert_eq!(ended_after, Some(2000));
    }

    /// A row worker that fails (here its archive connection finds no
    /// `conversations` table) stops the ingest with that error, in the
    /// place of the rows it could not process.
    #[test]
    fn a_row_worker_error_reaches_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let db_path = dir.path().join("archive.sqlite");
        let conn = db::open(&db_path, Mode::ReadWrite).unwrap();
        let known = vec![Known::open(&db_path).unwrap()];
        conn.execute_batch("ALTER TABLE conversations RENAME TO gone")
            .unwrap();
        let input = input(transcript(dir.path(), 10));
        let events = events(&input, known);
        let errors: Vec<String> = events
            .iter()
            .filter_map(|e| e.as_ref().err().map(|e| e.to_string()))
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("no such table: conversations"),
            "{errors:?}"
        );
        assert!(
            !events.iter().any(|e| matches!(e, Ok(Event::Rows(_)))),
            "no row of the failed batch reaches the writer"
        );
    }
}
