//! `convault fetch`: reads conversations through Salesforce's APIs within
//! the activation budget, saves every page, and ingests them as one export.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use super::print_json;
use crate::archive::Archive;
use crate::clock;
use crate::config::Config;
use crate::error::Error;
use crate::exit::ExitCode;
use crate::fetch::activations::Activations;
use crate::fetch::config::{EntriesApi, secret_source};
use crate::fetch::http::{Client, RealSleep, Retry};
use crate::fetch::run::{self, Job, Outcome, WhenSpent};
use crate::fetch::secret::Secret;
use crate::ingest;
use crate::sanitize::for_terminal;

/// How `fetch` was asked to run.
pub struct Options {
    pub conversations: Vec<String>,
    pub from_file: Option<PathBuf>,
    pub no_wait: bool,
    pub json: bool,
    pub by: Option<String>,
}

/// What `fetch --json` prints.
#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    outcome: Outcome,
    /// The entries API read, and whether it gives text only.
    entries_api: &'static str,
    text_only: bool,
    /// The export the pages were ingested as (none when nothing was read).
    export_id: Option<i64>,
    entries_read: u64,
    entries_new: u64,
}

pub fn run(archive: &Archive, opts: Options) -> Result<ExitCode> {
    let root = archive.root();
    let config = Config::load(root)?;
    let config_path = root.join(crate::config::FILE_NAME);
    let api = config
        .api
        .ok_or_else(|| {
            Error::Usage(format!(
                "{} has no [api] section: configure the org and the budget first (docs/fetch.md)",
                config_path.display()
            ))
        })?
        .check()
        .map_err(|reason| Error::Config {
            path: config_path.clone(),
            reason,
        })?;
    let conversations = wanted(&opts)?;
    let secret = Secret::read(&secret_source(&api, root), &config_path)?;
    let interval = match api.entries_api {
        EntriesApi::ConversationData => Duration::from_secs(60) / api.requests_per_minute.max(1),
        EntriesApi::Connect => Duration::from_secs(3600) / api.requests_per_hour.max(1),
    };
    let mut client = Client::new(
        &api.instance_url,
        &api.client_id,
        secret,
        interval,
        Retry::default(),
        RealSleep,
    );
    let mut activations = Activations::open(root)?;
    let now = clock::now()?;
    let staging = root.join("fetch").join(format!(
        "{}-{}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        std::process::id()
    ));
    std::fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
    let job = Job {
        api: &api,
        dir: &staging,
        when_spent: if opts.no_wait {
            WhenSpent::Stop
        } else {
            WhenSpent::Wait
        },
        ended: &|_| None,
        now: &jiff::Timestamp::now,
    };
    let outcome = run::fetch_all(&mut client, &mut activations, &job, &conversations)
        .with_context(|| {
            format!(
                "fetch stopped; the pages read so far are kept in {} (`convault ingest` it to archive them)",
                staging.display()
            )
        })?;
    let (export_id, entries_read, entries_new) = if outcome.pages > 0 {
        let r = ingest::ingest(
            archive,
            std::slice::from_ref(&staging),
            &ingest::Options {
                dry_run: false,
                progress: true,
                who: opts.by.clone().unwrap_or_else(clock::default_actor),
                now: clock::now()?,
                profiles: Vec::new(),
            },
        )
        .with_context(|| {
            format!(
                "ingest the pages in {} (they are kept there: run `convault ingest` on it)",
                staging.display()
            )
        })?;
        (r.export_id, r.entries_read, r.entries_new)
    } else {
        (None, 0, 0)
    };
    // The pages are in the object store now (or there were none).
    let _ = std::fs::remove_dir_all(&staging);
    let report = Report {
        entries_api: match api.entries_api {
            EntriesApi::ConversationData => "conversation-data",
            EntriesApi::Connect => "connect",
        },
        text_only: api.entries_api == EntriesApi::Connect,
        export_id,
        entries_read,
        entries_new,
        outcome,
    };
    if opts.json {
        print_json(&report)?;
    } else {
        eprint!("{}", summary(&report));
    }
    Ok(if report.outcome.stopped.is_some() {
        ExitCode::Cadence
    } else if report.outcome.failed.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Error
    })
}

/// The conversations asked for, in order, each once: the arguments, then
/// `--from-file` (one per line; blank lines and `#` comments skipped).
fn wanted(opts: &Options) -> Result<Vec<String>, Error> {
    let mut all = opts.conversations.clone();
    if let Some(path) = &opts.from_file {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        for (n, line) in text.lines().enumerate() {
            let id = line.split('#').next().unwrap_or("").trim();
            if id.is_empty() {
                continue;
            }
            if !is_conversation_id(id) {
                return Err(Error::Usage(format!(
                    "{} line {}: {} is not a conversation identifier",
                    path.display(),
                    n + 1,
                    for_terminal(id)
                )));
            }
            all.push(id.to_owned());
        }
    }
    for id in &opts.conversations {
        if !is_conversation_id(id) {
            return Err(Error::Usage(format!(
                "{} is not a conversation identifier",
                for_terminal(id)
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    all.retain(|id| seen.insert(id.clone()));
    if all.is_empty() {
        return Err(Error::Usage(
            "no conversations to fetch: give their identifiers, or --from-file FILE".into(),
        ));
    }
    Ok(all)
}

fn is_conversation_id(s: &str) -> bool {
    crate::entry::is_uuid(s)
        || (matches!(s.len(), 15 | 18) && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn summary(r: &Report) -> String {
    let o = &r.outcome;
    let mut s = format!(
        "fetched {} of {} conversations through the {} API ({} pages): {} activations spent, {} free reads\n",
        o.fetched.len(),
        o.fetched.len() + o.failed.len() + o.stopped.as_ref().map_or(0, |s| s.left.len()),
        r.entries_api,
        o.pages,
        o.activations,
        o.free_reads
    );
    if r.text_only {
        s.push_str("  the Connect API gives text only: no rich content, attachments or choices\n");
    }
    if let Some(id) = r.export_id {
        s.push_str(&format!(
            "  ingested as export {id}: {} entries read, {} new\n",
            r.entries_read, r.entries_new
        ));
    }
    for f in &o.failed {
        s.push_str(&format!(
            "  failed: {}: {}\n",
            for_terminal(&f.conversation),
            for_terminal(&f.reason)
        ));
    }
    if let Some(st) = &o.stopped {
        s.push_str(&format!(
            "stopped: the activation budget is spent; {} conversations left. Run the same command again{}\n",
            st.left.len(),
            st.resume_at
                .as_deref()
                .map(|t| format!(" from {t}"))
                .unwrap_or_default()
        ));
    }
    s
}
