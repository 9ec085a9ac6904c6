//! The weekly benchmark (issue 11): a year of weekly *complete* exports.
//!
//! `cargo bench --bench weekly -- [--per-week N] [--weeks K] [--dir DIR] [--sqlite3 PATH]`
//!
//! Week k of the series (tools/src/synth.rs, `Weekly`: random v4
//! UUIDs; every entry of week k−1 still present, 1% of older messages
//! edited and 0.1% redacted each week, 0.5% of older conversations deleted
//! at the source; plus N new entries) is written as a zip and ingested
//! into one archive that grows week by week. Per week it prints:
//!
//! - the ingest's wall time and peak RSS (`wait4`), and its counts checked
//!   against what the generator wrote (new, unchanged, changed, missing);
//! - the archive's size, and the bytes its sightings took that week;
//! - search latency, the median of 7 process runs, for five query classes
//!   (a common word, two words, a phrase, words with a date range,
//!   `session:` alone), beside the `sqlite3` shell running the plain FTS
//!   query (`ORDER BY time DESC LIMIT 50`) on the same database;
//! - `show` of week 1's first conversation (every export's sightings are
//!   asked about it), median of 7, beside the shell reading its entries.
//!
//! After the last week, the parts of a week alone at the archive's final
//! size: the last week again (every entry unchanged), the next week's
//! changes without its new conversations, then its new conversations
//! without the changes; each part's cost beyond its unchanged entries.
//! Then new conversations alone, twice (the second time only the first
//! time's are missing, so its wall time is their cost), and the floor
//! they are compared with: week 1's export into a new archive (built
//! aside) and into one that already exists (through the WAL), alternating.
//!
//! The week zips are removed once ingested (the archive keeps its own
//! copy). Record results in docs/performance.md.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use support::{median, synth, timed};

#[derive(Parser)]
struct Args {
    /// New entries each week
    #[arg(long, default_value_t = 1_000_000)]
    per_week: u64,
    /// Weeks in the series
    #[arg(long, default_value_t = 12)]
    weeks: u64,
    /// Timed runs of each search
    #[arg(long, default_value_t = 7)]
    search_runs: usize,
    /// Where to write the exports and the archive [default: a temporary directory]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The sqlite3 shell to compare searches with
    #[arg(long, default_value = "sqlite3")]
    sqlite3: PathBuf,
    /// Seed of the series
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Ignored (cargo bench passes it)
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let archive = dir.join("archive");
    let _ = std::fs::remove_dir_all(&archive);
    let series = synth::Weekly {
        per_week: args.per_week,
        seed: args.seed,
    };
    println!(
        "weekly series: {} new entries a week, {} weeks, seed {}",
        args.per_week, args.weeks, args.seed
    );
    let mut first_wall = None;
    let mut prev_sightings = 0i64;
    for week in 1..=args.weeks {
        let zip = dir.join(format!("week-{week:02}.zip"));
        let want = series.write_week(&zip, week, 250_000)?;
        let zip_bytes = std::fs::metadata(&zip)?.len();
        let (run, r) = ingest(&archive, &zip, week)?;
        let got = |k: &str| r[k].as_u64().unwrap_or(0);
        let counts_ok = got("entries_read") == want.entries
            && got("entries_new") == want.new
            && got("entries_unchanged") == want.unchanged
            && got("entries_changed") == want.changed
            && (week == 1
                || (got("entries_missing") == want.missing_entries
                    && got("conversations_missing") == want.missing_conversations));
        let wall = run.wall.as_secs_f64();
        let first = *first_wall.get_or_insert(wall);
        let conn = rusqlite::Connection::open(archive.join("archive.sqlite"))?;
        let sightings: i64 = conn.query_row(
            "SELECT coalesce(sum(length(bits)), 0) FROM sighting_parts",
            [],
            |r| r.get(0),
        )?;
        let week_sightings = sightings - prev_sightings;
        prev_sightings = sightings;
        println!(
            "week {week:>2}  ingest {wall:>7.2} s  peak RSS {:>6.1} MiB  read {} new {} unchanged {} changed {} missing {} entries / {} conversations  counts {}",
            run.max_rss_kib as f64 / 1024.0,
            got("entries_read"),
            got("entries_new"),
            got("entries_unchanged"),
            got("entries_changed"),
            got("entries_missing"),
            got("conversations_missing"),
            if counts_ok {
                "match the generator"
            } else {
                "DIFFER from the generator"
            },
        );
        if !counts_ok {
            println!("          generator: {want:?}");
        }
        if week > 1 && want.unchanged > 0 {
            println!(
                "          beyond week 1's time: {:.2} µs per unchanged entry",
                (wall - first * want.new as f64 / args.per_week.max(1) as f64).max(0.0) * 1e6
                    / want.unchanged as f64
            );
        }
        println!(
            "          export {:.1} MB  archive {:.1} MB  sightings this week {} bytes ({:.4} bytes per unchanged entry)",
            zip_bytes as f64 / 1e6,
            dir_size(&archive) as f64 / 1e6,
            week_sightings,
            week_sightings as f64 / want.unchanged.max(1) as f64
        );
        searches(&args, &archive, &conn, week)?;
    }
    if let Some(first) = first_wall {
        parts(&args, &series, &dir, &archive, first)?;
    }
    Ok(())
}

