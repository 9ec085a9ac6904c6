//! Full-text search over the archive's entries.
//!
//! User words are never passed to FTS5 as query syntax: each word becomes a
//! quoted string (internal quotes doubled), and the words are ANDed. So
//! `refund AND` or a lone `"` search for those characters' words, never
//! raise a syntax error. Every version of an entry is searchable; a
//! version that a later one replaced is marked `superseded`.
//!
//! Newest first without sorting the matches: entry ids (and so the index's
//! rowids) follow time ([`crate::archive::rekey`]), so the hits stream out
//! of the index in `rowid DESC` order and the query stops at the limit;
//! `after:` and `before:` are rowid ranges. Its cost grows with the limit,
//! not with the number of matches.

use std::collections::BTreeSet;

use rusqlite::Connection;
use serde::Serialize;

use crate::archive::rekey;
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

/// The FTS5 query for `words` and `phrases` (each a run of words that
/// must stand together, in order): every one quoted, all required.
pub fn fts_query(words: &[String], phrases: &[Vec<String>]) -> Option<String> {
    let quote = |w: &str| w.replace('"', "\"\"");
    let terms: Vec<String> = words
        .iter()
        .flat_map(|w| w.split_whitespace())
        .map(|w| format!("\"{}\"", quote(w)))
        .chain(
            phrases
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| format!("\"{}\"", quote(&p.join(" ")))),
        )
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// The terms of a search: a `"`-quoted run of words is one phrase (its
/// words kept apart), anything else is split at white space. A quote with
/// no closing one is an ordinary character.
fn tokens(terms: &[String]) -> Vec<(String, bool)> {
    let text = terms.join(" ");
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(open) = rest.find('"') {
        let Some(len) = rest[open + 1..].find('"') else {
            break;
        };
        out.extend(
            rest[..open]
                .split_whitespace()
                .map(|w| (w.to_owned(), false)),
        );
        let phrase = rest[open + 1..open + 1 + len].trim();
        if !phrase.is_empty() {
            out.push((phrase.to_owned(), true));
        }
        rest = &rest[open + 2 + len..];
    }
    out.extend(rest.split_whitespace().map(|w| (w.to_owned(), false)));
    out
}

/// A condition on the conversation, written `key:value` among the words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `conversation:ID`: the conversation identifier.
    Conversation(String),
    /// `session:0Mw...`: a MessagingSession id (an entry's related record,
    /// or a session of the Data Export Service).
    Session(String),
    /// `case:500...`: a case id on a session.
    Case(String),
    /// `enduser:TEXT`: part of an end user's name or platform key.
    EndUser(String),
    /// `channel:TEXT`: part of a channel's name or developer name.
    Channel(String),
    /// `after:DATE|TIME`: at or after this UTC millisecond (a date is its
    /// day's first millisecond, UTC).
    After(i64),
    /// `before:DATE|TIME`: strictly before this UTC millisecond.
    Before(i64),
}

/// A time given to `after:` or `before:`: a date `2026-11-09` (the start of
/// that day, UTC) or an RFC 3339 time `2026-11-09T10:00:00Z`.
fn parse_time(key: &str, value: &str) -> Result<i64> {
    if let Ok(date) = value.parse::<jiff::civil::Date>()
        && value.len() == 10
    {
        return date
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|e| Error::Usage(format!("{key}:{value}: {e}")));
    }
    value
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|_| {
            Error::Usage(format!(
                "{key}:{value} is not a date or time: give a date (2026-11-09, the whole day in UTC) or an RFC 3339 time with its offset (2026-11-09T10:00:00Z)"
            ))
        })
}

/// Words to find and conditions to meet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub words: Vec<String>,
    /// `"refund policy"`: words that must stand together, in order.
    pub phrases: Vec<Vec<String>>,
    pub filters: Vec<Filter>,
}

