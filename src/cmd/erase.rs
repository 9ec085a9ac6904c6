//! `convault erase`: what a data subject's erasure request would remove.

use anyhow::{Context, Result};

use super::{plural, print_json};
use crate::archive::Archive;
use crate::clock;
use crate::exit::ExitCode;
use crate::retention::erase::{self, Target};
use crate::retention::remove::{self, Kind, Removal};
use crate::sanitize::for_terminal;

/// The arguments of `convault erase`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("subject").required(true).args(["conversations", "enduser"])))]
pub struct Args {
    /// These conversations
    #[arg(long = "conversation", value_name = "ID", num_args = 1..)]
    pub conversations: Vec<String>,
    /// Every conversation of the end user with this record Id or
    /// messaging platform key (exactly)
    #[arg(long, value_name = "KEY")]
    pub enduser: Option<String>,
    /// The request (recorded when erasure is carried out)
    #[arg(long, value_name = "TEXT", required = true)]
    pub reason: String,
    /// Remove them
    #[arg(long)]
    pub execute: bool,
    /// Who carries it out, for the ledger [default: the login name]
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

/// Runs `convault erase`.
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    let Args {
        conversations,
        enduser,
        reason,
        execute,
        by,
        json,
    } = args;
    erase(
        archive,
        conversations,
        enduser,
        &reason,
        execute.then(|| by.unwrap_or_else(crate::clock::default_actor)),
        json,
    )
}

/// Lists (or, with `execute` naming who, carries out) an erasure.
fn erase(
    archive: &Archive,
    conversations: Vec<String>,
    enduser: Option<String>,
    reason: &str,
    execute: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let target = match enduser {
        Some(key) => Target::EndUser(key),
        None => Target::Conversations(conversations),
    };
    let now = clock::now()?;
    let (plan, outcome) = match &execute {
        None => {
            let conn = archive
                .open_read_only()
                .with_context(|| format!("open {}", archive.root().display()))?;
            let plan = erase::plan(&conn, &target, reason, now)
                .with_context(|| format!("erasure in {}", archive.root().display()))?;
            (plan, None)
        }
        Some(who) => {
            let (done, warnings) = crate::writer::run(archive, "erase", who, |conn| {
                // Refusals are decided again under the lock.
                let plan = erase::plan(conn, &target, reason, now)?;
                if plan.erase.is_empty() && plan.end_user_records.is_empty() {
                    return Ok((plan, None));
                }
                // An end user's key is personal data: the ledger (which
                // is never changed) and the certificate keep its SHA-256,
                // which whoever holds the request can check.
                let target = match &plan.target {
                    Target::Conversations(list) => serde_json::json!({ "conversations": list }),
                    Target::EndUser(key) => serde_json::json!({
                        "end_user_sha256": crate::hashing::sha256_hex(key.as_bytes())
                    }),
                };
                let basis = serde_json::json!({
                    "target": target,
                    "not_in_archive": plan.not_in_archive,
                    "end_user_records": plan.end_user_records.len(),
                });
                let outcome = remove::execute(
                    archive,
                    conn,
                    &Removal {
                        kind: Kind::Erasure,
                        reason,
                        who,
                        now,
                        basis,
                        conversations: &plan.erase,
                        record_ids: &plan.end_user_records,
                        progress: true,
                    },
                )?;
                Ok((plan, Some(outcome)))
            });
            for w in &warnings {
                eprintln!("warning: {}", for_terminal(w));
            }
            done.with_context(|| format!("erasure in {}", archive.root().display()))?
        }
    };
    if json {
        match &outcome {
            None => print_json(&plan)?,
            Some(o) => print_json(&serde_json::json!({ "plan": plan, "outcome": o }))?,
        }
    } else {
        super::dispose::print_due(&plan.erase)?;
    }
    for c in &plan.not_in_archive {
        eprintln!("not in the archive: {}", for_terminal(c));
    }
    // Found nothing where a request named someone or something: said, and
    // exit 1, so that a worklist of requests never records it as done.
    let found_nothing = plan.erase.is_empty() && plan.end_user_records.is_empty();
    if found_nothing {
        match &plan.target {
            Target::EndUser(key) => eprintln!(
                "no conversation of an end user {:?} is in the archive: the key was matched exactly against {}. Nothing was erased",
                for_terminal(key),
                crate::search::END_USER_FIELDS
            ),
            Target::Conversations(_) => {
                eprintln!("none of the conversations given is in the archive. Nothing was erased")
            }
        }
        return Ok(ExitCode::Error);
    }
    match (&outcome, execute.is_some()) {
        (Some(o), _) => super::dispose::print_outcome(o),
        (None, true) => eprintln!("nothing to erase: nothing was changed"),
        (None, false) => eprintln!(
            "would erase {} ({}); nothing was changed (--execute erases them)",
            plural(plan.conversations, "conversation", "conversations"),
            plural(plan.entries, "entry version", "entry versions")
        ),
    }
    Ok(ExitCode::Ok)
}
