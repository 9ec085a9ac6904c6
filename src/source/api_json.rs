//! Shape 2: conversation entries saved from the APIs, as JSON.
//!
//! Accepted, by content:
//! - a response page: an object with `conversationEntries` (Connect REST API,
//!   Conversation Data API), the conversation identifier at top level
//!   (`conversationIdentifier`) or in the file's name;
//! - a JSON array of entries;
//! - one entry per line (`.ndjson`, `.jsonl`), or any sequence of entry
//!   objects.
//!
//! Entries are streamed: a page's array is read element by element, never
//! whole. An entry is kept with every field exactly as received:
//! `entryPayload` may be an object (kept as its JSON text) or JSON text;
//! Connect's `messageText` is kept HTML-escaped and indexed unescaped. A
//! Connect entry has no `entryType`: it is a message, recorded as type
//! `Message`. When a page names its conversation only after its entries,
//! they wait in a temporary file (not in memory) until it does.
//!
//! A page `fetch` saved is named `<conversation>-<n>.json`
//! ([`fetched_page`]): every entry in it must be of that conversation, the
//! one asked for. An entry the org sent for another (named by the entry or
//! the page) is quarantined, never filed under either.
//!
//! `line` is the line of the file on which the entry starts; reasons for
//! quarantine also give the entry's position in `conversationEntries`.
//! A `null` element of an array is skipped (keeping its position): it is
//! where a removal took an entry out (`retention::derive::json_without`).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::rc::Rc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::csv_member::SHAPE as TRANSCRIPT;
use super::{MemberError, MemberOutcome, RowSink};
use crate::entry::{Entry, is_uuid};
use crate::error::{Error, Result};
use crate::profile::{Profiles, normalise as normalise_header};

/// Shape names recorded in `members.shape`.
pub const SHAPE_PAGE: &str = "api-json";
pub const SHAPE_LINES: &str = "api-ndjson";

/// One entry's fields, each as the JSON text received.
type Fields = BTreeMap<String, Box<RawValue>>;

/// Reads a JSON member. `name` is the member's file name, which may hold
/// the conversation identifier.
pub fn read(
    reader: impl Read,
    name: &str,
    sink: &mut dyn RowSink,
) -> Result<MemberOutcome, MemberError> {
    let position = Rc::new(Position::default());
    let counted = LineCounter {
        inner: reader,
        position: position.clone(),
    };
    let mut de = serde_json::Deserializer::from_reader(counted);
    let mut st = State {
        sink,
        position,
        file_conversation: uuid_in(name),
        requested: fetched_page(name),
        rows: 0,
        pages: 0,
        objects: 0,
        failed: None,
        unrecognised: None,
    };
    loop {
        // Whitespace between values is no row's (a removal blanks an
        // entry to spaces: those must not count against the next).
        st.position.end_row();
        if de.end().is_ok() {
            break;
        }
        let line = st.position.start_row();
        let result = Top { st: &mut st, line }.deserialize(&mut de);
        if let Some(e) = st.failed.take() {
            return Err(e);
        }
        if st.unrecognised.is_some() {
            break;
        }
        if let Err(e) = result {
            if let Some(line) = st.position.oversize() {
                // The rest is drained unparsed by the caller
                // (`source::read_member`): the parser stopped mid-value.
                let reason = format!(
                    "{}; the rest of the member could not be read",
                    super::oversize_reason(None)
                );
                if st.rows == 0 {
                    return Ok(MemberOutcome::Quarantined {
                        reason: format!("its first value, on line {line}: {reason}"),
                    });
                }
                st.rows += 1;
                // Its first bytes, so that a removal finds the row by the
                // conversation they name.
                let head = super::oversize_kept(&st.position.head.borrow());
                st.sink.quarantine_row(Some(line), reason, Some(head))?;
                return Ok(outcome(&st));
            }
            if e.is_io() {
                return Err(MemberError::Read(std::io::Error::other(e.to_string())));
            }
            st.rows += 1;
            st.sink.quarantine_row(
                Some(e.line() as u64),
                format!("invalid JSON ({e}); the rest of the member could not be read"),
                None,
            )?;
            break;
        }
    }
    // Drain, so that hashing and the zip's CRC check see every byte.
    let mut rest = de.into_iter::<de::IgnoredAny>();
    while let Some(Ok(_)) = rest.next() {}
    if let Some(keys) = st.unrecognised {
        return Ok(MemberOutcome::Quarantined {
            reason: format!(
                "JSON, but not conversation entries: no conversationEntries and no identifier (its first object has {})",
                if keys.is_empty() {
                    "no keys".to_owned()
                } else {
                    keys.join(", ")
                }
            ),
        });
    }
    Ok(outcome(&st))
}

