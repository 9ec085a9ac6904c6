//! Finding the input files of an export and reading their members.
//!
//! An input is a zip, a plain file, or a directory of either (walked in
//! name order). Members are recognised by content, never by name: the
//! header row of a CSV, the keys of JSON. What no reader recognises is
//! quarantined with a reason, never dropped and never fatal; only damage
//! to the container itself (a zip that cannot be read, a member whose CRC
//! fails) rejects the ingest.

pub mod api_json;
pub mod csv_member;
pub mod csv_split;
pub mod description;
pub mod records;

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::entry::Entry;
use crate::error::{Error, Result};
use crate::profile::Profiles;

/// How many leading bytes are looked at to tell text from binary.
const SNIFF_BYTES: usize = 8 * 1024;

/// The most bytes one row (a CSV record, a JSON entry) may take to be
/// read. Salesforce's entries are a few kilobytes (its longest text field
/// holds 131,072 characters, 512 KiB of UTF-8 at most); a row is held in
/// memory as it is parsed, several copies of it, so a longer one is
/// quarantined instead, with its line and length, and stays in the
/// original. This is what keeps an ingest's memory bounded whatever its
/// rows hold: measured with rows just under it (docs/performance-history.md,
/// resource ceilings), 4 MiB let an ingest reach 162 MiB, 2 MiB 139 MiB.
pub const MAX_ROW_BYTES: usize = 2 << 20;

/// How much of a row too long to read is kept with its quarantine
/// record (the original holds it all).
pub const OVERSIZE_KEPT: usize = 64 << 10;

/// A quarantine reason for a row longer than [`MAX_ROW_BYTES`]: of
/// `bytes` bytes, when its length is known.
pub fn oversize_reason(bytes: Option<u64>) -> String {
    let row = match bytes {
        Some(bytes) => format!("row of {bytes} bytes,"),
        None => "row".to_owned(),
    };
    format!(
        "{row} larger than the {} MiB a row may take to be read; it is kept in the original file, not indexed",
        MAX_ROW_BYTES >> 20
    )
}

/// The first [`OVERSIZE_KEPT`] bytes of a row (the caller has kept no
/// more), as text: invalid UTF-8 replaced, and a character the cut split
/// dropped rather than shown as a replacement.
pub fn oversize_kept(bytes: &[u8]) -> String {
    let mut head = &bytes[..bytes.len().min(OVERSIZE_KEPT)];
    if head.len() == OVERSIZE_KEPT {
        head = &head[..head.len() - cut_character(head)];
    }
    String::from_utf8_lossy(head).into_owned()
}

/// The bytes at the end of `bytes` that begin a UTF-8 character without
/// completing it (0 when the last character is whole, or not UTF-8).
fn cut_character(bytes: &[u8]) -> usize {
    // The lead byte is at most three continuation bytes from the end.
    for back in 1..=bytes.len().min(4) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue;
        }
        let wants = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return 0,
        };
        return if back < wants { back } else { 0 };
    }
    0
}

/// What an input file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Zip,
    Plain,
}

impl Container {
    pub fn as_str(self) -> &'static str {
        match self {
            Container::Zip => "zip",
            Container::Plain => "plain",
        }
    }
}

/// A member's modification time in epoch milliseconds: the extended
/// timestamp (UTC) when the zip has one, else the MS-DOS time read as UTC.
/// The MS-DOS epoch (1980-01-01 00:00), which zip writers put when they
/// have no time, counts as none.
pub fn zip_member_time<R: Read>(member: &zip::read::ZipFile<'_, R>) -> Option<i64> {
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

/// When the file at `path` was made, by its own times: for a zip, the
/// newest time of its members (read from its central directory, nothing
/// inflated); for a plain file, its modification time. `None` when it
/// carries none.
pub fn file_time(path: &Path, container: Container) -> Result<Option<i64>> {
    match container {
        Container::Plain => Ok(fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| jiff::Timestamp::try_from(t).ok())
            .map(|t| t.as_millisecond())),
        Container::Zip => {
            let file = File::open(path).map_err(|e| Error::io(path, e))?;
            let mut zip =
                zip::ZipArchive::new(io::BufReader::new(file)).map_err(|e| Error::Rejected {
                    path: path.to_owned(),
                    reason: format!("not a readable zip archive ({e})"),
                })?;
            let mut newest = None;
            for i in 0..zip.len() {
                let member = zip.by_index_raw(i).map_err(|e| Error::Rejected {
                    path: path.to_owned(),
                    reason: format!("member {i} cannot be read ({e})"),
                })?;
                newest = newest.max(zip_member_time(&member));
            }
            Ok(newest)
        }
    }
}

/// The input files `paths` name, and what was passed over.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Regular files: as given, or found in a directory given.
    pub files: Vec<PathBuf>,
    /// What a directory walk did not take, each with why: symbolic links
    /// (never followed: a link in an untrusted directory could point at a
    /// key file, which the append-only archive would keep for good) and
    /// anything that is not a regular file (a FIFO, a device, a socket).
    pub skipped: Vec<String>,
}

