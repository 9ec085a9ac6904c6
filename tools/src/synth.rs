//! Large synthetic Conversation Transcript Exports for benchmarks and for
//! tests that need more than the bundled fixtures (an interrupted ingest).
//!
//! Deterministic: the same `entries` and `seed` always give the same bytes.
//! Streaming: rows are written straight into the zip (and the optional
//! plain CSV), so memory stays flat for any size.
//!
//! Each conversation has 24 entries: a routing result, a participant
//! change, then messages alternating between the customer and an agent
//! (text drawn from a fixed vocabulary, with order numbers so that rare
//! words exist), and a closing status change.

#![allow(dead_code)]

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Entries per conversation.
pub const PER_CONVERSATION: u64 = 24;

pub const HEADER: [&str; 8] = [
    "identifier",
    "conversation_identifier",
    "entry_type",
    "entry_payload",
    "sender",
    "transcripted_timestamp",
    "client_timestamp",
    "related_records",
];

const WORDS: &[&str] = &[
    "order",
    "refund",
    "delivery",
    "parcel",
    "account",
    "invoice",
    "charge",
    "card",
    "payment",
    "address",
    "return",
    "label",
    "damaged",
    "broken",
    "missing",
    "late",
    "tracking",
    "number",
    "please",
    "thanks",
    "hello",
    "help",
    "need",
    "want",
    "would",
    "could",
    "check",
    "update",
    "status",
    "today",
    "tomorrow",
    "week",
    "email",
    "phone",
    "password",
    "reset",
    "login",
    "subscription",
    "cancel",
    "renew",
    "plan",
    "upgrade",
    "discount",
    "coupon",
    "price",
    "total",
    "shipping",
    "warehouse",
    "courier",
    "replacement",
    "warranty",
    "receipt",
    "store",
    "online",
    "app",
    "website",
    "error",
    "message",
    "screen",
    "click",
    "button",
    "confirm",
    "confirmed",
    "approved",
    "pending",
    "processing",
    "sorry",
    "understand",
    "happy",
    "great",
    "wait",
    "minute",
    "moment",
    "agent",
    "supervisor",
    "manager",
    "call",
    "back",
    "again",
    "still",
    "never",
    "arrived",
    "received",
    "box",
    "item",
    "size",
    "colour",
    "exchange",
    "bank",
    "transfer",
    "visa",
    "mastercard",
    "balance",
    "credit",
    "debit",
    "statement",
    "fee",
    "late",
    "the",
    "a",
    "my",
    "your",
    "is",
    "was",
    "and",
    "to",
    "for",
    "of",
    "on",
    "it",
    "this",
    "that",
    "with",
    "can",
    "you",
    "i",
    "we",
    "not",
    "have",
    "has",
    "be",
    "will",
    "in",
    "at",
    "from",
];

/// A small, fast, deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    #[allow(
        clippy::should_implement_trait,
        reason = "a seeded generator's step, not an iterator"
    )]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn uuid(kind: u64, n: u64, seed: u64) -> String {
    let x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        kind as u32,
        (n >> 32) as u16,
        (x >> 20) & 0xfff,
        0x8000 | ((x >> 4) & 0x3fff),
        n & 0xffff_ffff_ffff
    )
}

/// One generated row, as CSV fields.
fn row(n: u64, seed: u64, rng: &mut Rng) -> [String; 8] {
    let conv_n = n / PER_CONVERSATION;
    let pos = n % PER_CONVERSATION;
    let id = uuid(0xe0, n, seed);
    let conv = uuid(0xc0, conv_n, seed);
    let session = format!("0MwSY{:013}", conv_n);
    let ms = 1_794_215_700_000 + conv_n as i64 * 600_000 + pos as i64 * 7_000 + (n % 997) as i64;
    let user = format!("v2/iamessage/UNAUTH/NA/uid:{:08x}", conv_n ^ seed);
    let agent = format!("005SY{:010}AA", conv_n % 5_000);
    let (entry_type, payload, sender) = content(
        pos,
        &id,
        &session,
        conv_n % 5_000,
        &agent,
        &user,
        rng,
        |_| {},
    );
    record(id, conv, entry_type, payload, sender, ms, &session)
}

