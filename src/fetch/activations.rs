//! The activations `fetch` has spent, kept in the archive directory
//! (`DIR/activations.sqlite`) so that every run, at once or one after the
//! other, draws on one budget.
//!
//! Its own small database, not a table of the archive's: an ingest holds
//! the archive's write transaction for minutes, and a fetch running beside
//! it must still reserve its activations. Each reservation is one short
//! `BEGIN IMMEDIATE` transaction: read the activations of the last window,
//! decide, record; two runs are serialised by SQLite's write lock, so
//! their reservations together keep [`Budget::admits`]'s invariant.
//!
//! Invariant: every API read of a conversation is preceded by a reservation
//! recorded here: `activation` rows count against the budget, `renewal`
//! rows (a conversation read within the window, or ended within it) do
//! not, and give the time the conversation stays active from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::budget::{self, Budget};
use crate::error::{Error, Result};

/// The database's name in the archive directory.
pub const FILE_NAME: &str = "activations.sqlite";

/// How long a run waits for another run's hold on the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reads (
    id           INTEGER PRIMARY KEY,
    conversation TEXT NOT NULL,
    at_ms        INTEGER NOT NULL,
    -- 1: counted against the budget; 0: free (active already).
    activation   INTEGER NOT NULL CHECK (activation IN (0, 1))
) STRICT;
CREATE INDEX IF NOT EXISTS reads_at ON reads(at_ms);
CREATE INDEX IF NOT EXISTS reads_conversation ON reads(conversation, at_ms);
-- The conversations a run that stopped for the budget fetched and
-- archived, by the request's key: the same command run again fetches
-- only the rest. Deleted when a run of the key completes.
CREATE TABLE IF NOT EXISTS resume (
    key          TEXT NOT NULL,
    conversation TEXT NOT NULL,
    PRIMARY KEY (key, conversation)
) STRICT;
-- When a conversation ended, as the org's SOQL answered: kept so that a
-- later run naming the conversation itself knows it too.
CREATE TABLE IF NOT EXISTS ended (
    conversation TEXT PRIMARY KEY,
    at_ms        INTEGER NOT NULL
) STRICT;
";

/// The conversations convault made active that are active still: for
/// each conversation read within the window (`?1`: its start, in ms) and
/// ever counted against the budget, its latest read. A free re-read
/// renews a conversation, so its slot is held until its last read's
/// window ends, not its first.
const OCCUPYING: &str = "SELECT max(at_ms) FROM reads
     WHERE conversation IN (SELECT conversation FROM reads WHERE at_ms > ?1)
     GROUP BY conversation HAVING max(activation) = 1";

/// What a reservation gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Read it now: it is active already, nothing spent.
    Free,
    /// Read it now: one activation spent.
    Activated,
    /// The budget is spent until then (`None`: not within a day).
    WaitUntil(Option<Timestamp>),
}

/// A conversation read within the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recent {
    pub conversation: String,
    pub last_read: Timestamp,
    /// A read of it was counted against the budget: it holds a slot until
    /// a window after `last_read`.
    pub activated: bool,
}

/// The rule of a reservation, shared by [`Activations::reserve`] and the
/// plan: a read is free when [`budget::costs`] says so; otherwise it is
/// admitted if the budget has room beside `made()` (the latest reads of
/// the conversations convault made active), else it waits.
pub fn decide(
    budget: &Budget,
    now: Timestamp,
    last_read: Option<Timestamp>,
    ended: Option<Timestamp>,
    made: impl FnOnce() -> Result<Vec<Timestamp>>,
) -> Result<Reservation> {
    if !budget::costs(now, budget.window, last_read, ended) {
        return Ok(Reservation::Free);
    }
    let made = made()?;
    Ok(if budget.admits(now, &made) {
        Reservation::Activated
    } else {
        Reservation::WaitUntil(budget.next_admitted(now, &made))
    })
}

/// The activations store of one archive.
pub struct Activations {
    conn: Connection,
    path: PathBuf,
}

impl Activations {
    /// Opens (or creates) `DIR/activations.sqlite`.
    ///
    /// Two runs starting at once may both create it: switching a new
    /// database to WAL, or checkpointing one as its last user closes it,
    /// can answer "locked" without waiting on the busy timeout, so a busy
    /// open is tried again for as long as that timeout.
    pub fn open(root: &Path) -> Result<Activations> {
        let path = root.join(FILE_NAME);
        let started = std::time::Instant::now();
        loop {
            match Self::try_open(&path) {
                Err(Error::Db(e))
                    if crate::error::is_busy(&e) && started.elapsed() < BUSY_TIMEOUT =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other.map(|conn| Activations { conn, path }),
            }
        }
    }

