//! CSV members, read through profiles (`crate::profile`): the header row
//! picks the profile, which says whether the rows are entries (shape 1, the
//! weekly Conversation Transcript Export; Data Cloud's Conversation Entry
//! DMO) or records (the Data Export Service's objects, Data Cloud's
//! Conversation and Messaging Session DMOs). Columns a profile does not map
//! stay in the archived original file.
//!
//! Every data row becomes an entry, a record or a quarantined row with its
//! line number and reason; the reader never stops early on a bad row.

use std::io::Read;
use std::sync::Arc;

use csv::ByteRecord;
use sha2::{Digest, Sha256};

use super::csv_split::{RowParser, Splitter};
use super::records::ObjectRecord;
use super::{MemberError, MemberOutcome, RowSink};
use crate::entry::{Entry, RowHash};
use crate::profile::{Mapping, Profiles, Reads};

/// The shape name of the weekly transcript export's rows.
pub const SHAPE: &str = "transcript-csv";

/// Rows a [`Handoff`] is given at a time (at most).
pub const HANDOFF_ROWS: usize = 512;
/// Bytes of rows a [`Handoff`] is given at a time (about; a longer row
/// goes whole).
const HANDOFF_BYTES: usize = 1 << 20;

/// The domain tag of a row hash ([`CsvMember::row_hash`]). Change it
/// whenever the way a row becomes an [`Entry`] changes: old row hashes
/// then match nothing, and rows are parsed again.
pub const ROW_HASH_DOMAIN: &[u8] = b"convault-csv-row-v2";

/// A recognised CSV member: its header row and the profile mapping it
/// chose. Its rows are processed against it ([`CsvMember::process`]),
/// where they were read or, through a [`Handoff`], on another thread.
#[derive(Debug)]
pub struct CsvMember<'p> {
    mapping: Mapping<'p>,
    headers: Vec<String>,
    /// Fields to parse to know a row's conversation.
    conversation_fields: usize,
    /// SHA-256 having taken the domain and the member's mapping: each
    /// row's hash continues a copy of it.
    row_hasher: Sha256,
}

/// Data rows as split from the member, not yet parsed: their raw bytes,
/// one after the other, and where each is.
#[derive(Debug, Default)]
pub struct RawRows {
    pub bytes: Vec<u8>,
    pub rows: Vec<RawRow>,
}

/// Where one row of [`RawRows`] is: its bytes and the line it starts on.
#[derive(Debug, Clone, Copy)]
pub struct RawRow {
    pub start: usize,
    pub end: usize,
    pub line: Option<u64>,
    /// The row's full length, when it is longer than
    /// [`super::MAX_ROW_BYTES`]: its bytes are then only its first ones.
    pub oversize: Option<u64>,
}

impl RawRows {
    /// Each row's bytes, line and (when too long) full length, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], Option<u64>, Option<u64>)> {
        self.rows
            .iter()
            .map(|r| (&self.bytes[r.start..r.end], r.line, r.oversize))
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Empties it, keeping its buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.rows.clear();
    }
}

/// Takes a recognised member's rows, in batches of at most
/// [`HANDOFF_ROWS`] and in order, to have them processed elsewhere: the
/// reader then only inflates, hashes and splits, and the parsing runs on
/// other cores. Whoever takes them must keep their results in the order
/// given. It returns an empty batch to fill next (one given back, if it
/// can: allocating every batch anew costs memory).
pub trait Handoff<'p> {
    fn rows(&mut self, member: &Arc<CsvMember<'p>>, rows: RawRows) -> Result<RawRows, MemberError>;
}

