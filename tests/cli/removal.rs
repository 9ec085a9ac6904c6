//! Carrying out dispositions and erasures (issue 15): what is removed
//! leaves the database and the originals, what is held stays, the archive
//! still verifies and re-derives, the certificate checks, and a crash at
//! any point leaves the archive as before or as after.

use std::io::Read;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

use super::support::fixture_data;
use super::{CONV_A, CONV_B, CONV_C, WEEK1, WEEK2, convault, fixture, stderr_of};

const NOW: &str = "2026-11-20T00:00:00Z";
/// 25 days on: everything is past a 7-day retention.
const LATER: &str = "2026-12-15T00:00:00Z";

/// Text only conversation A holds, only B, only C.
const TEXT_A: &str = "order #10023";
const TEXT_B: &str = "caf\u{e9} cr\u{e8}me machine";
const TEXT_C: &str = "charged twice for invoice 8812";

fn at(archive: &Path, now: &str) -> Command {
    let mut c = convault(archive);
    c.env("CONVAULT_NOW", now).env("USER", "officer");
    c
}

fn json_of(a: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&a.get_output().stdout).expect("JSON on stdout")
}

fn run(archive: &Path, now: &str, args: &[&str]) -> assert_cmd::assert::Assert {
    at(archive, now).args(args).assert()
}

/// Where `needle` occurs under `dir`: in any file's bytes, or in any
/// member of any zip, inflated.
fn found_under(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_owned()];
    let has = |bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            if has(&bytes) {
                hits.push(path.display().to_string());
            }
            if bytes.starts_with(b"PK") {
                let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes)).unwrap();
                for i in 0..zip.len() {
                    let mut m = zip.by_index(i).unwrap();
                    let mut inflated = Vec::new();
                    m.read_to_end(&mut inflated).unwrap();
                    if has(&inflated) {
                        hits.push(format!("{}: member {i}", path.display()));
                    }
                }
            }
        }
    }
    hits
}

/// Weeks 1 and 2, a 7-day policy, and a hold on conversation C.
fn two_weeks_with_a_hold_on_c(archive: &Path) {
    for week in [WEEK1, WEEK2] {
        at(archive, NOW)
            .arg("ingest")
            .arg(fixture(week))
            .assert()
            .success();
    }
    run(
        archive,
        NOW,
        &["retention", "set", "7d", "--reason", "policy 12"],
    )
    .success();
    run(
        archive,
        NOW,
        &["hold", "place", "dispute", "--reason", "dispute 17", "8812"],
    )
    .success();
}

