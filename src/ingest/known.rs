//! Rows the archive already holds, recognised before they are parsed.
//!
//! A weekly complete export repeats every earlier row, nearly all of them
//! unchanged. `row_hashes` maps, per conversation, the hash of a row's raw
//! fields ([`RawEntry::row_hash`]) to the version (`seq`) that row was
//! stored as. Each row worker (`ingest::read`) has its own `Known` and asks
//! it about each CSV entry row before parsing it: one range read per
//! conversation (rows come grouped by conversation; a conversation split
//! between two workers' batches is read by each) answers every row of
//! it, so an unchanged row costs a
//! hash and a map look-up, not a JSON parse, a canonical hash and an index
//! probe. A row it does not know is parsed and stored as before, and the
//! writer records its hash for next time.
//!
//! Each reads through its own read-only connection, so it sees the archive
//! as last committed: what this ingest itself adds is not known here,
//! and such rows take the ordinary path (which finds them).
//!
//! Invariant (checked by `verify --rederive`): a `row_hashes` row names
//! the version its row was stored as, in that row's conversation. Only
//! rows whose version was decided by their own content hash (new, edited,
//! or the same hash as a stored version) are recorded; views of another
//! version (text-only, narrower) always take the ordinary path.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension};

use crate::archive::Mode;

use crate::entry::RowHash;
use crate::error::Result;

/// Page cache of the look-up connection, in KiB: it reads one small range
/// per conversation, so it needs little (and peak memory counts).
const CACHE_KIB: i64 = 4 * 1024;

/// What the archive knows of rows, by conversation.
pub(super) struct Known {
    conn: Option<Connection>,
    /// The conversation last looked up: its identifier and its id (if it
    /// is archived).
    current: Option<(String, Option<i64>)>,
    /// Its rows: their hashes and the versions (`seq`) they were stored as.
    /// (Kept between conversations: cleared, not reallocated.)
    rows: HashMap<RowHash, i64, BuildRowHasher>,
}

/// Hashes a [`RowHash`] by folding its bytes, eight at a time: they are
/// already a SHA-256's, so SipHash would only add time. Rows that collide
/// here exist only if someone searched for them, and then cost time within
/// one conversation's map, never a wrong answer (keys are compared whole).
#[derive(Default, Clone, Copy)]
struct BuildRowHasher;

#[derive(Default)]
struct RowHasher(u64);

impl std::hash::BuildHasher for BuildRowHasher {
    type Hasher = RowHasher;
    fn build_hasher(&self) -> RowHasher {
        RowHasher(0)
    }
}

impl std::hash::Hasher for RowHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // A length prefix comes as `write_usize`, which this folds in too.
        for chunk in bytes.chunks(8) {
            let mut eight = [0u8; 8];
            eight[..chunk.len()].copy_from_slice(chunk);
            self.0 = self.0.rotate_left(5) ^ u64::from_le_bytes(eight);
        }
    }
}

impl Known {
    /// Nothing known: every row is parsed (a dry run on a new archive).
    pub(super) fn nothing() -> Known {
        Known {
            conn: None,
            current: None,
            rows: HashMap::default(),
        }
    }

    /// Looks rows up in the archive database at `db`, as last committed,
    /// through a reader's connection (the archive's one `open`) with a
    /// smaller page cache.
    pub(super) fn open(db: &Path) -> Result<Known> {
        let conn = crate::archive::db::open(db, Mode::ReadOnly)?;
        conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
        Ok(Known {
            conn: Some(conn),
            current: None,
            rows: HashMap::default(),
        })
    }

    /// The version (`seq`) and conversation id that the row with `hash`
    /// in `conversation` (its identifier) is archived as, if the archive
    /// holds it unchanged.
    pub(super) fn lookup(
        &mut self,
        conversation: &str,
        hash: &RowHash,
    ) -> Result<Option<(i64, i64)>> {
        let Some(conn) = &self.conn else {
            return Ok(None);
        };
        if self
            .current
            .as_ref()
            .is_none_or(|(ident, _)| ident != conversation)
        {
            self.rows.clear();
            let id: Option<i64> = conn
                .prepare_cached("SELECT id FROM conversations WHERE identifier = ?1")?
                .query_row([conversation], |r| r.get(0))
                .optional()?;
            if let Some(id) = id {
                let mut stmt = conn.prepare_cached(
                    "SELECT row_hash, seq FROM row_hashes WHERE conversation_id = ?1",
                )?;
                let mut found = stmt.query([id])?;
                while let Some(r) = found.next()? {
                    // Anything but a 16-byte blob is no known row: parsed.
                    if let Ok(h) = <RowHash>::try_from(r.get_ref(0)?.as_blob().unwrap_or_default())
                    {
                        self.rows.insert(h, r.get(1)?);
                    }
                }
            }
            self.current = Some((conversation.to_owned(), id));
        }
        Ok(self
            .current
            .as_ref()
            .and_then(|(_, id)| *id)
            .and_then(|id| self.rows.get(hash).map(|&seq| (seq, id))))
    }
}