    fn try_open(path: &Path) -> Result<Connection> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(conn)
    }

    /// Keeps when each of `ended` ended, as the org's query answered.
    pub fn remember_ended(&mut self, ended: &[(String, Timestamp)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare(
                "INSERT INTO ended (conversation, at_ms) VALUES (?1, ?2)
                 ON CONFLICT (conversation) DO UPDATE SET at_ms = excluded.at_ms",
            )?;
            for (c, at) in ended {
                put.execute(rusqlite::params![c, at.as_millisecond()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// When `conversation` ended, as an earlier query answered.
    pub fn ended(&self, conversation: &str) -> Result<Option<Timestamp>> {
        let ms: Option<i64> = self
            .conn
            .prepare_cached("SELECT at_ms FROM ended WHERE conversation = ?1")?
            .query_row([conversation], |r| r.get(0))
            .optional()?;
        Ok(ms.and_then(|ms| Timestamp::from_millisecond(ms).ok()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reserves a read of `conversation` at `now` under `budget`;
    /// `ended` is when the org's data say the conversation ended.
    pub fn reserve(
        &mut self,
        budget: &Budget,
        conversation: &str,
        now: Timestamp,
        ended: Option<Timestamp>,
    ) -> Result<Reservation> {
        let window_ms = budget.window.as_millis();
        let now_ms = now.as_millisecond();
        let since = now_ms.saturating_sub(i64::try_from(window_ms).unwrap_or(i64::MAX));
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let last_read: Option<i64> = tx
            .query_row(
                "SELECT max(at_ms) FROM reads WHERE conversation = ?1",
                [conversation],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let last_read = last_read.and_then(|ms| Timestamp::from_millisecond(ms).ok());
        let reservation = decide(budget, now, last_read, ended, || {
            Ok(tx
                .prepare(OCCUPYING)?
                .query_map([since], |r| r.get::<_, i64>(0))?
                .filter_map(|ms| ms.ok().and_then(|ms| Timestamp::from_millisecond(ms).ok()))
                .collect())
        })?;
        if let Reservation::Free | Reservation::Activated = reservation {
            tx.execute(
                "INSERT INTO reads (conversation, at_ms, activation) VALUES (?1, ?2, ?3)",
                rusqlite::params![
                    conversation,
                    now_ms,
                    i64::from(reservation == Reservation::Activated)
                ],
            )?;
        }
        tx.commit()?;
        Ok(reservation)
    }

    /// Records that the read of `conversation` reserved last ended at
    /// `at`: the org marks a conversation active when each request
    /// reaches it, after the reservation, and each page renews it; the
    /// read's time moves to the end, so the budget holds its slot at least
    /// as long as the org counts it.
    ///
    /// Stored rounded up to the millisecond: rounded down, a read that
    /// ended less than a millisecond after the org saw it would free its
    /// slot before the org does (the fetch test saw 6 active on a budget
    /// of 5 on a loaded machine).
    pub fn read_done(&mut self, conversation: &str, at: Timestamp) -> Result<()> {
        let sub_ms = at.subsec_nanosecond().rem_euclid(1_000_000) != 0;
        let at_ms = at.as_millisecond().saturating_add(i64::from(sub_ms));
        self.conn.execute(
            "UPDATE reads SET at_ms = max(at_ms, ?2)
             WHERE id = (SELECT max(id) FROM reads WHERE conversation = ?1)",
            rusqlite::params![conversation, at_ms],
        )?;
        Ok(())
    }

    /// The conversations earlier runs of the request `key` fetched and
    /// archived before they stopped for the budget.
    pub fn resumed(&self, key: &str) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT conversation FROM resume WHERE key = ?1")?;
        let done = stmt
            .query_map([key], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(done)
    }

    /// Records that a run of `key` stopped for the budget after archiving
    /// `done`.
    pub fn stopped(&mut self, key: &str, done: &[String]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut insert =
                tx.prepare("INSERT OR IGNORE INTO resume (key, conversation) VALUES (?1, ?2)")?;
            for c in done {
                insert.execute([key, c.as_str()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records that a run of `key` finished: the next one starts afresh.
    pub fn completed(&mut self, key: &str) -> Result<()> {
        self.conn
            .execute("DELETE FROM resume WHERE key = ?1", [key])?;
        Ok(())
    }

    /// Every conversation read within the window before `now`: its latest
    /// read, and whether a read of it was ever counted against the budget
    /// (what a plan starts from).
    pub fn recent(&self, budget: &Budget, now: Timestamp) -> Result<Vec<Recent>> {
        let window_ms = i64::try_from(budget.window.as_millis()).unwrap_or(i64::MAX);
        let since = now.as_millisecond().saturating_sub(window_ms);
        let mut stmt = self.conn.prepare(
            "SELECT conversation, max(at_ms), max(activation) FROM reads
             WHERE conversation IN (SELECT conversation FROM reads WHERE at_ms > ?1)
             GROUP BY conversation",
        )?;
        let rows = stmt.query_map([since], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (conversation, ms, activation) = row?;
            let last_read = Timestamp::from_millisecond(ms)
                .map_err(|_| Error::Internal("a read time out of range"))?;
            out.push(Recent {
                conversation,
                last_read,
                activated: activation == 1,
            });
        }
        Ok(out)
    }

    /// Conversations convault made active that are still active at `at`.
    pub fn active_at(&self, budget: &Budget, at: Timestamp) -> Result<u64> {
        let window_ms = i64::try_from(budget.window.as_millis()).unwrap_or(i64::MAX);
        let at_ms = at.as_millisecond();
        let n: i64 = self.conn.query_row(
            &format!("SELECT count(*) FROM ({OCCUPYING}) l WHERE l.\"max(at_ms)\" <= ?2"),
            [at_ms.saturating_sub(window_ms), at_ms],
            |r| r.get(0),
        )?;
        u64::try_from(n).map_err(|_| Error::Internal("a negative count"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::budget::tests_support::{at, budget};

    /// A read that ended within a millisecond holds its slot to that
    /// millisecond's end, never less than the org counts it.
    #[test]
    fn a_read_done_within_a_millisecond_is_counted_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let b = budget(1, 60);
        let mut a = Activations::open(dir.path()).unwrap();
        assert_eq!(
            a.reserve(&b, "c1", at(0), None).unwrap(),
            Reservation::Activated
        );
        let ended = at(1)
            .checked_add(jiff::SignedDuration::from_micros(250))
            .unwrap();
        a.read_done("c1", ended).unwrap();
        let frees = at(61)
            .checked_add(jiff::SignedDuration::from_millis(1))
            .unwrap();
        assert_eq!(
            a.reserve(&b, "c2", at(61), None).unwrap(),
            Reservation::WaitUntil(Some(frees))
        );
        assert_eq!(
            a.reserve(&b, "c2", frees, None).unwrap(),
            Reservation::Activated
        );
    }

    #[test]
    fn reservations_spend_renew_and_wait() {
        let dir = tempfile::tempdir().unwrap();
        let b = budget(2, 60);
        let mut a = Activations::open(dir.path()).unwrap();
        assert_eq!(
            a.reserve(&b, "c1", at(0), None).unwrap(),
            Reservation::Activated
        );
        // Read again within the window: free, and it renews.
        assert_eq!(
            a.reserve(&b, "c1", at(10), None).unwrap(),
            Reservation::Free
        );
        // Ended within the window by the org's data: free.
        assert_eq!(
            a.reserve(&b, "c2", at(20), Some(at(5))).unwrap(),
            Reservation::Free
        );
        assert_eq!(
            a.reserve(&b, "c3", at(30), None).unwrap(),
            Reservation::Activated
        );
        // Spent: c1's slot is held a window after its last read (10 s,
        // the free re-read renewed it), so until 70 s.
        assert_eq!(
            a.reserve(&b, "c4", at(40), None).unwrap(),
            Reservation::WaitUntil(Some(at(70)))
        );
        assert_eq!(a.active_at(&b, at(40)).unwrap(), 2);
        // Another run, later, sees the same budget.
        drop(a);
        let mut again = Activations::open(dir.path()).unwrap();
        assert_eq!(
            again.reserve(&b, "c4", at(60), None).unwrap(),
            Reservation::WaitUntil(Some(at(70)))
        );
        assert_eq!(
            again.reserve(&b, "c4", at(70), None).unwrap(),
            Reservation::Activated
        );
        // A read that ended later holds its slot longer: c4's read ended
        // at 85 s, so with c3 (30 s) the next slot frees at 90 s and c4's
        // at 145 s.
        again.read_done("c4", at(85)).unwrap();
        assert_eq!(
            again.reserve(&b, "c1", at(75), None).unwrap(),
            Reservation::WaitUntil(Some(at(90)))
        );
        assert_eq!(
            again.reserve(&b, "c1", at(90), None).unwrap(),
            Reservation::Activated
        );
        assert_eq!(
            again.reserve(&b, "c5", at(100), None).unwrap(),
            Reservation::WaitUntil(Some(at(145)))
        );
    }

    #[test]
    fn two_runs_at_once_share_one_budget() {
        let dir = tempfile::tempdir().unwrap();
        let b = budget(5, 3_600);
        let handles: Vec<_> = (0..2)
            .map(|run| {
                let root = dir.path().to_owned();
                let b = b.clone();
                std::thread::spawn(move || {
                    let mut a = Activations::open(&root).unwrap();
                    (0..10)
                        .filter(|i| {
                            let c = format!("run{run}-c{i}");
                            a.reserve(&b, &c, at(*i), None).unwrap() == Reservation::Activated
                        })
                        .count()
                })
            })
            .collect();
        let spent: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(spent, 5);
        let a = Activations::open(dir.path()).unwrap();
        assert_eq!(a.active_at(&b, at(10)).unwrap(), 5);
    }

    /// Regression: two runs starting at once both creating the database
    /// could fail with "database is locked" (switching to WAL does not
    /// wait on the busy timeout); 5 of 1,200 opens failed before the fix.
    #[test]
    fn runs_opening_a_new_store_at_once_all_open_it() {
        for _ in 0..150 {
            let dir = tempfile::tempdir().unwrap();
            let opens: Vec<_> = (0..4)
                .map(|_| {
                    let root = dir.path().to_owned();
                    std::thread::spawn(move || Activations::open(&root).map(|_| ()))
                })
                .collect();
            for o in opens {
                o.join().unwrap().unwrap();
            }
        }
    }
}
