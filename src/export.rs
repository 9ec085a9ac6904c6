//! What an export *is*: its kind, how its kind is recognised from what was
//! read in it, its files as the ledger records them, and when it was
//! generated. Below `cadence`, `ledger` and `profile`, which all speak of
//! exports: this module depends on none of them.

use std::fmt;

use jiff::{SignedDuration, Timestamp};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::Value;

use crate::error::Result;

/// The kinds of export the cadence rule governs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ExportKind {
    /// The Conversation Transcript Export (Setup), once every 7 days.
    Transcripts,
    /// The Data Export Service (Setup > Data Export), once every 7 days
    /// (weekly) or 29 days (monthly).
    DataExport,
}

impl ExportKind {
    pub const ALL: [ExportKind; 2] = [ExportKind::Transcripts, ExportKind::DataExport];

    pub fn as_str(self) -> &'static str {
        match self {
            ExportKind::Transcripts => "transcripts",
            ExportKind::DataExport => "data-export",
        }
    }

    /// Whether each export of this kind holds everything of its kind, all
    /// of history: the Conversation Transcript Export does, so an entry an
    /// earlier one held and a later one lacks was deleted at the source.
    /// (A Data Export holds records, not entries.)
    pub fn is_complete(self) -> bool {
        matches!(self, ExportKind::Transcripts)
    }

    pub fn parse(s: &str) -> Option<ExportKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The interval between two exports of this kind.
    pub fn interval(self, monthly: bool) -> SignedDuration {
        match (self, monthly) {
            (ExportKind::DataExport, true) => SignedDuration::from_hours(29 * 24),
            _ => SignedDuration::from_hours(7 * 24),
        }
    }

    /// Where the user starts this export by hand.
    pub fn how_to_start(self) -> &'static str {
        match self {
            ExportKind::Transcripts => {
                "start the Conversation Transcript Export in Salesforce Setup"
            }
            ExportKind::DataExport => {
                "start the export in Salesforce Setup > Data Export (Export Now), including Conversation, ConversationParticipant, MessagingSession, MessagingEndUser, MessagingChannel and VoiceCall"
            }
        }
    }
}

impl fmt::Display for ExportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kind of export `export_id` was, from what was read in it: Data
/// Export Service zips are named `WE_<orgId>_<n>.ZIP`; otherwise a member
/// read by a profile that names its export kind says which. `shapes_of`
/// gives the names of the profiles (the built-in `transcript-csv`, or given
/// ones) that read each kind, so this module needs no profiles of its own.
pub fn recognise_export(
    conn: &Connection,
    export_id: i64,
    shapes_of: impl Fn(ExportKind) -> Vec<String>,
) -> Result<Option<ExportKind>> {
    let mut stmt = conn.prepare("SELECT path FROM files WHERE export_id = ?1")?;
    let paths = stmt
        .query_map([export_id], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if paths.iter().any(|p| is_data_export_name(p)) {
        return Ok(Some(ExportKind::DataExport));
    }
    for kind in [ExportKind::DataExport, ExportKind::Transcripts] {
        let shapes = serde_json::to_string(&shapes_of(kind)).unwrap_or_default();
        let read: i64 = conn.query_row(
            "SELECT count(*) FROM members m JOIN files f ON f.id = m.file_id
             WHERE f.export_id = ?1 AND m.shape IN (SELECT value FROM json_each(?2))",
            rusqlite::params![export_id, shapes],
            |r| r.get(0),
        )?;
        if read > 0 {
            return Ok(Some(kind));
        }
    }
    Ok(None)
}

/// `WE_<orgId>_<n>.ZIP`, in any case.
fn is_data_export_name(path: &str) -> bool {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let upper = name.to_ascii_uppercase();
    upper.starts_with("WE_") && upper.ends_with(".ZIP")
}

/// The export's files as the ledger records them.
pub fn export_files_json(conn: &Connection, export_id: i64) -> Result<Value> {
    let mut stmt =
        conn.prepare("SELECT path, bytes, sha256 FROM files WHERE export_id = ?1 ORDER BY id")?;
    let files = stmt
        .query_map([export_id], |r| {
            Ok(serde_json::json!({
                "path": r.get::<_, String>(0)?,
                "bytes": r.get::<_, i64>(1)?,
                "sha256": r.get::<_, String>(2)?,
            }))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Value::Array(files))
}

/// When an export was generated, by its own timestamps, and from which:
/// the newest modification time of its members (zip times, or the files'
/// own), else its newest entry.
pub fn generated_at(
    conn: &Connection,
    export_id: i64,
    newest_entry_ms: Option<i64>,
) -> Result<Option<(Timestamp, &'static str)>> {
    let newest_member: Option<i64> = conn.query_row(
        "SELECT max(m.modified_ms) FROM members m JOIN files f ON f.id = m.file_id
         WHERE f.export_id = ?1",
        [export_id],
        |r| r.get(0),
    )?;
    let from_ms = |ms: i64| Timestamp::from_millisecond(ms).ok();
    Ok(match newest_member.and_then(from_ms) {
        Some(t) => Some((t, "file times")),
        None => newest_entry_ms
            .and_then(from_ms)
            .map(|t| (t, "newest entry")),
    })
}
