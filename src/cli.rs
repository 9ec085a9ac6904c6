//! The command line, declared with clap's derive. The first line of each
//! doc comment is the short help; the rest is the long help.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::export::ExportKind;
use crate::search::Sort;

/// A verified, searchable, tamper-evident archive of Salesforce
/// conversation exports.
#[derive(Debug, Parser)]
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

impl Cli {
    /// Parses `args` (the program's name first), with `search`'s query
    /// words moved after its options: see [`search_words_last`].
    pub fn parse_args(args: impl IntoIterator<Item = OsString>) -> Cli {
        Cli::parse_from(search_words_last(args.into_iter().collect()))
    }
}

/// `args` with the query words of a `search` moved after its options and a
/// `--`, so that a word may start with `-` (`search refund -card`) and
/// options may still follow the words (`search refund --limit 5`).
///
/// clap alone cannot do both: a positional that accepts leading hyphens
/// swallows every option after it. Which arguments are options (and which
/// take a value) is read from clap's own definition of `search`, so this
/// stays in step with it. An unknown `--option` is left for clap to refuse;
/// anything after a `--` is a word.
pub fn search_words_last(args: Vec<OsString>) -> Vec<OsString> {
    // Building clap's definition costs a little: only for a search.
    const TAKE_QUERIES: [&str; 2] = ["search", "produce"];
    if !args.iter().any(|a| TAKE_QUERIES.iter().any(|c| a == *c)) {
        return args;
    }
    let cmd = Cli::command();
    // Where the command is: the first argument that is not a top-level option
    // (`--archive DIR`, `--archive=DIR`) or its value.
    let mut at = 1;
    while at < args.len() {
        let a = args[at].to_string_lossy();
        if a == "--archive" {
            at += 2;
        } else if a.starts_with('-') {
            at += 1;
        } else {
            break;
        }
    }
    let Some(name) = args
        .get(at)
        .map(|a| a.to_string_lossy().into_owned())
        .filter(|a| TAKE_QUERIES.contains(&a.as_str()))
    else {
        return args;
    };
    // `produce verify BAG` takes no query.
    if name == "produce" && args.get(at + 1).is_some_and(|a| a == "verify") {
        return args;
    }
    let Some(search) = cmd.find_subcommand(&name) else {
        return args;
    };
    // How many values an option takes: none, one, or (`--conversation A
    // B`) every argument up to the next option.
    let takes_value = |long: &str| {
        search
            .get_arguments()
            .chain(cmd.get_arguments())
            .find(|a| a.get_long() == Some(long))
            .map(|a| {
                let many = a.get_num_args().is_some_and(|n| n.max_values() > 1);
                (a.get_action().takes_values(), many)
            })
    };
    let (mut options, mut words) = (Vec::new(), Vec::new());
    let mut rest = args[at + 1..].iter();
    while let Some(arg) = rest.next() {
        let text = arg.to_string_lossy();
        if text == "--" {
            words.extend(rest.by_ref().cloned());
        } else if let Some(long) = text.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            options.push(arg.clone());
            if let Some((true, many)) = takes_value(name)
                && !long.contains('=')
            {
                if let Some(value) = rest.next() {
                    options.push(value.clone());
                }
                while many
                    && let Some(value) = rest.clone().next()
                    && !value.to_string_lossy().starts_with('-')
                {
                    options.push(value.clone());
                    rest.next();
                }
            }
        } else if text == "-h" {
            options.push(arg.clone());
        } else {
            words.push(arg.clone());
        }
    }
    let mut out: Vec<OsString> = args[..=at].to_vec();
    out.extend(options);
    if !words.is_empty() {
        out.push("--".into());
        out.extend(words);
    }
    out
}

/// `convault produce`: its options, or `produce verify`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ProduceArgs {
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

