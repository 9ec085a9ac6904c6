//! `convault produce verify BAG`: is the bag complete and valid, and (with
//! the archive) does it still match what the archive holds?
//!
//! Bag checks (RFC 8493): `bagit.txt` declares version 1.0 in UTF-8;
//! every file a manifest or tag manifest lists is present and has the
//! digest listed; every payload file is listed in every manifest, and
//! every tag file in the tag manifests; `Payload-Oxum` is the payload's
//! bytes and files. Archive checks: every load file row names an entry
//! version the archive holds with the same content hash, and the ledger
//! holds this production's record with this bag's
//! `tagmanifest-sha256.txt` digest. Every failure is listed; none stops
//! the others from being looked for.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256, Sha512};

use super::bag::{self, ALGORITHMS};
use crate::error::{Error, Result};
use crate::hashing::hex;
use crate::ledger;

/// One thing found wrong.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Failure {
    /// `missing`, `checksum-mismatch`, `unlisted`, `oxum-mismatch`,
    /// `bad-path`, `bagit-txt`, `no-manifest`, `entry-missing`,
    /// `entry-changed`, `no-ledger-record`, `ledger-mismatch`.
    pub kind: &'static str,
    pub file: String,
    pub expected: Option<String>,
    pub found: Option<String>,
}

/// What verifying a bag found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub bag: String,
    /// `External-Identifier` from `bag-info.txt`.
    pub production: Option<String>,
    pub ok: bool,
    pub payload_files: u64,
    pub payload_bytes: u64,
    /// Whether the archive was checked too, and how many load file rows.
    pub archive_checked: bool,
    pub entries_checked: u64,
    pub failures: Vec<Failure>,
}

fn fail(
    kind: &'static str,
    file: &str,
    expected: Option<String>,
    found: Option<String>,
) -> Failure {
    Failure {
        kind,
        file: file.to_owned(),
        expected,
        found,
    }
}

/// A digest that is not the one listed.
fn mismatch(algorithm: &str, file: &str, expected: &str, found: &str) -> Failure {
    fail(
        "checksum-mismatch",
        file,
        Some(format!("{algorithm} {expected}")),
        Some(format!("{algorithm} {found}")),
    )
}

/// A file's size and digests.
#[derive(Debug, Clone)]
struct Digests {
    bytes: u64,
    sha256: String,
    sha512: String,
}

impl Digests {
    fn of(path: &Path) -> std::io::Result<Digests> {
        let mut f = std::fs::File::open(path)?;
        let (mut a, mut b) = (Sha256::new(), Sha512::new());
        let mut buf = vec![0u8; 256 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            a.update(&buf[..n]);
            b.update(&buf[..n]);
            bytes += n as u64;
        }
        Ok(Digests {
            bytes,
            sha256: hex(&a.finalize()),
            sha512: hex(&b.finalize()),
        })
    }

    fn get(&self, algorithm: &str) -> &str {
        if algorithm == "sha512" {
            &self.sha512
        } else {
            &self.sha256
        }
    }
}

/// Verifies the bag directory `root`; with `archive`, also against it:
/// `bagit.txt`, `bag-info.txt`, the payload manifests, the tag manifests
/// and `Payload-Oxum`, each a step of its own, every failure listed.
pub fn verify(root: &Path, archive: Option<&Connection>) -> Result<Report> {
    if !root.is_dir() {
        return Err(Error::Usage(format!(
            "{}: not a bag directory (unzip a zipped bag first, or give the .zip)",
            root.display()
        )));
    }
    let mut failures = Vec::new();
    let mut digests = Digester {
        root,
        known: BTreeMap::new(),
    };
    check_bagit_txt(root, &mut failures);
    let info = check_bag_info(root, &mut failures);
    let production = info
        .get("External-Identifier")
        .and_then(|v| v.first())
        .cloned();
    let payload = check_payload(root, &mut digests, &mut failures);
    check_tag_manifests(root, &mut digests, &mut failures)?;
    let (bytes, files) = check_oxum(&info, &payload, &mut digests, &mut failures);
    let mut report = Report {
        bag: root.display().to_string(),
        production,
        ok: false,
        payload_files: files,
        payload_bytes: bytes,
        archive_checked: false,
        entries_checked: 0,
        failures,
    };
    if let Some(conn) = archive {
        against_archive(conn, root, &mut report)?;
    }
    report.failures.dedup();
    report.ok = report.failures.is_empty();
    Ok(report)
}

