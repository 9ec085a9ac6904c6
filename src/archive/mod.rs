//! The archive on disk: a directory holding the SQLite database and the
//! content-addressed object store of every input file ingested.
//!
//! ```text
//! DIR/archive.sqlite                  the database (schema: docs/archive-format.md)
//! DIR/objects/sha256/<2 hex>/<64 hex> byte-exact copies of input files, read-only
//! DIR/objects/tmp/                    copies being written by a running ingest
//! ```
//!
//! Invariant: every `files.sha256` of a committed export names an object
//! whose bytes hash to it. An object no export names is the leftover of an
//! interrupted ingest; ingesting the same file again adopts it.

pub mod catalog;
pub mod db;
pub mod in_place;
pub mod journal;
mod migrations;
pub mod objects;
pub mod rekey;
mod schema;
pub mod sightings;
pub mod stored_bitmap;
pub mod timeline;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension};

pub use db::Mode;
pub use objects::ObjectStore;
pub use schema::LATEST_VERSION;

use crate::entry::Entry;
use crate::error::{Error, Result};

/// Makes `dir` (and its parents) owner-only (`0700`), as every directory
/// of an archive is made (docs/reliability.md). An existing one is left as
/// it is.
pub fn create_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))
}

/// The columns [`entry_from_row`] reads, in its order, selected from
/// `entries e LEFT JOIN conversations c ON c.id = e.conversation_id`.
pub const ENTRY_COLUMNS: &str = "e.identifier, e.version, c.identifier, e.entry_type,
    e.entry_type_raw, e.is_message, e.sender_role, e.sender_app_type, e.sender_subject,
    e.client_ms, e.server_ms, e.related_records, e.payload, e.message_text, e.text,
    e.content_hash";

/// The index of `related_records` among [`ENTRY_COLUMNS`]: the caller
/// parses it, deciding what malformed JSON means.
pub const RELATED_COLUMN: usize = 11;

/// The entry in a row selected with [`ENTRY_COLUMNS`], its related records
/// already parsed.
pub fn entry_from_row(
    r: &rusqlite::Row<'_>,
    related_records: Vec<String>,
) -> rusqlite::Result<Entry> {
    Ok(Entry {
        identifier: r.get(0)?,
        conversation: r.get::<_, Option<String>>(2)?.unwrap_or_default(),
        conversation_is_record: false,
        entry_type: r.get(3)?,
        entry_type_raw: r.get(4)?,
        is_message: r.get::<_, i64>(5)? == 1,
        sender_role: r.get(6)?,
        sender_app_type: r.get(7)?,
        sender_subject: r.get(8)?,
        client_ms: r.get(9)?,
        server_ms: r.get(10)?,
        related_records,
        payload: r.get(12)?,
        message_text: r.get(13)?,
        text: r.get(14)?,
        content_hash: r.get(15)?,
    })
}

/// The stored entry row `id` (`entries.id`), as an [`Entry`], to compare
/// a newly read entry with.
pub fn stored_entry(conn: &Connection, id: i64) -> Result<Option<Entry>> {
    // Cached: an ingest asks this of every edited entry.
    conn.prepare_cached(&format!(
        "SELECT {ENTRY_COLUMNS} FROM entries e
         LEFT JOIN conversations c ON c.id = e.conversation_id WHERE e.id = ?1"
    ))?
    .query_row([id], |r| {
        let related: String = r.get(RELATED_COLUMN)?;
        // Malformed JSON here is `verify`'s to report; an empty list
        // only makes the comparison stricter.
        entry_from_row(r, serde_json::from_str(&related).unwrap_or_default())
    })
    .optional()
    .map_err(Into::into)
}

/// The conversation identifier of `Conversation` record `record_id`, from
/// the newest such record that names one.
pub fn conversation_of_record(conn: &Connection, record_id: &str) -> Result<Option<String>> {
    conn.prepare_cached(
        "SELECT conversation_identifier FROM records
         WHERE object = 'Conversation' AND record_id = ?1 AND conversation_identifier IS NOT NULL
         ORDER BY id DESC LIMIT 1",
    )?
    .query_row([record_id], |r| r.get(0))
    .optional()
    .map_err(Into::into)
}