/// What a member read to its end (or to a row too long to read) is.
fn outcome(st: &State<'_>) -> MemberOutcome {
    match (st.pages, st.objects) {
        (0, 0) => MemberOutcome::Quarantined {
            reason: "JSON with no conversation entries (no conversationEntries, no entry objects)"
                .into(),
        },
        (0, _) => MemberOutcome::Read {
            shape: SHAPE_LINES.into(),
            rows: st.rows,
        },
        _ => MemberOutcome::Read {
            shape: SHAPE_PAGE.into(),
            rows: st.rows,
        },
    }
}

/// Where the parser is: the newlines read so far (serde_json reads byte
/// by byte from an `io::Read`, so the count is the parser's position), and
/// the bytes read since the current row (an entry, or a top-level value)
/// started, until it ends. Reading fails once a row passes
/// [`super::MAX_ROW_BYTES`]: the parser holds a row whole as it reads it,
/// so that is what bounds its memory. Bytes between rows (whitespace,
/// commas) are no row's.
#[derive(Default)]
struct Position {
    lines: Cell<u64>,
    row_bytes: Cell<usize>,
    row_line: Cell<u64>,
    /// The current row's first bytes (at most `OVERSIZE_KEPT`).
    head: std::cell::RefCell<Vec<u8>>,
    /// A row is being read: its bytes count.
    in_row: Cell<bool>,
    /// The line of a row found too long.
    over: Cell<Option<u64>>,
}

impl Position {
    /// The line the parser is on.
    fn line(&self) -> u64 {
        self.lines.get() + 1
    }

    /// A row starts here: its bytes are counted from 0. Returns its line.
    fn start_row(&self) -> u64 {
        let line = self.line();
        self.row_bytes.set(0);
        self.row_line.set(line);
        self.head.borrow_mut().clear();
        self.in_row.set(true);
        line
    }

    /// The row has been read: what follows counts for no row until the
    /// next starts.
    fn end_row(&self) {
        self.in_row.set(false);
    }

    /// The line of the row found too long, if one was.
    fn oversize(&self) -> Option<u64> {
        self.over.get()
    }
}

/// Counts what is read through it into a [`Position`].
struct LineCounter<R> {
    inner: R,
    position: Rc<Position>,
}

impl<R: Read> Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let p = &self.position;
        let newlines = memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        p.lines.set(p.lines.get() + newlines);
        if !p.in_row.get() {
            return Ok(n);
        }
        let bytes = p.row_bytes.get() + n;
        p.row_bytes.set(bytes);
        let mut head = p.head.borrow_mut();
        let room = super::OVERSIZE_KEPT.saturating_sub(head.len());
        head.extend_from_slice(&buf[..n.min(room)]);
        if bytes > super::MAX_ROW_BYTES {
            p.over.set(Some(p.row_line.get()));
            return Err(std::io::Error::other("a row longer than a row may be"));
        }
        Ok(n)
    }
}

struct State<'s> {
    sink: &'s mut dyn RowSink,
    position: Rc<Position>,
    /// A conversation identifier in the file's name.
    file_conversation: Option<String>,
    /// The conversation a fetched page was asked for (its name).
    requested: Option<String>,
    rows: u64,
    pages: u64,
    /// Top-level entry objects (NDJSON lines).
    objects: u64,
    /// A failure of the sink, kept while serde unwinds.
    failed: Option<MemberError>,
    /// The first value is neither a page nor an entry: the keys it has.
    unrecognised: Option<Vec<String>>,
}

