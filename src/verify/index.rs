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

/// FNV-1a over the term and its position. Not a defence against forgery
/// (the entries' content hashes and the ledger are): it only has to tell a
/// drifted index from an intact one, tens of millions of times, quickly.
fn token_hash(term: &[u8], offset: i64) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in term.iter().chain(&offset.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h
}

/// Checksums by document id: a vector for the ids entries can have (they
/// are dense), a map for anything beyond.
#[derive(Default)]
struct Sums {
    dense: Vec<Option<Sum>>,
    other: HashMap<i64, Sum>,
}

impl Sums {
    fn with_max(max_id: i64) -> Sums {
        Sums {
            dense: vec![None; usize::try_from(max_id).unwrap_or(0).saturating_add(1)],
            other: HashMap::new(),
        }
    }

    fn slot(&mut self, doc: i64) -> &mut Sum {
        match usize::try_from(doc).ok().filter(|&i| i < self.dense.len()) {
            Some(i) => self.dense[i].get_or_insert_with(Sum::default),
            None => self.other.entry(doc).or_default(),
        }
    }

    fn take(&mut self, doc: i64) -> Option<Sum> {
        match usize::try_from(doc).ok().filter(|&i| i < self.dense.len()) {
            Some(i) => self.dense[i].take(),
            None => self.other.remove(&doc),
        }
    }

    /// What is left, by document id.
    fn remaining(self) -> Vec<(i64, Sum)> {
        let mut out: Vec<(i64, Sum)> = self
            .dense
            .into_iter()
            .enumerate()
            .filter_map(|(i, s)| s.map(|s| (i as i64, s)))
            .collect();
        out.extend(self.other);
        out.sort_unstable_by_key(|d| d.0);
        out
    }
}

/// Adds every (term, doc, offset) of the `fts5vocab` instance table
/// `vocab` to `sums`, keeping only documents `keep` accepts.
fn scan(conn: &Connection, vocab: &str, sums: &mut Sums, keep: impl Fn(i64) -> bool) -> Result<()> {
    let mut stmt = conn.prepare(&format!("SELECT term, doc, offset FROM {vocab}"))?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let doc: i64 = r.get(1)?;
        if !keep(doc) {
            continue;
        }
        let term = r.get_ref(0)?.as_bytes().unwrap_or_default();
        let h = token_hash(term, r.get(2)?);
        let s = sums.slot(doc);
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
    let max_id: i64 =
        conn.query_row("SELECT coalesce(max(id), 0) FROM entries", [], |r| r.get(0))?;
    let mut index = Sums::with_max(max_id);
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
                 text, content = '', tokenize = 'unicode61 remove_diacritics 2', columnsize = 0);
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
        let mut fresh = Sums::default();
        scan(conn, "temp.convault_fts_fresh_instance", &mut fresh, |_| {
            true
        })?;
        for (doc, want) in fresh.remaining() {
            f.checked.index_documents += 1;
            match index.take(doc) {
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
    for (doc, got) in index.remaining() {
        f.fail(
            "index-extra",
            format!("entry row {doc}"),
            "not in the index (no entry with text)",
            format!("{} tokens in the index", got.tokens),
        );
    }
    Ok(())
}
