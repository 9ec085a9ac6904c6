//! `convault erase`: what a data subject's erasure request would remove.

use anyhow::{Context, Result};

use super::{print_json, thousands};
use crate::archive::Archive;
use crate::clock;
use crate::exit::ExitCode;
use crate::retention::erase::{self, Target};
use crate::sanitize::for_terminal;

pub fn run(
    archive: &Archive,
    conversations: Vec<String>,
    enduser: Option<String>,
    reason: &str,
    json: bool,
) -> Result<ExitCode> {
    let target = match enduser {
        Some(key) => Target::EndUser(key),
        None => Target::Conversations(conversations),
    };
    let conn = archive
        .open_read_only()
        .with_context(|| format!("open {}", archive.root().display()))?;
    let plan = erase::plan(&conn, &target, reason, clock::now()?)
        .with_context(|| format!("erasure in {}", archive.root().display()))?;
    if json {
        print_json(&plan)?;
    } else {
        super::dispose::print_due(&plan.erase)?;
    }
    for c in &plan.not_in_archive {
        eprintln!("not in the archive: {}", for_terminal(c));
    }
    if let Target::EndUser(key) = &plan.target
        && plan.erase.is_empty()
    {
        eprintln!(
            "no conversation of an end user with the record Id or messaging platform key {:?} is in the archive",
            for_terminal(key)
        );
    }
    eprintln!(
        "would erase {} conversations ({} entry versions); nothing was changed. Carrying erasure out is not built yet (docs/retention.md)",
        thousands(plan.conversations),
        thousands(plan.entries)
    );
    Ok(ExitCode::Ok)
}
