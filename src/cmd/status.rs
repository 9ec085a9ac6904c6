//! `convault status`: the cadence of every kind of export, from the ledger.

use anyhow::{Context, Result};

use super::print_json;
use crate::archive::Archive;
use crate::cadence::{self, Event, ExportKind, KindStatus, Status};
use crate::clock;
use crate::exit::ExitCode;
use crate::ledger;
use crate::sanitize::for_terminal;

/// The arguments of `convault status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Exit 0 if an export is due, 1 if not (for schedulers); prints nothing
    /// unless --json
    #[arg(long)]
    pub due: bool,
    /// Only this kind of export (with --due: the kind to check)
    #[arg(long, value_enum, value_name = "KIND")]
    pub kind: Option<ExportKind>,
}

/// Runs `convault status`.
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    let Args { json, due, kind } = args;
    let conn = archive
        .open_read_only()
        .with_context(|| format!("open {}", archive.root().display()))?;
    let records = ledger::read_all(&conn).context("read the ledger")?;
    let mut status = cadence::status(&records, clock::now()?);
    if let Some(k) = kind {
        status.kinds.retain(|s| s.kind == k);
        // A kind named explicitly counts even if it was never used: what
        // is printed says the same as the exit code of `--due`.
        for s in &mut status.kinds {
            s.due = s.due_if_used;
        }
    }
    if json {
        print_json(&status)?;
    } else if !due {
        print!("{}", render(&status));
    }
    if due {
        let any_due = status.kinds.iter().any(|s| s.due);
        return Ok(if any_due {
            ExitCode::Ok
        } else {
            ExitCode::Error
        });
    }
    Ok(ExitCode::Ok)
}

/// The human form of `status`.
pub fn render(status: &Status) -> String {
    let mut s = format!("now {} ({})\n", status.now, status.now_local);
    for k in &status.kinds {
        s.push('\n');
        s.push_str(&render_kind(k));
    }
    for w in &status.warnings {
        s.push_str(&format!("\nwarning: {}\n", for_terminal(w)));
    }
    s
}

fn render_kind(k: &KindStatus) -> String {
    let mut s = format!("{} (one export every {} days)\n", k.kind, k.interval_days);
    if k.last_request.is_none() && k.last_ingest.is_none() {
        s.push_str("  never requested or ingested\n");
        if !k.tracked {
            return s;
        }
    }
    let line = |label: &str, e: &Event| {
        let mut l = format!(
            "  {label:<13} {} by {} (ledger record {})",
            e.time,
            for_terminal(&e.who),
            e.seq
        );
        if let Some(id) = e.export_id {
            l.push_str(&format!(", export {id}"));
        }
        if let Some(g) = &e.generated_at {
            l.push_str(&format!(", generated {g}"));
        }
        l.push('\n');
        l
    };
    if let Some(e) = &k.last_request {
        s.push_str(&line("last request", e));
    }
    if let Some(e) = &k.last_ingest {
        s.push_str(&line("last ingest", e));
    }
    match (&k.next_allowed, &k.next_allowed_local) {
        (Some(utc), Some(local)) => s.push_str(&format!("  next allowed  {utc} ({local})\n")),
        _ => s.push_str("  next allowed  now\n"),
    }
    let state = if k.overdue {
        "OVERDUE: an export has been due for over a day".to_owned()
    } else if k.due {
        "due: request an export now".to_owned()
    } else if k.pending.is_some() {
        "waiting for the requested export to be ingested".to_owned()
    } else {
        "not due".to_owned()
    };
    s.push_str(&format!("  state         {state}\n"));
    if let Some(p) = &k.pending {
        s.push_str(&format!(
            "  pending       requested {} (ledger record {}), not ingested yet",
            p.requested_at, p.seq
        ));
        if let Some(until) = &p.download_until {
            let closed = if p.download_window_closed {
                "; that time has passed"
            } else {
                ""
            };
            s.push_str(&format!(
                "; files downloadable until {until} ({}){closed}",
                cadence::local(until)
            ));
        }
        s.push('\n');
    }
    if k.gaps.is_empty() {
        s.push_str("  gaps          none\n");
    } else {
        let unit = if k.monthly { "month" } else { "week" };
        for (i, g) in k.gaps.iter().enumerate() {
            let label = if i == 0 { "gaps" } else { "" };
            s.push_str(&format!(
                "  {label:<13} {} to {}: {} {unit}{} with no export\n",
                g.from,
                g.to,
                g.periods,
                if g.periods == 1 { "" } else { "s" }
            ));
        }
    }
    s
}
