//! A year of weekly complete exports (issue 11): what each week adds,
//! keeps, changes and lacks; sightings that stay small and are proved from
//! the originals; newest-first search; an archive from schema 5 upgraded.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::support::synth::{Message, Parts, WeekCounts, Weekly, write_messages};
use super::{convault, count, db, fixture, ingest, show_json, verify_json};

const SERIES: Weekly = Weekly {
    per_week: 2_400,
    seed: 11,
};

/// Ingests weeks 1..=`weeks` of [`SERIES`] into a new archive, checking
/// each week's report against what the generator wrote.
fn series(weeks: u64) -> (tempfile::TempDir, PathBuf, Vec<WeekCounts>) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let mut all = Vec::new();
    for week in 1..=weeks {
        let zip = tmp.path().join(format!("week-{week}.zip"));
        let want = SERIES.write_week(&zip, week, 1_000).unwrap();
        let r = ingest(&archive, &[&zip]);
        let got = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
        assert_eq!(got("entries_read"), want.entries, "week {week}: {r}");
        assert_eq!(got("entries_new"), want.new, "week {week}");
        assert_eq!(got("entries_unchanged"), want.unchanged, "week {week}");
        assert_eq!(got("entries_changed"), want.changed, "week {week}");
        if week == 1 {
            assert_eq!(r["entries_missing"], Value::Null);
            assert_eq!(r["compared_with_export"], Value::Null);
        } else {
            assert_eq!(got("entries_missing"), want.missing_entries, "week {week}");
            assert_eq!(
                got("conversations_missing"),
                want.missing_conversations,
                "week {week}"
            );
            assert_eq!(r["compared_with_export"], week as i64 - 1);
        }
        assert_eq!(r["export_kind"], "transcripts");
        all.push(want);
        std::fs::remove_file(&zip).unwrap();
    }
    (tmp, archive, all)
}

/// The benchmark's parts of a week (benches/weekly.rs) hold what they
/// say: the changes alone add no entry, the new conversations alone change
/// none; the ingest counts agree with the generator. The new conversations
/// with nothing older make every entry and conversation the export before
/// held missing, each counted once (edited entries too).
#[test]
fn a_week_in_parts_counts_as_the_generator_wrote() {
    let (tmp, archive, _) = series(2);
    let part = |week, new, changes, old| {
        let zip = tmp.path().join("part.zip");
        let want = SERIES
            .write_week_parts(&zip, week, 1_000, Parts { new, changes, old })
            .unwrap();
        let r = ingest(&archive, &[&zip]);
        let got = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} in {r}"));
        assert_eq!(got("entries_new"), want.new, "{r}");
        assert_eq!(got("entries_changed"), want.changed, "{r}");
        assert_eq!(got("entries_unchanged"), want.unchanged, "{r}");
        (want, got("entries_missing"), got("conversations_missing"))
    };
    let (changes, missing, _) = part(3, false, true, true);
    assert_eq!(changes.new, 0);
    assert!(
        changes.changed > 0 && changes.missing_entries > 0,
        "{changes:?}"
    );
    assert_eq!(missing, changes.missing_entries);
    let (new, missing, _) = part(3, true, false, true);
    assert_eq!(
        (new.new, new.changed),
        (SERIES.per_week.next_multiple_of(24), 0)
    );
    // The deleted conversations are back (as week 2 held them): nothing
    // the previous export held is missing.
    assert_eq!(missing, 0);
    let (only, missing, conversations) = part(4, true, false, false);
    assert_eq!((only.new, only.entries), (new.new, new.new), "{only:?}");
    assert_eq!((missing, conversations), (new.entries, new.conversations));
}

#[test]
fn each_week_counts_new_unchanged_changed_and_missing_at_the_source() {
    let (_tmp, archive, weeks) = series(4);
    // The series exercises every case (fixed seed: this guards the test).
    let total = |f: fn(&WeekCounts) -> u64| weeks.iter().map(f).sum::<u64>();
    assert!(total(|w| w.changed) > 20, "{weeks:?}");
    assert!(total(|w| w.missing_conversations) >= 2, "{weeks:?}");
    let conn = db(&archive);
    // Nothing is lost: every version ever read is still there.
    let stored = total(|w| w.new) + total(|w| w.changed);
    assert_eq!(count(&conn, "SELECT count(*) FROM entries") as u64, stored);
    // One sightings row per export, not one row per entry per export.
    assert_eq!(count(&conn, "SELECT count(*) FROM export_sightings"), 4);
    let (bytes, seen): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT sum(length(bits)) FROM sighting_parts WHERE export_id = 4), entry_count
             FROM export_sightings WHERE export_id = 4",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(seen as u64, weeks[3].entries);
    assert!(
        (bytes as f64) < 2.0 * seen as f64,
        "{bytes} bytes of sightings for {seen} entries"
    );
    // Every version was decided by its row's own content: each row is
    // known, and later weeks recognised their unchanged rows unparsed.
    assert_eq!(
        count(&conn, "SELECT count(*) FROM row_hashes") as u64,
        stored
    );
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

