//! The ledger, the cadence rule, `request`, `status` and the writer lock.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

use super::{BigIngest, WEEK1, WEEK2, convault, count, db, fixture, stderr_of, support};

/// `convault` acting at `now` as `alice`.
fn at(archive: &Path, now: &str) -> Command {
    let mut c = convault(archive);
    c.env("CONVAULT_NOW", now)
        .env("USER", "alice")
        .env("TZ", "UTC");
    c
}

fn json_of(a: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&a.get_output().stdout).expect("JSON on stdout")
}

fn ledger(archive: &Path) -> Vec<Value> {
    let a = convault(archive)
        .args(["ledger", "show", "--json"])
        .assert()
        .success();
    json_of(&a).as_array().expect("an array").clone()
}

fn ingest_at(archive: &Path, now: &str, path: &Path) -> Value {
    let a = at(archive, now)
        .args(["ingest", "--json"])
        .arg(path)
        .assert()
        .success();
    json_of(&a)
}

/// An archive holding week 1, ingested at 2026-11-10 (generated 2026-11-09T23:00Z).
fn week1_archive() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest_at(&archive, "2026-11-10T08:00:00Z", &fixture(WEEK1));
    (tmp, archive)
}

// ------------------------------------------------------------------ ledger

#[test]
fn ingest_appends_a_chained_record_with_its_export() {
    let (_tmp, archive) = week1_archive();
    let r = ingest_at(&archive, "2026-11-17T08:00:00Z", &fixture(WEEK2));
    assert_eq!(r["ledger_record"], 2);
    assert_eq!(r["export_kind"], "transcripts");
    assert_eq!(r["generated_at"], "2026-11-16T23:00:00.000Z");
    assert_eq!(r["warnings"], serde_json::json!([]));
    let records = ledger(&archive);
    assert_eq!(records.len(), 2);
    let (first, second) = (&records[0], &records[1]);
    assert_eq!(first["seq"], 1);
    assert_eq!(first["kind"], "export-ingested");
    assert_eq!(first["who"], "alice");
    assert_eq!(first["time"], "2026-11-10T08:00:00.000Z");
    assert_eq!(first["prev"], "0".repeat(64));
    assert_eq!(second["prev"], first["hash"]);
    let d = &second["details"];
    assert_eq!(d["export_id"], 2);
    assert_eq!(d["entries_new"], 9);
    assert_eq!(d["entries_changed"], 1);
    assert_eq!(d["generated_from"], "file times");
    assert_eq!(d["files"][0]["sha256"], super::sha256_file(&fixture(WEEK2)));
    // Anyone can recompute a hash: the record without `hash`, keys sorted,
    // compact JSON (docs/archive-format.md).
    let mut body = second.clone();
    body.as_object_mut().unwrap().remove("hash");
    let canonical = serde_json::to_string(&body).unwrap();
    assert_eq!(
        second["hash"],
        convault::hashing::sha256_hex(canonical.as_bytes())
    );
    convault(&archive)
        .args(["ledger", "verify"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ledger intact: 2 records"));
    // --by names someone else; the same file again writes no record.
    at(&archive, "2026-11-17T09:00:00Z")
        .args(["ingest", "--by", "bob"])
        .arg(fixture(WEEK2))
        .assert()
        .success();
    assert_eq!(ledger(&archive).len(), 2);
}

#[test]
fn a_rejected_ingest_writes_no_ledger_record() {
    let (tmp, archive) = week1_archive();
    let bad = tmp.path().join("bad.zip");
    std::fs::write(&bad, b"PK\x03\x04 not really a zip").unwrap();
    at(&archive, "2026-11-17T08:00:00Z")
        .arg("ingest")
        .arg(&bad)
        .assert()
        .code(6);
    assert_eq!(ledger(&archive).len(), 1);
}

/// Runs SQL on the archive as a tamperer would, triggers dropped first.
fn tamper(archive: &Path, sql: &str) {
    let conn = db(archive);
    conn.execute_batch(&format!(
        "DROP TRIGGER IF EXISTS ledger_no_update; DROP TRIGGER IF EXISTS ledger_no_delete; {sql}"
    ))
    .unwrap();
}

fn four_records() -> (tempfile::TempDir, std::path::PathBuf) {
    let (tmp, archive) = week1_archive();
    for (now, what) in [
        ("2026-11-17T08:00:00Z", "request"),
        ("2026-11-17T09:00:00Z", "ingest"),
        ("2026-11-24T08:00:00Z", "request"),
    ] {
        let mut c = at(&archive, now);
        if what == "request" {
            c.args(["request", "transcripts"]);
        } else {
            c.arg("ingest").arg(fixture(WEEK2));
        }
        c.assert().success();
    }
    assert_eq!(ledger(&archive).len(), 4);
    (tmp, archive)
}

fn verify_failures(archive: &Path, extra: &[&str]) -> Vec<(String, i64)> {
    let a = convault(archive)
        .args(["ledger", "verify", "--json"])
        .args(extra)
        .assert()
        .code(3);
    let report = json_of(&a);
    assert_eq!(report["ok"], false);
    report["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().unwrap().to_owned(),
                f["seq"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_ledger_refuses_changes_through_sql() {
    let (_tmp, archive) = week1_archive();
    let err = db(&archive)
        .execute("UPDATE ledger SET who = 'mallory'", [])
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[test]
fn verify_names_an_edited_record() {
    let (_tmp, archive) = four_records();
    tamper(
        &archive,
        "UPDATE ledger SET details = replace(details, '\"entries_new\":28', '\"entries_new\":27') WHERE seq = 1",
    );
    assert_eq!(verify_failures(&archive, &[]), [("changed".into(), 1)]);
    let a = convault(&archive)
        .args(["ledger", "verify"])
        .assert()
        .code(3);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(
        out.contains("LEDGER FAILED VERIFICATION") && out.contains("record 1"),
        "{out}"
    );
}

#[test]
fn verify_names_a_deleted_record_and_a_reordering_at_once() {
    let (tmp, archive) = four_records();
    // Record 2 deleted; records 3 and 4 swapped in storage.
    tamper(
        &archive,
        "DELETE FROM ledger WHERE seq = 2;
         UPDATE ledger SET id = 100 WHERE seq = 3;
         UPDATE ledger SET id = 3 WHERE seq = 4;
         UPDATE ledger SET id = 4 WHERE seq = 3;",
    );
    let failures = verify_failures(&archive, &[]);
    assert!(failures.contains(&("missing".into(), 2)), "{failures:?}");
    assert!(failures.contains(&("reordered".into(), 3)), "{failures:?}");
    // A damaged ledger never stops an export being archived: the next
    // record follows the highest number and links to it.
    let next = tmp.path().join("next.zip");
    let time = zip::DateTime::from_date_and_time(2026, 11, 23, 23, 0, 0).unwrap();
    std::fs::write(
        &next,
        support::fixture_data::zip_dated(&support::fixture_data::week2(), time),
    )
    .unwrap();
    let r = ingest_at(&archive, "2026-11-25T00:00:00Z", &next);
    assert_eq!(r["ledger_record"], 5);
}

#[test]
fn verify_names_a_broken_link_when_a_record_is_rehashed() {
    let (_tmp, archive) = four_records();
    // Edit record 2 and give it a valid hash of its own: record 3's link
    // still names the old hash.
    let records = ledger(&archive);
    let mut r2 = records[1].clone();
    r2["who"] = "mallory".into();
    let obj = r2.as_object_mut().unwrap();
    obj.remove("hash");
    let hash = convault::hashing::sha256_hex(serde_json::to_string(&r2).unwrap().as_bytes());
    tamper(
        &archive,
        &format!("UPDATE ledger SET who = 'mallory', hash = '{hash}' WHERE seq = 2"),
    );
    assert_eq!(verify_failures(&archive, &[]), [("broken-link".into(), 3)]);
}

#[test]
fn truncation_shows_against_a_checkpoint() {
    let (tmp, archive) = four_records();
    let cp = tmp.path().join("head.json");
    let a = convault(&archive)
        .args(["ledger", "checkpoint", "--out"])
        .arg(&cp)
        .assert()
        .success();
    let printed = json_of(&a);
    assert_eq!(printed["records"], 4);
    assert_eq!(printed["head"], ledger(&archive)[3]["hash"]);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&cp).unwrap()).unwrap();
    assert_eq!(saved, printed);
    // More records after the checkpoint still extend it.
    at(&archive, "2026-11-24T09:00:00Z")
        .arg("ingest")
        .arg(fixture(WEEK2).parent().unwrap().join(WEEK1))
        .assert()
        .success();
    let ok = convault(&archive)
        .args(["ledger", "verify", "--checkpoint"])
        .arg(&cp)
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&ok.get_output().stdout).contains("extends the checkpoint"));
    // Deleting the newest records is invisible to the chain alone...
    tamper(&archive, "DELETE FROM ledger WHERE seq >= 4");
    convault(&archive)
        .args(["ledger", "verify"])
        .assert()
        .success();
    // ... but not to the checkpoint.
    assert_eq!(
        verify_failures(&archive, &["--checkpoint", cp.to_str().unwrap()]),
        [("truncated".into(), 4)]
    );
    // A file that is not a checkpoint is rejected by name.
    let junk = tmp.path().join("junk.json");
    std::fs::write(&junk, "{}").unwrap();
    convault(&archive)
        .args(["ledger", "verify", "--checkpoint"])
        .arg(&junk)
        .assert()
        .code(6)
        .stderr(
            predicate::str::contains("junk.json")
                .and(predicate::str::contains("not a convault ledger checkpoint")),
        );
}

// ----------------------------------------------------------------- cadence

#[test]
fn request_follows_the_seven_day_rule_to_the_minute() {
    let (_tmp, archive) = week1_archive();
    // Week 1 was generated 2026-11-09T23:00Z: the next is allowed 7 days on.
    let refused = at(&archive, "2026-11-16T22:59:00Z")
        .args(["request", "transcripts"])
        .assert()
        .code(4);
    let msg = stderr_of(&refused);
    assert!(
        msg.contains("allows the next one from 2026-11-16T23:00:00.000Z"),
        "{msg}"
    );
    assert!(msg.contains("--override --reason"), "{msg}");
    assert_eq!(ledger(&archive).len(), 1, "a refusal records nothing");
    let ok = at(&archive, "2026-11-16T23:00:00Z")
        .args(["request", "transcripts", "--json", "--note", "weekly run"])
        .assert()
        .success();
    let o = json_of(&ok);
    assert_eq!(o["record"]["seq"], 2);
    assert_eq!(o["record"]["details"]["note"], "weekly run");
    assert_eq!(o["next_allowed"], "2026-11-23T23:00:00.000Z");
    // Nothing more until it is ingested, even after 7 days.
    let pending = at(&archive, "2026-11-25T00:00:00Z")
        .args(["request", "transcripts"])
        .assert()
        .code(4);
    assert!(stderr_of(&pending).contains("has not been ingested yet"));
    ingest_at(&archive, "2026-11-17T08:00:00Z", &fixture(WEEK2));
    at(&archive, "2026-11-23T22:59:00Z")
        .args(["request", "transcripts"])
        .assert()
        .code(4);
    at(&archive, "2026-11-23T23:00:00Z")
        .args(["request", "transcripts"])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "next: start the Conversation Transcript Export",
        ));
}

