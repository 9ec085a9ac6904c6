//! Running a parsed [`Query`]: the matching entries in a chosen order and
//! page, their number, or the conversations they fall in.
//!
//! Every form runs one "matching entries" SQL core (`Core`): the words'
//! FTS5 expression, the rowid (time) range, the fields' condition, and the
//! rule that a version whose text a later version repeats is one hit, at
//! the later version. So `--count` counts exactly what paging through
//! every page would list, and `--conversations` groups the same hits.
//!
//! Costs: newest and oldest first stream from the index in rowid order and
//! stop after `offset + limit` hits; relevance ranks every match (bm25),
//! so it costs what the number of matches does; a count reads every match;
//! the conversation list walks hits in time order until it has `offset +
//! limit` conversations, then counts each one's hits within the span of
//! its entries' ids (a rowid range of the index).

use std::collections::HashSet;

use rusqlite::Connection;
use rusqlite::types::Value;
use serde::Serialize;

use super::{Query, fields, highlight};
use crate::error::{Error, Result};

/// The order hits are listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Sort {
    /// Latest entry time first (the default); entries without a time last.
    #[default]
    Newest,
    /// Earliest first; entries without a time first.
    Oldest,
    /// Best full-text match first (FTS5's bm25), ties newest first; needs
    /// words.
    Relevance,
}

/// Which hits: the order, how many to skip, how many to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub sort: Sort,
    pub limit: u32,
    pub offset: u64,
}

impl Default for Page {
    fn default() -> Self {
        Page {
            sort: Sort::Newest,
            limit: 20,
            offset: 0,
        }
    }
}

/// Where a match lies in an entry's text, in characters (Unicode scalar
/// values, as Python's `str` counts them), `start` inclusive, `end`
/// exclusive.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

/// One search hit: one version of one entry.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Hit {
    pub conversation: String,
    pub entry: String,
    pub version: i64,
    /// The entry's latest version in the archive.
    pub latest_version: i64,
    /// A later version of this entry exists (an edit or redaction).
    pub superseded: bool,
    /// RFC 3339 UTC; server time when known, else client time.
    pub time: Option<String>,
    pub time_ms: Option<i64>,
    pub role: Option<String>,
    /// The sender's subject (a user or bot record id, or a phone number).
    pub sender: Option<String>,
    /// Normalised (`message`, `participantchanged`, …).
    pub entry_type: String,
    /// The export that first brought this version, its member (a path
    /// inside the file) and the line there (1-based, the header is line 1).
    pub export: i64,
    pub member: Option<String>,
    pub line: Option<i64>,
    /// SHA-256 of the version's canonical content.
    pub content_hash: String,
    pub text: String,
    /// Where the words matched in `text`; empty for a query of fields only.
    pub matches: Vec<Span>,
    /// A window of `text` around the first match, without markup.
    pub snippet: String,
}

/// One conversation of `--conversations`: its hits, the first and last
/// hit's time, its channel.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConversationHits {
    pub conversation: String,
    pub hits: u64,
    pub first_hit: Option<String>,
    pub last_hit: Option<String>,
    pub channel: Option<String>,
}

