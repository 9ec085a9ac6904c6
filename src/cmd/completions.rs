//! `convault completions SHELL` and `convault man`: generated from the
//! command line's own definition (clap_complete, clap_mangen), so they
//! never fall behind it.

use std::io::{self, Write};

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit::ExitCode;

/// Prints the completion script for `shell` on stdout.
pub fn run(shell: clap_complete::Shell) -> Result<ExitCode> {
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
