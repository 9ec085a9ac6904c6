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
//! A zip of several members is read a member per worker instead: each
//! row worker inflates, hashes, splits and processes whole members
//! (`read_members_at_once`), so that both cores inflate and hash, and the
//! writer takes each member's events in member order ([`Event::Member`]).
//! A worker reads ahead while the writer is still busy with the members
//! before its own, up to a budget of memory per member ([`Budget`]).
//!
//! Memory stays bounded whatever the export's size: the event channel and
//! the pool's queue are bounded, so at most a few thousand rows are in
//! flight, and a member read ahead holds at most [`MEMBER_BUDGET`] bytes
//! of events. Events arrive in input order; a member's `MemberStart`
//! always comes before its rows and its `MemberEnd` after them.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

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
    /// writer waits for them here, which keeps them in order. The
    /// [`Held`] gives their bytes back to [`ROWS_IN_FLIGHT`] when the
    /// writer drops it, having applied them.
    Later(Receiver<Result<Vec<Row>>>, Held),
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
    /// The next member's events, read on a row worker (a zip of several
    /// members): the writer applies them all, in their order, before the
    /// events after this one.
    Member(MemberEvents),
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

/// Work for a row worker.
enum Job<'p> {
    /// A batch of a CSV member's rows, and where its result goes.
    Rows {
        member: Arc<CsvMember<'p>>,
        rows: RawRows,
        reply: SyncSender<Result<Vec<Row>>>,
    },
    /// A whole member of a zip, to read and send the events of.
    Member(MemberJob),
}