/// The files' digests, each file read once however many manifests list it.
struct Digester<'a> {
    root: &'a Path,
    known: BTreeMap<String, Digests>,
}

impl Digester<'_> {
    /// The digests of `rel`, or `None` with the failure noted: a path
    /// that leaves the bag, or not a readable regular file.
    fn get(&mut self, rel: &str, failures: &mut Vec<Failure>) -> Option<Digests> {
        if let Some(d) = self.known.get(rel) {
            return Some(d.clone());
        }
        let full = match bag::inside(self.root, rel) {
            Ok(p) => p,
            Err(_) => {
                failures.push(fail("bad-path", rel, None, None));
                return None;
            }
        };
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_file() => {}
            _ => {
                failures.push(fail("missing", rel, Some("a file".into()), None));
                return None;
            }
        }
        match Digests::of(&full) {
            Ok(d) => {
                self.known.insert(rel.to_owned(), d.clone());
                Some(d)
            }
            Err(e) => {
                failures.push(fail(
                    "missing",
                    rel,
                    Some("a readable file".into()),
                    Some(e.to_string()),
                ));
                None
            }
        }
    }
}

/// `bagit.txt` declares version 1.0 in UTF-8.
fn check_bagit_txt(root: &Path, failures: &mut Vec<Failure>) {
    // bagit.txt
    match std::fs::read_to_string(root.join("bagit.txt")) {
        Ok(t) => {
            let info = parse_info(&t);
            let version = info.get("BagIt-Version").and_then(|v| v.first());
            let encoding = info
                .get("Tag-File-Character-Encoding")
                .and_then(|v| v.first());
            if version.map(String::as_str) != Some("1.0")
                || encoding.map(String::as_str) != Some("UTF-8")
            {
                failures.push(fail(
                    "bagit-txt",
                    "bagit.txt",
                    Some("BagIt-Version: 1.0, Tag-File-Character-Encoding: UTF-8".into()),
                    Some(t.trim().replace('\n', ", ")),
                ));
            }
        }
        Err(_) => failures.push(fail("missing", "bagit.txt", Some("a file".into()), None)),
    }
}

/// `bag-info.txt`, parsed, with bagit-python's rule on line breaks
/// applied.
fn check_bag_info(root: &Path, failures: &mut Vec<Failure>) -> BTreeMap<String, Vec<String>> {
    let info_text = std::fs::read_to_string(root.join("bag-info.txt")).unwrap_or_default();
    // bagit-python's rule: it splits tag files with Python's
    // `splitlines`, so a form feed, a vertical tab, U+2028 and the like
    // inside a value break the bag for it; a tab is allowed.
    for (i, line) in info_text.lines().enumerate() {
        if let Some(c) = line
            .chars()
            .find(|&c| c != '\t' && super::bag::breaks_a_tag_line(c))
        {
            failures.push(fail(
                "tag-line-break",
                "bag-info.txt",
                Some("one tag per line, as bagit-python reads them".into()),
                Some(format!("line {} holds U+{:04X}", i + 1, c as u32)),
            ));
        }
    }
    parse_info(&info_text)
}

