//! Objects and their members: every stored input file against what its
//! export recorded, and files in the store that nobody recorded.

use super::kind::FailureKind;
use std::collections::HashSet;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

use rusqlite::Connection;

use super::{Findings, Level, Options, Selection};
use crate::archive::Archive;
use crate::archive::catalog::member_rows;
use crate::error::{Error, Result};
use crate::hashing::HashingReader;
use crate::progress::{ProgressReader, bytes_bar};

/// One `files` row.
struct FileRow {
    id: i64,
    export_id: i64,
    path: String,
    bytes: u64,
    sha256: String,
    container: String,
}

pub(super) fn check(
    archive: &Archive,
    conn: &Connection,
    opts: &Options,
    sel: &Selection,
    f: &mut Findings,
) -> Result<()> {
    let files = file_rows(conn, sel)?;
    let store = archive.objects();
    let total: u64 = files.iter().map(|r| r.bytes).sum();
    let bar = bytes_bar(total, "objects", opts.progress && opts.level >= Level::Full);
    let mut base = 0;
    for row in &files {
        f.checked.objects += 1;
        let object = store.path_of(&row.sha256);
        let item = format!(
            "object {} (export {}, {})",
            row.sha256, row.export_id, row.path
        );
        // A link is not a stored copy, wherever it points (and whatever
        // it holds): the store keeps the bytes themselves.
        if let Some(kind) = not_a_file(&store, &object) {
            f.fail(
                FailureKind::ObjectNotAFile,
                &item,
                "a read-only file in the store",
                kind,
            );
            continue;
        }
        let meta = match std::fs::metadata(&object) {
            Ok(m) => m,
            Err(e) => {
                let found = if e.kind() == std::io::ErrorKind::NotFound {
                    "missing".to_owned()
                } else {
                    format!("unreadable ({e})")
                };
                f.fail(
                    FailureKind::ObjectMissing,
                    item,
                    format!("{} bytes", row.bytes),
                    found,
                );
                continue;
            }
        };
        if meta.len() != row.bytes {
            f.fail(
                FailureKind::ObjectSize,
                &item,
                format!("{} bytes", row.bytes),
                format!("{} bytes", meta.len()),
            );
        }
        if opts.level >= Level::Full {
            let started = Instant::now();
            let hashed = File::open(&object).and_then(|file| {
                HashingReader::new(ProgressReader::new(file, bar.clone(), base)).finish()
            });
            f.hashing.object_seconds += started.elapsed().as_secs_f64();
            match hashed {
                Ok((bytes, sha)) => {
                    f.checked.object_bytes += bytes;
                    f.hashing.object_bytes += bytes;
                    if sha != row.sha256 {
                        f.fail(FailureKind::ObjectChanged, &item, &row.sha256, sha);
                    }
                }
                Err(e) => f.fail(
                    FailureKind::ObjectMissing,
                    &item,
                    "readable",
                    format!("unreadable ({e})"),
                ),
            }
            base += row.bytes;
            check_members(conn, row, &object, &item, f)?;
        }
    }
    bar.finish_and_clear();
    if f.hashing.object_seconds > 0.0 {
        f.hashing.object_mib_per_second =
            f.hashing.object_bytes as f64 / f.hashing.object_seconds / (1024.0 * 1024.0);
    }
    if sel.export.is_none() && sel.sampled.is_none() {
        unrecorded(archive, conn, f)?;
    }
    Ok(())
}

