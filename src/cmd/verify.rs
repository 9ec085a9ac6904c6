//! `convault verify`: prints the verification report.

use anyhow::{Context, Result};

use super::{print_json, thousands};
use crate::archive::Archive;
use crate::clock;
use crate::exit::ExitCode;
use crate::sanitize::for_terminal;
use crate::verify::{self, Level, Options, Report};

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

/// The arguments of `convault verify`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Only sizes, counts and the ledger: seconds on any archive
    #[arg(long, conflicts_with = "rederive")]
    pub fast: bool,
    /// Also parse the stored originals again and prove the database holds
    /// exactly what they contain
    #[arg(long)]
    pub rederive: bool,
    /// Check this share of the objects and entries, going on from where
    /// the last sampled run stopped
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent, conflicts_with = "export")]
    pub sample: Option<f64>,
    /// Check only this export
    #[arg(long, value_name = "ID")]
    pub export: Option<i64>,
    /// Who runs it, for the ledger [default: the login name]
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
}

/// Runs `convault verify`.
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    let Args {
        json,
        fast,
        rederive,
        sample,
        export,
        by,
    } = args;
    let opts = Options {
        level: match (fast, rederive) {
            (true, _) => Level::Fast,
            (_, true) => Level::Rederive,
            _ => Level::Full,
        },
        sample_percent: sample,
        export,
        progress: true,
        who: by.unwrap_or_else(clock::default_actor),
        now: clock::now()?,
    };
    let report = verify::verify(archive, &opts)
        .with_context(|| format!("verify {}", archive.root().display()))?;
    if json {
        print_json(&report)?;
    } else {
        print!("{}", render(&report));
    }
    Ok(if report.ok {
        ExitCode::Ok
    } else {
        ExitCode::Integrity
    })
}

fn level(r: &Report) -> String {
    let mut s = match r.level {
        Level::Fast => "fast".to_owned(),
        Level::Full => "full".to_owned(),
        Level::Rederive => "full, with re-derivation".to_owned(),
    };
    if let Some(p) = r.sample_percent {
        s.push_str(&format!(", a {p}% sample"));
    }
    if let Some(id) = r.export {
        s.push_str(&format!(", export {id} only"));
    }
    s
}

/// The human form of the report.
pub fn render(r: &Report) -> String {
    let c = &r.checked;
    let mut s = format!(
        "checked ({}): {} exports, {} objects ({} bytes hashed), {} members ({} bytes), {} entries, {} conversations, {} index documents, {} ledger records",
        level(r),
        thousands(c.exports),
        thousands(c.objects),
        thousands(c.object_bytes),
        thousands(c.members),
        thousands(c.member_bytes),
        thousands(c.entries),
        thousands(c.conversations),
        thousands(c.index_documents),
        thousands(c.ledger_records),
    );
    if c.rederived_entries > 0 {
        s.push_str(&format!(
            ", {} entries re-derived from the originals",
            thousands(c.rederived_entries)
        ));
    }
    s.push('\n');
    if r.ok {
        s.push_str("OK: every check passed\n");
    } else {
        let total: u64 = r.failure_counts.values().sum();
        s.push_str(&format!(
            "VERIFICATION FAILED: {} failure{}\n",
            thousands(total),
            if total == 1 { "" } else { "s" }
        ));
        for (kind, n) in &r.failure_counts {
            s.push_str(&format!("  {kind}: {}\n", thousands(*n)));
        }
        for f in &r.failures {
            s.push_str(&format!(
                "{}: {}\n    expected {}\n    found    {}\n",
                f.kind,
                for_terminal(&f.item),
                for_terminal(&f.expected),
                for_terminal(&f.found)
            ));
        }
        let listed = r.failures.len() as u64;
        if total > listed {
            s.push_str(&format!(
                "… {} more not listed (at most {} of each kind are)\n",
                thousands(total - listed),
                thousands(verify::MAX_LISTED_PER_KIND as u64)
            ));
        }
    }
    for w in &r.warnings {
        s.push_str(&format!("warning: {}\n", for_terminal(w)));
    }
    match r.ledger_record {
        Some(seq) => s.push_str(&format!("recorded as ledger record {seq}\n")),
        None => s.push_str("not recorded in the ledger (see the warning above)\n"),
    }
    s
}
