//! Other sources (issue 5): API response pages and NDJSON, joined with the
//! transcript export into one picture of each conversation.

use std::path::Path;

use serde_json::Value;

use super::support::fixture_data::{self, CONV_A, REDACTED_ENTRY};
use super::{WEEK1, convault, count, db, fixture, ingest};

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_data_api_page_of_archived_entries_counts_them_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    let page = tmp.path().join("api/page-1.json");
    write(&page, &fixture_data::data_api_page_a());
    let r = ingest(&archive, &[&page]);
    assert_eq!(r["entries_read"], fixture_data::ENTRIES_A);
    assert_eq!(r["entries_new"], 0, "{r}");
    assert_eq!(r["entries_changed"], 0, "{r}");
    assert_eq!(r["entries_unchanged"], fixture_data::ENTRIES_A);
    assert_eq!(r["quarantined_total"], 0, "{}", r["quarantined"]);
    let conn = db(&archive);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM members WHERE shape = 'api-json'"
        ),
        1
    );
    assert_eq!(
        count(
            &conn,
            "SELECT entry_count - (SELECT count(*) FROM entries WHERE export_id = 2) FROM export_sightings WHERE export_id = 2"
        ),
        fixture_data::ENTRIES_A as i64
    );
    // The other order: the page first, then the transcript export.
    let other = tmp.path().join("b");
    ingest(&other, &[&page]);
    let r = ingest(&other, &[&fixture(WEEK1)]);
    assert_eq!(r["entries_unchanged"], fixture_data::ENTRIES_A);
    assert_eq!(r["entries_changed"], 0);
    convault(&other)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

