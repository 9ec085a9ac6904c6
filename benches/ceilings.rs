//! Resource ceilings (issue 16): exports at the edges of what an ingest
//! must take, each ingested into a new archive by the release binary, its
//! wall time and peak RSS (from `wait4`) measured, what it read checked
//! against what was written, and the archive verified.
//!
//! `cargo bench --bench ceilings -- [--dir DIR] [--case NAME]...`
//!
//! The cases (all by default):
//! - `one-entry-conversations`: 1,000,000 conversations of one message.
//! - `one-conversation`: one conversation of 1,000,000 messages.
//! - `payload-200mb`: a CSV row and an NDJSON entry whose message text is
//!   200 MB, each between ordinary ones: quarantined with a reason (a row
//!   may take 2 MiB to be read), the rest read.
//! - `long-rows`: 50 rows just under the longest a row may be read at
//!   (`source::MAX_ROW_BYTES`), between short ones: all read.
//! - `members-10000`: one zip of 10,000 CSV members of 10 messages each.
//! - `zip64`: a ZIP64 export of 4.1 GiB: a CSV member, a stored 4.1 GB
//!   recording (quarantined as binary), and a CSV member that starts past
//!   4 GiB.
//!
//! The peer, timed in the same run: `sha256sum` of the export (reading
//! it once).
//!
//! Identifiers are random v4 UUIDs; text is drawn from the synthetic
//! vocabulary (tools/src/synth.rs). The exports are written to
//! `--dir` (default: a temporary directory) and deleted after their case.
//! Record results in docs/reliability.md.

mod support;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use support::synth::{self, Rng, mix, uuid_v4};
use support::timed;
use zip::write::SimpleFileOptions;

#[derive(Parser)]
struct Args {
    /// Where the exports and archives go [default: a temporary directory]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Cases to run (all when none is given)
    #[arg(long = "case", value_enum)]
    cases: Vec<Case>,
    /// Only write this case's export into --dir (run as a child process:
    /// see `main`)
    #[arg(long, value_enum, hide = true)]
    write_only: Option<Case>,
    /// Ignored (cargo bench passes it)
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Case {
    OneEntryConversations,
    OneConversation,
    Payload200mb,
    LongRows,
    Members10000,
    Zip64,
}

const MIB: f64 = 1024.0 * 1024.0;
const SEED: u64 = 20_261_127;

/// What a case's ingest must report.
#[derive(Debug, Default)]
struct Expect {
    entries: u64,
    conversations: u64,
    members: u64,
    /// Quarantined rows and members, each with a reason containing this.
    quarantined: Vec<&'static str>,
}

type Zip = zip::ZipWriter<BufWriter<File>>;

fn deflated() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true)
}

/// Writes messages `first..first + count` of a series of conversations of
/// `per_conversation` messages as one CSV member `name`.
fn member(
    zip: &mut Zip,
    name: &str,
    first: u64,
    count: u64,
    per_conversation: u64,
) -> std::io::Result<()> {
    zip.start_file(name, deflated())
        .map_err(std::io::Error::other)?;
    let mut w = csv::Writer::from_writer(&mut *zip);
    w.write_record(synth::HEADER)?;
    for n in first..first + count {
        w.write_record(row(n, per_conversation, None))?;
    }
    w.flush()
}

/// Message `n` of a series of conversations of `per_conversation`
/// messages; `text` replaces its drawn text.
fn row(n: u64, per_conversation: u64, text: Option<&str>) -> [String; 8] {
    let c = n / per_conversation;
    let pos = n % per_conversation;
    let mut rng = Rng::new(mix(&[SEED, 0x7e, n]));
    let id = uuid_v4(&[SEED, 0xe, n]);
    let drawn;
    let text = match text {
        Some(t) => t,
        None => {
            drawn = synth::message_text(&mut rng);
            &drawn
        }
    };
    let agent = format!("005SY{:010}AA", mix(&[SEED, 0xa, c]) % 5_000);
    let user = format!(
        "v2/iamessage/UNAUTH/NA/uid:{:08x}",
        mix(&[SEED, 1, c]) as u32
    );
    let (entry_type, payload, sender) = synth::message(pos, &id, text, &agent, &user);
    let ms = 1_767_571_200_000 + c as i64 * 600_000 + pos as i64 * 7_000;
    let session = format!("0MwSY{:013}", c % 10_000_000_000_000);
    synth::record(
        id,
        uuid_v4(&[SEED, 0xc, c]),
        entry_type,
        payload,
        sender,
        ms,
        &session,
    )
}

