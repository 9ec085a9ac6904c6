//! The search benchmark (issue 12): every query class, beside the sqlite3
//! shell running the equivalent SQL on the same database in the same run.
//!
//! `cargo bench --bench search -- [--archive DIR | --entries N --dir DIR] [--runs 7] [--sqlite3 PATH]`
//!
//! The archive: `--archive` names one the weekly benchmark grew (e.g. its
//! 12-week, 12.7M-version archive, `cargo bench --bench weekly -- --dir
//! D`, then `--archive D/archive`); otherwise week 1 of the same weekly
//! series (random v4 UUIDs, `--entries` entries) is ingested into a new
//! one in `--dir`. It is only read.
//!
//! Per class: the median wall time of `--runs` process runs of `convault
//! search --json --limit 50 …` (or `--count`, `--conversations`), and of
//! the shell's query. The shell is given the best SQL for this schema: hits
//! in rowid order (the entry id is its time key, so nothing is sorted) and
//! dates as rowid ranges; its `--conversations` peer groups every match,
//! the one way SQL gives the same list. The shell does less than convault
//! in every class: it does not fold a version whose text a later version
//! repeats, nor mark superseded versions, nor read match offsets. Its first
//! figure selects the least (entry id and text); the second, for the hit
//! lists, the fields a hit list needs at the least (conversation, entry,
//! version, time, role, text): each is a look-up convault also makes.
//!
//! Then `show --format html` of a 500-entry conversation carried by 12
//! weekly exports (5% of its messages edited each week), in an archive of
//! its own, beside the shell reading the conversation's entries.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use support::{median, synth, timed};

