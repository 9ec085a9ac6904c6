//! CSV records split from a member without parsing their fields, and
//! parsed later, where and when they are needed.
//!
//! A weekly complete export repeats every earlier row, and a row the
//! archive already holds is recognised by the hash of its raw bytes
//! (`crate::source::csv_member`): it needs its boundaries and the one or
//! two fields that name its conversation, not a full parse. So the reading
//! thread only finds where each record starts and ends ([`Splitter`]), and
//! whoever processes the record parses what it needs ([`RowParser`]).
//!
//! Invariant (a property test holds it): splitting a member with
//! [`Splitter`] and parsing each record alone with [`RowParser::record`]
//! gives exactly the records the csv crate reads from the whole member
//! with convault's settings (comma, `"` quotes doubled inside, any of
//! `\r`, `\n`, `\r\n` ending a record, blank lines skipped, rows of any
//! width). The splitter follows csv-core's state machine for those
//! settings: a quote opens a quoted field only at the start of a field,
//! and a record ends at a line end outside quotes. It scans 64 bytes at a
//! time by quote parity where that machine and parity agree (nearly
//! always: a quote inside an unquoted field is where they do not), and a
//! byte at a time where they may not.
//!
//! Lines: a record's line is 1 + the line ends before its first byte,
//! where `\r\n`, `\n` and a lone `\r` each end a line.
//!
//! Memory: a record longer than [`super::MAX_ROW_BYTES`] is not held
//! whole. Its first bytes are kept, the rest is scanned (for its end and
//! its line ends) and dropped, and [`Splitter::oversize`] gives its length:
//! the reader quarantines it, and the original keeps it.

use std::io::{self, Read};

use csv::ByteRecord;

/// Bytes read from the member at a time.
const READ_SIZE: usize = 64 * 1024;

/// Where the splitter is inside a record (csv-core's states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    FieldStart,
    /// In an unquoted field.
    Unquoted,
    /// In a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: another quote makes an
    /// escaped quote, anything else closes the quotes.
    QuoteInQuoted,
}

/// Splits a CSV stream into records, each appended to a buffer as the raw
/// bytes between its first byte and its line end.
pub struct Splitter<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    /// The line the next byte is on (1-based).
    line: u64,
    /// The last byte seen between records was a `\r`: a line end, unless
    /// a `\n` follows (then the pair is one).
    pending_cr: bool,
    /// Bytes of a record kept at most.
    limit: usize,
    /// The length of the record last returned, when it was longer than
    /// `limit` (only its first `limit` bytes were appended).
    oversize: Option<u64>,
}

impl<R: Read> Splitter<R> {
    pub fn new(inner: R) -> Self {
        Self::with_capacity(inner, READ_SIZE)
    }

    fn with_capacity(inner: R, size: usize) -> Self {
        Splitter {
            inner,
            buf: vec![0; size.max(1)].into_boxed_slice(),
            pos: 0,
            len: 0,
            line: 1,
            pending_cr: false,
            limit: super::MAX_ROW_BYTES,
            oversize: None,
        }
    }

    /// At most `limit` bytes of a record are appended (the rest is
    /// scanned and dropped; see [`Splitter::oversize`]). Readers keep the
    /// default, [`super::MAX_ROW_BYTES`]; tests set a small one.
    #[cfg(test)]
    fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The full length of the record last returned by
    /// [`Splitter::next_into`], if it was longer than the limit: then only
    /// its first `limit` bytes were appended.
    pub fn oversize(&self) -> Option<u64> {
        self.oversize
    }