/// The files named by `paths`: files as given, directories walked
/// recursively in name order, following no symbolic link. A path given
/// must be a regular file (a link given by name is followed to one) or a
/// directory; anything else (`/dev/zero`, a FIFO) is refused before
/// anything is read. Errors name the path that cannot be used.
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Inputs> {
    let mut out = Inputs::default();
    for path in paths {
        let meta = fs::metadata(path).map_err(|e| Error::Input {
            path: path.clone(),
            reason: match e.kind() {
                io::ErrorKind::NotFound => "no such file or directory".into(),
                _ => e.to_string(),
            },
        })?;
        if meta.is_dir() {
            let before = out.files.len();
            walk(path, &mut out)?;
            if out.files.len() == before {
                return Err(Error::Input {
                    path: path.clone(),
                    reason: "the directory holds no files".into(),
                });
            }
        } else if meta.is_file() {
            out.files.push(path.clone());
        } else {
            return Err(Error::Input {
                path: path.clone(),
                reason: format!(
                    "not a regular file ({}): give export files or directories of them",
                    kind_of(&meta.file_type())
                ),
            });
        }
    }
    Ok(out)
}

/// What a file that is not a regular file is, in words.
fn kind_of(t: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn walk(dir: &Path, out: &mut Inputs) -> Result<()> {
    let mut children: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|d| d.map(|d| d.path()))
        .collect::<io::Result<_>>()
        .map_err(|e| Error::io(dir, e))?;
    children.sort();
    for child in children {
        // The entry itself, never what a link points at.
        let meta = fs::symlink_metadata(&child).map_err(|e| Error::io(&child, e))?;
        let t = meta.file_type();
        if t.is_dir() {
            walk(&child, out)?;
        } else if t.is_file() {
            out.files.push(child);
        } else {
            let what = kind_of(&t);
            let to = if t.is_symlink() {
                fs::read_link(&child)
                    .map(|to| format!(" to {}", to.display()))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            out.skipped.push(format!(
                "{}: {what}{to}, not followed or read",
                child.display()
            ));
        }
    }
    Ok(())
}

/// Tells a zip from a plain file by its first bytes. A file named `.zip`
/// that is not one is rejected: it is a damaged or mistaken download.
pub fn sniff_container(path: &Path) -> Result<Container> {
    let mut magic = [0u8; 4];
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let n = read_up_to(&mut f, &mut magic).map_err(|e| Error::io(path, e))?;
    let is_zip = n == 4 && (magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06");
    let named_zip = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    match (is_zip, named_zip) {
        (true, _) => Ok(Container::Zip),
        (false, true) => Err(Error::Rejected {
            path: path.to_owned(),
            reason: "named .zip but is not a zip archive (it may be truncated or mistaken)".into(),
        }),
        (false, false) => Ok(Container::Plain),
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Receives what a member reader finds.
pub trait RowSink {
    /// Offered each CSV entry row before it is parsed: its row hash, and
    /// the conversation it names by identifier (`None` when it names it
    /// by a record's Id, or not readably). True when the sink already
    /// knows it (archived unchanged), and the reader skips it; else the
    /// row is parsed and its entry (or quarantine) follows.
    fn known_row(
        &mut self,
        _conversation: Option<&str>,
        _row_hash: crate::entry::RowHash,
    ) -> Result<bool> {
        Ok(false)
    }
    /// One entry read from `line` of the member.
    fn entry(&mut self, line: Option<u64>, entry: Entry) -> Result<()>;
    /// A row of a Data Export Service object.
    fn record(&mut self, line: Option<u64>, record: records::ObjectRecord) -> Result<()>;
    /// A row that could not be read, with why and the raw fields.
    fn quarantine_row(
        &mut self,
        line: Option<u64>,
        reason: String,
        raw: Option<String>,
    ) -> Result<()>;
}

/// How a member was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberOutcome {
    /// Recognised as `shape`; `rows` data rows were read (entries plus
    /// quarantined rows).
    Read { shape: String, rows: u64 },
    /// Not recognised; kept aside whole, for this reason.
    Quarantined { reason: String },
}

/// Why reading a member stopped.
#[derive(Debug)]
pub enum MemberError {
    /// The bytes could not be read (for a zip member: CRC or inflate error).
    Read(io::Error),
    /// Storing what was read failed.
    Sink(Error),
}

impl From<Error> for MemberError {
    fn from(e: Error) -> Self {
        MemberError::Sink(e)
    }
}

/// Reads one member to its end, recognising its shape by content and
/// handing its rows to `sink`. Always reads every byte, so that a caller
/// hashing the stream (and zip's CRC check) sees all of it. `name` is the
/// member's name (an API page may carry its conversation in it); a CSV's
/// header picks one of `profiles`; its rows go to `handoff` if there is
/// one (API pages are always read here, into `sink`).
pub fn read_member<'p>(
    reader: impl Read,
    name: &str,
    profiles: &'p Profiles,
    sink: &mut dyn RowSink,
    handoff: Option<&mut dyn csv_member::Handoff<'p>>,
) -> Result<MemberOutcome, MemberError> {
    let mut buffered = BufReader::with_capacity(64 * 1024, reader);
    let head = fill_at_least(&mut buffered, SNIFF_BYTES).map_err(MemberError::Read)?;
    let outcome = match classify(&head) {
        Sniffed::Empty => MemberOutcome::Quarantined {
            reason: "empty member".into(),
        },
        Sniffed::Binary => MemberOutcome::Quarantined {
            reason: "binary content, not a CSV or JSON export file".into(),
        },
        Sniffed::Json => {
            if head.starts_with(b"\xef\xbb\xbf") {
                buffered.consume(3);
            }
            api_json::read(&mut buffered, name, sink)?
        }
        Sniffed::Text
            if head.len() <= description::MAX_BYTES && description::is_description(&head) =>
        {
            // The head may be only the first read: take the member whole
            // (it is small) and look again, else read it as a CSV.
            let mut whole = Vec::with_capacity(head.len());
            (&mut buffered)
                .take(description::MAX_BYTES as u64 + 1)
                .read_to_end(&mut whole)
                .map_err(MemberError::Read)?;
            if description::is_description(&whole) {
                MemberOutcome::Read {
                    shape: description::SHAPE.into(),
                    rows: 0,
                }
            } else {
                let mut again = BufReader::new(io::Cursor::new(whole).chain(&mut buffered));
                let outcome = csv_member::read(&mut again, name, profiles, sink, handoff)?;
                io::copy(&mut again, &mut io::sink()).map_err(MemberError::Read)?;
                outcome
            }
        }
        Sniffed::Text => csv_member::read(&mut buffered, name, profiles, sink, handoff)?,
    };
    io::copy(&mut buffered, &mut io::sink()).map_err(MemberError::Read)?;
    Ok(outcome)
}

/// Fills the buffer until it holds `want` bytes or the input ends; returns
/// a copy of what is buffered (nothing is consumed).
fn fill_at_least<R: Read>(r: &mut BufReader<R>, want: usize) -> io::Result<Vec<u8>> {
    // BufReader only refills when empty, so peek by reading its first fill;
    // 8 KiB of a 64 KiB buffer is almost always there in one read.
    let buf = r.fill_buf()?;
    Ok(buf[..buf.len().min(want)].to_vec())
}

enum Sniffed {
    Empty,
    Binary,
    Json,
    Text,
}

fn classify(head: &[u8]) -> Sniffed {
    let body = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Sniffed::Empty,
        Some(_) if body.contains(&0) => Sniffed::Binary,
        Some(b'{') | Some(b'[') => Sniffed::Json,
        Some(_) => Sniffed::Text,
    }
}

/// A sink that keeps everything, for the readers' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::RowSink;
    use super::records::ObjectRecord;
    use crate::entry::Entry;
    use crate::error::Result;

    #[derive(Default)]
    pub(crate) struct Collect {
        pub entries: Vec<(Option<u64>, Entry)>,
        pub records: Vec<(Option<u64>, ObjectRecord)>,
        pub quarantined: Vec<(Option<u64>, String)>,
    }

    impl RowSink for Collect {
        fn entry(&mut self, line: Option<u64>, entry: Entry) -> Result<()> {
            self.entries.push((line, entry));
            Ok(())
        }
        fn record(&mut self, line: Option<u64>, record: ObjectRecord) -> Result<()> {
            self.records.push((line, record));
            Ok(())
        }
        fn quarantine_row(
            &mut self,
            line: Option<u64>,
            reason: String,
            _: Option<String>,
        ) -> Result<()> {
            self.quarantined.push((line, reason));
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a row too long to read keeps: a character split by the cut
    /// is dropped, a whole one or invalid bytes are not.
    #[test]
    fn the_kept_head_of_a_long_row_ends_on_a_whole_character() {
        let pad = |tail: &[u8]| {
            let mut v = vec![b'a'; OVERSIZE_KEPT - tail.len()];
            v.extend_from_slice(tail);
            v
        };
        let euro = "€".as_bytes(); // 3 bytes
        for (tail, kept) in [
            (&euro[..1], OVERSIZE_KEPT - 1),
            (&euro[..2], OVERSIZE_KEPT - 2),
            (euro, OVERSIZE_KEPT),
            (&[0xFF][..], OVERSIZE_KEPT - 1 + "\u{fffd}".len()),
        ] {
            let text = oversize_kept(&pad(tail));
            assert_eq!(text.len(), kept, "{tail:?}");
            assert!(text.starts_with("aaa"));
        }
        let emoji = "🎉".as_bytes();
        let text = oversize_kept(&pad(&emoji[..3]));
        assert!(!text.ends_with('\u{fffd}'), "the split emoji is dropped");
        assert_eq!(oversize_kept(b"short"), "short");
    }
}
