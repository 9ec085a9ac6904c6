//! Ingest: exports read, recognised, counted, rejected and quarantined;
//! dry runs and interrupted ingests.

#![allow(unused_imports)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use rusqlite::Connection;
use serde_json::Value;

use super::*;

// ---------------------------------------------------------------- fixtures

#[test]
fn committed_fixtures_match_their_generator() {
    for (name, members) in fixture_data::all() {
        let file = std::fs::File::open(fixture(name)).expect("fixture exists");
        let mut zip = zip::ZipArchive::new(file).expect("fixture is a zip");
        assert_eq!(zip.len(), members.len(), "{name}: member count");
        for m in &members {
            let mut got = Vec::new();
            let mut member = zip.by_name(m.name).expect("member");
            assert_eq!(
                member.last_modified(),
                Some(fixture_data::generated(name)),
                "{name}: {} is dated when the export was generated",
                m.name
            );
            std::io::Read::read_to_end(&mut member, &mut got).expect("read member");
            assert!(
                got == m.bytes,
                "{name}/{}: differs from the generator; run `cargo run -p convault-test-support --bin make-fixtures`",
                m.name
            );
        }
    }
}

// ------------------------------------------------------------ ingest: happy

#[test]
fn first_ingest_creates_the_archive_and_reports_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("vault");
    let week1 = fixture(WEEK1);
    let r = ingest(&archive, &[&week1]);

    assert_eq!(r["export_id"], 1);
    assert_eq!(r["already_ingested"], false);
    assert_eq!(r["entries_read"], 28);
    assert_eq!(r["entries_new"], 28);
    assert_eq!(r["entries_unchanged"], 0);
    assert_eq!(r["entries_changed"], 0);
    assert_eq!(r["conversations_new"], 2);
    let files = r["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["path"], week1.display().to_string());
    assert_eq!(files[0]["bytes"], std::fs::metadata(&week1).unwrap().len());
    let sha = sha256_file(&week1);
    assert_eq!(files[0]["sha256"], sha.as_str());
    // The export's description beside the data is recognised and kept as
    // such, not quarantined (issue 30, item 7).
    assert_eq!(r["quarantined_total"], 0, "{r}");
    let shape: String = db(&archive)
        .query_row(
            "SELECT shape FROM members WHERE name = 'export-info.txt' AND status = 'read'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(shape, "export-description");

    // The object store holds a byte-exact, read-only copy under its hash.
    let object = archive.join("objects/sha256").join(&sha[..2]).join(&sha);
    assert_eq!(
        std::fs::read(&object).unwrap(),
        std::fs::read(&week1).unwrap()
    );
    assert!(std::fs::metadata(&object).unwrap().permissions().readonly());
    assert_eq!(
        std::fs::read_dir(archive.join("objects/tmp"))
            .unwrap()
            .count(),
        0
    );

    let conn = db(&archive);
    assert_eq!(count(&conn, "SELECT count(*) FROM entries"), 28);
    assert_eq!(count(&conn, "SELECT count(*) FROM exports"), 1);
    assert_eq!(count(&conn, "SELECT count(*) FROM members"), 3);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM members WHERE shape = 'transcript-csv' AND crc32 IS NOT NULL AND length(sha256) = 64"
        ),
        2
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM members WHERE status = 'quarantined' AND reason IS NOT NULL"
        ),
        0
    );
    // The FTS index holds exactly the entries with text.
    assert_eq!(
        count(&conn, "SELECT count(*) FROM entries_fts"),
        count(&conn, "SELECT count(*) FROM entries WHERE text IS NOT NULL")
    );
}