/// Every payload file listed in every manifest with the digest listed:
/// the payload files found.
fn check_payload(
    root: &Path,
    digests: &mut Digester<'_>,
    failures: &mut Vec<Failure>,
) -> BTreeSet<String> {
    // Payload: every file under data/.
    let mut payload = BTreeSet::new();
    walk(root, "data", &mut payload, failures);
    let mut listed_payload: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut manifests = 0;
    for alg in ALGORITHMS {
        let name = format!("manifest-{alg}.txt");
        let Ok(text) = std::fs::read_to_string(root.join(&name)) else {
            continue;
        };
        manifests += 1;
        let listed = listed_payload.entry(alg).or_default();
        for (expected, rel) in parse_manifest(&text) {
            listed.insert(rel.clone());
            if !rel.starts_with("data/") {
                failures.push(fail(
                    "bad-path",
                    &rel,
                    Some(format!("a payload path, in {name}")),
                    None,
                ));
                continue;
            }
            if let Some(d) = digests.get(&rel, failures)
                && d.get(alg) != expected
            {
                failures.push(mismatch(alg, &rel, &expected, d.get(alg)));
            }
        }
    }
    if manifests == 0 {
        failures.push(fail(
            "no-manifest",
            "manifest-sha256.txt",
            Some("a payload manifest".into()),
            None,
        ));
    }
    for (alg, listed) in &listed_payload {
        for file in payload.difference(listed) {
            failures.push(fail(
                "unlisted",
                file,
                Some(format!("listed in manifest-{alg}.txt")),
                None,
            ));
        }
    }

    payload
}

/// Every tag file listed in every tag manifest with the digest listed.
fn check_tag_manifests(
    root: &Path,
    digests: &mut Digester<'_>,
    failures: &mut Vec<Failure>,
) -> Result<()> {
    // Tag files: everything at the top but data/ and the tag manifests.
    let mut tag_files = BTreeSet::new();
    for entry in std::fs::read_dir(root).map_err(|e| Error::io(root, e))? {
        let entry = entry.map_err(|e| Error::io(root, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "data" || name.starts_with("tagmanifest-") {
            continue;
        }
        tag_files.insert(name);
    }
    for alg in ALGORITHMS {
        let name = format!("tagmanifest-{alg}.txt");
        let Ok(text) = std::fs::read_to_string(root.join(&name)) else {
            continue;
        };
        let mut listed = BTreeSet::new();
        for (expected, rel) in parse_manifest(&text) {
            listed.insert(rel.clone());
            if let Some(d) = digests.get(&rel, failures)
                && d.get(alg) != expected
            {
                failures.push(mismatch(alg, &rel, &expected, d.get(alg)));
            }
        }
        for file in tag_files.difference(&listed) {
            failures.push(fail(
                "unlisted",
                file,
                Some(format!("listed in {name}")),
                None,
            ));
        }
    }

    Ok(())
}

/// `Payload-Oxum` matches the payload: its bytes and files.
fn check_oxum(
    info: &BTreeMap<String, Vec<String>>,
    payload: &BTreeSet<String>,
    digests: &mut Digester<'_>,
    failures: &mut Vec<Failure>,
) -> (u64, u64) {
    // Payload-Oxum.
    let (mut bytes, files) = (0u64, payload.len() as u64);
    for rel in payload {
        if let Some(d) = digests.get(rel, failures) {
            bytes += d.bytes;
        }
    }
    let found_oxum = format!("{bytes}.{files}");
    match info.get("Payload-Oxum").and_then(|v| v.first()) {
        Some(oxum) if *oxum == found_oxum => {}
        other => failures.push(fail(
            "oxum-mismatch",
            "bag-info.txt",
            other.cloned(),
            Some(found_oxum),
        )),
    }

    (bytes, files)
}

/// The archive's side: entries and the ledger record.
fn against_archive(conn: &Connection, root: &Path, report: &mut Report) -> Result<()> {
    report.archive_checked = true;
    let loadfile = root.join("data/loadfile.csv");
    if let Ok(file) = std::fs::File::open(&loadfile) {
        let mut csv = csv::Reader::from_reader(std::io::BufReader::new(file));
        let mut stmt = conn.prepare(
            "SELECT e.content_hash FROM entries e JOIN conversations c ON c.id = e.conversation_id
             WHERE c.identifier = ?1 AND e.identifier = ?2 AND e.version = ?3",
        )?;
        for (n, row) in csv.records().enumerate() {
            // A row read back from the bag, which anyone may have edited:
            // each field looked up, never indexed.
            let fields = row.ok().and_then(|row| {
                let field = |i: usize| row.get(i).map(str::to_owned);
                Some((
                    field(0)?,
                    field(1)?,
                    field(2)?,
                    field(3)?.parse::<i64>().ok()?,
                    field(9)?,
                ))
            });
            let Some((number, conversation, entry, version, hash)) = fields else {
                report.failures.push(fail(
                    "entry-missing",
                    &format!("data/loadfile.csv record {}", n + 1),
                    Some("a load file row of 14 fields".into()),
                    None,
                ));
                continue;
            };
            let hash = hash.as_str();
            report.entries_checked += 1;
            let held: Option<String> = stmt
                .query_row(rusqlite::params![conversation, entry, version], |r| {
                    r.get(0)
                })
                .optional()?;
            match held {
                None => report.failures.push(fail(
                    "entry-missing",
                    &format!("data/loadfile.csv {number}"),
                    Some(format!("{conversation} {entry} v{version} in the archive")),
                    None,
                )),
                Some(h) if h != hash => report.failures.push(fail(
                    "entry-changed",
                    &format!("data/loadfile.csv {number}"),
                    Some(hash.to_owned()),
                    Some(h),
                )),
                Some(_) => {}
            }
        }
    }
    let tagmanifest = root.join("tagmanifest-sha256.txt");
    let digest = Digests::of(&tagmanifest).ok().map(|d| d.sha256);
    let production = report.production.clone().unwrap_or_default();
    let record = ledger::read_all(conn)?
        .into_iter()
        .find(|r| super::is_production_record(r, &production));
    match record {
        None => report.failures.push(fail(
            "no-ledger-record",
            "bag-info.txt",
            Some(format!("a production record of {production} in the ledger")),
            None,
        )),
        Some(r) => {
            let expected = r.details["tagmanifest_sha256"].as_str().map(str::to_owned);
            if expected != digest {
                report.failures.push(fail(
                    "ledger-mismatch",
                    "tagmanifest-sha256.txt",
                    expected,
                    digest,
                ));
            }
        }
    }
    Ok(())
}

/// Every regular file under `root/rel`, as `/`-separated paths; anything
/// else (a link, a device) is a failure.
fn walk(root: &Path, rel: &str, out: &mut BTreeSet<String>, failures: &mut Vec<Failure>) {
    let dir: PathBuf = root.join(rel);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        failures.push(fail("missing", rel, Some("a directory".into()), None));
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{rel}/{name}");
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(root, &path, out, failures),
            Ok(t) if t.is_file() => {
                out.insert(path);
            }
            _ => failures.push(fail(
                "bad-path",
                &path,
                Some("a regular file".into()),
                Some("a link or special file".into()),
            )),
        }
    }
}

