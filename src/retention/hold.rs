//! Legal holds: placed and released by ledger records, evaluated again
//! whenever they are asked.
//!
//! A hold holds the conversations its basis matches now (a query, named
//! conversations, a case, an end user), so conversations ingested after
//! it was placed are held too; and it keeps holding every conversation it
//! matched when it was placed (listed in its record), even if a later
//! version no longer matches. A hold never shrinks until it is released.

use std::collections::BTreeSet;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::kind;
use std::ops::DerefMut;

use crate::error::{Error, Result};
use crate::ledger::{self, Record};
use crate::search::{self, Query};

/// What a hold holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Every conversation with an entry matching this search query.
    Query(String),
    /// These conversations (identifiers), whether ingested yet or not.
    Conversations(Vec<String>),
    /// The conversations of this case's messaging sessions.
    Case(String),
    /// The conversations of the end users whose name or messaging
    /// platform key contains this text (as `enduser:` in search).
    EndUser(String),
}

impl std::fmt::Display for Basis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Basis::Query(q) => write!(f, "query {q}"),
            Basis::Conversations(c) => write!(f, "conversations {}", c.join(" ")),
            Basis::Case(c) => write!(f, "case {c}"),
            Basis::EndUser(u) => write!(f, "end user {u}"),
        }
    }
}

/// What a `hold-placed` record holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Placed {
    name: String,
    reason: String,
    basis: Basis,
    /// The conversations matched when placed, sorted.
    matched: Vec<String>,
}

/// What a `hold-released` record holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Released {
    name: String,
    placed_record: i64,
    reason: String,
}

/// A hold, from its records.
#[derive(Debug, Clone, Serialize)]
pub struct Hold {
    pub name: String,
    pub reason: String,
    pub basis: Basis,
    pub placed_record: i64,
    pub placed_at: String,
    pub placed_by: String,
    /// The conversations it matched when placed.
    pub matched_when_placed: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<Release>,
}

/// A hold's release.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub record: i64,
    pub at: String,
    pub by: String,
    pub reason: String,
}

impl Hold {
    pub fn is_active(&self) -> bool {
        self.released.is_none()
    }
}

fn damaged(r: &Record, e: serde_json::Error) -> Error {
    Error::Damaged {
        what: format!("ledger record {}", r.seq),
        detail: format!("a {} record that cannot be read: {e}", r.kind),
    }
}

/// Every hold ever placed, in order, with its release if it was released.
pub fn all(records: &[Record]) -> Result<Vec<Hold>> {
    let mut holds: Vec<Hold> = Vec::new();
    for r in records {
        if r.kind == kind::HOLD_PLACED {
            let p: Placed = serde_json::from_value(r.details.clone()).map_err(|e| damaged(r, e))?;
            holds.push(Hold {
                name: p.name,
                reason: p.reason,
                basis: p.basis,
                placed_record: r.seq,
                placed_at: r.time.clone(),
                placed_by: r.who.clone(),
                matched_when_placed: p.matched,
                released: None,
            });
        } else if r.kind == kind::HOLD_RELEASED {
            let rel: Released =
                serde_json::from_value(r.details.clone()).map_err(|e| damaged(r, e))?;
            if let Some(h) = holds
                .iter_mut()
                .find(|h| h.placed_record == rel.placed_record)
            {
                h.released = Some(Release {
                    record: r.seq,
                    at: r.time.clone(),
                    by: r.who.clone(),
                    reason: rel.reason,
                });
            }
        }
    }
    Ok(holds)
}

/// The holds in force.
pub fn active(records: &[Record]) -> Result<Vec<Hold>> {
    Ok(all(records)?.into_iter().filter(Hold::is_active).collect())
}

/// The conversations (`conversations.id`) `basis` matches now.
pub fn matching(conn: &Connection, basis: &Basis) -> Result<BTreeSet<i64>> {
    let mut ids = BTreeSet::new();
    match basis {
        Basis::Query(q) => {
            let query = Query::parse(std::slice::from_ref(q))?;
            search::hits::each_match(conn, &query, |conversation, _, _| {
                ids.insert(conversation);
            })?;
        }
        Basis::Conversations(list) => {
            for identifier in list {
                ids.extend(conversation_id(conn, identifier)?);
            }
        }
        Basis::Case(case) => ids = search::conversations_for(conn, "case", case)?,
        Basis::EndUser(key) => ids = search::conversations_for(conn, "enduser", key)?,
    }
    Ok(ids)
}

fn conversation_id(conn: &Connection, identifier: &str) -> Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT id FROM conversations WHERE identifier = ?1")?
        .query_row([identifier], |r| r.get(0))
        .optional()?)
}

