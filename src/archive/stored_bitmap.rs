//! A stored sightings bitmap, asked about a few values without reading it
//! whole.
//!
//! `show` asks, for every export, whether it held a conversation and which
//! of that conversation's few dozen entry versions. An export's bitmaps
//! grow with the archive (megabytes after a year of weekly exports), so
//! reading every export's whole bitmaps would make one transcript cost the
//! archive's size. Each bitmap is stored in parts of 2^20 values
//! (`archive::sightings`), and a part in the portable Roaring format
//! (<https://github.com/RoaringBitmap/RoaringFormatSpec>), whose header
//! lists each 65,536-value container's key, cardinality and byte offset.
//! For a value, this finds its part's row, reads that part's header once
//! through SQLite's incremental blob I/O, then only the container the
//! value falls in (at most 8 KiB, inside a part of at most 128 KiB).
//!
//! Invariant: `contains` answers exactly as the whole deserialized bitmap
//! would; anything the header or a container says that does not fit the
//! blob is reported as damage, never read past (tested against
//! `RoaringBitmap` in the property test below).

use std::cell::RefCell;
use std::collections::HashMap;

use rusqlite::blob::Blob;
use rusqlite::{Connection, MAIN_DB, OptionalExtension};

use super::sightings::{PART_BITS, deserialize, has_sightings};
use crate::error::{Error, Result};

/// The format's cookies: with run containers (and the count in the high
/// 16 bits), and without.
const COOKIE_RUNS: u32 = 12347;
const COOKIE_NO_RUNS: u32 = 12346;
/// With run containers, offsets are written only from this many
/// containers on.
const NO_OFFSET_THRESHOLD: usize = 4;
/// A container of more values than this, not run-encoded, is a bitmap.
const ARRAY_LIMIT: u32 = 4096;
const BITMAP_BYTES: u32 = 8192;

/// Which bitmap of an export's sightings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `entries.seq` of every version the export held.
    Entries,
    /// `conversations.id` of every conversation it held.
    Conversations,
}

impl Column {
    fn as_str(self) -> &'static str {
        match self {
            Column::Entries => "entries",
            Column::Conversations => "conversations",
        }
    }
}

/// Both of one export's bitmaps, open for questions.
pub struct StoredSeen<'c> {
    pub entries: StoredBitmap<'c>,
    pub conversations: StoredBitmap<'c>,
}

impl<'c> StoredSeen<'c> {
    /// Export `export_id`'s sightings; `None` when it has none stored.
    pub fn open(conn: &'c Connection, export_id: i64) -> Result<Option<Self>> {
        if !has_sightings(conn, export_id)? {
            return Ok(None);
        }
        Ok(Some(StoredSeen {
            entries: StoredBitmap::new(conn, export_id, Column::Entries),
            conversations: StoredBitmap::new(conn, export_id, Column::Conversations),
        }))
    }
}

/// One export's bitmap, open for questions: its parts are opened as the
/// values asked about need them, and kept open.
pub struct StoredBitmap<'c> {
    conn: &'c Connection,
    export_id: i64,
    column: Column,
    /// By part number; `None` when the bitmap has no such part.
    parts: RefCell<HashMap<u32, Option<Part<'c>>>>,
}

/// One stored part, its header read.
struct Part<'c> {
    blob: Blob<'c>,
    export_id: i64,
    column: Column,
    part: u32,
    layout: Layout,
}

enum Layout {
    /// A run-format bitmap of fewer than four containers has no offsets;
    /// it is small (at most three containers) and read whole.
    Whole(roaring::RoaringBitmap),
    Indexed(Vec<Container>),
}

/// One container's entry in the header.
struct Container {
    key: u16,
    cardinality: u32,
    run: bool,
    offset: u32,
}

