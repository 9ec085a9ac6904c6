//! `convault search`: prints hits, newest first.

use std::io::{self, Write};

use anyhow::{Context, Result};

use super::print_json;
use crate::archive::Archive;
use crate::exit::ExitCode;
use crate::sanitize::for_terminal;
use crate::search;

pub fn run(archive: &Archive, words: &[String], limit: u32, json: bool) -> Result<ExitCode> {
    let conn = archive
        .open_read_only()
        .with_context(|| format!("search {}", archive.root().display()))?;
    let query = search::Query::parse(words)?;
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
