//! Ingest benchmark: convault against the `sqlite3` shell, in the same run.
//!
//! `cargo bench --bench ingest -- [--entries N] [--runs R] [--dir DIR] [--sqlite3 PATH]`
//!
//! 1. Writes a synthetic export of N entries (tools/src/synth.rs) as a
//!    zip, and the same rows as one plain CSV.
//! 2. R times, alternating: `convault ingest` of the zip into a new archive
//!    (end to end: copy, parse, index, durable commit), and the `sqlite3`
//!    shell loading the CSV (`.import`, then an FTS5 table over the message
//!    text, extracted with `json_extract`), each into a new database.
//! 3. Prints each run and the medians: wall time, peak RSS (from `wait4`),
//!    and convault's time as a fraction of the shell's.
//! 4. Splits the CSV into records as an ingest's reading thread does
//!    (`csv_split::Splitter`), beside the csv crate reading the same file
//!    into byte records, in this process: the medians of R runs.
//!
//! `sync` runs before each timed command so that neither pays for the
//! other's write-back. Record results in docs/performance.md.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use clap::Parser;
use convault::source::csv_split::Splitter;
use support::{Run, median, timed};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    common: support::Common,
    /// The sqlite3 shell to compare with
    #[arg(long, default_value = "sqlite3")]
    sqlite3: PathBuf,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let ws = args.common.prepare(true)?;
    let (dir, zip) = (&ws.dir, &ws.zip);
    let csv = ws.csv.clone().ok_or("no CSV written")?;
    let shell_version = Command::new(&args.sqlite3).arg("--version").output()?;
    println!(
        "entries {}  zip {} bytes  csv {} bytes",
        args.common.entries,
        std::fs::metadata(zip)?.len(),
        std::fs::metadata(&csv)?.len()
    );
    println!(
        "sqlite3 shell {}",
        String::from_utf8_lossy(&shell_version.stdout).trim()
    );
    let script = format!(
        ".import --csv {csv}\n\
         CREATE VIRTUAL TABLE entries_fts USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');\n\
         INSERT INTO entries_fts (rowid, text) SELECT rowid, json_extract(entry_payload, '$.abstractMessage.staticContent.text') FROM entries;\n",
        csv = format_args!("{} entries", csv.display()),
    );

    let mut ours = Vec::new();
    let mut peer = Vec::new();
    for run in 1..=args.common.runs {
        let archive = dir.join(format!("archive-{run}"));
        let _ = std::fs::remove_dir_all(&archive);
        let r = timed(
            Command::new(env!("CARGO_BIN_EXE_convault"))
                .arg("--archive")
                .arg(&archive)
                .arg("ingest")
                .arg(zip),
            None,
        )?;
        let rows: i64 = rusqlite::Connection::open(archive.join("archive.sqlite"))?.query_row(
            "SELECT count(*) FROM entries_fts",
            [],
            |r| r.get(0),
        )?;
        print_run(run, "convault", &r, &rows.to_string());
        ours.push(r);
        let _ = std::fs::remove_dir_all(&archive);

        let db = dir.join(format!("shell-{run}.db"));
        let _ = std::fs::remove_file(&db);
        let r = timed(Command::new(&args.sqlite3).arg(&db), Some(&script))?;
        let rows: String = String::from_utf8_lossy(
            &Command::new(&args.sqlite3)
                .arg(&db)
                .arg("SELECT count(*) FROM entries_fts")
                .output()?
                .stdout,
        )
        .trim()
        .to_owned();
        print_run(run, "sqlite3", &r, &rows);
        peer.push(r);
        let _ = std::fs::remove_file(&db);
    }
    let ours_wall = median(ours.iter().map(|r| r.wall.as_secs_f64()).collect());
    let peer_wall = median(peer.iter().map(|r| r.wall.as_secs_f64()).collect());
    let ours_rss = ours.iter().map(|r| r.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    println!(
        "median  convault {ours_wall:.2} s  sqlite3 {peer_wall:.2} s  ratio {:.2}  convault max peak RSS {ours_rss:.1} MiB",
        ours_wall / peer_wall
    );
    split(&csv, args.common.runs)
}

/// Times splitting `csv` into records, convault's way and the csv crate's.
fn split(csv: &std::path::Path, runs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let mut ours = Vec::new();
    let mut peer = Vec::new();
    let mut counts = (0u64, 0u64);
    for _ in 0..runs {
        let start = Instant::now();
        let mut splitter = Splitter::new(std::fs::File::open(csv)?);
        let mut record = Vec::new();
        counts.0 = 0;
        while splitter.next_into(&mut record)?.is_some() {
            counts.0 += 1;
            record.clear();
        }
        ours.push(start.elapsed().as_secs_f64());

        let start = Instant::now();
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(csv)?;
        let mut record = csv::ByteRecord::new();
        counts.1 = 0;
        while reader.read_byte_record(&mut record)? {
            counts.1 += 1;
        }
        peer.push(start.elapsed().as_secs_f64());
    }
    if counts.0 != counts.1 {
        return Err(format!(
            "split {} records, the csv crate read {}",
            counts.0, counts.1
        )
        .into());
    }
    println!(
        "split {} records: convault's splitter {:.3} s  csv crate {:.3} s (medians of {runs})",
        counts.0,
        median(ours),
        median(peer)
    );
    Ok(())
}

fn print_run(run: usize, who: &str, r: &Run, fts_rows: &str) {
    println!(
        "run {run}  {who:<9} {:>7.2} s  {:>7.1} MiB peak RSS  ({fts_rows} FTS rows)",
        r.wall.as_secs_f64(),
        r.max_rss_kib as f64 / 1024.0
    );
}
