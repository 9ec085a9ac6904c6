//! Retention policy, legal holds and the disposition listing (issue 15).

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

use super::{CONV_A, CONV_B, CONV_C, WEEK1, WEEK2, convault, fixture, stderr_of};

/// `convault` acting at `now` as `officer`.
fn at(archive: &Path, now: &str) -> Command {
    let mut c = convault(archive);
    c.env("CONVAULT_NOW", now).env("USER", "officer");
    c
}

const NOW: &str = "2026-11-20T00:00:00Z";

fn json_of(a: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&a.get_output().stdout).expect("JSON on stdout")
}

fn ingest(archive: &Path, week: &str) {
    at(archive, NOW)
        .arg("ingest")
        .arg(fixture(week))
        .assert()
        .success();
}

fn records_of_kind(archive: &Path, kind: &str) -> Vec<Value> {
    super::ledger_records(archive, kind)
}

fn dispose(archive: &Path, now: &str) -> Value {
    json_of(
        &at(archive, now)
            .args(["dispose", "--json"])
            .assert()
            .success(),
    )
}

fn due(plan: &Value) -> Vec<String> {
    plan["due"]
        .as_array()
        .expect("due")
        .iter()
        .map(|d| d["conversation"].as_str().expect("id").to_owned())
        .collect()
}