/// Adds the entry versions with `seq >= first_seq` to the full-text index.
///
/// Every writer that inserts entries calls this in the same transaction:
/// the index has no insert trigger (see the schema), so this is what keeps
/// `entries_fts` in step with `entries`. The new versions are taken in
/// chunks of consecutive `seq` (bounding the statement journal and the
/// sort), each in rowid order: FTS5 appends to its pending terms only
/// while rowids ascend, and flushes a segment whenever one goes back.
pub fn index_new_entries(tx: &rusqlite::Transaction<'_>, first_seq: i64) -> Result<u64> {
    // The chunk's ids, from the covering `seq` index, go into a sorted
    // list that the outer query walks in rowid order: only ids are
    // sorted, never texts.
    let mut stmt = tx.prepare(
        "INSERT INTO entries_fts (rowid, text)
         SELECT e.id, e.text FROM entries e
         WHERE e.id IN (SELECT id FROM entries WHERE seq >= ?1 AND seq < ?2) AND e.text IS NOT NULL
         ORDER BY e.id",
    )?;
    let mut n = 0;
    for (from, to) in seq_chunks(tx, first_seq)? {
        n += stmt.execute([from, to])? as u64;
    }
    Ok(n)
}

/// `[from, to)` ranges of `seq` covering every version from `first_seq`
/// on, `INDEX_CHUNK` at a time.
pub fn seq_chunks(conn: &Connection, first_seq: i64) -> Result<Vec<(i64, i64)>> {
    let last: i64 = conn.query_row("SELECT coalesce(max(seq), 0) FROM entries", [], |r| {
        r.get(0)
    })?;
    let mut out = Vec::new();
    let mut from = first_seq.max(1);
    while from <= last {
        let to = from.saturating_add(INDEX_CHUNK).min(last + 1);
        out.push((from, to));
        from = to;
    }
    Ok(out)
}

/// Entries indexed per statement by [`index_new_entries`].
const INDEX_CHUNK: i64 = 100_000;

/// The next free `seq`: past every stored version and every removed one
/// (the sightings bitmaps still hold a removed version's number).
pub fn next_seq(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT max((SELECT coalesce(max(seq), 0) FROM entries),
                    (SELECT coalesce(max(seq), 0) FROM disposed_versions)) + 1",
        [],
        |r| r.get(0),
    )?)
}

/// For an export of a complete kind (`exports.kind`; the transcript
/// export holds all of history), records what the previous export of the
/// same kind in time (`timeline::neighbours`) held that it lacks: `previous_export_id`, `entries_missing`
/// and `conversations_missing`. Other exports keep them `NULL`.
pub fn record_missing(conn: &Connection, export_id: i64) -> Result<Option<sightings::Missing>> {
    let kind: Option<String> =
        conn.query_row("SELECT kind FROM exports WHERE id = ?1", [export_id], |r| {
            r.get(0)
        })?;
    let complete = kind
        .as_deref()
        .and_then(crate::export::ExportKind::parse)
        .is_some_and(|k| k.is_complete());
    if !complete {
        return Ok(None);
    }
    // The export of its kind generated just before it, whenever that one
    // was ingested.
    let (previous, _) = timeline::neighbours(conn, export_id)?;
    let (Some(previous), Some(this)) = (previous, sightings::Seen::load(conn, export_id)?) else {
        return Ok(None);
    };
    let m = sightings::missing(conn, previous, &this)?;
    conn.execute(
        "UPDATE exports SET previous_export_id = ?2, entries_missing = ?3, conversations_missing = ?4
         WHERE id = ?1",
        rusqlite::params![export_id, previous, m.entries as i64, m.conversations as i64],
    )?;
    Ok(Some(m))
}

/// Where the archive lives when neither `--archive` nor `CONVAULT_ARCHIVE` says.
pub const DEFAULT_DIR: &str = "convault-archive";

/// An archive directory (which may not exist yet).
#[derive(Debug, Clone)]
pub struct Archive {
    root: PathBuf,
}

impl Archive {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Archive { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn db_path(&self) -> PathBuf {
        self.root.join("archive.sqlite")
    }