/// Reads a CSV member named `name`: its header picks the profile among
/// `profiles`; with none, the member is quarantined naming its columns.
/// Its rows go to `sink`, or with a `handoff`, to it.
pub fn read<'p>(
    reader: impl Read,
    name: &str,
    profiles: &'p Profiles,
    sink: &mut dyn RowSink,
    mut handoff: Option<&mut dyn Handoff<'p>>,
) -> Result<MemberOutcome, MemberError> {
    let mut splitter = Splitter::new(reader);
    let mut parser = RowParser::default();
    let mut batch = RawRows::default();
    if splitter
        .next_into(&mut batch.bytes)
        .map_err(MemberError::Read)?
        .is_none()
    {
        return Ok(MemberOutcome::Quarantined {
            reason: "empty member".into(),
        });
    }
    if let Some(bytes) = splitter.oversize() {
        return Ok(MemberOutcome::Quarantined {
            reason: format!(
                "its first row (the header) has {bytes} bytes, more than a row may take to be read ({} MiB)",
                super::MAX_ROW_BYTES >> 20
            ),
        });
    }
    let headers: Vec<String> = parser
        .record(&batch.bytes)
        .iter()
        .map(|h| String::from_utf8_lossy(h).into_owned())
        .collect();
    batch.bytes.clear();
    let Some(mapping) = profiles.recognise(&headers, name) else {
        return Ok(MemberOutcome::Quarantined {
            reason: unrecognised_reason(&headers, profiles),
        });
    };
    let shape = mapping.profile.name.clone();
    let member = Arc::new(CsvMember::new(mapping, headers));
    let mut rows = 0u64;
    loop {
        let start = batch.bytes.len();
        let Some(line) = splitter
            .next_into(&mut batch.bytes)
            .map_err(MemberError::Read)?
        else {
            break;
        };
        rows += 1;
        let oversize = splitter.oversize();
        if oversize.is_some() {
            // Only what the quarantine record keeps is needed.
            batch
                .bytes
                .truncate(start + super::OVERSIZE_KEPT.min(batch.bytes.len() - start));
        }
        match handoff.as_deref_mut() {
            None => {
                let bytes = &batch.bytes[start..];
                member.process(bytes, Some(line), oversize, &mut parser, sink)?;
                batch.bytes.clear();
            }
            Some(handoff) => {
                batch.rows.push(RawRow {
                    start,
                    end: batch.bytes.len(),
                    line: Some(line),
                    oversize,
                });
                if batch.rows.len() >= HANDOFF_ROWS || batch.bytes.len() >= HANDOFF_BYTES {
                    let full = std::mem::take(&mut batch);
                    batch = handoff.rows(&member, full)?;
                }
            }
        }
    }
    if let Some(handoff) = handoff
        && !batch.is_empty()
    {
        handoff.rows(&member, batch)?;
    }
    Ok(MemberOutcome::Read { shape, rows })
}

impl<'p> CsvMember<'p> {
    fn new(mapping: Mapping<'p>, headers: Vec<String>) -> Self {
        // Everything that decides how a row's bytes become an entry: the
        // profile, the columns it mapped, the header itself.
        let mut row_hasher = Sha256::new();
        row_hasher.update(ROW_HASH_DOMAIN);
        let mapped = format!("{mapping:?}");
        for part in std::iter::once(mapped.as_str()).chain(headers.iter().map(String::as_str)) {
            row_hasher.update((part.len() as u64).to_le_bytes());
            row_hasher.update(part.as_bytes());
        }
        CsvMember {
            conversation_fields: mapping.conversation_fields(),
            mapping,
            headers,
            row_hasher,
        }
    }

    /// A row's hash: SHA-256 (its first 16 bytes) over the domain, the
    /// member's mapping and header, and the row's raw bytes as they are in
    /// the file. The same bytes under the same header and profile give the
    /// same entry, so a row the archive holds is recognised without being
    /// parsed (`ingest::known`).
    pub fn row_hash(&self, bytes: &[u8]) -> RowHash {
        let mut h = self.row_hasher.clone();
        h.update(bytes);
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        out
    }

    /// Turns one data row (its raw bytes, read from `line`) into an
    /// entry, a record or a quarantined row, and gives it to `sink`. An
    /// entry row is first offered to the sink by its hash and
    /// conversation ([`RowSink::known_row`]): if the sink knows it, it is
    /// not parsed. A row too long to read (`oversize`: its full length;
    /// `bytes` are its first ones) is quarantined.
    pub fn process(
        &self,
        bytes: &[u8],
        line: Option<u64>,
        oversize: Option<u64>,
        parser: &mut RowParser,
        sink: &mut dyn RowSink,
    ) -> Result<(), MemberError> {
        if let Some(full) = oversize {
            sink.quarantine_row(
                line,
                super::oversize_reason(Some(full)),
                Some(super::oversize_kept(bytes)),
            )?;
            return Ok(());
        }
        if let Reads::Entries = self.mapping.profile.reads {
            let hash = self.row_hash(bytes);
            let conversation = parser
                .first_fields(bytes, self.conversation_fields)
                .and_then(|fields| self.mapping.direct_conversation(&fields));
            if sink.known_row(conversation, hash)? {
                return Ok(());
            }
        }
        let record = parser.record(bytes);
        self.process_fields(record, line, sink)
    }