#[test]
fn entries_keep_normalised_types_utc_millis_and_the_raw_payload() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    ingest(&archive, &[&fixture(WEEK2)]);
    let conn = db(&archive);
    // UPPER_SNAKE and PascalCase are one type; unknown types kept verbatim.
    let types: Vec<String> = conn
        .prepare("SELECT DISTINCT entry_type FROM entries ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for t in [
        "MESSAGE",
        "PARTICIPANT_CHANGED",
        "ROUTING_RESULT",
        "ROUTING_WORK_RESULT",
        "NOTE",
        "FLAG_RAISE",
        "FLAG_LOWER",
        "CLIENT_MENU",
        "END_USER_CONSENT_UPDATED",
        "SESSION_STATUS_CHANGED",
        "CONSULT_CONVERSATION_INFO",
        "SESSION_CONTEXT",
        "SESSION_OWNER_CHANGED",
        "MESSAGE_DELIVERY_FAILED",
    ] {
        assert!(types.contains(&t.to_owned()), "{t} missing from {types:?}");
    }
    assert!(types.contains(&"COBROWSE_SESSION_STARTED".to_owned()));
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM entries WHERE entry_type_raw = 'AiSummaryGenerated'"
        ),
        1
    );

    // Milliseconds (week 1 snake), ISO-8601 (week 1 camel) and seconds
    // (week 2) all land as UTC epoch milliseconds.
    let (server, client): (i64, i64) = conn
        .query_row("SELECT server_ms, client_ms FROM entries WHERE identifier = 'a0000001-7c1e-4f2a-9b3d-5e6f7a8b9c0d'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((server, client), (1_794_215_700_000, 1_794_215_699_600));
    let server: i64 = conn
        .query_row("SELECT server_ms FROM entries WHERE identifier = 'b0000001-1d2c-4e3f-8a9b-0c1d2e3f4a5b'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(server, 1_794_215_700_000 + 3_600_000 + 123);
    let (server, related): (i64, String) = conn
        .query_row("SELECT server_ms, related_records FROM entries WHERE identifier = 'c0000003-9e8d-4c7b-a6f5-e4d3c2b1a090'", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!(server, 1_794_215_700_000 + 7 * 86_400_000 + 5_000);
    assert_eq!(related, r#"["0MwKj000007uR9zKAE","0LQKj0000000001AAA"]"#);

    // The pretty-printed CRLF payload is kept exactly as received.
    let payload: String = conn
        .query_row(
            "SELECT payload FROM entries WHERE identifier = 'b0000002-1d2c-4e3f-8a9b-0c1d2e3f4a5b'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(payload.contains("\r\n  \"abstractMessage\""), "{payload:?}");
    // Sender fields and the HTML-unescaped messageText.
    let (role, app, text): (String, String, String) = conn
        .query_row("SELECT sender_role, sender_app_type, text FROM entries WHERE identifier = 'b0000005-1d2c-4e3f-8a9b-0c1d2e3f4a5b'", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    assert_eq!((role.as_str(), app.as_str()), ("Agent", "agent"));
    assert!(
        text.contains("It's done & confirmed: refund <R-5531>"),
        "{text:?}"
    );
    // Content hashes are SHA-256 hex.
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM entries WHERE length(content_hash) != 64"
        ),
        0
    );
}

#[test]
fn text_is_extracted_from_every_message_type() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    let conn = db(&archive);
    let text = |id: &str| -> String {
        conn.query_row(
            "SELECT coalesce(text, '') FROM entries WHERE identifier = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
    };
    let a = |n: u32| format!("a{n:07}-7c1e-4f2a-9b3d-5e6f7a8b9c0d");
    let b = |n: u32| format!("b{n:07}-1d2c-4e3f-8a9b-0c1d2e3f4a5b");
    assert!(
        text(&a(4)).contains("What would you like to do?")
            && text(&a(4)).contains("Talk to an agent")
    );
    assert!(text(&a(5)).contains("Talk to an agent"), "selected option");
    assert!(
        text(&a(9)).contains("Our refund policy")
            && text(&a(9)).contains("https://help.example.com/refund-policy")
    );
    assert!(text(&a(10)).contains("damaged-box.jpg"), "attachment name");
    assert!(
        text(&a(12)).contains("Refund details") && text(&a(12)).contains("Preferred refund method")
    );
    assert!(
        text(&a(13)).contains("Preferred refund method: Original card"),
        "{}",
        text(&a(13))
    );
    assert!(text(&b(3)).contains("العربية"), "quick replies");
    assert!(text(&b(6)).contains("Track your parcel"), "web view");
    assert!(
        text(&b(7)).contains("return-label.pdf"),
        "external attachment"
    );
    assert!(text(&b(8)).contains("Espresso Pro"), "carousel");
    // Events get a readable description.
    assert!(
        text(&a(7)).contains("Dana Whitfield (Agent) joined"),
        "{}",
        text(&a(7))
    );
    assert!(text(&a(1)).contains("Routing"), "{}", text(&a(1)));
}

#[test]
fn same_file_again_is_recognised_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let week1 = fixture(WEEK1);
    ingest(&archive, &[&week1]);
    let before = std::fs::read(archive.join("archive.sqlite")).unwrap().len();
    let r = ingest(&archive, &[&week1]);
    assert_eq!(r["already_ingested"], true);
    assert_eq!(r["export_id"], 1);
    assert_eq!(r["entries_read"], 0);
    let conn = db(&archive);
    assert_eq!(count(&conn, "SELECT count(*) FROM exports"), 1);
    assert_eq!(count(&conn, "SELECT count(*) FROM entries"), 28);
    drop(conn);
    assert_eq!(
        std::fs::read(archive.join("archive.sqlite")).unwrap().len(),
        before
    );
    // The human summary says so, on stderr, with nothing on stdout.
    convault(&archive)
        .arg("ingest")
        .arg(&week1)
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("already ingested"));
}

