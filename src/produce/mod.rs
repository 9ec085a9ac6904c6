//! `convault produce`: an evidence package of the conversations a search
//! finds (or that are named), as a BagIt 1.0 bag that counsel can check
//! without convault (docs/produce.md).
//!
//! The bag holds, under `data/`: each conversation's transcript as one
//! self-contained HTML page with the hits marked and as JSON (every entry,
//! every version, its raw payload, content hash and provenance); a load
//! file (`loadfile.csv`, one row per produced entry version) for review
//! platforms; and `production.json` (the query, the counts, the
//! result-set hash, the ledger head). The ledger gets a `production`
//! record with the SHA-256 of `tagmanifest-sha256.txt`, so the archive can
//! later prove exactly what was handed over.
//!
//! Invariants:
//! - the bag is written as a hidden `.<name>.partial-<pid>` beside the
//!   path asked for, fsynced, recorded in the ledger, then renamed into
//!   place: a failed or killed production leaves nothing that looks
//!   finished (a partial directory is removed when the run fails);
//! - file names come from conversation identifiers, used as they are only
//!   when they are plain names ([`file_name`]), else from their SHA-256;
//!   every path is checked to stay inside the bag;
//! - the writer lock is held throughout: what is produced is what the
//!   archive held at one moment, and the ledger head named is the one the
//!   production's record extends.

pub mod bag;
pub mod verify;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;
use serde_json::json;

use crate::archive::Archive;
use crate::error::{Error, Result};
use crate::hashing::hex;
use crate::search::{self, Query};
use crate::{clock, ledger, transcript};
use bag::BagWriter;

/// The ledger record kind of a production.
pub const RECORD_KIND: &str = ledger::kind::PRODUCTION;

/// The load file's columns, in order.
pub const LOADFILE_COLUMNS: [&str; 14] = [
    "production_number",
    "conversation",
    "entry",
    "version",
    "time",
    "role",
    "sender",
    "entry_type",
    "text",
    "content_hash",
    "export_id",
    "original_sha256",
    "member",
    "line",
];

/// What to produce, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The query (the search language); may be empty with `conversations`.
    pub terms: Vec<String>,
    /// Conversations produced whole, by identifier.
    pub conversations: Vec<String>,
    pub out: PathBuf,
    /// A name for the production (`Internal-Sender-Description`).
    pub name: Option<String>,
    pub who: String,
    /// Only the matching entry versions, not whole conversations.
    pub hits_only: bool,
    /// Write the bag as one zip file at `out`.
    pub zip: bool,
    /// Write a bag even when nothing matches.
    pub allow_empty: bool,
    /// Load file cells a spreadsheet would take for a formula get a
    /// leading `'` (`--excel-safe`).
    pub excel_safe: bool,
    pub now: Timestamp,
    /// `Source-Organization` (from `config.toml`).
    pub organization: Option<String>,
    pub progress: bool,
}

/// What a production did.
#[derive(Debug, Clone, Serialize)]
pub struct Production {
    /// `PROD-0003`; `null` when nothing matched and no bag was written.
    pub production: Option<String>,
    pub path: Option<String>,
    pub query: String,
    pub conversations: u64,
    /// Load file rows: produced entry versions.
    pub entries: u64,
    pub payload_files: u64,
    pub payload_bytes: u64,
    pub result_set_hash: Option<String>,
    pub tagmanifest_sha256: Option<String>,
    pub ledger_head: Option<String>,
    pub ledger_record: Option<i64>,
    pub hits_only: bool,
}

/// The result-set hash: SHA-256 over the produced rows' content hashes
/// (lowercase hex), sorted, each followed by a line feed. Anyone can
/// recompute it from the load file's `content_hash` column.
///
/// The hashes are held as 32 bytes each (a million rows: 32 MB), and
/// sorting them as bytes sorts their hex the same way.
pub fn result_set_hash(mut content_hashes: Vec<[u8; 32]>) -> String {
    content_hashes.sort_unstable();
    let mut h = crate::hashing::HashWriter::default();
    for c in &content_hashes {
        let _ = h.write_all(hex(c).as_bytes());
        let _ = h.write_all(b"\n");
    }
    h.finish_hex()
}

/// A content hash (64 hex digits) as bytes.
fn hash_bytes(text: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return Err(Error::Damaged {
            what: "entries".into(),
            detail: format!("a content hash of {} characters", bytes.len()),
        });
    }
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |b: u8| (b as char).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(a), Some(b)) => out[i] = (a * 16 + b) as u8,
            _ => {
                return Err(Error::Damaged {
                    what: "entries".into(),
                    detail: format!("a content hash that is not hex: {text:?}"),
                });
            }
        }
    }
    Ok(out)
}