/// One CSV record of [`HEADER`]: the client time is 350 ms before the
/// server's, and the session is the one related record.
pub fn record(
    id: String,
    conv: String,
    entry_type: &str,
    payload: String,
    sender: String,
    ms: i64,
    session: &str,
) -> [String; 8] {
    [
        id,
        conv,
        entry_type.to_owned(),
        payload,
        sender,
        ms.to_string(),
        (ms - 350).to_string(),
        format!(r#"["{session}"]"#),
    ]
}

/// Entry `pos` of a conversation: its type, payload and sender. Message
/// text comes from `rng`, then `edit` may change it.
#[allow(clippy::too_many_arguments)]
fn content(
    pos: u64,
    id: &str,
    session: &str,
    agent_no: u64,
    agent: &str,
    user: &str,
    rng: &mut Rng,
    edit: impl FnOnce(&mut String),
) -> (&'static str, String, String) {
    match pos {
        0 => (
            "ROUTING_RESULT",
            format!(
                r#"{{"entryType":"RoutingResult","recordId":"{session}","routingType":"Initial","failureType":"None","estimatedWaitTime":{{"estimatedWaitTimeInSeconds":{}}}}}"#,
                rng.below(300)
            ),
            r#"{"role":"Router","appType":"conversation","subject":"router"}"#.to_owned(),
        ),
        1 => (
            "PARTICIPANT_CHANGED",
            format!(
                r#"{{"entryType":"ParticipantChanged","entries":[{{"operation":"add","displayName":"Agent {agent_no}","participant":{{"role":"Agent","appType":"agent","subject":"{agent}"}}}}]}}"#
            ),
            r#"{"role":"System","appType":"conversation","subject":"system"}"#.to_owned(),
        ),
        p if p == PER_CONVERSATION - 1 => (
            "SESSION_STATUS_CHANGED",
            r#"{"entryType":"SessionStatusChanged","newStatus":"Ended","oldStatus":"Active"}"#
                .to_owned(),
            r#"{"role":"System","appType":"conversation","subject":"system"}"#.to_owned(),
        ),
        p => {
            let mut text = message_text(rng);
            edit(&mut text);
            message(p, id, &text, agent, user)
        }
    }
}

/// A message's text: 6 to 23 words of the vocabulary, now and then an
/// order number (so that rare words exist).
pub fn message_text(rng: &mut Rng) -> String {
    let words = 6 + rng.below(18);
    let mut text = String::with_capacity(160);
    for i in 0..words {
        if i > 0 {
            text.push(' ');
        }
        if rng.below(40) == 0 {
            text.push_str(&format!("#{}", 100_000 + rng.below(900_000)));
        } else {
            text.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
        }
    }
    text
}

/// A `MESSAGE` entry's type, payload and sender: from the end user at
/// even positions, from the agent at odd ones.
pub fn message(
    pos: u64,
    id: &str,
    text: &str,
    agent: &str,
    user: &str,
) -> (&'static str, String, String) {
    let text = serde_json::to_string(text).unwrap_or_default();
    let sender = if pos.is_multiple_of(2) {
        format!(r#"{{"role":"EndUser","appType":"iamessage","subject":"{user}"}}"#)
    } else {
        format!(r#"{{"role":"Agent","appType":"agent","subject":"{agent}"}}"#)
    };
    (
        "MESSAGE",
        format!(
            r#"{{"entryType":"Message","id":"{id}","abstractMessage":{{"messageType":"StaticContentMessage","id":"{id}","inReplyToMessageId":null,"references":[],"staticContent":{{"formatType":"Text","text":{text}}}}},"messageReason":null}}"#
        ),
        sender,
    )
}

/// Writes `entries` synthetic entries as a zip at `out` (members of at most
/// `per_member` rows each) and, if asked, the same rows as one plain CSV.
pub fn write(
    out: &Path,
    csv_out: Option<&Path>,
    entries: u64,
    per_member: u64,
    seed: u64,
) -> io::Result<()> {
    let file = BufWriter::with_capacity(1 << 20, File::create(out)?);
    let mut zip = zip::ZipWriter::new(file);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let mut plain = match csv_out {
        Some(p) => {
            let mut w =
                csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, File::create(p)?));
            w.write_record(HEADER)?;
            Some(w)
        }
        None => None,
    };
    let mut rng = Rng::new(seed);
    let per_member = per_member.max(1);
    let mut n = 0;
    let mut part = 1;
    while n < entries || n == 0 {
        zip.start_file(format!("conversation_entries_{part:04}.csv"), opts)
            .map_err(io::Error::other)?;
        let mut w = csv::Writer::from_writer(&mut zip);
        w.write_record(HEADER)?;
        let end = (n + per_member).min(entries);
        while n < end {
            let r = row(n, seed, &mut rng);
            w.write_record(&r)?;
            if let Some(p) = plain.as_mut() {
                p.write_record(&r)?;
            }
            n += 1;
        }
        w.flush()?;
        drop(w);
        part += 1;
        if entries == 0 {
            break;
        }
    }
    let mut file = zip.finish().map_err(io::Error::other)?;
    file.flush()?;
    if let Some(p) = plain {
        p.into_inner()
            .map_err(|e| io::Error::other(e.to_string()))?
            .flush()?;
    }
    Ok(())
}

// ------------------------------------------------------------ weekly series

/// A weekly *complete* export series, as Salesforce's Conversation
/// Transcript Export gives it: week k holds every entry of week k−1 that
/// still exists (conversations stay whole), in its current content, plus
/// `per_week` new entries. Each week, each older message entry is edited
/// with probability 1% and redacted with probability 0.1% (a changed
/// content hash: a new version), and each older conversation is deleted
/// at the source with probability 0.5% (gone from that week on).
///
/// Identifiers are random v4 UUIDs drawn from a seeded generator per entry
/// (the same entry has the same identifier every week; nothing is
/// sequential). An entry's text is drawn from its own seeded generator, so
/// it is the same every week until it is edited.
#[derive(Debug, Clone, Copy)]
pub struct Weekly {
    pub per_week: u64,
    pub seed: u64,
}

/// What week k of a [`Weekly`] series holds, counted as it is written:
/// what an ingest into an archive holding weeks 1..k−1 must report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WeekCounts {
    pub entries: u64,
    pub conversations: u64,
    pub new: u64,
    pub unchanged: u64,
    /// Older entries whose content changed this week (edits, redactions).
    pub changed: u64,
    /// Entries and conversations of week k−1 that week k lacks.
    pub missing_entries: u64,
    pub missing_conversations: u64,
}