#[derive(Debug, Subcommand)]
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
        /// When the export was generated (RFC 3339, e.g.
        /// 2026-11-16T23:00:00Z), instead of its files' own times: all the
        /// paths given are then one export. Needed only when convault
        /// cannot tell two exports apart by their times
        #[arg(long, value_name = "TIME")]
        generated: Option<jiff::Timestamp>,
        /// Zip files, CSV files or directories: one export, or several
        /// (told apart by their generation times, each its own export,
        /// ingested oldest first)
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
    /// may be given as separate arguments or as one quoted string, and
    /// options may come before or after it; see docs/search.md.
    ///
    /// Results: a table (matches coloured on a terminal), --json, --ndjson
    /// or --csv with every field and the matches' character offsets;
    /// --sort, --limit and --offset page through them; --count gives their
    /// number, --conversations one line per conversation, --show the
    /// entries around each hit.
    Search {
        /// Print a JSON array on stdout
        #[arg(long, group = "format")]
        json: bool,
        /// Print one JSON object per line
        #[arg(long, group = "format")]
        ndjson: bool,
        /// Print CSV (RFC 4180, a header row, the fields of --json)
        #[arg(long, group = "format")]
        csv: bool,
        /// The order of hits: newest (default), oldest, or relevance (the
        /// best match of the words first)
        #[arg(long, value_enum, default_value_t = Sort::Newest, value_name = "ORDER")]
        sort: Sort,
        /// Show at most this many hits (or conversations)
        #[arg(long, default_value_t = 20, value_name = "N")]
        limit: u32,
        /// Skip this many hits (or conversations) first, for the next page
        #[arg(long, default_value_t = 0, value_name = "N")]
        offset: u64,
        /// Print only the number of matching entries (with
        /// --conversations, of conversations)
        #[arg(long, conflicts_with_all = ["ndjson", "csv", "offset", "limit", "show", "sort"])]
        count: bool,
        /// One line per conversation: its hits, first and last hit time,
        /// channel
        #[arg(long)]
        conversations: bool,
        /// Under each hit, the entries around it in its conversation
        /// (--context N either side)
        #[arg(long, conflicts_with_all = ["json", "ndjson", "csv", "conversations"])]
        show: bool,
        /// With --show, this many entries either side of each hit
        #[arg(long, value_name = "N", default_value_t = 2, requires = "show")]
        context: usize,
        /// Colour the matches: auto (on a terminal, unless NO_COLOR is
        /// set), always, never
        #[arg(long, value_enum, default_value_t = Color::Auto, value_name = "WHEN")]
        color: Color,
        /// Read dates in after: and before: as days in this time zone
        /// (an IANA name, e.g. Europe/Paris) instead of UTC
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// Pass the query to SQLite's FTS5 as its own syntax (for experts:
        /// no fields, FTS5's operators and column filters)
        #[arg(long, conflicts_with = "tz")]
        raw: bool,
        /// With --csv: a cell starting with = + - @ (a formula to Excel)
        /// gets a leading ', so the file is safe to open in a spreadsheet.
        /// Off by default: the CSV holds every text exactly
        #[arg(long, requires = "csv")]
        excel_safe: bool,
        /// The query: words, operators and fields (key:value); a word may
        /// start with '-' (refund -card)
        #[arg(required = true, value_name = "QUERY")]
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
    /// Print a shell completion script on stdout
    ///
    /// bash: `convault completions bash > ~/.local/share/bash-completion/completions/convault`;
    /// zsh: into a directory of your $fpath as `_convault`; fish:
    /// `convault completions fish > ~/.config/fish/completions/convault.fish`.
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    Fetch {
        /// Print a JSON report on stdout
        #[arg(long)]
        json: bool,
        /// Stop when the budget is spent instead of waiting for the window
        #[arg(long)]
        no_wait: bool,
        /// Read again conversations the archive already holds complete
        /// (ended, and held by an export made after they ended), which
        /// are otherwise skipped: each read spends an activation
        #[arg(long)]
        refresh: bool,
        /// Read conversation identifiers from FILE, one per line
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
        /// Also fetch the conversations that ended at or after TIME (RFC
        /// 3339, or a date for midnight UTC), found with SOQL; voice calls
        /// still in progress are deferred and listed
        #[arg(long, value_name = "TIME")]
        ended_since: Option<String>,
        /// Say what the fetch would spend (activations, windows, requests)
        /// and when it would finish, reading no conversation
        #[arg(long)]
        plan: bool,
        /// Who is fetching, for the ledger [default: the user]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Conversation identifiers
        #[arg(value_name = "CONVERSATION")]
        conversations: Vec<String>,
    },
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
    Produce(ProduceArgs),
    /// The ledger: show it, verify its chain, take a checkpoint
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// The retention policy: how long conversations are kept (ledger records)
    ///
    /// A conversation is past retention when its last entry is older than
    /// the period; a minimum is a floor later changes cannot go below
    /// without --override. See docs/retention.md.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Legal holds: conversations kept whatever the retention policy says
    ///
    /// A hold is its query (or conversations, case, end user), evaluated
    /// again whenever it is asked, and it keeps every conversation it
    /// matched when placed. Placing and releasing are ledger records.
    #[command(subcommand)]
    Hold(HoldCommand),
    /// List the conversations past retention and under no hold; --execute removes them
    ///
    /// Without --execute it changes nothing: the conversations a
    /// disposition would remove (on stdout: identifier, last entry time,
    /// entry versions), their count, the oldest and newest, and the holds
    /// that spared others (stderr). With --execute they leave the database
    /// and the stored originals (each replaced by a derivative without
    /// their rows), and a certificate is written under certificates/; see
    /// docs/retention.md.
    Dispose {
        /// Remove them (asks for --reason)
        #[arg(long, requires = "reason")]
        execute: bool,
        /// Why (recorded in the ledger and the certificate)
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Who carries it out, for the ledger [default: the login name]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Print one JSON object on stdout
        #[arg(long)]
        json: bool,
    },
    /// Verify disposition certificates against the archive
    #[command(subcommand)]
    Certificate(CertificateCommand),
    /// List what a data subject's erasure request would remove; --execute removes it
    ///
    /// Without --execute it changes nothing. Refused with exit 4 when a
    /// hold in force holds any of the conversations (naming the holds), or
    /// when one is within the retention minimum and the policy does not
    /// allow erasure within it. An end user is matched by record Id or
    /// messaging platform key exactly. With --execute the conversations
    /// are removed as a disposition removes them. See docs/retention.md.
    #[command(group(clap::ArgGroup::new("subject").required(true).args(["conversations", "enduser"])))]
    Erase {
        /// These conversations
        #[arg(long = "conversation", value_name = "ID", num_args = 1..)]
        conversations: Vec<String>,
        /// Every conversation of the end user with this record Id or
        /// messaging platform key (exactly)
        #[arg(long, value_name = "KEY")]
        enduser: Option<String>,
        /// The request (recorded when erasure is carried out)
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
        /// Remove them
        #[arg(long)]
        execute: bool,
        /// Who carries it out, for the ledger [default: the login name]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Print one JSON object on stdout
        #[arg(long)]
        json: bool,
    },
    /// Print a whole conversation as a transcript, in time order
    ///
    /// --format html writes one self-contained page (no scripts, no
    /// external files) that prints cleanly: the conversation's header, each
    /// entry with sender, role and time, links and attachments, and every
    /// earlier version of an edited entry with the exports that carried it.
    Show {
        /// Text (default), json or html
        #[arg(long, value_enum, value_name = "FORMAT", conflicts_with = "json")]
        format: Option<ShowFormat>,
        /// The same as --format json
        #[arg(long)]
        json: bool,
        /// Write to this file instead of stdout (it must not exist)
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Also give times in this time zone (an IANA name, e.g.
        /// Europe/Paris); times are always given in UTC
        #[arg(long, value_name = "ZONE")]
        tz: Option<String>,
        /// Only the entries around this one (an entry id): see --context
        #[arg(long, value_name = "ENTRY")]
        around: Option<String>,
        /// With --around, this many entries either side
        #[arg(long, value_name = "N", default_value_t = 5, requires = "around")]
        context: usize,
        /// The conversation identifier
        #[arg(value_name = "CONVERSATION")]
        conversation: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Set or change the retention policy (a ledger record)
    Set {
        /// How long a conversation is kept after its last entry: 7y, 84m, 2555d
        #[arg(value_name = "DURATION")]
        period: String,
        /// Why (recorded in the ledger)
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
        /// A floor that later changes cannot go below without --override
        /// [default: the minimum in force]
        #[arg(long, value_name = "DURATION")]
        minimum: Option<String>,
        /// Let erasure requests remove conversations within the minimum
        #[arg(long)]
        allow_erasure_within_minimum: bool,
        /// Go below the minimum in force (recorded with the reason)
        #[arg(long = "override")]
        override_: bool,
        /// Who sets it, for the ledger [default: the login name]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Print the policy as JSON on stdout
        #[arg(long)]
        json: bool,
    },
    /// Show the policy in force and every earlier one
    Show {
        /// Print a JSON object on stdout
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// Place a legal hold on what a query, conversations, a case or an end user matches
    #[command(group(clap::ArgGroup::new("basis").required(true).args(["words", "conversations", "case", "enduser"])))]
    Place {
        /// The hold's name (how it is listed, shown and released)
        #[arg(value_name = "NAME")]
        name: String,
        /// Why (recorded in the ledger)
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
        /// Hold these conversations (held even before they are ingested)
        #[arg(long = "conversation", value_name = "ID", num_args = 1..)]
        conversations: Vec<String>,
        /// Hold the conversations of this case's messaging sessions
        #[arg(long, value_name = "ID")]
        case: Option<String>,
        /// Hold the conversations of end users whose name or messaging
        /// platform key contains KEY
        #[arg(long, value_name = "KEY")]
        enduser: Option<String>,
        /// Who places it, for the ledger [default: the login name]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Print the hold as JSON on stdout
        #[arg(long)]
        json: bool,
        /// Hold every conversation with an entry matching this query (the
        /// search language, docs/search.md)
        #[arg(value_name = "QUERY")]
        words: Vec<String>,
    },
    /// List the holds in force, with what each holds now
    List {
        /// Also list released holds
        #[arg(long)]
        all: bool,
        /// Print a JSON array on stdout
        #[arg(long)]
        json: bool,
    },
    /// Print the conversations a hold in force holds now, one per line
    Show {
        #[arg(value_name = "NAME")]
        name: String,
        /// Print a JSON object on stdout
        #[arg(long)]
        json: bool,
    },
    /// Release a hold (a ledger record); what it held may then be disposed of
    Release {
        #[arg(value_name = "NAME")]
        name: String,
        /// Why (recorded in the ledger)
        #[arg(long, value_name = "TEXT", required = true)]
        reason: String,
        /// Who releases it, for the ledger [default: the login name]
        #[arg(long, value_name = "NAME")]
        by: Option<String>,
        /// Print the hold as JSON on stdout
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
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

/// When the table highlights matches with colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Color {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    Always,
    Never,
}

impl Color {
    /// Whether matches are coloured now.
    pub fn enabled(self) -> bool {
        match self {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::IsTerminal::is_terminal(&std::io::stdout())
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// The forms of a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ShowFormat {
    /// One line per entry, for a terminal.
    #[default]
    Text,
    /// Every field, for programs.
    Json,
    /// One self-contained page to read, print or hand over.
    Html,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(args: &[&str]) -> Vec<String> {
        let args = args.iter().map(OsString::from).collect();
        search_words_last(args)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn search_words_go_after_the_options() {
        assert_eq!(
            moved(&[
                "convault", "search", "refund", "-card", "--limit", "5", "--json"
            ]),
            [
                "convault", "search", "--limit", "5", "--json", "--", "refund", "-card"
            ]
        );
        // Global options before the subcommand, `=` values, `--` in the middle.
        assert_eq!(
            moved(&[
                "c",
                "--archive",
                "a",
                "search",
                "--limit=5",
                "x",
                "--",
                "--json",
                "-y"
            ]),
            [
                "c",
                "--archive",
                "a",
                "search",
                "--limit=5",
                "--",
                "x",
                "--json",
                "-y"
            ]
        );
        assert_eq!(
            moved(&[
                "c",
                "--archive=a",
                "search",
                "x",
                "--archive",
                "b",
                "--show",
                "--context",
                "3"
            ]),
            [
                "c",
                "--archive=a",
                "search",
                "--archive",
                "b",
                "--show",
                "--context",
                "3",
                "--",
                "x"
            ]
        );
        // An unknown option stays an option (clap refuses it); another
        // command, or `search` as a word of it, is left alone.
        assert_eq!(
            moved(&["c", "search", "x", "--colour", "always"]),
            ["c", "search", "--colour", "--", "x", "always"]
        );
        for other in [&["c", "show", "-x"][..], &["c", "ingest", "search"], &["c"]] {
            assert_eq!(moved(other), other);
        }
    }

    #[test]
    fn every_search_option_parses_after_the_words() {
        let cli = Cli::parse_args(
            [
                "convault", "search", "refund", "-card", "--sort", "oldest", "--offset", "10",
                "--csv", "--color", "never",
            ]
            .map(OsString::from),
        );
        let Command::Search {
            words,
            sort,
            offset,
            csv,
            color,
            ..
        } = cli.command
        else {
            panic!("not search");
        };
        assert_eq!(words, ["refund", "-card"]);
        assert_eq!(
            (sort, offset, csv, color),
            (Sort::Oldest, 10, true, Color::Never)
        );
    }
}