/// Every stored version: conversation, entry, version, member, line.
fn provenance(archive: &Path) -> Vec<(String, String, i64, String, Option<i64>)> {
    let conn = super::db(archive);
    let mut stmt = conn
        .prepare(
            "SELECT c.identifier, e.identifier, e.version, m.name, e.line FROM entries e
             JOIN conversations c ON c.id = e.conversation_id JOIN members m ON m.id = e.member_id
             ORDER BY 1, 2, 3",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn verify_rederive(archive: &Path) {
    let a = convault(archive)
        .args(["verify", "--rederive", "--json"])
        .assert();
    let out = a.get_output();
    assert!(
        out.status.success(),
        "verify failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn certificate_of(archive: &Path, outcome: &Value) -> PathBuf {
    archive.join(outcome["certificate"].as_str().expect("certificate"))
}

#[test]
fn dispose_execute_removes_what_is_due_everywhere_and_keeps_what_is_held() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    two_weeks_with_a_hold_on_c(&archive);
    // The scan finds text in inflated members: C's text is there.
    assert!(!found_under(&archive, TEXT_A).is_empty());
    assert!(!found_under(&archive, TEXT_C).is_empty());
    let provenance_before = provenance(&archive);
    // Held, C cannot be erased either.
    let a = run(
        &archive,
        LATER,
        &[
            "erase",
            "--conversation",
            CONV_C,
            "--reason",
            "r",
            "--execute",
        ],
    )
    .code(4);
    assert!(
        stderr_of(&a).contains("hold \"dispute\""),
        "{}",
        stderr_of(&a)
    );

    let a = run(
        &archive,
        LATER,
        &["dispose", "--execute", "--reason", "yearly run", "--json"],
    )
    .success();
    let out = json_of(&a);
    let outcome = &out["outcome"];
    assert_eq!(outcome["conversations"], 2, "{out}");
    assert_eq!(outcome["objects_replaced"], 2, "{out}");
    assert_eq!(outcome["objects_deleted"], 0, "{out}");
    assert!(stderr_of(&a).contains("certificate: certificates/disposition-"));

    // Nothing of A or B is left in any file: database, WAL, objects.
    for text in [TEXT_A, TEXT_B, "Hi, I need help", "10023", "damaged"] {
        let hits = found_under(&archive, text);
        assert!(hits.is_empty(), "{text:?} still in {hits:?}");
    }
    assert!(!found_under(&archive, TEXT_C).is_empty(), "held C is kept");

    // The archive verifies and re-derives; C's versions keep their
    // members and lines; search and show know nothing of A and B.
    verify_rederive(&archive);
    let kept: Vec<_> = provenance_before
        .into_iter()
        .filter(|p| p.0 == CONV_C)
        .collect();
    assert!(!kept.is_empty());
    assert_eq!(provenance(&archive), kept);
    let a = convault(&archive).args(["show", CONV_A]).assert().code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("removed by the disposition of 2026-12-15") && err.contains("ledger record"),
        "{err}"
    );
    convault(&archive)
        .args(["search", "10023"])
        .assert()
        .success()
        .stdout("");
    let a = convault(&archive)
        .args(["search", "8812"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&a.get_output().stdout).contains(CONV_C));
    convault(&archive).args(["show", CONV_C]).assert().success();

    // The ledger record holds the certificate's SHA-256; the certificate
    // verifies, and a changed one does not.
    let cert = certificate_of(&archive, outcome);
    let body = std::fs::read(&cert).unwrap();
    assert_eq!(
        outcome["certificate_sha256"].as_str().unwrap(),
        super::sha256_file(&cert)
    );
    let c: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(c["reason"], "yearly run");
    assert_eq!(c["by"], "officer");
    assert_eq!(c["conversations"].as_array().unwrap().len(), 2);
    let listed: u64 = c["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["content_hashes"].as_array().unwrap().len() as u64)
        .sum();
    assert_eq!(listed, c["entries"].as_u64().unwrap());
    assert!(!String::from_utf8_lossy(&body).contains(TEXT_A));
    convault(&archive)
        .args(["certificate", "verify"])
        .arg(&cert)
        .assert()
        .success();
    let changed = tmp.path().join("changed.json");
    std::fs::write(
        &changed,
        String::from_utf8_lossy(&body).replace("yearly run", "yearly run!"),
    )
    .unwrap();
    let a = convault(&archive)
        .args(["certificate", "verify"])
        .arg(&changed)
        .assert()
        .code(3);
    assert!(
        stderr_of(&a).contains("certificate-changed"),
        "{}",
        stderr_of(&a)
    );
    let text = std::fs::read_to_string(cert.with_extension("txt")).unwrap();
    assert!(text.starts_with("DISPOSITION CERTIFICATE"), "{text}");

    // The receipt of week 1 shows its derivative and the record.
    let a = convault(&archive)
        .args(["receipt", "1", "--json"])
        .assert()
        .success();
    let receipt = json_of(&a);
    assert_eq!(
        receipt["replaced"][0]["old_sha256"],
        super::sha256_file(&fixture(WEEK1))
    );
    assert_eq!(receipt["replaced"][0]["record"], c["ledger_record"]);

    // The original again is not ingested again: what went stays gone.
    let a = at(&archive, LATER)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
    assert!(
        stderr_of(&a).contains("not ingested again"),
        "{}",
        stderr_of(&a)
    );
    convault(&archive).args(["show", CONV_A]).assert().code(1);

    // Released, C goes too; everything still verifies.
    run(
        &archive,
        LATER,
        &["hold", "release", "dispute", "--reason", "settled"],
    )
    .success();
    let out = json_of(
        &run(
            &archive,
            LATER,
            &[
                "dispose",
                "--execute",
                "--reason",
                "after release",
                "--json",
            ],
        )
        .success(),
    );
    assert_eq!(out["outcome"]["conversations"], 1, "{out}");
    verify_rederive(&archive);
    assert!(found_under(&archive, TEXT_C).is_empty());
    // Nothing is due now: nothing is recorded.
    let a = run(
        &archive,
        LATER,
        &["dispose", "--execute", "--reason", "again"],
    )
    .success();
    assert!(
        stderr_of(&a).contains("nothing is due"),
        "{}",
        stderr_of(&a)
    );
    // Usage: --execute without a reason.
    run(&archive, LATER, &["dispose", "--execute"]).code(2);
}

#[test]
fn an_erasure_by_end_user_reaches_two_exports_and_two_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    for week in [WEEK1, WEEK2] {
        at(&archive, NOW)
            .arg("ingest")
            .arg(fixture(week))
            .assert()
            .success();
    }
    // Conversation A's API page, and the Data Export Service's objects.
    let page = tmp.path().join("api/page-1.json");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    std::fs::write(&page, fixture_data::data_api_page_a()).unwrap();
    at(&archive, NOW)
        .arg("ingest")
        .arg(&page)
        .assert()
        .success();
    super::ingest_data_export(&archive, tmp.path());
    // A later export of the end users alone: its rows are stored records
    // already (not stored again), yet its original holds them.
    let (part1, _) = fixture_data::data_export_parts();
    let users: Vec<_> = part1
        .into_iter()
        .filter(|m| m.name == "MessagingEndUser.csv")
        .collect();
    let p3 = tmp.path().join("WE_00DKj0000000001_3.ZIP");
    super::write_zip(&p3, &users);
    let r = super::ingest(&archive, &[&p3]);
    assert_eq!(r["records_new"], 0, "{r}");
    assert!(!found_under(&archive, "Guest 7f3e21").is_empty());

    // A's end user, by messaging platform key.
    let key = "v2/iamessage/UNAUTH/NA/uid:7f3e21";
    let out = json_of(
        &run(
            &archive,
            NOW,
            &[
                "erase",
                "--enduser",
                key,
                "--reason",
                "DSAR-101",
                "--execute",
                "--json",
            ],
        )
        .success(),
    );
    let outcome = &out["outcome"];
    assert_eq!(outcome["kind"], "erasure");
    assert_eq!(outcome["conversations"], 1, "{out}");
    // The API page held A alone: it is deleted; the zips are replaced.
    assert_eq!(outcome["objects_deleted"], 1, "{out}");
    assert!(outcome["objects_replaced"].as_u64().unwrap() >= 3, "{out}");
    assert!(outcome["records"].as_u64().unwrap() >= 3, "{out}");
    // Not even the ledger or the certificate keeps the key (its SHA-256).
    for text in [TEXT_A, "Guest 7f3e21", key, "0PAKj0000000001AAA"] {
        let hits = found_under(&archive, text);
        assert!(hits.is_empty(), "{text:?} still in {hits:?}");
    }
    // B, C and C's end user stay.
    for text in [TEXT_B, TEXT_C, "Ana Pereira"] {
        assert!(!found_under(&archive, text).is_empty(), "{text:?} is gone");
    }
    verify_rederive(&archive);
    convault(&archive).args(["show", CONV_B]).assert().success();
    let a = convault(&archive).args(["show", CONV_A]).assert().code(1);
    assert!(stderr_of(&a).contains("removed by the erasure"));
    convault(&archive)
        .args(["certificate", "verify"])
        .arg(certificate_of(&archive, outcome))
        .assert()
        .success();
    let erasures = super::ledger_records(&archive, "erasure");
    assert_eq!(erasures.len(), 1);
    assert_eq!(erasures[0]["details"]["reason"], "DSAR-101");
    assert_eq!(
        erasures[0]["details"]["certificate_sha256"],
        outcome["certificate_sha256"]
    );
    let key_file = tmp.path().join("key");
    std::fs::write(&key_file, key).unwrap();
    assert_eq!(
        erasures[0]["details"]["basis"]["target"]["end_user_sha256"],
        super::sha256_file(&key_file)
    );
}