#[test]
fn overlapping_week_counts_unchanged_and_keeps_the_redacted_version() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    let r = ingest(&archive, &[&fixture(WEEK2)]);
    assert_eq!(r["export_id"], 2);
    assert_eq!(r["entries_read"], 24);
    assert_eq!(r["entries_new"], 9);
    assert_eq!(r["entries_unchanged"], 14);
    assert_eq!(r["entries_changed"], 1);
    assert_eq!(r["conversations_new"], 1);
    let q = r["quarantined"].as_array().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["member"], "conversation_entries.csv");
    assert_eq!(q[0]["line"], 26);
    assert!(
        q[0]["reason"]
            .as_str()
            .unwrap()
            .contains("entry_payload is not valid JSON")
    );

    let conn = db(&archive);
    // Both versions kept; the old one untouched.
    let versions: Vec<(i64, String)> = conn
        .prepare("SELECT version, text FROM entries WHERE identifier = ?1 ORDER BY version")
        .unwrap()
        .query_map([REDACTED_ENTRY], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(versions.len(), 2);
    assert!(versions[0].1.contains("4321") && versions[1].1.contains("****"));
    // Each unchanged entry records that export 2 saw it too.
    assert_eq!(
        count(
            &conn,
            "SELECT entry_count - (SELECT count(*) FROM entries WHERE export_id = 2) FROM export_sightings WHERE export_id = 2"
        ),
        14
    );
    // The quarantined row keeps its raw fields.
    let raw: String = conn
        .query_row("SELECT raw FROM quarantine WHERE line = 26", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert!(
        raw.contains("c0000010-9e8d-4c7b-a6f5-e4d3c2b1a090"),
        "{raw}"
    );

    // show gives the latest version and says it was edited.
    let out = convault(&archive).args(["show", CONV_A]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(text.contains("It's the Visa ending ****"));
    assert!(!text.contains("4321"));
    assert!(text.contains("version 2 of 2"));
    // search still finds the superseded text, marked as such.
    let hits = search_json(&archive, &["4321"]);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["superseded"], true);
    assert_eq!(hits[0]["entry"], REDACTED_ENTRY);
}

#[test]
fn files_already_archived_are_skipped_beside_new_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let (week1, week2) = (fixture(WEEK1), fixture(WEEK2));
    ingest(&archive, &[&week1]);
    // Week 1 again (twice) with week 2: two exports by their times, only
    // week 2 new. Each is told: week 1 as already ingested.
    let out = convault(&archive)
        .args(["ingest", "--json"])
        .args([&week1, &week2, &week1])
        .assert()
        .success();
    let both: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(both[0]["already_ingested"], true);
    assert_eq!(both[0]["export_id"], 1);
    let r = ingest(&archive, &[&week2]);
    assert_eq!(r["already_ingested"], true);
    assert_eq!(r["export_id"], 2);
    let r = both[1].clone();
    assert_eq!(r["export_id"], 2);
    assert_eq!(r["already_ingested"], false);
    let files = r["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["already_in_export"], Value::Null);
    let again = both[0]["files"].as_array().unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|f| f["already_in_export"] == 1));
    assert_eq!(r["entries_read"], 24);
    let conn = db(&archive);
    assert_eq!(count(&conn, "SELECT count(*) FROM files"), 2);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM files WHERE export_id = 2"),
        1
    );
    drop(conn);
    convault(&archive)
        .arg("ingest")
        .arg(&week1)
        .arg(&week2)
        .assert()
        .success()
        .stderr(predicate::str::contains("already ingested"));
}