/// Ingests `zip` into `archive` with the clock of week `week`, then
/// removes it; the run and the ingest's JSON report.
fn ingest(
    archive: &Path,
    zip: &Path,
    week: u64,
) -> Result<(support::Run, serde_json::Value), Box<dyn std::error::Error>> {
    let out = ingest_kept(archive, zip, week)?;
    std::fs::remove_file(zip)?;
    Ok(out)
}

/// [`ingest`], keeping the zip.
fn ingest_kept(
    archive: &Path,
    zip: &Path,
    week: u64,
) -> Result<(support::Run, serde_json::Value), Box<dyn std::error::Error>> {
    let run = timed(
        Command::new(env!("CARGO_BIN_EXE_convault"))
            .env("CONVAULT_NOW", now_of(week))
            .arg("--archive")
            .arg(archive)
            .args(["ingest", "--json"])
            .arg(zip),
        None,
    )?;
    let report = serde_json::from_slice(&run.stdout)?;
    Ok((run, report))
}

/// What each part of a week costs at the archive's final size, each
/// ingested alone: the last week again (other member sizes, so other
/// bytes: every entry unchanged); the next week's edits, redactions and
/// deletions without its new conversations; then its new conversations
/// without the changes. A part's cost is its wall time less its unchanged
/// entries at the first figure's rate.
fn parts(
    args: &Args,
    series: &synth::Weekly,
    dir: &Path,
    archive: &Path,
    first_wall: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let k = args.weeks;
    println!("the parts of a week at week {k}'s size, each ingested alone:");
    let zip = dir.join("again.zip");
    // Other member sizes than the weekly zips' (250,000), so other bytes.
    series.write_week(&zip, k, (args.per_week * k / 3).clamp(1, 200_000))?;
    let (run, r) = ingest(archive, &zip, k + 1)?;
    let got = |r: &serde_json::Value, k: &str| r[k].as_u64().unwrap_or(0);
    let unchanged = got(&r, "entries_unchanged");
    let wall = run.wall.as_secs_f64();
    let per_unchanged = wall / unchanged.max(1) as f64;
    println!(
        "  week {k} again          {wall:>7.2} s  peak RSS {:>6.1} MiB  unchanged {unchanged} (new {}, changed {}): {:.2} µs per unchanged entry",
        run.max_rss_kib as f64 / 1024.0,
        got(&r, "entries_new"),
        got(&r, "entries_changed"),
        per_unchanged * 1e6
    );
    let only = |new, changes, old| synth::Parts { new, changes, old };
    // The new conversations are measured twice: with the older ones
    // unchanged beside them (a week's export less its changes; their cost
    // is found by subtracting the unchanged at the rate above), and as an
    // export that holds nothing else (their cost measured directly; the
    // archive then reports every older conversation missing); the second
    // takes the next week's new conversations, the first's being archived.
    // Then once more with the week after's: compared with the export before,
    // which held only the million of "new only", the missing are that
    // million, not the whole archive (about 2 s, not 30 s, at the million
    // scale), so this one is the direct measure.
    let mut again = 0.0;
    for (name, week, part) in [
        ("changes alone", k + 1, only(false, true, true)),
        ("new alone", k + 1, only(true, false, true)),
        ("new only", k + 2, only(true, false, false)),
        ("new only again", k + 3, only(true, false, false)),
    ] {
        let zip = dir.join("part.zip");
        let want = series.write_week_parts(&zip, week, 250_000, part)?;
        let (run, r) = ingest(archive, &zip, week)?;
        let wall = run.wall.as_secs_f64();
        let unchanged = got(&r, "entries_unchanged");
        let cost = wall - unchanged as f64 * per_unchanged;
        let (new, changed) = (got(&r, "entries_new"), got(&r, "entries_changed"));
        let counts_ok = new == want.new && changed == want.changed && unchanged == want.unchanged;
        println!(
            "  week {week} {name:<14} {wall:>7.2} s  peak RSS {:>6.1} MiB  new {new} changed {changed} unchanged {unchanged} missing {} (counts {}): beyond the unchanged {cost:.2} s{}",
            run.max_rss_kib as f64 / 1024.0,
            got(&r, "entries_missing"),
            if counts_ok { "match" } else { "DIFFER" },
            if part.new {
                format!(", {:.2}× week 1's {first_wall:.2} s", cost / first_wall)
            } else {
                format!(
                    ", {:.1} µs per changed entry",
                    cost * 1e6 / changed.max(1) as f64
                )
            }
        );
        again = cost;
    }
    let (aside, wal) = floor(args, series, dir)?;
    println!(
        "  new only again against the floor: {:.2}× week 1 built aside just now, {:.2}× the same number through the WAL",
        again / aside,
        again / wal
    );
    Ok(())
}