/// The state of the archive a removal may leave: A present or removed.
fn a_is_present(archive: &Path) -> bool {
    let out = convault(archive).args(["show", CONV_A]).output().unwrap();
    match out.status.code() {
        Some(0) => true,
        Some(1) => false,
        other => panic!(
            "show exited {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn a_kill_at_any_point_of_a_disposition_leaves_it_before_or_after() {
    let points = [
        ("removal-derivatives-written", false),
        ("removal-journal-written", false),
        ("removal-certificate-written", false),
        ("removal-before-commit", false),
        ("removal-committed", true),
        ("removal-first-original-deleted", true),
    ];
    for (point, after) in points {
        let tmp = tempfile::tempdir().unwrap();
        let archive = tmp.path().join("a");
        two_weeks_with_a_hold_on_c(&archive);
        let out = at(&archive, LATER)
            .args(["dispose", "--execute", "--reason", "r"])
            .env("CONVAULT_FAILPOINT", point)
            .output()
            .unwrap();
        assert!(
            !out.status.success() && out.status.code().is_none(),
            "{point}: the process was not killed: {:?}",
            out.status
        );
        // Verify passes at once (it finishes or undoes what was left).
        verify_rederive(&archive);
        assert_eq!(a_is_present(&archive), !after, "{point}");
        assert_eq!(
            found_under(&archive, TEXT_A).is_empty(),
            after,
            "{point}: {:?}",
            found_under(&archive, TEXT_A)
        );
        let tmp_dir = archive.join("objects/tmp");
        let left: Vec<_> = std::fs::read_dir(&tmp_dir)
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{point}: left in objects/tmp: {left:?}");
        // Certificates only of records that exist.
        let certs = std::fs::read_dir(archive.join("certificates"))
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(certs, if after { 2 } else { 0 }, "{point}");
        // Run again, it completes (or finds nothing left to do).
        let a = run(&archive, LATER, &["dispose", "--execute", "--reason", "r"]).success();
        if after {
            assert!(stderr_of(&a).contains("nothing is due"), "{point}");
        }
        verify_rederive(&archive);
        assert!(!a_is_present(&archive), "{point}");
        assert!(found_under(&archive, TEXT_A).is_empty(), "{point}");
    }
}

#[test]
fn a_later_export_that_brings_a_removed_conversation_again_has_it_removed_again() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    at(&archive, NOW)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
    run(&archive, NOW, &["retention", "set", "7d", "--reason", "r"]).success();
    // A and B go; week 2 (complete) holds them again, and C.
    run(&archive, LATER, &["dispose", "--execute", "--reason", "r"]).success();
    assert!(!a_is_present(&archive));
    let a = at(&archive, LATER)
        .arg("ingest")
        .arg(fixture(WEEK2))
        .assert()
        .success();
    let err = stderr_of(&a);
    assert!(
        err.contains("came back in an export and were removed again"),
        "{err}"
    );
    assert!(!a_is_present(&archive));
    convault(&archive).args(["show", CONV_C]).assert().success();
    for text in [TEXT_A, TEXT_B] {
        let hits = found_under(&archive, text);
        assert!(hits.is_empty(), "{text:?} still in {hits:?}");
    }
    verify_rederive(&archive);
    // Two dispositions: the second names the first.
    let records = super::ledger_records(&archive, "disposition");
    assert_eq!(records.len(), 2);
    assert_eq!(
        records[1]["details"]["basis"]["reapplies"][0],
        records[0]["seq"]
    );
    // Week 2's receipt shows its derivative.
    let receipt = json_of(
        &convault(&archive)
            .args(["receipt", "2", "--json"])
            .assert()
            .success(),
    );
    assert_eq!(receipt["replaced"][0]["record"], records[1]["seq"]);
}

#[test]
fn an_erasure_rewrites_an_ndjson_file_that_mixes_conversations() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    at(&archive, NOW)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
    let entry = |id: &str, conv: &str, text: &str| {
        serde_json::json!({
            "identifier": id, "conversationIdentifier": conv, "entryType": "Message",
            "entryPayload": {"abstractMessage": {"messageType": "StaticContentMessage",
                "staticContent": {"formatType": "Text", "text": text}}},
            "sender": {"role": "EndUser"}, "clientTimestamp": 1794215700000_i64,
        })
        .to_string()
    };
    // A's and B's entries alternate; one of A's is pretty-printed.
    let pretty: Value = serde_json::from_str(&entry("n3", CONV_A, "gamma of A")).unwrap();
    let ndjson = [
        entry("n1", CONV_A, "alpha of A"),
        entry("m1", CONV_B, "kept words of B"),
        serde_json::to_string_pretty(&pretty).unwrap(),
        entry("m2", CONV_B, "more kept words of B"),
    ]
    .join("\n")
        + "\n";
    let file = tmp.path().join("more/entries.ndjson");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, &ndjson).unwrap();
    at(&archive, NOW)
        .arg("ingest")
        .arg(&file)
        .assert()
        .success();
    let before: Vec<_> = provenance(&archive)
        .into_iter()
        .filter(|p| p.0 == CONV_B)
        .collect();

    let out = json_of(
        &run(
            &archive,
            NOW,
            &[
                "erase",
                "--conversation",
                CONV_A,
                "--reason",
                "DSAR-7",
                "--execute",
                "--json",
            ],
        )
        .success(),
    );
    assert_eq!(out["outcome"]["objects_replaced"], 2, "{out}");
    for text in ["alpha of A", "gamma of A", TEXT_A] {
        let hits = found_under(&archive, text);
        assert!(hits.is_empty(), "{text:?} still in {hits:?}");
    }
    assert!(!found_under(&archive, "more kept words of B").is_empty());
    verify_rederive(&archive);
    assert_eq!(provenance(&archive), before);
}