/// Member `index` of the zip at `read_from` (`path` as the user named it).
struct MemberJob {
    read_from: PathBuf,
    path: PathBuf,
    index: usize,
    /// The input's place on the progress bar.
    bar: ProgressBar,
    base: u64,
    out: MemberOut,
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
    let workers = known.len();
    let (jobs, queue) = mpsc::sync_channel::<Job<'_>>(workers.max(1));
    let queue = Mutex::new(queue);
    let spares = Arc::new(Spares::default());
    std::thread::scope(|scope| {
        for k in known {
            let (queue, spares) = (&queue, Arc::clone(&spares));
            scope.spawn(move || work(queue, k, &spares, profiles));
        }
        // `jobs` is dropped when reading ends, which stops the workers.
        let mut ctx = Ctx {
            profiles,
            jobs,
            spares,
            workers,
            in_flight: Arc::new(Budget::new(ROWS_IN_FLIGHT)),
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

/// A row worker: does jobs until reading ends. Each batch's rows go back
/// through its own reply channel (which the writer waits on, in order),
/// or the error that stopped them; a member's events go to its stream.
fn work<'p>(
    queue: &Mutex<Receiver<Job<'p>>>,
    mut known: Known,
    spares: &Spares,
    profiles: &'p Profiles,
) {
    let mut parser = RowParser::default();
    // The zip last read members of, open: its directory is read once.
    let mut zip: Option<(PathBuf, WorkerZip)> = None;
    loop {
        // The lock is held only while waiting for the next job.
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let (member, raw, reply) = match job {
            Job::Rows {
                member,
                rows,
                reply,
            } => (member, rows, reply),
            Job::Member(job) => {
                match read_member_job(&job, &mut zip, &mut known, profiles) {
                    Ok(()) | Err(Stop::WriterGone) => {}
                    Err(Stop::Failed(e)) => {
                        let _ = job.out.emit(Err(e));
                    }
                }
                continue;
            }
        };
        let mut rows = RowBuf {
            rows: Vec::with_capacity(raw.len()),
            known: Some(&mut known),
            row_hash: None,
        };
        let result = raw
            .iter()
            .try_for_each(|(bytes, line, oversize)| {
                member.process(bytes, line, oversize, &mut parser, &mut rows)
            })
            .map(|()| rows.rows)
            .map_err(|e| match e {
                MemberError::Sink(e) => e,
                // Processing reads nothing: only the sink can fail.
                MemberError::Read(_) => Error::Internal("a row worker read from the member"),
            });
        spares.put(raw);
        // The writer may have gone: then nobody waits for this.
        let _ = reply.send(result);
    }
}

/// A zip as a row worker reads it.
type WorkerZip = zip::ZipArchive<BufReader<ProgressReader<File>>>;

/// Reads the member a [`MemberJob`] names, on a row worker, through the
/// zip in `open` (opened here when it is another file's).
fn read_member_job(
    job: &MemberJob,
    open: &mut Option<(PathBuf, WorkerZip)>,
    known: &mut Known,
    profiles: &Profiles,
) -> Result<(), Stop> {
    if open.as_ref().is_none_or(|(path, _)| *path != job.read_from) {
        *open = None;
        let file = File::open(&job.read_from).map_err(|e| Error::io(&job.read_from, e))?;
        let reader = ProgressReader::new(file, job.bar.clone(), job.base);
        let zip = zip::ZipArchive::new(BufReader::with_capacity(256 * 1024, reader))
            .map_err(|e| not_a_zip(&job.path, &e))?;
        *open = Some((job.read_from.clone(), zip));
    }
    let Some((_, zip)) = open else {
        return Err(Stop::Failed(Error::Internal(
            "a row worker's zip was not opened",
        )));
    };
    read_zip_member(
        zip,
        job.index,
        Processing::Here { profiles, known },
        &job.path,
        &job.out,
    )
}

fn not_a_zip(path: &Path, e: &zip::result::ZipError) -> Error {
    Error::Rejected {
        path: path.to_owned(),
        reason: format!("not a readable zip archive ({e})"),
    }
}

/// Where events go: the writer's channel, or a member's stream.
trait Emit {
    /// Sends `event`; an error when nobody will read it (the writer has
    /// gone).
    fn emit(&self, event: Result<Event>) -> Result<(), ()>;
}

impl Emit for SyncSender<Result<Event>> {
    fn emit(&self, event: Result<Event>) -> Result<(), ()> {
        self.send(event).map_err(|_| ())
    }
}

/// Bytes of events a member read ahead may hold, waiting for the writer:
/// the unchanged rows of about 200,000 entries (a weekly export's rows
/// are nearly all unchanged), or a few thousand parsed ones.
const MEMBER_BUDGET: usize = 16 << 20;

/// Bytes of raw rows handed to the row workers and not yet applied by the
/// writer, at most (a batch always goes when nothing else is in flight).
/// Batches are counted, not only their number: a batch closes at
/// `csv_member`'s 1 MiB, so a batch of one long row (up to
/// `source::MAX_ROW_BYTES`) would otherwise let the channel's depth of
/// them, each parsed into copies, wait at once (measured: 15 rows of
/// 7.8 MB took 258 MiB; with this, 186 MiB).
const ROWS_IN_FLIGHT: usize = 8 << 20;

/// Units of a [`Budget`], given back when dropped.
pub(super) struct Held {
    budget: Arc<Budget>,
    units: usize,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.give_back(self.units);
    }
}

/// Members are read at once only when none is larger than this
/// (uncompressed, as the zip's directory says): a member's unchanged rows
/// then fit its [`MEMBER_BUDGET`] nearly whole, so a worker reads its
/// member while the writer takes the one before. Larger members are read
/// one after the other, their rows spread over the workers.
const MEMBER_AT_ONCE_MAX: u64 = 128 << 20;

/// Something waited for and given back, in units: the memory a member's
/// events hold while they wait (counted by the worker that sends them,
/// given back as the writer takes them), or the members being read at
/// once.
struct Budget {
    limit: usize,
    state: Mutex<BudgetState>,
    changed: Condvar,
}

#[derive(Default)]
struct BudgetState {
    used: usize,
    /// The writer dropped the stream: nothing will be taken any more.
    closed: bool,
}

impl Budget {
    fn new(limit: usize) -> Budget {
        Budget {
            limit,
            state: Mutex::default(),
            changed: Condvar::new(),
        }
    }

    /// Waits until `units` more fit (when nothing is taken, anything
    /// fits); false when it is closed.
    fn take(&self, units: usize) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        while !state.closed && state.used > 0 && state.used + units > self.limit {
            state = match self.changed.wait(state) {
                Ok(state) => state,
                Err(_) => return false,
            };
        }
        state.used += units;
        !state.closed
    }

    fn give_back(&self, units: usize) {
        if let Ok(mut state) = self.state.lock() {
            state.used = state.used.saturating_sub(units);
            self.changed.notify_all();
        }
    }

    fn close(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.closed = true;
            self.changed.notify_all();
        }
    }
}

