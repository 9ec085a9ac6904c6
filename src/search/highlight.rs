//! Where the words matched inside a hit's text, and the window of text
//! shown around the first match.
//!
//! FTS5's `highlight()` returns the text with markers around each match.
//! The markers are characters from Unicode's private use area; a text
//! that holds them itself (nothing stops a message from doing so) is asked
//! about again with markers it does not hold, so the offsets are exact for
//! every text. Offsets count characters (Unicode scalar values).

use rusqlite::{Connection, OptionalExtension};

use super::Query;
use super::hits::Span;
use crate::error::{Error, Result};

/// The markers the hit query asks `highlight()` for.
pub const OPEN: char = '\u{E000}';
pub const CLOSE: char = '\u{E001}';

/// Characters of text in a snippet.
pub const SNIPPET_CHARS: usize = 120;

/// The matches `highlighted` marks with [`OPEN`] and [`CLOSE`] in `text`;
/// `None` when the text holds a marker itself (the marks would be
/// ambiguous) or the marked text is not `text`.
pub fn spans(text: &str, highlighted: &str) -> Option<Vec<Span>> {
    spans_with(text, highlighted, OPEN, CLOSE)
}

fn spans_with(text: &str, highlighted: &str, open: char, close: char) -> Option<Vec<Span>> {
    if text.contains([open, close]) {
        return None;
    }
    let mut out = Vec::new();
    let mut plain = text.chars();
    let mut at = 0usize;
    let mut start = None;
    for c in highlighted.chars() {
        if c == open {
            if start.is_some() {
                return None;
            }
            start = Some(at);
        } else if c == close {
            let s = start.take()?;
            if at > s {
                out.push(Span { start: s, end: at });
            }
        } else {
            if plain.next() != Some(c) {
                return None;
            }
            at += 1;
        }
    }
    (start.is_none() && plain.next().is_none()).then_some(out)
}

