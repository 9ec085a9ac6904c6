//! Typed errors of the library. Callers branch on the variant; the message
//! names the file, member and line involved and says what to do.
//!
//! Every variant maps to one [`ExitCode`] in [`Error::exit_code`].

use std::path::PathBuf;

use crate::exit::ExitCode;

/// Result with convault's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{}: {source}{}", path.display(), full_hint(source.raw_os_error()))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The archive database reported an error.
    #[error("archive database: {}{}", .0, full_hint(db_disk_full(.0).then_some(28)))]
    Db(#[from] rusqlite::Error),

    /// No archive exists where one was expected.
    #[error(
        "no archive at {}: run `convault ingest` first, or point --archive (or CONVAULT_ARCHIVE) at an existing archive",
        .0.display()
    )]
    NoArchive(PathBuf),

    /// The archive was written by a newer convault.
    #[error(
        "the archive at {} has schema version {found}, newer than this convault supports ({supported}): use a newer convault",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// The archive was written by an older convault and must be upgraded
    /// by a writer before it can be read.
    #[error(
        "the archive at {} has schema version {found}, older than this convault's ({supported}): run `convault ingest` on it once to upgrade it",
        path.display()
    )]
    SchemaTooOld {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// A path given on the command line does not exist or cannot be read.
    #[error("input {}: {reason}", path.display())]
    Input { path: PathBuf, reason: String },

    /// An input file cannot be read as a whole: nothing was ingested.
    #[error("{}: {reason}; nothing was ingested", path.display())]
    Rejected { path: PathBuf, reason: String },

    /// A zip member cannot be read back (CRC-32 mismatch, broken
    /// compressed data): the file is damaged.
    #[error(
        "{}: member {member}: {detail}: the file is damaged; nothing was ingested. Download the export again",
        path.display()
    )]
    DamagedMember {
        path: PathBuf,
        member: String,
        detail: String,
    },

    /// The conversation asked for is not in the archive.
    #[error(
        "no conversation {0} in the archive (search for it with `convault search conversation words`)"
    )]
    UnknownConversation(String),

    /// The conversation asked for was removed by a disposition or an
    /// erasure.
    #[error(
        "conversation {conversation} is no longer in the archive: it was removed by the {kind} of {at} (ledger record {record}; its certificate is {certificate})"
    )]
    Disposed {
        conversation: String,
        kind: String,
        at: String,
        record: i64,
        certificate: String,
    },

    /// A removal committed, but what follows the commit (deleting the
    /// originals, rebuilding the database) failed; its journal stays for
    /// the next writer.
    #[error(
        "the {kind} was recorded (ledger record {record}; certificate {certificate}) but could not be finished: {detail}. The originals it replaced or the database may still hold what it removed: the next `convault verify`, ingest, dispose or erase finishes it"
    )]
    RemovalUnfinished {
        kind: String,
        record: i64,
        certificate: String,
        detail: String,
    },

    /// Something inside the archive directory is not what convault made:
    /// a symbolic link where a directory of the store should be.
    #[error(
        "{} is {found}: convault reads and writes only inside the archive directory, so it stops here and changes nothing. Check what it points to, then replace it with a plain directory (docs/reliability.md)",
        path.display()
    )]
    UnsafePath { path: PathBuf, found: String },

    /// A stored original cannot be rewritten without the removed rows.
    #[error("{what}: {reason}; nothing was removed")]
    CannotDerive { what: String, reason: String },

    /// The entry asked for is not in the conversation.
    #[error(
        "conversation {conversation} has no entry {entry} (its entry ids are in `convault show {conversation} --format json`)"
    )]
    UnknownEntry { conversation: String, entry: String },

    /// Another writer holds the archive's lock.
    #[error(
        "the archive at {} is in use by {holder}; try again when it has finished (a lock left by a process that has ended is cleared automatically)",
        path.display()
    )]
    Locked { path: PathBuf, holder: String },

    /// The archive's `config.toml` is not valid.
    #[error("{}: {reason}; fix the file and try again", path.display())]
    Config { path: PathBuf, reason: String },

    /// A profile file given with `--profile` cannot be used.
    #[error(
        "profile {}: {reason}; nothing was ingested. See docs/profiles.md for the format",
        path.display()
    )]
    Profile { path: PathBuf, reason: String },

    /// The cadence rule refuses an export request.
    #[error("request refused: {}", reasons.join("; "))]
    Refused {
        kind: &'static str,
        reasons: Vec<String>,
        /// When a request will be allowed, if waiting is the remedy.
        next_allowed: Option<String>,
    },

    /// The configured trigger command failed; no export was requested.
    #[error(
        "the trigger command for {kind} failed ({why}); no export was requested. Recorded as ledger record {seq}{}",
        if output.is_empty() { String::new() } else { format!(". Its output:\n{output}") }
    )]
    TriggerFailed {
        kind: &'static str,
        why: String,
        seq: i64,
        output: String,
    },

    /// A retention or hold rule forbids what was asked (a legal hold, the
    /// retention minimum); the message says which and what to do.
    #[error("{0}")]
    Forbidden(String),

    /// No input held anything convault recognises (a README, a PDF):
    /// nothing was written.
    #[error(
        "nothing was ingested: nothing in {} is an export file convault recognises: {}",
        files.join(", "),
        reasons.join("; ")
    )]
    NothingRecognised {
        files: Vec<String>,
        reasons: Vec<String>,
    },

    /// What a removal took is still in the database file or its WAL
    /// because another program holds the database open; the message says
    /// what to do. The removal stays unfinished for the next writer.
    #[error("{0}")]
    StillOnDisk(String),

    /// Two exports of one kind cannot be put in order in time; the
    /// message names both and what to do.
    #[error("{0}")]
    Indistinct(String),

    /// No hold in force has this name.
    #[error(
        "no hold named {name:?} is in force{}",
        if in_force.is_empty() { " (none is; `convault hold list --all` lists released ones)".to_owned() } else { format!(" (in force: {})", in_force.join(", ")) }
    )]
    UnknownHold { name: String, in_force: Vec<String> },

    /// The export asked for is not in the archive.
    #[error("no export {0} in the archive (`convault ledger show` lists every export ingested)")]
    UnknownExport(i64),

    /// The request was not valid.
    #[error("{0}")]
    Usage(String),

    /// Work stopped because another part of the same command failed first;
    /// that failure is the one reported.
    #[error("stopped after an earlier error")]
    Stopped,

    /// Something stored in the archive cannot be read back as written.
    #[error(
        "the archive's {what} is damaged ({detail}); nothing was written. Run `convault verify` to list every failure"
    )]
    Damaged { what: String, detail: String },

    /// Ctrl-C or `SIGTERM` stopped an ingest before its export was
    /// committed; `removed` is the archive directory it had created and
    /// removed again, if it had created one.
    #[error(
        "interrupted (Ctrl-C or SIGTERM) before the export being read was committed: nothing of it is in the archive{}",
        removed.as_ref().map_or_else(String::new, |d| format!(", and {}, which this ingest created, was removed again", d.display()))
    )]
    Interrupted { removed: Option<PathBuf> },

    /// A zipped bag is not what its own tag files declare (sizes beyond
    /// its Payload-Oxum, a member larger than it says): refused before
    /// anything is extracted, or while, never written out whole.
    #[error(
        "{}: {reason}. The zipped bag is not what it declares: verification failed, and nothing more of it was extracted",
        path.display()
    )]
    BagNotAsDeclared { path: PathBuf, reason: String },

    /// A Salesforce API call failed for good (after its retries); `status`
    /// is the HTTP status that ended it, if one did.
    #[error("{what}: {reason}")]
    Api {
        what: String,
        reason: String,
        status: Option<u16>,
    },

    /// The org cannot be reached, or refuses convault itself (the token,
    /// a `401` after a new token, retries spent on `429`/`5xx`/failed
    /// connections): every later call would fail alike, so a fetch stops.
    #[error("{what}: {reason}")]
    ApiUnavailable { what: String, reason: String },

    /// A broken invariant inside convault: a bug, never bad input.
    #[error("internal error: {0}; nothing was written. Please report this")]
    Internal(&'static str),
}

