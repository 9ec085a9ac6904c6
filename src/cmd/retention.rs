//! `convault retention set | show`.

use anyhow::{Context, Result};

use super::print_json;
use crate::archive::Archive;
use crate::clock;
use crate::exit::ExitCode;
use crate::ledger;
use crate::retention::{Period, Policy, policy};
use crate::sanitize::for_terminal;
use crate::writer::Session;

#[derive(Debug, clap::Subcommand)]
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

pub fn run(archive: &Archive, cmd: RetentionCommand) -> Result<ExitCode> {
    match cmd {
        RetentionCommand::Set {
            period,
            reason,
            minimum,
            allow_erasure_within_minimum,
            override_,
            by,
            json,
        } => {
            let change = policy::Change {
                period: period.parse::<Period>()?,
                minimum: minimum.as_deref().map(str::parse::<Period>).transpose()?,
                erasure_within_minimum: allow_erasure_within_minimum,
                reason,
                override_minimum: override_,
                who: by.unwrap_or_else(clock::default_actor),
                now: clock::now()?,
            };
            let mut warnings = Vec::new();
            let p = policy::set(&change, || {
                Session::begin(
                    archive,
                    "retention set",
                    &change.who,
                    change.now,
                    &mut warnings,
                )
            });
            super::print_warnings(&warnings);
            let p = p.with_context(|| {
                format!("set the retention policy of {}", archive.root().display())
            })?;
            if json {
                print_json(&p)?;
            }
            eprintln!(
                "retention set: {}; ledger record {}",
                describe(&p),
                p.record
            );
            for why in &p.terms.overrode {
                eprintln!("  overridden: {}", for_terminal(why));
            }
            Ok(ExitCode::Ok)
        }
        RetentionCommand::Show { json } => {
            let conn = archive
                .open_read_only()
                .with_context(|| format!("open {}", archive.root().display()))?;
            let history = policy::history(&ledger::read_all(&conn)?)?;
            if json {
                print_json(&serde_json::json!({
                    "policy": history.last(),
                    "history": history,
                }))?;
                return Ok(ExitCode::Ok);
            }
            let Some(p) = history.last() else {
                eprintln!(
                    "no retention policy is set: nothing is ever past retention. Set one with `convault retention set DURATION --reason TEXT`"
                );
                return Ok(ExitCode::Ok);
            };
            println!("{}", describe(p));
            println!(
                "set {} by {} (ledger record {}): {}",
                p.set_at,
                for_terminal(&p.set_by),
                p.record,
                for_terminal(&p.terms.reason)
            );
            if history.len() > 1 {
                println!("earlier:");
                for e in history.iter().rev().skip(1) {
                    println!(
                        "  {}  {} by {} (record {}): {}",
                        e.set_at,
                        describe(e),
                        for_terminal(&e.set_by),
                        e.record,
                        for_terminal(&e.terms.reason)
                    );
                }
            }
            Ok(ExitCode::Ok)
        }
    }
}

/// The policy in one line: period, minimum, erasure.
fn describe(p: &Policy) -> String {
    let t = &p.terms;
    format!(
        "keep {} after a conversation's last entry{}{}",
        t.period,
        t.minimum
            .map(|m| format!(", minimum {m}"))
            .unwrap_or_default(),
        if t.minimum.is_some() {
            if t.erasure_within_minimum {
                "; erasure allowed within the minimum"
            } else {
                "; no erasure within the minimum"
            }
        } else {
            ""
        }
    )
}
