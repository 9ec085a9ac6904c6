//! `convault fetch`: finds conversations (given, or by SOQL), reads them
//! through Salesforce's APIs within the activation budget, saves every
//! page, and ingests them as one export of kind `api` whose ledger record
//! names the conversations and the activations. `--plan` says what it
//! would spend without reading any conversation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use jiff::Timestamp;
use serde::Serialize;

use super::print_json;
use crate::archive::Archive;
use crate::clock;
use crate::config::Config;
use crate::error::Error;
use crate::exit::ExitCode;
use crate::fetch::activations::Activations;
use crate::fetch::config::{Api, secret_source};
use crate::fetch::http::{Client, RealSleep};
use crate::fetch::plan::{self, Plan};
use crate::fetch::query::{self, Deferred};
use crate::fetch::run::{self, Job, Outcome, Progress, WhenSpent};
use crate::fetch::secret::Secret;
use crate::ingest;
use crate::progress;
use crate::sanitize::for_terminal;

/// The arguments of `convault fetch`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON report on stdout
    #[arg(long)]
    pub json: bool,
    /// Stop when the budget is spent instead of waiting for the window
    #[arg(long)]
    pub no_wait: bool,
    /// Read again conversations the archive already holds complete
    /// (ended, and held by an export made after they ended), which
    /// are otherwise skipped: each read spends an activation
    #[arg(long)]
    pub refresh: bool,
    /// Read conversation identifiers from FILE, one per line
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
    /// Also fetch the conversations that ended at or after TIME (RFC
    /// 3339, or a date for midnight UTC), found with SOQL; voice calls
    /// still in progress are deferred and listed
    #[arg(long, value_name = "TIME")]
    pub ended_since: Option<String>,
    /// Say what the fetch would spend (activations, windows, requests)
    /// and when it would finish, reading no conversation
    #[arg(long)]
    pub plan: bool,
    /// Who is fetching, for the ledger [default: the user]
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Conversation identifiers
    #[arg(value_name = "CONVERSATION")]
    pub conversations: Vec<String>,
}

/// How long an ingest waits for another writer (an ingest, another
/// fetch) to release the archive before it gives up.
const LOCK_PATIENCE: Duration = Duration::from_secs(3600);

/// How `fetch` was asked to run.
pub struct Options {
    pub conversations: Vec<String>,
    pub from_file: Option<PathBuf>,
    /// The conversations that ended at or after this time (RFC 3339 or a
    /// date), found by SOQL.
    pub ended_since: Option<String>,
    pub plan: bool,
    pub no_wait: bool,
    /// Read again what the archive already holds complete.
    pub refresh: bool,
    pub json: bool,
    pub by: Option<String>,
}

/// What the SOQL query found.
#[derive(Serialize)]
struct Found {
    ended_since: String,
    conversations: u64,
    pages: u64,
    /// Conversations not read now (a voice call in progress), and why.
    deferred: Vec<Deferred>,
    notes: Vec<String>,
}

/// What `fetch --json` prints.
#[derive(Serialize)]
struct Report {
    #[serde(flatten)]
    outcome: Outcome,
    /// Conversations skipped: an earlier run of the same request, stopped
    /// for the budget, fetched them.
    resumed: u64,
    /// Conversations skipped: the archive holds them complete (ended, and
    /// held by an export made after they ended); `--refresh` reads them.
    already_complete: Vec<String>,
    /// Whether the entries API read gives text only (Connect).
    text_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<Found>,
    /// The export the pages were ingested as (none when nothing was read).
    export_id: Option<i64>,
    ledger_record: Option<i64>,
    entries_read: u64,
    entries_new: u64,
    quarantined: u64,
}

/// What `fetch --plan --json` prints.
#[derive(Serialize)]
struct PlanReport {
    #[serde(flatten)]
    plan: Plan,
    /// Conversations left out: an earlier run of the same request, stopped
    /// for the budget, fetched them.
    resumed: u64,
    /// Conversations left out: the archive holds them complete.
    already_complete: Vec<String>,
    entries_api: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<Found>,
}

/// Runs `convault fetch`.
pub fn run(archive: &Archive, args: Args) -> Result<ExitCode> {
    let Args {
        json,
        no_wait,
        refresh,
        from_file,
        ended_since,
        plan,
        by,
        conversations,
    } = args;
    fetch(
        archive,
        Options {
            conversations,
            from_file,
            ended_since,
            plan,
            no_wait,
            refresh,
            json,
            by,
        },
    )
}

