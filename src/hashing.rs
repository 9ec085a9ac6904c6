//! SHA-256 helpers: readers that hash and count what passes through them
//! (on the reading thread, or beside it on a thread of their own), and
//! lowercase hex encoding.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    s
}

/// SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// An [`io::Write`] that hashes what is written to it.
#[derive(Default)]
pub struct HashWriter(Sha256);

impl HashWriter {
    /// The lowercase hex SHA-256 of everything written.
    pub fn finish_hex(self) -> String {
        hex(&self.0.finalize())
    }
}

impl io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The read size of [`HashingReader::finish`].
const FINISH_BUF: usize = 1 << 20;

/// Hashes and counts every byte read through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Reads what is left, then returns the byte count and hex SHA-256.
    pub fn finish(mut self) -> io::Result<(u64, String)> {
        // Large reads: fewer system calls, so hashing runs at the speed of
        // SHA-256 itself (docs/performance-history.md, verify).
        let mut buf = vec![0u8; FINISH_BUF];
        loop {
            match self.read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((self.bytes, hex(&self.hasher.finalize())))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// What [`ThreadedHashingReader`] reads from its source at a time, and
/// hands to its hashing thread.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight at most: memory stays at `CHUNKS × CHUNK` whatever the
/// source's size.
const CHUNKS: usize = 4;

/// Hashes and counts every byte read through it, like [`HashingReader`],
/// but hashes on a thread of its own, so that a reader whose thread is
/// busy (inflating, splitting rows) does not also hash: a weekly ingest's
/// reading thread is its critical path (docs/performance-history.md).
///
/// It reads its source in chunks of `CHUNK` bytes and serves reads from
/// them; a chunk goes to the hashing thread as it is read, so the digest
/// covers exactly the bytes served, in order. A source shorter than one
/// chunk is hashed in place, without a thread.
pub struct ThreadedHashingReader<R> {
    inner: R,
    chunk_size: usize,
    /// The chunk being served, from `pos`.
    chunk: Arc<Vec<u8>>,
    pos: usize,
    bytes: u64,
    /// The source has ended.
    ended: bool,
    hashing: Hashing,
}

/// Where chunks are hashed.
enum Hashing {
    /// Here: nothing longer than one chunk has been read yet.
    InPlace(Sha256),
    /// On the hashing thread, which sends each chunk back when done with it.
    Thread {
        chunks: Option<SyncSender<Arc<Vec<u8>>>>,
        done: Receiver<Arc<Vec<u8>>>,
        thread: Option<JoinHandle<Sha256>>,
        /// Chunks allocated so far (at most [`CHUNKS`]).
        allocated: usize,
    },
}

impl<R: Read> ThreadedHashingReader<R> {
    pub fn new(inner: R) -> Self {
        Self::with_chunk_size(inner, CHUNK)
    }

    fn with_chunk_size(inner: R, chunk_size: usize) -> Self {
        ThreadedHashingReader {
            inner,
            chunk_size: chunk_size.max(1),
            chunk: Arc::new(Vec::new()),
            pos: 0,
            bytes: 0,
            ended: false,
            hashing: Hashing::InPlace(Sha256::new()),
        }
    }

    /// Reads what is left, then returns the byte count and hex SHA-256.
    pub fn finish(mut self) -> io::Result<(u64, String)> {
        while self.next_chunk()? {}
        let sha = match &mut self.hashing {
            Hashing::InPlace(sha) => std::mem::take(sha),
            Hashing::Thread { chunks, thread, .. } => {
                // Closing the channel ends the thread once it has hashed
                // every chunk sent.
                drop(chunks.take());
                thread
                    .take()
                    .ok_or_else(thread_gone)?
                    .join()
                    .map_err(|_| thread_gone())?
            }
        };
        Ok((self.bytes, hex(&sha.finalize())))
    }

    /// Reads the next chunk from the source and hands it to be hashed;
    /// false (nothing read) at the source's end.
    fn next_chunk(&mut self) -> io::Result<bool> {
        if self.ended {
            return Ok(false);
        }
        let mut buf = self.spare()?;
        buf.clear();
        buf.resize(self.chunk_size, 0);
        let mut filled = 0;
        while filled < buf.len() {
            match self.inner.read(&mut buf[filled..]) {
                Ok(0) => {
                    self.ended = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        self.bytes += filled as u64;
        self.pos = 0;
        self.chunk = Arc::new(buf);
        if filled == 0 {
            return Ok(false);
        }
        if let Hashing::InPlace(sha) = &mut self.hashing {
            if self.ended {
                // All of it fits in one chunk: no thread.
                sha.update(self.chunk.as_slice());
                return Ok(true);
            }
            let sha = std::mem::take(sha);
            self.hashing = start_thread(sha)?;
        }
        if let Hashing::Thread {
            chunks: Some(chunks),
            ..
        } = &self.hashing
        {
            chunks
                .send(Arc::clone(&self.chunk))
                .map_err(|_| thread_gone())?;
        }
        Ok(true)
    }

    /// A buffer to read the next chunk into: one the hashing thread is
    /// done with, a new one while fewer than [`CHUNKS`] exist, else the
    /// next the thread finishes (which bounds memory).
    fn spare(&mut self) -> io::Result<Vec<u8>> {
        // Let go of the chunk just served: the thread may still hold it.
        let current = std::mem::replace(&mut self.chunk, Arc::new(Vec::new()));
        match &mut self.hashing {
            Hashing::InPlace(_) => Ok(Arc::try_unwrap(current).unwrap_or_default()),
            Hashing::Thread {
                done, allocated, ..
            } => {
                drop(current);
                loop {
                    let returned = match done.try_recv() {
                        Ok(chunk) => chunk,
                        Err(_) if *allocated < CHUNKS => {
                            *allocated += 1;
                            return Ok(Vec::with_capacity(self.chunk_size));
                        }
                        Err(_) => done.recv().map_err(|_| thread_gone())?,
                    };
                    // The thread has let go of it, and so have we.
                    if let Ok(buf) = Arc::try_unwrap(returned) {
                        return Ok(buf);
                    }
                    *allocated -= 1;
                }
            }
        }
    }
}

/// Starts the hashing thread, carrying on from `sha`.
fn start_thread(mut sha: Sha256) -> io::Result<Hashing> {
    let (chunks, to_hash) = mpsc::sync_channel::<Arc<Vec<u8>>>(CHUNKS);
    let (give_back, done) = mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("hashing".into())
        .spawn(move || {
            for chunk in to_hash {
                sha.update(chunk.as_slice());
                // The reader may have stopped early: nobody wants it back.
                let _ = give_back.send(chunk);
            }
            sha
        })?;
    Ok(Hashing::Thread {
        chunks: Some(chunks),
        done,
        thread: Some(thread),
        allocated: 1,
    })
}

fn thread_gone() -> io::Error {
    io::Error::other("the hashing thread stopped unexpectedly")
}

impl<R: Read> Read for ThreadedHashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.chunk.len() && !self.next_chunk()? {
            return Ok(0);
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl<R> Drop for ThreadedHashingReader<R> {
    fn drop(&mut self) {
        // Stopped early (an error): end the thread rather than leave it.
        if let Hashing::Thread { chunks, thread, .. } = &mut self.hashing {
            drop(chunks.take());
            if let Some(thread) = thread.take() {
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digest() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn reader_hashes_everything_even_unread_rest() {
        let mut r = HashingReader::new(&b"abcdef"[..]);
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        let (n, h) = r.finish().unwrap();
        assert_eq!(n, 6);
        assert_eq!(h, sha256_hex(b"abcdef"));
    }

    /// Reads `data` through a threaded reader with chunks of `chunk`
    /// bytes, `read` bytes at a time for the first `first` bytes, then
    /// finishes it.
    fn threaded(data: &[u8], chunk: usize, read: usize, first: usize) -> (Vec<u8>, u64, String) {
        let mut r = ThreadedHashingReader::with_chunk_size(data, chunk);
        let mut got = Vec::new();
        let mut buf = vec![0u8; read.max(1)];
        while got.len() < first {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        let (n, h) = r.finish().unwrap();
        (got, n, h)
    }

    #[test]
    fn threaded_reader_hashes_what_it_serves_at_every_chunk_boundary() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, 99, 100, 101, 399, 400, 401, 5000] {
            let data = &data[..len];
            let (got, n, h) = threaded(data, 100, 33, usize::MAX);
            assert_eq!(got, data, "len {len}");
            assert_eq!((n, h), (len as u64, sha256_hex(data)), "len {len}");
        }
    }

    #[test]
    fn threaded_reader_hashes_the_unread_rest() {
        let data = vec![7u8; 1000];
        let (got, n, h) = threaded(&data, 64, 10, 10);
        assert_eq!(got, vec![7u8; 10]);
        assert_eq!((n, h), (1000, sha256_hex(&data)));
    }

    #[test]
    fn threaded_reader_reports_a_read_error_and_stops_its_thread() {
        struct Failing(usize);
        impl Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk gone"));
                }
                let n = buf.len().min(self.0);
                buf[..n].fill(1);
                self.0 -= n;
                Ok(n)
            }
        }
        let mut r = ThreadedHashingReader::with_chunk_size(Failing(1000), 64);
        let mut buf = [0u8; 100];
        let mut served = 0;
        let err = loop {
            match r.read(&mut buf) {
                Ok(n) => served += n,
                Err(e) => break e,
            }
        };
        assert_eq!(err.to_string(), "disk gone");
        assert!(served <= 1000);
        // Dropped with its thread running: the drop ends and joins it.
        drop(r);
    }

    proptest::proptest! {
        #[test]
        fn threaded_reader_equals_sha256(
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..3000),
            chunk in 1usize..700,
            read in 1usize..300,
        ) {
            let (got, n, h) = threaded(&data, chunk, read, usize::MAX);
            proptest::prop_assert_eq!(&got, &data);
            proptest::prop_assert_eq!((n, h), (data.len() as u64, sha256_hex(&data)));
        }
    }
}