#[test]
fn an_override_needs_a_reason_and_is_recorded() {
    let (_tmp, archive) = week1_archive();
    at(&archive, "2026-11-11T00:00:00Z")
        .args(["request", "transcripts", "--override"])
        .assert()
        .code(2);
    at(&archive, "2026-11-11T00:00:00Z")
        .args(["request", "transcripts", "--reason", "x"])
        .assert()
        .code(2);
    at(&archive, "2026-11-11T00:00:00Z")
        .args([
            "request",
            "transcripts",
            "--override",
            "--reason",
            "auditor asked for it",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "override recorded as ledger record 2",
        ));
    let records = ledger(&archive);
    assert_eq!(records[1]["kind"], "override");
    assert_eq!(records[1]["details"]["reason"], "auditor asked for it");
    assert_eq!(
        records[1]["details"]["rules"],
        serde_json::json!(["interval"])
    );
    assert_eq!(records[2]["kind"], "export-requested");
    assert_eq!(records[2]["details"]["override_record"], 2);
}

#[test]
fn status_shows_due_overdue_pending_and_gaps() {
    let (_tmp, archive) = week1_archive();
    let status = |now: &str| {
        let a = at(&archive, now)
            .args(["status", "--json"])
            .assert()
            .success();
        json_of(&a)["kinds"][0].clone()
    };
    let s = status("2026-11-12T00:00:00Z");
    assert_eq!(s["kind"], "transcripts");
    assert_eq!(
        (s["due"].clone(), s["overdue"].clone()),
        (false.into(), false.into())
    );
    assert_eq!(s["next_allowed"], "2026-11-16T23:00:00.000Z");
    assert_eq!(s["last_ingest"]["export_id"], 1);
    let s = status("2026-11-17T00:00:00Z");
    assert_eq!(
        (s["due"].clone(), s["overdue"].clone()),
        (true.into(), false.into())
    );
    let s = status("2026-11-18T00:00:00Z");
    assert_eq!(s["overdue"], true);
    // Three weeks later: the weeks of 16 and 23 November had no export.
    let s = status("2026-12-01T00:00:00Z");
    assert_eq!(
        s["gaps"],
        serde_json::json!([{"from": "2026-11-16", "to": "2026-11-29", "periods": 2}])
    );
    at(&archive, "2026-12-01T00:00:00Z")
        .arg("status")
        .assert()
        .success()
        .stdout(
            predicate::str::contains("OVERDUE").and(predicate::str::contains(
                "2026-11-16 to 2026-11-29: 2 weeks with no export",
            )),
        );
    // A data export requested: pending, downloadable for 48 hours.
    at(&archive, "2026-12-01T00:00:00Z")
        .args(["request", "data-export"])
        .assert()
        .success()
        .stderr(predicate::str::contains("before 2026-12-03T00:00:00.000Z"));
    let a = at(&archive, "2026-12-04T00:00:00Z")
        .args(["status", "--json"])
        .assert()
        .success();
    let all = json_of(&a);
    let d = &all["kinds"][1];
    assert_eq!(d["kind"], "data-export");
    assert_eq!(d["pending"]["download_until"], "2026-12-03T00:00:00.000Z");
    assert_eq!(d["pending"]["download_window_closed"], true);
    assert!(all["warnings"][0].as_str().unwrap().contains("expired"));
}

