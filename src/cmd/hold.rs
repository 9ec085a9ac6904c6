//! `convault hold place | list | show | release`.

use anyhow::{Context, Result};
use serde::Serialize;

use super::print_json;
use crate::archive::Archive;
use crate::clock;
use crate::exit::ExitCode;
use crate::ledger;
use crate::retention::hold::{self, Basis, Hold};
use crate::sanitize::for_terminal;
use crate::writer::Session;

#[derive(Debug, clap::Subcommand)]
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

/// A hold as listed: its records and what it holds now.
#[derive(Serialize)]
struct Listed<'a> {
    #[serde(flatten)]
    hold: &'a Hold,
    /// Conversations it holds now (for a hold in force).
    holds_now: Option<u64>,
}

pub fn run(archive: &Archive, cmd: HoldCommand) -> Result<ExitCode> {
    let context = || format!("hold in {}", archive.root().display());
    match cmd {
        HoldCommand::Place {
            name,
            reason,
            conversations,
            case,
            enduser,
            by,
            json,
            words,
        } => {
            let basis = match (words.is_empty(), conversations.is_empty(), case, enduser) {
                (false, true, None, None) => Basis::Query(words.join(" ")),
                (true, false, None, None) => Basis::Conversations(conversations),
                (true, true, Some(c), None) => Basis::Case(c),
                (true, true, None, Some(u)) => Basis::EndUser(u),
                _ => {
                    return Err(crate::error::Error::Usage(
                        "give one of: a query, --conversation ID…, --case ID, --enduser KEY".into(),
                    )
                    .into());
                }
            };
            let mut warnings = Vec::new();
            let (who, now) = (by.unwrap_or_else(clock::default_actor), clock::now()?);
            let h = hold::place(&name, &reason, basis, &who, now, || {
                Session::begin(archive, "hold place", &who, now, &mut warnings)
            });
            super::print_warnings(&warnings);
            let h = h.with_context(context)?;
            if json {
                print_json(&h)?;
            }
            eprintln!(
                "hold {:?} placed (ledger record {}): {}; it matches {} conversation{} now and holds whatever it matches later",
                for_terminal(&h.name),
                h.placed_record,
                for_terminal(&h.basis.to_string()),
                h.matched_when_placed.len(),
                if h.matched_when_placed.len() == 1 {
                    ""
                } else {
                    "s"
                }
            );
            Ok(ExitCode::Ok)
        }
        HoldCommand::List { all, json } => list(archive, all, json),
        HoldCommand::Show { name, json } => show(archive, &name, json),
        HoldCommand::Release {
            name,
            reason,
            by,
            json,
        } => {
            let mut warnings = Vec::new();
            let (who, now) = (by.unwrap_or_else(clock::default_actor), clock::now()?);
            let h = hold::release(&name, &reason, &who, now, || {
                Session::begin(archive, "hold release", &who, now, &mut warnings)
            });
            super::print_warnings(&warnings);
            let h = h.with_context(context)?;
            if json {
                print_json(&h)?;
            }
            eprintln!(
                "hold {:?} released (ledger record {})",
                for_terminal(&h.name),
                h.released.as_ref().map_or(0, |r| r.record)
            );
            Ok(ExitCode::Ok)
        }
    }
}

/// `hold list`: the holds in force (or, with `all`, every hold).
fn list(archive: &Archive, all: bool, json: bool) -> Result<ExitCode> {
    let context = || format!("hold in {}", archive.root().display());
    let conn = archive.open_read_only().with_context(context)?;
    let holds = hold::all(&ledger::read_all(&conn)?)?;
    let mut listed = Vec::new();
    for h in holds.iter().filter(|h| all || h.is_active()) {
        let holds_now = if h.is_active() {
            Some(hold::held(&conn, h)?.len() as u64)
        } else {
            None
        };
        listed.push(Listed { hold: h, holds_now });
    }
    if json {
        print_json(&listed)?;
        return Ok(ExitCode::Ok);
    }
    for l in &listed {
        let h = l.hold;
        let state = match (&h.released, l.holds_now) {
            (Some(r), _) => format!("released {} (record {})", r.at, r.record),
            (None, Some(n)) => format!("holds {n}"),
            (None, None) => String::new(),
        };
        println!(
            "{}\t{}\tplaced {} by {} (record {})\t{}\t{}",
            for_terminal(&h.name),
            state,
            h.placed_at,
            for_terminal(&h.placed_by),
            h.placed_record,
            for_terminal(&h.basis.to_string()),
            for_terminal(&h.reason)
        );
    }
    if listed.is_empty() {
        eprintln!("no hold is in force");
    }
    Ok(ExitCode::Ok)
}

/// `hold show NAME`: what a hold in force holds now.
fn show(archive: &Archive, name: &str, json: bool) -> Result<ExitCode> {
    let context = || format!("hold in {}", archive.root().display());
    let conn = archive.open_read_only().with_context(context)?;
    let h = hold::find_active(&ledger::read_all(&conn)?, name)?;
    let held = hold::identifiers(&conn, &hold::held(&conn, &h)?)?;
    if json {
        print_json(&serde_json::json!({"hold": h, "conversations": held}))?;
        return Ok(ExitCode::Ok);
    }
    for c in &held {
        println!("{}", for_terminal(c));
    }
    eprintln!(
        "hold {:?} ({}) holds {} conversation{} now",
        for_terminal(&h.name),
        for_terminal(&h.basis.to_string()),
        held.len(),
        if held.len() == 1 { "" } else { "s" }
    );
    Ok(ExitCode::Ok)
}