#[test]
fn verify_fails_when_a_removal_certificate_is_changed_or_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    two_weeks_with_a_hold_on_c(&archive);
    let out = json_of(
        &run(
            &archive,
            LATER,
            &["dispose", "--execute", "--reason", "r", "--json"],
        )
        .success(),
    );
    let cert = certificate_of(&archive, &out["outcome"]);
    let body = std::fs::read_to_string(&cert).unwrap();
    std::fs::write(&cert, body.replace("\"r\"", "\"R\"")).unwrap();
    let a = convault(&archive).arg("verify").assert().code(3);
    assert!(
        String::from_utf8_lossy(&a.get_output().stdout).contains("certificate-changed"),
        "{}",
        String::from_utf8_lossy(&a.get_output().stdout)
    );
    std::fs::remove_file(&cert).unwrap();
    let a = convault(&archive).arg("verify").assert().code(3);
    assert!(String::from_utf8_lossy(&a.get_output().stdout).contains("certificate-missing"));
    std::fs::write(&cert, &body).unwrap();
    convault(&archive).arg("verify").assert().success();

    // The readable form is covered too (issue 31, item 11): its SHA-256
    // is in the ledger record.
    let text = cert.with_extension("txt");
    let readable = std::fs::read_to_string(&text).unwrap();
    let record = super::ledger_records(&archive, "disposition");
    assert_eq!(
        record[0]["details"]["certificate_text_sha256"].as_str(),
        Some(super::sha256_file(&text).as_str())
    );
    std::fs::write(
        &text,
        readable.replace("Reason:          r", "Reason:          R"),
    )
    .unwrap();
    for args in [
        vec!["verify"],
        vec!["certificate", "verify", cert.to_str().unwrap()],
    ] {
        let a = convault(&archive).args(&args).assert().code(3);
        let o = a.get_output();
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.contains("certificate-text-changed"), "{args:?}: {out}");
    }
    std::fs::remove_file(&text).unwrap();
    let a = convault(&archive).arg("verify").assert().code(3);
    assert!(String::from_utf8_lossy(&a.get_output().stdout).contains("certificate-text-missing"));
    std::fs::write(&text, &readable).unwrap();
    convault(&archive).arg("verify").assert().success();

    // Another archive's certificate is named as such, not as a changed
    // ledger record: whether that archive has a record of its number or
    // not yet.
    let other = tmp.path().join("b");
    for week in [WEEK1, WEEK2] {
        at(&other, NOW)
            .arg("ingest")
            .arg(fixture(week))
            .assert()
            .success();
    }
    run(
        &other,
        NOW,
        &["retention", "set", "7d", "--reason", "another policy"],
    )
    .success();
    run(
        &other,
        NOW,
        &["hold", "place", "other", "--reason", "another hold", "8812"],
    )
    .success();
    let other_says = |kind: &str| {
        let a = convault(&other)
            .args(["certificate", "verify"])
            .arg(&cert)
            .assert()
            .code(3);
        let out = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        assert!(
            out.contains(kind)
                && out.contains("another archive's certificate")
                && !out.contains("ledger-record-changed")
                && !out.contains("conversation-present"),
            "{out}"
        );
    };
    other_says("certificate-unrecorded");
    run(
        &other,
        LATER,
        &["dispose", "--execute", "--reason", "other", "--json"],
    )
    .success();
    other_says("certificate-other-archive");

    // A FIFO or a device given as the certificate is refused at once,
    // never waited on.
    let fifo = tmp.path().join("fifo.json");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs (coreutils)")
            .success()
    );
    for path in [fifo.as_path(), Path::new("/dev/zero")] {
        convault(&archive)
            .args(["certificate", "verify"])
            .arg(path)
            .timeout(std::time::Duration::from_secs(30))
            .assert()
            .code(6)
            .stderr(predicates::str::contains("not a regular file"));
    }
}