/// `digest path` lines (whitespace between; paths decoded).
fn parse_manifest(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let l = l.trim_end_matches('\r');
            let (digest, path) = l.split_once(char::is_whitespace)?;
            Some((
                digest.to_ascii_lowercase(),
                bag::decode_path(path.trim_start()),
            ))
        })
        .collect()
}

/// `Label: value` lines, continuation lines (starting with whitespace)
/// joined to the value before.
fn parse_info(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(label) = &last
                && let Some(v) = out.get_mut(label).and_then(|v| v.last_mut())
            {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some((label, value)) = line.split_once(':') {
            let label = label.trim().to_owned();
            out.entry(label.clone())
                .or_default()
                .push(value.trim().to_owned());
            last = Some(label);
        }
    }
    out
}

/// The most of the tag files (everything outside `data/`) extracted:
/// this much, and a little per payload file for the manifest lines.
const TAG_BYTES_BASE: u64 = 64 * 1024 * 1024;
const TAG_BYTES_PER_FILE: u64 = 2048;

/// A zipped bag extracted into `into` (a fresh, owner-only directory; its
/// one top directory is the bag), member names that would leave it
/// refused. Nothing is extracted unless the members' sizes agree with
/// the bag's own `Payload-Oxum`, and no member is written past the size
/// it declares: a zip bomb costs at most what the bag says it holds.
#[allow(
    clippy::too_many_lines,
    reason = "the size checks must come before any byte is extracted, in one reading of the central directory"
)]
pub fn unzip(zip_path: &Path, into: &Path) -> Result<PathBuf> {
    use std::io::Read;
    let file = std::fs::File::open(zip_path).map_err(|e| Error::io(zip_path, e))?;
    let bad = |e: zip::result::ZipError| {
        Error::Usage(format!("{}: not a readable zip ({e})", zip_path.display()))
    };
    let refuse = |reason: String| Error::BagNotAsDeclared {
        path: zip_path.to_owned(),
        reason,
    };
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(bad)?;
    // First the central directory: names, tops and declared sizes.
    let mut tops = BTreeSet::new();
    let mut members = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let member = zip.by_index_raw(i).map_err(bad)?;
        let Some(rel) = member.enclosed_name() else {
            return Err(Error::Usage(format!(
                "{}: member {} would leave the bag",
                zip_path.display(),
                crate::sanitize::for_terminal(
                    &member.name().map(|n| n.into_owned()).unwrap_or_default()
                )
            )));
        };
        if let Some(top) = rel.components().next() {
            tops.insert(top.as_os_str().to_owned());
        }
        members.push((i, rel, member.is_dir(), member.size()));
    }
    let top = match tops.len() {
        1 => tops.iter().next().map(PathBuf::from).unwrap_or_default(),
        _ => {
            return Err(Error::Usage(format!(
                "{}: a zipped bag holds one top directory; this holds {}",
                zip_path.display(),
                tops.len()
            )));
        }
    };
    let data = top.join("data");
    let (mut payload_bytes, mut payload_files, mut tag_bytes) = (0u64, 0u64, 0u64);
    let mut info_member = None;
    for (i, rel, dir, size) in &members {
        if *dir {
            continue;
        }
        if rel.starts_with(&data) {
            payload_bytes = payload_bytes.saturating_add(*size);
            payload_files += 1;
        } else {
            tag_bytes = tag_bytes.saturating_add(*size);
            if *rel == top.join("bag-info.txt") {
                info_member = Some(*i);
            }
        }
    }
    // The bag's own word for its payload.
    let info = match info_member {
        Some(i) => {
            let mut text = String::new();
            let member = zip.by_index(i).map_err(bad)?;
            member
                .take(1024 * 1024)
                .read_to_string(&mut text)
                .map_err(|e| refuse(format!("its bag-info.txt cannot be read ({e})")))?;
            parse_info(&text)
        }
        None => BTreeMap::new(),
    };
    let oxum = info
        .get("Payload-Oxum")
        .and_then(|v| v.first())
        .and_then(|o| o.split_once('.'))
        .and_then(|(b, f)| Some((b.parse::<u64>().ok()?, f.parse::<u64>().ok()?)));
    let Some((oxum_bytes, oxum_files)) = oxum else {
        return Err(refuse(
            "its bag-info.txt gives no Payload-Oxum, so its size cannot be checked before it is extracted; unzip it yourself and verify the directory".into(),
        ));
    };
    if (payload_bytes, payload_files) != (oxum_bytes, oxum_files) {
        return Err(refuse(format!(
            "its data/ members declare {payload_bytes} bytes in {payload_files} files, where its Payload-Oxum says {oxum_bytes}.{oxum_files}"
        )));
    }
    let tag_limit = TAG_BYTES_BASE.saturating_add(TAG_BYTES_PER_FILE.saturating_mul(payload_files));
    if tag_bytes > tag_limit {
        return Err(refuse(format!(
            "its tag files declare {tag_bytes} bytes, more than the {tag_limit} a bag of {payload_files} payload files needs"
        )));
    }
    for (i, rel, dir, size) in members {
        let out = into.join(&rel);
        if dir {
            std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
            continue;
        }
        if let Some(p) = out.parent() {
            std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
        }
        let member = zip.by_index(i).map_err(bad)?;
        let mut w = std::fs::File::create_new(&out).map_err(|e| Error::io(&out, e))?;
        // Never more than it declares: a member whose data runs on is
        // stopped one byte past its size.
        let copied = std::io::copy(&mut member.take(size.saturating_add(1)), &mut w)
            .map_err(|e| Error::io(&out, e))?;
        if copied > size {
            return Err(refuse(format!(
                "member {} holds more than the {size} bytes it declares",
                crate::sanitize::for_terminal(&rel.to_string_lossy())
            )));
        }
    }
    Ok(into.join(top))
}