#[test]
fn several_zips_of_one_export_are_one_export() {
    let tmp = tempfile::tempdir().unwrap();
    let members = fixture_data::week1();
    let (first, second) = members.split_at(1);
    let p1 = tmp.path().join("WE_00D_1.ZIP");
    let p2 = tmp.path().join("WE_00D_2.ZIP");
    write_zip(&p1, first);
    write_zip(&p2, second);
    let archive = tmp.path().join("a");
    let r = ingest(&archive, &[&p1, &p2]);
    assert_eq!(r["export_id"], 1);
    assert_eq!(r["files"].as_array().unwrap().len(), 2);
    assert_eq!(r["entries_new"], 28);
    assert_eq!(
        count(
            &db(&archive),
            "SELECT count(*) FROM files WHERE export_id = 1"
        ),
        2
    );
}

#[test]
fn a_directory_of_extracted_files_is_read_like_the_zip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("export");
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    for (i, m) in fixture_data::week1().iter().enumerate() {
        let sub = if i == 1 {
            dir.join("nested")
        } else {
            dir.clone()
        };
        std::fs::write(sub.join(m.name), &m.bytes).unwrap();
    }
    let archive = tmp.path().join("a");
    let r = ingest(&archive, &[&dir]);
    assert_eq!(r["files"].as_array().unwrap().len(), 3);
    assert_eq!(r["entries_new"], 28);
    assert_eq!(
        r["quarantined_total"], 0,
        "the description is recognised: {r}"
    );
    // Entries equal the zip's: same content hashes.
    let other = tmp.path().join("b");
    ingest(&other, &[&fixture(WEEK1)]);
    let hashes = |a: &Path| -> Vec<String> {
        db(a)
            .prepare("SELECT content_hash FROM entries ORDER BY content_hash")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(hashes(&archive), hashes(&other));
}

#[test]
fn header_variants_bom_crlf_and_quoted_newlines() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = "\u{feff}Identifier,CONVERSATIONIDENTIFIER,Entry_Type,entryPayload\r\n\
        e1,c1,Message,\"{\"\"abstractMessage\"\":{\"\"messageType\"\":\"\"StaticContentMessage\"\",\r\n\"\"staticContent\"\":{\"\"formatType\"\":\"\"Text\"\",\"\"text\"\":\"\"line one\\nline two\"\"}}}\"\r\n\
        e2,c1,SomethingNew,\r\n";
    let path = tmp.path().join("entries.csv");
    std::fs::write(&path, csv).unwrap();
    let archive = tmp.path().join("a");
    let r = ingest(&archive, &[&path]);
    assert_eq!(r["entries_new"], 2, "{r}");
    assert_eq!(r["quarantined_total"], 0);
    let conn = db(&archive);
    let text: String = conn
        .query_row(
            "SELECT text FROM entries WHERE identifier = 'e1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(text.contains("line one") && text.contains("line two"));
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM entries WHERE entry_type = 'SOMETHING_NEW' OR entry_type_raw = 'SomethingNew'"
        ),
        1
    );
}

// ----------------------------------------------------------- ingest: errors

#[test]
fn a_member_failing_its_crc_rejects_the_whole_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    // A stored (uncompressed) member, so one flipped byte passes inflate
    // and only the CRC can catch it.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for m in fixture_data::week1() {
        w.start_file(m.name, stored).unwrap();
        w.write_all(&m.bytes).unwrap();
    }
    let mut bytes = w.finish().unwrap().into_inner();
    let at = bytes
        .windows(7)
        .position(|x| x == b"refund ")
        .expect("text in the zip")
        + 1;
    bytes[at] ^= 0x20;
    let bad = tmp.path().join("damaged.zip");
    std::fs::write(&bad, &bytes).unwrap();

    let archive = tmp.path().join("a");
    let a = convault(&archive).arg("ingest").arg(&bad).assert().code(6);
    let err = stderr_of(&a);
    assert!(err.contains("damaged.zip"), "{err}");
    assert!(
        err.contains("conversation_entries_"),
        "names the member: {err}"
    );
    assert!(
        err.to_lowercase().contains("checksum") || err.contains("CRC"),
        "{err}"
    );
    assert!(err.contains("nothing was ingested"), "{err}");
    // A first ingest that fails leaves no archive behind.
    assert!(!archive.exists());

    // Into an existing archive: nothing is added.
    ingest(&archive, &[&fixture(WEEK2)]);
    convault(&archive).arg("ingest").arg(&bad).assert().code(6);
    let conn = db(&archive);
    assert_eq!(count(&conn, "SELECT count(*) FROM exports"), 1);
    assert_eq!(count(&conn, "SELECT count(*) FROM files"), 1);
    let objects: usize = walk_count(&archive.join("objects/sha256"));
    assert_eq!(objects, 1);
    assert_eq!(
        std::fs::read_dir(archive.join("objects/tmp"))
            .unwrap()
            .count(),
        0
    );
}