#[test]
fn connect_text_is_a_sighting_until_a_patch_changes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    // Named after its conversation; text only, HTML-escaped.
    let page = tmp.path().join(format!("connect/{CONV_A}.json"));
    write(&page, &fixture_data::connect_page_a(false));
    let r = ingest(&archive, &[&page]);
    assert_eq!(
        (r["entries_read"].clone(), r["entries_unchanged"].clone()),
        (2.into(), 2.into()),
        "{r}"
    );
    // The same entries after a redaction through the API: a new version.
    let patched = tmp.path().join(format!("connect-later/{CONV_A}.json"));
    write(&patched, &fixture_data::connect_page_a(true));
    let r = ingest(&archive, &[&patched]);
    assert_eq!(r["entries_changed"], 1, "{r}");
    let conn = db(&archive);
    let raw: String = conn
        .query_row(
            "SELECT message_text FROM entries WHERE identifier = ?1 AND version = 2",
            [REDACTED_ENTRY],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(raw, "It&#39;s the Visa ending ****", "kept as received");
    // Indexed unescaped: the words are found.
    let out = convault(&archive)
        .args(["search", "--json", "visa", "ending"])
        .assert()
        .success();
    let hits: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(
        hits.as_array()
            .unwrap()
            .iter()
            .any(|h| h["text"] == "It's the Visa ending ****")
    );
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

#[test]
fn ndjson_and_a_directory_of_pages_are_one_export() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let dir = tmp.path().join("pages");
    write(&dir.join("page-1.json"), &fixture_data::data_api_page_a());
    let conv = "d0d0d0d0-1111-4222-8333-444455556666";
    let lines = format!(
        "{{\"identifier\":\"d1\",\"conversationIdentifier\":\"{conv}\",\"entryType\":\"Message\",\"entryPayload\":{{\"abstractMessage\":{{\"messageType\":\"StaticContentMessage\",\"staticContent\":{{\"formatType\":\"Text\",\"text\":\"first ndjson words\"}}}}}},\"sender\":{{\"role\":\"EndUser\"}},\"clientTimestamp\":1794215700000}}\n\
         {{\"identifier\":\"d2\",\"conversationIdentifier\":\"{conv}\",\"entryType\":\"SomethingNew\",\"entryPayload\":\"{{}}\",\"clientTimestamp\":1794215701000}}\n\
         {{\"identifier\":\"d3\"}}\n"
    );
    write(&dir.join("more/entries.ndjson"), lines.as_bytes());
    write(&dir.join("notes.json"), b"{\"exportedBy\": \"someone\"}");
    let r = ingest(&archive, &[&dir]);
    assert_eq!(r["files"].as_array().unwrap().len(), 3);
    assert_eq!(r["entries_new"], fixture_data::ENTRIES_A + 2, "{r}");
    assert_eq!(r["quarantined_total"], 2, "{}", r["quarantined"]);
    let q = r["quarantined"].as_array().unwrap();
    assert!(q.iter().any(|q| {
        q["member"] == "entries.ndjson"
            && q["line"] == 3
            && q["reason"]
                .as_str()
                .unwrap()
                .contains("no conversation identifier")
    }));
    assert!(q.iter().any(
        |q| q["member"] == "notes.json" && q["reason"].as_str().unwrap().contains("exportedBy")
    ));
    // A new entry type is kept verbatim.
    let conn = db(&archive);
    let t: String = conn
        .query_row(
            "SELECT entry_type FROM entries WHERE identifier = 'd2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(t, "SomethingNew");
    convault(&archive)
        .args(["show", conv])
        .assert()
        .success()
        .stdout(predicates::str::contains("first ndjson words"));
}

#[test]
fn a_two_part_data_export_joins_channel_sessions_end_user_and_participants() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    let (part1, part2) = fixture_data::data_export_parts();
    let p1 = tmp.path().join("WE_00DKj0000000001_1.ZIP");
    let p2 = tmp.path().join("WE_00DKj0000000001_2.ZIP");
    super::write_zip(&p1, &part1);
    super::write_zip(&p2, &part2);
    let r = ingest(&archive, &[&p1, &p2]);
    assert_eq!(r["export_id"], 2, "both parts are one export");
    assert_eq!(r["export_kind"], "data-export");
    assert_eq!(r["files"].as_array().unwrap().len(), 2);
    assert_eq!(r["records_read"], 11);
    assert_eq!(r["records_new"], 11);
    assert_eq!(
        r["quarantined_total"], 1,
        "Account.csv: {}",
        r["quarantined"]
    );
    assert_eq!(r["quarantined"][0]["member"], "Account.csv");
    let conn = db(&archive);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM members WHERE shape = 'des-messaging-session'"
        ),
        1
    );
    // Above the transcript: the joined records.
    let out = convault(&archive).args(["show", CONV_A]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for want in [
        "channel       Web Chat, Web_Chat, type EmbeddedMessaging, 0MjKj0000000001AAA",
        "session       0MwKj000007sdiMKAQ, status Ended, case 500Kj00000AbCdEAAV, owner 005Kj000001DanaAAA",
        "end user      Guest 7f3e21, platform key v2/iamessage/UNAUTH/NA/uid:7f3e21",
        "participant   Dana Whitfield, Agent",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    let j = super::show_json(&archive, CONV_A);
    assert_eq!(j["context"]["sessions"][0]["CaseId"], "500Kj00000AbCdEAAV");
    assert_eq!(j["context"]["participants"].as_array().unwrap().len(), 2);
    // Next week's export repeats the rows: nothing new is stored; a
    // changed row is kept beside the old one, and show gives the latest.
    let mut changed = part1.clone();
    changed[1].bytes = String::from_utf8(changed[1].bytes.clone())
        .unwrap()
        .replace("Ended", "Closed")
        .into_bytes();
    let q1 = tmp.path().join("week2/WE_00DKj0000000001_1.ZIP");
    let q2 = tmp.path().join("week2/WE_00DKj0000000001_2.ZIP");
    std::fs::create_dir_all(q1.parent().unwrap()).unwrap();
    super::write_zip(&q1, &changed);
    std::fs::write(
        &q2,
        fixture_data::zip_dated(
            &part2,
            zip::DateTime::from_date_and_time(2026, 11, 23, 23, 0, 0).unwrap(),
        ),
    )
    .unwrap();
    let r = ingest(&archive, &[&q1, &q2]);
    assert_eq!(
        (r["records_read"].clone(), r["records_new"].clone()),
        (11.into(), 1.into()),
        "{r}"
    );
    convault(&archive)
        .args(["show", CONV_A])
        .assert()
        .success()
        .stdout(predicates::str::contains("status Closed"));
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

fn conversations_found(archive: &Path, terms: &[&str]) -> Vec<String> {
    let out = convault(archive)
        .args(["search", "--json", "--limit", "100", "--"])
        .args(terms)
        .assert()
        .success();
    let hits: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let mut c: Vec<String> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["conversation"].as_str().unwrap().to_owned())
        .collect();
    c.sort();
    c.dedup();
    c
}

#[test]
fn search_filters_by_conversation_session_case_end_user_and_channel() {
    use fixture_data::{CONV_B, CONV_C, SESSION_A};
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1), &fixture(super::WEEK2)]);
    let (part1, part2) = fixture_data::data_export_parts();
    let p1 = tmp.path().join("WE_00DKj0000000001_1.ZIP");
    let p2 = tmp.path().join("WE_00DKj0000000001_2.ZIP");
    super::write_zip(&p1, &part1);
    super::write_zip(&p2, &part2);
    ingest(&archive, &[&p1, &p2]);
    assert_eq!(
        conversations_found(&archive, &[&format!("conversation:{CONV_B}")]),
        [CONV_B]
    );
    assert_eq!(
        conversations_found(&archive, &[&format!("session:{SESSION_A}")]),
        [CONV_A]
    );
    assert_eq!(
        conversations_found(&archive, &["case:500Kj00000AbCdEAAV", "refund"]),
        [CONV_A]
    );
    assert_eq!(conversations_found(&archive, &["enduser:ana"]), [CONV_C]);
    assert_eq!(
        conversations_found(&archive, &["enduser:+1555123"]),
        [CONV_C]
    );
    assert_eq!(conversations_found(&archive, &["channel:SMS"]), [CONV_C]);
    assert_eq!(
        conversations_found(&archive, &["channel:web_chat"]),
        [CONV_A]
    );
    // Filters together narrow; words still apply.
    assert!(
        conversations_found(&archive, &["channel:SMS", &format!("session:{SESSION_A}")]).is_empty()
    );
    assert!(conversations_found(&archive, &["enduser:nobody"]).is_empty());
    // With filters only, every entry of the conversation is listed.
    let out = convault(&archive)
        .args([
            "search",
            "--json",
            "--limit",
            "100",
            &format!("session:{SESSION_A}"),
        ])
        .assert()
        .success();
    let hits: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert!(hits.as_array().unwrap().len() >= fixture_data::ENTRIES_A);
    // An unknown key is a word, not an error.
    convault(&archive)
        .args(["search", "time:10"])
        .assert()
        .success();
}

