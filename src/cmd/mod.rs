//! The command layer: one file per subcommand. Each turns library results
//! into output (data on stdout, messages on stderr) and adds context to
//! errors with anyhow.

pub mod certificate;
pub mod completions;
pub mod dispose;
pub mod erase;
pub mod fetch;
pub mod hold;
pub mod ingest;
pub mod ledger;
pub mod produce;
pub mod profiles;
pub mod receipt;
pub mod request;
pub mod retention;
pub mod search;
pub mod show;
pub mod status;
pub mod verify;

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::archive::{Archive, DEFAULT_DIR};
use crate::exit::ExitCode;

/// A verified, searchable, tamper-evident archive of Salesforce
/// conversation exports.
#[derive(Debug, clap::Parser)]
#[command(
    name = "convault",
    version,
    about,
    long_about = None,
    after_help = "Exit codes: 0 ok, 1 error (or nothing found where something was asked for), 2 usage, 3 integrity failure, \
                  4 refused by a rule (the export cadence, a legal hold, the retention minimum, two exports of one generation time; \
                  fetch: stopped by the budget), 5 archive locked, 6 input rejected (nothing was ingested)."
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

/// The subcommands, each with its arguments beside its code.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Ingest an export: zip files, several parts of one export, or a directory
    ///
    /// Every input file is copied byte for byte into the archive and hashed;
    /// every member is read by content. What cannot be recognised is
    /// quarantined with a reason; a damaged zip member (failed CRC) rejects
    /// the whole ingest with exit 6 and writes nothing. The whole export is
    /// one transaction: it is in the archive wholly or not at all.
    Ingest(ingest::Args),
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
    /// may be given as separate arguments or as one quoted string, and
    /// options may come before or after it; see docs/search.md.
    ///
    /// Results: a table (matches coloured on a terminal), --json, --ndjson
    /// or --csv with every field and the matches' character offsets;
    /// --sort, --limit and --offset page through them; --count gives their
    /// number, --conversations one line per conversation, --show the
    /// entries around each hit.
    Search(search::Args),
    /// When the next export is allowed and due, what is pending, and gaps
    ///
    /// For each kind of export: the last request and ingest, when the next
    /// request is allowed (UTC and local time), whether one is due or
    /// overdue, a request not yet ingested, and weeks with no export.
    Status(status::Args),
    /// Record that an export is being requested, if the cadence rule allows it
    ///
    /// Refused with exit 4 when the last export of KIND ran less than its
    /// interval ago (7 days; 29 for a monthly Data Export), or when the
    /// previous request has not been ingested (a new export would delete its
    /// files). --override --reason records why the rule was set aside. A
    /// trigger command configured in DIR/config.toml is run after the check.
    Request(request::Args),
    /// Prove the archive is intact, or list every failure (exit 3)
    ///
    /// Re-hashes every stored file, re-reads every zip member (CRC-32 and
    /// SHA-256), recomputes every entry's content hash and text, checks the
    /// full-text index against the entries, runs SQLite's integrity check,
    /// reconciles every export's counts and verifies the ledger. Each run is
    /// recorded in the ledger.
    Verify(verify::Args),
    /// A receipt for one export that an auditor can check without convault
    ///
    /// Its files with sizes and SHA-256, every member with its SHA-256, the
    /// entry counts, its ledger record and hash, and the sha256sum and unzip
    /// commands that check it by hand.
    Receipt(receipt::Args),
    /// Print the built-in profiles: how CSV column names map to fields
    ///
    /// In the format `ingest --profile FILE` takes (docs/profiles.md): copy
    /// one, give it a name of its own, and change its column names to read
    /// a layout convault does not know yet.
    Profiles(profiles::Args),
    /// Print a shell completion script on stdout
    ///
    /// bash: `convault completions bash > ~/.local/share/bash-completion/completions/convault`;
    /// zsh: into a directory of your $fpath as `_convault`; fish:
    /// `convault completions fish > ~/.config/fish/completions/convault.fish`.
    Completions(completions::Args),
    /// Print the manual page (roff) on stdout: `convault man > convault.1`,
    /// then `man ./convault.1`
    Man,
    /// Read conversations through Salesforce's APIs within the activation budget
    ///
    /// Each read is reserved first in the archive's shared budget
    /// (DIR/activations.sqlite) so the org never goes over its limit of
    /// simultaneous active conversations; every page is kept byte for byte
    /// and ingested as one export. Configure [api] in DIR/config.toml first
    /// (docs/fetch.md). Exit 4 when --no-wait stopped for the budget.
    // "[api]" is the help text's, not a link.
    #[allow(rustdoc::broken_intra_doc_links)]
    Fetch(fetch::Args),
    /// Produce an evidence package: a BagIt bag of the conversations a
    /// search finds
    ///
    /// Each conversation with a hit is produced whole (--hits-only: only the
    /// matching entries): its transcript as HTML with the hits marked and as
    /// JSON (every version, raw payload, content hash, provenance), a load
    /// file for review platforms, and production.json with the result-set
    /// hash. The bag is written beside PATH and renamed into place when
    /// complete; the ledger records the production. `produce verify BAG`
    /// checks a bag (docs/produce.md). Exit 3 when verify finds a failure.
    Produce(produce::Args),
    /// The ledger: show it, verify its chain, take a checkpoint
    #[command(subcommand)]
    Ledger(ledger::LedgerCommand),
    /// The retention policy: how long conversations are kept (ledger records)
    ///
    /// A conversation is past retention when its last entry is older than
    /// the period; a minimum is a floor later changes cannot go below
    /// without --override. See docs/retention.md.
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Legal holds: conversations kept whatever the retention policy says
    ///
    /// A hold is its query (or conversations, case, end user), evaluated
    /// again whenever it is asked, and it keeps every conversation it
    /// matched when placed. Placing and releasing are ledger records.
    #[command(subcommand)]
    Hold(hold::HoldCommand),
    /// List the conversations past retention and under no hold; --execute removes them
    ///
    /// Without --execute it changes nothing: the conversations a
    /// disposition would remove (on stdout: identifier, last entry time,
    /// entry versions), their count, the oldest and newest, and the holds
    /// that spared others (stderr). With --execute they leave the database
    /// and the stored originals (each replaced by a derivative without
    /// their rows), and a certificate is written under certificates/; see
    /// docs/retention.md.
    Dispose(dispose::Args),
    /// Verify disposition certificates against the archive
    #[command(subcommand)]
    Certificate(certificate::CertificateCommand),
    /// List what a data subject's erasure request would remove; --execute removes it
    ///
    /// Without --execute it changes nothing. Refused with exit 4 when a
    /// hold in force holds any of the conversations (naming the holds), or
    /// when one is within the retention minimum and the policy does not
    /// allow erasure within it. An end user is matched by record Id or
    /// messaging platform key exactly. With --execute the conversations
    /// are removed as a disposition removes them. See docs/retention.md.
    Erase(erase::Args),
    /// Print a whole conversation as a transcript, in time order
    ///
    /// --format html writes one self-contained page (no scripts, no
    /// external files) that prints cleanly: the conversation's header, each
    /// entry with sender, role and time, links and attachments, and every
    /// earlier version of an edited entry with the exports that carried it.
    Show(show::Args),
}

