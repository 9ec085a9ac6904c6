//! Disposition certificates: what one removal removed and replaced, as
//! numbers and hashes (never content), and their verification.
//!
//! Each removal writes `certificates/<kind>-<record>.json` and a readable
//! `.txt` beside it. The ledger record the removal appends holds both
//! files' SHA-256 (`certificate_sha256`, `certificate_text_sha256`), and
//! the certificate names that record, so neither can be changed without
//! the other showing it. Removals recorded before the text's hash was
//! (convault 0.31) have their text checked against the text rendered
//! again from the JSON, which is deterministic.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::archive::Archive;
use crate::archive::objects::sync_dir;
use crate::error::{Error, Result};
use crate::hashing::HashingReader;
use crate::ledger;

/// What the certificate says it is.
pub const FORMAT: &str = "convault disposition certificate 1";

/// A removed conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    pub identifier: String,
    /// Entry versions removed.
    pub entries: u64,
    /// Their content hashes, in the order they were stored.
    pub content_hashes: Vec<String>,
}

/// A stored original replaced by a derivative, or deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Object {
    pub export_id: i64,
    pub path: String,
    pub old_sha256: String,
    pub old_bytes: u64,
    /// `None`: nothing was left, the original was deleted.
    pub new_sha256: Option<String>,
    pub new_bytes: Option<u64>,
}

/// One removal's certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    pub format: String,
    /// `disposition` or `erasure`.
    pub kind: String,
    /// The ledger record of the removal, and the hash of the one before.
    pub ledger_record: i64,
    pub ledger_prev: String,
    pub at: String,
    pub by: String,
    pub reason: String,
    /// The policy (disposition) or request (erasure) it carried out.
    pub basis: Value,
    pub conversations: Vec<Conversation>,
    pub entries: u64,
    /// Records (Data Export Service rows) and quarantined rows removed.
    pub records: u64,
    pub quarantined_rows: u64,
    pub objects: Vec<Object>,
    pub convault_version: String,
}

/// The two files' SHA-256.
#[derive(Debug, Clone)]
pub struct Written {
    pub json_sha256: String,
    pub text_sha256: String,
}

/// Writes the certificate's JSON and text files (fsynced) and returns
/// their SHA-256. `head` holds everything but the conversations
/// (its `conversations` is ignored); `next` gives them one at a time, so
/// memory does not grow with a removal (a content hash per removed
/// version). Files of that name left by a removal that did not commit are
/// replaced.
pub fn write(
    archive: &Archive,
    head: &Certificate,
    conversations: usize,
    mut next: impl FnMut() -> Result<Option<Conversation>>,
) -> Result<Written> {
    let (json_name, text_name) = Archive::certificate_names(&head.kind, head.ledger_record);
    let (json_path, text_path) = (
        archive.root().join(&json_name),
        archive.root().join(&text_name),
    );
    let dir = json_path.parent().unwrap_or(archive.root()).to_owned();
    if fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(Error::UnsafePath {
            path: dir,
            found: "a symbolic link".into(),
        });
    }
    crate::archive::create_dir(&dir)?;
    let create = |p: &Path| File::create(p).map(|f| BufWriter::with_capacity(64 * 1024, f));
    let mut json = Hashed {
        inner: create(&json_path).map_err(|e| Error::io(&json_path, e))?,
        sha256: Sha256::new(),
    };
    let mut text = Hashed {
        inner: create(&text_path).map_err(|e| Error::io(&text_path, e))?,
        sha256: Sha256::new(),
    };
    let written = (|| -> std::io::Result<()> {
        // Every field of the head, then the conversations, one per line.
        let mut fields = match serde_json::to_value(head)? {
            Value::Object(m) => m,
            _ => return Err(std::io::Error::other("a certificate is an object")),
        };
        fields.remove("conversations");
        json.write_all(b"{")?;
        for (key, value) in &fields {
            serde_json::to_writer(&mut json, key)?;
            json.write_all(b":")?;
            serde_json::to_writer(&mut json, value)?;
            json.write_all(b",\n")?;
        }
        json.write_all(b"\"conversations\":[")?;
        text.write_all(text_head(head, conversations).as_bytes())?;
        let mut first = true;
        while let Some(c) = next().map_err(std::io::Error::other)? {
            json.write_all(if first { b"\n" } else { b",\n" })?;
            first = false;
            serde_json::to_writer(&mut json, &c)?;
            text.write_all(text_line(&c).as_bytes())?;
        }
        json.write_all(b"\n]}\n")?;
        text.write_all(text_tail(head).as_bytes())?;
        Ok(())
    })();
    let synced = written
        .and_then(|()| json.inner.into_inner().map_err(|e| e.into_error()))
        .and_then(|f| f.sync_all())
        .and_then(|()| text.inner.into_inner().map_err(|e| e.into_error()))
        .and_then(|f| f.sync_all());
    synced.map_err(|e| Error::io(&json_path, e))?;
    sync_dir(&dir)?;
    Ok(Written {
        json_sha256: crate::hashing::hex(&json.sha256.finalize()),
        text_sha256: crate::hashing::hex(&text.sha256.finalize()),
    })
}

