//! Exports ingested in any order give the same archive: a version's place
//! is the generation time of the exports that carried it, never the order
//! of ingest (issue 30, item 1; docs/archive-format.md, "Time order").

use std::collections::BTreeMap;
use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;

use super::support::fixture_data::{self, CONV_A, CONV_B, CONV_C, REDACTED_ENTRY};
use super::support::synth::{Message, write_messages_in};
use super::{WEEK1, WEEK2, convault, db, fixture, ingest, write_zip};

/// Runs `convault ARGS` on `archive`, which must succeed, and returns its
/// stdout.
fn stdout(archive: &Path, args: &[&str]) -> String {
    let out = convault(archive).args(args).assert().success();
    String::from_utf8(out.get_output().stdout.clone()).expect("UTF-8 output")
}

fn json(archive: &Path, args: &[&str]) -> Value {
    serde_json::from_str(&stdout(archive, args)).expect("JSON output")
}

/// Export id → its generation time, from the ledger: export ids follow
/// the order of ingest, generation times do not.
fn export_times(archive: &Path) -> BTreeMap<i64, String> {
    let ledger = json(archive, &["ledger", "show", "--json"]);
    ledger
        .as_array()
        .expect("an array of records")
        .iter()
        .filter(|r| r["kind"] == "export-ingested")
        .map(|r| {
            (
                r["details"]["export_id"].as_i64().expect("an export id"),
                r["details"]["generated_at"]
                    .as_str()
                    .expect("a generation time")
                    .to_owned(),
            )
        })
        .collect()
}