    /// The line the record last returned ends on (before its line end).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Refills the buffer; false at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => {
                    self.pos = 0;
                    self.len = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends the next record's bytes to `out` and returns the line it
    /// starts on; `None` at the end of the stream (nothing appended).
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> io::Result<Option<u64>> {
        // Line ends (and blank lines) between records.
        loop {
            if self.pos == self.len && !self.fill()? {
                return Ok(None);
            }
            match self.buf[self.pos] {
                b'\n' => {
                    self.pending_cr = false;
                    self.line += 1;
                }
                b'\r' => {
                    if self.pending_cr {
                        self.line += 1;
                    }
                    self.pending_cr = true;
                }
                _ => break,
            }
            self.pos += 1;
        }
        if self.pending_cr {
            self.pending_cr = false;
            self.line += 1;
        }
        let line = self.line;
        let mut state = State::FieldStart;
        // Counted piece by piece: a `\r\n` split between two pieces is
        // one line end, not two.
        let (mut total, mut line_ends, mut ended_cr) = (0usize, 0u64, false);
        loop {
            let chunk = &self.buf[self.pos..self.len];
            let (next, end) = scan(state, chunk);
            let piece = &chunk[..end.unwrap_or(chunk.len())];
            line_ends += count_line_ends(piece);
            if ended_cr && piece.first() == Some(&b'\n') {
                line_ends -= 1;
            }
            if let Some(&last) = piece.last() {
                ended_cr = last == b'\r';
            }
            let room = self.limit.saturating_sub(total);
            out.extend_from_slice(&piece[..piece.len().min(room)]);
            total += piece.len();
            state = next;
            match end {
                Some(end) => {
                    // The line end itself is left for the next call.
                    self.pos += end;
                    break;
                }
                None => {
                    self.pos = self.len;
                    if !self.fill()? {
                        break;
                    }
                }
            }
        }
        self.line += line_ends;
        self.oversize = (total > self.limit).then_some(total as u64);
        Ok(Some(line))
    }
}

/// Scans `chunk` from `state`: the state at its end, or the index of the
/// line end that ends the record. Whole blocks first, a byte at a time
/// for the rest.
fn scan(state: State, chunk: &[u8]) -> (State, Option<usize>) {
    let (state, done, end) = scan_blocks(state, chunk);
    if end.is_some() {
        return (state, end);
    }
    let (state, end) = scan_bytes(state, &chunk[done..]);
    (state, end.map(|end| done + end))
}

/// Bytes [`scan_blocks`] takes at a time: one bit of a word each.
const BLOCK: usize = 64;

/// Scans whole blocks of `chunk` from `state`, by quote parity: within a
/// record, a byte is inside quotes when an odd number of quotes come
/// before it (a doubled quote toggles twice), and the record ends at the
/// first line end outside quotes. That holds while every quote that opens
/// quotes does so at the start of a field (after a comma, a closing quote
/// or the record's start); a block where one does not (a quote inside an
/// unquoted field is a plain byte to csv-core) is scanned a byte at a
/// time instead. Returns the state after the blocks scanned, how many
/// bytes they hold, and the record's end if it is among them.
fn scan_blocks(state: State, chunk: &[u8]) -> (State, usize, Option<usize>) {
    // The state as parity: inside quotes, and whether a quote may open
    // quotes at the next byte (FieldStart and QuoteInQuoted behave alike
    // from here on: a quote (re)opens, a comma starts a field, a line end
    // ends the record, anything else makes an unquoted field).
    let mut inside = state == State::Quoted;
    let mut may_open = matches!(state, State::FieldStart | State::QuoteInQuoted);
    let mut done = 0;
    while let Some(block) = chunk
        .get(done..)
        .and_then(|rest| rest.first_chunk::<BLOCK>())
    {
        let Masks {
            quotes,
            line_ends,
            commas,
        } = masks(block);
        // Set where the byte is inside quotes after it is read.
        let after = prefix_xor(quotes) ^ if inside { !0 } else { 0 };
        let ends = line_ends & !after;
        // Only bytes before the record's end belong to it.
        let mine = match ends {
            0 => !0,
            ends => (1u64 << ends.trailing_zeros()) - 1,
        };
        let opening = quotes & after;
        let closing = quotes & !after;
        let separators = (commas & !after) | closing;
        let opening_allowed = (separators << 1) | u64::from(may_open);
        if opening & !opening_allowed & mine != 0 {
            let (next, end) = scan_bytes(parity_state(inside, may_open), block);
            if let Some(end) = end {
                return (next, done + end, Some(done + end));
            }
            inside = next == State::Quoted;
            may_open = matches!(next, State::FieldStart | State::QuoteInQuoted);
        } else if ends != 0 {
            let end = done + ends.trailing_zeros() as usize;
            return (parity_state(inside, may_open), end, Some(end));
        } else {
            inside = after >> 63 == 1;
            may_open = separators >> 63 == 1;
        }
        done += BLOCK;
    }
    (parity_state(inside, may_open), done, None)
}

