//! `convault fetch` against a broken or hostile org (issue 31, items 5 to
//! 7): a `Retry-After` of days, a page token given twice, pages without
//! end, a stalled body, a redirect, entries of another conversation, a
//! page near the 256 MiB cap; and `ledger verify --checkpoint` of a file
//! that is no checkpoint. Each stops in bounded time and memory, says
//! why, and keeps what the org sent.

use std::path::Path;
use std::process::Command;

use super::convault;
use super::fetch::{SECRET, configured, count, ids, json, org_and_archive};
use super::support::fake_org::{self, Behaviour};

/// Adds `extra` lines to the archive's `[api]`.
fn with_api(archive: &Path, extra: &str) {
    let path = archive.join("config.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(extra);
    std::fs::write(path, text).unwrap();
}

/// `convault --archive ARCHIVE ARGS` with the fake org's secret, run.
fn fetch(archive: &Path, args: &[&str]) -> assert_cmd::assert::Assert {
    convault(archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(args)
        .assert()
}

fn stderr(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

#[test]
fn a_retry_after_of_days_stops_at_once_and_says_when_to_resume() {
    let c = ids(2, 0x31a);
    let (org, _tmp, archive) = org_and_archive(Behaviour {
        long_retry_after: vec![c[0].clone()],
        ..Behaviour::default()
    });
    let out = fetch(&archive, &["fetch", &c[0], &c[1]]).code(1);
    let err = stderr(&out);
    assert!(
        err.contains("429 too many requests: the org asks to wait 999999 s, until 20")
            && err.contains("convault waits at most 900 s ([api] retry_after_limit)")
            && err.contains("Run the same command again after 20"),
        "{err}"
    );
    // Both left for the next run; the org asked once, never again.
    assert!(err.contains("2 conversations left"), "{err}");
    assert_eq!(org.seen.lock().unwrap().status_429, 1);

    // A shorter limit of the operator's is kept to as well; the same
    // command with --json says it in `aborted`.
    with_api(&archive, "retry_after_limit = \"5m\"\n");
    let out = fetch(&archive, &["fetch", "--json", &c[0]]).code(1);
    let r = json(&out);
    let reason = r["aborted"]["reason"].as_str().unwrap();
    assert!(reason.contains("at most 300 s"), "{r}");
    assert_eq!(r["aborted"]["left"][0], c[0].as_str());
}

#[test]
fn a_page_token_given_twice_or_pages_without_end_stop_the_conversation() {
    let c = ids(3, 0x31b);
    let (org, _tmp, archive) = org_and_archive(Behaviour {
        repeating_token: vec![c[0].clone()],
        endless: vec![c[1].clone()],
        ..Behaviour::default()
    });
    with_api(&archive, "max_pages = 5\n");
    let out = fetch(&archive, &["fetch", "--json", &c[0], &c[1], &c[2]]).code(1);
    let r = json(&out);
    let failed = r["failed"].as_array().unwrap();
    let reason = |conv: &str| {
        failed
            .iter()
            .find(|f| f["conversation"] == conv)
            .and_then(|f| f["reason"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        reason(&c[0]).contains("page 2 names as the next page one the org gave before"),
        "{r}"
    );
    assert!(
        reason(&c[1]).contains("more than 5 pages ([api] max_pages)"),
        "{r}"
    );
    assert_eq!(r["fetched"], serde_json::json!([c[2]]), "{r}");
    // Two pages of the first, five of the second, one of the third: each
    // kept and archived.
    assert_eq!(r["pages"], 8, "{r}");
    assert_eq!(org.seen.lock().unwrap().reads, 8);
    // Message 1 of c[0] and c[1], messages 1 and 2 of c[2].
    assert_eq!(count(&archive, "refund"), 4);
}

#[test]
fn a_stalled_body_times_out_each_retry_is_told_and_the_run_stops() {
    let c = ids(2, 0x31c);
    let (org, _tmp, archive) = org_and_archive(Behaviour {
        stalled: vec![c[0].clone()],
        failing: vec![c[1].clone()],
        ..Behaviour::default()
    });
    with_api(&archive, "read_timeout = \"1s\"\nretries = 1\n");
    // The 500 first: it is retried, and the retry told.
    let out = fetch(&archive, &["fetch", &c[1]]).success();
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "fetch: {}/platform/engagement/v1.0/conversation-entries: 500 from the server; trying again in",
            org.url
        )) && err.contains("(try 2 of 2)"),
        "{err}"
    );
    let out = fetch(&archive, &["fetch", &c[0]]).code(1);
    let err = stderr(&out);
    assert!(
        err.contains("the response stopped mid-way") && err.contains("(try 2 of 2)"),
        "{err}"
    );
    assert!(
        err.contains("the response stopped mid-way") && err.contains(", 2 times; try again later"),
        "{err}"
    );
    assert_eq!(org.seen.lock().unwrap().reads, 2 + 2);
}

#[test]
fn a_redirect_is_named_with_where_it_leads_and_what_to_check() {
    let c = ids(1, 0x31d);
    let (_org, _tmp, archive) = org_and_archive(Behaviour {
        redirect: true,
        ..Behaviour::default()
    });
    let out = fetch(&archive, &["fetch", &c[0]]).code(1);
    let err = stderr(&out);
    assert!(
        err.contains(
            "302: the org redirects to https://login.example.invalid/elsewhere, and convault follows no redirect; check [api] instance_url and api_host"
        ) && !err.contains("x=1"),
        "{err}"
    );
}

#[test]
fn entries_of_another_conversation_are_quarantined_not_filed() {
    let c = ids(2, 0x31e);
    let (_org, _tmp, archive) = org_and_archive(Behaviour {
        foreign: vec![(c[0].clone(), c[1].clone())],
        ..Behaviour::default()
    });
    let out = fetch(&archive, &["fetch", "--json", &c[0]]).code(1);
    let r = json(&out);
    assert_eq!(r["fetched"], serde_json::json!([]), "{r}");
    let reason = r["failed"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!(
            "the org answered with entries of conversation {}, not of {}",
            c[1], c[0]
        )),
        "{r}"
    );
    // Both entries in quarantine, neither under either conversation.
    assert_eq!(
        (r["entries_new"].as_u64(), r["quarantined"].as_u64()),
        (Some(0), Some(2)),
        "{r}"
    );
    assert_eq!(count(&archive, "refund"), 0);
    let db = rusqlite::Connection::open(archive.join("archive.sqlite")).unwrap();
    let reasons: Vec<String> = db
        .prepare("SELECT reason FROM quarantine ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(reasons.len(), 2);
    for r in &reasons {
        assert!(
            r.contains(&format!(
                "the entry is of conversation {}, but the page was fetched for {} (its file name)",
                c[1], c[0]
            )),
            "{r}"
        );
    }
}

/// Runs `cmd` to its end: its exit code, peak RSS in KiB and stderr.
///
/// The peak is taken by a small Python process that starts the command
/// and reads its children's usage: a child this test process spawned
/// itself would count this process's own memory (shared until `exec`),
/// which other tests' data inflate.
fn peak_rss(cmd: &Command) -> (i32, i64, String) {
    const MEASURE: &str = "import resource, subprocess, sys\n\
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n\
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n";
    let mut m = Command::new("python3");
    m.arg("-c")
        .arg(MEASURE)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => m.env(k, v),
            None => m.env_remove(k),
        };
    }
    let out = m
        .output()
        .expect("python3 runs the measured command (installed with the tests' bagit venv)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut it = stdout.split_whitespace();
    let code: i32 = it
        .next()
        .and_then(|c| c.parse().ok())
        .expect("an exit code");
    let rss: i64 = it.next().and_then(|c| c.parse().ok()).expect("a peak RSS");
    (code, rss, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_page_near_the_cap_and_a_huge_checkpoint_cost_little_memory() {
    let c = ids(1, 0x31f);
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let org = fake_org::start_with(Behaviour {
        window: std::time::Duration::from_secs(60),
        huge: Some((c[0].clone(), 250 * 1024 * 1024)),
        ..Behaviour::default()
    });
    configured(&archive, &org.url, 10, "60s");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_convault"));
    cmd.env_remove("CONVAULT_ARCHIVE")
        .env("CONVAULT_TEST_SECRET", SECRET)
        .arg("--archive")
        .arg(&archive)
        .args(["fetch", &c[0]]);
    let (code, rss, err) = peak_rss(&cmd);
    assert_eq!(code, 0, "{err}");
    eprintln!("fetch of a 250 MiB page: peak RSS {rss} KiB");
    assert!(
        rss < 150 * 1024,
        "fetch of a 250 MiB page peaked at {rss} KiB"
    );
    assert_eq!(count(&archive, "refund"), 2);

    // A 300 MB file given as a checkpoint is refused unread.
    let big = tmp.path().join("checkpoint.json");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(300_000_000).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_convault"));
    cmd.env_remove("CONVAULT_ARCHIVE")
        .arg("--archive")
        .arg(&archive)
        .args(["ledger", "verify", "--checkpoint"])
        .arg(&big);
    let (code, rss, err) = peak_rss(&cmd);
    assert_eq!(code, 6, "{err}");
    assert!(
        err.contains("not a convault ledger checkpoint (300000000 bytes, where a checkpoint is a few hundred)"),
        "{err}"
    );
    eprintln!("ledger verify --checkpoint of 300 MB: peak RSS {rss} KiB");
    assert!(rss < 150 * 1024, "ledger verify peaked at {rss} KiB");
}

#[test]
fn the_fetch_directory_and_its_runs_are_owner_only_while_pages_arrive() {
    let c = ids(2, 0x320);
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    let org = fake_org::start_with(Behaviour {
        window: std::time::Duration::from_secs(60),
        watch: Some(archive.join("fetch")),
        ..Behaviour::default()
    });
    configured(&archive, &org.url, 10, "60s");
    fetch(&archive, &["fetch", &c[0], &c[1]]).success();
    let seen = org.seen.lock().unwrap();
    let dirs: Vec<_> = seen
        .modes
        .iter()
        .filter(|(p, _)| p.extension().is_none_or(|e| e != "json"))
        .collect();
    // fetch/ and the run's directory, seen at both reads.
    assert!(dirs.len() >= 4, "{:?}", seen.modes);
    assert!(dirs.iter().all(|(_, m)| *m == 0o700), "{:?}", seen.modes);
    // What the run staged is gone once archived.
    assert!(!archive.join("fetch").exists());
}