    pub fn objects(&self) -> ObjectStore {
        ObjectStore::new(self.root.join("objects"))
    }

    /// Where a new archive's database is built before it takes its name
    /// (`db::Mode::Build`); a file here was left by an interrupted first
    /// ingest and is the writer's to delete.
    pub fn building_path(&self) -> PathBuf {
        self.root.join("archive.sqlite.building")
    }

    /// The certificate files of the removal recorded as ledger record
    /// `record` (`disposition` or `erasure`): its JSON and readable text,
    /// relative to the archive directory.
    pub fn certificate_names(kind: &str, record: i64) -> (String, String) {
        let stem = format!("certificates/{kind}-{record:06}");
        (format!("{stem}.json"), format!("{stem}.txt"))
    }

    /// Checks a path a command was asked to write (`--out`): it must not
    /// exist at all, not even as a symbolic link, which a write would
    /// follow (convault never overwrites, nor writes through a link), and
    /// it must lie outside the archive's directory, whose every file is
    /// the archive's own (a receipt written over `archive.sqlite` would
    /// destroy it; a file under `objects/` would read as damage). A usage
    /// error (exit 2) names the path and what is wrong.
    pub fn check_out(&self, path: &Path) -> Result<()> {
        let shown = crate::sanitize::for_terminal(&path.display().to_string()).into_owned();
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            let what = if meta.file_type().is_symlink() {
                "a symbolic link"
            } else if meta.is_dir() {
                "a directory"
            } else {
                "a file"
            };
            return Err(Error::Usage(format!(
                "--out {shown}: the path exists ({what}); give a new path: convault never overwrites a file or writes through a link"
            )));
        }
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // Both resolved: a path spelled through a link or `..` is judged
        // by where it lands. An archive not created yet holds nothing.
        if let (Ok(root), Ok(parent)) = (self.root.canonicalize(), parent.canonicalize())
            && parent.starts_with(&root)
        {
            return Err(Error::Usage(format!(
                "--out {shown}: that is inside the archive directory {}, whose files are the archive's own; write it outside",
                crate::sanitize::for_terminal(&self.root.display().to_string())
            )));
        }
        Ok(())
    }

    /// Writes `bytes` to the new file `path` (checked by
    /// [`Archive::check_out`]): created exclusively, so that a path that
    /// appeared since, or a link, is never written through; synced; and
    /// removed again if the write fails, leaving no partial file.
    pub fn write_out(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        self.check_out(path)?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        let written = f.write_all(bytes).and_then(|()| f.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(path);
            return Err(Error::io(path, e));
        }
        Ok(())
    }

    /// Whether the archive has been created (its database exists).
    pub fn exists(&self) -> bool {
        self.db_path().is_file()
    }

    /// Opens an existing archive for reading only.
    pub fn open_read_only(&self) -> Result<Connection> {
        if !self.exists() {
            return Err(Error::NoArchive(self.root.clone()));
        }
        db::open(&self.db_path(), Mode::ReadOnly)
    }

    /// Opens an existing archive for a dry run: writes are allowed inside a
    /// transaction the caller rolls back; the schema is never migrated.
    pub fn open_for_rehearsal(&self) -> Result<Connection> {
        if !self.exists() {
            return Err(Error::NoArchive(self.root.clone()));
        }
        db::open(&self.db_path(), Mode::Rehearsal)
    }

    /// Opens the archive for writing, creating it if needed.
    pub fn open_for_write(&self) -> Result<Connection> {
        std::fs::create_dir_all(&self.root).map_err(|e| Error::io(&self.root, e))?;
        db::open(&self.db_path(), Mode::ReadWrite)
    }

    /// Starts a new archive's database at [`Self::building_path`], deleting
    /// whatever an interrupted build left there. Only for a writer holding
    /// the lock, when the archive does not exist yet.
    pub fn open_for_build(&self) -> Result<Connection> {
        let building = self.building_path();
        for suffix in ["", "-journal", "-wal", "-shm"] {
            let mut leftover = building.clone().into_os_string();
            leftover.push(suffix);
            let leftover = PathBuf::from(leftover);
            match std::fs::remove_file(&leftover) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&leftover, e)),
            }
        }
        db::open(&building, Mode::Build)
    }
}
