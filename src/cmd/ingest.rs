//! `convault ingest`: prints the ingest report.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::{plural, print_json, thousands};
use crate::archive::Archive;
use crate::clock;
use crate::exit::ExitCode;
use crate::ingest::{self, Options, Report};
use crate::profile;
use crate::sanitize::for_terminal;

/// The arguments of `convault ingest`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print one JSON object on stdout instead of a summary on stderr
    #[arg(long)]
    pub json: bool,
    /// Read, check and report without writing anything
    #[arg(long)]
    pub dry_run: bool,
    /// Who is ingesting, for the ledger [default: the login name]
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Read CSV files with the profiles in FILE (TOML, or JSON if named
    /// .json) before the built-in ones; repeatable. See docs/profiles.md
    #[arg(long, value_name = "FILE")]
    pub profile: Vec<PathBuf>,
    /// When the export was generated (RFC 3339, e.g.
    /// 2026-11-16T23:00:00Z), instead of its files' own times: all the
    /// paths given are then one export. Needed only when convault
    /// cannot tell two exports apart by their times
    #[arg(long, value_name = "TIME")]
    pub generated: Option<jiff::Timestamp>,
    /// Zip files, CSV files or directories: one export, or several
    /// (told apart by their generation times, each its own export,
    /// ingested oldest first)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// Quarantined items listed in the human summary (JSON lists more).
const LISTED: usize = 20;

/// Runs `convault ingest`.
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    let Args {
        json,
        dry_run,
        by,
        profile: profiles,
        generated,
        paths,
    } = args;
    let (paths, profiles) = (&paths[..], &profiles[..]);
    // Ctrl-C rolls the ingest back (and removes a new archive directory)
    // rather than leave a half-built archive behind.
    if !dry_run {
        crate::interrupt::install();
    }
    let opts = Options {
        profiles: profile::load(profiles)?,
        dry_run,
        progress: true,
        who: by.unwrap_or_else(clock::default_actor),
        now: clock::now()?,
        fetch: None,
        generated,
    };
    // Several exports given at once are ingested one by one, oldest first:
    // each one's summary is told as it is committed, so a failure of a
    // later one still leaves the earlier ones said.
    let mut reports: Vec<Report> = Vec::new();
    let result = ingest::ingest_each(archive, paths, &opts, &mut |report| {
        if !json {
            eprint!("{}", summary(&report, archive));
        }
        reports.push(report);
    });
    if json {
        // One export: its report; several: an array of them, in time order.
        match reports.as_slice() {
            [one] if result.is_ok() => print_json(one)?,
            [] => {}
            many => print_json(&many)?,
        }
    }
    result.with_context(|| match reports.len() {
        0 => format!("ingest into {}", archive.root().display()),
        n => format!(
            "ingest into {} ({} ingested before this failure)",
            archive.root().display(),
            if n == 1 {
                "1 export was".to_owned()
            } else {
                format!("{n} exports were")
            }
        ),
    })?;
    Ok(ExitCode::Ok)
}

