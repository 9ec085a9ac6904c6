//! Writing a BagIt 1.0 bag (RFC 8493): payload files under `data/`, each
//! hashed with SHA-256 and SHA-512 as it is written (its bytes pass once),
//! then the manifests, `bagit.txt`, `bag-info.txt` and the tag manifests
//! over every tag file.
//!
//! Invariants: every path written is a relative path of plain components
//! checked to stay inside the bag; a path in a manifest is encoded as RFC
//! 8493 §2.1.3 says (`%`, CR and LF percent-encoded); every file is on
//! the disk before the bag is called complete: one `syncfs` of the bag's
//! file system when it is finished, rather than an fsync per file (tens
//! of thousands of them took a tenth of a production's time).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256, Sha512};

use crate::error::{Error, Result};
use crate::hashing::hex;

/// The algorithms of the manifests, in the order they are written.
pub const ALGORITHMS: [&str; 2] = ["sha256", "sha512"];

/// Each file's write buffer: small enough for the allocator to reuse from
/// file to file (a 256 KiB one was allocated afresh for each of tens of
/// thousands of files), large enough for most payload files at once.
const BUFFER: usize = 64 * 1024;

/// A file written into the bag: its path inside it, size and digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// `/`-separated, relative to the bag's top (`data/…` for payload).
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub sha512: String,
}

impl Written {
    pub fn digest(&self, algorithm: &str) -> &str {
        if algorithm == "sha512" {
            &self.sha512
        } else {
            &self.sha256
        }
    }
}

/// A file being written: buffered, then hashed twice and counted as the
/// buffer is written out (the hashes see large blocks, not each of the
/// many small writes a JSON or HTML writer makes).
pub struct BagFile {
    path: String,
    full: PathBuf,
    out: BufWriter<Hashed>,
}

/// A file that hashes and counts what is written to it.
struct Hashed {
    file: File,
    sha256: Sha256,
    sha512: Sha512,
    bytes: u64,
}

impl Write for Hashed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.sha256.update(&buf[..n]);
        self.sha512.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Write for BagFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl BagFile {
    /// Flushes and closes the file (made durable by [`BagWriter::finish`]);
    /// its size and digests.
    pub fn finish(self) -> Result<Written> {
        let full = self.full;
        let hashed = self
            .out
            .into_inner()
            .map_err(|e| Error::io(&full, e.into_error()))?;
        Ok(Written {
            path: self.path,
            bytes: hashed.bytes,
            sha256: hex(&hashed.sha256.finalize()),
            sha512: hex(&hashed.sha512.finalize()),
        })
    }
}

/// A bag being written in directory `root`.
pub struct BagWriter {
    root: PathBuf,
    payload: Vec<Written>,
}