/// The floor of a week's new entries: week 1's export into a new archive
/// (built aside: no WAL, every page written once) and into an archive that
/// already holds an export (through the WAL, as every later ingest must go,
/// so that readers are never blocked). Three runs of each, alternating;
/// their medians.
fn floor(
    args: &Args,
    series: &synth::Weekly,
    dir: &Path,
) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let zip = dir.join("floor-week-1.zip");
    series.write_week(&zip, 1, 250_000)?;
    // One conversation, of another series: what makes the archive exist.
    let small = dir.join("floor-small.zip");
    let tiny = synth::Weekly {
        per_week: 24,
        seed: args.seed + 1,
    };
    let (mut aside, mut wal) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let a = dir.join("floor-aside");
        let w = dir.join("floor-wal");
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&w);
        aside.push(ingest_kept(&a, &zip, 1)?.0.wall.as_secs_f64());
        tiny.write_week(&small, 1, 250_000)?;
        ingest(&w, &small, 1)?;
        wal.push(ingest_kept(&w, &zip, 1)?.0.wall.as_secs_f64());
        std::fs::remove_dir_all(&a)?;
        std::fs::remove_dir_all(&w)?;
    }
    std::fs::remove_file(&zip)?;
    println!(
        "floor: week 1's {} new entries into a new archive (built aside) {} s, into an archive holding one conversation (through the WAL) {} s",
        args.per_week,
        seconds(&aside),
        seconds(&wal)
    );
    let (aside, wal) = (median(aside), median(wal));
    println!(
        "  medians {aside:.2} s and {wal:.2} s: the WAL costs {:.2}× a new archive",
        wal / aside
    );
    Ok((aside, wal))
}

