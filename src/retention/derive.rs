//! Derivatives of stored originals: the same bytes without removed rows.
//!
//! When conversations are removed, the stored originals that carried them
//! must no longer hold them; yet the provenance of every remaining entry
//! (its member and the line its row starts on) must stay valid, and the
//! rest of the original must stay byte for byte what was received. For a
//! CSV member this is done by blanking: every line of a removed record
//! keeps only its line end (`\r\n`, `\n` or `\r`, as it was; a `\n` that
//! would now follow a `\r` and join it into one line end is written as a
//! `\r`), every other byte of the member is kept. Every later record starts on the same line
//! as before, and a CSV reader skips the blank lines (as convault's does:
//! `source::csv_split`).
//!
//! Invariants (property-tested): the records read from the derivative are
//! exactly the original's minus the removed ones, each on its original
//! line; the derivative is the original with the non-line-end bytes of the
//! removed records' lines deleted (line-end bytes are kept, one for one);
//! both passes stream, so memory does not
//! grow with the member.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::hashing::{HashingReader, hex};
use crate::source::csv_split::Splitter;

/// Bytes copied at a time in the blanking pass.
const CHUNK: usize = 64 * 1024;

/// What a derivative removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blanked {
    /// Records removed.
    pub records: u64,
    /// Lines blanked (a record with line breaks inside spans several).
    pub lines: u64,
    /// Bytes removed (the derivative is this much shorter).
    pub bytes: u64,
}

/// Why a derivative could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The archive says a removed row starts on these lines, but no record
    /// of the member does: the member or the archive is not what it was.
    #[error("no record of the member starts on line(s) {}", .0.iter().map(u64::to_string).collect::<Vec<_>>().join(", "))]
    NoRecordAt(Vec<u64>),
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    /// Two entries start on a line with a removed one (which to remove is
    /// not known from the line), or a removed entry in an array has no
    /// four bytes on one line for the `null` that keeps the array valid.
    #[error(
        "the entry on line {0} cannot be told apart or replaced: two entries start on that line, or it is too short to hold `null`"
    )]
    Ambiguous(u64),
    /// A member to derive is not in the zip, or its name is not unique.
    #[error("the zip has {count} member(s) named {name:?}, where one was expected")]
    Member { name: String, count: usize },
    /// Deriving this member failed.
    #[error("member {member}: {source}")]
    InMember {
        member: String,
        source: Box<DeriveError>,
    },
}

/// A member rewritten without removed records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedMember {
    pub name: String,
    /// Of its (uncompressed) bytes, as the archive records a member.
    pub sha256: String,
    pub crc32: u32,
    pub bytes: u64,
    pub blanked: Blanked,
}

/// A zip written without removed records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedZip {
    /// Of the whole file written.
    pub sha256: String,
    pub bytes: u64,
    /// The members rewritten; every other member is copied as it was,
    /// compressed bytes and all.
    pub members: Vec<DerivedMember>,
}

/// Writes `dest` (a new file) as the zip `src` without the records that
/// start on the given lines of the given CSV members, and without the
/// members named in `drop` (those left with nothing). The other members
/// are copied raw (their compressed bytes, times and attributes as they
/// were); a rewritten member keeps its name, time and permissions and is
/// deflated. `dest` is flushed and fsynced before this returns; on an
/// error it is removed (it is never overwritten if it exists).
pub fn zip_without(
    src: &Path,
    dest: &Path,
    remove: &BTreeMap<String, BTreeSet<u64>>,
    drop: &BTreeSet<String>,
) -> Result<DerivedZip, DeriveError> {
    zip_without_json(src, dest, remove, drop, &BTreeSet::new())
}

/// As [`zip_without`], where the members named in `json` are JSON
/// (their entries removed by [`json_without`], not CSV records).
pub fn zip_without_json(
    src: &Path,
    dest: &Path,
    remove: &BTreeMap<String, BTreeSet<u64>>,
    drop: &BTreeSet<String>,
    json: &BTreeSet<String>,
) -> Result<DerivedZip, DeriveError> {
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)?;
    let result = write_zip_without(src, out, dest, remove, drop, json);
    if result.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    result
}

