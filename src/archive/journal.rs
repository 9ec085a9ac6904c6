//! Journals: what a running ingest or removal may leave behind if it is
//! killed, so that the next writer can finish or undo it.
//!
//! An ingest writes `objects/tmp/ingest.journal` (fsynced), listing the
//! copies it is about to move into the store, before it moves any, and
//! deletes it once its transaction has committed. A kill in between
//! leaves objects no export records; the next writer deletes those the
//! journal lists and no `files` row names, so `verify` does not report
//! them as unrecorded objects (issue 16).
//!
//! A removal writes `objects/tmp/removal.journal` (fsynced) before it
//! moves any derivative into the store or writes its certificate, listing
//! the objects it adds (derivatives), the objects it replaces (originals)
//! and its certificate files. It deletes the journal only once the old
//! objects are gone after its commit.
//!
//! Recovery needs no other state: after a commit the derivatives are
//! named by `files` rows and the originals are not; before it, the reverse.
//! So every listed object that no `files` row names is deleted (the
//! originals of a committed removal, the derivatives of one that did not
//! commit), and a certificate whose ledger record does not exist is
//! deleted; a committed removal's database is rebuilt (it may have been
//! killed before that). Then the journal goes. Partial copies in
//! `objects/tmp/` are removed too. Run under the writer lock only.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::archive::Archive;
use crate::archive::objects::sync_dir;
use crate::error::{Error, Result};

/// What a removal in progress may leave behind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Journal {
    /// The ledger record the removal will append.
    pub record: i64,
    /// Derivatives it moves into the store (SHA-256).
    pub new_objects: Vec<String>,
    /// Originals it replaces or deletes (SHA-256).
    pub old_objects: Vec<String>,
    /// Its certificate files, relative to the archive directory.
    pub certificates: Vec<String>,
}

/// Where the journal lives.
pub fn path(archive: &Archive) -> PathBuf {
    archive
        .root()
        .join("objects")
        .join("tmp")
        .join("removal.journal")
}

/// Writes the journal, fsynced with its directory.
pub fn write(archive: &Archive, journal: &Journal) -> Result<()> {
    write_json(archive, &path(archive), journal)
}

/// Deletes the journal once its removal is complete.
pub fn remove(archive: &Archive) -> Result<()> {
    remove_path(archive, &path(archive))
}

/// Where an ingest lists the objects it is moving into the store.
fn ingest_path(archive: &Archive) -> PathBuf {
    archive
        .root()
        .join("objects")
        .join("tmp")
        .join("ingest.journal")
}

/// Before an ingest moves its copies into the store: lists them, fsynced,
/// so that a kill between the move and the commit leaves objects the next
/// writer knows to delete, not objects `verify` would call unrecorded.
pub fn write_ingest(archive: &Archive, objects: &[String]) -> Result<()> {
    write_json(archive, &ingest_path(archive), &objects)
}

/// Once the ingest committed (or undid its objects itself).
pub fn remove_ingest(archive: &Archive) -> Result<()> {
    remove_path(archive, &ingest_path(archive))
}

fn write_json<T: Serialize>(archive: &Archive, path: &Path, value: &T) -> Result<()> {
    // `objects/tmp/`, checked: no link leads it outside the archive.
    let dir = archive.objects().tmp_dir()?;
    let body = serde_json::to_vec_pretty(value).map_err(|_| Error::Internal("journal"))?;
    let mut f = File::create(path).map_err(|e| Error::io(path, e))?;
    f.write_all(&body)
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(path, e))?;
    sync_dir(&dir)
}

fn remove_path(archive: &Archive, path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(path.parent().unwrap_or(archive.root())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Deletes each of `objects` that no `files` row names; returns how many.
fn delete_unnamed<'a>(
    archive: &Archive,
    conn: &Connection,
    objects: impl Iterator<Item = &'a String>,
) -> Result<usize> {
    let mut named = conn.prepare("SELECT 1 FROM files WHERE sha256 = ?1")?;
    let mut deleted = 0;
    for sha in objects.collect::<HashSet<_>>() {
        if !named.exists([sha])? && archive.objects().path_of(sha).exists() {
            archive.objects().delete(sha)?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Finishes or undoes what a killed ingest or removal left, if anything
/// (see the module doc), and removes partial copies from `objects/tmp/`.
/// Returns what was done, for the caller's warnings.
pub fn recover(archive: &Archive, conn: &Connection) -> Result<Option<String>> {
    let ingest = recover_ingest(archive, conn)?;
    let removal = recover_removal(archive, conn)?;
    Ok(match (ingest, removal) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    })
}

/// Deletes the objects a killed ingest listed that no `files` row names
/// (it did not commit).
fn recover_ingest(archive: &Archive, conn: &Connection) -> Result<Option<String>> {
    let path = ingest_path(archive);
    let body = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let listed: Vec<String> = serde_json::from_slice(&body).map_err(|e| Error::Damaged {
        what: format!("ingest journal {}", path.display()),
        detail: e.to_string(),
    })?;
    let deleted = delete_unnamed(archive, conn, listed.iter())?;
    remove_path(archive, &path)?;
    Ok(Some(if deleted > 0 {
        format!(
            "an interrupted ingest had stored {deleted} objects without recording them (it did not commit): they were deleted"
        )
    } else {
        "an interrupted ingest had committed before it ended: nothing was left to undo".to_owned()
    }))
}

fn recover_removal(archive: &Archive, conn: &Connection) -> Result<Option<String>> {
    let path = path(archive);
    let body = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Partial copies of a killed ingest or removal, if any.
            let removed = archive.objects().clear_staging()?;
            return Ok((removed > 0).then(|| {
                format!(
                    "removed {removed} partial copies left in objects/tmp by an interrupted run"
                )
            }));
        }
        Err(e) => return Err(Error::io(&path, e)),
    };
    let journal: Journal = serde_json::from_slice(&body).map_err(|e| Error::Damaged {
        what: format!("removal journal {}", path.display()),
        detail: e.to_string(),
    })?;
    let deleted = delete_unnamed(
        archive,
        conn,
        journal.new_objects.iter().chain(&journal.old_objects),
    )?;
    let committed: bool = conn
        .query_row(
            "SELECT 1 FROM disposals WHERE ledger_seq = ?1",
            [journal.record],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if committed {
        // The run may have been killed before the database was rebuilt.
        super::db::rebuild(conn)?;
    } else {
        for c in &journal.certificates {
            remove_file_if_present(&archive.root().join(c))?;
        }
    }
    let removed_tmp = archive.objects().clear_staging()?;
    remove(archive)?;
    Ok(Some(format!(
        "{} an interrupted removal (ledger record {}): deleted {deleted} objects and {removed_tmp} partial copies it left",
        if committed { "finished" } else { "undid" },
        journal.record
    )))
}

fn remove_file_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}