/// An archive of week 1, ingested at `NOW`.
fn week1_archive(tmp: &tempfile::TempDir) -> PathBuf {
    let archive = tmp.path().join("a");
    at(&archive, NOW)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .success();
    archive
}

/// A later plain CSV export's header.
const LATE_HEADER: &str = "identifier,conversation_identifer,entry_type,entry_payload,sender,transcripted_timestamp,client_timestamp,related_records\n";

/// A row of a later export: a text message of `conversation`.
fn late_message(id: &str, conversation: &str, text: &str) -> String {
    format!(
        "{id},{conversation},MESSAGE,\"{{\"\"entryType\"\":\"\"Message\"\",\"\"abstractMessage\"\":{{\"\"messageType\"\":\"\"StaticContentMessage\"\",\"\"staticContent\"\":{{\"\"formatType\"\":\"\"Text\"\",\"\"text\"\":\"\"{text}\"\"}}}}}}\",{{}},1794821400,,\n"
    )
}

/// Ingests `text` as a later plain export file `name`, which must succeed.
fn ingest_late(tmp: &tempfile::TempDir, archive: &Path, name: &str, text: &str) -> Value {
    let file = tmp.path().join(name);
    std::fs::write(&file, text).unwrap();
    super::ingest(archive, &[&file])
}

