//! The reading half of an ingest: opens each new input file, walks its zip
//! members, recognises and parses them, and sends what it finds to the
//! writer as a stream of [`Event`]s.
//!
//! It runs on its own thread so that decompressing, CSV and JSON parsing
//! and hashing overlap with the database writes. The channel is bounded,
//! so at most a few thousand parsed entries are in flight whatever the
//! export's size. Events arrive in input order; a member's `MemberStart`
//! always comes before its rows and its `MemberEnd` after them.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;
use std::sync::mpsc::SyncSender;

use indicatif::ProgressBar;

use super::Input;
use super::known::Known;
use crate::entry::{Entry, RawEntry, RowHash};
use crate::error::{Error, Result};
use crate::hashing::HashingReader;
use crate::profile::Profiles;
use crate::progress::ProgressReader;
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

/// Reads every input in order and sends its events; an error is sent as
/// the last message. Returns early, quietly, when the writer has gone.
pub(super) fn read_all(
    inputs: &[&Input],
    profiles: &Profiles,
    known: Known,
    bar: &ProgressBar,
    out: &SyncSender<Result<Event>>,
) {
    let mut ctx = Ctx { profiles, known };
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
    let mut sink = BatchSink {
        out,
        batch: Vec::with_capacity(BATCH),
        gone: false,
        known: &mut ctx.known,
        row_hash: None,
    };
    let mut hashing = HashingReader::new(reader);
    let name = match zip_member {
        Some(name) => name.to_owned(),
        None => path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    };
    let result = source::read_member(&mut hashing, &name, ctx.profiles, &mut sink);
    if sink.gone {
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

/// Collects rows into batches for the channel.
struct BatchSink<'a> {
    out: &'a SyncSender<Result<Event>>,
    batch: Vec<Row>,
    /// The writer has gone: stop reading.
    gone: bool,
    known: &'a mut Known,
    /// The hash of the entry row being parsed (offered to `seen_raw`).
    row_hash: Option<RowHash>,
}

/// What every member of an ingest is read with.
pub(super) struct Ctx<'p> {
    profiles: &'p Profiles,
    known: Known,
}

impl BatchSink<'_> {
    fn push(&mut self, row: Row) -> Result<()> {
        self.batch.push(row);
        if self.batch.len() >= BATCH {
            self.flush().map_err(|_| Error::Stopped)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Stop> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        if self.out.send(Ok(Event::Rows(rows))).is_err() {
            self.gone = true;
            return Err(Stop::WriterGone);
        }
        Ok(())
    }
}

impl RowSink for BatchSink<'_> {
    fn seen_raw(&mut self, _line: Option<u64>, raw: &RawEntry<'_>) -> Result<bool> {
        let (hash, known) = self.known.lookup(raw)?;
        match known {
            Some((seq, conversation_id)) => {
                self.row_hash = None;
                self.push(Row::Seen {
                    seq,
                    conversation_id,
                })?;
                Ok(true)
            }
            None => {
                self.row_hash = Some(hash);
                Ok(false)
            }
        }
    }

    fn record(&mut self, line: Option<u64>, record: ObjectRecord) -> Result<()> {
        self.push(Row::Record {
            line,
            record: Box::new(record),
        })
    }

    fn entry(&mut self, line: Option<u64>, entry: Entry) -> Result<()> {
        // A Vec of strings always serialises.
        let related_json =
            serde_json::to_string(&entry.related_records).unwrap_or_else(|_| "[]".into());
        let row_hash = self.row_hash.take();
        self.push(Row::Entry {
            line,
            entry: Box::new(entry),
            related_json,
            row_hash,
        })
    }

    fn quarantine_row(
        &mut self,
        line: Option<u64>,
        reason: String,
        raw: Option<String>,
    ) -> Result<()> {
        self.row_hash = None;
        self.push(Row::Quarantined { line, reason, raw })
    }
}