#[test]
fn a_wrong_known_row_is_found_before_it_can_hide_an_edit() {
    let (_tmp, archive, _) = series(2);
    // Point one known row at another version of its conversation: a full
    // verify cannot tell (same conversation); the originals can.
    db(&archive)
        .execute_batch(
            "UPDATE row_hashes SET seq = seq + 1 WHERE (conversation_id, row_hash) = (
                 SELECT conversation_id, row_hash FROM row_hashes h
                 WHERE EXISTS (SELECT 1 FROM entries e WHERE e.seq = h.seq + 1
                               AND e.conversation_id = h.conversation_id)
                 ORDER BY conversation_id, row_hash LIMIT 1);",
        )
        .unwrap();
    convault(&archive).arg("verify").assert().success();
    let k = failure_kinds(&archive, &["--rederive"]);
    assert_kind(&k, "rederive-row-hash");
    // One pointing into another conversation: a full verify sees it.
    db(&archive)
        .execute_batch(
            "UPDATE row_hashes SET seq = (SELECT min(seq) FROM entries e
                 WHERE e.conversation_id != row_hashes.conversation_id)
             WHERE (conversation_id, row_hash) = (
                 SELECT conversation_id, row_hash FROM row_hashes ORDER BY conversation_id DESC LIMIT 1);",
        )
        .unwrap();
    let k = failure_kinds(&archive, &[]);
    assert!(k.iter().any(|(kind, _)| kind == "row-hash"), "{k:?}");
}