/// Erases A; then `gone` is nowhere under the archive, `kept` still is,
/// and the archive verifies with its originals read again.
fn erase_a_leaving(archive: &Path, gone: &str, kept: &str) {
    erase_a(archive);
    let hits = found_under(archive, gone);
    assert!(hits.is_empty(), "{gone:?} still in {hits:?}");
    assert!(!found_under(archive, kept).is_empty(), "{kept:?} is gone");
    verify_rederive(archive);
}

/// Erases conversation A, which must succeed.
fn erase_a(archive: &Path) {
    run(
        archive,
        NOW,
        &[
            "erase",
            "--conversation",
            CONV_A,
            "--reason",
            "r",
            "--execute",
        ],
    )
    .success();
}

#[test]
fn a_quarantined_row_of_an_erased_conversation_goes_from_an_export_that_lacks_it_otherwise() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = week1_archive(&tmp);
    // A later file: a good row of B, and a row of A that cannot be read.
    let csv = format!(
        "{LATE_HEADER}{}z0000002-0000-4000-8000-000000000002,{CONV_A},MESSAGE,\"{{\"\"secret broken words\",{{}},1794821400,,\n",
        late_message(
            "z0000001-0000-4000-8000-000000000001",
            CONV_B,
            "a late word of B"
        )
    );
    let r = ingest_late(&tmp, &archive, "late.csv", &csv);
    assert_eq!(r["quarantined_total"], 1, "{r}");
    assert!(!found_under(&archive, "secret broken words").is_empty());
    erase_a_leaving(&archive, "secret broken words", "a late word of B");
}