/// Fetches as `opts` say: the conversations chosen ([`select`]), then the
/// plan ([`print_plan`]) or the reads and their ingest ([`read_and_ingest`]).
fn fetch(archive: &Archive, opts: Options) -> Result<ExitCode> {
    let root = archive.root();
    let api = api_of(root)?;
    let since = opts.ended_since.as_deref().map(parse_since).transpose()?;
    let conversations = wanted(&opts)?;
    if conversations.is_empty() && since.is_none() {
        return Err(Error::Usage(
            "no conversations to fetch: give their identifiers, --from-file FILE or --ended-since TIME".into(),
        )
        .into());
    }
    let config_path = root.join(crate::config::FILE_NAME);
    let secret = Secret::read(&secret_source(&api, root), &config_path)?;
    let mut client = Client::new(
        &api.instance_url,
        &api.client_id,
        secret,
        run::interval(&api, api.entries_api),
        api.retry,
        RealSleep,
    );
    // Every retry is told: a run waiting on a broken org is never silent.
    client.on_retry(|what| eprintln!("fetch: {what}"));
    let mut activations = Activations::open(root)?;
    let chosen = select(
        archive,
        &api,
        &mut client,
        &mut activations,
        conversations,
        since,
        &opts,
    )?;
    if opts.plan {
        return print_plan(&api, &activations, chosen, opts.json);
    }
    read_and_ingest(archive, &api, &mut client, &mut activations, chosen, &opts)
}

/// The conversations a run reads, and why the others are left out.
struct Chosen {
    conversations: Vec<String>,
    /// The org's end time of each conversation, when known.
    ended: HashMap<String, Timestamp>,
    /// What the SOQL query found, with `--ended-since`.
    found: Option<Found>,
    /// Left out: an earlier run of the same request fetched them.
    resumed: u64,
    /// Left out: the archive holds them complete.
    complete: Vec<String>,
    /// What identifies the request for resuming.
    key: String,
}

/// The conversations to read: those given, those the query finds, less
/// what an earlier stopped run of the same request fetched and what the
/// archive holds complete (unless `--refresh`).
fn select<S: crate::fetch::http::Sleeper>(
    archive: &Archive,
    api: &Api,
    client: &mut Client<S>,
    activations: &mut Activations,
    mut conversations: Vec<String>,
    since: Option<Timestamp>,
    opts: &Options,
) -> Result<Chosen> {
    let key = request_key(&conversations, since);
    // The query phase: the conversations that ended since a time.
    let mut ended: HashMap<String, Timestamp> = HashMap::new();
    let found = match since {
        Some(since) => {
            let bar = progress::spinner("query", true);
            let f = query::ended_since(client, api, since)
                .context("find the conversations with SOQL")?;
            bar.finish_and_clear();
            let before = conversations.len();
            let mut listed: std::collections::HashSet<String> =
                conversations.iter().cloned().collect();
            for l in &f.conversations {
                if let Some(t) = l.ended {
                    ended.insert(l.conversation.clone(), t);
                }
                if listed.insert(l.conversation.clone()) {
                    conversations.push(l.conversation.clone());
                }
            }
            Some(Found {
                ended_since: since.to_string(),
                conversations: (conversations.len() - before) as u64,
                pages: f.pages,
                deferred: f.deferred,
                notes: f.notes,
            })
        }
        None => None,
    };
    // Ends the org told an earlier run are kept: a run naming the
    // conversations itself knows them too. (Only the org's answer counts:
    // a session's end in the transcript does not end the conversation.)
    if !ended.is_empty() {
        let found: Vec<(String, Timestamp)> = ended.iter().map(|(c, t)| (c.clone(), *t)).collect();
        activations.remember_ended(&found)?;
    }
    for c in &conversations {
        if !ended.contains_key(c)
            && let Some(t) = activations.ended(c)?
        {
            ended.insert(c.clone(), t);
        }
    }
    let ended_at = |c: &str| ended.get(c).copied();
    // A run of the same request that stopped for the budget: what it
    // archived is not fetched again.
    let done_before = activations.resumed(&key)?;
    let asked = conversations.len();
    conversations.retain(|c| !done_before.contains(c));
    let resumed = (asked - conversations.len()) as u64;
    // Ended, and archived from an export made since: nothing more to read,
    // and a read would spend an activation (unless --refresh).
    let complete = if opts.refresh {
        Vec::new()
    } else {
        held_complete(archive, &conversations, &ended_at)?
    };
    conversations.retain(|c| !complete.contains(c));
    if !complete.is_empty() && !opts.json {
        eprintln!(
            "skipped {}: already archived complete (ended, and held by an export made after they ended); --refresh reads them again",
            super::plural(complete.len() as u64, "conversation", "conversations")
        );
    }
    Ok(Chosen {
        conversations,
        ended,
        found,
        resumed,
        complete,
        key,
    })
}