/// The entries matching `query`, `page.sort` ordered, `page.offset`
/// skipped, at most `page.limit`.
pub fn search(conn: &Connection, query: &Query, page: Page) -> Result<Vec<Hit>> {
    let core = Core::new(conn, query)?;
    if page.sort == Sort::Relevance && !core.words {
        return Err(relevance_needs_words());
    }
    let sql = format!(
        "SELECT {COLUMNS}, {highlighted} {from} ORDER BY {order} LIMIT :limit OFFSET :offset",
        highlighted = if core.words {
            format!(
                "highlight(entries_fts, 0, '{}', '{}')",
                highlight::OPEN,
                highlight::CLOSE
            )
        } else {
            "NULL".into()
        },
        from = core.from(false),
        order = core.order(page.sort),
    );
    let mut params = core.params.clone();
    params.push((":limit".into(), Value::Integer(i64::from(page.limit))));
    params.push((
        ":offset".into(),
        Value::Integer(i64::try_from(page.offset).unwrap_or(i64::MAX)),
    ));
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map(bind(&params).as_slice(), |r| {
        let time_ms: Option<i64> = r.get(4)?;
        let version: i64 = r.get(2)?;
        let latest_version: i64 = r.get(3)?;
        let text: Option<String> = r.get(12)?;
        let highlighted: Option<String> = r.get(14)?;
        Ok((
            Hit {
                conversation: r.get(0)?,
                entry: r.get(1)?,
                version,
                latest_version,
                superseded: latest_version > version,
                time: time_ms.map(crate::timestamp::rfc3339),
                time_ms,
                role: r.get(5)?,
                sender: r.get(6)?,
                entry_type: r.get(7)?,
                export: r.get(8)?,
                member: r.get(9)?,
                line: r.get(10)?,
                content_hash: r.get(11)?,
                text: text.unwrap_or_default(),
                matches: Vec::new(),
                snippet: String::new(),
            },
            r.get::<_, i64>(13)?,
            highlighted,
        ))
    });
    let rows = rows
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(refused)?;
    let mut hits = Vec::with_capacity(rows.len());
    for (mut hit, rowid, highlighted) in rows {
        if let Some(h) = highlighted {
            hit.matches = match highlight::spans(&hit.text, &h) {
                Some(spans) => spans,
                // The text holds the markers themselves: ask again with
                // markers it does not hold.
                None => highlight::spans_of_row(conn, query, rowid, &hit.text)?,
            };
        }
        hit.snippet = highlight::snippet(&hit.text, &hit.matches, highlight::SNIPPET_CHARS).0;
        if hit.snippet.is_empty() {
            hit.snippet = hit.entry_type.clone();
        }
        hits.push(hit);
    }
    Ok(hits)
}