/// The file name (without extension) of a conversation's files: its
/// identifier when that is a plain name (lower-case letters, digits, `-`,
/// `_`, `.`, at most 128, not starting with `.` or `conversation-`, not a
/// Windows device name), else `conversation-` and the first 32 hex digits
/// of its SHA-256. Never text from the conversation itself.
pub fn file_name(identifier: &str) -> String {
    // Collision-free by construction, case-insensitively (a bag unpacked
    // on macOS or Windows): a name kept as given is lower case and never
    // starts as a hashed name does; every other name is its hash, in
    // lower case too. So "AbC" and "abc", or an id spelled
    // "conversation-<hash>" and the id of that hash, never meet.
    let plain = !identifier.is_empty()
        && identifier.len() <= 128
        && !identifier.starts_with('.')
        && !identifier.starts_with(HASHED)
        && !windows_reserved(identifier)
        && identifier.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        });
    if plain {
        identifier.to_owned()
    } else {
        format!(
            "{HASHED}{}",
            &crate::hashing::sha256_hex(identifier.as_bytes())[..32]
        )
    }
}

/// How a hashed file name starts.
const HASHED: &str = "conversation-";

/// Names Windows keeps for devices, whatever follows the first dot.
fn windows_reserved(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name);
    matches!(stem, "con" | "prn" | "aux" | "nul")
        || (stem.len() == 4
            && (stem.starts_with("com") || stem.starts_with("lpt"))
            && stem.as_bytes()[3].is_ascii_digit())
}

/// The matched entry versions of each conversation (by its row id).
type Selection = BTreeMap<i64, HashSet<(String, i64)>>;

/// Produces a bag of what `opts` asks for from `archive`.
#[allow(
    clippy::too_many_lines,
    reason = "the production's steps in order, each named; what is left is their sequence and the ledger record"
)]
pub fn produce(
    archive: &Archive,
    opts: &Options,
    warnings: &mut Vec<String>,
) -> Result<Production> {
    if opts.terms.is_empty() && opts.conversations.is_empty() {
        return Err(Error::Usage(
            "nothing to produce: give a query, or --conversation ID".into(),
        ));
    }
    let (parent, out_name) = destination(archive, opts)?;
    let query = opts.terms.join(" ");
    let parsed = if opts.terms.is_empty() {
        None
    } else {
        Some(Query::parse(&opts.terms)?)
    };
    // The session finishes what a killed run left, so a conversation an
    // erasure removed is never packed (writer::Session).
    let session = crate::writer::Session::begin(archive, "produce", &opts.who, opts.now, warnings)?;
    // Under the lock no other production runs: a partial bag for this
    // path was left by one that was killed.
    remove_stale_partials(&parent, &out_name);
    // This connection counts rows and appends the ledger record; the
    // renderers read the conversations, each on its own connection.
    let mut conn = session.conn;
    tune(&conn)?;
    let selection = select(&conn, parsed.as_ref(), &opts.conversations)?;
    let mut production = Production {
        production: None,
        path: None,
        query: query.clone(),
        conversations: selection.len() as u64,
        entries: 0,
        payload_files: 0,
        payload_bytes: 0,
        result_set_hash: None,
        tagmanifest_sha256: None,
        ledger_head: None,
        ledger_record: None,
        hits_only: opts.hits_only,
    };
    if selection.is_empty() && !opts.allow_empty {
        return Ok(production);
    }
    let number: i64 = conn.query_row(
        "SELECT count(*) + 1 FROM ledger WHERE kind = ?1",
        [RECORD_KIND],
        |r| r.get(0),
    )?;
    let id = format!("PROD-{number:04}");
    let head = ledger::head_hash(&conn)?.unwrap_or_else(|| ledger::GENESIS.to_owned());
    let partial = parent.join(format!(".{out_name}.partial-{}", std::process::id()));
    let mut guard = Partial(vec![partial.clone()]);

    let mut bag = BagWriter::create(&partial)?;
    let written = write_payload(archive, &conn, &mut bag, &selection, &id, &head, opts)?;
    let (payload_bytes, payload_files) = bag.oxum();
    let info = bag_info(opts, &query, &id, &head, payload_bytes);
    let tags = bag.finish(&info)?;
    let tagmanifest_sha256 = tags
        .iter()
        .find(|w| w.path == "tagmanifest-sha256.txt")
        .map(|w| w.sha256.clone())
        .ok_or(Error::Internal("the bag has no tagmanifest-sha256.txt"))?;

    // The finished bag (or its zip) is what gets renamed into place.
    let finished = if opts.zip {
        let zip_path = parent.join(format!(".{out_name}.partial-{}.zip", std::process::id()));
        guard.0.push(zip_path.clone());
        let top = out_name
            .strip_suffix(".zip")
            .unwrap_or(&out_name)
            .to_owned();
        zip_bag(&partial, &zip_path, &top)?;
        zip_path
    } else {
        partial.clone()
    };

    production.production = Some(id.clone());
    production.entries = written.rows;
    production.payload_files = payload_files;
    production.payload_bytes = payload_bytes;
    production.result_set_hash = Some(written.result_set_hash.clone());
    production.tagmanifest_sha256 = Some(tagmanifest_sha256.clone());
    production.ledger_head = Some(head.clone());
    // Recorded first, then renamed: a kill between the two leaves the
    // record and a bag still under its partial name, never a bag that
    // looks finished without its record.
    let tx = conn.transaction()?;
    let record = ledger::append(
        &tx,
        opts.now,
        RECORD_KIND,
        &opts.who,
        json!({
            "production": id,
            "name": opts.name,
            "excel_safe": opts.excel_safe,
            "query": query,
            "conversations_asked": opts.conversations,
            "hits_only": opts.hits_only,
            "conversations": production.conversations,
            "entries": written.rows,
            "payload_oxum": format!("{payload_bytes}.{payload_files}"),
            "result_set_hash": written.result_set_hash,
            "tagmanifest_sha256": tagmanifest_sha256,
            "ledger_head": head,
            "path": opts.out.display().to_string(),
            "zip": opts.zip,
        }),
    )?;
    tx.commit()?;
    production.ledger_record = Some(record.seq);
    std::fs::rename(&finished, &opts.out).map_err(|e| Error::io(&opts.out, e))?;
    crate::archive::db::sync(&parent)?;
    crate::failpoint::hit("production-renamed");
    if opts.zip {
        let _ = std::fs::remove_dir_all(&partial);
    }
    guard.0.clear();
    production.path = Some(opts.out.display().to_string());
    Ok(production)
}