/// The conversations `hold` holds now: those its basis matches, and those
/// it matched when placed.
pub fn held(conn: &Connection, hold: &Hold) -> Result<BTreeSet<i64>> {
    let mut ids = matching(conn, &hold.basis)?;
    for identifier in &hold.matched_when_placed {
        ids.extend(conversation_id(conn, identifier)?);
    }
    Ok(ids)
}

/// The identifiers of conversations `ids`, sorted.
pub fn identifiers(conn: &Connection, ids: &BTreeSet<i64>) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached("SELECT identifier FROM conversations WHERE id = ?1")?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(stmt.query_row([id], |r| r.get::<_, String>(0))?);
    }
    out.sort();
    Ok(out)
}

/// Checks a hold's name: it is how officers and the ledger refer to it.
fn check_name(name: &str) -> Result<()> {
    if name.trim().is_empty()
        || name.chars().count() > 100
        || name.chars().any(char::is_control)
        || name != name.trim()
    {
        return Err(Error::Usage(format!(
            "{:?} is not a hold name: give 1 to 100 characters, no control characters, no leading or trailing space",
            name
        )));
    }
    Ok(())
}

/// Places hold `name`: the record lists what it matches now.
///
/// `begin` begins the writer session (`writer::Session::begin`), once the
/// request is checked: a hold that cannot be placed takes no lock.
pub fn place<S: DerefMut<Target = Connection>>(
    name: &str,
    reason: &str,
    basis: Basis,
    who: &str,
    now: Timestamp,
    begin: impl FnOnce() -> Result<S>,
) -> Result<Hold> {
    check_name(name)?;
    if reason.trim().is_empty() {
        return Err(Error::Usage(
            "give the reason for the hold with --reason TEXT: it goes in the ledger".into(),
        ));
    }
    if let Basis::Query(q) = &basis {
        // Refuse a query that does not parse before taking the lock.
        Query::parse(std::slice::from_ref(q))?;
    }
    let mut conn = begin()?;
    let records = ledger::read_all(&conn)?;
    if let Some(h) = active(&records)?.into_iter().find(|h| h.name == name) {
        return Err(Error::Usage(format!(
            "a hold named {name:?} is already in force (ledger record {}): release it first or choose another name",
            h.placed_record
        )));
    }
    let matched = match &basis {
        // Named conversations are held even before they are ingested.
        Basis::Conversations(list) => {
            let mut m = list.clone();
            m.sort();
            m.dedup();
            m
        }
        _ => identifiers(&conn, &matching(&conn, &basis)?)?,
    };
    let placed = Placed {
        name: name.to_owned(),
        reason: reason.to_owned(),
        basis,
        matched,
    };
    let details = serde_json::to_value(&placed).map_err(|_| Error::Internal("hold record"))?;
    let tx = conn.transaction()?;
    let record = ledger::append(&tx, now, kind::HOLD_PLACED, who, details)?;
    tx.commit()?;
    Ok(Hold {
        name: placed.name,
        reason: placed.reason,
        basis: placed.basis,
        placed_record: record.seq,
        placed_at: record.time,
        placed_by: record.who,
        matched_when_placed: placed.matched,
        released: None,
    })
}

/// Releases the hold in force named `name`.
pub fn release<S: DerefMut<Target = Connection>>(
    name: &str,
    reason: &str,
    who: &str,
    now: Timestamp,
    begin: impl FnOnce() -> Result<S>,
) -> Result<Hold> {
    if reason.trim().is_empty() {
        return Err(Error::Usage(
            "give the reason for the release with --reason TEXT: it goes in the ledger".into(),
        ));
    }
    let mut conn = begin()?;
    let records = ledger::read_all(&conn)?;
    let mut hold = find_active(&records, name)?;
    let details = serde_json::to_value(Released {
        name: name.to_owned(),
        placed_record: hold.placed_record,
        reason: reason.to_owned(),
    })
    .map_err(|_| Error::Internal("hold release record"))?;
    let tx = conn.transaction()?;
    let record = ledger::append(&tx, now, kind::HOLD_RELEASED, who, details)?;
    tx.commit()?;
    hold.released = Some(Release {
        record: record.seq,
        at: record.time,
        by: record.who,
        reason: reason.to_owned(),
    });
    Ok(hold)
}

/// The hold in force named `name`, or an error naming those in force.
pub fn find_active(records: &[Record], name: &str) -> Result<Hold> {
    let holds = active(records)?;
    let names: Vec<String> = holds.iter().map(|h| format!("{:?}", h.name)).collect();
    holds
        .into_iter()
        .find(|h| h.name == name)
        .ok_or_else(|| Error::UnknownHold {
            name: name.to_owned(),
            in_force: names,
        })
}