/// `v` with every export id named by its generation time, and with what
/// depends on the order of ingest (where a version was first read, ledger
/// record numbers and clock times) left out.
fn normalise(v: &Value, times: &BTreeMap<i64, String>) -> Value {
    let export = |n: &Value| {
        n.as_i64()
            .and_then(|id| times.get(&id))
            .map_or(n.clone(), |t| Value::String(t.clone()))
    };
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "export"
                            | "member"
                            | "line"
                            | "seq"
                            | "time_ingested"
                            | "now"
                            | "now_local"
                    )
                })
                .map(|(k, x)| {
                    let x = match (k.as_str(), x) {
                        ("exports", Value::Array(ids)) => {
                            Value::Array(ids.iter().map(export).collect())
                        }
                        (
                            "export_id" | "absent_from_export" | "last_held_by_export",
                            n @ Value::Number(_),
                        ) => export(n),
                        _ => normalise(x, times),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(xs) => Value::Array(xs.iter().map(|x| normalise(x, times)).collect()),
        _ => v.clone(),
    }
}

/// `text` with every "export N" named by its generation time.
fn normalise_text(text: &str, times: &BTreeMap<i64, String>) -> Value {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("export ") {
        let (before, after) = rest.split_at(at + "export ".len());
        out.push_str(before);
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        match digits.parse::<i64>().ok().and_then(|id| times.get(&id)) {
            Some(t) => out.push_str(&format!("<{t}>")),
            None => out.push_str(&digits),
        }
        rest = &after[digits.len()..];
    }
    out.push_str(rest);
    Value::String(out)
}

/// Every question the tests ask of the fixtures' archive, normalised.
fn answers(archive: &Path) -> BTreeMap<String, Value> {
    answers_to(archive, &["visa", "refund"], &[CONV_A, CONV_B, CONV_C])
}

/// The questions asked of an archive, normalised: for each of `words`,
/// the hits (all versions, current ones, by conversation, oldest first)
/// as JSON and as the table a person reads, and the count; every current
/// version; each of `conversations` shown as JSON and as text; the status.
fn answers_to(archive: &Path, words: &[&str], conversations: &[&str]) -> BTreeMap<String, Value> {
    let times = export_times(archive);
    let mut out = BTreeMap::new();
    let mut searches: Vec<Vec<&str>> = vec![vec!["version:current"], vec!["role:EndUser"]];
    for &w in words {
        searches.push(vec![w]);
        searches.push(vec![w, "version:current"]);
        searches.push(vec![w, "--conversations"]);
        searches.push(vec![w, "--sort", "oldest"]);
    }
    for q in &searches {
        let mut args = vec!["search", "--json", "--limit", "1000"];
        args.extend_from_slice(q);
        out.insert(q.join(" "), normalise(&json(archive, &args), &times));
        // The table too, as a person reads it.
        let mut table = vec!["search", "--limit", "1000"];
        table.extend_from_slice(q);
        out.insert(
            format!("table {}", q.join(" ")),
            normalise_text(&stdout(archive, &table), &times),
        );
    }
    for &w in words {
        out.insert(
            format!("count {w}"),
            Value::String(stdout(archive, &["search", "--count", w])),
        );
    }
    for &c in conversations {
        out.insert(
            format!("show {c}"),
            normalise(&json(archive, &["show", "--json", c]), &times),
        );
        out.insert(
            format!("show text {c}"),
            normalise_text(&stdout(archive, &["show", c]), &times),
        );
    }
    let mut status = json(archive, &["status", "--json"]);
    for kind in status["kinds"].as_array_mut().expect("kinds") {
        // When the ingest ran and its ledger record are facts of ingest.
        kind["last_ingest"]["seq"] = Value::Null;
        kind["last_ingest"]["time"] = Value::Null;
    }
    out.insert("status".into(), normalise(&status, &times));
    out
}

/// `archive` answers every question as `want` does; the first question
/// answered otherwise is named with both answers.
fn same_answers(want: &BTreeMap<String, Value>, archive: &Path) {
    same(want, &answers(archive), archive);
}

/// `got` (the answers of `archive`) is `want`; the first question answered
/// otherwise is named with both answers.
fn same(want: &BTreeMap<String, Value>, got: &BTreeMap<String, Value>, archive: &Path) {
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    for (question, answer) in want {
        let other = got.get(question).unwrap_or(&Value::Null);
        if other == answer {
            continue;
        }
        // Of two lists, the first item that differs: the rest is noise.
        let (a, b) = match (answer, other) {
            (Value::Array(a), Value::Array(b)) => {
                let i = (0..a.len().max(b.len()))
                    .find(|&i| a.get(i) != b.get(i))
                    .unwrap_or(0);
                (
                    format!("[{i}] of {}: {}", a.len(), a.get(i).unwrap_or(&Value::Null)),
                    format!("[{i}] of {}: {}", b.len(), b.get(i).unwrap_or(&Value::Null)),
                )
            }
            _ => (answer.to_string(), other.to_string()),
        };
        panic!("{question}, on {}:\nwant {a}\ngot  {b}", archive.display());
    }
}

#[test]
fn the_fixture_weeks_in_either_order_or_in_one_command_give_the_same_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let (week1, week2) = (fixture(WEEK1), fixture(WEEK2));
    let in_order = tmp.path().join("in-order");
    ingest(&in_order, &[&week1]);
    ingest(&in_order, &[&week2]);

    let reversed = tmp.path().join("reversed");
    ingest(&reversed, &[&week2]);
    let history = ingest(&reversed, &[&week1]);
    // The older export is history: it comes before the one archived, which
    // is compared with it again (conversation B is gone from week 2).
    assert_eq!(history["generated_before_export"], 1);
    assert_eq!(history["compared_with_export"], Value::Null);
    assert_eq!(history["recompared"]["export_id"], 1);
    assert_eq!(history["recompared"]["compared_with_export"], 2);
    assert_eq!(history["recompared"]["conversations_missing"], 1);
    assert_eq!(history["versions_reordered"], 1);

    // A backfill given in one command, newest first: two exports, oldest
    // ingested first.
    let together = tmp.path().join("together");
    let out = convault(&together)
        .args(["ingest", "--json"])
        .arg(&week2)
        .arg(&week1)
        .assert()
        .success();
    let reports: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let reports = reports.as_array().expect("one report per export");
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[0]["generated_at"], "2026-11-09T23:00:00.000Z");
    assert_eq!(reports[1]["generated_at"], "2026-11-16T23:00:00.000Z");
    assert_eq!(reports[1]["compared_with_export"], reports[0]["export_id"]);

    let want = answers(&in_order);
    // The redacted text is the current version, and B is deleted at the
    // source, as week 2 says.
    let current = &want["visa version:current"];
    assert_eq!(current.as_array().unwrap().len(), 1, "{current}");
    assert_eq!(current[0]["text"], "It's the Visa ending ****");
    assert!(
        want[&format!("show text {CONV_B}")]
            .as_str()
            .unwrap()
            .contains("deleted at the source"),
        "{}",
        want[&format!("show text {CONV_B}")]
    );
    assert!(
        !want[&format!("show text {CONV_C}")]
            .as_str()
            .unwrap()
            .contains("deleted at the source")
    );
    for archive in [&reversed, &together] {
        same_answers(&want, archive);
        convault(archive).arg("verify").assert().success();
    }
    // The versions' ids were handed out again, so newest first lists the
    // redacted version first in every archive.
    for archive in [&in_order, &reversed, &together] {
        let (v, text): (i64, String) = db(archive)
            .query_row(
                "SELECT version, text FROM entries WHERE identifier = ?1 ORDER BY id DESC LIMIT 1",
                [REDACTED_ENTRY],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!((v, text.as_str()), (2, "It's the Visa ending ****"));
    }
}

