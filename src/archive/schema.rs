//! Schema migrations, applied in order and tracked in `PRAGMA user_version`.
//!
//! A migration that has shipped is never edited: change the schema by
//! appending one. Each table and invariant is documented in
//! `docs/archive-format.md`.

use std::path::Path;

use rusqlite::Connection;

use super::db::refuse_newer;
use crate::error::{Error, Result};

/// One migration: its SQL, then, in the same transaction, a code step for
/// what SQL alone cannot do. A code step is frozen with its migration: it
/// calls no live domain code, so that changing today's ledger or profile
/// code cannot change how an old archive upgrades (schema 2's lives in
/// `archive/migrations/v2.rs`; schema 5's still calls the live profile
/// mapper, and 6's and 7's the archive's own re-keying and sightings
/// code: see docs/archive-format.md).
struct Migration {
    sql: &'static str,
    then: Option<fn(&Connection) -> Result<()>>,
}

/// Schema 5's step, which still runs the live profile mapper.
fn backfill_mapped(tx: &Connection) -> Result<()> {
    crate::source::records::backfill_mapped(tx)
}

/// The migrations; `MIGRATIONS[i]` brings the schema from version i to i+1.
const MIGRATIONS: &[Migration] = &[
    // 1: exports, their files and members, conversations, versioned entries,
    //    sightings, quarantine, and the full-text index.
    // Schema 1.
    Migration {
        sql: r#"
CREATE TABLE exports (
    id                INTEGER PRIMARY KEY,
    ingested_at_ms    INTEGER NOT NULL,
    convault_version  TEXT NOT NULL,
    entries_read      INTEGER NOT NULL DEFAULT 0,
    entries_new       INTEGER NOT NULL DEFAULT 0,
    entries_unchanged INTEGER NOT NULL DEFAULT 0,
    entries_changed   INTEGER NOT NULL DEFAULT 0,
    conversations_new INTEGER NOT NULL DEFAULT 0,
    quarantined       INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE files (
    id        INTEGER PRIMARY KEY,
    export_id INTEGER NOT NULL REFERENCES exports(id),
    path      TEXT NOT NULL,
    bytes     INTEGER NOT NULL,
    sha256    TEXT NOT NULL UNIQUE,
    container TEXT NOT NULL CHECK (container IN ('zip', 'plain'))
) STRICT;
CREATE INDEX files_export ON files(export_id);

CREATE TABLE members (
    id      INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id),
    name    TEXT NOT NULL,
    bytes   INTEGER,
    crc32   INTEGER,
    sha256  TEXT,
    status  TEXT NOT NULL CHECK (status IN ('read', 'quarantined', 'directory')),
    shape   TEXT,
    reason  TEXT,
    rows    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX members_file ON members(file_id);

CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY,
    identifier      TEXT NOT NULL UNIQUE,
    first_export_id INTEGER NOT NULL REFERENCES exports(id)
) STRICT;

CREATE TABLE entries (
    id              INTEGER PRIMARY KEY,
    identifier      TEXT NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    entry_type      TEXT NOT NULL,
    entry_type_raw  TEXT NOT NULL,
    is_message      INTEGER NOT NULL CHECK (is_message IN (0, 1)),
    sender_role     TEXT,
    sender_app_type TEXT,
    sender_subject  TEXT,
    client_ms       INTEGER,
    server_ms       INTEGER,
    related_records TEXT NOT NULL,
    payload         TEXT,
    message_text    TEXT,
    text            TEXT,
    content_hash    TEXT NOT NULL,
    export_id       INTEGER NOT NULL REFERENCES exports(id),
    member_id       INTEGER NOT NULL REFERENCES members(id),
    line            INTEGER,
    UNIQUE (identifier, version)
) STRICT;
CREATE INDEX entries_conversation ON entries(conversation_id);

CREATE TABLE entry_sightings (
    entry_id  INTEGER NOT NULL REFERENCES entries(id),
    export_id INTEGER NOT NULL REFERENCES exports(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    line      INTEGER,
    PRIMARY KEY (entry_id, export_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE quarantine (
    id        INTEGER PRIMARY KEY,
    export_id INTEGER NOT NULL REFERENCES exports(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    line      INTEGER,
    reason    TEXT NOT NULL,
    raw       TEXT
) STRICT;
CREATE INDEX quarantine_export ON quarantine(export_id);

CREATE VIRTUAL TABLE entries_fts USING fts5(
    text,
    content = 'entries',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    -- No per-row token counts: they serve only bm25 ranking, and search
    -- orders by time. A quarter less work to build (docs/performance-history.md).
    columnsize = 0
);
-- No insert trigger: a trigger makes every entry insert a statement
-- transaction, and FTS5 flushes its pending terms at every savepoint, which
-- made a large ingest ten times slower. The writer indexes the entries it
-- inserted with one INSERT ... SELECT in the same transaction instead
-- (archive::index_new_entries). Deletes and edits, which only repair or
-- tamper tools make, are kept in step by these triggers.
-- An 8 MiB pending-terms buffer (default 1 MiB): fewer, larger segments
-- and fewer merges on large ingests (measured: docs/performance-history.md).
INSERT INTO entries_fts (entries_fts, rank) VALUES ('hashsize', 8388608);
CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts(entries_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER entries_fts_update AFTER UPDATE OF text ON entries BEGIN
    INSERT INTO entries_fts(entries_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO entries_fts(rowid, text) VALUES (new.id, new.text);
END;
"#,
        then: None,
    },
    // 2: the ledger (hash-chained, append-only) and zip members' own
    //    modification times (an export's generation time).
    // Schema 2.
    Migration {
        sql: r#"
CREATE TABLE ledger (
    id      INTEGER PRIMARY KEY,
    seq     INTEGER NOT NULL UNIQUE CHECK (seq >= 1),
    time    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    who     TEXT NOT NULL,
    details TEXT NOT NULL,
    prev    TEXT NOT NULL,
    hash    TEXT NOT NULL UNIQUE
) STRICT;
-- Append-only: convault never changes or removes a record. These triggers
-- stop accidents; deliberate tampering is what `ledger verify` detects.
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: records cannot be changed');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger BEGIN
    SELECT RAISE(ABORT, 'the ledger is append-only: records cannot be removed');
END;

ALTER TABLE members ADD COLUMN modified_ms INTEGER;
"#,
        then: Some(super::migrations::v2::backfill_ledger),
    },
    // 3: where `verify --sample` stopped, per kind of item.
    // Schema 3.
    Migration {
        sql: r#"
CREATE TABLE verify_cursor (
    scope    TEXT PRIMARY KEY CHECK (scope IN ('objects', 'entries')),
    after_id INTEGER NOT NULL
) STRICT;
"#,
        then: None,
    },
    // 4: Data Export Service object rows (records) and their counts.
    // Schema 4.
    Migration {
        sql: r#"
CREATE TABLE records (
    id                      INTEGER PRIMARY KEY,
    object                  TEXT NOT NULL,
    record_id               TEXT NOT NULL,
    conversation_ref        TEXT,
    conversation_identifier TEXT,
    fields                  TEXT NOT NULL,
    content_hash            TEXT NOT NULL,
    export_id               INTEGER NOT NULL REFERENCES exports(id),
    member_id               INTEGER NOT NULL REFERENCES members(id),
    line                    INTEGER,
    UNIQUE (object, record_id, content_hash)
) STRICT;
CREATE INDEX records_object_id ON records(object, record_id);
CREATE INDEX records_conversation_ref ON records(conversation_ref);
CREATE INDEX records_conversation_identifier ON records(conversation_identifier);
ALTER TABLE exports ADD COLUMN records_read INTEGER NOT NULL DEFAULT 0;
ALTER TABLE exports ADD COLUMN records_new INTEGER NOT NULL DEFAULT 0;
"#,
        then: None,
    },
    // 5: records under their profile's field names, and the profile files
    //    given to each export (so re-derivation reads as the ingest did).
    // Schema 5.
    Migration {
        sql: r#"
ALTER TABLE records ADD COLUMN mapped TEXT NOT NULL DEFAULT '{}';
CREATE TABLE profiles (
    id     INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    name   TEXT NOT NULL,
    body   TEXT NOT NULL
) STRICT;
CREATE TABLE export_profiles (
    export_id  INTEGER NOT NULL REFERENCES exports(id),
    profile_id INTEGER NOT NULL REFERENCES profiles(id),
    position   INTEGER NOT NULL,
    PRIMARY KEY (export_id, position)
) STRICT;
"#,
        then: Some(backfill_mapped),
    },
    // 6: a year of weekly exports (docs/archive-format.md, "Schema 6").
    //    Entries are re-keyed by time, so the full-text index's rowids
    //    follow time and newest-first search streams; `seq` numbers every
    //    version densely; sightings become one bitmap per export; related
    //    records get an index; the FTS table is declared so that Datasette
    //    and sqlite-utils find it; exports record their kind and what they
    //    lacked. The rows are moved by `rekey::to_v6`.
    // Schema 6.
    Migration {
        sql: r#"
DROP TRIGGER entries_fts_delete;
DROP TRIGGER entries_fts_update;
DROP TABLE entries_fts;
ALTER TABLE entries RENAME TO entries_v5;
CREATE TABLE entries (
    -- The time key: coalesce(server_ms, client_ms) << 20, plus the order
    -- of storing within that millisecond; negative for entries with no time.
    id              INTEGER PRIMARY KEY,
    -- 1, 2, 3, ... in the order versions were stored: the bitmaps' numbers.
    seq             INTEGER NOT NULL UNIQUE CHECK (seq >= 1),
    identifier      TEXT NOT NULL,
    version         INTEGER NOT NULL CHECK (version >= 1),
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    entry_type      TEXT NOT NULL,
    entry_type_raw  TEXT NOT NULL,
    is_message      INTEGER NOT NULL CHECK (is_message IN (0, 1)),
    sender_role     TEXT,
    sender_app_type TEXT,
    sender_subject  TEXT,
    client_ms       INTEGER,
    server_ms       INTEGER,
    related_records TEXT NOT NULL,
    payload         TEXT,
    message_text    TEXT,
    text            TEXT,
    content_hash    TEXT NOT NULL,
    export_id       INTEGER NOT NULL REFERENCES exports(id),
    member_id       INTEGER NOT NULL REFERENCES members(id),
    line            INTEGER,
    -- Versions are found by conversation first: new conversations get
    -- increasing ids, so a week's new entries append to this index instead
    -- of touching every leaf (random UUIDs first would).
    UNIQUE (conversation_id, identifier, version)
) STRICT;
CREATE TABLE export_sightings (
    export_id          INTEGER PRIMARY KEY REFERENCES exports(id),
    entries            BLOB NOT NULL,
    conversations      BLOB NOT NULL,
    entry_count        INTEGER NOT NULL,
    conversation_count INTEGER NOT NULL
) STRICT;
CREATE TABLE row_hashes (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    row_hash        BLOB NOT NULL CHECK (length(row_hash) = 16),
    seq             INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, row_hash)
) STRICT, WITHOUT ROWID;
CREATE TABLE entry_related (
    record_id       TEXT NOT NULL,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    PRIMARY KEY (record_id, conversation_id)
) STRICT, WITHOUT ROWID;
-- `case:` finds sessions by their case without reading every session.
CREATE INDEX records_case ON records(json_extract(mapped, '$.CaseId'), object);
ALTER TABLE exports ADD COLUMN kind TEXT;
ALTER TABLE exports ADD COLUMN previous_export_id INTEGER;
ALTER TABLE exports ADD COLUMN entries_missing INTEGER;
ALTER TABLE exports ADD COLUMN conversations_missing INTEGER;
DELETE FROM verify_cursor WHERE scope = 'entries';
"#,
        then: Some(super::rekey::to_v6),
    },
    // 7: each export's sightings bitmaps in parts of 2^20 values, so that
    //    `show` reads a bounded part, not a blob that grows with the
    //    archive; the whole bitmaps are moved into parts and dropped by
    //    `sightings::split_into_parts`. And the full-text index merges eight
    //    segments of a level at a time (FTS5's default is four): a tenth
    //    less time to ingest a million new entries, search no slower
    //    (docs/performance-history.md).
    // Schema 7.
    Migration {
        sql: r#"
CREATE TABLE sighting_parts (
    export_id INTEGER NOT NULL REFERENCES export_sightings(export_id),
    bitmap    TEXT NOT NULL CHECK (bitmap IN ('entries', 'conversations')),
    part      INTEGER NOT NULL CHECK (part >= 0),
    bits      BLOB NOT NULL,
    UNIQUE (export_id, bitmap, part)
) STRICT;
INSERT INTO entries_fts (entries_fts, rank) VALUES ('automerge', 8);
"#,
        then: Some(super::sightings::split_into_parts),
    },
    // 8: row hashes over a CSV row's raw bytes (`csv-row-v2`, see
    //    `CsvMember::row_hash`), so a known row is recognised without
    //    parsing its fields. The hashes of the old form would match
    //    nothing: they go, and the next ingest parses every row once and
    //    records the new ones (a derived cache: no evidence is lost). The
    //    table is dropped and made again as it was: deleting its rows one
    //    by one (foreign keys forbid SQLite's truncation) took time and
    //    memory in proportion to the archive.
    // Schema 8.
    Migration {
        sql: r#"
DROP TABLE row_hashes;
CREATE TABLE row_hashes (
    conversation_id INTEGER NOT NULL REFERENCES conversations(id),
    row_hash        BLOB NOT NULL CHECK (length(row_hash) = 16),
    seq             INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, row_hash)
) STRICT, WITHOUT ROWID;
"#,
        then: None,
    },
    // 9: the versions whose text a later version of the same entry
    //    repeats (a fuller view from another source, say). Search lists
    //    such a version once, at the later version; kept here, a count of
    //    hits need not look up each match's later versions
    //    (docs/search.md). Filled from the entries once, then by each
    //    ingest as it stores a new version.
    // Schema 9.
    Migration {
        sql: r#"
CREATE TABLE entry_repeats (
    entry_id INTEGER PRIMARY KEY REFERENCES entries(id)
) STRICT;
INSERT INTO entry_repeats (entry_id)
SELECT DISTINCT o.id FROM entries n
JOIN entries o ON o.conversation_id = n.conversation_id AND o.identifier = n.identifier
              AND o.version < n.version AND o.text IS n.text
WHERE n.version > 1;
"#,
        then: None,
    },
    // 10: removal (docs/retention.md). What a disposition or erasure
    //     removed is kept as numbers and hashes, never content: each
    //     removal, the conversations and versions it removed (their
    //     numbers stay in the sightings bitmaps, and no later row may
    //     take them), the quarantined rows and records it removed per
    //     export (so the exports' recorded counts still reconcile), and
    //     every stored original it replaced by a derivative or deleted.
    // Schema 10.
    Migration {
        sql: r#"
CREATE TABLE disposals (
    id                 INTEGER PRIMARY KEY,
    ledger_seq         INTEGER NOT NULL UNIQUE,
    kind               TEXT NOT NULL CHECK (kind IN ('disposition', 'erasure')),
    at_ms              INTEGER NOT NULL,
    certificate_sha256 TEXT NOT NULL
) STRICT;
CREATE TABLE disposed_conversations (
    -- Its `conversations.id` when it was stored: its number in the
    -- sightings bitmaps.
    conversation_id INTEGER PRIMARY KEY,
    identifier      TEXT NOT NULL,
    first_export_id INTEGER NOT NULL REFERENCES exports(id),
    disposal_id     INTEGER NOT NULL REFERENCES disposals(id),
    entries         INTEGER NOT NULL
) STRICT;
CREATE INDEX disposed_conversations_identifier ON disposed_conversations(identifier);
-- With its entry identifier (an Id, not content): what an export held
-- and the next one lacks is counted by entry (`sightings::missing`).
CREATE TABLE disposed_versions (
    seq             INTEGER PRIMARY KEY,
    export_id       INTEGER NOT NULL REFERENCES exports(id),
    conversation_id INTEGER NOT NULL,
    identifier      TEXT NOT NULL,
    version         INTEGER NOT NULL,
    disposal_id     INTEGER NOT NULL REFERENCES disposals(id)
) STRICT;
CREATE INDEX disposed_versions_entry ON disposed_versions(conversation_id, identifier);
CREATE TABLE disposed_rows (
    disposal_id INTEGER NOT NULL REFERENCES disposals(id),
    export_id   INTEGER NOT NULL REFERENCES exports(id),
    quarantined INTEGER NOT NULL,
    records     INTEGER NOT NULL,
    PRIMARY KEY (disposal_id, export_id)
) STRICT;
CREATE TABLE derivatives (
    id          INTEGER PRIMARY KEY,
    disposal_id INTEGER NOT NULL REFERENCES disposals(id),
    export_id   INTEGER NOT NULL REFERENCES exports(id),
    path        TEXT NOT NULL,
    old_sha256  TEXT NOT NULL,
    old_bytes   INTEGER NOT NULL,
    -- NULL: nothing was left, the original was deleted.
    new_sha256  TEXT,
    new_bytes   INTEGER
) STRICT;
CREATE INDEX derivatives_export ON derivatives(export_id);
"#,
        then: None,
    },
    // 11: exports in the order they were generated, not ingested
    //     (docs/archive-format.md, "Time order"). `generated_ms` is the
    //     export's generation time as its ledger record gives it, else
    //     when it was ingested; exports are ordered by it, then by id.
    //     Filled from each export's `export-ingested` record (the newest
    //     one naming it), in SQL alone. Partial indexes list the entries
    //     with more than one version, and end users' own entries by
    //     their sender subject.
    // Schema 11.
    Migration {
        sql: r#"
ALTER TABLE exports ADD COLUMN generated_ms INTEGER;
UPDATE exports SET generated_ms = coalesce(
    (SELECT CAST(round((julianday(json_extract(l.details, '$.generated_at')) - 2440587.5) * 86400000) AS INTEGER)
     FROM ledger l
     WHERE l.kind = 'export-ingested' AND json_extract(l.details, '$.export_id') = exports.id
     ORDER BY l.seq DESC LIMIT 1),
    ingested_at_ms);
CREATE INDEX exports_time ON exports(kind, generated_ms, id);
-- The entries with more than one version (a minority): those whose
-- versions an older export ingested later may renumber, and that verify
-- checks for time order, found without reading every entry.
CREATE INDEX entries_later_versions ON entries(conversation_id, identifier) WHERE version > 1;
-- An end user as the transcript export names them: the sender subject of
-- their own entries (`v2/iamessage/UNAUTH/NA/uid:…`, a phone number on
-- SMS). Erasure, holds and `enduser:` find their conversations by it.
CREATE INDEX entries_end_user_subject ON entries(sender_subject, conversation_id)
    WHERE sender_role = 'EndUser';
"#,
        then: None,
    },
];

/// The schema version this build writes and reads.
pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

fn user_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Applies the missing migrations in one transaction.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    migrate_to(conn, path, LATEST_VERSION)
}

/// Applies the migrations up to version `target`.
fn migrate_to(conn: &mut Connection, path: &Path, target: i64) -> Result<()> {
    let found = user_version(conn)?;
    refuse_newer(found, path)?;
    if found >= target {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Read again under the write lock: another process may have migrated.
    let found = user_version(&tx)?;
    refuse_newer(found, path)?;
    for (i, step) in MIGRATIONS
        .iter()
        .enumerate()
        .take(target as usize)
        .skip(found as usize)
    {
        tx.execute_batch(step.sql)?;
        if let Some(then) = step.then {
            then(&tx)?;
        }
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// For read-only connections: the schema must be exactly the current one.
pub(super) fn check(conn: &Connection, path: &Path) -> Result<()> {
    let found = user_version(conn)?;
    refuse_newer(found, path)?;
    if found < LATEST_VERSION {
        return Err(Error::SchemaTooOld {
            path: path.to_owned(),
            found,
            supported: LATEST_VERSION,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new archive database brought to schema `version`; the directory
    /// lives as long as the first element.
    fn at_version(version: i64) -> (tempfile::TempDir, std::path::PathBuf, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let mut conn = Connection::open(&path).unwrap();
        migrate_to(&mut conn, &path, version).unwrap();
        (dir, path, conn)
    }

    /// The whole current schema of a new archive, every table, index,
    /// trigger and view as SQLite holds it: the one place a reader finds
    /// it, and a change to it shows in review (docs/archive-format.md
    /// explains each table; CHANGELOG.md each version).
    #[test]
    fn the_current_schema_is_pinned() {
        let (_dir, _path, conn) = at_version(LATEST_VERSION);
        let mut stmt = conn
            .prepare(
                "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema
                 WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .unwrap();
        let rows: Vec<String> = stmt
            .query_map([], |r| {
                Ok(format!(
                    "-- {} {} (on {})\n{};\n",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        insta::assert_snapshot!(
            "current_schema",
            format!("-- user_version {LATEST_VERSION}\n\n{}", rows.join("\n"))
        );
    }

    #[test]
    fn migrates_once_and_refuses_newer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite");
        let mut conn = Connection::open(&path).unwrap();
        migrate(&mut conn, &path).unwrap();
        assert_eq!(user_version(&conn).unwrap(), LATEST_VERSION);
        migrate(&mut conn, &path).unwrap();
        conn.pragma_update(None, "user_version", LATEST_VERSION + 1)
            .unwrap();
        let err = migrate(&mut conn, &path).unwrap_err();
        assert!(matches!(err, Error::SchemaTooNew { .. }), "{err}");
        assert!(check(&conn, &path).is_err());
    }

    #[test]
    fn an_archive_of_schema_6_gets_the_merge_setting() {
        use rusqlite::OptionalExtension;
        let (_dir, path, mut conn) = at_version(6);
        let automerge = |c: &Connection| -> Option<i64> {
            c.query_row(
                "SELECT v FROM entries_fts_config WHERE k = 'automerge'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap()
        };
        assert_eq!(automerge(&conn), None, "schema 6 keeps FTS5's default");
        migrate(&mut conn, &path).unwrap();
        assert_eq!(automerge(&conn), Some(8));
        assert_eq!(user_version(&conn).unwrap(), LATEST_VERSION);
    }

    /// Row hashes of the field-by-field form (schema 7) would match no
    /// row hashed by its raw bytes: the migration drops them.
    #[test]
    fn an_archive_of_schema_7_loses_its_old_row_hashes() {
        let (_dir, path, mut conn) = at_version(7);
        conn.execute_batch(
            "INSERT INTO exports (id, ingested_at_ms, convault_version) VALUES (1, 1794000000000, '0.1.0');
             INSERT INTO conversations (id, identifier, first_export_id) VALUES (1, 'c1', 1);
             INSERT INTO row_hashes (conversation_id, row_hash, seq) VALUES (1, x'00112233445566778899aabbccddeeff', 1);",
        )
        .unwrap();
        migrate(&mut conn, &path).unwrap();
        let left: i64 = conn
            .query_row("SELECT count(*) FROM row_hashes", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0);
        assert_eq!(user_version(&conn).unwrap(), LATEST_VERSION);
    }

    /// Versions whose text a later version repeats are found once, when
    /// the archive is upgraded; a changed text is not a repeat.
    #[test]
    fn an_archive_of_schema_8_gets_its_repeated_versions_listed() {
        let (_dir, path, mut conn) = at_version(8);
        conn.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO conversations (id, identifier, first_export_id) VALUES (1, 'c1', 1);
             INSERT INTO entries (id, seq, identifier, version, conversation_id, entry_type, entry_type_raw,
                                  is_message, related_records, text, content_hash, export_id, member_id)
             VALUES (10, 1, 'a', 1, 1, 'message', 'Message', 1, '[]', 'same', 'h1', 1, 1),
                    (11, 2, 'a', 2, 1, 'message', 'Message', 1, '[]', 'same', 'h2', 1, 1),
                    (12, 3, 'a', 3, 1, 'message', 'Message', 1, '[]', 'edited', 'h3', 1, 1),
                    (20, 4, 'b', 1, 1, 'message', 'Message', 1, '[]', 'old', 'h4', 1, 1),
                    (21, 5, 'b', 2, 1, 'message', 'Message', 1, '[]', 'new', 'h5', 1, 1),
                    (30, 6, 'c', 1, 1, 'message', 'Message', 1, '[]', NULL, 'h6', 1, 1),
                    (31, 7, 'c', 2, 1, 'message', 'Message', 1, '[]', NULL, 'h7', 1, 1);",
        )
        .unwrap();
        migrate(&mut conn, &path).unwrap();
        let listed: Vec<i64> = conn
            .prepare("SELECT entry_id FROM entry_repeats ORDER BY 1")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(listed, [10, 30]);
    }

    #[test]
    fn an_archive_from_before_the_ledger_gets_its_exports_recorded() {
        let (_dir, path, mut conn) = at_version(1);
        conn.execute_batch(
            "INSERT INTO exports (id, ingested_at_ms, convault_version, entries_read, entries_new)
                 VALUES (1, 1794000000000, '0.1.0', 5, 5);
             INSERT INTO files (export_id, path, bytes, sha256, container)
                 VALUES (1, 'x/transcripts.zip', 10, 'ab', 'zip');",
        )
        .unwrap();
        migrate(&mut conn, &path).unwrap();
        let records = crate::ledger::read_all(&conn).unwrap();
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.kind, "export-ingested");
        assert_eq!(r.details["backfilled"], true);
        assert_eq!(r.details["export_id"], 1);
        assert_eq!(r.details["entries_new"], 5);
        assert_eq!(r.details["files"][0]["sha256"], "ab");
        assert_eq!(r.time, "2026-11-06T21:20:00.000Z");
        assert!(crate::ledger::verify::verify(&records, None).ok);
    }

    #[test]
    fn records_from_before_profiles_get_their_mapped_fields() {
        let (_dir, path, mut conn) = at_version(4);
        // A Data Export Service file whose headers were upper case.
        conn.execute_batch(
            r#"INSERT INTO exports (id, ingested_at_ms, convault_version) VALUES (1, 1794000000000, '0.1.0');
               INSERT INTO files (id, export_id, path, bytes, sha256, container) VALUES (1, 1, 'WE_1.ZIP', 10, 'ab', 'zip');
               INSERT INTO members (id, file_id, name, status, shape) VALUES (1, 1, 'MessagingSession.csv', 'read', 'des-messaging-session');
               INSERT INTO records (object, record_id, conversation_ref, fields, content_hash, export_id, member_id)
                 VALUES ('MessagingSession', '0Mw1', '0dw1',
                   '{"CASEID":"500x","CONVERSATIONID":"0dw1","ID":"0Mw1","MESSAGINGCHANNELID":"0Mj1","MESSAGINGENDUSERID":"0PA1","Extra":"e"}',
                   'h', 1, 1);"#,
        )
        .unwrap();
        migrate(&mut conn, &path).unwrap();
        let mapped: String = conn
            .query_row("SELECT mapped FROM records", [], |r| r.get(0))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&mapped).unwrap();
        assert_eq!(v["CaseId"], "500x", "{mapped}");
        assert_eq!(v["MessagingEndUserId"], "0PA1");
        assert_eq!(v["Extra"], "e");
    }
}