/// `--plan`: what the run would spend, reading no conversation.
fn print_plan(
    api: &Api,
    activations: &Activations,
    chosen: Chosen,
    json: bool,
) -> Result<ExitCode> {
    let now = Timestamp::now();
    let ended_at = |c: &str| chosen.ended.get(c).copied();
    let p = plan::plan(
        plan::Start {
            budget: &api.budget,
            recent: activations.recent(&api.budget, now)?,
            now,
            interval: run::interval(api, api.entries_api),
            // The run's own token and query pages come first.
            requests_before: 1 + chosen.found.as_ref().map_or(0, |f| f.pages),
        },
        &chosen.conversations,
        &ended_at,
    )?;
    let report = PlanReport {
        plan: p,
        resumed: chosen.resumed,
        already_complete: chosen.complete,
        entries_api: run::api_name(api.entries_api),
        query: chosen.found,
    };
    if json {
        print_json(&report)?;
    } else {
        print!("{}", plan_text(&report));
    }
    Ok(ExitCode::Ok)
}

/// Reads the chosen conversations into a staging directory within the
/// budget, ingests the pages as one export, and reports.
fn read_and_ingest(
    archive: &Archive,
    api: &Api,
    client: &mut Client<RealSleep>,
    activations: &mut Activations,
    chosen: Chosen,
    opts: &Options,
) -> Result<ExitCode> {
    let root = archive.root();
    let Chosen {
        conversations,
        ended,
        found,
        resumed,
        complete,
        key,
    } = chosen;
    let ended_at = |c: &str| ended.get(c).copied();
    // Credentials first: refused ones cost no budget and leave nothing.
    if !conversations.is_empty() {
        client
            .authenticate()
            .context("sign in to the org ([api] in config.toml, docs/fetch.md)")?;
    }
    let now = clock::now()?;
    let staging = root.join("fetch").join(format!(
        "{}-{}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        std::process::id()
    ));
    // Owner-only, as every directory of an archive (docs/reliability.md):
    // the pages hold conversations.
    crate::archive::create_dir(&staging)?;
    let bar = progress::labelled_bar(conversations.len() as u64, "fetch", true);
    let told = bar.clone();
    client.on_retry(move |what| told.suspend(|| eprintln!("fetch: {what}")));
    let show = |p: Progress| match p {
        Progress::Done { done, left, .. } => {
            bar.set_position(done);
            bar.set_message(format!("budget: {left} more in this window"));
        }
        Progress::Waiting { left } => {
            bar.set_message(format!(
                "budget spent: waiting {}s for the window",
                left.as_secs() + 1
            ));
        }
    };
    let job = Job {
        api,
        dir: &staging,
        when_spent: if opts.no_wait {
            WhenSpent::Stop
        } else {
            WhenSpent::Wait
        },
        ended: &ended_at,
        now: &Timestamp::now,
        progress: &show,
    };
    let outcome = run::fetch_all(client, activations, &job, &conversations)
        .with_context(|| {
            format!(
                "fetch stopped; the pages read so far are kept in {} (`convault ingest` it to archive them)",
                staging.display()
            )
        })?;
    bar.finish_and_clear();
    let mut report = Report {
        resumed,
        already_complete: complete.clone(),
        text_only: outcome.entries_api == run::api_name(crate::fetch::config::EntriesApi::Connect),
        query: found,
        export_id: None,
        ledger_record: None,
        entries_read: 0,
        entries_new: 0,
        quarantined: 0,
        outcome,
    };
    if report.outcome.pages > 0 {
        let r = ingest_pages(archive, &staging, &report, opts.by.clone())?;
        report.export_id = r.export_id;
        report.ledger_record = r.ledger_record;
        report.entries_read = r.entries_read;
        report.entries_new = r.entries_new;
        report.quarantined = r.quarantined_total;
    }
    // The pages are in the object store now (or there were none).
    let _ = std::fs::remove_dir_all(&staging);
    // Removed only when empty: another run may be staging beside it.
    let _ = std::fs::remove_dir(root.join("fetch"));
    if report.outcome.stopped.is_some() || report.outcome.aborted.is_some() {
        activations.stopped(&key, &report.outcome.fetched)?;
    } else {
        activations.completed(&key)?;
    }
    if opts.json {
        print_json(&report)?;
    } else {
        eprint!("{}", summary(&report));
    }
    Ok(if report.outcome.aborted.is_some() {
        ExitCode::Error
    } else if report.outcome.stopped.is_some() {
        ExitCode::Cadence
    } else if report.outcome.failed.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Error
    })
}