fn write_zip_without(
    src: &Path,
    out: File,
    dest: &Path,
    remove: &BTreeMap<String, BTreeSet<u64>>,
    drop: &BTreeSet<String>,
    json: &BTreeSet<String>,
) -> Result<DerivedZip, DeriveError> {
    let mut archive = zip::ZipArchive::new(BufReader::new(File::open(src)?))?;
    let names: Vec<String> = (0..archive.len())
        .map(|i| Ok(archive.by_index_raw(i)?.name()?.into_owned()))
        .collect::<Result<_, DeriveError>>()?;
    for name in remove.keys().chain(drop) {
        let count = names.iter().filter(|n| *n == name).count();
        if count != 1 {
            return Err(DeriveError::Member {
                name: name.clone(),
                count,
            });
        }
    }
    let in_member = |name: &str| {
        let member = name.to_owned();
        move |e: DeriveError| DeriveError::InMember {
            member,
            source: Box::new(e),
        }
    };
    let mut writer = zip::ZipWriter::new(io::BufWriter::new(out));
    let mut derived = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if drop.contains(name) {
            continue;
        }
        let Some(lines) = remove.get(name) else {
            writer.raw_copy_file(archive.by_index_raw(i)?)?;
            continue;
        };
        let spans = if json.contains(name) {
            Vec::new()
        } else {
            record_spans(archive.by_index(i)?, lines).map_err(in_member(name))?
        };
        let mut options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        {
            let m = archive.by_index_raw(i)?;
            options = options.large_file(m.size() >= u64::from(u32::MAX));
            if let Some(t) = m.last_modified() {
                options = options.last_modified_time(t);
            }
            if let Some(mode) = m.unix_mode() {
                options = options.unix_permissions(mode);
            }
        }
        writer.start_file(name.as_str(), options)?;
        let mut tee = Tee {
            inner: &mut writer,
            sha256: Sha256::new(),
            bytes: 0,
        };
        let blanked = if json.contains(name) {
            json_without(archive.by_index(i)?, lines, &mut tee)
        } else {
            blank_lines(archive.by_index(i)?, &spans, &mut tee)
        }
        .map_err(in_member(name))?;
        derived.push(DerivedMember {
            name: name.clone(),
            sha256: hex(&tee.sha256.finalize()),
            crc32: 0,
            bytes: tee.bytes,
            blanked,
        });
    }
    if !archive.comment().is_empty() {
        writer.set_raw_comment(archive.comment().into())?;
    }
    let file = writer.finish()?.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    std::mem::drop(file);
    // The CRC-32 of each rewritten member, as the zip now records it.
    let mut written = zip::ZipArchive::new(BufReader::new(File::open(dest)?))?;
    for m in &mut derived {
        m.crc32 = written.by_name(&m.name)?.crc32();
    }
    let mut hashing = HashingReader::new(File::open(dest)?);
    io::copy(&mut hashing, &mut io::sink())?;
    let (bytes, sha256) = hashing.finish()?;
    Ok(DerivedZip {
        sha256,
        bytes,
        members: derived,
    })
}

/// A plain CSV file written without removed records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DerivedFile {
    pub sha256: String,
    pub bytes: u64,
    pub blanked: Blanked,
}