/// Three weeks whose middle one arrives last: its version goes between the
/// others, and the deletions are judged against its true neighbours.
#[test]
fn a_week_ingested_last_takes_its_place_between_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // Week 1 has the original text, week 2 the redaction, week 3 drops
    // conversation C (week 2 of the fixtures) and adds nothing.
    let w1 = dir.join("w1.zip");
    let w2 = dir.join("w2.zip");
    let w3 = dir.join("w3.zip");
    std::fs::write(
        &w1,
        fixture_data::zip_dated(&fixture_data::week1(), fixture_data::generated(WEEK1)),
    )
    .unwrap();
    std::fs::write(
        &w2,
        fixture_data::zip_dated(&fixture_data::week2(), fixture_data::generated(WEEK2)),
    )
    .unwrap();
    let third = fixture_data::generated("transcripts-2026-11-23.zip");
    std::fs::write(&w3, fixture_data::zip_dated(&fixture_data::week2(), third)).unwrap();

    let in_order = dir.join("in-order");
    for w in [&w1, &w2, &w3] {
        ingest(&in_order, &[w]);
    }
    let shuffled = dir.join("shuffled");
    for w in [&w3, &w1] {
        ingest(&shuffled, &[w]);
    }
    let middle = ingest(&shuffled, &[&w2]);
    assert_eq!(middle["generated_before_export"], 1);
    // Compared with week 1 (export 2), and week 3 compared again with it.
    assert_eq!(middle["compared_with_export"], 2);
    assert_eq!(
        middle["recompared"]["compared_with_export"],
        middle["export_id"]
    );
    assert_eq!(middle["recompared"]["conversations_missing"], 0);
    same_answers(&answers(&in_order), &shuffled);
    convault(&shuffled).arg("verify").assert().success();
}

/// Two exports generated at the same instant cannot be put in order: the
/// second is refused, naming both, until the user says when it was made.
#[test]
fn two_exports_of_one_time_are_refused_until_the_time_is_given() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let a = dir.join("a.zip");
    let b = dir.join("b.zip");
    let at = fixture_data::generated(WEEK2);
    std::fs::write(&a, fixture_data::zip_dated(&fixture_data::week1(), at)).unwrap();
    std::fs::write(&b, fixture_data::zip_dated(&fixture_data::week2(), at)).unwrap();
    let archive = dir.join("archive");
    ingest(&archive, &[&a]);
    convault(&archive)
        .arg("ingest")
        .arg(&b)
        .assert()
        .code(4)
        .stderr(predicates::str::contains(
            "b.zip was generated at 2026-11-16T23:00:00.000Z, the same time as export 1",
        ))
        .stderr(predicates::str::contains("a.zip"))
        .stderr(predicates::str::contains("--generated TIME"));
    assert_eq!(export_times(&archive).len(), 1, "nothing was ingested");
    let given = convault(&archive)
        .args(["ingest", "--json", "--generated", "2026-11-23T23:00:00Z"])
        .arg(&b)
        .assert()
        .success();
    let report: Value = serde_json::from_slice(&given.get_output().stdout).unwrap();
    assert_eq!(report["generated_at"], "2026-11-23T23:00:00.000Z");
    assert_eq!(report["compared_with_export"], 1);
    let ledger = json(&archive, &["ledger", "show", "--json"]);
    assert_eq!(ledger[1]["details"]["generated_from"], "given");
    convault(&archive).arg("verify").assert().success();
}

/// A zip that carries no time of its own cannot be placed among exports
/// of different times given in one command.
#[test]
fn a_file_without_a_time_among_several_exports_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let untimed = dir.join("untimed.zip");
    write_zip(&untimed, &fixture_data::week2());
    let archive = dir.join("archive");
    convault(&archive)
        .arg("ingest")
        .arg(fixture(WEEK1))
        .arg(fixture(WEEK2))
        .arg(&untimed)
        .assert()
        .code(4)
        .stderr(predicates::str::contains(
            "untimed.zip carries no time of its own",
        ));
    assert!(!archive.exists(), "nothing was written");
}

