//! `convault fetch` against a fake org (issue 13): the budget is kept in
//! every window, by one run or two at once; `--plan` predicts the run;
//! `--no-wait` stops and a re-run resumes; SOQL finds conversations and
//! defers voice calls in progress; 429s, 500s, a 403 (Connect fallback),
//! an unknown conversation and a cut-off page; the pages become an export
//! of kind `api` named in the ledger; the secret is written nowhere.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::convault;
use super::support::fake_org::{self, Behaviour};

pub(super) const SECRET: &str = "fake-secret-8d41c7";

/// An archive directory configured for the fake org at `url`.
pub(super) fn configured(dir: &Path, url: &str, limit: u32, window: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[api]\ninstance_url = \"{url}\"\napi_host = \"{url}\"\nclient_id = \"cid\"\nclient_secret_env = \"CONVAULT_TEST_SECRET\"\nactive_limit = {limit}\nwindow = \"{window}\"\nrequests_per_minute = 6000\nrequests_per_hour = 360000\n"
        ),
    )
    .unwrap();
}

pub(super) fn ids(n: usize, tag: u16) -> Vec<String> {
    (0..n)
        .map(|i| format!("7c0d{tag:04x}-1d2e-4f3a-8b4c-{i:012x}"))
        .collect()
}

/// Every file under `dir`, read as bytes.
fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap_or_default()));
        }
    }
    out
}

pub(super) fn json(out: &assert_cmd::assert::Assert) -> Value {
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

pub(super) fn count(archive: &Path, word: &str) -> u64 {
    let out = convault(archive)
        .args(["search", "--count", word])
        .assert()
        .success();
    String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .parse()
        .unwrap()
}

/// A fake org behaving as `b` (window 60 s) and an archive configured for
/// it with a budget of 10.
pub(super) fn org_and_archive(
    b: Behaviour,
) -> (fake_org::FakeOrg, tempfile::TempDir, std::path::PathBuf) {
    let org = fake_org::start_with(Behaviour {
        window: Duration::from_secs(60),
        ..b
    });
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    configured(&archive, &org.url, 10, "60s");
    (org, tmp, archive)
}

fn ms(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

#[test]
fn twenty_on_a_budget_of_five_take_four_windows_as_planned_never_over_and_land_as_an_api_export() {
    let window = Duration::from_secs(1);
    let org = fake_org::start(window);
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    configured(&archive, &org.url, 5, "1s");
    let conversations = ids(20, 1);

    // The plan reads nothing.
    let plan = json(
        &convault(&archive)
            .env("CONVAULT_TEST_SECRET", SECRET)
            .args(["fetch", "--plan", "--json"])
            .args(&conversations)
            .assert()
            .success(),
    );
    assert_eq!(
        (
            plan["conversations"].as_u64(),
            plan["activations"].as_u64(),
            plan["free_reads"].as_u64(),
            plan["windows"].as_u64(),
            plan["requests"].as_u64(),
        ),
        (Some(20), Some(20), Some(0), Some(4), Some(21)),
        "{plan}"
    );
    let planned_ms =
        ms(plan["finishes_at"].as_str().unwrap()) - ms(plan["starts_at"].as_str().unwrap());
    assert!(planned_ms >= 3_000, "{plan}");
    assert_eq!(org.seen.lock().unwrap().requests.len(), 0);

    let started = Instant::now();
    let out = convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", "--json", "--by", "officer"])
        .args(&conversations)
        .assert()
        .success();
    let took = started.elapsed();
    let r = json(&out);
    assert_eq!(r["fetched"].as_array().unwrap().len(), 20, "{r}");
    assert_eq!(
        (r["activations"].as_u64(), r["free_reads"].as_u64()),
        (plan["activations"].as_u64(), plan["free_reads"].as_u64())
    );
    assert!(r["waits"].as_u64() >= plan["waits"].as_u64(), "{r}");
    assert_eq!(
        (r["entries_read"].as_u64(), r["entries_new"].as_u64()),
        (Some(40), Some(40))
    );
    // Four groups of five: at least three whole windows waited, as planned.
    assert!(took >= window * 3, "{took:?}");
    assert!(
        took.as_millis() as i64 <= planned_ms + 5_000,
        "{took:?} against a plan of {planned_ms} ms"
    );
    {
        let seen = org.seen.lock().unwrap();
        println!(
            "fake org: {} tokens, {} reads, peak {} active",
            seen.tokens, seen.reads, seen.peak_active
        );
        assert_eq!(seen.reads, 20);
        assert_eq!(seen.tokens + seen.reads, 21, "the plan said 21 requests");
        assert_eq!(
            seen.peak_active, 5,
            "the org saw {} active at once on a budget of 5",
            seen.peak_active
        );
    }
    // The pages are an export of kind api, named in the ledger.
    assert_eq!(count(&archive, "refund"), 40);
    convault(&archive).arg("verify").assert().success();
    let ledger = json(
        &convault(&archive)
            .args(["ledger", "show", "--json"])
            .assert()
            .success(),
    );
    let rec = ledger
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "export-ingested")
        .unwrap()
        .clone();
    assert_eq!(rec["who"], "officer");
    assert_eq!(rec["details"]["export_kind"], "api");
    assert_eq!(rec["details"]["export_id"], r["export_id"]);
    assert_eq!(r["ledger_record"], rec["seq"]);
    let fetch = &rec["details"]["fetch"];
    assert_eq!(fetch["activations"], 20);
    assert_eq!(fetch["entries_api"], "conversation-data");
    let mut named: Vec<String> = fetch["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    named.sort();
    assert_eq!(named, conversations);
    // An api export is outside the cadence rule: status still asks for
    // the weekly export.
    let status = json(
        &convault(&archive)
            .args(["status", "--json"])
            .assert()
            .success(),
    );
    assert!(!status.to_string().contains("\"api\""), "{status}");

    // The secret went to the token endpoint only: no output, no file.
    for stream in [&out.get_output().stdout, &out.get_output().stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(SECRET));
    }
    for (path, bytes) in files(&archive) {
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret is in {}",
            path.display()
        );
    }
    let seen = org.seen.lock().unwrap();
    let with_secret = seen.requests.iter().filter(|r| r.contains(SECRET)).count();
    assert_eq!(with_secret, seen.tokens);
}