impl State<'_> {
    /// Turns `fields` into an entry (or a quarantined row).
    fn entry(
        &mut self,
        line: u64,
        position: Option<u64>,
        fields: &Fields,
        page_conversation: Option<&str>,
    ) {
        self.rows += 1;
        let at = position.map_or_else(String::new, |p| {
            format!("entry {p} of conversationEntries: ")
        });
        let named = page_conversation.or(self.file_conversation.as_deref());
        let outcome = match self
            .foreign(fields, named)
            .map_or_else(|| to_entry(fields, named), Err)
        {
            Ok(entry) => self.sink.entry(Some(line), entry),
            Err(why) => self.sink.quarantine_row(
                Some(line),
                format!("{at}{why}"),
                serde_json::to_string(fields).ok(),
            ),
        };
        if let Err(e) = outcome {
            self.failed.get_or_insert(MemberError::Sink(e));
        }
    }
}

impl State<'_> {
    /// Why an entry of a fetched page is not the conversation asked for,
    /// if it is not: named by the entry, else by `named` (the page).
    fn foreign(&self, fields: &Fields, named: Option<&str>) -> Option<String> {
        let requested = self.requested.as_deref()?;
        // As `to_entry` reads it: the entry's identifier, else the page's.
        let own = fields
            .iter()
            .find(|(k, _)| {
                matches!(
                    normalise_header(k).as_str(),
                    "conversationidentifier" | "conversationidentifer"
                )
            })
            .and_then(|(_, v)| text_of(v));
        let theirs = own.as_deref().or(named)?;
        (!theirs.eq_ignore_ascii_case(requested)).then(|| {
            format!(
                "the entry is of conversation {}, but the page was fetched for {requested} (its file name): kept here, not filed under either",
                crate::sanitize::for_terminal(theirs)
            )
        })
    }
}

/// The conversation a page `fetch` saved was asked for: its name is
/// `<uuid>-<n>.json` (`fetch::entries::page_name`), in any directory.
pub fn fetched_page(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = base.strip_suffix(".json")?;
    let (id, n) = stem.rsplit_once('-')?;
    (is_uuid(id) && n.len() >= 4 && n.bytes().all(|b| b.is_ascii_digit())).then(|| id.to_owned())
}

/// A field's text: a JSON string's contents, anything else as its JSON
/// text; `null` is absent.
fn text_of(raw: &RawValue) -> Option<String> {
    let t = raw.get().trim();
    if t == "null" {
        return None;
    }
    if t.starts_with('"') {
        return serde_json::from_str::<String>(t).ok();
    }
    Some(t.to_owned())
}

/// The entry `fields` describe, its conversation from the entry itself or
/// else `conversation`.
fn to_entry(fields: &Fields, conversation: Option<&str>) -> Result<Entry, String> {
    let mut pairs: Vec<(String, String)> = fields
        .iter()
        .filter_map(|(k, v)| text_of(v).map(|t| (k.clone(), t)))
        .collect();
    let has = |pairs: &[(String, String)], names: &[&str]| {
        pairs
            .iter()
            .any(|(k, _)| names.contains(&normalise_header(k).as_str()))
    };
    if !has(&pairs, &["conversationidentifier", "conversationidentifer"]) {
        match conversation {
            Some(c) => pairs.push(("conversationIdentifier".into(), c.to_owned())),
            None => {
                return Err(
                    "no conversation identifier: not in the entry, the page (conversationIdentifier) or the file name"
                        .into(),
                );
            }
        }
    }
    // Connect API entries are messages and carry no type.
    if !has(&pairs, &["entrytype", "entrypayload", "payload"]) && has(&pairs, &["messagetext"]) {
        pairs.push(("entryType".into(), "Message".into()));
    }
    // The time the entry was transcripted, when both are given.
    pairs.sort_by_key(|(k, _)| normalise_header(k) != "transcriptedtimestamp");
    let headers: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
    // An entry's keys are the transcript export's column names, camelCased.
    let profile = Profiles::builtin_named(TRANSCRIPT).map_err(|e| e.to_string())?;
    let mapping = profile.matches(&headers).ok_or_else(|| {
        format!(
            "not a conversation entry (needs identifier and entryType or entryPayload; has {})",
            headers.join(", ")
        )
    })?;
    let row: Vec<&str> = pairs.iter().map(|(_, v)| v.as_str()).collect();
    Entry::from_raw(&mapping.raw_entry(&row))
}

/// The first UUID in a file name.
fn uuid_in(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    (0..bytes.len().saturating_sub(35)).find_map(|i| {
        let s = name.get(i..i + 36)?;
        is_uuid(s).then(|| s.to_owned())
    })
}