/// The number of entries matching `query` (every page of [`search`]).
pub fn count(conn: &Connection, query: &Query) -> Result<u64> {
    let core = Core::new(conn, query)?;
    if core.words && !core.excluded && core.cond.is_none() {
        return count_words(conn, &core);
    }
    let sql = format!("SELECT count(*) {}", core.from(false));
    conn.query_row(&sql, bind(&core.params).as_slice(), |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(refused)
}

/// The number of conversations holding at least one entry matching `query`.
pub fn count_conversations(conn: &Connection, query: &Query) -> Result<u64> {
    let core = Core::new(conn, query)?;
    let sql = format!(
        "SELECT count(DISTINCT e.conversation_id) {}",
        core.from(false)
    );
    conn.query_row(&sql, bind(&core.params).as_slice(), |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(refused)
}

/// The conversations holding entries matching `query`, ordered by their
/// newest hit (or oldest, for [`Sort::Oldest`]), paged like [`search`].
pub fn conversations(
    conn: &Connection,
    query: &Query,
    page: Page,
) -> Result<Vec<ConversationHits>> {
    let core = Core::new(conn, query)?;
    if page.sort == Sort::Relevance {
        return Err(Error::Usage(
            "--sort relevance ranks entries, not conversations: with --conversations, sort by newest or oldest"
                .into(),
        ));
    }
    // Hits in time order, until enough conversations have been seen.
    let wanted = page.offset.saturating_add(u64::from(page.limit));
    let sql = format!(
        "SELECT e.conversation_id {} ORDER BY {}",
        core.from(false),
        core.order(page.sort)
    );
    let mut order: Vec<i64> = Vec::new();
    {
        let mut seen = HashSet::new();
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(bind(&core.params).as_slice()).map_err(refused)?;
        while (order.len() as u64) < wanted {
            let Some(row) = rows.next().map_err(refused)? else {
                break;
            };
            let id: i64 = row.get(0)?;
            if seen.insert(id) {
                order.push(id);
            }
        }
    }
    // Each one's hits, within the span of its entries' ids.
    let mut span =
        conn.prepare("SELECT min(id), max(id) FROM entries WHERE conversation_id = ?1")?;
    let per_conversation = format!(
        "SELECT count(*), min(coalesce(e.server_ms, e.client_ms)), max(coalesce(e.server_ms, e.client_ms)),
                (SELECT identifier FROM conversations WHERE id = :conv) {}",
        core.from(true)
    );
    let mut stmt = conn.prepare(&per_conversation)?;
    let mut out = Vec::new();
    let skip = usize::try_from(page.offset).unwrap_or(usize::MAX);
    for id in order.into_iter().skip(skip) {
        let (clo, chi): (i64, i64) = span.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut params = core.params.clone();
        params.push((":conv".into(), Value::Integer(id)));
        if core.words {
            params.push((":clo".into(), Value::Integer(clo)));
            params.push((":chi".into(), Value::Integer(chi)));
        }
        let (hits, first, last, identifier): (i64, Option<i64>, Option<i64>, String) = stmt
            .query_row(bind(&params).as_slice(), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(refused)?;
        out.push(ConversationHits {
            channel: crate::transcript::channel(conn, &identifier, id)?,
            conversation: identifier,
            hits: u64::try_from(hits).unwrap_or(0),
            first_hit: first.map(crate::timestamp::rfc3339),
            last_hit: last.map(crate::timestamp::rfc3339),
        });
    }
    Ok(out)
}

/// Every entry version matching `query`, oldest first, as its
/// conversation's row id, its identifier and version: streamed to `each`,
/// never collected here (a production of a common word).
pub fn each_match(
    conn: &Connection,
    query: &Query,
    mut each: impl FnMut(i64, String, i64),
) -> Result<()> {
    let core = Core::new(conn, query)?;
    let sql = format!(
        "SELECT e.conversation_id, e.identifier, e.version {} ORDER BY {}",
        core.from(false),
        core.order(Sort::Oldest)
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(bind(&core.params).as_slice()).map_err(refused)?;
    while let Some(r) = rows.next().map_err(refused)? {
        each(r.get(0)?, r.get(1)?, r.get(2)?);
    }
    Ok(())
}

/// Why `--sort relevance` is refused for a query of fields only.
pub fn relevance_needs_words() -> Error {
    Error::Usage(
        "--sort relevance ranks by the words matched, and this query has none: add words or sort by newest or oldest"
            .into(),
    )
}

/// The columns of a hit, in the order [`search`] reads them.
const COLUMNS: &str = "(SELECT identifier FROM conversations WHERE id = e.conversation_id),
    e.identifier, e.version,
    (SELECT max(n.version) FROM entries n WHERE n.conversation_id = e.conversation_id
        AND n.identifier = e.identifier),
    coalesce(e.server_ms, e.client_ms), e.sender_role, e.sender_subject, e.entry_type,
    e.export_id, (SELECT name FROM members WHERE id = e.member_id), e.line, e.content_hash,
    e.text, e.id";

/// The matching entries' FROM and WHERE, with its parameters.
struct Core {
    /// The query has words: the full-text index drives it.
    words: bool,
    excluded: bool,
    /// A top-level time range (`:lo`, `:hi`) narrows the ids. Without one
    /// no bound is written at all: FTS5 walks a bounded rowid range half
    /// as fast again as its whole list (measured: 188 against 121 ms to
    /// count 1.47M matches).
    ranged: bool,
    cond: Option<String>,
    params: Vec<(String, Value)>,
}

impl Core {
    fn new(conn: &Connection, query: &Query) -> Result<Core> {
        let cond = fields::compile(conn, &query.fields, &query.clock)?;
        let mut params: Vec<(String, Value)> = Vec::new();
        if let Some((lo, hi)) = cond.range {
            params.push((":lo".into(), Value::Integer(lo)));
            params.push((":hi".into(), Value::Integer(hi)));
        }
        if let Some(q) = &query.fts {
            params.push((":fts".into(), Value::Text(q.clone())));
        }
        if let Some(q) = &query.fts_excluded {
            params.push((":fts_not".into(), Value::Text(q.clone())));
        }
        params.extend(cond.params);
        Ok(Core {
            words: query.fts.is_some(),
            excluded: query.fts_excluded.is_some(),
            ranged: cond.range.is_some(),
            cond: cond.sql,
            params,
        })
    }

    /// `FROM … WHERE …` of the matching entries (alias `e`). With
    /// `one_conversation`, only conversation `:conv`'s, within the span of
    /// its ids `[:clo, :chi]` rather than from every match.
    fn from(&self, one_conversation: bool) -> String {
        from_sql(
            self.words,
            self.excluded,
            self.ranged,
            self.cond.as_deref(),
            one_conversation,
        )
    }

    fn order(&self, sort: Sort) -> String {
        let key = if self.words {
            "entries_fts.rowid"
        } else {
            "e.id"
        };
        match sort {
            Sort::Newest => format!("{key} DESC"),
            Sort::Oldest => format!("{key} ASC"),
            Sort::Relevance => format!("entries_fts.rank, {key} DESC"),
        }
    }
}

/// The condition that leaves out versions a later version repeats.
const REPEATS_LATER: &str =
    " AND NOT EXISTS (SELECT 1 FROM entry_repeats r WHERE r.entry_id = e.id)";

/// Up to this many repeated versions in a count's range, each is looked
/// for among the matches by a rowid seek (about 0.1 ms at 12M entries);
/// beyond it, every match is checked against them instead.
const SEEK_REPEATS: i64 = 2_000;

/// [`count`] of a query of words alone: the index's own count of matches,
/// less the repeated versions among them, never reading an entry.
fn count_words(conn: &Connection, core: &Core) -> Result<u64> {
    count_words_seeking(conn, core, SEEK_REPEATS)
}

fn count_words_seeking(conn: &Connection, core: &Core, seek_repeats: i64) -> Result<u64> {
    // Only the range and the words: a top-level date's own parameter is
    // already in the range.
    let bound: Vec<_> = bind(&core.params)
        .into_iter()
        .filter(|(k, _)| matches!(*k, ":lo" | ":hi" | ":fts"))
        .collect();
    let (range, repeat_range) = if core.ranged {
        (
            "AND entries_fts.rowid >= :lo AND entries_fts.rowid < :hi",
            "AND r.entry_id >= :lo AND r.entry_id < :hi",
        )
    } else {
        ("", "")
    };
    let ranged: Vec<_> = bound
        .iter()
        .filter(|(k, _)| *k != ":fts")
        .copied()
        .collect();
    let repeats: i64 = conn.query_row(
        &format!("SELECT count(*) FROM entry_repeats r WHERE 1 {repeat_range}"),
        ranged.as_slice(),
        |r| r.get(0),
    )?;
    let in_range = format!("entries_fts MATCH :fts {range}");
    let sql = if repeats <= seek_repeats {
        // The seek's only rowid bounds are the repeat's own: FTS5 takes
        // one lower and one upper bound.
        format!(
            "SELECT (SELECT count(*) FROM entries_fts WHERE {in_range})
                  - (SELECT count(*) FROM entry_repeats r CROSS JOIN entries_fts
                     WHERE entries_fts MATCH :fts
                       AND entries_fts.rowid >= r.entry_id AND entries_fts.rowid <= r.entry_id
                       {repeat_range})"
        )
    } else {
        format!(
            "SELECT count(*) FROM entries_fts
             WHERE {in_range} AND entries_fts.rowid NOT IN (SELECT entry_id FROM entry_repeats)"
        )
    };
    conn.query_row(&sql, bound.as_slice(), |r| r.get::<_, i64>(0))
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(refused)
}

/// See [`Core::from`].
fn from_sql(
    words: bool,
    excluded: bool,
    ranged: bool,
    cond: Option<&str>,
    one_conversation: bool,
) -> String {
    let key = if words { "entries_fts.rowid" } else { "e.id" };
    let range = match (ranged, words && one_conversation) {
        // The conversation's span of ids [:clo, :chi] bounds the index's
        // walk: FTS5 seeks a rowid range, where a look-up of one rowid
        // reads the term's whole list. It takes one bound of each side.
        (true, true) => format!("AND {key} >= max(:lo, :clo) AND {key} < min(:hi, :chi + 1)"),
        (false, true) => format!("AND {key} >= :clo AND {key} <= :chi"),
        (true, false) => format!("AND {key} >= :lo AND {key} < :hi"),
        (false, false) => String::new(),
    };
    let mut filter = String::new();
    if let Some(c) = cond {
        filter.push_str(&format!(" AND ({c})"));
    }
    if excluded {
        filter.push_str(
            " AND e.id NOT IN (SELECT rowid FROM entries_fts WHERE entries_fts MATCH :fts_not)",
        );
    }
    if one_conversation {
        filter.push_str(" AND e.conversation_id = :conv");
    }
    // A version whose text a later version repeats (a fuller view from
    // another source, say) is one hit, at the later version.
    filter.push_str(REPEATS_LATER);
    if words {
        format!(
            "FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid
             WHERE entries_fts MATCH :fts {range} {filter}"
        )
    } else {
        format!("FROM entries e WHERE 1 {range} {filter}")
    }
}

fn bind(params: &[(String, Value)]) -> Vec<(&str, &dyn rusqlite::ToSql)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v as &dyn rusqlite::ToSql))
        .collect()
}

/// An FTS5 refusal of a `--raw` query's syntax as a usage error; any
/// other failure as it is.
fn refused(e: rusqlite::Error) -> Error {
    match fts_syntax(&e) {
        // Only a `--raw` query can reach FTS5 unchecked.
        Some(msg) => Error::Usage(format!("query: the full-text index refused it: {msg}")),
        None => e.into(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite makes for `sql` on a new archive, one line a step.
    pub(crate) fn plan(sql: &str) -> String {
        let conn = crate::archive::db::open_in_memory().unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let mut rows = stmt.raw_query();
        let mut lines = Vec::new();
        while let Some(r) = rows.next().unwrap() {
            lines.push(r.get::<_, String>(3).unwrap());
        }
        lines.join("\n")
    }

    #[test]
    fn hits_stream_in_time_order_from_the_index_without_sorting_them() {
        let scope = "e.conversation_id IN (SELECT value FROM json_each(:f1))";
        for cond in [None, Some(scope)] {
            for dir in ["DESC", "ASC"] {
                let from = from_sql(true, false, false, cond, false);
                let p = plan(&format!(
                    "SELECT e.id {from} ORDER BY entries_fts.rowid {dir} LIMIT 5"
                ));
                // FTS5 consumes the ORDER BY; nothing sorts the matches.
                assert!(p.contains("SCAN entries_fts VIRTUAL TABLE"), "{p}");
                assert!(!p.contains("TEMP B-TREE"), "{p}");
            }
        }
        // Fields alone walk the entries' own rowid order.
        for dir in ["DESC", "ASC"] {
            let from = from_sql(false, false, false, None, false);
            let p = plan(&format!("SELECT e.id {from} ORDER BY e.id {dir} LIMIT 5"));
            assert!(!p.contains("TEMP B-TREE"), "{p}");
        }
    }

    #[test]
    fn a_count_of_words_alone_is_the_count_of_the_hits_listed() {
        let conn = crate::archive::db::open_in_memory().unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO conversations (id, identifier, first_export_id) VALUES (1, 'c', 1);",
        )
        .unwrap();
        // Entry i: version 1 at id 10 i, its text repeated by a version 2
        // (id 10 i + 5) for every third entry, changed for every fifth.
        let mut insert = conn
            .prepare(
                "INSERT INTO entries (id, seq, identifier, version, conversation_id, entry_type,
                     entry_type_raw, is_message, related_records, text, content_hash, export_id, member_id)
                 VALUES (?1, ?2, ?3, ?4, 1, 'message', 'Message', 1, '[]', ?5, 'h', 1, 1)",
            )
            .unwrap();
        let mut seq = 0;
        for i in 1..=40i64 {
            let text = if i % 2 == 0 { "refund card" } else { "card" };
            seq += 1;
            insert
                .execute(rusqlite::params![10 * i, seq, format!("e{i}"), 1, text])
                .unwrap();
            let later = match (i % 3, i % 5) {
                (0, _) => Some(text),
                (_, 0) => Some("refund later"),
                _ => None,
            };
            if let Some(t) = later {
                seq += 1;
                insert
                    .execute(rusqlite::params![10 * i + 5, seq, format!("e{i}"), 2, t])
                    .unwrap();
                if t == text {
                    conn.execute("INSERT INTO entry_repeats VALUES (?1)", [10 * i])
                        .unwrap();
                }
            }
        }
        conn.execute_batch("INSERT INTO entries_fts (rowid, text) SELECT id, text FROM entries")
            .unwrap();
        for q in [&["refund"][..], &["card"], &["refund", "after:1970-01-01"]] {
            let q: Vec<String> = q.iter().map(|s| s.to_string()).collect();
            let query = Query::parse(&q).unwrap();
            let listed = search(
                &conn,
                &query,
                Page {
                    limit: 1000,
                    ..Page::default()
                },
            )
            .unwrap()
            .len() as u64;
            assert!(listed > 0);
            assert_eq!(count(&conn, &query).unwrap(), listed, "{q:?}");
            let core = Core::new(&conn, &query).unwrap();
            for seek in [0, 1000] {
                assert_eq!(
                    count_words_seeking(&conn, &core, seek).unwrap(),
                    listed,
                    "{q:?}"
                );
            }
        }
    }

    #[test]
    fn one_conversations_hits_are_a_rowid_range_of_the_index() {
        let p = plan(&format!(
            "SELECT count(*) {}",
            from_sql(true, false, false, None, true)
        ));
        // FTS5's plan names its constraints: M the match, > and < the
        // rowid bounds.
        let first = p.lines().next().unwrap_or_default();
        assert!(first.starts_with("SCAN entries_fts VIRTUAL TABLE"), "{p}");
        assert!(
            first.contains('M') && first.contains('>') && first.contains('<'),
            "{p}"
        );
    }
}
