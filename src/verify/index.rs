//! The full-text index against the entries.
//!
//! FTS5's own `integrity-check` can miss an external-content index that
//! has drifted from its content table, so this compares the index itself
//! with the entries' text indexed anew: the text goes into a temporary,
//! contentless FTS5 table with the same tokenizer, and the two indexes are
//! read through `fts5vocab` as two streams of (term, document, position),
//! both in the index's own order, and merged. Every token in one and not
//! the other marks its document. Memory stays flat: the temporary index
//! lives in a temporary file, and only documents found wrong are kept.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use rusqlite::{Connection, Rows};

use super::{Findings, Options};
use crate::error::Result;

/// One token instance: term bytes, document, position.
#[derive(Default)]
struct Token {
    term: Vec<u8>,
    doc: i64,
    offset: i64,
}

/// Reads the next token of `rows` into `slot`; false at the end.
fn next(rows: &mut Rows<'_>, slot: &mut Token) -> Result<bool> {
    match rows.next()? {
        None => Ok(false),
        Some(r) => {
            slot.term.clear();
            slot.term
                .extend_from_slice(r.get_ref(0)?.as_bytes().unwrap_or_default());
            slot.doc = r.get(1)?;
            slot.offset = r.get(2)?;
            Ok(true)
        }
    }
}

fn order(a: &Token, b: &Token) -> Ordering {
    a.term
        .cmp(&b.term)
        .then(a.doc.cmp(&b.doc))
        .then(a.offset.cmp(&b.offset))
}

pub(super) fn check(conn: &Connection, opts: &Options, f: &mut Findings) -> Result<()> {
    let only = opts
        .export
        .map_or_else(|| "1".to_owned(), |id| format!("export_id = {id}"));
    // With --export, the index's tokens of other exports' documents are
    // not compared: the export's own entry ids, sorted (8 bytes each).
    let scope: Option<Vec<i64>> = match opts.export {
        None => None,
        Some(id) => Some(
            conn.prepare("SELECT id FROM entries WHERE export_id = ?1 ORDER BY id")?
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?,
        ),
    };
    conn.execute_batch(
        "DROP TABLE IF EXISTS temp.convault_fresh_instance;
         DROP TABLE IF EXISTS temp.convault_fresh;
         DROP TABLE IF EXISTS temp.convault_index_instance;
         CREATE VIRTUAL TABLE temp.convault_fresh USING fts5(
             text, content = '', tokenize = 'unicode61 remove_diacritics 2', columnsize = 0);
         CREATE VIRTUAL TABLE temp.convault_fresh_instance
             USING fts5vocab(temp, 'convault_fresh', 'instance');
         CREATE VIRTUAL TABLE temp.convault_index_instance
             USING fts5vocab(main, 'entries_fts', 'instance');",
    )?;
    // In chunks of consecutive seq, each in rowid order (as the ingest
    // indexes): bounded statement journals and sorts.
    for (from, to) in crate::archive::seq_chunks(conn, 1)? {
        f.checked.index_documents += conn.execute(
            &format!(
                "INSERT INTO temp.convault_fresh (rowid, text)
                 SELECT id, text FROM entries
                 WHERE seq >= ?1 AND seq < ?2 AND text IS NOT NULL AND {only} ORDER BY id"
            ),
            [from, to],
        )? as u64;
    }

    // Per wrong document: tokens missing from the index, tokens extra in it.
    let mut wrong: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
    {
        let mut index_stmt =
            conn.prepare("SELECT term, doc, offset FROM temp.convault_index_instance")?;
        let mut fresh_stmt =
            conn.prepare("SELECT term, doc, offset FROM temp.convault_fresh_instance")?;
        let mut index_rows = index_stmt.query([])?;
        let mut fresh_rows = fresh_stmt.query([])?;
        let (mut a, mut b) = (Token::default(), Token::default());
        // Index tokens of other exports' documents are not compared.
        let in_scope = |t: &Token| {
            scope
                .as_ref()
                .is_none_or(|ids| ids.binary_search(&t.doc).is_ok())
        };
        let mut more_a = next_in_scope(&mut index_rows, &mut a, &in_scope)?;
        let mut more_b = next(&mut fresh_rows, &mut b)?;
        while more_a || more_b {
            let step = match (more_a, more_b) {
                (true, true) => order(&a, &b),
                (true, false) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match step {
                Ordering::Equal => {
                    more_a = next_in_scope(&mut index_rows, &mut a, &in_scope)?;
                    more_b = next(&mut fresh_rows, &mut b)?;
                }
                Ordering::Less => {
                    wrong.entry(a.doc).or_default().1 += 1;
                    more_a = next_in_scope(&mut index_rows, &mut a, &in_scope)?;
                }
                Ordering::Greater => {
                    wrong.entry(b.doc).or_default().0 += 1;
                    more_b = next(&mut fresh_rows, &mut b)?;
                }
            }
        }
    }
    conn.execute_batch(
        "DROP TABLE temp.convault_index_instance;
         DROP TABLE temp.convault_fresh_instance;
         DROP TABLE temp.convault_fresh;",
    )?;
    let mut name = conn.prepare(
        "SELECT 'entry ' || identifier || ' version ' || version || ' (row ' || id || ')'
         FROM entries WHERE id = ?1",
    )?;
    for (doc, (missing, extra)) in wrong {
        let kind = match (missing, extra) {
            (_, 0) => super::FailureKind::IndexMissing,
            (0, _) => super::FailureKind::IndexExtra,
            _ => super::FailureKind::IndexContent,
        };
        let item = name
            .query_row([doc], |r| r.get::<_, String>(0))
            .unwrap_or_else(|_| format!("index row {doc} (no such entry)"));
        f.fail(
            kind,
            item,
            "the tokens of its text, exactly",
            format!(
                "{missing} tokens of its text missing from the index, {extra} tokens in the index not in its text"
            ),
        );
    }
    Ok(())
}

fn next_in_scope(
    rows: &mut Rows<'_>,
    slot: &mut Token,
    in_scope: &impl Fn(&Token) -> bool,
) -> Result<bool> {
    while next(rows, slot)? {
        if in_scope(slot) {
            return Ok(true);
        }
    }
    Ok(false)
}