/// The state [`scan_blocks`]'s parity stands for.
fn parity_state(inside: bool, may_open: bool) -> State {
    match (inside, may_open) {
        (true, _) => State::Quoted,
        (false, true) => State::FieldStart,
        (false, false) => State::Unquoted,
    }
}

/// The bytes of a block that matter to the split: bit `i` is set where
/// byte `i` is one.
#[derive(Debug, PartialEq, Eq)]
struct Masks {
    quotes: u64,
    /// `\r` or `\n`.
    line_ends: u64,
    commas: u64,
}

/// A block's [`Masks`], sixteen bytes at a time with SSE2 compares.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
fn masks(block: &[u8; BLOCK]) -> Masks {
    // SAFETY: SSE2 is enabled for the whole build (the cfg above; every
    // x86-64 processor has it), which is all `masks_sse2` requires.
    unsafe { masks_sse2(block) }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn masks_sse2(block: &[u8; BLOCK]) -> Masks {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set_epi64x, _mm_set1_epi8,
    };
    let (sixteens, _) = block.as_chunks::<16>();
    let mut m = Masks {
        quotes: 0,
        line_ends: 0,
        commas: 0,
    };
    for (k, sixteen) in sixteens.iter().enumerate() {
        let (lo, hi) = sixteen.split_at(8);
        let word = |half: &[u8]| {
            let mut eight = [0u8; 8];
            eight.copy_from_slice(half);
            i64::from_le_bytes(eight)
        };
        let v = _mm_set_epi64x(word(hi), word(lo));
        let quotes = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let line_ends = _mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\r' as i8)),
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8)),
        );
        let commas = _mm_cmpeq_epi8(v, _mm_set1_epi8(b',' as i8));
        // Each byte's high bit, sixteen bits: this sixteenth's place.
        let shift = 16 * k;
        m.quotes |= u64::from(_mm_movemask_epi8(quotes) as u16) << shift;
        m.line_ends |= u64::from(_mm_movemask_epi8(line_ends) as u16) << shift;
        m.commas |= u64::from(_mm_movemask_epi8(commas) as u16) << shift;
    }
    m
}

/// A block's [`Masks`], a byte at a time (where there is no SSE2; the
/// tests hold the two equal).
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
fn masks(block: &[u8; BLOCK]) -> Masks {
    masks_bytes(block)
}

#[cfg(any(test, not(all(target_arch = "x86_64", target_feature = "sse2"))))]
fn masks_bytes(block: &[u8; BLOCK]) -> Masks {
    let mut m = Masks {
        quotes: 0,
        line_ends: 0,
        commas: 0,
    };
    for (i, &b) in block.iter().enumerate() {
        m.quotes |= u64::from(b == b'"') << i;
        m.line_ends |= u64::from(b == b'\r' || b == b'\n') << i;
        m.commas |= u64::from(b == b',') << i;
    }
    m
}

/// Bit `i` of the result is the XOR of bits `0..=i` of `x`.
fn prefix_xor(mut x: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        x ^= x << shift;
    }
    x
}

