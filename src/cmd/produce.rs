//! `convault produce` and `convault produce verify`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::print_json;
use crate::archive::Archive;
use crate::clock;
use crate::config::Config;
use crate::error::Error;
use crate::exit::ExitCode;
use crate::produce::{self, verify};
use crate::sanitize::for_terminal;

/// `convault produce`: its options, or `produce verify`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<ProduceCommand>,
    /// Where to write the bag (a directory; with --zip, a zip file); must
    /// not exist
    #[arg(long, value_name = "PATH", required = true)]
    pub out: Option<PathBuf>,
    /// Produce these conversations whole, with or without a query (it
    /// takes every argument up to the next option: give the query first)
    #[arg(long = "conversation", value_name = "ID", num_args = 1..)]
    pub conversations: Vec<String>,
    /// Only the matching entries, not whole conversations
    #[arg(long)]
    pub hits_only: bool,
    /// Write the bag as one zip file
    #[arg(long)]
    pub zip: bool,
    /// Write a bag even when nothing matches
    #[arg(long)]
    pub allow_empty: bool,
    /// Make the load file safe to open in a spreadsheet: a cell starting
    /// with = + - @ (a formula to Excel) gets a leading '. Off by default,
    /// so the load file holds every text exactly (docs/produce.md)
    #[arg(long)]
    pub excel_safe: bool,
    /// A name for the production (Internal-Sender-Description)
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// Who produces it, for the ledger [default: the login name]
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Print a JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// The query, in the search language (docs/search.md)
    #[arg(value_name = "QUERY")]
    pub words: Vec<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ProduceCommand {
    /// Check a bag: every file present and matching its manifests, nothing
    /// unlisted, Payload-Oxum; with an archive, every produced entry
    /// unchanged and the production's ledger record (exit 3 on a failure)
    Verify {
        /// The bag: its directory, or a zipped bag
        #[arg(value_name = "BAG")]
        bag: PathBuf,
        /// Print a JSON object on stdout
        #[arg(long)]
        json: bool,
    },
}

/// Runs `convault produce` (or `produce verify`).
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    if let Some(ProduceCommand::Verify { bag, json }) = args.command {
        return run_verify(archive, &bag, json);
    }
    let out = args
        .out
        .ok_or_else(|| Error::Usage("give --out PATH, where the bag is written".into()))?;
    let config = Config::load(archive.root())?;
    let opts = produce::Options {
        terms: args.words,
        conversations: args.conversations,
        out,
        name: args.name,
        who: args.by.unwrap_or_else(clock::default_actor),
        hits_only: args.hits_only,
        zip: args.zip,
        allow_empty: args.allow_empty,
        excel_safe: args.excel_safe,
        now: clock::now()?,
        organization: config.produce.and_then(|p| p.source_organization),
        progress: true,
    };
    let mut warnings = Vec::new();
    let p = produce::produce(archive, &opts, &mut warnings);
    super::print_warnings(&warnings);
    let p = p.with_context(|| format!("produce from {}", archive.root().display()))?;
    if args.json {
        print_json(&p)?;
    }
    match (&p.production, &p.path) {
        (Some(id), Some(path)) => eprintln!(
            "{id}: {} conversations, {} entry versions, {} payload files ({} bytes) in {}\n  result-set hash {}\n  recorded as ledger record {}; check it with `convault produce verify {}`",
            p.conversations,
            p.entries,
            p.payload_files,
            p.payload_bytes,
            for_terminal(path),
            p.result_set_hash.as_deref().unwrap_or(""),
            p.ledger_record.unwrap_or(0),
            for_terminal(path)
        ),
        _ => eprintln!(
            "nothing matched {}: no bag written (--allow-empty writes an empty one)",
            for_terminal(&p.query)
        ),
    }
    Ok(ExitCode::Ok)
}

fn run_verify(archive: &Archive, bag: &std::path::Path, json: bool) -> Result<ExitCode> {
    if bag.is_file() {
        // A zipped bag is checked in a private copy: an owner-only
        // directory (the transcripts are readable by no one else), new,
        // and removed after, whatever happens.
        let tmp = std::env::temp_dir();
        let scratch = tempfile::Builder::new()
            .prefix("convault-verify-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .map_err(|e| Error::io(&tmp, e))?;
        let root = verify::unzip(bag, scratch.path())?;
        return check(archive, &root, bag, json);
    }
    check(archive, bag, bag, json)
}

fn check(
    archive: &Archive,
    root: &std::path::Path,
    shown: &std::path::Path,
    json: bool,
) -> Result<ExitCode> {
    let conn = if archive.exists() {
        Some(archive.open_read_only()?)
    } else {
        None
    };
    let mut report = verify::verify(root, conn.as_ref())?;
    report.bag = shown.display().to_string();
    if json {
        print_json(&report)?;
    } else {
        for f in &report.failures {
            println!(
                "{}\t{}\texpected: {}\tfound: {}",
                f.kind,
                for_terminal(&f.file),
                for_terminal(f.expected.as_deref().unwrap_or("-")),
                for_terminal(f.found.as_deref().unwrap_or("-"))
            );
        }
    }
    let archive_part = if report.archive_checked {
        format!(
            "; against {}: {} entry versions checked, ledger record looked for",
            archive.root().display(),
            report.entries_checked
        )
    } else {
        format!(
            "; no archive at {} (give --archive DIR to check the entries and the ledger)",
            archive.root().display()
        )
    };
    if report.ok {
        eprintln!(
            "{} ({}): valid, {} payload files, {} bytes{archive_part}",
            for_terminal(&report.bag),
            report
                .production
                .as_deref()
                .unwrap_or("no External-Identifier"),
            report.payload_files,
            report.payload_bytes
        );
        Ok(ExitCode::Ok)
    } else {
        eprintln!(
            "{}: {} failures{archive_part}",
            for_terminal(&report.bag),
            report.failures.len()
        );
        Ok(ExitCode::Integrity)
    }
}
