//! `convault certificate verify`: a disposition certificate against the
//! archive.

use anyhow::{Context, Result};

use super::print_json;
use crate::archive::Archive;
use crate::exit::ExitCode;
use crate::retention::certificate;
use crate::sanitize::for_terminal;

#[derive(Debug, clap::Subcommand)]
pub enum CertificateCommand {
    /// Check a disposition certificate: its SHA-256 is the one its ledger
    /// record holds, every conversation it lists is gone, every derivative
    /// it lists is stored (exit 3 when not)
    Verify {
        /// The certificate's JSON file
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        /// Print one JSON object on stdout
        #[arg(long)]
        json: bool,
    },
}

pub fn run(archive: &Archive, cmd: CertificateCommand) -> Result<ExitCode> {
    let CertificateCommand::Verify { file, json } = cmd;
    let conn = archive
        .open_read_only()
        .with_context(|| format!("open {}", archive.root().display()))?;
    let check = certificate::verify(archive, &conn, &file)
        .with_context(|| format!("verify certificate {}", file.display()))?;
    if json {
        print_json(&check)?;
    }
    for p in &check.problems {
        eprintln!(
            "{}: {}: {}",
            p.kind,
            for_terminal(&p.item),
            for_terminal(&p.detail)
        );
    }
    if check.ok {
        eprintln!(
            "certificate {} verifies: ledger record {}, {} absent, {} replaced as recorded",
            for_terminal(&file.display().to_string()),
            check.ledger_record.unwrap_or_default(),
            super::plural(check.conversations as u64, "conversation", "conversations"),
            super::plural(check.objects as u64, "original", "originals")
        );
        Ok(ExitCode::Ok)
    } else {
        eprintln!(
            "certificate {} does NOT verify: {}",
            for_terminal(&file.display().to_string()),
            super::plural(check.problems.len() as u64, "problem", "problems")
        );
        Ok(ExitCode::Integrity)
    }
}