/// The sending end of a member's stream.
struct MemberOut {
    events: Sender<(Result<Event>, usize)>,
    budget: Arc<Budget>,
}

impl Emit for MemberOut {
    fn emit(&self, event: Result<Event>) -> Result<(), ()> {
        let bytes = weight(&event);
        if !self.budget.take(bytes) {
            return Err(());
        }
        self.events.send((event, bytes)).map_err(|_| ())
    }
}

/// A member's events, in order, as the writer takes them ([`Event::Member`]).
/// It ends with the member's last event; a stream that stops before it
/// (its worker stopped) ends with an error. Its end, or its drop, gives
/// its member's place back to `slots`.
pub(super) struct MemberEvents {
    events: Receiver<(Result<Event>, usize)>,
    budget: Arc<Budget>,
    slots: Arc<Budget>,
    ended: bool,
}

impl MemberEvents {
    fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.slots.give_back(1);
        }
    }
}

impl Iterator for MemberEvents {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        if self.ended {
            return None;
        }
        match self.events.recv() {
            Ok((event, bytes)) => {
                self.budget.give_back(bytes);
                if matches!(
                    event,
                    Err(_)
                        | Ok(Event::MemberEnd { .. }
                            | Event::MemberUnreadable { .. }
                            | Event::Directory)
                ) {
                    self.end();
                }
                Some(event)
            }
            Err(_) => {
                self.end();
                Some(Err(Error::Internal(
                    "a row worker stopped before the end of a member",
                )))
            }
        }
    }
}

impl Drop for MemberEvents {
    fn drop(&mut self) {
        // A worker waiting for room must not wait for ever, nor the
        // reader for a place.
        self.budget.close();
        self.end();
    }
}

/// A new member stream, holding one of `slots`: the writer's end and the
/// worker's.
fn member_stream(slots: &Arc<Budget>) -> (MemberEvents, MemberOut) {
    let (sender, receiver) = mpsc::channel();
    let budget = Arc::new(Budget::new(MEMBER_BUDGET));
    (
        MemberEvents {
            events: receiver,
            budget: Arc::clone(&budget),
            slots: Arc::clone(slots),
            ended: false,
        },
        MemberOut {
            events: sender,
            budget,
        },
    )
}

/// About the memory an event holds.
fn weight(event: &Result<Event>) -> usize {
    let rows = match event {
        Ok(Event::Rows(rows)) => rows.as_slice(),
        _ => &[],
    };
    let heap: usize = rows
        .iter()
        .map(|row| match row {
            Row::Entry {
                entry,
                related_json,
                ..
            } => {
                size_of::<Entry>()
                    + related_json.len()
                    + [&entry.payload, &entry.message_text, &entry.text]
                        .iter()
                        .map(|s| s.as_ref().map_or(0, String::len))
                        .sum::<usize>()
                    + 256
            }
            Row::Seen { .. } => 0,
            Row::Quarantined { reason, raw, .. } => {
                reason.len() + raw.as_ref().map_or(0, String::len)
            }
            Row::Record { .. } => 1024,
        })
        .sum();
    size_of::<Event>() + size_of_val(rows) + heap
}