/// Where the bag goes: the directory it is written in and its name there.
/// Refused: an existing path (named when it is a recorded production), no
/// name, a missing directory, a path inside the archive, no archive.
fn destination(archive: &Archive, opts: &Options) -> Result<(PathBuf, String)> {
    if opts.out.symlink_metadata().is_ok() {
        // A production killed after its rename (or simply run twice)
        // left a finished bag: say which, so nobody takes it for junk or
        // produces it again unknowingly.
        let what = match recorded_at(archive, &opts.out) {
            Some(r) => format!(
                "it is production {} (ledger record {}), complete: check it with `convault produce verify {}`. ",
                r.details["production"].as_str().unwrap_or("?"),
                r.seq,
                opts.out.display()
            ),
            None => String::new(),
        };
        return Err(Error::Usage(format!(
            "{} exists: {what}A production never overwrites; give a new path",
            opts.out.display()
        )));
    }
    let parent = match opts.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let Some(out_name) = opts
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
    else {
        return Err(Error::Usage(format!(
            "{}: give the path of the bag to write",
            opts.out.display()
        )));
    };
    if !parent.is_dir() {
        return Err(Error::Usage(format!(
            "{}: no such directory to write the bag in",
            parent.display()
        )));
    }
    // Not inside the archive: a bag under objects/ would read as damage.
    archive.check_out(&opts.out)?;
    if !archive.exists() {
        return Err(Error::NoArchive(archive.root().to_owned()));
    }
    Ok((parent, out_name))
}

/// The tags of `bag-info.txt`.
fn bag_info(
    opts: &Options,
    query: &str,
    id: &str,
    head: &str,
    payload_bytes: u64,
) -> Vec<(String, String)> {
    let mut info: Vec<(String, String)> = Vec::new();
    if let Some(org) = &opts.organization {
        info.push(("Source-Organization".into(), org.clone()));
    }
    info.push((
        "Bagging-Date".into(),
        opts.now.strftime("%Y-%m-%d").to_string(),
    ));
    info.push(("Bag-Size".into(), bag::human_size(payload_bytes)));
    info.push(("External-Identifier".into(), id.to_owned()));
    info.push(("External-Description".into(), description(query, opts)));
    info.push((
        "Bag-Software-Agent".into(),
        format!("convault {}", env!("CARGO_PKG_VERSION")),
    ));
    info.push(("Internal-Sender-Identifier".into(), head.to_owned()));
    if let Some(name) = &opts.name {
        info.push(("Internal-Sender-Description".into(), name.clone()));
    }
    info
}

