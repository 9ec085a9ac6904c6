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
pub mod highlight;
pub mod hits;
pub mod query;

pub use hits::{
    ConversationHits, Hit, Page, Sort, Span, conversations, count, count_conversations, search,
};

use std::collections::BTreeSet;

use rusqlite::Connection;

use crate::error::{Error, Result};

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

/// The conversations (`conversations.id`) of the end user whose record Id
/// or messaging platform key is exactly `key`: what an erasure request
/// names, never a part of a key (as `enduser:` matches).
pub(crate) fn conversations_of_end_user(conn: &Connection, key: &str) -> Result<BTreeSet<i64>> {
    let mut out = end_user_conversations(
        conn,
        "u.record_id = ?1 OR json_extract(u.mapped, '$.MessagingPlatformKey') = ?1",
        key,
    )?;
    out.extend(ids(conn, END_USER_SUBJECT_EXACT, key)?);
    Ok(out)
}

/// What a data subject's key is matched against, in words, for a search
/// that found nothing.
pub const END_USER_FIELDS: &str = "the Id and MessagingPlatformKey of MessagingEndUser records (Data Export Service, Data Cloud), and the sender subject of the end user's own entries (the transcript export: `v2/iamessage/…/uid:…`, a phone number on SMS)";

/// The conversations in which the end user sent entries under exactly
/// this sender subject: the transcript export's only name for them.
const END_USER_SUBJECT_EXACT: &str = "SELECT DISTINCT conversation_id FROM entries
     INDEXED BY entries_end_user_subject
     WHERE sender_role = 'EndUser' AND sender_subject = ?1";

/// The same, for a subject that contains the text (`enduser:`).
const END_USER_SUBJECT_LIKE: &str = "SELECT DISTINCT conversation_id FROM entries
     INDEXED BY entries_end_user_subject
     WHERE sender_role = 'EndUser' AND sender_subject LIKE ?1 ESCAPE '\\'";

/// The conversations of the end users meeting `condition` (over `u`, the
/// end user's record; it binds `arg` as `?1`), through their sessions.
fn end_user_conversations(conn: &Connection, condition: &str, arg: &str) -> Result<BTreeSet<i64>> {
    let sessions = strings(
        conn,
        &format!(
            "SELECT DISTINCT s.record_id FROM records s
             WHERE s.object = 'MessagingSession'
               AND json_extract(s.mapped, '$.MessagingEndUserId') IN (
                   SELECT u.record_id FROM records u
                   WHERE u.object = 'MessagingEndUser' AND ({condition}))"
        ),
        arg,
    )?;
    by_sessions(conn, &sessions)
}

/// The conversations (`conversations.id`) meeting the conversation field
/// `key:value` (`conversation`, `session`, `case`, `enduser`, `channel`).
pub(crate) fn conversations_for(
    conn: &Connection,
    key: &str,
    value: &str,
) -> Result<BTreeSet<i64>> {
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
            let mut out = end_user_conversations(
                conn,
                "json_extract(u.mapped, '$.Name') LIKE ?1 ESCAPE '\\'
                 OR json_extract(u.mapped, '$.MessagingPlatformKey') LIKE ?1 ESCAPE '\\'",
                &like(value),
            )?;
            out.extend(ids(conn, END_USER_SUBJECT_LIKE, &like(value))?);
            Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::rekey;

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
