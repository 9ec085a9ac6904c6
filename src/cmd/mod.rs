//! The command layer: one file per subcommand. Each turns library results
//! into output (data on stdout, messages on stderr) and adds context to
//! errors with anyhow.

pub mod certificate;
pub mod completions;
pub mod dispose;
pub mod erase;
pub mod fetch;
pub mod hold;
pub mod ingest;
pub mod ledger;
pub mod produce;
pub mod profiles;
pub mod receipt;
pub mod request;
pub mod retention;
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
            generated,
            paths,
        } => ingest::run(&archive, &paths, json, dry_run, by, &profile, generated),
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
        Command::Retention(cmd) => retention::run(&archive, cmd),
        Command::Hold(cmd) => hold::run(&archive, cmd),
        Command::Dispose {
            execute,
            reason,
            by,
            json,
        } => match (execute, reason) {
            (true, Some(reason)) => dispose::execute(&archive, &reason, by, json),
            _ => dispose::run(&archive, json),
        },
        Command::Certificate(cmd) => certificate::run(&archive, cmd),
        Command::Erase {
            conversations,
            enduser,
            reason,
            execute,
            by,
            json,
        } => erase::run(
            &archive,
            conversations,
            enduser,
            &reason,
            execute.then(|| by.unwrap_or_else(crate::clock::default_actor)),
            json,
        ),
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
            ndjson,
            csv,
            sort,
            limit,
            offset,
            count,
            conversations,
            show,
            context,
            color,
            tz,
            raw,
            excel_safe,
            words,
        } => search::run(
            &archive,
            &words,
            search::Options {
                page: crate::search::Page {
                    sort,
                    limit,
                    offset,
                },
                format: match (json, ndjson, csv) {
                    (true, _, _) => search::Format::Json,
                    (_, true, _) => search::Format::Ndjson,
                    (_, _, true) => search::Format::Csv,
                    _ => search::Format::Table,
                },
                count,
                conversations,
                show: show.then_some(context),
                tz,
                raw,
                excel_safe,
                color,
            },
        ),
        Command::Show {
            format,
            json,
            out,
            tz,
            around,
            context,
            conversation,
        } => show::run(
            &archive,
            &conversation,
            show::Options {
                format: if json {
                    show::ShowFormat::Json
                } else {
                    format.unwrap_or_default()
                },
                out,
                tz,
                around: around.map(|entry| (entry, context)),
            },
        ),
        Command::Profiles { json } => profiles::run(json),
        Command::Completions { shell } => completions::run(shell),
        Command::Man => completions::man(),
        Command::Produce(args) => produce::run(&archive, args),
        Command::Fetch {
            json,
            no_wait,
            refresh,
            from_file,
            ended_since,
            plan,
            by,
            conversations,
        } => fetch::run(
            &archive,
            fetch::Options {
                conversations,
                from_file,
                ended_since,
                plan,
                no_wait,
                refresh,
                json,
                by,
            },
        ),
    }
}

/// Writes `value` as pretty JSON and a newline on stdout.
pub fn print_json<T: Serialize>(value: &T) -> io::Result<()> {
    // Buffered: stdout alone is line-buffered, a write per line.
    let mut out = io::BufWriter::new(io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()
}

/// Groups digits in threes for people (`1,234,567`).
/// Prints what a writer session did on the way in (`writer::Session`),
/// one `warning:` line each on stderr, before the command's own output or
/// error.
pub fn print_warnings(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {}", crate::sanitize::for_terminal(w));
    }
}

/// `n` with thousands separators and the word that goes with it: "1
/// conversation", "2 conversations".
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

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