/// Sets a production's connection up for reading many conversations.
fn tune(conn: &Connection) -> Result<()> {
    conn.pragma_update(None, "cache_size", -RENDERER_CACHE_KIB)?;
    // A transcript is read with a dozen statements, per conversation.
    conn.set_prepared_statement_cache_capacity(64);
    // Without the query planner stability guarantee, this SQLite (built
    // with STAT4) prepares a statement again each time a new value is
    // bound to it: measured, a second statement compile per statement and
    // conversation, a fifth of a production's time.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Removes `.<name>.partial-*` in `parent`: what killed productions of
/// `name` left.
fn remove_stale_partials(parent: &Path, name: &str) {
    let prefix = format!(".{name}.partial-");
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let p = entry.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

/// Removes what a production that did not finish wrote.
struct Partial(Vec<PathBuf>);

impl Drop for Partial {
    fn drop(&mut self) {
        for p in &self.0 {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(p);
            } else {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

/// `External-Description`: the query verbatim, and the conversations
/// named.
fn description(query: &str, opts: &Options) -> String {
    let mut parts = Vec::new();
    if !query.is_empty() {
        parts.push(query.to_owned());
    }
    if !opts.conversations.is_empty() {
        parts.push(format!("--conversation {}", opts.conversations.join(" ")));
    }
    if opts.hits_only {
        parts.push("--hits-only".into());
    }
    parts.join(" ")
}

/// The conversations to produce, with the entry versions that matched.
fn select(conn: &Connection, query: Option<&Query>, named: &[String]) -> Result<Selection> {
    let mut selection = Selection::new();
    if let Some(q) = query {
        search::hits::each_match(conn, q, |conversation, entry, version| {
            selection
                .entry(conversation)
                .or_default()
                .insert((entry, version));
        })?;
    }
    for identifier in named {
        let id: i64 = conn
            .query_row(
                "SELECT id FROM conversations WHERE identifier = ?1",
                [identifier],
                |r| r.get(0),
            )
            .optional()?
            .map_or_else(|| Err(crate::transcript::not_held(conn, identifier)), Ok)?;
        selection.entry(id).or_default();
    }
    Ok(selection)
}

/// A conversation's files in the bag (`conversations/<name>.html` and
/// `.json`).
struct ConversationFiles {
    conversation: String,
    name: String,
}

impl Serialize for ConversationFiles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("conversation", &self.conversation)?;
        m.serialize_entry("html", &format!("conversations/{}.html", self.name))?;
        m.serialize_entry("json", &format!("conversations/{}.json", self.name))?;
        m.end()
    }
}

/// What the payload came to.
struct Payload {
    rows: u64,
    result_set_hash: String,
}

/// How many threads render conversations (each with its own read-only
/// connection); the calling thread writes the load file in order.
const RENDERERS: usize = 2;

/// How far a renderer may run ahead of the load file (conversations): the
/// rows of those it finished wait in memory until their turn.
const AHEAD: usize = 64;

/// Each renderer connection's page cache (KiB): reading one conversation
/// at a time needs little, and three connections' default caches were a
/// third of the peak RSS.
const RENDERER_CACHE_KIB: i64 = 8 * 1024;

/// One conversation to render: its matched versions, its first
/// production number and how many rows it will have.
struct Work<'a> {
    conversation_id: i64,
    hits: &'a HashSet<(String, i64)>,
    first: u64,
    rows: u64,
}

/// One conversation rendered: its files written, its load file rows.
struct Rendered {
    files: ConversationFiles,
    html: bag::Written,
    json: bag::Written,
    /// Its load file rows, formatted (CSV, no header).
    csv: Vec<u8>,
    rows: u64,
    hashes: Vec<[u8; 32]>,
}

/// Writes every conversation's HTML and JSON, the load file and
/// `production.json`.
///
/// Conversations are rendered on [`RENDERERS`] threads, conversation `i`
/// on thread `i % RENDERERS`; each knows its first production number
/// beforehand (the rows of the conversations before it, counted first),
/// so numbers and the load file's order are the same as on one thread.
#[allow(
    clippy::too_many_lines,
    reason = "the renderers' thread scope: its channel, turn-taking and error hand-off belong together"
)]
fn write_payload(
    archive: &Archive,
    conn: &Connection,
    bag: &mut BagWriter,
    selection: &Selection,
    id: &str,
    head: &str,
    opts: &Options,
) -> Result<Payload> {
    let bar = crate::progress::count_bar(selection.len() as u64, "produce", opts.progress);
    let mut loadfile = bag.payload_file("loadfile.csv")?;
    let loadfile_path = bag.root().join("data/loadfile.csv");
    let mut header = csv::Writer::from_writer(Vec::new());
    header
        .write_record(LOADFILE_COLUMNS)
        .map_err(|e| csv_error(&loadfile_path, e))?;
    let header = header
        .into_inner()
        .map_err(|e| csv_error(&loadfile_path, e.into_error().into()))?;
    loadfile
        .write_all(&header)
        .map_err(|e| Error::io(&loadfile_path, e))?;
    // Each conversation's identifier and file name, for production.json:
    // two strings each (tens of thousands of conversations).
    let mut files: Vec<ConversationFiles> = Vec::with_capacity(selection.len());

    let work = number_rows(conn, selection, opts)?;
    // Every row's content hash, for the result-set hash: sized once from
    // the counts (growing by doubling would, for a moment, hold both the
    // old and the new allocation: tens of MB at a million rows).
    let mut hashes: Vec<[u8; 32]> = Vec::with_capacity(work.iter().map(|w| w.rows as usize).sum());
    let work = &work;
    // How many conversations the load file holds so far; renderers wait
    // on it so that no more than AHEAD are held in memory.
    let written = &(std::sync::Mutex::new(0usize), std::sync::Condvar::new());
    std::thread::scope(|scope| -> Result<()> {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<(usize, Result<Rendered>)>(16);
        for k in 0..RENDERERS {
            let sender = sender.clone();
            let opener = bag.opener();
            scope.spawn(move || {
                let run = || -> Result<()> {
                    let conn = archive.open_read_only()?;
                    tune(&conn)?;
                    for (i, w) in work.iter().enumerate().skip(k).step_by(RENDERERS) {
                        {
                            let (lock, turn) = written;
                            let mut done = lock
                                .lock()
                                .map_err(|_| Error::Internal("a poisoned lock"))?;
                            while i >= *done + AHEAD {
                                done = turn
                                    .wait(done)
                                    .map_err(|_| Error::Internal("a poisoned lock"))?;
                            }
                        }
                        let r = render(
                            &conn,
                            &opener,
                            (id, head),
                            w.conversation_id,
                            w.hits,
                            w.first,
                            opts,
                        );
                        let failed = r.is_err();
                        if sender.send((i, r)).is_err() || failed {
                            return Ok(());
                        }
                    }
                    Ok(())
                };
                if let Err(e) = run() {
                    let _ = sender.send((usize::MAX, Err(e)));
                }
            });
        }
        drop(sender);
        // Results in any order, written in production order.
        let mut waiting: BTreeMap<usize, Rendered> = BTreeMap::new();
        let mut next = 0usize;
        let mut collect = || -> Result<()> {
            for (i, r) in receiver.iter() {
                let r = r?;
                // The numbers were given out by these counts: a
                // conversation that rendered another number of rows would
                // collide.
                if work.get(i).map(|w| w.rows) != Some(r.rows) {
                    return Err(Error::Internal(
                        "a conversation's rows changed while it was produced",
                    ));
                }
                waiting.insert(i, r);
                while let Some(r) = waiting.remove(&next) {
                    loadfile
                        .write_all(&r.csv)
                        .map_err(|e| Error::io(&loadfile_path, e))?;
                    hashes.extend(r.hashes);
                    bag.add_payload(r.html);
                    bag.add_payload(r.json);
                    files.push(r.files);
                    bar.inc(1);
                    next += 1;
                }
                let (lock, turn) = written;
                *lock
                    .lock()
                    .map_err(|_| Error::Internal("a poisoned lock"))? = next;
                turn.notify_all();
            }
            if next != work.len() {
                return Err(Error::Internal(
                    "a renderer stopped before its last conversation",
                ));
            }
            Ok(())
        };
        let result = collect();
        // On an error, renderers still waiting for their turn are let go
        // (their next send fails and they stop), so the scope can end.
        if result.is_err() {
            let (lock, turn) = written;
            if let Ok(mut done) = lock.lock() {
                *done = usize::MAX / 2;
            }
            turn.notify_all();
        }
        result
    })?;
    bag.add_payload(loadfile.finish()?);
    bar.finish_and_clear();

    let rows = hashes.len() as u64;
    let result_set_hash = result_set_hash(hashes);
    write_summary(
        bag,
        &files,
        selection.len(),
        rows,
        &result_set_hash,
        head,
        id,
        opts,
    )?;
    Ok(Payload {
        rows,
        result_set_hash,
    })
}