    /// The rest of [`CsvMember::process`], on the row's fields.
    fn process_fields(
        &self,
        record: &ByteRecord,
        line: Option<u64>,
        sink: &mut dyn RowSink,
    ) -> Result<(), MemberError> {
        let (mapping, headers) = (&self.mapping, &self.headers);
        let width = mapping.width;
        if record.len() != width {
            sink.quarantine_row(
                line,
                format!("row has {} fields, the header has {}", record.len(), width),
                Some(raw_fields(record)),
            )?;
            return Ok(());
        }
        let mut fields: Vec<&str> = Vec::with_capacity(width);
        let mut bad_utf8 = None;
        for (i, f) in record.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(s) => fields.push(s),
                Err(_) => {
                    bad_utf8 = Some(i);
                    break;
                }
            }
        }
        if let Some(i) = bad_utf8 {
            let column = headers.get(i).map(String::as_str).unwrap_or("?");
            sink.quarantine_row(
                line,
                format!("column {column:?} is not valid UTF-8"),
                Some(raw_fields(record)),
            )?;
            return Ok(());
        }
        let read = match mapping.profile.reads {
            Reads::Entries => {
                Entry::from_raw(&mapping.raw_entry(&fields)).map(|e| sink.entry(line, e))
            }
            Reads::Records => {
                ObjectRecord::from_row(mapping, headers, &fields).map(|r| sink.record(line, r))
            }
        };
        match read {
            Ok(stored) => stored?,
            Err(reason) => sink.quarantine_row(line, reason, Some(raw_fields(record)))?,
        }
        Ok(())
    }
}

/// The fields of a row as a JSON array of strings (invalid UTF-8 replaced).
fn raw_fields(record: &ByteRecord) -> String {
    let fields: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    serde_json::to_string(&fields).unwrap_or_default()
}