impl<'c> StoredBitmap<'c> {
    /// Export `export_id`'s `column` bitmap; `None` when the export has no
    /// sightings stored.
    pub fn open(conn: &'c Connection, export_id: i64, column: Column) -> Result<Option<Self>> {
        if !has_sightings(conn, export_id)? {
            return Ok(None);
        }
        Ok(Some(StoredBitmap::new(conn, export_id, column)))
    }

    /// Export `export_id`'s `column` bitmap, known to be stored.
    fn new(conn: &'c Connection, export_id: i64, column: Column) -> Self {
        StoredBitmap {
            conn,
            export_id,
            column,
            parts: RefCell::new(HashMap::new()),
        }
    }

    /// Whether the bitmap holds `value`.
    pub fn contains(&self, value: u32) -> Result<bool> {
        let number = value >> PART_BITS;
        let mut parts = self.parts.borrow_mut();
        let part = match parts.entry(number) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(self.open_part(number)?),
        };
        match part {
            Some(part) => part.contains(value),
            None => Ok(false),
        }
    }

    fn open_part(&self, number: u32) -> Result<Option<Part<'c>>> {
        let rowid: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT rowid FROM sighting_parts WHERE export_id = ?1 AND bitmap = ?2 AND part = ?3",
            )?
            .query_row(
                rusqlite::params![self.export_id, self.column.as_str(), number],
                |r| r.get(0),
            )
            .optional()?;
        let Some(rowid) = rowid else {
            return Ok(None);
        };
        let blob = self
            .conn
            .blob_open(MAIN_DB, "sighting_parts", "bits", rowid, true)?;
        let mut part = Part {
            blob,
            export_id: self.export_id,
            column: self.column,
            part: number,
            layout: Layout::Indexed(Vec::new()),
        };
        part.layout = part.read_layout()?;
        Ok(Some(part))
    }
}

