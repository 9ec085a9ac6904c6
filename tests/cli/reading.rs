//! Reading back: search, show, an archive from a newer convault,
//! readers that never write, version and help.

#![allow(unused_imports)]

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use rusqlite::Connection;
use serde_json::Value;

use super::*;

// ------------------------------------------------------------------ search

#[test]
fn search_finds_words_newest_first_with_the_documented_fields() {
    let (_tmp, archive) = both_weeks();
    let hits = search_json(&archive, &["refund"]);
    assert!(hits.len() >= 5, "{hits:?}");
    for h in &hits {
        for k in [
            "conversation",
            "entry",
            "version",
            "latest_version",
            "superseded",
            "time",
            "role",
            "sender",
            "entry_type",
            "export",
            "member",
            "line",
            "content_hash",
            "text",
            "matches",
            "snippet",
        ] {
            assert!(h.get(k).is_some(), "{k} missing in {h}");
        }
        assert!(h["time"].as_str().unwrap().ends_with('Z'));
        // Each match offset (in characters) points at the word.
        let text: Vec<char> = h["text"].as_str().unwrap().chars().collect();
        let matches = h["matches"].as_array().unwrap();
        assert!(!matches.is_empty(), "{h}");
        for m in matches {
            let (a, b) = (m["start"].as_u64().unwrap(), m["end"].as_u64().unwrap());
            let word: String = text[a as usize..b as usize].iter().collect();
            assert!(word.to_lowercase().starts_with("refund"), "{word} in {h}");
        }
        assert!(h["member"].as_str().is_some_and(|m| !m.is_empty()), "{h}");
        assert_eq!(h["content_hash"].as_str().map(str::len), Some(64), "{h}");
    }
    let times: Vec<&str> = hits.iter().map(|h| h["time"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest first");
    assert!(hits.iter().any(|h| h["conversation"] == CONV_B));
    // The snippet is plain text: no markup that could be read as part of it.
    let snippet = hits[0]["snippet"].as_str().unwrap().to_lowercase();
    assert!(
        snippet.contains("refund") && !snippet.contains("[refund]"),
        "{snippet}"
    );
    // --limit
    assert_eq!(search_json_limit(&archive, "refund", 2).len(), 2);
    // Several words must all match.
    let hits = search_json(&archive, &["refund", "policy"]);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["role"], "Agent");
}

fn search_json_limit(archive: &Path, word: &str, limit: u32) -> Vec<Value> {
    let out = convault(archive)
        .args(["search", "--json", "--limit", &limit.to_string(), word])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn search_language_words_phrases_prefixes_or_not_groups_and_near() {
    let (_tmp, archive) = both_weeks();
    let all = |q: &[&str]| keys(&search_all(&archive, q));
    let refund = all(&["refund"]);
    let policy = all(&["policy"]);
    let damaged = all(&["damaged"]);
    assert!(refund.len() >= 5 && !policy.is_empty() && !damaged.is_empty());
    // Words are all required; AND says the same.
    let both: BTreeSet<_> = refund.intersection(&policy).cloned().collect();
    assert_eq!(all(&["refund", "policy"]), both);
    assert_eq!(all(&["refund AND policy"]), both);
    // A phrase is its words together, in order.
    let phrase = all(&["\"refund policy\""]);
    assert!(!phrase.is_empty() && phrase.is_subset(&both));
    assert!(all(&["\"policy refund\""]).is_empty());
    // A prefix.
    let refu = all(&["refu*"]);
    assert!(
        refu.is_superset(&refund) && refu.len() > refund.len(),
        "refunded too"
    );
    // OR, NOT and -, as separate arguments or one string.
    let either: BTreeSet<_> = refund.union(&damaged).cloned().collect();
    assert_eq!(all(&["refund", "OR", "damaged"]), either);
    let without: BTreeSet<_> = refund.difference(&policy).cloned().collect();
    assert_eq!(all(&["refund", "-policy"]), without);
    assert_eq!(all(&["refund NOT policy"]), without);
    assert_eq!(all(&["refund -policy"]), without);
    let grouped: BTreeSet<_> = either.difference(&policy).cloned().collect();
    assert_eq!(all(&["(refund OR damaged) -policy"]), grouped);
    // NEAR: within so many words.
    assert!(all(&["NEAR(refund approved, 1)"]).len() == 1);
    assert!(all(&["NEAR(photo approved, 1)"]).is_empty());
    assert_eq!(all(&["NEAR(photo approved, 5)"]).len(), 1);
    // A leading '-' works on the command line without `--`.
    let out = convault(&archive)
        .args(["search", "--json", "--limit", "1000", "refund", "-policy"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let hits: Vec<Value> = serde_json::from_slice(&out).unwrap();
    assert_eq!(keys(&hits), without);
    // Words that only look like syntax are words.
    for q in [&["a:b"][..], &["'"], &["^"], &["or"], &["x-ray"]] {
        convault(&archive)
            .args(["search", "--"])
            .args(q)
            .assert()
            .success();
    }
}

#[test]
fn search_fields_narrow_the_hits_and_combine() {
    let (_tmp, archive) = both_weeks();
    let all = |q: &[&str]| search_all(&archive, q);
    let agents = all(&["refund", "role:AGENT"]);
    assert!(!agents.is_empty());
    assert!(agents.iter().all(|h| h["role"] == "Agent"), "{agents:?}");
    // Fields alone list entries; fields combine by OR, NOT and groups.
    let listed = all(&["role:agent"]);
    assert!(listed.len() > agents.len() && listed.iter().all(|h| h["role"] == "Agent"));
    let bots_or_agents = all(&["(role:agent OR role:chatbot)"]);
    assert!(bots_or_agents.iter().any(|h| h["role"] == "Chatbot"));
    assert_eq!(
        bots_or_agents.len(),
        listed.len() + all(&["role:chatbot"]).len()
    );
    let not_agents = all(&["-role:agent", "refund"]);
    assert!(not_agents.iter().all(|h| h["role"] != "Agent"));
    // Words only excluded, with a field: its entries without the word.
    let quiet_agents = keys(&all(&["role:agent", "-refund"]));
    assert_eq!(
        quiet_agents,
        keys(&listed).difference(&keys(&agents)).cloned().collect()
    );
    // type: in any spelling; from: by subject or by display name.
    let changes = all(&["type:participantchanged"]);
    assert!(!changes.is_empty());
    assert!(
        changes
            .iter()
            .all(|h| h["entry_type"] == "PARTICIPANT_CHANGED")
    );
    assert_eq!(keys(&all(&["type:ParticipantChanged"])), keys(&changes));
    let dana = all(&["from:\"dana whitfield\""]);
    assert!(!dana.is_empty() && dana.iter().all(|h| h["role"] == "Agent"));
    assert_eq!(keys(&all(&["from:005Kj000001DanaWAA"])), keys(&dana));
    // format:, has:
    assert!(
        all(&["format:richlink"])
            .iter()
            .any(|h| h["text"].as_str().unwrap().contains("refund policy"))
    );
    assert!(!all(&["format:choices"]).is_empty());
    let attached = all(&["has:attachment"]);
    assert!(!attached.is_empty());
    assert!(!all(&["has:link"]).is_empty());
    // version:current drops superseded versions.
    let every = all(&["refund"]);
    let current = all(&["refund", "version:current"]);
    assert!(current.iter().all(|h| h["superseded"] == false));
    assert_eq!(
        current.len(),
        every.iter().filter(|h| h["superseded"] == false).count()
    );
    // export:N, by the exports' sightings.
    let first = keys(&all(&["refund", "export:1"]));
    let second = keys(&all(&["refund", "export:2"]));
    assert!(!first.is_empty() && !second.is_empty());
    assert_eq!(
        first.union(&second).cloned().collect::<BTreeSet<_>>(),
        keys(&every)
    );
    // substr: inside longer tokens.
    // "553" is inside the token 5531 (of R-5531): no word search finds it.
    let r = all(&["substr:553"]);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0]["text"].as_str().unwrap().contains("R-5531"));
    assert!(all(&["553"]).is_empty());
}

#[test]
fn search_dates_are_whole_days_in_utc_or_the_given_zone() {
    let (_tmp, archive) = both_weeks();
    let times = |q: &[&str]| -> Vec<String> {
        search_all(&archive, q)
            .iter()
            .map(|h| h["time"].as_str().unwrap().to_owned())
            .collect()
    };
    let day = times(&["after:2026-11-09", "before:2026-11-10"]);
    assert!(!day.is_empty());
    assert!(day.iter().all(|t| t.starts_with("2026-11-09")), "{day:?}");
    // The same day in Tokyo starts nine hours earlier.
    let out = convault(&archive)
        .args([
            "search",
            "--json",
            "--limit",
            "1000",
            "--tz",
            "Asia/Tokyo",
            "after:2026-11-09",
            "before:2026-11-10",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let tokyo: Vec<Value> = serde_json::from_slice(&out).unwrap();
    assert!(!tokyo.is_empty());
    assert!(tokyo.iter().all(|h| {
        let t = h["time"].as_str().unwrap();
        ("2026-11-08T15:00:00Z".."2026-11-09T15:00:00Z").contains(&t)
    }));
}

#[test]
fn search_refuses_a_wrong_query_with_exit_2_and_its_place() {
    let (_tmp, archive) = both_weeks();
    for (q, want) in [
        (
            &["refund (card"][..],
            "unbalanced parenthesis: this one is never closed at character 8",
        ),
        (
            &["refund", "card)"],
            "unbalanced parenthesis: nothing opened this one at character 12",
        ),
        (&["refund \"card"], "unclosed quote at character 8"),
        (
            &["refund", "OR"],
            "OR needs something on both sides at character 8",
        ),
        (
            &["refund", "AND"],
            "AND needs something on both sides at character 8",
        ),
        (&["NEAR(refund"], "NEAR( is never closed"),
        (&["role:"], "role: needs a value"),
        (
            &["refund", "has:pictures"],
            "has:pictures is not known: use has:attachment or has:link at character 8",
        ),
        (&["after:tomorrow"], "after:tomorrow is not a date or time"),
        (&["version:all"], "version:all is not a version choice"),
        (&["export:x"], "export:x is not an export number"),
        (
            &["refund", "export:99"],
            "export:99 names no export of this archive (see `convault ledger`) at character 8",
        ),
        (
            &["refund OR role:agent"],
            "filters apply to the whole query",
        ),
        (&["refund OR -card"], "NOT cannot stand alone inside OR"),
    ] {
        convault(&archive)
            .args(["search", "--"])
            .args(q)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(want).and(predicate::str::contains("SQL").not()));
    }
    convault(&archive)
        .args(["search", "--tz", "Mars/Olympus", "after:2026-11-09"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--tz Mars/Olympus: not a known time zone",
        ));
    // --raw has no fields, so no dates for --tz to read.
    convault(&archive)
        .args(["search", "--raw", "--tz", "UTC", "refund"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
    // --raw passes FTS5's syntax; what FTS5 refuses is still exit 2.
    convault(&archive)
        .args(["search", "--raw", "refund AND policy"])
        .assert()
        .success()
        .stdout(predicate::str::contains("Agent"));
    convault(&archive)
        .args(["search", "--raw", "refund AND"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the full-text index refused it"));
    // Human output on stdout: time, conversation, role, snippet.
    convault(&archive)
        .args(["search", "refund"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("2026-11-09T")
                .and(predicate::str::contains(CONV_A))
                .and(predicate::str::contains("Agent")),
        );
    convault(&archive)
        .args(["search", "zzzznotthere"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("no entries match"));
}

#[test]
fn search_ignores_case_and_diacritics_and_reads_rtl_and_emoji_text() {
    let (_tmp, archive) = both_weeks();
    let hits = search_json(&archive, &["CAFE", "creme"]);
    assert_eq!(hits.len(), 1);
    assert!(hits[0]["text"].as_str().unwrap().contains("café crème"));
    let hits = search_json(&archive, &["استرداد"]);
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["conversation"], CONV_B);
    let hits = search_json(&archive, &["damaged"]);
    assert!(
        hits.iter()
            .any(|h| h["text"].as_str().unwrap().contains('😞'))
    );
}

#[test]
fn search_and_show_need_an_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere");
    convault(&missing)
        .args(["search", "refund"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no archive at")
                .and(predicate::str::contains("convault ingest")),
        );
    convault(&missing).args(["show", CONV_A]).assert().code(1);
    assert!(!missing.exists(), "readers never create an archive");
    // CONVAULT_ARCHIVE is the default --archive.
    let (_t, archive) = both_weeks();
    Command::new(env!("CARGO_BIN_EXE_convault"))
        .env("CONVAULT_ARCHIVE", &archive)
        .args(["search", "refund"])
        .assert()
        .success()
        .stdout(predicate::str::contains("refund"));
}

// -------------------------------------------------------------------- show

#[test]
fn show_prints_the_whole_conversation_in_time_order() {
    let (_tmp, archive) = both_weeks();
    let out = convault(&archive).args(["show", CONV_B]).assert().success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    insta::assert_snapshot!("show_conversation_b", text);

    let out = convault(&archive)
        .args(["show", "--json", CONV_C])
        .assert()
        .success();
    let t: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(t["conversation"], CONV_C);
    let entries = t["entries"].as_array().unwrap();
    assert_eq!(entries.len(), fixture_data::ENTRIES_C);
    let times: Vec<i64> = entries
        .iter()
        .map(|e| e["time_ms"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert!(
        entries
            .iter()
            .any(|e| e["entry_type"] == "COBROWSE_SESSION_STARTED")
    );
    let a: Value = serde_json::from_slice(
        &convault(&archive)
            .args(["show", "--json", CONV_A])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        a["entries"].as_array().unwrap().len(),
        fixture_data::ENTRIES_A
    );
    let b: Value = serde_json::from_slice(
        &convault(&archive)
            .args(["show", "--json", CONV_B])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(
        b["entries"].as_array().unwrap().len(),
        fixture_data::ENTRIES_B
    );
}

#[test]
fn show_of_an_unknown_conversation_is_exit_1_with_a_clear_message() {
    let (_tmp, archive) = both_weeks();
    convault(&archive)
        .args(["show", "no-such-conversation"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "no conversation no-such-conversation in the archive",
        ));
}

// ----------------------------------------------------------------- archive

#[test]
fn an_archive_from_a_newer_convault_is_refused() {
    let (_tmp, archive) = both_weeks();
    db(&archive)
        .pragma_update(None, "user_version", 999)
        .unwrap();
    for args in [
        &["search", "refund"][..],
        &["show", CONV_A],
        &["status"],
        &["ledger", "verify"],
        &["request", "transcripts"],
    ] {
        convault(&archive).args(args).assert().code(1).stderr(
            predicate::str::contains("schema version 999")
                .and(predicate::str::contains("newer convault")),
        );
    }
    convault(&archive)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("schema version 999"));
}

#[test]
fn readers_do_not_write_to_the_archive() {
    let (_tmp, archive) = both_weeks();
    let db_path = archive.join("archive.sqlite");
    let before = std::fs::read(&db_path).unwrap();
    convault(&archive)
        .args(["search", "refund"])
        .assert()
        .success();
    convault(&archive).args(["show", CONV_A]).assert().success();
    for args in [
        &["status"][..],
        &["status", "--due"],
        &["ledger", "show"],
        &["ledger", "verify"],
        &["ledger", "checkpoint"],
    ] {
        // `status --due` may exit 0 or 1; only the bytes matter here.
        convault(&archive).args(args).output().unwrap();
    }
    assert_eq!(std::fs::read(&db_path).unwrap(), before);
}

#[test]
fn version_and_help_work() {
    Command::new(env!("CARGO_BIN_EXE_convault"))
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::contains("convault"));
    Command::new(env!("CARGO_BIN_EXE_convault"))
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("ingest").and(predicate::str::contains(
            "4 refused by a rule (the export cadence, a legal hold, the retention minimum, two exports of one generation time; fetch: stopped by the budget), 5 archive locked, 6 input rejected",
        )));
    // The README documents the same codes.
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for code in [
        "| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |", "| 6 |",
    ] {
        assert!(readme.contains(code), "README exit code table lacks {code}");
    }
    Command::new(env!("CARGO_BIN_EXE_convault"))
        .arg("frobnicate")
        .assert()
        .code(2);
}

#[test]
fn conversation_b_fixture_is_complete() {
    // Guards the fixture constants used above.
    let (_tmp, archive) = both_weeks();
    let conn = db(&archive);
    for (conv, n) in [
        (CONV_A, fixture_data::ENTRIES_A),
        (CONV_B, fixture_data::ENTRIES_B),
        (CONV_C, fixture_data::ENTRIES_C),
    ] {
        let got = conn
            .query_row(
                "SELECT count(DISTINCT e.identifier) FROM entries e JOIN conversations c ON c.id = e.conversation_id WHERE c.identifier = ?1",
                [conv],
                |r| r.get::<_, i64>(0),
            )
            .unwrap();
        assert_eq!(got as usize, n, "{conv}");
    }
}
