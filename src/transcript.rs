//! Whole conversations read back from the archive, in time order.
//!
//! Which version a transcript shows: for each entry identifier, the
//! highest version (the latest content the archive received). Earlier
//! versions stay in the archive and are counted in `versions`.

use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::timestamp::rfc3339;

/// One line of a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub entry: String,
    pub entry_type: String,
    pub is_message: bool,
    pub time: Option<String>,
    pub time_ms: Option<i64>,
    pub role: Option<String>,
    pub app_type: Option<String>,
    pub subject: Option<String>,
    pub text: Option<String>,
    /// This entry's version shown (the latest), and how many exist.
    pub version: i64,
    pub versions: i64,
}

/// A conversation with its entries in time order.
#[derive(Debug, Clone, Serialize)]
pub struct Transcript {
    pub conversation: String,
    pub entries: Vec<Line>,
}

/// Reads conversation `identifier`; an unknown one is an error.
pub fn read(conn: &Connection, identifier: &str) -> Result<Transcript> {
    let conversation_id: i64 = conn
        .query_row(
            "SELECT id FROM conversations WHERE identifier = ?1",
            [identifier],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| Error::UnknownConversation(identifier.to_owned()))?;
    let mut stmt = conn.prepare(
        "SELECT e.identifier, e.entry_type, e.is_message, coalesce(e.server_ms, e.client_ms),
                e.sender_role, e.sender_app_type, e.sender_subject, e.text, e.version,
                (SELECT count(*) FROM entries v WHERE v.identifier = e.identifier)
         FROM entries e
         WHERE e.conversation_id = ?1
           AND e.version = (SELECT max(v.version) FROM entries v WHERE v.identifier = e.identifier)
         ORDER BY coalesce(e.server_ms, e.client_ms), e.id",
    )?;
    let entries = stmt
        .query_map([conversation_id], |r| {
            let time_ms: Option<i64> = r.get(3)?;
            Ok(Line {
                entry: r.get(0)?,
                entry_type: r.get(1)?,
                is_message: r.get(2)?,
                time: time_ms.map(rfc3339),
                time_ms,
                role: r.get(4)?,
                app_type: r.get(5)?,
                subject: r.get(6)?,
                text: r.get(7)?,
                version: r.get(8)?,
                versions: r.get(9)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Transcript {
        conversation: identifier.to_owned(),
        entries,
    })
}