/// A row too long to read (issue 16: a 200 MB payload must not take the
/// ingest's memory) is quarantined with its line and length, the rows
/// around it are read, the archive verifies, and erasing its conversation
/// takes it out of the original like any other row.
#[test]
fn a_row_too_long_to_read_is_quarantined_and_goes_with_its_conversation() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = week1_archive(&tmp);
    let long = "secret long words ".repeat(convault::source::MAX_ROW_BYTES / 18 + 1);
    let csv = format!(
        "{LATE_HEADER}{}{}{}",
        late_message(
            "z0000001-0000-4000-8000-000000000001",
            CONV_B,
            "a late word of B"
        ),
        late_message("z0000002-0000-4000-8000-000000000002", CONV_A, &long),
        late_message(
            "z0000003-0000-4000-8000-000000000003",
            CONV_B,
            "another late word"
        ),
    );
    let r = ingest_late(&tmp, &archive, "late.csv", &csv);
    assert_eq!(r["entries_new"], 2, "{r}");
    assert_eq!(r["quarantined_total"], 1, "{r}");
    let q = &r["quarantined"][0];
    assert_eq!(q["line"], 3, "{q}");
    let length = csv.lines().nth(2).unwrap().len();
    assert!(
        q["reason"].as_str().unwrap().starts_with(&format!(
            "row of {length} bytes, larger than the 2 MiB a row may take to be read"
        )),
        "{q}"
    );
    verify_rederive(&archive);
    erase_a_leaving(&archive, "secret long words", "another late word");
}

/// The same in NDJSON: the entry too long to read is quarantined with its
/// first bytes, which name its conversation, so erasing the conversation
/// blanks it in the original.
#[test]
fn an_ndjson_entry_too_long_to_read_goes_with_its_conversation() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = week1_archive(&tmp);
    let entry = |id: &str, conv: &str, text: &str| {
        serde_json::json!({
            "identifier": id, "conversationIdentifier": conv, "entryType": "Message",
            "entryPayload": {"abstractMessage": {"messageType": "StaticContentMessage",
                "staticContent": {"formatType": "Text", "text": text}}},
            "sender": {"role": "EndUser"}, "clientTimestamp": 1794215700000_i64,
        })
        .to_string()
    };
    let long = "secret json words ".repeat(convault::source::MAX_ROW_BYTES / 18 + 1);
    let ndjson = format!(
        "{}\n{}\n",
        entry("n1", CONV_B, "a json word of B"),
        entry("n2", CONV_A, &long)
    );
    let r = ingest_late(&tmp, &archive, "late.ndjson", &ndjson);
    assert_eq!(r["entries_new"], 1, "{r}");
    assert_eq!(r["quarantined"][0]["line"], 2, "{r}");
    erase_a_leaving(&archive, "secret json words", "a json word of B");
}

/// An ingest killed after its commit, before it removed again what its
/// export brought back: `verify` warns (the archive is sound, exit 0) and
/// says who finishes it; the next writer (`dispose --execute`) removes it
/// again and says so, even when it then refuses its own work (no policy
/// is set: exit 2), and the warning is gone.
#[test]
fn conversations_an_interrupted_ingest_brought_back_are_named_by_verify_and_removed_next() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = week1_archive(&tmp);
    erase_a(&archive);
    killed_after_commit(&archive);
    // Verify is a writer: its session removes A again first, and says so
    // in its report (issue 30, item 5: one writer session for all).
    let report = |a: assert_cmd::assert::Assert| {
        String::from_utf8_lossy(&a.get_output().stdout).into_owned()
    };
    let out = report(convault(&archive).arg("verify").assert().success());
    assert!(
        out.contains("came back in an export and were removed again"),
        "{out}"
    );
    assert!(!a_is_present(&archive));
    assert!(found_under(&archive, TEXT_A).is_empty());
    let out = report(convault(&archive).arg("verify").assert().success());
    assert!(!out.contains("removed again"), "{out}");
    verify_rederive(&archive);
    let erasures = super::ledger_records(&archive, "erasure");
    assert_eq!(erasures.len(), 2, "the second erasure reapplies the first");
}

