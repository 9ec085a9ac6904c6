//! The command line, declared with clap's derive. The first line of each
//! doc comment is the short help; the rest is the long help.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::export::ExportKind;

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
    /// Created by the first ingest (or request). Read from CONVAULT_ARCHIVE when not given.
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
        /// Who is ingesting, for the ledger [default: the login name]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Read CSV files with the profiles in FILE (TOML, or JSON if named
        /// .json) before the built-in ones; repeatable. See docs/profiles.md
        #[arg(long, value_name = "FILE")]
        profile: Vec<PathBuf>,
        /// Zip files, CSV files or directories of one export
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Search message text and event descriptions, newest first
    ///
    /// Words are all required; case and diacritics are ignored.
    /// '"card charged"' is a phrase, refun* a prefix; OR, NOT word or
    /// -word, parentheses and NEAR(card charged, 5) combine them. Fields
    /// narrow the hits: role:, from:, type:, format:, has:attachment,
    /// has:link, after:DATE|TIME (inclusive), before:DATE|TIME (exclusive),
    /// export:N, version:current, conversation:, session:, case:,
    /// enduser:, channel:, substr:TEXT. A date is a whole day in UTC (or
    /// --tz). With fields only, every matching entry is listed. The query
    /// may be given as separate arguments or as one quoted string; see
    /// docs/search.md.
    Search {
        /// Print a JSON array on stdout
        #[arg(long)]
        json: bool,
        /// Show at most this many hits
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: u32,
        /// Read dates in after: and before: as days in this time zone
        /// (an IANA name, e.g. Europe/Paris) instead of UTC
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// Pass the query to SQLite's FTS5 as its own syntax (for experts:
        /// no fields, FTS5's operators and column filters)
        #[arg(long, conflicts_with = "tz")]
        raw: bool,
        /// The query: words, operators and fields (key:value); a word may
        /// start with '-' (refund -card)
        #[arg(required = true, value_name = "QUERY", allow_hyphen_values = true)]
        words: Vec<String>,
    },
    /// When the next export is allowed and due, what is pending, and gaps
    ///
    /// For each kind of export: the last request and ingest, when the next
    /// request is allowed (UTC and local time), whether one is due or
    /// overdue, a request not yet ingested, and weeks with no export.
    Status {
        /// Print a JSON object on stdout
        #[arg(long)]
        json: bool,
        /// Exit 0 if an export is due, 1 if not (for schedulers); prints nothing
        /// unless --json
        #[arg(long)]
        due: bool,
        /// Only this kind of export (with --due: the kind to check)
        #[arg(long, value_enum, value_name = "KIND")]
        kind: Option<ExportKind>,
    },
    /// Record that an export is being requested, if the cadence rule allows it
    ///
    /// Refused with exit 4 when the last export of KIND ran less than its
    /// interval ago (7 days; 29 for a monthly Data Export), or when the
    /// previous request has not been ingested (a new export would delete its
    /// files). --override --reason records why the rule was set aside. A
    /// trigger command configured in DIR/config.toml is run after the check.
    Request {
        /// The kind of export
        #[arg(value_enum, value_name = "KIND")]
        kind: ExportKind,
        /// Who requests it [default: the login name]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// A note kept with the request
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// A monthly Data Export (29 days between exports)
        #[arg(long)]
        monthly: bool,
        /// Request despite a refusal; needs --reason, which is recorded
        #[arg(long = "override", requires = "reason")]
        override_: bool,
        /// Why the rule is overridden
        #[arg(long, value_name = "TEXT", requires = "override_")]
        reason: Option<String>,
        /// Print a JSON object on stdout
        #[arg(long)]
        json: bool,
    },
    /// Prove the archive is intact, or list every failure (exit 3)
    ///
    /// Re-hashes every stored file, re-reads every zip member (CRC-32 and
    /// SHA-256), recomputes every entry's content hash and text, checks the
    /// full-text index against the entries, runs SQLite's integrity check,
    /// reconciles every export's counts and verifies the ledger. Each run is
    /// recorded in the ledger.
    Verify {
        /// Print a JSON object on stdout
        #[arg(long)]
        json: bool,
        /// Only sizes, counts and the ledger: seconds on any archive
        #[arg(long, conflicts_with = "rederive")]
        fast: bool,
        /// Also parse the stored originals again and prove the database holds
        /// exactly what they contain
        #[arg(long)]
        rederive: bool,
        /// Check this share of the objects and entries, going on from where
        /// the last sampled run stopped
        #[arg(long, value_name = "PERCENT", value_parser = parse_percent, conflicts_with = "export")]
        sample: Option<f64>,
        /// Check only this export
        #[arg(long, value_name = "ID")]
        export: Option<i64>,
        /// Who runs it, for the ledger [default: the login name]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
    },
    /// A receipt for one export that an auditor can check without convault
    ///
    /// Its files with sizes and SHA-256, every member with its SHA-256, the
    /// entry counts, its ledger record and hash, and the sha256sum and unzip
    /// commands that check it by hand.
    Receipt {
        /// The export's id (`convault ledger show` lists them)
        #[arg(value_name = "EXPORT_ID")]
        export: i64,
        /// Write it to FILE instead of stdout
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// JSON instead of plain text
        #[arg(long)]
        json: bool,
    },
    /// Print the built-in profiles: how CSV column names map to fields
    ///
    /// In the format `ingest --profile FILE` takes (docs/profiles.md): copy
    /// one, give it a name of its own, and change its column names to read
    /// a layout convault does not know yet.
    Profiles {
        /// JSON instead of TOML
        #[arg(long)]
        json: bool,
    },
    /// The ledger: show it, verify its chain, take a checkpoint
    #[command(subcommand)]
    Ledger(LedgerCommand),
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

#[derive(Debug, Subcommand)]
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

/// A share in percent: more than 0, at most 100.
fn parse_percent(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{s:?} is not a number"))?;
    if p > 0.0 && p <= 100.0 {
        Ok(p)
    } else {
        Err(format!("{s} is not a share between 0 (excluded) and 100"))
    }
}