/// The first week's start: Monday 2026-01-05 00:00 UTC.
const SERIES_START_MS: i64 = 1_767_571_200_000;
const WEEK_MS: i64 = 7 * 24 * 3_600_000;

/// A 64-bit hash of a few numbers (SplitMix64 finaliser over a mix).
pub fn mix(parts: &[u64]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for &p in parts {
        h ^= p
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(h << 6)
            .wrapping_add(h >> 2);
        h = Rng::new(h).next();
    }
    h
}

/// A random-looking v4 UUID, fixed by its parts.
pub fn uuid_v4(parts: &[u64]) -> String {
    let a = mix(parts);
    let b = Rng::new(a).next();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// What a week's export holds besides the entries week − 1 held unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Parts {
    /// The week's new conversations.
    pub new: bool,
    /// The week's edits, redactions and deletions at the source.
    pub changes: bool,
    /// The older conversations (as week − 1 held them, or changed, with
    /// `changes`). Without them the week's new conversations stand alone,
    /// as a first export would hold them.
    pub old: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        new: true,
        changes: true,
        old: true,
    };
}

/// Odds out of a million.
const EDIT_PPM: u64 = 10_000;
const REDACT_PPM: u64 = 1_000;
const DELETE_PPM: u64 = 5_000;

impl Weekly {
    fn convs_per_week(&self) -> u64 {
        self.per_week.div_ceil(PER_CONVERSATION).max(1)
    }