/// Applies `edit` to one byte of member `name`'s local and central zip
/// headers: the byte at `local_offset` into the local header (the central
/// header's field is 2 bytes further on). Returns how many were changed.
fn patch_member_headers(
    bytes: &mut [u8],
    name: &[u8],
    local_offset: usize,
    edit: impl Fn(&mut u8),
) -> usize {
    let mut patched = 0;
    for at in 0..bytes.len().saturating_sub(4) {
        let (field_at, name_at) = match &bytes[at..at + 4] {
            b"PK\x03\x04" => (at + local_offset, at + 30),
            b"PK\x01\x02" => (at + local_offset + 2, at + 46),
            _ => continue,
        };
        if bytes.get(name_at..name_at + name.len()) == Some(name) {
            edit(&mut bytes[field_at]);
            patched += 1;
        }
    }
    patched
}

fn walk_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| {
                let p = e.unwrap().path();
                if p.is_dir() { walk_count(&p) } else { 1 }
            })
            .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_damaged_second_file_leaves_the_first_unwritten_too() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let bad = tmp.path().join("part2.zip");
    std::fs::write(&bad, b"PK\x03\x04 this is not really a zip").unwrap();
    convault(&archive)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .arg(&bad)
        .assert()
        .code(6)
        .stderr(predicate::str::contains("part2.zip"));
    assert!(!archive.exists());
}

#[test]
fn a_file_named_zip_that_is_not_one_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("export.zip");
    std::fs::write(&bad, b"<html>Session expired</html>").unwrap();
    convault(&tmp.path().join("a"))
        .arg("ingest")
        .arg(&bad)
        .assert()
        .code(6)
        .stderr(
            predicate::str::contains("export.zip")
                .and(predicate::str::contains("not a zip archive")),
        );
}

#[test]
fn missing_paths_and_empty_directories_are_rejected_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    convault(&archive)
        .args(["ingest", "/nonexistent/export.zip"])
        .assert()
        .code(6)
        .stderr(
            predicate::str::contains("/nonexistent/export.zip")
                .and(predicate::str::contains("no such file")),
        );
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    convault(&archive)
        .arg("ingest")
        .arg(&empty)
        .assert()
        .code(6)
        .stderr(predicate::str::contains("holds no files"));
    assert!(!archive.exists());
    // No path at all is a usage error.
    convault(&archive).arg("ingest").assert().code(2);
}

#[test]
fn unreadable_members_and_rows_are_quarantined_with_line_and_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let good = "identifier,conversation_identifier,entry_type,entry_payload,client_timestamp\n\
        e1,c1,MESSAGE,\"{\"\"abstractMessage\"\":{\"\"staticContent\"\":{\"\"formatType\"\":\"\"Text\"\",\"\"text\"\":\"\"hello\"\"}}}\",1794215700000\n\
        ,c1,MESSAGE,{},1794215700000\n\
        e3,c1,MESSAGE,{},yesterday\n\
        e4,c1,MESSAGE,{}\n";
    let members = vec![
        Member {
            name: "entries.csv",
            bytes: good.as_bytes().to_vec(),
        },
        Member {
            name: "image.png",
            bytes: b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(),
        },
        Member {
            name: "empty.csv",
            bytes: Vec::new(),
        },
        Member {
            name: "records.json",
            bytes: br#"{"records": [], "totalSize": 0}"#.to_vec(),
        },
        Member {
            name: "accounts.csv",
            bytes: b"Id,Name\n001,Acme\n".to_vec(),
        },
    ];
    let zip = tmp.path().join("mixed.zip");
    write_zip(&zip, &members);
    let archive = tmp.path().join("a");
    let r = ingest(&archive, &[&zip]);
    assert_eq!(r["entries_new"], 1);
    assert_eq!(r["quarantined_total"], 7, "{r}");
    let q: Vec<(String, Value, String)> = r["quarantined"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["member"].as_str().unwrap().to_owned(),
                x["line"].clone(),
                x["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let find = |member: &str, line: Value| {
        q.iter()
            .find(|x| x.0 == member && x.1 == line)
            .map(|x| x.2.clone())
            .unwrap_or_else(|| panic!("{member} {line} not in {q:?}"))
    };
    assert!(find("entries.csv", 3.into()).contains("identifier is empty"));
    assert!(find("entries.csv", 4.into()).contains("yesterday"));
    assert!(find("entries.csv", 5.into()).contains("field"), "short row");
    assert!(find("image.png", Value::Null).contains("binary"));
    assert!(find("empty.csv", Value::Null).contains("empty"));
    assert!(find("records.json", Value::Null).contains("JSON, but not conversation entries"));
    assert!(find("records.json", Value::Null).contains("records, totalSize"));
    assert!(find("accounts.csv", Value::Null).contains("not a recognised export file"));
    // The human summary counts and lists them.
    let tmp2 = tempfile::tempdir().unwrap();
    let a = convault(&tmp2.path().join("a"))
        .arg("ingest")
        .arg(&zip)
        .assert()
        .success();
    let err = stderr_of(&a);
    assert!(err.contains("7 quarantined"), "{err}");
    // No progress bar when stderr is not a terminal.
    assert!(
        !err.contains('\r') && !err.contains("eta") && !err.contains("storing"),
        "{err:?}"
    );
    assert!(err.contains("entries.csv line 4"), "{err}");
}