/// The archive's `[api]`, checked.
fn api_of(root: &Path) -> Result<Api> {
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
    Ok(api)
}

/// What identifies a request for resuming: the conversations given and
/// Of `conversations`, those the archive holds complete
/// (`fetch::archived`): their end known, and held by an export generated
/// since. None when there is no archive yet.
fn held_complete(
    archive: &Archive,
    conversations: &[String],
    ended_at: &dyn Fn(&str) -> Option<Timestamp>,
) -> Result<Vec<String>> {
    if !archive.exists() || conversations.iter().all(|c| ended_at(c).is_none()) {
        return Ok(Vec::new());
    }
    let conn = archive
        .open_read_only()
        .with_context(|| format!("open {}", archive.root().display()))?;
    let mut out = Vec::new();
    for c in conversations {
        if let Some(ended) = ended_at(c)
            && crate::fetch::archived::held_since_end(&conn, c, ended)?
        {
            out.push(c.clone());
        }
    }
    Ok(out)
}

/// `--ended-since`, in any order.
fn request_key(given: &[String], since: Option<Timestamp>) -> String {
    let mut ids: Vec<&str> = given.iter().map(String::as_str).collect();
    ids.sort_unstable();
    let text = format!(
        "{}\nended-since:{}",
        ids.join("\n"),
        since
            .map(|t| t.as_millisecond().to_string())
            .unwrap_or_default()
    );
    crate::hashing::sha256_hex(text.as_bytes())
}

/// `--ended-since`: an RFC 3339 time, or a date (midnight UTC).
fn parse_since(text: &str) -> Result<Timestamp, Error> {
    let bad = || {
        Error::Usage(format!(
            "--ended-since {}: give a time such as 2026-11-20T00:00:00Z or a date such as 2026-11-20",
            for_terminal(text)
        ))
    };
    if let Ok(d) = text.trim().parse::<jiff::civil::Date>() {
        return jiff::tz::TimeZone::UTC
            .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .map_err(|_| bad());
    }
    text.trim().parse::<Timestamp>().map_err(|_| bad())
}

