//! `convault dispose`: what a disposition would remove now.

use anyhow::{Context, Result};

use super::{print_json, thousands};
use crate::archive::Archive;
use crate::clock;
use crate::exit::ExitCode;
use crate::retention::due;
use crate::sanitize::for_terminal;

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

pub fn run(archive: &Archive, json: bool) -> Result<ExitCode> {
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
            "due: {} of {} conversations ({} entry versions), last entries from {old} to {new}",
            thousands(plan.conversations_due),
            thousands(plan.conversations_total),
            thousands(plan.entries_due)
        ),
        _ => eprintln!(
            "due: none of {} conversations",
            thousands(plan.conversations_total)
        ),
    }
    if plan.conversations_held > 0 {
        eprintln!(
            "spared by holds: {} conversations past retention",
            thousands(plan.conversations_held)
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
            "kept: {} conversations with no entry time (their age is unknown)",
            thousands(plan.conversations_without_time)
        );
    }
    eprintln!("nothing was changed");
    Ok(ExitCode::Ok)
}
