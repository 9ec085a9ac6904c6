//! Which objects and entries a run checks: all of them, one export's, or
//! with `--sample`, the next share of each after where the last sampled
//! run stopped (wrapping around), so every item is checked within
//! `ceil(100 / PERCENT)` runs.
//!
//! The cursors live in `verify_cursor` and move only when the run's ledger
//! record is written.

use rusqlite::{Connection, OptionalExtension, params};

use super::Options;
use crate::error::Result;

/// What a run covers.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only this export.
    pub export: Option<i64>,
    /// With `--sample`: the id ranges `(after, up_to]` of `files` and of
    /// `entries` to check, and where each cursor goes next.
    pub sampled: Option<Sampled>,
}

#[derive(Debug, Clone, Default)]
pub struct Sampled {
    pub files: Vec<(i64, i64)>,
    pub entries: Vec<(i64, i64)>,
    next_files: i64,
    next_entries: i64,
}

impl Selection {
    /// Whether the run covers every entry (so the whole index can be checked).
    pub fn is_whole_index(&self) -> bool {
        self.sampled.is_none()
    }

    /// An SQL condition on `files` aliased `f`.
    pub fn files_where(&self) -> String {
        match (&self.sampled, self.export) {
            (Some(s), _) => ranges_where("f.id", &s.files),
            (None, Some(id)) => format!("f.export_id = {id}"),
            (None, None) => "1".into(),
        }
    }

    /// An SQL condition on `entries` aliased `e`.
    pub fn entries_where(&self) -> String {
        match (&self.sampled, self.export) {
            (Some(s), _) => ranges_where("e.id", &s.entries),
            (None, Some(id)) => format!("e.export_id = {id}"),
            (None, None) => "1".into(),
        }
    }
}

fn ranges_where(column: &str, ranges: &[(i64, i64)]) -> String {
    if ranges.is_empty() {
        return "0".into();
    }
    ranges
        .iter()
        .map(|(lo, hi)| format!("({column} > {lo} AND {column} <= {hi})"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// The selection for `opts`.
pub(super) fn select(conn: &Connection, opts: &Options) -> Result<Selection> {
    let Some(percent) = opts.sample_percent else {
        return Ok(Selection {
            export: opts.export,
            sampled: None,
        });
    };
    let (files, next_files) = pick(conn, "files", "objects", percent)?;
    let (entries, next_entries) = pick(conn, "entries", "entries", percent)?;
    Ok(Selection {
        export: None,
        sampled: Some(Sampled {
            files,
            entries,
            next_files,
            next_entries,
        }),
    })
}

/// The next `percent` of `table`'s rows after the cursor of `scope`, as id
/// ranges, and the cursor after them.
fn pick(
    conn: &Connection,
    table: &str,
    scope: &str,
    percent: f64,
) -> Result<(Vec<(i64, i64)>, i64)> {
    let total: i64 = conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
    let cursor: i64 = conn
        .query_row(
            "SELECT after_id FROM verify_cursor WHERE scope = ?1",
            [scope],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(i64::MIN);
    if total == 0 {
        return Ok((Vec::new(), cursor));
    }
    let want = ((total as f64) * percent / 100.0)
        .ceil()
        .clamp(1.0, total as f64) as i64;
    let nth_after = |after: i64, n: i64| -> Result<Option<i64>> {
        Ok(conn
            .query_row(
                &format!("SELECT id FROM {table} WHERE id > ?1 ORDER BY id LIMIT 1 OFFSET ?2"),
                params![after, n - 1],
                |r| r.get(0),
            )
            .optional()?)
    };
    if let Some(hi) = nth_after(cursor, want)? {
        return Ok((vec![(cursor, hi)], hi));
    }
    // Not enough left after the cursor: take the rest, then wrap around.
    let after_cursor: i64 = conn.query_row(
        &format!("SELECT count(*) FROM {table} WHERE id > ?1"),
        [cursor],
        |r| r.get(0),
    )?;
    let last: i64 = conn.query_row(&format!("SELECT max(id) FROM {table}"), [], |r| r.get(0))?;
    let mut ranges = Vec::new();
    if after_cursor > 0 {
        ranges.push((cursor, last));
    }
    // `rest` is at most the count of ids up to the cursor: no overlap.
    let rest = want - after_cursor;
    let next = nth_after(i64::MIN, rest)?.unwrap_or(last);
    ranges.push((i64::MIN, next));
    Ok((ranges, next))
}

/// Moves the cursors past what this run checked.
pub(super) fn save(conn: &Connection, selection: &Selection) -> Result<()> {
    let Some(s) = &selection.sampled else {
        return Ok(());
    };
    for (scope, after) in [("objects", s.next_files), ("entries", s.next_entries)] {
        conn.execute(
            "INSERT INTO verify_cursor (scope, after_id) VALUES (?1, ?2)
             ON CONFLICT (scope) DO UPDATE SET after_id = excluded.after_id",
            params![scope, after],
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_with(n: i64) -> Connection {
        let conn = crate::archive::db::open_in_memory().unwrap();
        conn.execute_batch(
            "INSERT INTO exports (id, ingested_at_ms, convault_version) VALUES (1, 0, 't');",
        )
        .unwrap();
        for i in 1..=n {
            conn.execute(
                "INSERT INTO files (export_id, path, bytes, sha256, container) VALUES (1, 'p', 0, ?1, 'zip')",
                [format!("{i:064}")],
            )
            .unwrap();
        }
        conn
    }

    fn covered(conn: &Connection, percent: f64, runs: usize) -> Vec<Vec<i64>> {
        let opts = Options {
            level: super::super::Level::Fast,
            sample_percent: Some(percent),
            export: None,
            progress: false,
            who: String::new(),
            now: jiff::Timestamp::UNIX_EPOCH,
        };
        (0..runs)
            .map(|_| {
                let s = select(conn, &opts).unwrap();
                let ids = conn
                    .prepare(&format!(
                        "SELECT f.id FROM files f WHERE {} ORDER BY f.id",
                        s.files_where()
                    ))
                    .unwrap()
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .collect::<rusqlite::Result<Vec<i64>>>()
                    .unwrap();
                save(conn, &s).unwrap();
                ids
            })
            .collect()
    }

    #[test]
    fn every_item_is_checked_within_the_cycle() {
        for (n, percent) in [(10, 25.0_f64), (7, 30.0), (1, 10.0), (100, 1.0), (9, 100.0)] {
            let conn = db_with(n);
            let cycle = (100.0 / percent).ceil() as usize;
            let runs = covered(&conn, percent, cycle);
            let mut all: Vec<i64> = runs.concat();
            all.sort();
            all.dedup();
            assert_eq!(
                all,
                (1..=n).collect::<Vec<_>>(),
                "n={n} p={percent}: {runs:?}"
            );
            let per_run = ((n as f64) * percent / 100.0).ceil() as usize;
            assert!(runs.iter().all(|r| r.len() == per_run.max(1)), "{runs:?}");
        }
    }

    #[test]
    fn the_cursor_wraps_around() {
        let conn = db_with(10);
        let runs = covered(&conn, 40.0, 4);
        assert_eq!(runs[0], [1, 2, 3, 4]);
        assert_eq!(runs[1], [5, 6, 7, 8]);
        assert_eq!(runs[2], [1, 2, 9, 10]);
        assert_eq!(runs[3], [3, 4, 5, 6]);
    }
}
