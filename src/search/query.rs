//! The auditor's query language (docs/search.md): parsed into a tree, then
//! split into one FTS5 expression over the words and conditions over the
//! fields.
//!
//! ```text
//! query  := or
//! or     := and ("OR" and)*
//! and    := unary (["AND"] unary)*          words side by side are ANDed
//! unary  := ("NOT" | "-") unary | atom
//! atom   := WORD | PREFIX* | "PHRASE" | "(" or ")" | NEAR(term… [, N]) | KEY:VALUE
//! ```
//!
//! Invariants: user text reaches FTS5 only inside double quotes (internal
//! quotes doubled), so the expression this module builds is always one
//! FTS5 accepts; every input is either a `Query` or a [`QueryError`]
//! naming the problem and the character where it is (1-based, counted in
//! the query as the arguments joined by single spaces).
//!
//! Fields apply to the whole query: they may be combined with each other
//! by AND, OR, NOT and parentheses, and with words by AND only (`refund
//! role:agent`); `refund OR role:agent` is refused, since FTS5 cannot
//! stream such a union newest first.

use std::fmt;

/// A query that is not valid, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub message: String,
    /// 1-based character position in the query text.
    pub at: usize,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at character {}", self.message, self.at)
    }
}

impl std::error::Error for QueryError {}

fn err<T>(at: usize, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        message: message.into(),
        at,
    })
}

/// The field keys, lower case, as the user may write them in any case.
pub const KEYS: &[&str] = &[
    "role",
    "from",
    "type",
    "format",
    "has",
    "after",
    "before",
    "export",
    "version",
    "conversation",
    "session",
    "case",
    "enduser",
    "channel",
    "substr",
];

/// A `key:value` condition, its key lower case and its value as written
/// (quotes removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub key: String,
    pub value: String,
    /// Where the key starts.
    pub at: usize,
}

/// What a word-level term searches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// One word (or several, if the tokenizer splits it: then they must
    /// stand together, as FTS5 reads a quoted string).
    Word(String),
    /// Words starting with this text: `refun*`.
    Prefix(String),
    /// `"card charged"`: the words together, in order.
    Phrase(String),
}

/// The parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Term(Term),
    /// `NEAR(a b c, N)`: the terms within N words of each other (FTS5's
    /// default, 10, when N is not given).
    Near(Vec<Term>, Option<u32>),
    Field(Field),
    And(Vec<Node>),
    Or(Vec<Node>),
    /// With the position of its `NOT` or `-`.
    Not(Box<Node>, usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Prefix(String),
    Phrase(String),
    Field(String, String),
    Open,
    Close,
    Comma,
    Or,
    And,
    Not,
    Minus,
    Near,
}

