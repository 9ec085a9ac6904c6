//! `verify` and `receipt`: a clean archive passes; every kind of tampering
//! is named, all at once, with exit 3.

use std::path::{Path, PathBuf};

use predicates::prelude::*;
use serde_json::Value;

use super::{CONV_A, WEEK1, WEEK2, convault, count, db, fixture, sha256_file, verify_json};

fn both() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    for week in [WEEK1, WEEK2] {
        convault(&archive)
            .arg("ingest")
            .arg(fixture(week))
            .assert()
            .success();
    }
    (tmp, archive)
}

fn kinds(report: &Value) -> Vec<String> {
    let mut k: Vec<String> = report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap().to_owned())
        .collect();
    k.sort();
    k.dedup();
    k
}

fn object(archive: &Path, week: &str) -> PathBuf {
    let sha = sha256_file(&fixture(week));
    archive.join("objects/sha256").join(&sha[..2]).join(sha)
}

/// Flips one byte in the middle of a (read-only) stored object.
fn flip_byte(path: &Path) {
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

fn sql(archive: &Path, sql: &str) {
    db(archive).execute_batch(sql).unwrap();
}

#[test]
fn a_clean_archive_verifies_at_every_level_and_each_run_is_recorded() {
    let (_tmp, archive) = both();
    for (args, level) in [
        (&[][..], "full"),
        (&["--fast"][..], "fast"),
        (&["--rederive"][..], "rederive"),
    ] {
        let r = verify_json(&archive, args, 0);
        assert_eq!(r["ok"], true, "{r}");
        assert_eq!(r["level"], level);
        assert_eq!(r["failures"], serde_json::json!([]));
        assert_eq!(r["checked"]["exports"], 2);
        assert_eq!(r["checked"]["objects"], 2);
        assert_eq!(r["checked"]["entries"], 38);
        if level != "fast" {
            assert_eq!(r["checked"]["members"], 4);
            assert_eq!(r["checked"]["index_documents"], 38);
            assert!(r["hashing"]["object_bytes"].as_u64().unwrap() > 5000);
        }
        if level == "rederive" {
            assert_eq!(r["checked"]["rederived_entries"], 52);
        }
    }
    convault(&archive)
        .arg("verify")
        .assert()
        .success()
        .stdout(predicate::str::contains("OK: every check passed"));
    let records = count(
        &db(&archive),
        "SELECT count(*) FROM ledger WHERE kind = 'verification'",
    );
    assert_eq!(records, 4);
    // The verification records chain like any other.
    convault(&archive)
        .args(["ledger", "verify"])
        .assert()
        .success();
}

#[test]
fn every_kind_of_tampering_is_named_at_once() {
    let (_tmp, archive) = both();
    // Objects: a flipped byte, a deleted object, a stray file.
    flip_byte(&object(&archive, WEEK1));
    let week2 = object(&archive, WEEK2);
    std::fs::remove_file(&week2).unwrap();
    let stray = archive.join("objects/sha256/ab").join("ab".repeat(32));
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"not from any export").unwrap();
    // Entries: text changed, an entry deleted, an FTS row dropped; the
    // ledger edited (its guard triggers dropped first, as a tamperer would).
    sql(
        &archive,
        &format!(
            "UPDATE entries SET payload = replace(payload, 'refund', 'rebate')
                 WHERE id = (SELECT min(e.id) FROM entries e JOIN conversations c ON c.id = e.conversation_id
                             WHERE c.identifier = '{CONV_A}' AND e.payload LIKE '%refund%');
             UPDATE entries SET text = 'nothing to see here' WHERE seq = 2;
             PRAGMA foreign_keys = OFF;
             DELETE FROM entries WHERE seq = (SELECT max(seq) FROM entries WHERE version = 1 AND export_id = 2);
             INSERT INTO entries_fts (entries_fts, rowid, text)
                 SELECT 'delete', id, text FROM entries WHERE seq = 3;
             INSERT INTO entries_fts (entries_fts, rowid, text)
                 SELECT 'delete', id, text FROM entries WHERE seq = 4;
             INSERT INTO entries_fts (rowid, text) SELECT id, 'words it never had' FROM entries WHERE seq = 4;
             INSERT INTO entries_fts (rowid, text) VALUES (99999, 'a ghost document');
             DROP TRIGGER ledger_no_update;
             UPDATE ledger SET who = 'mallory' WHERE seq = 1;"
        ),
    );
    let r = verify_json(&archive, &[], 3);
    assert_eq!(r["ok"], false);
    let k = kinds(&r);
    for want in [
        "object-changed",
        "member-unreadable",
        "object-missing",
        "object-unrecorded",
        "entry-hash",
        "entry-text",
        "export-counts",
        "index-missing",
        "index-content",
        "index-extra",
        "ledger-changed",
    ] {
        assert!(k.iter().any(|x| x == want), "{want} not in {k:?}");
    }
    // Each failure names its item, what was expected and what was found.
    let failures = r["failures"].as_array().unwrap();
    let find = |kind: &str| failures.iter().find(|f| f["kind"] == kind).unwrap().clone();
    assert!(
        find("object-missing")["item"]
            .as_str()
            .unwrap()
            .contains(&sha256_file(&fixture(WEEK2)))
    );
    assert!(
        find("object-unrecorded")["item"]
            .as_str()
            .unwrap()
            .contains(&"ab".repeat(32))
    );
    let row = |seq: i64| -> String {
        db(&archive)
            .query_row(
                "SELECT 'entry ' || identifier || ' version ' || version || ' (row ' || id || ')'
                 FROM entries WHERE seq = ?1",
                [seq],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(find("index-missing")["item"], row(3));
    assert_eq!(find("index-content")["item"], row(4));
    assert_eq!(
        find("index-extra")["item"],
        "index row 99999 (no such entry)"
    );
    assert_eq!(find("ledger-changed")["item"], "ledger record 1");
    // The human form lists them too, and the run is recorded as failed.
    let out = convault(&archive).arg("verify").assert().code(3);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("VERIFICATION FAILED"), "{text}");
    for want in [
        "object-changed",
        "object-missing",
        "entry-hash",
        "index-missing",
        "index-content",
        "index-extra",
        "ledger-changed",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    let rec: String = db(&archive)
        .query_row(
            "SELECT details FROM ledger WHERE kind = 'verification' ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let rec: Value = serde_json::from_str(&rec).unwrap();
    assert_eq!(rec["ok"], false);
    assert!(rec["failure_counts"]["object-missing"].as_u64().unwrap() >= 1);
}

#[test]
fn rederivation_finds_entries_the_originals_do_not_give_and_ones_they_do() {
    let (_tmp, archive) = both();
    // An entry removed (with its index row, by the trigger) and one
    // invented: the counts would show the first; only the originals can
    // show the second is not genuine.
    sql(
        &archive,
        "PRAGMA foreign_keys = OFF;
         DELETE FROM entries WHERE seq = 5;
         INSERT INTO entries (id, seq, identifier, version, conversation_id, entry_type, entry_type_raw,
                is_message, related_records, content_hash, export_id, member_id)
             SELECT (SELECT max(id) + 1 FROM entries), (SELECT max(seq) + 1 FROM entries),
                    'invented-entry', 1, conversation_id, 'NOTE', 'NOTE', 0, '[]', content_hash,
                    export_id, member_id FROM entries WHERE seq = 6;",
    );
    let r = verify_json(&archive, &["--rederive"], 3);
    let k = kinds(&r);
    assert!(k.contains(&"rederive-missing".into()), "{k:?}");
    assert!(k.contains(&"rederive-extra".into()), "{k:?}");
    let failures = r["failures"].as_array().unwrap();
    assert!(
        failures.iter().any(|f| f["kind"] == "rederive-extra"
            && f["item"].as_str().unwrap().contains("invented-entry"))
    );
}

#[test]
fn fast_sees_missing_and_resized_objects_but_not_changed_bytes() {
    let (_tmp, archive) = both();
    flip_byte(&object(&archive, WEEK1));
    let r = verify_json(&archive, &["--fast"], 0);
    assert_eq!(r["ok"], true, "same size: only a full run re-hashes");
    std::fs::remove_file(object(&archive, WEEK2)).unwrap();
    let r = verify_json(&archive, &["--fast"], 3);
    assert_eq!(kinds(&r), ["object-missing"]);
    let r = verify_json(&archive, &[], 3);
    assert!(kinds(&r).contains(&"object-changed".into()));
}

#[test]
fn one_export_can_be_verified_alone() {
    let (_tmp, archive) = both();
    flip_byte(&object(&archive, WEEK2));
    let r = verify_json(&archive, &["--export", "1"], 0);
    assert_eq!(r["checked"]["objects"], 1);
    assert_eq!(r["checked"]["entries"], 28);
    let r = verify_json(&archive, &["--export", "2"], 3);
    assert!(kinds(&r).contains(&"object-changed".into()));
    convault(&archive)
        .args(["verify", "--export", "9"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no export 9"));
}

#[test]
fn a_sample_covers_everything_over_its_cycle() {
    let (_tmp, archive) = both();
    // One bad object and one bad entry: a 50% sample finds each exactly
    // once in two runs, and every object and entry is checked once.
    flip_byte(&object(&archive, WEEK2));
    sql(
        &archive,
        "UPDATE entries SET payload = replace(payload, 'e', 'E') WHERE seq = 30",
    );
    let mut objects = 0;
    let mut entries = 0;
    let mut found = Vec::new();
    for _ in 0..2 {
        let out = convault(&archive)
            .args(["verify", "--json", "--sample", "50"])
            .output()
            .unwrap();
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        objects += r["checked"]["objects"].as_u64().unwrap();
        entries += r["checked"]["entries"].as_u64().unwrap();
        found.extend(kinds(&r));
    }
    assert_eq!((objects, entries), (2, 38));
    assert_eq!(
        found.iter().filter(|k| *k == "object-changed").count(),
        1,
        "{found:?}"
    );
    assert_eq!(
        found.iter().filter(|k| *k == "entry-hash").count(),
        1,
        "{found:?}"
    );
    for bad in ["0", "101", "x"] {
        convault(&archive)
            .args(["verify", "--sample", bad])
            .assert()
            .code(2);
    }
}

#[test]
fn verify_is_a_writer_and_needs_an_archive() {
    let (tmp, archive) = both();
    let held = convault::lock::WriterLock::acquire(&archive, "ingest", "carol").unwrap();
    convault(&archive)
        .arg("verify")
        .assert()
        .code(5)
        .stderr(predicate::str::contains("carol"));
    drop(held);
    convault(&tmp.path().join("none"))
        .arg("verify")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no archive"));
}

// ---------------------------------------------------------------- receipts

/// `receipt N --json`.
fn receipt_json(archive: &Path, export: u32) -> Value {
    let out = convault(archive)
        .args(["receipt", &export.to_string(), "--json"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

/// Runs every command of receipt `r` (but `unzip -v`, which lists) in
/// bash in `dir`, each of which must print what it is said to; how many
/// ran. unzip is not part of the toolchain: without it this fails, naming
/// it, rather than pass having checked less.
fn run_receipt_commands(r: &Value, dir: &Path) -> usize {
    let unzip = std::process::Command::new("unzip").arg("-v").output();
    assert!(
        unzip.is_ok(),
        "the receipt tests run unzip: install it (Debian: apt-get install unzip)"
    );
    let mut checked = 0;
    for c in r["commands"].as_array().unwrap() {
        let run = c["run"].as_str().unwrap();
        if run.starts_with("unzip -v") {
            continue;
        }
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(run)
            .current_dir(dir)
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            printed.starts_with(c["expect"].as_str().unwrap()),
            "{run} printed {printed} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked += 1;
    }
    checked
}

/// A member name holding control, bidi and quote characters: the
/// receipt's `unzip -p` command names its exact bytes (`$'…'`), prints
/// unchanged by the terminal's escaping, and works (issue 31).
#[test]
fn a_receipt_names_hostile_member_names_in_commands_that_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("export");
    std::fs::create_dir(&dir).unwrap();
    let zip_path = dir.join("weird.zip");
    let mut src = zip::ZipArchive::new(std::fs::File::open(fixture(WEEK1)).unwrap()).unwrap();
    let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let names = ["a\u{1b}[31mred\u{7}.csv", "it's \u{202e}\tvsc*.csv"];
    let mut n = 0;
    for i in 0..src.len() {
        let mut m = src.by_index(i).unwrap();
        if !m.name().unwrap().ends_with(".csv") {
            continue;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut m, &mut bytes).unwrap();
        w.start_file(
            names[n % names.len()],
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        std::io::Write::write_all(&mut w, &bytes).unwrap();
        n += 1;
    }
    w.finish().unwrap();
    let archive = tmp.path().join("a");
    super::ingest(&archive, &[&zip_path]);
    let text = String::from_utf8_lossy(
        &convault(&archive)
            .args(["receipt", "1"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .into_owned();
    assert!(
        text.contains("unzip -p 'weird.zip' $'a\\x1b\\\\[31mred\\x07.csv' | sha256sum")
            && text.contains(
                "unzip -p 'weird.zip' $'it\\'s \\xe2\\x80\\xae\\x09vsc\\\\*.csv' | sha256sum"
            ),
        "{text}"
    );
    let r = receipt_json(&archive, 1);
    assert_eq!(run_receipt_commands(&r, &dir), 1 + n + 1);
}

#[test]
fn a_receipt_lists_what_an_auditor_checks_by_hand() {
    let (tmp, archive) = both();
    let out = convault(&archive).args(["receipt", "1"]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let sha = sha256_file(&fixture(WEEK1));
    for want in [
        "convault receipt for export 1",
        &sha,
        "conversation_entries_1.csv",
        "export-info.txt",
        "28 read: 28 new",
        "ledger record  1 (export-ingested",
        "sha256sum 'transcripts-2026-11-09.zip'",
        "unzip -p 'transcripts-2026-11-09.zip' 'conversation_entries_2.csv' | sha256sum",
        "printf '%s' '{\"details\":",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    // The commands work and print what the receipt says they must, run in
    // the directory holding the export's files.
    let r = receipt_json(&archive, 1);
    assert_eq!(r["files"][0]["sha256"], sha);
    assert_eq!(r["files"][0]["members"].as_array().unwrap().len(), 3);
    let checked = run_receipt_commands(&r, fixture(WEEK1).parent().unwrap());
    assert_eq!(
        checked,
        1 + 3 + 1,
        "the file, its members, the ledger record"
    );
    // --out writes the same text to a file.
    let file = tmp.path().join("receipt.txt");
    convault(&archive)
        .args(["receipt", "2", "--out"])
        .arg(&file)
        .assert()
        .success();
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("convault receipt for export 2")
    );
    convault(&archive)
        .args(["receipt", "7"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no export 7"));
}