/// Runs `command` on the archive at `archive` (the default directory when
/// none is given).
pub fn run(archive: Option<PathBuf>, command: Command) -> Result<ExitCode> {
    let archive = Archive::new(archive.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)));
    match command {
        Command::Ingest(args) => ingest::run(&archive, args),
        Command::Search(args) => search::run(&archive, args),
        Command::Status(args) => status::run(&archive, args),
        Command::Request(args) => request::run(&archive, args),
        Command::Verify(args) => verify::run(&archive, args),
        Command::Receipt(args) => receipt::run(&archive, args),
        Command::Profiles(args) => profiles::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Man => completions::man(),
        Command::Fetch(args) => fetch::run(&archive, args),
        Command::Produce(args) => produce::run(&archive, args),
        Command::Ledger(cmd) => ledger::run(&archive, cmd),
        Command::Retention(cmd) => retention::run(&archive, cmd),
        Command::Hold(cmd) => hold::run(&archive, cmd),
        Command::Dispose(args) => dispose::run(&archive, args),
        Command::Certificate(cmd) => certificate::run(&archive, cmd),
        Command::Erase(args) => erase::run(&archive, args),
        Command::Show(args) => show::run(&archive, args),
    }
}

/// Writes `value` as pretty JSON and a newline on stdout.
pub fn print_json<T: Serialize>(value: &T) -> io::Result<()> {
    // Buffered: stdout alone is line-buffered, a write per line.
    let mut out = io::BufWriter::new(io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()
}

/// Groups digits in threes for people (`1,234,567`).
/// Prints what a writer session did on the way in (`writer::Session`),
/// one `warning:` line each on stderr, before the command's own output or
/// error.
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {}", crate::sanitize::for_terminal(w));
    }
}

/// `n` with thousands separators and the word that goes with it: "1
/// conversation", "2 conversations".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