/// Each conversation's first production number and row count, in
/// production order (the numbers are given out before any is rendered).
fn number_rows<'s>(
    conn: &Connection,
    selection: &'s Selection,
    opts: &Options,
) -> Result<Vec<Work<'s>>> {
    let mut count = conn.prepare("SELECT count(*) FROM entries WHERE conversation_id = ?1")?;
    let mut next = 1u64;
    let mut work = Vec::with_capacity(selection.len());
    for (conversation_id, hits) in selection {
        let rows = if opts.hits_only {
            hits.len() as u64
        } else {
            count.query_row([conversation_id], |r| r.get::<_, i64>(0))? as u64
        };
        work.push(Work {
            conversation_id: *conversation_id,
            hits,
            first: next,
            rows,
        });
        next += rows;
    }
    Ok(work)
}

/// `data/production.json`: what was produced, the result-set hash and
/// its recipe, and each conversation's files.
#[allow(
    clippy::too_many_arguments,
    reason = "the summary's parts, each from a different step of the production"
)]
fn write_summary(
    bag: &mut BagWriter,
    files: &[ConversationFiles],
    conversations: usize,
    rows: u64,
    result_set_hash: &str,
    head: &str,
    id: &str,
    opts: &Options,
) -> Result<()> {
    let summary = json!({
        "production": id,
        "name": opts.name,
        "query": opts.terms.join(" "),
        "conversations_asked": opts.conversations,
        "hits_only": opts.hits_only,
        "counts": {"conversations": conversations, "entries": rows},
        "result_set_hash": result_set_hash,
        "result_set_hash_recipe": "SHA-256 of the load file's content_hash values (lowercase hex), sorted ascending, each followed by a line feed (0x0A)",
        "ledger_head": head,
        "produced_at": clock::rfc3339_ms(opts.now),
        "produced_by": opts.who,
        "convault_version": env!("CARGO_PKG_VERSION"),
        "files": files,
    });
    let mut f = bag.payload_file("production.json")?;
    let path = bag.root().join("data/production.json");
    serde_json::to_writer_pretty(&mut f, &summary).map_err(|e| Error::io(&path, e.into()))?;
    f.write_all(b"\n").map_err(|e| Error::io(&path, e))?;
    bag.add_payload(f.finish()?);
    Ok(())
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    Error::io(path, std::io::Error::other(e.to_string()))
}