/// How many search hits `terms` gives, each (conversation, entry).
fn hits(archive: &Path, terms: &[&str]) -> Vec<(String, String)> {
    let out = convault(archive)
        .args(["search", "--json", "--limit", "1000", "--"])
        .args(terms)
        .assert()
        .success();
    let hits: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    hits.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["conversation"].as_str().unwrap().to_owned(),
                h["entry"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn data_cloud_entries_wait_for_their_conversation_record_and_join_it() {
    use fixture_data::{CONV_B, CONVERSATION_RECORD_B, SESSION_B};
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let dmo = tmp.path().join("data-cloud.zip");
    super::write_zip(&dmo, &fixture_data::data_cloud_b());
    let r = ingest(&archive, &[&dmo]);
    let n = r["entries_read"].as_u64().unwrap();
    assert_eq!(
        n,
        fixture_data::ENTRIES_B as u64,
        "every row of B is read: {r}"
    );
    assert_eq!(r["entries_new"], n);
    assert_eq!(r["records_read"], 2, "{r}");
    assert_eq!(r["quarantined_total"], 0, "{}", r["quarantined"]);
    assert_eq!(r["warnings"], serde_json::json!([]), "{r}");
    let conn = db(&archive);
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM members WHERE shape IN
                ('data-cloud-entry', 'data-cloud-conversation', 'data-cloud-messaging-session')"
        ),
        3
    );
    // Filed under the conversation identifier, never the record Id.
    let conversations: Vec<String> = conn
        .prepare("SELECT identifier FROM conversations")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(conversations, [CONV_B]);
    // The session comes from the Messaging Session DMO, under the same
    // field names as the Data Export Service's.
    let j = super::show_json(&archive, CONV_B);
    assert_eq!(j["entries"].as_array().unwrap().len() as u64, n);
    let session = &j["context"]["sessions"][0];
    assert_eq!(session["Id"], SESSION_B);
    assert_eq!(session["Status"], "Ended");
    assert_eq!(session["OwnerId"], "005Kj000001YusufAA");
    assert_eq!(
        j["context"]["conversations"][0]["Id"],
        CONVERSATION_RECORD_B
    );
    convault(&archive)
        .args(["show", CONV_B])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "session       0MwKj000007tQ2xKAE, status Ended",
        ));
    // The page's header gives the same records.
    convault(&archive)
        .args(["show", "--format", "html", CONV_B])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "<dt>session</dt><dd>0MwKj000007tQ2xKAE, status Ended",
        ));
    let found = hits(&archive, &[&format!("session:{SESSION_B}")]);
    assert_eq!(found.len() as u64, n);

    // The transcript export's rows of the same entries carry the sender
    // and related records Data Cloud lacks: the fuller view is each
    // entry's next version, and neither show nor search counts it twice.
    let r = ingest(&archive, &[&fixture(WEEK1)]);
    assert_eq!(r["entries_changed"], n, "{r}");
    let j = super::show_json(&archive, CONV_B);
    let entries = j["entries"].as_array().unwrap();
    assert_eq!(entries.len() as u64, n);
    assert!(
        entries
            .iter()
            .all(|e| e["version"] == 2 && !e["role"].is_null())
    );
    let found = hits(&archive, &[&format!("conversation:{CONV_B}")]);
    assert_eq!(found.len() as u64, n, "one hit per entry: {found:?}");
    // --count counts the same hits, with fields and with words alone.
    let counted = |q: &str| -> u64 {
        let out = convault(&archive)
            .args(["search", "--count", q])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8_lossy(&out).trim().parse().unwrap()
    };
    assert_eq!(counted(&format!("conversation:{CONV_B}")), n);
    assert_eq!(counted("refund"), hits(&archive, &["refund"]).len() as u64);
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

