//! Full-text search over the archive's entries.
//!
//! The query language ([`query`]: words, phrases, prefixes, `OR`, `NOT`,
//! groups, `NEAR`; [`fields`]: `role:`, `after:`, `session:`, …) becomes
//! one FTS5 expression in which every piece of user text is quoted, and
//! one SQL condition with every value bound; so any input either runs or
//! is refused with its place, never as an SQLite error. Every version of
//! an entry is searchable; a version that a later one replaced is marked
//! `superseded`.
//!
//! Newest first without sorting the matches: entry ids (and so the index's
//! rowids) follow time ([`crate::archive::rekey`]), so the hits stream out
//! of the index in `rowid DESC` order and the query stops at the limit;
//! `after:` and `before:` are rowid ranges. Its cost grows with the limit,
//! not with the number of matches.

pub mod fields;
pub mod query;

use std::collections::BTreeSet;

use rusqlite::Connection;
use rusqlite::types::Value;
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

/// A parsed query: the words as FTS5 expressions, the field trees, and
/// how dates are read.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// What the full-text index must match.
    pub fts: Option<String>,
    /// What it must not match, when nothing positive is searched for.
    pub fts_excluded: Option<String>,
    /// Field conditions (ANDed), checked but not yet resolved.
    pub fields: Vec<query::Node>,
    pub clock: fields::Clock,
}

impl Query {
    /// Parses the command line's terms, joined by single spaces, in the
    /// query language (docs/search.md); dates in UTC.
    pub fn parse(terms: &[String]) -> Result<Query> {
        Self::parse_with(terms, fields::Clock::default())
    }

    /// [`Query::parse`], dates read in `clock`'s zone.
    pub fn parse_with(terms: &[String], clock: fields::Clock) -> Result<Query> {
        let text = terms.join(" ");
        let split = query::parse(&text)
            .and_then(query::split)
            .map_err(|e| Error::Usage(format!("query: {e}")))?;
        fields::check(&split.fields, &clock)?;
        Ok(Query {
            fts: split.fts,
            fts_excluded: split.fts_excluded,
            fields: split.fields,
            clock,
        })
    }

    /// `terms` as one FTS5 expression, for experts (`--raw`): no fields,
    /// FTS5's own syntax; a syntax error is reported when it runs.
    pub fn raw(terms: &[String]) -> Result<Query> {
        let text = terms.join(" ");
        if text.trim().is_empty() {
            return Err(Error::Usage("query: the raw FTS5 query is empty".into()));
        }
        Ok(Query {
            fts: Some(text),
            ..Query::default()
        })
    }
}

/// Conversation rows (`conversations.id`) whose sessions are `sessions`:
/// through the Data Export Service's Conversation records, and through
/// entries that name the session among their related records.
fn by_sessions(conn: &Connection, sessions: &[String]) -> Result<BTreeSet<i64>> {
    let list = serde_json::to_string(sessions).unwrap_or_else(|_| "[]".into());
    let mut out = ids(conn, SESSION_RECORDS, &list)?;
    out.extend(ids(conn, SESSION_ENTRIES, &list)?);
    Ok(out)
}

/// Conversations (`conversations.id`) of the sessions in the JSON array
/// `?1`, through the sessions' and conversations' records (index look-ups
/// by object and record id).
const SESSION_RECORDS: &str = "SELECT c.id FROM records s
     JOIN records cv ON cv.object = 'Conversation' AND cv.record_id = s.conversation_ref
     JOIN conversations c ON c.identifier = cv.conversation_identifier
     WHERE s.object = 'MessagingSession' AND s.record_id IN (SELECT value FROM json_each(?1))";

/// The same through the entries that name the sessions among their
/// related records: the related-records index, a probe per session.
const SESSION_ENTRIES: &str = "SELECT conversation_id FROM entry_related
     WHERE record_id IN (SELECT value FROM json_each(?1))";

/// The sessions of case `?1` (the index `records_case`; a session's
/// versions may repeat it, which `by_sessions` does not mind). No
/// DISTINCT: to avoid its sort, SQLite would read every session in
/// `(object, record_id)` order instead.
const CASE_SESSIONS: &str = "SELECT record_id FROM records
     WHERE object = 'MessagingSession' AND json_extract(mapped, '$.CaseId') = ?1";