/// Ingests week 2, which brings erased A back, killed between its commit
/// and its removing A again.
fn killed_after_commit(archive: &Path) {
    at(archive, NOW)
        .env("CONVAULT_FAILPOINT", "ingest-committed")
        .arg("ingest")
        .arg(fixture(WEEK2))
        .assert()
        .failure();
    assert!(a_is_present(archive), "the ingest died before removing A");
}

/// Every writer begins with the same session: whichever runs first after
/// such a kill removes A again before it does anything, so a production
/// can never pack an erased conversation (issue 30, item 5).
#[test]
fn every_writer_removes_again_what_a_killed_ingest_brought_back_before_acting() {
    let tmp = tempfile::tempdir().unwrap();
    let bag = tmp.path().join("bag");
    let bag_arg = bag.display().to_string();
    let writers: [(&str, Vec<&str>); 6] = [
        ("produce", vec!["produce", "--out", &bag_arg, "refund"]),
        (
            "hold",
            vec!["hold", "place", "h", "--reason", "r", "refund"],
        ),
        ("retention", vec!["retention", "set", "7y", "--reason", "r"]),
        (
            "request",
            vec!["request", "transcripts", "--override", "--reason", "r"],
        ),
        ("dispose", vec!["dispose", "--execute", "--reason", "r"]),
        ("ingest", vec!["ingest", "--by", "x"]),
    ];
    for (name, args) in writers {
        let dir = tempfile::tempdir().unwrap();
        let archive = week1_archive(&dir);
        erase_a(&archive);
        killed_after_commit(&archive);
        let mut c = at(&archive, LATER);
        c.args(&args);
        if name == "ingest" {
            // Nothing new to ingest: the session still runs first.
            c.arg(fixture(WEEK2));
        }
        let a = c.assert();
        let err = stderr_of(&a);
        assert!(
            err.contains("came back in an export and were removed again"),
            "{name}: {err}"
        );
        assert!(!a_is_present(&archive), "{name}: A is gone");
        if name == "produce" {
            a.success();
            let packed = found_under(&bag, TEXT_A);
            assert!(
                packed.is_empty(),
                "the production holds erased A: {packed:?}"
            );
            let _ = std::fs::remove_dir_all(&bag);
        }
    }
}

/// Another program holding the database open in a read transaction keeps
/// the old pages in the file and its WAL: the erasure waits for it, then
/// says the text is still on disk and exits non-zero, the removal left
/// unfinished; once the reader is gone, the next writer (`verify`)
/// finishes it and no byte of the conversation is left (issue 31, item 3).
#[test]
fn an_erasure_never_claims_success_while_a_reader_keeps_the_text_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = week1_archive(&tmp);
    let reader = rusqlite::Connection::open(archive.join("archive.sqlite")).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let n: i64 = reader
        .query_row("SELECT count(*) FROM entries", [], |r| r.get(0))
        .unwrap();
    assert!(n > 0);
    let a = at(&archive, NOW)
        .env("CONVAULT_CHECKPOINT_PATIENCE_MS", "1500")
        .args([
            "erase",
            "--conversation",
            CONV_A,
            "--reason",
            "r",
            "--execute",
        ])
        .assert()
        .code(1);
    let err = stderr_of(&a);
    assert!(
        err.contains("could not be finished") && err.contains("read transaction"),
        "{err}"
    );
    assert!(
        a_is_present_in_files(&archive),
        "the text is still on disk, as said"
    );
    // The reader lets go: the next writer finishes the removal.
    reader.execute_batch("COMMIT").unwrap();
    drop(reader);
    let v = convault(&archive).arg("verify").assert().success();
    let out = String::from_utf8_lossy(&v.get_output().stdout).into_owned();
    assert!(out.contains("finished an interrupted removal"), "{out}");
    let hits = found_under(&archive, TEXT_A);
    assert!(hits.is_empty(), "{TEXT_A:?} still in {hits:?}");
}

/// Whether conversation A's text is in any file under the archive.
fn a_is_present_in_files(archive: &Path) -> bool {
    !found_under(archive, TEXT_A).is_empty()
}
