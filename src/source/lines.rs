//! True line numbers for CSV records.
//!
//! The csv crate reports a record's start as the byte after the previous
//! record's terminator: with CRLF line ends that is the `\n`, and before a
//! blank line it is the blank line, so its line numbers run one (or more)
//! behind. [`LineProbe`] watches the bytes the CSV reader pulls and records
//! where each line with content starts; a record's line is the first such
//! start at or after the offset csv reports.
//!
//! Memory stays bounded: starts behind the CSV reader's position are
//! dropped as records are looked up, so the queue holds only the lines of
//! the read-ahead buffer and of the current record.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::rc::Rc;

/// Line starts seen so far: (byte offset, 1-based line number).
#[derive(Debug)]
struct Starts {
    queue: VecDeque<(u64, u64)>,
    offset: u64,
    line: u64,
    at_line_start: bool,
}

/// Shared view of the line starts a [`LineProbe`] records.
#[derive(Debug, Clone)]
pub struct LineIndex(Rc<RefCell<Starts>>);

/// A reader that records line starts into a [`LineIndex`].
pub struct LineProbe<R> {
    inner: R,
    index: LineIndex,
}

impl<R: Read> LineProbe<R> {
    pub fn new(inner: R) -> (Self, LineIndex) {
        let index = LineIndex(Rc::new(RefCell::new(Starts {
            queue: VecDeque::new(),
            offset: 0,
            line: 1,
            at_line_start: true,
        })));
        (
            LineProbe {
                inner,
                index: index.clone(),
            },
            index,
        )
    }
}

impl<R: Read> Read for LineProbe<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.index.0.borrow_mut().scan(&buf[..n]);
        Ok(n)
    }
}

impl Starts {
    fn scan(&mut self, buf: &[u8]) {
        let mut i = 0;
        while i < buf.len() {
            if self.at_line_start {
                while i < buf.len() && buf[i] == b'\r' {
                    i += 1;
                }
                if i == buf.len() {
                    break;
                }
                if buf[i] != b'\n' {
                    self.queue.push_back((self.offset + i as u64, self.line));
                }
                self.at_line_start = false;
            }
            match memchr::memchr(b'\n', &buf[i..]) {
                Some(j) => {
                    i += j + 1;
                    self.line += 1;
                    self.at_line_start = true;
                }
                None => i = buf.len(),
            }
        }
        self.offset += buf.len() as u64;
    }
}

impl LineIndex {
    /// The line of the record csv says starts at byte `start`; earlier
    /// starts are forgotten, so call with increasing offsets.
    pub fn line_at(&self, start: u64) -> Option<u64> {
        let mut s = self.0.borrow_mut();
        while s.queue.front().is_some_and(|(off, _)| *off < start) {
            s.queue.pop_front();
        }
        s.queue.front().map(|(_, line)| *line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &str) -> Vec<u64> {
        let (probe, index) = LineProbe::new(input.as_bytes());
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(3)
            .from_reader(probe);
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while r.read_byte_record(&mut rec).unwrap() {
            let start = rec.position().unwrap().byte();
            out.push(index.line_at(start).unwrap());
        }
        out
    }

    #[test]
    fn lf_crlf_multiline_and_blank_lines() {
        assert_eq!(lines("h1,h2\na,b\nc,\"x\ny\"\nd,e\n"), vec![1, 2, 3, 5]);
        assert_eq!(
            lines("h1,h2\r\na,b\r\nc,\"x\r\ny\"\r\nd,e\r\n"),
            vec![1, 2, 3, 5]
        );
        assert_eq!(lines("h1,h2\r\na,b\r\n\r\n\r\nd,e"), vec![1, 2, 5]);
        assert_eq!(lines("h\n\n\n,x\n"), vec![1, 4]);
    }
}