/// `a, b, c` to two decimals.
fn seconds(v: &[f64]) -> String {
    v.iter()
        .map(|s| format!("{s:.2}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The clock each week's ingest runs at: the Monday after its week.
fn now_of(week: u64) -> String {
    let start = jiff::Timestamp::from_second(1_767_571_200).unwrap_or_default();
    let at = start + jiff::SignedDuration::from_hours(24 * 7 * week as i64 + 9);
    at.to_string()
}

/// Median process wall times of each search class, convault and shell.
fn searches(
    args: &Args,
    archive: &Path,
    conn: &rusqlite::Connection,
    week: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    // A session of a conversation of the middle week.
    let session: String = conn.query_row(
        "SELECT record_id FROM entry_related ORDER BY conversation_id
         LIMIT 1 OFFSET (SELECT count(*) / 2 FROM entry_related)",
        [],
        |r| r.get(0),
    )?;
    let mid = week.div_ceil(2);
    let day = |w: u64| -> String {
        let start = jiff::Timestamp::from_second(1_767_571_200).unwrap_or_default();
        (start + jiff::SignedDuration::from_hours(24 * 7 * (w as i64 - 1)))
            .to_string()
            .chars()
            .take(10)
            .collect()
    };
    let (after, before) = (day(mid), day(mid + 1));
    let after_ms = 1_767_571_200_000i64 + (mid as i64 - 1) * 7 * 86_400_000;
    let before_ms = after_ms + 7 * 86_400_000;
    let time = "coalesce(e.server_ms, e.client_ms)";
    let fts = |m: &str, extra: &str| {
        format!(
            "SELECT e.identifier, {time} FROM entries_fts JOIN entries e ON e.id = entries_fts.rowid \
             WHERE entries_fts MATCH '{m}' {extra} ORDER BY {time} DESC LIMIT 50;"
        )
    };
    let classes: Vec<(&str, Vec<String>, String)> = vec![
        ("common word", vec!["refund".into()], fts("refund", "")),
        (
            "two words",
            vec!["refund".into(), "card".into()],
            fts("refund card", ""),
        ),
        (
            "phrase",
            vec!["\"refund card\"".into()],
            fts("\"refund card\"", ""),
        ),
        (
            "words + dates",
            vec![
                "refund".into(),
                format!("after:{after}"),
                format!("before:{before}"),
            ],
            fts(
                "refund",
                &format!("AND {time} >= {after_ms} AND {time} < {before_ms}"),
            ),
        ),
        (
            "session: alone",
            vec![format!("session:{session}")],
            format!(
                "SELECT e.identifier, {time} FROM entries e, json_each(e.related_records) j \
                 WHERE j.value = '{session}' ORDER BY {time} DESC LIMIT 50;"
            ),
        ),
    ];
    for (name, words, sql) in classes {
        let (ours, out) = median_ms(args.search_runs, || {
            let mut c = Command::new(env!("CARGO_BIN_EXE_convault"));
            c.arg("--archive")
                .arg(archive)
                .args(["search", "--json", "--limit", "50"])
                .args(&words);
            c
        })?;
        let hits = serde_json::from_slice::<Vec<serde_json::Value>>(&out)
            .map(|v| v.len())
            .unwrap_or(0);
        let (peer, _) = median_ms(args.search_runs, || shell(args, archive, &sql))?;
        println!(
            "          search {name:<15} convault {ours:>8.1} ms ({hits} hits)   sqlite3 shell {peer:>8.1} ms"
        );
    }
    show(args, archive, conn)
}

/// Median process wall time of `show` for the first conversation of week 1
/// (held by every export since, so every export's sightings are asked
/// about it), beside the shell reading the same conversation's entries.
fn show(
    args: &Args,
    archive: &Path,
    conn: &rusqlite::Connection,
) -> Result<(), Box<dyn std::error::Error>> {
    let (id, conversation): (i64, String) = conn.query_row(
        "SELECT id, identifier FROM conversations ORDER BY id LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (ours, out) = median_ms(args.search_runs, || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_convault"));
        c.arg("--archive")
            .arg(archive)
            .args(["show", "--json", &conversation]);
        c
    })?;
    let lines = serde_json::from_slice::<serde_json::Value>(&out)
        .map(|v| v["entries"].as_array().map_or(0, Vec::len))
        .unwrap_or(0);
    let sql = format!(
        "SELECT identifier, version, text FROM entries WHERE conversation_id = {id} \
         ORDER BY coalesce(server_ms, client_ms), id;"
    );
    let (peer, _) = median_ms(args.search_runs, || shell(args, archive, &sql))?;
    println!(
        "          show (week 1's first)  convault {ours:>8.1} ms ({lines} entries)      sqlite3 shell {peer:>8.1} ms"
    );
    Ok(())
}

/// The median wall time in ms of `runs` runs of the command `make`
/// builds, and the last run's stdout.
fn median_ms(
    runs: usize,
    make: impl Fn() -> Command,
) -> Result<(f64, Vec<u8>), Box<dyn std::error::Error>> {
    let mut walls = Vec::new();
    let mut stdout = Vec::new();
    for _ in 0..runs {
        let r = timed(&mut make(), None)?;
        walls.push(r.wall.as_secs_f64() * 1e3);
        stdout = r.stdout;
    }
    Ok((median(walls), stdout))
}

/// The `sqlite3` shell running `sql` on the archive, read-only.
fn shell(args: &Args, archive: &Path, sql: &str) -> Command {
    let mut c = Command::new(&args.sqlite3);
    c.arg("-readonly")
        .arg(archive.join("archive.sqlite"))
        .arg(sql);
    c
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
