//! Full-text search over the archive's entries.
//!
//! User words are never passed to FTS5 as query syntax: each word becomes a
//! quoted string (internal quotes doubled), and the words are ANDed. So
//! `refund AND` or a lone `"` search for those characters' words, never
//! raise a syntax error. Every version of an entry is searchable; a
//! version that a later one replaced is marked `superseded`.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::{Error, Result};

/// One search hit.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Hit {
    pub conversation: String,
    pub entry: String,
    pub version: i64,
    /// A later version of this entry exists (an edit or redaction).
    pub superseded: bool,
    /// RFC 3339 UTC; server time when known, else client time.
    pub time: Option<String>,
    pub time_ms: Option<i64>,
    pub role: Option<String>,
    pub entry_type: String,
    pub text: String,
    pub snippet: String,
}

/// The FTS5 query for `words`: each word quoted, all required.
pub fn fts_query(words: &[String]) -> Option<String> {
    let terms: Vec<String> = words
        .iter()
        .flat_map(|w| w.split_whitespace())
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The newest `limit` entries matching all of `words`.
pub fn search(conn: &Connection, words: &[String], limit: u32) -> Result<Vec<Hit>> {
    let query =
        fts_query(words).ok_or_else(|| Error::Usage("search needs at least one word".into()))?;
    let mut stmt = conn.prepare(
        "SELECT c.identifier, e.identifier, e.version,
                EXISTS (SELECT 1 FROM entries n WHERE n.identifier = e.identifier AND n.version > e.version),
                coalesce(e.server_ms, e.client_ms), e.sender_role, e.entry_type, coalesce(e.text, ''),
                snippet(entries_fts, 0, '[', ']', '…', 16)
         FROM entries_fts
         JOIN entries e ON e.id = entries_fts.rowid
         JOIN conversations c ON c.id = e.conversation_id
         WHERE entries_fts MATCH ?1
         ORDER BY coalesce(e.server_ms, e.client_ms) DESC, e.id DESC
         LIMIT ?2",
    )?;
    let hits = stmt
        .query_map(params![query, limit], |r| {
            let time_ms: Option<i64> = r.get(4)?;
            Ok(Hit {
                conversation: r.get(0)?,
                entry: r.get(1)?,
                version: r.get(2)?,
                superseded: r.get(3)?,
                time: time_ms.map(crate::timestamp::rfc3339),
                time_ms,
                role: r.get(5)?,
                entry_type: r.get(6)?,
                text: r.get(7)?,
                snippet: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn words_are_quoted() {
        let q = fts_query(&["refund AND".into(), "\"".into()]).unwrap();
        assert_eq!(q, r#""refund" "AND" """""#);
        assert_eq!(fts_query(&["  ".into()]), None);
    }

    proptest! {
        /// Whatever the user types, FTS5 accepts the query.
        #[test]
        fn any_words_are_valid_fts(words in proptest::collection::vec("\\PC{1,12}", 1..4)) {
            let conn = Connection::open_in_memory().unwrap();
            conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2'); INSERT INTO t VALUES ('refund please');").unwrap();
            if let Some(q) = fts_query(&words) {
                let r: rusqlite::Result<i64> = conn.query_row("SELECT count(*) FROM t WHERE t MATCH ?1", [q], |r| r.get(0));
                prop_assert!(r.is_ok(), "{:?}", r);
            }
        }
    }
}
