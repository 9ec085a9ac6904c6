//! `convault fetch` against a fake org (issue 13): the budget is kept in
//! every window, `--no-wait` stops and a re-run resumes, the pages become
//! an export, and the secret is written nowhere.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::convault;
use super::support::fake_org;

const SECRET: &str = "fake-secret-8d41c7";

/// An archive directory configured for the fake org at `url`.
fn configured(dir: &Path, url: &str, limit: u32, window: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[api]\ninstance_url = \"{url}\"\napi_host = \"{url}\"\nclient_id = \"cid\"\nclient_secret_env = \"CONVAULT_TEST_SECRET\"\nactive_limit = {limit}\nwindow = \"{window}\"\nrequests_per_minute = 6000\n"
        ),
    )
    .unwrap();
}

fn ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("7c0d{i:04x}-1d2e-4f3a-8b4c-{i:012x}"))
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

#[test]
fn fetch_keeps_the_budget_in_every_window_and_ingests_the_pages() {
    let window = Duration::from_secs(2);
    let org = fake_org::start(window);
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    configured(&archive, &org.url, 3, "2s");
    let conversations = ids(7);
    let started = Instant::now();
    let out = convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", "--json"])
        .args(&conversations)
        .assert()
        .success();
    let took = started.elapsed();
    let r: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(r["fetched"].as_array().unwrap().len(), 7, "{r}");
    assert_eq!(
        (r["activations"].as_u64(), r["free_reads"].as_u64()),
        (Some(7), Some(0))
    );
    assert_eq!(
        (r["entries_read"].as_u64(), r["entries_new"].as_u64()),
        (Some(14), Some(14))
    );
    // Seven on a budget of three: three groups, two whole windows waited.
    assert!(took >= window * 2, "{took:?}");
    {
        let seen = org.seen.lock().unwrap();
        assert_eq!(seen.reads, 7);
        assert_eq!(
            seen.peak_active, 3,
            "the org saw {} active at once",
            seen.peak_active
        );
    }
    // The pages are an export: searchable, and the archive verifies.
    let hits = convault(&archive)
        .args(["search", "--count", "refund"])
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&hits.get_output().stdout).trim(),
        "14"
    );
    convault(&archive).arg("verify").assert().success();
    // The secret went to the token endpoint only: no output, no file.
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        !stderr.contains(SECRET)
            && !String::from_utf8_lossy(&out.get_output().stdout).contains(SECRET)
    );
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
fn no_wait_stops_with_exit_4_and_a_re_run_resumes() {
    let org = fake_org::start(Duration::from_secs(60));
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("a");
    configured(&archive, &org.url, 2, "60s");
    let conversations = ids(3);
    let list = tmp.path().join("ids.txt");
    std::fs::write(
        &list,
        format!("# to fetch\n{}\n\n", conversations.join("\n")),
    )
    .unwrap();
    let out = convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", "--no-wait", "--from-file"])
        .arg(&list)
        .assert()
        .code(4);
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
    let out = convault(&archive)
        .env("CONVAULT_TEST_SECRET", SECRET)
        .args(["fetch", "--no-wait", "--json", &conversations[0]])
        .assert()
        .success();
    let r: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(
        (r["activations"].as_u64(), r["free_reads"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(org.seen.lock().unwrap().peak_active, 2);
    // Errors: no [api], a bad identifier, the secret not set.
    let bare = tmp.path().join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    convault(&bare)
        .args(["fetch", &conversations[0]])
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
        .env_remove("CONVAULT_TEST_SECRET")
        .args(["fetch", &conversations[2]])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("CONVAULT_TEST_SECRET is not set"));
}