/// The readable form of `c`, as [`fn@write`] writes it.
pub fn render_text(c: &Certificate) -> String {
    let mut s = text_head(c, c.conversations.len());
    for conv in &c.conversations {
        s.push_str(&text_line(conv));
    }
    s.push_str(&text_tail(c));
    s
}

/// One conversation's line of the readable form.
fn text_line(c: &Conversation) -> String {
    format!(
        "  {}  {}\n",
        crate::sanitize::for_terminal(&c.identifier),
        c.entries
    )
}

/// What is wrong with the readable form beside a certificate, if
/// anything: checked against `recorded` (its SHA-256 in the ledger
/// record), or, for removals recorded before that, against the text
/// rendered again from `cert`. `(kind, detail)`.
pub fn text_problem(
    text_path: &Path,
    recorded: Option<&str>,
    cert: Option<&Certificate>,
) -> Option<(&'static str, String)> {
    let file = match File::open(text_path) {
        Ok(f) => f,
        Err(e) => return Some(("certificate-text-missing", e.to_string())),
    };
    match (recorded, cert) {
        (Some(sha), _) => {
            let mut h = HashingReader::new(file);
            let found = match std::io::copy(&mut h, &mut std::io::sink()).and_then(|_| h.finish()) {
                Ok((_, found)) => found,
                Err(e) => return Some(("certificate-text-missing", e.to_string())),
            };
            (found != sha).then(|| {
                (
                    "certificate-text-changed",
                    format!("its SHA-256 is {found}; the ledger record holds {sha}"),
                )
            })
        }
        (None, Some(cert)) => {
            let mut bytes = Vec::new();
            if let Err(e) = std::io::Read::read_to_end(&mut { file }, &mut bytes) {
                return Some(("certificate-text-missing", e.to_string()));
            }
            (bytes != render_text(cert).as_bytes()).then(|| {
                (
                    "certificate-text-changed",
                    "it differs from the certificate's JSON, rendered again".to_owned(),
                )
            })
        }
        (None, None) => None,
    }
}

/// Hashes what passes to `inner`.
struct Hashed<W> {
    inner: W,
    sha256: Sha256,
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha256.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The readable form up to its list of conversations.
fn text_head(c: &Certificate, conversations: usize) -> String {
    let mut s = String::new();
    let title = match c.kind.as_str() {
        "erasure" => "ERASURE CERTIFICATE",
        _ => "DISPOSITION CERTIFICATE",
    };
    let _ = writeln!(s, "{title}\n");
    let _ = writeln!(s, "Ledger record:   {}", c.ledger_record);
    let _ = writeln!(s, "Carried out at:  {}", c.at);
    let _ = writeln!(
        s,
        "Carried out by:  {}",
        crate::sanitize::for_terminal(&c.by)
    );
    let _ = writeln!(
        s,
        "Reason:          {}",
        crate::sanitize::for_terminal(&c.reason)
    );
    let _ = writeln!(s, "Basis:           {}", c.basis);
    let _ = writeln!(
        s,
        "Removed:         {conversations} conversations, {} entry versions, {} records, {} quarantined rows",
        c.entries, c.records, c.quarantined_rows
    );
    let _ = writeln!(
        s,
        "Originals:       {} replaced by derivatives, {} deleted",
        c.objects.iter().filter(|o| o.new_sha256.is_some()).count(),
        c.objects.iter().filter(|o| o.new_sha256.is_none()).count()
    );
    let _ = writeln!(
        s,
        "\nThe JSON file beside this one lists every removed version's content hash;\nits SHA-256 is in the ledger record. Check it with `convault certificate verify FILE`.\n"
    );
    let _ = writeln!(s, "CONVERSATIONS (identifier, entry versions removed)");
    s
}

/// The readable form after its list of conversations.
fn text_tail(c: &Certificate) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\nORIGINALS (export, path, old SHA-256 -> new SHA-256)");
    for o in &c.objects {
        let _ = writeln!(
            s,
            "  export {}  {}\n    {} ({} bytes)\n -> {}",
            o.export_id,
            crate::sanitize::for_terminal(&o.path),
            o.old_sha256,
            o.old_bytes,
            match (&o.new_sha256, o.new_bytes) {
                (Some(sha), Some(b)) => format!("{sha} ({b} bytes)"),
                _ => "deleted: nothing was left".to_owned(),
            }
        );
    }
    s
}