/// Renders one conversation: its HTML and JSON written into the bag, its
/// load file rows numbered from `first`. The conversation is read once:
/// the transcript and the list of every version come from the same rows.
fn render(
    conn: &Connection,
    bag: &BagWriter,
    (id, head): (&str, &str),
    conversation_id: i64,
    hits: &HashSet<(String, i64)>,
    first: u64,
    opts: &Options,
) -> Result<Rendered> {
    let (mut t, stored) = transcript::read_with_versions(conn, conversation_id)?;
    let identifier = t.conversation.clone();
    let name = file_name(&identifier);

    // The transcript, the hits marked (only the hits with --hits-only).
    let hit_entries: HashSet<&str> = hits.iter().map(|(e, _)| e.as_str()).collect();
    // Borrowed, so that asking about each of its rows copies nothing.
    let hit_versions: HashSet<(&str, i64)> = hits.iter().map(|(e, v)| (e.as_str(), *v)).collect();
    if opts.hits_only {
        t.entries.retain(|l| hit_entries.contains(l.entry.as_str()));
    }
    let html = transcript::html::render(
        &t,
        &transcript::html::Options {
            zone: None,
            marked: hit_entries.iter().map(|e| (*e).to_owned()).collect(),
            made: Some(transcript::html::Made {
                at: opts.now,
                ledger_head: head.to_owned(),
                production: Some(id.to_owned()),
            }),
        },
    );
    let mut f = bag.payload_file(&format!("conversations/{name}.html"))?;
    let html_path = bag.root().join(format!("data/conversations/{name}.html"));
    f.write_all(html.as_bytes())
        .map_err(|e| Error::io(&html_path, e))?;
    let html = f.finish()?;

    // Every version, raw, with provenance; and its load file rows.
    let json_path = bag.root().join(format!("data/conversations/{name}.json"));
    let mut f = bag.payload_file(&format!("conversations/{name}.json"))?;
    let io = |e| Error::io(&json_path, e);
    write!(
        f,
        "{{\"production\":{},\"conversation\":{},\"hits_only\":{},\"entries\":[",
        json!(id),
        json!(identifier),
        opts.hits_only
    )
    .map_err(io)?;
    let loadfile_path = bag.root().join("data/loadfile.csv");
    let mut csv = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    let mut hashes = Vec::new();
    let mut number = first;
    for row in &stored {
        let matched = hit_versions.contains(&(row.entry.as_str(), row.version));
        if opts.hits_only && !matched {
            continue;
        }
        let production_number = format!("{id}-{number:06}");
        number += 1;
        if !hashes.is_empty() {
            f.write_all(b",").map_err(io)?;
        }
        serde_json::to_writer(&mut f, &Produced::new(row, &production_number, matched))
            .map_err(|e| Error::io(&json_path, e.into()))?;
        loadfile_row(
            &mut csv,
            row,
            &production_number,
            &identifier,
            opts.excel_safe,
        )
        .map_err(|e| csv_error(&loadfile_path, e))?;
        hashes.push(hash_bytes(&row.content_hash)?);
    }
    f.write_all(b"]}\n").map_err(io)?;
    Ok(Rendered {
        files: ConversationFiles {
            conversation: identifier,
            name,
        },
        html,
        json: f.finish()?,
        rows: hashes.len() as u64,
        csv: csv
            .into_inner()
            .map_err(|e| csv_error(&loadfile_path, e.into_error().into()))?,
        hashes,
    })
}

