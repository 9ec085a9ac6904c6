//! The one place that opens the archive database.
//!
//! Every connection gets its pragmas set explicitly here (WAL, foreign keys,
//! synchronous, busy timeout, recursive triggers); writers bring the schema
//! up to date, and everyone refuses a schema newer than this build knows.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::schema;
use crate::error::{Error, Result};

/// How long a connection waits for another writer before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Page cache per connection, in KiB (negative `cache_size` is KiB). It
/// bounds a large ingest's memory: pages beyond it spill to the WAL.
const CACHE_KIB: i64 = 32 * 1024;

/// Page size of new archives (docs/performance-history.md: 8 KiB pages ingest
/// faster than 4 KiB ones without raising peak memory).
const PAGE_SIZE: i64 = 8192;

/// How a connection may use the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Readers: `query_only`, the schema must be the current one.
    ReadOnly,
    /// Writers: creates the database and applies missing migrations.
    ReadWrite,
    /// `--dry-run` on an existing archive: may write inside a transaction
    /// that it rolls back, but never migrates (that would commit).
    Rehearsal,
    /// A new archive's database, built under a name of its own that no
    /// reader opens ([`super::Archive::building_path`]) and renamed into
    /// place when complete ([`finish_build`]). Nobody else can see it, and
    /// a crash leaves only a file the next writer deletes, so it needs no
    /// WAL: every page is written once, with no checkpoint copying it
    /// again, and synced once at the end (docs/performance-history.md). The
    /// rollback journal stays in memory: it holds almost nothing (the
    /// pages are new) and keeps `ROLLBACK` and statement rollbacks working.
    Build,
}

/// Opens the database at `path` in `mode`.
///
/// A reader of an archive on a read-only file system (a mounted backup,
/// a write-protected copy) cannot make the WAL's `-shm` file SQLite
/// reads through; nobody can change the database there either, so it is
/// opened as immutable instead.
pub fn open(path: &Path, mode: Mode) -> Result<Connection> {
    match open_as(path, mode) {
        Err(Error::Db(e))
            if mode == Mode::ReadOnly
                && e.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen)
                && on_read_only_fs(path) =>
        {
            let uri = format!("file:{}?immutable=1", path.display());
            let mut conn = Connection::open_with_flags(
                uri,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )?;
            configure(&mut conn, mode, path)?;
            Ok(conn)
        }
        other => other,
    }
}

/// Whether `path`'s file system is mounted read-only.
fn on_read_only_fs(path: &Path) -> bool {
    rustix::fs::statvfs(path)
        .is_ok_and(|st| st.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

fn open_as(path: &Path, mode: Mode) -> Result<Connection> {
    let flags = match mode {
        Mode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        Mode::Rehearsal => OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        Mode::ReadWrite | Mode::Build => {
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
        }
    };
    let mut conn = Connection::open_with_flags(path, flags)?;
    configure(&mut conn, mode, path)?;
    Ok(conn)
}

/// A private in-memory database with the current schema (`--dry-run` on an
/// archive that does not exist yet).
pub fn open_in_memory() -> Result<Connection> {
    let mut conn = Connection::open_in_memory()?;
    configure(&mut conn, Mode::ReadWrite, Path::new(":memory:"))?;
    Ok(conn)
}

fn configure(conn: &mut Connection, mode: Mode, path: &Path) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "recursive_triggers", true)?;
    conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
    match mode {
        Mode::ReadWrite => {
            // Only takes effect on a new, empty database: fewer, larger
            // pages make the entry B-trees shallower (docs/performance-history.md).
            conn.pragma_update(None, "page_size", PAGE_SIZE)?;
            // WAL: readers never block the writer; FULL: a commit survives
            // power loss, which an archive of record must.
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            // Statement journals and FTS5 merges stay off the disk.
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            schema::migrate(conn, path)
        }
        Mode::Build => {
            conn.pragma_update(None, "page_size", PAGE_SIZE)?;
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            conn.pragma_update(None, "journal_mode", "MEMORY")?;
            conn.pragma_update(None, "synchronous", "OFF")?;
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            schema::migrate(conn, path)
        }
        Mode::Rehearsal => {
            conn.pragma_update(None, "synchronous", "FULL")?;
            conn.pragma_update(None, "temp_store", "MEMORY")?;
            schema::check(conn, path)
        }
        Mode::ReadOnly => {
            conn.pragma_update(None, "query_only", true)?;
            schema::check(conn, path)
        }
    }
}