/// One thing a certificate check found wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub kind: String,
    pub item: String,
    pub detail: String,
}

/// The outcome of `certificate verify`.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub ok: bool,
    pub file: PathBuf,
    pub sha256: String,
    pub ledger_record: Option<i64>,
    pub conversations: u64,
    pub objects: u64,
    pub problems: Vec<Problem>,
}

/// Checks the certificate `file` against `conn`'s archive: its SHA-256 is
/// the one its ledger record holds (and that record's hash is intact);
/// every conversation it lists is gone and recorded as removed by that
/// record; every derivative it lists is the stored original of its export
/// (or was replaced again by a later removal, on record), present in the
/// store; every original it deleted or replaced is no longer recorded.
pub fn verify(archive: &Archive, conn: &Connection, file: &Path) -> Result<Check> {
    // Looked at before it is opened: opening a FIFO would wait for a
    // writer, and a device could be read for ever.
    let meta = std::fs::metadata(file).map_err(|e| Error::io(file, e))?;
    if !meta.is_file() {
        return Err(Error::Input {
            path: file.to_owned(),
            reason: "not a regular file: give the certificate's JSON file (certificates/<kind>-<record>.json)".into(),
        });
    }
    let f = File::open(file).map_err(|e| Error::io(file, e))?;
    let mut hashing = HashingReader::new(f);
    let parsed: std::result::Result<Certificate, _> = serde_json::from_reader(&mut hashing);
    std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| Error::io(file, e))?;
    let (_, sha256) = hashing.finish().map_err(|e| Error::io(file, e))?;
    let mut check = Check {
        ok: false,
        file: file.to_owned(),
        sha256: sha256.clone(),
        ledger_record: None,
        conversations: 0,
        objects: 0,
        problems: Vec::new(),
    };
    let cert = match parsed {
        Ok(c) if c.format == FORMAT => c,
        Ok(c) => {
            check.problems.push(Problem::new(
                "certificate-format",
                file.display().to_string(),
                format!("format {:?}, expected {FORMAT:?}", c.format),
            ));
            return Ok(check);
        }
        Err(e) => {
            check.problems.push(Problem::new(
                "certificate-unreadable",
                file.display().to_string(),
                format!("not a convault certificate: {e}"),
            ));
            return Ok(check);
        }
    };
    check.ledger_record = Some(cert.ledger_record);
    let records = ledger::read_all(conn)?;
    let record = match of_this_ledger(&cert, &records) {
        Ok(r) => r,
        Err(foreign) => {
            // Nothing else of it can be of this archive: said once.
            check.problems.push(foreign);
            return Ok(check);
        }
    };
    let mut problems = check_record(record, &cert, &sha256);
    check.conversations = check_conversations(conn, &cert, &mut problems)?;
    check.objects = check_objects(archive, conn, &cert, &mut problems)?;
    // The readable form beside it, when there is one (a copy of the
    // JSON alone is checked as itself).
    let text_path = file.with_extension("txt");
    if text_path.exists() {
        let recorded = record
            .details
            .get("certificate_text_sha256")
            .and_then(Value::as_str);
        if let Some((kind, detail)) = text_problem(&text_path, recorded, Some(&cert)) {
            problems.push(Problem::new(kind, text_path.display().to_string(), detail));
        }
    }
    check.problems.extend(problems);
    check.ok = check.problems.is_empty();
    Ok(check)
}