#[test]
fn status_due_is_for_schedulers() {
    let (_tmp, archive) = week1_archive();
    let due = |now: &str, extra: &[&str]| {
        at(&archive, now)
            .args(["status", "--due"])
            .args(extra)
            .assert()
            .get_output()
            .clone()
    };
    let not_yet = due("2026-11-16T22:59:00Z", &[]);
    assert_eq!(not_yet.status.code(), Some(1));
    assert!(not_yet.stdout.is_empty());
    assert_eq!(due("2026-11-16T23:00:00Z", &[]).status.code(), Some(0));
    // A kind named explicitly counts even if never used.
    assert_eq!(
        due("2026-11-12T00:00:00Z", &["--kind", "data-export"])
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn an_export_generated_too_soon_is_recorded_with_a_warning() {
    let (tmp, archive) = week1_archive();
    // The same week's data, dated three days after week 1.
    let early = tmp.path().join("early.zip");
    let time = zip::DateTime::from_date_and_time(2026, 11, 12, 23, 0, 0).unwrap();
    std::fs::write(
        &early,
        support::fixture_data::zip_dated(&support::fixture_data::week2(), time),
    )
    .unwrap();
    let r = ingest_at(&archive, "2026-11-13T08:00:00Z", &early);
    let w = r["warnings"][0].as_str().unwrap();
    assert!(w.contains("less than 7 days after the previous one"), "{w}");
    assert_eq!(ledger(&archive)[1]["details"]["warnings"][0], w);
    // The human summary says it too.
    let again = tmp.path().join("early2.zip");
    let time = zip::DateTime::from_date_and_time(2026, 11, 13, 23, 0, 0).unwrap();
    std::fs::write(
        &again,
        support::fixture_data::zip_dated(&support::fixture_data::week1(), time),
    )
    .unwrap();
    at(&archive, "2026-11-14T08:00:00Z")
        .arg("ingest")
        .arg(&again)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "warning: this transcripts export was generated",
        ));
}

