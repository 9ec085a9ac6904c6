//! `convault profiles`: prints the built-in profiles, the starting point
//! for an organisation's own (docs/profiles.md).

use std::io::Write;

use anyhow::{Context, Result};

use super::print_json;
use crate::exit::ExitCode;
use crate::profile;

/// The arguments of `convault profiles`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON instead of TOML
    #[arg(long)]
    pub json: bool,
}

/// Runs `convault profiles`.
pub fn run(args: Args) -> Result<ExitCode> {
    let Args { json } = args;
    if json {
        print_json(&profile::builtin_specs()?).context("write to stdout")?;
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(profile::BUILTIN_TOML.as_bytes())
            .and_then(|()| out.flush())
            .context("write to stdout")?;
    }
    Ok(ExitCode::Ok)
}