#[test]
fn encrypted_members_and_unsupported_compression_are_quarantined_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let members = fixture_data::week1();
    for m in &members[..2] {
        w.start_file(m.name, stored).unwrap();
        w.write_all(&m.bytes).unwrap();
    }
    w.start_file("odd.bin", stored).unwrap();
    w.write_all(b"0123456789").unwrap();
    w.start_file("secret.csv", stored).unwrap();
    w.write_all(b"identifier,conversation_identifier,entry_type\n")
        .unwrap();
    let mut bytes = w.finish().unwrap().into_inner();
    // Mark secret.csv as encrypted (flag bit 0) and odd.bin as bzip2
    // (method 12), in their local and central headers.
    assert_eq!(
        patch_member_headers(&mut bytes, b"secret.csv", 6, |b| *b |= 1),
        2
    );
    assert_eq!(
        patch_member_headers(&mut bytes, b"odd.bin", 8, |b| *b = 12),
        2
    );
    let zip = tmp.path().join("odd.zip");
    std::fs::write(&zip, &bytes).unwrap();
    let r = ingest(&tmp.path().join("a"), &[&zip]);
    assert_eq!(r["entries_new"], 28);
    let q = r["quarantined"].as_array().unwrap();
    assert_eq!(q.len(), 2, "{q:?}");
    assert_eq!(q[0]["member"], "odd.bin");
    assert_eq!(q[1]["member"], "secret.csv");
    assert!(
        q[1]["reason"]
            .as_str()
            .unwrap()
            .contains("cannot read this member"),
        "{q:?}"
    );
    assert!(
        q[0]["reason"]
            .as_str()
            .unwrap()
            .contains("compressed with Bzip2, which this convault cannot read"),
        "{q:?}"
    );
    // Regression: this used to reject the whole export as "damaged".
}

#[test]
fn control_characters_in_member_names_are_not_printed_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("evil.zip");
    write_zip(
        &zip,
        &[Member {
            name: "x\u{1b}[31mred.bin",
            bytes: b"\0\0\0".to_vec(),
        }],
    );
    // Nothing in it is recognised: refused (exit 6), the member named
    // without its escape sequence.
    let a = convault(&tmp.path().join("a"))
        .arg("ingest")
        .arg(&zip)
        .assert()
        .code(6);
    let err = stderr_of(&a);
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(err.contains("red.bin"), "{err:?}");
}