#[test]
fn two_runs_at_once_share_one_budget_and_both_are_archived() {
    let window = Duration::from_secs(1);
    let org = fake_org::start(window);
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    configured(&archive, &org.url, 4, "1s");
    let runs: Vec<_> = [ids(6, 2), ids(6, 3)]
        .into_iter()
        .map(|convs| {
            let archive = archive.clone();
            std::thread::spawn(move || {
                let out = convault(&archive)
                    .env("CONVAULT_TEST_SECRET", SECRET)
                    .args(["fetch", "--json"])
                    .args(&convs)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                serde_json::from_slice::<Value>(&out.stdout).unwrap()
            })
        })
        .collect();
    let reports: Vec<Value> = runs.into_iter().map(|h| h.join().unwrap()).collect();
    let spent: u64 = reports
        .iter()
        .map(|r| r["activations"].as_u64().unwrap())
        .sum();
    assert_eq!(spent, 12);
    let seen = org.seen.lock().unwrap();
    println!(
        "fake org, two runs: {} reads, peak {} active",
        seen.reads, seen.peak_active
    );
    assert!(
        seen.peak_active <= 4,
        "two runs together had {} active on a budget of 4",
        seen.peak_active
    );
    drop(seen);
    // Two exports, each of kind api.
    let ids: Vec<i64> = reports
        .iter()
        .map(|r| r["export_id"].as_i64().unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert_eq!(count(&archive, "refund"), 24);
    convault(&archive).arg("verify").assert().success();
}

#[test]
fn no_wait_stops_with_exit_4_and_the_same_command_resumes_fetching_nothing_twice() {
    let window = Duration::from_secs(2);
    let org = fake_org::start(window);
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    configured(&archive, &org.url, 2, "2s");
    let conversations = ids(3, 4);
    let list = tmp.path().join("ids.txt");
    std::fs::write(
        &list,
        format!("# to fetch\n{}\n\n", conversations.join("\n")),
    )
    .unwrap();
    let fetch_list = || {
        let mut c = convault(&archive);
        c.env("CONVAULT_TEST_SECRET", SECRET)
            .args(["fetch", "--no-wait", "--from-file"])
            .arg(&list);
        c
    };
    let out = fetch_list().assert().code(4);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("fetched 2 of 3") && stderr.contains("1 conversations left"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Run the same command again from"),
        "{stderr}"
    );
    // Fetching one of the first two again within the window is free.
    let r = json(
        &convault(&archive)
            .env("CONVAULT_TEST_SECRET", SECRET)
            .args(["fetch", "--no-wait", "--json", &conversations[0]])
            .assert()
            .success(),
    );
    assert_eq!(
        (r["activations"].as_u64(), r["free_reads"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(org.seen.lock().unwrap().peak_active, 2);
    // After the window the same command fetches only the one left.
    std::thread::sleep(window);
    let out = fetch_list().arg("--json").assert().success();
    let r = json(&out);
    assert_eq!(r["resumed"], 2, "{r}");
    assert_eq!(r["fetched"], serde_json::json!([conversations[2]]));
    let seen = org.seen.lock().unwrap();
    let reads_of = |c: &str| {
        seen.requests
            .iter()
            .filter(|r| r.contains(&format!("conversationIdentifier={c}")))
            .count()
    };
    assert_eq!(
        [
            reads_of(&conversations[0]),
            reads_of(&conversations[1]),
            reads_of(&conversations[2])
        ],
        [2, 1, 1]
    );
}

#[test]
fn soql_finds_conversations_defers_open_voice_calls_and_rides_out_429_and_500() {
    let c = ids(5, 5);
    let just_ended = jiff::Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(5))
        .unwrap()
        .strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        .to_string();
    let old = "2026-11-20T10:00:00.000+0000".to_owned();
    let (org, _tmp, archive) = org_and_archive(Behaviour {
        ended: vec![
            (c[0].clone(), just_ended),
            (c[1].clone(), old.clone()),
            (c[2].clone(), old.clone()),
            (c[3].clone(), old.clone()),
            (c[4].clone(), old),
        ],
        // c[3] (record 0dw000000000003) has a call still open; another
        // call's conversation has not ended at all.
        calls: vec![
            ("0LQ000000000001".into(), "0dw000000000003".into()),
            ("0LQ000000000002".into(), "0dw000000000099".into()),
        ],
        throttled: vec![c[1].clone()],
        failing: vec![c[2].clone()],
        two_pages: vec![c[4].clone()],
        ..Behaviour::default()
    });

    let plan = convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", "--plan", "--ended-since", "2026-11-19"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&plan.get_output().stdout).into_owned();
    assert!(
        text.contains("found 4 conversations ended since 2026-11-19T00:00:00Z (3 query pages)"),
        "{text}"
    );
    assert!(
        text.contains(
            "deferred: 7c0d0005-1d2e-4f3a-8b4c-000000000003 (voice call 0LQ000000000001)"
        ),
        "{text}"
    );
    assert!(
        text.contains("activations    3\nfree reads     1\n"),
        "{text}"
    );
    assert_eq!(
        org.seen.lock().unwrap().reads,
        0,
        "--plan reads no conversation"
    );

    let r = json(
        &convault(&archive)
            .env("CONVAULT_TEST_SECRET", SECRET)
            .args(["fetch", "--json", "--ended-since", "2026-11-19T00:00:00Z"])
            .assert()
            .success(),
    );
    assert_eq!(r["query"]["pages"], 3, "{r}");
    assert_eq!(r["query"]["deferred"].as_array().unwrap().len(), 2);
    let mut fetched: Vec<&str> = r["fetched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    fetched.sort();
    assert_eq!(fetched, [&c[0], &c[1], &c[2], &c[4]]);
    // c[0] ended 5 s ago: active already, its read free.
    assert_eq!(
        (r["activations"].as_u64(), r["free_reads"].as_u64()),
        (Some(3), Some(1))
    );
    // Eight entries: c[4]'s on two pages.
    assert_eq!(
        (r["pages"].as_u64(), r["entries_new"].as_u64()),
        (Some(5), Some(8))
    );
    let seen = org.seen.lock().unwrap();
    assert_eq!((seen.status_429, seen.status_500), (1, 1));
    // Two retried requests, one second page: 4 + 2 + 1.
    assert_eq!(seen.reads, 7);
    assert!(
        seen.requests
            .iter()
            .any(|q| q.contains("pageToken=next%2Fpage%202"))
    );
}

#[test]
fn a_403_goes_on_with_connect_and_an_unknown_or_cut_off_conversation_is_reported() {
    let c = ids(4, 6);
    let (org, _tmp, archive) = org_and_archive(Behaviour {
        conversation_data_disabled: true,
        unknown: vec![c[1].clone()],
        broken: vec![c[2].clone()],
        ..Behaviour::default()
    });
    let out = convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", "--json"])
        .args(&c)
        .assert()
        .code(1);
    let r = json(&out);
    assert_eq!(r["entries_api"], "connect", "{r}");
    assert_eq!(r["text_only"], true);
    assert!(r["fell_back"].as_str().unwrap().contains("403"), "{r}");
    assert_eq!(r["fetched"], serde_json::json!([c[0], c[3]]));
    let failed = r["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0]["conversation"], c[1].as_str());
    assert!(
        failed[0]["reason"]
            .as_str()
            .unwrap()
            .contains("404 (NOT_FOUND"),
        "{r}"
    );
    assert!(
        failed[1]["reason"]
            .as_str()
            .unwrap()
            .contains("kept in quarantine"),
        "{r}"
    );
    // The 403 read and the Connect read of c[0] are one activation.
    assert_eq!(r["activations"], 4);
    // The cut-off page is archived in quarantine; the good ones searchable.
    assert!(r["quarantined"].as_u64().unwrap() >= 1, "{r}");
    assert_eq!(count(&archive, "refund"), 4);
    convault(&archive).arg("verify").assert().success();
    assert!(org.seen.lock().unwrap().peak_active <= 4);
}

#[test]
fn revoked_access_stops_the_run_keeping_what_was_read_and_bad_credentials_spend_nothing() {
    let c = ids(4, 8);
    let (org, tmp, archive) = org_and_archive(Behaviour {
        revoked_after: Some(2),
        ..Behaviour::default()
    });
    let out = convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .arg("fetch")
        .args(&c)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("fetched 2 of 4"), "{stderr}");
    assert!(
        stderr.contains("invalid_client: app revoked") && stderr.contains("2 conversations left"),
        "{stderr}"
    );
    assert!(stderr.contains("Run the same command again"), "{stderr}");
    // What was read is archived.
    assert_eq!(count(&archive, "refund"), 4);
    // One refused read, then no more: the run stopped at once.
    assert_eq!(org.seen.lock().unwrap().reads, 3);

    // Refused credentials: nothing read, nothing spent.
    let org = fake_org::start_with(Behaviour {
        window: Duration::from_secs(60),
        revoked_after: Some(0),
        ..Behaviour::default()
    });
    let archive = tmp.path().join("b");
    configured(&archive, &org.url, 10, "60s");
    convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", &c[0]])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("invalid_client"));
    assert_eq!(org.seen.lock().unwrap().reads, 0);
    let plan = json(
        &convault(&archive)
            .env("CONVAULT_TEST_SECRET", SECRET)
            .args(["fetch", "--plan", "--json", &c[0]])
            .assert()
            .success(),
    );
    assert_eq!(plan["active_now"], 0, "{plan}");
}

#[test]
fn fetch_refuses_what_it_cannot_do_with_the_reason() {
    let org = fake_org::start(Duration::from_secs(60));
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    configured(&archive, &org.url, 2, "60s");
    let c = ids(1, 7);
    let bare = tmp.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    convault(&bare)
        .args(["fetch", &c[0]])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("has no [api] section"));
    convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", "not-an-id"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a conversation identifier"));
    convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .arg("fetch")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--ended-since TIME"));
    convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", "--ended-since", "last tuesday"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("give a time such as"));
    convault(&archive)
        .env_remove("CONVAULT_TEST_SECRET")
        .args(["fetch", &c[0]])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("CONVAULT_TEST_SECRET is not set"));
    assert_eq!(org.seen.lock().unwrap().requests.len(), 0);
}

