//! Erasure requests: which conversations a data subject's request
//! reaches, and whether any rule forbids it. Reading only.
//!
//! Invariants: an end user is matched by their record Id or messaging
//! platform key exactly, never by a part of it (an erasure must not reach
//! further than asked); a request that reaches any conversation held by a
//! hold in force is refused whole, naming the holds; so is one reaching a
//! conversation within the retention minimum, unless the policy allows
//! erasure within it. Age does not matter otherwise.

use std::collections::BTreeSet;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension};
use serde::Serialize;

use super::due::Due;
use super::{hold, policy};
use crate::error::{Error, Result};
use crate::ledger;
use crate::search;
use crate::timestamp::rfc3339;

/// What an erasure request names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Conversations(Vec<String>),
    EndUser(String),
}

/// What an erasure would remove now.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub target: Target,
    pub reason: String,
    pub now: String,
    pub conversations: u64,
    pub entries: u64,
    /// Named conversations the archive does not hold.
    pub not_in_archive: Vec<String>,
    pub erase: Vec<Due>,
    /// For an end user: their own `MessagingEndUser` records, removed with
    /// their conversations.
    pub end_user_records: Vec<String>,
}

/// The erasure `target` asks for at `now`, or why it is refused.
#[allow(
    clippy::too_many_lines,
    reason = "the refusals (holds, the minimum) in the order the docs give them"
)]
pub fn plan(conn: &Connection, target: &Target, reason: &str, now: Timestamp) -> Result<Plan> {
    if reason.trim().is_empty() {
        return Err(Error::Usage(
            "give the reason for the erasure with --reason TEXT (the request, e.g. its reference)"
                .into(),
        ));
    }
    let mut ids = BTreeSet::new();
    let mut not_in_archive = Vec::new();
    let mut end_user_records = Vec::new();
    match target {
        Target::Conversations(list) if list.is_empty() => {
            return Err(Error::Usage(
                "give --conversation ID… or --enduser KEY".into(),
            ));
        }
        Target::Conversations(list) => {
            let mut stmt =
                conn.prepare_cached("SELECT id FROM conversations WHERE identifier = ?1")?;
            for c in list {
                match stmt.query_row([c], |r| r.get::<_, i64>(0)).optional()? {
                    Some(id) => {
                        ids.insert(id);
                    }
                    None => not_in_archive.push(c.clone()),
                }
            }
        }
        Target::EndUser(key) => {
            ids = search::conversations_of_end_user(conn, key)?;
            end_user_records = conn
                .prepare(
                    "SELECT DISTINCT record_id FROM records WHERE object = 'MessagingEndUser'
                       AND (record_id = ?1 OR json_extract(mapped, '$.MessagingPlatformKey') = ?1)
                     ORDER BY record_id",
                )?
                .query_map([key], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
        }
    }

    let records = ledger::read_all(conn)?;
    let mut refusals = Vec::new();
    for h in hold::active(&records)? {
        let held: Vec<i64> = hold::held(conn, &h)?.intersection(&ids).copied().collect();
        if !held.is_empty() {
            let names = hold::identifiers(conn, &held.into_iter().collect())?;
            refusals.push(format!(
                "hold {:?} (ledger record {}) holds {}",
                h.name,
                h.placed_record,
                names.join(", ")
            ));
        }
    }
    let mut erase = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT c.identifier, max(coalesce(e.server_ms, e.client_ms)), count(e.id)
         FROM conversations c LEFT JOIN entries e ON e.conversation_id = c.id
         WHERE c.id = ?1 GROUP BY c.id",
    )?;
    for &id in &ids {
        let (conversation, last, entries): (String, Option<i64>, i64) =
            stmt.query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        erase.push(Due {
            conversation,
            id,
            last_entry: last.map(rfc3339).unwrap_or_default(),
            last_entry_ms: last.unwrap_or(i64::MIN),
            entries: entries as u64,
        });
    }
    if let Some(p) = policy::current(&records)?
        && let Some(floor) = p.minimum_cutoff(now)?
        && !p.terms.erasure_within_minimum
    {
        let within: Vec<&str> = erase
            .iter()
            // No entry time: its age is unknown, so it may be within.
            .filter(|d| d.last_entry_ms == i64::MIN || d.last_entry_ms >= floor.as_millisecond())
            .map(|d| d.conversation.as_str())
            .collect();
        if !within.is_empty() {
            refusals.push(format!(
                "{} within the retention minimum of {} (last entry on or after {}), and the policy (ledger record {}) does not allow erasure within it: `convault retention set … --allow-erasure-within-minimum` changes that, on the record",
                within.join(", "),
                p.terms.minimum.map(|m| m.to_string()).unwrap_or_default(),
                rfc3339(floor.as_millisecond()),
                p.record
            ));
        }
    }
    if !refusals.is_empty() {
        return Err(Error::Forbidden(format!(
            "erasure refused, nothing was changed: {}",
            refusals.join("; ")
        )));
    }
    erase.sort_by(|a, b| a.conversation.cmp(&b.conversation));
    Ok(Plan {
        target: target.clone(),
        reason: reason.to_owned(),
        now: crate::clock::rfc3339_ms(now),
        conversations: erase.len() as u64,
        entries: erase.iter().map(|d| d.entries).sum(),
        not_in_archive,
        erase,
        end_user_records,
    })
}