impl Part<'_> {
    /// Whether the part holds `value`.
    fn contains(&self, value: u32) -> Result<bool> {
        let containers = match &self.layout {
            Layout::Whole(b) => return Ok(b.contains(value)),
            Layout::Indexed(c) => c,
        };
        let key = (value >> 16) as u16;
        let low = value as u16;
        let Ok(i) = containers.binary_search_by_key(&key, |c| c.key) else {
            return Ok(false);
        };
        let c = &containers[i];
        if c.run {
            let runs = self.u16_at(c.offset)?;
            let pairs = self.bytes_at(c.offset + 2, u32::from(runs) * 4)?;
            // Runs are sorted by start: the last one starting at or before
            // `low` is the only one that can hold it.
            let starts = pairs.chunks_exact(4).map(|p| {
                (
                    u16::from_le_bytes([p[0], p[1]]),
                    u16::from_le_bytes([p[2], p[3]]),
                )
            });
            let run = starts.take_while(|&(start, _)| start <= low).last();
            Ok(run.is_some_and(|(start, len)| u32::from(low - start) <= u32::from(len)))
        } else if c.cardinality <= ARRAY_LIMIT {
            let values = self.bytes_at(c.offset, c.cardinality * 2)?;
            let values: Vec<u16> = values
                .chunks_exact(2)
                .map(|v| u16::from_le_bytes([v[0], v[1]]))
                .collect();
            Ok(values.binary_search(&low).is_ok())
        } else {
            let word = self.bytes_at(c.offset + u32::from(low / 64) * 8, 8)?;
            let word = u64::from_le_bytes(word.try_into().map_err(|_| self.damaged("short word"))?);
            Ok(word & (1 << (low % 64)) != 0)
        }
    }

    fn read_layout(&self) -> Result<Layout> {
        let cookie = self.u32_at(0)?;
        let (size, runs_at, header) = if cookie == COOKIE_NO_RUNS {
            (self.u32_at(4)? as usize, None, 8u32)
        } else if cookie & 0xFFFF == COOKIE_RUNS {
            let size = (cookie >> 16) as usize + 1;
            if size < NO_OFFSET_THRESHOLD {
                return Ok(Layout::Whole(self.whole()?));
            }
            (size, Some(4u32), 4 + size.div_ceil(8) as u32)
        } else {
            return Err(self.damaged(&format!("unknown cookie {cookie}")));
        };
        if size > 1 << 16 {
            return Err(self.damaged(&format!("{size} containers")));
        }
        let run_flags = match runs_at {
            Some(at) => self.bytes_at(at, size.div_ceil(8) as u32)?,
            None => Vec::new(),
        };
        let n = size as u32;
        let descriptions = self.bytes_at(header, n * 4)?;
        let offsets = self.bytes_at(header + n * 4, n * 4)?;
        let mut containers = Vec::with_capacity(size);
        for (i, (d, o)) in descriptions
            .chunks_exact(4)
            .zip(offsets.chunks_exact(4))
            .enumerate()
        {
            let key = u16::from_le_bytes([d[0], d[1]]);
            if containers.last().is_some_and(|c: &Container| c.key >= key) {
                return Err(self.damaged("container keys are not sorted"));
            }
            containers.push(Container {
                key,
                cardinality: u32::from(u16::from_le_bytes([d[2], d[3]])) + 1,
                run: run_flags
                    .get(i / 8)
                    .is_some_and(|f| f & (1 << (i % 8)) != 0),
                offset: u32::from_le_bytes([o[0], o[1], o[2], o[3]]),
            });
        }
        for c in &containers {
            // Every container must lie inside the blob: its first bytes
            // now, the rest as it is read.
            let first = if c.run || c.cardinality <= ARRAY_LIMIT {
                2
            } else {
                BITMAP_BYTES
            };
            self.check_range(c.offset, first)?;
        }
        Ok(Layout::Indexed(containers))
    }

    fn whole(&self) -> Result<roaring::RoaringBitmap> {
        let mut bytes = vec![0; self.blob.len()];
        self.blob.read_at_exact(&mut bytes, 0)?;
        deserialize(&bytes, self.export_id, &self.what())
    }

    fn what(&self) -> String {
        format!("{} part {}", self.column.as_str(), self.part)
    }

    fn u16_at(&self, at: u32) -> Result<u16> {
        let b = self.bytes_at(at, 2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32_at(&self, at: u32) -> Result<u32> {
        let b = self.bytes_at(at, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn check_range(&self, at: u32, len: u32) -> Result<()> {
        let end = u64::from(at) + u64::from(len);
        if end > self.blob.len() as u64 {
            return Err(self.damaged(&format!(
                "{len} bytes at offset {at} run past its end ({} bytes)",
                self.blob.len()
            )));
        }
        Ok(())
    }

    /// `len` bytes from offset `at`, refused if they are not all inside
    /// the blob (a damaged header must not make a huge read).
    fn bytes_at(&self, at: u32, len: u32) -> Result<Vec<u8>> {
        self.check_range(at, len)?;
        let mut buf = vec![0; len as usize];
        self.blob.read_at_exact(&mut buf, at as usize)?;
        Ok(buf)
    }

    fn damaged(&self, detail: &str) -> Error {
        Error::Damaged {
            what: format!("sightings ({}) of export {}", self.what(), self.export_id),
            detail: detail.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use roaring::RoaringBitmap;

    use super::*;
    use crate::archive::sightings::Seen;

    /// An empty archive database, in memory.
    fn archive() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::archive::schema::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        conn
    }

    fn store(conn: &Connection, export_id: i64, entries: &RoaringBitmap) {
        conn.execute(
            "INSERT INTO exports (id, ingested_at_ms, convault_version) VALUES (?1, 0, 'test')",
            [export_id],
        )
        .unwrap();
        let seen = Seen {
            entries: entries.clone(),
            conversations: RoaringBitmap::new(),
        };
        seen.store(conn, export_id).unwrap();
    }

    /// Bitmaps of every container kind (runs, arrays, dense bitmaps),
    /// across several parts.
    fn bitmap() -> impl Strategy<Value = RoaringBitmap> {
        let run = (0u32..4_000_000, 1u32..70_000).prop_map(|(s, n)| (s..s + n).collect::<Vec<_>>());
        let sparse = prop::collection::vec(0u32..4_500_000, 0..300);
        let dense = (0u32..70, 5_000u32..40_000)
            .prop_map(|(k, n)| (0..n).map(|i| (k << 16) + (i * 13) % 65_536).collect());
        (
            prop::collection::vec(prop_oneof![run, sparse, dense], 0..6),
            prop::collection::vec(0u32..3_000, 0..200),
        )
            .prop_map(|(parts, holes)| {
                let mut b: RoaringBitmap = parts.into_iter().flatten().collect();
                for h in holes {
                    b.remove(h * 1_500);
                }
                b
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn answers_as_the_whole_bitmap_does(
            b in bitmap(),
            probes in prop::collection::vec(0u32..4_600_000, 0..200),
        ) {
            let conn = archive();
            store(&conn, 7, &b);
            let stored = StoredBitmap::open(&conn, 7, Column::Entries).unwrap().unwrap();
            let members: Vec<u32> = b.iter().step_by(97).take(100).collect();
            for v in probes.into_iter().chain(members) {
                prop_assert_eq!(stored.contains(v).unwrap(), b.contains(v), "value {}", v);
            }
            // And the whole, put together from its parts, is the same.
            prop_assert_eq!(Seen::load(&conn, 7).unwrap().unwrap().entries, b);
        }
    }

    #[test]
    fn an_export_without_sightings_is_none() {
        let conn = archive();
        assert!(
            StoredBitmap::open(&conn, 3, Column::Entries)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_truncated_part_is_damage_not_a_panic() {
        let conn = archive();
        let mut b: RoaringBitmap = (0..200_000).step_by(3).collect();
        b.insert(1 << 30);
        b.insert((1 << 30) + 70_000);
        store(&conn, 1, &b);
        let part = (1u32 << 30) >> PART_BITS;
        let len: i64 = conn
            .query_row(
                "SELECT length(bits) FROM sighting_parts WHERE export_id = 1 AND part = ?1",
                [part],
                |r| r.get(0),
            )
            .unwrap();
        let whole: Vec<u8> = conn
            .query_row(
                "SELECT bits FROM sighting_parts WHERE export_id = 1 AND part = ?1",
                [part],
                |r| r.get(0),
            )
            .unwrap();
        for cut in [3, 9, 20, len as usize - 1] {
            conn.execute(
                "UPDATE sighting_parts SET bits = ?2 WHERE export_id = 1 AND part = ?1",
                rusqlite::params![part, &whole[..cut]],
            )
            .unwrap();
            let answer = StoredBitmap::open(&conn, 1, Column::Entries)
                .and_then(|s| s.expect("stored").contains((1 << 30) + 70_000));
            assert!(
                matches!(answer, Err(Error::Damaged { .. })),
                "cut at {cut}: {answer:?}"
            );
            assert!(matches!(Seen::load(&conn, 1), Err(Error::Damaged { .. })));
        }
    }

    #[test]
    fn a_part_holding_values_outside_its_range_is_damage() {
        let conn = archive();
        let b: RoaringBitmap = [5u32, (1 << PART_BITS) + 5].into_iter().collect();
        store(&conn, 1, &b);
        // Part 1 swapped for a bitmap of part 0's range.
        let mut bytes = Vec::new();
        RoaringBitmap::from_iter([9u32])
            .serialize_into(&mut bytes)
            .unwrap();
        conn.execute(
            "UPDATE sighting_parts SET bits = ?1 WHERE export_id = 1 AND part = 1",
            [bytes],
        )
        .unwrap();
        let err = Seen::load(&conn, 1).unwrap_err();
        assert!(matches!(err, Error::Damaged { .. }), "{err}");
        assert!(err.to_string().contains("entries part 1"), "{err}");
    }
}
