//! What an officer must be able to trust (issue 30): nothing recognised is
//! never "ingested", an end user is found where the transcript export
//! names them, and a clock in the future is said.

use std::path::Path;

use predicates::prelude::*;
use serde_json::Value;

use super::support::fixture_data::{CONV_A, CONV_B, CONV_C};
use super::{WEEK1, WEEK2, convault, count, db, fixture, ingest, stderr_of};

/// The end user of conversation A, as the transcript export names them:
/// the sender subject of their own entries.
const SUBJECT_A: &str = "v2/iamessage/UNAUTH/NA/uid:7f3e21";

/// Every file under `dir`, with its bytes: what "nothing was written"
/// compares.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("lock") {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_file_holding_nothing_recognised_is_refused_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let pdf = tmp.path().join("statement.pdf");
    std::fs::write(&pdf, b"%PDF-1.7\n\x00\x01\x02 binary").unwrap();
    let toml = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");

    // A new archive: not created.
    let archive = tmp.path().join("new");
    for input in [&readme, &pdf, &toml] {
        let a = convault(&archive)
            .arg("ingest")
            .arg(input)
            .assert()
            .code(6)
            .stderr(predicate::str::contains("nothing was ingested"));
        let name = input.file_name().unwrap().to_str().unwrap();
        assert!(stderr_of(&a).contains(name), "{}", stderr_of(&a));
        assert!(!archive.exists(), "{name}: no archive is created");
    }
    // A dry run says the same.
    convault(&archive)
        .args(["ingest", "--dry-run"])
        .arg(&readme)
        .assert()
        .code(6);

    // An existing archive: not a byte changed, no export, no record.
    let archive = tmp.path().join("existing");
    ingest(&archive, &[&fixture(WEEK1)]);
    let before = tree(&archive);
    convault(&archive)
        .arg("ingest")
        .arg(&readme)
        .arg(&pdf)
        .assert()
        .code(6)
        .stderr(predicate::str::contains("binary content"))
        .stderr(predicate::str::contains("README.md"));
    assert_eq!(tree(&archive), before, "nothing was written");
    assert_eq!(count(&db(&archive), "SELECT count(*) FROM exports"), 1);

    // Partly recognised: the rest is ingested, the unknown member kept
    // aside with its reason, as always.
    let dir = tmp.path().join("export");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture(WEEK2), dir.join("week2.zip")).unwrap();
    std::fs::copy(&readme, dir.join("README.md")).unwrap();
    let r = ingest(&archive, &[&dir]);
    assert_eq!(r["quarantined_total"], 2, "{r}");
    assert_eq!(r["entries_read"], 24);
}

#[test]
fn the_transcript_exports_description_is_recognised_not_quarantined() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let a = convault(&archive)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
    let err = stderr_of(&a);
    assert!(err.contains("nothing quarantined"), "{err}");
    assert!(!err.contains("export-info.txt"), "{err}");
    // Kept with the export, and read the same way again.
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

#[test]
fn erasure_holds_and_search_find_an_end_user_by_their_sender_subject() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    ingest(&archive, &[&fixture(WEEK2)]);

    // The listing names A, and only A.
    let a = convault(&archive)
        .args([
            "erase",
            "--enduser",
            SUBJECT_A,
            "--reason",
            "DSAR 17",
            "--json",
        ])
        .assert()
        .success();
    let plan: Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let erase: Vec<&str> = plan["erase"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["conversation"].as_str().unwrap())
        .collect();
    assert_eq!(erase, [CONV_A]);

    // `enduser:` finds A by part of the subject; a hold by the key holds A.
    let out = convault(&archive)
        .args(["search", "--conversations", "--json", "enduser:uid:7f3e21"])
        .assert()
        .success();
    let hits: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 1, "{hits}");
    assert_eq!(hits[0]["conversation"], CONV_A);
    convault(&archive)
        .args([
            "hold",
            "place",
            "dsar-hold",
            "--reason",
            "litigation",
            "--enduser",
            SUBJECT_A,
        ])
        .assert()
        .success();
    let held = convault(&archive)
        .args(["hold", "show", "dsar-hold", "--json"])
        .assert()
        .success();
    let held = String::from_utf8_lossy(&held.get_output().stdout).into_owned();
    assert!(held.contains(CONV_A), "{held}");
    assert!(!held.contains(CONV_B) && !held.contains(CONV_C), "{held}");
    // Held: the erasure is refused (exit 4), naming the hold.
    convault(&archive)
        .args([
            "erase",
            "--enduser",
            SUBJECT_A,
            "--reason",
            "DSAR 17",
            "--execute",
        ])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("dsar-hold"));
    convault(&archive)
        .args(["hold", "release", "dsar-hold", "--reason", "settled"])
        .assert()
        .success();
    convault(&archive)
        .args([
            "erase",
            "--enduser",
            SUBJECT_A,
            "--reason",
            "DSAR 17",
            "--execute",
        ])
        .assert()
        .success();
    assert_eq!(
        count(
            &db(&archive),
            &format!("SELECT count(*) FROM entries WHERE sender_subject = '{SUBJECT_A}'")
        ),
        0
    );
    convault(&archive).arg("verify").assert().success();
}

#[test]
fn an_end_user_key_that_matches_nothing_says_what_was_searched_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    for execute in [false, true] {
        let mut c = convault(&archive);
        c.args(["erase", "--enduser", "uid:nobody", "--reason", "DSAR 18"]);
        if execute {
            c.arg("--execute");
        }
        c.assert()
            .code(1)
            .stderr(predicate::str::contains("no conversation of an end user"))
            .stderr(predicate::str::contains("MessagingPlatformKey"))
            .stderr(predicate::str::contains("sender subject"))
            .stderr(predicate::str::contains("Nothing was erased"));
    }
    convault(&archive)
        .args([
            "erase",
            "--conversation",
            "00000000-0000-4000-8000-000000000000",
        ])
        .args(["--reason", "DSAR 19"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not in the archive"));
    // Nothing was recorded.
    assert_eq!(
        count(
            &db(&archive),
            "SELECT count(*) FROM ledger WHERE kind = 'erasure'"
        ),
        0
    );
}

#[test]
fn an_export_generated_after_the_clock_is_reported_on_ingest_and_in_status() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    // The clock reads a day before week 1 was generated.
    let a = convault(&archive)
        .env("CONVAULT_NOW", "2026-11-08T23:00:00Z")
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
    assert!(
        stderr_of(&a).contains("later than the clock"),
        "{}",
        stderr_of(&a)
    );
    let out = convault(&archive)
        .env("CONVAULT_NOW", "2026-11-08T23:00:00Z")
        .args(["status", "--json"])
        .assert()
        .success();
    let status: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let warnings = status["warnings"].to_string();
    assert!(
        warnings.contains("2026-11-09T23:00:00.000Z") && warnings.contains("later than the clock"),
        "{warnings}"
    );
    // With the clock past it, no such warning.
    let out = convault(&archive)
        .env("CONVAULT_NOW", "2026-11-10T00:00:00Z")
        .args(["status", "--json"])
        .assert()
        .success();
    let status: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        !status["warnings"]
            .to_string()
            .contains("later than the clock"),
        "{status}"
    );
}
