//! Writes a large synthetic Conversation Transcript Export for benchmarks.
//!
//! `cargo run --release -p convault-test-support --bin synth -- --entries 1000000 --out big.zip [--csv big.csv]`
//!
//! `--csv` also writes the same rows as one plain CSV, for loading with the
//! `sqlite3` shell as the benchmark's peer (see `bench/ingest.sh`).

use convault_test_support::synth;

use std::path::PathBuf;

use clap::Parser;

/// Write a deterministic synthetic transcript export.
#[derive(Parser)]
struct Args {
    /// How many entries to write
    #[arg(long)]
    entries: u64,
    /// The zip file to write
    #[arg(long)]
    out: PathBuf,
    /// Also write the rows as one plain CSV here
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Rows per zip member
    #[arg(long, default_value_t = 250_000)]
    per_member: u64,
    /// Seed: the same seed gives the same bytes
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write week K of the weekly complete-export series instead
    /// (`--entries` new entries a week; see benches/weekly.rs)
    #[arg(long, value_name = "K")]
    week: Option<u64>,
    /// With --week, a part of the week, as the weekly benchmark's parts:
    /// `new`, the older conversations as week K − 1 held them and the
    /// week's new ones; `changes`, the older conversations with the week's
    /// edits, redactions and deletions, and nothing new; `new-only`, the
    /// week's new conversations and nothing older
    #[arg(long, requires = "week", value_parser = ["new", "changes", "new-only"])]
    part: Option<String>,
}

fn main() -> std::io::Result<()> {
    let a = Args::parse();
    if let Some(week) = a.week {
        let series = synth::Weekly {
            per_week: a.entries,
            seed: a.seed,
        };
        let counts = match a.part.as_deref() {
            None => series.write_week(&a.out, week, a.per_member)?,
            Some(part) => series.write_week_parts(
                &a.out,
                week,
                a.per_member,
                synth::Parts {
                    new: part != "changes",
                    changes: part == "changes",
                    old: part != "new-only",
                },
            )?,
        };
        eprintln!("wrote week {week} to {}: {counts:?}", a.out.display());
        return Ok(());
    }
    synth::write(&a.out, a.csv.as_deref(), a.entries, a.per_member, a.seed)?;
    eprintln!("wrote {} entries to {}", a.entries, a.out.display());
    Ok(())
}