#[test]
fn dry_run_reports_the_same_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let out = convault(&archive)
        .args(["ingest", "--json", "--dry-run"])
        .arg(fixture(WEEK1))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(r["dry_run"], true);
    assert_eq!(r["export_id"], Value::Null);
    assert_eq!(r["entries_new"], 28);
    assert_eq!(r["quarantined_total"], 0);
    assert!(!archive.exists(), "a dry run must not create the archive");

    // On an existing archive: the report is the real one's, the archive unchanged.
    ingest(&archive, &[&fixture(WEEK1)]);
    let before = std::fs::read(archive.join("archive.sqlite")).unwrap();
    let out = convault(&archive)
        .args(["ingest", "--json", "--dry-run"])
        .arg(fixture(WEEK2))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let r: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        (
            r["entries_new"].as_u64(),
            r["entries_unchanged"].as_u64(),
            r["entries_changed"].as_u64()
        ),
        (Some(9), Some(14), Some(1))
    );
    assert_eq!(
        std::fs::read(archive.join("archive.sqlite")).unwrap(),
        before
    );
    assert_eq!(walk_count(&archive.join("objects/sha256")), 1);
    assert_eq!(count(&db(&archive), "SELECT count(*) FROM exports"), 1);
}

#[test]
fn an_interrupted_ingest_leaves_the_export_wholly_or_not_at_all() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    // Kill it in the middle of its transaction.
    let mut big = BigIngest::start(tmp.path(), &archive);
    big.wait_until_writing(&archive);
    big.kill();
    let conn = db(&archive);
    let exports = count(&conn, "SELECT count(*) FROM exports");
    let entries = count(&conn, "SELECT count(*) FROM entries");
    eprintln!("after kill: {exports} exports, {entries} entries");
    match exports {
        1 => assert_eq!(entries, 28),
        2 => assert_eq!(entries, 28 + 60_000),
        n => panic!("{n} exports"),
    }
    assert_eq!(
        count(&conn, "SELECT count(*) FROM entries_fts"),
        count(&conn, "SELECT count(*) FROM entries WHERE text IS NOT NULL")
    );
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    // The ledger record commits with its export or not at all.
    assert_eq!(count(&conn, "SELECT count(*) FROM ledger"), exports);
    drop(conn);
    // Ingesting it again completes it (adopting any object left behind).
    let r = ingest(&archive, &[&tmp.path().join("big.zip")]);
    if exports == 1 {
        assert_eq!(r["entries_new"], 60_000);
    } else {
        assert_eq!(r["already_ingested"], true);
    }
}

/// A new archive's database is built under another name and renamed into
/// place when its first ingest commits: until then readers find no
/// archive, a killed first ingest leaves no archive or a whole one, and
/// the next ingest deletes what it left and starts again.
#[test]
fn a_new_archive_appears_only_when_its_first_ingest_is_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let (database, building) = (
        archive.join("archive.sqlite"),
        archive.join("archive.sqlite.building"),
    );
    let mut big = BigIngest::start(tmp.path(), &archive);
    let under_way =
        big.wait_until(|| std::fs::metadata(&building).is_ok_and(|m| m.len() >= (1 << 20)));
    assert!(under_way, "the first ingest was still building");
    assert!(!database.exists());
    convault(&archive)
        .args(["search", "refund"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no archive at"));
    big.kill();
    // Killed while building (or, rarely, after its rename): no archive, or
    // the whole export.
    let finished = database.exists();
    eprintln!(
        "killed {}",
        if finished {
            "after the rename"
        } else {
            "while building"
        }
    );
    if finished {
        assert_eq!(count(&db(&archive), "SELECT count(*) FROM entries"), 60_000);
    } else {
        convault(&archive).arg("verify").assert().code(1);
    }
    // Ingesting it again completes it (adopting its stored copy if the
    // kill came after the copy took its name).
    let r = ingest(&archive, &[&tmp.path().join("big.zip")]);
    assert_eq!(r["already_ingested"], finished, "{r}");
    assert!(!building.exists(), "the interrupted build was deleted");
    let names: Vec<String> = std::fs::read_dir(&archive)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("archive.sqlite"))
        .collect();
    assert_eq!(names, ["archive.sqlite"]);
    let mode: String = db(&archive)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "a built archive is in WAL mode like any other");
    let v = verify_json(&archive, &[], 0);
    assert_eq!(v["failures"], Value::Array(Vec::new()), "{v}");
    assert_eq!(count(&db(&archive), "SELECT count(*) FROM entries"), 60_000);

    // A first ingest rejected in a directory that already existed leaves
    // the directory as it was.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let bad = tmp.path().join("bad.zip");
    std::fs::write(&bad, b"PK\x03\x04 this is not really a zip").unwrap();
    convault(&empty).arg("ingest").arg(&bad).assert().code(6);
    let left: Vec<_> = std::fs::read_dir(&empty)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with("archive.sqlite"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