    /// Whether conversation `c` (created in week `born`) still exists in
    /// week `week`: not deleted in any week after its first.
    fn alive(&self, c: u64, born: u64, week: u64) -> bool {
        (born + 1..=week).all(|w| mix(&[self.seed, 0xde1, c, w]) % 1_000_000 >= DELETE_PPM)
    }

    /// The week in `(born, week]` of entry `n`'s current content, and
    /// whether it was a redaction: its first redaction (nothing changes a
    /// redacted entry again), else its last edit.
    fn last_change(&self, n: u64, born: u64, week: u64) -> Option<(u64, bool)> {
        let mut last = None;
        for w in born + 1..=week {
            let r = mix(&[self.seed, 0xed1, n, w]) % 1_000_000;
            if r < REDACT_PPM {
                return Some((w, true));
            } else if r < REDACT_PPM + EDIT_PPM {
                last = Some((w, false));
            }
        }
        last
    }

    /// The identifiers of the conversations week `week` deleted at the
    /// source (held by week `week` − 1, not by week `week`).
    pub fn deleted_in(&self, week: u64) -> Vec<String> {
        let per_week = self.convs_per_week();
        let mut out = Vec::new();
        for born in 1..week {
            for i in 0..per_week {
                let c = (born - 1) * per_week + i;
                if self.alive(c, born, week - 1) && !self.alive(c, born, week) {
                    out.push(uuid_v4(&[self.seed, 0xc, c]));
                }
            }
        }
        out
    }

    /// Writes week `week` (1, 2, ...) as a zip of members of at most
    /// `per_member` rows, and returns what it holds.
    pub fn write_week(&self, out: &Path, week: u64, per_member: u64) -> io::Result<WeekCounts> {
        self.write_week_parts(out, week, per_member, Parts::ALL)
    }

