//! The command line, declared with clap's derive. The first line of each
//! doc comment is the short help; the rest is the long help.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// A verified, searchable, tamper-evident archive of Salesforce
/// conversation exports.
#[derive(Debug, Parser)]
#[command(
    name = "convault",
    version,
    about,
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 error, 2 usage, 3 integrity failure, 4 refused by the cadence rule, \
                  5 archive locked, 6 input rejected (nothing was ingested)."
)]
pub struct Cli {
    /// The archive directory [default: ./convault-archive]
    ///
    /// Created by the first ingest. Read from CONVAULT_ARCHIVE when not given.
    #[arg(long, global = true, env = "CONVAULT_ARCHIVE", value_name = "DIR")]
    pub archive: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ingest an export: zip files, several parts of one export, or a directory
    ///
    /// Every input file is copied byte for byte into the archive and hashed;
    /// every member is read by content. What cannot be recognised is
    /// quarantined with a reason; a damaged zip member (failed CRC) rejects
    /// the whole ingest with exit 6 and writes nothing. The whole export is
    /// one transaction: it is in the archive wholly or not at all.
    Ingest {
        /// Print one JSON object on stdout instead of a summary on stderr
        #[arg(long)]
        json: bool,
        /// Read, check and report without writing anything
        #[arg(long)]
        dry_run: bool,
        /// Zip files, CSV files or directories of one export
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Search message text and event descriptions, newest first
    ///
    /// Every word must match (prefixes are not expanded); case and
    /// diacritics are ignored. Words are taken literally: FTS5 operators
    /// and quotes have no special meaning.
    Search {
        /// Print a JSON array on stdout
        #[arg(long)]
        json: bool,
        /// Show at most this many hits
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: u32,
        /// The words to find
        #[arg(required = true, value_name = "WORDS")]
        words: Vec<String>,
    },
    /// Print a whole conversation as a transcript, in time order
    Show {
        /// Print a JSON object on stdout
        #[arg(long)]
        json: bool,
        /// The conversation identifier
        #[arg(value_name = "CONVERSATION")]
        conversation: String,
    },
}