impl Error {
    /// An [`Error::Io`] naming `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The exit code a process ending with this error should return.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Db(e) if is_busy(e) => ExitCode::Locked,
            Error::Input { .. }
            | Error::Rejected { .. }
            | Error::DamagedMember { .. }
            | Error::NothingRecognised { .. } => ExitCode::InputRejected,
            Error::Usage(_) | Error::Profile { .. } => ExitCode::Usage,
            Error::Locked { .. } => ExitCode::Locked,
            Error::Refused { .. } | Error::Forbidden(_) | Error::Indistinct(_) => ExitCode::Cadence,
            Error::Damaged { .. } | Error::UnsafePath { .. } | Error::BagNotAsDeclared { .. } => {
                ExitCode::Integrity
            }
            _ => ExitCode::Error,
        }
    }
}

/// What to do when the disk is full (`ENOSPC`, 28): every write of
/// convault is undone when it fails, so running again is safe.
fn full_hint(os_error: Option<i32>) -> &'static str {
    match os_error {
        Some(28) => {
            "; the disk is full. What this command was writing was undone: free space and run it again"
        }
        _ => "",
    }
}

/// SQLite's "database or disk is full".
fn db_disk_full(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)
}

/// SQLite's "busy" or "locked": another connection holds the lock.
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
