//! Conversations the archive already holds complete: a conversation that
//! has ended, held by an export generated at or after its end (a fetch
//! that read it after it ended, or a weekly export made since), has
//! nothing more to give. Reading it again spends an activation of the
//! org's budget for nothing, so `fetch` skips it unless `--refresh`.

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension};

use crate::archive::stored_bitmap::StoredSeen;
use crate::error::Result;

/// Whether the archive holds `conversation`, which ended at `ended`, from
/// an export generated at or after that end. Only the exports generated
/// since are asked, newest first, and of each only the part of its
/// conversations bitmap the conversation falls in.
pub fn held_since_end(conn: &Connection, conversation: &str, ended: Timestamp) -> Result<bool> {
    let Some(id) = conn
        .prepare_cached("SELECT id FROM conversations WHERE identifier = ?1")?
        .query_row([conversation], |r| r.get::<_, i64>(0))
        .optional()?
    else {
        return Ok(false);
    };
    let Ok(id) = u32::try_from(id) else {
        return Ok(false);
    };
    let exports: Vec<i64> = conn
        .prepare_cached(
            "SELECT id FROM exports WHERE generated_ms >= ?1 ORDER BY generated_ms DESC, id DESC",
        )?
        .query_map([ended.as_millisecond()], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for export in exports {
        if let Some(seen) = StoredSeen::open(conn, export)?
            && seen.conversations.contains(id)?
        {
            return Ok(true);
        }
    }
    Ok(false)
}