fn file_rows(conn: &Connection, sel: &Selection) -> Result<Vec<FileRow>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT f.id, f.export_id, f.path, f.bytes, f.sha256, f.container FROM files f
         WHERE {} ORDER BY f.id",
        sel.files_where()
    ))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(FileRow {
                id: r.get(0)?,
                export_id: r.get(1)?,
                path: r.get(2)?,
                bytes: r.get::<_, i64>(3)?.max(0) as u64,
                sha256: r.get(4)?,
                container: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Re-reads every member of one object against its recorded row: same
/// order, names, sizes, CRC-32 (checked by reading to the end) and SHA-256.
fn check_members(
    conn: &Connection,
    row: &FileRow,
    object: &Path,
    item: &str,
    f: &mut Findings,
) -> Result<()> {
    let recorded = member_rows(conn, row.id)?;
    if row.container != "zip" {
        // A plain file is its own single member.
        for m in &recorded {
            f.checked.members += 1;
            if m.sha256.as_deref().is_some_and(|s| s != row.sha256) {
                f.fail(
                    FailureKind::MemberChanged,
                    format!("{item}: {}", m.name),
                    m.sha256.as_deref().unwrap_or(""),
                    &row.sha256,
                );
            }
        }
        return Ok(());
    }
    let zip = File::open(object)
        .map_err(|e| e.to_string())
        .and_then(|file| {
            zip::ZipArchive::new(BufReader::with_capacity(256 * 1024, file))
                .map_err(|e| e.to_string())
        });
    let mut zip = match zip {
        Ok(z) => z,
        Err(e) => {
            f.fail(FailureKind::MemberUnreadable, item, "a readable zip", e);
            return Ok(());
        }
    };
    for (index, m) in recorded.iter().enumerate() {
        f.checked.members += 1;
        let mitem = format!("{item}: member {}", m.name);
        if index >= zip.len() {
            f.fail(FailureKind::MemberMissing, mitem, "present", "missing");
            continue;
        }
        let mut member = match zip.by_index(index) {
            Ok(member) => member,
            Err(e) => {
                // Encrypted members were recorded unreadable at ingest.
                if m.status != "quarantined" || m.sha256.is_some() {
                    f.fail(FailureKind::MemberUnreadable, mitem, "readable", e);
                }
                continue;
            }
        };
        let name = String::from_utf8_lossy(member.name_raw()).into_owned();
        if name != m.name {
            f.fail(FailureKind::MemberRenamed, &mitem, &m.name, &name);
        }
        let crc = i64::from(member.crc32());
        if m.crc32.is_some_and(|c| c != crc) {
            f.fail(
                FailureKind::MemberChanged,
                &mitem,
                format!("crc32 {:08x}", m.crc32.unwrap_or(0)),
                format!("crc32 {crc:08x}"),
            );
        }
        let Some(recorded_sha) = &m.sha256 else {
            // Directories and members that could not be read at ingest
            // (unsupported compression) have no recorded hash.
            continue;
        };
        match HashingReader::new(&mut member).finish() {
            Ok((bytes, sha)) => {
                f.checked.member_bytes += bytes;
                if m.bytes.is_some_and(|b| b != bytes as i64) {
                    f.fail(
                        FailureKind::MemberChanged,
                        &mitem,
                        format!("{} bytes", m.bytes.unwrap_or(0)),
                        format!("{bytes} bytes"),
                    );
                }
                if &sha != recorded_sha {
                    f.fail(FailureKind::MemberChanged, &mitem, recorded_sha, sha);
                }
            }
            Err(e) => f.fail(
                FailureKind::MemberUnreadable,
                &mitem,
                "CRC-32 and data intact",
                e,
            ),
        }
    }
    for index in recorded.len()..zip.len() {
        let name = zip
            .name_for_index(index)
            .and_then(|n| n.ok())
            .map_or_else(|| format!("#{index}"), |n| n.into_owned());
        f.fail(
            FailureKind::MemberAdded,
            format!("{item}: member {name}"),
            "absent",
            "present",
        );
    }
    Ok(())
}

/// What stands at `object` or on the way to it inside the store, when it
/// is not a plain file in plain directories.
fn not_a_file(store: &crate::archive::ObjectStore, object: &std::path::Path) -> Option<String> {
    if let Err(e) = store.check_inside(object.parent()?) {
        return Some(e.to_string());
    }
    match std::fs::symlink_metadata(object) {
        Ok(m) if m.file_type().is_symlink() => Some(format!(
            "a symbolic link to {}",
            std::fs::read_link(object).map_or_else(|e| e.to_string(), |t| t.display().to_string())
        )),
        _ => None,
    }
}

/// Files under `objects/` that no export recorded. Partial copies in
/// `objects/tmp/` are left by interrupted ingests: warnings, not failures.
fn unrecorded(archive: &Archive, conn: &Connection, f: &mut Findings) -> Result<()> {
    let recorded: HashSet<String> = conn
        .prepare("SELECT sha256 FROM files")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    let root = archive.root().join("objects");
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&dir, e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap_or(&path);
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if rel.starts_with("tmp") {
                f.warn(format!(
                    "objects/{} is a partial copy left by an interrupted ingest; the next ingest removes it",
                    rel.display()
                ));
                continue;
            }
            let in_place = archive.objects().path_of(&name) == path;
            if !(in_place && recorded.contains(&name)) {
                f.fail(
                    FailureKind::ObjectUnrecorded,
                    format!("objects/{}", rel.display()),
                    "recorded by an export",
                    "present, recorded by none",
                );
            }
        }
    }
    Ok(())
}