impl Query {
    /// Splits the command line's terms: `key:value` with a known key is a
    /// filter (the key in any case), anything else a word. A time filter
    /// whose value is not a time is a usage error.
    pub fn parse(terms: &[String]) -> Result<Query> {
        let mut q = Query::default();
        for (term, phrase) in tokens(terms) {
            if phrase {
                q.phrases
                    .push(term.split_whitespace().map(str::to_owned).collect());
                continue;
            }
            let term = term.as_str();
            let filter = match term.split_once(':') {
                Some((k, v)) if !v.is_empty() => {
                    let key = k.to_ascii_lowercase();
                    let v = v.to_owned();
                    match key.as_str() {
                        "conversation" => Some(Filter::Conversation(v)),
                        "session" => Some(Filter::Session(v)),
                        "case" => Some(Filter::Case(v)),
                        "enduser" => Some(Filter::EndUser(v)),
                        "channel" => Some(Filter::Channel(v)),
                        "after" => Some(Filter::After(parse_time(&key, &v)?)),
                        "before" => Some(Filter::Before(parse_time(&key, &v)?)),
                        _ => None,
                    }
                }
                _ => None,
            };
            match filter {
                Some(f) => q.filters.push(f),
                None => q.words.push(term.to_owned()),
            }
        }
        Ok(q)
    }