/// Batches of raw rows the workers are done with, for the reader to fill
/// again: a batch allocated on the reading thread and freed on a worker's
/// is memory mimalloc keeps for longer (measured: a tenth less peak memory
/// when re-reading a weekly export, docs/performance-history.md).
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

fn send(out: &dyn Emit, event: Event) -> Result<(), Stop> {
    out.emit(Ok(event)).map_err(|()| Stop::WriterGone)
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
            read_one(reader, Processing::Pool(ctx), out, &input.path, None)
        }
        Container::Zip => {
            let mut zip = zip::ZipArchive::new(BufReader::with_capacity(256 * 1024, reader))
                .map_err(|e| not_a_zip(&input.path, &e))?;
            if ctx.workers >= 2 && at_once(&zip) {
                return read_members_at_once(input, zip.len(), ctx, bar, base, out);
            }
            for i in 0..zip.len() {
                read_zip_member(&mut zip, i, Processing::Pool(ctx), &input.path, out)?;
            }
            Ok(())
        }
    }
}

/// Whether a zip's members are read at once: it has several, and none is
/// larger than [`MEMBER_AT_ONCE_MAX`].
fn at_once<R: Read + Seek>(zip: &zip::ZipArchive<R>) -> bool {
    // From the central directory, read already: no member is opened.
    zip.len() >= 2
        && (0..zip.len()).all(|i| {
            zip.by_index_data(i)
                .is_ok_and(|member| member.size() <= MEMBER_AT_ONCE_MAX)
        })
}

/// Reads a zip's members a member per row worker. Each member's stream
/// goes to the writer in member order. One member more than there are
/// workers is read at a time (the one the writer takes, and those read
/// ahead), so memory stays within that many [`MEMBER_BUDGET`]s.
fn read_members_at_once(
    input: &Input,
    members: usize,
    ctx: &Ctx<'_>,
    bar: &ProgressBar,
    base: u64,
    out: &SyncSender<Result<Event>>,
) -> Result<(), Stop> {
    let slots = Arc::new(Budget::new(ctx.workers + 1));
    for index in 0..members {
        // A place frees when the writer is done with a member (or gone).
        slots.take(1);
        let (events, member_out) = member_stream(&slots);
        send(out, Event::Member(events))?;
        let job = MemberJob {
            read_from: input.read_from.clone(),
            path: input.path.clone(),
            index,
            bar: bar.clone(),
            base,
            out: member_out,
        };
        // Every worker gone means the writer has gone too.
        ctx.jobs
            .send(Job::Member(job))
            .map_err(|_| Stop::WriterGone)?;
    }
    Ok(())
}

/// Where a member's CSV rows are processed.
enum Processing<'a, 'p> {
    /// Handed in batches to the row workers.
    Pool(&'a Ctx<'p>),
    /// Here, against `known` (on a row worker that reads a whole member).
    Here {
        profiles: &'p Profiles,
        known: &'a mut Known,
    },
}