fn ids(conn: &Connection, sql: &str, arg: &str) -> Result<BTreeSet<i64>> {
    Ok(conn
        .prepare(sql)?
        .query_map([arg], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

fn strings(conn: &Connection, sql: &str, arg: &str) -> Result<Vec<String>> {
    Ok(conn
        .prepare(sql)?
        .query_map([arg], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

/// The conversations (`conversations.id`) meeting the conversation field
/// `key:value` (`conversation`, `session`, `case`, `enduser`, `channel`).
fn conversations_for(conn: &Connection, key: &str, value: &str) -> Result<BTreeSet<i64>> {
    // Taken literally: LIKE's own wildcards are escaped.
    let like = |v: &str| {
        let escaped = v
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    };
    match key {
        "conversation" => ids(
            conn,
            "SELECT id FROM conversations WHERE identifier = ?1",
            value,
        ),
        "session" => by_sessions(conn, &[value.to_owned()]),
        "case" => {
            let sessions = strings(conn, CASE_SESSIONS, value)?;
            by_sessions(conn, &sessions)
        }
        "enduser" => {
            let text = value;
            let sessions = strings(
                conn,
                "SELECT DISTINCT s.record_id FROM records s
                 WHERE s.object = 'MessagingSession'
                   AND json_extract(s.mapped, '$.MessagingEndUserId') IN (
                       SELECT u.record_id FROM records u
                       WHERE u.object = 'MessagingEndUser'
                         AND (json_extract(u.mapped, '$.Name') LIKE ?1 ESCAPE '\\'
                              OR json_extract(u.mapped, '$.MessagingPlatformKey') LIKE ?1 ESCAPE '\\'))",
                &like(text),
            )?;
            by_sessions(conn, &sessions)
        }
        "channel" => {
            let pattern = like(value);
            let channels = strings(
                conn,
                "SELECT DISTINCT record_id FROM records
                 WHERE object = 'MessagingChannel'
                   AND (json_extract(mapped, '$.MasterLabel') LIKE ?1 ESCAPE '\\'
                        OR json_extract(mapped, '$.DeveloperName') LIKE ?1 ESCAPE '\\')",
                &pattern,
            )?;
            let list = serde_json::to_string(&channels).unwrap_or_else(|_| "[]".into());
            let mut sessions = strings(
                conn,
                "SELECT DISTINCT record_id FROM records
                 WHERE object = 'MessagingSession'
                   AND json_extract(mapped, '$.MessagingChannelId') IN (SELECT value FROM json_each(?1))",
                &list,
            )?;
            sessions.extend(strings(
                conn,
                "SELECT DISTINCT record_id FROM records
                 WHERE object = 'MessagingSession' AND json_extract(mapped, '$.ChannelName') LIKE ?1 ESCAPE '\\'",
                &pattern,
            )?);
            let mut out = by_sessions(conn, &sessions)?;
            out.extend(ids(
                conn,
                "SELECT c.id FROM records cv JOIN conversations c ON c.identifier = cv.conversation_identifier
                 WHERE cv.object = 'Conversation'
                   AND json_extract(cv.mapped, '$.ConversationChannelId') IN (SELECT value FROM json_each(?1))",
                &list,
            )?);
            Ok(out)
        }
        _ => Err(Error::Internal("not a conversation field")),
    }
}

/// The newest `limit` entries matching `query`: its words (with none,
/// every entry) and its fields, within its time range.
pub fn search(conn: &Connection, query: &Query, limit: u32) -> Result<Vec<Hit>> {
    let cond = fields::compile(conn, &query.fields, &query.clock)?;
    let (lo, hi) = cond.range.unwrap_or((i64::MIN, i64::MAX));
    let sql = search_sql(
        query.fts.is_some(),
        query.fts_excluded.is_some(),
        cond.sql.as_deref(),
    );
    let mut params: Vec<(String, Value)> = vec![
        (":limit".into(), Value::Integer(i64::from(limit))),
        (":lo".into(), Value::Integer(lo)),
        (":hi".into(), Value::Integer(hi)),
    ];
    params.extend(
        query
            .fts
            .clone()
            .map(|q| (":fts".to_owned(), Value::Text(q))),
    );
    params.extend(
        query
            .fts_excluded
            .clone()
            .map(|q| (":fts_not".to_owned(), Value::Text(q))),
    );
    params.extend(cond.params);
    let bound: Vec<(&str, &dyn rusqlite::ToSql)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v as &dyn rusqlite::ToSql))
        .collect();
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(bound.as_slice(), |r| {
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
    });
    let hits = rows.and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>());
    hits.map_err(|e| match fts_syntax(&e) {
        // Only a `--raw` query can reach FTS5 unchecked.
        Some(msg) => Error::Usage(format!("query: the full-text index refused it: {msg}")),
        None => e.into(),
    })
}

/// FTS5's message when `e` is its refusal of a query's syntax.
fn fts_syntax(e: &rusqlite::Error) -> Option<String> {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(msg))
            if msg.starts_with("fts5:")
                || msg.contains("no such column")
                || msg.contains("unknown special query") =>
        {
            Some(msg.clone())
        }
        _ => None,
    }
}

/// The hit query: newest first by rowid (time), `[:lo, :hi)` the rowid
/// range, `cond` the fields' condition.
fn search_sql(words: bool, excluded: bool, cond: Option<&str>) -> String {
    let mut filter = String::new();
    if let Some(c) = cond {
        filter.push_str(&format!(" AND {c}"));
    }
    if excluded {
        filter.push_str(
            " AND e.id NOT IN (SELECT rowid FROM entries_fts WHERE entries_fts MATCH :fts_not)",
        );
    }
    // A version whose text a later version repeats (a fuller view from
    // another source, say) is one hit, at the later version.
    let distinct =
        "AND NOT EXISTS (SELECT 1 FROM entries n WHERE n.conversation_id = e.conversation_id
                                   AND n.identifier = e.identifier
                                   AND n.version > e.version AND n.text IS e.text)";
    let columns = "c.identifier, e.identifier, e.version,
        EXISTS (SELECT 1 FROM entries n WHERE n.conversation_id = e.conversation_id
                AND n.identifier = e.identifier AND n.version > e.version),
        coalesce(e.server_ms, e.client_ms), e.sender_role, e.entry_type, coalesce(e.text, '')";
    if words {
        format!(
            "SELECT {columns}, snippet(entries_fts, 0, '[', ']', '…', 16)
             FROM entries_fts
             JOIN entries e ON e.id = entries_fts.rowid
             JOIN conversations c ON c.id = e.conversation_id
             WHERE entries_fts MATCH :fts
               AND entries_fts.rowid >= :lo AND entries_fts.rowid < :hi
               {filter} {distinct}
             ORDER BY entries_fts.rowid DESC
             LIMIT :limit"
        )
    } else {
        format!(
            "SELECT {columns}, substr(coalesce(e.text, e.entry_type), 1, 120)
             FROM entries e
             JOIN conversations c ON c.id = e.conversation_id
             WHERE e.id >= :lo AND e.id < :hi {filter} {distinct}
             ORDER BY e.id DESC
             LIMIT :limit"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::rekey;

    /// The plan SQLite makes for `sql` on a new archive, one line a step.
    fn plan(sql: &str) -> String {
        let conn = crate::archive::db::open_in_memory().unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let values: [(&str, &dyn rusqlite::ToSql); 5] = [
            (":fts", &"refund"),
            (":limit", &50),
            (":f1", &"[1]"),
            (":lo", &0),
            (":hi", &9),
        ];
        // Only the parameters this statement names.
        for (name, value) in values {
            if let Some(i) = stmt.parameter_index(name).unwrap() {
                stmt.raw_bind_parameter(i, value).unwrap();
            }
        }
        let mut rows = stmt.raw_query();
        let mut lines = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            lines.push(r.get::<_, String>(3).unwrap());
        }
        lines.join("\n")
    }

    #[test]
    fn hits_stream_newest_first_from_the_index_without_sorting_them() {
        let scope = "e.conversation_id IN (SELECT value FROM json_each(:f1))";
        for cond in [None, Some(scope)] {
            let p = plan(&search_sql(true, false, cond));
            // The index is walked in descending rowid order (FTS5 consumes
            // the ORDER BY) and nothing sorts the matches.
            assert!(p.contains("SCAN entries_fts VIRTUAL TABLE"), "{p}");
            assert!(!p.contains("TEMP B-TREE"), "{p}");
        }
        let p = plan(&search_sql(false, false, None).replace(":fts", "NULL"));
        assert!(!p.contains("TEMP B-TREE"), "{p}");
    }

    #[test]
    fn session_and_case_filters_use_indexes_not_scans() {
        let conn = crate::archive::db::open_in_memory().unwrap();
        for (sql, index) in [
            (SESSION_RECORDS, "records_object_id"),
            (SESSION_ENTRIES, "PRIMARY KEY"),
            (CASE_SESSIONS, "records_case"),
        ] {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let p = stmt
                .query_map(["[\"0Mw1\"]"], |r| r.get::<_, String>(3))
                .unwrap()
                .map(|r| r.unwrap())
                .collect::<Vec<_>>()
                .join("\n");
            assert!(p.contains(index), "{sql}\n{p}");
            for table in ["records", "entries", "entry_related", "conversations"] {
                for alias in ["", " s", " cv", " c"] {
                    let scan = format!("SCAN {table}{alias}");
                    assert!(
                        !p.lines()
                            .any(|l| l.trim_start_matches(['|', '`', '-', ' ']) == scan),
                        "{sql}\n{p}"
                    );
                }
            }
        }
    }

    #[test]
    fn top_level_time_fields_are_rowid_ranges() {
        let conn = crate::archive::db::open_in_memory().unwrap();
        let range = |terms: &[&str]| {
            let terms: Vec<String> = terms.iter().map(|s| s.to_string()).collect();
            let q = Query::parse(&terms).unwrap();
            fields::compile(&conn, &q.fields, &q.clock).unwrap().range
        };
        let day = 1_794_182_400_000;
        assert_eq!(
            range(&["after:2026-11-09", "before:2026-11-10T00:00:00Z"]),
            Some((rekey::key(day), rekey::key(day + 86_400_000)))
        );
        assert_eq!(range(&["refund"]), None);
        // Inside OR they are conditions, not the range.
        assert_eq!(range(&["(after:2026-11-09 OR role:agent)"]), None);
        for bad in [
            "after:tomorrow",
            "before:2026-02-30",
            "after:2026-11-09T10:00:00",
        ] {
            let e = Query::parse(&[format!("refund {bad}")]).unwrap_err();
            let e = e.to_string();
            assert!(
                e.contains(&format!("{bad} is not a date or time"))
                    && e.ends_with("at character 8"),
                "{bad}: {e}"
            );
        }
    }
}
