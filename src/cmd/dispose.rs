//! `convault dispose`: what a disposition would remove now, and
//! (`--execute`) removing it.

use anyhow::{Context, Result};
use serde_json::json;

use super::{plural, print_json, thousands};
use crate::archive::Archive;
use crate::clock;
use crate::exit::ExitCode;
use crate::retention::due;
use crate::retention::remove::{self, Kind, Outcome, Removal};
use crate::sanitize::for_terminal;

/// The arguments of `convault dispose`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Remove them (asks for --reason)
    #[arg(long, requires = "reason")]
    pub execute: bool,
    /// Why (recorded in the ledger and the certificate)
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// Who carries it out, for the ledger [default: the login name]
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Print one JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

/// Carries out the disposition due now (recomputed under the lock).
fn execute(archive: &Archive, reason: &str, by: Option<String>, json: bool) -> Result<ExitCode> {
    if reason.trim().is_empty() {
        return Err(crate::error::Error::Usage(
            "give the reason for the disposition with --reason TEXT: it goes in the ledger and the certificate".into(),
        )
        .into());
    }
    let who = by.unwrap_or_else(clock::default_actor);
    let now = clock::now()?;
    let (done, warnings) = crate::writer::run(archive, "dispose", &who, |conn| {
        let plan = due::plan(conn, now)?;
        if plan.due.is_empty() {
            return Ok((plan, None));
        }
        let basis = json!({
            "policy_record": plan.policy.record,
            "period": plan.policy.terms.period.to_string(),
            "minimum": plan.policy.terms.minimum.map(|m| m.to_string()),
            "cutoff": plan.cutoff,
            "spared_by_holds": plan.spared,
            "conversations_without_time": plan.conversations_without_time,
        });
        let outcome = remove::execute(
            archive,
            conn,
            &Removal {
                kind: Kind::Disposition,
                reason,
                who: &who,
                now,
                basis,
                conversations: &plan.due,
                record_ids: &[],
                progress: true,
            },
        )?;
        Ok((plan, Some(outcome)))
    });
    for w in &warnings {
        eprintln!("warning: {}", for_terminal(w));
    }
    let (plan, outcome) =
        done.with_context(|| format!("dispose in {}", archive.root().display()))?;
    if json {
        print_json(&json!({ "plan": plan, "outcome": outcome }))?;
    } else {
        print_due(&plan.due)?;
    }
    match &outcome {
        None => eprintln!(
            "nothing is due (cutoff {}): nothing was changed",
            plan.cutoff
        ),
        Some(o) => print_outcome(o),
    }
    Ok(ExitCode::Ok)
}

/// What a removal did, for people (stderr).
pub(super) fn print_outcome(o: &Outcome) {
    eprintln!(
        "removed {} ({}, {}, {}): ledger record {}",
        plural(o.conversations, "conversation", "conversations"),
        plural(o.entries, "entry version", "entry versions"),
        plural(o.records, "record", "records"),
        plural(o.quarantined_rows, "quarantined row", "quarantined rows"),
        o.record
    );
    eprintln!(
        "originals: {} replaced by derivatives without the removed rows, {} deleted (nothing was left); {} MiB read, {} MiB written",
        o.objects_replaced,
        o.objects_deleted,
        o.bytes_read / (1 << 20),
        o.bytes_written / (1 << 20)
    );
    eprintln!(
        "certificate: {} (SHA-256 {}), readable form {}; check it with `convault certificate verify`",
        o.certificate, o.certificate_sha256, o.certificate_text
    );
}

/// One line per conversation on stdout: identifier, last entry time,
/// entry versions (tab-separated).
pub(super) fn print_due(list: &[due::Due]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for d in list {
        writeln!(
            out,
            "{}\t{}\t{}",
            for_terminal(&d.conversation),
            d.last_entry,
            d.entries
        )?;
    }
    out.flush()
}

/// Runs `convault dispose`: the listing, or with `--execute` the
/// disposition.
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    let Args {
        execute: carry_out,
        reason,
        by,
        json,
    } = args;
    match (carry_out, reason) {
        (true, Some(reason)) => execute(archive, &reason, by, json),
        _ => list(archive, json),
    }
}

/// Lists what a disposition would remove now.
fn list(archive: &Archive, json: bool) -> Result<ExitCode> {
    let conn = archive
        .open_read_only()
        .with_context(|| format!("open {}", archive.root().display()))?;
    let plan = due::plan(&conn, clock::now()?)
        .with_context(|| format!("list what is due in {}", archive.root().display()))?;
    if json {
        print_json(&plan)?;
        return Ok(ExitCode::Ok);
    }
    print_due(&plan.due)?;
    eprintln!(
        "policy: keep {} (ledger record {}); cutoff {}: a conversation whose last entry is earlier is past retention",
        plan.policy.terms.period, plan.policy.record, plan.cutoff
    );
    match (&plan.oldest_last_entry, &plan.newest_last_entry) {
        (Some(old), Some(new)) => eprintln!(
            "due: {} of {} ({}), last entries from {old} to {new}",
            thousands(plan.conversations_due),
            plural(plan.conversations_total, "conversation", "conversations"),
            plural(plan.entries_due, "entry version", "entry versions")
        ),
        _ => eprintln!(
            "due: none of {}",
            plural(plan.conversations_total, "conversation", "conversations")
        ),
    }
    if plan.conversations_held > 0 {
        eprintln!(
            "spared by holds: {} past retention",
            plural(plan.conversations_held, "conversation", "conversations")
        );
    }
    for s in plan.spared.iter().filter(|s| s.conversations > 0) {
        eprintln!(
            "  {:?} (record {}): {}",
            for_terminal(&s.hold),
            s.placed_record,
            thousands(s.conversations)
        );
    }
    if plan.conversations_without_time > 0 {
        eprintln!(
            "kept: {} with no entry time (their age is unknown)",
            plural(
                plan.conversations_without_time,
                "conversation",
                "conversations"
            )
        );
    }
    eprintln!("nothing was changed");
    Ok(ExitCode::Ok)
}