/// The human summary of `r`.
pub fn summary(r: &Report, archive: &Archive) -> String {
    let mut s = String::new();
    for w in &r.warnings {
        s.push_str(&format!("warning: {}\n", for_terminal(w)));
    }
    let files = r.files.len();
    if r.already_ingested {
        let export = r
            .export_id
            .map(|id| format!(" (export {id})"))
            .unwrap_or_default();
        s.push_str(&format!(
            "already ingested: {} already in the archive{export}; nothing changed\n",
            plural(files as u64, "file is", "files are"),
        ));
        return s;
    }
    if r.created_archive {
        let root = archive.root().display().to_string();
        let default = archive.root() == std::path::Path::new(crate::archive::DEFAULT_DIR);
        s.push_str(&format!(
            "created a new archive at {}{}\n",
            for_terminal(&root),
            if default {
                " (the default: neither --archive nor CONVAULT_ARCHIVE was given)"
            } else {
                ""
            }
        ));
    }
    match (r.dry_run, r.export_id) {
        (true, _) => s.push_str("dry run, nothing written: this export would add\n"),
        (false, Some(id)) => s.push_str(&format!(
            "ingested export {id} into {}\n",
            for_terminal(&archive.root().display().to_string())
        )),
        (false, None) => s.push_str("ingested\n"),
    }
    let skipped = r
        .files
        .iter()
        .filter(|f| f.already_in_export.is_some())
        .count();
    if skipped > 0 {
        s.push_str(&format!(
            "  {} already in the archive, skipped\n",
            plural(skipped as u64, "file", "files")
        ));
    }
    s.push_str(&format!(
        "  {}, {}: {} read, {} new, {} unchanged, {} changed\n  {}\n",
        plural(files as u64, "file", "files"),
        plural(r.members_read, "member", "members"),
        plural(r.entries_read, "entry", "entries"),
        thousands(r.entries_new),
        thousands(r.entries_unchanged),
        thousands(r.entries_changed),
        plural(r.conversations_new, "new conversation", "new conversations"),
    ));
    if let Some(kind) = &r.export_kind {
        let generated = r
            .generated_at
            .as_deref()
            .map(|g| format!(", generated {g}"))
            .unwrap_or_default();
        s.push_str(&format!("  a {kind} export{generated}\n"));
    }
    s.push_str(&in_time(r));
    if let Some(seq) = r.ledger_record {
        s.push_str(&format!("  recorded as ledger record {seq}\n"));
    }
    s.push_str(&quarantined(r));
    s
}

/// Where the export stands in time: what it lacks of the previous one,
/// whether it is older than one archived, what was compared again.
fn in_time(r: &Report) -> String {
    let mut s = String::new();
    if let (Some(prev), Some(entries), Some(convs)) = (
        r.compared_with_export,
        r.entries_missing,
        r.conversations_missing,
    ) {
        if entries == 0 && convs == 0 {
            s.push_str(&format!(
                "  holds everything export {prev} (the previous export of its kind) held\n"
            ));
        } else {
            s.push_str(&format!(
                "  missing at the source since export {prev}: {} in {} (kept in the archive; `convault show` marks them)\n",
                plural(entries, "entry", "entries"),
                plural(convs, "whole conversation", "whole conversations"),
            ));
        }
    }
    if let Some(next) = r.generated_before_export {
        s.push_str(&format!(
            "  generated before export {next}, already archived: ingested as history, before it in time
"
        ));
    }
    if let Some(c) = &r.recompared {
        s.push_str(&format!(
            "  export {} compared again with this one: {} missing at the source in {}
",
            c.export_id,
            plural(c.entries_missing, "entry", "entries"),
            plural(
                c.conversations_missing,
                "whole conversation",
                "whole conversations"
            ),
        ));
    }
    if r.versions_reordered > 0 {
        s.push_str(&format!(
            "  versions renumbered in time order for {} (what this export carried is older than what was archived)\n",
            plural(r.versions_reordered, "entry", "entries"),
        ));
    }
    s
}

/// What was quarantined, the first few named.
fn quarantined(r: &Report) -> String {
    let mut s = String::new();
    if r.quarantined_total == 0 {
        s.push_str("  nothing quarantined\n");
    } else {
        s.push_str(&format!(
            "  {} quarantined:\n",
            thousands(r.quarantined_total)
        ));
        for q in r.quarantined.iter().take(LISTED) {
            let at = q.line.map(|l| format!(" line {l}")).unwrap_or_default();
            s.push_str(&format!(
                "    {}: {}{at}: {}\n",
                for_terminal(&q.file),
                for_terminal(&q.member),
                for_terminal(&q.reason)
            ));
        }
        let shown = r.quarantined.len().min(LISTED) as u64;
        if r.quarantined_total > shown {
            s.push_str(&format!(
                "    … and {} more (all are kept in the archive's quarantine table; --json lists up to {})\n",
                thousands(r.quarantined_total - shown),
                ingest::MAX_LISTED_QUARANTINE
            ));
        }
    }
    s
}