    /// Writes week `week` with only some of what changed since week
    /// `week` − 1 ([`Parts`]), to measure each part's cost alone.
    pub fn write_week_parts(
        &self,
        out: &Path,
        week: u64,
        per_member: u64,
        parts: Parts,
    ) -> io::Result<WeekCounts> {
        let file = BufWriter::with_capacity(1 << 20, File::create(out)?);
        let mut zip = zip::ZipWriter::new(file);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(1))
            .large_file(true);
        let per_week = self.convs_per_week();
        let mut counts = WeekCounts::default();
        let mut rows_in_member = 0u64;
        let mut part = 0u64;
        // Each record is written to this buffer, then into the zip.
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        // Without the changes, older conversations are as week − 1 held them.
        let as_of = if parts.changes { week } else { week - 1 };
        let last_born = if parts.new { week } else { week - 1 };
        let first_born = if parts.old { 1 } else { week };
        for born in first_born..=last_born {
            for i in 0..per_week {
                let c = (born - 1) * per_week + i;
                if !self.alive(c, born, as_of.max(born)) {
                    continue;
                }
                counts.conversations += 1;
                for pos in 0..PER_CONVERSATION {
                    let n = c * PER_CONVERSATION + pos;
                    let change = self.last_change(n, born, as_of);
                    {
                        let mut w = csv::WriterBuilder::new()
                            .buffer_capacity(2048)
                            .from_writer(&mut buf);
                        if rows_in_member == 0 {
                            part += 1;
                            zip.start_file(format!("conversation_entries_{part:04}.csv"), opts)
                                .map_err(io::Error::other)?;
                            w.write_record(HEADER)?;
                        }
                        w.write_record(self.row(c, born, i, pos, change))?;
                        w.flush()?;
                    }
                    zip.write_all(&buf)?;
                    buf.clear();
                    counts.entries += 1;
                    let editable = (2..PER_CONVERSATION - 1).contains(&pos);
                    if born == week {
                        counts.new += 1;
                    } else if editable && change.is_some_and(|(cw, _)| cw == week) {
                        counts.changed += 1;
                    } else {
                        counts.unchanged += 1;
                    }
                    rows_in_member = (rows_in_member + 1) % per_member.max(1);
                }
            }
            // Conversations of this week's series that week k−1 held and
            // week k does not.
            if week > 1 && born < week && parts.changes && parts.old {
                for i in 0..per_week {
                    let c = (born - 1) * per_week + i;
                    if self.alive(c, born, week - 1) && !self.alive(c, born, week) {
                        counts.missing_conversations += 1;
                        counts.missing_entries += PER_CONVERSATION;
                    }
                }
            }
        }
        let mut file = zip.finish().map_err(io::Error::other)?;
        file.flush()?;
        Ok(counts)
    }

    /// One row: entry `pos` of conversation `c` (the `i`th of week
    /// `born`), with its content as of its last change.
    fn row(&self, c: u64, born: u64, i: u64, pos: u64, change: Option<(u64, bool)>) -> [String; 8] {
        let n = c * PER_CONVERSATION + pos;
        let id = uuid_v4(&[self.seed, 0xe, n]);
        let conv = uuid_v4(&[self.seed, 0xc, c]);
        let session = format!(
            "0Mw{:015X}",
            mix(&[self.seed, 0x5, c]) & 0x0FFF_FFFF_FFFF_FFFF
        );
        let spread = WEEK_MS / self.convs_per_week() as i64;
        let ms = SERIES_START_MS
            + (born as i64 - 1) * WEEK_MS
            + i as i64 * spread
            + pos as i64 * 7_000
            + (mix(&[self.seed, 0x7, n]) % 997) as i64;
        let mut rng = Rng::new(mix(&[self.seed, 0x11, n]));
        let user = format!(
            "v2/iamessage/UNAUTH/NA/uid:{:08x}",
            mix(&[self.seed, 0x1, c]) as u32
        );
        let agent = format!("005SY{:010}AA", mix(&[self.seed, 0xa, c]) % 5_000);
        let (entry_type, payload, sender) = content(
            pos,
            &id,
            &session,
            mix(&[self.seed, 0xa, c]) % 5_000,
            &agent,
            &user,
            &mut rng,
            |text| match change {
                Some((_, true)) => *text = "This message was redacted.".to_owned(),
                Some((w, false)) => text.push_str(&format!(" (corrected in week {w})")),
                None => {}
            },
        );
        record(id, conv, entry_type, payload, sender, ms, &session)
    }
}

/// One message of [`write_messages`]: its identifier, time (epoch ms, or
/// empty for none), text and sender JSON.
pub struct Message<'a> {
    pub id: &'a str,
    pub ms: &'a str,
    pub text: &'a str,
    pub sender: &'a str,
}

/// A plain CSV transcript export of text messages, all in `conversation`.
pub fn write_messages<'a>(
    path: &Path,
    conversation: &str,
    messages: impl IntoIterator<Item = Message<'a>>,
) -> io::Result<()> {
    write_messages_in(path, messages.into_iter().map(|m| (conversation, m)))
}

/// A plain CSV transcript export of text messages, each in the
/// conversation beside it.
pub fn write_messages_in<'a, 'c>(
    path: &Path,
    messages: impl IntoIterator<Item = (&'c str, Message<'a>)>,
) -> io::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record([
        "identifier",
        "conversation_identifier",
        "entry_type",
        "entry_payload",
        "sender",
        "transcripted_timestamp",
        "related_records",
    ])?;
    for (conversation, m) in messages {
        let payload = serde_json::json!({
            "entryType": "Message",
            "abstractMessage": {"messageType": "StaticContentMessage",
                "staticContent": {"formatType": "Text", "text": m.text}}
        });
        w.write_record([
            m.id,
            conversation,
            "Message",
            &payload.to_string(),
            m.sender,
            m.ms,
            "[]",
        ])?;
    }
    w.flush()
}