/// One entry version in `<conversation>.json`: the payload and related
/// records as text, exactly as received.
#[derive(Serialize)]
struct Produced<'a> {
    production_number: &'a str,
    entry: &'a str,
    version: i64,
    hit: bool,
    entry_type: &'a str,
    entry_type_raw: Option<&'a str>,
    time: Option<String>,
    client_ms: Option<i64>,
    server_ms: Option<i64>,
    role: Option<&'a str>,
    app_type: Option<&'a str>,
    sender: Option<&'a str>,
    text: Option<&'a str>,
    payload: Option<&'a str>,
    message_text: Option<&'a str>,
    related_records: Option<&'a str>,
    content_hash: &'a str,
    export_id: i64,
    original_sha256: Option<&'a str>,
    member: Option<&'a str>,
    line: Option<i64>,
}

impl<'a> Produced<'a> {
    fn new(s: &'a transcript::Stored, production_number: &'a str, hit: bool) -> Produced<'a> {
        Produced {
            production_number,
            entry: &s.entry,
            version: s.version,
            hit,
            entry_type: &s.entry_type,
            entry_type_raw: s.entry_type_raw.as_deref(),
            time: s.time_ms().map(crate::timestamp::rfc3339),
            client_ms: s.client_ms,
            server_ms: s.server_ms,
            role: s.role.as_deref(),
            app_type: s.app_type.as_deref(),
            sender: s.sender.as_deref(),
            text: s.text.as_deref(),
            payload: s.payload.as_deref(),
            message_text: s.message_text.as_deref(),
            related_records: s.related_records.as_deref(),
            content_hash: &s.content_hash,
            export_id: s.export_id,
            original_sha256: s.original_sha256.as_deref(),
            member: s.member.as_deref(),
            line: s.line,
        }
    }
}

/// Writes one entry version's load file row, in [`LOADFILE_COLUMNS`]
/// order.
fn loadfile_row(
    csv: &mut csv::Writer<Vec<u8>>,
    s: &transcript::Stored,
    production_number: &str,
    conversation: &str,
    excel_safe: bool,
) -> csv::Result<()> {
    fn opt(s: &Option<String>) -> &[u8] {
        s.as_deref().unwrap_or_default().as_bytes()
    }
    let time = s
        .time_ms()
        .map(crate::timestamp::rfc3339)
        .unwrap_or_default();
    let line = s.line.map(|l| l.to_string()).unwrap_or_default();
    for field in [
        production_number.as_bytes(),
        conversation.as_bytes(),
        s.entry.as_bytes(),
        s.version.to_string().as_bytes(),
        time.as_bytes(),
        opt(&s.role),
        opt(&s.sender),
        s.entry_type.as_bytes(),
        opt(&s.text),
        s.content_hash.as_bytes(),
        s.export_id.to_string().as_bytes(),
        opt(&s.original_sha256),
        opt(&s.member),
        line.as_bytes(),
    ] {
        match std::str::from_utf8(field) {
            Ok(text) if excel_safe => {
                csv.write_field(crate::sanitize::spreadsheet_safe(text).as_bytes())?
            }
            _ => csv.write_field(field)?,
        }
    }
    csv.write_record(None::<&[u8]>)
}