/// Deserializes one entry's fields, noting the line it starts on (read
/// when the parser has reached its first byte). `None` for a `null`
/// element: where a removal took an entry out of an array
/// (`retention::derive::json_without`); it keeps its position.
struct Located<'a> {
    position: &'a Position,
}

impl<'de> DeserializeSeed<'de> for Located<'_> {
    type Value = (u64, Option<Fields>);
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        d: D,
    ) -> Result<(u64, Option<Fields>), D::Error> {
        let line = self.position.start_row();
        let fields = serde::Deserialize::deserialize(d)?;
        self.position.end_row();
        Ok((line, fields))
    }
}

fn sink_error<E: de::Error>() -> E {
    E::custom("stopped: storing an entry failed")
}

/// One top-level JSON value.
struct Top<'a, 's> {
    st: &'a mut State<'s>,
    line: u64,
}

impl<'de> DeserializeSeed<'de> for Top<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a page of conversation entries, an array of entries, or an entry")
    }

    /// An array of entries.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.st.pages += 1;
        let mut position = 0;
        let at = self.st.position.clone();
        while let Some((line, fields)) = seq.next_element_seed(Located { position: &at })? {
            position += 1;
            let Some(fields) = fields else { continue };
            self.st.entry(line, Some(position), &fields, None);
            if self.st.failed.is_some() {
                return Err(sink_error());
            }
        }
        Ok(())
    }

    /// A page (it has `conversationEntries`) or one entry (it has not).
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut fields = Fields::new();
        let mut entries = None::<Spool>;
        while let Some(key) = map.next_key::<String>()? {
            if normalise_header(&key) == "conversationentries" {
                let conversation = page_conversation(&fields);
                let spool = map.next_value_seed(Entries {
                    st: &mut *self.st,
                    conversation,
                })?;
                entries = Some(spool);
                // The page's other fields are counted afresh (each entry
                // was counted alone).
                self.st.position.start_row();
            } else {
                let value: Box<RawValue> = map.next_value()?;
                fields.insert(key, value);
            }
        }
        match entries {
            Some(mut spool) => {
                self.st.pages += 1;
                // Entries read before the page named its conversation.
                let conversation = page_conversation(&fields);
                spool
                    .replay(self.st, conversation.as_deref())
                    .map_err(|_| sink_error::<A::Error>())?;
            }
            None if self.st.rows == 0
                && !fields.keys().any(|k| normalise_header(k) == "identifier") =>
            {
                // Like a CSV header, the first value decides what the member is.
                self.st.unrecognised = Some(fields.keys().take(12).cloned().collect());
            }
            None => {
                self.st.objects += 1;
                self.st.entry(self.line, None, &fields, None);
            }
        }
        if self.st.failed.is_some() {
            return Err(sink_error());
        }
        Ok(())
    }
}

/// A page's conversation identifier, from its own fields.
fn page_conversation(fields: &Fields) -> Option<String> {
    fields
        .iter()
        .find(|(k, _)| {
            matches!(
                normalise_header(k).as_str(),
                "conversationidentifier" | "conversationidentifer" | "conversationid"
            )
        })
        .and_then(|(_, v)| text_of(v))
}

/// A page's `conversationEntries`, streamed.
struct Entries<'a, 's> {
    st: &'a mut State<'s>,
    /// The page's conversation, if named before the entries.
    conversation: Option<String>,
}

impl<'de> DeserializeSeed<'de> for Entries<'_, '_> {
    type Value = Spool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Spool, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_, '_> {
    type Value = Spool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of conversation entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Spool, A::Error> {
        let mut spool = Spool::default();
        let mut position = 0;
        let at = self.st.position.clone();
        while let Some((line, fields)) = seq.next_element_seed(Located { position: &at })? {
            position += 1;
            let Some(fields) = fields else { continue };
            let known = self.conversation.is_some()
                || self.st.file_conversation.is_some()
                || fields.keys().any(|k| {
                    matches!(
                        normalise_header(k).as_str(),
                        "conversationidentifier" | "conversationidentifer"
                    )
                });
            if known {
                self.st
                    .entry(line, Some(position), &fields, self.conversation.as_deref());
                if self.st.failed.is_some() {
                    return Err(sink_error());
                }
            } else if let Err(e) = spool.push(line, position, &fields) {
                self.st.failed = Some(MemberError::Sink(e));
                return Err(sink_error());
            }
        }
        Ok(spool)
    }
}