#[test]
fn a_clock_gone_backwards_is_reported_not_accepted() {
    let (_tmp, archive) = week1_archive();
    at(&archive, "2026-11-20T00:00:00Z")
        .args(["request", "transcripts"])
        .assert()
        .success();
    // The clock now reads a day before the newest record.
    let a = at(&archive, "2026-11-19T00:00:00Z")
        .args(["request", "transcripts"])
        .assert()
        .code(4);
    assert!(stderr_of(&a).contains("earlier than the newest ledger record"));
    at(&archive, "2026-11-19T00:00:00Z")
        .arg("status")
        .assert()
        .success()
        .stdout(predicate::str::contains("the clock has gone backwards"));
    // An ingest is not refused (that would lose data) but says so and
    // records it; ledger verify warns about the order of times.
    let r = ingest_at(&archive, "2026-11-19T00:00:00Z", &fixture(WEEK2));
    assert!(
        r["warnings"][0]
            .as_str()
            .unwrap()
            .contains("check the system clock")
    );
    convault(&archive)
        .args(["ledger", "verify"])
        .assert()
        .success()
        .stdout(predicate::str::contains("the clock went backwards"));
}

// ----------------------------------------------------------------- trigger

fn configure(archive: &Path, command: &str) {
    std::fs::write(
        archive.join("config.toml"),
        format!(
            "[trigger.transcripts]\ncommand = [\"sh\", \"-c\", {command:?}]\ntimeout_seconds = 20\n"
        ),
    )
    .unwrap();
}

