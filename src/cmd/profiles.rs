//! `convault profiles`: prints the built-in profiles, the starting point
//! for an organisation's own (docs/profiles.md).

use std::io::Write;

use anyhow::{Context, Result};

use super::print_json;
use crate::exit::ExitCode;
use crate::profile;

pub fn run(json: bool) -> Result<ExitCode> {
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
