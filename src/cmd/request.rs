//! `convault request`: records an export request, or says why not.

use anyhow::{Context, Result};

use super::print_json;
use crate::archive::Archive;
use crate::cadence::{self, ExportKind};
use crate::clock;
use crate::exit::ExitCode;
use crate::request::{self, Outcome, Request};
use crate::sanitize::for_terminal;

/// The arguments of `convault request`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The kind of export
    #[arg(value_enum, value_name = "KIND")]
    pub kind: ExportKind,
    /// Who requests it [default: the login name]
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// A note kept with the request
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    /// A monthly Data Export (29 days between exports)
    #[arg(long)]
    pub monthly: bool,
    /// Request despite a refusal; needs --reason, which is recorded
    #[arg(long = "override", requires = "reason")]
    pub override_: bool,
    /// Why the rule is overridden
    #[arg(long, value_name = "TEXT", requires = "override_")]
    pub reason: Option<String>,
    /// Print a JSON object on stdout
    #[arg(long)]
    pub json: bool,
}

/// Runs `convault request`.
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    let req = Request {
        kind: args.kind,
        monthly: args.monthly,
        who: args.by.clone().unwrap_or_else(clock::default_actor),
        note: args.note.clone(),
        // The reason counts only with --override (clap requires both).
        override_reason: args.reason.clone().filter(|_| args.override_),
        now: clock::now()?,
    };
    let outcome = request::request(archive, &req)
        .with_context(|| format!("request a {} export", args.kind))?;
    if args.json {
        print_json(&outcome)?;
    } else {
        eprint!("{}", summary(&outcome));
    }
    Ok(ExitCode::Ok)
}

/// What was recorded and what the user does next.
pub fn summary(o: &Outcome) -> String {
    let mut s = String::new();
    for w in &o.warnings {
        s.push_str(&format!("warning: {}\n", for_terminal(w)));
    }
    if let Some(ov) = &o.override_record {
        s.push_str(&format!(
            "override recorded as ledger record {}: {}\n",
            ov.seq,
            for_terminal(
                ov.details
                    .get("reason")
                    .and_then(|r| r.as_str())
                    .unwrap_or("")
            )
        ));
    }
    s.push_str(&format!(
        "recorded the {} export request as ledger record {} ({} by {})\n",
        o.kind,
        o.record.seq,
        o.record.time,
        for_terminal(&o.record.who)
    ));
    match &o.trigger {
        Some(run) => s.push_str(&format!(
            "the trigger command ran ({} ms, exit 0); Salesforce should now be preparing the export\n",
            run.duration_ms
        )),
        None => s.push_str(&format!("next: {}\n", o.kind.how_to_start())),
    }
    match &o.download_until {
        Some(until) => s.push_str(&format!(
            "then download its files before {until} ({}): Salesforce deletes them after 48 hours\n",
            cadence::local(until)
        )),
        None => s.push_str("then download it when Salesforce says it is ready\n"),
    }
    s.push_str("and run `convault ingest FILES...` on what you downloaded\n");
    s.push_str(&format!(
        "the next {} request is allowed from {} ({})\n",
        o.kind,
        o.next_allowed,
        cadence::local(&o.next_allowed)
    ));
    s
}