fn read_zip_member<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
    index: usize,
    processing: Processing<'_, '_>,
    path: &Path,
    out: &dyn Emit,
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
    let modified_ms = crate::source::zip_member_time(&member);
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
    read_one(&mut member, processing, out, path, Some(&name))
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
    processing: Processing<'_, '_>,
    out: &dyn Emit,
    path: &Path,
    zip_member: Option<&str>,
) -> Result<(), Stop> {
    let read_error = |e| match zip_member {
        Some(name) => damaged(path, name, e),
        None => Error::io(path, e),
    };
    // API pages come to the sink; a CSV member's rows go to the pool, or
    // to the sink too when processed here.
    let (profiles, mut pool, known) = match processing {
        Processing::Pool(ctx) => {
            let pool = Pool {
                out,
                jobs: &ctx.jobs,
                spares: &ctx.spares,
                in_flight: &ctx.in_flight,
                gone: false,
            };
            (ctx.profiles, Some(pool), None)
        }
        Processing::Here { profiles, known } => (profiles, None, Some(known)),
    };
    let mut sink = BatchSink {
        out,
        rows: RowBuf {
            rows: Vec::new(),
            known,
            row_hash: None,
        },
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
        profiles,
        &mut sink,
        pool.as_mut().map(|p| p as &mut dyn Handoff<'_>),
    );
    if sink.gone || pool.is_some_and(|p| p.gone) {
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
    /// How many row workers take jobs from `jobs`.
    workers: usize,
    /// Bytes of rows handed off and not yet applied ([`ROWS_IN_FLIGHT`]).
    in_flight: Arc<Budget>,
}

/// Hands a CSV member's batches of rows to the row workers, and tells the
/// writer where each batch's result will come from.
struct Pool<'a, 'p> {
    out: &'a dyn Emit,
    jobs: &'a SyncSender<Job<'p>>,
    spares: &'a Spares,
    in_flight: &'a Arc<Budget>,
    /// The writer (or every worker) has gone: stop reading.
    gone: bool,
}

impl<'p> Handoff<'p> for Pool<'_, 'p> {
    fn rows(&mut self, member: &Arc<CsvMember<'p>>, rows: RawRows) -> Result<RawRows, MemberError> {
        let units = rows.bytes.len();
        // Waits while the writer has enough before it (it drops a
        // batch's `Held` once applied); an error dropped the channel, and
        // with it every `Held`, so this never waits for nobody.
        if !self.in_flight.take(units) {
            self.gone = true;
            return Err(MemberError::Sink(Error::Stopped));
        }
        let held = Held {
            budget: Arc::clone(self.in_flight),
            units,
        };
        let (reply, result) = mpsc::sync_channel(1);
        let job = Job::Rows {
            member: Arc::clone(member),
            rows,
            reply,
        };
        if self.jobs.send(job).is_err() || self.out.emit(Ok(Event::Later(result, held))).is_err() {
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

/// Collects the rows read on this thread into batches for the channel.
struct BatchSink<'a> {
    out: &'a dyn Emit,
    rows: RowBuf<'a>,
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
        if self.out.emit(Ok(Event::Rows(rows))).is_err() {
            self.gone = true;
            return Err(Stop::WriterGone);
        }
        Ok(())
    }
}

impl RowSink for BatchSink<'_> {
    fn known_row(&mut self, conversation: Option<&str>, hash: RowHash) -> Result<bool> {
        let known = self.rows.known_row(conversation, hash)?;
        if known {
            self.full()?;
        }
        Ok(known)
    }

    fn record(&mut self, line: Option<u64>, record: ObjectRecord) -> Result<()> {
        crate::interrupt::check()?;
        self.rows.record(line, record)?;
        self.full()
    }

    fn entry(&mut self, line: Option<u64>, entry: Entry) -> Result<()> {
        crate::interrupt::check()?;
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

    /// A transcript CSV of entries `first..first + rows`.
    fn transcript_csv(first: usize, rows: usize) -> String {
        let mut csv = String::from("identifier,conversation_identifier,entry_type,entry_payload\n");
        for i in first..first + rows {
            csv.push_str(&format!(
                "e{i},c{},Message,\"{{\"\"text\"\": \"\"hello {i}\"\"}}\"\n",
                i / 24
            ));
        }
        csv
    }

    fn transcript(dir: &Path, rows: usize) -> PathBuf {
        let path = dir.join("entries.csv");
        std::fs::write(&path, transcript_csv(0, rows)).unwrap();
        path
    }

    /// A zip of `members` transcript members of `rows` entries each,
    /// stored (not compressed), named `part-N.csv`.
    fn transcript_zip(dir: &Path, members: usize, rows: usize) -> PathBuf {
        use std::io::Write;
        let path = dir.join("export.zip");
        let mut w = zip::ZipWriter::new(File::create(&path).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for m in 0..members {
            w.start_file(format!("part-{m}.csv"), stored).unwrap();
            w.write_all(transcript_csv(m * rows, rows).as_bytes())
                .unwrap();
        }
        w.finish().unwrap();
        path
    }

    fn input(path: PathBuf) -> Input {
        let container = if path.extension().is_some_and(|e| e == "zip") {
            Container::Zip
        } else {
            Container::Plain
        };
        Input {
            read_from: path.clone(),
            path,
            container,
            bytes: 0,
            sha256: String::new(),
            stage: None,
        }
    }

    /// Reads `input` with `known` (one row worker each) and returns every
    /// event as the writer sees it (each `Later` and `Member` resolved in
    /// its place), and whether members were read at once.
    fn events_and_mode(input: &Input, known: Vec<Known>) -> (Vec<Result<Event>>, bool) {
        fn resolve(event: Result<Event>, all: &mut Vec<Result<Event>>, at_once: &mut bool) {
            match event {
                Ok(Event::Later(rows, _)) => all.push(rows.recv().unwrap().map(Event::Rows)),
                Ok(Event::Member(events)) => {
                    *at_once = true;
                    for event in events {
                        resolve(event, all, at_once);
                    }
                }
                other => all.push(other),
            }
        }
        let profiles = Profiles::builtin().unwrap();
        let (out, events) = mpsc::sync_channel(CHANNEL_DEPTH);
        std::thread::scope(|s| {
            let profiles = &profiles;
            s.spawn(move || read_all(&[input], profiles, known, &ProgressBar::hidden(), &out));
            let (mut all, mut at_once) = (Vec::new(), false);
            for event in events {
                resolve(event, &mut all, &mut at_once);
            }
            (all, at_once)
        })
    }

    fn events(input: &Input, known: Vec<Known>) -> Vec<Result<Event>> {
        events_and_mode(input, known).0
    }

    fn nothing_known(workers: usize) -> Vec<Known> {
        (0..workers).map(|_| Known::nothing()).collect()
    }

    /// The members of a zip read at once reach the writer in member order,
    /// each whole between its start and its end, every row in order.
    #[test]
    fn members_read_at_once_reach_the_writer_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let input = input(transcript_zip(dir.path(), 7, 300));
        for workers in [2, 3] {
            let (events, at_once) = events_and_mode(&input, nothing_known(workers));
            assert!(at_once, "{workers} workers read the members at once");
            let mut identifiers = Vec::new();
            let mut members = Vec::new();
            for event in events {
                match event.unwrap() {
                    Event::MemberStart { name, .. } => {
                        assert_eq!(identifiers.len(), members.len() * 300);
                        members.push(name);
                    }
                    Event::Rows(rows) => {
                        for row in rows {
                            let Row::Entry { entry, line, .. } = row else {
                                panic!("only entries were written");
                            };
                            assert_eq!(line, Some((identifiers.len() % 300) as u64 + 2));
                            identifiers.push(entry.identifier);
                        }
                    }
                    Event::MemberEnd { outcome, .. } => {
                        assert!(matches!(outcome, MemberOutcome::Read { rows: 300, .. }));
                        assert_eq!(identifiers.len(), members.len() * 300);
                    }
                    _ => {}
                }
            }
            let expected: Vec<String> = (0..2100).map(|i| format!("e{i}")).collect();
            assert_eq!(identifiers, expected);
            let names: Vec<String> = (0..7).map(|m| format!("part-{m}.csv")).collect();
            assert_eq!(members, names);
        }
        // One worker: one member after the other, as before.
        let (events, at_once) = events_and_mode(&input, nothing_known(1));
        assert!(!at_once);
        assert_eq!(
            events
                .iter()
                .filter(|e| matches!(e, Ok(Event::MemberEnd { .. })))
                .count(),
            7
        );
    }

    /// A damaged member read at once stops the ingest in its place: the
    /// members before it whole, nothing of those after it before the error.
    #[test]
    fn a_damaged_member_read_at_once_fails_in_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = transcript_zip(dir.path(), 4, 200);
        let mut bytes = std::fs::read(&path).unwrap();
        // A byte of part-2's rows (stored: only its CRC can tell).
        let at = bytes.windows(6).position(|w| w == b"e450,c").unwrap();
        bytes[at + 1] = b'9';
        std::fs::write(&path, &bytes).unwrap();
        let events = events(&input(path), nothing_known(2));
        let failed = events.iter().position(Result::is_err).expect("an error");
        let err = events[failed].as_ref().err().unwrap().to_string();
        assert!(err.contains("part-2.csv"), "{err}");
        let rows_before: usize = events[..failed]
            .iter()
            .map(|e| match e {
                Ok(Event::Rows(rows)) => rows.len(),
                _ => 0,
            })
            .sum();
        let ends_before = events[..failed]
            .iter()
            .filter(|e| matches!(e, Ok(Event::MemberEnd { .. })))
            .count();
        assert_eq!(ends_before, 2, "parts 0 and 1 ended before the error");
        assert!(
            (400..600).contains(&rows_before),
            "{rows_before} rows before the error"
        );
    }

    /// A writer that stops (drops its channel) stops the workers reading
    /// members ahead, even those waiting for room: nothing waits for ever.
    #[test]
    fn a_writer_that_stops_stops_members_read_ahead() {
        let dir = tempfile::tempdir().unwrap();
        // Members whose events overflow their budget: their workers wait.
        let input = input(transcript_zip(dir.path(), 3, 40_000));
        let (done, finished) = mpsc::channel();
        std::thread::spawn(move || {
            let profiles = Profiles::builtin().unwrap();
            let (out, events) = mpsc::sync_channel(CHANNEL_DEPTH);
            std::thread::scope(|s| {
                let profiles = &profiles;
                let input = &input;
                s.spawn(move || {
                    read_all(
                        &[input],
                        profiles,
                        nothing_known(2),
                        &ProgressBar::hidden(),
                        &out,
                    )
                });
                // The first member's first batch, then the writer gives up.
                let first = events.iter().find_map(|e| match e {
                    Ok(Event::Member(member)) => Some(member),
                    _ => None,
                });
                if let Some(mut member) = first {
                    let _ = member.next();
                    // Until its worker waits for room: what it holds has
                    // stopped growing, past half the budget.
                    let used = |m: &MemberEvents| m.budget.state.lock().map_or(0, |s| s.used);
                    let (mut last, mut still) = (0, 0);
                    for _ in 0..600 {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        let now = used(&member);
                        still = if now == last { still + 1 } else { 0 };
                        last = now;
                        if still == 4 && now > MEMBER_BUDGET / 2 {
                            break;
                        }
                    }
                    assert!(last > MEMBER_BUDGET / 2, "the worker filled its budget");
                } else {
                    panic!("the members were read at once");
                }
                drop(events);
            });
            let _ = done.send(());
        });
        finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the reader and its workers stopped");
    }

    #[test]
    fn a_held_batch_gives_its_room_back_when_dropped() {
        // The writer drops a batch's `Held` once it has applied the rows:
        // until then, the reader waits to hand off more.
        let budget = Arc::new(Budget::new(10));
        assert!(budget.take(8));
        let held = Held {
            budget: Arc::clone(&budget),
            units: 8,
        };
        let waiting = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.take(5))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiting.is_finished(), "8 in flight + 5 does not fit in 10");
        drop(held);
        assert!(waiting.join().unwrap());
    }

    #[test]
    fn a_budget_waits_for_room_and_lets_go_when_closed() {
        let budget = Arc::new(Budget::new(10));
        assert!(budget.take(8));
        let waiting = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.take(5))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiting.is_finished(), "8 + 5 does not fit in 10");
        budget.give_back(8);
        assert!(waiting.join().unwrap());
        // Anything fits when nothing is taken.
        budget.give_back(5);
        assert!(budget.take(100));
        let waiting = {
            let budget = Arc::clone(&budget);
            std::thread::spawn(move || budget.take(1))
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        budget.close();
        assert!(!waiting.join().unwrap(), "closed: taking fails");
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