/// About `bytes` bytes of message text (words of the vocabulary).
fn long_text(bytes: usize) -> String {
    let mut rng = Rng::new(SEED);
    let mut text = String::with_capacity(bytes + 200);
    while text.len() < bytes {
        text.push_str(&synth::message_text(&mut rng));
        text.push(' ');
    }
    text
}

/// Where the case's export is written.
fn export_path(case: Case, dir: &Path) -> PathBuf {
    dir.join(format!("{case:?}.zip"))
}

/// What the case's ingest must report.
fn expect(case: Case) -> Expect {
    let rows = |entries, conversations, members| Expect {
        entries,
        conversations,
        members,
        quarantined: vec![],
    };
    match case {
        Case::OneEntryConversations => rows(1_000_000, 1_000_000, 4),
        Case::OneConversation => rows(1_000_000, 1, 4),
        // The NDJSON member's third entry follows the long one, which
        // ends its reading.
        Case::Payload200mb => Expect {
            quarantined: vec!["row of ", "row larger than"],
            ..rows(3, 2, 2)
        },
        Case::LongRows => rows(100, 1, 1),
        Case::Members10000 => rows(100_000, 10_000, 10_000),
        // Two members of 10,000 messages, 24 to a conversation.
        Case::Zip64 => Expect {
            quarantined: vec!["binary content"],
            ..rows(20_000, 2 * 10_000_u64.div_ceil(24), 3)
        },
    }
}

/// Writes the case's export into `dir`.
fn write(case: Case, dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let path = export_path(case, dir);
    let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(1 << 20, File::create(&path)?));
    match case {
        Case::OneEntryConversations | Case::OneConversation => {
            let per = if case == Case::OneConversation {
                1_000_000
            } else {
                1
            };
            for part in 0..4 {
                let name = format!("conversation_entries_{:04}.csv", part + 1);
                member(&mut zip, &name, part * 250_000, 250_000, per)?;
            }
        }
        Case::Payload200mb => {
            let text = long_text(200_000_000);
            zip.start_file("conversation_entries_0001.csv", deflated())?;
            let mut w = csv::Writer::from_writer(&mut zip);
            w.write_record(synth::HEADER)?;
            for n in 0..3 {
                w.write_record(row(n, 3, (n == 1).then_some(text.as_str())))?;
            }
            w.flush()?;
            drop(w);
            zip.start_file("conversation_entries.ndjson", deflated())?;
            for n in 3..6 {
                let r = row(n, 3, (n == 4).then_some(text.as_str()));
                let entry = serde_json::json!({
                    "identifier": r[0], "conversationIdentifier": r[1], "entryType": "Message",
                    "entryPayload": serde_json::from_str::<serde_json::Value>(&r[3])?,
                    "sender": serde_json::from_str::<serde_json::Value>(&r[4])?,
                    "transcriptedTimestamp": r[5].parse::<i64>()?,
                });
                serde_json::to_writer(&mut zip, &entry)?;
                zip.write_all(b"\n")?;
            }
        }
        Case::LongRows => {
            // Room for the row's other fields and the CSV quoting.
            let text = long_text(convault::source::MAX_ROW_BYTES - 8192);
            zip.start_file("conversation_entries_0001.csv", deflated())?;
            let mut w = csv::Writer::from_writer(&mut zip);
            w.write_record(synth::HEADER)?;
            for n in 0..100 {
                let long = n % 2 == 0;
                w.write_record(row(
                    n,
                    100,
                    long.then_some(&text[..text.len() - n as usize]),
                ))?;
            }
            w.flush()?;
        }
        Case::Members10000 => {
            for m in 0..10_000 {
                let name = format!("part-{m:05}/conversation_entries.csv");
                member(&mut zip, &name, m * 10, 10, 10)?;
            }
        }
        Case::Zip64 => {
            member(&mut zip, "conversation_entries_0001.csv", 0, 10_000, 24)?;
            let stored = SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .large_file(true);
            zip.start_file("recordings/call-0001.bin", stored)?;
            let mut rng = Rng::new(SEED);
            let block: Vec<u8> = (0..1 << 20)
                .map(|i| if i == 0 { 0 } else { rng.next() as u8 })
                .collect();
            let total: u64 = 4_400_000_000;
            let mut written = 0u64;
            while written < total {
                let n = (total - written).min(block.len() as u64) as usize;
                zip.write_all(&block[..n])?;
                written += n as u64;
            }
            member(
                &mut zip,
                "conversation_entries_0002.csv",
                10_008,
                10_000,
                24,
            )?;
        }
    }
    zip.finish()?.flush()?;
    Ok(())
}

