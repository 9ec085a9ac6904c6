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

use std::collections::BTreeSet;
use std::io::{self, Read, Write};

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
            spans.push((line, line + line_ends(&record)));
        }
    }
    let found: BTreeSet<u64> = spans.iter().map(|(first, _)| *first).collect();
    let missing: Vec<u64> = remove.difference(&found).copied().collect();
    if !missing.is_empty() {
        return Err(DeriveError::NoRecordAt(missing));
    }
    Ok(spans)
}

/// Line ends in `bytes`: `\r\n`, a lone `\r` and `\n` count one each.
fn line_ends(bytes: &[u8]) -> u64 {
    let mut n = 0;
    let mut cr = false;
    for &b in bytes {
        match b {
            b'\n' if cr => cr = false,
            b'\n' => n += 1,
            b'\r' => {
                n += 1;
                cr = true;
            }
            _ => cr = false,
        }
    }
    n
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
        let n = match member.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
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
}
