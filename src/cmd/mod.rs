//! The command layer: one file per subcommand. Each turns library results
//! into output (data on stdout, messages on stderr) and adds context to
//! errors with anyhow.

pub mod ingest;
pub mod ledger;
pub mod profiles;
pub mod receipt;
pub mod request;
pub mod search;
pub mod show;
pub mod status;
pub mod verify;

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::archive::{Archive, DEFAULT_DIR};
use crate::cli::{Cli, Command};
use crate::exit::ExitCode;

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let archive = Archive::new(cli.archive.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)));
    match cli.command {
        Command::Ingest {
            json,
            dry_run,
            by,
            profile,
            paths,
        } => ingest::run(&archive, &paths, json, dry_run, by, &profile),
        Command::Status { json, due, kind } => status::run(&archive, json, due, kind),
        Command::Request {
            kind,
            by,
            note,
            monthly,
            override_,
            reason,
            json,
        } => request::run(
            &archive,
            &request::Args {
                kind,
                by,
                note,
                monthly,
                reason: reason.filter(|_| override_),
                json,
            },
        ),
        Command::Ledger(cmd) => ledger::run(&archive, cmd),
        Command::Verify {
            json,
            fast,
            rederive,
            sample,
            export,
            by,
        } => verify::run(&archive, json, fast, rederive, sample, export, by),
        Command::Receipt { export, out, json } => receipt::run(&archive, export, out, json),
        Command::Search {
            json,
            limit,
            tz,
            raw,
            words,
        } => search::run(
            &archive,
            &words,
            search::Options {
                limit,
                json,
                tz,
                raw,
            },
        ),
        Command::Show { json, conversation } => show::run(&archive, &conversation, json),
        Command::Profiles { json } => profiles::run(json),
    }
}

/// Writes `value` as pretty JSON and a newline on stdout.
pub fn print_json<T: Serialize>(value: &T) -> io::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()
}

/// Groups digits in threes for people (`1,234,567`).
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }
}
