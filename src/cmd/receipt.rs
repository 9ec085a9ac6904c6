//! `convault receipt`: a receipt for one export, as text or JSON.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::archive::Archive;
use crate::exit::ExitCode;
use crate::receipt;
use crate::sanitize::for_terminal;

/// The arguments of `convault receipt`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The export's id (`convault ledger show` lists them)
    #[arg(value_name = "EXPORT_ID")]
    pub export: i64,
    /// Write it to FILE instead of stdout
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// JSON instead of plain text
    #[arg(long)]
    pub json: bool,
}

/// Runs `convault receipt`.
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    let Args { export, out, json } = args;
    if let Some(path) = &out {
        archive.check_out(path)?;
    }
    let conn = archive
        .open_read_only()
        .with_context(|| format!("open {}", archive.root().display()))?;
    let r = receipt::receipt(&conn, archive, export)?;
    let text = if json {
        serde_json::to_string_pretty(&r)? + "\n"
    } else {
        receipt::render(&r, archive)
    };
    match out {
        Some(path) => {
            archive
                .write_out(&path, text.as_bytes())
                .context("write the receipt")?;
            eprintln!(
                "receipt for export {export} written to {}",
                for_terminal(&path.display().to_string())
            );
        }
        None if json => print!("{text}"),
        // The text quotes names from the export: sanitised line by line
        // for the terminal (the file keeps them exact).
        None => {
            for line in text.lines() {
                println!("{}", for_terminal(line));
            }
        }
    }
    Ok(ExitCode::Ok)
}