#[test]
fn a_trigger_command_runs_after_the_check_and_is_recorded() {
    let (_tmp, archive) = week1_archive();
    configure(
        &archive,
        "echo started $CONVAULT_EXPORT_KIND for $CONVAULT_REQUESTED_BY",
    );
    // Not run when the rule refuses.
    at(&archive, "2026-11-11T00:00:00Z")
        .args(["request", "transcripts"])
        .assert()
        .code(4);
    at(&archive, "2026-11-17T00:00:00Z")
        .args(["request", "transcripts"])
        .assert()
        .success()
        .stderr(predicate::str::contains("the trigger command ran"));
    let rec = &ledger(&archive)[1];
    assert_eq!(rec["kind"], "export-requested");
    assert_eq!(rec["details"]["trigger"]["exit_code"], 0);
    assert_eq!(
        rec["details"]["trigger"]["stdout"],
        "started transcripts for alice\n"
    );
}

#[test]
fn a_failed_trigger_is_reported_and_recorded_and_requests_nothing() {
    let (_tmp, archive) = week1_archive();
    configure(&archive, "echo 'login failed' >&2; exit 7");
    let a = at(&archive, "2026-11-17T00:00:00Z")
        .args(["request", "transcripts"])
        .assert()
        .code(1);
    let msg = stderr_of(&a);
    assert!(
        msg.contains("exited with status 7")
            && msg.contains("login failed")
            && msg.contains("ledger record 2"),
        "{msg}"
    );
    let rec = &ledger(&archive)[1];
    assert_eq!(rec["kind"], "trigger-failed");
    assert_eq!(rec["details"]["trigger"]["stderr"], "login failed\n");
    // It did not count as a request: fixed, the next attempt goes through.
    configure(&archive, "true");
    at(&archive, "2026-11-17T00:05:00Z")
        .args(["request", "transcripts"])
        .assert()
        .success();
}