/// Writes `dest` (a new file) as the plain CSV file `src` without the
/// records that start on `lines`, as [`blank_lines`] does. `dest` is
/// fsynced before this returns, and removed on an error.
pub fn file_without(
    src: &Path,
    dest: &Path,
    lines: &BTreeSet<u64>,
    json: bool,
) -> Result<DerivedFile, DeriveError> {
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)?;
    let result = (|| {
        let mut out = io::BufWriter::with_capacity(CHUNK, out);
        let mut tee = Tee {
            inner: &mut out,
            sha256: Sha256::new(),
            bytes: 0,
        };
        let blanked = if json {
            json_without(BufReader::new(File::open(src)?), lines, &mut tee)?
        } else {
            let spans = record_spans(BufReader::new(File::open(src)?), lines)?;
            blank_lines(File::open(src)?, &spans, &mut tee)?
        };
        let (sha256, bytes) = (hex(&tee.sha256.finalize()), tee.bytes);
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(DerivedFile {
            sha256,
            bytes,
            blanked,
        })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    result
}

/// Copies the JSON member `member` to `out` without the entry objects that
/// start on `starts` lines: each such object's bytes become spaces (its
/// line ends kept, so every other entry starts on the same line), and an
/// object inside a top-level array becomes `null` padded with spaces,
/// which the reader skips (`source::api_json`), so the array stays valid
/// and the other entries keep their positions. An entry object is one at
/// the top level (NDJSON, a stream of objects) or an element of a
/// top-level array; a page (`conversationEntries`) is never rewritten, it
/// goes whole. Streams: memory does not grow with the member or an entry.
/// `Blanked::bytes` counts the bytes overwritten (the length is kept).
pub fn json_without(
    mut member: impl Read,
    starts: &BTreeSet<u64>,
    mut out: impl Write,
) -> Result<Blanked, DeriveError> {
    let mut buf = vec![0u8; CHUNK];
    let mut kept = Vec::with_capacity(CHUNK);
    // Open containers, outermost first; where a string is.
    let mut stack: Vec<u8> = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    let mut line = 1u64;
    // While an entry is removed: the depth it started at, and, when it
    // becomes `null`, whether that is written yet and how many bytes of
    // the current line's run are held back for it (`null` needs four
    // bytes on one line; a pretty-printed entry's `{` ends its line).
    let mut removing: Option<(usize, Option<(bool, usize)>)> = None;
    let mut found: BTreeMap<u64, u64> = BTreeMap::new();
    let mut blanked = Blanked::default();
    loop {
        let n = read_some(&mut member, &mut buf)?;
        if n == 0 {
            break;
        }
        kept.clear();
        for &b in &buf[..n] {
            let structural = !in_string;
            if in_string {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    in_string = false;
                }
            } else if b == b'"' {
                in_string = true;
            }
            let entry_start = structural
                && b == b'{'
                && removing.is_none()
                && (stack.is_empty() || stack == [b'[']);
            if entry_start && starts.contains(&line) {
                let count = found.entry(line).or_default();
                *count += 1;
                if *count > 1 {
                    return Err(DeriveError::Ambiguous(line));
                }
                removing = Some((stack.len(), (!stack.is_empty()).then_some((false, 0))));
                blanked.records += 1;
            }
            if structural {
                match b {
                    b'{' | b'[' => stack.push(b),
                    b'}' | b']' => {
                        stack.pop();
                    }
                    _ => {}
                }
            }
            match &mut removing {
                Some((_, null)) if b == b'\n' || b == b'\r' => {
                    if let Some((false, run)) = null {
                        kept.resize(kept.len() + *run, b' ');
                        *run = 0;
                    }
                    kept.push(b);
                }
                Some((_, Some((placed @ false, run)))) => {
                    blanked.bytes += 1;
                    *run += 1;
                    if *run == 4 {
                        kept.extend_from_slice(b"null");
                        *placed = true;
                    }
                }
                Some(_) => {
                    blanked.bytes += 1;
                    kept.push(b' ');
                }
                None => kept.push(b),
            }
            if let Some((depth, null)) = removing
                && structural
                && b == b'}'
                && stack.len() == depth
            {
                if let Some((false, _)) = null {
                    return Err(DeriveError::Ambiguous(line));
                }
                removing = None;
            }
            if b == b'\n' {
                line += 1;
                if removing.is_some() {
                    blanked.lines += 1;
                }
            }
        }
        out.write_all(&kept)?;
    }
    out.flush()?;
    let missing: Vec<u64> = starts
        .iter()
        .filter(|l| !found.contains_key(l))
        .copied()
        .collect();
    if !missing.is_empty() || removing.is_some() {
        return Err(DeriveError::NoRecordAt(missing));
    }
    Ok(blanked)
}