#[derive(Parser)]
struct Args {
    /// An archive to search (only read) instead of building one
    #[arg(long)]
    archive: Option<PathBuf>,
    /// Entries of the archive built when --archive is not given
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Where to build it [default: a temporary directory]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Timed runs of each side
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// The sqlite3 shell to compare with
    #[arg(long, default_value = "sqlite3")]
    sqlite3: PathBuf,
    /// Ignored (cargo bench passes it)
    #[arg(long, hide = true)]
    bench: bool,
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let archive = match &args.archive {
        Some(a) => a.clone(),
        None => build(&dir, args.entries)?,
    };
    let conn = rusqlite::Connection::open_with_flags(
        archive.join("archive.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let versions: i64 = conn.query_row("SELECT max(seq) FROM entries", [], |r| r.get(0))?;
    println!(
        "search benchmark: {} ({versions} entry versions), median of {} runs each",
        archive.display(),
        args.runs
    );
    classes(&args, &archive, &conn)?;
    show_html(&args, &dir)
}

/// Week 1 of the weekly series, `entries` entries, ingested into a new
/// archive in `dir`.
fn build(dir: &Path, entries: u64) -> Res<PathBuf> {
    let archive = dir.join("archive");
    let _ = std::fs::remove_dir_all(&archive);
    let zip = dir.join("week-01.zip");
    let series = synth::Weekly {
        per_week: entries,
        seed: 2026,
    };
    series.write_week(&zip, 1, 250_000)?;
    eprintln!("ingesting {entries} entries into {}", archive.display());
    ingest(&archive, &zip)?;
    std::fs::remove_file(&zip)?;
    Ok(archive)
}

fn ingest(archive: &Path, export: &Path) -> Res<()> {
    let out = Command::new(env!("CARGO_BIN_EXE_convault"))
        .arg("--archive")
        .arg(archive)
        .arg("ingest")
        .arg(export)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "ingest {} failed: {}",
            export.display(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(())
}

/// Each query class: convault's arguments and the shell's SQL.
fn classes(args: &Args, archive: &Path, conn: &rusqlite::Connection) -> Res<()> {
    // A day in the middle of the archive's time span.
    let (lo, hi): (i64, i64) = conn.query_row(
        "SELECT (SELECT id FROM entries WHERE id >= 0 ORDER BY id LIMIT 1),
                (SELECT id FROM entries ORDER BY id DESC LIMIT 1)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let shift = convault::archive::rekey::TIME_SHIFT;
    let mid_ms = ((lo >> shift) + (hi >> shift)) / 2;
    let day_ms = mid_ms - mid_ms.rem_euclid(86_400_000);
    let date = |ms: i64| -> String {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| t.to_string()[..10].to_owned())
            .unwrap_or_default()
    };
    let (after, before) = (date(day_ms), date(day_ms + 86_400_000));
    let (klo, khi) = (
        convault::archive::rekey::key(day_ms),
        convault::archive::rekey::key(day_ms + 86_400_000),
    );
    let hits = |m: &str, extra: &str| {
        format!(
            "{LEAN} entries_fts JOIN entries e ON e.id = entries_fts.rowid \
             WHERE entries_fts MATCH '{m}' {extra} ORDER BY entries_fts.rowid DESC LIMIT 50;"
        )
    };
    let words = |w: &[&str]| -> Vec<String> { w.iter().map(|s| s.to_string()).collect() };
    let list = |w: &[&str]| {
        let mut v = words(&["--json", "--limit", "50"]);
        v.extend(words(w));
        v
    };
    let role_dates = format!(
        "AND entries_fts.rowid >= {klo} AND entries_fts.rowid < {khi} AND lower(e.sender_role) = 'agent'"
    );
    let classes: Vec<(&str, Vec<String>, String)> = vec![
        ("common word", list(&["refund"]), hits("refund", "")),
        (
            "two words",
            list(&["refund", "card"]),
            hits("refund card", ""),
        ),
        (
            "phrase",
            list(&["\"refund card\""]),
            hits("\"refund card\"", ""),
        ),
        ("prefix", list(&["refu*"]), hits("refu*", "")),
        (
            "OR",
            list(&["refund", "OR", "invoice"]),
            hits("refund OR invoice", ""),
        ),
        (
            "words+role+dates",
            list(&[
                "refund",
                "role:agent",
                &format!("after:{after}"),
                &format!("before:{before}"),
            ]),
            hits("refund", &role_dates),
        ),
        (
            "filters only",
            list(&[
                "role:agent",
                &format!("after:{after}"),
                &format!("before:{before}"),
            ]),
            format!(
                "{LEAN} entries e WHERE e.id >= {klo} AND e.id < {khi} \
                 AND lower(e.sender_role) = 'agent' ORDER BY e.id DESC LIMIT 50;"
            ),
        ),
        (
            "--count",
            words(&["--count", "refund"]),
            "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'refund';".into(),
        ),
        (
            "--conversations",
            words(&["--conversations", "--json", "--limit", "50", "refund"]),
            "SELECT e.conversation_id, count(*), min(e.id), max(e.id) FROM entries_fts \
             JOIN entries e ON e.id = entries_fts.rowid WHERE entries_fts MATCH 'refund' \
             GROUP BY e.conversation_id ORDER BY max(e.id) DESC LIMIT 50;"
                .into(),
        ),
        (
            "substr:",
            list(&["substr:4321"]),
            format!(
                "{LEAN} entries e \
                 WHERE instr(lower(coalesce(e.text, '')), '4321') > 0 ORDER BY e.id DESC LIMIT 50;"
            ),
        ),
    ];
    println!(
        "{:<18} {:>11} {:>10} {:>6} {:>13} {:>6}  results",
        "class", "convault ms", "shell ms", "ratio", "same-fields ms", "ratio"
    );
    for (name, words, sql) in classes {
        // The same hits with the fields a hit list needs at the least:
        // conversation, entry, version, time, role, text.
        let same = sql.replace(LEAN, SAME_FIELDS);
        let [(ours, out), (peer, peer_out), (peer_same, _)] = alternating(
            args.runs,
            [
                &|| {
                    let mut c = Command::new(env!("CARGO_BIN_EXE_convault"));
                    c.arg("--archive").arg(archive).arg("search").args(&words);
                    c
                },
                &|| shell(args, archive, &sql),
                &|| shell(args, archive, &same),
            ],
        )?;
        let results = match serde_json::from_slice::<serde_json::Value>(&out) {
            Ok(serde_json::Value::Array(a)) => a.len().to_string(),
            _ => String::from_utf8_lossy(&out).trim().to_owned(),
        };
        let peer_results = String::from_utf8_lossy(&peer_out).lines().count();
        println!(
            "{name:<18} {ours:>11.1} {peer:>10.1} {:>6.2} {peer_same:>13.1} {:>6.2}  convault {results}, shell {peer_results} lines",
            ours / peer,
            ours / peer_same
        );
    }
    Ok(())
}

/// The lean peer's columns, and the same hits with the fields a hit list
/// needs at the least (the shell's second figure).
const LEAN: &str = "SELECT e.identifier, e.id, e.text FROM";
const SAME_FIELDS: &str = "SELECT (SELECT identifier FROM conversations WHERE id = e.conversation_id), \
     e.identifier, e.version, coalesce(e.server_ms, e.client_ms), e.sender_role, e.text FROM";

/// `show --format html` of a 500-entry conversation carried by 12 weekly
/// exports, 5% of its messages edited each week.
fn show_html(args: &Args, dir: &Path) -> Res<()> {
    let archive = dir.join("show-archive");
    let _ = std::fs::remove_dir_all(&archive);
    let conversation = "5b0d3c1e-8a47-4f2e-9c61-2d7e4a9b0f13";
    for week in 1..=12u64 {
        let path = dir.join(format!("show-week-{week:02}.csv"));
        let mut rows = Vec::new();
        for i in 0..500u64 {
            // Entry i is edited in the weeks where (i + week) % 20 == 0.
            let edits = (1..=week).filter(|k| (i + k) % 20 == 0).count();
            let text = format!(
                "Message {i}: please check the refund for order #{} <b>status</b> & card{}",
                100_000 + i * 7,
                if edits > 0 {
                    format!(" (edit {edits})")
                } else {
                    String::new()
                }
            );
            let sender = if i % 2 == 0 {
                r#"{"role":"EndUser","appType":"iamessage","subject":"v2/iamessage/UNAUTH/NA/uid:7f3e21"}"#
            } else {
                r#"{"role":"Agent","appType":"agent","subject":"005Kj000001DanaWAA"}"#
            };
            rows.push((
                synth::uuid_v4(&[2026, i]),
                (1_794_218_400_000 + i as i64 * 15_000).to_string(),
                text,
                sender,
            ));
        }
        let messages = rows.iter().map(|(id, ms, text, sender)| synth::Message {
            id,
            ms,
            text,
            sender,
        });
        synth::write_messages(&path, conversation, messages)?;
        ingest(&archive, &path)?;
    }
    let sql = "SELECT identifier, version, text FROM entries \
               WHERE conversation_id = (SELECT id FROM conversations LIMIT 1) ORDER BY id;";
    let [(ours, out), (peer, _)] = alternating(
        args.runs,
        [
            &|| {
                let mut c = Command::new(env!("CARGO_BIN_EXE_convault"));
                c.arg("--archive")
                    .arg(&archive)
                    .args(["show", "--format", "html", conversation]);
                c
            },
            &|| shell(args, &archive, sql),
        ],
    )?;
    println!(
        "show --format html (500 entries, 12 exports) {ours:>8.1} ms ({} KiB)   sqlite3 shell {peer:>8.1} ms",
        out.len() / 1024
    );
    Ok(())
}

/// The median wall times in ms of `runs` runs of each command, run in
/// turn (this machine's speed drifts: alternating keeps the comparison
/// fair), and each one's last stdout.
fn alternating<const N: usize>(
    runs: usize,
    makers: [&dyn Fn() -> Command; N],
) -> Res<[(f64, Vec<u8>); N]> {
    let mut walls: [Vec<f64>; N] = std::array::from_fn(|_| Vec::new());
    let mut outs: [Vec<u8>; N] = std::array::from_fn(|_| Vec::new());
    for _ in 0..runs {
        for (i, make) in makers.iter().enumerate() {
            let r = timed(&mut make(), None)?;
            walls[i].push(r.wall.as_secs_f64() * 1e3);
            outs[i] = r.stdout;
        }
    }
    let mut i = 0;
    Ok(std::array::from_fn(|_| {
        let m = (
            median(std::mem::take(&mut walls[i])),
            std::mem::take(&mut outs[i]),
        );
        i += 1;
        m
    }))
}

/// The `sqlite3` shell running `sql` on the archive, read-only.
fn shell(args: &Args, archive: &Path, sql: &str) -> Command {
    let mut c = Command::new(&args.sqlite3);
    c.arg("-readonly")
        .arg(archive.join("archive.sqlite"))
        .arg(sql);
    c
}