/// Entries waiting for their page's conversation identifier, in a
/// temporary file.
#[derive(Default)]
struct Spool {
    file: Option<std::fs::File>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Spooled {
    line: u64,
    position: u64,
    fields: Fields,
}

impl Spool {
    fn push(&mut self, line: u64, position: u64, fields: &Fields) -> Result<()> {
        let tmp = std::env::temp_dir();
        let file = match &mut self.file {
            Some(f) => f,
            None => self
                .file
                .insert(tempfile::tempfile().map_err(|e| Error::io(&tmp, e))?),
        };
        let item = Spooled {
            line,
            position,
            fields: fields.clone(),
        };
        serde_json::to_writer(&mut *file, &item).map_err(|e| Error::io(&tmp, e.into()))?;
        file.write_all(b" ").map_err(|e| Error::io(&tmp, e))
    }

    fn replay(&mut self, st: &mut State<'_>, conversation: Option<&str>) -> Result<(), ()> {
        let Some(mut file) = self.file.take() else {
            return Ok(());
        };
        let tmp = std::env::temp_dir();
        let fail = |st: &mut State<'_>, e: Error| {
            st.failed.get_or_insert(MemberError::Sink(e));
        };
        if let Err(e) = file.seek(SeekFrom::Start(0)) {
            fail(st, Error::io(&tmp, e));
            return Err(());
        }
        // Raw values may span lines: read the file as a stream of values.
        for item in
            serde_json::Deserializer::from_reader(BufReader::new(file)).into_iter::<Spooled>()
        {
            let item = item.map_err(|e| Error::io(&tmp, e.into()));
            match item {
                Ok(s) => st.entry(s.line, Some(s.position), &s.fields, conversation),
                Err(e) => fail(st, e),
            }
            if st.failed.is_some() {
                return Err(());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::Collect;

    fn run(json: &str, name: &str) -> (MemberOutcome, Collect) {
        let mut c = Collect::default();
        let outcome = read(json.as_bytes(), name, &mut c).unwrap();
        (outcome, c)
    }

    const CONV: &str = "4f6a9c1e-2b7d-4e8a-9f3c-1d2e3f4a5b6c";

    #[test]
    fn a_fetched_page_holds_only_the_conversation_it_was_asked_for() {
        assert_eq!(
            fetched_page(&format!("run/{CONV}-0001.json")),
            Some(CONV.into())
        );
        assert_eq!(fetched_page(&format!("{CONV}-12.json")), None);
        assert_eq!(fetched_page(&format!("export-{CONV}.json")), None);
        const OTHER: &str = "0b0d3c1e-8a47-4f2e-9c61-2d7e4a9b0f14";
        let entry = |id: &str, conv: Option<&str>| {
            let conv = conv
                .map(|c| format!(r#""conversationIdentifier":"{c}","#))
                .unwrap_or_default();
            format!(r#"{{"identifier":"{id}",{conv}"entryType":"Message","messageText":"hi"}}"#)
        };
        // The page names another conversation: all its entries are held.
        let json = format!(
            r#"{{"conversationIdentifier":"{OTHER}","conversationEntries":[{},{}]}}"#,
            entry("e1", None),
            entry("e2", Some(&CONV.to_uppercase()))
        );
        let (_, c) = run(&json, &format!("{CONV}-0001.json"));
        // e2 names the one asked for (in capitals): kept.
        assert_eq!(c.entries.len(), 1, "{:?}", c.quarantined);
        assert_eq!(c.quarantined.len(), 1);
        assert!(
            c.quarantined[0].1.contains(&format!(
                "the entry is of conversation {OTHER}, but the page was fetched for {CONV}"
            )),
            "{:?}",
            c.quarantined
        );
        // Under another name the same page is read as it says.
        let (_, c) = run(&json, "saved.json");
        assert_eq!((c.entries.len(), c.quarantined.len()), (2, 0));
    }

    #[test]
    fn a_data_api_page_with_object_and_text_payloads() {
        let json = format!(
            r#"{{"conversationIdentifier": "{CONV}", "conversationEntries": [
  {{"identifier": "e1", "entryType": "Message", "clientTimestamp": 1736508081161,
    "transcriptedTimestamp": 1736508081300, "serverReceivedTimestamp": 1736508081203,
    "sender": {{"role": "EndUser", "appType": "iamessage", "subject": "u1"}},
    "relatedRecords": ["0MwKj000007sdiM"],
    "entryPayload": {{"entryType": "Message", "abstractMessage": {{"messageType": "StaticContentMessage",
       "staticContent": {{"formatType": "Text", "text": "Hi there"}}}}}}}},
  {{"identifier": "e2", "entryType": "ParticipantChanged", "clientTimestamp": 1736508082000,
    "entryPayload": "{{\"entryType\":\"ParticipantChanged\",\"entries\":[]}}"}}
], "nextPageToken": null}}"#
        );
        let (outcome, c) = run(&json, "page-1.json");
        assert_eq!(
            outcome,
            MemberOutcome::Read {
                shape: SHAPE_PAGE.into(),
                rows: 2
            }
        );
        assert!(c.quarantined.is_empty(), "{:?}", c.quarantined);
        let (line, e) = &c.entries[0];
        assert_eq!(*line, Some(2));
        assert_eq!(e.conversation, CONV);
        assert_eq!(e.entry_type, "MESSAGE");
        assert_eq!(e.server_ms, Some(1736508081300), "transcripted time wins");
        assert_eq!(e.text.as_deref(), Some("Hi there"));
        assert!(
            e.payload
                .as_deref()
                .unwrap()
                .starts_with("{\"entryType\": \"Message\"")
        );
        assert_eq!(c.entries[1].1.entry_type, "PARTICIPANT_CHANGED");
        assert_eq!(
            c.entries[1].1.payload.as_deref(),
            Some("{\"entryType\":\"ParticipantChanged\",\"entries\":[]}")
        );
    }

    #[test]
    fn connect_entries_take_the_conversation_from_the_file_name_and_are_messages() {
        let json = r#"{"conversationEntries": [{"clientDuration": 0, "clientTimestamp": 1736508081161,
            "identifier": "414e8b7b-0000-4000-8000-000000000001", "messageText": "It&#39;s the card ending 4321",
            "relatedRecords": ["0MwKj000007sdiM"],
            "sender": {"appType": "iamessage", "role": "EndUser", "subject": "v2/x"},
            "serverReceivedTimestamp": 1736508081203}]}"#;
        let (outcome, c) = run(json, &format!("connect/{CONV}.json"));
        assert_eq!(
            outcome,
            MemberOutcome::Read {
                shape: SHAPE_PAGE.into(),
                rows: 1
            }
        );
        let e = &c.entries[0].1;
        assert_eq!(e.conversation, CONV);
        assert_eq!(e.entry_type, "MESSAGE");
        assert_eq!(
            e.message_text.as_deref(),
            Some("It&#39;s the card ending 4321")
        );
        assert_eq!(e.text.as_deref(), Some("It's the card ending 4321"));
    }

