//! `convault search`: prints hits, newest first.

use std::io::{self, Write};

use anyhow::{Context, Result};

use super::print_json;
use crate::archive::Archive;
use crate::exit::ExitCode;
use crate::sanitize::for_terminal;
use crate::search;

/// How `search` was asked to run.
pub struct Options {
    pub limit: u32,
    pub json: bool,
    /// `--tz`: the zone dates are read in.
    pub tz: Option<String>,
    /// `--raw`: FTS5's own syntax.
    pub raw: bool,
}

pub fn run(archive: &Archive, words: &[String], opts: Options) -> Result<ExitCode> {
    let Options {
        limit,
        json,
        tz,
        raw,
    } = opts;
    // The query is checked before the archive is opened: a wrong query is
    // a usage error whether or not the archive exists.
    let query = if raw {
        search::Query::raw(words)?
    } else {
        let mut clock = search::fields::Clock::default();
        if let Some(tz) = tz {
            clock.zone = jiff::tz::TimeZone::get(&tz).map_err(|e| {
                crate::error::Error::Usage(format!(
                    "--tz {}: not a known time zone ({e}); give an IANA name such as Europe/Paris or UTC",
                    for_terminal(&tz)
                ))
            })?;
        }
        search::Query::parse_with(words, clock)?
    };
    let conn = archive
        .open_read_only()
        .with_context(|| format!("search {}", archive.root().display()))?;
    let hits = search::search(&conn, &query, limit).context("search")?;
    if json {
        print_json(&hits)?;
        return Ok(ExitCode::Ok);
    }
    if hits.is_empty() {
        eprintln!("no entries match");
        return Ok(ExitCode::Ok);
    }
    let mut out = io::stdout().lock();
    for h in &hits {
        let snippet = h.snippet.replace(['\r', '\n'], " ");
        let superseded = if h.superseded {
            "  (superseded by a later version)"
        } else {
            ""
        };
        writeln!(
            out,
            "{}  {}  {}  {}{superseded}",
            h.time.as_deref().unwrap_or("(no time)"),
            for_terminal(&h.conversation),
            for_terminal(h.role.as_deref().unwrap_or("-")),
            for_terminal(&snippet),
        )?;
    }
    out.flush()?;
    Ok(ExitCode::Ok)
}