/// Splits `text` into tokens with their 1-based positions.
fn lex(text: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    // The parenthesis depths at which a NEAR group is open: only there is
    // a comma a token (elsewhere it is part of a word, as in `1,000`).
    let mut near_depths: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let is_break = |c: char| c.is_whitespace() || matches!(c, '(' | ')' | '"');
    while i < chars.len() {
        let c = chars[i];
        let at = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                depth += 1;
                out.push((Tok::Open, at));
                i += 1;
            }
            ')' => {
                if near_depths.last() == Some(&depth) {
                    near_depths.pop();
                }
                depth = depth.saturating_sub(1);
                out.push((Tok::Close, at));
                i += 1;
            }
            ',' if near_depths.last() == Some(&depth) => {
                out.push((Tok::Comma, at));
                i += 1;
            }
            '"' => {
                let (phrase, next) = quoted(&chars, i)?;
                out.push((Tok::Phrase(phrase), at));
                i = next;
            }
            '-' if chars
                .get(i + 1)
                .is_some_and(|n| !n.is_whitespace() && *n != ')') =>
            {
                out.push((Tok::Minus, at));
                i += 1;
            }
            _ => {
                let start = i;
                while i < chars.len() && !is_break(chars[i]) {
                    if chars[i] == ',' && near_depths.last() == Some(&depth) {
                        break;
                    }
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if word.is_empty() {
                    // A lone comma inside NEAR is taken above; anything
                    // else ends a word only after a character.
                    return err(at, format!("unexpected '{c}'"));
                }
                match word.as_str() {
                    "OR" => out.push((Tok::Or, at)),
                    "AND" => out.push((Tok::And, at)),
                    "NOT" => out.push((Tok::Not, at)),
                    "NEAR" if chars.get(i) == Some(&'(') => {
                        out.push((Tok::Near, at));
                        out.push((Tok::Open, i + 1));
                        depth += 1;
                        near_depths.push(depth);
                        i += 1;
                    }
                    _ => {
                        if let Some((key, value)) = word.split_once(':')
                            && KEYS.contains(&key.to_ascii_lowercase().as_str())
                        {
                            let key = key.to_ascii_lowercase();
                            if !value.is_empty() {
                                out.push((Tok::Field(key, value.to_owned()), at));
                            } else if chars.get(i) == Some(&'"') {
                                let (value, next) = quoted(&chars, i)?;
                                out.push((Tok::Field(key, value), at));
                                i = next;
                            } else {
                                return err(
                                    at,
                                    format!("{key}: needs a value (e.g. {})", example(&key)),
                                );
                            }
                        } else if let Some(stem) = word.strip_suffix('*') {
                            if stem.is_empty() || stem.ends_with('*') {
                                return err(at, "a prefix needs at least one character before '*'");
                            }
                            out.push((Tok::Prefix(stem.to_owned()), at));
                        } else {
                            out.push((Tok::Word(word), at));
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The text of the quoted run opening at `chars[open]` (a doubled quote
/// inside is one quote) and the index after its closing quote.
fn quoted(chars: &[char], open: usize) -> Result<(String, usize), QueryError> {
    let mut s = String::new();
    let mut i = open + 1;
    loop {
        match chars.get(i) {
            None => return err(open + 1, "unclosed quote"),
            Some('"') if chars.get(i + 1) == Some(&'"') => {
                s.push('"');
                i += 2;
            }
            Some('"') => return Ok((s, i + 1)),
            Some(c) => {
                s.push(*c);
                i += 1;
            }
        }
    }
}

/// An example value for `key`, for messages.
pub fn example(key: &str) -> &'static str {
    match key {
        "role" => "role:agent",
        "from" => "from:\"Jane Doe\"",
        "type" => "type:message",
        "format" => "format:richlink",
        "has" => "has:attachment or has:link",
        "after" => "after:2026-11-09",
        "before" => "before:2026-11-10T09:00:00Z",
        "export" => "export:3",
        "version" => "version:current",
        "conversation" => "conversation:ID",
        "session" => "session:0Mw...",
        "case" => "case:500...",
        "enduser" => "enduser:TEXT",
        "channel" => "channel:TEXT",
        "substr" => "substr:4321",
        _ => "key:value",
    }
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    /// Where the text ends (for "expected … at the end").
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(_, a)| *a)
    }

    /// Whether the next token can start an operand (after an operator).
    fn operand_follows(&self) -> bool {
        !matches!(self.peek(), None | Some(Tok::Close | Tok::Or | Tok::And))
    }

    fn or(&mut self) -> Result<Node, QueryError> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            let at = self.at();
            self.pos += 1;
            if !self.operand_follows() {
                return err(at, "OR needs something on both sides");
            }
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Node::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Node, QueryError> {
        let mut parts = vec![self.unary()?];
        loop {
            match self.peek() {
                None | Some(Tok::Close | Tok::Or | Tok::Comma) => break,
                Some(Tok::And) => {
                    let at = self.at();
                    self.pos += 1;
                    if !self.operand_follows() {
                        return err(at, "AND needs something on both sides");
                    }
                }
                _ => {}
            }
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Node::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Node, QueryError> {
        let at = self.at();
        match self.peek() {
            Some(Tok::Not | Tok::Minus) => {
                self.pos += 1;
                if !self.operand_follows() {
                    return err(at, "NOT needs something to exclude after it");
                }
                Ok(Node::Not(Box::new(self.unary()?), at))
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Result<Node, QueryError> {
        let at = self.at();
        let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
            return err(at, "the query ends where a word or filter was expected");
        };
        self.pos += 1;
        match tok {
            Tok::Word(w) => Ok(Node::Term(Term::Word(w))),
            Tok::Prefix(w) => Ok(Node::Term(Term::Prefix(w))),
            Tok::Phrase(p) => Ok(Node::Term(Term::Phrase(p))),
            Tok::Field(key, value) => Ok(Node::Field(Field { key, value, at })),
            Tok::Open => {
                if self.peek() == Some(&Tok::Close) {
                    return err(at, "empty parentheses");
                }
                let inner = self.or()?;
                match self.peek() {
                    Some(Tok::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => err(at, "unbalanced parenthesis: this one is never closed"),
                }
            }
            Tok::Near => self.near(at),
            Tok::Close => err(at, "unbalanced parenthesis: nothing opened this one"),
            Tok::Comma => err(at, "a comma belongs inside NEAR(…, N)"),
            Tok::Or | Tok::And => err(
                at,
                "an operator needs something before it (to search for the word itself, quote it: \"or\")",
            ),
            Tok::Not | Tok::Minus => err(at, "NOT here is not expected"),
        }
    }

    /// After `NEAR`: `(term term… [, N])`.
    fn near(&mut self, at: usize) -> Result<Node, QueryError> {
        // The lexer always puts the opening parenthesis after NEAR.
        self.pos += 1;
        let mut terms = Vec::new();
        let mut distance = None;
        loop {
            let here = self.at();
            let Some((tok, _)) = self.toks.get(self.pos).cloned() else {
                return err(at, "unbalanced parenthesis: NEAR( is never closed");
            };
            self.pos += 1;
            match tok {
                Tok::Word(w) => terms.push(Term::Word(w)),
                Tok::Prefix(w) => terms.push(Term::Prefix(w)),
                Tok::Phrase(p) => terms.push(Term::Phrase(p)),
                Tok::Comma => {
                    let n = match self.toks.get(self.pos).cloned() {
                        Some((Tok::Word(n), _)) => n.parse::<u32>().ok(),
                        _ => None,
                    };
                    let Some(n) = n else {
                        return err(
                            here,
                            "NEAR's distance after the comma must be a whole number of words",
                        );
                    };
                    distance = Some(n);
                    self.pos += 1;
                    if self.peek() != Some(&Tok::Close) {
                        return err(
                            self.at(),
                            "NEAR(…, N) ends after its distance: expected ')'",
                        );
                    }
                }
                Tok::Close => break,
                _ => {
                    return err(here, "NEAR(…) holds words, prefixes and phrases only");
                }
            }
        }
        if terms.len() < 2 {
            return err(at, "NEAR needs at least two words or phrases");
        }
        Ok(Node::Near(terms, distance))
    }
}

/// Parses `text` (the query's arguments joined by single spaces).
pub fn parse(text: &str) -> Result<Node, QueryError> {
    let toks = lex(text)?;
    let end = text.chars().count() + 1;
    if toks.is_empty() {
        return err(1, "the query is empty: give words or filters");
    }
    let mut p = Parser { toks, pos: 0, end };
    let node = p.or()?;
    if let Some((tok, at)) = p.toks.get(p.pos) {
        return match tok {
            Tok::Close => err(*at, "unbalanced parenthesis: nothing opened this one"),
            _ => err(*at, "unexpected text"),
        };
    }
    Ok(node)
}

/// A word-level term as FTS5 reads it: quoted, internal quotes doubled.
pub fn fts_term(t: &Term) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    match t {
        Term::Word(w) | Term::Phrase(w) => q(w),
        Term::Prefix(w) => format!("{} *", q(w)),
    }
}

/// Whether `node` holds fields, words, or both.
fn kinds(node: &Node) -> (bool, bool) {
    match node {
        Node::Term(_) | Node::Near(..) => (false, true),
        Node::Field(_) => (true, false),
        Node::Not(n, _) => kinds(n),
        Node::And(v) | Node::Or(v) => v.iter().fold((false, false), |(f, w), n| {
            let (nf, nw) = kinds(n);
            (f || nf, w || nw)
        }),
    }
}

/// The first field in `node`, for messages.
fn first_field(node: &Node) -> Option<&Field> {
    match node {
        Node::Field(f) => Some(f),
        Node::Not(n, _) => first_field(n),
        Node::And(v) | Node::Or(v) => v.iter().find_map(first_field),
        _ => None,
    }
}

/// A query split for execution: the words as one FTS5 expression, words
/// that must be absent when nothing positive is searched for, and the
/// field conditions (each a tree of fields only), all ANDed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    /// What the full-text index must match.
    pub fts: Option<String>,
    /// What it must not match (`-card` with no word to subtract it from).
    pub fts_excluded: Option<String>,
    pub fields: Vec<Node>,
}

/// Splits the top-level AND of `node` into words and fields; refuses a
/// field ORed with words.
pub fn split(node: Node) -> Result<Split, QueryError> {
    let parts = match node {
        Node::And(v) => v,
        n => vec![n],
    };
    let mut words = Vec::new();
    let mut fields = Vec::new();
    for part in parts {
        match kinds(&part) {
            (true, false) => fields.push(part),
            (false, _) => words.push(part),
            (true, true) => {
                let at = first_field(&part).map_or(1, |f| f.at);
                return err(
                    at,
                    "filters apply to the whole query: they combine with words by AND only, not inside OR or a group with words",
                );
            }
        }
    }
    let (positive, negative): (Vec<Node>, Vec<Node>) =
        words.into_iter().partition(|n| !matches!(n, Node::Not(..)));
    let negative: Vec<Node> = negative
        .into_iter()
        .map(|n| match n {
            Node::Not(inner, _) => *inner,
            n => n,
        })
        .collect();
    let mut out = Split {
        fields,
        ..Split::default()
    };
    if positive.is_empty() {
        if !negative.is_empty() {
            let alternatives = negative.iter().map(fts).collect::<Result<Vec<_>, _>>()?;
            out.fts_excluded = Some(alternatives.join(" OR "));
        }
        return Ok(out);
    }
    let mut expr = and_fts(&positive)?;
    for n in &negative {
        expr = format!("({expr} NOT {})", fts(n)?);
    }
    out.fts = Some(expr);
    Ok(out)
}

/// `parts` ANDed, each an FTS5 expression; a `NOT` among them subtracts
/// from the others.
fn and_fts(parts: &[Node]) -> Result<String, QueryError> {
    let (positive, negative): (Vec<&Node>, Vec<&Node>) =
        parts.iter().partition(|n| !matches!(n, Node::Not(..)));
    if positive.is_empty() {
        let at = match parts.first() {
            Some(Node::Not(_, at)) => *at,
            _ => 1,
        };
        return err(
            at,
            "NOT inside parentheses or OR needs a word to exclude from in the same group, e.g. (refund -card)",
        );
    }
    let mut expr = positive
        .iter()
        .map(|n| fts(n))
        .collect::<Result<Vec<_>, _>>()?
        .join(" AND ");
    if positive.len() > 1 {
        expr = format!("({expr})");
    }
    for n in negative {
        if let Node::Not(inner, _) = n {
            expr = format!("({expr} NOT {})", fts(inner)?);
        }
    }
    Ok(expr)
}

/// One word-only node as an FTS5 expression.
fn fts(node: &Node) -> Result<String, QueryError> {
    match node {
        Node::Term(t) => Ok(fts_term(t)),
        Node::Near(terms, n) => {
            let terms: Vec<String> = terms.iter().map(fts_term).collect();
            Ok(match n {
                Some(n) => format!("NEAR({}, {n})", terms.join(" ")),
                None => format!("NEAR({})", terms.join(" ")),
            })
        }
        Node::And(v) => and_fts(v),
        Node::Or(v) => {
            let parts = v
                .iter()
                .map(|n| match n {
                    Node::Not(_, at) => err(
                        *at,
                        "NOT cannot stand alone inside OR: put it in a group with a word, e.g. (refund -card) OR charged",
                    ),
                    n => fts(n),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(format!("({})", parts.join(" OR ")))
        }
        Node::Not(_, at) => err(
            *at,
            "NOT needs a word to exclude from in the same group, e.g. (refund -card)",
        ),
        Node::Field(f) => err(f.at, "a filter cannot stand among words here"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fts_of(q: &str) -> Option<String> {
        split(parse(q).unwrap()).unwrap().fts
    }

    fn error_of(q: &str) -> String {
        match parse(q).and_then(split) {
            Ok(s) => panic!("{q:?} parsed: {s:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_operator_becomes_fts5() {
        for (q, want) in [
            ("refund", r#""refund""#),
            ("refund card", r#"("refund" AND "card")"#),
            ("refund AND card", r#"("refund" AND "card")"#),
            (r#""refund policy""#, r#""refund policy""#),
            ("refun*", r#""refun" *"#),
            ("refund OR card", r#"("refund" OR "card")"#),
            ("refund -card", r#"("refund" NOT "card")"#),
            ("refund NOT card", r#"("refund" NOT "card")"#),
            (
                "(refund OR return) -card",
                r#"(("refund" OR "return") NOT "card")"#,
            ),
            ("NEAR(card charged, 5)", r#"NEAR("card" "charged", 5)"#),
            (
                r#"NEAR("card charged" refun*)"#,
                r#"NEAR("card charged" "refun" *)"#,
            ),
            (
                "(refund -card) OR charged",
                r#"(("refund" NOT "card") OR "charged")"#,
            ),
            ("or", r#""or""#),
            ("1,000 x-ray", r#"("1,000" AND "x-ray")"#),
            (r#""say ""hi""""#, r#""say ""hi""""#),
            ("ÉTÉ", r#""ÉTÉ""#),
        ] {
            assert_eq!(fts_of(q).as_deref(), Some(want), "{q}");
        }
    }

    #[test]
    fn fields_are_kept_apart_from_words() {
        let s = split(parse("refund role:Agent (type:message OR type:routing) -has:link").unwrap())
            .unwrap();
        assert_eq!(s.fts.as_deref(), Some(r#""refund""#));
        assert_eq!(s.fields.len(), 3);
        assert_eq!(
            s.fields[0],
            Node::Field(Field {
                key: "role".into(),
                value: "Agent".into(),
                at: 8
            })
        );
        let s = split(parse(r#"FROM:"Jane Doe" after:2026-11-09"#).unwrap()).unwrap();
        assert_eq!(s.fts, None);
        assert!(matches!(&s.fields[0], Node::Field(f) if f.key == "from" && f.value == "Jane Doe"));
        // An unknown key is a word, as before.
        assert_eq!(fts_of("time:10").as_deref(), Some(r#""time:10""#));
    }

    #[test]
    fn words_only_excluded_are_kept_for_a_listing() {
        let s = split(parse("-card role:agent").unwrap()).unwrap();
        assert_eq!(s.fts, None);
        assert_eq!(s.fts_excluded.as_deref(), Some(r#""card""#));
        assert_eq!(s.fields.len(), 1);
    }

    #[test]
    fn errors_name_the_problem_and_where() {
        for (q, want) in [
            (
                "refund (card",
                "unbalanced parenthesis: this one is never closed at character 8",
            ),
            (
                "refund card)",
                "unbalanced parenthesis: nothing opened this one at character 12",
            ),
            ("refund \"card", "unclosed quote at character 8"),
            (
                "refund OR",
                "OR needs something on both sides at character 8",
            ),
            ("OR refund", "an operator needs something before it"),
            ("()", "empty parentheses at character 1"),
            (
                "role:",
                "role: needs a value (e.g. role:agent) at character 1",
            ),
            (
                "NEAR(card)",
                "NEAR needs at least two words or phrases at character 1",
            ),
            (
                "NEAR(card charged, x)",
                "whole number of words at character 18",
            ),
            ("NEAR(card charged", "NEAR( is never closed at character 1"),
            ("refund OR role:agent", "by AND only"),
            ("(refund OR card) OR role:agent", "by AND only"),
            ("refund OR -card", "NOT cannot stand alone inside OR"),
            (
                "(-card -x) OR refund",
                "needs a word to exclude from in the same group",
            ),
            ("*", "a prefix needs at least one character"),
            ("", "the query is empty"),
            ("refund NOT", "NOT needs something to exclude"),
        ] {
            let e = error_of(q);
            assert!(e.contains(want), "{q:?}: {e}");
        }
    }

    fn fts_db() -> rusqlite::Connection {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2');
             INSERT INTO t VALUES ('refund please'), ('card charged twice'), ('');",
        )
        .unwrap();
        conn
    }

    #[test]
    fn the_expressions_find_what_they_say() {
        let conn = fts_db();
        let count = |q: &str| -> i64 {
            let fts = fts_of(q).unwrap();
            conn.query_row("SELECT count(*) FROM t WHERE t MATCH ?1", [fts], |r| {
                r.get(0)
            })
            .unwrap()
        };
        assert_eq!(count("refund"), 1);
        assert_eq!(count("refu*"), 1);
        assert_eq!(count("refund OR card"), 2);
        assert_eq!(count("charged -twice"), 0);
        assert_eq!(count("charged -refund"), 1);
        assert_eq!(count("\"card charged\""), 1);
        assert_eq!(count("\"charged card\""), 0);
        assert_eq!(count("NEAR(card twice, 1)"), 1);
        assert_eq!(count("NEAR(card twice, 0)"), 0);
    }

    proptest! {
        /// Whatever is typed, the result is a query FTS5 accepts or an
        /// error with a position inside the text (or just after it).
        #[test]
        fn any_text_is_a_query_or_a_placed_error(text in "[ a-zA-Z()\"*:,\\-ÉNEAROTD0-9]{0,40}|\\PC{0,20}") {
            let conn = fts_db();
            match parse(&text).and_then(split) {
                Ok(s) => {
                    for q in s.fts.iter().chain(s.fts_excluded.iter()) {
                        let r: rusqlite::Result<i64> =
                            conn.query_row("SELECT count(*) FROM t WHERE t MATCH ?1", [q], |r| r.get(0));
                        prop_assert!(r.is_ok(), "{:?} -> {:?}: {:?}", text, q, r);
                    }
                }
                Err(e) => {
                    prop_assert!(e.at >= 1 && e.at <= text.chars().count() + 1, "{:?}: {}", text, e);
                }
            }
        }
    }
}
