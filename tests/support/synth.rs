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

const HEADER: [&str; 8] = [
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
    let (entry_type, payload, sender) = match pos {
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
                r#"{{"entryType":"ParticipantChanged","entries":[{{"operation":"add","displayName":"Agent {}","participant":{{"role":"Agent","appType":"agent","subject":"{agent}"}}}}]}}"#,
                conv_n % 5_000
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
            let text = serde_json::to_string(&text).unwrap_or_default();
            let sender = if p % 2 == 0 {
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
    };
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