impl Problem {
    fn new(kind: &str, item: String, detail: String) -> Problem {
        Problem {
            kind: kind.into(),
            item,
            detail,
        }
    }
}

/// The ledger record `cert` names, or why the certificate is not of this
/// ledger: no record of its number, or an intact record that follows
/// another than the certificate says.
fn of_this_ledger<'r>(
    cert: &Certificate,
    records: &'r [ledger::Record],
) -> std::result::Result<&'r ledger::Record, Problem> {
    let Some(r) = records.iter().find(|r| r.seq == cert.ledger_record) else {
        return Err(Problem::new(
            "certificate-unrecorded",
            format!("ledger record {}", cert.ledger_record),
            format!(
                "this archive's ledger has {} records and no record {}: it is another archive's certificate (give that archive with --archive), or this ledger was cut short (run `convault ledger verify`)",
                records.len(),
                cert.ledger_record
            ),
        ));
    };
    if r.compute_hash() == r.hash && r.prev != cert.ledger_prev {
        return Err(Problem::new(
            "certificate-other-archive",
            format!("ledger record {}", r.seq),
            format!(
                "the certificate names ledger record {} after {}, but this archive's record {} follows {}: it is another archive's certificate (give that archive with --archive), an edited one, or this ledger was rewritten (run `convault ledger verify`)",
                cert.ledger_record, cert.ledger_prev, r.seq, r.prev
            ),
        ));
    }
    Ok(r)
}

/// The record holds this file's SHA-256 and kind, and is intact.
fn check_record(r: &ledger::Record, cert: &Certificate, sha256: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let recorded = r.details.get("certificate_sha256").and_then(Value::as_str);
    if r.kind != cert.kind || recorded != Some(sha256) {
        problems.push(Problem::new(
            "certificate-changed",
            format!("ledger record {}", r.seq),
            format!(
                "the record is a {:?} record holding certificate SHA-256 {}; this file is a {:?} certificate with SHA-256 {sha256}",
                r.kind,
                recorded.unwrap_or("(none)"),
                cert.kind
            ),
        ));
    }
    if r.compute_hash() != r.hash || r.prev != cert.ledger_prev {
        problems.push(Problem::new(
            "ledger-record-changed",
            format!("ledger record {}", r.seq),
            "its hash or its link to the record before does not match (run `convault ledger verify`)".into(),
        ));
    }
    problems
}

/// Every conversation listed is gone, and recorded as removed by the
/// certificate's record with that many versions. How many were checked.
fn check_conversations(
    conn: &Connection,
    cert: &Certificate,
    problems: &mut Vec<Problem>,
) -> Result<u64> {
    let mut checked = 0;
    let mut problem = |kind: &str, item: String, detail: String| {
        problems.push(Problem::new(kind, item, detail));
    };
    let disposal: Option<i64> = conn
        .query_row(
            "SELECT id FROM disposals WHERE ledger_seq = ?1",
            [cert.ledger_record],
            |r| r.get(0),
        )
        .optional()?;
    let mut present = conn.prepare("SELECT 1 FROM conversations WHERE identifier = ?1")?;
    let mut removed = conn.prepare(
        "SELECT entries FROM disposed_conversations WHERE identifier = ?1 AND disposal_id = ?2",
    )?;
    for c in &cert.conversations {
        checked += 1;
        if present.exists([&c.identifier])? {
            problem(
                "conversation-present",
                format!("conversation {}", c.identifier),
                "listed as removed, but the archive holds it".into(),
            );
        }
        let entries: Option<i64> = removed
            .query_row(rusqlite::params![c.identifier, disposal], |r| r.get(0))
            .optional()?;
        if entries != Some(c.entries as i64) || c.content_hashes.len() as u64 != c.entries {
            problem(
                "conversation-unrecorded",
                format!("conversation {}", c.identifier),
                format!(
                    "{} entry versions removed, {} content hashes listed; the archive records {}",
                    c.entries,
                    c.content_hashes.len(),
                    entries.map_or("no removal of it by this record".into(), |n| format!(
                        "{n} versions removed by this record"
                    ))
                ),
            );
        }
    }
    Ok(checked)
}