    #[test]
    fn a_conversation_named_after_the_entries_is_waited_for() {
        let json = format!(
            r#"{{"conversationEntries": [{{"identifier": "e1", "entryType": "Message", "entryPayload": {{}}}}],
               "conversationIdentifier": "{CONV}"}}"#
        );
        let (_, c) = run(&json, "page.json");
        assert_eq!(c.entries.len(), 1, "{:?}", c.quarantined);
        assert_eq!(c.entries[0].1.conversation, CONV);
        // Never named at all: quarantined with why.
        let (_, c) = run(
            r#"{"conversationEntries": [{"identifier": "e1", "entryType": "Message"}]}"#,
            "page.json",
        );
        assert!(c.entries.is_empty());
        assert!(
            c.quarantined[0]
                .1
                .contains("entry 1 of conversationEntries: no conversation identifier"),
            "{:?}",
            c.quarantined
        );
    }

    /// An entry longer than a row may be stops the reading there, with
    /// its line and a reason, whether it is a line of NDJSON or an element
    /// of a page; a member whose first value is too long is quarantined.
    #[test]
    fn an_entry_too_long_to_read_is_quarantined_with_its_line() {
        let long = "x".repeat(crate::source::MAX_ROW_BYTES);
        let entry = |id: &str, text: &str| {
            format!(
                "{{\"identifier\":\"{id}\",\"conversationIdentifier\":\"{CONV}\",\"entryType\":\"Message\",\"messageText\":\"{text}\"}}"
            )
        };
        let lines = format!(
            "{}\n{}\n{}\n",
            entry("e1", "hi"),
            entry("e2", &long),
            entry("e3", "bye")
        );
        let (outcome, c) = run(&lines, "entries.ndjson");
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.quarantined.len(), 1);
        assert_eq!(c.quarantined[0].0, Some(2));
        assert!(
            c.quarantined[0].1.contains("larger than the 2 MiB")
                && c.quarantined[0].1.contains("the rest of the member"),
            "{}",
            c.quarantined[0].1
        );
        assert!(matches!(outcome, MemberOutcome::Read { rows: 2, .. }));
        let page = format!(
            "{{\"conversationIdentifier\":\"{CONV}\",\"conversationEntries\":[\n{},\n{}]}}",
            entry("e1", "hi"),
            entry("e2", &long)
        );
        let (_, c) = run(&page, "page.json");
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.quarantined[0].0, Some(3));
        // What a removal leaves where it blanked such an entry (spaces;
        // `null` and spaces in an array) is no row's: the rest is read.
        let spaces = " ".repeat(crate::source::MAX_ROW_BYTES + 10);
        for (blanked, name) in [
            (
                format!("{}\n{spaces}\n{}\n", entry("e1", "hi"), entry("e3", "bye")),
                "blanked.ndjson",
            ),
            (
                format!(
                    "[{},null{spaces},{}]",
                    entry("e1", "hi"),
                    entry("e3", "bye")
                ),
                "blanked.json",
            ),
        ] {
            let (_, c) = run(&blanked, name);
            assert_eq!(c.entries.len(), 2, "{name}");
            assert!(c.quarantined.is_empty(), "{name}: {:?}", c.quarantined);
        }
        let (outcome, c) = run(&entry("e2", &long), "one.json");
        assert!(c.entries.is_empty() && c.quarantined.is_empty());
        match outcome {
            MemberOutcome::Quarantined { reason } => {
                assert!(
                    reason.starts_with("its first value, on line 1: row larger"),
                    "{reason}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ndjson_lines_arrays_and_broken_json() {
        let lines = format!(
            "{{\"identifier\":\"e1\",\"conversationIdentifier\":\"{CONV}\",\"entryType\":\"Message\"}}\n\n{{\"identifier\":\"e2\",\"conversationIdentifier\":\"{CONV}\",\"entryType\":\"NOTE\"}}\n{{\"nothing\":1}}\n"
        );
        let (outcome, c) = run(&lines, "entries.ndjson");
        assert_eq!(
            outcome,
            MemberOutcome::Read {
                shape: SHAPE_LINES.into(),
                rows: 3
            }
        );
        assert_eq!(
            c.entries.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
            [Some(1), Some(3)]
        );
        assert_eq!(c.quarantined[0].0, Some(4));
        let array = format!(
            "[{{\"identifier\":\"e1\",\"conversationIdentifier\":\"{CONV}\",\"entryType\":\"Message\"}}]"
        );
        assert_eq!(run(&array, "a.json").1.entries.len(), 1);
        let broken = format!(
            "{{\"identifier\":\"e1\",\"conversationIdentifier\":\"{CONV}\",\"entryType\":\"Message\"}}\n{{\"identifier\": \n"
        );
        let (outcome, c) = run(&broken, "b.jsonl");
        assert_eq!(c.entries.len(), 1);
        assert!(
            c.quarantined[0].1.starts_with("invalid JSON"),
            "{:?}",
            c.quarantined
        );
        assert!(matches!(outcome, MemberOutcome::Read { rows: 2, .. }));
        let (outcome, _) = run("{\"a\": [1, 2]}", "x.json");
        assert!(
            matches!(outcome, MemberOutcome::Quarantined { .. }),
            "{outcome:?}"
        );
    }

    #[test]
    fn uuids_in_file_names() {
        assert_eq!(uuid_in(&format!("x/{CONV}.json")).as_deref(), Some(CONV));
        assert_eq!(uuid_in("page-1.json"), None);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let mut c = Collect::default();
            let _ = read(&bytes[..], "x.json", &mut c);
        }
    }
}
