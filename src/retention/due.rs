//! Which conversations are due for disposition: past the retention
//! policy's cutoff and under no hold in force. Reading only.
//!
//! A conversation's last entry time is found without reading its rows
//! where the entry ids say enough: an id is its time key (its millisecond
//! shifted left by [`rekey::TIME_SHIFT`], spilling at most
//! [`rekey::SPILL_MS`] later), so the largest id of a conversation, read
//! from an index, bounds its last entry time from below. Conversations
//! whose bound is more than a second past the cutoff are not read; the
//! others' last entry time is read exactly.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use rusqlite::Connection;
use serde::Serialize;

use super::{Policy, hold, policy};
use crate::archive::rekey;
use crate::error::{Error, Result};
use crate::ledger;
use crate::timestamp::rfc3339;

/// A conversation due for disposition.
#[derive(Debug, Clone, Serialize)]
pub struct Due {
    pub conversation: String,
    #[serde(skip)]
    pub id: i64,
    /// Its last entry's time (RFC 3339 UTC).
    pub last_entry: String,
    #[serde(skip)]
    pub last_entry_ms: i64,
    /// Its entry versions.
    pub entries: u64,
}

/// A hold that spared conversations otherwise due.
#[derive(Debug, Clone, Serialize)]
pub struct Spared {
    pub hold: String,
    pub placed_record: i64,
    pub conversations: u64,
}

/// What a disposition would remove now.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub policy: Policy,
    pub now: String,
    /// Conversations whose last entry is earlier are past retention.
    pub cutoff: String,
    /// Conversations in the archive.
    pub conversations_total: u64,
    /// Past retention and held by no hold: what would be removed.
    pub conversations_due: u64,
    pub entries_due: u64,
    /// The earliest and latest last-entry time among those due.
    pub oldest_last_entry: Option<String>,
    pub newest_last_entry: Option<String>,
    /// Past retention but held.
    pub conversations_held: u64,
    /// Each hold in force and how many past-retention conversations it
    /// held (one held by two holds counts for both).
    pub spared: Vec<Spared>,
    /// Conversations with no timed entry: their age is unknown, they are
    /// never due.
    pub conversations_without_time: u64,
    pub due: Vec<Due>,
}

/// The disposition `conn`'s archive would carry out at `now`.
pub fn plan(conn: &Connection, now: Timestamp) -> Result<Plan> {
    let records = ledger::read_all(conn)?;
    let Some(policy) = policy::current(&records)? else {
        return Err(Error::Usage(
            "no retention policy is set, so nothing is past retention: set one with `convault retention set DURATION --reason TEXT`".into(),
        ));
    };
    let cutoff = policy.cutoff(now)?;
    let cutoff_ms = cutoff.as_millisecond();
    let holds = hold::active(&records)?;
    let mut held: Vec<(usize, BTreeSet<i64>)> = Vec::new();
    for (i, h) in holds.iter().enumerate() {
        held.push((i, hold::held(conn, h)?));
    }

    // From `unsure` up, an entry of the conversation is surely later than
    // the cutoff; below it, its last entry is read exactly.
    let unsure = rekey::key(cutoff_ms.saturating_add(rekey::SPILL_MS + 1));
    let mut exact = conn.prepare_cached(
        "SELECT max(coalesce(server_ms, client_ms)) FROM entries WHERE conversation_id = ?1",
    )?;
    let mut name = conn.prepare_cached("SELECT identifier FROM conversations WHERE id = ?1")?;
    let mut stmt = conn.prepare(
        "SELECT conversation_id, max(id), count(*) FROM entries GROUP BY conversation_id",
    )?;
    let mut rows = stmt.query([])?;
    let (mut total, mut without_time, mut held_count) = (0u64, 0u64, 0u64);
    let mut spared: BTreeMap<usize, u64> = BTreeMap::new();
    let mut due = Vec::new();
    while let Some(r) = rows.next()? {
        total += 1;
        let (id, max_id, entries): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        if max_id < 0 {
            without_time += 1;
            continue;
        }
        if max_id >= unsure {
            continue;
        }
        let Some(last_ms) = exact
            .query_row([id], |r| r.get::<_, Option<i64>>(0))?
            .filter(|&ms| ms < cutoff_ms)
        else {
            continue;
        };
        let holders: Vec<usize> = held
            .iter()
            .filter(|(_, set)| set.contains(&id))
            .map(|(i, _)| *i)
            .collect();
        if !holders.is_empty() {
            held_count += 1;
            for i in holders {
                *spared.entry(i).or_default() += 1;
            }
            continue;
        }
        due.push(Due {
            conversation: name.query_row([id], |r| r.get(0))?,
            id,
            last_entry: rfc3339(last_ms),
            last_entry_ms: last_ms,
            entries: entries as u64,
        });
    }
    due.sort_by(|a, b| (a.last_entry_ms, &a.conversation).cmp(&(b.last_entry_ms, &b.conversation)));
    Ok(Plan {
        now: crate::clock::rfc3339_ms(now),
        cutoff: crate::clock::rfc3339_ms(cutoff),
        conversations_total: total,
        conversations_due: due.len() as u64,
        entries_due: due.iter().map(|d| d.entries).sum(),
        oldest_last_entry: due.first().map(|d| d.last_entry.clone()),
        newest_last_entry: due.last().map(|d| d.last_entry.clone()),
        conversations_held: held_count,
        spared: holds
            .iter()
            .enumerate()
            .map(|(i, h)| Spared {
                hold: h.name.clone(),
                placed_record: h.placed_record,
                conversations: spared.get(&i).copied().unwrap_or(0),
            })
            .collect(),
        conversations_without_time: without_time,
        due,
        policy,
    })
}