/// Every original listed is no longer recorded, and every derivative is
/// stored (or was replaced again by a later removal, on record). How many
/// were checked.
fn check_objects(
    archive: &Archive,
    conn: &Connection,
    cert: &Certificate,
    problems: &mut Vec<Problem>,
) -> Result<u64> {
    let mut checked = 0;
    let mut problem = |kind: &str, item: String, detail: String| {
        problems.push(Problem::new(kind, item, detail));
    };
    // Later replacements: a derivative replaced again by a later removal.
    let later: HashMap<String, Option<String>> = conn
        .prepare("SELECT old_sha256, new_sha256 FROM derivatives ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut named = conn.prepare("SELECT 1 FROM files WHERE sha256 = ?1")?;
    for o in &cert.objects {
        checked += 1;
        let item = format!("export {} original {}", o.export_id, o.path);
        if named.exists([&o.old_sha256])? {
            problem(
                "object-not-replaced",
                item.clone(),
                format!("{} is still recorded as a stored original", o.old_sha256),
            );
        }
        // Follow later replacements to the object that should be stored.
        let mut current = o.new_sha256.clone();
        let mut hops = 0;
        while let Some(sha) = current.clone() {
            if named.exists([&sha])? || hops > 1000 {
                break;
            }
            match later.get(&sha) {
                Some(next) => current = next.clone(),
                None => break,
            }
            hops += 1;
        }
        if let Some(sha) = current {
            if !named.exists([&sha])? {
                problem(
                    "object-missing",
                    item,
                    format!("derivative {sha} is recorded by no export"),
                );
            } else if !archive.objects().path_of(&sha).exists() {
                problem(
                    "object-missing",
                    item,
                    format!("derivative {sha} is not in the object store"),
                );
            }
        }
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removals recorded before the text's hash are checked against the
    /// text rendered again: it must be byte for byte what `write` wrote,
    /// hostile identifiers and paths included.
    #[test]
    fn the_text_rendered_again_is_the_text_written() {
        let dir = tempfile::tempdir().unwrap();
        let archive = Archive::new(dir.path());
        let conversations = vec![
            Conversation {
                identifier: "a\u{1b}[31m\u{202e}b".into(),
                entries: 2,
                content_hashes: vec!["x".into(), "y".into()],
            },
            Conversation {
                identifier: "c".into(),
                entries: 1,
                content_hashes: vec!["z".into()],
            },
        ];
        let cert = Certificate {
            format: FORMAT.into(),
            kind: "erasure".into(),
            ledger_record: 7,
            ledger_prev: "0".repeat(64),
            at: "2026-12-08T00:00:00Z".into(),
            by: "dpo\nsecond line".into(),
            reason: "GDPR art. 17".into(),
            basis: serde_json::json!({"request": "R-1"}),
            conversations: conversations.clone(),
            entries: 3,
            records: 0,
            quarantined_rows: 1,
            objects: vec![Object {
                export_id: 1,
                path: "dir/\u{7}x.csv".into(),
                old_sha256: "1".repeat(64),
                old_bytes: 10,
                new_sha256: None,
                new_bytes: None,
            }],
            convault_version: "test".into(),
        };
        let mut listed = conversations.into_iter();
        let written = write(&archive, &cert, 2, || Ok(listed.next())).unwrap();
        let (_, text_name) = Archive::certificate_names("erasure", 7);
        let text_path = dir.path().join(text_name);
        let on_disk = std::fs::read_to_string(&text_path).unwrap();
        assert_eq!(on_disk, render_text(&cert));
        assert_eq!(
            written.text_sha256,
            crate::hashing::sha256_hex(on_disk.as_bytes())
        );
        assert_eq!(text_problem(&text_path, None, Some(&cert)), None);
        assert_eq!(
            text_problem(&text_path, Some(&written.text_sha256), None),
            None
        );
        std::fs::write(&text_path, on_disk.replace("GDPR", "CCPA")).unwrap();
        assert_eq!(
            text_problem(&text_path, None, Some(&cert)).map(|p| p.0),
            Some("certificate-text-changed")
        );
        assert_eq!(
            text_problem(&text_path, Some(&written.text_sha256), None).map(|p| p.0),
            Some("certificate-text-changed")
        );
    }
}