#[test]
fn a_conversation_deleted_at_the_source_is_kept_and_marked() {
    let (_tmp, archive, _) = series(4);
    let deleted: Vec<(u64, String)> = (2..=4)
        .flat_map(|w| SERIES.deleted_in(w).into_iter().map(move |c| (w, c)))
        .collect();
    let (week, conversation) = deleted.first().expect("a deleted conversation").clone();
    let t = show_json(&archive, &conversation);
    assert_eq!(t["entries"].as_array().unwrap().len(), 24, "kept whole");
    // Each version shown was contained by every export from its first up
    // to the one before the deletion, and by none since.
    for e in t["entries"].as_array().unwrap() {
        let exports: Vec<i64> = e["exports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect();
        let first = *exports.first().expect("held by some export");
        assert_eq!(exports, (first..week as i64).collect::<Vec<_>>(), "{e}");
    }
    // The latest transcripts export (4) lacks it; the week before its
    // deletion was the last to hold it.
    assert_eq!(t["absent"]["absent_from_export"], 4);
    assert_eq!(t["absent"]["last_held_by_export"], week as i64 - 1);
    let text = convault(&archive)
        .args(["show", &conversation])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains(&format!(
            "deleted at the source: export 4 (the latest of its kind) does not hold this conversation; export {} did",
            week - 1
        )),
        "{text}"
    );
    // A conversation still exported carries no mark.
    let kept: String = db(&archive)
        .query_row(
            "SELECT identifier FROM conversations WHERE first_export_id = 4 LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let t = show_json(&archive, &kept);
    assert!(t.get("absent").is_none(), "{t}");
    assert!(t["entries"][0].get("absent").is_none());
}

/// Replaces export `export`'s entries bitmap with `f` of it; with
/// `recount`, the recorded count follows (a careful tamperer).
fn tamper_sightings(
    archive: &Path,
    export: i64,
    recount: bool,
    f: impl Fn(&mut roaring::RoaringBitmap),
) {
    let conn = db(archive);
    let parts: Vec<Vec<u8>> = conn
        .prepare("SELECT bits FROM sighting_parts WHERE export_id = ?1 AND bitmap = 'entries'")
        .unwrap()
        .query_map([export], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut b = roaring::RoaringBitmap::new();
    for p in parts {
        b |= roaring::RoaringBitmap::deserialize_from(&p[..]).unwrap();
    }
    f(&mut b);
    conn.execute(
        "DELETE FROM sighting_parts WHERE export_id = ?1 AND bitmap = 'entries'",
        [export],
    )
    .unwrap();
    // Stored again in parts of 2^20 values, as convault stores them.
    let mut parts = std::collections::BTreeMap::<u32, roaring::RoaringBitmap>::new();
    for v in &b {
        parts.entry(v >> 20).or_default().insert(v);
    }
    for (part, bits) in parts {
        let mut out = Vec::new();
        bits.serialize_into(&mut out).unwrap();
        conn.execute(
            "INSERT INTO sighting_parts (export_id, bitmap, part, bits) VALUES (?1, 'entries', ?2, ?3)",
            rusqlite::params![export, part, out],
        )
        .unwrap();
    }
    if recount {
        conn.execute(
            "UPDATE export_sightings SET entry_count = ?2 WHERE export_id = ?1",
            rusqlite::params![export, b.len() as i64],
        )
        .unwrap();
    }
}

/// `kind` is among the failures `k`.
fn assert_kind(k: &[(String, String)], kind: &str) {
    assert!(k.iter().any(|(x, _)| x == kind), "{kind} not in {k:?}");
}

fn failure_kinds(archive: &Path, args: &[&str]) -> Vec<(String, String)> {
    verify_json(archive, args, 3)["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["item"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn tampered_sightings_are_found_by_verify_and_by_the_originals() {
    let (_tmp, archive, _) = series(2);
    // The first version week 2 saw again: in week 1's range of seq.
    let seq: i64 = count(
        &db(&archive),
        "SELECT min(seq) FROM entries WHERE export_id = 1",
    );
    let (identifier, version): (String, i64) = db(&archive)
        .query_row(
            "SELECT identifier, version FROM entries WHERE seq = ?1",
            [seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    // The bitmap changed, its count not: a full verify sees it.
    tamper_sightings(&archive, 2, false, |b| {
        b.remove(seq as u32);
    });
    let k = failure_kinds(&archive, &[]);
    assert!(
        k.iter()
            .any(|(kind, item)| kind == "sightings" && item == "export 2"),
        "{k:?}"
    );
    // Recounted too: only the originals show week 2 held that entry.
    tamper_sightings(&archive, 2, true, |_| {});
    let k = failure_kinds(&archive, &["--rederive"]);
    assert!(
        k.iter().any(|(kind, item)| kind == "rederive-sightings"
            && item == &format!("export 2: entry {identifier} version {version}")),
        "{k:?}"
    );
    // A version the export never held, added: named the same way.
    tamper_sightings(&archive, 2, true, |b| {
        b.insert(seq as u32);
        b.remove(seq as u32 + 1);
    });
    let k = failure_kinds(&archive, &["--rederive"]);
    assert_kind(&k, "rederive-sightings");
    // Damaged bytes: named, never a crash.
    db(&archive)
        .execute(
            "UPDATE sighting_parts SET bits = x'00010203' WHERE export_id = 2 AND bitmap = 'entries'",
            [],
        )
        .unwrap();
    let k = failure_kinds(&archive, &[]);
    assert!(
        k.iter()
            .any(|(kind, item)| kind == "sightings" && item == "export 2"),
        "{k:?}"
    );
}

#[test]
fn the_related_records_index_is_checked_against_the_entries() {
    let (_tmp, archive, _) = series(1);
    db(&archive)
        .execute_batch(
            "DELETE FROM entry_related WHERE record_id = (SELECT min(record_id) FROM entry_related);
             INSERT INTO entry_related VALUES ('0MwNOSUCHSESSION', 1);",
        )
        .unwrap();
    let k = failure_kinds(&archive, &[]);
    let related: Vec<_> = k
        .iter()
        .filter(|(kind, _)| kind == "related-index")
        .collect();
    assert_eq!(related.len(), 2, "{k:?}");
    assert!(
        related
            .iter()
            .any(|(_, item)| item.contains("0MwNOSUCHSESSION"))
    );
}

#[test]
fn the_full_text_index_is_declared_as_datasette_finds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(super::WEEK1)]);
    let conn = db(&archive);
    // Datasette's detect_fts: the FTS table whose SQL matches this pattern
    // is the full-text index of `entries`, joined on rowid.
    let found: String = conn
        .query_row(
            r#"SELECT name FROM sqlite_master
               WHERE rootpage = 0 AND (sql LIKE '%VIRTUAL TABLE%USING FTS%content="entries"%'
                                       OR sql LIKE '%VIRTUAL TABLE%USING FTS%content=[entries]%')"#,
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(found, "entries_fts");
    // Its rowids are the entries' rowids: a match joins to the entry.
    let joined = count(
        &conn,
        "SELECT count(*) FROM entries e JOIN entries_fts f ON f.rowid = e.rowid
         WHERE entries_fts MATCH 'refund' AND e.text LIKE '%refund%'",
    );
    let matches = count(
        &conn,
        "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH 'refund'",
    );
    assert!(matches > 0);
    assert_eq!(joined, matches);
}

/// A plain CSV export: (identifier, time in ms or empty, text), all in one
/// conversation.
pub(crate) fn csv_export(path: &Path, rows: &[(&str, &str, &str)]) {
    let messages = rows.iter().map(|&(id, ms, text)| Message {
        id,
        ms,
        text,
        sender: r#"{"role":"Agent","appType":"agent","subject":"005x"}"#,
    });
    write_messages(path, "5b0d3c1e-8a47-4f2e-9c61-2d7e4a9b0f13", messages).unwrap();
}

/// Writes `csv`'s rows again, every field quoted, the columns in reverse
/// order, and `extra` appended: the same entries in other bytes.
fn rewrite(csv: &Path, to: &Path, quote_all: bool, reverse: bool, extra: Option<&[String]>) {
    let mut rows: Vec<Vec<String>> = csv::Reader::from_path(csv)
        .unwrap()
        .into_records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let mut header: Vec<String> = csv::Reader::from_path(csv)
        .unwrap()
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    rows.extend(extra.map(<[String]>::to_vec));
    if reverse {
        header.reverse();
        rows.iter_mut().for_each(|r| r.reverse());
    }
    let mut w = csv::WriterBuilder::new()
        .quote_style(if quote_all {
            csv::QuoteStyle::Always
        } else {
            csv::QuoteStyle::Necessary
        })
        .from_path(to)
        .unwrap();
    w.write_record(&header).unwrap();
    for r in rows {
        w.write_record(&r).unwrap();
    }
    w.flush().unwrap();
}

/// A row is known by its bytes; the same entry written in other bytes
/// (fields quoted that need not be, columns in another order) is parsed
/// again and found to be the version stored: unchanged, never a new
/// version, and known in its new form from then on.
#[test]
fn the_same_rows_in_other_bytes_are_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let week1 = tmp.path().join("week1.csv");
    csv_export(
        &week1,
        &[
            (
                "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
                "1794800000000",
                "refund please",
            ),
            (
                "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a",
                "1794800001000",
                "which order",
            ),
            (
                "2e3f4a5b-6c7d-4e8f-9a0b-1c2d3e4f5a6b",
                "1794800002000",
                "the blue one",
            ),
        ],
    );
    ingest(&archive, &[&week1]);
    assert_eq!(count(&db(&archive), "SELECT count(*) FROM row_hashes"), 3);
    let counts = |r: &Value| {
        ["entries_new", "entries_unchanged", "entries_changed"].map(|k| r[k].as_u64().unwrap())
    };
    let quoted = tmp.path().join("week2.csv");
    rewrite(&week1, &quoted, true, false, None);
    assert_eq!(counts(&ingest(&archive, &[&quoted])), [0, 3, 0]);
    // Both forms of each row are known now, each as its one version.
    let conn = db(&archive);
    assert_eq!(count(&conn, "SELECT count(*) FROM row_hashes"), 6);
    assert_eq!(
        count(&conn, "SELECT count(DISTINCT seq) FROM row_hashes"),
        3
    );
    assert_eq!(count(&conn, "SELECT count(*) FROM entries"), 3);
    // Columns in another order: another mapping, another row hash.
    let reversed = tmp.path().join("week3.csv");
    let extra = [
        "3f4a5b6c-7d8e-4f9a-8b1c-2d3e4f5a6b7c",
        "5b0d3c1e-8a47-4f2e-9c61-2d7e4a9b0f13",
        "Message",
        r#"{"entryType":"Message","abstractMessage":{"messageType":"StaticContentMessage","staticContent":{"formatType":"Text","text":"thanks"}}}"#,
        r#"{"role":"EndUser","appType":"custom","subject":"u1"}"#,
        "1794800003000",
        "[]",
    ]
    .map(str::to_owned);
    rewrite(&quoted, &reversed, true, true, Some(&extra));
    assert_eq!(counts(&ingest(&archive, &[&reversed])), [1, 3, 0]);
    assert_eq!(count(&db(&archive), "SELECT count(*) FROM row_hashes"), 10);
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

fn hit_entries(archive: &Path, query: &[&str]) -> Vec<String> {
    let out = convault(archive)
        .args(["search", "--json"])
        .args(query)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let hits: Vec<Value> = serde_json::from_slice(&out).unwrap();
    hits.iter()
        .map(|h| h["entry"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn search_is_newest_first_with_ties_and_missing_times_in_a_fixed_order() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let id = |n: u32| format!("0b6c{n:04x}-1d2e-4f3a-8b4c-5d6e7f8a9b0c");
    let ids: Vec<String> = (1..=6).map(id).collect();
    // 2026-11-09T10:00:00Z and a second later; two entries share a time;
    // two have none. Stored in this order.
    let t0 = "1794218400000";
    let t1 = "1794218401000";
    let first = tmp.path().join("one.csv");
    csv_export(
        &first,
        &[
            (&ids[0], t0, "refund alpha"),
            (&ids[1], t1, "refund bravo"),
            (&ids[2], "", "refund charlie"),
            (&ids[3], t0, "refund delta"),
        ],
    );
    ingest(&archive, &[&first]);
    let second = tmp.path().join("two.csv");
    csv_export(
        &second,
        &[
            (&ids[4], "", "refund echo"),
            (&ids[5], "1794218399999", "refund foxtrot"),
        ],
    );
    ingest(&archive, &[&second]);
    // Newest first; of equal times the later stored first; no time last,
    // the later stored first.
    let want: Vec<&str> = [1, 3, 0, 5, 4, 2]
        .iter()
        .map(|&i| ids[i].as_str())
        .collect();
    assert_eq!(hit_entries(&archive, &["refund"]), want);
    // Oldest first is exactly the reverse, ties and missing times included.
    let reversed: Vec<&str> = want.iter().rev().copied().collect();
    assert_eq!(
        hit_entries(&archive, &["--sort", "oldest", "refund"]),
        reversed
    );
    assert_eq!(
        hit_entries(
            &archive,
            &[
                "--sort",
                "oldest",
                "conversation:5b0d3c1e-8a47-4f2e-9c61-2d7e4a9b0f13"
            ]
        ),
        reversed
    );
    // Pages of two, in either order, give each hit once, in order.
    for (sort, order) in [("newest", &want), ("oldest", &reversed)] {
        let mut paged = Vec::new();
        for offset in [0, 2, 4, 6] {
            let page = hit_entries(
                &archive,
                &[
                    "--sort",
                    sort,
                    "--limit",
                    "2",
                    "--offset",
                    &offset.to_string(),
                    "refund",
                ],
            );
            assert!(page.len() <= 2);
            paged.extend(page);
        }
        assert_eq!(&paged, order, "--sort {sort}");
    }
    // Filters alone list the same order.
    assert_eq!(
        hit_entries(
            &archive,
            &["conversation:5b0d3c1e-8a47-4f2e-9c61-2d7e4a9b0f13"]
        ),
        want
    );
    // after: is inclusive, before: exclusive, and both leave out entries
    // with no time.
    assert_eq!(
        hit_entries(&archive, &["refund", "after:2026-11-09T10:00:00Z"]),
        [ids[1].clone(), ids[3].clone(), ids[0].clone()]
    );
    assert_eq!(
        hit_entries(&archive, &["refund", "before:2026-11-09T10:00:00Z"]),
        [ids[5].clone()]
    );
    assert_eq!(
        hit_entries(
            &archive,
            &["refund", "after:2026-11-09", "before:2026-11-10"]
        ),
        [
            ids[1].clone(),
            ids[3].clone(),
            ids[0].clone(),
            ids[5].clone()
        ]
    );
    assert_eq!(
        hit_entries(&archive, &["refund", "after:2026-11-10"]),
        Vec::<String>::new()
    );
    // A quoted run of words is a phrase: those words, together, in order.
    assert_eq!(
        hit_entries(&archive, &["\"refund alpha\""]),
        [ids[0].clone()]
    );
    assert!(hit_entries(&archive, &["\"alpha refund\""]).is_empty());
    // A bad time is a usage error that says what to give.
    convault(&archive)
        .args(["search", "refund", "after:yesterday"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "after:yesterday is not a date or time",
        ));
}

#[test]
fn an_archive_written_by_schema_5_upgrades_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    copy_dir(&fixture("archive-schema5"), &archive);
    let before = db(&archive);
    assert_eq!(count(&before, "PRAGMA user_version"), 5);
    // What schema 5 held: every version and every sighting row.
    let versions = count(&before, "SELECT count(*) FROM entries");
    let sightings: Vec<(i64, i64)> = before
        .prepare(
            "SELECT export_id, count(*) FROM (
                 SELECT export_id, id FROM entries
                 UNION SELECT export_id, entry_id FROM entry_sightings)
             GROUP BY export_id ORDER BY export_id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    drop(before);
    let after = upgrade_and_verify(&archive);
    assert_eq!(count(&after, "SELECT count(*) FROM entries"), versions);
    let now: Vec<(i64, i64)> = after
        .prepare("SELECT export_id, entry_count FROM export_sightings ORDER BY export_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    // Export 3 (records only) held no entries.
    let mut want = sightings.clone();
    want.push((3, 0));
    want.sort();
    assert_eq!(now, want);
    // The kinds come from the ledger; the second transcripts export is
    // compared with the first (it lacks conversation B).
    let kinds: Vec<(i64, Option<String>, Option<i64>)> = after
        .prepare("SELECT id, kind, conversations_missing FROM exports ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds[0], (1, Some("transcripts".into()), None));
    assert_eq!(kinds[2].1.as_deref(), Some("data-export"));
    assert_eq!(kinds[4], (5, Some("transcripts".into()), Some(1)));
    // Search works on the upgraded archive, newest first.
    let hits = hit_entries(&archive, &["refund"]);
    assert!(hits.len() >= 5, "{hits:?}");
    // And the next weekly ingest goes on from it.
    let week3 = tmp.path().join("week3.csv");
    csv_export(
        &week3,
        &[(
            "7f3e2d1c-0b9a-4e8d-9c7b-6a5f4e3d2c1b",
            "1794900000000",
            "refund later",
        )],
    );
    ingest(&archive, &[&week3]);
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

/// Checks that a reader refuses an archive of an older schema, then
/// upgrades it with `verify --rederive` (a writer), which must pass, and
/// returns it open at the latest schema (8).
fn upgrade_and_verify(archive: &Path) -> rusqlite::Connection {
    convault(archive)
        .args(["search", "refund"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("older than this convault"));
    let r = verify_json(archive, &["--rederive"], 0);
    assert_eq!(r["ok"], true, "{r}");
    let after = db(archive);
    assert_eq!(
        count(&after, "PRAGMA user_version"),
        convault::archive::LATEST_VERSION
    );
    // Row hashes of the old form are gone: they would match nothing.
    assert_eq!(count(&after, "SELECT count(*) FROM row_hashes"), 0);
    assert_eq!(
        count(
            &after,
            "SELECT v FROM entries_fts_config WHERE k = 'automerge'"
        ),
        8
    );
    after
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
            let mut p = std::fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            p.set_readonly(false);
            std::fs::set_permissions(&target, p).unwrap();
        }
    }
}

#[test]
fn an_archive_written_by_schema_6_upgrades_and_answers_as_a_new_one() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    copy_dir(&fixture("archive-schema6"), &archive);
    assert_eq!(count(&db(&archive), "PRAGMA user_version"), 6);
    // The same two weeks, ingested by this build.
    let fresh = tmp.path().join("fresh");
    ingest(&fresh, &[&fixture("transcripts-2026-11-09.zip")]);
    ingest(&fresh, &[&fixture("transcripts-2026-11-16.zip")]);
    let after = upgrade_and_verify(&archive);
    // The whole bitmaps moved into parts.
    assert_eq!(
        count(
            &after,
            "SELECT count(*) FROM pragma_table_info('export_sightings')
             WHERE name IN ('entries', 'conversations')"
        ),
        0
    );
    assert_eq!(
        count(
            &after,
            "SELECT count(DISTINCT export_id) FROM sighting_parts"
        ),
        2
    );
    // Every transcript (exports held, edits, deletion at the source) and
    // a search read the same from the upgraded archive as from the new.
    let conversations: Vec<String> = after
        .prepare("SELECT identifier FROM conversations ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(conversations.len(), 3);
    for c in &conversations {
        assert_eq!(show_json(&archive, c), show_json(&fresh, c), "{c}");
    }
    assert_eq!(
        hit_entries(&archive, &["refund"]),
        hit_entries(&fresh, &["refund"])
    );
}