#[test]
fn data_cloud_rows_of_archived_entries_are_sightings_not_versions() {
    use fixture_data::CONV_B;
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    ingest(&archive, &[&fixture(WEEK1)]);
    let dmo = tmp.path().join("data-cloud.zip");
    super::write_zip(&dmo, &fixture_data::data_cloud_b());
    let r = ingest(&archive, &[&dmo]);
    let n = r["entries_read"].as_u64().unwrap();
    assert_eq!(r["entries_unchanged"], n, "{r}");
    assert_eq!(r["entries_new"], 0);
    assert_eq!(r["entries_changed"], 0);
    let conn = db(&archive);
    assert_eq!(
        count(
            &conn,
            "SELECT entry_count - (SELECT count(*) FROM entries WHERE export_id = 2) FROM export_sightings WHERE export_id = 2"
        ),
        n as i64
    );
    assert_eq!(
        hits(&archive, &[&format!("conversation:{CONV_B}")]).len() as u64,
        n
    );
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}

#[test]
fn data_cloud_entries_no_record_resolves_are_kept_under_the_id_with_a_warning() {
    use fixture_data::CONVERSATION_RECORD_B;
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let entries_only = &fixture_data::data_cloud_b()[..1];
    let dmo = tmp.path().join("entries-only.zip");
    super::write_zip(&dmo, entries_only);
    let out = convault(&archive)
        .args(["ingest"])
        .arg(&dmo)
        .assert()
        .success();
    let stderr = super::stderr_of(&out);
    assert!(
        stderr.contains("no Conversation record in the archive maps to a conversation identifier")
            && stderr.contains(CONVERSATION_RECORD_B),
        "{stderr}"
    );
    let conn = db(&archive);
    assert_eq!(
        count(&conn, "SELECT count(*) FROM conversations"),
        1,
        "kept, never dropped"
    );
    convault(&archive)
        .args(["show", CONVERSATION_RECORD_B])
        .assert()
        .success();
    convault(&archive)
        .args(["verify", "--rederive"])
        .assert()
        .success();
}