fn unrecognised_reason(headers: &[String], profiles: &Profiles) -> String {
    const SHOWN: usize = 12;
    let mut cols: Vec<String> = headers
        .iter()
        .take(SHOWN)
        .map(|h| format!("{h:?}"))
        .collect();
    if headers.len() > SHOWN {
        cols.push(format!("and {} more", headers.len() - SHOWN));
    }
    let names: Vec<&str> = profiles.all().map(|p| p.name.as_str()).collect();
    format!(
        "not a recognised export file: its first row has the required columns of no profile ({}); it has {}. A profile given with --profile can map these columns (docs/profiles.md)",
        names.join(", "),
        cols.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::testing::Collect;

    fn builtin() -> Profiles {
        Profiles::builtin().unwrap()
    }

    fn transcript(headers: &[String]) -> bool {
        builtin()
            .recognise(headers, "entries.csv")
            .is_some_and(|m| m.profile.name == SHAPE)
    }

    fn run(csv: &str) -> (MemberOutcome, Collect) {
        let mut sink = Collect::default();
        let outcome = match read(csv.as_bytes(), "entries.csv", &builtin(), &mut sink, None) {
            Ok(o) => o,
            Err(e) => panic!("{e:?}"),
        };
        (outcome, sink)
    }

    #[test]
    fn header_spellings_are_one_column() {
        for h in [
            "conversation_identifier",
            "conversationIdentifier",
            "conversation_identifer",
            "CONVERSATION IDENTIFIER",
            "\u{feff}conversation_identifier",
        ] {
            let headers = vec![
                "identifier".to_owned(),
                h.to_owned(),
                "entry_type".to_owned(),
            ];
            assert!(transcript(&headers), "{h}");
        }
        assert!(!transcript(&["identifier".into(), "entry_type".into()]));
    }

    #[test]
    fn crlf_bom_and_multiline_fields() {
        let csv = "\u{feff}identifier,conversationIdentifier,entryType,entryPayload\r\n\
                   e1,c1,NOTE,\"{\r\n  \"\"text\"\": \"\"line one\\nline two\"\"\r\n}\"\r\n\
                   e2,c1,Message,\r\n";
        let (outcome, sink) = run(csv);
        assert_eq!(
            outcome,
            MemberOutcome::Read {
                shape: SHAPE.into(),
                rows: 2
            }
        );
        assert_eq!(sink.entries.len(), 2);
        assert_eq!(sink.entries[0].0, Some(2));
        assert_eq!(
            sink.entries[1].0,
            Some(5),
            "line counts the embedded newlines"
        );
        assert_eq!(
            sink.entries[0].1.text.as_deref(),
            Some("Note: line one\nline two")
        );
    }

    #[test]
    fn bad_rows_are_quarantined_with_line_numbers() {
        let csv = "identifier,conversation_identifier,entry_type,entry_payload\n\
                   e1,c1,Message,{oops\n\
                   e2,c1\n\
                   ,c1,Message,\n\
                   e4,c1,Message,\n";
        let (_, sink) = run(csv);
        assert_eq!(sink.entries.len(), 1);
        let lines: Vec<_> = sink.quarantined.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![Some(2), Some(3), Some(4)]);
        assert!(
            sink.quarantined[0]
                .1
                .contains("entry_payload is not valid JSON")
        );
        assert!(sink.quarantined[1].1.contains("2 fields, the header has 4"));
        assert!(sink.quarantined[2].1.contains("identifier is empty"));
    }

    /// Keeps the batches handed to it.
    #[derive(Default)]
    struct Batches<'p>(Vec<(Arc<CsvMember<'p>>, RawRows)>);

    impl<'p> Handoff<'p> for Batches<'p> {
        fn rows(
            &mut self,
            member: &Arc<CsvMember<'p>>,
            rows: RawRows,
        ) -> Result<RawRows, MemberError> {
            self.0.push((Arc::clone(member), rows));
            Ok(RawRows::default())
        }
    }

    /// Each entry's line, identifier and content hash; each quarantined
    /// row's line and reason.
    type Summary = (
        Vec<(Option<u64>, String, String)>,
        Vec<(Option<u64>, String)>,
    );

    fn summary(sink: &Collect) -> Summary {
        let entries = sink
            .entries
            .iter()
            .map(|(l, e)| (*l, e.identifier.clone(), e.content_hash.clone()))
            .collect();
        (entries, sink.quarantined.clone())
    }

    /// Rows handed off in batches and processed elsewhere come out exactly
    /// as rows processed where they were read: same entries, same
    /// quarantined rows, same lines, same order.
    #[test]
    fn handed_off_rows_equal_rows_read_in_place() {
        let mut csv = String::from("identifier,conversation_identifier,entry_type,entry_payload\n");
        for i in 0..1300 {
            match i % 100 {
                _ if i == 500 => csv.push_str(&format!(
                    "e{i},c{},Message,\"{}\"\n",
                    i / 24,
                    "x".repeat(crate::source::MAX_ROW_BYTES)
                )),
                7 => csv.push_str(&format!("e{i},c{}\n", i / 24)),
                9 => csv.push_str(&format!("e{i},c{},Message,{{oops\n", i / 24)),
                _ => csv.push_str(&format!(
                    "e{i},c{},Message,\"{{\"\"text\"\": \"\"line {i}\"\",\n\"\"x\"\": 1}}\"\n",
                    i / 24
                )),
            }
        }
        let profiles = builtin();
        let (direct_outcome, direct) = run(&csv);
        let mut batches = Batches::default();
        let mut unused = Collect::default();
        let outcome = read(
            csv.as_bytes(),
            "entries.csv",
            &profiles,
            &mut unused,
            Some(&mut batches),
        )
        .unwrap();
        assert_eq!(outcome, direct_outcome);
        assert!(unused.entries.is_empty() && unused.quarantined.is_empty());
        let sizes: Vec<usize> = batches.0.iter().map(|(_, rows)| rows.len()).collect();
        assert_eq!(
            sizes,
            vec![HANDOFF_ROWS, HANDOFF_ROWS, 1300 - 2 * HANDOFF_ROWS]
        );
        let mut later = Collect::default();
        let mut parser = RowParser::default();
        for (member, rows) in &batches.0 {
            for (bytes, line, oversize) in rows.iter() {
                member
                    .process(bytes, line, oversize, &mut parser, &mut later)
                    .unwrap();
            }
        }
        assert_eq!(summary(&later), summary(&direct));
        assert_eq!(
            direct.quarantined.len(),
            27,
            "{:?}",
            &direct.quarantined[..3]
        );
        assert_eq!(direct.entries.len(), 1300 - 27);
        // Row 500's line: after the header, 500 rows, and the line end
        // inside the quotes of each row before it but rows 7 and 9 mod 100.
        let long = direct
            .quarantined
            .iter()
            .find(|(_, reason)| reason.contains("larger than the 2 MiB"))
            .expect("the long row is quarantined");
        let before = (0..500).filter(|i| !matches!(i % 100, 7 | 9)).count() as u64;
        assert_eq!(long.0, Some(2 + 500 + before), "{:?}", long.1);
        let length = "e500,c20,Message,\"\"".len() + crate::source::MAX_ROW_BYTES;
        assert!(
            long.1.starts_with(&format!("row of {length} bytes")),
            "{}",
            long.1
        );
    }

    #[test]
    fn unknown_header_is_quarantined_naming_columns() {
        let (outcome, _) = run("a,b\n1,2\n");
        match outcome {
            MemberOutcome::Quarantined { reason } => {
                assert!(reason.contains("\"a\", \"b\""), "{reason}")
            }
            other => panic!("{other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut input = b"identifier,conversation_identifier,entry_type,entry_payload,client_timestamp,sender,related_records\n".to_vec();
            input.extend(bytes);
            let mut sink = Collect::default();
            let _ = read(&input[..], "entries.csv", &builtin(), &mut sink, None);
        }

        /// Whatever the text (quotes, commas, newlines, any script) and
        /// however the file is written (BOM, CRLF, header spelling), every
        /// row comes back as the entry written, at the line it starts on.
        #[test]
        fn rows_round_trip_with_their_line_numbers(
            texts in proptest::collection::vec("[\\PC\r\n\",]{0,40}", 1..8),
            crlf in proptest::bool::ANY,
            bom in proptest::bool::ANY,
            camel in proptest::bool::ANY,
        ) {
            let bom_bytes: &[u8] = if bom { b"\xef\xbb\xbf" } else { b"" };
            let mut w = csv::WriterBuilder::new()
                .terminator(if crlf { csv::Terminator::CRLF } else { csv::Terminator::Any(b'\n') })
                .from_writer(bom_bytes.to_vec());
            let header = if camel {
                ["identifier", "conversationIdentifier", "entryType", "entryPayload", "clientTimestamp"]
            } else {
                ["identifier", "conversation_identifer", "entry_type", "entry_payload", "client_timestamp"]
            };
            w.write_record(header).unwrap();
            // The line each record starts on: 1 + the newlines before it.
            let mut starts = Vec::new();
            for (i, t) in texts.iter().enumerate() {
                w.flush().unwrap();
                starts.push(1 + w.get_ref().iter().filter(|b| **b == b'\n').count() as u64);
                let payload = serde_json::json!({"abstractMessage": {"messageType": "StaticContentMessage",
                    "staticContent": {"formatType": "Text", "text": t}}}).to_string();
                w.write_record([format!("e{i}"), "c1".into(), "MESSAGE".into(), payload, (1_794_215_700_000i64 + i as i64).to_string()]).unwrap();
            }
            let out = w.into_inner().unwrap();
            let mut sink = Collect::default();
            let outcome = read(&out[..], "entries.csv", &builtin(), &mut sink, None).unwrap();
            proptest::prop_assert_eq!(outcome, MemberOutcome::Read { shape: SHAPE.into(), rows: texts.len() as u64 });
            proptest::prop_assert!(sink.quarantined.is_empty(), "{:?}", sink.quarantined);
            proptest::prop_assert_eq!(sink.entries.len(), texts.len());
            for (i, (line, e)) in sink.entries.iter().enumerate() {
                proptest::prop_assert_eq!(&e.identifier, &format!("e{i}"));
                proptest::prop_assert_eq!(*line, Some(starts[i]));
                proptest::prop_assert_eq!(e.client_ms, Some(1_794_215_700_000 + i as i64));
                let expected = texts[i].trim();
                proptest::prop_assert_eq!(e.text.as_deref().unwrap_or(""), expected);
            }
        }
    }
}
