//! Produce benchmark (issue 14): `convault produce` of every conversation
//! that matches a common word in a benchmark archive, and bagit-python's
//! `bagit.py --validate` of the same bag in the same run.
//!
//! `cargo bench --bench produce -- --archive DIR --bagit PATH/bagit.py
//!  [--word refund] [--runs 3] [--out DIR]`
//!
//! The archive is one the search or ingest benchmark built (e.g. the
//! 1M-entry `/tmp/sb/archive`); each run adds a `production` record to its
//! ledger. Each run, in turn: convault's production (wall time, peak RSS
//! from `wait4`), the bag's size on disk, then `bagit.py --validate`
//! (wall time, peak RSS). Prints each run and the medians. The bags are
//! kept until every run is done (`--out` needs room for all of them).
//!
//! Record results in docs/performance.md.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use support::{median, timed};

#[derive(Parser)]
struct Args {
    /// The archive to produce from
    #[arg(long)]
    archive: PathBuf,
    /// bagit-python's bagit.py (e.g. from `pip install bagit` in a venv)
    #[arg(long)]
    bagit: PathBuf,
    /// The common word produced
    #[arg(long, default_value = "refund")]
    word: String,
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Where the bags are written (removed after each run)
    #[arg(long, default_value = "/tmp/produce-bench")]
    out: PathBuf,
    /// Ignored (cargo bench passes it)
    #[arg(long, hide = true)]
    bench: bool,
}

const MIB: f64 = 1024.0 * 1024.0;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let (mut ours, mut theirs, mut rss, mut sizes) = (vec![], vec![], vec![], vec![]);
    for run in 1..=args.runs {
        let bag = args.out.join(format!("bag-{run}"));
        let _ = std::fs::remove_dir_all(&bag);
        let p = timed(
            Command::new(env!("CARGO_BIN_EXE_convault"))
                .arg("--archive")
                .arg(&args.archive)
                .args(["produce", "--json", "--by", "bench", "--out"])
                .arg(&bag)
                .arg(&args.word),
            None,
        )?;
        let report: serde_json::Value = serde_json::from_slice(&p.stdout)?;
        let size = du(&bag)?;
        let v = timed(Command::new(&args.bagit).arg("--validate").arg(&bag), None)?;
        println!(
            "run {run}  produce {:>7.2} s  {:>6.1} MiB peak RSS  {} conversations, {} entry versions, bag {:.1} MiB ({} payload files)  |  bagit.py --validate {:>7.2} s  {:>6.1} MiB",
            p.wall.as_secs_f64(),
            p.max_rss_kib as f64 / 1024.0,
            report["conversations"],
            report["entries"],
            size as f64 / MIB,
            report["payload_files"],
            v.wall.as_secs_f64(),
            v.max_rss_kib as f64 / 1024.0,
        );
        ours.push(p.wall.as_secs_f64());
        theirs.push(v.wall.as_secs_f64());
        rss.push(p.max_rss_kib as f64 / 1024.0);
        sizes.push(size as f64 / MIB);
    }
    // Removed only at the end: ext4 looks through recently deleted inodes
    // when it creates files, so a run right after another's 75,000 files
    // were deleted measured up to twice as slow (48, 66, 101 s).
    for run in 1..=args.runs {
        std::fs::remove_dir_all(args.out.join(format!("bag-{run}")))?;
    }
    let (o, t) = (median(ours), median(theirs));
    println!(
        "median  produce {o:.2} s  bagit.py --validate {t:.2} s  ratio {:.2}  produce peak RSS {:.1} MiB  bag {:.1} MiB",
        o / t,
        median(rss),
        median(sizes)
    );
    Ok(())
}

/// Bytes of every file under `p`.
fn du(p: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(p)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() { du(&e.path())? } else { m.len() };
    }
    Ok(total)
}