/// Conversations archived complete (ended, and read after they ended) are
/// not read again: each read of an ended conversation is an activation of
/// the org's budget (issue 30, item 6). `--refresh` reads them again.
#[test]
fn conversations_archived_after_they_ended_are_skipped_unless_refresh() {
    let c = ids(3, 6);
    let old = "2026-11-20T10:00:00.000+0000".to_owned();
    let (org, _tmp, archive) = org_and_archive(Behaviour {
        ended: c.iter().map(|id| (id.clone(), old.clone())).collect(),
        ..Behaviour::default()
    });
    let fetch = |extra: &[&str]| {
        json(
            &convault(&archive)
                .env("CONVAULT_TEST_SECRET", SECRET)
                .args(["fetch", "--json", "--ended-since", "2026-11-19"])
                .args(extra)
                .assert()
                .success(),
        )
    };
    let first = fetch(&[]);
    assert_eq!(first["activations"], 3, "{first}");
    assert_eq!(first["already_complete"].as_array().unwrap().len(), 0);
    let reads = org.seen.lock().unwrap().reads;
    assert_eq!(reads, 3);

    // Again: nothing read, nothing spent, and said so.
    let again = fetch(&[]);
    let mut skipped: Vec<&str> = again["already_complete"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    skipped.sort();
    assert_eq!(skipped, [&c[0], &c[1], &c[2]]);
    assert_eq!(again["activations"], 0, "{again}");
    assert_eq!(
        org.seen.lock().unwrap().reads,
        reads,
        "no conversation read"
    );
    let text = convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", "--ended-since", "2026-11-19"])
        .assert()
        .success();
    let err = String::from_utf8_lossy(&text.get_output().stderr).into_owned();
    assert!(
        err.contains("skipped 3 conversations: already archived complete")
            && err.contains("--refresh"),
        "{err}"
    );
    let plan = convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", "--plan", "--json", "--ended-since", "2026-11-19"])
        .assert()
        .success();
    let plan: Value = serde_json::from_slice(&plan.get_output().stdout).unwrap();
    assert_eq!(
        plan["already_complete"].as_array().unwrap().len(),
        3,
        "{plan}"
    );
    // Named one by one, the same: their ends, as the org's query gave
    // them, are kept beside the budget.
    let named = json(
        &convault(&archive)
            .env("CONVAULT_TEST_SECRET", SECRET)
            .args(["fetch", "--json"])
            .args(&c)
            .assert()
            .success(),
    );
    assert_eq!(
        named["already_complete"].as_array().unwrap().len(),
        3,
        "{named}"
    );
    assert_eq!(
        org.seen.lock().unwrap().reads,
        reads,
        "no conversation read"
    );

    // --refresh reads them all again.
    let refreshed = fetch(&["--refresh"]);
    assert_eq!(refreshed["already_complete"].as_array().unwrap().len(), 0);
    assert_eq!(org.seen.lock().unwrap().reads, reads + 3);
}
