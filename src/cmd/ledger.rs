//! `convault ledger show | verify | checkpoint`.

use std::io::Write;

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::print_json;
use crate::archive::Archive;
use crate::clock;
use crate::exit::ExitCode;
use crate::ledger::{self, Record, verify::Checkpoint};
use crate::sanitize::for_terminal;

#[derive(Debug, clap::Subcommand)]
pub enum LedgerCommand {
    /// Print every ledger record, oldest first
    Show {
        /// Print a JSON array on stdout
        #[arg(long)]
        json: bool,
    },
    /// Recompute the hash chain and report every failure (exit 3 if any)
    ///
    /// Reports changed records, broken links, missing records and
    /// reordering. Deleting the newest records, or rewriting the history
    /// with fresh hashes, shows only against a checkpoint taken earlier.
    Verify {
        /// Print a JSON object on stdout
        #[arg(long)]
        json: bool,
        /// Also prove the ledger still extends this checkpoint
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Print the ledger's head (record count and head hash) as JSON
    ///
    /// Keep it outside the archive (print it, mail it, store it elsewhere):
    /// `ledger verify --checkpoint FILE` later proves no record was removed
    /// or rewritten since.
    Checkpoint {
        /// Also write it to FILE
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

pub fn run(archive: &Archive, cmd: LedgerCommand) -> Result<ExitCode> {
    let conn = archive
        .open_read_only()
        .with_context(|| format!("open {}", archive.root().display()))?;
    let records = ledger::read_all(&conn).context("read the ledger")?;
    match cmd {
        LedgerCommand::Show { json } => {
            if json {
                print_json(&records)?;
            } else {
                let mut out = std::io::stdout().lock();
                for r in &records {
                    out.write_all(render(r).as_bytes())?;
                }
                if records.is_empty() {
                    eprintln!("the ledger is empty");
                }
            }
            Ok(ExitCode::Ok)
        }
        LedgerCommand::Verify { json, checkpoint } => {
            let cp = checkpoint
                .as_deref()
                .map(Checkpoint::read)
                .transpose()
                .context("read the checkpoint")?;
            let report = ledger::verify::verify(&records, cp.as_ref());
            if json {
                print_json(&report)?;
            } else {
                print!("{}", render_report(&report));
            }
            Ok(if report.ok {
                ExitCode::Ok
            } else {
                ExitCode::Integrity
            })
        }
        LedgerCommand::Checkpoint { out } => {
            let cp = Checkpoint::of(&records, clock::rfc3339_ms(clock::now()?));
            let text = serde_json::to_string(&cp)? + "\n";
            if let Some(path) = out {
                archive
                    .write_out(&path, text.as_bytes())
                    .context("write the checkpoint")?;
                eprintln!(
                    "checkpoint of {} records written to {}; keep it outside the archive",
                    cp.records,
                    for_terminal(&path.display().to_string())
                );
            }
            print!("{text}");
            Ok(ExitCode::Ok)
        }
    }
}

fn render(r: &Record) -> String {
    format!(
        "{:<5} {}  {}  by {}\n      {}\n      hash {}  prev {}\n",
        r.seq,
        r.time,
        for_terminal(&r.kind),
        for_terminal(&r.who),
        for_terminal(&r.details.to_string()),
        r.hash,
        r.prev
    )
}

fn render_report(r: &ledger::verify::Report) -> String {
    let mut s = String::new();
    if r.ok {
        s.push_str(&format!(
            "ledger intact: {} records, head {}\n",
            r.records,
            r.head.as_deref().unwrap_or(ledger::GENESIS)
        ));
        if let Some(cp) = &r.checkpoint {
            s.push_str(&format!(
                "it extends the checkpoint of {} ({} records, head {})\n",
                cp.time, cp.records, cp.head
            ));
        }
    } else {
        s.push_str(&format!(
            "LEDGER FAILED VERIFICATION: {} failure{} in {} records\n",
            r.failures.len(),
            if r.failures.len() == 1 { "" } else { "s" },
            r.records
        ));
        for f in &r.failures {
            s.push_str(&format!(
                "  {}: {}\n    expected {}\n    found    {}\n",
                f.kind, f.detail, f.expected, f.found
            ));
        }
    }
    for w in &r.warnings {
        s.push_str(&format!("warning: {}\n", for_terminal(w)));
    }
    s
}
