//! The retention policy: the newest `retention-set` ledger record.
//!
//! A policy has a period, an optional minimum (a floor no later change
//! may go below without `--override`), and whether erasure requests may
//! remove conversations younger than the minimum (off unless set).

use jiff::Timestamp;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Period, kind};
use crate::error::{Error, Result};
use crate::ledger::{self, Record};

/// What a `retention-set` record holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub period: Period,
    pub minimum: Option<Period>,
    /// Erasure requests may remove conversations within the minimum.
    pub erasure_within_minimum: bool,
    pub reason: String,
    /// The change went below the previous minimum, by `--override`.
    #[serde(default)]
    pub overrode: Vec<String>,
}

/// The policy in force: its terms and the record that set them.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    #[serde(flatten)]
    pub terms: Terms,
    pub record: i64,
    pub set_at: String,
    pub set_by: String,
}

impl Policy {
    /// The cutoff at `now`: a conversation whose last entry is earlier is
    /// past retention. Never later than the minimum's cutoff.
    pub fn cutoff(&self, now: Timestamp) -> Result<Timestamp> {
        let by_period = self.terms.period.cutoff(now)?;
        Ok(match &self.terms.minimum {
            Some(m) => by_period.min(m.cutoff(now)?),
            None => by_period,
        })
    }

    /// The minimum's cutoff at `now`, if there is a minimum: a conversation
    /// whose last entry is later is within it.
    pub fn minimum_cutoff(&self, now: Timestamp) -> Result<Option<Timestamp>> {
        self.terms.minimum.map(|m| m.cutoff(now)).transpose()
    }
}

/// Reads a `retention-set` record's terms; a record of the kind that does
/// not hold them is damage, not a policy to ignore.
fn terms(r: &Record) -> Result<Terms> {
    serde_json::from_value(r.details.clone()).map_err(|e| Error::Damaged {
        what: format!("ledger record {}", r.seq),
        detail: format!("a {} record without its terms: {e}", kind::RETENTION_SET),
    })
}

/// The policy in force after `records`, if one was ever set.
pub fn current(records: &[Record]) -> Result<Option<Policy>> {
    history(records).map(|h| h.into_iter().last())
}

/// Every policy ever set, oldest first.
pub fn history(records: &[Record]) -> Result<Vec<Policy>> {
    records
        .iter()
        .filter(|r| r.kind == kind::RETENTION_SET)
        .map(|r| {
            Ok(Policy {
                terms: terms(r)?,
                record: r.seq,
                set_at: r.time.clone(),
                set_by: r.who.clone(),
            })
        })
        .collect()
}

/// The policy in force in the archive `conn` opens.
pub fn read(conn: &Connection) -> Result<Option<Policy>> {
    current(&ledger::read_all(conn)?)
}

/// What `retention set` asks for.
#[derive(Debug, Clone)]
pub struct Change {
    pub period: Period,
    /// A new minimum; `None` keeps the one in force.
    pub minimum: Option<Period>,
    pub erasure_within_minimum: bool,
    pub reason: String,
    /// Allow going below the minimum in force.
    pub override_minimum: bool,
    pub who: String,
    pub now: Timestamp,
}

/// Why `change` may not be made over `current` without `--override`: one
/// line per rule it breaks.
pub fn below_minimum(current: Option<&Policy>, change: &Change) -> Result<Vec<String>> {
    let mut why = Vec::new();
    let Some(floor) = current.and_then(|p| p.terms.minimum) else {
        return Ok(why);
    };
    if change.period.is_shorter_than(&floor, change.now)? {
        why.push(format!(
            "the period {} is shorter than the minimum {floor} set by ledger record {}",
            change.period,
            current.map_or(0, |p| p.record)
        ));
    }
    if let Some(m) = change.minimum
        && m.is_shorter_than(&floor, change.now)?
    {
        why.push(format!(
            "the new minimum {m} is shorter than the minimum {floor} in force"
        ));
    }
    Ok(why)
}

/// Sets the policy: checks the change against the minimum in force and
/// appends its `retention-set` record. The record, and the policy.
///
/// `begin` begins the writer session (`writer::Session::begin`), once the
/// change is checked: a change refused for its own terms takes no lock.
pub fn set<S: std::ops::DerefMut<Target = rusqlite::Connection>>(
    change: &Change,
    begin: impl FnOnce() -> Result<S>,
) -> Result<Policy> {
    if change.reason.trim().is_empty() {
        return Err(Error::Usage(
            "give the reason for the policy with --reason TEXT: it goes in the ledger".into(),
        ));
    }
    if let Some(m) = change.minimum
        && change.period.is_shorter_than(&m, change.now)?
    {
        return Err(Error::Usage(format!(
            "the period {} is shorter than the minimum {m} given with it: a policy cannot keep for less than its own minimum",
            change.period
        )));
    }
    let mut conn = begin()?;
    let records = ledger::read_all(&conn)?;
    let current = current(&records)?;
    let why = below_minimum(current.as_ref(), change)?;
    if !why.is_empty() && !change.override_minimum {
        return Err(Error::Forbidden(format!(
            "retention not changed: {}. Give --override with the --reason if this is intended; the override is recorded",
            why.join("; ")
        )));
    }
    // Without a new minimum the one in force stays, unless the period
    // overrides it: then the floor comes down to the period (an
    // overridden minimum left in force would still keep everything).
    let minimum = match change.minimum {
        Some(m) => Some(m),
        None => match current.as_ref().and_then(|p| p.terms.minimum) {
            Some(floor) if change.period.is_shorter_than(&floor, change.now)? => {
                Some(change.period)
            }
            floor => floor,
        },
    };
    let terms = Terms {
        period: change.period,
        minimum,
        erasure_within_minimum: change.erasure_within_minimum,
        reason: change.reason.clone(),
        overrode: why,
    };
    let mut details =
        serde_json::to_value(&terms).map_err(|_| Error::Internal("retention terms"))?;
    if let (Some(p), Value::Object(m)) = (&current, &mut details) {
        m.insert("previous_record".into(), Value::from(p.record));
    }
    let tx = conn.transaction()?;
    let record = ledger::append(&tx, change.now, kind::RETENTION_SET, &change.who, details)?;
    tx.commit()?;
    Ok(Policy {
        terms,
        record: record.seq,
        set_at: record.time,
        set_by: record.who,
    })
}