/// The matches in the text of row `rowid`, asked about with two markers
/// `text` does not hold.
pub fn spans_of_row(conn: &Connection, query: &Query, rowid: i64, text: &str) -> Result<Vec<Span>> {
    let Some(fts) = &query.fts else {
        return Ok(Vec::new());
    };
    // The private use area has 6,400 characters; a text holds fewer.
    let mut free = ('\u{E002}'..='\u{F8FF}').filter(|c| !text.contains(*c));
    let (Some(open), Some(close)) = (free.next(), free.next()) else {
        return Err(Error::Internal("no free marker characters for this text"));
    };
    let highlighted: Option<String> = conn
        .query_row(
            "SELECT highlight(entries_fts, 0, ?1, ?2) FROM entries_fts
             WHERE entries_fts MATCH ?3 AND rowid = ?4",
            rusqlite::params![open.to_string(), close.to_string(), fts, rowid],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    match highlighted {
        None => Ok(Vec::new()),
        Some(h) => spans_with(text, &h, open, close).ok_or(Error::Internal(
            "the index's marked text differs from the entry's",
        )),
    }
}

/// A window of at most `width` characters of `text` around its first
/// match (its start without a match), line breaks and tabs as spaces, `…`
/// where it was cut; and the matches inside it, in its characters.
pub fn snippet(text: &str, matches: &[Span], width: usize) -> (String, Vec<Span>) {
    let chars: Vec<char> = text
        .chars()
        .map(|c| {
            if matches!(c, '\n' | '\r' | '\t') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let len = chars.len();
    let (from, to) = if len <= width {
        (0, len)
    } else {
        // A quarter of the window before the first match, for context.
        let first = matches.first().map_or(0, |m| m.start);
        let from = first.saturating_sub(width / 4).min(len - width);
        (from, from + width)
    };
    let lead = usize::from(from > 0);
    let mut out = String::new();
    if from > 0 {
        out.push('…');
    }
    out.extend(&chars[from..to]);
    if to < len {
        out.push('…');
    }
    let inside = matches
        .iter()
        .filter(|m| m.end > from && m.start < to)
        .map(|m| Span {
            start: m.start.max(from) - from + lead,
            end: m.end.min(to) - from + lead,
        })
        .collect();
    (out, inside)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn marked(text: &str, spans: &[Span]) -> String {
        let mut out = String::new();
        for (i, c) in text.chars().enumerate() {
            if spans.iter().any(|s| s.start == i) {
                out.push(OPEN);
            }
            if spans.iter().any(|s| s.end == i) {
                out.push(CLOSE);
            }
            out.push(c);
        }
        if spans.iter().any(|s| s.end == text.chars().count()) {
            out.push(CLOSE);
        }
        out
    }

    #[test]
    fn markers_become_character_offsets() {
        let h = format!("é {OPEN}refund{CLOSE} now {OPEN}card{CLOSE}");
        assert_eq!(
            spans("é refund now card", &h),
            Some(vec![Span { start: 2, end: 8 }, Span { start: 13, end: 17 }])
        );
        // A text holding a marker, or marks that do not fit the text.
        assert_eq!(spans(&format!("a{OPEN}b"), "x"), None);
        assert_eq!(spans("abc", &format!("{OPEN}abd{CLOSE}")), None);
        assert_eq!(spans("abc", &format!("{OPEN}ab")), None);
        assert_eq!(spans("abc", &format!("{OPEN}ab{CLOSE}")), None);
    }

    #[test]
    fn a_text_holding_the_markers_is_asked_about_again() {
        let conn = crate::archive::db::open_in_memory().unwrap();
        let text = format!("refund {OPEN}{CLOSE} refund");
        conn.execute_batch("PRAGMA foreign_keys = OFF;").unwrap();
        conn.execute(
            "INSERT INTO entries (id, seq, identifier, version, conversation_id, entry_type,
                 entry_type_raw, is_message, related_records, text, content_hash, export_id, member_id)
             VALUES (7, 1, 'e', 1, 1, 'message', 'Message', 1, '[]', ?1, 'h', 1, 1)",
            [&text],
        )
        .unwrap();
        conn.execute_batch("INSERT INTO entries_fts (rowid, text) SELECT id, text FROM entries")
            .unwrap();
        let q = Query::parse(&["refund".into()]).unwrap();
        // The usual markers would be ambiguous in this text...
        let h: String = conn
            .query_row(
                &format!("SELECT highlight(entries_fts, 0, '{OPEN}', '{CLOSE}') FROM entries_fts WHERE entries_fts MATCH 'refund'"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(spans(&text, &h), None);
        // ...so the row is asked about again with markers it does not hold.
        assert_eq!(
            spans_of_row(&conn, &q, 7, &text).unwrap(),
            vec![Span { start: 0, end: 6 }, Span { start: 10, end: 16 }]
        );
    }

    #[test]
    fn snippets_window_the_first_match() {
        let text = format!("{} refund {}", "a ".repeat(100), "b ".repeat(100));
        let at = 201;
        let (s, m) = snippet(
            &text,
            &[Span {
                start: at,
                end: at + 6,
            }],
            40,
        );
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert_eq!(s.chars().count(), 42);
        let inside: String = s
            .chars()
            .skip(m[0].start)
            .take(m[0].end - m[0].start)
            .collect();
        assert_eq!(inside, "refund");
        let (s, m) = snippet("line one\nrefund", &[Span { start: 9, end: 15 }], 40);
        assert_eq!(
            (s.as_str(), m),
            ("line one refund", vec![Span { start: 9, end: 15 }])
        );
    }

    proptest! {
        #[test]
        fn spans_read_back_what_was_marked(
            text in "[a-zé \n]{0,60}",
            cuts in proptest::collection::btree_set(0usize..60, 0..6),
        ) {
            let n = text.chars().count();
            let cuts: Vec<usize> = cuts.into_iter().filter(|c| *c <= n).collect();
            let want: Vec<Span> = cuts
                .chunks_exact(2)
                .filter(|p| p[1] > p[0])
                .map(|p| Span { start: p[0], end: p[1] })
                .collect();
            prop_assert_eq!(spans(&text, &marked(&text, &want)), Some(want.clone()));
            let (s, inside) = snippet(&text, &want, 20);
            let sc: Vec<char> = s.chars().collect();
            for m in inside {
                prop_assert!(m.start < m.end && m.end <= sc.len());
            }
        }
    }
}