/// One read into `buf`, retried when interrupted; 0 at the end.
fn read_some(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Hashes and counts what passes to `inner`.
struct Tee<'a, W: Write> {
    inner: &'a mut W,
    sha256: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Tee<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha256.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The line ranges (first and last line, inclusive) of the records of a
/// CSV member that start on `remove` lines; read by `Splitter`, so the
/// records are those convault's CSV reading sees.
pub fn record_spans(
    member: impl Read,
    remove: &BTreeSet<u64>,
) -> Result<Vec<(u64, u64)>, DeriveError> {
    let mut splitter = Splitter::new(member);
    let mut record = Vec::new();
    let mut spans = Vec::new();
    loop {
        record.clear();
        let Some(line) = splitter.next_into(&mut record)? else {
            break;
        };
        if remove.contains(&line) {
            // The splitter's line, not the record's bytes: a record too
            // long to hold is cut short.
            spans.push((line, splitter.line()));
        }
    }
    let found: BTreeSet<u64> = spans.iter().map(|(first, _)| *first).collect();
    let missing: Vec<u64> = remove.difference(&found).copied().collect();
    if !missing.is_empty() {
        return Err(DeriveError::NoRecordAt(missing));
    }
    Ok(spans)
}

/// Copies `member` to `out`, keeping only the line ends of the lines in
/// `spans` (sorted, as [`record_spans`] gives them).
pub fn blank_lines(
    mut member: impl Read,
    spans: &[(u64, u64)],
    mut out: impl Write,
) -> Result<Blanked, DeriveError> {
    let mut buf = vec![0u8; CHUNK];
    let mut kept = Vec::with_capacity(CHUNK);
    let mut line = 1u64;
    let mut cr = false;
    // The last byte written, across reads.
    let mut last_out = 0u8;
    let mut next = 0usize; // the first span not yet passed
    let mut blanked = Blanked {
        records: spans.len() as u64,
        lines: spans.iter().map(|(a, b)| b - a + 1).sum(),
        bytes: 0,
    };
    loop {
        let n = read_some(&mut member, &mut buf)?;
        if n == 0 {
            break;
        }
        kept.clear();
        for &b in &buf[..n] {
            while next < spans.len() && spans[next].1 < line {
                next += 1;
            }
            let removed = next < spans.len() && spans[next].0 <= line;
            match b {
                b'\n' => {
                    // With the bytes between them removed, a `\r` and
                    // this `\n` would read as one line end: the `\n` is
                    // written as a `\r` (a line end of its own).
                    last_out = if !cr && last_out == b'\r' { b'\r' } else { b };
                    kept.push(last_out);
                    if !cr {
                        line += 1;
                    }
                    cr = false;
                }
                b'\r' => {
                    kept.push(b);
                    last_out = b;
                    line += 1;
                    cr = true;
                }
                _ => {
                    cr = false;
                    if removed {
                        blanked.bytes += 1;
                    } else {
                        kept.push(b);
                        last_out = b;
                    }
                }
            }
        }
        out.write_all(&kept)?;
    }
    out.flush()?;
    Ok(blanked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Every record convault reads from `bytes`: its line and its fields.
    fn records(bytes: &[u8]) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut s = Splitter::new(bytes);
        let mut parser = crate::source::csv_split::RowParser::default();
        let mut out = Vec::new();
        let mut raw = Vec::new();
        loop {
            raw.clear();
            let Some(line) = s.next_into(&mut raw).unwrap() else {
                break;
            };
            let r = parser.record(&raw);
            out.push((line, r.iter().map(<[u8]>::to_vec).collect()));
        }
        out
    }

    fn derive(bytes: &[u8], remove: &BTreeSet<u64>) -> (Vec<u8>, Blanked) {
        let spans = record_spans(bytes, remove).unwrap();
        let mut out = Vec::new();
        let b = blank_lines(bytes, &spans, &mut out).unwrap();
        (out, b)
    }

    #[test]
    fn a_removed_record_leaves_its_line_ends_and_every_other_byte() {
        let csv = b"id,text\r\n1,keep\r\n2,\"gone\nwith a break\"\r\n3,keep too\n4,last";
        let remove = BTreeSet::from([3]);
        let (out, b) = derive(csv, &remove);
        assert_eq!(out, b"id,text\r\n1,keep\r\n\n\r\n3,keep too\n4,last");
        assert_eq!(
            b,
            Blanked {
                records: 1,
                lines: 2,
                bytes: 20
            }
        );
        let after = records(&out);
        assert_eq!(after.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 5, 6]);
        // The last record, with no line end after it.
        let (out, _) = derive(csv, &BTreeSet::from([6]));
        assert!(out.ends_with(b"3,keep too\n"));
    }

    #[test]
    fn a_line_that_starts_no_record_is_refused() {
        let csv = b"id,text\n1,\"a\nb\"\n2,c\n";
        // Line 3 is inside record 1's quoted field.
        match record_spans(&csv[..], &BTreeSet::from([3, 9])) {
            Err(DeriveError::NoRecordAt(lines)) => assert_eq!(lines, [3, 9]),
            other => panic!("{other:?}"),
        }
    }

    fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::from_date_and_time(2026, 11, 9, 23, 0, 0).unwrap());
        for (name, bytes) in members {
            w.start_file(*name, opts).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.set_comment("export 2026-11-09").unwrap();
        w.finish().unwrap().into_inner()
    }

    fn raw_members(path: &Path) -> Vec<(String, Vec<u8>, u32)> {
        let mut a = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
        (0..a.len())
            .map(|i| {
                let mut m = a.by_index_raw(i).unwrap();
                let mut raw = Vec::new();
                m.read_to_end(&mut raw).unwrap();
                (m.name().unwrap().into_owned(), raw, m.crc32())
            })
            .collect()
    }

    #[test]
    fn a_zip_derivative_rewrites_only_the_members_with_removed_rows() {
        let tmp = tempfile::tempdir().unwrap();
        let a = b"id,text\n1,\"keep\"\n2,\"secret\nline\"\n3,keep\n".to_vec();
        let b = b"id,text\r\n4,other\r\n".to_vec();
        let src = tmp.path().join("src.zip");
        std::fs::write(
            &src,
            zip_of(&[("a.csv", &a), ("b.csv", &b), ("info.txt", b"not csv")]),
        )
        .unwrap();
        let dest = tmp.path().join("dest.zip");
        let remove = BTreeMap::from([("a.csv".to_owned(), BTreeSet::from([3]))]);
        let d = zip_without(&src, &dest, &remove, &BTreeSet::new()).unwrap();

        let expected_a = b"id,text\n1,\"keep\"\n\n\n3,keep\n";
        let mut archive = zip::ZipArchive::new(File::open(&dest).unwrap()).unwrap();
        let mut got = Vec::new();
        archive
            .by_name("a.csv")
            .unwrap()
            .read_to_end(&mut got)
            .unwrap();
        assert_eq!(got, expected_a);
        assert_eq!(archive.comment(), b"export 2026-11-09");
        assert_eq!(
            archive
                .by_name("a.csv")
                .unwrap()
                .last_modified()
                .map(|t| t.year()),
            Some(2026)
        );
        assert_eq!(d.members.len(), 1);
        let m = &d.members[0];
        assert_eq!(m.sha256, crate::hashing::sha256_hex(expected_a));
        assert_eq!(m.bytes, expected_a.len() as u64);
        assert_eq!(
            m.blanked,
            Blanked {
                records: 1,
                lines: 2,
                bytes: 14
            }
        );
        assert_eq!(m.crc32, archive.by_name("a.csv").unwrap().crc32());
        let bytes = std::fs::read(&dest).unwrap();
        assert_eq!(d.sha256, crate::hashing::sha256_hex(&bytes));
        assert_eq!(d.bytes, bytes.len() as u64);
        // The other members: the same compressed bytes and CRC.
        let (before, after) = (raw_members(&src), raw_members(&dest));
        assert_eq!(before[1], after[1]);
        assert_eq!(before[2], after[2]);
        assert_ne!(before[0].2, after[0].2);
        // Nothing of the removed row is left in the file, compressed or not.
        assert!(!bytes.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn a_zip_derivative_refuses_what_does_not_match_and_writes_nothing_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src.zip");
        std::fs::write(&src, zip_of(&[("a.csv", b"id\n1\n")])).unwrap();
        let ask = |name: &str, line: u64, dest: &str| {
            let remove = BTreeMap::from([(name.to_owned(), BTreeSet::from([line]))]);
            zip_without(&src, &tmp.path().join(dest), &remove, &BTreeSet::new()).unwrap_err()
        };
        let e = ask("missing.csv", 2, "d1.zip");
        assert!(matches!(e, DeriveError::Member { count: 0, .. }), "{e}");
        let e = ask("a.csv", 5, "d2.zip");
        assert_eq!(
            e.to_string(),
            "member a.csv: no record of the member starts on line(s) 5"
        );
        for d in ["d1.zip", "d2.zip"] {
            assert!(!tmp.path().join(d).exists(), "{d} was left behind");
        }
        // An existing destination is never overwritten.
        std::fs::write(tmp.path().join("d3.zip"), b"x").unwrap();
        let e = ask("a.csv", 2, "d3.zip");
        assert!(matches!(e, DeriveError::Io(_)), "{e}");
        assert_eq!(std::fs::read(tmp.path().join("d3.zip")).unwrap(), b"x");
    }

    fn field() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z ]{0,6}",
            "[a-z\",\r\n ]{0,8}".prop_map(|s| format!("\"{}\"", s.replace('"', "\"\""))),
        ]
    }

    proptest! {
        #[test]
        fn the_derivative_holds_every_other_record_on_its_line(
            rows in prop::collection::vec(
                (prop::collection::vec(field(), 1..4), prop_oneof![Just("\n"), Just("\r\n"), Just("\r"), Just("\n\n")]),
                1..12,
            ),
            pick in prop::collection::vec(any::<bool>(), 12),
        ) {
            let mut csv = Vec::new();
            for (fields, end) in &rows {
                csv.extend_from_slice(fields.join(",").as_bytes());
                csv.extend_from_slice(end.as_bytes());
            }
            let before = records(&csv);
            let remove: BTreeSet<u64> = before
                .iter()
                .zip(&pick)
                .filter(|(_, p)| **p)
                .map(|(r, _)| r.0)
                .collect();
            let (out, blanked) = derive(&csv, &remove);
            let after = records(&out);
            let expected: Vec<_> = before.iter().filter(|r| !remove.contains(&r.0)).cloned().collect();
            prop_assert_eq!(&after, &expected);
            prop_assert_eq!(blanked.records as usize, remove.len());
            prop_assert_eq!(csv.len() - out.len(), blanked.bytes as usize);
            // Only line ends remain where removed records were.
            let line_end_bytes = |b: &[u8]| b.iter().filter(|&&c| c == b'\r' || c == b'\n').count();
            prop_assert_eq!(line_end_bytes(&csv), line_end_bytes(&out));
        }
    }

    /// Entries with awkward text: braces, brackets, quotes, backslashes,
    /// line breaks (escaped inside strings).
    fn json_entry(i: usize, conversation: &str, text: &str, pretty: bool) -> String {
        let v = serde_json::json!({
            "identifier": format!("e{i}"),
            "conversationIdentifier": conversation,
            "entryType": "Message",
            "entryPayload": {"abstractMessage": {"messageType": "StaticContentMessage",
                "staticContent": {"formatType": "Text", "text": text}}},
        });
        if pretty {
            serde_json::to_string_pretty(&v).unwrap()
        } else {
            v.to_string()
        }
    }

    /// What convault's JSON reader gives: each entry's line and identifier.
    fn json_entries(bytes: &[u8]) -> (u64, Vec<(u64, String)>) {
        let mut c = crate::source::testing::Collect::default();
        let outcome = crate::source::api_json::read(bytes, "x.ndjson", &mut c).unwrap();
        let rows = match outcome {
            crate::source::MemberOutcome::Read { rows, .. } => rows,
            other => panic!("{other:?}"),
        };
        assert!(c.quarantined.is_empty(), "{:?}", c.quarantined);
        (
            rows,
            c.entries
                .into_iter()
                .map(|(l, e)| (l.unwrap(), e.identifier))
                .collect(),
        )
    }

    #[test]
    fn a_removed_json_entry_becomes_spaces_or_null_and_keeps_every_line() {
        let conv = "4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6c";
        let ndjson = format!(
            "{}\n{}\n{}\n",
            json_entry(0, conv, "a {", false),
            json_entry(1, conv, "b \"}", false),
            json_entry(2, conv, "c", false)
        );
        let mut out = Vec::new();
        let b = json_without(ndjson.as_bytes(), &BTreeSet::from([2]), &mut out).unwrap();
        assert_eq!(b.records, 1);
        assert_eq!(out.len(), ndjson.len());
        let (rows, got) = json_entries(&out);
        assert_eq!(rows, 2);
        assert_eq!(got, [(1, "e0".to_owned()), (3, "e2".to_owned())]);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().nth(1).unwrap().trim(), "");
        // In an array the entry becomes `null`.
        let array = format!(
            "[\n{},\n{}\n]",
            json_entry(0, conv, "x", false),
            json_entry(1, conv, "y", false)
        );
        let mut out = Vec::new();
        json_without(array.as_bytes(), &BTreeSet::from([2]), &mut out).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.contains("\nnull "), "{text}");
        assert_eq!(json_entries(&out).1, [(3, "e1".to_owned())]);
        // A line no entry starts on, and a page's entries, are refused.
        assert!(matches!(
            json_without(ndjson.as_bytes(), &BTreeSet::from([4]), &mut Vec::new()),
            Err(DeriveError::NoRecordAt(_))
        ));
        let page = format!(
            "{{\"conversationEntries\": [\n{}\n]}}",
            json_entry(0, conv, "p", false)
        );
        assert!(json_without(page.as_bytes(), &BTreeSet::from([2]), &mut Vec::new()).is_err());
    }

    proptest! {
        /// Whatever entries are removed, in NDJSON or an array, compact
        /// or pretty: the reader gives exactly the others, each on its
        /// original line, and the file keeps its length and line ends.
        #[test]
        fn json_without_keeps_the_others_on_their_lines(
            texts in proptest::collection::vec("[a-z{}\\[\\]\"\\\\\n ]{0,12}", 1..8),
            remove in proptest::collection::vec(any::<bool>(), 8),
            array in any::<bool>(),
            pretty in any::<bool>(),
        ) {
            let conv = "4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6c";
            let entries: Vec<String> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| json_entry(i, conv, t, pretty))
                .collect();
            let bytes = if array {
                format!("[\n{}\n]\n", entries.join(",\n"))
            } else {
                entries.join("\n") + "\n"
            };
            let (_, before) = json_entries(bytes.as_bytes());
            prop_assert_eq!(before.len(), texts.len());
            let starts: BTreeSet<u64> = before
                .iter()
                .zip(&remove)
                .filter(|(_, r)| **r)
                .map(|((l, _), _)| *l)
                .collect();
            let mut out = Vec::new();
            let b = json_without(bytes.as_bytes(), &starts, &mut out).unwrap();
            prop_assert_eq!(b.records as usize, starts.len());
            prop_assert_eq!(out.len(), bytes.len());
            let kept: Vec<(u64, String)> = before
                .into_iter()
                .filter(|(l, _)| !starts.contains(l))
                .collect();
            // A member left with nothing is dropped whole, not derived.
            prop_assume!(!kept.is_empty());
            let (rows, after) = json_entries(&out);
            prop_assert_eq!(rows as usize, kept.len());
            prop_assert_eq!(after, kept);
            let newlines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
            prop_assert_eq!(newlines(bytes.as_bytes()), newlines(&out));
        }
    }
}
