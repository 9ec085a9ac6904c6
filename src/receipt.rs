//! Receipts: everything an auditor needs to check one export without
//! convault: its files and members with sizes and SHA-256, its entry
//! counts, its ledger record with the exact bytes its hash covers, and the
//! ordinary commands (`sha256sum`, `unzip`) that check each value.
//!
//! A receipt states what the archive recorded; `convault verify --export`
//! re-checks the archive itself.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::archive::Archive;
use crate::clock;
use crate::error::{Error, Result};
use crate::ledger::{self, Record, kind};

#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub export_id: i64,
    pub ingested_at: Option<String>,
    pub convault_version: String,
    pub export_kind: Option<String>,
    pub generated_at: Option<String>,
    pub files: Vec<File>,
    pub counts: Counts,
    /// The export's `export-ingested` ledger record.
    pub ledger_record: Option<Record>,
    /// The exact text whose SHA-256 is the record's hash.
    pub ledger_canonical_form: Option<String>,
    /// Originals a disposition or erasure replaced by a derivative without
    /// the removed rows (or deleted), oldest first: the files above are
    /// what is stored now.
    pub replaced: Vec<Replaced>,
    /// Shell commands that check the values above by hand.
    pub commands: Vec<Command>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Replaced {
    pub path: String,
    pub old_sha256: String,
    pub old_bytes: i64,
    /// `None`: nothing was left, the original was deleted.
    pub new_sha256: Option<String>,
    pub new_bytes: Option<i64>,
    /// The removal's ledger record, its kind and time.
    pub record: i64,
    pub kind: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct File {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// The stored copy, relative to the archive directory.
    pub object: String,
    pub container: String,
    pub members: Vec<Member>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub name: String,
    pub bytes: Option<i64>,
    /// As `unzip -v` prints it: 8 lowercase hex digits.
    pub crc32: Option<String>,
    pub sha256: Option<String>,
    pub status: String,
    pub shape: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub entries_read: i64,
    pub entries_new: i64,
    pub entries_unchanged: i64,
    pub entries_changed: i64,
    pub conversations_new: i64,
    pub quarantined: i64,
}

/// A command and what it must print.
#[derive(Debug, Clone, Serialize)]
pub struct Command {
    pub run: String,
    pub expect: String,
}

/// The receipt of export `export_id`.
pub fn receipt(conn: &Connection, archive: &Archive, export_id: i64) -> Result<Receipt> {
    let row = conn
        .query_row(
            "SELECT ingested_at_ms, convault_version, entries_read, entries_new, entries_unchanged,
                    entries_changed, conversations_new, quarantined
             FROM exports WHERE id = ?1",
            [export_id],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    Counts {
                        entries_read: r.get(2)?,
                        entries_new: r.get(3)?,
                        entries_unchanged: r.get(4)?,
                        entries_changed: r.get(5)?,
                        conversations_new: r.get(6)?,
                        quarantined: r.get(7)?,
                    },
                ))
            },
        )
        .optional()?
        .ok_or(Error::UnknownExport(export_id))?;
    let (ingested_ms, version, counts) = row;
    let record = ledger::read_all(conn)?.into_iter().find(|r| {
        r.kind == kind::EXPORT_INGESTED
            && r.details.get("export_id").and_then(Value::as_i64) == Some(export_id)
    });
    let detail = |key: &str| {
        record
            .as_ref()
            .and_then(|r| r.details.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let files = files(conn, archive, export_id)?;
    let replaced = conn
        .prepare(
            "SELECT d.path, d.old_sha256, d.old_bytes, d.new_sha256, d.new_bytes,
                    x.ledger_seq, x.kind, x.at_ms
             FROM derivatives d JOIN disposals x ON x.id = d.disposal_id
             WHERE d.export_id = ?1 ORDER BY d.id",
        )?
        .query_map([export_id], |r| {
            Ok(Replaced {
                path: r.get(0)?,
                old_sha256: r.get(1)?,
                old_bytes: r.get(2)?,
                new_sha256: r.get(3)?,
                new_bytes: r.get(4)?,
                record: r.get(5)?,
                kind: r.get(6)?,
                at: crate::timestamp::rfc3339(r.get(7)?),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut receipt = Receipt {
        export_id,
        ingested_at: clock::rfc3339_from_ms(ingested_ms),
        convault_version: version,
        export_kind: detail("export_kind"),
        generated_at: detail("generated_at"),
        counts,
        ledger_canonical_form: record.as_ref().map(Record::canonical_form),
        ledger_record: record,
        files,
        replaced,
        commands: Vec::new(),
    };
    receipt.commands = commands(&receipt);
    Ok(receipt)
}

fn files(conn: &Connection, archive: &Archive, export_id: i64) -> Result<Vec<File>> {
    let mut stmt = conn.prepare(
        "SELECT id, path, bytes, sha256, container FROM files WHERE export_id = ?1 ORDER BY id",
    )?;
    let rows = stmt
        .query_map([export_id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut members = conn.prepare(
        "SELECT name, bytes, crc32, sha256, status, shape, reason FROM members
         WHERE file_id = ?1 ORDER BY id",
    )?;
    let mut out = Vec::new();
    for (id, path, bytes, sha256, container) in rows {
        let object = archive.objects().path_of(&sha256);
        let object = object
            .strip_prefix(archive.root())
            .unwrap_or(&object)
            .display()
            .to_string();
        let members = members
            .query_map([id], |r| {
                Ok(Member {
                    name: r.get(0)?,
                    bytes: r.get(1)?,
                    crc32: r.get::<_, Option<i64>>(2)?.map(|c| format!("{c:08x}")),
                    sha256: r.get(3)?,
                    status: r.get(4)?,
                    shape: r.get(5)?,
                    reason: r.get(6)?,
                })
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push(File {
            path,
            bytes: bytes.max(0) as u64,
            sha256,
            object,
            container,
            members,
        });
    }
    Ok(out)
}

/// Quotes `s` for a shell: POSIX single quotes, or, when `s` holds a
/// character a terminal would not show as itself (a control character,
/// a bidi control, an invisible one), bash's `$'…'` with those bytes as
/// `\xHH`. The command then names the exact bytes and prints as it runs:
/// nothing in it is changed by `sanitize::for_terminal`.
pub fn shell_quote(s: &str) -> String {
    if !s.chars().any(crate::sanitize::is_hidden) {
        return format!("'{}'", s.replace('\'', r"'\''"));
    }
    let mut out = String::from("$'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if crate::sanitize::is_hidden(c) || c == '\t' => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// `unzip` reads member names as patterns: escape the pattern characters.
fn unzip_pattern(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '[' | ']' | '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn commands(r: &Receipt) -> Vec<Command> {
    let mut out = Vec::new();
    for f in &r.files {
        let name = shell_quote(file_name(&f.path));
        out.push(Command {
            run: format!("sha256sum {name}"),
            expect: f.sha256.clone(),
        });
        if f.container == "zip" {
            out.push(Command {
                run: format!("unzip -v {name}"),
                expect: "every member listed above under members:, with the same Length and CRC-32"
                    .into(),
            });
            for m in &f.members {
                if let Some(sha) = &m.sha256 {
                    out.push(Command {
                        run: format!(
                            "unzip -p {name} {} | sha256sum",
                            shell_quote(&unzip_pattern(&m.name))
                        ),
                        expect: sha.clone(),
                    });
                }
            }
        }
    }
    if let (Some(rec), Some(form)) = (&r.ledger_record, &r.ledger_canonical_form) {
        out.push(Command {
            run: format!("printf '%s' {} | sha256sum", shell_quote(form)),
            expect: rec.hash.clone(),
        });
    }
    out
}

/// The plain-text receipt.
pub fn render(r: &Receipt, archive: &Archive) -> String {
    let mut s = String::new();
    s.push_str(&format!("convault receipt for export {}\n\n", r.export_id));
    s.push_str(&format!("archive        {}\n", archive.root().display()));
    s.push_str(&format!(
        "ingested at    {} by convault {}\n",
        r.ingested_at.as_deref().unwrap_or("?"),
        r.convault_version
    ));
    if let Some(k) = &r.export_kind {
        s.push_str(&format!("export kind    {k}\n"));
    }
    if let Some(g) = &r.generated_at {
        s.push_str(&format!(
            "generated at   {g} (by the export's own timestamps)\n"
        ));
    }
    let c = &r.counts;
    s.push_str(&format!(
        "entries        {} read: {} new, {} unchanged, {} changed; {} new conversations; {} quarantined\n",
        c.entries_read, c.entries_new, c.entries_unchanged, c.entries_changed, c.conversations_new, c.quarantined
    ));
    for f in &r.files {
        s.push_str(&format!("\nfile           {}\n", f.path));
        s.push_str(&format!("  bytes        {}\n", f.bytes));
        s.push_str(&format!("  sha256       {}\n", f.sha256));
        s.push_str(&format!("  stored as    {}\n", f.object));
        s.push_str("  members:\n");
        for m in &f.members {
            s.push_str(&format!(
                "    {:>10}  {:8}  {:64}  {}{}\n",
                m.bytes.map_or("-".into(), |b| b.to_string()),
                m.crc32.as_deref().unwrap_or("-"),
                m.sha256.as_deref().unwrap_or("-"),
                m.name,
                match (&m.status[..], &m.reason) {
                    ("quarantined", Some(why)) => format!("  (quarantined: {why})"),
                    ("directory", _) => "  (directory)".into(),
                    _ => String::new(),
                }
            ));
        }
    }
    for x in &r.replaced {
        s.push_str(&format!(
            "\nreplaced       {} ({} bytes, SHA-256 {})\n  by the {} of {} (ledger record {}): {}\n",
            x.path,
            x.old_bytes,
            x.old_sha256,
            x.kind,
            x.at,
            x.record,
            match (&x.new_sha256, x.new_bytes) {
                (Some(sha), Some(b)) => format!("a derivative without the removed rows, {b} bytes, SHA-256 {sha}"),
                _ => "deleted, nothing was left".to_owned(),
            }
        ));
    }
    match &r.ledger_record {
        Some(rec) => {
            s.push_str(&format!(
                "\nledger record  {} ({}, {} by {})\n  hash         {}\n  prev         {}\n  canonical form (the bytes its hash covers):\n  {}\n",
                rec.seq,
                rec.kind,
                rec.time,
                rec.who,
                rec.hash,
                rec.prev,
                r.ledger_canonical_form.as_deref().unwrap_or("")
            ));
        }
        None => s.push_str("\nledger record  none found: run `convault verify` on this archive\n"),
    }
    s.push_str("\nto check by hand, in bash or zsh, in the directory holding the export's files (or with the stored copy):\n");
    for cmd in &r.commands {
        s.push_str(&format!(
            "  {}\n      must print: {}\n",
            cmd.run, cmd.expect
        ));
    }
    s
}