fn convault(archive: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_convault"));
    c.arg("--archive").arg(archive).env("USER", "bench");
    c
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    if let Some(case) = args.write_only {
        write(case, &dir)?;
        return Ok(());
    }
    let cases = if args.cases.is_empty() {
        vec![
            Case::OneEntryConversations,
            Case::OneConversation,
            Case::Payload200mb,
            Case::LongRows,
            Case::Members10000,
            Case::Zip64,
        ]
    } else {
        args.cases.clone()
    };
    println!(
        "| case | export | ingest | peak RSS | verify | verify RSS | sha256sum | read | quarantined |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut failed = false;
    for case in cases {
        eprintln!("{case:?}: writing the export");
        // In a child process: Linux counts the peak RSS of the process
        // that spawns a command into the command's own (`wait4`), and
        // writing a 200 MB payload takes this one's far past the ingest's.
        let status = Command::new(std::env::current_exe()?)
            .arg("--write-only")
            .arg(
                clap::ValueEnum::to_possible_value(&case)
                    .ok_or("a case has a name")?
                    .get_name(),
            )
            .arg("--dir")
            .arg(&dir)
            .status()?;
        if !status.success() {
            return Err(format!("writing the {case:?} export failed").into());
        }
        let expect = expect(case);
        let export = export_path(case, &dir);
        let bytes = std::fs::metadata(&export)?.len();
        let archive = dir.join(format!("{case:?}-archive"));
        let _ = std::fs::remove_dir_all(&archive);
        eprintln!("{case:?}: ingesting {bytes} bytes");
        let ingest = timed(
            convault(&archive).arg("ingest").arg("--json").arg(&export),
            None,
        )?;
        let report: serde_json::Value = serde_json::from_slice(&ingest.stdout)?;
        let n = |k: &str| report[k].as_u64().unwrap_or(u64::MAX);
        let reasons: Vec<String> = report["quarantined"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|q| q["reason"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let mut problems = Vec::new();
        for (what, got, want) in [
            ("entries", n("entries_new"), expect.entries),
            (
                "conversations",
                n("conversations_new"),
                expect.conversations,
            ),
            ("members", n("members_read"), expect.members),
            (
                "quarantined",
                n("quarantined_total"),
                expect.quarantined.len() as u64,
            ),
        ] {
            if got != want {
                problems.push(format!("{what}: {got}, expected {want}"));
            }
        }
        for (i, want) in expect.quarantined.iter().enumerate() {
            if !reasons.get(i).is_some_and(|r| r.contains(want)) {
                problems.push(format!("quarantine reason {i} lacks {want:?}: {reasons:?}"));
            }
        }
        eprintln!("{case:?}: verifying");
        let verify = timed(convault(&archive).arg("verify"), None)?;
        let peer = timed(Command::new("sha256sum").arg(&export), None)?;
        if !problems.is_empty() {
            failed = true;
            eprintln!("{case:?}: FAILED: {}", problems.join("; "));
        }
        println!(
            "| {case:?} | {:.1} MiB | {:.2} s | {:.1} MiB | {:.2} s | {:.1} MiB | {:.2} s | {} entries, {} conversations, {} members | {} |",
            bytes as f64 / MIB,
            ingest.wall.as_secs_f64(),
            ingest.max_rss_kib as f64 / 1024.0,
            verify.wall.as_secs_f64(),
            verify.max_rss_kib as f64 / 1024.0,
            peer.wall.as_secs_f64(),
            n("entries_new"),
            n("conversations_new"),
            n("members_read"),
            if reasons.is_empty() {
                "none".to_owned()
            } else {
                reasons.join("; ")
            },
        );
        std::fs::remove_file(&export)?;
        std::fs::remove_dir_all(&archive)?;
    }
    if failed {
        return Err("a case did not read what was written (see above)".into());
    }
    Ok(())
}