fn held(archive: &Path, name: &str) -> Vec<String> {
    let a = convault(archive)
        .args(["hold", "show", name])
        .assert()
        .success();
    String::from_utf8_lossy(&a.get_output().stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn retention_changes_and_the_minimum_are_ledger_records() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, WEEK1);

    // No policy: nothing is past retention, and dispose says how to set one.
    at(&archive, NOW)
        .arg("dispose")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("convault retention set"));
    convault(&archive)
        .args(["retention", "show"])
        .assert()
        .success()
        .stderr(predicate::str::contains("no retention policy is set"));

    // A reason is required; a bad period is a usage error naming the forms.
    at(&archive, NOW)
        .args(["retention", "set", "7y"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--reason"));
    at(&archive, NOW)
        .args(["retention", "set", "7 years", "--reason", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("e.g. 7y or 2555d"));
    // A period shorter than its own minimum.
    at(&archive, NOW)
        .args(["retention", "set", "3y", "--minimum", "5y", "--reason", "x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "shorter than the minimum 5y given with it",
        ));
    assert!(records_of_kind(&archive, "retention-set").is_empty());

    at(&archive, NOW)
        .args([
            "retention",
            "set",
            "7y",
            "--minimum",
            "5y",
            "--reason",
            "FINRA 4511",
        ])
        .assert()
        .success();
    // Below the minimum: refused (exit 4) and nothing recorded.
    for args in [
        &["retention", "set", "1825d", "--reason", "shorter"][..],
        &[
            "retention",
            "set",
            "7y",
            "--minimum",
            "3y",
            "--reason",
            "lower floor",
        ][..],
    ] {
        let a = at(&archive, NOW).args(args).assert().code(4);
        assert!(stderr_of(&a).contains("--override"), "{}", stderr_of(&a));
    }
    assert_eq!(records_of_kind(&archive, "retention-set").len(), 1);
    // 2555 days is less than 7 years but not less than the minimum of 5.
    at(&archive, NOW)
        .args(["retention", "set", "2555d", "--reason", "counsel's advice"])
        .assert()
        .success();
    // With --override, recorded as such, and the floor comes down.
    at(&archive, NOW)
        .args([
            "retention",
            "set",
            "1y",
            "--reason",
            "regulator's letter",
            "--override",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "overridden: the period 1y is shorter than the minimum 5y",
        ));

    let records = records_of_kind(&archive, "retention-set");
    assert_eq!(records.len(), 3);
    assert_eq!(records[0]["details"]["period"], "7y");
    assert_eq!(records[0]["details"]["minimum"], "5y");
    assert_eq!(records[0]["details"]["reason"], "FINRA 4511");
    assert_eq!(records[0]["who"], "officer");
    assert_eq!(records[1]["details"]["period"], "2555d");
    assert_eq!(
        records[1]["details"]["minimum"], "5y",
        "the minimum in force stays"
    );
    assert_eq!(records[1]["details"]["previous_record"], records[0]["seq"]);
    assert_eq!(records[2]["details"]["minimum"], "1y");
    assert_eq!(
        records[2]["details"]["overrode"][0],
        "the period 1y is shorter than the minimum 5y set by ledger record 3"
    );
    assert_eq!(records[2]["details"]["erasure_within_minimum"], false);

    let shown = json_of(
        &convault(&archive)
            .args(["retention", "show", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(shown["policy"]["period"], "1y");
    assert_eq!(shown["history"].as_array().unwrap().len(), 3);
    // The ledger still verifies.
    convault(&archive)
        .args(["ledger", "verify"])
        .assert()
        .success();
}

#[test]
fn a_hold_by_query_holds_a_conversation_ingested_later_until_released() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, WEEK1);
    at(&archive, NOW)
        .args(["retention", "set", "7d", "--reason", "test policy"])
        .assert()
        .success();

    // Invoice 8812 is only in conversation C, which week 2 brings.
    at(&archive, NOW)
        .args([
            "hold",
            "place",
            "invoice-8812",
            "--reason",
            "dispute 17",
            "8812",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("matches 0 conversations now"));
    assert!(held(&archive, "invoice-8812").is_empty());
    ingest(&archive, WEEK2);
    assert_eq!(held(&archive, "invoice-8812"), vec![CONV_C.to_owned()]);

    // 25 days on, all three are past 7 days; C is held.
    let later = "2026-12-15T00:00:00Z";
    let plan = dispose(&archive, later);
    let mut listed = due(&plan);
    listed.sort();
    assert_eq!(listed, vec![CONV_A.to_owned(), CONV_B.to_owned()]);
    assert_eq!(plan["conversations_total"], 3);
    assert_eq!(plan["conversations_held"], 1);
    assert_eq!(plan["spared"][0]["hold"], "invoice-8812");
    assert_eq!(plan["spared"][0]["conversations"], 1);
    assert_eq!(plan["cutoff"], "2026-12-08T00:00:00.000Z");
    assert_eq!(plan["policy"]["period"], "7d");
    // The text form: the due conversations on stdout, the summary on stderr.
    let a = at(&archive, later).arg("dispose").assert().success();
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().all(|l| l.split('\t').count() == 3), "{out}");
    let err = stderr_of(&a);
    assert!(err.contains("due: 2 of 3 conversations"), "{err}");
    assert!(err.contains("\"invoice-8812\""), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");

    // The listing changed nothing: every conversation is still there.
    convault(&archive).args(["show", CONV_A]).assert().success();

    // Released: now C is due too; the release is recorded with its reason.
    at(&archive, later)
        .args([
            "hold",
            "release",
            "invoice-8812",
            "--reason",
            "dispute settled",
        ])
        .assert()
        .success();
    assert_eq!(due(&dispose(&archive, later)).len(), 3);
    let released = records_of_kind(&archive, "hold-released");
    assert_eq!(released[0]["details"]["reason"], "dispute settled");
    let placed = records_of_kind(&archive, "hold-placed");
    assert_eq!(released[0]["details"]["placed_record"], placed[0]["seq"]);
    assert_eq!(placed[0]["details"]["basis"]["query"], "8812");
}

#[test]
fn a_hold_keeps_what_it_matched_when_placed_and_named_conversations_before_they_arrive() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, WEEK1);
    // By name: conversation C is not in the archive yet.
    at(&archive, NOW)
        .args([
            "hold",
            "place",
            "named",
            "--reason",
            "subpoena",
            "--conversation",
            CONV_C,
        ])
        .assert()
        .success();
    let placed = records_of_kind(&archive, "hold-placed");
    assert_eq!(placed[0]["details"]["matched"][0], CONV_C);
    assert!(held(&archive, "named").is_empty());
    ingest(&archive, WEEK2);
    assert_eq!(held(&archive, "named"), vec![CONV_C.to_owned()]);

    // Within the minimum by time: the plan says none is due before 7 days.
    at(&archive, NOW)
        .args(["retention", "set", "7d", "--reason", "test"])
        .assert()
        .success();
    let plan = dispose(&archive, NOW);
    // Week 1's conversations (last entries 2026-11-09) are past 7 days at
    // 2026-11-20; C (2026-11-16) is not, and is held anyway.
    let mut listed = due(&plan);
    listed.sort();
    assert_eq!(listed, vec![CONV_A.to_owned(), CONV_B.to_owned()]);
    assert_eq!(plan["conversations_held"], 0);
    assert_eq!(plan["oldest_last_entry"], plan["due"][0]["last_entry"]);

    // At the cutoff to the millisecond: C's last entry (09:16:00.000) is
    // not earlier than the cutoff, so it is not past retention; a
    // millisecond later it is (and held).
    let plan = dispose(&archive, "2026-11-23T09:16:00Z");
    assert_eq!(plan["conversations_held"], 0);
    let plan = dispose(&archive, "2026-11-23T09:16:00.001Z");
    assert_eq!(plan["conversations_held"], 1);
    assert_eq!(plan["spared"][0]["hold"], "named");

    // Listing: both forms, and the count it holds now.
    let list = json_of(
        &convault(&archive)
            .args(["hold", "list", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(list[0]["name"], "named");
    assert_eq!(list[0]["holds_now"], 1);
    convault(&archive)
        .args(["hold", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("named\tholds 1\t"));
}

#[test]
fn hold_errors_name_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, WEEK1);
    let place = |args: &[&str]| {
        at(&archive, NOW)
            .args(["hold", "place"])
            .args(args)
            .assert()
    };
    // No basis, two bases, no reason, a bad name, a bad query.
    place(&["h", "--reason", "r"]).code(2);
    place(&["h", "--reason", "r", "--case", "500X", "refund"]).code(2);
    place(&["h", "refund"])
        .code(2)
        .stderr(predicate::str::contains("--reason"));
    place(&["bad\u{7}name", "--reason", "r", "refund"])
        .code(2)
        .stderr(predicate::str::contains("not a hold name"));
    place(&["h", "--reason", "r", "\"unclosed"]).code(2);
    assert!(records_of_kind(&archive, "hold-placed").is_empty());

    place(&["h", "--reason", "r", "--case", "500Kj000001CaseAA"]).success();
    place(&["h", "--reason", "again", "refund"])
        .code(2)
        .stderr(predicate::str::contains("already in force"));
    // Unknown holds: exit 1, naming those in force.
    convault(&archive)
        .args(["hold", "show", "nope"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no hold named \"nope\" is in force (in force: \"h\")",
        ));
    at(&archive, NOW)
        .args(["hold", "release", "nope", "--reason", "r"])
        .assert()
        .code(1);
    at(&archive, NOW)
        .args(["hold", "release", "h", "--reason", "r"])
        .assert()
        .success();
    // Released: listed only with --all; the name may be used again.
    convault(&archive)
        .args(["hold", "list"])
        .assert()
        .success()
        .stderr(predicate::str::contains("no hold is in force"));
    convault(&archive)
        .args(["hold", "list", "--all"])
        .assert()
        .success()
        .stdout(predicate::str::contains("released"));
    place(&["h", "--reason", "new matter", "refund"]).success();
    // No archive: exit 1.
    at(&tmp.path().join("none"), NOW)
        .args(["hold", "place", "x", "--reason", "r", "refund"])
        .assert()
        .code(1);
}

/// (member, line, entry, version, content hash) of every entry version
/// outside `except`, sorted.
fn provenance(archive: &Path, except: &str) -> Vec<(String, i64, String, i64, String)> {
    let conn = super::db(archive);
    let mut stmt = conn
        .prepare(
            "SELECT m.name, e.line, e.identifier, e.version, e.content_hash
             FROM entries e JOIN members m ON m.id = e.member_id
             JOIN conversations c ON c.id = e.conversation_id
             WHERE c.identifier != ?1 ORDER BY 1, 2",
        )
        .unwrap();
    stmt.query_map([except], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

#[test]
fn a_derivative_of_an_export_without_one_conversation_reads_back_with_the_same_provenance() {
    use std::collections::{BTreeMap, BTreeSet};
    let tmp = tempfile::tempdir().unwrap();
    let original = tmp.path().join("original");
    ingest(&original, WEEK1);
    // Where conversation B's rows are: both members (LF and CRLF, quoted
    // multi-line payloads).
    let mut remove: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    {
        let conn = super::db(&original);
        let mut stmt = conn
            .prepare(
                "SELECT m.name, e.line FROM entries e JOIN members m ON m.id = e.member_id
                 JOIN conversations c ON c.id = e.conversation_id WHERE c.identifier = ?1",
            )
            .unwrap();
        for row in stmt
            .query_map([CONV_B], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .unwrap()
        {
            let (member, line) = row.unwrap();
            remove.entry(member).or_default().insert(line as u64);
        }
    }
    assert!(!remove.is_empty());
    let derived = tmp.path().join("derived.zip");
    let d = convault::retention::derive::zip_without(
        &fixture(WEEK1),
        &derived,
        &remove,
        &std::collections::BTreeSet::new(),
    )
    .unwrap();
    assert_eq!(
        d.members.iter().map(|m| m.blanked.records).sum::<u64>(),
        remove.values().map(|l| l.len() as u64).sum::<u64>()
    );

    // Ingested on its own, the derivative gives every other entry version
    // from the same member and line, with the same content hash.
    let again = tmp.path().join("again");
    at(&again, NOW)
        .arg("ingest")
        .arg(&derived)
        .assert()
        .success();
    assert_eq!(provenance(&again, CONV_B), provenance(&original, CONV_B));
    convault(&again).args(["show", CONV_B]).assert().code(1);
    // Not a byte of B's text is left: its refund reference, in the
    // original's members, is in none of the derivative's.
    let holds_reference = |path: &Path| {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        (0..zip.len()).any(|i| {
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut zip.by_index(i).unwrap(), &mut text).unwrap();
            text.windows(6).any(|w| w == b"R-5531")
        })
    };
    assert!(holds_reference(&fixture(WEEK1)));
    assert!(!holds_reference(&derived));
    convault(&again).arg("verify").assert().success();
}

#[test]
fn an_erasure_request_reaches_an_end_users_conversations_exactly_and_holds_refuse_it() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, WEEK1);
    ingest(&archive, WEEK2);
    super::ingest_data_export(&archive, tmp.path());
    let erase = |args: &[&str]| at(&archive, NOW).arg("erase").args(args).assert();

    // Ana Pereira's key: her session is conversation C's.
    let plan =
        json_of(&erase(&["--enduser", "+15551230000", "--reason", "DSAR-88", "--json"]).success());
    assert_eq!(plan["erase"][0]["conversation"], CONV_C);
    assert_eq!(plan["conversations"], 1);
    assert_eq!(plan["entries"], plan["erase"][0]["entries"]);
    assert_eq!(plan["target"]["end_user"], "+15551230000");
    // Her record Id reaches the same; a part of her key reaches nothing.
    let plan =
        json_of(&erase(&["--enduser", "0PAKj0000000002AAA", "--reason", "r", "--json"]).success());
    assert_eq!(plan["erase"][0]["conversation"], CONV_C);
    // Found nothing: said, with what was searched, and exit 1 (issue 30).
    erase(&["--enduser", "5551230000", "--reason", "r"])
        .code(1)
        .stderr(predicate::str::contains("no conversation of an end user"))
        .stderr(predicate::str::contains("Nothing was erased"));
    // Named conversations, one not in the archive.
    let a = erase(&["--conversation", CONV_A, "nope", "--reason", "r"]).success();
    assert!(String::from_utf8_lossy(&a.get_output().stdout).starts_with(CONV_A));
    assert!(stderr_of(&a).contains("not in the archive: nope"));
    assert!(stderr_of(&a).contains("nothing was changed"));
    // Usage: no subject, two subjects, no reason.
    erase(&["--reason", "r"]).code(2);
    erase(&["--conversation", CONV_A, "--enduser", "k", "--reason", "r"]).code(2);
    erase(&["--conversation", CONV_A]).code(2);

    // A hold on C refuses the request whole, naming the hold.
    at(&archive, NOW)
        .args([
            "hold",
            "place",
            "complaint",
            "--reason",
            "r",
            "--conversation",
            CONV_C,
        ])
        .assert()
        .success();
    let a = erase(&["--conversation", CONV_A, CONV_C, "--reason", "DSAR-88"]).code(4);
    let err = stderr_of(&a);
    assert!(
        err.contains("erasure refused, nothing was changed"),
        "{err}"
    );
    assert!(err.contains("hold \"complaint\""), "{err}");
    assert!(err.contains(CONV_C) && !err.contains(CONV_A), "{err}");
    assert!(a.get_output().stdout.is_empty());
    at(&archive, NOW)
        .args(["hold", "release", "complaint", "--reason", "resolved"])
        .assert()
        .success();

    // Within the minimum: refused unless the policy allows it.
    at(&archive, NOW)
        .args(["retention", "set", "7y", "--minimum", "5y", "--reason", "r"])
        .assert()
        .success();
    let a = erase(&["--enduser", "+15551230000", "--reason", "DSAR-88"]).code(4);
    assert!(
        stderr_of(&a).contains("--allow-erasure-within-minimum"),
        "{}",
        stderr_of(&a)
    );
    at(&archive, NOW)
        .args([
            "retention",
            "set",
            "7y",
            "--minimum",
            "5y",
            "--allow-erasure-within-minimum",
            "--reason",
            "counsel: erasure requests are honoured",
        ])
        .assert()
        .success();
    erase(&["--enduser", "+15551230000", "--reason", "DSAR-88"]).success();
}