#[test]
fn a_broken_config_is_named() {
    let (_tmp, archive) = week1_archive();
    std::fs::write(
        archive.join("config.toml"),
        "[trigger.transcript]\ncommand = [\"true\"]\n",
    )
    .unwrap();
    at(&archive, "2026-11-17T00:00:00Z")
        .args(["request", "transcripts"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("config.toml")
                .and(predicate::str::contains("unknown export kind")),
        );
    assert_eq!(ledger(&archive).len(), 1);
}

// -------------------------------------------------------------------- lock

#[test]
fn a_second_writer_fails_at_once_and_readers_carry_on() {
    let (_tmp, archive) = week1_archive();
    let held = convault::lock::WriterLock::acquire(&archive, "ingest", "carol").unwrap();
    let start = std::time::Instant::now();
    for args in [&["ingest"][..], &["request", "transcripts"]] {
        let mut c = at(&archive, "2026-11-17T00:00:00Z");
        c.args(args);
        if args[0] == "ingest" {
            c.arg(fixture(WEEK2));
        }
        let a = c.assert().code(5);
        let msg = stderr_of(&a);
        assert!(
            msg.contains("in use by `convault ingest`")
                && msg.contains("carol")
                && msg.contains("since"),
            "{msg}"
        );
    }
    assert!(
        start.elapsed() < std::time::Duration::from_secs(4),
        "failed at once"
    );
    for args in [
        &["search", "refund"][..],
        &["status"],
        &["ledger", "show"],
        &["ledger", "verify"],
    ] {
        at(&archive, "2026-11-17T00:00:00Z")
            .args(args)
            .assert()
            .success();
    }
    drop(held);
    ingest_at(&archive, "2026-11-17T00:00:00Z", &fixture(WEEK2));
}

#[test]
fn a_stale_lock_of_a_killed_writer_is_cleared_safely() {
    let tmp = tempfile::tempdir().unwrap();
    let (_t, archive) = week1_archive();
    let mut big = BigIngest::start(tmp.path(), &archive);
    // Kill it while it holds the lock.
    let lock = archive.join("lock");
    big.wait_until(|| std::fs::read_to_string(&lock).is_ok_and(|s| !s.is_empty()));
    let pid = big.kill();
    let left = std::fs::read_to_string(&lock).unwrap();
    assert!(!left.is_empty(), "killed while it held the lock");
    assert!(left.contains(&pid.to_string()), "{left}");
    let r = ingest_at(&archive, "2026-11-17T00:00:00Z", &fixture(WEEK2));
    let warnings = r["warnings"].to_string();
    assert!(
        warnings.contains("cleared a stale lock") && warnings.contains(&pid.to_string()),
        "{warnings}"
    );
    assert_eq!(
        std::fs::read_to_string(&lock).unwrap(),
        "",
        "released after use"
    );
    assert_eq!(
        count(&db(&archive), "SELECT count(*) FROM ledger"),
        count(&db(&archive), "SELECT count(*) FROM exports")
    );
}

#[test]
fn readers_are_not_blocked_by_a_running_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let (_t, archive) = week1_archive();
    let mut big = BigIngest::start(tmp.path(), &archive);
    let writing = big.wait_until_writing(&archive);
    // A reader blocked by the writer would fail with exit 5 once SQLite's
    // busy timeout ran out.
    convault(&archive)
        .args(["search", "refund"])
        .assert()
        .success();
    convault(&archive)
        .args(["ledger", "verify"])
        .assert()
        .success();
    let s = convault(&archive)
        .args(["status", "--json"])
        .assert()
        .success();
    // The reader sees the last committed state: week 1 only.
    assert_eq!(json_of(&s)["kinds"][0]["last_ingest"]["export_id"], 1);
    assert!(
        writing,
        "the ingest was still writing while the readers ran"
    );
    assert!(big.child.wait().unwrap().success());
}
