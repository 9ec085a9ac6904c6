//! `convault completions SHELL` and `convault man`: generated from the
//! command line's own definition (clap_complete, clap_mangen), so they
//! never fall behind it.

use std::io::{self, Write};

use anyhow::Result;
use clap::CommandFactory;

use super::Cli;
use crate::exit::ExitCode;

/// The arguments of `convault completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Prints the completion script for `shell` on stdout.
/// Runs `convault completions`.
pub fn run(args: Args) -> Result<ExitCode> {
    let Args { shell } = args;
    let mut out = io::BufWriter::new(io::stdout().lock());
    clap_complete::generate(shell, &mut Cli::command(), "convault", &mut out);
    out.flush()?;
    Ok(ExitCode::Ok)
}

/// Prints the manual page, in roff, on stdout.
pub fn man() -> Result<ExitCode> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    out.flush()?;
    Ok(ExitCode::Ok)
}