/// Scans `chunk` from `state` a byte (or a word) at a time, following
/// csv-core's state machine: as [`scan`].
fn scan_bytes(mut state: State, chunk: &[u8]) -> (State, Option<usize>) {
    let mut i = 0;
    while i < chunk.len() {
        match state {
            // After a quote in quotes, as at a field's start, a quote
            // (re)opens the quotes and anything else but a comma or a line
            // end makes an unquoted field (csv-core keeps such bytes).
            State::FieldStart | State::QuoteInQuoted => {
                state = match chunk[i] {
                    b'"' => State::Quoted,
                    b',' => State::FieldStart,
                    b'\r' | b'\n' => return (state, Some(i)),
                    _ => State::Unquoted,
                };
                i += 1;
            }
            State::Unquoted => match find(chunk, i, |w| zeros(w ^ COMMAS) | line_ends(w)) {
                Some(j) => {
                    i = j;
                    if chunk[i] != b',' {
                        return (state, Some(i));
                    }
                    state = State::FieldStart;
                    i += 1;
                }
                None => return (state, None),
            },
            State::Quoted => match closing_quote(chunk, i) {
                Some(j) => {
                    i = j + 1;
                    state = State::QuoteInQuoted;
                }
                None => return (state, None),
            },
        }
    }
    (state, None)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const COMMAS: u64 = ONES * b',' as u64;
const QUOTES: u64 = ONES * b'"' as u64;
const CRS: u64 = ONES * b'\r' as u64;
const LFS: u64 = ONES * b'\n' as u64;

/// The high bit of each zero byte of `w`, and no other bit.
fn zeros(w: u64) -> u64 {
    !(((w & LOW7) + LOW7) | w | LOW7)
}

/// The high bit of each `\r` or `\n` byte of `w`.
fn line_ends(w: u64) -> u64 {
    zeros(w ^ CRS) | zeros(w ^ LFS)
}

/// The first index at or after `from` of a byte that `mask` marks (given
/// eight bytes as a little-endian word, it sets the high bit of each
/// wanted byte). Eight bytes at a time: the fields between quotes in a
/// JSON payload are short, and so are the runs a call to memchr pays for.
fn find(chunk: &[u8], from: usize, mask: impl Fn(u64) -> u64) -> Option<usize> {
    let mut i = from;
    while let Some(word) = chunk.get(i..i + 8) {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        let m = mask(u64::from_le_bytes(eight));
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    // The last few bytes, padded with zeros (never a wanted byte).
    let mut tail = [0u8; 8];
    let rest = chunk.get(i..)?;
    tail[..rest.len()].copy_from_slice(rest);
    let m = mask(u64::from_le_bytes(tail));
    (m != 0).then(|| i + (m.trailing_zeros() / 8) as usize)
}

/// In a quoted field from `i`: the first quote not doubled (or the last
/// byte of `chunk`, if that is a quote the next chunk may double). Only
/// the bytes the block scan leaves come here (a chunk's last few, a block
/// with a stray quote), so a search from each pair is enough.
fn closing_quote(chunk: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let j = find(chunk, i, |w| zeros(w ^ QUOTES))?;
        if chunk.get(j + 1) != Some(&b'"') {
            return Some(j);
        }
        i = j + 2;
    }
}

/// Line ends inside a record's bytes (in its quoted fields): `\r\n`, `\n`
/// and a lone `\r` each count one.
fn count_line_ends(bytes: &[u8]) -> u64 {
    let mut n = 0;
    for i in memchr::memchr2_iter(b'\r', b'\n', bytes) {
        if bytes[i] == b'\n' || bytes.get(i + 1) != Some(&b'\n') {
            n += 1;
        }
    }
    n
}

/// Parses records split by [`Splitter`], reusing its buffers.
pub struct RowParser {
    core: csv_core::Reader,
    /// csv-core's output: the fields' bytes, and where each ends.
    out: Vec<u8>,
    ends: Vec<usize>,
    /// Where each of the first fields ends in `out`.
    field_ends: Vec<usize>,
    record: ByteRecord,
}

/// Doubles a buffer csv-core found full.
fn grow<T: Copy + Default>(buf: &mut Vec<T>) {
    let grown = (buf.len() * 2).max(64);
    buf.resize(grown, T::default());
}

impl Default for RowParser {
    fn default() -> Self {
        RowParser {
            core: csv_core::Reader::new(),
            out: vec![0; 1024],
            ends: vec![0; 32],
            field_ends: Vec::new(),
            record: ByteRecord::new(),
        }
    }
}

impl RowParser {
    /// Every field of the record `bytes`.
    pub fn record(&mut self, bytes: &[u8]) -> &ByteRecord {
        self.core.reset();
        let (mut input, mut nout, mut nends) = (bytes, 0, 0);
        loop {
            let (result, i, o, e) =
                self.core
                    .read_record(input, &mut self.out[nout..], &mut self.ends[nends..]);
            input = &input[i..];
            nout += o;
            nends += e;
            match result {
                // All given: an empty input next says the record ends.
                csv_core::ReadRecordResult::InputEmpty => {}
                csv_core::ReadRecordResult::OutputFull => grow(&mut self.out),
                csv_core::ReadRecordResult::OutputEndsFull => grow(&mut self.ends),
                csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
            }
        }
        self.record.clear();
        let mut start = 0;
        for &end in &self.ends[..nends] {
            self.record.push_field(&self.out[start..end]);
            start = end;
        }
        &self.record
    }

    /// The first `n` fields of the record `bytes` (fewer if it has fewer),
    /// as text; `None` if one of them is not UTF-8.
    pub fn first_fields<'a>(&'a mut self, bytes: &'a [u8], n: usize) -> Option<Vec<&'a str>> {
        // Unquoted fields (ids) are their bytes between commas: no copy.
        let mut fields = Vec::with_capacity(n);
        let mut rest = bytes;
        while fields.len() < n {
            let end = memchr::memchr2(b',', b'"', rest).unwrap_or(rest.len());
            if rest.get(end) == Some(&b'"') {
                fields.clear();
                break;
            }
            fields.push(std::str::from_utf8(&rest[..end]).ok()?);
            match rest.get(end) {
                Some(_) => rest = &rest[end + 1..],
                None => return Some(fields),
            }
        }
        if fields.len() == n {
            return Some(fields);
        }
        self.parse_first_fields(bytes, n)
    }

    /// [`RowParser::first_fields`] by csv-core, for quoted fields.
    fn parse_first_fields(&mut self, bytes: &[u8], n: usize) -> Option<Vec<&str>> {
        self.core.reset();
        self.field_ends.clear();
        let (mut input, mut nout) = (bytes, 0);
        while self.field_ends.len() < n {
            let (result, i, o) = self.core.read_field(input, &mut self.out[nout..]);
            input = &input[i..];
            nout += o;
            match result {
                csv_core::ReadFieldResult::InputEmpty => {}
                csv_core::ReadFieldResult::OutputFull => grow(&mut self.out),
                csv_core::ReadFieldResult::Field { record_end } => {
                    self.field_ends.push(nout);
                    if record_end {
                        break;
                    }
                }
                csv_core::ReadFieldResult::End => break,
            }
        }
        let mut fields = Vec::with_capacity(self.field_ends.len());
        let mut start = 0;
        for &end in &self.field_ends {
            fields.push(std::str::from_utf8(&self.out[start..end]).ok()?);
            start = end;
        }
        Some(fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each record's fields and line, split and parsed here.
    fn split(input: &[u8], read_size: usize) -> Vec<(Vec<Vec<u8>>, u64)> {
        let mut splitter = Splitter::with_capacity(input, read_size);
        let mut parser = RowParser::default();
        let mut out = Vec::new();
        let mut bytes = Vec::new();
        while let Some(line) = splitter.next_into(&mut bytes).unwrap() {
            let fields = parser.record(&bytes).iter().map(<[u8]>::to_vec).collect();
            out.push((fields, line));
            bytes.clear();
        }
        out
    }

    /// The records the csv crate reads from the whole input.
    fn csv_crate(input: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(input);
        let mut rec = ByteRecord::new();
        let mut out = Vec::new();
        while r.read_byte_record(&mut rec).unwrap() {
            out.push(rec.iter().map(<[u8]>::to_vec).collect());
        }
        out
    }

    fn lines(input: &str) -> Vec<u64> {
        split(input.as_bytes(), 3)
            .into_iter()
            .map(|r| r.1)
            .collect()
    }

    #[test]
    fn lf_crlf_cr_multiline_and_blank_lines() {
        assert_eq!(lines("h1,h2\na,b\nc,\"x\ny\"\nd,e\n"), vec![1, 2, 3, 5]);
        assert_eq!(
            lines("h1,h2\r\na,b\r\nc,\"x\r\ny\"\r\nd,e\r\n"),
            vec![1, 2, 3, 5]
        );
        assert_eq!(lines("h1,h2\r\na,b\r\n\r\n\r\nd,e"), vec![1, 2, 5]);
        assert_eq!(lines("h\n\n\n,x\n"), vec![1, 4]);
        assert_eq!(lines("h\ra\r\rb,\"x\ry\"\rc"), vec![1, 2, 4, 6]);
    }

    /// A record longer than the limit: its first bytes are kept, its
    /// length is told, and the lines of what follows are still right, with
    /// a `\r\n` inside it split between two reads.
    #[test]
    fn a_record_longer_than_the_limit_is_cut_and_measured() {
        let long = "c,\"x\r\ny\r\nzzzz\"";
        let input = format!("h\r\n{long}\r\nd,e\r\n");
        for read_size in 1..12 {
            let mut s = Splitter::with_capacity(input.as_bytes(), read_size).with_limit(6);
            let mut got = Vec::new();
            let mut out = Vec::new();
            while let Some(line) = s.next_into(&mut out).unwrap() {
                got.push((line, s.line(), s.oversize(), out.clone()));
                out.clear();
            }
            assert_eq!(
                got,
                vec![
                    (1, 1, None, b"h".to_vec()),
                    (2, 4, Some(long.len() as u64), long.as_bytes()[..6].to_vec()),
                    (5, 5, None, b"d,e".to_vec()),
                ],
                "read size {read_size}"
            );
        }
    }

    /// What the block scan carries from one block to the next: whether a
    /// quote at the next block's first byte opens quotes.
    #[test]
    fn quotes_at_a_block_boundary() {
        let a = "a".repeat(BLOCK - 1);
        for (input, want) in [
            // After an unquoted byte: a plain byte, the line end ends it.
            (
                format!("{a}a\"b\nc\n"),
                vec![vec![format!("{a}a\"b")], vec!["c".into()]],
            ),
            // After a comma: it opens quotes, the line end is inside.
            (
                format!("{a},\"b\nc\"\n"),
                vec![vec![a.clone(), "b\nc".into()]],
            ),
            // After a closing quote: a doubled quote.
            (
                format!("\"{a}\"\"b\nc\"\n"),
                vec![vec![format!("{a}\"b\nc")]],
            ),
        ] {
            let got: Vec<Vec<String>> = split(input.as_bytes(), 4096)
                .into_iter()
                .map(|(fields, _)| {
                    fields
                        .into_iter()
                        .map(|f| String::from_utf8(f).unwrap())
                        .collect()
                })
                .collect();
            assert_eq!(got, want, "{input:?}");
            assert_eq!(csv_crate(input.as_bytes()).len(), want.len(), "{input:?}");
        }
    }

    #[test]
    fn first_fields_stop_early_and_check_utf8() {
        let mut p = RowParser::default();
        let row = b"e1,\"c,1\",\"{\"\"a\"\": 1}\",x";
        assert_eq!(p.first_fields(row, 2), Some(vec!["e1", "c,1"]));
        assert_eq!(p.first_fields(b"e1", 3), Some(vec!["e1"]));
        assert_eq!(p.first_fields(b"e1,\xff", 2), None);
        assert_eq!(p.record(row).len(), 4);
    }

    proptest::proptest! {
        /// Whatever the bytes (quotes anywhere, lone CRs, unclosed quotes,
        /// blank lines) and however they arrive, splitting then parsing
        /// each record gives the csv crate's records.
        #[test]
        fn split_records_are_the_csv_crates(
            input in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b',', b'"', b'\r', b'\n', b' ', 0xff]),
                0..600,
            ),
            // Below a block, blocks, and blocks cut by reads.
            read_size in 1usize..300,
        ) {
            let ours: Vec<_> = split(&input, read_size).into_iter().map(|r| r.0).collect();
            proptest::prop_assert_eq!(ours, csv_crate(&input));
        }

        /// Well-formed CSV as exports hold it (long quoted fields, doubled
        /// quotes, line ends inside quotes: the block scan's fast path),
        /// now and then a quote inside an unquoted field (its fallback).
        #[test]
        fn written_records_split_as_the_csv_crate_reads_them(
            rows in proptest::collection::vec(
                proptest::collection::vec("([a-z ,]{0,30}|[a-z\"\r\n,{}:]{0,150})", 1..5),
                1..12,
            ),
            stray_quote in proptest::option::of(0usize..2000),
            crlf in proptest::bool::ANY,
            read_size in 1usize..2000,
        ) {
            let mut w = csv::WriterBuilder::new()
                .flexible(true)
                .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
                .from_writer(Vec::new());
            for r in &rows {
                w.write_record(r).unwrap();
            }
            let mut input = w.into_inner().unwrap();
            // A quote after a letter: a plain byte in an unquoted field.
            if let Some(at) = stray_quote
                && let Some(i) = (at..input.len()).find(|&i| input[i].is_ascii_lowercase())
            {
                input.insert(i + 1, b'"');
            }
            let ours: Vec<_> = split(&input, read_size).into_iter().map(|r| r.0).collect();
            proptest::prop_assert_eq!(ours, csv_crate(&input));
        }

        /// The masks of a block are its bytes', whichever way they are
        /// taken.
        #[test]
        fn block_masks_are_the_bytes(
            block in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b',', b'"', b'\r', b'\n', 0x80, 0xff, 0]),
                BLOCK,
            ),
        ) {
            let block: &[u8; BLOCK] = block.as_slice().try_into().unwrap();
            proptest::prop_assert_eq!(masks(block), masks_bytes(block));
        }

        /// The first fields, by their fast path or csv-core's, are the
        /// record's own (for a record as split: no line end outside
        /// quotes).
        #[test]
        fn first_fields_are_the_records(
            input in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b',', b'"', b' ']),
                1..40,
            ),
            n in 0usize..5,
        ) {
            let mut p = RowParser::default();
            let all: Vec<Vec<u8>> = p.record(&input).iter().map(<[u8]>::to_vec).collect();
            let first: Vec<Vec<u8>> = p
                .first_fields(&input, n)
                .unwrap()
                .iter()
                .map(|f| f.as_bytes().to_vec())
                .collect();
            proptest::prop_assert_eq!(&first[..], &all[..n.min(all.len())]);
        }

        /// A record's line counts the line ends before it, wherever the
        /// reads split them.
        #[test]
        fn lines_count_line_ends_before_the_record(
            rows in proptest::collection::vec("[a-z\"\r\n,]{0,12}", 1..10),
            read_size in 1usize..8,
        ) {
            let mut w = csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(Vec::new());
            for r in &rows {
                w.write_record([r.as_str(), "x"]).unwrap();
            }
            let input = w.into_inner().unwrap();
            let split = split(&input, read_size);
            let mut found = Vec::new();
            for (i, (fields, line)) in split.iter().enumerate() {
                proptest::prop_assert_eq!(&fields[0], rows[i].as_bytes());
                found.push(*line);
            }
            // Lines from the text itself: each record starts after the
            // line ends of the records before it.
            let text = String::from_utf8(input).unwrap();
            let mut line = 1u64;
            let mut starts = vec![1u64];
            let bytes = text.as_bytes();
            let mut in_quotes = false;
            for (i, &b) in bytes.iter().enumerate() {
                if b == b'"' { in_quotes = !in_quotes; }
                let end = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
                if end { line += 1; }
                if b == b'\n' && !in_quotes && i + 1 < bytes.len() { starts.push(line); }
            }
            proptest::prop_assert_eq!(found, starts);
        }
    }
}
