//! Ingest benchmark: convault against the `sqlite3` shell, in the same run.
//!
//! `cargo bench --bench ingest -- [--entries N] [--runs R] [--dir DIR] [--sqlite3 PATH]`
//!
//! 1. Writes a synthetic export of N entries (tests/support/synth.rs) as a
//!    zip, and the same rows as one plain CSV.
//! 2. R times, alternating: `convault ingest` of the zip into a new archive
//!    (end to end: copy, parse, index, durable commit), and the `sqlite3`
//!    shell loading the CSV (`.import`, then an FTS5 table over the message
//!    text, extracted with `json_extract`), each into a new database.
//! 3. Prints each run and the medians: wall time, peak RSS (from `wait4`),
//!    and convault's time as a fraction of the shell's.
//!
//! `sync` runs before each timed command so that neither pays for the
//! other's write-back. Record results in docs/performance.md.

#[path = "../tests/support/synth.rs"]
mod synth;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Entries in the synthetic export
    #[arg(long, default_value_t = 1_000_000)]
    entries: u64,
    /// Timed runs of each side
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where to write the export and the databases [default: a temporary directory]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The sqlite3 shell to compare with
    #[arg(long, default_value = "sqlite3")]
    sqlite3: PathBuf,
    /// Ignored (cargo bench passes it)
    #[arg(long, hide = true)]
    bench: bool,
}

/// One timed child process.
struct Run {
    wall: Duration,
    max_rss_kib: i64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let zip = dir.join("synth.zip");
    let csv = dir.join("synth.csv");
    eprintln!("writing {} entries to {}", args.entries, zip.display());
    synth::write(&zip, Some(&csv), args.entries, 250_000, 1)?;
    let shell_version = Command::new(&args.sqlite3).arg("--version").output()?;
    println!(
        "entries {}  zip {} bytes  csv {} bytes",
        args.entries,
        std::fs::metadata(&zip)?.len(),
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
    for run in 1..=args.runs {
        let archive = dir.join(format!("archive-{run}"));
        let _ = std::fs::remove_dir_all(&archive);
        let r = timed(
            Command::new(env!("CARGO_BIN_EXE_convault"))
                .arg("--archive")
                .arg(&archive)
                .arg("ingest")
                .arg(&zip),
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
    Ok(())
}

fn print_run(run: usize, who: &str, r: &Run, fts_rows: &str) {
    println!(
        "run {run}  {who:<9} {:>7.2} s  {:>7.1} MiB peak RSS  ({fts_rows} FTS rows)",
        r.wall.as_secs_f64(),
        r.max_rss_kib as f64 / 1024.0
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs `cmd` (with `stdin` text, if any) after a `sync`, and returns its
/// wall time and peak RSS. Fails if it exits non-zero.
fn timed(cmd: &mut Command, stdin: Option<&str>) -> Result<Run, Box<dyn std::error::Error>> {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let start = Instant::now();
    let mut child = cmd.spawn()?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        std::io::Write::write_all(&mut pipe, text.as_bytes())?;
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our unreaped child; status and usage are valid pointers.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if r != pid {
        return Err(format!("wait4 failed: {}", std::io::Error::last_os_error()).into());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{cmd:?} failed (status {status})").into());
    }
    Ok(Run {
        wall,
        max_rss_kib: usage.ru_maxrss,
    })
}
