//! The writer session: the one way a command writes to an archive
//! (restic's `lockRepository` is the model).
//!
//! Every writer (ingest, verify, request, dispose, erase, produce, hold,
//! retention and fetch's ingest) begins with [`Session::begin`], which
//! takes the lock and then, before the command does anything:
//!
//! 1. reports a stale lock (its holder ended without finishing);
//! 2. finishes or undoes what a killed ingest or removal left (both
//!    journals), and removes partial copies from `objects/tmp`;
//! 3. removes again the conversations an export brought back after a
//!    removal that an interrupted ingest did not get to remove.
//!
//! So no writer can act on an archive in a half-finished state: a
//! production never packs a conversation an erasure removed, whatever was
//! killed when. The warnings are returned for `cmd/` to print; nothing
//! else takes the lock.

use jiff::Timestamp;
use rusqlite::Connection;

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::lock::WriterLock;

/// A writer holding the archive's lock, with a write connection to an
/// archive brought back to a finished state. The lock is released when
/// this is dropped.
pub struct Session {
    /// The write connection.
    pub conn: Connection,
    // Declared last: dropped after the connection.
    _lock: WriterLock,
}

impl Session {
    /// Begins a session of `command` by `who` at `now` on an existing
    /// archive (see the module doc). Fails with [`Error::NoArchive`] when
    /// there is none, and [`Error::Locked`] when another writer holds it.
    ///
    /// What the session did on the way in, for the user (a stale lock
    /// cleared, an interrupted run finished or undone, conversations
    /// removed again), is pushed onto `warnings` as it is done, so that it
    /// is told even when a later step fails.
    pub fn begin(
        archive: &Archive,
        command: &str,
        who: &str,
        now: Timestamp,
        warnings: &mut Vec<String>,
    ) -> Result<Session> {
        if !archive.exists() {
            return Err(Error::NoArchive(archive.root().to_owned()));
        }
        let lock = lock(archive, command, who, warnings)?;
        let mut conn = archive.open_for_write()?;
        recover(archive, &mut conn, who, now, warnings)?;
        Ok(Session { conn, _lock: lock })
    }

    /// Begins an ingest's session, on an archive that may not exist yet
    /// (its directory is created): the lock is taken, and an existing
    /// archive recovered as [`Session::begin`] does; a new one has only
    /// partial copies to clear. The ingest opens its own connection (a new
    /// archive's database is built aside), so none is returned.
    pub fn begin_ingest(
        archive: &Archive,
        who: &str,
        now: Timestamp,
        warnings: &mut Vec<String>,
    ) -> Result<WriterLock> {
        crate::archive::create_dir(archive.root())?;
        let lock = lock(archive, "ingest", who, warnings)?;
        if archive.exists() {
            let mut conn = archive.open_for_write()?;
            recover(archive, &mut conn, who, now, warnings)?;
        } else {
            let removed = archive.objects().clear_staging()?;
            if removed > 0 {
                warnings.push(format!(
                    "removed {removed} partial object copies left by an interrupted ingest"
                ));
            }
        }
        Ok(lock)
    }
}

/// Runs `f` in a writer session (`writer::Session`) of `command`: under
/// the lock, with a write connection, after finishing or undoing what a
/// killed run left and removing again what an interrupted ingest brought
/// back.
/// Returns `f`'s result and warnings for the user, which are returned
/// even when `f` (or what ran before it) fails: what was done before the
/// failure (a removal carried out again) must still be told.
pub fn run<T>(
    archive: &Archive,
    command: &str,
    who: &str,
    f: impl FnOnce(&mut Connection) -> Result<T>,
) -> (Result<T>, Vec<String>) {
    let mut warnings = Vec::new();
    let result = (|| {
        let now = crate::clock::now()?;
        let mut session = Session::begin(archive, command, who, now, &mut warnings)?;
        f(&mut session.conn)
    })();
    (result, warnings)
}

impl std::ops::Deref for Session {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn lock(
    archive: &Archive,
    command: &str,
    who: &str,
    warnings: &mut Vec<String>,
) -> Result<WriterLock> {
    let lock = WriterLock::acquire(archive.root(), command, who)?;
    if let Some(stale) = &lock.stale {
        warnings.push(format!(
            "cleared a stale lock left by {stale}, which ended without finishing"
        ));
    }
    Ok(lock)
}

/// Steps 2 and 3 of the module doc, under the lock.
fn recover(
    archive: &Archive,
    conn: &mut Connection,
    who: &str,
    now: Timestamp,
    warnings: &mut Vec<String>,
) -> Result<()> {
    if let Some(done) = crate::archive::journal::recover(archive, conn)? {
        warnings.push(done);
    }
    let (_, messages) = crate::retention::remove::reapply(archive, conn, who, now, false)?;
    warnings.extend(messages);
    Ok(())
}