    /// The rowid range `[lo, hi)` the time filters allow; `None` when
    /// there are none. Entries with no time (negative ids) are outside
    /// every time range.
    fn rowid_range(&self) -> Option<(i64, i64)> {
        let mut range: Option<(i64, i64)> = None;
        for f in &self.filters {
            let (lo, hi) = range.unwrap_or((0, i64::MAX));
            range = Some(match f {
                Filter::After(ms) => (lo.max(rekey::key(*ms)), hi),
                Filter::Before(ms) => (lo, hi.min(rekey::key(*ms))),
                _ => continue,
            });
        }
        range
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

/// The conversations (`conversations.id`) meeting `filter`.
fn conversations_for(conn: &Connection, filter: &Filter) -> Result<BTreeSet<i64>> {
    // Taken literally: LIKE's own wildcards are escaped.
    let like = |v: &str| {
        let escaped = v
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%{escaped}%")
    };
    match filter {
        Filter::Conversation(id) => ids(
            conn,
            "SELECT id FROM conversations WHERE identifier = ?1",
            id,
        ),
        Filter::Session(id) => by_sessions(conn, std::slice::from_ref(id)),
        Filter::Case(id) => {
            let sessions = strings(conn, CASE_SESSIONS, id)?;
            by_sessions(conn, &sessions)
        }
        Filter::EndUser(text) => {
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
        Filter::Channel(text) => {
            let pattern = like(text);
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
        Filter::After(_) | Filter::Before(_) => Err(Error::Internal(
            "a time filter was taken for a conversation filter",
        )),
    }
}

/// The newest `limit` entries matching every word of `query` in
/// conversations meeting every filter (with no words: all their entries),
/// within its time range.
pub fn search(conn: &Connection, query: &Query, limit: u32) -> Result<Vec<Hit>> {
    let fts = fts_query(&query.words, &query.phrases);
    if fts.is_none() && query.filters.is_empty() {
        return Err(Error::Usage(
            "search needs at least one word or filter (conversation:, session:, case:, enduser:, channel:, after:, before:)".into(),
        ));
    }
    let mut scope: Option<BTreeSet<i64>> = None;
    for f in &query.filters {
        if matches!(f, Filter::After(_) | Filter::Before(_)) {
            continue;
        }
        let found = conversations_for(conn, f)?;
        scope = Some(match scope {
            None => found,
            Some(s) => s.intersection(&found).copied().collect(),
        });
    }
    let scope_json = scope
        .as_ref()
        .map(|s| serde_json::to_string(s).unwrap_or_else(|_| "[]".into()));
    let (lo, hi) = query.rowid_range().unwrap_or((i64::MIN, i64::MAX));
    let sql = search_sql(fts.is_some(), scope.is_some());
    let mut stmt = conn.prepare(&sql)?;
    let hits = stmt
        .query_map(
            rusqlite::named_params! {
                ":fts": fts,
                ":limit": limit,
                ":scope": scope_json,
                ":lo": lo,
                ":hi": hi,
            },
            |r| {
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
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(hits)
}

/// The hit query: newest first by rowid (time), `[:lo, :hi)` the rowid
/// range, `:scope` a JSON array of conversation ids when filtered.
fn search_sql(words: bool, scoped: bool) -> String {
    let in_scope = if scoped {
        "AND e.conversation_id IN (SELECT value FROM json_each(:scope))"
    } else {
        "AND :scope IS NULL"
    };
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
               {in_scope} {distinct}
             ORDER BY entries_fts.rowid DESC
             LIMIT :limit"
        )
    } else {
        format!(
            "SELECT {columns}, substr(coalesce(e.text, e.entry_type), 1, 120)
             FROM entries e
             JOIN conversations c ON c.id = e.conversation_id
             WHERE :fts IS NULL AND e.id >= :lo AND e.id < :hi {in_scope} {distinct}
             ORDER BY e.id DESC
             LIMIT :limit"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_keys_are_filters_and_the_rest_words() {
        let terms: Vec<String> = [
            "refund",
            "SESSION:0Mw1",
            "case:500x",
            "time:10",
            "enduser:",
            "channel:Web",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let q = Query::parse(&terms).unwrap();
        assert_eq!(q.words, ["refund", "time:10", "enduser:"]);
        assert_eq!(
            q.filters,
            [
                Filter::Session("0Mw1".into()),
                Filter::Case("500x".into()),
                Filter::Channel("Web".into())
            ]
        );
    }

    /// The plan SQLite makes for `sql` on a new archive, one line a step.
    fn plan(sql: &str) -> String {
        let conn = crate::archive::db::open_in_memory().unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt
            .query_map(
                rusqlite::named_params! {":fts": "refund", ":limit": 50, ":scope": "[1]", ":lo": 0, ":hi": 9},
                |r| r.get::<_, String>(3),
            )
            .unwrap();
        rows.map(|r| r.unwrap()).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn hits_stream_newest_first_from_the_index_without_sorting_them() {
        for scoped in [false, true] {
            let p = plan(&search_sql(true, scoped));
            // The index is walked in descending rowid order (FTS5 consumes
            // the ORDER BY) and nothing sorts the matches.
            assert!(p.contains("SCAN entries_fts VIRTUAL TABLE"), "{p}");
            assert!(!p.contains("TEMP B-TREE"), "{p}");
        }
        let p = plan(&search_sql(false, false));
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
    fn time_filters_are_rowid_ranges() {
        let q = Query::parse(&[
            "after:2026-11-09".into(),
            "before:2026-11-10T00:00:00Z".into(),
        ])
        .unwrap();
        let day = 1_794_182_400_000;
        assert_eq!(
            q.rowid_range(),
            Some((rekey::key(day), rekey::key(day + 86_400_000)))
        );
        assert_eq!(
            Query::parse(&["refund".into()]).unwrap().rowid_range(),
            None
        );
        for bad in [
            "after:tomorrow",
            "before:2026-02-30",
            "after:2026-11-09T10:00:00",
        ] {
            let e = Query::parse(&[bad.into()]).unwrap_err();
            assert!(
                e.to_string().contains("is not a date or time"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn quoted_runs_are_phrases_and_a_lone_quote_is_a_character() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let q = Query::parse(&s(&["refund", "\"card  charged\"", "after:2026-11-09"])).unwrap();
        assert_eq!(q.words, ["refund"]);
        assert_eq!(q.phrases, [s(&["card", "charged"])]);
        assert_eq!(q.filters.len(), 1);
        assert_eq!(
            fts_query(&q.words, &q.phrases).unwrap(),
            r#""refund" "card charged""#
        );
        let q = Query::parse(&s(&["\"refund", "policy"])).unwrap();
        assert_eq!(q.words, ["\"refund", "policy"]);
        assert!(q.phrases.is_empty());
    }

    #[test]
    fn words_are_quoted() {
        let q = fts_query(&["refund AND".into(), "\"".into()], &[]).unwrap();
        assert_eq!(q, r#""refund" "AND" """""#);
        assert_eq!(fts_query(&["  ".into()], &[]), None);
    }

    proptest! {
        /// Whatever the user types, FTS5 accepts the query.
        #[test]
        fn any_words_are_valid_fts(words in proptest::collection::vec("\\PC{1,12}", 1..4)) {
            let conn = Connection::open_in_memory().unwrap();
            conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2'); INSERT INTO t VALUES ('refund please');").unwrap();
            if let Some(q) = fts_query(&words, &[]) {
                let r: rusqlite::Result<i64> = conn.query_row("SELECT count(*) FROM t WHERE t MATCH ?1", [q], |r| r.get(0));
                prop_assert!(r.is_ok(), "{:?}", r);
            }
        }
    }
}
