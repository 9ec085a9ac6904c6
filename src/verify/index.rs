//! The full-text index against the entries.
//!
//! FTS5's own `integrity-check` can miss an external-content index that
//! has drifted from its content table, so this compares the index itself
//! with a fresh tokenisation of the entries' text: for every document, an
//! order-independent checksum of its (term, position) pairs and their
//! number, read from the index through `fts5vocab`, must equal the same
//! checksum of the text indexed anew (in chunks, in a temporary table with
//! the same tokenizer). Memory: one checksum per indexed document.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use rusqlite::Connection;

use super::{Findings, Options};
use crate::error::Result;

/// Entries re-indexed per chunk.
const CHUNK: i64 = 50_000;

/// The checksum of one document's tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sum {
    hash: u64,
    tokens: u64,
}

fn token_hash(term: &[u8], offset: i64) -> u64 {
    let mut h = DefaultHasher::new();
    term.hash(&mut h);
    offset.hash(&mut h);
    h.finish()
}

/// Adds every (term, doc, offset) of the `fts5vocab` instance table
/// `vocab` to `sums`, keeping only documents `keep` accepts.
fn scan(
    conn: &Connection,
    vocab: &str,
    sums: &mut HashMap<i64, Sum>,
    keep: impl Fn(i64) -> bool,
) -> Result<()> {
    let mut stmt = conn.prepare(&format!("SELECT term, doc, offset FROM {vocab}"))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let doc: i64 = r.get(1)?;
        if !keep(doc) {
            continue;
        }
        let term = r.get_ref(0)?.as_bytes().unwrap_or_default();
        let h = token_hash(term, r.get(2)?);
        let s = sums.entry(doc).or_default();
        s.hash = s.hash.wrapping_add(h);
        s.tokens += 1;
    }
    Ok(())
}

pub(super) fn check(conn: &Connection, opts: &Options, f: &mut Findings) -> Result<()> {
    // Which entries are checked: all, or one export's.
    let only = opts
        .export
        .map_or_else(|| "1".to_owned(), |id| format!("export_id = {id}"));
    let wanted: Option<std::collections::HashSet<i64>> = match opts.export {
        None => None,
        Some(_) => Some(
            conn.prepare(&format!("SELECT id FROM entries WHERE {only}"))?
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?,
        ),
    };
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.convault_fts_instance;
         CREATE VIRTUAL TABLE temp.convault_fts_instance
             USING fts5vocab(main, 'entries_fts', 'instance');",
    )?;
    let mut index: HashMap<i64, Sum> = HashMap::new();
    scan(conn, "temp.convault_fts_instance", &mut index, |doc| {
        wanted.as_ref().is_none_or(|w| w.contains(&doc))
    })?;
    conn.execute_batch("DROP TABLE temp.convault_fts_instance;")?;

    let (lo, hi): (i64, i64) = conn.query_row(
        &format!("SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM entries WHERE {only}"),
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let mut from = lo - 1;
    while from < hi {
        let to = from.saturating_add(CHUNK).min(hi);
        conn.execute_batch(
            "DROP TABLE IF EXISTS temp.convault_fts_fresh_instance;
             DROP TABLE IF EXISTS temp.convault_fts_fresh;
             CREATE VIRTUAL TABLE temp.convault_fts_fresh USING fts5(
                 text, tokenize = 'unicode61 remove_diacritics 2', columnsize = 0);
             CREATE VIRTUAL TABLE temp.convault_fts_fresh_instance
                 USING fts5vocab(temp, 'convault_fts_fresh', 'instance');",
        )?;
        conn.execute(
            &format!(
                "INSERT INTO temp.convault_fts_fresh (rowid, text)
                 SELECT id, text FROM entries
                 WHERE id > ?1 AND id <= ?2 AND text IS NOT NULL AND {only}"
            ),
            [from, to],
        )?;
        let mut fresh = HashMap::new();
        scan(conn, "temp.convault_fts_fresh_instance", &mut fresh, |_| {
            true
        })?;
        let mut docs: Vec<(i64, Sum)> = fresh.into_iter().collect();
        docs.sort_unstable_by_key(|d| d.0);
        for (doc, want) in docs {
            f.checked.index_documents += 1;
            match index.remove(&doc) {
                None => f.fail(
                    "index-missing",
                    format!("entry row {doc}"),
                    format!("{} tokens in the index", want.tokens),
                    "not in the index",
                ),
                Some(got) if got != want => f.fail(
                    "index-content",
                    format!("entry row {doc}"),
                    format!("{} tokens of its text", want.tokens),
                    format!("{} tokens that differ from its text", got.tokens),
                ),
                Some(_) => {}
            }
        }
        from = to;
    }
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.convault_fts_fresh_instance;
         DROP TABLE IF EXISTS temp.convault_fts_fresh;",
    )?;
    // What is left is indexed but has no such text (or no entry at all).
    let mut extra: Vec<(i64, Sum)> = index.into_iter().collect();
    extra.sort_unstable_by_key(|d| d.0);
    for (doc, got) in extra {
        f.fail(
            "index-extra",
            format!("entry row {doc}"),
            "not in the index (no entry with text)",
            format!("{} tokens in the index", got.tokens),
        );
    }
    Ok(())
}