/// The status follows the latest generation time, not the last ingest.
#[test]
fn the_cadence_follows_the_latest_generated_export() {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("archive");
    ingest(&archive, &[&fixture(WEEK2)]);
    ingest(&archive, &[&fixture(WEEK1)]);
    let status = json(&archive, &["status", "--json"]);
    let t = &status["kinds"][0];
    assert_eq!(t["next_allowed"], "2026-11-23T23:00:00.000Z");
    assert_eq!(t["last_ingest"]["generated_at"], "2026-11-16T23:00:00.000Z");
}

/// The conversations of the property test's weekly exports.
const PROP_CONVERSATIONS: [&str; 3] = [
    "9a1f0c2e-3b4d-4e5f-8a6b-7c8d9e0f1a2b",
    "1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b",
    "7e6d5c4b-3a29-4180-b7c6-d5e4f3a2b1c0",
];
/// The texts an entry may hold in a week: edits and a redaction of each
/// other.
const PROP_TEXTS: [&str; 3] = [
    "my card was charged twice, refund please",
    "my card was charged twice",
    "my card **** was charged twice, refund please",
];

/// Writes week `week` (0-based) of a complete weekly export as a plain CSV
/// dated 23:00 UTC on its day: entry `e` of conversation `c` holds text
/// `slots[(week * 2 + c) * 3 + e]`, or is absent (not yet, or deleted at
/// the source). The third conversation gains one entry a week and keeps
/// them, so no two weeks are the same bytes.
fn write_prop_week(dir: &Path, week: usize, slots: &[Option<u8>]) -> std::path::PathBuf {
    let path = dir.join(format!("week-{week}.csv"));
    let base_ms: i64 = 1_793_000_000_000;
    let sender = |role: &str, c: usize| {
        format!(
            r#"{{"role":"{role}","appType":"iamessage","subject":"u-{}"}}"#,
            PROP_CONVERSATIONS[c]
        )
    };
    // (conversation, identifier, text, sender, time)
    let mut rows: Vec<(usize, String, &str, String, String)> = Vec::new();
    for c in 0..2 {
        for e in 0..3 {
            if let Some(t) = slots[(week * 2 + c) * 3 + e] {
                let role = if e == 0 { "EndUser" } else { "Agent" };
                let ms = base_ms + (c as i64) * 3_600_000 + (e as i64) * 60_000;
                rows.push((
                    c,
                    format!("{c}{e}000000-0000-4000-8000-000000000000"),
                    PROP_TEXTS[t as usize],
                    sender(role, c),
                    ms.to_string(),
                ));
            }
        }
    }
    for k in 0..=week {
        rows.push((
            2,
            format!("f{k}000000-0000-4000-8000-000000000000"),
            "refund on its way",
            sender("Agent", 2),
            // Apart from the other entries' times: hits of one millisecond
            // are listed in the order they were stored (docs/search.md).
            (base_ms + 30_000 + 86_400_000 * 7 * k as i64).to_string(),
        ));
    }
    write_messages_in(
        &path,
        rows.iter().map(|(c, id, text, sender, ms)| {
            (
                PROP_CONVERSATIONS[*c],
                Message {
                    id,
                    ms,
                    text,
                    sender,
                },
            )
        }),
    )
    .unwrap();
    let at = std::time::UNIX_EPOCH
        + std::time::Duration::from_secs(1_793_833_200 + 7 * 86_400 * week as u64);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(at)
        .unwrap();
    path
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Whatever the weeks hold (edits, redactions, reverts, deletions at
    /// the source, entries coming back), ingesting them in any order, one
    /// by one or in one command, gives an archive that answers every
    /// question as the one ingested in time order does, and verifies.
    #[test]
    fn weekly_exports_in_any_order_answer_as_in_time_order(
        slots in prop::collection::vec(prop::option::weighted(0.8, 0u8..3), 24),
        order in Just(vec![0usize, 1, 2, 3]).prop_shuffle(),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        let weeks: Vec<_> = (0..4).map(|k| write_prop_week(tmp.path(), k, &slots)).collect();
        let in_order = tmp.path().join("in-order");
        for w in &weeks {
            ingest(&in_order, &[w]);
        }
        let shuffled = tmp.path().join("shuffled");
        for &k in &order {
            ingest(&shuffled, &[&weeks[k]]);
        }
        let together = tmp.path().join("together");
        convault(&together)
            .arg("ingest")
            .args(order.iter().map(|&k| &weeks[k]))
            .assert()
            .success();
        let words = ["refund", "card", "please"];
        let want = answers_to(&in_order, &words, &PROP_CONVERSATIONS);
        for archive in [&shuffled, &together] {
            same(&want, &answers_to(archive, &words, &PROP_CONVERSATIONS), archive);
            convault(archive).arg("verify").assert().success();
        }
    }
}