impl BagWriter {
    /// Starts a bag in `root`, which must not exist yet.
    pub fn create(root: &Path) -> Result<BagWriter> {
        std::fs::create_dir(root).map_err(|e| Error::io(root, e))?;
        std::fs::create_dir(root.join("data")).map_err(|e| Error::io(root.join("data"), e))?;
        Ok(BagWriter {
            root: root.to_owned(),
            payload: Vec::new(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Opens payload file `data/<relative>` (`/`-separated plain names),
    /// creating its directories.
    pub fn payload_file(&self, relative: &str) -> Result<BagFile> {
        self.open(&format!("data/{relative}"))
    }

    /// A handle that opens payload files from another thread (the files
    /// it writes are recorded with [`BagWriter::add_payload`]).
    pub fn opener(&self) -> BagWriter {
        BagWriter {
            root: self.root.clone(),
            payload: Vec::new(),
        }
    }

    /// Records a finished payload file for the manifests.
    pub fn add_payload(&mut self, w: Written) {
        self.payload.push(w);
    }

    /// The payload's total bytes and files (`Payload-Oxum`).
    pub fn oxum(&self) -> (u64, u64) {
        (
            self.payload.iter().map(|w| w.bytes).sum(),
            self.payload.len() as u64,
        )
    }

    fn open(&self, path: &str) -> Result<BagFile> {
        let full = inside(&self.root, path)?;
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&full)
            .map_err(|e| Error::io(&full, e))?;
        Ok(BagFile {
            path: path.to_owned(),
            full,
            // Most payload files are tens of KiB: one write each.
            out: BufWriter::with_capacity(
                BUFFER,
                Hashed {
                    file,
                    sha256: Sha256::new(),
                    sha512: Sha512::new(),
                    bytes: 0,
                },
            ),
        })
    }

    fn tag_file(&self, name: &str, text: &str) -> Result<Written> {
        let mut f = self.open(name)?;
        f.write_all(text.as_bytes())
            .map_err(|e| Error::io(self.root.join(name), e))?;
        f.finish()
    }

    /// Writes the manifests, `bagit.txt`, `bag-info.txt` (`info`: label
    /// and value pairs, in order, `Payload-Oxum` added) and the tag
    /// manifests; makes the whole bag durable. The tag manifests' files.
    pub fn finish(mut self, info: &[(String, String)]) -> Result<Vec<Written>> {
        self.payload.sort_by(|a, b| a.path.cmp(&b.path));
        let mut tags = vec![self.tag_file(
            "bagit.txt",
            "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n",
        )?];
        let (bytes, files) = self.oxum();
        let mut text = String::new();
        for (label, value) in info {
            text.push_str(&info_line(label, value));
        }
        text.push_str(&info_line("Payload-Oxum", &format!("{bytes}.{files}")));
        tags.push(self.tag_file("bag-info.txt", &text)?);
        for alg in ALGORITHMS {
            tags.push(self.tag_file(
                &format!("manifest-{alg}.txt"),
                &manifest(&self.payload, alg),
            )?);
        }
        let mut written = Vec::new();
        for alg in ALGORITHMS {
            written.push(self.tag_file(&format!("tagmanifest-{alg}.txt"), &manifest(&tags, alg))?);
        }
        sync_all(&self.root)?;
        Ok(written)
    }
}

/// The manifest lines of `files` for `algorithm`: `digest  path`.
fn manifest(files: &[Written], algorithm: &str) -> String {
    files
        .iter()
        .map(|w| format!("{}  {}\n", w.digest(algorithm), encode_path(&w.path)))
        .collect()
}

/// One `bag-info.txt` line: the value on one line. Every character a
/// tool may take for a line break ([`breaks_a_tag_line`]: bagit-python
/// splits with Python's `splitlines`, which also breaks at a form feed,
/// a vertical tab, U+2028 and more) and every other control character
/// becomes a space; BagIt allows folded lines, but one line reads the
/// same in every tool.
fn info_line(label: &str, value: &str) -> String {
    let value: String = value
        .chars()
        .map(|c| if breaks_a_tag_line(c) { ' ' } else { c })
        .collect();
    format!("{label}: {value}\n")
}

/// Whether `c` may not stand inside a tag line: a control character
/// (C0, DEL, C1, which include every line break Python's `splitlines`
/// knows but two) or U+2028/U+2029, the other two.
pub fn breaks_a_tag_line(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// A manifest path as RFC 8493 §2.1.3 writes it.
pub fn encode_path(path: &str) -> String {
    path.replace('%', "%25")
        .replace('\n', "%0A")
        .replace('\r', "%0D")
}

/// A manifest path read back.
pub fn decode_path(path: &str) -> String {
    path.replace("%0A", "\n")
        .replace("%0a", "\n")
        .replace("%0D", "\r")
        .replace("%0d", "\r")
        .replace("%25", "%")
}

/// `root/relative`, refused unless `relative` is plain names only (no
/// `..`, no root, no empty part): a path from a manifest or a name made
/// from an identifier never leaves the bag.
pub fn inside(root: &Path, relative: &str) -> Result<PathBuf> {
    let rel = Path::new(relative);
    let plain = !relative.is_empty()
        && !relative.contains('\\')
        && rel
            .components()
            .all(|c| matches!(c, Component::Normal(n) if !n.is_empty()))
        && !relative.split('/').any(str::is_empty);
    if !plain {
        return Err(Error::Usage(format!(
            "{}: not a plain path inside the bag",
            crate::sanitize::for_terminal(relative)
        )));
    }
    Ok(root.join(rel))
}

/// Writes every file and directory under `root` to the disk: `syncfs(2)`
/// of its file system (Linux), else `sync(2)`.
pub fn sync_all(root: &Path) -> Result<()> {
    let dir = File::open(root).map_err(|e| Error::io(root, e))?;
    #[cfg(target_os = "linux")]
    rustix::fs::syncfs(&dir).map_err(|e| Error::io(root, e.into()))?;
    #[cfg(not(target_os = "linux"))]
    {
        drop(dir);
        rustix::fs::sync();
    }
    Ok(())
}

/// A size for people, as `Bag-Size` gives it (`12.3 MB`, powers of 1000).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any path survives a manifest: encoded, it holds no line break
        /// (one line per file), and decodes to itself.
        #[test]
        fn manifest_paths_round_trip(path in "\\PC*[%\r\n]?\\PC*") {
            let encoded = encode_path(&path);
            prop_assert!(!encoded.contains('\n') && !encoded.contains('\r'));
            prop_assert_eq!(decode_path(&encoded), path);
        }

        /// Whatever an identifier holds, its file name is one plain
        /// component inside the bag.
        #[test]
        fn file_names_stay_inside_the_bag(id in "\\PC{0,200}") {
            let name = crate::produce::file_name(&id);
            let rel = format!("data/conversations/{name}.html");
            let p = inside(Path::new("/bag"), &rel).unwrap();
            prop_assert!(p.starts_with("/bag/data/conversations"));
            prop_assert_eq!(p.components().count(), 5);
        }
    }

    #[test]
    fn a_bag_lists_every_file_with_both_digests_and_its_oxum() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("bag");
        let mut bag = BagWriter::create(&root).unwrap();
        let mut f = bag.payload_file("conversations/a.json").unwrap();
        f.write_all(b"hello").unwrap();
        let w = f.finish().unwrap();
        assert_eq!(w.sha256, crate::hashing::sha256_hex(b"hello"));
        bag.add_payload(w);
        let tags = bag
            .finish(&[("External-Identifier".into(), "PROD-0001\nx".into())])
            .unwrap();
        assert_eq!(tags.len(), 2);
        let info = std::fs::read_to_string(root.join("bag-info.txt")).unwrap();
        assert_eq!(
            info,
            "External-Identifier: PROD-0001 x\nPayload-Oxum: 5.1\n"
        );
        let m = std::fs::read_to_string(root.join("manifest-sha256.txt")).unwrap();
        assert_eq!(
            m,
            format!(
                "{}  data/conversations/a.json\n",
                crate::hashing::sha256_hex(b"hello")
            )
        );
        let t = std::fs::read_to_string(root.join("tagmanifest-sha512.txt")).unwrap();
        assert_eq!(t.lines().count(), 4, "{t}");
        assert_eq!(human_size(999), "999 bytes");
        assert_eq!(human_size(12_345_678), "12.3 MB");
    }

    #[test]
    fn paths_stay_inside_the_bag_and_encode_as_bagit_says() {
        let root = Path::new("/b");
        for bad in [
            "",
            "../x",
            "data/../../x",
            "/etc/passwd",
            "data//x",
            "a\\b",
            ".",
        ] {
            assert!(inside(root, bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            inside(root, "data/x.json").unwrap(),
            root.join("data/x.json")
        );
        let odd = "data/a%b\nc";
        assert_eq!(encode_path(odd), "data/a%25b%0Ac");
        assert_eq!(decode_path(&encode_path(odd)), odd);
    }
}