/// Syncs the file at `p` (or a directory's entries) to the disk: a
/// database built with [`Mode::Build`] once its transaction has committed
/// (nothing was synced while it was written), and the directory it was
/// renamed in by [`finish_build`].
pub fn sync(p: &Path) -> Result<()> {
    std::fs::File::open(p)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(p, e))
}

/// Makes the database `conn` built at `building` ([`Mode::Build`]) and
/// synced the archive's database at `path`: switches it to WAL (as every
/// archive is), closes it, syncs it again and renames it into place. From
/// the rename on, the archive exists: the caller syncs the directory, and
/// a failure there no longer undoes anything.
pub fn finish_build(conn: Connection, building: &Path, path: &Path) -> Result<()> {
    // The mode every later connection expects; switching writes only the
    // header, as the pages are all written already.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.close().map_err(|(_, e)| e)?;
    sync(building)?;
    std::fs::rename(building, path).map_err(|e| Error::io(path, e))
}

/// `Err(SchemaTooNew)` when `found` is newer than this build.
pub(super) fn refuse_newer(found: i64, path: &Path) -> Result<()> {
    if found > schema::LATEST_VERSION {
        return Err(Error::SchemaTooNew {
            path: path.to_owned(),
            found,
            supported: schema::LATEST_VERSION,
        });
    }
    Ok(())
}

/// Rebuilds the database file and empties the WAL, so that no byte of a
/// removed row is left anywhere on disk.
///
/// Deleting is not enough, even with `PRAGMA secure_delete`: when SQLite
/// moves cells between pages (on every split and merge since the rows
/// were stored), the unused space of a page may keep old copies of them,
/// and the WAL keeps earlier page images until it is checkpointed
/// (measured: a deleted row's text was still in the file). `VACUUM`
/// writes every live page anew.
pub fn rebuild(conn: &Connection) -> crate::error::Result<()> {
    // The copy is built in a temporary file, not in memory (as large as
    // the database).
    conn.pragma_update(None, "temp_store", "FILE")?;
    conn.execute_batch("VACUUM")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    checkpoint_all(conn, checkpoint_patience())
}

/// How long a rebuild waits for other readers to let the WAL be emptied:
/// 30 s; a test build takes `CONVAULT_CHECKPOINT_PATIENCE_MS` instead, so
/// that the tests of a reader that never lets go stay short.
fn checkpoint_patience() -> std::time::Duration {
    let default = std::time::Duration::from_secs(30);
    if !cfg!(debug_assertions) {
        return default;
    }
    std::env::var("CONVAULT_CHECKPOINT_PATIENCE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(default, std::time::Duration::from_millis)
}

/// Copies the whole WAL into the database file and empties it, waiting up
/// to `patience` for the readers that hold an older snapshot (another
/// program with the database open in a transaction: a database browser,
/// `sqlite3 .backup`, Datasette). Until then the removed rows' old pages
/// are still in the file and its WAL, so giving up is an error, never a
/// silent success: the removal stays unfinished for the next writer.
fn checkpoint_all(conn: &Connection, patience: std::time::Duration) -> crate::error::Result<()> {
    let started = std::time::Instant::now();
    loop {
        // (busy, frames in the WAL, frames copied): busy is 1 when a
        // reader kept the checkpoint from completing (each attempt waits
        // on the busy timeout first).
        let (busy, log, copied): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        if busy == 0 && log <= 0 {
            return Ok(());
        }
        if started.elapsed() >= patience {
            return Err(crate::error::Error::StillOnDisk(format!(
                "another program holds the archive's database open in a read transaction (a database browser, `sqlite3 .backup`, Datasette), so the database file and its WAL still hold the old pages of what was removed ({copied} of {log} WAL frames copied after {:.1} s): close it, then run `convault verify`, which finishes the removal",
                patience.as_secs_f64()
            )));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