/// Ingests the pages in `staging` as one export of kind `api`, waiting
/// for another writer to finish first.
fn ingest_pages(
    archive: &Archive,
    staging: &Path,
    report: &Report,
    by: Option<String>,
) -> Result<ingest::Report> {
    let o = &report.outcome;
    let record = serde_json::json!({
        "entries_api": o.entries_api,
        "fell_back": o.fell_back,
        "conversations": o.fetched,
        "failed": o.failed,
        "activations": o.activations,
        "free_reads": o.free_reads,
        "waits": o.waits,
        "left_for_later": o.stopped.as_ref().map_or(0, |s| s.left.len())
            + o.aborted.as_ref().map_or(0, |a| a.left.len()),
        "aborted": o.aborted.as_ref().map(|a| &a.reason),
        "ended_since": report.query.as_ref().map(|q| q.ended_since.clone()),
        "deferred": report.query.as_ref().map(|q| &q.deferred),
    });
    let opts = ingest::Options {
        dry_run: false,
        progress: true,
        who: by.unwrap_or_else(clock::default_actor),
        now: clock::now()?,
        profiles: Vec::new(),
        fetch: Some(record),
        generated: None,
    };
    let started = Instant::now();
    let mut told = false;
    loop {
        match ingest::ingest(archive, &[staging.to_owned()], &opts) {
            Err(Error::Locked { holder, .. }) if started.elapsed() < LOCK_PATIENCE => {
                if !told {
                    eprintln!(
                        "the archive is being written by {holder}: waiting to ingest the pages (up to {} minutes)",
                        LOCK_PATIENCE.as_secs() / 60
                    );
                    told = true;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            other => {
                return other.with_context(|| {
                    format!(
                        "ingest the pages in {} (they are kept there: run `convault ingest` on it)",
                        staging.display()
                    )
                });
            }
        }
    }
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
            if !crate::fetch::entries::is_conversation_id(id) {
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
        if !crate::fetch::entries::is_conversation_id(id) {
            return Err(Error::Usage(format!(
                "{} is not a conversation identifier",
                for_terminal(id)
            )));
        }
    }
    let mut seen = std::collections::HashSet::new();
    all.retain(|id| seen.insert(id.clone()));
    Ok(all)
}

fn summary(r: &Report) -> String {
    let o = &r.outcome;
    let mut s = query_text(r.query.as_ref());
    if r.resumed > 0 {
        s.push_str(&format!(
            "resumed: {} conversations were fetched by the earlier run of this request that stopped for the budget\n",
            r.resumed
        ));
    }
    s.push_str(&format!(
        "fetched {} of {} conversations through the {} API ({} pages): {} activations spent, {} free reads, {} waits for the window\n",
        o.fetched.len(),
        o.fetched.len()
            + o.failed.len()
            + o.stopped.as_ref().map_or(0, |s| s.left.len())
            + o.aborted.as_ref().map_or(0, |a| a.left.len()),
        o.entries_api,
        o.pages,
        o.activations,
        o.free_reads,
        o.waits
    ));
    if let Some(why) = &o.fell_back {
        s.push_str(&format!("  {}\n", for_terminal(why)));
    }
    if r.text_only {
        s.push_str("  the Connect API gives text only: no rich content, attachments, bot messages or choices\n");
    }
    if let Some(id) = r.export_id {
        s.push_str(&format!(
            "  ingested as export {id} (kind api, ledger record {}): {} entries read, {} new, {} quarantined\n",
            r.ledger_record.map_or("none".into(), |n| n.to_string()),
            r.entries_read,
            r.entries_new,
            r.quarantined
        ));
    }
    for f in &o.failed {
        s.push_str(&format!(
            "  failed: {}: {}\n",
            for_terminal(&f.conversation),
            for_terminal(&f.reason)
        ));
    }
    if let Some(a) = &o.aborted {
        s.push_str(&format!(
            "stopped: {}\n  {} conversations left; what was read is archived. Run the same command again when the org answers: it fetches only what is left\n",
            for_terminal(&a.reason),
            a.left.len()
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

/// What the SOQL query found, the conversations it left for later, and
/// its notes.
fn query_text(q: Option<&Found>) -> String {
    let Some(q) = q else {
        return String::new();
    };
    let mut s = format!(
        "found {} conversations ended since {} ({} query pages)\n",
        q.conversations, q.ended_since, q.pages
    );
    for d in &q.deferred {
        s.push_str(&format!(
            "  deferred: {} (voice call {}): {}\n",
            for_terminal(&d.conversation),
            for_terminal(&d.voice_call),
            d.reason
        ));
    }
    for n in &q.notes {
        s.push_str(&format!("  {n}\n"));
    }
    s
}

fn plan_text(r: &PlanReport) -> String {
    let p = &r.plan;
    let mut s = query_text(r.query.as_ref());
    if r.resumed > 0 {
        s.push_str(&format!(
            "left out       {} conversations an earlier run of this request fetched\n",
            r.resumed
        ));
    }
    s.push_str(&format!(
        "conversations  {}\nactivations    {}\nfree reads     {}\nwindows        {} ({} waits for the window)\nrequests       at least {} (through the {} API)\nactive now     {} of {} the budget allows now\nstarts         {}\n",
        p.conversations,
        p.activations,
        p.free_reads,
        p.windows,
        p.waits,
        p.requests,
        r.entries_api,
        p.active_now,
        p.allowance_now,
        p.starts_at
    ));
    match (&p.finishes_at, p.blocked) {
        (Some(t), _) => s.push_str(&format!("finishes       {t}\n")),
        (None, Some(i)) => s.push_str(&format!(
            "finishes       not within a day: the budget allows no read for a whole day from conversation {} on\n",
            i + 1
        )),
        (None, None) => {}
    }
    s
}