/// Writes the bag directory `dir` as a zip at `zip_path`, under the top
/// directory `top` (as a bag is usually zipped), members deflated.
fn zip_bag(dir: &Path, zip_path: &Path, top: &str) -> Result<()> {
    let file = std::fs::File::create(zip_path).map_err(|e| Error::io(zip_path, e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    let mut stack = vec![PathBuf::new()];
    let mut files = Vec::new();
    while let Some(rel) = stack.pop() {
        let full = dir.join(&rel);
        for entry in std::fs::read_dir(&full).map_err(|e| Error::io(&full, e))? {
            let entry = entry.map_err(|e| Error::io(&full, e))?;
            let r = rel.join(entry.file_name());
            if entry
                .file_type()
                .map_err(|e| Error::io(entry.path(), e))?
                .is_dir()
            {
                stack.push(r);
            } else {
                files.push(r);
            }
        }
    }
    files.sort();
    let zip_err =
        |e: zip::result::ZipError| Error::io(zip_path, std::io::Error::other(e.to_string()));
    for rel in files {
        let name = format!("{top}/{}", rel.to_string_lossy().replace('\\', "/"));
        zip.start_file(name, options).map_err(zip_err)?;
        let full = dir.join(&rel);
        let mut src = std::fs::File::open(&full).map_err(|e| Error::io(&full, e))?;
        std::io::copy(&mut src, &mut zip).map_err(|e| Error::io(zip_path, e))?;
    }
    let inner = zip.finish().map_err(zip_err)?;
    let file = inner
        .into_inner()
        .map_err(|e| Error::io(zip_path, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(zip_path, e))
}

/// The production whose bag is at `out`, if the archive records it: the
/// production record whose `tagmanifest-sha256.txt` digest is that of the
/// bag found (a directory, or a zip holding one). The digest covers every
/// file of the bag, so the path it was produced at (perhaps spelled
/// otherwise, or moved since) need not match. `None` when nothing there
/// can be read as one.
fn recorded_at(archive: &Archive, out: &Path) -> Option<ledger::Record> {
    let digest = tagmanifest_digest(out)?;
    let conn = archive.open_read_only().ok()?;
    ledger::read_all(&conn)
        .ok()?
        .into_iter()
        .rev()
        .find(|r| r.kind == RECORD_KIND && r.details["tagmanifest_sha256"] == digest.as_str())
}

/// The SHA-256 of the `tagmanifest-sha256.txt` of the bag at `out`: a bag
/// directory, or a zip whose top directory is the bag, named as
/// `produce --zip` names it (the file's name without `.zip`).
fn tagmanifest_digest(out: &Path) -> Option<String> {
    const TAGS: &str = "tagmanifest-sha256.txt";
    let meta = out.symlink_metadata().ok()?;
    let reader: Box<dyn std::io::Read> = if meta.is_dir() {
        Box::new(std::fs::File::open(out.join(TAGS)).ok()?)
    } else {
        let name = out.file_name()?.to_string_lossy();
        let top = name.strip_suffix(".zip").unwrap_or(&name);
        let mut zip = zip::ZipArchive::new(std::fs::File::open(out).ok()?).ok()?;
        let mut member = zip.by_name(&format!("{top}/{TAGS}")).ok()?;
        let mut bytes = Vec::new();
        // A tag manifest is a few lines; more is not one convault wrote.
        std::io::Read::read_to_end(&mut std::io::Read::take(&mut member, 1 << 20), &mut bytes)
            .ok()?;
        Box::new(std::io::Cursor::new(bytes))
    };
    crate::hashing::HashingReader::new(reader)
        .finish()
        .ok()
        .map(|(_, hex)| hex)
}

/// A bag being verified or produced names the production's ledger
/// record by this id.
pub fn is_production_record(r: &ledger::Record, production: &str) -> bool {
    r.kind == RECORD_KIND && r.details["production"] == production
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_identifiers_or_their_hash_never_a_path() {
        let uuid = "5b0d3c1e-8a47-4f2e-9c61-2d7e4a9b0f13";
        assert_eq!(file_name(uuid), uuid);
        for bad in [
            "../../etc/passwd",
            "a/b",
            ".hidden",
            "",
            "con\nversation",
            "é",
        ] {
            let n = file_name(bad);
            assert!(
                n.starts_with("conversation-") && n.len() == 45,
                "{bad:?} → {n}"
            );
        }
        assert_ne!(file_name("a/b"), file_name("a/c"));
    }

    /// No two identifiers give names that a case-insensitive file system
    /// takes for one: upper case is hashed, and so is an id spelled like a
    /// hashed name, or a Windows device name.
    #[test]
    fn file_names_never_collide_even_ignoring_case() {
        let hashed = file_name("a/b");
        let ids = [
            "5b0d3c1e-8a47-4f2e-9c61-2d7e4a9b0f13",
            "5B0D3C1E-8A47-4F2E-9C61-2D7E4A9B0F13",
            "abc",
            "ABC",
            "AbC",
            "a/b",
            hashed.as_str(),
            "con",
            "CON",
            "lpt1.x",
            "com10",
        ];
        let mut seen = std::collections::HashMap::new();
        for id in ids {
            let n = file_name(id).to_lowercase();
            if let Some(other) = seen.insert(n.clone(), id) {
                panic!("{id:?} and {other:?} both give {n}");
            }
        }
        assert_eq!(file_name("abc"), "abc");
        assert!(file_name(&hashed).starts_with(HASHED) && file_name(&hashed) != hashed);
        assert!(file_name("con").starts_with(HASHED));
        assert_eq!(file_name("com10"), "com10");
    }

    #[test]
    fn the_result_set_hash_follows_its_recipe() {
        let (a, b) = ("aa".repeat(32), "ab".repeat(32));
        let h = result_set_hash(vec![hash_bytes(&b).unwrap(), hash_bytes(&a).unwrap()]);
        assert_eq!(
            h,
            crate::hashing::sha256_hex(format!("{a}\n{b}\n").as_bytes())
        );
        assert!(hash_bytes("zz").is_err() && hash_bytes(&"g".repeat(64)).is_err());
    }
}
